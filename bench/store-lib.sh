# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are used by the sourcing scripts
# Helpers shared by the store benchmarks (nar-hash.sh, store-add.sh, gc.sh): common.sh's timing
# and reporting, the cairn binary, a Nix 2.8 check and the machine load. Source it.
#
# Environment (besides common.sh's RUNS and CAIRN):
#   BENCH_TMP=/path   where trees and scratch stores go (default /tmp/cairn-store-bench)
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# common.sh points Nix at dummy://; every store command here names its chroot store instead.
unset NIX_REMOTE
: "${BENCH_TMP:=/tmp/cairn-store-bench}"
mkdir -p "$BENCH_TMP"

# store_tools sets CAIRN (the binary) and checks for Nix 2.8's nix-store and nix-hash.
store_tools() {
	bench_tools
	if ((${#CAIRN_CMD[@]} == 0)); then
		echo "bench: no cairn binary (CAIRN=none?): the store benchmarks compare both" >&2
		exit 1
	fi
	local t
	for t in nix-store nix-hash; do
		command -v "$t" >/dev/null || {
			echo "bench: $t (Nix 2.8) missing: apt-get install nix-bin" >&2
			exit 1
		}
	done
	NIXOPTS=(--option substituters '')
}

# load_note prints the 1-minute load average and the number of CPUs, for the notes.
load_note() {
	printf 'load %s/%s cpus' "$(cut -d' ' -f1 /proc/loadavg)" "$(nproc)"
}

# mibps BYTES SECONDS: throughput in MiB/s.
mibps() {
	awk -v b="$1" -v s="$2" 'BEGIN { if (s == "-" || s == 0) print "-"; else printf "%.0f\n", b / 1048576 / s }'
}

# measure_cpu OUTFILE CMD...: measure (common.sh), and also set M_CPU to user+sys seconds and
# M_BUSY to the machine's busy CPU seconds (busy_ticks) over the run.
measure_cpu() {
	local out=$1 err=$1.err tf
	shift
	[[ $out != /dev/null ]] || err=/dev/null
	tf=$(mktemp)
	M_RC=0
	local b0 b1
	b0=$(busy_ticks)
	/usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$out" 2>"$err" || M_RC=$?
	b1=$(busy_ticks)
	local u s
	read -r M_WALL M_RSS u s < <(tail -n 1 "$tf")
	M_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	M_BUSY=$(awk -v a="$b0" -v b="$b1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
	rm -f "$tf"
}

# busy_ticks: the machine's busy CPU time so far, in clock ticks (/proc/stat: every state but idle
# and iowait, kernel threads included). measure_cpu's M_BUSY is its growth over a run: besides
# the tool's own CPU (M_CPU) it counts the work the kernel does for it in its own threads
# (network namespace teardown, RCU callbacks) and whatever else runs on the machine.
busy_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
