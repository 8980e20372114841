#!/usr/bin/env bash
# Simulator capacity on this machine: requests/s with zero latency settings (HTTP/1.1 and h2,
# streaming and not), and how many concurrent streams one simulator process holds, with its RSS.
# Usage: bench/sim-capacity.sh [path/to/infergate]   (needs h2load from nghttp2-client)
set -euo pipefail
bin=${1:-build/infergate}
port=${PORT:-18600}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start_sim() { # extra flags...
    "$bin" sim --port "$port" --model m "$@" >"$work/sim.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0; sleep 0.05; done
    echo "sim did not start"; cat "$work/sim.log"; exit 1
}
stop_sim() { kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }
rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

printf '{"model":"m","messages":[{"role":"user","content":"Say something short."}],"max_tokens":16}' >"$work/chat.json"
printf '{"model":"m","messages":[{"role":"user","content":"Say something short."}],"max_tokens":16,"stream":true}' >"$work/chat-stream.json"
H=(-H 'content-type: application/json')
url="http://127.0.0.1:$port/v1/chat/completions"

echo "machine: $(nproc) cores, $(uname -r); date: $(date -u +%F)"
start_sim --zero-latency --max-num-seqs 100000 --kv-cache-blocks 1000000
for mode in "h1 non-stream|--h1 -d $work/chat.json -c 64 -m 1" \
            "h1 stream|--h1 -d $work/chat-stream.json -c 64 -m 1" \
            "h2 non-stream|-d $work/chat.json -c 8 -m 32" \
            "h2 stream|-d $work/chat-stream.json -c 8 -m 32"; do
    name=${mode%%|*}; args=${mode#*|}
    # shellcheck disable=SC2086
    out=$(h2load -t 1 -n 100000 $args "${H[@]}" "$url" 2>&1)
    rps=$(awk '/^finished in/ {print $4}' <<<"$out")
    ok=$(awk '/^requests:/ {print $8}' <<<"$out")
    echo "$name: $rps req/s ($ok of 100000 succeeded)"
done
echo "sim RSS high-water after the rate runs: $(rss_kb "${pids[-1]}") kB"
stop_sim

# Concurrent streams: slow tokens keep every stream open while all are admitted at once.
n=${STREAMS:-5000}
start_sim --max-num-seqs 100000 --kv-cache-blocks 1000000 --decode-ms 200 --decode-ms-per-seq 0 \
    --prefill-overhead-ms 0 --prefill-ms-per-token 0
base=$(rss_kb "${pids[-1]}")
printf '{"model":"m","messages":[{"role":"user","content":"hold"}],"max_tokens":25,"stream":true}' >"$work/hold.json"
h2load -t 1 -n "$n" -c $((n / 100)) -m 100 -d "$work/hold.json" "${H[@]}" "$url" >"$work/hold.out" 2>&1 &
load=$!
peak=0
for _ in $(seq 60); do
    r=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^vllm:num_requests_running/ {print int($2)}')
    [ "${r:-0}" -gt "$peak" ] && peak=$r
    kill -0 "$load" 2>/dev/null || break
    sleep 0.25
done
wait "$load" || true
ok=$(awk '/^requests:/ {print $8}' "$work/hold.out")
echo "concurrent streams: peak running $peak of $n, $ok succeeded; RSS $base kB idle -> $(rss_kb "${pids[-1]}") kB peak"
