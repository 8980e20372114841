#!/usr/bin/env bash
# infergate gateway: backendTLS beyond root/insecure/hostname, against real processes on loopback.
# Certificates come from the openssl CLI at test time: a CA, a server certificate whose only names
# are DNS:svc.test and URI:spiffe://td/ns/default/sa/model, a client certificate from the same CA,
# and a second CA nobody trusts. A small node TLS front (mutual TLS required: it verifies the
# client certificate against the CA, logs the ALPN protocols offered) stands before a plaintext
# `infergate sim` (route backends) and a plaintext `infergate epp` (the endpoint picker).
#   - mTLS: cert+key reach the upstream (200); without them the front refuses the handshake: 502
#     upstream_tls_error (or upstream_reset: TLS 1.3 refuses after the client's handshake) in the
#     access log. For the picker: 200 with them, 503 epp_unavailable
#     (failClosed) without them.
#   - subjectAltNames: the connection's name (127.0.0.1) is not in the certificate; a listed DNS
#     name or the URI name makes it acceptable, other names do not (502).
#   - insecureHost: any name, but the chain is still verified (an untrusted root fails).
#   - alpn: the configured list is what the front sees offered (upstream and picker); a picker list
#     without h2 leaves the picker unusable (503, with a log line saying so).
#   - keyExchangeGroups: a group the front supports works.
#   - a key that does not match its certificate: 503 (never plaintext), the log says which file.
#   - --validate-only: cert without key and an unknown group fail at their file:line:col.
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=90
PATH=/usr/bin:$PATH
T=$IG_TMP
command -v openssl >/dev/null || die "openssl is required"
command -v node >/dev/null || die "node is required"

# ---- certificates -----------------------------------------------------------------------------------
# newkey NAME: an EC P-256 key in $T/NAME.key.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$1.key" 2>/dev/null; }
# ca NAME: a self-signed CA in $T/NAME.pem.
ca() {
    newkey "$1"
    openssl req -x509 -new -key "$T/$1.key" -out "$T/$1.pem" -days 1 -subj "/CN=$1" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
}
# leaf NAME CN EXTENSIONS: a certificate signed by the test CA.
leaf() {
    newkey "$1"
    openssl req -new -key "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$2" 2>/dev/null
    printf '%b' "$3" >"$T/$1.ext"
    openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
        -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
}
ca ca
ca other
leaf srv svc 'subjectAltName=DNS:svc.test,URI:spiffe://td/ns/default/sa/model\nextendedKeyUsage=serverAuth\n'
leaf cli gateway 'subjectAltName=DNS:gateway.test\nextendedKeyUsage=clientAuth\n'
for f in ca.pem other.pem srv.pem srv.key cli.pem cli.key; do [ -s "$T/$f" ] || die "cannot make $f"; done

# ---- the TLS front --------------------------------------------------------------------------------------
cat >"$T/front.mjs" <<'EOF'
// TLS front: mutual TLS against ca.pem, then bytes piped to a plaintext port on 127.0.0.1.
// argv: port target-port alpn-preference(comma list) log-file cert-dir
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
const [port, target, prefs, log, dir] = process.argv.slice(2);
const note = (line) => fs.appendFileSync(log, line + '\n');
const server = tls.createServer({
    key: fs.readFileSync(`${dir}/srv.key`),
    cert: fs.readFileSync(`${dir}/srv.pem`),
    ca: fs.readFileSync(`${dir}/ca.pem`),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNCallback: ({ protocols }) => {
        note(`offered ${protocols.join(',')}`);
        return prefs.split(',').find((p) => protocols.includes(p));
    },
}, (sock) => {
    note(`client ${sock.getPeerCertificate().subject.CN}`);
    const up = net.connect(Number(target), '127.0.0.1');
    sock.pipe(up);
    up.pipe(sock);
    sock.on('error', () => up.destroy());
    up.on('error', () => sock.destroy());
});
server.on('tlsClientError', (e) => note(`refused ${e.code}`));
server.listen(Number(port), '127.0.0.1', () => note('listening'));
EOF
# front_start PORT TARGET PREFS LOG
front_start() {
    timeout --foreground -k 2 "$IG_TEST_TIMEOUT" node "$T/front.mjs" "$1" "$2" "$3" "$4" "$T" >>"$4" 2>&1 &
    IG_PIDS+=($!)
    for _ in $(seq 100); do grep -qs '^listening' "$4" && return 0; sleep 0.05; done
    die "TLS front did not start: $(cat "$4")"
}

sim_start --id rep-a --zero-latency --model m
UP_FRONT=$(free_port)
front_start "$UP_FRONT" "$SIM_PORT" http/1.1 "$T/front-up.log"

EPP_PORT=$(free_port)
timeout --foreground -k 2 "$IG_TEST_TIMEOUT" "$IG_BIN" epp --endpoints "127.0.0.1:$SIM_PORT" --grpc-port "$EPP_PORT" \
    --grpc-health-port 0 --metrics-port 0 --secure-serving=false >"$T/epp.log" 2>&1 &
IG_PIDS+=($!)
for _ in $(seq 100); do grep -qs 'listening grpc=' "$T/epp.log" && break; sleep 0.05; done
grep -qs 'listening grpc=' "$T/epp.log" || die "epp did not start: $(cat "$T/epp.log")"
EPP_FRONT=$(free_port)
front_start "$EPP_FRONT" "$EPP_PORT" h2 "$T/front-epp.log"

# ---- the gateway ------------------------------------------------------------------------------------------
GW=$(free_port)
MTLS="root: $T/ca.pem, cert: $T/cli.pem, key: $T/cli.key"
# route NAME TLS-SETTINGS: a route chosen by the header x-case: NAME, to the upstream front.
route() {
    cat <<EOF
    - name: $1
      matches: [{headers: [{name: x-case, value: {exact: $1}}]}]
      backends:
      - host: 127.0.0.1:$UP_FRONT
        policies: {backendTLS: {$2}}
EOF
}
# picker_route NAME: a route to the service whose picker is the named backend NAME.
picker_route() {
    cat <<EOF
    - name: $1
      matches: [{headers: [{name: x-case, value: {exact: $1}}]}]
      backends:
      - service: {name: default/pool, port: 8000}
        policies: {inferenceRouting: {endpointPicker: {backend: $1}}}
EOF
}
# picker NAME TLS-SETTINGS: a top-level backend for the picker front.
picker() {
    printf -- '- {name: %s, host: "127.0.0.1:%s", policies: {backendTLS: {%s}}}\n' "$1" "$EPP_FRONT" "$2"
}
{
    printf 'config:\n  workerThreads: 1\n  adminAddr: "off"\n'
    printf 'services:\n- {name: pool, namespace: default, hostname: pool, vips: [], ports: {8000: 8000}}\n'
    printf 'workloads:\n- {name: w1, namespace: default, workloadIps: [127.0.0.1], services: {default/pool: {8000: %s}}}\n' \
        "$SIM_PORT"
    printf 'backends:\n'
    picker epp-mtls "$MTLS, hostname: svc.test"
    picker epp-nocert "root: $T/ca.pem, hostname: svc.test"
    picker epp-alpn "$MTLS, hostname: svc.test, alpn: [foo, h2]"
    picker epp-noh2 "$MTLS, hostname: svc.test, alpn: [http/1.1]"
    printf 'binds:\n- port: %s\n  listeners:\n  - routes:\n' "$GW"
    route mtls "$MTLS, hostname: svc.test"
    route nocert "root: $T/ca.pem, hostname: svc.test"
    route noname "$MTLS"
    route san-dns "$MTLS, subjectAltNames: [other.test, svc.test]"
    route san-uri "$MTLS, subjectAltNames: [\"spiffe://td/ns/default/sa/model\"]"
    route san-bad "$MTLS, subjectAltNames: [other.test, \"spiffe://td/ns/default/sa/other\", 10.9.9.9]"
    route ihost "$MTLS, insecureHost: true"
    route ihost-badroot "root: $T/other.pem, cert: $T/cli.pem, key: $T/cli.key, insecureHost: true"
    route alpn "$MTLS, hostname: svc.test, alpn: [foo, http/1.1]"
    route groups "$MTLS, hostname: svc.test, keyExchangeGroups: [P-384]"
    route keymismatch "root: $T/ca.pem, cert: $T/cli.pem, key: $T/srv.key, hostname: svc.test"
    picker_route epp-mtls
    picker_route epp-nocert
    picker_route epp-alpn
    picker_route epp-noh2
} >"$T/gw.yaml"
gateway_start "$T/gw.yaml" "$T/gw.log"

# get CASE: status of GET /health through the route CASE.
get() { curl -sS -m 10 -o "$T/body" -w '%{http_code}' -H "x-case: $1" "http://127.0.0.1:$GW/health"; }
# chat CASE: status of a chat completion through the route CASE (an inferenceRouting service).
chat() {
    curl -sS -m 10 -o "$T/body" -w '%{http_code}' -H "x-case: $1" -H 'content-type: application/json' \
        -d '{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2}' \
        "http://127.0.0.1:$GW/v1/chat/completions"
}
# logged CASE STATUS [ERROR]: the access log has the route's request with STATUS (and error=ERROR, an ERE).
logged() {
    grep -Eq "route=[^ ]*$1 .*http.status=$2 ${3:+.*error=($3) }" "$T/gw.log"
}

# mutual TLS, upstream
check "mtls: cert+key reach the upstream (200)" [ "$(get mtls)" = 200 ]
check "mtls: the front saw the gateway's client certificate" grep -q '^client gateway' "$T/front-up.log"
check "mtls: without a client certificate: 502" [ "$(get nocert)" = 502 ]
sleep 0.2
# With TLS 1.3 the server judges the client certificate after the client's side of the handshake
# is done: its refusal comes as an alert, or a reset, on the first read.
check "mtls: access log says upstream_tls_error (or upstream_reset)" logged nocert 502 'upstream_tls_error|upstream_reset'
check "mtls: the front refused a handshake" grep -q '^refused' "$T/front-up.log"

# names
check "no hostname: 127.0.0.1 is not in the certificate: 502" [ "$(get noname)" = 502 ]
check "subjectAltNames: a listed DNS name matches: 200" [ "$(get san-dns)" = 200 ]
check "subjectAltNames: the URI name matches: 200" [ "$(get san-uri)" = 200 ]
check "subjectAltNames: no listed name matches: 502" [ "$(get san-bad)" = 502 ]
check "insecureHost: any name: 200" [ "$(get ihost)" = 200 ]
check "insecureHost: an untrusted chain still fails: 502" [ "$(get ihost-badroot)" = 502 ]
sleep 0.2
check "access log: san-bad upstream_tls_error" logged san-bad 502 upstream_tls_error

# ALPN and groups
check "alpn: 200" [ "$(get alpn)" = 200 ]
check "alpn: the front saw the configured list offered" grep -q '^offered foo,http/1.1$' "$T/front-up.log"
check "alpn: routes without it offer http/1.1 alone" grep -q '^offered http/1.1$' "$T/front-up.log"
check "keyExchangeGroups [P-384]: 200" [ "$(get groups)" = 200 ]

# a key that is not the certificate's: never reached in plaintext, 503 with the reason
check "key of another certificate: 503" [ "$(get keymismatch)" = 503 ]
check "key of another certificate: the body says why" grep -q 'backend TLS settings cannot be used' "$T/body"
check "key of another certificate: the log names the key file" grep -q "TLS: .*$T/srv.key" "$T/gw.log"

# the endpoint picker
check "picker mtls: 200 through the picker" [ "$(chat epp-mtls)" = 200 ]
check "picker mtls: the picker front saw the client certificate and h2 offered" \
    grep -q '^offered h2$' "$T/front-epp.log"
check "picker without a client certificate: 503" [ "$(chat epp-nocert)" = 503 ]
sleep 0.2
check "picker without a client certificate: access log epp_unavailable" logged epp-nocert 503 epp_unavailable
check "picker alpn [foo, h2]: 200" [ "$(chat epp-alpn)" = 200 ]
check "picker alpn: the front saw the configured list" grep -q '^offered foo,h2$' "$T/front-epp.log"
check "picker alpn without h2: 503" [ "$(chat epp-noh2)" = 503 ]
check "picker alpn without h2: the log says why" grep -q 'does not offer h2' "$T/gw.log"

# configuration errors
cat >"$T/bad.yaml" <<EOF
binds:
- port: 1
  listeners:
  - routes:
    - backends:
      - host: 127.0.0.1:1
        policies:
          backendTLS:
            cert: $T/cli.pem
            keyExchangeGroups: [X25519, P-999]
EOF
"$IG_BIN" gateway --validate-only -f "$T/bad.yaml" >"$T/bad.out" 2>&1
check "validate: cert without key and a bad group exit 2" [ $? = 2 ]
check "validate: cert without key at its line:col" grep -q 'bad.yaml:9:13: .*backendTLS.cert: cert requires key' "$T/bad.out"
check "validate: unknown group at its line:col" \
    grep -q 'bad.yaml:10:41: .*backendTLS.keyExchangeGroups\[1\]: unknown key exchange group "P-999"' "$T/bad.out"

finish
