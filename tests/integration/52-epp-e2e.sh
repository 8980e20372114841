#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run through poll and check are reachable
# End to end: `infergate gateway` with agentgateway's standalone configuration (exactly as
# documented, only its two ports changed) in front of `infergate epp --endpoints ...` and four
# `infergate sim` replicas; the replica that served each request is read from the simulator's
# x-infergate-replica response header.
#   1. prefix affinity: four distinct long system prompts, sequential requests: after the first
#      request of a prefix, >= 90% of its requests land on the replica that served the first; the
#      prefixes use more than one replica;
#   2. load spreading: a paced burst of slow requests sharing one prefix leaves the replica holding
#      it once that replica's queue grows (seen by the EPP's scraper) and reaches others;
#   3. LoRA affinity (an EndpointPickerConfig adding lora-affinity-scorer): requests for an adapter
#      go to the replica running it (vllm:lora_requests_info), not to replicas whose only slot is
#      taken by another adapter nor to an idle one;
#   4. shedding: with the fleet saturated (mean waiting queue >= 5), a request naming a sheddable
#      InferenceObjective (priority -1, --objectives-file) gets 429 through the gateway while
#      priority-0 requests are scheduled and served; before and after the saturation it is served;
#   5. the EPP's Kubernetes-only flags stop it with "needs Kubernetes" (exit 2);
#   6. the gateways, the EPPs and the replicas exit 0 on SIGTERM, and no sanitizer report shows.
# Waits poll the simulators' and the EPP's metrics pages; no assertion depends on a latency.
: "${IG_TEST_TIMEOUT:=90}" # the watchdog of lib.sh; the test takes 25-45 s (sanitizer build, busy machine)
source "$(dirname "$0")/lib.sh"
PATH=/usr/bin:$PATH
T=$IG_TMP

# poll SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds (0) or SECONDS have passed (1).
poll() {
    local deadline=$((SECONDS + $1))
    shift
    while :; do
        "$@" && return 0
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.05
    done
}

# ---- four replicas ----------------------------------------------------------------------------
# Two sequences at a time and 20 ms per step: a request of N tokens takes about N x 20 ms, so a few
# concurrent requests build a visible waiting queue while short ones still answer at once. Each
# replica serves two adapters and has one LoRA slot.
SIM_FLAGS=(--model m --lora-modules "sql-lora,chat-lora" --max-loras 1 --max-num-seqs 2 --decode-ms 20
    --decode-ms-per-seq 0 --prefill-overhead-ms 0 --prefill-ms-per-token 0)
NAMES=(rep-a rep-b rep-c rep-d)
SIM_PIDS=()
declare -A SIMURL
ADDRS=()
# Started together (each on a port of its choosing, read from its start line) to save start-up time.
for n in "${NAMES[@]}"; do
    timeout --foreground -k 5 "$IG_TEST_TIMEOUT" "$IG_BIN" sim --host 127.0.0.1 --port 0 --id "$n" "${SIM_FLAGS[@]}" \
        >"$T/sim-$n.log" 2>&1 &
    IG_PIDS+=($!)
    SIM_PIDS+=($!)
done
for n in "${NAMES[@]}"; do
    poll 20 grep -qs 'listening on 127.0.0.1:' "$T/sim-$n.log" || die "sim $n did not start: $(cat "$T/sim-$n.log")"
    port=$(grep -m1 -o 'listening on 127.0.0.1:[0-9]*' "$T/sim-$n.log")
    SIMURL[$n]=http://127.0.0.1:${port##*:}
    ADDRS+=("127.0.0.1:${port##*:}")
done
ENDPOINTS=$(IFS=,; echo "${ADDRS[*]}")

cat >"$T/objectives.yaml" <<'EOF'
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: batch}
spec: {priority: -1, poolRef: {name: pool}}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: {name: standard}
spec: {priority: 0, poolRef: {name: pool}}
EOF

# The default profile (queue 2, kv-cache 2, prefix 3) plus the LoRA affinity scorer.
cat >"$T/lora.yaml" <<'EOF'
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: prefix-cache-scorer
- type: lora-affinity-scorer
schedulingProfiles:
- name: default
  plugins:
  - {pluginRef: queue-scorer, weight: 2}
  - {pluginRef: kv-cache-utilization-scorer, weight: 2}
  - {pluginRef: prefix-cache-scorer, weight: 3}
  - {pluginRef: lora-affinity-scorer, weight: 1}
EOF

# epp_start NAME [FLAGS...]: an EPP over the four replicas on free ports; sets <NAME>_GRPC and
# <NAME>_METRICS from its start line.
epp_start() {
    local name=$1 log="$T/epp-$1.log" line
    shift
    timeout --foreground -k 5 "$IG_TEST_TIMEOUT" "$IG_BIN" epp --endpoints "$ENDPOINTS" --secure-serving=false \
        --grpc-port 0 --grpc-health-port 0 --metrics-port 0 --refresh-metrics-interval 50ms -v 1 "$@" >"$log" 2>&1 &
    IG_PIDS+=($!)
    printf -v "${name}_PID" %s $!
    poll 10 grep -qs 'listening grpc=' "$log" || die "epp $name did not start: $(cat "$log")"
    line=$(grep -m1 -o 'listening grpc=[0-9]* health=[0-9]* metrics=[0-9]*' "$log")
    read -r _ _ g _ _ _ m <<<"${line//=/ }"
    printf -v "${name}_GRPC" %s "$g"
    printf -v "${name}_METRICS" %s "$m"
}
epp_start MAIN --objectives-file "$T/objectives.yaml"
epp_start LORA --config-file "$T/lora.yaml"

# ---- the standalone configuration, exactly as documented ----------------------------------------
# gw_start NAME EPP_GRPC_PORT: a gateway on the seed configuration; sets <NAME>_PORT.
gw_start() {
    local name=$1 port
    port=$(free_port)
    seed_config "$T/gw-$name.yaml" "$port" "$2" "$name"
    # The admin, stats and readiness ports default to fixed ports another test may hold: off here.
    ADMIN_ADDR=off STATS_ADDR=off READINESS_ADDR=off gateway_start "$T/gw-$name.yaml" "$T/gw-$name.log" \
        "gateway $name"
    printf -v "GW_${name}_PID" %s "$GW_PID"
    printf -v "${name}_PORT" %s "$port"
}
gw_start MAIN "$MAIN_GRPC"
gw_start LORA "$LORA_GRPC"

# epp_metric EPP_METRICS_PORT PREFIX: the sum of the samples whose line starts with PREFIX.
epp_metric() {
    curl -sS -m 5 "http://127.0.0.1:$1/metrics" | awk -v k="$2" 'index($0, k) == 1 { s += $NF } END { print s + 0 }'
}
# epp_ready PORT: every replica scraped and fresh.
epp_ready() { [ "$(epp_metric "$1" 'inference_pool_ready_pods{')" = 4 ]; }
check "main epp: four replicas ready" poll 10 epp_ready "$MAIN_METRICS"
check "lora epp: four replicas ready" poll 10 epp_ready "$LORA_METRICS"

# ---- the client -----------------------------------------------------------------------------------
# client.py seq PORT FILE [HEADER...]: one request per line of FILE (a JSON chat body), one after
#   the other; prints "status replica" per request.
# client.py burst PORT GAP FILE: one request per line, the i-th started i x GAP seconds after the
#   first, all concurrent; prints "status replica" per request in order of start.
#   With QUIET_METRICS=<EPP metrics port>, every request of seq, and the first of burst, waits until
#   that EPP sees no waiting request on any replica (at most 5 s). A request that has just reached
#   a replica waits there for the next engine step (up to 20 ms); a scrape in that moment shows the
#   replica with the longer queue, worth the queue scorer's whole weight (2) to the next pick.
# client.py hold URL N BODY: N concurrent requests straight to one replica, until killed.
cat >"$T/client.py" <<'EOF'
import http.client, os, sys, threading, time
def quiet(port):
    deadline = time.time() + 5
    while time.time() < deadline:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/metrics")
        page = c.getresponse().read().decode()
        c.close()
        q = [float(l.split()[-1]) for l in page.splitlines() if l.startswith("inference_pool_per_pod_queue_size{")]
        if len(q) == 4 and not any(q):
            return
        time.sleep(0.02)
def post(port, body, hdrs, timeout=20, host="127.0.0.1"):
    h = {"content-type": "application/json"}
    for x in hdrs:
        k, v = x.split(":", 1); h[k.strip()] = v.strip()
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request("POST", "/v1/chat/completions", body, h)
        r = c.getresponse(); r.read()
        out = "%d %s" % (r.status, r.getheader("x-infergate-replica"))
        c.close(); return out
    except Exception as e:
        return "000 " + type(e).__name__
mode = sys.argv[1]
if mode == "seq":
    port, lines = int(sys.argv[2]), open(sys.argv[3]).read().splitlines()
    for body in lines:
        if os.environ.get("QUIET_METRICS"):
            quiet(int(os.environ["QUIET_METRICS"]))
        print(post(port, body, sys.argv[4:]), flush=True)
elif mode == "burst":
    port, gap, lines = int(sys.argv[2]), float(sys.argv[3]), open(sys.argv[4]).read().splitlines()
    res = [None] * len(lines)
    if os.environ.get("QUIET_METRICS"):
        quiet(int(os.environ["QUIET_METRICS"]))
    def one(i):
        res[i] = post(port, lines[i], [])
    ts = []
    for i in range(len(lines)):
        t = threading.Thread(target=one, args=(i,)); t.start(); ts.append(t); time.sleep(gap)
    for t in ts: t.join()
    print("\n".join(res))
elif mode == "hold":
    port, n, body = int(sys.argv[2].rsplit(":", 1)[1]), int(sys.argv[3]), sys.argv[4]
    ts = [threading.Thread(target=post, args=(port, body, [], 60)) for _ in range(n)]
    for t in ts: t.start()
    for t in ts: t.join()
EOF
client() { "$PY" "$T/client.py" "$@"; }

# gen.py FILE PREFIX_SEED PREFIX_CHARS N QUESTION_CHARS MAX_TOKENS [MODEL]: N chat bodies sharing
# one system prompt of PREFIX_CHARS characters (none when 0), each with its own question.
cat >"$T/gen.py" <<'EOF'
import json, random, sys
path, seed = sys.argv[1], sys.argv[2]
plen, n, qlen, mt = (int(a) for a in sys.argv[3:7])
model = sys.argv[7] if len(sys.argv) > 7 else "m"
words = "alpha bravo delta gamma kappa lambda omega sigma theta zeta river stone cloud maple cedar".split()
def text(rng, tag, chars):
    s = tag
    while len(s) < chars:
        s += " " + rng.choice(words)
    return s[:chars]
rng = random.Random(seed)
system = text(rng, "You are assistant %s." % seed, plen)
with open(path, "w") as f:
    for i in range(n):
        msgs = [{"role": "system", "content": system}] if plen else []
        msgs.append({"role": "user", "content": text(rng, "Question %s-%d:" % (seed, i), qlen)})
        f.write(json.dumps({"model": model, "messages": msgs, "max_tokens": mt}) + "\n")
EOF
gen() { "$PY" "$T/gen.py" "$@"; }

# ---- 1. requests sharing a prefix stick to the replica holding it ----------------------------------
# Each system prompt is about 2000 characters (31 blocks of 64 characters), the questions short, so
# after the first request a prefix's holder matches nearly every block of the prompt.
for p in 1 2 3 4; do gen "$T/p$p.jsonl" "sticky$p" 2000 8 40 2; done
# Interleaved, one at a time: prefix 1, 2, 3, 4, 1, 2, ...
"$PY" -c '
import sys
files = [open(p).read().splitlines() for p in sys.argv[1:]]
for i in range(len(files[0])):
    for f in files: print(f[i])' "$T"/p{1,2,3,4}.jsonl >"$T/sticky.jsonl"
client seq "$MAIN_PORT" "$T/sticky.jsonl" >"$T/sticky.out"
check "prefix affinity: >= 90% of each prefix's later requests on the replica of its first" pycheck '
import collections
res = open(sys.argv[1]).read().split("\n")[:-1]
assert len(res) == 32 and all(r.startswith("200 rep-") for r in res), res
holders = []
for p in range(4):
    mine = [res[i].split()[1] for i in range(p, 32, 4)]
    first, rest = mine[0], mine[1:]
    top, cnt = collections.Counter(rest).most_common(1)[0]
    print("prefix %d: first on %s, then %s" % (p + 1, first, dict(collections.Counter(rest))))
    assert cnt >= 0.9 * len(rest) and top == first, (p, mine)
    holders.append(top)
assert len(set(holders)) > 1, ("all four prefixes on one replica", holders)' "$T/sticky.out"

# ---- 2. load spreads once the holder's queue grows --------------------------------------------------
# A 1280-character system prompt (20 blocks) and 1920-character questions (30 blocks): the holder
# matches 40% of a prompt, worth 1.2 of the prefix scorer's 3, less than the 2 the queue scorer
# gives a replica with the shortest queue. So an idle holder keeps the prefix, a queued one loses it.
gen "$T/warm.jsonl" spread 1280 3 1920 2
QUIET_METRICS=$MAIN_METRICS client seq "$MAIN_PORT" "$T/warm.jsonl" >"$T/warm.out"
HOLDER=$(awk 'NR == 1 { print $2 }' "$T/warm.out")
check "spread: the prefix sticks while its holder is idle ($(tr '\n' ' ' <"$T/warm.out"))" \
    [ "$(sort -u "$T/warm.out")" = "200 $HOLDER" ]
# 24 requests of 20 tokens (~0.4 s each, two at a time per replica), one every 50 ms: the holder's
# queue grows within a few requests, and the EPP sees it at its next scrape (50 ms).
gen "$T/burst.jsonl" spread 1280 24 1920 20
QUIET_METRICS=$MAIN_METRICS client burst "$MAIN_PORT" 0.05 "$T/burst.jsonl" >"$T/burst.out"
check "spread: the burst starts on the holder $HOLDER" [ "$(head -1 "$T/burst.out")" = "200 $HOLDER" ]
check "spread: the burst ends up on more than one replica" pycheck '
import collections
res = open(sys.argv[1]).read().split("\n")[:-1]
c = collections.Counter(res)
print("burst:", dict(c))
assert len(res) == 24 and all(r.startswith("200 rep-") for r in res), res
assert len(c) > 1, c' "$T/burst.out"

# ---- 3. a LoRA request goes to the replica running its adapter --------------------------------------
# rep-a runs a long sql-lora request, rep-b and rep-c a long chat-lora request each (their only slot
# taken), rep-d nothing. LoRA affinity scores 1 / 0 / 0 / 0.8.
HOLD_PIDS=()
hold() { # replica model: one long request straight to the replica, in the background
    "$PY" "$T/client.py" hold "${SIMURL[$1]}" 1 \
        "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"hold $1\"}],\"max_tokens\":1500}" &
    HOLD_PIDS+=($!)
    IG_PIDS+=($!)
}
hold rep-a sql-lora
hold rep-b chat-lora
hold rep-c chat-lora
sim_running() { # replica adapter: the replica reports the adapter running
    curl -sS -m 5 "${SIMURL[$1]}/metrics" | grep '^vllm:lora_requests_info{' | grep -q "running_lora_adapters=\"$2\""
}
adapters_running() {
    sim_running rep-a sql-lora && sim_running rep-b chat-lora && sim_running rep-c chat-lora
}
check "lora: adapters running on rep-a (sql-lora), rep-b and rep-c (chat-lora)" poll 10 adapters_running
# The EPP has read them after two more rounds of scrapes (four replicas, 8 scrapes).
scrapes_reach() { [ "$(epp_metric "$1" infergate_epp_scrapes_total)" -ge "$2" ]; }
check "lora: the EPP scraped the replicas again" \
    poll 10 scrapes_reach "$LORA_METRICS" $(($(epp_metric "$LORA_METRICS" infergate_epp_scrapes_total) + 8))
# Each request waits until the EPP sees no queue anywhere: a transient one outweighs the adapter's
# advantage over a free slot (0.2).
gen "$T/lora.jsonl" lora 0 8 100 2 sql-lora
QUIET_METRICS=$LORA_METRICS client seq "$LORA_PORT" "$T/lora.jsonl" >"$T/lora.out"
check "lora: every sql-lora request on rep-a ($(sort "$T/lora.out" | uniq -c | tr -s ' \n' ' '))" \
    [ "$(sort "$T/lora.out" | uniq -c | awk '{ print $1, $2, $3 }')" = "8 200 rep-a" ]
kill -TERM "${HOLD_PIDS[@]}" 2>/dev/null
wait "${HOLD_PIDS[@]}" 2>/dev/null

# ---- 4. sheddable requests get 429 when the fleet is saturated, others do not -----------------------
CHAT='{"model":"m","messages":[{"role":"user","content":"shed or serve"}],"max_tokens":2}'
gw_post() { # header...: one chat request through the main gateway; prints the status, body in $T/last
    local h=() x
    for x in "$@"; do h+=(-H "$x"); done
    curl -sS -m 20 -o "$T/last" -w '%{http_code}' "http://127.0.0.1:$MAIN_PORT/v1/chat/completions" \
        -H 'content-type: application/json' "${h[@]}" -d "$CHAT"
}
code=$(gw_post 'x-gateway-inference-objective: batch')
check "shed: a sheddable request is served while the fleet is idle ($code)" [ "$code" = 200 ]

# Eight long requests per replica straight to it: two run, six wait (mean queue 6 >= 5).
HOLD_PIDS=()
for n in "${NAMES[@]}"; do
    "$PY" "$T/client.py" hold "${SIMURL[$n]}" 8 \
        '{"model":"m","messages":[{"role":"user","content":"saturate"}],"max_tokens":1500}' &
    HOLD_PIDS+=($!)
    IG_PIDS+=($!)
done
saturated() { # the EPP's mean waiting queue over the four replicas is >= 5
    awk '{ exit !($1 >= 5) }' <<<"$(epp_metric "$MAIN_METRICS" 'inference_pool_average_queue_size{')"
}
check "shed: the EPP sees the fleet saturated" poll 20 saturated
for i in 1 2 3; do
    code=$(gw_post 'x-gateway-inference-objective: batch')
    check "shed: sheddable request $i while saturated -> 429 ($code)" [ "$code" = 429 ]
    check "shed: ... with the EPP's reason" grep -q 'system saturated, sheddable request dropped' "$T/last"
done
# Priority 0: no objective, the priority-0 objective, an unknown objective. They are scheduled now
# and queue behind the load; they complete once it is gone.
ok_before=$(epp_metric "$MAIN_METRICS" 'inference_extension_scheduler_attempts_total{status="success"')
PRIO_PIDS=()
for h in 'x-no-objective: 1' 'x-gateway-inference-objective: standard' 'x-gateway-inference-objective: nope'; do
    gw_post "$h" >"$T/prio-${#PRIO_PIDS[@]}" &
    PRIO_PIDS+=($!)
done
scheduled() {
    [ "$(epp_metric "$MAIN_METRICS" 'inference_extension_scheduler_attempts_total{status="success"')" -ge \
        $((ok_before + 3)) ]
}
check "shed: priority-0 requests are scheduled while saturated" poll 10 scheduled
check "shed: the fleet is still saturated" saturated
kill -TERM "${HOLD_PIDS[@]}" 2>/dev/null
wait "${HOLD_PIDS[@]}" 2>/dev/null
wait "${PRIO_PIDS[@]}"
check "shed: priority-0 requests served ($(cat "$T"/prio-*))" [ "$(cat "$T"/prio-*)" = 200200200 ]
sheddable_served() { [ "$(gw_post 'x-gateway-inference-objective: batch')" = 200 ]; }
check "shed: the sheddable request is served again once the load is gone" poll 10 sheddable_served

# ---- 5. Kubernetes-only flags ---------------------------------------------------------------------
for args in "--pool-name pool" "--pool-group inference.networking.k8s.io --endpoints 127.0.0.1:1" \
    "--endpoint-selector app=vllm --endpoints 127.0.0.1:1"; do
    # shellcheck disable=SC2086 # word splitting wanted
    timeout -k 2 10 "$IG_BIN" epp $args --grpc-port 0 --grpc-health-port 0 --metrics-port 0 >"$T/k8s.log" 2>&1
    rc=$?
    check "epp $args: exit status 2 ($rc)" [ "$rc" = 2 ]
    flag=${args%% *}
    check "epp $args: says it needs Kubernetes" grep -q -e "^epp: ${flag#-} needs Kubernetes" "$T/k8s.log"
done

# ---- clean exits ------------------------------------------------------------------------------------
for p in "$GW_MAIN_PID" "$GW_LORA_PID" "$MAIN_PID" "$LORA_PID" "${SIM_PIDS[@]}"; do
    check "process $p exits 0 on SIGTERM" sim_stop "$p"
done
# In a sanitizer build every finding (leaks at exit included) lands in the process's log.
check "no sanitizer report in the logs" bash -c "! grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' $T/*.log"

finish
