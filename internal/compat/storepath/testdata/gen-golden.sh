#!/bin/bash
# Regenerates paths.golden with Nix 2.8 in throw-away stores (nothing
# touches /nix; a chroot store keeps its files under <root>/nix/store
# whatever its logical store dir). Run from this directory. Lines:
#   source <storeDir> <name> <sha256 hex of NAR> -> <path>   (nix-store --add)
#   fixed <storeDir> <flat|r> <algo> <hex> <name> -> <path>  (--add-fixed, --print-fixed-path)
#   text <storeDir> <name> <sha256 hex of contents> <refs,|-> -> <path>  (builtins.toFile)
#   name <name> -> ok | error: <message>                    (--print-fixed-path)
set -euo pipefail
nix-store --version | grep -q ' 2\.8\.' || { echo "need Nix 2.8" >&2; exit 1; }
T=$(mktemp -d)
trap 'chmod -R u+w $T; rm -rf $T' EXIT
export NIX_CONFIG="substituters ="
mkdir -p $T/in/dir/sub $T/in/empty
printf 'hello\n' > $T/in/hello.txt
printf '#!/bin/sh\necho hi\n' > $T/in/run.sh; chmod +x $T/in/run.sh
printf 'a' > $T/in/dir/a; printf 'b' > $T/in/dir/sub/B; ln -s ../a $T/in/dir/sub/link
: > $T/in/empty.txt
out=$PWD/paths.golden
: > $out
for sd in /nix/store /foo/bar/store; do
	root=$T/root-${sd//\//-}
	export NIX_REMOTE="local?root=$root&store=$sd"
	for f in hello.txt run.sh dir empty empty.txt; do
		p=$(nix-store --add $T/in/$f)
		echo "source $sd $f $(nix-hash --type sha256 $T/in/$f) -> $p" >> $out
	done
	for a in md5 sha1 sha256 sha512; do
		for f in hello.txt run.sh; do
			p=$(nix-store --add-fixed $a $T/in/$f)
			echo "fixed $sd flat $a $(nix-hash --flat --type $a $T/in/$f) $f -> $p" >> $out
		done
		p=$(nix-store --add-fixed --recursive $a $T/in/dir)
		echo "fixed $sd r $a $(nix-hash --type $a $T/in/dir) dir -> $p" >> $out
	done
	h=0000000000000000000000000000000000000000000000000000000000000000
	for n in x foo-1.0.tar.gz '.dot' '..' '.-a' 'A+b-c._?=' $(printf 'n%.0s' $(seq 211)); do
		echo "fixed $sd r sha256 $h $n -> $(nix-store --print-fixed-path --recursive sha256 $h "$n")" >> $out
	done
	# builtins.toFile, with and without references.
	expr='let a = builtins.toFile "a" "x"; b = builtins.toFile "b.txt" "${a} y"; in [ a b (builtins.toFile "c" "${b}${a}\nz") ]'
	for p in $(nix-instantiate --read-write-mode --eval --strict -E "$expr" | tr -d '[]"'); do
		refs=$(nix-store -q --references $p | sort | paste -sd, -)
		sum=$(sha256sum < $root/nix/store/$(basename $p) | cut -d' ' -f1)
		echo "text $sd $(basename $p | cut -c34-) $sum ${refs:--} -> $p" >> $out
	done
	rm -rf $T/root*
done
export NIX_REMOTE="local?root=$T/rootn"
h=0000000000000000000000000000000000000000000000000000000000000000
for n in '' 'a b' 'ä' 'x/y' $(printf 'n%.0s' $(seq 212)) '.' '..' '.-x' '..-x' 'a:b'; do
	if r=$(nix-store --print-fixed-path --recursive sha256 $h "$n" 2>&1); then
		echo "name $n -> ok"
	else
		echo "name $n -> $r"
	fi >> $out
done
