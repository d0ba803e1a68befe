#!/bin/sh
# Runs validate_k8s.mjs with the npm-installed schemas.
# Usage: run_k8s_schema.sh [--expect-invalid] FILE...
#   --expect-invalid: succeed only if the validator rejects the files (a negative test that a
#   crash or a missing dependency cannot pass).
set -u
here=$(cd "$(dirname "$0")" && pwd)
expect_invalid=0
if [ "${1:-}" = --expect-invalid ]; then expect_invalid=1; shift; fi
if [ ! -d "$here/node_modules/kubernetes-models" ]; then
  echo "FAIL: schemas not installed; run: npm ci --prefix tests/deploy"
  exit 1
fi
out=$(node "$here/validate_k8s.mjs" "$@" 2>&1)
rc=$?
echo "$out" | grep -v EBADENGINE
if [ "$expect_invalid" -eq 1 ]; then
  if [ "$rc" -eq 1 ] && echo "$out" | grep -q '^FAIL '; then
    echo "ok   invalid manifests rejected"
    exit 0
  fi
  echo "FAIL: invalid manifests were not rejected (exit $rc)"
  exit 1
fi
exit "$rc"
