#!/usr/bin/env bash
# Per-token latency of a streamed completion through `infergate gateway` and an endpoint picker, in
# each inferenceRouting responseMode, against going direct, all on 127.0.0.1.
#
# A zero-latency simulator writes a whole stream at once, so its tokens reach the gateway in a few
# reads and neither their gaps (ITL) nor a per-chunk round trip show. This bench uses its own
# paced upstream instead (python, in this script): an OpenAI-style SSE server that writes one
# token event every PACE_MS, each carrying the CLOCK_MONOTONIC time it was written, as its own
# HTTP chunk (TCP_NODELAY). The client reads each event as it arrives and records
#   token latency = arrival time - write time   (per token: what the path adds to every token)
#   ITL           = gap between successive arrivals
# A picker in the body's path (responseMode full) delays every token by one picker round trip;
# observe and headers keep it out. Arms (one gateway each, one worker):
#   direct                  client -> upstream
#   proxy                   client -> gateway (host backend) -> upstream
#   epp, epp-observe, epp-headers     gateway + `infergate epp`, responseMode full / observe / headers
#   stub, stub-observe, stub-headers  gateway + the grpc-js stub picker (tests/js/epp-stub.mjs)
# Arms are measured in ROUNDS interleaved rounds so that machine noise spreads over all of them.
#
# Usage: bench/epp-stream.sh [path/to/infergate]
#   REQUESTS=200 (streams per arm), TOKENS=32 (events per stream), PACE_MS=2, ROUNDS=5,
#   KEEP=1 keeps the work directory (logs, raw samples) and prints its path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/infergate}
REQUESTS=${REQUESTS:-200}
TOKENS=${TOKENS:-32}
PACE_MS=${PACE_MS:-2}
ROUNDS=${ROUNDS:-5}
LIFETIME=${LIFETIME:-1800}
. "$root/bench/lib.sh"
bench_require node

# ---- the paced upstream -------------------------------------------------------------------------
cat >"$work/upstream.py" <<'EOF'
import http.server, json, socket, sys, time
port, tokens, pace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000.0
METRICS = (b'vllm:num_requests_waiting{model_name="m"} 0\nvllm:num_requests_running{model_name="m"} 0\n'
           b'vllm:kv_cache_usage_perc{model_name="m"} 0\n')

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def read_body(self):
        if self.headers.get("content-length") is not None:
            return self.rfile.read(int(self.headers["content-length"]))
        body = b""
        if "chunked" in (self.headers.get("transfer-encoding") or ""):
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                body += self.rfile.read(n)
                self.rfile.readline()
                if n == 0:
                    break
        return body
    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    def do_GET(self):
        body = METRICS if self.path == "/metrics" else b"ok\n"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        self.read_body()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for i in range(tokens):
            ev = {"id": "c", "object": "chat.completion.chunk", "model": "m",
                  "choices": [{"index": 0, "delta": {"content": "t%d " % i}}], "t": time.monotonic_ns()}
            self.chunk(b"data: " + json.dumps(ev).encode() + b"\n\n")
            time.sleep(pace)
        usage = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [],
                 "usage": {"prompt_tokens": 4, "completion_tokens": tokens, "total_tokens": tokens + 4}}
        self.chunk(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        self.chunk(b"")

srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
print("upstream listening on %d" % port, flush=True)
srv.serve_forever()
EOF
up_port=$(free_port)
start "$work/upstream.log" python3 "$work/upstream.py" "$up_port" "$TOKENS" "$PACE_MS"
wait_log "$work/upstream.log" 'upstream listening' "paced upstream"
up=127.0.0.1:$up_port

# ---- the pickers --------------------------------------------------------------------------------
start_epp "$up" --refresh-metrics-interval 200ms
start_stub "$up"

# ---- the gateways -------------------------------------------------------------------------------
arms=(direct proxy epp epp-observe epp-headers stub stub-observe stub-headers)
declare -A url
url[direct]=http://$up
for arm in "${arms[@]:1}"; do
    p=$(free_port)
    url[$arm]=http://127.0.0.1:$p
    mode=full
    [[ $arm == *-* ]] && mode=${arm#*-}
    case $arm in
    proxy) gw_config "$p" "      - host: $up" ;;
    epp*) gw_config "$p" "$(epp_backend "$epp_port" "$mode")" ;;
    stub*) gw_config "$p" "$(epp_backend "$stub_port" "$mode")" ;;
    esac >"$work/gw-$arm.yaml"
    start_gateway "$arm"
done
# The EPP picks only endpoints whose metrics it has scraped: wait (bounded) for a first stream.
for _ in $(seq 100); do
    curl -s -m 2 -d '{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}' \
        "${url[epp]}/v1/chat/completions" | grep -q '\[DONE\]' && break
    sleep 0.1
done

# ---- the client ---------------------------------------------------------------------------------
bench_banner
echo "$REQUESTS streams per arm of $TOKENS tokens, one every $PACE_MS ms, $ROUNDS interleaved rounds" >&2
args=()
for arm in "${arms[@]}"; do args+=("$arm=${url[$arm]}"); done
python3 - "$REQUESTS" "$ROUNDS" "$TOKENS" "$PACE_MS" "${args[@]}" <<'EOF'
import http.client, json, sys, time, urllib.parse
n, rounds, tokens, pace = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
arms = [a.split("=", 1) for a in sys.argv[5:]]
BODY = json.dumps({"model": "m", "stream": True, "max_tokens": tokens,
                   "messages": [{"role": "user", "content": "hello"}]})
conns, lat, itl, first, fails = {}, {}, {}, {}, {}

def stream(name, url):
    c = conns.get(name)
    if c is None:
        u = urllib.parse.urlsplit(url)
        c = conns[name] = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("POST", "/v1/chat/completions", BODY, {"content-type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        r.read()
        fails[name] = fails.get(name, 0) + 1
        return
    buf, last, k = b"", None, 0
    while True:
        data = r.read1(65536)
        now = time.monotonic_ns()
        if not data:
            break
        buf += data
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: {"):
                continue
            t = json.loads(ev[6:]).get("t")
            if t is None:
                continue
            d = (now - t) / 1e6
            lat[name].append(d)
            if k == 0:
                first[name].append(d)
            elif last is not None:
                itl[name].append((now - last) / 1e6)
            last, k = now, k + 1
    if k != tokens:
        fails[name] = fails.get(name, 0) + 1

for name, _ in arms:
    lat[name], itl[name], first[name] = [], [], []
for name, url in arms:  # warm-up: connections, picker channels
    for _ in range(5):
        stream(name, url)
    lat[name], itl[name], first[name] = [], [], []
per = max(1, n // rounds)
for _ in range(rounds):
    for name, url in arms:
        for _ in range(per):
            stream(name, url)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100.0 * len(v)))] if v else float("nan")
mean = lambda v: sum(v) / len(v) if v else float("nan")
base = {"lat": lat["direct"], "itl": itl["direct"]}
print()
print(f"Streams of {tokens} tokens written one every {pace} ms by a paced upstream, {per * rounds} per arm "
      f"({rounds} interleaved rounds), concurrency 1; ms, 127.0.0.1. Token latency = client arrival - upstream "
      f"write, per token; Δ against direct.")
print()
print("| arm | streams ok | token p50 | token p90 | token p99 | token mean | first token p50 | ITL p50 | ITL p99 "
      "| Δ token p50 | Δ token p99 | Δ token mean |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, _ in arms:
    L, I, F = lat[name], itl[name], first[name]
    d = lambda f: "—" if name == "direct" else f"{f(L) - f(base['lat']):+.3f}"
    print(f"| {name} | {per * rounds - fails.get(name, 0)} | {pct(L, 50):.3f} | {pct(L, 90):.3f} | {pct(L, 99):.3f} "
          f"| {mean(L):.3f} | {pct(F, 50):.3f} | {pct(I, 50):.3f} | {pct(I, 99):.3f} | {d(lambda v: pct(v, 50))} "
          f"| {d(lambda v: pct(v, 99))} | {d(mean)} |")
EOF
