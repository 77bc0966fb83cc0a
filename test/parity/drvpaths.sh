#!/usr/bin/env bash
# drvpaths.sh: compare cairn's drvPath and outPath with Nix 2.8's for every attribute of
# /work/shared/reference/nixpkgs-2020-drvpaths.tsv (42 nixpkgs attributes and the NixOS
# toplevel with nginx), evaluated the way gen-drvpaths.sh made the reference:
#   (import <tree> { system; config = {}; overlays = []; }).<attr>.drvPath + "\t" + .outPath
# with `cairn instantiate --compat 2.8 --store dummy:// --eval --strict --json`.
# Prints one line per attribute (ok / DIFF / ERROR-MATCH / FAIL) and a summary; exit status 1 if
# any attribute differs from the reference.
#
# Environment:
#   NIXPKGS=/path   the nixpkgs 28fce082 tree (default /work/nixpkgs)
#   CAIRN=/path     cairn binary (default: go build ./cmd/cairn into $TMPDIR)
#   REF=/path       reference TSV (default /work/shared/reference/nixpkgs-2020-drvpaths.tsv)
#   ONLY="a b"      check only these attributes ("nixos-toplevel(nginx)" for the toplevel)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${NIXPKGS:=/work/nixpkgs}"
: "${REF:=/work/shared/reference/nixpkgs-2020-drvpaths.tsv}"
if [[ ! -f $NIXPKGS/lib/default.nix ]]; then
	echo "parity: no nixpkgs tree at NIXPKGS=$NIXPKGS (see bench/README.md)" >&2
	exit 2
fi
if [[ ! -f $REF ]]; then
	echo "parity: no reference TSV at REF=$REF" >&2
	exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z ${CAIRN:-} ]]; then
	(cd "$root" && go build -o "$work/cairn" ./cmd/cairn) || exit 2
	CAIRN=$work/cairn
fi
export NIX_PATH="nixpkgs=$NIXPKGS" HOME=$work/home
unset NIXPKGS_CONFIG NIXOS_CONFIG NIXPKGS_ALLOW_UNFREE NIXPKGS_ALLOW_BROKEN NIXPKGS_ALLOW_INSECURE \
	NIXPKGS_ALLOW_UNSUPPORTED_SYSTEM NIXOS_EXTRA_MODULE_PATH IN_NIX_SHELL

# expr ATTR: the expression gen-drvpaths.sh evaluates for ATTR.
expr() {
	if [[ $1 == "nixos-toplevel(nginx)" ]]; then
		cat <<'NIX'
let sys = import <nixpkgs/nixos> {
      system = "x86_64-linux";
      configuration = {
        fileSystems."/".device = "/dev/sda1";
        boot.loader.grub.device = "nodev";
        services.nginx.enable = true;
      };
    };
    t = sys.config.system.build.toplevel;
in t.drvPath + "\t" + t.outPath
NIX
		return
	fi
	printf '%s' "let pkgs = import $NIXPKGS { system = \"x86_64-linux\"; config = {}; overlays = []; };
    d = pkgs.lib.getAttrFromPath (pkgs.lib.splitString \".\" \"$1\") pkgs;
in d.drvPath + \"\t\" + d.outPath"
}

only=" ${ONLY:-} "
ok=0 bad=0 total=0
while IFS=$'\t' read -r attr want_drv want_out; do
	[[ -n ${ONLY:-} && $only != *" $attr "* ]] && continue
	total=$((total + 1))
	start=$(date +%s.%N)
	res=$("$CAIRN" instantiate --compat 2.8 --store dummy:// --eval --strict --json -E "$(expr "$attr")" 2>"$work/err")
	rc=$?
	secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	if ((rc != 0)); then
		# The message: the first line of the form "error: …" (Nix 2.8 puts the trace after
		# it, current Nix before it).
		msg=$(grep -m1 -E '^error: .' "$work/err" | cut -c1-200)
		[[ -n $msg ]] || msg=$(grep -m1 -E '^ *error: .' "$work/err" | sed 's/^ *//' | cut -c1-200)
		[[ -n $msg ]] || msg=$(head -n 1 "$work/err" | cut -c1-200)
		if [[ $want_drv == ERROR ]]; then
			# Nix fails too (ghc, pandoc: the tree lacks hackage-packages.nix); the messages
			# name different tree locations, so only the failure is compared.
			printf 'ok     %-24s both fail: %s\n' "$attr" "$msg"
			ok=$((ok + 1))
		else
			printf 'FAIL   %-24s cairn: %s\n' "$attr" "$msg"
			bad=$((bad + 1))
		fi
		continue
	fi
	res=$(printf '%b' "$(printf '%s' "$res" | sed 's/^"//; s/"$//')")
	got_drv=${res%%$'\t'*} got_out=${res#*$'\t'}
	if [[ $want_drv == ERROR ]]; then
		printf 'DIFF   %-24s nix fails, cairn gives %s\n' "$attr" "$got_drv"
		bad=$((bad + 1))
	elif [[ $got_drv == "$want_drv" && $got_out == "$want_out" ]]; then
		printf 'ok     %-24s %s %s (%ss)\n' "$attr" "${got_drv#/nix/store/}" "${got_out#/nix/store/}" "$secs"
		ok=$((ok + 1))
	else
		printf 'DIFF   %-24s drv %s (want %s) out %s (want %s)\n' "$attr" "$got_drv" "$want_drv" "$got_out" "$want_out"
		bad=$((bad + 1))
	fi
done <"$REF"
echo "parity drvpaths: $ok/$total match, $bad differ"
((bad == 0))
