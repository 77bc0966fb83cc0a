#!/usr/bin/env bash
# demo.sh: set up the machine (scripts/setup.sh), then run `cairn demo`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
./scripts/setup.sh
# shellcheck source=scripts/goenv.sh
. scripts/goenv.sh
cairn_goenv
exec go run ./cmd/cairn demo "$@"
