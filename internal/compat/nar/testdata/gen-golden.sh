#!/bin/bash
# Regenerates the NAR goldens with Nix 2.8 (nothing touches /nix):
#   hello.nar       nix-store --dump of a file containing "hello\n"
#   tree.nar        nix-store --dump of the tree built below
#   tree.ls         the .ls listing `nix copy --to file://…?write-nar-listing=true` writes for it
#   tree.sha256     nix-hash --type sha256 --base32 of the tree
# Run from this directory.
set -euo pipefail
nix-store --version | grep -q ' 2\.8\.' || { echo "need Nix 2.8" >&2; exit 1; }
T=$(mktemp -d)
trap 'chmod -R u+w $T; rm -rf $T' EXIT
export NIX_REMOTE="local?root=$T/root"
printf 'hello\n' > $T/hello.txt
nix-store --dump $T/hello.txt > hello.nar
d=$T/tree
mkdir -p $d/sub/deeper $d/empty-dir
printf 'hello\n' > $d/a.sh; chmod +x $d/a.sh
printf 'B' > $d/B
printf '' > $d/b
: > $d/empty-exe; chmod +x $d/empty-exe
printf '1234567' > $d/sub/seven
printf '12345678' > $d/sub/eight
printf 'x%.0s' $(seq 100) > $d/sub/deeper/hundred
printf 'unicode\n' > "$d/sub/é—ü"
printf 'quote' > "$d/sub/q\"uote\\back"
ln -s a.sh $d/link
ln -s ../../b $d/sub/deeper/up
ln -s /nonexistent/target $d/dangling
nix-store --dump $d > tree.nar
nix-hash --type sha256 --base32 $d > tree.sha256
p=$(nix-store --add $d)
nix --extra-experimental-features nix-command copy --option substituters '' \
	--to "file://$T/cache?compression=none&write-nar-listing=true" $p
cp $T/cache/*.ls tree.ls
cmp tree.nar $T/cache/nar/*.nar
