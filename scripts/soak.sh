#!/usr/bin/env bash
# Soak test: mixed load against Ficus in front of an nginx origin for
# SOAK_SECONDS, sampling Ficus's resident memory into a CSV. Fails (exit 1)
# when RSS grows by more than SOAK_MAX_GROWTH_PCT after the warm-up, when
# Ficus dies, or when requests fail.
#
# Load (wrk + Lua, one script cycling through 10 requests): GETs of a small
# and a 64 KiB file, POSTs with 1 KiB and 16 KiB Content-Length bodies, a
# chunked POST, and a GET with "Connection: close" so connections are also
# opened and closed all the time, not only kept alive.
#
# Environment:
#   FICUS_BIN            binary (default <repo>/build/ficus)
#   SOAK_SECONDS         load duration (default 600)
#   SOAK_WARMUP          seconds excluded from the growth check (default 60,
#                        at most half of SOAK_SECONDS)
#   SOAK_SAMPLE          seconds between RSS samples (default 10)
#   SOAK_MAX_GROWTH_PCT  allowed RSS growth after warm-up (default 5)
#   SOAK_MIN_GROWTH_KIB  growth (KiB) always tolerated, whatever the percentage
#                        (default 0: Ficus's RSS is a few MiB, so 5% is only
#                        ~200 KiB and one buffer-pool high-water step trips it)
#   SOAK_CONNECTIONS     wrk connections (default 32); SOAK_THREADS (default 1)
#   SOAK_WORKERS         Ficus workers (default 1)
#   SOAK_CSV             where to write the samples (default /tmp/ficus-soak-rss-PID.csv,
#                        kept and printed at the end)
#   SOAK_KEEP_TMP=1      keep the temp dir (configs, logs)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
FICUS_BIN=${FICUS_BIN:-$REPO/build/ficus}
SECONDS_TOTAL=${SOAK_SECONDS:-600}
SAMPLE=${SOAK_SAMPLE:-10}
MAX_GROWTH=${SOAK_MAX_GROWTH_PCT:-5}
MIN_GROWTH_KIB=${SOAK_MIN_GROWTH_KIB:-0}
CONNS=${SOAK_CONNECTIONS:-32}
THREADS=${SOAK_THREADS:-1}
WORKERS=${SOAK_WORKERS:-1}
WARMUP=${SOAK_WARMUP:-60}
if ((WARMUP > SECONDS_TOTAL / 2)); then WARMUP=$((SECONDS_TOTAL / 2)); fi

log() { printf 'soak: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

for tool in wrk nginx node curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run scripts/deps.sh bench)"
done
[[ -x $FICUS_BIN ]] || die "ficus binary not found at $FICUS_BIN (run make, or set FICUS_BIN)"
((SECONDS_TOTAL >= 30)) || die "SOAK_SECONDS must be at least 30"
if others=$(pgrep -a wrk); then
    log "warning: other wrk processes are running; numbers will be noisy:"
    printf '  %s\n' "$others" >&2
fi

T=$(mktemp -d /tmp/ficus-soak-XXXXXX)
CSV=${SOAK_CSV:-${TMPDIR:-/tmp}/ficus-soak-rss-$$.csv}
PIDS=()

# Stop the processes this script started (by pid), then tidy up.
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [[ ${SOAK_KEEP_TMP:-0} == 1 || $rc != 0 ]]; then
        log "temp dir kept: $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# RSS in KiB of a pid and all its descendants.
tree_rss() {
    local p=$1 c sum
    sum=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    for c in $(pgrep -P "$p" 2>/dev/null || true); do sum=$((sum + $(tree_rss "$c"))); done
    echo "${sum:-0}"
}

# ---------------------------------------------------------------- origin
O=$T/origin
mkdir -p "$O/www" "$O/tmp"
printf 'Hello, world\n' >"$O/www/small"
head -c 65536 /dev/zero | tr '\0' 'a' >"$O/www/64k"
ORIGIN_PORT=$(free_port)
NGINX_USER=""
[[ $(id -u) == 0 ]] && NGINX_USER="user root;"
cat >"$O/nginx.conf" <<EOF
$NGINX_USER
worker_processes 1;
daemon off;
pid $O/nginx.pid;
error_log $O/error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $O/tmp/body;
    proxy_temp_path $O/tmp/proxy;
    fastcgi_temp_path $O/tmp/fastcgi;
    uwsgi_temp_path $O/tmp/uwsgi;
    scgi_temp_path $O/tmp/scgi;
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_max_body_size 1m;
    client_body_buffer_size 64k;
    server {
        listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
        root $O/www;
        location = /small { }
        location = /64k { }
        location = /post { return 200 "posted\n"; }
    }
}
EOF
nginx -p "$O" -e "$O/error.log" -c "$O/nginx.conf" >"$O/stdout.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/small" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/small" || die "nginx origin did not start: $(cat "$O/error.log")"

# ---------------------------------------------------------------- ficus
F=$T/ficus
mkdir -p "$F"
cat >"$F/ficus.yaml" <<EOF
listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
workers: $WORKERS
log: {access: "off"}
limits: {header_bytes: 16384, client_header_timeout: 5s, idle_timeout: 60s, max_connections: 1000, drain_timeout: 5s}
upstreams:
  origin: {servers: ["127.0.0.1:$ORIGIN_PORT"], connect_timeout: 1s, read_timeout: 5s}
routes:
  - name: default
    match: {path_prefix: /}
    to: origin
EOF
"$FICUS_BIN" serve -c "$F/ficus.yaml" >"$F/stdout.log" 2>"$F/stderr.log" &
FICUS_PID=$!
PIDS+=("$FICUS_PID")
for ((i = 0; i < 100; i++)); do
    grep -q 'event=ready' "$F/stderr.log" 2>/dev/null && break
    kill -0 "$FICUS_PID" 2>/dev/null || die "ficus exited at start: $(cat "$F/stderr.log")"
    sleep 0.1
done
grep -q 'event=ready' "$F/stderr.log" || die "ficus not ready: $(cat "$F/stderr.log")"
PORT=$(sed -n 's/.*event=listening kind=proxy addr=[^ ]*:\([0-9]*\).*/\1/p' "$F/stderr.log" | head -n 1)
ADMIN=$(sed -n 's/.*event=listening kind=admin addr=[^ ]*:\([0-9]*\).*/\1/p' "$F/stderr.log" | head -n 1)
[[ -n $PORT ]] || die "no proxy port in ficus stderr: $(cat "$F/stderr.log")"
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/small" || die "ficus does not proxy /small"

# ---------------------------------------------------------------- load
cat >"$T/mix.lua" <<'EOF'
-- Ten requests in a fixed cycle; counts statuses other than 200.
local reqs = {}
local i = 0
local bad = 0

local function chunked(path, n)
    local piece = string.rep("c", 1000)
    local body = {}
    for _ = 1, n do body[#body + 1] = string.format("%x\r\n%s\r\n", #piece, piece) end
    return "POST " .. path .. " HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n" ..
        "Content-Type: application/octet-stream\r\n\r\n" .. table.concat(body) .. "0\r\n\r\n"
end

function init(args)
    local kb = string.rep("p", 1024)
    local k16 = string.rep("q", 16384)
    local get = wrk.format("GET", "/small")
    reqs = {
        get,
        wrk.format("GET", "/64k"),
        wrk.format("POST", "/post", { ["Content-Type"] = "text/plain" }, kb),
        get,
        chunked("/post", 8),
        wrk.format("GET", "/small", { ["Connection"] = "close" }),
        get,
        wrk.format("POST", "/post", { ["Content-Type"] = "application/octet-stream" }, k16),
        wrk.format("GET", "/small?q=" .. string.rep("z", 200), { ["X-Soak"] = string.rep("h", 500) }),
        get,
    }
end

function request()
    i = i % #reqs + 1
    return reqs[i]
end

function response(status, headers, body)
    if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
    io.write(string.format("soak_requests %d\nsoak_errors_connect %d\nsoak_errors_read %d\n" ..
        "soak_errors_write %d\nsoak_errors_status %d\nsoak_errors_timeout %d\n",
        summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
        summary.errors.status, summary.errors.timeout))
end
EOF

printf 'elapsed_s,rss_kib,fds,client_connections\n' >"$CSV"
sample() {
    local el=$1 rss fds cc
    rss=$(tree_rss "$FICUS_PID")
    fds=$(find "/proc/$FICUS_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    cc=$(curl -fsS "http://127.0.0.1:$ADMIN/metrics" 2>/dev/null | awk '$1 == "ficus_client_connections" {print $2}')
    printf '%s,%s,%s,%s\n' "$el" "$rss" "$fds" "${cc:-}" >>"$CSV"
}

log "ficus pid $FICUS_PID on :$PORT (origin nginx :$ORIGIN_PORT), ${SECONDS_TOTAL}s of load, warm-up ${WARMUP}s, sample every ${SAMPLE}s"
log "samples: $CSV"
wrk -t"$THREADS" -c"$CONNS" -d"${SECONDS_TOTAL}s" --timeout 5s -s "$T/mix.lua" \
    "http://127.0.0.1:$PORT" >"$T/wrk.txt" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
start=$(date +%s)
sample 0
next=$SAMPLE
while kill -0 "$WRK_PID" 2>/dev/null; do
    sleep 1
    el=$(($(date +%s) - start))
    kill -0 "$FICUS_PID" 2>/dev/null || die "ficus died after ${el}s: $(tail -n 20 "$F/stderr.log")"
    if ((el >= next)); then
        sample "$el"
        next=$((next + SAMPLE))
    fi
done
wait "$WRK_PID" || die "wrk failed: $(cat "$T/wrk.txt")"
el=$(($(date +%s) - start))
sample "$el"
kill -0 "$FICUS_PID" 2>/dev/null || die "ficus died at the end of the run"

# ---------------------------------------------------------------- verdict
after_ok=1
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/small" || after_ok=0
val() {
    local v
    v=$(awk -v k="$1" '$1 == k {print $2}' "$T/wrk.txt")
    echo "${v:-0}"
}
reqs=$(val soak_requests)
errs=$(($(val soak_errors_connect) + $(val soak_errors_read) + $(val soak_errors_write) + $(val soak_errors_timeout)))
bad_status=$(val soak_errors_status)
rps=$(awk '/^Requests\/sec:/ {printf "%d", $2}' "$T/wrk.txt")

# Baseline: the first sample at or after the warm-up; end: the last sample.
# Also the least-squares slope after the warm-up, in KiB per minute: a leak
# climbs steadily, a one-off allocation is a step.
read -r base_t base end_t end max slope < <(awk -F, -v w="$WARMUP" '
    NR > 1 {
        if ($1 >= w && base == "") { base = $2; bt = $1 }
        if ($1 >= w) {
            if ($2 > max) max = $2
            n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2
        }
        end = $2; et = $1
    }
    END {
        d = n * sxx - sx * sx
        slope = (d > 0) ? (n * sxy - sx * sy) / d * 60 : 0
        printf "%s %s %s %s %s %.1f\n", bt, base, et, end, max, slope
    }' "$CSV")
growth=$(awk -v b="$base" -v e="$end" 'BEGIN { printf "%.2f", (e - b) * 100 / b }')
grew_max=$(awk -v b="$base" -v m="$max" 'BEGIN { printf "%.2f", (m - b) * 100 / b }')

echo "soak summary"
echo "  duration        ${el}s (warm-up ${WARMUP}s), ${CONNS} connections"
echo "  requests        ${reqs} (${rps}/s), socket errors ${errs}, non-200 ${bad_status}"
echo "  ficus RSS       ${base} KiB at ${base_t}s -> ${end} KiB at ${end_t}s (growth ${growth}%, peak +${grew_max}%, trend ${slope} KiB/min)"
echo "  samples         $CSV"
fail=0
if awk -v g="$growth" -v m="$MAX_GROWTH" -v d="$((end - base))" -v f="$MIN_GROWTH_KIB" \
    'BEGIN { exit !(g > m && d > f) }'; then
    echo "  FAIL: RSS grew ${growth}% (+$((end - base)) KiB) after warm-up (limit ${MAX_GROWTH}%)"
    fail=1
fi
if ((bad_status > 0 || errs > 0)); then
    echo "  FAIL: ${bad_status} non-200 responses and ${errs} socket errors"
    fail=1
fi
if ((after_ok == 0)); then
    echo "  FAIL: ficus does not answer after the run"
    fail=1
fi
((fail == 0)) && echo "  PASS"
exit "$fail"
