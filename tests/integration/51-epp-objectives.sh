#!/usr/bin/env bash
# infergate epp --objectives-file: a bad file stops the EPP at start with file:line:col (exit 2);
# then the Envoy-like interop client (tests/js/epp-objectives.test.mjs) runs two slow `infergate
# sim` replicas into saturation and checks that a sheddable objective (priority -1) gets 429
# `inference error: ResourceExhausted - ...` while priority 0 requests are still picked, that an
# InferenceModelRewrite rewrites the body, and the build-info / attempts / rewrite metrics.
source "$(dirname "$0")/lib.sh"
PATH=/usr/bin:$PATH
T=$IG_TMP
command -v node >/dev/null || die "node is required"
[ -d "$IG_ROOT/tests/js/node_modules/@grpc/grpc-js" ] || die "run npm ci in tests/js first"

# ---- a bad objectives file fails the start, with its position ------------------------------------
cat >"$T/bad.yaml" <<'YAML'
kind: InferenceObjective
metadata: {name: batch}
spec:
  priority: lowest
YAML
timeout -k 2 10 "$IG_BIN" epp --endpoints 127.0.0.1:1 --secure-serving=false --grpc-port 0 --grpc-health-port 0 \
    --metrics-port 0 --objectives-file "$T/bad.yaml" >"$T/bad.log" 2>&1
check "bad objectives file: exit status 2" test $? -eq 2
check "bad objectives file: file:line:col message" \
    grep -q "bad.yaml:4:13: spec.priority: expected an integer" "$T/bad.log"

timeout -k 2 10 "$IG_BIN" epp --endpoints 127.0.0.1:1 --secure-serving=false --grpc-port 0 --grpc-health-port 0 \
    --metrics-port 0 --objectives-file "$T/missing.yaml" >"$T/missing.log" 2>&1
check "missing objectives file: exit status 2" test $? -eq 2

# ---- shedding under saturation, through the Envoy-like client -------------------------------------
timeout -k 2 90 node --test "$IG_ROOT/tests/js/epp-objectives.test.mjs" >"$T/node.log" 2>&1
check "interop: epp-objectives.test.mjs passes" test $? -eq 0
grep -E '^# (pass|fail)' "$T/node.log"
[ "$IG_FAILS" -eq 0 ] || tail -40 "$T/node.log" >&2

finish
