#!/usr/bin/env bash
# Builds every protocol's libFuzzer target with clang, ASan and UBSan into ./build-fuzz and runs
# each for SECONDS (default 60) over the fixtures as seeds. CI runs the short smoke instead
# (ctest -L fuzz); this is the longer run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DLOUPE_FUZZ=ON -DLOUPE_FUZZ_SECONDS="$seconds" \
  -DLOUPE_BUILD_TESTS=OFF -DLOUPE_BUILD_BENCH=OFF -DLOUPE_WERROR=OFF >/dev/null
cmake --build build-fuzz --target fuzz -j"$(nproc)"
