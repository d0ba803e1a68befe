#!/usr/bin/env bash
# Builds the Kubernetes 1.20 binaries the cluster test runs (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kubectl) from Debian's *source* package
# `kubernetes`, once, into a cache directory keyed by the source version and this recipe.
# Prints the directory holding the binaries on its last line.
#
# Nothing is downloaded but Debian's source package (.dsc + tarballs from the archive's pool,
# checked against the .dsc's checksums by dpkg-source); Go modules come from the package's
# vendor/ tree. The one change: vendor/github.com/modern-go/reflect2 1.0.1 crashes the API
# server under Go >= 1.18, so it is replaced by Debian's golang-github-modern-go-reflect2-dev
# (1.0.2, API-compatible). Built with the `providerless` tag (no cloud-provider code in the
# binaries at all) and `dockerless` (no dockershim: the cluster uses containerd's CRI).
#
# The Go build runs under `nice` (10) with at most LOUPE_K8S_BUILD_JOBS (default 2) parallel jobs:
# the machines have 2 cores shared with other work. Needs root only for the default cache dir.
set -euo pipefail

# Bump when the way the binaries are made changes: the cache key includes it.
RECIPE=2
SOURCE_PACKAGE=kubernetes
# The version Debian bookworm ships; apt's view of kubernetes-client (built from this source)
# wins when it knows a newer point release.
DEFAULT_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
MIRROR="${LOUPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE_ROOT="${LOUPE_K8S_CACHE:-/var/cache/loupe-test/kubernetes}"
JOBS="${LOUPE_K8S_BUILD_JOBS:-2}"
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

log() { echo "build-binaries.sh: $*" >&2; }

version="$(apt-cache show --no-all-versions kubernetes-client 2>/dev/null |
  sed -n 's/^Version: //p' | head -n1)"
version="${version:-$DEFAULT_VERSION}"
upstream="${version#*really}"; upstream="${upstream%%-*}"   # 1.20.2
go_version="$(go env GOVERSION)"
key="${version}-go${go_version#go}-r${RECIPE}"
out="${CACHE_ROOT}/${key}"

have_all() {
  local c
  for c in "${COMMANDS[@]}"; do [[ -x "$out/bin/$c" ]] || return 1; done
  [[ -f "$out/BUILT" ]]
}

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
flock 9   # one build at a time; a second caller waits and then finds the cache filled
if have_all; then
  log "cache hit: $out ($(cat "$out/BUILT"))"
  echo "$out/bin"
  exit 0
fi

if [[ ! -d "$REFLECT2" ]]; then
  log "missing $REFLECT2: apt-get install golang-github-modern-go-reflect2-dev"
  exit 1
fi
if ! command -v dpkg-source >/dev/null; then
  log "missing dpkg-source: apt-get install dpkg-dev"
  exit 1
fi

# Earlier keys' builds are dropped: one set of binaries is kept.
find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
work="$out/work"
mkdir -p "$work"
start=$(date +%s)

# ---- the source package
dsc="${SOURCE_PACKAGE}_${version#*:}.dsc"
pool="$MIRROR/pool/main/${SOURCE_PACKAGE:0:1}/${SOURCE_PACKAGE}"
if [[ ! -d "$work/src" ]]; then
  log "fetching $dsc"
  (cd "$work" && curl -fsSLO "$pool/$dsc")
  awk '/^Files:/{f=1;next} /^[^ ]/{f=0} f{print $3}' "$work/$dsc" | while read -r file; do
    [[ -f "$work/$file" ]] || (cd "$work" && curl -fsSLO "$pool/$file")
  done
  (cd "$work" && dpkg-source -x "$dsc" src.tmp >/dev/null && mv src.tmp src)
  rm -rf "$work/src/vendor/github.com/modern-go/reflect2"
  cp -r "$REFLECT2" "$work/src/vendor/github.com/modern-go/reflect2"
  rm -f "$work/src/vendor/github.com/modern-go/reflect2/go.mod"
fi
fetched=$(date +%s)

# ---- the Go build, in GOPATH mode with the vendor/ tree, as upstream's hack/ scripts build 1.20
mkdir -p "$work/gopath/src/k8s.io"
ln -sfn "$work/src" "$work/gopath/src/k8s.io/kubernetes"
cd "$work/gopath/src/k8s.io/kubernetes"
ldflags=""
# GOPATH mode: the staging packages' import paths are under k8s.io/kubernetes/vendor/.
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version \
           k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v${upstream} -X $pkg.gitMajor=${upstream%%.*}"
  ldflags+=" -X $pkg.gitMinor=$(echo "$upstream" | cut -d. -f2) -X $pkg.gitTreeState=clean"
  ldflags+=" -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
done
go_env=(env CGO_ENABLED=0 GO111MODULE=off GOFLAGS= GOPROXY=off GOCACHE="$work/gocache"
  GOPATH="$work/gopath" GOMAXPROCS="$JOBS")

# The one generated file the source tarball lacks (upstream's `make` generates it): the API
# server's OpenAPI definitions, from every package tagged +k8s:openapi-gen, found the way
# Makefile.generated_files finds them (staging/src named as vendor/, code-generator and
# sample-apiserver left out).
openapi=pkg/generated/openapi/zz_generated.openapi.go
if [[ ! -f "$openapi" ]]; then
  log "generating $openapi"
  dirs=$(find -H . \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune -o \
           -type f -name '*.go' -print0 |
         xargs -0 grep -l '^// *+k8s:' | xargs -d '\n' grep -l '+k8s:openapi-gen=' |
         xargs -n1 dirname | sed 's|^\./staging/src|vendor|; s|^\./||' |
         grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
         LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  "${go_env[@]}" nice go build -p "$JOBS" -o "$work/openapi-gen" \
    ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  "${go_env[@]}" nice "$work/openapi-gen" --logtostderr -i "$dirs" \
    -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$work/openapi-violations.report"
fi

mkdir -p "$out/bin.tmp"
log "go build of ${COMMANDS[*]} (nice, -p $JOBS)"
"${go_env[@]}" nice go build -p "$JOBS" -trimpath -tags providerless,dockerless \
  -ldflags "-s -w $ldflags" -o "$out/bin.tmp/" "${COMMANDS[@]/#/./cmd/}"
rm -rf "${out:?}/bin"
mv "$out/bin.tmp" "$out/bin"
end=$(date +%s)
echo "Kubernetes ${upstream} from Debian source ${version}, ${go_version}:" \
  "fetch+unpack $((fetched - start)) s, go build $((end - fetched)) s, $(date -u +%FT%TZ)" \
  > "$out/BUILT"
cd /
rm -rf "$work"
log "built: $(cat "$out/BUILT")"
echo "$out/bin"
