#!/usr/bin/env bash
# infergate gateway: several HTTPS listeners on one bind, chosen by SNI. Three listeners (exact
# a.example.com, wildcard *.example.com, and one without hostname) with their own self-signed
# certificates: the certificate served (subject) and the routes reached follow the client's server
# name, with the default for unknown names and for clients without SNI, over HTTP/1.1 and h2; a
# Host of another listener on a connection negotiated for this one gets 421; a bind without a
# default listener refuses unknown names with the unrecognized_name alert; a reload swaps the
# certificate; mixing HTTP and HTTPS on one port and two HTTPS listeners with one hostname are
# load errors with file:line:col.
source "$(dirname "$0")/lib.sh"
IG_TEST_TIMEOUT=60
PATH=/usr/bin:$PATH
T=$IG_TMP

mkcert() { # mkcert NAME CN
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$2" \
        -keyout "$T/$1.key" -out "$T/$1.pem" >/dev/null 2>&1 || die "openssl req failed for $2"
}
mkcert a a.example.com
mkcert wild '*.example.com'
mkcert def default.test
mkcert a2 a-renewed.example.com
mkcert only only.example.net

GP=$(free_port); NP=$(free_port); ST=$(free_port); RD=$(free_port)
mkdir -p "$T/cfg"
CFG=$T/cfg/gw.yaml
write_config() { # write_config CERT_OF_A
    cat >"$CFG.tmp" <<EOF
config:
  adminAddr: "off"
  statsAddr: 127.0.0.1:$ST
  readinessAddr: 127.0.0.1:$RD
  workerThreads: 2
binds:
- port: $GP
  listeners:
  - name: exact
    hostname: a.example.com
    protocol: HTTPS
    tls: {cert: $T/$1.pem, key: $T/$1.key}
    routes: [{name: ra, policies: {directResponse: {body: "listener=exact", status: 200}}}]
  - name: wild
    hostname: "*.example.com"
    protocol: HTTPS
    tls: {cert: $T/wild.pem, key: $T/wild.key}
    routes: [{name: rw, policies: {directResponse: {body: "listener=wild", status: 200}}}]
  - name: fallback
    protocol: HTTPS
    tls: {cert: $T/def.pem, key: $T/def.key}
    routes: [{name: rd, policies: {directResponse: {body: "listener=fallback", status: 200}}}]
- port: $NP
  listeners:
  - name: only
    hostname: only.example.net
    protocol: HTTPS
    tls: {cert: $T/only.pem, key: $T/only.key}
    routes: [{name: ro, policies: {directResponse: {body: "listener=only", status: 200}}}]
EOF
    mv "$CFG.tmp" "$CFG"
}
write_config a
"$IG_BIN" gateway -f "$CFG" >"$T/gw.log" 2>&1 &
GW_PID=$!
IG_PIDS+=("$GW_PID")
wait_http "http://127.0.0.1:$RD/healthz/ready" 10 || { cat "$T/gw.log" >&2; die "gateway not ready"; }

# subject SNI [PORT]: the subject CN of the certificate served for SNI (empty: none sent).
subject() {
    local sni=() port=${2:-$GP}
    [ -n "$1" ] && sni=(-servername "$1")
    [ -z "$1" ] && sni=(-noservername)
    timeout 5 openssl s_client -connect "127.0.0.1:$port" "${sni[@]}" </dev/null 2>/dev/null |
        openssl x509 -noout -subject -nameopt multiline 2>/dev/null | awk -F' = ' '/commonName/ { print $2 }'
}
# body HOST [CURL ARGS...]: the body of GET https://HOST:GP/ with HOST resolved to 127.0.0.1.
body() {
    local host=$1
    shift
    curl -sS -k -m 5 --resolve "$host:$GP:127.0.0.1" "$@" "https://$host:$GP/"
}

check "exact hostname: its certificate" [ "$(subject a.example.com)" = a.example.com ]
check "wildcard: its certificate" [ "$(subject b.example.com)" = '*.example.com' ]
check "deeper name under the wildcard" [ "$(subject x.y.example.com)" = '*.example.com' ]
check "unknown name: the default listener's certificate" [ "$(subject other.org)" = default.test ]
check "no SNI: the default listener's certificate" [ "$(subject '')" = default.test ]
check "SNI is case-insensitive" [ "$(subject A.Example.COM)" = a.example.com ]

check "exact listener's routes (HTTP/1.1)" [ "$(body a.example.com --http1.1)" = listener=exact ]
check "exact listener's routes (h2)" [ "$(body a.example.com --http2)" = listener=exact ]
check "wildcard listener's routes" [ "$(body b.example.com)" = listener=wild ]
check "default listener's routes" [ "$(body other.org)" = listener=fallback ]
check "no SNI, Host 127.0.0.1: default listener" \
    [ "$(curl -sS -k -m 5 "https://127.0.0.1:$GP/")" = listener=fallback ]

# A Host of another listener on a connection negotiated for this one: 421 Misdirected Request.
code() { curl -sS -k -m 5 -o /dev/null -w '%{http_code}' "$@"; }
A=(--resolve "a.example.com:$GP:127.0.0.1" -H 'Host: b.example.com' "https://a.example.com:$GP/")
check "Host of the wildcard listener over the exact listener's connection: 421 (HTTP/1.1)" \
    [ "$(code --http1.1 "${A[@]}")" = 421 ]
check "same over h2: 421" [ "$(code --http2 "${A[@]}")" = 421 ]
check "Host of the exact listener over the default listener's connection: 421" \
    [ "$(code -H 'Host: a.example.com' "https://127.0.0.1:$GP/")" = 421 ]
check "Host matching the negotiated listener: 200" \
    [ "$(code --resolve "c.example.com:$GP:127.0.0.1" -H 'Host: d.example.com' "https://c.example.com:$GP/")" = 200 ]
check "access log: misdirected_request" grep -q 'http.status=421 .*error=misdirected_request' "$T/gw.log"

# A bind without a default listener: unknown or missing names fail the handshake.
timeout 5 openssl s_client -connect "127.0.0.1:$NP" -servername nope.example.net </dev/null >"$T/nope.out" 2>&1
check "unknown SNI without default: handshake alert unrecognized_name" grep -qi 'unrecognized name' "$T/nope.out"
curl -sS -k -m 5 --resolve "nope.example.net:$NP:127.0.0.1" "https://nope.example.net:$NP/" >/dev/null 2>&1
rc=$?
check "curl to an unknown name fails in the TLS handshake (exit $rc)" [ "$rc" = 35 ]
check "no SNI without default: refused" [ -z "$(subject '' "$NP")" ]
check "the named listener still serves" \
    [ "$(curl -sS -k -m 5 --resolve "only.example.net:$NP:127.0.0.1" "https://only.example.net:$NP/")" = listener=only ]

# Reload: a new certificate for the exact listener is served to new connections.
reloads() {
    curl -sS -m 5 "http://127.0.0.1:$ST/metrics" |
        awk '/^infergate_config_reloads_total\{result="success"\}/ { print $2 }'
}
before=$(reloads)
write_config a2
for _ in $(seq 50); do [ "$(reloads)" != "$before" ] && break; sleep 0.1; done
check "reload counted" [ "$(reloads)" != "$before" ]
check "reload: the new certificate is served" [ "$(subject a.example.com)" = a-renewed.example.com ]
check "reload: the other listeners keep theirs" [ "$(subject b.example.com)" = '*.example.com' ]
check "reload: routes still by SNI" [ "$(body a.example.com)" = listener=exact ]

# Load-time errors.
cat >"$T/mixed.yaml" <<EOF
binds:
- port: 8443
  listeners:
  - name: secure
    protocol: HTTPS
    tls: {cert: $T/a.pem, key: $T/a.key}
  - name: plain
    hostname: plain.example.com
    protocol: HTTP
EOF
"$IG_BIN" gateway --validate-only -f "$T/mixed.yaml" >"$T/mixed.out" 2>&1
rc=$?
check "HTTP and HTTPS on one port: exit 2 ($rc)" [ "$rc" = 2 ]
check "HTTP and HTTPS on one port: file:line:col at the protocol" \
    grep -q "mixed.yaml:9:15: binds\[0\].listeners\[1\].protocol: .*cannot share a bind" "$T/mixed.out"
cat >"$T/dup.yaml" <<EOF
binds:
- port: 8443
  listeners:
  - name: one
    hostname: a.example.com
    protocol: HTTPS
    tls: {cert: $T/a.pem, key: $T/a.key}
  - name: two
    hostname: A.example.com
    protocol: HTTPS
    tls: {cert: $T/a2.pem, key: $T/a2.key}
EOF
"$IG_BIN" gateway --validate-only -f "$T/dup.yaml" >"$T/dup.out" 2>&1
rc=$?
check "two HTTPS listeners with one hostname: exit 2 ($rc)" [ "$rc" = 2 ]
check "two HTTPS listeners with one hostname: file:line:col" grep -q "dup.yaml:9:15: .*same hostname" "$T/dup.out"
[ "$IG_FAILS" = 0 ] || { cat "$T/mixed.out" "$T/dup.out"; tail -20 "$T/gw.log"; } >&2

finish
