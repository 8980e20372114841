#!/usr/bin/env bash
# EPP scraper cost: the CPU and memory `infergate epp` spends polling model-server metrics, with no
# requests to pick for, at a given endpoint count and --refresh-metrics-interval.
# SIMS zero-latency `infergate sim` processes listen on 0.0.0.0; the EPP is given N endpoint
# addresses 127.0.0.<i>:<sim port> (i = 1..N/SIMS), so every endpoint is a distinct address:port
# with its own keep-alive connection while only SIMS simulator processes run.
# For each N in COUNTS: start the EPP, wait WARMUP s, then over DURATION s read the EPP's
# utime+stime (/proc/PID/stat, % of one core), its RSS at the end, and the growth of
# infergate_epp_scrapes_total (polls/s; the expected rate is N / interval) and of
# infergate_epp_scrape_errors_total. Prints a markdown table. Every process started here is stopped on exit.
#
# Usage: bench/epp-scrape-cpu.sh [path/to/infergate]
#   COUNTS="64 256", INTERVAL=50ms, SIMS=8, WARMUP=3, DURATION=20, KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/infergate}
COUNTS=${COUNTS:-"64 256"}
INTERVAL=${INTERVAL:-50ms}
SIMS=${SIMS:-8}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-20}
. "$root/bench/lib.sh"
bench_require
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

# The EPPs are started with start_bare (not under timeout) so that $! is the process whose
# /proc/PID/stat is read.

# cpu_ticks PID: utime + stime in clock ticks (fields 14 and 15; the comm field has no spaces here).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# metric PORT FAMILY: the sum of every sample of FAMILY on the EPP's /metrics (0 if absent).
metric() {
    curl -sf "http://127.0.0.1:$1/metrics" |
        awk -v f="$2" '$1 == f || index($1, f "{") == 1 { s += $NF } END { printf "%d\n", s }'
}

# ---- the simulators -----------------------------------------------------------------------------
sim_ports=()
for i in $(seq "$SIMS"); do
    port=$(free_port 0.0.0.0)
    start_bare "$work/sim-$i.log" "$bin" sim --host 0.0.0.0 --port "$port" --model m --id "sim-$i" --zero-latency \
        --log-level warn
    sim_ports+=("$port")
done
for i in $(seq "$SIMS"); do
    wait_health "${sim_ports[$((i - 1))]}" "$work/sim-$i.log"
done

hz=$(getconf CLK_TCK)
rows=()
for n in $COUNTS; do
    per=$(((n + SIMS - 1) / SIMS))
    [ "$per" -le 254 ] || { echo "at most $((254 * SIMS)) endpoints with SIMS=$SIMS" >&2; exit 1; }
    eps=()
    for a in $(seq "$per"); do
        for port in "${sim_ports[@]}"; do
            [ "${#eps[@]}" -lt "$n" ] && eps+=("127.0.0.$a:$port")
        done
    done
    list=$(IFS=,; echo "${eps[*]}")
    log="$work/epp-$n.log"
    start_bare "$log" "$bin" epp --endpoints "$list" --secure-serving=false --grpc-port 0 --grpc-health-port 0 \
        --metrics-port 0 --refresh-metrics-interval "$INTERVAL"
    epp=$!
    wait_log "$log" 'epp: listening grpc=' "infergate epp"
    mport=$(sed -n 's/.*epp: listening grpc=[0-9]* health=[0-9]* metrics=\([0-9]*\).*/\1/p' "$log" | head -1)
    sleep "$WARMUP"
    t0=$(date +%s.%N)
    c0=$(cpu_ticks "$epp")
    s0=$(metric "$mport" infergate_epp_scrapes_total)
    e0=$(metric "$mport" infergate_epp_scrape_errors_total)
    sleep "$DURATION"
    t1=$(date +%s.%N)
    c1=$(cpu_ticks "$epp")
    s1=$(metric "$mport" infergate_epp_scrapes_total)
    e1=$(metric "$mport" infergate_epp_scrape_errors_total)
    rss=$(rss_kib "$epp")
    kill "$epp"
    wait "$epp" 2>/dev/null || true
    rows+=("$(python3 - "$n" "$INTERVAL" "$t0" "$t1" "$c0" "$c1" "$s0" "$s1" "$e0" "$e1" "$rss" "$hz" <<'EOF'
import sys
n, iv = sys.argv[1], sys.argv[2]
t0, t1 = float(sys.argv[3]), float(sys.argv[4])
c0, c1, s0, s1, e0, e1, rss, hz = (int(x) for x in sys.argv[5:13])
ms = float(iv[:-2]) if iv.endswith("ms") else float(iv[:-1]) * 1000
dt = t1 - t0
print(f"| {n} | {iv} | {int(n) * 1000 / ms:.0f} | {(s1 - s0) / dt:.0f} | {(e1 - e0) / dt:.1f} "
      f"| {100 * (c1 - c0) / hz / dt:.1f} | {rss / 1024:.1f} |")
EOF
)")
done

echo "EPP scraper cost: $SIMS zero-latency sims, ${WARMUP}s warm-up, ${DURATION}s measured, $(nproc) CPUs"
echo
echo "| endpoints | interval | polls/s expected | polls/s achieved | scrape errors/s | EPP CPU % (one core) | RSS MiB |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
