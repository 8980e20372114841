#!/usr/bin/env bash
# infergate gateway: streaming. An SSE stream from `infergate sim` arrives at the client event by
# event (not buffered); h2c downstream (nghttp, several streams on one connection); h2c upstream
# (appProtocols Http2); a 20 MB download read slowly and a 20 MB upload stream through with
# back-pressure (the gateway's memory stays bounded); a client that goes away cancels the upstream
# request; an HTTPS listener negotiates h2 and http/1.1 by ALPN.
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=60
PATH=/usr/bin:$PATH # the distribution python3: a version-manager shim costs most of a second per call
T=$IG_TMP
command -v nghttp >/dev/null || die "nghttp (nghttp2-client) is required"

sim_start --model m --decode-ms 100 --prefill-overhead-ms 0
SLOW_PORT=$SIM_PORT SLOW_PID=$SIM_PID
sim_start --model m --decode-ms 1 --prefill-overhead-ms 0
FAST_PORT=$SIM_PORT

# a bulk upstream: GET /big/N sends N bytes, POST answers with the length of what it read
cat >"$T/bulk.py" <<'EOF'
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_GET(self):
        n = int(self.path.rsplit("/", 1)[1])
        self.send_response(200); self.send_header("content-length", str(n)); self.end_headers()
        chunk = b"x" * 65536
        while n > 0:
            k = min(n, len(chunk)); self.wfile.write(chunk[:k]); n -= k
    def do_POST(self):
        got = 0
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline(); break
                got += len(self.rfile.read(size)); self.rfile.readline()
        else:
            n = int(self.headers["content-length"])
            while got < n:
                b = self.rfile.read(min(65536, n - got))
                if not b: break
                got += len(b)
        out = str(got).encode()
        self.send_response(200); self.send_header("content-length", str(len(out))); self.end_headers()
        self.wfile.write(out)
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("up", flush=True)
s.serve_forever()
EOF
BULK=$(free_port)
python3 "$T/bulk.py" "$BULK" >"$T/bulk.log" 2>&1 &
IG_PIDS+=($!)
for _ in $(seq 100); do grep -q up "$T/bulk.log" && break; sleep 0.05; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 || die "openssl failed"

GP=$(free_port); GS=$(free_port); ST=$(free_port); RD=$(free_port)
cat >"$T/gw.yaml" <<EOF
config:
  adminAddr: "off"
  statsAddr: 127.0.0.1:$ST
  readinessAddr: 127.0.0.1:$RD
  workerThreads: 2
services:
- {name: slow, namespace: default, hostname: slow, vips: [], ports: {8000: 8000}}
- {name: fast2, namespace: default, hostname: fast2, vips: [], ports: {8000: 8000}, appProtocols: {8000: Http2}}
- {name: bulk2, namespace: default, hostname: bulk2, vips: [], ports: {80: 80}, appProtocols: {80: Http2}}
workloads:
- {namespace: default, workloadIps: [127.0.0.1], services: {default/slow: {8000: $SLOW_PORT}}}
- {namespace: default, workloadIps: [127.0.0.1], services: {default/fast2: {8000: $FAST_PORT}}}
- {namespace: default, workloadIps: [127.0.0.1], services: {default/bulk2: {80: $BULK}}}
binds:
- port: $GP
  listeners:
  - routes:
    - name: slow
      matches: [{path: {pathPrefix: /slow}}]
      policies: {urlRewrite: {path: {prefix: /}}}
      backends: [{service: {name: default/slow, port: 8000}}]
    - name: h2up
      matches: [{path: {pathPrefix: /h2up}}]
      policies: {urlRewrite: {path: {prefix: /}}}
      backends: [{service: {name: default/fast2, port: 8000}}]
    - name: h2-to-h1-only
      matches: [{path: {pathPrefix: /h2bad}}]
      backends: [{service: {name: default/bulk2, port: 80}}]
    - name: bulk
      matches: [{path: {pathPrefix: /big}}]
      backends: [{host: 127.0.0.1:$BULK}]
    - name: tok
      matches: [{path: {pathPrefix: /tok}}]
      policies:
        urlRewrite: {path: {prefix: /}}
        localRateLimit: [{maxTokens: 20, tokensPerFill: 20, fillInterval: 1h, type: tokens}]
      backends: [{host: 127.0.0.1:$FAST_PORT}]
    - name: tls-up
      matches: [{path: {pathPrefix: /tls1}}]
      policies: {urlRewrite: {path: {prefix: /}}}
      backends: [{host: 127.0.0.1:$GS, policies: {backendTLS: {root: $T/cert.pem, hostname: localhost}}}]
    - name: tls-up-h2
      matches: [{path: {pathPrefix: /tls2}}]
      policies: {urlRewrite: {path: {prefix: /}}}
      backends: [{host: 127.0.0.1:$GS, policies: {backendTLS: {insecure: true}, http: {version: HTTP/2}}}]
    - name: tls-up-bad
      matches: [{path: {pathPrefix: /tls3}}]
      backends: [{host: 127.0.0.1:$GS, policies: {backendTLS: {hostname: localhost}}}]
    - name: fast
      backends: [{host: 127.0.0.1:$FAST_PORT}]
- port: $GS
  listeners:
  - protocol: HTTPS
    tls: {cert: $T/cert.pem, key: $T/key.pem}
    routes:
    - backends: [{host: 127.0.0.1:$FAST_PORT}]
EOF
"$IG_BIN" gateway -f "$T/gw.yaml" >"$T/gw.log" 2>&1 &
GW_PID=$!
IG_PIDS+=("$GW_PID")
wait_http "http://127.0.0.1:$RD/healthz/ready" 10 || { cat "$T/gw.log" >&2; die "gateway not ready"; }
G="http://127.0.0.1:$GP"

# SSE through the gateway: 6 tokens 100 ms apart must arrive spread out, not in one piece
cat >"$T/sse.py" <<'EOF'
import http.client, json, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
body = json.dumps({"model": "m", "prompt": "hi", "max_tokens": 6, "stream": True})
t0 = time.monotonic()
c.request("POST", "/slow/v1/completions", body, {"content-type": "application/json"})
r = c.getresponse()
assert r.status == 200, r.status
assert r.getheader("x-infergate-replica", "").endswith(sys.argv[2]), r.getheaders()
times, buf = [], b""
while True:
    b = r.read1(65536)
    if not b: break
    buf += b
    while b"\n\n" in buf:
        ev, buf = buf.split(b"\n\n", 1)
        times.append((time.monotonic() - t0, ev))
data = [e for _, e in times if e.startswith(b"data: {")]
assert len(data) == 6 and times[-1][1] == b"data: [DONE]", [e for _, e in times]
first, last = times[0][0], times[-2][0]
assert last - first >= 0.35, (first, last)
print("events", len(times), "spread %.3f" % (last - first))
EOF
check "SSE events arrive one by one" python3 "$T/sse.py" "$GP" "$SLOW_PORT"

# h2c downstream: five streams multiplexed on one connection
printf '%s' '{"model":"m","prompt":"h2","max_tokens":4,"stream":true}' >"$T/body.json"
timeout 20 nghttp -v -m 5 -H 'content-type: application/json' -d "$T/body.json" "$G/v1/completions" >"$T/h2.log" 2>&1
check "nghttp through the gateway exit 0" [ $? = 0 ]
check "h2c downstream: five SSE streams complete" [ "$(grep -c 'data: \[DONE\]' "$T/h2.log")" = 5 ]
check "h2c downstream: one connection" [ "$(grep -c 'recv SETTINGS frame <length=[0-9]*, flags=0x00' "$T/h2.log")" = 1 ]

# h2c upstream (appProtocols Http2): works against the sim, fails against an HTTP/1.1-only server
check "h2c upstream to the sim" [ "$(curl -sS -m 5 -o "$T/m.json" -w '%{http_code}' "$G/h2up/v1/models")" = 200 ]
check "h2c upstream body" grep -q '"object":"list"' "$T/m.json"
c=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$G/h2bad/100")
check "h2c upstream to an HTTP/1.1-only server fails with 502 ($c)" [ "$c" = 502 ]

# bulk both ways, with a slow reader: the gateway must not buffer the whole body
curl -sS -m 30 --limit-rate 4M -o "$T/big.out" -w '%{http_code}' "$G/big/20000000" >"$T/big.code" &
CURL=$!
sleep 1
RSS=$(awk '/VmRSS/ { print $2 }' "/proc/$GW_PID/status")
wait $CURL
check "20 MB download 200" [ "$(cat "$T/big.code")" = 200 ]
check "20 MB download complete" [ "$(stat -c %s "$T/big.out")" = 20000000 ]
check "gateway RSS stays bounded during a slow 20 MB download (${RSS} kB)" [ "$RSS" -lt 150000 ]
head -c 20000000 /dev/zero >"$T/up.bin"
got=$(curl -sS -m 30 -H 'content-type: application/octet-stream' --data-binary @"$T/up.bin" "$G/big/upload/0")
check "20 MB upload streamed through ($got)" [ "$got" = 20000000 ]
got=$(curl -sS -m 30 -H 'transfer-encoding: chunked' --data-binary @"$T/up.bin" "$G/big/upload/0")
check "20 MB chunked upload streamed through ($got)" [ "$got" = 20000000 ]

# a client that goes away cancels the upstream request (the slow sim stops generating)
curl -sS -m 1 -o /dev/null -H 'content-type: application/json' \
    -d '{"model":"m","prompt":"long","max_tokens":200,"stream":true}' "$G/slow/v1/completions" 2>/dev/null
running() { curl -s -m 5 "http://127.0.0.1:$SLOW_PORT/metrics" 2>/dev/null | awk '/^vllm:num_requests_running/ { v = $NF } END { print v }'; }
ok=0
for _ in $(seq 40); do [ "$(running)" = 0 ] && { ok=1; break; }; sleep 0.05; done
check "client gone: upstream request cancelled" [ $ok = 1 ]
check "access log: downstream_closed" grep -q 'route=slow .*error=downstream_closed' "$T/gw.log"

# localRateLimit type: tokens, charged from the OpenAI usage of each response (JSON and SSE)
tok() { curl -sS -m 5 -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d "$1" "$G/tok/v1/completions"; }
t1=$(tok '{"model":"m","prompt":"a","max_tokens":12}')
t2=$(tok '{"model":"m","prompt":"a","max_tokens":12,"stream":true,"stream_options":{"include_usage":true}}')
t3=$(tok '{"model":"m","prompt":"a","max_tokens":1}')
check "token bucket of 20: two requests of ~13 tokens pass, the third is 429 ($t1 $t2 $t3)" [ "$t1 $t2 $t3" = "200 200 429" ]
check "access log: usage from a JSON body" grep -q 'route=tok .*gen_ai.usage.input_tokens=1 gen_ai.usage.output_tokens=12' "$T/gw.log"
check "access log: usage from an SSE stream" [ "$(grep -c 'route=tok .*gen_ai.usage.output_tokens=12' "$T/gw.log")" = 2 ]

# HTTPS listener: ALPN h2 and http/1.1
check "HTTPS h2" [ "$(curl -sS -k -m 5 --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$GS/v1/models")" = 2 ]
check "HTTPS http/1.1" [ "$(curl -sS -k -m 5 --http1.1 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$GS/v1/models")" = 1.1 ]
check "HTTPS x-forwarded-proto logged as https" grep -q 'protocol=https' "$T/gw.log"

# backendTLS: the gateway's own HTTPS listener as an upstream (verified against the test CA, h2 by ALPN)
check "backendTLS (root + hostname), HTTP/1.1" [ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$G/tls1/v1/models")" = 200 ]
check "backendTLS insecure, HTTP/2" [ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$G/tls2/v1/models")" = 200 ]
check "upstream h2 over TLS seen by the HTTPS listener" grep -q 'http.path=/v1/models http.version=HTTP/2 http.status=200 protocol=https' "$T/gw.log"
check "backendTLS with an untrusted certificate: 502" [ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$G/tls3/v1/models")" = 502 ]
check "access log: upstream_tls_error" grep -q 'route=tls-up-bad .*error=upstream_tls_error' "$T/gw.log"

check "gateway exits 0 on SIGTERM" sim_stop "$GW_PID"
check "slow sim exits 0" sim_stop "$SLOW_PID"
finish
