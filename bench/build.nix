# Workloads of bench/build.sh: N trivial derivations (`echo > $out`, busybox
# sh as the builder), as a chain (each depends on the one before) or a
# fan-out (N independent leaves under one root). busybox comes from the host
# with builtins.path, as pkgs/bootstrap.nix takes it, so Nix 2.8 and cairn
# evaluate the same file to the same derivations. `tag` renames them all.
{ n ? 500, shape ? "fan", tag ? "0" }:
let
  # Debian's busybox-static; on merged /usr, /bin is a symlink to usr/bin.
  busybox = builtins.path {
    name = "busybox-static";
    path = if builtins.pathExists /usr/bin/busybox then /usr/bin else /bin;
    filter = p: t: baseNameOf p == "busybox";
  };
  trivial = name: extra: derivation ({
    inherit name;
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo > $out" ];
  } // extra);
  leaf = i: trivial "t${tag}-${toString i}" { };
  chain = builtins.foldl'
    (prev: i: trivial "t${tag}-${toString i}" (if prev == null then { } else { inherit prev; }))
    null (builtins.genList (i: i) n);
  fan = trivial "t${tag}-root" { deps = builtins.genList leaf n; };
in
if shape == "chain" then chain else fan
