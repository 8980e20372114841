#!/usr/bin/env bash
# infergate gateway: large bodies. A 100 MB download and a 100 MB upload (content-length and
# chunked) stream through the gateway to a python3 source/sink; the bytes must arrive intact
# (SHA-256 on both sides) and the gateway's memory must stay bounded: its peak resident set
# (VmHWM) may not grow more than 64 MB above its resident set when idle.
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=60
PATH=/usr/bin:$PATH
T=$IG_TMP
SIZE=$((100 * 1000 * 1000))
BOUND_KB=$((64 * 1024))

# GET /dl/N: N bytes of a fixed pseudo-random pattern; POST: the SHA-256 and length of the body.
cat >"$T/bulk.py" <<'EOF'
import hashlib, http.server, random, sys
BLOCK = random.Random(7).randbytes(1 << 20)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        n = int(self.path.rsplit("/", 1)[1])
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(n))
        self.end_headers()
        while n > 0:
            k = min(n, len(BLOCK)); self.wfile.write(BLOCK[:k]); n -= k
    def do_POST(self):
        h, got = hashlib.sha256(), 0
        def take(data):
            nonlocal got
            h.update(data); got += len(data)
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline(); break
                while size > 0:
                    b = self.rfile.read(min(size, 1 << 20)); take(b); size -= len(b)
                self.rfile.readline()
        else:
            n = int(self.headers["content-length"])
            while got < n:
                b = self.rfile.read(min(1 << 20, n - got))
                if not b: break
                take(b)
        out = ("%s %d" % (h.hexdigest(), got)).encode()
        self.send_response(200); self.send_header("content-length", str(len(out))); self.end_headers()
        self.wfile.write(out)
    # the expected digest of GET /dl/N, without a transfer
    def do_HEAD(self):
        n = int(self.path.rsplit("/", 1)[1]); h = hashlib.sha256()
        while n > 0:
            k = min(n, len(BLOCK)); h.update(BLOCK[:k]); n -= k
        self.send_response(200); self.send_header("x-sha256", h.hexdigest()); self.send_header("content-length", "0")
        self.end_headers()
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
print("up", flush=True)
s.serve_forever()
EOF
BULK=$(free_port)
python3 "$T/bulk.py" "$BULK" >"$T/bulk.log" 2>&1 &
IG_PIDS+=($!)
for _ in $(seq 100); do grep -q up "$T/bulk.log" && break; sleep 0.05; done
grep -q up "$T/bulk.log" || die "bulk server did not start"

GP=$(free_port); ST=$(free_port); RD=$(free_port)
ops_config_head "$ST" "$RD" >"$T/gw.yaml"
cat >>"$T/gw.yaml" <<EOF
binds:
- port: $GP
  listeners:
  - routes:
    - backends: [{host: 127.0.0.1:$BULK}]
EOF
gateway_start_ready "$T/gw.yaml" "$T/gw.log" "$RD"
G="http://127.0.0.1:$GP"

# warm up the connection pools and the allocator before the idle measurement
curl -sS -m 5 -o /dev/null "$G/dl/1000" || die "gateway does not proxy"
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$GW_PID/status"; }
IDLE=$(kb VmRSS)

# samples VmRSS while the transfers run (VmHWM keeps the peak as well)
(while kill -0 "$GW_PID" 2>/dev/null; do kb VmRSS; sleep 0.05; done) >"$T/rss.txt" 2>/dev/null &
SAMPLER=$!
IG_PIDS+=("$SAMPLER")

head -c "$SIZE" /dev/urandom >"$T/up.bin"
WANT_UP="$(sha256sum "$T/up.bin" | cut -d' ' -f1) $SIZE"

WANT_DL=$(curl -sS -m 10 -I "http://127.0.0.1:$BULK/dl/$SIZE" | awk 'tolower($1) == "x-sha256:" { print $2 }' | tr -d '\r')
code=$(curl -sS -m 20 -o "$T/dl.bin" -w '%{http_code}' "$G/dl/$SIZE")
check "100 MB download: 200 ($code)" [ "$code" = 200 ]
check "100 MB download: length" [ "$(stat -c %s "$T/dl.bin")" = "$SIZE" ]
check "100 MB download: SHA-256 intact" [ -n "$WANT_DL" ] && [ "$(sha256sum "$T/dl.bin" | cut -d' ' -f1)" = "$WANT_DL" ]
rm -f "$T/dl.bin"

got=$(curl -sS -m 20 -H 'content-type: application/octet-stream' --data-binary @"$T/up.bin" "$G/up")
check "100 MB upload (content-length): SHA-256 and length intact" [ "$got" = "$WANT_UP" ]
got=$(curl -sS -m 20 -H 'content-type: application/octet-stream' -H 'transfer-encoding: chunked' \
    --data-binary @"$T/up.bin" "$G/up")
check "100 MB upload (chunked): SHA-256 and length intact" [ "$got" = "$WANT_UP" ]

kill "$SAMPLER" 2>/dev/null
HWM=$(kb VmHWM)
PEAK=$(sort -n "$T/rss.txt" | tail -1)
echo "gateway RSS: idle ${IDLE} kB, sampled peak ${PEAK:-?} kB, VmHWM ${HWM} kB"
check "sampler saw the transfers" [ "$(wc -l <"$T/rss.txt")" -gt 5 ]
check "peak RSS within 64 MB of idle (${PEAK} - ${IDLE} kB)" [ $((${PEAK:-0} - IDLE)) -lt $BOUND_KB ]
check "VmHWM within 64 MB of idle RSS (${HWM} - ${IDLE} kB)" [ $((HWM - IDLE)) -lt $BOUND_KB ]

check "access log: three 100 MB exchanges" [ "$(grep -c "body_bytes=$SIZE" "$T/gw.log")" = 3 ]
check "gateway exits 0 on SIGTERM" sim_stop "$GW_PID"
finish
