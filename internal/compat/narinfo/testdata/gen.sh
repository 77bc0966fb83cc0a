#!/bin/sh
# Regenerates the *.narinfo fixtures with Nix 2.8 in a scratch chroot
# store: a small closure (a directory, a text file referring to it, a
# .drv) copied to file:// caches with each compression, signed by a
# throw-away key (key.pub is committed so the tests can verify).
# Usage: sh testdata/gen.sh   (from internal/compat/narinfo, as root)
set -eu
out=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/narinfo-gen.XXXXXX)
trap 'chmod -R u+w "$T"; rm -rf "$T"' EXIT
export NIX_REMOTE="local?root=$T/root" NIX_CONFIG="experimental-features = nix-command"
o="--option substituters ''"
nix key generate-secret --key-name cairn-test-1 > "$T/sk"
nix key convert-secret-to-public < "$T/sk" > "$out/key.pub"
mkdir "$T/d" && echo hi > "$T/d/a" && ln -s a "$T/d/l" && printf '#!x\n' > "$T/d/x" && chmod +x "$T/d/x"
cat > "$T/e.nix" <<NIX
let d = builtins.path { path = $T/d; name = "d"; };
    t = builtins.toFile "t" "see \${d}";
in derivation { name = "drv"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ t ]; }
NIX
drv=$(nix-instantiate --option substituters '' "$T/e.nix")
rm -f "$out"/*.narinfo
for c in xz none bzip2 zstd; do
	nix copy --option substituters '' --derivation --to "file://$T/c-$c?secret-key=$T/sk&compression=$c" "$drv"
	for f in "$T/c-$c"/*.narinfo; do
		n=$(sed -n 's|^StorePath: /nix/store/[a-z0-9]*-||p' "$f")
		cp "$f" "$out/$c-$n.narinfo"
	done
done
