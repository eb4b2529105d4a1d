#!/usr/bin/env bash
# A fuzzing campaign: every target in turn for RUNS executions or SECONDS,
# whichever comes first, then its corpus minimised in place. Builds the
# targets with cargo-fuzz first (no sanitizer: the code forbids `unsafe`).
#
#   fuzz/campaign.sh [RUNS [SECONDS [TARGET...]]]    (default: 10000000 3600, every target)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain build what it asks for. Writes one line per target to
# stdout: executions, time, corpus size, and whether it found anything
# (crash inputs go to fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-10000000}"
SECONDS_MAX="${2:-3600}"
shift $(($# > 2 ? 2 : $#))
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none --features libfuzzer -O >&2
BIN=target/x86_64-unknown-linux-gnu/release
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(sed -n 's/^name = "\([a-z0-9_]*\)"$/\1/p' fuzz/Cargo.toml | grep -v softkey-fuzz)
fi
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="$(mktemp)"
    start=$(date +%s)
    status=clean
    "$BIN/$t" "fuzz/corpus/$t" -runs="$RUNS" -max_total_time="$SECONDS_MAX" \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" > "$log" 2>&1 || status=FOUND
    took=$(($(date +%s) - start))
    execs="$(awk '/stat::number_of_executed_units/ {print $2}' "$log")"
    # Minimise: keep only inputs that add coverage.
    min="$(mktemp -d)"
    "$BIN/$t" -merge=1 "$min" "fuzz/corpus/$t" > /dev/null 2>&1 || true
    if [[ -n "$(ls -A "$min")" ]]; then
        rm -rf "fuzz/corpus/$t"
        mv "$min" "fuzz/corpus/$t"
    fi
    echo "$t: ${execs:-?} executions in ${took} s, $(ls "fuzz/corpus/$t" | wc -l) corpus inputs, $status"
    [[ $status == clean ]] || tail -30 "$log" >&2
    rm -f "$log"
done
