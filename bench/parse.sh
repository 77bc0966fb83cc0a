#!/usr/bin/env bash
# parse.sh: parse every .nix file of the nixpkgs tree with `nix-instantiate --parse` and
# `cairn instantiate --parse`, side by side, interleaved, RUNS times each; BATCH files per
# process (default 500) through xargs, output to /dev/null. See bench/README.md, bench/common.sh.
#
# nix-instantiate --parse takes several files but stops at the first one that fails, so first
# each tool's failures are found (batches, then file by file for a failing batch); the timed
# runs use only the files both accept, after one untimed run that checks both print the same.
set -euo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# cairn ships as one static pure-Go binary; a cgo build would also pay for the dynamic loader
# and libc start-up in each of the ~37 processes.
export CGO_ENABLED=0
bench_tools
: "${BATCH:=500}"

# measure_cpu OUTFILE CMD...: measure (common.sh) plus M_CPU, the user+sys CPU seconds of CMD
# and its children.
measure_cpu() {
	local out=$1 err=$1.err tf
	shift
	[[ $out != /dev/null ]] || err=/dev/null
	tf=$(mktemp)
	M_RC=0
	/usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$out" 2>"$err" || M_RC=$?
	read -r M_WALL M_RSS u s < <(tail -n 1 "$tf")
	M_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	rm -f "$tf"
}

# parse_failures CMD...: print the files (read from stdin) that CMD --parse rejects.
parse_failures() {
	# shellcheck disable=SC2016 # the script is for bash -c
	xargs -r -d '\n' -n "$BATCH" bash -c '
		n=$1; shift; cmd=("${@:1:n}"); files=("${@:n+1}")
		"${cmd[@]}" --parse "${files[@]}" >/dev/null 2>&1 && exit 0
		for f in "${files[@]}"; do "${cmd[@]}" --parse "$f" >/dev/null 2>&1 || printf "%s\n" "$f"; done
	' bash "$#" "$@"
}

all=$OUT/parse-files.txt
find "$NIXPKGS" -type f -name '*.nix' | LC_ALL=C sort >"$all"
echo "parse: $(wc -l <"$all") .nix files under $NIXPKGS, $BATCH per process, median of $RUNS"

parse_failures "${NIX_CMD[@]}" <"$all" >"$OUT/parse-nix.failed"
echo "nix rejects $(wc -l <"$OUT/parse-nix.failed") files (bench/out/parse-nix.failed)"
: >"$OUT/parse-cairn.failed"
if ((${#CAIRN_CMD[@]} > 0)); then
	parse_failures "${CAIRN_CMD[@]}" <"$all" >"$OUT/parse-cairn.failed"
	echo "cairn rejects $(wc -l <"$OUT/parse-cairn.failed") files (bench/out/parse-cairn.failed)"
	if ! cmp -s "$OUT/parse-nix.failed" "$OUT/parse-cairn.failed"; then
		echo "  they differ: diff bench/out/parse-nix.failed bench/out/parse-cairn.failed"
	fi
fi
common=$OUT/parse-common.txt
LC_ALL=C sort -u "$OUT/parse-nix.failed" "$OUT/parse-cairn.failed" | LC_ALL=C comm -23 "$all" - >"$common"
echo "timing the $(wc -l <"$common") files both accept"

note=""
nw=() nm=() nc=() cw=() cm=() cc=()
for ((r = 0; r <= RUNS; r++)); do
	out=/dev/null
	((r > 0)) || out=$OUT/parse-nix.out
	measure_cpu "$out" xargs -r -d '\n' -n "$BATCH" -a "$common" "${NIX_CMD[@]}" --parse
	((M_RC == 0)) || note+="nix: exit $M_RC in run $r; "
	((r == 0)) || { nw+=("$M_WALL"); nm+=("$M_RSS"); nc+=("$M_CPU"); }
	if ((${#CAIRN_CMD[@]} > 0)); then
		((r > 0)) || out=$OUT/parse-cairn.out
		measure_cpu "$out" xargs -r -d '\n' -n "$BATCH" -a "$common" "${CAIRN_CMD[@]}" --parse
		((M_RC == 0)) || note+="cairn: exit $M_RC in run $r; "
		((r == 0)) || { cw+=("$M_WALL"); cm+=("$M_RSS"); cc+=("$M_CPU"); }
		if ((r == 0)) && ! cmp -s "$OUT/parse-nix.out" "$OUT/parse-cairn.out"; then
			note+="OUTPUT DIFFERS (bench/out/parse-*.out); "
		fi
		if ((r == 0)); then
			# The goroutine-parallel --parse must print what the one-at-a-time loop prints.
			CAIRN_PARSE_JOBS=0 xargs -r -d '\n' -n "$BATCH" -a "$common" "${CAIRN_CMD[@]}" --parse \
				>"$OUT/parse-cairn-serial.out" 2>/dev/null || true
			cmp -s "$OUT/parse-cairn.out" "$OUT/parse-cairn-serial.out" ||
				note+="PARALLEL OUTPUT DIFFERS FROM CAIRN_PARSE_JOBS=0 (bench/out/parse-cairn*.out); "
		fi
	fi
done
report_header
report parse "parse-nixpkgs" "${nw[*]}" "${nm[*]}" "${cw[*]:-}" "${cm[*]:-}" "$note"
# The same runs' user+sys CPU seconds in the seconds columns: cairn parses a process's files on
# one goroutine per CPU (CAIRN_PARSE_JOBS=N sets the number, 0 the one-at-a-time loop), so its
# wall time can drop below its CPU time; Nix's --parse is single-threaded.
report parse "parse-nixpkgs-cpu" "${nc[*]}" "${nm[*]}" "${cc[*]:-}" "${cm[*]:-}" ""
if ((${#CAIRN_CMD[@]} > 0)); then
	echo "speed-up (nix/cairn): wall $(ratio "$(median "${nw[@]}")" "$(median "${cw[@]}")")x," \
		"CPU $(ratio "$(median "${nc[@]}")" "$(median "${cc[@]}")")x; $(nproc) CPUs," \
		"CAIRN_PARSE_JOBS=${CAIRN_PARSE_JOBS:-default}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
fi
echo "rows appended to $OUT/results.tsv"
