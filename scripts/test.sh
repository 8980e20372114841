#!/usr/bin/env bash
# make test: the whole suite in a release build with -Werror, then once more under ASan+UBSan.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
start=$(date +%s)

run_suite() { # name builddir cmake-args...
    local name=$1 dir=$2
    shift 2
    echo "== $name: configure and build ($dir)"
    cmake -S . -B "$dir" "$@" >/dev/null || return 1
    cmake --build "$dir" -j "$jobs" >"$dir/build.log" 2>&1 || { tail -50 "$dir/build.log"; return 1; }
    echo "== $name: ctest"
    (cd "$dir" && ctest -j "$jobs" --output-on-failure --timeout 300) | tee "$dir/ctest.log"
    return "${PIPESTATUS[0]}"
}

summary() { # builddir -> "passed/total"
    grep -Eo '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$1/ctest.log" 2>/dev/null | tail -1
}

run_suite release build -DCMAKE_BUILD_TYPE=Release -DIG_WERROR=ON
rel=$?
run_suite asan build-asan -DCMAKE_BUILD_TYPE=Debug -DIG_WERROR=ON -DIG_SANITIZE=ON
asan=$?

elapsed=$(( $(date +%s) - start ))
echo
echo "make test summary: release: $(summary build) (rc=$rel); asan+ubsan: $(summary build-asan) (rc=$asan); ${elapsed}s"
[ "$rel" -eq 0 ] && [ "$asan" -eq 0 ]
