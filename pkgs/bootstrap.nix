# The bootstrap: what the package set takes from the host. Nothing is
# downloaded; each input is copied into the store with builtins.path, so
# it is addressed by the hash of its contents, computed when the
# expression is evaluated. A different busybox or Go on another machine
# is a different input and gives different store paths (as a different
# bootstrap-tools tarball would in nixpkgs); the same host gives the same
# paths every time.
{ busyboxDir ? null, goroot ? null, system }:
let
  # Debian's busybox-static (scripts/setup.sh) is /bin/busybox; on a
  # merged-/usr system /bin is a symlink to usr/bin, and builtins.path
  # copies a symlink as a symlink, so take the real directory.
  bbDir =
    if busyboxDir != null then busyboxDir
    else if builtins.pathExists /usr/bin/busybox then /usr/bin
    else /bin;

  # Only the busybox file of that directory, so the store path is a
  # directory with `busybox` in it: busybox chooses its applet by the
  # name it is run as, and "<hash>-busybox" (a store path that is the
  # file itself) would be no applet.
  busyboxStatic = builtins.path {
    name = "busybox-static";
    path = bbDir;
    filter = path: type: baseNameOf path == "busybox";
  };

  env = builtins.getEnv "CAIRN_GOROOT";
  gorootPath =
    if goroot != null then goroot
    else if env != "" then env
    else "/usr/local/go";
in
rec {
  # busybox with a bin/ of applet symlinks: the shell and tools of every
  # build.
  busybox = derivation {
    name = "busybox";
    inherit system;
    builder = "${busyboxStatic}/busybox";
    args = [ "sh" "-e" "-c" ''
      bb=${busyboxStatic}/busybox
      $bb mkdir -p $out/bin
      $bb cp $bb $out/bin/busybox
      cd $out/bin
      for a in $(./busybox --list); do
        [ "$a" = busybox ] || ./busybox ln -s busybox "$a"
      done
    '' ];
  };

  # The Go toolchain of the host, without its test suite and docs.
  go = builtins.path {
    name = "go-toolchain";
    path = gorootPath;
    filter = path: type:
      let rel = builtins.substring (builtins.stringLength (toString gorootPath)) 1000000 (toString path);
      in !(builtins.elem rel [ "/test" "/doc" "/api" "/misc" ]);
  };

  # The host's CA certificates, for fixed-output derivations that
  # download over https (the Go module proxy).
  cacert = builtins.path {
    name = "ca-certificates.crt";
    path = /etc/ssl/certs/ca-certificates.crt;
  };
}
