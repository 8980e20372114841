#!/usr/bin/env bash
# infergate demo with a two-stage ladder of a few seconds per arm on ports of its own, into the
# directory of an earlier run: exit 0, both arms, the side-by-side table and comparison lines, the
# plot and report files, the earlier files replaced, no process of the demo left behind; a
# directory the demo did not make is refused. Then the stops: SIGINT mid-run (exit 130, every component
# gone), SIGKILL mid-run (the components follow the demo), a busy port (named, nothing started),
# a failing component (named, its log shown, everything stopped), and flag errors.
source "$(dirname "$0")/lib.sh"

T=$IG_TMP

# demo_pids PID: the processes the demo PID started that are still there (they carry
# IG_DEMO_PARENT=PID in their initial environment, whoever their parent is now).
demo_pids() {
    grep -l -s -a "IG_DEMO_PARENT=$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
}

# no_leftovers PID: waits up to 6 s (the demo's own SIGTERM grace is 5 s) for them to be gone.
no_leftovers() {
    for _ in $(seq 60); do
        [ -z "$(demo_pids "$1")" ] && return 0
        sleep 0.1
    done
    echo "left behind: $(demo_pids "$1" | tr '\n' ' ')" >&2
    return 1
}

# Ports: 11 distinct ones, chosen at random above 20000 (below the ephemeral range); the demo
# refuses busy ones itself, so a clash costs a retry, never a wrong result.
pick_ports() {
    local base=$((20000 + (RANDOM % 1000) * 10))
    PORTS=(--sim-base-port "$base" --rr-port $((base + 4)) --ir-port $((base + 5)) --epp-port $((base + 6))
        --epp-health-port $((base + 7)) --epp-metrics-port $((base + 8)) --rr-ready-port $((base + 9))
        --ir-ready-port $((base + 10)))
    BASE=$base
}

# run_demo OUTDIR [FLAGS...]: the demo in the foreground with fresh ports; retries on a port clash.
run_demo() {
    local out=$1 rc
    shift
    for _ in 1 2 3; do
        pick_ports
        timeout -k 5 90 "$IG_BIN" demo --out "$out" "${PORTS[@]}" "$@" >"$T/demo.out" 2>"$T/demo.err"
        rc=$?
        grep -q "already in use" "$T/demo.err" || return $rc
    done
    return $rc
}

# ---- a full short run ---------------------------------------------------------------------------
# into a directory left by an earlier run: its files are replaced
OUT=$T/out
mkdir -p "$OUT/logs" && touch "$OUT/.infergate-demo" "$OUT/demo-stale.dat" "$OUT/logs/stale.log"
run_demo "$OUT" --rates 4:1s,8:2s
rc=$?
check "demo exits 0 (rc $rc)" [ "$rc" = 0 ] || { tail -30 "$T/demo.out" "$T/demo.err" >&2; }
check "the inference standalone configuration moved to our ports" \
    grep -q "listens on $((BASE + 5)) and asks the EPP on $((BASE + 6))" "$T/demo.out"
check "both arms ran" grep -q "inference-routing: shared-prefix load" "$T/demo.out"
# the side-by-side table: its header, then 2 stages x 2 arms with no failures
check "side-by-side table" pycheck '
lines = open(sys.argv[1]).read().splitlines()
head = [i for i, l in enumerate(lines) if l.startswith("arm ") and "TTFT p50" in l]
assert head, "no table header"
rows = [l.split() for l in lines[head[-1] + 1:head[-1] + 5]]
assert [(r[0], r[1]) for r in rows] == [("round-robin", "1"), ("round-robin", "2"),
                                        ("inference-routing", "1"), ("inference-routing", "2")], rows
for r in rows:
    assert int(r[4]) > 0 and r[5] == "0", r  # ok > 0, failed == 0
' "$T/demo.out"
check "one comparison line per stage" [ "$(grep -c '^demo: [48] req/s: TTFT p50 .* round-robin vs .* inference-routing' "$T/demo.out")" = 2 ]
check "done line" grep -q "^demo: done in .* every process started has been stopped" "$T/demo.out"
for f in round-robin.json inference-routing.json merged.txt demo.csv demo.gp round-robin.yaml standalone-epp.yaml \
    logs/sim-1.log logs/epp.log logs/gateway-inference.log logs/bench-round-robin.log; do
    check "$f written" [ -s "$OUT/$f" ]
done
if command -v gnuplot >/dev/null 2>&1; then
    check "plot rendered (PNG and SVG)" [ -s "$OUT/demo.png" ] && check "SVG" [ -s "$OUT/demo.svg" ]
    check "plot line printed" grep -q "^demo: plot: $OUT/demo.png" "$T/demo.out"
fi
check "the arms' JSON" pycheck '
for f in sys.argv[1:]:
    d = json.load(open(f))
    assert [s["rate"] for s in d["stages"]] == [4, 8], d["stages"]
    assert all(s["requests"]["succeeded"] > 0 for s in d["stages"]), f
' "$OUT/round-robin.json" "$OUT/inference-routing.json"
check "the inference arm was served by the demo's replicas" pycheck '
st = json.load(open(sys.argv[1]))["stages"]
seen = set().union(*(s["replicas"].keys() for s in st))
assert seen <= {"sim-1", "sim-2", "sim-3", "sim-4"} and len(seen) >= 2, seen
' "$OUT/inference-routing.json"
check "the earlier run's files are gone" [ ! -e "$OUT/demo-stale.dat" ]
check "the earlier run's logs are gone" [ ! -e "$OUT/logs/stale.log" ]
check "nothing listens on the demo's ports after it" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$BASE) 2>/dev/null"

# ---- a directory not made by the demo is refused ---------------------------------------------------
mkdir -p "$T/mine" && touch "$T/mine/keep"
"$IG_BIN" demo --out "$T/mine" "${PORTS[@]}" >"$T/mine.out" 2>"$T/mine.err"
check "a directory not made by the demo is refused (exit 1)" [ $? = 1 ]
check "refused: said why" grep -q "not a demo output directory" "$T/mine.err"
check "refused: its file kept" [ -e "$T/mine/keep" ]

# ---- SIGINT mid-run --------------------------------------------------------------------------------
# (no timeout(1) around it: the demo is the direct child, and its 30 s stage bounds it anyway)
pick_ports
"$IG_BIN" demo --out "$T/int" "${PORTS[@]}" --rates 4:30s >"$T/int.out" 2>"$T/int.err" &
DPID=$!
IG_PIDS+=("$DPID")
for _ in $(seq 150); do
    grep -q "round-robin: shared-prefix load" "$T/int.out" 2>/dev/null && break
    sleep 0.1
done
sleep 1
# 4 simulators, the gateway and the load generator
check "six components running mid-run" [ "$(demo_pids "$DPID" | wc -l)" = 6 ]
kill -INT "$DPID" 2>/dev/null
wait "$DPID"
rc=$?
check "SIGINT: exit 130 (rc $rc)" [ "$rc" = 130 ]
check "SIGINT: said so" grep -q "interrupted; stopping everything" "$T/int.out"
check "SIGINT: no process left behind" no_leftovers "$DPID"

# ---- SIGKILL mid-run: the components die with the demo ---------------------------------------------
pick_ports
"$IG_BIN" demo --out "$T/kill" "${PORTS[@]}" --rates 4:30s >"$T/kill.out" 2>&1 &
KPID=$!
IG_PIDS+=("$KPID")
for _ in $(seq 150); do
    [ "$(demo_pids "$KPID" | wc -l)" -ge 4 ] && break
    sleep 0.1
done
sleep 0.3
check "SIGKILL: components running first" [ "$(demo_pids "$KPID" | wc -l)" -ge 4 ]
kill -KILL "$KPID"
{ wait "$KPID"; } 2>/dev/null
check "SIGKILL: no process left behind" no_leftovers "$KPID"

# ---- a busy port: named, nothing started -----------------------------------------------------------
sim_start --zero-latency --id blocker
"$IG_BIN" demo --out "$T/busy" --rr-port "$SIM_PORT" --sim-base-port 1 >"$T/busy.out" 2>"$T/busy.err"
rc=$?
check "busy port: exit 1 (rc $rc)" [ "$rc" = 1 ]
check "busy port: named" grep -q "port(s) .*$SIM_PORT.* already in use" "$T/busy.err"
check "busy port: nothing started" bash -c "! grep -q 'simulator replicas' '$T/busy.out'"

# ---- a failing component: named, log shown, everything stopped -------------------------------------
# rate 0 passes the demo's syntax check and is refused by infergate bench once the stack is up
pick_ports
"$IG_BIN" demo --out "$T/fail" "${PORTS[@]}" --rates 0 >"$T/fail.out" 2>"$T/fail.err" &
FPID=$!
IG_PIDS+=("$FPID")
wait "$FPID"
rc=$?
check "failing component: exit 1 (rc $rc)" [ "$rc" = 1 ]
check "failing component: named" grep -q "FAILED: infergate bench (round-robin) exited with status 2" "$T/fail.err"
check "failing component: its log shown" grep -q "^---- last lines of .*bench-round-robin.err" "$T/fail.err"
check "failing component: no process left behind" no_leftovers "$FPID"

# ---- flags -----------------------------------------------------------------------------------------
"$IG_BIN" demo --help >"$T/help.txt"
check "--help exits 0" [ $? = 0 ]
for opt in --out --rates --sim-base-port --rr-port --ir-port --epp-port --epp-health-port --epp-metrics-port \
    --rr-ready-port --ir-ready-port; do
    check "--help documents $opt" grep -q -- "^  $opt " "$T/help.txt"
done
"$IG_BIN" demo --no-such-flag 2>/dev/null
check "unknown flag: exit 2" [ $? = 2 ]
"$IG_BIN" demo --rr-port 70000 2>/dev/null
check "bad port: exit 2" [ $? = 2 ]
"$IG_BIN" demo --rr-port 9100 --ir-port 9100 2>/dev/null
check "duplicate port: exit 2" [ $? = 2 ]
"$IG_BIN" demo --rates fast 2>/dev/null
check "bad rates: exit 2" [ $? = 2 ]
"$IG_BIN" --help | grep -q "^  demo "
check "infergate --help lists demo" [ $? = 0 ]

finish
