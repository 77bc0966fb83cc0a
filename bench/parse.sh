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
bench_tools
: "${BATCH:=500}"

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
nw=() nm=() cw=() cm=()
for ((r = 0; r <= RUNS; r++)); do
	out=/dev/null
	((r > 0)) || out=$OUT/parse-nix.out
	measure "$out" xargs -r -d '\n' -n "$BATCH" -a "$common" "${NIX_CMD[@]}" --parse
	((M_RC == 0)) || note+="nix: exit $M_RC in run $r; "
	((r == 0)) || { nw+=("$M_WALL"); nm+=("$M_RSS"); }
	if ((${#CAIRN_CMD[@]} > 0)); then
		((r > 0)) || out=$OUT/parse-cairn.out
		measure "$out" xargs -r -d '\n' -n "$BATCH" -a "$common" "${CAIRN_CMD[@]}" --parse
		((M_RC == 0)) || note+="cairn: exit $M_RC in run $r; "
		((r == 0)) || { cw+=("$M_WALL"); cm+=("$M_RSS"); }
		if ((r == 0)) && ! cmp -s "$OUT/parse-nix.out" "$OUT/parse-cairn.out"; then
			note+="OUTPUT DIFFERS (bench/out/parse-*.out); "
		fi
	fi
done
report_header
report parse "parse-nixpkgs" "${nw[*]}" "${nm[*]}" "${cw[*]:-}" "${cm[*]:-}" "$note"
echo "rows appended to $OUT/results.tsv"
