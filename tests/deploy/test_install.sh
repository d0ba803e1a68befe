#!/bin/sh
# Exercises deploy/install.sh against a staging root (--root): no root privileges, no systemctl.
# Usage: test_install.sh INSTALL_SH
set -eu
install_sh=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
r="$tmp/root"

printf '#!/bin/sh\necho fake loupe\n' > "$tmp/loupe"
chmod 0755 "$tmp/loupe"

"$install_sh" --root "$r" --binary "$tmp/loupe" > "$tmp/out" || fail "install failed: $(cat "$tmp/out")"
[ -x "$r/usr/local/bin/loupe" ] || fail "binary not installed"
cmp -s "$tmp/loupe" "$r/usr/local/bin/loupe" || fail "installed binary differs"
[ -f "$r/etc/systemd/system/loupe.service" ] || fail "unit not installed"
[ -f "$r/etc/loupe/config.yaml" ] || fail "config not installed"
[ "$(stat -c %a "$r/etc/default/loupe")" = 600 ] || fail "/etc/default/loupe may hold secrets: must be 0600"
grep -q systemctl "$tmp/out" && fail "systemctl must not run with --root"
echo "ok   install into a staging root"

echo "log_level: debug" > "$r/etc/loupe/config.yaml"
"$install_sh" --root "$r" --binary "$tmp/loupe" > /dev/null
grep -q "log_level: debug" "$r/etc/loupe/config.yaml" || fail "reinstall overwrote the edited config"
[ -f "$r/etc/loupe/config.yaml.new" ] || fail "reinstall did not leave config.yaml.new"
echo "ok   reinstall keeps an edited config"

"$install_sh" --root "$r" --uninstall > /dev/null
[ ! -e "$r/usr/local/bin/loupe" ] || fail "uninstall left the binary"
[ ! -e "$r/etc/systemd/system/loupe.service" ] || fail "uninstall left the unit"
[ -f "$r/etc/loupe/config.yaml" ] || fail "uninstall without --purge removed the config"
"$install_sh" --root "$r" --uninstall --purge > /dev/null
[ ! -e "$r/etc/loupe" ] || fail "--purge left /etc/loupe"
echo "ok   uninstall and purge"

mkdir -p "$tmp/build/userspace" && cp "$tmp/loupe" "$tmp/build/userspace/loupe"
"$install_sh" --root "$tmp/root2" --build-dir "$tmp/build" > /dev/null || fail "--build-dir did not find userspace/loupe"
[ -x "$tmp/root2/usr/local/bin/loupe" ] || fail "--build-dir install missing binary"
echo "ok   --build-dir takes the binary from a CMake build tree"

if "$install_sh" --root "$r" --binary "$tmp/missing" > /dev/null 2>&1; then fail "missing binary accepted"; fi
if "$install_sh" --bogus > /dev/null 2>&1; then fail "unknown argument accepted"; fi
echo "ok   bad arguments rejected"
