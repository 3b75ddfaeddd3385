#!/usr/bin/env bash
# Puts `promtool` (Prometheus's checker, from Debian's `prometheus` package) at build/tools/promtool
# without installing or starting the Prometheus server: `apt-get download` + `dpkg -x`.
# The wasm-status tests check the /wasm-status?prometheus output with `promtool check metrics`.
# Idempotent: does nothing when build/tools/promtool already runs.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=build/tools
if [ -x "$dest/promtool" ] && "$dest/promtool" --version >/dev/null 2>&1; then
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1) || {
    [ "$(id -u)" -eq 0 ] && apt-get update -qq && (cd "$work" && apt-get download -qq prometheus)
}
deb=$(ls "$work"/prometheus_*.deb)
dpkg -x "$deb" "$work/root"
mkdir -p "$dest"
cp "$work/root/usr/bin/promtool" "$dest/promtool.tmp"
mv -f "$dest/promtool.tmp" "$dest/promtool"
"$dest/promtool" --version | head -1
