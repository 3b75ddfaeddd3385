#!/usr/bin/env bash
# Builds php-cgi for wasm32-wasi from Debian's own source packages (php8.2, sqlite3) with Debian's
# clang 14 + wasi-libc, and leaves it in build/php/php-cgi.wasm (`make php` runs this).
#
#   scripts/build-php.sh            build (or take from the cache) and copy into build/php/
#   JOBS=1 scripts/build-php.sh     parallel make jobs (default 2)
#
# What it does:
#   1. adds a deb-src entry for the archives of /etc/apt/sources.list.d/debian.sources if there is none;
#   2. `apt-get source --download-only` php8.2 and sqlite3 at the versions pinned below, checks the
#      sha256 of each .dsc (dpkg-source then checks every tarball against the .dsc);
#   3. unpacks them (Debian's patches applied), applies php-wasi/php-wasi.patch (ours: bailout
#      without longjmp, Zend's allocator without mmap, php-cgi without fork/signals), builds the
#      SQLite amalgamation natively (needs tclsh) and compiles it for WASI, configures and builds
#      php-cgi with the compat headers of php-wasi/include/ and php-wasi/php_wasi_stubs.c;
#   4. keeps the result in a cache outside the repository, keyed by this script, php-wasi/ and the
#      versions: ${XDG_CACHE_HOME:-$HOME/.cache}/mod-wasm/php/<key>/php-cgi.wasm. A re-run, or a fresh
#      clone on the same machine, copies it from there and builds nothing.
set -euo pipefail

PHP_DEB_VERSION=8.2.32-1~deb12u1
PHP_DSC_SHA256=2dd58aea6324c0d6bd3da32bb1b6e2c10a9cf201c2587a7f6dd1acff7cef52fe
SQLITE_DEB_VERSION=3.40.1-2+deb12u2
SQLITE_DSC_SHA256=ee3459ae9d00939741c7708fc1b8ce1bde12d8c3fb1dfa005bbbc8651d884e23

REPO=$(cd "$(dirname "$0")/.." && pwd)
COMPAT="$REPO/php-wasi"
OUT_DIR="$REPO/build/php"
OUT="$OUT_DIR/php-cgi.wasm"
JOBS=${JOBS:-2}
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/mod-wasm/php"

key=$( { cat "$0"; find "$COMPAT" -type f | LC_ALL=C sort | xargs cat;
         echo "$PHP_DEB_VERSION $PHP_DSC_SHA256 $SQLITE_DEB_VERSION $SQLITE_DSC_SHA256";
         clang --version | head -1; dpkg-query -W -f='${Version}' wasi-libc; } | sha256sum | cut -c1-16)
CACHED="$CACHE_ROOT/$key/php-cgi.wasm"

install_out() {
    mkdir -p "$OUT_DIR"
    if ! cmp -s "$CACHED" "$OUT"; then
        cp "$CACHED" "$OUT.tmp" && mv -f "$OUT.tmp" "$OUT"
    fi
    echo "php-cgi.wasm: $OUT ($(stat -c %s "$OUT") bytes, build $key)"
}

if [ -s "$CACHED" ]; then
    install_out
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- 1. deb-src for the machine's own archives --------------------------------------------------
SRC_LIST=/etc/apt/sources.list.d/mod-wasm-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    [ -f /etc/apt/sources.list.d/debian.sources ] || { echo "build-php: no /etc/apt/sources.list.d/debian.sources to take the archives from" >&2; exit 1; }
    echo "==> adding $SRC_LIST (deb-src for the archives of debian.sources)"
    sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$SRC_LIST" >/dev/null
    $SUDO apt-get update -qq
fi

# --- 2. sources, pinned ---------------------------------------------------------------------------
SRC="$CACHE_ROOT/src"
mkdir -p "$SRC"
fetch_source() { # package version dsc-sha256
    local dsc="$SRC/${1}_${2#*:}.dsc"
    if [ ! -s "$dsc" ]; then
        echo "==> apt-get source $1=$2"
        (cd "$SRC" && apt-get source --download-only -qq "$1=$2") || {
            (cd "$SRC" && apt-get update -qq >/dev/null 2>&1 || $SUDO apt-get update -qq; apt-get source --download-only -qq "$1=$2"); }
    fi
    echo "$3  $dsc" | sha256sum -c --quiet - || { echo "build-php: $dsc does not have the sha256 this script expects" >&2; exit 1; }
}
fetch_source php8.2 "$PHP_DEB_VERSION" "$PHP_DSC_SHA256"
fetch_source sqlite3 "$SQLITE_DEB_VERSION" "$SQLITE_DSC_SHA256"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/php-wasi.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)
cd "$WORK"
# dpkg-source verifies every tarball against the (sha256-checked) .dsc and applies Debian's patches.
dpkg-source -q -x --no-check "$SRC/php8.2_${PHP_DEB_VERSION}.dsc" php >/dev/null
dpkg-source -q -x --no-check "$SRC/sqlite3_${SQLITE_DEB_VERSION}.dsc" sqlite >/dev/null
(cd php && patch -s -p1 < "$COMPAT/php-wasi.patch")

WASI_CFLAGS="--target=wasm32-wasi -O2 -isystem $COMPAT/include -include php_wasi_compat.h \
-D_WASI_EMULATED_GETPID -D_WASI_EMULATED_SIGNAL -D_WASI_EMULATED_PROCESS_CLOCKS"
WASI_LIBS="-lwasi-emulated-getpid -lwasi-emulated-signal -lwasi-emulated-process-clocks"

# --- 3a. SQLite: the amalgamation (native tclsh), compiled for WASI --------------------------------
echo "==> SQLite $SQLITE_DEB_VERSION"
(cd sqlite && ./configure -q --disable-tcl >/dev/null && make -s sqlite3.c >/dev/null)
mkdir -p sqlite-wasi/include sqlite-wasi/lib
cp sqlite/sqlite3.h sqlite-wasi/include/
# 3.40 predates SQLite's own WASI port: unix VFS with dotfile locks (mkdir), no WAL, no mmap,
# no threads, no extensions to load; temp tables in memory.
clang $WASI_CFLAGS -DSQLITE_OS_UNIX=1 -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_WAL=1 -DSQLITE_MAX_MMAP_SIZE=0 \
    -DSQLITE_OMIT_LOAD_EXTENSION=1 '-DSQLITE_DEFAULT_UNIX_VFS="unix-dotfile"' -DSQLITE_TEMP_STORE=2 \
    -DSQLITE_ENABLE_COLUMN_METADATA=1 -c sqlite/sqlite3.c -o sqlite-wasi/sqlite3.o &
clang $WASI_CFLAGS -Wall -c "$COMPAT/php_wasi_stubs.c" -o php_wasi_stubs.o
wait $! || { echo "build-php: SQLite failed to compile" >&2; exit 1; }
llvm-ar-14 rcs sqlite-wasi/lib/libsqlite3.a sqlite-wasi/sqlite3.o 2>/dev/null || ar rcs sqlite-wasi/lib/libsqlite3.a sqlite-wasi/sqlite3.o

# --- 3b. php-cgi -----------------------------------------------------------------------------------
echo "==> PHP $PHP_DEB_VERSION: configure"
cd php
./buildconf --force >/dev/null 2>&1   # Debian's patches touch configure.ac and m4 files
CC=clang CFLAGS="$WASI_CFLAGS" LDFLAGS="--target=wasm32-wasi" LIBS="$WASI_LIBS" \
SQLITE_CFLAGS="-I$WORK/sqlite-wasi/include" SQLITE_LIBS="$WORK/sqlite-wasi/lib/libsqlite3.a" \
./configure -q --host=wasm32-unknown-wasi --build="$(uname -m)-pc-linux-gnu" --prefix=/usr/local \
    --disable-all --enable-cgi --disable-cli --disable-phpdbg --without-pear --disable-rpath \
    --disable-fiber-asm --disable-zend-signals --without-valgrind --without-pcre-jit \
    --without-iconv --without-openssl --disable-phar --disable-opcache \
    --enable-ctype --enable-filter --enable-tokenizer --enable-mbstring --disable-mbregex \
    --enable-session --enable-pdo --with-pdo-sqlite --with-sqlite3 >"$WORK/configure.log" 2>&1 \
    || { tail -20 "$WORK/configure.log" >&2; echo "build-php: configure failed" >&2; exit 1; }
echo "==> PHP: make -j$JOBS cgi"
# 8 MiB of stack, placed first so an overflow traps instead of overwriting data.
# The stubs and SQLite go after PHP's objects (EXTRA_LIBS), so the archive resolves what they use.
make -s -j"$JOBS" cgi EXTRA_LDFLAGS_PROGRAM="-Wl,-z,stack-size=8388608 -Wl,--stack-first" \
    EXTRA_LIBS="-lm $WASI_LIBS $WORK/php_wasi_stubs.o $WORK/sqlite-wasi/lib/libsqlite3.a" \
    >"$WORK/make.log" 2>&1 || { grep -E 'error|undefined' "$WORK/make.log" | head -40 >&2; echo "build-php: make failed" >&2; exit 1; }

mkdir -p "$CACHE_ROOT/$key"
cp sapi/cgi/php-cgi "$CACHED.tmp" && mv -f "$CACHED.tmp" "$CACHED"
echo "==> built in $(( $(date +%s) - start )) s"
install_out
