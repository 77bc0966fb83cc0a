# shellcheck shell=bash
# Source this file to put a Go >= 1.26 toolchain on PATH (scripts/setup.sh installs one).
#   . scripts/goenv.sh
# Order: go on PATH, /usr/local/go, then Debian's /usr/lib/go-1.2x (>= 1.21) with
# GOTOOLCHAIN=$CAIRN_GO_TOOLCHAIN, which the go command fetches through the Go module proxy.
# Sets CAIRN_GO to the go binary that was picked; returns 1 if none was found.

: "${CAIRN_GO_TOOLCHAIN:=go1.26.8}"
export CAIRN_GO=

# cairn_go_minor GO: print the minor version of GO's toolchain (26 for go1.26.8), or nothing.
cairn_go_minor() {
	local v
	v=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) || return 0
	v=${v#go1.}
	v=${v%%[!0-9]*}
	printf '%s' "$v"
}

cairn_goenv() {
	local g m d
	CAIRN_GO=
	if [[ -z ${CAIRN_SETUP_IGNORE_LOCAL_GO:-} ]]; then
		for g in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go; do
			[[ -n $g && -x $g ]] || continue
			m=$(cairn_go_minor "$g")
			if [[ -n $m ]] && ((m >= 26)); then
				CAIRN_GO=$g
				export PATH="${g%/go}:$PATH"
				return 0
			fi
		done
	fi
	# Debian's golang-1.2x: newest first; it fetches the real toolchain via GOTOOLCHAIN.
	local dirs
	mapfile -t dirs < <(printf '%s\n' /usr/lib/go-1.* | sort -t. -k2 -n -r)
	for d in "${dirs[@]}"; do
		g=$d/bin/go
		[[ -x $g ]] || continue
		m=$(cairn_go_minor "$g")
		if [[ -n $m ]] && ((m >= 21)); then
			CAIRN_GO=$g
			export PATH="$d/bin:$PATH"
			export GOTOOLCHAIN=$CAIRN_GO_TOOLCHAIN
			return 0
		fi
	done
	return 1
}
