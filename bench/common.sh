# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here are used by the sourcing scripts
# Helpers shared by bench/*.sh: tool selection, timing, medians, reporting. Source it.
#
# Environment:
#   NIXPKGS=/path        nixpkgs 28fce082 tree (default /work/nixpkgs; see bench/README.md)
#   RUNS=N               timed runs per tool, interleaved (default 5); medians are reported
#   NIX_INSTANTIATE=cmd  reference nix-instantiate (default nix-instantiate, Nix 2.8)
#   CAIRN=/path          cairn binary (default: build ./cmd/cairn into bench/out/cairn;
#                        CAIRN=none or no ./cmd/cairn yet: measure Nix only)

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$bench_root/bench/out
mkdir -p "$OUT"
: "${NIXPKGS:=/work/nixpkgs}"
: "${RUNS:=5}"
: "${NIX_INSTANTIATE:=nix-instantiate}"
# Nix evaluates without a store: nothing here writes to one (see scripts/README.md).
export NIX_REMOTE=dummy://
if [[ ! -f $NIXPKGS/lib/default.nix ]]; then
	echo "bench: no nixpkgs tree at NIXPKGS=$NIXPKGS (see bench/README.md to extract it)" >&2
	exit 1
fi
if [[ ! -x /usr/bin/time ]]; then
	echo "bench: /usr/bin/time missing: apt-get install time (or run scripts/setup.sh)" >&2
	exit 1
fi

# bench_tools sets NIX_CMD and CAIRN_CMD (empty if cairn is not available).
bench_tools() {
	NIX_CMD=("$NIX_INSTANTIATE")
	CAIRN_CMD=()
	if [[ ${CAIRN:-} == none ]]; then
		return
	fi
	if [[ -z ${CAIRN:-} ]]; then
		if ! compgen -G "$bench_root/cmd/cairn/*.go" >/dev/null; then
			echo "bench: ./cmd/cairn does not exist yet: measuring Nix only" >&2
			return
		fi
		# shellcheck source=scripts/goenv.sh
		. "$bench_root/scripts/goenv.sh"
		cairn_goenv || { echo "bench: no Go >= 1.26 (run scripts/setup.sh)" >&2; exit 1; }
		(cd "$bench_root" && go build -o "$OUT/cairn" ./cmd/cairn)
		CAIRN=$OUT/cairn
	fi
	CAIRN_CMD=("$CAIRN" instantiate)
}

# measure OUTFILE CMD...: run CMD once with stdout to OUTFILE and stderr to OUTFILE.err (both
# to /dev/null if OUTFILE is /dev/null) under /usr/bin/time. Sets M_WALL (seconds), M_RSS (peak
# RSS in KiB of the largest process, descendants included) and M_RC.
measure() {
	local out=$1 err=$1.err tf
	shift
	[[ $out != /dev/null ]] || err=/dev/null
	tf=$(mktemp)
	M_RC=0
	/usr/bin/time -f '%e %M' -o "$tf" "$@" >"$out" 2>"$err" || M_RC=$?
	read -r M_WALL M_RSS < <(tail -n 1 "$tf")
	rm -f "$tf"
}

# median N...: the median of the numbers.
median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with two decimals, or "-" if either is missing.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f\n", a / b }'
}

# report BENCH WORKLOAD NIX_WALLS NIX_RSSES CAIRN_WALLS CAIRN_RSSES NOTE: print one table row
# and append it to $OUT/results.tsv (date, bench, workload, runs, nix s, nix MiB, cairn s,
# cairn MiB, commit, note). Lists are space-separated; an empty list prints as "-".
report_header() {
	printf '%-22s %9s %9s %9s %9s %7s %7s  %s\n' workload "nix s" "nix MiB" "cairn s" "cairn MiB" "t ratio" "m ratio" note
}
report() {
	local bench=$1 w=$2 nw=- nm=- cw=- cm=- note=$7
	if [[ -n $3 ]]; then
		# shellcheck disable=SC2086
		nw=$(median $3) nm=$(median $4)
		nm=$(awk -v k="$nm" 'BEGIN { printf "%.0f", k / 1024 }')
	fi
	if [[ -n $5 ]]; then
		# shellcheck disable=SC2086
		cw=$(median $5) cm=$(median $6)
		cm=$(awk -v k="$cm" 'BEGIN { printf "%.0f", k / 1024 }')
	fi
	printf '%-22s %9s %9s %9s %9s %7s %7s  %s\n' "$w" "$nw" "$nm" "$cw" "$cm" \
		"$(ratio "$cw" "$nw")" "$(ratio "$cm" "$nm")" "$note"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$bench" "$w" "$RUNS" \
		"$nw" "$nm" "$cw" "$cm" "$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null)" "$note" \
		>>"$OUT/results.tsv"
}
