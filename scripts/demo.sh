#!/usr/bin/env bash
# make demo: the same shared-prefix workload twice on one machine, through a plain gateway route
# that spreads requests over four simulator replicas at random (round-robin arm), then through
# agentgateway's standalone-EPP configuration with `infergate epp` choosing the replica
# (inference-routing arm). Prints the two arms side by side and writes the plot. See docs/demo.md.
#
# Every process it starts is stopped on exit, on failure and on Ctrl-C. A component that fails is
# named and the tail of its log is shown. Tunables (environment): DEMO_OUT (output directory),
# DEMO_RATES (bench --rates of each arm), DEMO_SIM_BASE_PORT (first of four simulator ports),
# DEMO_RR_PORT (the round-robin gateway's port), BUILD (the build directory holding infergate).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BIN=${IG_BIN:-${BUILD:-build}/infergate}
OUT=${DEMO_OUT:-${BUILD:-build}/demo}
RATES=${DEMO_RATES:-4:20s,8:20s}
SIM_BASE=${DEMO_SIM_BASE_PORT:-8001}
RR_PORT=${DEMO_RR_PORT:-8082}
IR_PORT=8081 # fixed by the standalone configuration below
EPP_PORT=9002 # idem (endpointPicker.host)
EPP_HEALTH_PORT=${DEMO_EPP_HEALTH_PORT:-9003}
EPP_METRICS_PORT=${DEMO_EPP_METRICS_PORT:-9090}
RR_READY_PORT=${DEMO_RR_READY_PORT:-15121}
IR_READY_PORT=${DEMO_IR_READY_PORT:-15122}
MODEL=demo-model

# The simulated model server: prefill is expensive (a 2000-token prefix costs 400 ms to compute)
# and each replica's KV cache holds about three of the eight shared prefixes, so the four replicas
# together hold them all but one replica alone does not. Where a request lands then decides
# whether its prefix is computed again. docs/demo.md explains the choice.
SIM_FLAGS=(--model "$MODEL" --kv-cache-blocks 400 --block-size 16 --prefill-ms-per-token 0.2
    --prefill-overhead-ms 2 --decode-ms 5 --decode-ms-per-seq 0.1 --max-num-seqs 64)
# inference-perf's shared_prefix workload: 8 groups ("customers") of 2000-token system prompts,
# 100-token questions, 32 output tokens.
WORKLOAD=(--workload shared_prefix --num-groups 8 --prompts-per-group 32 --system-prompt-len 2000
    --question-len 100 --output-len 32 --seed 7 --model "$MODEL" --timeout 60s)

SIM_PORTS=()
for i in 0 1 2 3; do SIM_PORTS+=($((SIM_BASE + i))); done
ENDPOINTS=$(printf '127.0.0.1:%s,' "${SIM_PORTS[@]}")
ENDPOINTS=${ENDPOINTS%,}

# agentgateway's standalone-EPP configuration, exactly as published: the route backend is a
# synthetic service and the EPP (which discovers the replicas itself) returns the destination.
STANDALONE_CONFIG='services:
- name: my-model
  namespace: default
  hostname: my-model
  vips: []
  ports:
    8000: 8000

binds:
- port: 8081
  listeners:
  - routes:
    - backends:
      - service:
          name: default/my-model
          port: 8000
        policies:
          inferenceRouting:
            endpointPicker:
              host: 127.0.0.1:9002
            destinationMode: passthrough'

# ---- process bookkeeping -----------------------------------------------------------------------
NAMES=() # component name per started process
PIDS=()
LOGS=()

say() { printf 'demo: %s\n' "$*"; }

stop_all() {
    local i pid deadline
    for i in "${!PIDS[@]}"; do
        kill -TERM "${PIDS[$i]}" 2>/dev/null
    done
    deadline=$((SECONDS + 5))
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    NAMES=()
    PIDS=()
    LOGS=()
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    exit "$rc"
}
trap on_exit EXIT
trap 'echo; say "interrupted; stopping everything"; exit 130' INT TERM

show_log() { # name log
    echo "---- last lines of $2 ($1) ----" >&2
    tail -n 25 "$2" >&2
    echo "----" >&2
}

fail_component() { # index message
    say "FAILED: ${NAMES[$1]}: $2" >&2
    show_log "${NAMES[$1]}" "${LOGS[$1]}"
    exit 1
}

start() { # name command...
    local name=$1 log="$OUT/logs/$1.log"
    shift
    "$@" >"$log" 2>&1 &
    NAMES+=("$name")
    PIDS+=($!)
    LOGS+=("$log")
}

# Fails naming the first started component that is no longer running.
check_alive() {
    local i
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            wait "${PIDS[$i]}" 2>/dev/null
            fail_component "$i" "exited unexpectedly (status $?)"
        fi
    done
}

port_busy() { # port: something accepts connections on 127.0.0.1:port
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_http() { # index url: until the URL answers 200 within 10 s, the process staying alive
    local i=$1 url=$2 deadline=$((SECONDS + 10))
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "${PIDS[$i]}" 2>/dev/null || {
            wait "${PIDS[$i]}" 2>/dev/null
            fail_component "$i" "exited during start-up (status $?)"
        }
        curl -s -o /dev/null -m 2 -f "$url" && return 0
        sleep 0.1
    done
    fail_component "$i" "not ready after 10 s ($url)"
}

wait_port() { # index port
    local i=$1 port=$2 deadline=$((SECONDS + 10))
    while [ $SECONDS -lt $deadline ]; do
        kill -0 "${PIDS[$i]}" 2>/dev/null || {
            wait "${PIDS[$i]}" 2>/dev/null
            fail_component "$i" "exited during start-up (status $?)"
        }
        port_busy "$port" && return 0
        sleep 0.1
    done
    fail_component "$i" "not listening on port $port after 10 s"
}

start_sims() {
    local i
    for i in 0 1 2 3; do
        start "sim-$((i + 1))" "$BIN" sim "${SIM_FLAGS[@]}" --port "${SIM_PORTS[$i]}" --id "sim-$((i + 1))"
    done
    for i in 0 1 2 3; do
        wait_http "$i" "http://127.0.0.1:${SIM_PORTS[$i]}/health"
    done
}

# One request through a gateway before measuring: names the failing piece instead of a table of
# errors. Prints the answer's status line and body on failure.
smoke() { # arm url gateway-index
    local arm=$1 url=$2 gw=$3 body status
    body=$(curl -s -m 10 -o - -w '\n%{http_code}' "$url/v1/completions" -H 'content-type: application/json' \
        -d "{\"model\":\"$MODEL\",\"prompt\":\"hello\",\"max_tokens\":2}")
    status=${body##*$'\n'}
    body=${body%$'\n'*}
    [ "$status" = 200 ] && return 0
    check_alive
    if [ "$status" = 503 ] && [[ $body == *"inferenceRouting is not available"* ]]; then
        say "FAILED: $arm: this build of infergate gateway does not implement inferenceRouting yet;" >&2
        say "the gateway answered 503 \"$body\". No inference-routing result can be shown." >&2
        exit 1
    fi
    say "FAILED: $arm: a test request through $url answered HTTP ${status:-none}: $body" >&2
    show_log "${NAMES[$gw]}" "${LOGS[$gw]}"
    exit 1
}

run_bench() { # arm label url json
    local arm=$1 label=$2 url=$3 json=$4 rc log="$OUT/logs/bench-$2.log"
    say "$arm: shared-prefix load at rates $RATES (req/s:duration) through $url"
    # The table goes to the log (the merged one is printed at the end); the progress line, every
    # 5 s, to both the terminal and the log.
    "$BIN" bench --url "$url" "${WORKLOAD[@]}" --rates "$RATES" --label "$label" --json "$json" \
        >"$log" 2> >(tee -a "$OUT/logs/bench-$label.err" >&2) &
    local bpid=$!
    # Watch the fleet while the load runs: a component that dies is reported at once.
    while kill -0 "$bpid" 2>/dev/null; do
        sleep 0.5
        if ! kill -0 "$bpid" 2>/dev/null; then break; fi
        local i
        for i in "${!PIDS[@]}"; do
            if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
                kill -INT "$bpid" 2>/dev/null
                wait "$bpid" 2>/dev/null
                check_alive
            fi
        done
    done
    wait "$bpid"
    rc=$?
    if [ $rc -ne 0 ]; then
        say "FAILED: infergate bench ($arm) exited with status $rc" >&2
        show_log "bench $label" "$OUT/logs/bench-$label.err"
        check_alive
        exit 1
    fi
    check_alive
    grep -E "^ *$label " "$log" | sed 's/^/    /'
}

# ---- preflight ----------------------------------------------------------------------------------
if [ ! -x "$BIN" ]; then
    say "FAILED: $BIN not found; run \`make build\` (make demo does) or set BUILD=<build dir>" >&2
    exit 1
fi
for tool in curl node; do
    command -v "$tool" >/dev/null 2>&1 || {
        say "FAILED: $tool is required; run \`make deps\`" >&2
        exit 1
    }
done
busy=()
for p in "${SIM_PORTS[@]}" "$RR_PORT" "$IR_PORT" "$EPP_PORT" "$EPP_HEALTH_PORT" "$EPP_METRICS_PORT" \
    "$RR_READY_PORT" "$IR_READY_PORT"; do
    port_busy "$p" && busy+=("$p")
done
if [ ${#busy[@]} -gt 0 ]; then
    say "FAILED: port(s) ${busy[*]} already in use on 127.0.0.1; the demo needs them free" >&2
    say "(simulators ${SIM_PORTS[*]}, round-robin gateway $RR_PORT, inference gateway $IR_PORT," \
        "EPP $EPP_PORT/$EPP_HEALTH_PORT/$EPP_METRICS_PORT, gateway readiness $RR_READY_PORT/$IR_READY_PORT)" >&2
    exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT/logs"

# The round-robin arm's gateway: one route, four host backends of equal weight. The gateway picks
# a backend by weight at random per request, which with respect to prefix reuse is what a
# round-robin Service does: every replica sees every prefix.
RR_CONFIG="$OUT/round-robin.yaml"
{
    echo "binds:"
    echo "- port: $RR_PORT"
    echo "  listeners:"
    echo "  - routes:"
    echo "    - backends:"
    for p in "${SIM_PORTS[@]}"; do
        echo "      - host: 127.0.0.1:$p"
        echo "        weight: 1"
    done
} >"$RR_CONFIG"
IR_CONFIG="$OUT/standalone-epp.yaml"
printf '%s\n' "$STANDALONE_CONFIG" >"$IR_CONFIG"
"$BIN" gateway -f "$RR_CONFIG" --validate-only >/dev/null || { say "FAILED: $RR_CONFIG does not load" >&2; exit 1; }
"$BIN" gateway -f "$IR_CONFIG" --validate-only >/dev/null || { say "FAILED: $IR_CONFIG does not load" >&2; exit 1; }

t0=$SECONDS
say "four simulator replicas on ports ${SIM_PORTS[*]} (logs and results in $OUT)"

# ---- arm 1: round robin -------------------------------------------------------------------------
start_sims
ADMIN_ADDR=off STATS_ADDR=off READINESS_ADDR=127.0.0.1:$RR_READY_PORT \
    start gateway-round-robin "$BIN" gateway -f "$RR_CONFIG"
wait_http 4 "http://127.0.0.1:$RR_READY_PORT/healthz/ready"
smoke round-robin "http://127.0.0.1:$RR_PORT" 4
run_bench round-robin round-robin "http://127.0.0.1:$RR_PORT" "$OUT/round-robin.json"
stop_all # fresh simulators (empty caches) for the second arm

# ---- arm 2: inference routing -------------------------------------------------------------------
start_sims
start epp "$BIN" epp --endpoints "$ENDPOINTS" --secure-serving=false --grpc-port "$EPP_PORT" \
    --grpc-health-port "$EPP_HEALTH_PORT" --metrics-port "$EPP_METRICS_PORT"
wait_port 4 "$EPP_PORT"
ADMIN_ADDR=off STATS_ADDR=off READINESS_ADDR=127.0.0.1:$IR_READY_PORT \
    start gateway-inference "$BIN" gateway -f "$IR_CONFIG"
wait_http 5 "http://127.0.0.1:$IR_READY_PORT/healthz/ready"
sleep 0.5 # let the EPP scrape every replica once
smoke inference-routing "http://127.0.0.1:$IR_PORT" 5
run_bench inference-routing inference-routing "http://127.0.0.1:$IR_PORT" "$OUT/inference-routing.json"
stop_all

# ---- side by side -------------------------------------------------------------------------------
echo
"$BIN" bench --merge "$OUT/round-robin.json,$OUT/inference-routing.json" --csv "$OUT/demo.csv" \
    --plot "$OUT/demo" >"$OUT/merged.txt" 2>"$OUT/logs/merge.log" || {
    say "FAILED: infergate bench --merge" >&2
    show_log "bench --merge" "$OUT/logs/merge.log"
    exit 1
}
cat "$OUT/merged.txt"
echo
node - "$OUT/round-robin.json" "$OUT/inference-routing.json" <<'EOF'
const fs = require("fs");
const [rr, ir] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
const f = (v) => (v === null ? "n/a" : v.toFixed(0));
for (let i = 0; i < rr.stages.length && i < ir.stages.length; i++) {
    const a = rr.stages[i], b = ir.stages[i];
    const cached = (s) => (s.tokens.input ? ((100 * s.tokens.cached) / s.tokens.input).toFixed(0) + "%" : "n/a");
    console.log(`demo: ${a.rate} req/s: TTFT p50 ${f(a.ttft_ms.p50)} ms round-robin vs ${f(b.ttft_ms.p50)} ms ` +
        `inference-routing (p90 ${f(a.ttft_ms.p90)} vs ${f(b.ttft_ms.p90)} ms; prefix-cached ${cached(a)} vs ${cached(b)})`);
}
EOF
if [ -f "$OUT/demo.png" ]; then
    say "plot: $OUT/demo.png (and demo.svg; data and gnuplot script beside it)"
else
    say "plot script: $OUT/demo.gp (gnuplot not installed, so no PNG; \`make deps\` installs it)"
fi
say "done in $((SECONDS - t0)) s; every process started has been stopped"
