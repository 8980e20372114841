#!/usr/bin/env bash
# Proxy overhead: requests/s and latency percentiles for a 1 KB response served by nginx
# (the backend), fetched directly and through nginx, haproxy and infergate as reverse proxies
# with the same worker count, all over HTTP/1.1 keep-alive on 127.0.0.1.
#
# Usage: bench/proxy-overhead.sh [path/to/infergate]
#   WORKERS=1 (proxy workers/threads), CONNS=64, DURATION=10 (seconds), THREADS=2 (load threads)
# Needs nginx, haproxy and wrk (Debian packages: installed with apt-get when missing, which needs
# root); falls back to `h2load --h1` (no percentiles) when wrk cannot be installed.
set -euo pipefail
bin=${1:-build/infergate}
WORKERS=${WORKERS:-1}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
base=${BASE_PORT:-18700}
work=$(mktemp -d)
chmod 755 "$work" # nginx workers run as an unprivileged user when started as root
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} (apt-get)" >&2
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${need[@]}" >/dev/null 2>&1; } || true
fi
PATH=$PATH:/usr/sbin
command -v nginx >/dev/null || { echo "nginx is required"; exit 1; }

backend=$base proxy_nginx=$((base + 1)) proxy_haproxy=$((base + 2)) proxy_ig=$((base + 3))
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/1k.txt"
mkdir -p "$work/tmp"

nginx_conf() { # nginx_conf FILE WORKERS BODY
    cat >"$1" <<EOF
worker_processes $2;
daemon off;
pid $work/$(basename "$1").pid;
error_log $work/$(basename "$1").err warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
    keepalive_requests 1000000;
    $3
}
EOF
}
nginx_conf "$work/backend.conf" 1 "server { listen 127.0.0.1:$backend; location / { root $work; try_files /1k.txt =404; } }"
nginx_conf "$work/proxy.conf" "$WORKERS" "upstream be { server 127.0.0.1:$backend; keepalive 256; }
    server { listen 127.0.0.1:$proxy_nginx; location / { proxy_pass http://be; proxy_http_version 1.1;
        proxy_set_header Connection \"\"; } }"
cat >"$work/haproxy.cfg" <<EOF
global
    nbthread $WORKERS
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend f
    bind 127.0.0.1:$proxy_haproxy
    default_backend b
backend b
    http-reuse always
    server s1 127.0.0.1:$backend
EOF
cat >"$work/ig.yaml" <<EOF
config: {adminAddr: "off", statsAddr: "off", readinessAddr: "off", workerThreads: $WORKERS}
binds:
- port: $proxy_ig
  listeners:
  - routes:
    - backends: [{host: 127.0.0.1:$backend}]
EOF

wait_up() { for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; echo "port $1 did not come up"; exit 1; }

nginx -c "$work/backend.conf" -e "$work/backend.err" & pids+=($!)
wait_up "$backend"
nginx -c "$work/proxy.conf" -e "$work/proxy.err" & pids+=($!)
wait_up "$proxy_nginx"
if command -v haproxy >/dev/null; then
    haproxy -f "$work/haproxy.cfg" -q & pids+=($!)
    wait_up "$proxy_haproxy"
fi
"$bin" gateway -f "$work/ig.yaml" >/dev/null 2>"$work/ig.err" & pids+=($!)
wait_up "$proxy_ig"

run() { # run NAME PORT
    local out
    if command -v wrk >/dev/null; then
        out=$(wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency "http://127.0.0.1:$2/" 2>&1)
        local rps p50 p99
        rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
        p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        printf '%-10s %12s req/s   p50 %-9s p99 %-9s\n' "$1" "$rps" "$p50" "$p99"
    else
        out=$(h2load --h1 -t "$THREADS" -c "$CONNS" -D "$DURATION" "http://127.0.0.1:$2/" 2>&1)
        printf '%-10s %12s req/s   (h2load: %s)\n' "$1" "$(awk '/^finished in/ {print $4}' <<<"$out")" \
            "$(awk '/time for request:/ {print "mean", $5}' <<<"$out")"
    fi
}

echo "machine: $(nproc) cores, $(uname -r); $(date -u +%FT%TZ)"
echo "workers per proxy: $WORKERS; load: $THREADS threads, $CONNS connections, ${DURATION}s; 1 KB body"
run direct "$backend"
run nginx "$proxy_nginx"
command -v haproxy >/dev/null && run haproxy "$proxy_haproxy"
run infergate "$proxy_ig"
