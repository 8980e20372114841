#!/usr/bin/env bash
# EPP overhead: the latency `infergate gateway` and an endpoint picker (EPP) add over going direct to a
# zero-latency `infergate sim`, measured with `infergate bench` one request at a time (concurrency 1,
# so latency is not queueing), all on 127.0.0.1. Four arms against the same simulator:
#   direct  client -> sim
#   proxy   client -> gateway (plain host backend) -> sim                  (proxy cost alone)
#   epp     client -> gateway (inferenceRouting, passthrough) -> sim,
#           picking through `infergate epp --endpoints <sim> --secure-serving=false`
#   stub    as epp, with the grpc-js stub picker tests/js/epp-stub.mjs
#   epp-observe, epp-headers, stub-observe, stub-headers
#           as epp / stub with inferenceRouting responseMode observe / headers (the plain arms are
#           responseMode full, the default): the response body bypasses the picker's answers
# Each arm runs REQUESTS non-streaming requests (E2E p50/p90/p99) and REQUESTS streaming requests
# (ITL p50/p99), after WARMUP requests that are not counted. Prints a markdown table with the
# differences against the direct arm. Every process started here is stopped on exit.
#
# Usage: bench/epp-overhead.sh [path/to/infergate]
#   REQUESTS=2000, WARMUP=200, OUTPUT_LEN=16 (max_tokens, non-streaming), STREAM_OUTPUT_LEN=64 (streaming),
#   RESPONSE_MODES="observe headers" (the extra responseMode arms; empty: none),
#   DECODE_MS=0 (0: a zero-latency sim, whose tokens arrive in few reads; N > 0: a sim that emits one
#   token every N ms, so each gap is one event and Δ ITL is what each hop adds per token),
#   KEEP=1 keeps the work directory (bench JSON reports, logs) and prints its path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/infergate}
REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-200}
OUTPUT_LEN=${OUTPUT_LEN:-16}
STREAM_OUTPUT_LEN=${STREAM_OUTPUT_LEN:-64}
RESPONSE_MODES=${RESPONSE_MODES-observe headers}
LIFETIME=${LIFETIME:-1800} # upper bound on every server's life, should this shell die without its trap
. "$root/bench/lib.sh"
bench_require node

# ---- the simulator ------------------------------------------------------------------------------
sim_port=$(free_port)
DECODE_MS=${DECODE_MS:-0}
if [ "$DECODE_MS" = 0 ]; then
    sim_latency=(--zero-latency)
else
    sim_latency=(--decode-ms "$DECODE_MS" --decode-ms-per-seq 0 --prefill-overhead-ms 0 --prefill-ms-per-token 0)
fi
start "$work/sim.log" "$bin" sim --host 127.0.0.1 --port "$sim_port" --model m --id sim-1 "${sim_latency[@]}"
wait_health "$sim_port" "$work/sim.log"
sim=127.0.0.1:$sim_port

# ---- the pickers --------------------------------------------------------------------------------
start_epp "$sim"
start_stub "$sim"

# ---- the gateways -------------------------------------------------------------------------------
declare -A port_of
port_of[direct]=$sim_port
arms=(direct proxy epp stub)
for m in $RESPONSE_MODES; do arms+=("epp-$m" "stub-$m"); done
for arm in "${arms[@]:1}"; do
    port_of[$arm]=$(free_port)
    mode=""
    [[ $arm == *-* ]] && mode=${arm#*-}
    case $arm in
    proxy) gw_config "${port_of[$arm]}" "      - host: $sim" ;;
    epp*) gw_config "${port_of[$arm]}" "$(epp_backend "$epp_port" "$mode")" ;;
    stub*) gw_config "${port_of[$arm]}" "$(epp_backend "$stub_port" "$mode")" ;;
    esac >"$work/gw-$arm.yaml"
    start_gateway "$arm"
done

# ---- the runs -----------------------------------------------------------------------------------
# bench ARM MODE N JSON: N sequential requests; MODE is nostream or stream.
bench() {
    local args=(--url "http://127.0.0.1:${port_of[$1]}" --model m --concurrency 1 --requests "$3" --timeout 10s
        --no-progress --label "$1-$2" --json "$4")
    if [ "$2" = nostream ]; then args+=(--no-stream --output-len "$OUTPUT_LEN"); else args+=(--output-len "$STREAM_OUTPUT_LEN"); fi
    "$bin" bench "${args[@]}" >"$work/$1-$2.txt" 2>&1 || { echo "bench $1 $2 failed:" >&2; cat "$work/$1-$2.txt" >&2; exit 1; }
}
bench_banner
for arm in "${arms[@]}"; do
    # Warm-up: connections, the picker channel, the EPP's first metrics scrape.
    bench "$arm" stream "$WARMUP" "$work/warm-$arm.json"
    for mode in nostream stream; do
        echo "arm $arm, $mode: $REQUESTS requests at concurrency 1" >&2
        bench "$arm" "$mode" "$REQUESTS" "$work/$arm-$mode.json"
    done
done

# ---- the table ----------------------------------------------------------------------------------
python3 - "$work" "$REQUESTS" "$OUTPUT_LEN" "$STREAM_OUTPUT_LEN" "$DECODE_MS" "${arms[@]}" <<'EOF'
import json, sys
work, n, olen, slen, decode, arms = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
desc = {"direct": "direct to sim", "proxy": "gateway, host backend", "epp": "gateway + infergate epp",
        "stub": "gateway + grpc-js stub EPP"}
for m in ("observe", "headers"):
    desc[f"epp-{m}"] = f"infergate epp, responseMode {m}"
    desc[f"stub-{m}"] = f"stub EPP, responseMode {m}"
def stage(arm, mode):
    s = json.load(open(f"{work}/{arm}-{mode}.json"))["stages"][0]
    r = s["requests"]
    if r["failed"]:
        print(f"warning: {arm} {mode}: {r['failed']} failed: {s['failures']}", file=sys.stderr)
    return s
res = {a: (stage(a, "nostream"), stage(a, "stream")) for a in arms}
keys = [("e2e", 0, "e2e_ms", "p50"), ("e2e", 0, "e2e_ms", "p90"), ("e2e", 0, "e2e_ms", "p99"),
        ("itl", 1, "itl_ms", "mean"), ("itl", 1, "itl_ms", "p50"), ("itl", 1, "itl_ms", "p99")]
val = lambda a, k: res[a][k[1]][k[2]][k[3]]
print()
sim = "zero-latency sim" if decode == "0" else f"sim emitting a token every {decode} ms"
print(f"Sequential requests (concurrency 1), {n} per arm and mode; E2E non-streaming (max_tokens {olen}), "
      f"ITL streaming (max_tokens {slen}); ms, 127.0.0.1, {sim}.")
print()
print("| arm | ok | E2E p50 | E2E p90 | E2E p99 | ITL mean | ITL p50 | ITL p99 | Δ E2E p50 | Δ E2E p90 | Δ E2E p99 "
      "| Δ ITL mean | Δ ITL p50 | Δ ITL p99 |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for a in arms:
    ok = f"{res[a][0]['requests']['succeeded']}+{res[a][1]['requests']['succeeded']}"
    cells = [f"{val(a, k):.3f}" for k in keys]
    deltas = ["—" if a == "direct" else f"{val(a, k) - val('direct', k):+.3f}" for k in keys]
    print(f"| {a} ({desc[a]}) | {ok} | " + " | ".join(cells + deltas) + " |")
print()
print(f"Streaming detail (max_tokens {slen}; ITL gaps of 0 are stream events that arrived in one read):")
print()
skeys = [("ttft_ms", "p50"), ("ttft_ms", "p99"), ("tpot_ms", "p50"), ("tpot_ms", "p99"), ("e2e_ms", "p50"),
         ("e2e_ms", "p99")]
sval = lambda a, k: res[a][1][k[0]][k[1]]
print("| arm | TTFT p50 | TTFT p99 | TPOT p50 | TPOT p99 | stream E2E p50 | stream E2E p99 | Δ TTFT p50 | Δ TTFT p99 "
      "| Δ TPOT p50 | Δ TPOT p99 | Δ stream E2E p50 | Δ stream E2E p99 |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for a in arms:
    cells = [f"{sval(a, k):.3f}" for k in skeys]
    deltas = ["—" if a == "direct" else f"{sval(a, k) - sval('direct', k):+.3f}" for k in skeys]
    print(f"| {a} | " + " | ".join(cells + deltas) + " |")
print()
d = lambda a, b, p: val(a, ("e2e", 0, "e2e_ms", p)) - val(b, ("e2e", 0, "e2e_ms", p))
print(f"Pickers over the plain proxy (E2E): infergate epp {d('epp', 'proxy', 'p50'):+.3f} p50 / "
      f"{d('epp', 'proxy', 'p99'):+.3f} p99; stub {d('stub', 'proxy', 'p50'):+.3f} p50 / "
      f"{d('stub', 'proxy', 'p99'):+.3f} p99 ms.")
print("Anchor (agentgateway + EPP over direct): +2.1 ms p50 / +2.4 ms p90. "
      "Target: gateway's own part (stub time excluded) < 0.3 ms at p99.")
EOF
