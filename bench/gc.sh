#!/usr/bin/env bash
# gc.sh: garbage-collect DEAD (default 10,000) dead paths from a chroot store that also holds LIVE
# (default 1,000) paths reachable from one GC root: `cairn store gc --store ROOT` against Nix
# 2.8's `nix-store --gc`. The template store is made once by Nix 2.8 (`nix-store --load-db` of
# small files (--register-validity hashes and canonicalises the logical /nix/store path, not the
# chroot's) whose references form a random DAG: each dead path refers
# to up to 3 earlier paths, dead or live; the live ones form a chain from the root), then copied
# before every timed run. The warm-up run checks that both leave the same store entries behind.
# See bench/README.md.
set -euo pipefail
# shellcheck source=bench/store-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/store-lib.sh"
store_tools
: "${DEAD:=10000}" "${LIVE:=1000}"

tmpl=$BENCH_TMP/gc-template-$DEAD-$LIVE
if [[ ! -f $tmpl.done ]]; then
	chmod -R u+w "$tmpl" 2>/dev/null || true
	rm -rf "$tmpl"
	mkdir -p "$tmpl/nix/store" "$tmpl/nix/var/nix/gcroots"
	echo "gc: making the template store $tmpl ($DEAD dead, $LIVE live paths)"
	python3 - "$tmpl" "$DEAD" "$LIVE" >"$tmpl.reg" <<'PY'
import hashlib, os, random, struct, sys
def s(b):
    return struct.pack("<Q", len(b)) + b + b"\0" * (-len(b) % 8)
def nar(c):
    return b"".join(s(x) for x in (b"nix-archive-1", b"(", b"type", b"regular", b"contents", c, b")"))
root, dead, live = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(3)
alpha = "0123456789abcdfghijklmnpqrsvwxyz"
paths, kinds, lastlive = [], [], None
order = ["l"] * live + ["d"] * dead
rng.shuffle(order)
for i, k in enumerate(order):
    p = "/nix/store/%s-%s%d" % ("".join(rng.choice(alpha) for _ in range(32)), k, i)
    c = b"path %d\n" % i
    with open(root + p, "wb") as f:
        f.write(c)
    os.chmod(root + p, 0o444)
    n = nar(c)
    refs = set()
    if k == "l":
        if lastlive is not None: refs.add(paths[lastlive])
        lastlive = i
    elif i:
        for _ in range(rng.randrange(0, 4)):
            refs.add(paths[rng.randrange(i)])
    paths.append(p); kinds.append(k)
    print(p); print("sha256:" + hashlib.sha256(n).hexdigest()); print(len(n)); print(""); print(len(refs))
    for r in sorted(refs): print(r)
os.symlink(paths[lastlive], os.path.join(root, "nix/var/nix/gcroots/bench-root"))
PY
	NIX_REMOTE="local?root=$tmpl" nix-store "${NIXOPTS[@]}" --load-db <"$tmpl.reg"
	touch "$tmpl.done"
fi
echo "gc: $tmpl: $(find "$tmpl/nix/store" -mindepth 1 -maxdepth 1 | wc -l) store entries, median of $RUNS; $(load_note)"

run=$BENCH_TMP/gc-run
fresh() {
	chmod -R u+w "$run" 2>/dev/null || true
	rm -rf "$run"
	cp -a "$tmpl" "$run"
	sync -f "$run"
}
note="$(load_note) at start; "
nw=() nm=() cw=() cm=() nc=() cc=()
for ((r = 0; r <= RUNS; r++)); do
	fresh
	NIX_REMOTE="local?root=$run" measure_cpu /dev/null nix-store "${NIXOPTS[@]}" --gc
	((M_RC == 0)) || note+="nix: exit $M_RC in run $r; "
	((r == 0)) || { nw+=("$M_WALL"); nm+=("$M_RSS"); nc+=("$M_CPU"); }
	((r > 0)) || ls "$run/nix/store" >"$OUT/gc-nix.left"
	fresh
	measure_cpu /dev/null "$CAIRN" store gc --store "$run"
	((M_RC == 0)) || note+="cairn: exit $M_RC in run $r; "
	((r == 0)) || { cw+=("$M_WALL"); cm+=("$M_RSS"); cc+=("$M_CPU"); }
	if ((r == 0)); then
		ls "$run/nix/store" >"$OUT/gc-cairn.left"
		cmp -s "$OUT/gc-nix.left" "$OUT/gc-cairn.left" || note+="LEFTOVERS DIFFER (bench/out/gc-*.left); "
		echo "gc: $(wc -l <"$OUT/gc-nix.left") entries left by nix, $(wc -l <"$OUT/gc-cairn.left") by cairn"
	fi
done
chmod -R u+w "$run" 2>/dev/null || true
rm -rf "$run"
note+="$(load_note) at end"
report_header
report gc "gc-$DEAD-dead" "${nw[*]}" "${nm[*]}" "${cw[*]}" "${cm[*]}" "$note"
printf 'CPU (user+sys) s: nix %s, cairn %s\n' "$(median "${nc[@]}")" "$(median "${cc[@]}")"
printf 'cairn speed-up over nix-store --gc: %s wall, %s CPU (acceptance >= 3.00)\n' \
	"$(ratio "$(median "${nw[@]}")" "$(median "${cw[@]}")")" "$(ratio "$(median "${nc[@]}")" "$(median "${cc[@]}")")"
