#!/usr/bin/env bash
# wit-dir.sh — prints the `wit` folder of the wasmtime-wasi-http crate source the workspace depends
# on (48.0.8, the runtime's wasi:http host): world.wit plus deps/ with wasi:http@0.2.x, cli, io,
# clocks, random, filesystem and sockets. componentize-py builds the Python components against it
# (`componentize-py -d "$(scripts/wit-dir.sh)" -w wasi:http/proxy ...`), so a guest is written for
# exactly the WIT its host serves, and nothing is downloaded besides what cargo already fetches.
#
# Usage: scripts/wit-dir.sh        (from anywhere; the folder's path goes to stdout)
# The crate is found with `cargo metadata` at the workspace root; when cargo has not unpacked its
# source yet, `cargo fetch` does, once. Needs: cargo, python3.
set -euo pipefail

CRATE="wasmtime-wasi-http"
VERSION="48.0.8"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "wit-dir: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The crate's folder (from its manifest_path) as cargo metadata reports it; empty when the resolved
# workspace has no such package.
crate_dir() {
    (cd "$repo" && cargo metadata --format-version 1 --quiet) | python3 -c '
import json, os, sys
name, version = sys.argv[1], sys.argv[2]
for package in json.load(sys.stdin)["packages"]:
    if package["name"] == name and package["version"] == version:
        print(os.path.dirname(package["manifest_path"]))
        break
' "$CRATE" "$VERSION"
}

dir="$(crate_dir)" || die "cargo metadata failed in $repo"
[ -n "$dir" ] || die "the workspace does not depend on $CRATE $VERSION (see Cargo.toml)"
if [ ! -f "$dir/wit/world.wit" ]; then
    log "$dir is not unpacked yet: cargo fetch"
    (cd "$repo" && cargo fetch --quiet) >&2 || die "cargo fetch failed"
fi
[ -f "$dir/wit/world.wit" ] && [ -d "$dir/wit/deps" ] || die "no wit/world.wit and wit/deps in $dir"
echo "$dir/wit"
