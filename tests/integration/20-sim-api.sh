#!/usr/bin/env bash
# infergate sim, the OpenAI API over HTTP/1.1: completions and chat, streaming and not (SSE
# framing, include_usage), /v1/models, the replica header, OpenAI-shaped errors, HEAD and
# keep-alive, hostile HTTP/1 input, and a clean exit on SIGTERM.
source "$(dirname "$0")/lib.sh"

# ---- command line ------------------------------------------------------------------------------
"$IG_BIN" sim --help >"$IG_TMP/help.txt" 2>&1
check "--help exits 0" [ $? = 0 ]
for f in --max-num-seqs --kv-cache-blocks --num-gpu-blocks-override --lora-modules --zero-latency --metrics-flavor \
    --no-enable-prefix-caching --decode-ms-per-seq --default-max-tokens; do
    check "--help lists $f" grep -q -- "$f" "$IG_TMP/help.txt"
done
check "--help shows defaults" grep -q -- '--max-num-seqs N .*(default: 256)' "$IG_TMP/help.txt"
timeout 5 "$IG_BIN" sim --model m --no-such-flag >/dev/null 2>"$IG_TMP/bad.txt"
check "unknown flag exits 2" [ $? = 2 ]
check "unknown flag is named" grep -q -- "--no-such-flag" "$IG_TMP/bad.txt"
timeout 5 "$IG_BIN" sim --model m --max-num-seqs zero >/dev/null 2>&1
check "bad number exits 2" [ $? = 2 ]
timeout 5 "$IG_BIN" sim --port 1 >/dev/null 2>&1
check "missing --model exits 2" [ $? = 2 ]

sim_start --model base-m --lora-modules ad-a,ad-b=/models/b --id replica-7 --zero-latency --max-model-len 512
T=$IG_TMP
timeout 5 "$IG_BIN" sim --model other --port "$SIM_PORT" >/dev/null 2>"$T/taken.txt"
check "a second sim on a taken port exits 1" [ $? = 1 ]
check "the port conflict is reported" grep -q 'in use' "$T/taken.txt"

# ---- completions, not streaming ---------------------------------------------------------------
code=$(post /v1/completions '{"model":"base-m","prompt":"Hello there","max_tokens":5,"temperature":0.7}' "$T/c1.json")
check "completions status $code" [ "$code" = 200 ]
check "completions document" pycheck '
d = json.load(open(sys.argv[1]))
assert d["id"].startswith("cmpl-"), d
assert d["object"] == "text_completion" and d["model"] == "base-m"
assert isinstance(d["created"], int)
c = d["choices"]
assert len(c) == 1 and c[0]["index"] == 0 and c[0]["finish_reason"] == "length" and c[0]["logprobs"] is None
assert c[0]["text"] == " the and for you not", c[0]["text"]
u = d["usage"]
assert u["prompt_tokens"] == 3 and u["completion_tokens"] == 5 and u["total_tokens"] == 8, u
assert u["prompt_tokens_details"]["cached_tokens"] == 0, u
' "$T/c1.json"

# default max_tokens is 16 for completions; a prompt array of one string is accepted
code=$(post /v1/completions '{"model":"base-m","prompt":["abc"]}' "$T/c2.json")
check "completions default max_tokens status $code" [ "$code" = 200 ]
check "completions default max_tokens = 16" pycheck '
d = json.load(open(sys.argv[1])); assert d["usage"]["completion_tokens"] == 16, d' "$T/c2.json"

# ---- chat, not streaming -----------------------------------------------------------------------
code=$(post /v1/chat/completions '{"model":"ad-a","messages":[{"role":"system","content":"Be brief."},
  {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":" there"}]}],"max_completion_tokens":3}' \
  "$T/ch1.json")
check "chat status $code" [ "$code" = 200 ]
check "chat document" pycheck '
d = json.load(open(sys.argv[1]))
assert d["id"].startswith("chatcmpl-") and d["object"] == "chat.completion" and d["model"] == "ad-a", d
m = d["choices"][0]
assert m["message"] == {"role": "assistant", "content": " the and for"}, m
assert m["finish_reason"] == "length"
# "<|system|>\nBe brief.\n<|user|>\nHi there\n" is 39 bytes: 10 tokens
assert d["usage"]["prompt_tokens"] == 10 and d["usage"]["completion_tokens"] == 3, d["usage"]
' "$T/ch1.json"

# chat without max_tokens: min(--default-max-tokens 256, remaining context = 512 - prompt)
code=$(post /v1/chat/completions '{"model":"base-m","messages":[{"role":"user","content":"x"}]}' "$T/ch2.json")
check "chat default max_tokens status $code" [ "$code" = 200 ]
check "chat default max_tokens = 256" pycheck '
d = json.load(open(sys.argv[1])); assert d["usage"]["completion_tokens"] == 256, d["usage"]' "$T/ch2.json"

# ---- streaming ---------------------------------------------------------------------------------
# sse_check FILE API N INCLUDE_USAGE: SSE framing and chunk contents
sse_check() {
    pycheck '
raw = open(sys.argv[1], "rb").read().decode()
api, n, usage = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
assert raw.endswith("data: [DONE]\n\n"), repr(raw[-80:])
events = raw.split("\n\n")
assert events[-1] == "", "trailing bytes after the last event"
events = events[:-1]
for e in events:
    assert e.startswith("data: ") and "\n" not in e, repr(e)
docs = [json.loads(e[6:]) for e in events[:-1]]
assert events[-1] == "data: [DONE]"
tokens = [d for d in docs if d["choices"]]
assert len(tokens) == n, (len(tokens), n)
obj = "chat.completion.chunk" if api == "chat" else "text_completion"
ids = {d["id"] for d in docs}
assert len(ids) == 1, ids
for i, d in enumerate(tokens):
    assert d["object"] == obj, d
    c = d["choices"][0]
    assert c["finish_reason"] == ("length" if i == n - 1 else None), (i, c)
    if api == "chat":
        assert ("role" in c["delta"]) == (i == 0), (i, c)
        assert len(c["delta"]["content"]) == 4
    else:
        assert len(c["text"]) == 4
if api == "chat":
    assert tokens[0]["choices"][0]["delta"]["role"] == "assistant"
if usage:
    assert len(docs) == n + 1 and docs[-1]["choices"] == [], docs[-1]
    u = docs[-1]["usage"]
    assert u["completion_tokens"] == n and u["total_tokens"] == u["prompt_tokens"] + n, u
else:
    assert len(docs) == n and all("usage" not in d or d["usage"] is None for d in docs)
' "$@"
}

curl -sS -N -m 20 -D "$T/s1.h" -o "$T/s1.sse" -H 'content-type: application/json' \
    --data-binary '{"model":"base-m","prompt":"stream me","max_tokens":7,"stream":true}' "$SIM_URL/v1/completions"
check "completions stream content-type" grep -qi '^content-type: text/event-stream' "$T/s1.h"
check "completions stream framing" sse_check "$T/s1.sse" completions 7 0

curl -sS -N -m 20 -o "$T/s2.sse" -H 'content-type: application/json' \
    --data-binary '{"model":"ad-b","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"stream":true,
      "stream_options":{"include_usage":true}}' "$SIM_URL/v1/chat/completions"
check "chat stream framing + include_usage" sse_check "$T/s2.sse" chat 4 1

# tokens arrive as they are produced: with a 50 ms step, a 20-token stream spans about a second
# and its first event is on the wire long before the last (never buffered to the end)
sim_main_pid=$SIM_PID sim_main_url=$SIM_URL sim_main_port=$SIM_PORT
sim_start --model slow --decode-ms 50 --prefill-overhead-ms 0
pycheck '
import socket, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
body = b"{\"prompt\":\"x\",\"max_tokens\":20,\"stream\":true}"
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
          % (len(body), body))
t0 = time.monotonic(); first = None; buf = b""
while not buf.endswith(b"\r\n0\r\n\r\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    if first is None and b"data: {" in buf + chunk:
        first = time.monotonic() - t0
    buf += chunk
total = time.monotonic() - t0
assert buf.count(b"data: {") == 20, buf[-200:]
assert first is not None and total - first > 0.5, (first, total)
' "$SIM_PORT" || fail "stream events are not sent as tokens are produced"
check "slow sim exits 0 on SIGTERM" sim_stop "$SIM_PID"

# a client that stops reading: the server holds back (IG_EAGAIN, on_writable) instead of buffering
# a whole 11 MB stream, and once the client reads again every event arrives, in order
sim_start --model bulk --zero-latency --max-model-len 70000
pycheck '
import socket, time
port, n = int(sys.argv[1]), 60000
words = [" the", " and", " for", " you", " not", " are", " all", " new",
         " was", " can", " has", " one", " our", " out", " day", " get"]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(20)
s.connect(("127.0.0.1", port))
body = b"{\"prompt\":\"x\",\"max_tokens\":%d,\"stream\":true}" % n
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
time.sleep(1.0)   # the engine finishes all tokens meanwhile; the server must wait for us
buf = bytearray()
while not buf.endswith(b"\r\n0\r\n\r\n"):
    chunk = s.recv(1 << 20)
    assert chunk, "connection closed early"
    buf += chunk
head, _, rest = bytes(buf).partition(b"\r\n\r\n")
# undo the chunked framing
out = bytearray(); i = 0
while True:
    j = rest.index(b"\r\n", i); size = int(rest[i:j], 16)
    if size == 0:
        break
    out += rest[j + 2:j + 2 + size]; i = j + 2 + size + 2
events = out.decode().split("\n\n")[:-1]
assert events[-1] == "data: [DONE]", events[-1]
texts = [json.loads(e[6:])["choices"][0]["text"] for e in events[:-1]]
assert len(texts) == n, len(texts)
assert all(t == words[k % 16] for k, t in enumerate(texts)), "events out of order"
' "$SIM_PORT" || fail "slow reader: stream incomplete or out of order"
check "bulk sim exits 0 on SIGTERM" sim_stop "$SIM_PID"
SIM_PID=$sim_main_pid SIM_URL=$sim_main_url SIM_PORT=$sim_main_port

# ---- replica header, models, health ------------------------------------------------------------
curl -sS -m 5 -D "$T/m.h" -o "$T/models.json" "$SIM_URL/v1/models"
check "x-infergate-replica on /v1/models" grep -qi '^x-infergate-replica: replica-7' "$T/m.h"
check "x-infergate-replica on the stream" grep -qi '^x-infergate-replica: replica-7' "$T/s1.h"
check "/v1/models list" pycheck '
d = json.load(open(sys.argv[1]))
assert d["object"] == "list"
ids = [m["id"] for m in d["data"]]
assert ids == ["base-m", "ad-a", "ad-b"], ids
assert all(m["object"] == "model" for m in d["data"])
assert d["data"][0].get("parent") is None
assert d["data"][1]["parent"] == "base-m" and d["data"][2]["parent"] == "base-m"
' "$T/models.json"
check "/health 200" [ "$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$SIM_URL/health")" = 200 ]

# ---- errors ------------------------------------------------------------------------------------
# err_check FILE STATUS TYPE
err_check() {
    pycheck '
d = json.load(open(sys.argv[1]))
e = d["error"]
assert e["code"] == int(sys.argv[2]) and e["type"] == sys.argv[3], e
assert isinstance(e["message"], str) and e["message"] and "param" in e, e
' "$@"
}
code=$(post /v1/chat/completions '{"model":"base-m","messages":[' "$T/e1.json")
check "malformed JSON -> 400 ($code)" [ "$code" = 400 ]
check "malformed JSON error shape" err_check "$T/e1.json" 400 BadRequestError
code=$(post /v1/chat/completions '{"model":"base-m"}' "$T/e2.json")
check "missing messages -> 400 ($code)" [ "$code" = 400 ]
check "missing messages error shape" err_check "$T/e2.json" 400 BadRequestError
code=$(post /v1/completions '{"model":"base-m"}' "$T/e3.json")
check "missing prompt -> 400 ($code)" [ "$code" = 400 ]
code=$(post /v1/chat/completions '{"model":"nope","messages":[{"role":"user","content":"x"}]}' "$T/e4.json")
check "unknown model -> 404 ($code)" [ "$code" = 404 ]
check "unknown model error shape" err_check "$T/e4.json" 404 NotFoundError
code=$(post /v1/completions '{"prompt":"x","max_tokens":0}' "$T/e5.json")
check "max_tokens 0 -> 400 ($code)" [ "$code" = 400 ]
code=$(post /v1/completions '{"prompt":"x","stream":"yes"}' "$T/e6.json")
check "stream of the wrong type -> 400 ($code)" [ "$code" = 400 ]
code=$(post /v1/completions '{"prompt":42}' "$T/e7.json")
check "prompt of the wrong type -> 400 ($code)" [ "$code" = 400 ]
long=$("$PY" -c 'print("y" * 4000)')
code=$(post /v1/completions "{\"prompt\":\"$long\",\"max_tokens\":4}" "$T/e8.json")
check "prompt over --max-model-len -> 400 ($code)" [ "$code" = 400 ]
check "prompt too long error shape" err_check "$T/e8.json" 400 BadRequestError
code=$(curl -sS -m 5 -o "$T/e9.json" -w '%{http_code}' "$SIM_URL/v1/completions")
check "GET /v1/completions -> 405 ($code)" [ "$code" = 405 ]
check "405 error shape" err_check "$T/e9.json" 405 MethodNotAllowedError
code=$(curl -sS -m 5 -o "$T/e10.json" -w '%{http_code}' "$SIM_URL/v2/nothing")
check "unknown path -> 404 ($code)" [ "$code" = 404 ]
check "404 error shape" err_check "$T/e10.json" 404 NotFoundError
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -X POST "$SIM_URL/health")
check "POST /health -> 405 ($code)" [ "$code" = 405 ]

# a body announced above 8 MiB is refused with 413 without reading it
pycheck '
import socket
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
          b"Content-Length: 9000000\r\n\r\n{\"prompt\":\"")
resp = s.recv(4096)
assert resp.startswith(b"HTTP/1.1 413 "), resp[:100]
' "$SIM_PORT" || fail "over-long body -> 413"

# ---- HEAD and keep-alive -----------------------------------------------------------------------
curl -sS -m 5 -I -o "$T/head.h" "$SIM_URL/v1/models"
check "HEAD /v1/models 200" grep -q '^HTTP/1.1 200' "$T/head.h"
check "HEAD carries the GET length" grep -qi '^content-length: [1-9]' "$T/head.h"
curl -sS -m 10 -v -o /dev/null "$SIM_URL/health" -o /dev/null "$SIM_URL/v1/models" \
    -o /dev/null -H 'content-type: application/json' --data-binary '{"prompt":"x","max_tokens":2}' \
    "$SIM_URL/v1/completions" 2>"$T/ka.log"
check "keep-alive: one connection for three requests" \
    [ "$(grep -c 'Re-using existing connection' "$T/ka.log")" = 2 ]

# ---- hostile HTTP/1 input: 400 and the connection closes ---------------------------------------
hostile() { # NAME REQUEST(python bytes literal)
    pycheck '
import socket
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(eval("(" + sys.argv[2] + ")"))
data = b""
while True:
    chunk = s.recv(65536)   # a server that keeps the connection open times out here
    if not chunk:
        break
    data += chunk
assert data.startswith(b"HTTP/1.1 400 "), data[:120]
assert data.count(b"HTTP/1.1 ") == 1, data   # nothing smuggled behind it was served
' "$SIM_PORT" "$2" || fail "hostile input '$1' not refused with 400 + close"
}
SMUGGLED='b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"'
hostile "CL+TE" 'b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\n" + '"$SMUGGLED"
hostile "duplicate CL" 'b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n"
    b"{}" + '"$SMUGGLED"
hostile "obs-fold" 'b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n"'
hostile "bare LF" 'b"GET /health HTTP/1.1\nHost: t\n\n"'

# ---- a request still works after all that, and SIGTERM ends the process cleanly ---------------
code=$(post /v1/completions '{"prompt":"x","max_tokens":1}' "$T/last.json")
check "server still serves ($code)" [ "$code" = 200 ]
check "exit status 0 after SIGTERM" sim_stop "$SIM_PID"
finish
