# A tiny package set in the style of nixpkgs: a few lib functions, a
# mkDerivation helper, packages that depend on each other, an overlay
# applied through a fixed point, and one deliberate mistake.
let
  lib = rec {
    fix = f: let x = f x; in x;
    extends = overlay: f: self: let super = f self; in super // overlay self super;
    composeOverlays = overlays: f: builtins.foldl' (g: o: extends o g) f overlays;
    concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
    optionalString = cond: s: if cond then s else "";
    filterAttrs = pred: set:
      builtins.listToAttrs (builtins.concatMap
        (name: let v = set.${name}; in if pred name v then [ { inherit name; value = v; } ] else [ ])
        (builtins.attrNames set));
    versionAtLeast = a: b: builtins.compareVersions a b >= 0;
  };

  mkDerivation = { pname, version, deps ? [ ], meta ? { } }:
    derivation {
      name = "${pname}-${version}";
      inherit version deps;
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "echo building ${pname} ${version}; mkdir $out" ];
    } // { inherit pname meta; };

  packages = self: {
    zlib = mkDerivation { pname = "zlib"; version = "1.2.13"; meta.license = "zlib"; };
    openssl = mkDerivation { pname = "openssl"; version = "3.0.8"; deps = [ self.zlib ]; meta.license = "asl20"; };
    curl = mkDerivation { pname = "curl"; version = "8.0.1"; deps = [ self.openssl self.zlib ]; meta.license = "curl"; };
    hello = mkDerivation { pname = "hello"; version = "2.12.1"; meta.license = "gpl3Plus"; };
  };

  # An overlay: bump zlib; everything that depends on it changes too.
  security = self: super: {
    zlib = mkDerivation { pname = "zlib"; version = "1.3"; meta = super.zlib.meta; };
  };

  pkgs = lib.fix (lib.composeOverlays [ security ] packages);
in
{
  inherit lib pkgs;

  names = builtins.mapAttrs (_: p: p.name) pkgs;

  report = lib.concatMapStringsSep "\n" (p: "${p.pname} ${p.version}${lib.optionalString (lib.versionAtLeast p.version "3") " (3.x or later)"}")
    (builtins.attrValues pkgs);

  licenses = builtins.mapAttrs (_: p: p.meta.license) (lib.filterAttrs (_: p: p ? meta.license) pkgs);

  # The mistake: a typo in a package name.
  broken = pkgs.opensll.version;
}
