#!/usr/bin/env bash
# infergate gateway: the command line. --help, --validate-only on a valid and an invalid file
# (errors as file:line:col, exit 2), inline -c configuration, `infergate -f FILE` without the
# subcommand, and a listener that cannot be opened (exit 1).
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=30
PATH=/usr/bin:$PATH # the distribution python3: a version-manager shim costs most of a second per call
T=$IG_TMP
cd "$T" || die "no temp dir"

"$IG_BIN" gateway --help >"$T/help.txt" 2>&1
check "--help exits 0" [ $? = 0 ]
check "--help mentions --validate-only" grep -q -- '--validate-only' "$T/help.txt"
"$IG_BIN" --help >"$T/top.txt" 2>&1
check "top-level help lists gateway" grep -q '^  gateway' "$T/top.txt"

# The documented standalone configuration ($IG_SEED) in its long form: the listener and the route
# named, the protocol and a path match spelled out.
route='    - name: standalone-epp\n      matches:\n      - path:\n          pathPrefix: /v1/chat/completions\n'
sed -e 's|^  - routes:$|  - name: default\n    protocol: HTTP\n    routes:|' \
    -e "s|^    - backends:$|$route      backends:|" "$IG_SEED" >"$T/good.yaml"
"$IG_BIN" gateway --validate-only -f "$T/good.yaml" >"$T/v.out" 2>&1
check "the standalone-EPP example validates (exit 0)" [ $? = 0 ]
"$IG_BIN" --validate-only -f "$T/good.yaml" >/dev/null 2>&1
check "infergate --validate-only -f (no subcommand) exit 0" [ $? = 0 ]

cat >"$T/bad.yaml" <<'EOF'
binds:
- port: 8081
  listeners:
  - rotues: []
EOF
"$IG_BIN" gateway --validate-only -f "$T/bad.yaml" >"$T/bad.out" 2>&1
check "invalid file exits 2" [ $? = 2 ]
check "error is file:line:col" grep -q "bad.yaml:4:5: .*rotues" "$T/bad.out"

"$IG_BIN" gateway -f "$T/bad.yaml" >"$T/bad2.out" 2>&1
check "serving an invalid file exits 2" [ $? = 2 ]

"$IG_BIN" gateway --validate-only -c '{"binds":[{"port":8081,"listeners":[{"routes":[{"backends":[{"host":"127.0.0.1:1"}]}]}]}]}' \
    >/dev/null 2>&1
check "inline JSON (-c) validates" [ $? = 0 ]
"$IG_BIN" gateway --validate-only -c 'binds: [{port: "x"}]' >"$T/inl.out" 2>&1
check "inline error exit 2" [ $? = 2 ]
check "inline error names <inline>:line:col" grep -q '^<inline>:1:' "$T/inl.out"

"$IG_BIN" gateway >/dev/null 2>&1
check "no -f/-c exits 2" [ $? = 2 ]
"$IG_BIN" gateway -f a -c b >/dev/null 2>&1
check "-f and -c together exit 2" [ $? = 2 ]
"$IG_BIN" gateway --bogus >/dev/null 2>&1
check "unknown flag exits 2" [ $? = 2 ]

# A port already taken: start-up fails with exit 1 (not a hang).
python3 -c 'import socket,time,sys
s=socket.socket(); s.bind(("0.0.0.0",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(20)' >"$T/busy.port" &
IG_PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/busy.port" ] && break; sleep 0.05; done
BUSY=$(cat "$T/busy.port")
cat >"$T/busy.yaml" <<EOF
config: {adminAddr: "off", statsAddr: "off", readinessAddr: "off", workerThreads: 1}
binds:
- port: $BUSY
  listeners:
  - routes:
    - policies: {directResponse: {body: "x", status: 200}}
EOF
timeout 10 "$IG_BIN" gateway -f "$T/busy.yaml" >"$T/busy.out" 2>&1
rc=$?
check "a taken port fails start-up with exit 1 (got $rc)" [ $rc = 1 ]
check "the failure is logged" grep -q 'cannot listen on port' "$T/busy.out"
finish
