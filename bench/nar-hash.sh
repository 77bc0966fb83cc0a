#!/usr/bin/env bash
# nar-hash.sh: the sha256 of a tree's NAR serialisation, `cairn hash path` against Nix 2.8's
# `nix-hash --type sha256`, and `sha256sum` over the same file bytes concatenated into one file
# (the physical limit: no NAR framing, no directory walk, one open). Debian's sha256sum does not
# use the CPU's SHA extensions; `openssl sha256` over the same file does (as Nix's libcrypto and
# Go's crypto/sha256 do), so it is timed too as the limit for one sha256 stream on this CPU.
# Also reported: user+sys CPU seconds, which other jobs on the machine disturb less than wall
# time. See bench/README.md.
#
# Environment: SIZE_MIB (default 1024) sets the tree's size; the tree (mixed file sizes, nested
# directories, executables and symlinks, deterministic) is generated once under $BENCH_TMP and
# reused. Every tool reads from the page cache: an untimed warm-up run reads everything first and
# checks that cairn and nix-hash print the same hash.
set -euo pipefail
# shellcheck source=bench/store-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/store-lib.sh"
store_tools
: "${SIZE_MIB:=1024}"

tree=$BENCH_TMP/tree-${SIZE_MIB}M
if [[ ! -f $tree.done ]]; then
	rm -rf "$tree" "$tree.cat"
	echo "nar-hash: generating a ${SIZE_MIB} MiB tree in $tree"
	python3 - "$tree" "$SIZE_MIB" <<'PY'
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2]) << 20
rng = random.Random(1)
pool = rng.randbytes(32 << 20)
# Sizes by count: 60% under 4 KiB, 30% 4 KiB-256 KiB, 9% 256 KiB-8 MiB, 1% 8-64 MiB.
def size():
    r = rng.random()
    if r < 0.60: return rng.randrange(0, 4 << 10)
    if r < 0.90: return rng.randrange(4 << 10, 256 << 10)
    if r < 0.99: return rng.randrange(256 << 10, 8 << 20)
    return rng.randrange(8 << 20, 64 << 20)
done, i = 0, 0
while done < total:
    d = os.path.join(root, "d%02d" % (i % 37), "e%d" % (i % 5))
    os.makedirs(d, exist_ok=True)
    n = min(size(), total - done)
    p = os.path.join(d, "f%06d" % i)
    with open(p, "wb") as f:
        left, off = n, (i * 7919) % (16 << 20)
        while left:
            k = min(left, len(pool) - off)
            f.write(pool[off:off + k]); left -= k; off = 0
    if i % 10 == 3: os.chmod(p, 0o755)
    if i % 50 == 7: os.symlink("f%06d" % (i - 1), os.path.join(d, "l%06d" % i))
    done += n; i += 1
print("%d files, %d bytes" % (i, done))
PY
	# The same file bytes, in NAR order, in one file.
	(cd "$tree" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 cat) >"$tree.cat"
	touch "$tree.done"
fi
bytes=$(stat -c %s "$tree.cat")
files=$(find "$tree" -type f | wc -l)
echo "nar-hash: $tree: $files files, $bytes bytes of contents; median of $RUNS; $(load_note)"

note="$(load_note) at start; "
nw=() nm=() cw=() cm=() sw=() sm=() ow=() om=() ncpu=() ccpu=() ocpu=()
for ((r = 0; r <= RUNS; r++)); do
	out=/dev/null
	((r > 0)) || out=$OUT/nar-hash-nix.out
	measure_cpu "$out" nix-hash --type sha256 "$tree"
	((M_RC == 0)) || note+="nix: exit $M_RC in run $r; "
	((r == 0)) || { nw+=("$M_WALL"); nm+=("$M_RSS"); }
	N_CPU=$M_CPU
	((r > 0)) || out=$OUT/nar-hash-cairn.out
	measure_cpu "$out" "$CAIRN" hash path --type sha256 --base16 "$tree"
	((M_RC == 0)) || note+="cairn: exit $M_RC in run $r; "
	((r == 0)) || { cw+=("$M_WALL"); cm+=("$M_RSS"); }
	((r == 0)) || ccpu+=("$M_CPU")
	((r == 0)) || ncpu+=("$N_CPU")
	measure_cpu /dev/null sha256sum "$tree.cat"
	((M_RC == 0)) || note+="sha256sum: exit $M_RC in run $r; "
	((r == 0)) || { sw+=("$M_WALL"); sm+=("$M_RSS"); }
	measure_cpu /dev/null openssl sha256 "$tree.cat"
	((M_RC == 0)) || note+="openssl: exit $M_RC in run $r; "
	((r == 0)) || { ow+=("$M_WALL"); om+=("$M_RSS"); ocpu+=("$M_CPU"); }
	if ((r == 0)) && ! cmp -s "$OUT/nar-hash-nix.out" "$OUT/nar-hash-cairn.out"; then
		note+="HASHES DIFFER (bench/out/nar-hash-*.out); "
	fi
done
note+="$(load_note) at end"

report_header
report nar-hash "nar-hash-${SIZE_MIB}M" "${nw[*]}" "${nm[*]}" "${cw[*]}" "${cm[*]}" "$note"
# The same row shape with sha256sum in the nix columns.
report nar-hash "sha256sum-${SIZE_MIB}M" "${sw[*]}" "${sm[*]}" "${cw[*]}" "${cm[*]}" "nix columns: sha256sum of the concatenated bytes"
report nar-hash "openssl-${SIZE_MIB}M" "${ow[*]}" "${om[*]}" "${cw[*]}" "${cm[*]}" "nix columns: openssl sha256 of the concatenated bytes"
n=$(median "${nw[@]}") c=$(median "${cw[@]}") s=$(median "${sw[@]}") o=$(median "${ow[@]}")
nc=$(median "${ncpu[@]}") cc=$(median "${ccpu[@]}") oc=$(median "${ocpu[@]}")
echo
printf 'wall MiB/s: nix-hash %s, cairn %s, sha256sum %s, openssl %s\n' "$(mibps "$bytes" "$n")" \
	"$(mibps "$bytes" "$c")" "$(mibps "$bytes" "$s")" "$(mibps "$bytes" "$o")"
printf 'CPU (user+sys) s: nix-hash %s, cairn %s, openssl %s\n' "$nc" "$cc" "$oc"
printf 'cairn/sha256sum throughput: %s (acceptance >= 0.90)\n' "$(ratio "$s" "$c")"
printf 'cairn/openssl throughput: %s wall, %s CPU\n' "$(ratio "$o" "$c")" "$(ratio "$oc" "$cc")"
printf 'cairn speed-up over nix-hash: %s wall, %s CPU (acceptance >= 1.50)\n' "$(ratio "$n" "$c")" "$(ratio "$nc" "$cc")"
