#!/usr/bin/env bash
# test.sh: set up the machine (scripts/setup.sh), then `go vet ./...` and `go test ./...`.
# Arguments replace `./...` as go test's arguments (e.g. ./scripts/test.sh -run Lang ./internal/langsuite).
# With CI=true, tests that need Nix or ../shared fail instead of skipping.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
# shellcheck source=scripts/goenv.sh
. scripts/goenv.sh
cairn_goenv
vet=0
echo "== go vet ./..."
go vet ./... || { vet=$?; echo "test.sh: go vet failed (exit $vet); running go test anyway" >&2; }
(($# > 0)) || set -- ./...
echo "== go test $*"
rc=0
go test -timeout 45m "$@" || rc=$?
((rc != 0)) || rc=$vet
exit "$rc"
