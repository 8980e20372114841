#!/usr/bin/env bash
# infergate gateway: operations. Reload by rename-and-replace while streaming requests are in
# flight (none fails, new requests follow the new file); a broken file is rejected (logged as
# file:line:col, counted) and the old configuration keeps serving; SIGHUP reloads; the admin port
# (/config_dump redacted, /logging, /quitquitquit); readiness; SIGTERM drain (an in-flight stream
# completes, exit 0) and the drain deadline (CONNECTION_TERMINATION_DEADLINE) cutting a long one.
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=60
PATH=/usr/bin:$PATH # the distribution python3: a version-manager shim costs most of a second per call
T=$IG_TMP

sim_start --model m --decode-ms 20 --prefill-overhead-ms 0 --id sim-a
A_PORT=$SIM_PORT
sim_start --model m --decode-ms 20 --prefill-overhead-ms 0 --id sim-b
B_PORT=$SIM_PORT

GP=$(free_port); ST=$(free_port); RD=$(free_port); AD=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 || die "openssl failed"
TP=$(free_port)
write_config() { # write_config UPSTREAM_PORT FILE [EXTRA_BIND_PORT]
    local extra=""
    [ -n "${3:-}" ] && extra="
- port: $3
  listeners:
  - routes:
    - policies: {directResponse: {body: extra, status: 200}}"
    cat >"$2" <<EOF
config:
  adminAddr: localhost:$AD
  statsAddr: 127.0.0.1:$ST
  readinessAddr: 127.0.0.1:$RD
  workerThreads: 2
binds:
- port: $GP
  listeners:
  - routes:
    - name: main
      backends: [{host: 127.0.0.1:$1}]
- port: $TP
  listeners:
  - protocol: HTTPS
    tls: {cert: $T/cert.pem, key: $T/key.pem}
    routes:
    - backends: [{host: 127.0.0.1:$1}]$extra
EOF
}
mkdir -p "$T/cfg"
CFG=$T/cfg/gw.yaml
write_config "$A_PORT" "$CFG"
"$IG_BIN" gateway -f "$CFG" >"$T/gw.log" 2>&1 &
GW_PID=$!
IG_PIDS+=("$GW_PID")
wait_http "http://127.0.0.1:$RD/healthz/ready" 10 || { cat "$T/gw.log" >&2; die "gateway not ready"; }
G="http://127.0.0.1:$GP"
replica() { curl -sS -m 5 -o /dev/null -D - "$G/v1/models" | tr -d '\r' | awk -F': ' '$1 == "x-infergate-replica" { print $2 }'; }
check "first config routes to sim-a" [ "$(replica)" = sim-a ]

# streams in flight across several reloads: 8 clients, each 6 SSE requests of 10 tokens (~200 ms)
cat >"$T/load.py" <<'EOF'
import http.client, json, sys, threading
port, errors, seen = int(sys.argv[1]), [], set()
def run():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    for _ in range(6):
        try:
            c.request("POST", "/v1/completions", json.dumps({"model": "m", "prompt": "x", "max_tokens": 10, "stream": True}),
                      {"content-type": "application/json"})
            r = c.getresponse(); body = r.read()
            seen.add(r.getheader("x-infergate-replica"))
            if r.status != 200 or not body.endswith(b"data: [DONE]\n\n"):
                errors.append((r.status, body[-80:]))
        except Exception as e:
            errors.append(repr(e)); c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
ts = [threading.Thread(target=run) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print("errors", len(errors), errors[:3], "replicas", sorted(seen))
sys.exit(1 if errors else 0)
EOF
python3 "$T/load.py" "$GP" >"$T/load.out" 2>&1 &
LOAD=$!
for p in "$B_PORT" "$A_PORT" "$B_PORT"; do
    sleep 0.3
    write_config "$p" "$T/cfg/.gw.yaml.tmp"
    mv "$T/cfg/.gw.yaml.tmp" "$CFG" # rename-and-replace, as editors and ConfigMaps do
done
wait $LOAD
check "no request failed across reloads ($(cat "$T/load.out"))" [ $? = 0 ]
check "both replicas served during the reloads" grep -q "replicas \['sim-a', 'sim-b'\]" "$T/load.out"
sleep 0.3
check "after the last reload new requests go to sim-b" [ "$(replica)" = sim-b ]
check "reloads logged" [ "$(grep -c 'configuration reloaded' "$T/gw.log")" -ge 3 ]

# a broken file: rejected with file:line:col, counted, the old configuration keeps serving
printf 'binds:\n- port: %s\n  listeners:\n  - rotues: []\n' "$GP" >"$T/cfg/.bad"
mv "$T/cfg/.bad" "$CFG"
sleep 0.4
check "broken reload logged with file:line:col" grep -q "config reload rejected.*gw.yaml:4:5: .*rotues" "$T/gw.log"
check "old configuration keeps serving" [ "$(replica)" = sim-b ]
curl -sS -m 5 "http://127.0.0.1:$ST/metrics" >"$T/m1.txt"
check "failed reload counted" grep -q '^infergate_config_reloads_total{result="failure"} 1$' "$T/m1.txt"
check "successful reloads counted" grep -q '^infergate_config_reloads_total{result="success"} 3$' "$T/m1.txt"

# SIGHUP reloads (here back to sim-a, written in place)
write_config "$A_PORT" "$CFG"
kill -HUP "$GW_PID"
sleep 0.4
check "SIGHUP reload logged" grep -q 'SIGHUP: reloading' "$T/gw.log"
check "after SIGHUP: sim-a" [ "$(replica)" = sim-a ]

# a bind added by a reload is opened on every worker; removed again, it is closed
NP=$(free_port)
write_config "$A_PORT" "$T/cfg/.n" "$NP" && mv "$T/cfg/.n" "$CFG"
ok=0
for _ in $(seq 40); do [ "$(curl -s -m 1 "http://127.0.0.1:$NP/")" = extra ] && { ok=1; break; }; sleep 0.05; done
check "new bind port serves after reload" [ $ok = 1 ]
write_config "$A_PORT" "$T/cfg/.n" && mv "$T/cfg/.n" "$CFG"
ok=0
for _ in $(seq 40); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$NP/" || { ok=1; break; }; sleep 0.05; done
check "removed bind port closed after reload" [ $ok = 1 ]
check "old bind still serves" [ "$(replica)" = sim-a ]

# admin port
curl -sS -m 5 "http://127.0.0.1:$AD/config_dump" >"$T/dump.json"
check "/config_dump is JSON with the route" pycheck '
d = json.load(open(sys.argv[1])); s = json.dumps(d)
assert "main" in s and "binds" in d, list(d)
assert "PRIVATE KEY" not in s and "<redacted>" in s, "key material or path leaked"' "$T/dump.json"
check "/logging shows the level" bash -c "curl -sS -m 5 'http://127.0.0.1:$AD/logging' | grep -q 'info'"
check "POST /logging?level=debug" [ "$(curl -sS -m 5 -X POST -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AD/logging?level=debug")" = 200 ]
check "level is now debug" bash -c "curl -sS -m 5 'http://127.0.0.1:$AD/logging' | grep -q debug"
check "bad level 400" [ "$(curl -sS -m 5 -X POST -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AD/logging?level=loud")" = 400 ]
check "readiness 200" [ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RD/healthz/ready")" = 200 ]
check "/stats/prometheus alias" bash -c "curl -sS -m 5 'http://127.0.0.1:$ST/stats/prometheus' | grep -q '^infergate_requests_total{'"

# SIGTERM drain: a 30-token stream (~600 ms) started before the signal completes; exit 0
curl -sS -m 10 -H 'content-type: application/json' -o "$T/drain.sse" \
    -d '{"model":"m","prompt":"d","max_tokens":30,"stream":true}' "$G/v1/completions" &
C1=$!
sleep 0.15
kill -TERM "$GW_PID"
sleep 0.1
check "readiness 503 while draining" [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RD/healthz/ready")" = 503 ]
check "new connections refused while draining" bash -c "! curl -s -m 2 -o /dev/null '$G/v1/models'"
wait $C1
check "in-flight stream completed during the drain" bash -c "tail -c 20 '$T/drain.sse' | grep -q 'data: \[DONE\]'"
for _ in $(seq 50); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
wait "$GW_PID"
check "drained gateway exits 0" [ $? = 0 ]
check "drain logged" grep -q 'drained, exiting' "$T/gw.log"

# /quitquitquit with a short drain deadline: a long stream is cut, the process still exits 0
CONNECTION_TERMINATION_DEADLINE=300ms "$IG_BIN" gateway -f "$CFG" >"$T/gw2.log" 2>&1 &
GW2=$!
IG_PIDS+=("$GW2")
wait_http "http://127.0.0.1:$RD/healthz/ready" 10 || die "second gateway not ready"
curl -sS -m 10 -H 'content-type: application/json' -o "$T/cut.sse" \
    -d '{"model":"m","prompt":"d","max_tokens":500,"stream":true}' "$G/v1/completions" 2>/dev/null &
C2=$!
sleep 0.2
check "POST /quitquitquit 200" [ "$(curl -sS -m 5 -X POST -o /dev/null -w '%{http_code}' "http://127.0.0.1:$AD/quitquitquit")" = 200 ]
start=$SECONDS
wait $C2
for _ in $(seq 50); do kill -0 "$GW2" 2>/dev/null || break; sleep 0.1; done
check "deadline: exited within 3 s" [ $((SECONDS - start)) -le 3 ]
wait "$GW2"
check "deadline drain exit 0" [ $? = 0 ]
check "the long stream was cut" bash -c "! tail -c 20 '$T/cut.sse' | grep -q 'DONE'"
check "deadline logged" grep -q 'drain deadline reached' "$T/gw2.log"
finish
