#!/usr/bin/env bash
# qaP.sh: compare `cairn env --compat 2.8 -f <tree> -qaP` line for line with Nix 2.8's listing
# /work/shared/reference/nixpkgs-2020-qaP.txt.gz. The reference was made on a copy of the tree
# with a stand-in hackage-packages.nix (hackage-stub.sh); this script makes the same copy
# (hard links, plus the stub) in $QA_TREE, outside the repository, if it is not there yet.
# Prints the number of differing lines (a unified diff in $WORK/qaP.diff); exit status 1 if
# the listings differ.
#
# Environment:
#   NIXPKGS=/path   the nixpkgs 28fce082 tree (default /work/nixpkgs)
#   QA_TREE=/path   the stubbed copy (default $NIXPKGS-qa, e.g. /work/nixpkgs-qa)
#   REFDIR=/path    reference data (default /work/shared/reference)
#   CAIRN=/path     cairn binary (default: go build ./cmd/cairn into a temporary directory)
#   WORK=/path      where cairn's listing and the diff go (default: a temporary directory)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${NIXPKGS:=/work/nixpkgs}"
: "${QA_TREE:=${NIXPKGS%/}-qa}"
: "${REFDIR:=/work/shared/reference}"
ref=$REFDIR/nixpkgs-2020-qaP.txt.gz
if [[ ! -f $NIXPKGS/lib/default.nix ]]; then
	echo "parity: no nixpkgs tree at NIXPKGS=$NIXPKGS (see bench/README.md)" >&2
	exit 2
fi
if [[ ! -f $ref || ! -f $REFDIR/hackage-stub.sh ]]; then
	echo "parity: no reference listing or hackage-stub.sh in REFDIR=$REFDIR" >&2
	exit 2
fi
case $(cd "$(dirname "$QA_TREE")" && pwd)/ in
"$root"/*)
	echo "parity: QA_TREE=$QA_TREE is inside the repository; put it elsewhere" >&2
	exit 2
	;;
esac
stub=pkgs/development/haskell-modules/hackage-packages.nix
if [[ ! -f $QA_TREE/$stub ]]; then
	echo "parity: making $QA_TREE (hard-linked copy of $NIXPKGS with the hackage stub)" >&2
	rm -rf "$QA_TREE.tmp"
	cp -al "$NIXPKGS" "$QA_TREE.tmp" 2>/dev/null || cp -a "$NIXPKGS" "$QA_TREE.tmp" || exit 2
	rm -f "$QA_TREE.tmp/$stub"
	bash "$REFDIR/hackage-stub.sh" "$REFDIR/hackage-names.txt" >"$QA_TREE.tmp/$stub" || exit 2
	mv "$QA_TREE.tmp" "$QA_TREE"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: "${WORK:=$tmp}"
mkdir -p "$WORK"
if [[ -z ${CAIRN:-} ]]; then
	(cd "$root" && go build -o "$tmp/cairn" ./cmd/cairn) || exit 2
	CAIRN=$tmp/cairn
fi
export HOME=$tmp/home
unset NIX_PATH NIXPKGS_CONFIG NIXPKGS_ALLOW_UNFREE NIXPKGS_ALLOW_BROKEN NIXPKGS_ALLOW_INSECURE \
	NIXPKGS_ALLOW_UNSUPPORTED_SYSTEM IN_NIX_SHELL
start=$(date +%s.%N)
if ! "$CAIRN" env --compat 2.8 --store dummy:// -f "$QA_TREE" -qaP >"$WORK/qaP.cairn" 2>"$WORK/qaP.cairn.err"; then
	echo "parity qaP: cairn failed:" >&2
	tail -n 20 "$WORK/qaP.cairn.err" >&2
	exit 1
fi
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
gzip -dc "$ref" >"$WORK/qaP.nix"
diff -u "$WORK/qaP.nix" "$WORK/qaP.cairn" >"$WORK/qaP.diff"
ndiff=$(grep -c '^[-+][^-+]' "$WORK/qaP.diff")
echo "parity qaP: $(wc -l <"$WORK/qaP.nix") reference lines, $(wc -l <"$WORK/qaP.cairn") from cairn, $ndiff differing lines (${secs}s)"
if ((ndiff > 0)); then
	head -n 40 "$WORK/qaP.diff"
	exit 1
fi
