#!/usr/bin/env bash
# nsscale.sh: how much faster the kernel work of N build sandboxes gets on two CPUs than on one,
# with no build tool at all: the -j2 speed-up that cairn's and Nix's trivial-derivation fan-outs
# (bench/build.sh) could reach at best if everything else scaled perfectly. bench/nsscale.c starts
# N children one after another (one process) and N/2 each in two processes at once; printed:
# median wall seconds of each and the speed-up, for each mode (see nsscale.c): fork (no
# namespace; the machine's own scaling), mntns (a mount namespace made and freed), allns (the
# namespaces of a sandbox), sandbox (those, the mounts of a trivial cairn build, pivot_root, and
# busybox `echo > /build/out`), sandbox-stack (the same as a root cairn makes it: the roots stacked
# in a mount namespace made once per 32 sandboxes) and sandbox-net (with a new network namespace,
# as Nix makes).
#
# Needs root, a C compiler (cc) and busybox-static. Environment: N (500), RUNS (5), MODES.
set -euo pipefail
: "${N:=500}" "${RUNS:=5}" "${MODES:=fork mntns allns sandbox sandbox-stack sandbox-net}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$here/out
mkdir -p "$out"
((EUID == 0)) || { echo "nsscale: needs root (namespaces, mounts, id maps)" >&2; exit 1; }
command -v cc >/dev/null || { echo "nsscale: no C compiler: apt-get install gcc" >&2; exit 1; }
bb=$(command -v busybox || true)
[[ -n $bb ]] || { echo "nsscale: busybox missing: apt-get install busybox-static" >&2; exit 1; }
cc -O2 -Wall -o "$out/nsscale" "$here/nsscale.c"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsscale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for k in 1 2; do
	for r in "" $(seq 0 31); do # sandbox-stack uses root/0 ... root/31
		mkdir -p "$tmp/$k/root/$r"/{bb,build,nix/store,tmp,proc,dev/pts,dev/shm}
	done
	mkdir -p "$tmp/$k/build"
	chown 30001:30000 "$tmp/$k/build"
done
chmod -R go+rX "$tmp"
mkdir -p "$tmp/bb"
cp "$bb" "$tmp/bb/busybox"

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ns() { date +%s%N; }

echo "nsscale: N=$N sandboxes per run, median of $RUNS; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-12s %10s %10s %9s %12s\n' mode "1x$N s" "2x$((N / 2)) s" speed-up "ms/sandbox"
for mode in $MODES; do
	one=() two=()
	for ((r = 0; r < RUNS; r++)); do
		one+=("$("$out/nsscale" "$mode" "$N" "$tmp/1/root" "$tmp/bb" "$tmp/1/build")")
		t0=$(ns)
		"$out/nsscale" "$mode" $((N / 2)) "$tmp/1/root" "$tmp/bb" "$tmp/1/build" >/dev/null &
		"$out/nsscale" "$mode" $((N / 2)) "$tmp/2/root" "$tmp/bb" "$tmp/2/build" >/dev/null
		wait $!
		two+=("$(awk -v a="$t0" -v b="$(ns)" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
	done
	o=$(median "${one[@]}") t=$(median "${two[@]}")
	awk -v m="$mode" -v o="$o" -v t="$t" -v n="$N" 'BEGIN { printf "%-12s %10.3f %10.3f %8.2fx %12.3f\n", m, o, t, o / t, o * 1000 / n }'
done
