#!/usr/bin/env bash
# Routing quality on a simulated fleet: eight `infergate sim` replicas, one arm at a time, the same
# seeded workload and the same Poisson rate ladder for every arm, fresh replicas (empty caches) for
# every arm. Arms:
#   rr       a real round robin: `infergate bench --url A,B,...` sends request i to replica i mod 8
#            (no gateway; nothing else in the path)
#   random   gateway (the seed's standalone config) + `infergate epp --config-file bench/routing/random.yaml`
#   queue    ... bench/routing/queue.yaml   (queue-scorer only)
#   kv       ... bench/routing/kv.yaml      (kv-cache-utilization-scorer only)
#   default  ... bench/routing/default.yaml (upstream's default profile: queue 2, kv-cache 2, prefix 3)
#   best     ... bench/routing/best.yaml    (our profile; docs/BENCHMARKS.md says where it wins and where not)
# Workloads (all scaled to the fleet below; docs/BENCHMARKS.md "Routing quality" states how):
#   w1 shared prefix (B2B-SaaS), high (high-hit), low (low-hit), sharegpt, lora (multi-LoRA).
# W1 runs every arm; the variants run VARIANT_ARMS. Per workload the arms are merged into one table,
# CSV and latency-vs-rate plot, and results.md holds the markdown table and the ratios to rr.
#
# Usage: bench/routing-quality.sh [path/to/infergate]      (a Release build: make build)
#   QUICK=1            ~5 minutes: W1 only (all six arms), two rates, 12 s stages. Full: ~41 minutes
#   OUT=DIR            results (default: <build>/routing-quality)
#   WORKLOADS="w1 high low sharegpt lora", W1_ARMS="rr random queue kv default best",
#   VARIANT_ARMS="rr default best", RESUME=1 (keep arms whose JSON report exists), STAGE=DUR (each
#   rate's send window), RATES=R,R,... (one ladder for every workload instead of the built-in ones),
#   CONFIG_DIR=bench/routing
# Every process started here is stopped on exit (and each has a bounded life should this shell die).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${IG_BIN:-${BUILD:-$root/build}/infergate}}
OUT=${OUT:-$(dirname "$BIN")/routing-quality}
QUICK=${QUICK:-0}
CONFIG_DIR=${CONFIG_DIR:-$root/bench/routing}
W1_ARMS=${W1_ARMS:-rr random queue kv default best}
VARIANT_ARMS=${VARIANT_ARMS:-rr default best}
if [ "$QUICK" = 1 ]; then
    WORKLOADS=${WORKLOADS:-w1}
    STAGE=${STAGE:-12s}
else
    WORKLOADS=${WORKLOADS:-w1 high low sharegpt lora}
    STAGE=${STAGE:-30s}
fi
LIFETIME=${LIFETIME:-3600}
REPLICAS=8
MODEL=qwen3-32b-sim

[ -x "$BIN" ] || { echo "routing-quality: no infergate binary at $BIN (make build)" >&2; exit 1; }
for tool in node curl timeout; do
    command -v "$tool" >/dev/null || { echo "routing-quality: $tool is required" >&2; exit 1; }
done

# ---- the fleet ----------------------------------------------------------------------------------
# Token counts of W1 are scaled by 1/10 (system 6000 -> 600, question 1200 -> 120, output 1000 ->
# 100) and the groups from 150 to 40, with each replica's KV cache set so that the corpus (40 x 600
# + 200 x 120 = 48,000 tokens) needs 73% of the fleet's KV (8 x 512 blocks x 16 = 65,536 tokens), as
# the original (1.8M of 8 x 307,328) does. Time: a step costs 50 ms + 1 ms per running sequence and
# prefill 0.8 ms per uncached token, so a cold W1 prompt (720 tokens) costs ~9 decode steps, as 7,200
# tokens at ~20k tok/s cost against a 40 ms step on the H100 pods of the original.
SIM_FLAGS=(--model "$MODEL" --block-size 16 --kv-cache-blocks 512 --max-num-seqs 64
    --prefill-overhead-ms 10 --prefill-ms-per-token 0.8 --decode-ms 50 --decode-ms-per-seq 1)
LORAS=a0,a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14
LORA_SIM_FLAGS=(--lora-modules "$LORAS" --max-loras 3 --lora-load-ms 50)

# Workload flags and rate ladders (req/s), per workload. The ladders end well past the round-robin
# arm's saturation, where the original W1 ladder reports its headline numbers.
workload_flags() { # name
    case $1 in
    w1) echo "--workload shared_prefix --num-groups 40 --prompts-per-group 5 --system-prompt-len 600 --question-len 120 --output-len 100" ;;
    high) echo "--workload shared_prefix --num-groups 64 --prompts-per-group 16 --system-prompt-len 256 --question-len 32 --output-len 32" ;;
    low) echo "--workload shared_prefix --num-groups 64 --prompts-per-group 16 --system-prompt-len 32 --question-len 256 --output-len 32" ;;
    sharegpt) echo "--workload synthetic --input-dist sharegpt:0.5 --output-dist sharegpt:0.5" ;;
    lora) echo "--workload synthetic --input-dist uniform:64:512 --output-dist uniform:16:128 --lora a0:12%,a1:12%,a2:12%,a3:12%,a4:12%,a5:6%,a6:6%,a7:6%,a8:6%,a9:6%,a10:2%,a11:2%,a12:2%,a13:2%,a14:2%" ;;
    *) return 1 ;;
    esac
}
workload_rates() { # name
    if [ -n "${RATES:-}" ]; then
        echo "$RATES"
    elif [ "$QUICK" = 1 ]; then
        echo "8,16"
    else
        case $1 in
        w1) echo "4,8,16" ;;
        high) echo "10,20,40" ;;
        low) echo "8,16,32" ;;
        sharegpt) echo "5,10,20" ;;
        lora) echo "2,4,8" ;;
        esac
    fi
}
workload_title() {
    case $1 in
    w1) echo "W1 shared prefix (B2B-SaaS), scaled" ;;
    high) echo "W2 high-hit shared prefix, scaled" ;;
    low) echo "W3 low-hit shared prefix, scaled" ;;
    sharegpt) echo "W5 ShareGPT-like" ;;
    lora) echo "W6 multi-LoRA" ;;
    esac
}

# ---- processes ----------------------------------------------------------------------------------
pids=()
names=()
logs=()
stop_all() {
    local i
    for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null; done
    local deadline=$((SECONDS + 10))
    for i in "${!pids[@]}"; do
        while kill -0 "${pids[$i]}" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        kill -KILL "${pids[$i]}" 2>/dev/null
        wait "${pids[$i]}" 2>/dev/null
    done
    pids=()
    names=()
    logs=()
}
trap 'stop_all' EXIT
trap 'echo "routing-quality: interrupted" >&2; exit 130' INT TERM

start() { # name log command...
    local name=$1 log=$2
    shift 2
    timeout -k 5 "$LIFETIME" "$@" >"$log" 2>&1 &
    pids+=($!)
    names+=("$name")
    logs+=("$log")
}
die() { # message [log]
    echo "routing-quality: FAILED: $1" >&2
    [ -n "${2:-}" ] && tail -n 30 "$2" >&2
    exit 1
}
# A port nothing listens on at the moment, below the kernel's ephemeral range (whose ports may be
# in use by outgoing connections without listening). The gateway's listener and readiness ports
# must be written into its config; the simulators and the EPP bind port 0 and say which they got.
free_port() {
    local p lo
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    while :; do
        p=$((20000 + RANDOM % (lo - 20000)))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
}
try_http() { # url pid: until the URL answers 200 (10 s), the process staying alive
    local deadline=$((SECONDS + 10))
    while [ $SECONDS -lt $deadline ]; do
        curl -s -o /dev/null -m 1 -f "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
wait_http() { # url name log
    try_http "$1" "${pids[${#pids[@]} - 1]}" || die "$2 not ready at $1" "$3"
}
wait_log() { # file pattern name
    local deadline=$((SECONDS + 10))
    while [ $SECONDS -lt $deadline ]; do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    die "$3 did not start" "$1"
}

sim_ports=()
start_sims() { # workload dir
    local wl=$1 dir=$2 i port extra=()
    [ "$wl" = lora ] && extra=("${LORA_SIM_FLAGS[@]}")
    sim_ports=()
    for i in $(seq 1 $REPLICAS); do
        start "sim-$i" "$dir/sim-$i.log" "$BIN" sim "${SIM_FLAGS[@]}" "${extra[@]}" --port 0 --id "sim-$i"
    done
    for i in $(seq 1 $REPLICAS); do
        wait_log "$dir/sim-$i.log" 'sim: listening on' "sim-$i"
        port=$(sed -n 's/.*sim: listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/sim-$i.log" | head -1)
        sim_ports+=("$port")
        wait_http "http://127.0.0.1:$port/health" "sim-$i" "$dir/sim-$i.log"
    done
}

# The seed's standalone configuration (agentgateway's, as published; the one copy the tests load
# too), with its two ports chosen free: the listener (8081 in the seed) and the EPP's gRPC port (9002).
seed_config() { # gateway-port epp-port
    sed -e "s/^- port: 8081$/- port: $1/" -e "s/host: 127.0.0.1:9002$/host: 127.0.0.1:$2/" \
        "$root/tests/unit/config/data/seed.yaml"
}

# Starts the EPP and the gateway for an arm; prints the URL the load goes to.
start_router() { # arm dir -> sets ROUTER_URL
    local arm=$1 dir=$2 eps epp_port gw_port ready_port
    eps=$(printf '127.0.0.1:%s,' "${sim_ports[@]}")
    eps=${eps%,}
    start epp "$dir/epp.log" "$BIN" epp --endpoints "$eps" --config-file "$CONFIG_DIR/$arm.yaml" \
        --secure-serving=false --grpc-port 0 --grpc-health-port 0 --metrics-port 0 -v 1
    wait_log "$dir/epp.log" 'epp: listening grpc=' "infergate epp ($arm)"
    epp_port=$(sed -n 's/.*epp: listening grpc=\([0-9]*\).*/\1/p' "$dir/epp.log" | head -1)
    local attempt
    for attempt in 1 2 3 4 5; do # a port taken between the check and the bind: try others
        gw_port=$(free_port)
        ready_port=$(free_port)
        seed_config "$gw_port" "$epp_port" >"$dir/gateway.yaml"
        ADMIN_ADDR=off STATS_ADDR=off READINESS_ADDR=127.0.0.1:$ready_port \
            start gateway "$dir/gateway.log" "$BIN" gateway -f "$dir/gateway.yaml"
        try_http "http://127.0.0.1:$ready_port/healthz/ready" "${pids[${#pids[@]} - 1]}" && break
        [ "$attempt" = 5 ] && die "gateway not ready at 127.0.0.1:$ready_port" "$dir/gateway.log"
        kill -TERM "${pids[${#pids[@]} - 1]}" 2>/dev/null
        wait "${pids[${#pids[@]} - 1]}" 2>/dev/null
        unset 'pids[${#pids[@]}-1]' 'names[${#names[@]}-1]' 'logs[${#logs[@]}-1]'
    done
    sleep 0.3 # one metrics scrape of every replica
    ROUTER_URL="http://127.0.0.1:$gw_port"
    local status
    status=$(curl -s -o "$dir/smoke.txt" -w '%{http_code}' -m 10 "$ROUTER_URL/v1/completions" \
        -H 'content-type: application/json' -d "{\"model\":\"$MODEL\",\"prompt\":\"hello\",\"max_tokens\":1}")
    [ "$status" = 200 ] || die "$arm: a test request through the gateway answered $status: $(cat "$dir/smoke.txt")" \
        "$dir/gateway.log"
}

run_arm() { # workload arm
    local wl=$1 arm=$2 dir="$OUT/$1/$2" url flags rates
    rm -rf "$dir"
    mkdir -p "$dir"
    start_sims "$wl" "$dir"
    if [ "$arm" = rr ]; then
        url=$(printf 'http://127.0.0.1:%s,' "${sim_ports[@]}")
        url=${url%,}
    else
        [ -f "$CONFIG_DIR/$arm.yaml" ] || die "no EndpointPickerConfig $CONFIG_DIR/$arm.yaml"
        start_router "$arm" "$dir"
        url=$ROUTER_URL
    fi
    flags=$(workload_flags "$wl")
    rates=$(workload_rates "$wl")
    echo "routing-quality: $wl / $arm: rates $rates req/s, $STAGE each ($(date -u +%H:%M:%S))" >&2
    # shellcheck disable=SC2086 # flags are words
    "$BIN" bench --url "$url" --model "$MODEL" $flags --seed 42 --rates "$rates" --stage-duration "$STAGE" \
        --timeout 180s --label "$arm" --json "$OUT/$wl/$arm.json" --no-progress >"$dir/bench.txt" 2>"$dir/bench.err"
    local rc=$?
    local i
    for i in "${!pids[@]}"; do
        kill -0 "${pids[$i]}" 2>/dev/null || die "$wl / $arm: ${names[$i]} exited during the run" "${logs[$i]}"
    done
    stop_all
    [ $rc -eq 0 ] || die "$wl / $arm: infergate bench exited with $rc" "$dir/bench.err"
}

summarize() { # workload arms...
    local wl=$1
    shift
    local files="" a
    for a in "$@"; do files+="$OUT/$wl/$a.json,"; done
    files=${files%,}
    "$BIN" bench --merge "$files" --csv "$OUT/$wl/$wl.csv" --plot "$OUT/$wl/$wl" >"$OUT/$wl/merged.txt" \
        2>"$OUT/$wl/merge.err" || die "bench --merge ($wl)" "$OUT/$wl/merge.err"
    node "$root/bench/routing-table.mjs" "$(workload_title "$wl")" "$OUT/$wl" "$@" >"$OUT/$wl/results.md" ||
        die "routing-table.mjs ($wl)"
    cat "$OUT/$wl/results.md"
}

mkdir -p "$OUT"
t0=$SECONDS
{
    echo "routing-quality: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "sim: ${SIM_FLAGS[*]}"
    echo "stage: $STAGE; quick: $QUICK"
} | tee "$OUT/run.txt" >&2
for wl in $WORKLOADS; do
    workload_flags "$wl" >/dev/null || die "unknown workload '$wl'"
    if [ "$wl" = w1 ]; then arms=$W1_ARMS; else arms=$VARIANT_ARMS; fi
    for arm in $arms; do
        if [ "${RESUME:-0}" = 1 ] && [ -f "$OUT/$wl/$arm.json" ]; then
            echo "routing-quality: $wl / $arm: kept from an earlier run (RESUME=1)" >&2
            continue
        fi
        run_arm "$wl" "$arm"
    done
    # shellcheck disable=SC2086
    summarize "$wl" $arms
done
echo "routing-quality: done in $((SECONDS - t0)) s; results in $OUT" >&2
