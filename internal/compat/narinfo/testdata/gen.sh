#!/bin/sh
# Regenerates the *.narinfo fixtures with Nix 2.8 in a scratch chroot
# store: a small closure (a directory holding busybox, a text file
# referring to it, a .drv, and its input-addressed output, which has a
# Deriver) copied to file:// caches with each compression, signed by a
# throw-away key (key.pub is committed so the tests can verify).
# Needs /bin/busybox (busybox-static) as the builder.
# Usage: sh testdata/gen.sh   (from internal/compat/narinfo, as root)
set -eu
out=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/narinfo-gen.XXXXXX)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
export NIX_REMOTE="local?root=$T/root" NIX_CONFIG="experimental-features = nix-command"
nix key generate-secret --key-name cairn-test-1 > "$T/sk"
nix key convert-secret-to-public < "$T/sk" > "$out/key.pub"
mkdir "$T/d" && echo hi > "$T/d/a" && ln -s a "$T/d/l" && cp /bin/busybox "$T/d/busybox"
cat > "$T/e.nix" <<NIX
let d = builtins.path { path = $T/d; name = "d"; };
    t = builtins.toFile "t" "see \${d}";
in derivation { name = "drv"; system = "x86_64-linux"; builder = "\${d}/busybox"; args = [ "sh" "-c" "echo \${t} > \$out" ]; }
NIX
drv=$(nix-instantiate --option substituters '' "$T/e.nix")
res=$(nix-build --option substituters '' --no-out-link "$T/e.nix")
rm -f "$out"/*.narinfo
for c in xz none bzip2 zstd; do
	nix copy --option substituters '' --derivation --to "file://$T/c-$c?secret-key=$T/sk&compression=$c" "$drv"
	nix copy --option substituters '' --to "file://$T/c-$c?secret-key=$T/sk&compression=$c" "$res"
	for f in "$T/c-$c"/*.narinfo; do
		n=$(sed -n 's|^StorePath: /nix/store/[a-z0-9]*-||p' "$f")
		cp "$f" "$out/$c-$n.narinfo"
	done
done
