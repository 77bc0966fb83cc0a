#!/usr/bin/env bash
# parity.sh [WORKLOAD...]: nixpkgs 28fce082 evaluations, Nix 2.8 and cairn side by side,
# interleaved, RUNS times each after one untimed warm-up that also checks both print the same
# bytes. Workloads (default: all four):
#   hello, firefox  `--eval --strict -E '(import <tree> {…}).<attr>.drvPath'` (evaluation and
#                   store-path computation, nothing written: the gen-drvpaths.sh method)
#   nixos           the same for the NixOS toplevel of { fileSystems."/".device = "/dev/sda1";
#                   boot.loader.grub.device = "nodev"; services.nginx.enable = true; }
#   qaP             `nix-env -f <tree> -qaP` against `cairn env -f <tree> -qaP`, on the copy of
#                   the tree with the hackage stub (test/parity/qaP.sh makes it: $QA_TREE,
#                   default $NIXPKGS-qa)
# Reported: medians of wall time, peak RSS and user+sys CPU time, and the ratios cairn/nix.
# cairn runs with --compat 2.8. See bench/README.md and bench/common.sh.
set -euo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_tools
: "${QA_TREE:=${NIXPKGS%/}-qa}"
: "${NIX_ENV:=nix-env}"
export HOME=$OUT/home NIX_PATH="nixpkgs=$NIXPKGS"
mkdir -p "$HOME"
unset NIXPKGS_CONFIG NIXOS_CONFIG NIXPKGS_ALLOW_UNFREE IN_NIX_SHELL

workloads=("$@")
if ((${#workloads[@]} == 0)); then
	workloads=(hello firefox nixos qaP)
fi

attr_expr() {
	printf 'let pkgs = import %s { system = "x86_64-linux"; config = {}; overlays = []; }; in pkgs.%s.drvPath' "$NIXPKGS" "$1"
}
nixos_expr='let sys = import <nixpkgs/nixos> {
      system = "x86_64-linux";
      configuration = {
        fileSystems."/".device = "/dev/sda1";
        boot.loader.grub.device = "nodev";
        services.nginx.enable = true;
      };
    };
in sys.config.system.build.toplevel.drvPath'

# measure3 OUTFILE CMD...: like measure (common.sh), and also sets M_CPU (user+sys seconds).
measure3() {
	local out=$1 tf
	shift
	tf=$(mktemp)
	M_RC=0
	/usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$out" 2>"$out.err" || M_RC=$?
	read -r M_WALL M_RSS u s < <(tail -n 1 "$tf")
	M_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	rm -f "$tf"
}

echo "nixpkgs parity workloads, NIXPKGS=$NIXPKGS, median of $RUNS; ratios are cairn/nix (below 1: cairn better)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %8s %8s %8s %8s %8s %8s %7s %7s %7s  %s\n' workload "nix s" "nix cpu" "nix MiB" \
	"cairn s" "cairn cpu" "cairn MiB" "t ratio" "cpu rat" "m ratio" note
for w in "${workloads[@]}"; do
	case $w in
	hello | firefox)
		nix=("${NIX_CMD[@]}" --eval --strict -E "$(attr_expr "$w")")
		cairn=("${CAIRN_CMD[@]}" --compat 2.8 --eval --strict -E "$(attr_expr "$w")")
		;;
	nixos)
		nix=("${NIX_CMD[@]}" --eval --strict -E "$nixos_expr")
		cairn=("${CAIRN_CMD[@]}" --compat 2.8 --eval --strict -E "$nixos_expr")
		;;
	qaP)
		if [[ ! -f $QA_TREE/pkgs/development/haskell-modules/hackage-packages.nix ]]; then
			echo "bench: no stubbed tree at QA_TREE=$QA_TREE (run test/parity/qaP.sh once)" >&2
			exit 1
		fi
		nix=("$NIX_ENV" -f "$QA_TREE" -qaP)
		cairn=()
		((${#CAIRN_CMD[@]} > 0)) && cairn=("$CAIRN" env --compat 2.8 -f "$QA_TREE" -qaP)
		;;
	*)
		echo "bench: unknown workload $w" >&2
		exit 1
		;;
	esac
	((${#CAIRN_CMD[@]} > 0)) || cairn=()
	note=""
	nw=() nm=() nc=() cw=() cm=() cc=()
	for ((r = 0; r <= RUNS; r++)); do
		if ((${#nix[@]} > 0)); then
			measure3 "$OUT/parity-$w.nix.out" "${nix[@]}"
			if ((M_RC != 0)); then
				note+="nix: exit $M_RC: $(head -c 200 "$OUT/parity-$w.nix.out.err" | tr '\n' ' '); "
				nix=() nw=() nm=() nc=()
			elif ((r > 0)); then
				nw+=("$M_WALL") nm+=("$M_RSS") nc+=("$M_CPU")
			fi
		fi
		if ((${#cairn[@]} > 0)); then
			measure3 "$OUT/parity-$w.cairn.out" "${cairn[@]}"
			if ((M_RC != 0)); then
				note+="cairn: exit $M_RC: $(head -c 200 "$OUT/parity-$w.cairn.out.err" | tr '\n' ' '); "
				cairn=() cw=() cm=() cc=()
			elif ((r > 0)); then
				cw+=("$M_WALL") cm+=("$M_RSS") cc+=("$M_CPU")
			fi
		fi
		if ((r == 0 && ${#nix[@]} > 0 && ${#cairn[@]} > 0)) && ! cmp -s "$OUT/parity-$w.nix.out" "$OUT/parity-$w.cairn.out"; then
			note+="OUTPUT DIFFERS (bench/out/parity-$w.*.out); "
		fi
	done
	nws=- nms=- ncs=- cws=- cms=- ccs=-
	if ((${#nw[@]} > 0)); then
		nws=$(median "${nw[@]}") ncs=$(median "${nc[@]}")
		nms=$(awk -v k="$(median "${nm[@]}")" 'BEGIN { printf "%.0f", k / 1024 }')
	fi
	if ((${#cw[@]} > 0)); then
		cws=$(median "${cw[@]}") ccs=$(median "${cc[@]}")
		cms=$(awk -v k="$(median "${cm[@]}")" 'BEGIN { printf "%.0f", k / 1024 }')
	fi
	printf '%-10s %8s %8s %8s %8s %8s %8s %7s %7s %7s  %s\n' "$w" "$nws" "$ncs" "$nms" "$cws" "$ccs" "$cms" \
		"$(ratio "$cws" "$nws")" "$(ratio "$ccs" "$ncs")" "$(ratio "$cms" "$nms")" "$note"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" parity "$w" "$RUNS" \
		"$nws" "$nms" "$cws" "$cms" "$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null)" \
		"cpu nix $ncs s cairn $ccs s; load $(cut -d' ' -f1 /proc/loadavg); $note" >>"$OUT/results.tsv"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
