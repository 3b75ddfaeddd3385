#!/usr/bin/env bash
# run.sh — builds every fuzz target with libFuzzer on stable Rust and runs each for SECONDS.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET...]      (default 60 s, every target)
# Exits non-zero when a build fails or a target finds a crash (a panic, i.e. a broken property);
# the crashing input is kept in fuzz/artifacts/TARGET/ and the command to replay it is printed.
#
# No nightly and no cargo-fuzz needed: coverage instrumentation uses stable `-C` flags
# (sancov-module, inline 8-bit counters, pc-table, trace-compares) and libfuzzer-sys links
# libFuzzer, built from source with the system C++ compiler (g++ or clang++).
# Overflow checks and debug assertions are on. Corpora grow in fuzz/corpus/TARGET/ (git-ignored),
# seeded from fuzz/seeds/TARGET/ (committed).
set -euo pipefail

seconds="${1:-60}"
shift || true
case "$seconds" in (*[!0-9]*|'') echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=()
    for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
# --target keeps RUSTFLAGS away from build scripts and proc macros (they must not be instrumented).
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cforce-frame-pointers=yes -Cdebug-assertions -Coverflow-checks ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="$here/target"

echo "fuzz: building ${targets[*]} (release, $host)" >&2
start=$(date +%s)
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
cargo build --locked --release --target "$host" "${bins[@]}"
echo "fuzz: build took $(( $(date +%s) - start )) s" >&2

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
    echo "fuzz: running $t for ${seconds} s" >&2
    if ! "$CARGO_TARGET_DIR/$host/release/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
        "corpus/$t" "seeds/$t" 2> "artifacts/$t/log.txt"; then
        tail -n 40 "artifacts/$t/log.txt" >&2
        echo "fuzz: $t FAILED; replay with: $CARGO_TARGET_DIR/$host/release/$t fuzz/artifacts/$t/<crash-file>" >&2
        failed+=("$t")
        continue
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "artifacts/$t/log.txt" \
        | sed "s/^/fuzz: $t: /" >&2 || true
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${seconds} s each, no crash" >&2
