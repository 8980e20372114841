#!/usr/bin/env bash
# infergate gateway: the stats port's GenAI and upstream-connect metrics. Streamed and JSON OpenAI
# completions go through the gateway to an `infergate sim` replica with a real latency model
# (30 ms prefill, 20 ms per decode step); a route to a closed port fails to connect. The scrape
# must show token usage by gen_ai_token_type, time to first token and time per output token in
# the sim's latency range, and connect durations by result, merged over two workers. The GenAI
# series carry agentgateway's gen_ai_* labels: the operation from the path and the request and
# response models read from the bodies in passing, for streamed and JSON responses alike.
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=60
PATH=/usr/bin:$PATH
T=$IG_TMP

sim_start --model m --decode-ms 20 --decode-ms-per-seq 0 --prefill-overhead-ms 30
LLM_PORT=$SIM_PORT
DEAD=$(free_port) # nothing listens there

GP=$(free_port); ST=$(free_port); RD=$(free_port)
ops_config_head "$ST" "$RD" >"$T/gw.yaml"
cat >>"$T/gw.yaml" <<EOF
binds:
- port: $GP
  listeners:
  - routes:
    - name: dead
      matches: [{path: {pathPrefix: /dead}}]
      backends: [{host: 127.0.0.1:$DEAD}]
    - name: llm
      backends: [{host: 127.0.0.1:$LLM_PORT}]
EOF
gateway_start_ready "$T/gw.yaml" "$T/gw.log" "$RD"
G="http://127.0.0.1:$GP"

# Before any traffic: the connect histogram is there with zero counts, no GenAI series yet.
curl -sS -m 5 "http://127.0.0.1:$ST/metrics" >"$T/m0.txt" || die "scrape failed"
check "connect histogram exposed before traffic" \
    grep -q '^infergate_upstream_connect_duration_seconds_count{result="success"} 0$' "$T/m0.txt"
check "no token usage series before traffic" \
    [ "$(grep -c '^infergate_gen_ai_client_token_usage_count' "$T/m0.txt")" = 0 ]

# Three streamed completions of 10 tokens (usage in the last chunk) and one JSON completion of 5.
for i in 1 2 3; do
    code=$(curl -sS -m 10 -o "$T/s$i.txt" -w '%{http_code}' -H 'content-type: application/json' \
        -d '{"model":"m","prompt":"hello there","max_tokens":10,"stream":true,"stream_options":{"include_usage":true}}' \
        "$G/v1/completions")
    check "streamed completion $i: 200 ($code)" [ "$code" = 200 ]
done
check "the stream carried usage" grep -q '"completion_tokens":10' "$T/s1.txt"
code=$(curl -sS -m 10 -o "$T/j.json" -w '%{http_code}' -H 'content-type: application/json' \
    -d '{"model":"m","prompt":"hello there","max_tokens":5}' "$G/v1/completions")
check "JSON completion: 200 ($code)" [ "$code" = 200 ]
code=$(curl -sS -m 10 -o "$T/c.json" -w '%{http_code}' -H 'content-type: application/json' \
    -d '{"messages":[{"role":"user","content":"say \"model\": \"x\""}],"max_tokens":3,"model":"m"}' \
    "$G/v1/chat/completions")
check "chat completion (model after messages): 200 ($code)" [ "$code" = 200 ]
check "access log: request and response models" \
    grep -q 'gen_ai.operation.name=chat gen_ai.provider.name=openai gen_ai.request.model=m gen_ai.response.model=m' "$T/gw.log"
code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "$G/dead/x")
check "route to a closed port: 503 ($code)" [ "$code" = 503 ]

curl -sS -m 5 "http://127.0.0.1:$ST/metrics" >"$T/m.txt" || die "scrape failed"
cat >"$T/check.py" <<'EOF'
import re, sys
series = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'^([a-z_:]+)(\{(.*)\})? (\S+)$', line.strip())
    assert m, line
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
    series.setdefault(m.group(1), []).append((labels, float(m.group(4))))
in_tokens = int(sys.argv[2])

def val(name, **want):
    hits = [v for l, v in series.get(name, []) if all(l.get(k) == w for k, w in want.items())]
    return sum(hits), len(hits)

fails = []
def expect(what, ok):
    if not ok:
        fails.append(what)

tok = "infergate_gen_ai_client_token_usage"
genai = {"gen_ai_operation_name", "gen_ai_system", "gen_ai_request_model", "gen_ai_response_model"}
for l, _ in series.get(tok + "_count", []):
    expect("token usage labels are the GenAI set, the route identity and the token type: %s" % l,
           set(l) == {"gateway", "listener", "route", "route_rule", "backend", "gen_ai_token_type"} | genai)
models = dict(gen_ai_system="openai", gen_ai_request_model="m", gen_ai_response_model="m")
c, n = val(tok + "_count", route="llm", gen_ai_token_type="input", gen_ai_operation_name="text_completion", **models)
expect("input token observations 4, streamed and JSON in one series with the models (%s, %d series)" % (c, n),
       c == 4 and n == 1)
c, n = val(tok + "_count", route="llm", gen_ai_token_type="output", gen_ai_operation_name="chat", **models)
expect("chat completion: its own series, operation chat (%s, %d series)" % (c, n), c == 1 and n == 1)
c, _ = val(tok + "_count", route="llm", gen_ai_token_type="output", gen_ai_operation_name="text_completion")
expect("output token observations 4 (%s)" % c, c == 4)
s, _ = val(tok + "_sum", route="llm", gen_ai_token_type="output", gen_ai_operation_name="text_completion")
expect("output tokens 3 x 10 + 5 = 35 (%s)" % s, s == 35)
s, _ = val(tok + "_sum", route="llm", gen_ai_token_type="input", gen_ai_operation_name="text_completion")
expect("input tokens 4 x %d (%s)" % (in_tokens, s), s == 4 * in_tokens)
b, _ = val(tok + "_bucket", route="llm", gen_ai_token_type="output", le="4", gen_ai_operation_name="text_completion")
expect("no output count <= 4 (%s)" % b, b == 0)
b, _ = val(tok + "_bucket", route="llm", gen_ai_token_type="output", le="16", gen_ai_operation_name="text_completion")
expect("all output counts <= 16 (%s)" % b, b == 4)
c, _ = val(tok + "_count", route="dead")
expect("no token usage for the failed route", c == 0)

ttft = "infergate_gen_ai_server_time_to_first_token_seconds"
c, _ = val(ttft + "_count", route="llm")
expect("time to first token: the 3 streams (%s)" % c, c == 3)
c, _ = val(ttft + "_count", route="llm", gen_ai_operation_name="text_completion", **models)
expect("time to first token: with the models (%s)" % c, c == 3)
s, _ = val(ttft + "_sum", route="llm")
expect("time to first token: mean within 25 ms .. 1 s (%s)" % (s / max(c, 1)), c and 0.025 <= s / c <= 1.0)
b, _ = val(ttft + "_bucket", route="llm", le="0.02")
expect("no first token within 20 ms (%s)" % b, b == 0)

tpot = "infergate_gen_ai_server_time_per_output_token_seconds"
c, _ = val(tpot + "_count", route="llm")
expect("time per output token: the 3 streams (%s)" % c, c == 3)
c, _ = val(tpot + "_count", route="llm", gen_ai_operation_name="text_completion", **models)
expect("time per output token: with the models (%s)" % c, c == 3)
s, _ = val(tpot + "_sum", route="llm")
expect("time per output token: mean within 15 .. 100 ms (%s)" % (s / max(c, 1)), c and 0.015 <= s / c <= 0.1)

con = "infergate_upstream_connect_duration_seconds"
c, _ = val(con + "_count", result="success")
expect("successful upstream connects (%s)" % c, c >= 1)
s, _ = val(con + "_sum", result="success")
expect("connect durations below 1 s each (%s)" % s, c and s / c < 1.0)
c, _ = val(con + "_count", result="failure")
expect("failed upstream connect counted (%s)" % c, c >= 1)
inf, _ = val(con + "_bucket", result="failure", le="+Inf")
expect("failure +Inf bucket equals the count", inf == c)

for f in fails:
    print("check failed:", f)
sys.exit(1 if fails else 0)
EOF
IN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["usage"]["prompt_tokens"])' "$T/j.json")
check "prompt token count known ($IN)" [ -n "$IN" ]
check "metrics page: GenAI and connect histograms" python3 "$T/check.py" "$T/m.txt" "${IN:-0}"

check "gateway exits 0 on SIGTERM" sim_stop "$GW_PID"
finish
