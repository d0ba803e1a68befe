#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite: unit tests, fuzz smoke tests,
# deploy validation, and the root-only end-to-end tests against real servers.
set -euo pipefail
source "$(dirname "$0")/as-root.sh"
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh -DLOUPE_BUILD_TESTS=ON -DLOUPE_BUILD_BENCH=ON
export LOUPE_E2E_STRICT=1  # a missing server fails the end-to-end tests instead of skipping
ctest --test-dir build --output-on-failure --timeout 900 "$@"
