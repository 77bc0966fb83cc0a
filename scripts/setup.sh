#!/usr/bin/env bash
# setup.sh: prepare a fresh Debian 12 machine to build and test cairn. Idempotent.
# Run as root or as a user with sudo. Installs (only what is missing):
#   nix-bin          the reference Nix 2.8 (nix-instantiate, nix-store, nix-hash) used by tests
#                    and bench/, with nix-setup-systemd (its recommended nixbld set-up)
#   g++              libstdc++'s std::regex as the oracle of internal/eval/regex's tests
#   nlohmann-json3-dev  nlohmann::json as the oracle of internal/eval/json's tests
#   busybox-static   a static /bin/busybox: the builder of internal/build's sandboxed test builds
#   git, ca-certificates, time (/usr/bin/time for bench/), findutils
#   a Go >= 1.26 toolchain: /usr/local/go or a go on PATH if new enough; otherwise Debian's
#   newest golang-1.2x from bookworm-backports, which fetches $CAIRN_GO_TOOLCHAIN (default
#   go1.26.8) through the Go module proxy (GOTOOLCHAIN). See scripts/goenv.sh.
# Afterwards: `. scripts/goenv.sh && cairn_goenv` puts that Go on PATH.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/goenv.sh
. "$root/scripts/goenv.sh"

log() { printf 'setup: %s\n' "$*" >&2; }

SUDO=()
if [[ $(id -u) != 0 ]]; then
	if command -v sudo >/dev/null; then
		SUDO=(sudo)
	else
		log "not root and no sudo: run as root, or install: nix-bin nix-setup-systemd g++ nlohmann-json3-dev busybox-static git ca-certificates time"
		exit 1
	fi
fi
apt_get() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }

missing=()
for p in nix-bin nix-setup-systemd g++ nlohmann-json3-dev busybox-static git ca-certificates time findutils; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done

need_go=
cairn_goenv || need_go=1
backports=/etc/apt/sources.list.d/cairn-bookworm-backports.sources
if [[ -n $need_go ]] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	log "no Go >= 1.26 found: adding bookworm-backports for Debian's golang-1.2x"
	"${SUDO[@]}" tee "$backports" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

if ((${#missing[@]} > 0)) || [[ -n $need_go ]]; then
	log "apt-get update"
	apt_get update
fi
if ((${#missing[@]} > 0)); then
	log "installing ${missing[*]}"
	apt_get install --no-install-recommends "${missing[@]}"
fi

if [[ -n $need_go ]]; then
	# Newest golang-1.N-go with N >= 21 (GOTOOLCHAIN needs 1.21), from any configured suite.
	pkg=$(apt-cache search --names-only '^golang-1\.[0-9]+-go$' | awk '{print $1}' |
		sort -t. -k2 -n | awk -F'[.-]' '$3 >= 21' | tail -n 1)
	if [[ -z $pkg ]]; then
		log "no Debian golang-1.2x (>= 1.21) available; install Go >= 1.26 into /usr/local/go"
		exit 1
	fi
	log "installing $pkg; GOTOOLCHAIN=$CAIRN_GO_TOOLCHAIN fetches the real toolchain"
	apt_get install --no-install-recommends -t bookworm-backports "$pkg" ||
		apt_get install --no-install-recommends "$pkg"
	if ! cairn_goenv; then
		log "installed $pkg but found no usable go under /usr/lib/go-1.*"
		exit 1
	fi
fi

# Fetch and check the toolchain now (with GOTOOLCHAIN set this downloads it once).
if ! v=$(go env GOVERSION); then
	log "go ($CAIRN_GO) cannot run; GOTOOLCHAIN=${GOTOOLCHAIN:-} needs the Go module proxy"
	exit 1
fi
log "go: $CAIRN_GO -> $v"

# Reference Nix: evaluation without touching a store (the language suite's settings).
if [[ $(NIX_REMOTE=dummy:// nix-instantiate --eval -E '1 + 1' 2>&1) != 2 ]]; then
	log "nix-instantiate does not work: NIX_REMOTE=dummy:// nix-instantiate --eval -E '1 + 1'"
	exit 1
fi
log "nix: $(nix-instantiate --version)"
