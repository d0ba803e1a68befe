#!/usr/bin/env bash
# Builds every protocol's libFuzzer target with clang, ASan and UBSan into ./build-fuzz and runs
# each over the fixtures as seeds. CI runs the short smoke instead (ctest -L fuzz); this is the
# longer run.
#   scripts/fuzz.sh [SECONDS]      each fuzzer for SECONDS (default 60)
#   scripts/fuzz.sh --runs N       each fuzzer for N executions (the issue-20 run: --runs 10000000)
# Prints one line per fuzzer with its executions and exits non-zero on the first crash.
set -euo pipefail
cd "$(dirname "$0")/.."
limit="-max_total_time=${1:-60}"
if [[ "${1:-}" == "--runs" ]]; then
  limit="-runs=${2:?--runs needs a number}"
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DLOUPE_FUZZ=ON \
  -DLOUPE_BUILD_TESTS=OFF -DLOUPE_BUILD_BENCH=OFF -DLOUPE_WERROR=OFF >/dev/null
fuzzers=$(cmake --build build-fuzz --target help | sed -n 's/^\.\.\. \(fuzz_[a-z0-9_]*\)$/\1/p')
# shellcheck disable=SC2086
cmake --build build-fuzz -j"$(nproc)" --target $fuzzers
for fuzzer in $fuzzers; do
  corpus="build-fuzz/fuzz-corpus/$fuzzer"
  mkdir -p "$corpus"
  log="build-fuzz/$fuzzer.log"
  start=$(date +%s)
  if ! "build-fuzz/$(find build-fuzz -name "$fuzzer" -type f -executable -printf '%P\n' | head -1)" \
      "$limit" -print_final_stats=1 -artifact_prefix=build-fuzz/ "$corpus" tests/fixtures \
      >"$log" 2>&1; then
    echo "[fuzz] $fuzzer: FAILED, see $log" >&2
    tail -30 "$log" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "[fuzz] $fuzzer: $runs executions in $(( $(date +%s) - start )) s, no crash"
done
