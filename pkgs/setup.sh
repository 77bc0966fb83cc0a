# setup.sh: the generic builder of stdenv.nix's mkDerivation, for busybox sh.
set -e
PATH=$busybox/bin
for p in $buildInputs; do
	PATH=$p/bin:$PATH
done
export PATH

runPhase() {
	echo "@nix {\"action\":\"setPhase\",\"phase\":\"$1\"}" >&2
	eval "code=\${$1:-}"
	if [ -z "$code" ]; then
		eval "code=\$(default_$1)"
	fi
	eval "$code"
}

default_unpackPhase() {
	echo 'if [ -n "${src:-}" ]; then
		if [ -d "$src" ]; then cp -r "$src" source; else mkdir source; tar -xf "$src" -C source; fi
		chmod -R u+w source
		cd source
	fi'
}
default_configurePhase() { :; }
default_buildPhase() { :; }
default_checkPhase() { :; }
default_installPhase() { :; }

phases=${phases:-unpackPhase configurePhase buildPhase checkPhase installPhase}
for ph in $phases; do
	if [ "$ph" = checkPhase ] && [ -z "${doCheck:-}" ]; then
		continue
	fi
	runPhase "$ph"
done
