# cairn itself, built from this repository's source with the host's Go
# toolchain (bootstrap.nix), as nixpkgs' buildGoModule does:
#
#  - vendor: a fixed-output derivation runs `go mod vendor`, which
#    downloads the modules of go.sum through the Go module proxy (GOPROXY
#    from the caller's environment, via impureEnvVars; fixed-output
#    derivations get the network in the sandbox). Its output must hash to
#    vendorHash below: a change to go.mod or go.sum that is not matched by
#    a new vendorHash fails with a hash mismatch that prints the new one
#    (go.sum pins every module, so the vendor tree is fully determined).
#  - cairn: compiles ./cmd/cairn offline from the source and that vendor
#    directory, statically (CGO_ENABLED=0) and reproducibly (-trimpath,
#    no VCS stamping, build cache inside the build directory).
{ stdenv, go, cacert, root ? ../. }:
let
  rootLen = builtins.stringLength (toString root);
  hasSuffix = suffix: s:
    let n = builtins.stringLength s; m = builtins.stringLength suffix;
    in n >= m && builtins.substring (n - m) m s == suffix;
  hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;

  # The Go module and its packages: go.mod, go.sum, cmd/ and internal/,
  # without tests and test data.
  src = builtins.path {
    name = "cairn-source";
    path = root;
    filter = path: type:
      let
        rel = builtins.substring rootLen 1000000 (toString path);
        base = baseNameOf path;
      in
      (rel == "/go.mod" || rel == "/go.sum" || hasPrefix "/cmd" rel || hasPrefix "/internal" rel)
      && base != "testdata" && !(hasSuffix "_test.go" base) && !(hasSuffix ".test" base)
      && type != "symlink";
  };

  goEnv = ''
    export GOROOT=${go} GOTOOLCHAIN=local CGO_ENABLED=0
    export HOME=$TMPDIR GOCACHE=$TMPDIR/go-cache GOMODCACHE=$TMPDIR/go-mod GOPATH=$TMPDIR/go
  '';

  version = "0.1.0";
in
rec {
  inherit src;

  vendor = stdenv.mkDerivation {
    pname = "cairn-vendor";
    inherit version src;
    buildInputs = [ go ];
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    # go mod vendor of go.mod/go.sum (Go 1.26); update when they change.
    outputHash = "sha256-3a12n8mVTKn+6r7DVwE6HEBOPp/z0MVS09Dna/sdg2g=";
    impureEnvVars = [ "GOPROXY" "GOSUMDB" "GONOSUMDB" "GOPRIVATE" "GONOPROXY" "GOINSECURE"
      "http_proxy" "https_proxy" "HTTP_PROXY" "HTTPS_PROXY" "no_proxy" "NO_PROXY" ];
    SSL_CERT_FILE = cacert;
    buildPhase = goEnv + ''
      export GOFLAGS=-mod=mod
      go mod vendor
    '';
    installPhase = ''
      cp -r vendor $out
    '';
  };

  cairn = stdenv.mkDerivation {
    pname = "cairn";
    inherit version src;
    buildInputs = [ go ];
    buildPhase = goEnv + ''
      export GOPROXY=off GOFLAGS="-mod=vendor -trimpath -buildvcs=false"
      cp -r ${vendor} vendor
      go build -ldflags="-s -w -buildid=" -o cairn ./cmd/cairn
    '';
    doCheck = "1";
    checkPhase = ''
      test "$(./cairn eval --expr '1 + 2')" = 3
    '';
    installPhase = ''
      mkdir -p $out/bin
      cp cairn $out/bin/cairn
    '';
    meta.description = "Nix rebuilt in Go, built by itself";
  };
}
