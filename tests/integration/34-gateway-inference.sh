#!/usr/bin/env bash
# infergate gateway, inferenceRouting: the gateway side of the Endpoint Picker Protocol against an
# independent EPP stub (tests/js/epp-stub.mjs, @grpc/grpc-js) and three `infergate sim` replicas.
# The standalone agentgateway configuration exactly as documented (only its two ports changed);
# traffic goes only where the picker says (1, 2 and 3 of 3 replicas, 100 requests 10 at a time);
# a client-sent destination header is ignored; the served-endpoint metadata reaches the picker;
# ImmediateResponse 429 / 503 pass through; a dead primary of a comma list falls through; a 1 MB
# body and an SSE stream round-trip through the picker; validated mode refuses an endpoint outside
# the service; with the picker down failClosed answers 503 and failOpen 200 (service endpoints in
# validated mode, recently picked endpoints in passthrough mode).
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=90
PATH=/usr/bin:$PATH
T=$IG_TMP
command -v node >/dev/null || die "node is required"
[ -d "$IG_ROOT/tests/js/node_modules/@grpc/grpc-js" ] || die "run npm ci in tests/js first"

# ---- three replicas and the picker --------------------------------------------------------------
sim_start --id rep-a --zero-latency --model m
PA=$SIM_PORT A_URL=$SIM_URL
sim_start --id rep-b --zero-latency --model m
PB=$SIM_PORT
sim_start --id rep-c --zero-latency --model m
PC=$SIM_PORT
A=127.0.0.1:$PA B=127.0.0.1:$PB C=127.0.0.1:$PC
DEAD=127.0.0.1:$(free_port)

# epp_start: the stub on a fixed port (EPP_PORT), picking over the three replicas.
EPP_PORT=$(free_port)
epp_start() {
    timeout -k 2 "$IG_TEST_TIMEOUT" node "$IG_ROOT/tests/js/epp-stub.mjs" --port "$EPP_PORT" --endpoints "$A,$B,$C" \
        >"$T/epp.log" 2>&1 &
    EPP_PID=$!
    IG_PIDS+=("$EPP_PID")
    for _ in $(seq 100); do grep -q 'listening' "$T/epp.log" && return 0; sleep 0.05; done
    die "epp stub did not start: $(cat "$T/epp.log")"
}
epp_start

# ---- the standalone configuration, exactly as documented ------------------------------------------
cat >"$T/seed.yaml" <<'EOF'
services:
- name: my-model
  namespace: default
  hostname: my-model
  vips: []
  ports:
    8000: 8000

binds:
- port: 8081
  listeners:
  - routes:
    - backends:
      - service:
          name: default/my-model
          port: 8000
        policies:
          inferenceRouting:
            endpointPicker:
              host: 127.0.0.1:9002
            destinationMode: passthrough
EOF
GP=$(free_port)
sed -e "s/^- port: 8081$/- port: $GP/" -e "s/host: 127.0.0.1:9002$/host: 127.0.0.1:$EPP_PORT/" "$T/seed.yaml" >"$T/gw.yaml"
check "only the two ports differ from the documented configuration" \
    [ "$(diff "$T/seed.yaml" "$T/gw.yaml" | grep -c '^[<>]')" = 4 ]
"$IG_BIN" gateway -f "$T/gw.yaml" >"$T/gw.log" 2>&1 &
IG_PIDS+=($!)
for _ in $(seq 100); do grep -q 'ready:' "$T/gw.log" && break; sleep 0.05; done
grep -q 'ready:' "$T/gw.log" || die "gateway did not start: $(cat "$T/gw.log")"
G=http://127.0.0.1:$GP
CHAT='{"model":"m","messages":[{"role":"user","content":"hello"}],"max_tokens":3}'

# load N CONCURRENCY [HEADER...]: N chat requests, prints "status:replica count" lines.
cat >"$T/load.py" <<'EOF'
import collections, http.client, sys, concurrent.futures as cf
port, n, conc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
hdrs = {"content-type": "application/json"}
for h in sys.argv[5:]:
    k, v = h.split(":", 1); hdrs[k.strip()] = v.strip()
def one(_):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/v1/chat/completions", sys.argv[4], hdrs)
    r = c.getresponse(); r.read()
    out = "%d:%s:%s" % (r.status, r.getheader("x-infergate-replica"), r.getheader("x-epp-served"))
    c.close(); return out
with cf.ThreadPoolExecutor(conc) as ex:
    counts = collections.Counter(ex.map(one, range(n)))
for k, v in sorted(counts.items()): print(k, v)
EOF
load() {
    local port=$1 n=$2 conc=$3
    shift 3
    "$PY" "$T/load.py" "$port" "$n" "$conc" "$CHAT" "$@"
}

# ---- traffic goes only where the picker says -----------------------------------------------------
load "$GP" 100 10 "test-epp-endpoint-selection: $A" >"$T/one"
check "1 of 3: every request on rep-a, served metadata seen by the picker" \
    [ "$(cat "$T/one")" = "200:rep-a:$A 100" ]
load "$GP" 100 10 "test-epp-endpoint-selection: $A,$C" >"$T/two"
check "2 of 3: only rep-a and rep-c, both used" pycheck '
c = dict(l.split() for l in open(sys.argv[1]))
assert set(c) == {"200:rep-a:" + sys.argv[2], "200:rep-c:" + sys.argv[3]}, c
assert sum(map(int, c.values())) == 100 and min(map(int, c.values())) >= 30, c' "$T/two" "$A" "$C"
load "$GP" 100 10 >"$T/three"
check "3 of 3: all replicas, round-robin" pycheck '
c = dict(l.split() for l in open(sys.argv[1]))
assert len(c) == 3 and all(k.startswith("200:rep-") for k in c), c
assert min(map(int, c.values())) >= 25, c' "$T/three"

# ---- a client never chooses the upstream ---------------------------------------------------------
load "$GP" 20 5 "test-epp-endpoint-selection: $B" "x-gateway-destination-endpoint: $C" \
    "x-gateway-destination-endpoint-fallback: $C" >"$T/spoof"
check "client-sent destination header ignored" [ "$(cat "$T/spoof")" = "200:rep-b:$B 20" ]
curl -sS -m 5 -o /dev/null -D "$T/spoof.h" "$G/v1/chat/completions" -H "X-Gateway-Destination-Endpoint: $C" \
    -H "x-gateway-destination-endpoint-served: $C" -H "test-epp-endpoint-selection: $B" -d "$CHAT"
check "client-sent destination headers never reach the picker" grep -qi "^x-epp-served: $B" "$T/spoof.h"
check "... (none seen)" bash -c "! grep -qi '^x-epp-saw-destination' '$T/spoof.h'"
load "$GP" 20 5 "test-epp-endpoint-selection: $B" "test-epp-metadata-only: 1" \
    "x-gateway-destination-endpoint: $C" >"$T/meta"
check "pick from envoy.lb metadata only (client header ignored)" [ "$(cat "$T/meta")" = "200:rep-b:$B 20" ]

# ---- ImmediateResponse ---------------------------------------------------------------------------
for st in 429 503; do
    code=$(curl -sS -m 5 -D "$T/h$st" -o "$T/b$st" -w '%{http_code}' "$G/v1/chat/completions" \
        -H "test-epp-immediate: $st" -d "$CHAT")
    check "immediate $st status" [ "$code" = "$st" ]
    check "immediate $st body" grep -q "inference error: stub $st" "$T/b$st"
    check "immediate $st headers" grep -qi '^x-epp-immediate: yes' "$T/h$st"
done

# ---- destination lists ---------------------------------------------------------------------------
load "$GP" 10 2 "test-epp-destination: $DEAD,$C" >"$T/list"
check "dead primary of a comma list falls through to the next" [ "$(cat "$T/list")" = "200:rep-c:$C 10" ]
code=$(curl -sS -m 5 -o "$T/inv" -w '%{http_code}' "$G/v1/chat/completions" -H "test-epp-destination: nonsense" \
    -d "$CHAT")
check "invalid destination -> 503 ($code)" [ "$code" = 503 ]

# ---- bodies both ways ----------------------------------------------------------------------------
"$PY" -c 'import json; print(json.dumps({"model": "m", "max_tokens": 3,
  "messages": [{"role": "user", "content": "word " * 209000}]}))' >"$T/big.json"
check "the big body is over 1 MB" [ "$(stat -c %s "$T/big.json")" -gt 1000000 ]
curl -sS -m 20 -o "$T/big.direct" -H 'content-type: application/json' --data-binary @"$T/big.json" \
    "$A_URL/v1/chat/completions"
curl -sS -m 20 -o "$T/big.gw" -H 'content-type: application/json' -H "test-epp-endpoint-selection: $A" \
    --data-binary @"$T/big.json" "$G/v1/chat/completions"
# The replica's answer counts the prompt's tokens: the same answer means the same body arrived.
check "1 MB body round-trips through the picker" pycheck '
d, g = (json.load(open(p)) for p in sys.argv[1:3])
assert "error" in d and "tokens" in d["error"]["message"], d
assert d == g, (d, g)' "$T/big.direct" "$T/big.gw"
check "1 MB body: access log counts it" grep -q "request.body_bytes=$(stat -c %s "$T/big.json") " "$T/gw.log"
curl -sS -m 10 -N -o "$T/sse" "$G/v1/chat/completions" -H "test-epp-endpoint-selection: $B" \
    -d '{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"stream":true}'
check "SSE stream through the picker" [ "$(grep -c '^data: {' "$T/sse")" = 4 ]
check "SSE stream ends with [DONE]" grep -q '^data: \[DONE\]' "$T/sse"
code=$(curl -sS -m 5 -o "$T/models" -w '%{http_code}' --http2-prior-knowledge "$G/v1/models")
check "header-only GET over h2 -> 200 ($code)" [ "$code" = 200 ]

# ---- failure modes -------------------------------------------------------------------------------
GF=$(free_port)
cat >"$T/gwf.yaml" <<EOF
config:
  workerThreads: 1
services:
- {name: my-model, namespace: default, hostname: my-model, vips: [], ports: {8000: 8000}}
- {name: pool, namespace: default, hostname: pool, vips: [], ports: {8000: 8000}}
workloads:
- {name: w1, namespace: default, workloadIps: [127.0.0.1], services: {default/pool: {8000: $PB}}}
binds:
- port: $GF
  listeners:
  - routes:
    - name: closed
      matches: [{headers: [{name: x-mode, value: {exact: closed}}]}]
      backends:
      - service: {name: default/my-model, port: 8000}
        policies: {inferenceRouting: {endpointPicker: {host: 127.0.0.1:$EPP_PORT}, destinationMode: passthrough}}
    - name: open
      matches: [{headers: [{name: x-mode, value: {exact: open}}]}]
      backends:
      - service: {name: default/my-model, port: 8000}
        policies:
          inferenceRouting:
            endpointPicker: {host: 127.0.0.1:$EPP_PORT}
            destinationMode: passthrough
            failureMode: failOpen
    - name: validated
      backends:
      - service: {name: default/pool, port: 8000}
        policies: {inferenceRouting: {endpointPicker: {host: 127.0.0.1:$EPP_PORT}, failureMode: failOpen}}
EOF
"$IG_BIN" gateway -f "$T/gwf.yaml" >"$T/gwf.log" 2>&1 &
IG_PIDS+=($!)
for _ in $(seq 100); do grep -q 'ready:' "$T/gwf.log" && break; sleep 0.05; done
grep -q 'ready:' "$T/gwf.log" || die "second gateway did not start: $(cat "$T/gwf.log")"

load "$GF" 4 1 "x-mode: open" "test-epp-endpoint-selection: $C" >"$T/learn"
check "passthrough with the picker up" [ "$(cat "$T/learn")" = "200:rep-c:$C 4" ]
load "$GF" 4 1 "test-epp-endpoint-selection: $B" >"$T/val"
check "validated: a service endpoint is accepted" [ "$(cat "$T/val")" = "200:rep-b:$B 4" ]
code=$(curl -sS -m 5 -o "$T/out" -w '%{http_code}' "http://127.0.0.1:$GF/v1/chat/completions" \
    -H "test-epp-endpoint-selection: $A" -d "$CHAT")
check "validated: an endpoint outside the service -> 503 ($code)" [ "$code" = 503 ]

kill -TERM "$EPP_PID"
for _ in $(seq 50); do kill -0 "$EPP_PID" 2>/dev/null || break; sleep 0.1; done
code=$(curl -sS -m 10 -o "$T/fc" -w '%{http_code}' "http://127.0.0.1:$GF/v1/chat/completions" -H 'x-mode: closed' \
    -d "$CHAT")
check "failClosed, picker down -> 503 ($code)" [ "$code" = 503 ]
check "failClosed says why" grep -q 'endpoint picker unavailable' "$T/fc"
code=$(curl -sS -m 10 -o "$T/fc" -w '%{http_code}' "$G/v1/chat/completions" -d "$CHAT")
check "seed config (fail-closed), picker down -> 503 ($code)" [ "$code" = 503 ]
load "$GF" 10 2 "x-mode: open" >"$T/fo"
check "failOpen passthrough, picker down -> recently picked endpoint ($(cat "$T/fo"))" [ "$(cat "$T/fo")" = "200:rep-c:None 10" ]
load "$GF" 10 2 >"$T/fov"
check "failOpen validated, picker down -> the service's endpoint" [ "$(cat "$T/fov")" = "200:rep-b:None 10" ]
code=$(curl -sS -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GF/v1/chat/completions" \
    -H 'content-type: application/json' --data-binary @"$T/big.json")
check "failOpen replays a 1 MB body ($code)" [ "$code" = 400 ]
check "access log: epp_unavailable" grep -q 'error=epp_unavailable' "$T/gwf.log"

# the picker back: requests go through it again (the channel reconnects)
epp_start
load "$GF" 4 1 "test-epp-endpoint-selection: $B" >"$T/again"
check "picker restarted: used again" [ "$(cat "$T/again")" = "200:rep-b:$B 4" ]

finish
