#!/usr/bin/env bash
# infergate sim, /metrics: the vLLM series an endpoint picker reads (queues, KV use, prefix-cache
# hits, LoRA residency, cache config) follow the engine's state during and after a run; a client
# that disconnects frees its slot; the SGLang flavor renames everything.
source "$(dirname "$0")/lib.sh"

T=$IG_TMP
# 40 ms per step: requests stay in flight long enough to be seen by a scrape.
sim_start --model m1 --max-num-seqs 2 --decode-ms 40 --decode-ms-per-seq 0 --prefill-overhead-ms 0 \
    --prefill-ms-per-token 0 --block-size 16 --kv-cache-blocks 4096 --lora-modules lo-a,lo-b --max-loras 1
M='{model_name="m1"}'

# scrape_until FILE SECONDS PYTHON-EXPR: scrapes /metrics into FILE until EXPR holds; EXPR sees
# m, a dict from series (name and labels, as written) to value.
scrape_until() {
    local file=$1 deadline=$((SECONDS + $2)) expr=$3
    while [ $SECONDS -lt $deadline ]; do
        curl -sS -m 5 -o "$file" "$SIM_URL/metrics"
        if "$PY" -c "import sys
m = {}
for line in open(sys.argv[1]):
    if line.strip() and not line.startswith('#'):
        k, v = line.rsplit(' ', 1); m[k] = float(v)
M = '{model_name=\"m1\"}'
sys.exit(0 if ($expr) else 1)" "$file" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

curl -sS -m 5 -D "$T/metrics.h" -o "$T/metrics0.txt" "$SIM_URL/metrics"
check "metrics content type" grep -qi '^content-type: text/plain; version=0.0.4' "$T/metrics.h"
check "default replica header is host:port" grep -qi "^x-infergate-replica: 127.0.0.1:$SIM_PORT" "$T/metrics.h"
check "cache_config_info labels" grep -q '^vllm:cache_config_info{.*block_size="16".*num_gpu_blocks="4096".*} 1$' \
    "$T/metrics0.txt"
check "lora_requests_info idle" \
    grep -q '^vllm:lora_requests_info{running_lora_adapters="",waiting_lora_adapters="",max_lora="1"} [0-9.e+]*$' \
    "$T/metrics0.txt"
for name in num_requests_running num_requests_waiting kv_cache_usage_perc gpu_cache_usage_perc; do
    check "vllm:$name is 0 at rest" [ "$(metric "vllm:$name$M")" = 0 ]
done

# ---- prefix caching: the same long prompt twice ----------------------------------------------
prompt=$("$PY" -c 'print("The quick brown fox jumps over the lazy dog. " * 40)')
body="{\"model\":\"m1\",\"prompt\":\"$prompt\",\"max_tokens\":1}"
hits0=$(metric "vllm:prefix_cache_hits_total$M")
post /v1/completions "$body" "$T/p1.json" >/dev/null
post /v1/completions "$body" "$T/p2.json" >/dev/null
hits1=$(metric "vllm:prefix_cache_hits_total$M")
queries=$(metric "vllm:prefix_cache_queries_total$M")
check "prefix_cache_hits_total rose ($hits0 -> $hits1)" "$PY" -c "assert float('$hits1') >= float('$hits0') + 400"
check "prefix_cache_queries_total counts both prompts ($queries)" "$PY" -c "assert float('$queries') >= 800"
check "second response reports cached tokens" pycheck '
a = json.load(open(sys.argv[1]))["usage"]; b = json.load(open(sys.argv[2]))["usage"]
assert a["prompt_tokens_details"]["cached_tokens"] == 0, a
assert b["prompt_tokens_details"]["cached_tokens"] >= 400, b
' "$T/p1.json" "$T/p2.json"

# ---- more requests than --max-num-seqs: some wait, KV is in use while they run ----------------
for i in 1 2 3 4 5; do
    curl -sS -m 30 -o "$T/q$i.out" -H 'content-type: application/json' \
        --data-binary "{\"model\":\"m1\",\"prompt\":\"queue test $i\",\"max_tokens\":25}" "$SIM_URL/v1/completions" &
    IG_PIDS+=($!)
    qpids+=($!)
done
check "scrape during the run: 2 running, some waiting, KV in use" scrape_until "$T/during.txt" 5 \
    "m['vllm:num_requests_running' + M] == 2 and m['vllm:num_requests_waiting' + M] > 0 and
     0 < m['vllm:kv_cache_usage_perc' + M] <= 1"
val() { awk -v k="$1" 'index($0, k) == 1 { print $NF; exit }' "$2"; }
for p in "${qpids[@]}"; do wait "$p"; done
check "all queued requests completed" pycheck '
for f in sys.argv[1:]:
    d = json.load(open(f)); assert d["usage"]["completion_tokens"] == 25, d
' "$T"/q?.out
curl -sS -m 5 -o "$T/after.txt" "$SIM_URL/metrics"
check "num_requests_running = 0 after" [ "$(val "vllm:num_requests_running$M" "$T/after.txt")" = 0 ]
check "num_requests_waiting = 0 after" [ "$(val "vllm:num_requests_waiting$M" "$T/after.txt")" = 0 ]
check "kv_cache_usage_perc = 0 after" [ "$(val "vllm:kv_cache_usage_perc$M" "$T/after.txt")" = 0 ]
check "request_success_total counts 7 requests" \
    [ "$(val 'vllm:request_success_total{model_name="m1",finished_reason="length"}' "$T/after.txt")" = 7 ]
check "generation_tokens_total = 2*1 + 5*25" [ "$(val "vllm:generation_tokens_total$M" "$T/after.txt")" = 127 ]
check "ttft histogram counts 7" [ "$(val "vllm:time_to_first_token_seconds_count$M" "$T/after.txt")" = 7 ]
check "e2e histogram counts 7" [ "$(val "vllm:e2e_request_latency_seconds_count$M" "$T/after.txt")" = 7 ]
check "e2e histogram buckets are vLLM's" \
    grep -q '^vllm:e2e_request_latency_seconds_bucket{model_name="m1",le="7680"} 7$' "$T/after.txt"
check "ttft +Inf bucket" grep -q '^vllm:time_to_first_token_seconds_bucket{model_name="m1",le="+Inf"} 7$' \
    "$T/after.txt"

# ---- LoRA: one slot, two adapters: one runs, the other waits -----------------------------------
for a in lo-a lo-b; do
    curl -sS -m 30 -o "$T/lora-$a.out" -H 'content-type: application/json' \
        --data-binary "{\"model\":\"$a\",\"prompt\":\"adapter $a\",\"max_tokens\":25}" "$SIM_URL/v1/completions" &
    IG_PIDS+=($!)
    lpids+=($!)
done
L='vllm:lora_requests_info{running_lora_adapters=\"%s\",waiting_lora_adapters=\"%s\",max_lora=\"1\"}'
check "lora_requests_info: one adapter running, the other waiting, max_lora 1" scrape_until "$T/lora.txt" 5 \
    "'$L' % ('lo-a', 'lo-b') in m or '$L' % ('lo-b', 'lo-a') in m"
for p in "${lpids[@]}"; do wait "$p"; done
check "both adapter requests completed" pycheck '
for f in sys.argv[1:]:
    d = json.load(open(f)); assert d["usage"]["completion_tokens"] == 25, d
' "$T/lora-lo-a.out" "$T/lora-lo-b.out"

# ---- a client that disconnects cancels its request ---------------------------------------------
curl -sS -N -m 30 -o /dev/null -H 'content-type: application/json' \
    --data-binary '{"model":"m1","prompt":"long","max_tokens":2000,"stream":true}' "$SIM_URL/v1/completions" &
cpid=$!
IG_PIDS+=($cpid)
check "the long stream is running" scrape_until "$T/long.txt" 5 "m['vllm:num_requests_running' + M] == 1"
kill -KILL "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
ok=0
for _ in $(seq 40); do
    [ "$(metric "vllm:num_requests_running$M")" = 0 ] && [ "$(metric "vllm:kv_cache_usage_perc$M")" = 0 ] && {
        ok=1
        break
    }
    sleep 0.05
done
check "disconnect frees the sequence and its KV blocks" [ $ok = 1 ]
check "vllm sim exits 0 on SIGTERM" sim_stop "$SIM_PID"

# ---- SGLang flavor -----------------------------------------------------------------------------
sim_start --model m2 --metrics-flavor sglang --zero-latency --block-size 32 --kv-cache-blocks 1000
post /v1/completions '{"prompt":"hello","max_tokens":3}' "$T/sg.json" >/dev/null
curl -sS -m 5 -o "$T/sglang.txt" "$SIM_URL/metrics"
for name in num_queue_reqs num_running_reqs token_usage; do
    check "sglang:$name present" grep -q "^sglang:$name{model_name=\"m2\"} 0$" "$T/sglang.txt"
done
check "sglang:cache_config_info page_size/num_pages" \
    grep -q '^sglang:cache_config_info{.*page_size="32",num_pages="1000"} 1$' "$T/sglang.txt"
check "no vllm: series with the sglang flavor" bash -c "! grep -q '^vllm:' '$T/sglang.txt'"
check "sglang sim exits 0 on SIGTERM" sim_stop "$SIM_PID"
finish
