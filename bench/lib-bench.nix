# Workloads over nixpkgs' own lib (nixpkgs 28fce082, July 2020), one attribute each:
#   nix-instantiate --eval --strict bench/lib-bench.nix --argstr nixpkgs /work/nixpkgs -A range
# Without -A, --strict evaluates them all. Each result is small (a number or a short string),
# so the time goes into the work, not into printing.
{ nixpkgs ? "/work/nixpkgs"
, n ? 200000 # list length for the integer workloads
, m ? 20000 # item count for the string and attribute set workloads
}:
let
  lib = import (nixpkgs + "/lib");
  inherit (builtins) add length attrValues listToAttrs stringLength toString;
  sum = lib.foldl' add 0;

  ints = lib.range 1 n;
  items = lib.range 1 m;
  # Deterministic pseudo-random order for sort: i * 7919 mod 100003.
  shuffled = map (i: i * 7919 - (i * 7919 / 100003) * 100003) ints;
  csv = lib.concatMapStringsSep "," toString items;
  attrs = listToAttrs (map (i: { name = "a${toString i}"; value = { x = i; }; }) items);
  attrs2 = listToAttrs (map (i: { name = "a${toString i}"; value = { y = 2 * i; }; }) items);

  # A small module system: 50 options over 4 modules, with defaults, mkIf, mkMerge and
  # mkDefault, roughly what a NixOS service module does.
  names = map (i: "opt${toString i}") (lib.range 1 50);
  optionsModule = {
    options = lib.genAttrs names (name: {
      enable = lib.mkOption { type = lib.types.bool; default = false; };
      port = lib.mkOption { type = lib.types.int; default = 80; };
      tags = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
      settings = lib.mkOption { type = lib.types.attrsOf lib.types.str; default = { }; };
    });
  };
  enableModule = { config = lib.genAttrs names (name: { enable = true; tags = [ name ]; }); };
  portModule = { config, ... }: {
    config = lib.genAttrs names (name: lib.mkIf config.${name}.enable {
      port = lib.mkDefault 8080;
      settings = lib.mkMerge [ { inherit name; } { kind = "bench"; } ];
    });
  };
  tagModule = { config = lib.genAttrs names (name: { tags = [ "extra" ]; }); };
  evaluated = lib.evalModules { modules = [ optionsModule enableModule portModule tagModule ]; };
in
{
  range = length (lib.range 1 n) + sum (lib.range 1 n);
  map = sum (map (x: x * 3 + 1) ints);
  foldl = lib.foldl' (acc: x: if x > acc then x else acc) 0 ints;
  concatMapStringsSep = stringLength csv;
  splitString = length (lib.splitString "," csv);
  mapAttrs = sum (map (v: v.x) (attrValues (lib.mapAttrs (name: v: v // { x = v.x + 1; }) attrs)));
  recursiveUpdate = sum (map (v: v.x + v.y) (attrValues (lib.recursiveUpdate attrs attrs2)));
  sort = sum (lib.take 10 (lib.sort (a: b: a < b) shuffled));
  evalModules = builtins.toJSON (lib.mapAttrs (name: o: o.port + length o.tags + length (attrValues o.settings))
    (lib.filterAttrs (name: o: o.enable) evaluated.config));
}
