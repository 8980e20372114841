#!/usr/bin/env bash
# Proxy overhead: requests/s and latency percentiles for a 1 KB response served by nginx
# (the backend), fetched directly and through nginx, haproxy and infergate as reverse proxies
# with the same worker count, over HTTP/1.1 keep-alive (wrk) and over h2c with prior knowledge
# (h2load; nginx `listen ... http2`, haproxy `proto h2`, infergate on its one port) on 127.0.0.1,
# upstream HTTP/1.1 keep-alive in every case. Resident memory comes first, while each proxy is
# fresh: idle after start, and holding IDLE_CONNS idle keep-alive connections that each served one
# request (so the per-connection figure is not mixed with heap the load runs leave behind); the
# RSS after the load runs is printed at the end.
#
# Usage: bench/proxy-overhead.sh [path/to/infergate]
#   WORKERS=1 (proxy workers/threads), CONNS=64, DURATION=10 (seconds), THREADS=2 (load threads),
#   H2_STREAMS=10 (concurrent streams per h2 connection), IDLE_CONNS=10000
# Needs nginx, haproxy and wrk (Debian packages: installed with apt-get when missing, which needs
# root); falls back to `h2load --h1` (no percentiles) when wrk cannot be installed.
set -euo pipefail
bin=${1:-build/infergate}
WORKERS=${WORKERS:-1}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
H2_STREAMS=${H2_STREAMS:-10}
IDLE_CONNS=${IDLE_CONNS:-10000}
# Idle connections need a descriptor each in the client and in the proxy, and haproxy refuses to
# start unless the limit covers two per connection (maxsock = 2 * maxconn + a few).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((2 * IDLE_CONNS + 400)) ]; then
    IDLE_CONNS=$((($(ulimit -n) - 400) / 2))
    echo "open-file limit $(ulimit -n): IDLE_CONNS lowered to $IDLE_CONNS (raise ulimit -Hn for more)" >&2
fi
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
backend_h2=$((base + 4)) proxy_nginx_h2=$((base + 5)) proxy_haproxy_h2=$((base + 6))
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/1k.txt"
mkdir -p "$work/tmp"

nginx_conf() { # nginx_conf FILE WORKERS BODY
    cat >"$1" <<EOF
worker_processes $2;
daemon off;
pid $work/$(basename "$1").pid;
error_log $work/$(basename "$1").err warn;
worker_rlimit_nofile $(ulimit -n);
events { worker_connections $((IDLE_CONNS + 1000)); }
http {
    access_log off;
    client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
    keepalive_requests 1000000;
    $3
}
EOF
}
nginx_conf "$work/backend.conf" 1 "server { listen 127.0.0.1:$backend; listen 127.0.0.1:$backend_h2 http2;
    location / { root $work; try_files /1k.txt =404; } }"
nginx_conf "$work/proxy.conf" "$WORKERS" "upstream be { server 127.0.0.1:$backend; keepalive 256; }
    server { listen 127.0.0.1:$proxy_nginx; listen 127.0.0.1:$proxy_nginx_h2 http2;
        location / { proxy_pass http://be; proxy_http_version 1.1;
        proxy_set_header Connection \"\"; } }"
cat >"$work/haproxy.cfg" <<EOF
global
    nbthread $WORKERS
    maxconn $((IDLE_CONNS + 100))
    ulimit-n $(ulimit -n)
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend f
    bind 127.0.0.1:$proxy_haproxy
    bind 127.0.0.1:$proxy_haproxy_h2 proto h2
    default_backend b
backend b
    http-reuse always
    server s1 127.0.0.1:$backend
EOF
# Access logs off for every proxy (nginx: access_log off; haproxy: no log target; infergate:
# access lines are info events, so level warn).
cat >"$work/ig.yaml" <<EOF
config: {adminAddr: "off", statsAddr: "off", readinessAddr: "off", workerThreads: $WORKERS, logging: {level: warn}}
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
    # it alerts that maxconn could need two descriptors per connection; idle ones need one
    haproxy -f "$work/haproxy.cfg" -q 2>"$work/haproxy.err" & pids+=($!)
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

# rss_kb PID: resident memory of PID and its children (nginx's workers), in kB.
rss_kb() {
    local p total=0
    for p in $1 $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        total=$((total + $(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# Opens N connections to a port, sends one keep-alive request on each and reads its response,
# then holds them all open until stdin closes. Prints "ready OK" once every connection answered.
cat >"$work/idle.py" <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
socks, ok = [], 0
for start in range(0, n, 250):  # batches below the listen backlogs
    batch = []
    for _ in range(min(250, n - start)):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(req)
        batch.append(s)
    for s in batch:
        got = b""
        while b"\r\n\r\n" not in got or len(got) < got.index(b"\r\n\r\n") + 4 + 1024:
            b = s.recv(65536)
            if not b:
                break
            got += b
        ok += got.startswith(b"HTTP/1.1 200")
    socks += batch
print("ready", ok, flush=True)
sys.stdin.read()
EOF

# idle_rss NAME PID PORT: the proxy's RSS with IDLE_CONNS idle keep-alive connections.
idle_rss() {
    local rss ok
    rm -f "$work/idle.out"
    exec 3> >(exec python3 "$work/idle.py" "$3" "$IDLE_CONNS" >"$work/idle.out" 2>&1)
    for _ in $(seq 600); do grep -q ready "$work/idle.out" 2>/dev/null && break; sleep 0.1; done
    ok=$(awk '/^ready/ {print $2}' "$work/idle.out")
    sleep 1
    rss=$(rss_kb "$2")
    exec 3>&-
    sleep 1
    printf '%-10s idle %7d kB   %d idle keep-alive connections (%s answered) %8d kB   %5.2f kB/connection\n' \
        "$1" "${idle[$1]}" "$IDLE_CONNS" "${ok:-?}" "$rss" "$(echo "($rss - ${idle[$1]}) / $IDLE_CONNS" | bc -l)"
}

run_h2() { # run_h2 NAME PORT
    local out
    out=$(h2load -t "$THREADS" -c "$CONNS" -m "$H2_STREAMS" -D "$DURATION" "http://127.0.0.1:$2/" 2>&1)
    printf '%-10s %12s req/s   mean %-9s max %-9s %s\n' "$1" "$(awk '/^finished in/ {print $4}' <<<"$out")" \
        "$(awk '/time for request:/ {print $6}' <<<"$out")" "$(awk '/time for request:/ {print $5}' <<<"$out")" \
        "$(awk '/^requests:/ {print $8, "succeeded,", $10, "failed"}' <<<"$out")"
}

declare -A idle pid_of
pid_of[nginx]=${pids[1]}
command -v haproxy >/dev/null && pid_of[haproxy]=${pids[2]}
pid_of[infergate]=${pids[-1]}
sleep 1
for p in "${!pid_of[@]}"; do idle[$p]=$(rss_kb "${pid_of[$p]}"); done

echo "machine: $(nproc) cores, $(uname -r); $(date -u +%FT%TZ)"
echo "workers per proxy: $WORKERS; load: $THREADS threads, $CONNS connections, ${DURATION}s; 1 KB body"
echo "-- resident memory of the fresh proxies (process and children)"
idle_rss nginx "${pid_of[nginx]}" "$proxy_nginx"
command -v haproxy >/dev/null && idle_rss haproxy "${pid_of[haproxy]}" "$proxy_haproxy"
idle_rss infergate "${pid_of[infergate]}" "$proxy_ig"
echo "-- HTTP/1.1 keep-alive (wrk)"
run direct "$backend"
run nginx "$proxy_nginx"
command -v haproxy >/dev/null && run haproxy "$proxy_haproxy"
run infergate "$proxy_ig"
if command -v h2load >/dev/null; then
    echo "-- h2c downstream, $H2_STREAMS streams per connection (h2load; upstream HTTP/1.1)"
    run_h2 direct "$backend_h2"
    run_h2 nginx "$proxy_nginx_h2"
    command -v haproxy >/dev/null && run_h2 haproxy "$proxy_haproxy_h2"
    run_h2 infergate "$proxy_ig"
fi
echo "-- resident memory after the load runs (process and children)"
for p in nginx haproxy infergate; do
    [ -n "${pid_of[$p]:-}" ] && printf '%-10s %8d kB\n' "$p" "$(rss_kb "${pid_of[$p]}")"
done
