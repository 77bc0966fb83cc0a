#!/usr/bin/env bash
# substitute.sh: substituting a closure from a file:// binary cache into a fresh chroot store,
# Nix 2.8 (`nix copy --from file://C --to local?root=R TOP`) against cairn (`cairn copy --from
# file://C --to R TOP`), for a zstd and an xz cache, side by side with the decompression-plus-disk
# limit on the same NARs (`zstd -d` / `xz -d` of every NAR of the cache to files, one process per
# NAR, sequentially and $(nproc) at a time).
#
# The closure is generated, never downloaded: PATHS (default 32) directories of SIZE_MB (default
# 128; 1024 for the acceptance run) in total, each holding files of pseudo-random bytes and of
# compressible text (about half each), added with nix-store --add, plus a top path (builtins.toFile
# with the others as references) so that TOP's closure is all of them. The caches are written once
# by Nix 2.8's nix copy --to (their write times are printed). Everything lives under
# BENCH_TMP (default /tmp/cairn-store-bench), outside the repository, and is reused across runs
# (delete $BENCH_TMP/subst-* to regenerate). Signatures are not checked (--no-check-sigs on both
# sides); both read the same cache files, read into the page cache first; the runs alternate (Nix,
# cairn, limits). After the first run the two stores are compared (file types, sizes, modes) and
# Nix's nix-store --verify --check-contents must accept cairn's store.
#
#   ./bench/substitute.sh                       # 128 MiB, quick
#   SIZE_MB=1024 RUNS=3 ./bench/substitute.sh   # the acceptance size
#   COMPRESSIONS=zstd ./bench/substitute.sh     # only the zstd cache (Nix writes xz at ~1-3 MiB/s)
#   TRANSPORTS="file http" ./bench/substitute.sh # also over http://127.0.0.1 (python3 -m http.server)
#
# With http, both tools keep their narinfo disk cache under $BENCH_TMP/subst-*/xdg between runs.
set -euo pipefail
: "${RUNS:=3}"
# shellcheck source=bench/store-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/store-lib.sh"
store_tools
: "${SIZE_MB:=128}" "${PATHS:=32}" "${COMPRESSIONS:=zstd xz}" "${TRANSPORTS:=file}"
command -v zstd >/dev/null && command -v xz >/dev/null || {
	echo "bench: zstd and xz are needed for the decompression limit (apt-get install zstd xz-utils)" >&2
	exit 1
}
NIXCMD=(nix --extra-experimental-features nix-command --option substituters '')

dir=$BENCH_TMP/subst-$SIZE_MB-$PATHS
src=$dir/src
if [[ ! -f $dir/done ]]; then
	chmod -R u+w "$dir" 2>/dev/null || true
	rm -rf "$dir"
	mkdir -p "$dir/data"
	echo "substitute: generating $SIZE_MB MiB in $PATHS paths under $dir" >&2
	python3 - "$dir/data" "$SIZE_MB" "$PATHS" <<'PY'
import os, random, sys
out, size_mb, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
per = size_mb * 1048576 // n
words = [b"store", b"path", b"closure", b"narinfo", b"substitute", b"cache", b"derivation", b"output"]
for i in range(n):
    d = os.path.join(out, "p%03d" % i)
    os.makedirs(os.path.join(d, "share"))
    left, k = per, 0
    while left > 0:
        sz = min(left, rng.randrange(per // 16 + 1, per // 4 + 2))
        if k % 2 == 0:
            data = rng.randbytes(sz)
        else:
            parts, m = [], 0
            while m < sz:
                line = b"%s %d %s %x\n" % (rng.choice(words), rng.randrange(1000), rng.choice(words), rng.randrange(1 << 20))
                parts.append(line)
                m += len(line)
            data = b"".join(parts)[:sz]
        name = os.path.join(d, "share" if k % 3 == 0 else "", "f%03d" % k)
        with open(name, "wb") as f:
            f.write(data)
        if k % 5 == 0:
            os.chmod(name, 0o755)
        left -= sz
        k += 1
    os.symlink("share/f000", os.path.join(d, "link"))
PY
	mapfile -t data < <(find "$dir/data" -mindepth 1 -maxdepth 1 | LC_ALL=C sort)
	NIX_REMOTE="local?root=$src" nix-store "${NIXOPTS[@]}" --add "${data[@]}" >"$dir/paths"
	list=$(sed 's/.*/"&"/' "$dir/paths" | tr '\n' ' ')
	top=$(NIX_REMOTE="local?root=$src" nix-instantiate "${NIXOPTS[@]}" --read-write-mode --eval \
		-E "builtins.toFile \"top\" (toString (map builtins.storePath [ $list ]))" | tr -d '"')
	echo "$top" >"$dir/top"
	rm -rf "$dir/data"
	touch "$dir/done"
fi
top=$(cat "$dir/top")
for c in $COMPRESSIONS; do
	[[ ! -f $dir/cache-$c.done ]] || continue
	rm -rf "$dir/cache-$c"
	XDG_CACHE_HOME=$dir/xdg NIX_REMOTE="local?root=$src" measure /dev/null "${NIXCMD[@]}" copy \
		--to "file://$dir/cache-$c?compression=$c" "$top"
	((M_RC == 0)) || { echo "bench: nix copy --to ($c) failed" >&2; exit 1; }
	echo "substitute: wrote the $c cache with nix copy --to in ${M_WALL}s" >&2
	touch "$dir/cache-$c.done"
done
narsize=$(NIX_REMOTE="local?root=$src" nix-store "${NIXOPTS[@]}" -q --size $(cat "$dir/paths") | awk '{ s += $1 } END { print s }')
npaths=$(($(wc -l <"$dir/paths") + 1))
echo "substitute: $npaths paths, NAR total $((narsize / 1048576)) MiB; caches$(for c in $COMPRESSIONS; do printf ' %s %s MiB' "$c" "$(du -sm "$dir/cache-$c" | cut -f1)"; done); median of $RUNS; $(load_note)"

ndst=$dir/dst-nix cdst=$dir/dst-cairn lim=$dir/limit
fresh() { chmod -R u+w "$ndst" "$cdst" 2>/dev/null || true; rm -rf "$ndst" "$cdst" "$lim"; }
# decompress C SEQ|PAR: every NAR of the C cache to a file under $lim.
decompress() {
	local c=$1 mode=$2 jobs=1 tool="zstd -d -q -c"
	[[ $c == zstd ]] || tool="xz -d -c"
	[[ $mode == seq ]] || jobs=$(nproc)
	mkdir -p "$lim"
	find "$dir/cache-$c/nar" -type f -print0 |
		xargs -0 -n 1 -P "$jobs" sh -c "$tool \"\$1\" > \"$lim/\$(basename \"\$1\").nar\"" _
}
export -f decompress
export dir lim
# listing R: the files of the store under R with type, size and mode.
listing() { (cd "$1/nix/store" && find . -mindepth 1 -printf '%y %s %m %p\n' | LC_ALL=C sort); }

# serve DIR: a loopback HTTP server for DIR in the background; sets SRV_PID and SRV_URL.
SRV_PID=
serve() {
	local log=$dir/http.log port=
	# http.server's own main listens with a backlog of 5: more connections at once than that
	# (both tools query narinfos in parallel) lose their SYN and retry after a second. A real
	# cache (nginx, harmonia, cachix) has a deep backlog, keeps connections alive and sends
	# files without copying them through the server process.
	python3 -u - "$1" >"$log" 2>&1 <<'PY' &
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def copyfile(self, source, outputfile):
        # Zero-copy, as nginx and harmonia send files: copying them through Python takes CPU
        # from the machine the tools decode on.
        outputfile.flush()
        self.connection.sendfile(source)
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
srv = Server(("127.0.0.1", 0), functools.partial(Handler, directory=sys.argv[1]))
print("Serving HTTP on 127.0.0.1 port %d" % srv.server_address[1], flush=True)
srv.serve_forever()
PY
	SRV_PID=$!
	for _ in $(seq 100); do
		port=$(grep -o 'port [0-9]*' "$log" | head -n 1 | cut -d' ' -f2) || true
		[[ -z $port ]] || break
		sleep 0.1
	done
	[[ -n $port ]] || { echo "bench: python3 -m http.server did not start (see $log)" >&2; exit 1; }
	SRV_URL=http://127.0.0.1:$port
}
stop_serving() {
	[[ -z $SRV_PID ]] || { kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null || true; }
	SRV_PID=
}
trap stop_serving EXIT

report_header
for c in $COMPRESSIONS; do
for t in $TRANSPORTS; do
	note="$(load_note) at start; "
	nw=() nm=() cw=() cm=() nc=() cc=() sw=() pw=()
	cat "$dir/cache-$c"/*.narinfo "$dir/cache-$c"/nar/* >/dev/null # into the page cache
	url=file://$dir/cache-$c name=copy-from-$c-${SIZE_MB}m
	if [[ $t == http ]]; then
		serve "$dir/cache-$c"
		url=$SRV_URL name=copy-http-$c-${SIZE_MB}m
	fi
	for ((r = 1; r <= RUNS; r++)); do
		fresh
		XDG_CACHE_HOME=$dir/xdg measure_cpu /dev/null "${NIXCMD[@]}" copy --no-check-sigs \
			--from "$url" --to "local?root=$ndst" "$top"
		((M_RC == 0)) || note+="nix: exit $M_RC in run $r; "
		nw+=("$M_WALL") nm+=("$M_RSS") nc+=("$M_CPU")
		XDG_CACHE_HOME=$dir/xdg measure_cpu /dev/null "$CAIRN" copy --no-check-sigs --from "$url" --to "$cdst" "$top"
		((M_RC == 0)) || note+="cairn: exit $M_RC in run $r; "
		cw+=("$M_WALL") cm+=("$M_RSS") cc+=("$M_CPU")
		if ((r == 1)); then
			listing "$ndst" >"$OUT/substitute-$c-nix.files"
			listing "$cdst" >"$OUT/substitute-$c-cairn.files"
			cmp -s "$OUT/substitute-$c-nix.files" "$OUT/substitute-$c-cairn.files" ||
				note+="STORES DIFFER (bench/out/substitute-$c-*.files); "
			if NIX_REMOTE="local?root=$cdst" nix-store "${NIXOPTS[@]}" --verify --check-contents 2>&1 |
				grep -Eq 'error|warning|corrupt|modified'; then
				note+="nix-store --verify complains about cairn's store; "
			fi
		fi
		measure /dev/null bash -c 'decompress "$@"' _ "$c" seq
		sw+=("$M_WALL")
		rm -rf "$lim"
		measure /dev/null bash -c 'decompress "$@"' _ "$c" par
		pw+=("$M_WALL")
	done
	stop_serving
	fresh
	ncpu=$(median "${nc[@]}") ccpu=$(median "${cc[@]}")
	note+="$(load_note) at end; user+sys CPU s nix $ncpu cairn $ccpu (ratio $(ratio "$ccpu" "$ncpu"))"
	report substitute "$name" "${nw[*]}" "${nm[*]}" "${cw[*]}" "${cm[*]}" "$note"
	s=$(median "${sw[@]}") p=$(median "${pw[@]}") nmed=$(median "${nw[@]}") cmed=$(median "${cw[@]}")
	printf '%-22s %9s %9s %9s %9s  %s\n' "limit-$c-$t" "seq $s" "" "par $p" "" \
		"$c -d of every NAR to disk: one process at a time / $(nproc) at a time; MiB/s $(mibps "$narsize" "$s") / $(mibps "$narsize" "$p")"
	printf '%-22s %s\n' "ratios-$c-$t" \
		"nix/cairn wall $(ratio "$nmed" "$cmed") (target >= 2); cairn/limit wall: seq $(ratio "$cmed" "$s"), par $(ratio "$cmed" "$p"); MiB/s nix $(mibps "$narsize" "$nmed") cairn $(mibps "$narsize" "$cmed")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" substitute "limit-$c-${SIZE_MB}m" "$RUNS" \
		"$s" - "$p" - "$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null)" "decompression limit: seq (nix column) / par (cairn column)" \
		>>"$OUT/results.tsv"
done
done
