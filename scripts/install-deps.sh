#!/usr/bin/env bash
# Installs every build and test dependency of Loupe from Debian packages (and the deploy tests'
# npm packages from the npm registry). Safe to run again; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $EUID -ne 0 ]]; then
  echo "install-deps.sh: run as root (sudo $0)" >&2
  exit 1
fi

build_packages=(
  build-essential cmake pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  linux-libc-dev libabsl-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libcivetweb-dev
  libprotobuf-dev protobuf-compiler libcurl4-openssl-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# Real servers and clients the end-to-end tests drive on loopback.
test_packages=(
  python3 curl openssl nginx-light wrk golang-go redis-server redis-tools memcached
  libmemcached-tools mariadb-server mariadb-client postgresql postgresql-contrib prometheus
  libcap2-bin  # capsh: the capability tests
  podman buildah runc debootstrap
  # The single-node Kubernetes 1.20 of tests/kubernetes/: its binaries are built from Debian's
  # source package (dpkg-source; reflect2 1.0.2 replaces the vendored one), the rest is packaged.
  etcd-server containerd containernetworking-plugins catatonit dpkg-dev
  golang-github-modern-go-reflect2-dev iproute2
)
mapfile -t deploy_packages < <(grep -v '^\s*#' tests/deploy/REQUIRED_PACKAGES | grep -v '^\s*$')
# Machines that ship Node.js from another source (nodesource bundles npm) must not get Debian's
# npm, which conflicts with it: when node and npm already work, skip both packages.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  kept=()
  for pkg in "${deploy_packages[@]}"; do
    [[ "$pkg" == "npm" || "$pkg" == "nodejs" ]] || kept+=("$pkg")
  done
  deploy_packages=("${kept[@]}")
fi

export DEBIAN_FRONTEND=noninteractive
missing=()
for pkg in "${build_packages[@]}" "${test_packages[@]}" "${deploy_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps.sh: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ -f tests/deploy/package-lock.json ]]; then
  npm ci --prefix tests/deploy --no-audit --no-fund --loglevel=error
fi
echo "install-deps.sh: all dependencies present"
