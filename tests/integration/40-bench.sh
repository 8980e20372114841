#!/usr/bin/env bash
# infergate bench against infergate sim: a 3-second open-loop run on a zero-latency simulator
# (JSON: successes, TTFT fields, token counts, replica shares summing to 1), TPOT and ITL against
# a simulator with a known step time, HTTP/2, chat with multi-turn sessions and a LoRA mix, long
# prompts, --merge with CSV and plot, failures against a closed port, SIGINT, and flag errors.
source "$(dirname "$0")/lib.sh"

T=$IG_TMP
bench() {
    timeout 60 "$IG_BIN" bench --no-progress "$@"
}

# ---- 3 s against a zero-latency simulator -------------------------------------------------------
sim_start --model base-m --zero-latency --id replica-z
Z_URL=$SIM_URL
bench --url "$Z_URL" --rates 20 --stage-duration 3s --output-len 16 --label zero --json "$T/zero.json" \
    >"$T/zero.txt" 2>"$T/zero.err"
rc=$?
check "zero-latency run exits 0 (rc $rc)" [ "$rc" = 0 ]
check "table printed" grep -q "TTFT" "$T/zero.txt"
check "zero-latency JSON" pycheck '
d = json.load(open(sys.argv[1]))
assert d["label"] == "zero" and len(d["stages"]) == 1, d.keys()
s = d["stages"][0]
assert s["mode"] == "rate" and s["rate"] == 20 and s["duration_s"] == 3, s
r = s["requests"]
assert r["succeeded"] > 20 and r["failed"] == 0 and r["sent"] == r["succeeded"], r
for m in ("ttft_ms", "tpot_ms", "ntpot_ms", "itl_ms", "e2e_ms"):
    for k in ("mean", "p50", "p90", "p99"):
        assert isinstance(s[m][k], float), (m, k, s[m])
    assert s[m]["p50"] <= s[m]["p90"] <= s[m]["p99"], (m, s[m])
assert s["ttft_ms"]["count"] == r["succeeded"]
assert s["tokens"]["output"] == 16 * r["succeeded"], s["tokens"]
assert s["tokens"]["input"] >= 150 * r["succeeded"], s["tokens"]  # 100 + 50 tokens of prompt
assert s["throughput"]["requests_per_s"] > 5, s["throughput"]
shares = s["replicas"]
assert set(shares) == {"replica-z"}, shares
assert abs(sum(v["share"] for v in shares.values()) - 1) < 1e-9, shares
assert s["failures"] == {}, s["failures"]
assert 2.9 <= s["elapsed_s"] < 10, s["elapsed_s"]
' "$T/zero.json"

# ---- known step time: TPOT and ITL near 20 ms -----------------------------------------------------
sim_start --model base-m --decode-ms 20 --decode-ms-per-seq 0 --prefill-overhead-ms 2 --id replica-k
K_URL=$SIM_URL
bench --url "$K_URL" --concurrency 2 --requests 8 --output-len 20 --label slow --json "$T/slow.json" \
    >"$T/slow.txt" 2>&1
check "known-latency run exits 0" [ $? = 0 ]
check "TPOT and ITL in a sane range for a 20 ms step" pycheck '
s = json.load(open(sys.argv[1]))["stages"][0]
assert s["mode"] == "concurrency" and s["concurrency"] == 2 and s["requests"]["succeeded"] == 8, s["requests"]
tpot, itl, ttft, ntpot, e2e = (s[m] for m in ("tpot_ms", "itl_ms", "ttft_ms", "ntpot_ms", "e2e_ms"))
assert 15 <= tpot["p50"] <= 60, tpot        # generous: machines are noisy
assert 10 <= itl["p50"] <= 60, itl
assert itl["count"] == 8 * 19, itl           # one gap per token after the first
assert 15 <= ttft["p50"] <= 200, ttft
assert 19 * 15 <= e2e["p50"] <= 2000, e2e
assert ntpot["p50"] >= tpot["p50"] * 0.8, (ntpot, tpot)
' "$T/slow.json"

# ---- HTTP/2 (h2c), closed loop ------------------------------------------------------------------
bench --url "$Z_URL" --http 2 --concurrency 8 --requests 200 --output-len 8 --json "$T/h2.json" >/dev/null 2>&1
check "h2c run exits 0" [ $? = 0 ]
check "h2c: all 200 succeed" pycheck '
s = json.load(open(sys.argv[1]))["stages"][0]
assert s["requests"] == {"sent": 200, "succeeded": 200, "failed": 0}, s["requests"]
assert json.load(open(sys.argv[1]))["config"]["http"] == "2"
' "$T/h2.json"

# ---- several URLs: a strict round robin ------------------------------------------------------------
# Z_URL and K_URL are two replicas; 10 requests one at a time go 5 and 5, alternating, and a
# synthetic ShareGPT-shaped workload scaled by 0.25 keeps its outputs within the scaled bounds.
bench --url "$Z_URL,$K_URL/" --concurrency 1 --requests 10 --workload synthetic --input-dist sharegpt:0.25 \
    --output-dist sharegpt:0.05 --json "$T/rr.json" >/dev/null 2>&1
check "round-robin run exits 0" [ $? = 0 ]
check "round robin: 5 requests to each replica" pycheck '
d = json.load(open(sys.argv[1]))
s = d["stages"][0]
assert s["requests"] == {"sent": 10, "succeeded": 10, "failed": 0}, s["requests"]
assert {k: v["requests"] for k, v in s["replicas"].items()} == {"replica-z": 5, "replica-k": 5}, s["replicas"]
assert d["config"]["data"]["output"] == "sharegpt:0.05", d["config"]["data"]
assert s["tokens"]["output"] <= 10 * 52, s["tokens"]  # 1025 x 0.05 rounds to 51 (+1 for the usage fallback)
' "$T/rr.json"

# ---- chat, multi-turn sessions and a LoRA mix ------------------------------------------------------
sim_start --model base-m --lora-modules ad-a,ad-b --max-loras 2 --zero-latency --id replica-l
bench --url "$SIM_URL" --api chat --model base-m --lora ad-a:0.5,ad-b:25% --multi-turn --num-groups 2 \
    --prompts-per-group 2 --system-prompt-len 40 --question-len 10 --output-len 12 --concurrency 1 --requests 12 \
    --json "$T/chat.json" >/dev/null 2>&1
check "chat multi-turn run exits 0" [ $? = 0 ]
check "chat multi-turn: history grows the prompts" pycheck '
s = json.load(open(sys.argv[1]))["stages"][0]
assert s["requests"]["succeeded"] == 12 and s["requests"]["failed"] == 0, s
# 12 requests over 4 sessions = 3 turns each; turn t carries t earlier (question + answer) pairs,
# so the prompts hold far more than 12 x (40 + 10) tokens
assert s["tokens"]["input"] > 12 * 50 + 4 * 3 * 22, s["tokens"]
assert s["tokens"]["cached"] > 0, s["tokens"]
' "$T/chat.json"
check "LoRA mix reached the adapters" pycheck '
import urllib.request
page = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=5).read().decode()
lines = [l for l in page.splitlines() if l.startswith("vllm:lora_requests_info")]
assert lines, page[:300]
' "$SIM_URL"

# ---- long prompts (220 KB) -------------------------------------------------------------------------
sim_start --model base-m --zero-latency --max-model-len 100000 --kv-cache-blocks 20000 --id replica-long
bench --url "$SIM_URL" --workload long --concurrency 2 --requests 6 --json "$T/long.json" >/dev/null 2>&1
check "long-body run exits 0" [ $? = 0 ]
check "long bodies: 220 KiB prompts" pycheck '
s = json.load(open(sys.argv[1]))["stages"][0]
assert s["requests"]["succeeded"] == 6, s["requests"]
assert s["tokens"]["input"] == 6 * 220 * 1024 // 4, s["tokens"]
assert s["tokens"]["output"] == 6 * 16, s["tokens"]
' "$T/long.json"

# ---- merge, CSV and plot -------------------------------------------------------------------------
"$IG_BIN" bench --merge "$T/zero.json,$T/slow.json" --csv "$T/m.csv" --plot "$T/m" >"$T/merge.txt" 2>"$T/merge.err"
check "merge exits 0" [ $? = 0 ]
check "merged table names both arms" bash -c "grep -q '^zero ' '$T/merge.txt' && grep -q '^slow ' '$T/merge.txt'"
check "merged CSV: header + 2 rows" pycheck '
import csv
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["label"] for r in rows] == ["zero", "slow"], rows
assert float(rows[1]["tpot_p50_ms"]) >= 15, rows[1]
' "$T/m.csv"
check "plot script and data written" bash -c "grep -q \"using 1:2\" '$T/m.gp' && ls '$T'/m-1-zero.dat '$T'/m-2-slow.dat >/dev/null"
if command -v gnuplot >/dev/null 2>&1; then
    check "plot rendered as PNG and SVG" bash -c "[ -s '$T/m.png' ] && grep -q '<svg' '$T/m.svg'"
fi

# ---- failures: a closed port ---------------------------------------------------------------------
CLOSED=$(free_port)
bench --url "http://127.0.0.1:$CLOSED" --concurrency 2 --requests 4 --json "$T/closed.json" >/dev/null 2>&1
rc=$?
check "no success exits 1 (rc $rc)" [ "$rc" = 1 ]
check "connect failures counted" pycheck '
s = json.load(open(sys.argv[1]))["stages"][0]
assert s["requests"]["failed"] == 4 and s["failures"].get("connect") == 4, s
assert s["ttft_ms"]["p50"] is None and s["ttft_ms"]["count"] == 0, s["ttft_ms"]
' "$T/closed.json"

# ---- HTTP errors are failures by status ------------------------------------------------------------
bench --url "$Z_URL" --model no-such-model --concurrency 1 --requests 3 --json "$T/404.json" >/dev/null 2>&1
check "404s counted by status" pycheck '
s = json.load(open(sys.argv[1]))["stages"][0]
assert s["failures"] == {"http_404": 3}, s["failures"]
assert s["replicas"]["replica-z"]["requests"] == 3, s["replicas"]
' "$T/404.json"

# ---- SIGINT ends the run and still reports -----------------------------------------------------------
"$IG_BIN" bench --no-progress --url "$K_URL" --rates 5 --stage-duration 60s --output-len 5 --json "$T/int.json" \
    >"$T/int.txt" 2>&1 &
BP=$!
IG_PIDS+=("$BP")
sleep 1.5
kill -INT "$BP"
wait "$BP"
rc=$?
check "SIGINT exits 130 (rc $rc)" [ "$rc" = 130 ]
check "interrupted run still writes its JSON" pycheck '
s = json.load(open(sys.argv[1]))["stages"][0]
assert s["requests"]["sent"] >= 1 and s["elapsed_s"] < 30, s
' "$T/int.json"

# ---- flags ---------------------------------------------------------------------------------------------
"$IG_BIN" bench --help >"$T/help.txt"
check "--help exits 0" [ $? = 0 ]
for opt in --url --http --api --model --workload --num-groups --prompts-per-group --system-prompt-len \
    --question-len --output-len --multi-turn --lora --rates --concurrency --requests --stage-duration --json \
    --csv --plot --label --merge; do
    check "--help documents $opt" grep -q -- "$opt" "$T/help.txt"
    check "docs/bench.md documents $opt" grep -q -- "\`$opt" "$IG_ROOT/docs/bench.md"
done
for args in "--bogus" "--rates" "--rates 0" "--rates 1 --concurrency 2" "--concurrency x" "" \
    "--rates 1 --url https://127.0.0.1:1" "--rates 1 --http 3" "--rates 1 --lora a:0.8,b:0.5" \
    "--rates 1 --input-dist lognormal" "--rates 1 --no-stream=1" "--rates 2:xs" \
    "--rates 1 --url http://127.0.0.1:1,https://127.0.0.1:2" "--rates 1 --url http://127.0.0.1:1," \
    "--rates 1 --input-dist sharegpt:0"; do
    # shellcheck disable=SC2086
    "$IG_BIN" bench $args >/dev/null 2>"$T/bad.err"
    rc=$?
    check "bad flags '$args' exit 2 (rc $rc)" [ "$rc" = 2 ]
    check "bad flags '$args' explain" grep -q "infergate bench:" "$T/bad.err"
done

finish
