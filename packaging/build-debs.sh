#!/usr/bin/env bash
# build-debs.sh — builds the two Debian packages from artefacts `make` already built:
#
#   libapache2-mod-wasm  mod_wasm.so (linked with RUNPATH /usr/lib/mod-wasm), libwasm_runtime.so in
#                        that private folder, mods-available/wasm.{load,conf}, conf-available/
#                        wasm-status.conf, maintainer scripts (apache2-maintscript-helper), the C header
#   mod-wasm             the CLI, its manual pages (clap_mangen), shell completions, the templates
#
# Usage (the Makefile's `deb` target runs it):
#   packaging/build-debs.sh --target-dir target/release --mod-wasm-so build/pkg/mod_wasm.so --out build/deb
#
# Plain dpkg-deb with a control tree written here: no debhelper, no second build. Dependencies on
# shared libraries come from dpkg-shlibdeps, the Apache module ABI from the ap_mmn.h we compiled
# against. Versions come from the workspace's Cargo.toml; packaging/changelog must have an entry for
# it. Files are stripped, owned by root, dated from the last commit (SOURCE_DATE_EPOCH).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
target_dir="" mod_wasm_so="" out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --target-dir) target_dir="$2"; shift 2 ;;
        --mod-wasm-so) mod_wasm_so="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "build-debs: unknown argument $1" >&2; exit 2 ;;
    esac
done
die() { echo "build-debs: error: $*" >&2; exit 1; }
[ -n "$target_dir" ] && [ -n "$mod_wasm_so" ] && [ -n "$out" ] \
    || die "usage: $0 --target-dir DIR --mod-wasm-so FILE --out DIR"
target_dir="$(realpath -m "$target_dir")" mod_wasm_so="$(realpath -m "$mod_wasm_so")" out="$(realpath -m "$out")"
for f in "$target_dir/libwasm_runtime.so" "$target_dir/mod-wasm" "$mod_wasm_so"; do
    [ -f "$f" ] || die "$f is missing (run make first)"
done
for tool in dpkg-deb dpkg-shlibdeps fakeroot strip gzip; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: dpkg-dev, fakeroot, binutils)"
done

RUNTIME_DIR=/usr/lib/mod-wasm
MAINTAINER="${DEB_MAINTAINER:-Seed c417feae maintainers <maintainers@users.noreply.r-seed-c417feae.example>}"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")"
[ -n "$version" ] || die "no [workspace.package] version in Cargo.toml"
changelog_version="$(sed -n '1s/^mod-wasm (\([^)]*\)).*/\1/p' "$here/changelog")"
[ "$changelog_version" = "$version" ] \
    || die "packaging/changelog's first entry is $changelog_version, the workspace is $version: add an entry"
arch="$(dpkg --print-architecture)"
mmn="$(sed -n 's/^#define MODULE_MAGIC_NUMBER_MAJOR \([0-9]*\).*/\1/p' /usr/include/apache2/ap_mmn.h)"
[ -n "$mmn" ] || die "cannot read MODULE_MAGIC_NUMBER_MAJOR from /usr/include/apache2/ap_mmn.h (apache2-dev)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"

# A private staging folder, and each .deb written under a temporary name then renamed: two runs at
# once (two checkouts' tests on one machine) never mix their files or leave a half-written package.
mkdir -p "$out"
stage="$(mktemp -d "$out/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# install MODE SRC DEST (DEST relative to the package root)
put() { install -D -m "$1" "$2" "$root/$3"; }
# Debian's dh_strip options: shared objects lose unneeded symbols, executables every symbol.
strip_so() { strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/$1"; }
strip_exe() { strip --remove-section=.comment --remove-section=.note "$root/$1"; }
doc() {
    local pkg="$1"
    put 0644 "$here/copyright" "usr/share/doc/$pkg/copyright"
    # A native package's Debian changelog is changelog.gz (no .Debian).
    install -d "$root/usr/share/doc/$pkg"
    gzip -9nc "$here/changelog" > "$root/usr/share/doc/$pkg/changelog.gz"
    put 0644 "$here/$pkg/README.Debian" "usr/share/doc/$pkg/README.Debian"
    if [ -f "$here/$pkg/lintian-overrides" ]; then
        put 0644 "$here/$pkg/lintian-overrides" "usr/share/lintian/overrides/$pkg"
    fi
}
# shlibs DEPENDENCIES of the ELF files given (paths relative to the package root)
shlibs() {
    local files=() f
    for f in "$@"; do files+=("$root/$f"); done
    # dpkg-shlibdeps wants a debian/control; it only needs to exist.
    local work; work="$(mktemp -d)"
    mkdir -p "$work/debian"
    : > "$work/debian/control"
    local deps
    deps="$(cd "$work" && dpkg-shlibdeps -O --warnings=2 -l"$root$RUNTIME_DIR" --ignore-missing-info "${files[@]}" \
        | sed -n 's/^shlibs:Depends=//p')"
    rm -rf "$work"
    [ -n "$deps" ] || die "dpkg-shlibdeps found no dependencies for $*"
    echo "$deps"
}
# finish PACKAGE: md5sums, conffiles, control, then the .deb
finish() {
    local pkg="$1" control="$2"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
        | xargs -0r md5sum) > "$root/DEBIAN/md5sums"
    local size; size="$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)"
    printf '%s' "$control" | sed "s/@SIZE@/$size/" > "$root/DEBIAN/control"
    chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
    find "$root" -type d -exec chmod 0755 {} +
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    local deb="$out/${pkg}_${version}_${arch}.deb"
    fakeroot dpkg-deb -Zxz --root-owner-group --build "$root" "$stage/$pkg.deb" >/dev/null
    mv -f "$stage/$pkg.deb" "$deb"
    # Packages of other versions would be taken for this build's.
    find "$out" -maxdepth 1 -name "${pkg}_*.deb" ! -name "$(basename "$deb")" -delete
    echo "$deb"
}

# ---- libapache2-mod-wasm ------------------------------------------------------------------------
pkg=libapache2-mod-wasm
root="$stage/$pkg"
mkdir -p "$root/DEBIAN"
put 0644 "$mod_wasm_so" usr/lib/apache2/modules/mod_wasm.so
put 0644 "$target_dir/libwasm_runtime.so" "${RUNTIME_DIR#/}/libwasm_runtime.so"
strip_so usr/lib/apache2/modules/mod_wasm.so
strip_so "${RUNTIME_DIR#/}/libwasm_runtime.so"
runpath="$(readelf -d "$root/usr/lib/apache2/modules/mod_wasm.so" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')"
[ "$runpath" = "$RUNTIME_DIR" ] || die "$mod_wasm_so has RUNPATH '$runpath', expected $RUNTIME_DIR (link it with -Wl,-Wl,-rpath,$RUNTIME_DIR)"
put 0644 "$here/$pkg/wasm.load" etc/apache2/mods-available/wasm.load
put 0644 "$here/$pkg/wasm.conf" etc/apache2/mods-available/wasm.conf
put 0644 "$here/$pkg/wasm-status.conf" etc/apache2/conf-available/wasm-status.conf
put 0644 "$repo/runtime/include/wasm_runtime.h" usr/include/mod-wasm/wasm_runtime.h
doc "$pkg"
for script in postinst prerm postrm; do
    put 0755 "$here/$pkg/$script" "DEBIAN/$script"
done
(cd "$root" && find etc -type f | LC_ALL=C sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"
deps="$(shlibs usr/lib/apache2/modules/mod_wasm.so "${RUNTIME_DIR#/}/libwasm_runtime.so")"
finish "$pkg" "Package: $pkg
Source: mod-wasm
Version: $version
Architecture: $arch
Maintainer: $MAINTAINER
Installed-Size: @SIZE@
Depends: $deps, apache2-api-$mmn, apache2-bin (>= 2.4.16)
Suggests: mod-wasm
Section: httpd
Priority: optional
Description: Apache module serving WebAssembly (WASI) programs
 mod_wasm runs WebAssembly modules (WASI preview 1 commands, such as C
 compiled with clang or CPython built for WASI) as HTTP endpoints of the
 Apache HTTP Server. Every request gets a fresh, sandboxed instance of a
 module compiled once at start-up: the request body is its stdin, its stdout
 is the response (CGI headers allowed), its stderr goes to the error log.
 .
 Time, memory and output limits end only the request that exceeds them; a
 module reaches only the folders its location maps. The engine (Wasmtime)
 is a private library of the module. The /wasm-status page is enabled for
 this machine only.
"

# ---- mod-wasm ---------------------------------------------------------------------------------
pkg=mod-wasm
root="$stage/$pkg"
mkdir -p "$root/DEBIAN"
put 0755 "$target_dir/mod-wasm" usr/bin/mod-wasm
strip_exe usr/bin/mod-wasm
cli="$root/usr/bin/mod-wasm"
man="$root/usr/share/man/man1"
"$cli" man --out "$man"
gzip -9n "$man"/*.1
chmod 0644 "$man"/*.gz
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
"$cli" completions bash > "$root/usr/share/bash-completion/completions/mod-wasm"
"$cli" completions zsh > "$root/usr/share/zsh/vendor-completions/_mod-wasm"
"$cli" completions fish > "$root/usr/share/fish/vendor_completions.d/mod-wasm.fish"
chmod 0644 "$root/usr/share/bash-completion/completions/mod-wasm" \
    "$root/usr/share/zsh/vendor-completions/_mod-wasm" "$root/usr/share/fish/vendor_completions.d/mod-wasm.fish"
for t in "$repo"/templates/*.j2; do
    put 0644 "$t" "usr/share/mod-wasm/templates/$(basename "$t")"
done
doc "$pkg"
deps="$(shlibs usr/bin/mod-wasm)"
finish "$pkg" "Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $MAINTAINER
Installed-Size: @SIZE@
Depends: ${deps}
Recommends: apache2, libapache2-mod-wasm (= $version)
Section: httpd
Priority: optional
Description: deploy WebAssembly endpoints to Apache httpd from a KDL manifest
 mod-wasm reads an app manifest (KDL) naming WebAssembly modules, local files
 or OCI registry artifacts pinned by digest, and the URL routes that run
 them. It precompiles every module with the very engine settings of
 libapache2-mod-wasm and writes a bundle plus a wasm.conf to Include from
 the Apache configuration; \"mod-wasm up\" serves an app with a private
 Apache in the foreground.
 .
 Manifest errors are reported with their line and column. Also: pushing and
 pulling modules to and from OCI registries, shell completions, and the
 configuration templates it renders.
"
