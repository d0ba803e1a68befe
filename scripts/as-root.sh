# Sourced first by run.sh and test.sh: they need root (packages, BPF). A root shell (machines
# without sudo) runs them as they are; anyone else is re-run through sudo, keeping the arguments.
if [[ $EUID -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "$(basename "$0"): needs root, and sudo is not installed: run it from a root shell" >&2
    exit 1
  fi
  exec sudo --preserve-env=LOUPE_E2E_STRICT,LOUPE_ASAN,CI "$0" "$@"
fi
