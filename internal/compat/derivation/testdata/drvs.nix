# Derivations for gen-golden.sh. Nothing is built; nix-instantiate only
# writes the .drv files.
let
  sys = "x86_64-linux";
  mk = attrs: derivation ({ system = sys; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // attrs);
  src = builtins.toFile "builder.sh" "echo hi > $out\n";
in rec {
  simple = mk { name = "simple"; };
  escapes = mk {
    name = "escapes";
    args = [ "-c" "q\"b\\n\nt\tr\r" "ünïcödé" "" ];
    weird = "q\"b\\n\nt\tr\r";
    "key with spaces" = "v";
    controls = builtins.fromJSON "\"a\\u0001b\\u001fc\u00ff\"";
    empty = "";
  };
  multi = mk { name = "multi-1.0"; outputs = [ "out" "dev" "lib" ]; };
  fod-flat = mk { name = "fod-flat"; outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = "0000000000000000000000000000000000000000000000000000000000000000"; };
  fod-rec-sri = mk { name = "fod-rec"; outputHashMode = "recursive"; outputHash = "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; };
  fod-sha1 = mk { name = "fod-sha1"; outputHashAlgo = "sha1"; outputHash = "iwjz551fyw0cxcjgf4l6c879zabd6wpm"; };
  fod-rec-sha512 = mk { name = "fod-rec-sha512"; outputHashMode = "recursive"; outputHashAlgo = "sha512"; outputHash = "sha512-58IrmUxZ2c8rSOVJseJGZmNgRZMNPafBrLKZ0cO3+TH5Sq5B7dosKyB6NuEPi8uNRSI+VIePWzFufOO2vAGWKQ=="; };
  fod-md5 = mk { name = "fod-md5"; outputHashAlgo = "md5"; outputHash = "b1946ac92492d2347c6235b4d2611184"; };
  deps = mk {
    name = "deps";
    builder = "/bin/sh";
    args = [ src ];
    a = simple;
    b = "${multi.dev} ${multi.lib}";
    c = fod-flat;
    d = fod-rec-sri;
  };
  chain = mk { name = "chain"; dep = deps; also = multi; };
  structured = mk {
    name = "structured";
    __structuredAttrs = true;
    outputs = [ "out" "bin" ];
    list = [ 1 "two" { three = 3; } ];
    dep = simple;
  };
  pass-as-file = mk {
    name = "pass-as-file";
    passAsFile = [ "big" ];
    big = "lots of text\n";
    dep = fod-sha1;
  };
}
