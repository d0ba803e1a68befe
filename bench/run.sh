#!/usr/bin/env bash
# Loupe's overhead benchmark, one command: installs the tools it needs from Debian (only the
# missing ones), builds Loupe and the floor loader (Release) unless given, builds the Go test
# server, then measures (bench/run.py) and writes results.md, results.json and chart.png.
#
#   sudo bench/run.sh                   # 3 repetitions x 10 s, all workloads
#   sudo bench/run.sh --quick           # CI smoke: 1 repetition x 2 s, two workloads
#   sudo bench/run.sh --reps 5 --duration 20 --out /tmp/bench
#   sudo bench/run.sh --loupe PATH --floor PATH   # use already-built binaries
#   sudo bench/run.sh --baseline PATH   # also measure another loupe binary (configuration
#                                       # loupe_baseline) in the same run
#
# Build directory: $LOUPE_BENCH_BUILD_DIR, default build-bench/ at the repository root; source
# tree: $LOUPE_BENCH_SOURCE_DIR, default this repository (point it at a clean export of a commit
# to measure that commit while the working tree changes).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
src="${LOUPE_BENCH_SOURCE_DIR:-$repo}"
build_dir="${LOUPE_BENCH_BUILD_DIR:-$repo/build-bench}"

if [[ $(id -u) -ne 0 ]]; then
  echo "bench/run.sh must run as root (it loads BPF programs)" >&2
  exit 1
fi

loupe="" floor=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --loupe) loupe="$2"; shift 2 ;;
    --floor) floor="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

# command -> Debian package that provides it
declare -A tools=(
  [nginx]=nginx-light [wrk]=wrk [redis-server]=redis-server [redis-benchmark]=redis-tools
  [go]=golang-go [gnuplot]=gnuplot-nox [python3]=python3 [bpftool]=bpftool
  [taskset]=util-linux [cmake]=cmake
)
missing=()
for cmd in "${!tools[@]}"; do
  command -v "$cmd" > /dev/null || missing+=("${tools[$cmd]}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "[bench] installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" > /dev/null
fi
# The Debian redis-server package starts a system instance; the benchmark uses its own.

if [[ -z "$loupe" || -z "$floor" ]]; then
  echo "[bench] building loupe and floor_loader (Release) from $src in $build_dir"
  mkdir -p "$build_dir"
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S "$src" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DLOUPE_BUILD_TESTS=OFF \
      -DLOUPE_BUILD_BENCH=ON > "$build_dir/bench-configure.log" 2>&1 \
      || { cat "$build_dir/bench-configure.log" >&2; exit 1; }
  fi
  cmake --build "$build_dir" --target loupe floor_loader -j2 > "$build_dir/bench-build.log" 2>&1 \
    || { tail -50 "$build_dir/bench-build.log" >&2; exit 1; }
  loupe="${loupe:-$build_dir/userspace/loupe}"
  floor="${floor:-$build_dir/bench/floor_loader}"
fi

# The Go server, with Debian's toolchain and no module downloads.
go_out="$(mktemp -d /tmp/loupe-bench-go.XXXXXX)"
trap 'rm -rf "$go_out"' EXIT
[[ -n "${HOME:-}" ]] || export GOCACHE="${GOCACHE:-$go_out/cache}"
GO111MODULE=off go build -o "$go_out/go_server" "$here/servers/go_server.go"

python3 "$here/run.py" --loupe "$loupe" --floor "$floor" --go_server "$go_out/go_server" \
  "${args[@]}"
