# shellcheck shell=bash
# Shared plumbing of the bench scripts (sourced, never run), once they have set $root (the
# repository) and $bin (the infergate binary):
#   - $work, a temporary directory removed on exit (kept and printed with KEEP=1), and $pids, every
#     process started with `start` or `start_bare`, all stopped on exit however the script ends;
#   - free ports, waits for a log line or a simulator's /health, the picker and stub starts;
#   - the gateway configuration of the EPP benches: agentgateway's standalone inferenceRouting
#     configuration (one service, one bind, one route) with the backends each arm needs.
# Servers started with `start` live at most LIFETIME seconds (default 1800), should the script die
# without running its EXIT trap.

: "${root:?set root before sourcing bench/lib.sh}" "${bin:?set bin before sourcing bench/lib.sh}"
work=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bench_require [node]: the infergate binary and python3; with "node", node and tests/js's grpc-js too.
# shellcheck disable=SC2120 # the argument is optional
bench_require() {
    [ -x "$bin" ] || { echo "no infergate binary at $bin (build the infergate target, Release)" >&2; exit 1; }
    command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
    [ "${1:-}" = node ] || return 0
    command -v node >/dev/null || { echo "node is required (the stub picker)" >&2; exit 1; }
    [ -d "$root/tests/js/node_modules/@grpc/grpc-js" ] || { echo "run npm ci in tests/js first" >&2; exit 1; }
}

# free_port [ADDRESS]: a TCP port of ADDRESS (default 127.0.0.1) that was free a moment ago.
# shellcheck disable=SC2120 # the argument is optional
free_port() {
    python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' \
        "${1:-127.0.0.1}"
}

# wait_log FILE PATTERN NAME: waits up to 10 s for PATTERN in FILE, else prints FILE and exits.
wait_log() {
    for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    echo "$3 did not start:" >&2
    cat "$1" >&2
    exit 1
}

# wait_health PORT LOG: waits up to 10 s for a simulator's /health on PORT, else prints LOG and exits.
wait_health() {
    for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$1/health" && return 0; sleep 0.05; done
    curl -sf -o /dev/null "http://127.0.0.1:$1/health" || { cat "$2" >&2; exit 1; }
}

# start LOG CMD...: runs CMD in the background with a bounded life, its output in LOG.
start() {
    local log=$1
    shift
    timeout -k 5 "${LIFETIME:-1800}" "$@" >"$log" 2>&1 &
    pids+=($!)
}

# start_bare LOG CMD...: as start without timeout(1), so that $! is CMD itself (for /proc/$!/stat).
start_bare() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    pids+=($!)
}

# start_epp ENDPOINTS [FLAGS...]: `infergate epp` over ENDPOINTS on ports of its choosing, plaintext;
# sets epp_port (its gRPC port).
start_epp() {
    local endpoints=$1
    shift
    start "$work/epp.log" "$bin" epp --endpoints "$endpoints" --secure-serving=false --grpc-port 0 \
        --grpc-health-port 0 --metrics-port 0 "$@"
    wait_log "$work/epp.log" 'epp: listening grpc=' "infergate epp"
    # shellcheck disable=SC2034 # read by the sourcing script
    epp_port=$(sed -n 's/.*epp: listening grpc=\([0-9]*\).*/\1/p' "$work/epp.log" | head -1)
}

# start_stub ENDPOINTS: the grpc-js stub picker (tests/js/epp-stub.mjs) over ENDPOINTS; sets stub_port.
start_stub() {
    start "$work/stub.log" node "$root/tests/js/epp-stub.mjs" --port 0 --endpoints "$1"
    wait_log "$work/stub.log" 'epp-stub listening on' "epp stub"
    # shellcheck disable=SC2034 # read by the sourcing script
    stub_port=$(sed -n 's/.*epp-stub listening on \([0-9]*\).*/\1/p' "$work/stub.log" | head -1)
}

# The standalone inferenceRouting configuration as agentgateway documents it (the tests load the
# same file): one service, one bind on 8081, one route whose one backend picks through 9002.
seed=$root/tests/unit/config/data/seed.yaml

# gw_config PORT ROUTE_BACKEND_YAML [WORKERS]: the seed up to its route's backends, listening on
# PORT, with the given backends instead; WORKERS worker threads (default 1), and the admin, stats
# and readiness ports off so that nothing binds a fixed port.
gw_config() {
    echo "config: {adminAddr: \"off\", statsAddr: \"off\", readinessAddr: \"off\", workerThreads: ${3:-1}}"
    sed -n -e "s/^- port: 8081$/- port: $1/" -e '1,/^    - backends:$/p' "$seed"
    printf '%s\n' "$2"
}

# epp_backend PICKER_PORT [MODE]: the seed's inferenceRouting backend with the picker's port (and
# inferenceRouting responseMode MODE when given).
epp_backend() {
    sed -e '1,/^    - backends:$/d' -e "s/host: 127.0.0.1:9002$/host: 127.0.0.1:$1/" "$seed"
    [ -z "${2:-}" ] || echo "            responseMode: $2"
}

# start_gateway ARM: `infergate gateway -f $work/gw-ARM.yaml`, waiting for it to be ready.
start_gateway() {
    start "$work/gw-$1.log" "$bin" gateway -f "$work/gw-$1.yaml"
    wait_log "$work/gw-$1.log" 'ready:' "gateway ($1)"
}

# bench_banner: the machine and binary line the reports start with (on stderr).
bench_banner() {
    echo "machine: $(nproc) cores, $(uname -r); $(date -u +%FT%TZ); infergate: $bin" >&2
}
