#!/usr/bin/env bash
# lib.sh [WORKLOAD...]: evaluate nixpkgs' lib workloads (bench/lib-bench.nix) with
# `--eval --strict`, Nix 2.8 and cairn side by side, interleaved, RUNS times each (plus one
# untimed warm-up that also checks both print the same result). Default: every workload one by
# one, then "all" (the whole file at once). See bench/README.md and bench/common.sh.
#   CAIRN_EVAL_FLAGS  extra cairn flags (default "--max-call-depth 1000000": Nix 2.8 has no
#                     call-depth limit, and lib.splitString recurses once per character)
set -euo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_tools
: "${CAIRN_EVAL_FLAGS:=--max-call-depth 1000000}"
read -r -a cairn_flags <<<"$CAIRN_EVAL_FLAGS"
file=$bench_root/bench/lib-bench.nix

workloads=("$@")
if ((${#workloads[@]} == 0)); then
	workloads=(range map foldl concatMapStringsSep splitString mapAttrs recursiveUpdate sort evalModules all)
fi

echo "lib workloads, NIXPKGS=$NIXPKGS, median of $RUNS; ratios are cairn/nix (below 1: cairn better)"
report_header
for w in "${workloads[@]}"; do
	sel=(-A "$w")
	[[ $w == all ]] && sel=()
	nix=("${NIX_CMD[@]}" --eval --strict "$file" --argstr nixpkgs "$NIXPKGS" "${sel[@]}")
	cairn=()
	((${#CAIRN_CMD[@]} > 0)) && cairn=("${CAIRN_CMD[@]}" "${cairn_flags[@]}" --eval --strict "$file" --argstr nixpkgs "$NIXPKGS" "${sel[@]}")
	note=""
	nw=() nm=() cw=() cm=()
	for ((r = 0; r <= RUNS; r++)); do
		if ((${#nix[@]} > 0)); then
			measure "$OUT/lib-$w.nix.out" "${nix[@]}"
			if ((M_RC != 0)); then
				note+="nix: exit $M_RC: $(head -c 200 "$OUT/lib-$w.nix.out.err" | tr '\n' ' '); "
				nix=() nw=() nm=() # a failing tool is reported once, not timed
			elif ((r > 0)); then
				nw+=("$M_WALL") nm+=("$M_RSS")
			fi
		fi
		if ((${#cairn[@]} > 0)); then
			measure "$OUT/lib-$w.cairn.out" "${cairn[@]}"
			if ((M_RC != 0)); then
				note+="cairn: exit $M_RC: $(head -c 200 "$OUT/lib-$w.cairn.out.err" | tr '\n' ' '); "
				cairn=() cw=() cm=()
			elif ((r > 0)); then
				cw+=("$M_WALL") cm+=("$M_RSS")
			fi
		fi
		if ((r == 0 && ${#nix[@]} > 0 && ${#cairn[@]} > 0)) && ! cmp -s "$OUT/lib-$w.nix.out" "$OUT/lib-$w.cairn.out"; then
			note+="OUTPUT DIFFERS (bench/out/lib-$w.*.out); "
		fi
	done
	report lib "$w" "${nw[*]:-}" "${nm[*]:-}" "${cw[*]:-}" "${cm[*]:-}" "$note"
done
echo "rows appended to $OUT/results.tsv"
