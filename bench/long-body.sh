#!/usr/bin/env bash
# Long-body overhead: what `infergate gateway` + `infergate epp` add over going direct to a
# zero-latency `infergate sim` when every prompt is 220 KiB (`infergate bench --workload long`,
# 56,320 tokens, 16 output tokens, streaming), at fixed concurrency 20, 60, 100 and 150. Three
# arms against the same simulator, interleaved in one run:
#   direct  client -> sim
#   proxy   client -> gateway (plain host backend) -> sim                       (proxy cost alone)
#   epp     client -> gateway (the seed's inferenceRouting, passthrough) -> sim,
#           picking through `infergate epp --endpoints <sim> --secure-serving=false`; the gateway
#           streams each 220 KiB body to the picker, which answers after the whole body and streams
#           it back, and the simulator receives the picker's copy
# Prints TTFT p50/p90, E2E p50/p90, req/s and the CPU time per request of the simulator, the
# gateway and the EPP per arm and level, and the TTFT ratios to direct, as markdown. The anchor
# (Envoy + the Go EPP, 220 KB prompts): TTFT 158 ms direct -> 1.14 s.
# Every process started here is stopped on exit.
#
# Usage: bench/long-body.sh [path/to/infergate]
#   LEVELS="20 60 100 150" (concurrency stages), STAGE=15s (each stage's send window), ROUNDS=2
#   (every level and arm that many times, the arm order rotated), BODY_KB=220, WORKERS=2 (gateway
#   worker threads), ARMS="direct proxy epp" (keep direct: the ratios need it),
#   KEEP=1 keeps the work directory (bench JSON reports, logs) and prints its path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/infergate}
LEVELS=${LEVELS:-20 60 100 150}
STAGE=${STAGE:-15s}
ROUNDS=${ROUNDS:-2}
BODY_KB=${BODY_KB:-220}
WORKERS=${WORKERS:-2}
ARMS=${ARMS:-direct proxy epp}
LIFETIME=${LIFETIME:-3600} # upper bound on every server's life, should this shell die without its trap
. "$root/bench/lib.sh"
bench_require

# ---- the simulator: zero latency, a context that takes the long prompt ---------------------------
tokens=$((BODY_KB * 1024 / 4 + 1024))
sim_port=$(free_port)
start "$work/sim.log" "$bin" sim --host 127.0.0.1 --port "$sim_port" --model m --id sim-1 --zero-latency \
    --max-model-len "$tokens" --max-num-seqs 256
wait_health "$sim_port" "$work/sim.log"
sim=127.0.0.1:$sim_port

# ---- the picker and the gateways ----------------------------------------------------------------
start_epp "$sim"

declare -A port_of
port_of[direct]=$sim_port
for arm in $ARMS; do
    [ "$arm" = direct ] && continue
    port_of[$arm]=$(free_port)
    case $arm in
    proxy) gw_config "${port_of[$arm]}" "      - host: $sim" "$WORKERS" ;;
    epp) gw_config "${port_of[$arm]}" "$(epp_backend "$epp_port")" "$WORKERS" ;;
    *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac >"$work/gw-$arm.yaml"
    start_gateway "$arm"
done

# ---- the runs -----------------------------------------------------------------------------------
# Level by level, every arm in turn (the order rotated each round), so the arms of one level run
# within a minute of each other: on a shared machine the background load drifts over minutes.
# Around every run the CPU time of the simulator, the gateway and the EPP is read from /proc: CPU
# per request is what the path costs, and unlike latency it hardly depends on what else runs.
server_pid() { # the server under timeout(1), started by `start`
    pgrep -P "$1" | head -1
}
cpu_ms() { # PID: user + system CPU time in ms, 0 when not running
    local f
    f=$(cut -d' ' -f14,15 "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    echo $(((${f% *} + ${f#* }) * 1000 / $(getconf CLK_TCK)))
}
declare -A pid_of
pid_of[sim]=$(server_pid "${pids[0]}")
pid_of[epp]=$(server_pid "${pids[1]}")
i=2
for arm in $ARMS; do
    [ "$arm" = direct ] && continue
    pid_of[gw-$arm]=$(server_pid "${pids[$i]}")
    i=$((i + 1))
done
echo "machine: $(nproc) cores, $(uname -r); $(date -u +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg);" \
    "infergate: $bin" >&2
echo "load: --workload long --body-kb $BODY_KB, concurrency $LEVELS, $STAGE per stage, $ROUNDS round(s)" >&2
for arm in $ARMS; do
    # warm-up: connections, the picker channel, the EPP's first scrape
    "$bin" bench --url "http://127.0.0.1:${port_of[$arm]}" --model m --workload long --body-kb "$BODY_KB" \
        --concurrency 4 --requests 20 --no-progress --timeout 60s >"$work/warm-$arm.txt" 2>&1 ||
        { echo "warm-up of $arm failed:" >&2; cat "$work/warm-$arm.txt" >&2; exit 1; }
done
read -r -a arm_list <<<"$ARMS"
for round in $(seq "$ROUNDS"); do
    for c in $LEVELS; do
        for k in "${!arm_list[@]}"; do
            arm=${arm_list[$(((k + round - 1) % ${#arm_list[@]}))]}
            gw=${pid_of[gw-$arm]:-0}
            b_sim=$(cpu_ms "${pid_of[sim]}") b_gw=$(cpu_ms "$gw") b_epp=$(cpu_ms "${pid_of[epp]}")
            "$bin" bench --url "http://127.0.0.1:${port_of[$arm]}" --model m --workload long --body-kb "$BODY_KB" \
                --concurrency "$c" --stage-duration "$STAGE" --timeout 120s --no-progress --label "$arm" \
                --json "$work/$arm-$c-$round.json" >"$work/$arm-$c-$round.txt" 2>&1 ||
                { echo "bench $arm c=$c failed:" >&2; tail -20 "$work/$arm-$c-$round.txt" >&2; exit 1; }
            echo "$arm $c $round $(($(cpu_ms "${pid_of[sim]}") - b_sim)) $(($(cpu_ms "$gw") - b_gw))" \
                "$(($(cpu_ms "${pid_of[epp]}") - b_epp))" >>"$work/cpu.txt"
            echo "round $round, concurrency $c, $arm: done (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
        done
    done
done

# ---- the table ----------------------------------------------------------------------------------
python3 - "$work" "$BODY_KB" "$STAGE" "$ROUNDS" "$LEVELS" $ARMS <<'PY'
import json, statistics, sys
work, kb, stage, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
levels, arms = [int(x) for x in sys.argv[5].split()], sys.argv[6:]
desc = {"direct": "direct to sim", "proxy": "gateway, host backend", "epp": "gateway + infergate epp"}
R = range(1, rounds + 1)
cpu = {}
for line in open(f"{work}/cpu.txt"):
    a, c, r, sim, gw, epp = line.split()
    cpu[(a, int(c), int(r))] = (int(sim), int(gw), int(epp))
def stage_of(a, c, r):
    s = json.load(open(f"{work}/{a}-{c}-{r}.json"))["stages"][0]
    if s["requests"]["failed"]:
        print(f"warning: {a} c={c} round {r}: {s['requests']['failed']} failed: {s['failures']}", file=sys.stderr)
    return s
res = {(a, c, r): stage_of(a, c, r) for a in arms for c in levels for r in R}
def metric(a, c, m, p):
    xs = [res[(a, c, r)][m][p] for r in R if res[(a, c, r)][m][p] is not None]
    return statistics.median(xs) if xs else None
f = lambda v: "n/a" if v is None else f"{v:,.0f}"
print()
print(f"{kb} KiB prompts, 16 output tokens, streaming; fixed concurrency, {stage} per stage, {rounds} round(s) "
      "(the median of the rounds' values); 127.0.0.1, one zero-latency simulator; latencies in ms.")
print()
print("| concurrency | arm | ok | req/s | TTFT p50 | TTFT p90 | E2E p50 | E2E p90 | TTFT p50 vs direct "
      "| TTFT p90 vs direct | CPU ms/request: sim, gateway, EPP |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for c in levels:
    for a in arms:
        ok = sum(res[(a, c, r)]["requests"]["succeeded"] for r in R)
        rps = statistics.median(res[(a, c, r)]["throughput"]["requests_per_s"] for r in R)
        t50, t90 = metric(a, c, "ttft_ms", "p50"), metric(a, c, "ttft_ms", "p90")
        e50, e90 = metric(a, c, "e2e_ms", "p50"), metric(a, c, "e2e_ms", "p90")
        def ratio(p, v):
            d = metric("direct", c, "ttft_ms", p) if "direct" in arms else None
            return "—" if a == "direct" or not d or v is None else f"{v / d:.2f}×"
        cp = [sum(cpu[(a, c, r)][k] for r in R) / ok if ok else 0.0 for k in range(3)]
        cpus = f"{cp[0]:.2f}, " + ("—" if a == "direct" else f"{cp[1]:.2f}") + ", " + \
            (f"{cp[2]:.2f}" if a == "epp" else "—")
        print(f"| {c} | {a} ({desc.get(a, a)}) | {ok} | {rps:.1f} | {f(t50)} | {f(t90)} | {f(e50)} | {f(e90)} | "
              f"{ratio('p50', t50)} | {ratio('p90', t90)} | {cpus} |")
if rounds > 1 and "direct" in arms:
    print()
    print("TTFT p50 vs direct in each round: " + "; ".join(
        f"c={c} {a} " + " / ".join(
            f"{res[(a, c, r)]['ttft_ms']['p50'] / res[('direct', c, r)]['ttft_ms']['p50']:.2f}" for r in R)
        for c in levels for a in arms if a != "direct"))
print()
print("Anchor (Envoy + the Go EPP, 220 KB prompts): TTFT 158 ms direct -> 1.14 s through the gateway (7.2×).")
PY
