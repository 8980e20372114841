#!/usr/bin/env bash
# Installs what infergate needs on Debian 12: the Debian packages below and the npm packages of
# the JavaScript test clients (tests/js, from its package-lock.json). Idempotent and quiet when
# everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
    build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
    libuv1-dev libnghttp2-dev libssl-dev libyaml-dev libjansson-dev libxxhash-dev
    libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev libcmocka-dev
    curl nghttp2-client nodejs openssl gnuplot-nox
)

missing=()
for p in "${PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# npm may come with the machine's Node.js; install Debian's only when none is on PATH.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f tests/js/package-lock.json ]; then
    stamp=tests/js/node_modules/.ig-stamp
    if [ ! -f "$stamp" ] || [ tests/js/package-lock.json -nt "$stamp" ]; then
        echo "deps: npm ci in tests/js"
        (cd tests/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        touch "$stamp"
    fi
fi
