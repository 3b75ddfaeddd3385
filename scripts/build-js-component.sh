#!/usr/bin/env bash
# build-js-component.sh — builds samples/js-http/app.js into a wasi:http/proxy component with
# componentize-js (SpiderMonkey in StarlingMonkey, pre-initialised by Wizer), and prints its path.
#
# Usage: scripts/build-js-component.sh [OUT]
#   OUT defaults to build/components/js-http.wasm (repo-relative). Progress goes to stderr, OUT's path
#   to stdout.
#
# The toolchain: @bytecodealliance/componentize-js 0.23.0 and everything it pulls in (jco, wizer, ...),
# pinned with sha512 integrity by samples/js-http/toolchain/package-lock.json and installed with
# `npm ci` into build/tools/componentize-js/ (about 400 MB). An install whose marker records the
# lockfile's sha256 and whose CLI answers the pinned version is used as is: no npm.
#
# The WIT: the wasi:http proxy world of the wasmtime-wasi-http crate the runtime is built with
# (scripts/wit-dir.sh, WASI 0.2.12). componentize-js cannot use it as is: its StarlingMonkey engine is
# compiled against one WASI 0.2 release (0.2.10 for 0.23.0) and the WIT world must name that same
# version, or wit-component fails with "failed to find export of interface
# `wasi:http/incoming-handler@0.2.12` function `handle`". So the host's WIT is copied to
# build/js-http/wit/ with its package versions set to the engine's and any `@since` newer
# than that turned into an `@unstable` gate (0.2.12's wasi:cli/exit.exit-with-code). Within 0.2 the
# interfaces the proxy world uses did not change, and the host's linker matches 0.2.10 imports and the
# 0.2.10 export to its 0.2.12 definitions (semver-compatible).
#
# Cached: OUT is rebuilt only when app.js, the lockfile, this script or the host's WIT changed (their
# digests are kept in OUT.key).
# Needs: node >= 20.19 and npm, python3 and cargo (for scripts/wit-dir.sh), sha256sum.
set -euo pipefail

PACKAGE="@bytecodealliance/componentize-js"
VERSION="0.23.0"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sample="$repo/samples/js-http"
toolchain="$sample/toolchain"
tools="$repo/build/tools/componentize-js"
cli="$tools/node_modules/.bin/componentize-js"
out="${1:-$repo/build/components/js-http.wasm}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

log() { echo "build-js-component: $*" >&2; }
die() { log "error: $*"; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

command -v node >/dev/null || die "node not found (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found (Debian: apt-get install npm)"
command -v sha256sum >/dev/null || die "sha256sum not found (Debian: coreutils)"
# oxc-parser and rolldown (dependencies of componentize-js and jco) ask for ^20.19.0 || >=22.12.0.
node -e '
const [major, minor] = process.versions.node.split(".").map(Number);
process.exit(major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19) ? 0 : 1);
' || die "node $(node --version) is too old: the toolchain needs ^20.19.0 or >= 22.12.0"

lock_sha256="$(sha256_of "$toolchain/package-lock.json")"

installed_ok() {
    [ "$(cat "$tools/.lock-sha256" 2>/dev/null)" = "$lock_sha256" ] \
        && [ -x "$cli" ] \
        && [ "$(node "$cli" --version 2>/dev/null)" = "$VERSION" ]
}

if installed_ok; then
    log "toolchain cached and verified: $PACKAGE $VERSION in $tools"
else
    mkdir -p "$(dirname "$tools")"
    # The work folder sits beside the install so the final rename is atomic.
    work="$(mktemp -d "$(dirname "$tools")/.componentize-js.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    cp "$toolchain/package.json" "$toolchain/package-lock.json" "$work/"
    log "installing $PACKAGE $VERSION with npm ci (lockfile sha256 $lock_sha256)"
    # npm ci installs exactly the lockfile's tree and checks every tarball against its sha512
    # integrity; --ignore-scripts: nothing in the tree needs an install script.
    npm ci --prefix "$work" --ignore-scripts --no-audit --no-fund --loglevel=error >&2 \
        || die "npm ci failed in $work"
    got="$(node "$work/node_modules/.bin/componentize-js" --version 2>&1)" \
        || die "the installed componentize-js does not run: $got"
    [ "$got" = "$VERSION" ] || die "the installed componentize-js says '$got', expected '$VERSION'"
    echo "$lock_sha256" >"$work/.lock-sha256"
    rm -rf "$tools"
    mv "$work" "$tools"
    trap - EXIT
    log "installed $PACKAGE $VERSION in $tools"
fi

host_wit="$(cd "$repo" && scripts/wit-dir.sh)" || die "scripts/wit-dir.sh failed"

# The build's inputs; OUT is kept while they are unchanged.
key="$(
    {
        echo "app.js $(sha256_of "$sample/app.js")"
        echo "lock $lock_sha256"
        echo "script $(sha256_of "${BASH_SOURCE[0]}")"
        echo "wit $host_wit"
        for f in "$host_wit"/world.wit "$host_wit"/deps/*.wit; do echo "wit $(sha256_of "$f")"; done
    } | sha256sum | cut -d' ' -f1
)"
if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
    log "up to date: $out"
    echo "$out"
    exit 0
fi

# The WASI 0.2 release the engine is built against: the version of the incoming-handler it exports.
engine="$tools/node_modules/$PACKAGE/lib/starlingmonkey_embedding.wasm"
[ -f "$engine" ] || die "no engine in the install: $engine"
engine_wasi="$(grep -aoE 'wasi:http/incoming-handler@0\.2\.[0-9]+' "$engine" | head -n 1 | cut -d@ -f2)"
[ -n "$engine_wasi" ] || die "cannot tell which wasi:http version $engine exports"

mkdir -p "$(dirname "$out")"
# Scratch: the derived WIT (kept, to read) and a copy of the source (removed after the build).
scratch="$repo/build/js-http"
wit="$scratch/wit"
src="$scratch/src"
rm -rf "$wit" "$src"
# The host's WIT at the engine's version (see the header); fails when the engine is newer than the
# host, whose WIT could not describe what the engine imports.
python3 - "$host_wit" "$wit" "$engine_wasi" <<'EOF' || die "cannot derive the WIT for WASI $engine_wasi"
import pathlib, re, sys

host, dest, engine = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
patch = lambda v: int(v.split(".")[2])
http = (host / "deps" / "http.wit").read_text()
host_version = re.search(r"^package wasi:http@(0\.2\.\d+);", http, re.M).group(1)
if patch(engine) > patch(host_version):
    sys.exit(f"the engine needs WASI {engine}, newer than the host's {host_version}")

def since(m):
    v = m.group(1)
    return m.group(0) if patch(v) <= patch(engine) else f"@unstable(feature = wasi-{v.replace('.', '-')})"

(dest / "deps").mkdir(parents=True)
for f in sorted((host / "deps").glob("*.wit")):
    text = re.sub(r"(\bwasi:[a-z-]+(?:/[a-z-]+)?)@0\.2\.\d+\b", rf"\1@{engine}", f.read_text())
    text = re.sub(r"@since\(version = (0\.2\.\d+)\)", since, text)
    (dest / "deps" / f.name).write_text(text)
(dest / "world.wit").write_text(
    "// Written by scripts/build-js-component.sh: the host's wasi:http proxy world at the version of\n"
    f"// componentize-js's engine ({engine}; the host serves {host_version}).\n"
    "package mod-wasm:js-http;\n\n"
    f"world proxy {{\n    include wasi:http/proxy@{engine};\n}}\n"
)
print(f"WIT: {host} (WASI {host_version}) as WASI {engine} in {dest}", file=sys.stderr)
EOF

# A folder of its own for the source: componentize-js lets the build-time engine read the source's
# folder (Wizer --mapdir), and stack traces name files relative to it.
mkdir -p "$src"
cp "$sample/app.js" "$src/app.js"
log "componentize-js $VERSION: $sample/app.js -> $out"
start=$(date +%s)
(cd "$src" && node "$cli" app.js --wit "$wit" --world-name proxy -o "$out.tmp") >&2 \
    || { rm -f "$out.tmp"; die "componentize-js failed"; }
rm -rf "$src"
mv -f "$out.tmp" "$out"
echo "$key" >"$out.key"
log "built $out ($(stat -c %s "$out") bytes) in $(($(date +%s) - start)) s"
echo "$out"
