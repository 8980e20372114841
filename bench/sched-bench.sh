#!/bin/sh
# Builds and runs the scheduler micro-benchmarks (bench/sched-parse.c, bench/sched-pick.c) against
# a Release build of ig_sched in build-sched-rel. Usage: bench/sched-bench.sh [scale]
set -eu
cd "$(dirname "$0")/.."
B=build-sched-rel
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" --target ig_sched -j"$(nproc)" >/dev/null
LIBS="$B/libig_sched.a $B/libig_config.a $B/libig_core.a -lyaml -lxxhash -lm -lpthread"
cc -O2 -Iinclude -D_GNU_SOURCE bench/sched-parse.c $LIBS -ljansson -o "$B/sched-parse"
cc -O2 -Iinclude -D_GNU_SOURCE bench/sched-pick.c $LIBS -o "$B/sched-pick"
"$B/sched-parse" "${1:-1}"
"$B/sched-pick" "$((20000 * ${1:-1}))"
