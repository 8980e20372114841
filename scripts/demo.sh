#!/usr/bin/env bash
# make demo: installs what the demo needs (scripts/deps.sh), builds the infergate binary and runs
# `infergate demo` (src/bench/demo.c): the same shared-prefix workload through a plain round-robin
# route and through inference routing over four simulator replicas, side by side, with the plot.
# See docs/demo.md.
#
# Arguments are passed to `infergate demo` (`scripts/demo.sh --help` lists them); its DEMO_*
# environment variables work here too. BUILD (default build) is the build directory; IG_BIN, when
# set, names a binary to run instead and skips the setup and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
if [ -z "${IG_BIN:-}" ]; then
    scripts/deps.sh
    if [ ! -f "$BUILD/CMakeCache.txt" ]; then
        echo "demo: configuring $BUILD (Release)"
        cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DIG_WERROR=ON >/dev/null
    fi
    # quiet when up to date; the compiler's output only when the build fails
    mkdir -p "$BUILD"
    if ! cmake --build "$BUILD" --target infergate -j "$(nproc)" >"$BUILD/demo-build.log" 2>&1; then
        echo "demo: FAILED: building infergate; the end of $BUILD/demo-build.log:" >&2
        tail -n 40 "$BUILD/demo-build.log" >&2
        exit 1
    fi
    IG_BIN=$BUILD/infergate
fi
exec "$IG_BIN" demo "$@"
