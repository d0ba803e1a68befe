#!/usr/bin/env bash
# Runs the chaos suite against a built agent, as root.
#   tests/chaos/run.sh [--long] [BUILD_DIR] [TEST ...]
# --long: ten minutes of refused collector connections, five minutes of the combined worst case,
# nine cardinality rounds, 100,000 churned connections (about 25 minutes in all). TEST names a
# file's suffix (combined, collector, cardinality, churn, malformed, sigterm); default: all.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ "${1:-}" == "--long" ]]; then
  export LOUPE_CHAOS_LONG=1
  shift
fi
build="${1:-$here/../../build}"
shift || true
export LOUPE_BIN="${LOUPE_BIN:-$build/userspace/loupe}"
export LOUPE_OTLP_RECEIVER="${LOUPE_OTLP_RECEIVER:-$build/tests/loupe_otlp_receiver}"
export PYTHONDONTWRITEBYTECODE=1
tests=("$@")
if [[ ${#tests[@]} -eq 0 ]]; then
  tests=(combined collector cardinality churn malformed sigterm)
fi
status=0
for t in "${tests[@]}"; do
  start=$(date +%s)
  if python3 "$here/test_$t.py"; then result=passed; else result=FAILED; status=1; fi
  echo "[chaos] $t: $result in $(( $(date +%s) - start )) s" >&2
done
exit $status
