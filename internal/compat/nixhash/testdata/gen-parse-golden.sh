#!/bin/sh
# Regenerates parse.golden from parse-cases.txt with Nix 2.8's
# `nix hash to-*` (which uses Hash::parseAny). Run from this directory.
set -eu
nix="nix --extra-experimental-features nix-command"
$nix --version | grep -q ' 2\.8\.' || { echo "need Nix 2.8" >&2; exit 1; }
grep -v '^#' parse-cases.txt | while read -r typ in; do
	t=""
	[ "$typ" = - ] || t="--type $typ"
	out=""
	for to in base16 base32 base64 sri; do
		if r=$($nix hash to-$to $t "$in" 2>&1); then
			out="$out $r"
		else
			out=" $(printf '%s' "$r" | head -n1)"
			break
		fi
	done
	printf '%s %s ->%s\n' "$typ" "$in" "$out"
done > parse.golden
