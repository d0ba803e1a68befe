#!/usr/bin/env bash
# Installs dependencies, builds, and runs the agent with its embedded default configuration.
# Extra arguments go to loupe (see `loupe --help`).
set -euo pipefail
source "$(dirname "$0")/as-root.sh"
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh -DLOUPE_BUILD_TESTS=OFF -DLOUPE_BUILD_BENCH=OFF
exec ./build/userspace/loupe "$@"
