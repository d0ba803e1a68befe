#!/usr/bin/env bash
# ctest bench_smoke: runs the harness in --quick mode into a temporary directory and checks the
# shape of what it wrote. Timings are never asserted: they depend on the machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mktemp -d /tmp/loupe-bench-smoke.XXXXXX)"
trap 'rm -rf "$out"' EXIT

"$here/run.sh" --quick --out "$out" "$@"
python3 "$here/check_results.py" "$out"
