#!/usr/bin/env bash
# infergate gateway: routing and route policies against a small echo upstream (python3, stdlib).
# Path exact / prefix / regex, header, method and query matches; weights; a service balanced over
# two endpoints; host and named backends; requestHeaderModifier, responseHeaderModifier,
# urlRewrite, requestRedirect, directResponse, localRateLimit, retry, timeouts; hop-by-hop
# headers and x-forwarded-*; upstream down 503, reset 502, garbage 502, timeout 504; a backend
# with inferenceRouting whose endpoint picker is down answers 503 (fail closed).
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=60
# The distribution's python3 first: a version-manager shim costs most of a second per call.
PATH=/usr/bin:$PATH
T=$IG_TMP

# ---- the echo upstream: one process, one server per (address, port, id) -----------------------
cat >"$T/echo.py" <<'EOF'
import http.server, json, re, socket, struct, sys, threading, time
hits = {}
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # head and body are separate writes: no 40 ms delayed-ACK stalls
    def log_message(self, *a): pass
    def handle_one(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        p = self.path
        m = re.search(r"sleep/(\d+)", p)
        if m: time.sleep(int(m.group(1)) / 1000)
        if "reset" in p:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if "garbage" in p:
            self.wfile.write(b"NOT HTTP AT ALL\r\n\r\n"); self.close_connection = True; return
        status = 200
        m = re.search(r"flaky/(\w+)/(\d+)", p)
        if m:
            with lock:
                hits[m.group(1)] = hits.get(m.group(1), 0) + 1
                k = hits[m.group(1)]
            if k <= int(m.group(2)): status = 503
        m = re.search(r"status/(\d+)", p)
        if m: status = int(m.group(1))
        out = json.dumps({"id": self.server.ident, "method": self.command, "path": p,
                          "headers": {k.lower(): v for k, v in self.headers.items()},
                          "body_len": len(body), "hits": hits}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("x-echo-id", self.server.ident)
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = handle_one
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
for spec in sys.argv[1:]:
    host, port, ident = spec.split(",")
    s = S((host, int(port)), H); s.ident = ident
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("up", flush=True)
time.sleep(3600)
EOF

PA=$(free_port); PB=$(free_port); PS=$(free_port); DOWN=$(free_port); EPPDOWN=$(free_port)
python3 "$T/echo.py" "127.0.0.1,$PA,a" "127.0.0.1,$PB,b" "127.0.0.1,$PS,s1" "127.0.0.2,$PS,s2" >"$T/echo.log" 2>&1 &
IG_PIDS+=($!)
for _ in $(seq 100); do grep -q up "$T/echo.log" && break; sleep 0.05; done
grep -q up "$T/echo.log" || die "echo upstream did not start: $(cat "$T/echo.log")"

GP=$(free_port); ST=$(free_port); RD=$(free_port); AD=$(free_port)
cat >"$T/gw.yaml" <<EOF
config:
  adminAddr: localhost:$AD
  statsAddr: 127.0.0.1:$ST
  readinessAddr: 127.0.0.1:$RD
  workerThreads: 2
services:
- name: svc
  namespace: default
  hostname: svc
  vips: []
  ports: {80: 80}
- name: model
  namespace: default
  hostname: model
  vips: []
  ports: {8000: 8000}
workloads:
- {name: w1, namespace: default, workloadIps: [127.0.0.1], services: {default/svc: {80: $PS}}}
- {name: w2, namespace: default, workloadIps: [127.0.0.2], services: {default/svc: {80: $PS}}}
backends:
- name: echo-b
  host: 127.0.0.1:$PB
binds:
- port: $GP
  listeners:
  - routes:
    - name: exact
      matches: [{path: {exact: /exact}}]
      backends: [{host: 127.0.0.1:$PA}]
    - name: prefix
      matches: [{path: {pathPrefix: /api}}]
      backends: [{host: 127.0.0.1:$PB}]
    - name: regex
      matches: [{path: {regex: "/re/[0-9]+"}}]
      backends: [{host: 127.0.0.1:$PA}]
    - name: header
      matches: [{path: {pathPrefix: /h}, headers: [{name: x-pick, value: {exact: b}}]}]
      backends: [{host: 127.0.0.1:$PB}]
    - name: method
      matches: [{path: {pathPrefix: /m}, method: POST}]
      backends: [{host: 127.0.0.1:$PB}]
    - name: query
      matches: [{path: {pathPrefix: /q}, query: [{name: sel, value: {exact: b}}]}]
      backends: [{host: 127.0.0.1:$PB}]
    - name: weights
      matches: [{path: {pathPrefix: /w}}]
      backends: [{host: 127.0.0.1:$PA, weight: 3}, {host: 127.0.0.1:$PB, weight: 1}]
    - name: service
      matches: [{path: {pathPrefix: /svc}}]
      backends: [{service: {name: default/svc, port: 80}}]
    - name: named
      matches: [{path: {pathPrefix: /named}}]
      backends: [{backend: echo-b}]
    - name: policies
      matches: [{path: {pathPrefix: /pol}}]
      policies:
        requestHeaderModifier: {set: {x-set: one}, add: {x-add: two}, remove: [x-remove]}
        responseHeaderModifier: {add: {x-resp: yes}, remove: [x-echo-id]}
        urlRewrite: {path: {prefix: /rewritten}, authority: {full: rewritten.example}}
      backends: [{host: 127.0.0.1:$PA}]
    - name: redirect
      matches: [{path: {pathPrefix: /redir}}]
      policies:
        requestRedirect: {scheme: https, authority: {full: example.com}, path: {full: /new}, status: 301}
    - name: direct
      matches: [{path: {exact: /direct}}]
      policies: {directResponse: {body: "hello from the gateway", status: 202}}
    - name: limited
      matches: [{path: {exact: /limited}}]
      policies:
        localRateLimit: [{maxTokens: 2, tokensPerFill: 1, fillInterval: 60s}]
      backends: [{host: 127.0.0.1:$PA}]
    - name: retry
      matches: [{path: {pathPrefix: /retry}}]
      policies: {retry: {attempts: 2, codes: [503]}}
      backends: [{host: 127.0.0.1:$PA}]
    - name: timeout
      matches: [{path: {pathPrefix: /timeout}}]
      policies: {timeout: {requestTimeout: 300ms}}
      backends: [{host: 127.0.0.1:$PA}]
    - name: btimeout
      matches: [{path: {pathPrefix: /btimeout}}]
      backends: [{host: 127.0.0.1:$PA, policies: {http: {requestTimeout: 300ms}}}]
    - name: down
      matches: [{path: {pathPrefix: /down}}]
      backends: [{host: 127.0.0.1:$DOWN}]
    - name: inference
      matches: [{path: {pathPrefix: /v1/chat/completions}}]
      backends:
      - service: {name: default/model, port: 8000}
        policies: {inferenceRouting: {endpointPicker: {host: 127.0.0.1:$EPPDOWN}, destinationMode: passthrough}}
    - name: fallback
      backends: [{host: 127.0.0.1:$PA}]
EOF
"$IG_BIN" gateway -f "$T/gw.yaml" >"$T/gw.log" 2>&1 &
GW_PID=$!
IG_PIDS+=("$GW_PID")
wait_http "http://127.0.0.1:$RD/healthz/ready" 10 || { cat "$T/gw.log" >&2; die "gateway not ready"; }
G="http://127.0.0.1:$GP"

# who PATH [CURL ARGS]: prints the x-echo-id of the upstream that answered
who() {
    local path=$1
    shift
    curl -sS -m 5 -o /dev/null -D - "$@" "$G$path" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-echo-id" { print $2 }'
}
code() {
    local path=$1
    shift
    curl -sS -m 5 -o "$T/body" -w '%{http_code}' "$@" "$G$path"
}

check "exact /exact -> a" [ "$(who /exact)" = a ]
check "exact does not take /exact/x (fallback a, path kept)" [ "$(who /exact/x)" = a ]
check "prefix /api/x -> b" [ "$(who /api/x)" = b ]
check "prefix on element boundary: /apix -> fallback a" [ "$(who /apix)" = a ]
check "regex /re/123 -> a" [ "$(who /re/123)" = a ]
check "header x-pick: b -> b" [ "$(who /h -H 'x-pick: b')" = b ]
check "header mismatch -> fallback a" [ "$(who /h -H 'x-pick: c')" = a ]
check "method POST /m -> b" [ "$(who /m -X POST -d x)" = b ]
check "method GET /m -> fallback a" [ "$(who /m)" = a ]
check "query sel=b -> b" [ "$(who '/q?x=1&sel=b')" = b ]
check "query sel=c -> fallback a" [ "$(who '/q?sel=c')" = a ]
check "named backend -> b" [ "$(who /named)" = b ]

# many requests over keep-alive connections: weights 3:1 and the service's two endpoints
cat >"$T/count.py" <<'EOF'
import http.client, sys, collections
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
cnt = collections.Counter()
for _ in range(n):
    c.request("GET", path); r = c.getresponse(); r.read()
    cnt[r.getheader("x-echo-id")] += 1
print(" ".join(f"{k}={v}" for k, v in sorted(cnt.items())))
EOF
W=$(python3 "$T/count.py" "$GP" /w 200)
check "weights 3:1 over 200 requests ($W)" pycheck '
d = dict(kv.split("=") for kv in sys.argv[1].split())
a, b = int(d.get("a", 0)), int(d.get("b", 0))
assert a + b == 200 and 120 <= a <= 180, d' "$W"
S=$(python3 "$T/count.py" "$GP" /svc 200)
check "service endpoints balanced ($S)" pycheck '
d = dict(kv.split("=") for kv in sys.argv[1].split())
s1, s2 = int(d.get("s1", 0)), int(d.get("s2", 0))
assert s1 + s2 == 200 and s1 >= 60 and s2 >= 60, d' "$S"

# policies: header modifiers, url rewrite, hop-by-hop, x-forwarded-*
curl -sS -m 5 -D "$T/pol.h" -o "$T/pol.json" -H 'x-remove: gone' -H 'x-set: old' -H 'connection: x-hop' \
    -H 'x-hop: 1' -H 'keep-alive: timeout=5' -H 'te: trailers' -H 'x-forwarded-for: 10.0.0.1' "$G/pol/x?y=1"
check "request headers modified, rewritten, hop-by-hop removed" pycheck '
d = json.load(open(sys.argv[1])); h = d["headers"]
assert d["path"] == "/rewritten/x?y=1", d["path"]
assert h["host"] == "rewritten.example", h
assert h["x-set"] == "one" and h["x-add"] == "two" and "x-remove" not in h, h
for k in ("x-hop", "keep-alive", "te", "proxy-connection", "upgrade"):
    assert k not in h, (k, h)
assert h["x-forwarded-for"] == "10.0.0.1, 127.0.0.1", h
assert h["x-forwarded-proto"] == "http", h' "$T/pol.json"
check "response header added" grep -qi '^x-resp: yes' "$T/pol.h"
check "response header removed" bash -c "! grep -qi '^x-echo-id' '$T/pol.h'"

check "redirect 301" [ "$(code /redir/x)" = 301 ]
check "redirect location" bash -c "curl -sS -m 5 -o /dev/null -D - '$G/redir/x?k=v' | tr -d '\r' | grep -qi '^location: https://example.com/new?k=v'"
check "directResponse status 202" [ "$(code /direct)" = 202 ]
check "directResponse body" grep -q 'hello from the gateway' "$T/body"

r1=$(code /limited); r2=$(code /limited); r3=$(code /limited)
check "localRateLimit: 2 allowed then 429 ($r1 $r2 $r3)" [ "$r1 $r2 $r3" = "200 200 429" ]

check "retry: two 503s then 200" [ "$(code /retry/flaky/k1/2)" = 200 ]
check "retry: upstream saw three attempts" pycheck 'd = json.load(open(sys.argv[1])); assert d["hits"]["k1"] == 3, d' "$T/body"
check "retry exhausted: 503 passed on" [ "$(code /retry/flaky/k2/5)" = 503 ]
check "a POST with a small body is retried" [ "$(code /retry/flaky/k3/1 -X POST --data-binary 'abc')" = 200 ]
check "retried POST body intact" pycheck 'd = json.load(open(sys.argv[1])); assert d["body_len"] == 3, d' "$T/body"

start=$(date +%s%N)
check "requestTimeout -> 504" [ "$(code /timeout/sleep/2000)" = 504 ]
el=$((($(date +%s%N) - start) / 1000000))
check "504 came after ~300ms, not 2s ($el ms)" [ "$el" -lt 1500 ]
check "fast request within the timeout -> 200" [ "$(code /timeout/sleep/10)" = 200 ]
check "backend http.requestTimeout -> 504" [ "$(code /btimeout/sleep/2000)" = 504 ]
check "upstream down -> 503" [ "$(code /down)" = 503 ]
check "503 body says connect" grep -q 'connect' "$T/body"
check "upstream reset -> 502" [ "$(code /x/reset)" = 502 ]
check "upstream garbage -> 502" [ "$(code /x/garbage)" = 502 ]
check "inferenceRouting, picker down -> 503" [ "$(code /v1/chat/completions -X POST -d '{}')" = 503 ]
check "inferenceRouting 503 says why" grep -q 'endpoint picker unavailable' "$T/body"

# access log reasons and metrics
sleep 0.2
check "access log: upstream_connect_failed" grep -q 'route=down .*http.status=503 .*error=upstream_connect_failed' "$T/gw.log"
check "access log: request_timeout" grep -q 'route=timeout .*http.status=504 .*error=request_timeout' "$T/gw.log"
check "access log: epp_unavailable" grep -q 'error=epp_unavailable' "$T/gw.log"
check "access log: rate_limited" grep -q 'http.status=429 .*error=rate_limited' "$T/gw.log"
curl -sS -m 5 "http://127.0.0.1:$ST/metrics" >"$T/metrics.txt"
check "metrics: requests_total for the weights route" pycheck '
tot = 0
for line in open(sys.argv[1]):
    if line.startswith("infergate_requests_total{") and "route=\"weights\"" in line and "status=\"200\"" in line:
        tot += float(line.split()[-1])
assert tot == 200, tot' "$T/metrics.txt"
check "metrics: duration histogram" grep -q '^infergate_request_duration_seconds_bucket{.*route="service".*le="+Inf"} ' \
    "$T/metrics.txt"
check "metrics: 503 with reason label" grep -q 'route="down".*status="503",reason="upstream_connect_failed"' \
    "$T/metrics.txt"
check "metrics: downstream connections counted" pycheck '
v = [float(l.split()[-1]) for l in open(sys.argv[1]) if l.startswith("infergate_downstream_connections_total ")]
assert v and v[0] >= 20, v' "$T/metrics.txt"
check "gateway exits 0 on SIGTERM" sim_stop "$GW_PID"
finish
