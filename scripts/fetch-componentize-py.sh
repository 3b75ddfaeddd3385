#!/usr/bin/env bash
# fetch-componentize-py.sh — installs componentize-py 0.25.1 (PyPI, the manylinux x86_64 wheel),
# verified, into build/tools/componentize-py/, and prints the path of its launcher.
#
# Usage: scripts/fetch-componentize-py.sh [DEST_DIR]
#   DEST_DIR defaults to build/tools/componentize-py (repo-relative). It receives lib/ (the wheel's
#   files: the `componentize_py` package, a native abi3 extension) and `componentize-py`, a launcher
#   running that package with the python3 found at install time. The launcher's path goes to stdout,
#   progress to stderr.
#
# componentize-py turns a Python app into a WebAssembly component whose CPython is pre-initialised
# at build time (see samples/python-http and tests/components). The wheel's sha256 is pinned, as
# published in PyPI's simple index; a verified install (its marker records that digest and its
# launcher answers --version) is used as is: no download.
# Needs: pip and python3 (>= 3.9), sha256sum, unzip (or python3 for that too).
set -euo pipefail

PACKAGE="componentize-py"
VERSION="0.25.1"
WHEEL="componentize_py-0.25.1-cp39-abi3-manylinux_2_28_x86_64.whl"
WHEEL_SHA256="8623cd8cab8453cb0cd8bf03f3c7103420d06f2f3d360186a280a70a1ca5e89f"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo/build/tools/componentize-py}"
launcher="$dest/componentize-py"

log() { echo "fetch-componentize-py: $*" >&2; }
die() { log "error: $*"; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

installed_ok() {
    [ "$(cat "$dest/.wheel-sha256" 2>/dev/null)" = "$WHEEL_SHA256" ] \
        && [ -x "$launcher" ] \
        && [ "$("$launcher" --version 2>/dev/null)" = "$PACKAGE $VERSION" ]
}

if installed_ok; then
    log "cached and verified: $launcher"
    echo "$launcher"
    exit 0
fi

[ "$(uname -m)" = "x86_64" ] || die "only the x86_64 wheel is pinned (this machine: $(uname -m))"
command -v sha256sum >/dev/null || die "sha256sum not found (Debian: coreutils)"
command -v python3 >/dev/null || die "python3 not found"
# The launcher names the interpreter itself, not a shim (pyenv) that may resolve differently later.
python="$(python3 -c 'import sys; print(sys.executable)')"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "$python is older than 3.9"
pip=()
if command -v pip3 >/dev/null; then
    pip=(pip3)
elif python3 -m pip --version >/dev/null 2>&1; then
    pip=(python3 -m pip)
else
    die "pip not found (Debian: apt-get install python3-pip)"
fi

mkdir -p "$(dirname "$dest")"
# The work folder sits beside DEST so the final rename is atomic.
work="$(mktemp -d "$(dirname "$dest")/.componentize-py.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "downloading $PACKAGE==$VERSION ($WHEEL) from PyPI"
# --only-binary/--no-deps: the wheel alone; --platform pins the manylinux x86_64 one;
# --no-cache-dir keeps pip's cache out of the picture.
"${pip[@]}" download --quiet --no-deps --only-binary=:all: --no-cache-dir \
    --platform manylinux_2_28_x86_64 --python-version 3.9 --implementation cp --abi abi3 \
    "$PACKAGE==$VERSION" -d "$work/dl" >&2 || die "pip download $PACKAGE==$VERSION failed"
[ -f "$work/dl/$WHEEL" ] || die "pip did not produce $WHEEL (got: $(ls "$work/dl"))"

got="$(sha256_of "$work/dl/$WHEEL")"
[ "$got" = "$WHEEL_SHA256" ] || die "$WHEEL has sha256 $got, expected $WHEEL_SHA256"
log "wheel verified (sha256 $WHEEL_SHA256)"

mkdir -p "$work/new/lib"
if command -v unzip >/dev/null; then
    unzip -q -o "$work/dl/$WHEEL" -d "$work/new/lib" || die "cannot unpack $WHEEL"
else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
        "$work/dl/$WHEEL" "$work/new/lib" || die "cannot unpack $WHEEL"
fi

# The launcher finds lib/ beside itself, so the folder can move; it runs the wheel's console
# script (componentize_py:script) under the program name componentize-py.
cat >"$work/new/componentize-py" <<EOF
#!/bin/sh
# componentize-py $VERSION, installed by scripts/fetch-componentize-py.sh (wheel sha256 $WHEEL_SHA256).
here="\$(cd "\$(dirname "\$0")" && pwd)"
PYTHONPATH="\$here/lib\${PYTHONPATH:+:\$PYTHONPATH}" exec "$python" -c \\
    'import sys; sys.argv[0] = "componentize-py"; from componentize_py import script; script()' "\$@"
EOF
chmod 0755 "$work/new/componentize-py"
got="$("$work/new/componentize-py" --version 2>&1)" || die "the unpacked $PACKAGE does not run: $got"
[ "$got" = "$PACKAGE $VERSION" ] || die "the unpacked $PACKAGE says '$got', expected '$PACKAGE $VERSION'"
echo "$WHEEL_SHA256" >"$work/new/.wheel-sha256"

rm -rf "$dest"
mv "$work/new" "$dest"
log "installed ($PACKAGE $VERSION, $python): $launcher"
echo "$launcher"
