#!/usr/bin/env bash
# What shadow traffic costs the client: the same route measured with wrk with
# shadowing off, and on (100% of requests copied) towards a healthy candidate,
# a candidate that accepts connections and never answers, and a candidate that
# is down. nginx is the legacy origin and the healthy candidate. Ficus runs
# one worker on BENCH_PROXY_CPU; wrk and the origins share BENCH_LOAD_CPU.
#
# Environment: BENCH_SECONDS (10), BENCH_CONNS (50), BENCH_ROUNDS (2),
# BENCH_OUT (bench/results/shadow), FICUS_BIN (build/ficus).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FICUS_BIN=${FICUS_BIN:-$ROOT/build/ficus}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-50}
ROUNDS=${BENCH_ROUNDS:-2}
OUT=${BENCH_OUT:-$ROOT/bench/results/shadow}
PROXY_CPU=${BENCH_PROXY_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}

log() { printf '[shadow-bench] %s\n' "$*" >&2; }
T=$(mktemp -d /tmp/ficus-shadow-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ ${BENCH_KEEP_TMP:-0} == 1 ]] || rm -rf "$T"
}
trap cleanup EXIT

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    log "port $1 never opened"
    return 1
}

ORIGIN=$(free_port)
CAND=$(free_port)
HANG=$(free_port)
DOWN=$(free_port) # nothing listens there
PROXY=$(free_port)

mkdir -p "$T/nginx"
cat >"$T/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $T/nginx/error.log warn;
pid $T/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$ORIGIN;
        listen 127.0.0.1:$CAND;
        location / { default_type application/json; return 200 '{"id":42,"items":[{"sku":"a","price":9.99}],"ok":true}\n'; }
    }
}
EOF
taskset -c "$LOAD_CPU" nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" &
PIDS+=($!)
# A candidate that accepts and never answers.
taskset -c "$LOAD_CPU" node -e "require('net').createServer(s=>{s.on('error',()=>{})}).listen($HANG,'127.0.0.1')" &
PIDS+=($!)
wait_port "$ORIGIN"
wait_port "$HANG"

conf() { # $1 = shadow target port or "off"
    local shadow=""
    if [[ $1 != off ]]; then
        shadow="    shadow: {to: candidate, sample: 100%, max_inflight: 256}"
    fi
    cat <<EOF
listen: 127.0.0.1:$PROXY
workers: 1
store: sqlite:$T/ficus.db
log: {access: "off"}
upstreams:
  legacy: {servers: ["127.0.0.1:$ORIGIN"], max_idle: 1024}
  candidate: {servers: ["127.0.0.1:${1/off/$CAND}"], connect_timeout: 2s, read_timeout: 30s}
routes:
  - name: api
    to: legacy
$shadow
EOF
}

run_case() { # $1 = label, $2 = candidate port or off
    conf "$2" >"$T/f.yaml"
    taskset -c "$PROXY_CPU" "$FICUS_BIN" serve -c "$T/f.yaml" 2>"$T/ficus.log" &
    local fp=$!
    wait_port "$PROXY"
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PROXY/api/x" >/dev/null
    for r in $(seq 1 "$ROUNDS"); do
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
            "http://127.0.0.1:$PROXY/api/x" >"$T/wrk-$1-$r.txt"
    done
    kill "$fp"
    wait "$fp" 2>/dev/null || true
}

to_ms() { # wrk latency text (e.g. 1.23ms, 850.00us, 1.02s) -> ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'
}

summ() { # $1 = label -> "rps p50 p99 errors" (best round by rps)
    local best="" bestrps=0
    for f in "$T"/wrk-"$1"-*.txt; do
        local rps p50 p99 errs
        rps=$(awk '/^Requests\/sec/ {print $2}' "$f")
        p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$f")")
        p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$f")")
        errs=$(awk '/Non-2xx|Socket errors/ {s = s $0 " "} END {print (s == "" ? "0" : s)}' "$f")
        if awk -v a="$rps" -v b="$bestrps" 'BEGIN { exit !(a > b) }'; then
            bestrps=$rps
            best="$rps|$p50|$p99|$errs"
        fi
    done
    echo "$best"
}

log "origin :$ORIGIN, healthy candidate :$CAND, hanging :$HANG, down :$DOWN"
run_case off off
run_case healthy "$CAND"
run_case hanging "$HANG"
run_case down "$DOWN"

{
    echo "# Shadow traffic: client-side cost"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores, wrk -c$CONNS ${SECS}s, best of $ROUNDS rounds, Ficus 1 worker"
    echo "(CPU $PROXY_CPU), wrk and origins on CPU $LOAD_CPU. Shadow: sample 100%, max_inflight 256,"
    echo "candidate read_timeout 30s."
    echo
    echo "| shadow | req/s | p50 ms | p99 ms | client errors |"
    echo "|---|---:|---:|---:|---|"
    for c in off healthy hanging down; do
        IFS='|' read -r rps p50 p99 errs <<<"$(summ "$c")"
        echo "| $c | $rps | $p50 | $p99 | $errs |"
    done
} >"$OUT.md"
cat "$OUT.md"
