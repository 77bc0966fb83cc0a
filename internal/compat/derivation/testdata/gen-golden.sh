#!/bin/bash
# Regenerates the derivation goldens with Nix 2.8 in throw-away stores
# (nothing touches /nix and nothing is built). For every attribute of
# drvs.nix, and for two store directories, it writes
#   <storedir-tag>/<drv basename>        the .drv written by nix-instantiate
#   <storedir-tag>/<drv basename>.json   `nix show-derivation` of it
# and lists "<attr> <drv path>" in <storedir-tag>/index.txt.
# Run from this directory.
set -euo pipefail
nix-store --version | grep -q ' 2\.8\.' || { echo "need Nix 2.8" >&2; exit 1; }
T=$(mktemp -d)
trap 'chmod -R u+w $T; rm -rf $T' EXIT
export NIX_CONFIG="substituters ="
attrs=$(nix-instantiate --eval --strict -E 'builtins.attrNames (import ./drvs.nix)' | tr -d '[]"')
for sd in /nix/store /foo/bar/store; do
	tag=store${sd//\//-}
	rm -rf $tag; mkdir -p $tag
	export NIX_REMOTE="local?root=$T/root$tag&store=$sd"
	for a in $attrs; do
		p=$(nix-instantiate ./drvs.nix -A $a 2>/dev/null)
		echo "$a $p" >> $tag/index.txt
	done
	# Copy every .drv in the closures (inputs included).
	for p in $(cut -d' ' -f2 $tag/index.txt); do
		for q in $(nix-store -qR $p | grep '\.drv$'); do
			b=$(basename $q)
			[ -e $tag/$b ] && continue
			cp $T/root$tag/nix/store/$b $tag/$b
			nix --extra-experimental-features nix-command show-derivation $q > $tag/$b.json
		done
	done
done
