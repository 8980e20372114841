#!/usr/bin/env bash
# infergate sim over HTTP/2 (h2c with prior knowledge, on the same port as HTTP/1.1): nghttp
# reads /v1/models and streams completions, several at once on one connection.
source "$(dirname "$0")/lib.sh"

command -v nghttp >/dev/null || die "nghttp (nghttp2-client) is required"
T=$IG_TMP
sim_start --model h2-model --lora-modules h2-a --decode-ms 5 --prefill-overhead-ms 0

# nghttp speaks h2c with prior knowledge on http:// URLs (no -u): the server detects the preface.
timeout 20 nghttp -v "$SIM_URL/v1/models" >"$T/models.log" 2>&1
check "nghttp GET /v1/models exit 0" [ $? = 0 ]
check "h2 :status 200" grep -q ':status: 200' "$T/models.log"
check "h2 replica header" grep -q "x-infergate-replica: 127.0.0.1:$SIM_PORT" "$T/models.log"
check "h2 models body" grep -q '"id":"h2-a","object":"model"' "$T/models.log"

printf '%s' '{"model":"h2-a","prompt":"over h2","max_tokens":12,"stream":true,
  "stream_options":{"include_usage":true}}' >"$T/body.json"
timeout 20 nghttp -H 'content-type: application/json' -d "$T/body.json" "$SIM_URL/v1/completions" \
    >"$T/stream.sse" 2>"$T/stream.err"
check "nghttp streaming POST exit 0" [ $? = 0 ]
check "h2 SSE stream" pycheck '
raw = open(sys.argv[1]).read()
assert raw.endswith("data: [DONE]\n\n"), repr(raw[-100:])
events = raw.split("\n\n")[:-1]
assert all(e.startswith("data: ") for e in events), events
docs = [json.loads(e[6:]) for e in events[:-1]]
tokens = [d for d in docs if d["choices"]]
assert len(tokens) == 12 and tokens[-1]["choices"][0]["finish_reason"] == "length", tokens[-1]
assert docs[-1]["choices"] == [] and docs[-1]["usage"]["completion_tokens"] == 12, docs[-1]
assert all(d["model"] == "h2-a" for d in docs)
' "$T/stream.sse"

# five concurrent streams multiplexed on one connection (-m 5 repeats the request)
timeout 30 nghttp -v -m 5 -H 'content-type: application/json' -d "$T/body.json" "$SIM_URL/v1/completions" \
    >"$T/multi.log" 2>&1
check "nghttp -m 5 exit 0" [ $? = 0 ]
check "five streams on one connection" [ "$(grep -c '\[DONE\]' "$T/multi.log")" = 5 ]
check "one h2 connection (one server SETTINGS)" \
    [ "$(grep -c 'recv SETTINGS frame <length=[0-9]*, flags=0x00' "$T/multi.log")" = 1 ]
check "streams 1,3,5,7,9 opened" [ "$(grep -c 'send HEADERS frame' "$T/multi.log")" = 5 ]

# errors keep their status and shape over h2
timeout 10 nghttp -v "$SIM_URL/nowhere" >"$T/404.log" 2>&1
check "h2 unknown path 404" grep -q ':status: 404' "$T/404.log"
check "h2 sim exits 0 on SIGTERM" sim_stop "$SIM_PID"

# thousands of concurrent streams in one process: 2000 streams, 1000 at a time on each of two
# connections, every one a 20-token SSE stream batched by the engine
if command -v h2load >/dev/null; then
    sim_start --model many --max-num-seqs 4096 --decode-ms 5 --decode-ms-per-seq 0 --prefill-overhead-ms 0
    printf '%s' '{"prompt":"load","max_tokens":20,"stream":true}' >"$T/load.json"
    timeout 60 h2load -n 2000 -c 2 -m 1000 -d "$T/load.json" -H 'content-type: application/json' \
        "$SIM_URL/v1/completions" >"$T/h2load.txt" 2>&1
    check "h2load: 2000 streams succeeded" grep -q '2000 succeeded, 0 failed, 0 errored, 0 timeout' "$T/h2load.txt"
    check "h2load: all 2xx" grep -q 'status codes: 2000 2xx' "$T/h2load.txt"
    check "engine counted 2000 finished requests" \
        [ "$(metric 'vllm:request_success_total{model_name="many",finished_reason="length"}')" = 2000 ]
    check "load sim exits 0 on SIGTERM" sim_stop "$SIM_PID"
fi
finish
