# hello: a shell-script package, built from source (hello.sh) in the
# sandbox: the version is stamped in, the interpreter is the store's
# busybox sh, and the test suite runs before installing.
{ stdenv }:
stdenv.mkDerivation {
  pname = "hello";
  version = "1.0";
  src = ./.;
  doCheck = "1";
  buildPhase = ''
    sed -e "s|@shell@|${stdenv.busybox}/bin/sh|" -e "s|@version@|$version|" hello.sh > hello
    chmod +x hello
  '';
  checkPhase = ''
    sh ./test.sh ./hello
  '';
  installPhase = ''
    mkdir -p $out/bin $out/share/doc/hello
    cp hello $out/bin/hello
    cp README $out/share/doc/hello/
  '';
  meta.description = "Prints a greeting, in a shell script";
}
