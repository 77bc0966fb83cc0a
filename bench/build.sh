#!/usr/bin/env bash
# build.sh: build N (default 500) trivial derivations (bench/build.nix: `echo > $out` with busybox
# sh as the builder) with `cairn build` against Nix 2.8's `nix-build`, both sandboxed, each in a
# fresh chroot store (`--store DIR`, removed before every run, outside the timing): a chain
# (each derivation depends on the previous one) at -j1, and a fan-out (N independent leaves under
# one root, so N+1 builds) at -j1 and -j2. Timed: evaluation, instantiation and all builds.
# Reported: wall seconds, per-derivation overhead (wall / N, ms), ratios cairn/nix, CPU seconds
# (user+sys of the tool and its children, sandbox inits and builders included; medians), and each
# tool's -j1/-j2 speed-up on the fan-out. Kernel work done outside the processes (e.g. network
# namespace teardown in kworkers) is in neither tool's CPU. See bench/README.md.
#
# cairn is built static (CGO_ENABLED=0), as it ships: a dynamically linked binary spends about
# a millisecond more in the dynamic loader every time it starts as a sandbox init.
#
# Environment (besides common.sh's CAIRN): N (500), RUNS (3 here), BENCH_TMP, WORKLOADS (default
# "chain:1 fan:1 fan:2", shape:jobs), FRESH_FS (1: each run's store on a new loop-mounted ext4,
# made outside the timing; needs root).
set -euo pipefail
: "${RUNS:=3}" "${N:=500}"
export CGO_ENABLED=0
# shellcheck source=bench/store-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/store-lib.sh"
store_tools
command -v nix-build >/dev/null || { echo "bench: nix-build (Nix 2.8) missing: apt-get install nix-bin" >&2; exit 1; }
expr=$bench_root/bench/build.nix
nstore=$BENCH_TMP/build-nix
cstore=$BENCH_TMP/build-cairn

fresh() {
	if [[ ${FRESH_FS:-} == 1 ]]; then
		# A new journaled ext4 for every run, as a /nix on a disk would be: no inodes freed by
		# the previous run's removal for the allocator to step over (see the comment above the
		# workload loop), whichever tool ran last.
		! mountpoint -q "$1" || umount "$1"
		rm -rf "$1"
		mkdir -p "$1"
		truncate -s 4G "$1.img"
		mkfs.ext4 -q -F "$1.img"
		mount -o loop "$1.img" "$1"
		return
	fi
	chmod -R u+w "$1" 2>/dev/null || true
	rm -rf "$1"
}
cleanup_fs() {
	local d
	for d in "$nstore" "$cstore"; do
		! mountpoint -q "$d" || umount "$d"
		rm -f "$d.img"
	done
}
[[ ${FRESH_FS:-} != 1 ]] || trap cleanup_fs EXIT

# ms WALL: per-derivation milliseconds.
ms() {
	awk -v w="$1" -v n="$N" 'BEGIN { if (w == "-") print "-"; else printf "%.1f\n", w * 1000 / n }'
}

echo "build: N=$N, median of $RUNS (after one warm-up run); $(load_note)"
printf '%-10s %4s %7s %10s %7s %12s %6s %8s %10s %9s\n' workload jobs "nix s" "nix ms/drv" "cairn s" "cairn ms/drv" ratio "nix cpu" "cairn cpu" "cpu ratio"
declare -A med NW NM NC NB CW CM CC CB NOTE
# run W R: run R (0 = warm-up, not counted) of workload W (shape:jobs) for both tools.
run() {
	local w=$1 r=$2 shape=${1%:*} j=${1#*:} n c
	fresh "$nstore"
	measure_cpu "$OUT/build-$shape-j$j.nix.out" nix-build --store "$nstore" "${NIXOPTS[@]}" \
		--option sandbox true -j "$j" --no-out-link \
		--arg n "$N" --argstr shape "$shape" "$expr"
	((M_RC == 0)) || { NOTE[$w]+="nix: exit $M_RC in run $r; "; cp "$OUT/build-$shape-j$j.nix.out.err" "$OUT/build-$shape-j$j-run$r.nix.failed"; }
	((r == 0)) || { NW[$w]+=" $M_WALL" NM[$w]+=" $M_RSS" NC[$w]+=" $M_CPU" NB[$w]+=" $M_BUSY"; }
	fresh "$cstore"
	measure_cpu "$OUT/build-$shape-j$j.cairn.out" "$CAIRN" build --store "$cstore" "${NIXOPTS[@]}" \
		--option sandbox true -j "$j" --no-link --print-out-paths \
		--arg n "$N" --argstr shape "$shape" -f "$expr"
	((M_RC == 0)) || { NOTE[$w]+="cairn: exit $M_RC in run $r (bench/out/build-$shape-j$j-run$r.cairn.failed); "; cp "$OUT/build-$shape-j$j.cairn.out.err" "$OUT/build-$shape-j$j-run$r.cairn.failed"; }
	((r == 0)) || { CW[$w]+=" $M_WALL" CM[$w]+=" $M_RSS" CC[$w]+=" $M_CPU" CB[$w]+=" $M_BUSY"; }
	if ((r == 0)); then
		cmp -s "$OUT/build-$shape-j$j.nix.out" "$OUT/build-$shape-j$j.cairn.out" ||
			NOTE[$w]+="OUTPUT PATHS DIFFER (bench/out/build-$shape-j$j.*.out); "
		n=$(find "$nstore/nix/store" -maxdepth 1 -name "*-t0-*" ! -name "*.drv" | wc -l)
		c=$(find "$cstore/nix/store" -maxdepth 1 -name "*-t0-*" ! -name "*.drv" | wc -l)
		[[ $n == "$c" ]] || NOTE[$w]+="BUILT OUTPUTS DIFFER (nix $n, cairn $c); "
	fi
}
# The workloads of one shape run alternately (-j1, -j2, -j1, ...), so that the -j1/-j2 speed-up
# compares runs made in the same state of the file system: on this VM's ext4 (no journal)
# creating an inode scans past the inodes freed in the last minutes, so every run that deletes
# a store slows the runs after it for a while.
shapes=()
for w in ${WORKLOADS:-chain:1 fan:1 fan:2}; do
	[[ " ${shapes[*]} " == *" ${w%:*} "* ]] || shapes+=("${w%:*}")
done
for shape in "${shapes[@]}"; do
	ws=()
	for w in ${WORKLOADS:-chain:1 fan:1 fan:2}; do
		[[ ${w%:*} != "$shape" ]] || ws+=("$w")
	done
	for w in "${ws[@]}"; do NOTE[$w]="$(load_note) at start; "; done
	for ((r = 0; r <= RUNS; r++)); do
		for w in "${ws[@]}"; do run "$w" "$r"; done
	done
	for w in "${ws[@]}"; do
		j=${w#*:}
		# shellcheck disable=SC2086 # the lists are space-separated on purpose
		nmed=$(median ${NW[$w]:-}) cmed=$(median ${CW[$w]:-}) ncpu=$(median ${NC[$w]:-}) ccpu=$(median ${CC[$w]:-})
		med[$w.nix]=$nmed med[$w.cairn]=$cmed
		med[$w.nixbusy]=$(median ${NB[$w]:-}) med[$w.cairnbusy]=$(median ${CB[$w]:-})
		printf '%-10s %4s %7s %10s %7s %12s %6s %8s %10s %9s\n' "$shape" "$j" "$nmed" "$(ms "$nmed")" "$cmed" "$(ms "$cmed")" \
			"$(ratio "$cmed" "$nmed")" "$ncpu" "$ccpu" "$(ratio "$ccpu" "$ncpu")"
		report build "$shape-j$j-n$N" "${NW[$w]:-}" "${NM[$w]:-}" "${CW[$w]:-}" "${CM[$w]:-}" "${NOTE[$w]}$(load_note) at end" >/dev/null
		echo "  ${NOTE[$w]}$(load_note) at end"
	done
done
echo "per-derivation overhead nix/cairn (wall; want >= 3): chain $(ratio "${med[chain:1.nix]:--}" "${med[chain:1.cairn]:--}"), fan-out -j1 $(ratio "${med[fan:1.nix]:--}" "${med[fan:1.cairn]:--}")"
echo "fan-out -j1/-j2 speed-up (want >= 1.7 for cairn): nix $(ratio "${med[fan:1.nix]:--}" "${med[fan:2.nix]:--}"), cairn $(ratio "${med[fan:1.cairn]:--}" "${med[fan:2.cairn]:--}")"
# The most -j2 can gain: a run takes at least its machine CPU time spread over every core, so if
# the -j2 run does as much machine work as the -j1 run, its speed-up is at most
# cores * wall(-j1) / busy(-j1) (and 2). A tool that keeps more than one core busy at -j1 (its own
# threads, helper processes, kernel work done in kernel threads) has that much less to gain. The
# busy seconds of both runs are printed to check the assumption.
ceiling() {
	awk -v w="$1" -v b="$2" -v b2="$3" -v c="$(nproc)" 'BEGIN { if (w == "-" || b == "-" || b == 0) print "-"; else { x = c * w / b; if (x > 2) x = 2; printf "%.2fx (%.2f cores busy at -j1; machine CPU -j1 %.2f s, -j2 %.2f s)\n", x, b / w, b, b2 } }'
}
echo "ceiling on that speed-up from the -j1 runs' machine CPU, $(nproc) cores: nix $(ceiling "${med[fan:1.nix]:--}" "${med[fan:1.nixbusy]:--}" "${med[fan:2.nixbusy]:--}"); cairn $(ceiling "${med[fan:1.cairn]:--}" "${med[fan:1.cairnbusy]:--}" "${med[fan:2.cairnbusy]:--}")"
