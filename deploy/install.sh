#!/bin/sh
# Installs (or removes) the Loupe agent on a host managed by systemd.
#
#   sudo deploy/install.sh [--build-dir DIR | --binary PATH] [--no-start]
#   sudo deploy/install.sh --uninstall [--purge]
#
# --build-dir DIR  take DIR/userspace/loupe from a CMake build directory (default: ./build)
# --binary PATH    take this loupe binary instead
# --no-start       install and enable, but do not start now
# --uninstall      stop and disable the service, remove the binary and the unit
# --purge          with --uninstall: also remove /etc/loupe and /etc/default/loupe
# --root DIR       install under DIR instead of / (packaging and tests; never runs systemctl)
set -eu

script_dir=$(cd "$(dirname "$0")" && pwd)
build_dir=./build
binary=
root=
action=install
purge=0
start=1

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a value"; build_dir=$2; shift 2 ;;
    --binary) [ $# -ge 2 ] || die "--binary needs a value"; binary=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || die "--root needs a value"; root=${2%/}; shift 2 ;;
    --no-start) start=0; shift ;;
    --uninstall) action=uninstall; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

bin_path="$root/usr/local/bin/loupe"
config_dir="$root/etc/loupe"
env_file="$root/etc/default/loupe"
unit_path="$root/etc/systemd/system/loupe.service"

# systemctl only acts on the running system: not when staging into --root, and not where
# systemd is not PID 1 (containers, WSL without systemd, SysV hosts).
have_systemd() {
  [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo), or use --root DIR to stage the files"
fi

if [ "$action" = uninstall ]; then
  if have_systemd; then
    systemctl disable --now loupe.service 2>/dev/null || true
  fi
  rm -f "$bin_path" "$unit_path"
  if [ "$purge" -eq 1 ]; then
    rm -rf "$config_dir" "$env_file"
  fi
  if have_systemd; then
    systemctl daemon-reload
  fi
  echo "Loupe removed.$( [ "$purge" -eq 1 ] || echo " Configuration kept in $config_dir (use --purge to remove it).")"
  exit 0
fi

if [ -z "$binary" ]; then
  # The daemon target lives in userspace/ of a CMake build tree.
  binary="$build_dir/userspace/loupe"
  [ -e "$binary" ] || binary="$build_dir/loupe"
fi
{ [ -f "$binary" ] && [ -x "$binary" ]; } || die "no executable loupe binary at '$binary' (build it, or pass --binary/--build-dir)"

install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/default"
install -d -m 0755 "$config_dir"
install -m 0755 "$binary" "$bin_path"
install -m 0644 "$script_dir/systemd/loupe.service" "$unit_path"

# Never overwrite a configuration the operator edited: put the new default beside it.
if [ -e "$config_dir/config.yaml" ]; then
  install -m 0644 "$script_dir/config/config.yaml" "$config_dir/config.yaml.new"
  echo "Kept $config_dir/config.yaml; the default is in config.yaml.new."
else
  install -m 0644 "$script_dir/config/config.yaml" "$config_dir/config.yaml"
fi
if [ ! -e "$env_file" ]; then
  cat > "$env_file" <<'ENV'
# Environment of the loupe service (see docs/deploy.md), for example:
# OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
# OTEL_RESOURCE_ATTRIBUTES=deployment.environment=production
ENV
  chmod 0600 "$env_file"
fi

if ! have_systemd; then
  if [ -n "$root" ]; then
    echo "Staged Loupe under $root."
  else
    echo "systemd is not running as PID 1 here: files installed, service not started."
    echo "Start the agent yourself: /usr/local/bin/loupe --config /etc/loupe/config.yaml"
  fi
  exit 0
fi

systemctl daemon-reload
if [ "$start" -eq 1 ]; then
  systemctl enable --now loupe.service
  echo "Loupe is running. Check: curl -s http://127.0.0.1:9400/health/ready"
else
  systemctl enable loupe.service
  echo "Loupe is enabled; start it with: systemctl start loupe"
fi
