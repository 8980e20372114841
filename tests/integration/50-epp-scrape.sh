#!/usr/bin/env bash
# infergate epp, data layer end to end: two `infergate sim` replicas listed in a watched
# --endpoints-file; the EPP's /metrics shows the pool gauges from real scrapes (ready pods, per-pod
# queue that follows a loaded replica), a dead replica turns stale, an edited file removes it,
# and SIGTERM exits 0.
source "$(dirname "$0")/lib.sh"

T=$IG_TMP
# Replica B runs one sequence at a time, slowly: extra requests wait in its queue.
sim_start --model m1 --zero-latency
A_PORT=$SIM_PORT A_PID=$SIM_PID
sim_start --model m1 --max-num-seqs 1 --decode-ms 50 --decode-ms-per-seq 0 --prefill-overhead-ms 0 \
    --prefill-ms-per-token 0
B_PORT=$SIM_PORT B_URL=$SIM_URL

cat >"$T/endpoints.yaml" <<YAML
- address: 127.0.0.1:$A_PORT
- address: 127.0.0.1:$B_PORT
  labels:
    inference.networking.k8s.io/engine-type: vllm
YAML

EPP_LOG="$T/epp.log"
timeout --foreground -k 5 "${IG_TEST_TIMEOUT:-120}" "$IG_BIN" epp --endpoints-file "$T/endpoints.yaml" \
    --secure-serving=false --grpc-port 0 --grpc-health-port 0 --metrics-port 0 \
    --refresh-metrics-interval 50ms --metrics-staleness-threshold 500ms >"$EPP_LOG" 2>&1 &
EPP_PID=$!
IG_PIDS+=("$EPP_PID")
for _ in $(seq 100); do
    grep -q 'listening grpc=' "$EPP_LOG" && break
    sleep 0.05
done
MPORT=$(sed -n 's/.*listening grpc=[0-9]* health=[0-9]* metrics=\([0-9]*\).*/\1/p' "$EPP_LOG")
[ -n "$MPORT" ] || { cat "$EPP_LOG" >&2; die "the EPP did not start"; }
EPP_URL="http://127.0.0.1:$MPORT"

# until SECONDS REGEX: scrapes the EPP's /metrics into $T/page until a line matches REGEX.
until_page() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do
        curl -sS -m 2 -o "$T/page" "$EPP_URL/metrics" && grep -Eq "$2" "$T/page" && return 0
        sleep 0.05
    done
    return 1
}

check "both replicas ready" until_page 5 '^inference_pool_ready_pods\{name="infergate-epp"\} 2$'
check "per-pod queue of A" grep -Eq "^inference_pool_per_pod_queue_size\{model_server_pod=\"127.0.0.1:$A_PORT\",name=\"infergate-epp\"\} 0$" "$T/page"
check "average kv-cache gauge" grep -Eq '^inference_pool_average_kv_cache_utilization\{name="infergate-epp"\} ' "$T/page"
check "scrapes counted" grep -Eq '^infergate_epp_scrapes_total [1-9]' "$T/page"
check "request metrics families present" grep -q '^# TYPE inference_extension_scheduler_e2e_duration_seconds histogram' "$T/page"
check "404 off /metrics" test "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$EPP_URL/nope")" = 404

# Load B: four requests, one runs and three wait; the EPP sees B's queue grow.
LOAD_PIDS=()
for i in 1 2 3 4; do
    curl -s -m 30 -o /dev/null -H 'content-type: application/json' \
        --data-binary '{"model":"m1","prompt":"hello","max_tokens":40,"ignore_eos":true}' "$B_URL/v1/completions" &
    LOAD_PIDS+=($!)
done
check "B's queue seen by the EPP" until_page 10 \
    "^inference_pool_per_pod_queue_size\\{model_server_pod=\"127.0.0.1:$B_PORT\",name=\"infergate-epp\"\\} [1-9]"
check "average queue above zero" until_page 5 '^inference_pool_average_queue_size\{name="infergate-epp"\} [1-9]'

# A goes away (timeout(1) passes the TERM on): it turns stale and stops counting as ready.
kill -TERM "$A_PID"
check "dead replica not ready" until_page 5 '^inference_pool_ready_pods\{name="infergate-epp"\} 1$'
check "scrape errors counted" until_page 5 '^infergate_epp_scrape_errors_total\{reason="connect"\} [1-9]'

# The file loses A: its series goes away.
printf -- '- address: 127.0.0.1:%s\n' "$B_PORT" >"$T/endpoints.new" && mv "$T/endpoints.new" "$T/endpoints.yaml"
deadline=$((SECONDS + 5))
gone=1
while [ $SECONDS -lt $deadline ]; do
    curl -sS -m 2 -o "$T/page" "$EPP_URL/metrics"
    if ! grep -q "model_server_pod=\"127.0.0.1:$A_PORT\"" "$T/page" && grep -q "127.0.0.1:$B_PORT" "$T/page"; then
        gone=0
        break
    fi
    sleep 0.05
done
check "removed endpoint leaves the pool gauges" test "$gone" = 0
check "SIGTERM exits 0" sim_stop "$EPP_PID"
kill "${LOAD_PIDS[@]}" 2>/dev/null # B then drains at once
finish
