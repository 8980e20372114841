# shellcheck shell=bash
# Shared helpers of the integration tests (sourced, never run). Every test:
#   - gets the binary in $IG_BIN and the repository root in $IG_ROOT (cmake/tests.cmake);
#   - runs servers on 127.0.0.1 on free ephemeral ports;
#   - is bounded in time: a watchdog ends the test after IG_TEST_TIMEOUT seconds (default 120),
#     and every client call has its own timeout;
#   - kills every process it started when it exits, however it exits (EXIT trap).
# JSON is checked with python3 ("$PY"; jq is not a dependency).

set -uo pipefail

: "${IG_BIN:?IG_BIN must point at the infergate binary}"
: "${IG_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

# The system interpreter: a version-manager shim on PATH can cost a second per start.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

IG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ig-test.XXXXXX")
IG_PIDS=()
IG_TEST_NAME=$(basename "$0" .sh)

ig_cleanup() {
    local pid
    for pid in "${IG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${IG_PIDS[@]}"; do
        # a drained simulator exits at once; anything still there after 3 s is killed
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$IG_TMP"
}
trap ig_cleanup EXIT

# Watchdog: the whole test ends after IG_TEST_TIMEOUT seconds. A TERM from ig_cleanup stops its
# sleep too, so nothing outlives the test holding its output open.
trap 'exit 124' TERM INT
(
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "${IG_TEST_TIMEOUT:-120}" &
    sp=$!
    wait "$sp"
    echo "$IG_TEST_NAME: FAIL: timed out after ${IG_TEST_TIMEOUT:-120}s" >&2
    kill -TERM $$ 2>/dev/null
) &
IG_PIDS+=($!)

IG_FAILS=0
IG_CHECKS=0

# fail MESSAGE: records a failed check (the test goes on, and exits 1 at the end).
fail() {
    echo "$IG_TEST_NAME: FAIL: $*" >&2
    IG_FAILS=$((IG_FAILS + 1))
}

# die MESSAGE: a failure the rest of the test cannot survive.
die() {
    echo "$IG_TEST_NAME: FAIL: $*" >&2
    if [ -n "${SIM_LOG:-}" ] && [ -f "$SIM_LOG" ]; then
        echo "--- last lines of $SIM_LOG:" >&2
        tail -20 "$SIM_LOG" >&2
    fi
    exit 1
}

# check DESCRIPTION COMMAND...: runs COMMAND; a non-zero status is a failed check.
check() {
    local what=$1
    shift
    IG_CHECKS=$((IG_CHECKS + 1))
    if "$@"; then
        return 0
    fi
    fail "$what"
    return 1
}

# finish: prints the summary and exits with the test's status.
finish() {
    if [ "$IG_FAILS" -ne 0 ]; then
        echo "$IG_TEST_NAME: $IG_FAILS of $IG_CHECKS checks failed" >&2
        exit 1
    fi
    echo "$IG_TEST_NAME: all $IG_CHECKS checks passed"
    exit 0
}

# free_port: prints a TCP port that was free a moment ago.
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [SECONDS]: waits until URL answers 200.
wait_http() {
    local url=$1 deadline=$((SECONDS + ${2:-10}))
    while [ $SECONDS -lt $deadline ]; do
        if [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url")" = 200 ]; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# sim_start [FLAGS...]: starts `infergate sim` on a free port with FLAGS (--model defaults to
# "sim-model" unless given). Sets SIM_PORT, SIM_PID, SIM_LOG, SIM_URL. Retries with another port
# if the chosen one was taken in between.
sim_start() {
    local attempt args=("$@")
    case " $* " in *" --model "*) ;; *) args+=(--model sim-model) ;; esac
    for attempt in 1 2 3; do
        SIM_PORT=$(free_port)
        SIM_LOG="$IG_TMP/sim-$SIM_PORT.log"
        SIM_URL="http://127.0.0.1:$SIM_PORT"
        # timeout(1) passes signals on and bounds the server's life even if this shell is killed
        timeout --foreground -k 5 "${IG_TEST_TIMEOUT:-120}" \
            "$IG_BIN" sim --host 127.0.0.1 --port "$SIM_PORT" "${args[@]}" >"$SIM_LOG" 2>&1 &
        SIM_PID=$!
        IG_PIDS+=("$SIM_PID")
        if wait_http "$SIM_URL/health" 10; then
            return 0
        fi
        kill -KILL "$SIM_PID" 2>/dev/null
        echo "$IG_TEST_NAME: sim did not start on port $SIM_PORT (attempt $attempt):" >&2
        tail -5 "$SIM_LOG" >&2
    done
    die "cannot start infergate sim"
}

# sim_stop PID: SIGTERM, then expects a clean exit (status 0) within 10 s.
sim_stop() {
    local pid=$1 rc
    kill -TERM "$pid" 2>/dev/null || return 1
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        echo "$IG_TEST_NAME: process $pid did not exit after SIGTERM" >&2
        return 1
    fi
    wait "$pid"
    rc=$?
    [ "$rc" -eq 0 ] || echo "$IG_TEST_NAME: process $pid exited with status $rc" >&2
    [ "$rc" -eq 0 ]
}

# pycheck SCRIPT [ARGS...]: runs a python3 snippet (sys.argv[1:] = ARGS); an assert or exception fails it.
pycheck() {
    local script=$1
    shift
    "$PY" -c "import json, sys
$script" "$@"
}

# post PATH JSON OUTFILE [CURL ARGS...]: POSTs JSON to the sim, body to OUTFILE; prints the status.
post() {
    local path=$1 body=$2 out=$3
    shift 3
    curl -sS -m 20 -o "$out" -w '%{http_code}' -H 'content-type: application/json' --data-binary "$body" "$@" \
        "$SIM_URL$path"
}

# metric NAME_WITH_LABELS: prints the value of the first sample whose line starts with it.
metric() {
    local page
    page=$(curl -sS -m 5 "$SIM_URL/metrics") || return 1
    awk -v k="$1" 'index($0, k) == 1 { print $NF; exit }' <<<"$page"
}

# gateway_start CONFIG LOG [NAME]: starts `infergate gateway -f CONFIG` (output in LOG, its life
# bounded by the test's timeout) and waits up to 10 s for its ready line, else dies saying NAME
# (default "gateway") did not start. Sets GW_PID. Variables assigned on the call
# (ADMIN_ADDR=off gateway_start ...) reach the gateway's environment.
gateway_start() {
    timeout --foreground -k 5 "${IG_TEST_TIMEOUT:-120}" "$IG_BIN" gateway -f "$1" >"$2" 2>&1 &
    GW_PID=$!
    IG_PIDS+=("$GW_PID")
    for _ in $(seq 200); do grep -qs 'ready:' "$2" && return 0; sleep 0.05; done
    die "${3:-gateway} did not start: $(cat "$2")"
}

# ops_config_head STATS_PORT READY_PORT: the `config:` block of a test gateway with the admin port
# off, stats and readiness on the given loopback ports, and two workers.
ops_config_head() {
    printf 'config:\n  adminAddr: "off"\n  statsAddr: 127.0.0.1:%s\n  readinessAddr: 127.0.0.1:%s\n  workerThreads: 2\n' \
        "$1" "$2"
}

# gateway_start_ready CONFIG LOG READY_PORT: starts the gateway itself (GW_PID is its own pid, for
# RSS and exit-status checks) and waits for its readiness port.
gateway_start_ready() {
    "$IG_BIN" gateway -f "$1" >"$2" 2>&1 &
    GW_PID=$!
    IG_PIDS+=("$GW_PID")
    wait_http "http://127.0.0.1:$3/healthz/ready" 10 || { cat "$2" >&2; die "gateway not ready"; }
}

# The standalone inferenceRouting configuration exactly as agentgateway documents it (the unit tests
# load the same file).
IG_SEED="$IG_ROOT/tests/unit/config/data/seed.yaml"

# seed_config OUT GATEWAY_PORT PICKER_PORT [LABEL]: writes to OUT the documented configuration
# ($IG_SEED) with only its two ports changed, bind 8081 to GATEWAY_PORT and endpoint picker 9002 to
# PICKER_PORT, and checks (a check of the test, named after LABEL when given) that nothing else differs.
seed_config() {
    sed -e "s/^- port: 8081$/- port: $2/" -e "s/host: 127.0.0.1:9002$/host: 127.0.0.1:$3/" "$IG_SEED" >"$1"
    check "${4:+$4: }only the two ports differ from the documented configuration" \
        [ "$(diff "$IG_SEED" "$1" | grep -c '^[<>]')" = 4 ]
}
