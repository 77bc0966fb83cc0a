# A small mkDerivation: the builder is busybox sh running setup.sh, which
# runs the phases (unpack, configure, build, check, install) from
# attributes of the derivation, with PATH made of busybox and the bin/
# of buildInputs. Each phase is announced to cairn (and Nix) with an
# "@nix setPhase" log message.
{ busybox, system }:
{
  inherit busybox;
  mkDerivation = { pname, version, buildInputs ? [ ], ... }@args:
    derivation ({
      name = "${pname}-${version}";
      inherit system;
      builder = "${busybox}/bin/sh";
      args = [ "-e" ./setup.sh ];
      inherit busybox;
      buildInputs = buildInputs;
    } // removeAttrs args [ "buildInputs" "meta" ]) // { meta = args.meta or { }; inherit pname version; };
}
