#!/usr/bin/env bash
# infergate gateway -> endpoint picker connection: a real `infergate epp` killed and restarted, and
# TLS to the picker configured as agentgateway does it (an endpointPicker {backend: name} whose
# top-level backend carries a backendTLS policy).
#   - Outage: with the picker killed, failClosed requests answer 503 at once and failOpen ones 200
#     (the service's endpoint), while the gateway dials the picker only on its backoff schedule
#     (connection attempts counted from its log: a handful in 3 s, not one per request).
#   - Restart: the picker back on the same port is used again without restarting the gateway.
#   - Metrics: the stats port shows the channel READY, then TRANSIENT_FAILURE during the outage
#     (connect failures and fail-fast calls counted, each request's picker call counted by outcome),
#     and READY again after the restart before any request is sent (the retry probe reconnects).
#   - TLS: insecure against the picker's own self-signed certificate; the picker's certificate as
#     backendTLS.root, verified by name (hostname) and by IP; a wrong root, a wrong name and the
#     system store fail with the failure mode (503, or 200 with failOpen) and a log line saying
#     the TLS handshake failed.
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=90
PATH=/usr/bin:$PATH
T=$IG_TMP
command -v openssl >/dev/null || die "openssl is required"

sim_start --id rep-a --zero-latency --model m
A=127.0.0.1:$SIM_PORT
CHAT='{"model":"m","messages":[{"role":"user","content":"hello"}],"max_tokens":2}'

# epp_start LOG PORT [FLAGS...]: `infergate epp` picking rep-a on PORT; sets EPP_PID.
epp_start() {
    local log=$1 port=$2
    shift 2
    timeout --foreground -k 2 "$IG_TEST_TIMEOUT" "$IG_BIN" epp --endpoints "$A" --grpc-port "$port" \
        --grpc-health-port 0 --metrics-port 0 "$@" >"$log" 2>&1 &
    EPP_PID=$!
    IG_PIDS+=("$EPP_PID")
    disown "$EPP_PID" # no job report when the outage test kills it
    for _ in $(seq 100); do grep -qs 'listening grpc=' "$log" && return 0; sleep 0.05; done
    die "epp did not start: $(cat "$log")"
}

# pool_config STATS_PORT: the head of both gateways' configurations: one worker, the stats port, and
# the service default/pool whose one endpoint is rep-a.
pool_config() {
    cat <<EOF
config:
  workerThreads: 1
  statsAddr: 127.0.0.1:$1
services:
- {name: pool, namespace: default, hostname: pool, vips: [], ports: {8000: 8000}}
workloads:
- {name: w1, namespace: default, workloadIps: [127.0.0.1], services: {default/pool: {8000: $SIM_PORT}}}
EOF
}

# code PORT HEADER: status of one chat request through the gateway (body in $T/body).
code() {
    curl -sS -m 5 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$1/v1/chat/completions" -H "$2" \
        -H 'content-type: application/json' -d "$CHAT"
}

# scrape PORT: saves the stats port's /metrics page (one consistent view) to $T/metrics.
scrape() {
    curl -sS -m 5 -o "$T/metrics" "http://127.0.0.1:$1/metrics" || : >"$T/metrics"
}
# metric SERIES: the value of one series (name{labels} exactly as exposed) in the last scrape, or "absent".
metric() {
    awk -v s="$1" '$1 == s {v = $2} END {print v == "" ? "absent" : v}' "$T/metrics"
}
# state PORT PICKER: scrapes PORT; prints the picker's channels per state as idle/ready/
# transient_failure/shutdown counts, e.g. 0/1/0/0.
state() {
    local out="" st
    scrape "$1"
    for st in idle ready transient_failure shutdown; do
        out="$out/$(metric "infergate_endpoint_picker_connection_state{picker=\"$2\",state=\"$st\"}")"
    done
    echo "${out#/}"
}
# pm PICKER NAME [OUTCOME]: one of the picker's counters (NAME after infergate_endpoint_picker_) in the
# last scrape.
pm() {
    metric "infergate_endpoint_picker_$2{picker=\"$1\"${3:+,outcome=\"$3\"}}"
}

# ---- outage and restart ----------------------------------------------------------------------------
EP=$(free_port)
epp_start "$T/epp1.log" "$EP" --secure-serving=false
GP=$(free_port)
GS=$(free_port)
P=127.0.0.1:$EP
{
    pool_config "$GS"
    cat <<EOF
binds:
- port: $GP
  listeners:
  - routes:
    - name: closed
      matches: [{headers: [{name: x-mode, value: {exact: closed}}]}]
      backends:
      - service: {name: default/pool, port: 8000}
        policies: {inferenceRouting: {endpointPicker: {host: 127.0.0.1:$EP}}}
    - name: open
      backends:
      - service: {name: default/pool, port: 8000}
        policies: {inferenceRouting: {endpointPicker: {host: 127.0.0.1:$EP}, failureMode: failOpen}}
EOF
} >"$T/gw.yaml"
gateway_start "$T/gw.yaml" "$T/gw.log"
GW1=$GW_PID
ok=0
for _ in $(seq 10); do [ "$(code "$GP" 'x-mode: closed')" = 200 ] && ok=$((ok + 1)); done
check "picker up: 10 of 10 failClosed requests answered ($ok)" [ "$ok" = 10 ]
s=$(state "$GS" "$P")
check "metrics: picker up: the channel is ready ($s)" [ "$s" = 0/1/0/0 ]
a0=$(pm "$P" connect_attempts_total)
f0=$(pm "$P" connect_failures_total)
ok0=$(pm "$P" requests_total ok)
check "metrics: picker up: $a0 connection attempt, $f0 failures, $ok0 calls ok" \
    [ "$a0" = 1 -a "$f0" = 0 -a "$ok0" = 10 -a "$(pm "$P" fail_fast_requests_total)" = 0 ]

# SIGKILL to the picker itself (not to timeout(1) around it): no GOAWAY, no goodbye.
EPP_CHILD=$(pgrep -P "$EPP_PID" | head -1)
[ -n "$EPP_CHILD" ] || die "cannot find the picker process"
kill -KILL "$EPP_CHILD"
for _ in $(seq 50); do kill -0 "$EPP_CHILD" 2>/dev/null || break; sleep 0.05; done
kill -0 "$EPP_CHILD" 2>/dev/null && die "the picker survived SIGKILL"

# 3 s of requests, alternating failClosed and failOpen.
cat >"$T/outage.py" <<'EOF'
import http.client, json, sys, time
port, body = int(sys.argv[1]), sys.argv[2]
res = {"closed": [], "open": [], "closed_body": ""}
end = time.time() + 3.0
i = 0
while time.time() < end:
    mode = "closed" if i % 2 == 0 else "open"
    i += 1
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json", "x-mode": mode})
    r = c.getresponse()
    data = r.read().decode(errors="replace")
    c.close()
    res[mode].append(r.status)
    if mode == "closed":
        res["closed_body"] = data
    time.sleep(0.03)
print(json.dumps(res))
EOF
"$PY" "$T/outage.py" "$GP" "$CHAT" >"$T/outage.json" || die "outage load failed"
n_closed=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["closed"]))' "$T/outage.json")
n_open=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["open"]))' "$T/outage.json")
check "outage: every failClosed request answered 503 ($n_closed requests)" \
    pycheck 'r = json.load(open(sys.argv[1])); assert r["closed"] and set(r["closed"]) == {503}, r["closed"]' "$T/outage.json"
check "outage: every failOpen request answered 200 by the service's endpoint ($n_open requests)" \
    pycheck 'r = json.load(open(sys.argv[1])); assert r["open"] and set(r["open"]) == {200}, r["open"]' "$T/outage.json"
check "outage: the 503 says the channel is in TRANSIENT_FAILURE" \
    pycheck 'r = json.load(open(sys.argv[1])); assert "TRANSIENT_FAILURE" in r["closed_body"], r["closed_body"]' \
    "$T/outage.json"
# Backoff 250 ms x1.6 (jitter 20%): about 6 dials in 3 s. Without it every request would dial.
dials=$(grep -c 'endpoint picker 127.0.0.1: connect failed' "$T/gw.log")
check "outage: $dials connection attempts for $((n_closed + n_open)) requests (backoff, no tight loop)" \
    [ "$dials" -ge 2 -a "$dials" -le 12 -a $((n_closed + n_open)) -ge 30 ]
s=$(state "$GS" "$P")
check "metrics: outage: the channel is in transient_failure ($s)" [ "$s" = 0/0/1/0 ]
a1=$(pm "$P" connect_attempts_total) # from the scrape that saw transient_failure
f1=$(pm "$P" connect_failures_total)
ff=$(pm "$P" fail_fast_requests_total)
check "metrics: outage: attempts $a0 -> $a1 and failures $f0 -> $f1 grew by the failed dials ($dials logged)" \
    [ "$f1" -ge "$dials" -a "$f1" -le $((dials + 1)) -a "$a1" -ge $((a0 + f1 - 1)) -a "$a1" -le $((a0 + f1 + 1)) ]
check "metrics: outage: $ff of $((n_closed + n_open)) picker calls failed fast" \
    [ "$ff" -ge $((n_closed + n_open - 3)) -a "$ff" -le $((n_closed + n_open)) ]
un=$(pm "$P" requests_total unavailable)
fo=$(pm "$P" requests_total failed_open)
check "metrics: outage: calls by outcome: unavailable $un (failClosed $n_closed), failed_open $fo (failOpen $n_open)" \
    [ "$un" = "$n_closed" -a "$fo" = "$n_open" -a "$(pm "$P" requests_total ok)" = 10 ]

# The picker back on the same port: used again by the same gateway process.
epp_start "$T/epp2.log" "$EP" --secure-serving=false
# No request until the gauge says ready: the channel's own retry reconnects, and the stats port sees it.
t0=$SECONDS
s=
while [ $((SECONDS - t0)) -lt 15 ]; do
    s=$(state "$GS" "$P")
    [ "$s" = 0/1/0/0 ] && break
    sleep 0.1
done
ready_s=$((SECONDS - t0))
check "metrics: restart: the channel is ready again without traffic ($s, $ready_s s)" [ "$s" = 0/1/0/0 ]
fr=$(pm "$P" connect_failures_total) # from the scrape that saw it ready
t0=$SECONDS
back=0
while [ $((SECONDS - t0)) -lt 15 ]; do
    if [ "$(code "$GP" 'x-mode: closed')" = 200 ]; then back=1; break; fi
    sleep 0.1
done
rec=$((SECONDS - t0))
check "restart: the picker answers again within the backoff cap ($rec s)" [ "$back" = 1 ]
ok=0
for _ in $(seq 20); do [ "$(code "$GP" 'x-mode: closed')" = 200 ] && ok=$((ok + 1)); done
check "restart: 20 of 20 failClosed requests answered ($ok)" [ "$ok" = 20 ]
check "restart: the gateway was not restarted" kill -0 "$GW1"
scrape "$GS"
a2=$(pm "$P" connect_attempts_total)
ok2=$(pm "$P" requests_total ok)
check "metrics: restart: attempts grew again ($a1 -> $a2), failures stayed $fr once ready, $ok2 calls ok" \
    [ "$a2" -gt "$a1" -a "$(pm "$P" connect_failures_total)" = "$fr" -a "$ok2" -ge 31 ]
echo "$IG_TEST_NAME: outage: $((n_closed + n_open)) requests, $dials dials; channel ready $ready_s s after" \
    "restart, picker used again $rec s later"
check "restart: the channel logged its recovery" grep -q 'endpoint picker 127.0.0.1: connected after [0-9]* failed attempts' \
    "$T/gw.log"

# ---- TLS to the picker -----------------------------------------------------------------------------
mkdir -p "$T/good" "$T/bad"
for d in good bad; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout "$T/$d/tls.key" -out "$T/$d/tls.crt" \
        >/dev/null 2>&1 || die "openssl could not make a certificate"
done
ET=$(free_port)
epp_start "$T/epp-tls.log" "$ET" --secure-serving=true --cert-path "$T/good"
check "the picker serves TLS with the given certificate" grep -q 'tls=on' "$T/epp-tls.log"
ES=$(free_port)
epp_start "$T/epp-self.log" "$ES" # TLS with a self-signed certificate: upstream's default
GT=$(free_port)
GTS=$(free_port)
route() { # route NAME BACKEND [FAILURE MODE]
    cat <<EOF
    - name: $1
      matches: [{headers: [{name: x-case, value: {exact: $1}}]}]
      backends:
      - service: {name: default/pool, port: 8000}
        policies: {inferenceRouting: {endpointPicker: {backend: $2}, failureMode: ${3:-failClosed}}}
EOF
}
{
    pool_config "$GTS"
    cat <<EOF
backends:
- {name: epp-insecure, host: "127.0.0.1:$ES", policies: {backendTLS: {insecure: true}}}
- {name: epp-system, host: "127.0.0.1:$ES", policies: {backendTLS: {}}}
- {name: epp-root-name, host: "127.0.0.1:$ET", policies: {backendTLS: {root: $T/good/tls.crt, hostname: localhost}}}
- {name: epp-root-ip, host: "127.0.0.1:$ET", policies: {backendTLS: {root: $T/good/tls.crt}}}
- {name: epp-wrong-root, host: "127.0.0.1:$ET", policies: {backendTLS: {root: $T/bad/tls.crt, hostname: localhost}}}
- {name: epp-wrong-name, host: "127.0.0.1:$ET", policies: {backendTLS: {root: $T/good/tls.crt, hostname: other.example}}}
binds:
- port: $GT
  listeners:
  - routes:
EOF
    route insecure epp-insecure
    route system epp-system
    route root-name epp-root-name
    route root-ip epp-root-ip
    route wrong-root epp-wrong-root
    route wrong-root-open epp-wrong-root failOpen
    route wrong-name epp-wrong-name
} >"$T/gwt.yaml"
gateway_start "$T/gwt.yaml" "$T/gwt.log"
for c in insecure root-name root-ip; do
    ok=0
    for _ in $(seq 5); do [ "$(code "$GT" "x-case: $c")" = 200 ] && ok=$((ok + 1)); done
    check "TLS $c: 5 of 5 requests through the picker ($ok)" [ "$ok" = 5 ]
done
for c in wrong-root wrong-name system; do
    st=$(code "$GT" "x-case: $c")
    check "TLS $c: failClosed answers 503 ($st)" [ "$st" = 503 ]
done
st=$(code "$GT" "x-case: wrong-root-open")
check "TLS wrong-root with failOpen: the service's endpoint answers ($st)" [ "$st" = 200 ]
check "TLS failures say why in the log" \
    grep -q 'endpoint picker 127.0.0.1 (TLS): connect failed: TLS handshake failed' "$T/gwt.log"
check "... for the wrong root and the wrong name (two channels) and the system store" \
    [ "$(grep -c 'endpoint picker 127.0.0.1 (TLS): connect failed: TLS handshake failed' "$T/gwt.log")" -ge 3 ]
# One picker address, several channels (TLS settings differ): the gauge counts them per state.
s=$(state "$GTS" "127.0.0.1:$ET")
check "metrics: TLS: the root and IP channels ready, wrong root and wrong name in transient_failure ($s)" \
    [ "$s" = 0/2/2/0 ]
s=$(state "$GTS" "127.0.0.1:$ES")
check "metrics: TLS: insecure ready, system store in transient_failure ($s)" [ "$s" = 0/1/1/0 ]

finish
