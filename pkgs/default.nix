# cairn's package set: real packages built from source in the sandbox,
# offline, from two inputs the host already has (see bootstrap.nix):
# Debian's static busybox and the Go toolchain.
#
#   cairn build -f pkgs hello          # a shell-script package
#   cairn build -f pkgs cairn          # cairn itself, from this repository
#
# Arguments (all optional): busyboxDir, the directory holding a static
# `busybox`; goroot, the Go toolchain (default $CAIRN_GOROOT, else
# /usr/local/go); cairnSrc, a checkout of cairn to build instead of the
# one this file is in; system.
{ busyboxDir ? null, goroot ? null, cairnSrc ? null, system ? builtins.currentSystem }:
let
  bootstrap = import ./bootstrap.nix { inherit busyboxDir goroot system; };
  stdenv = import ./stdenv.nix { inherit (bootstrap) busybox; inherit system; };
  cairnPackages = import ./cairn.nix ({ inherit stdenv; inherit (bootstrap) go cacert; }
    // (if cairnSrc == null then { } else { root = cairnSrc; }));
in
{
  inherit (bootstrap) busybox go cacert;
  inherit stdenv;
  hello = import ./hello { inherit stdenv; };
  inherit (cairnPackages) cairn;
  cairn-vendor = cairnPackages.vendor;
}
