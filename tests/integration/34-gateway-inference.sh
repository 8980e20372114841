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
GP=$(free_port)
seed_config "$T/gw.yaml" "$GP" "$EPP_PORT"
gateway_start "$T/gw.yaml" "$T/gw.log"
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

# ---- response modes (responseMode) and trailers ---------------------------------------------------
# Stub test headers: test-epp-rewrite-response makes its response-body answers differ from the
# upstream's bytes; test-epp-answer-observed makes it answer observability_mode messages anyway.
# The stub prints one "call id=<x-request-id> ..." line per call with what it received.
timeout -k 2 "$IG_TEST_TIMEOUT" node "$IG_ROOT/tests/js/trailers-peer.mjs" upstream 0 >"$T/up.log" 2>&1 &
IG_PIDS+=($!)
for _ in $(seq 100); do grep -q 'listening' "$T/up.log" && break; sleep 0.05; done
UPP=$(sed -n 's/^trailers-peer listening on \([0-9]*\)$/\1/p' "$T/up.log")
[ -n "$UPP" ] || die "h2 upstream did not start: $(cat "$T/up.log")"
GM=$(free_port)
{
    printf 'config:\n  workerThreads: 1\nservices:\n'
    printf -- '- {name: my-model, namespace: default, hostname: my-model, vips: [], ports: {8000: 8000}}\n'
    printf 'binds:\n- port: %s\n  listeners:\n  - routes:\n' "$GM"
    for m in full observe headers; do
        for v in 1 2; do
            printf '    - name: %s-%s\n' "$m" "$v"
            printf '      matches: [{headers: [{name: x-rmode, value: {exact: %s-%s}}]}]\n' "$m" "$v"
            printf '      backends:\n      - service: {name: default/my-model, port: 8000}\n        policies:\n'
            [ "$v" = 2 ] && printf '          http: {version: HTTP/2}\n'
            printf '          inferenceRouting:\n            endpointPicker: {host: 127.0.0.1:%s}\n' "$EPP_PORT"
            printf '            destinationMode: passthrough\n            responseMode: %s\n' "$m"
        done
    done
} >"$T/gwm.yaml"
gateway_start "$T/gwm.yaml" "$T/gwm.log" "response-mode gateway"

# sse MODE ID [curl args]: a 4-token stream from rep-b through route MODE-1, tagged x-request-id ID.
sse() {
    local mode=$1 id=$2
    shift 2
    curl -sS -m 10 -N -D "$T/$id.h" -o "$T/$id.sse" "http://127.0.0.1:$GM/v1/chat/completions" \
        -H "x-rmode: $mode-1" -H "x-request-id: $id" -H "test-epp-endpoint-selection: $B" "$@" \
        -d '{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"stream":true}'
}
# stub ID KEY: what the stub reported for call ID (waits for the call's end).
stub() {
    for _ in $(seq 50); do grep -q "^call id=$1 " "$T/epp.log" && break; sleep 0.1; done
    grep "^call id=$1 " "$T/epp.log" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
REW=(-H "test-epp-rewrite-response: 1" -H "test-epp-answer-observed: 1")

sse full rm-full "${REW[@]}"
check "full: the client gets the picker's body (rewritten chunks)" [ "$(grep -c '^data: {"epp":1,' "$T/rm-full.sse")" = 4 ]
check "full: the head was answered by the picker" grep -qi "^x-epp-served: $B" "$T/rm-full.h"
check "full: protocol_config response body mode FULL_DUPLEX_STREAMED" [ "$(stub rm-full rbm)" = FULL_DUPLEX_STREAMED ]
check "full: nothing marked observed" [ "$(stub rm-full observed)" = 0 ]

sse observe rm-obs "${REW[@]}"
check "observe: 4 upstream chunks" [ "$(grep -c '^data: {"id"' "$T/rm-obs.sse")" = 4 ]
check "observe: [DONE]" grep -q '^data: \[DONE\]' "$T/rm-obs.sse"
check "observe: a rewriting picker's answers are ignored" bash -c "! grep -q '\"epp\":1' '$T/rm-obs.sse'"
check "observe: its answer to the head is ignored too" bash -c "! grep -qi '^x-epp-served' '$T/rm-obs.h'"
check "observe: protocol_config response body mode STREAMED" [ "$(stub rm-obs rbm)" = STREAMED ]
check "observe: the picker saw the head and the end of the body" \
    [ "$(stub rm-obs resp_headers):$(stub rm-obs resp_eos)" = 1:1 ]
check "observe: the picker saw every byte the client got ($(stub rm-obs resp_bytes))" \
    [ "$(stub rm-obs resp_bytes)" = "$(stat -c %s "$T/rm-obs.sse")" ]
check "observe: every response message marked observability_mode" \
    [ "$(stub rm-obs observed)" = $(($(stub rm-obs resp_chunks) + 1)) ]
check "observe: the call ends with the response (half-close)" [ "$(stub rm-obs end)" = half-close ]
sse observe rm-obs2
check "observe, a picker that follows the flag: stream complete" [ "$(grep -c '^data: {"id"' "$T/rm-obs2.sse")" = 4 ]

sse headers rm-hdr "${REW[@]}"
check "headers: 4 upstream chunks" [ "$(grep -c '^data: {"id"' "$T/rm-hdr.sse")" = 4 ]
check "headers: the picker's body answers never apply" bash -c "! grep -q '\"epp\":1' '$T/rm-hdr.sse'"
check "headers: the head was answered by the picker" grep -qi "^x-epp-served: $B" "$T/rm-hdr.h"
check "headers: protocol_config response body mode NONE" [ "$(stub rm-hdr rbm)" = NONE ]
check "headers: the picker got the head and no body" \
    [ "$(stub rm-hdr resp_headers):$(stub rm-hdr resp_chunks):$(stub rm-hdr resp_bytes)" = 1:0:0 ]
check "headers: the end of the response reaches the picker (half-close)" [ "$(stub rm-hdr end)" = half-close ]

# h2 both ways: request trailers from the client, response trailers from an h2c upstream.
for m in full observe headers; do
    timeout 15 node "$IG_ROOT/tests/js/trailers-peer.mjs" client "http://127.0.0.1:$GM" "x-rmode: $m-2" \
        "x-request-id: tr-$m" "test-epp-destination: 127.0.0.1:$UPP" "test-epp-answer-observed: 1" >"$T/tr-$m.json"
    check "$m: h2 exchange with trailers both ways" pycheck '
o = json.load(open(sys.argv[1]))
assert o["status"] == 200, o
assert o["body"] == "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n", o
assert o["trailers"].get("x-up-trailer") == "1", o
assert o["trailers"].get("x-up-body-bytes") == "42", o' "$T/tr-$m.json"
    check "$m: request trailers reach the picker" [ "$(stub "tr-$m" req_trailers)" = "x-client-trailer:abc" ]
    check "$m: response trailers reach the picker" bash -c "grep '^call id=tr-$m ' '$T/epp.log' | grep -q 'resp_trailers=x-up-trailer:1;'"
done
# HTTP/1.1: the trailers of a chunked request body reach the picker as well.
check "full: h1 chunked request with a trailer answered" "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
body = b"{\"model\":\"m\",\"prompt\":\"hi\",\"max_tokens\":2}"
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
          b"Transfer-Encoding: chunked\r\nx-rmode: full-2\r\nx-request-id: tr-h1\r\n"
          b"test-epp-destination: 127.0.0.1:" + sys.argv[2].encode() + b"\r\n\r\n"
          + b"%x\r\n" % len(body) + body + b"\r\n0\r\nx-client-trailer: abc\r\n\r\n")
r = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    r += d
assert r.startswith(b"HTTP/1.1 200"), r
assert b"data: {\"n\":2}" in r, r' "$GM" "$UPP"
check "full: h1 request trailers reach the picker" [ "$(stub tr-h1 req_trailers)" = "x-client-trailer:abc" ]
check "full: the picker's trailers answer applies" \
    pycheck 'assert json.load(open(sys.argv[1]))["trailers"].get("x-epp-trailer") == "seen"' "$T/tr-full.json"
check "headers: the picker's trailers answer applies" \
    pycheck 'assert json.load(open(sys.argv[1]))["trailers"].get("x-epp-trailer") == "seen"' "$T/tr-headers.json"
check "observe: an answer to observed trailers is ignored" \
    pycheck 'assert "x-epp-trailer" not in json.load(open(sys.argv[1]))["trailers"]' "$T/tr-observe.json"

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
gateway_start "$T/gwf.yaml" "$T/gwf.log" "second gateway"

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
# The channel retries with backoff (seconds after a long outage): wait, bounded, for a pick.
for _ in $(seq 40); do
    [ "$(load "$GF" 1 1 "test-epp-endpoint-selection: $B")" = "200:rep-b:$B 1" ] && break
    sleep 0.25
done
load "$GF" 4 1 "test-epp-endpoint-selection: $B" >"$T/again"
check "picker restarted: used again" [ "$(cat "$T/again")" = "200:rep-b:$B 4" ]

finish
