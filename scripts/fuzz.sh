#!/usr/bin/env bash
# make fuzz: builds every libFuzzer target with clang and runs each for FUZZ_SECONDS (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DIG_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
for t in build-fuzz/fuzz_*; do
    name=$(basename "$t")
    corpus=tests/fuzz/corpus/${name#fuzz_}
    work=build-fuzz/corpus-${name#fuzz_}
    mkdir -p "$work"
    echo "== $name for ${secs}s"
    "$t" -max_total_time="$secs" -timeout=10 "$work" "$corpus"
done
