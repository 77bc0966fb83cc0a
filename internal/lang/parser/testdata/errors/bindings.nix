# Errors in binding lists: each binding is parsed on its own, so one
# error per broken binding, and the good ones in between are kept.
{ lib, pkgs }:
let
  version = "1.0" name /* ERROR "unexpected '=', expecting ';'" */ = "x";
  src = ./src;
  deps = [ pkgs.a pkgs.b /* ERROR "unexpected ';'" */ ;
  meta = {
    description = /* ERROR "unexpected ';'" */ ;
    license = lib.licenses.mit;
    platforms = lib.platforms.all /* ERROR "unexpected ':', expecting ';'" */ : x;
  };
in
{
  inherit version src;
  build = pkgs.stdenv.mkDerivation (
    { pname = "x"; inherit version src; buildInputs = deps; } /* ERROR "unexpected ';', expecting '[)]'" */ ;
  check = if deps == [] then /* ERROR "unexpected 'else'" */ else true;
}
