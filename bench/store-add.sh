#!/usr/bin/env bash
# store-add.sh: add N (default 10,000) small files to an empty chroot store, `cairn store add
# --store ROOT f1 … fN` (one process) against Nix 2.8's `nix-store --add f1 … fN` (one process),
# then LOOP_N (default 200) files one process per file for both (process start and store open
# included). Each timed run starts from an empty store; the warm-up run checks that both print the
# same store paths. See bench/README.md.
set -euo pipefail
# shellcheck source=bench/store-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/store-lib.sh"
store_tools
: "${N:=10000}" "${LOOP_N:=200}"

src=$BENCH_TMP/add-src-$N
if [[ ! -f $src.done ]]; then
	rm -rf "$src"
	mkdir -p "$src"
	python3 - "$src" "$N" <<'PY'
import os, random, sys
src, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(2)
for i in range(n):
    with open(os.path.join(src, "f%05d" % i), "wb") as f:
        f.write(rng.randbytes(rng.randrange(16, 4096)))
PY
	touch "$src.done"
fi
mapfile -t files < <(find "$src" -type f | LC_ALL=C sort)
loop=("${files[@]:0:LOOP_N}")
echo "store-add: ${#files[@]} files (16 B-4 KiB) in $src, median of $RUNS; $(load_note)"

# Every run gets new store directories, removed only at the end: creating inodes right after
# deleting tens of thousands makes ext4's inode allocator scan past the recently deleted ones
# (recently_deleted() in the kernel profile), which would time the file system's state.
runs=$BENCH_TMP/add-runs # not RUNS (common.sh's number of runs)
rmruns() { chmod -R u+w "$runs" 2>/dev/null || true; rm -rf "$runs"; }
rmruns
fresh() { nroot=$runs/$1-nix croot=$runs/$1-cairn; }

# One process per file (the loop in one bash, timed as a whole).
# shellcheck disable=SC2016 # the loops are scripts for bash -c
nix_loop='r=$1; shift; for f; do NIX_REMOTE="local?root=$r" nix-store --option substituters "" --add "$f" || exit 1; done'
# shellcheck disable=SC2016
cairn_loop='c=$1 r=$2; shift 2; for f; do "$c" store add --store "$r" "$f" || exit 1; done'

note="$(load_note) at start; " lnote=""
nw=() nm=() cw=() cm=() lnw=() lnm=() lcw=() lcm=() nc=() cc=() lnc=() lcc=()
for ((r = 0; r <= RUNS; r++)); do
	fresh "$r"
	out=/dev/null
	((r > 0)) || out=$OUT/store-add-nix.out
	NIX_REMOTE="local?root=$nroot" measure_cpu "$out" nix-store "${NIXOPTS[@]}" --add "${files[@]}"
	((M_RC == 0)) || note+="nix: exit $M_RC in run $r; "
	((r == 0)) || { nw+=("$M_WALL"); nm+=("$M_RSS"); nc+=("$M_CPU"); }
	((r > 0)) || out=$OUT/store-add-cairn.out
	measure_cpu "$out" "$CAIRN" store add --store "$croot" "${files[@]}"
	((M_RC == 0)) || note+="cairn: exit $M_RC in run $r; "
	((r == 0)) || { cw+=("$M_WALL"); cm+=("$M_RSS"); cc+=("$M_CPU"); }
	if ((r == 0)) && ! cmp -s "$OUT/store-add-nix.out" "$OUT/store-add-cairn.out"; then
		note+="PATHS DIFFER (bench/out/store-add-*.out); "
	fi
	fresh "$r-loop"
	measure_cpu /dev/null bash -c "$nix_loop" _ "$nroot" "${loop[@]}"
	((M_RC == 0)) || lnote+="nix: exit $M_RC in run $r; "
	((r == 0)) || { lnw+=("$M_WALL"); lnm+=("$M_RSS"); lnc+=("$M_CPU"); }
	measure_cpu /dev/null bash -c "$cairn_loop" _ "$CAIRN" "$croot" "${loop[@]}"
	((M_RC == 0)) || lnote+="cairn: exit $M_RC in run $r; "
	((r == 0)) || { lcw+=("$M_WALL"); lcm+=("$M_RSS"); lcc+=("$M_CPU"); }
done
rmruns
note+="$(load_note) at end"
report_header
report store-add "add-$N-one-process" "${nw[*]}" "${nm[*]}" "${cw[*]}" "${cm[*]}" "$note"
report store-add "add-$LOOP_N-loop" "${lnw[*]}" "${lnm[*]}" "${lcw[*]}" "${lcm[*]}" "one process per path; ${lnote}"
printf 'CPU (user+sys) s, one process: nix %s, cairn %s (ratio %s); loop: nix %s, cairn %s (ratio %s)\n' \
	"$(median "${nc[@]}")" "$(median "${cc[@]}")" "$(ratio "$(median "${cc[@]}")" "$(median "${nc[@]}")")" \
	"$(median "${lnc[@]}")" "$(median "${lcc[@]}")" "$(ratio "$(median "${lcc[@]}")" "$(median "${lnc[@]}")")"
