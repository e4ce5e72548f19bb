#!/usr/bin/env bash
# Ficus vs nginx vs HAProxy: throughput, latency and memory as a reverse proxy
# in front of the same nginx origin. See bench/README.md for the method.
#
# Environment:
#   BENCH_SECONDS      seconds per measured wrk run            (default 10; quick 3)
#   BENCH_ROUNDS       rounds per contestant and scenario      (default 3; quick 1)
#   BENCH_WARMUP       warm-up seconds per contestant/scenario (default 2; quick 1)
#   BENCH_QUICK=1      smoke test: 3 s, 1 round, only "small c50", 1000 idle conns
#   BENCH_CONTESTANTS  subset/order of "ficus nginx haproxy"
#   BENCH_SCENARIOS    e.g. "small:50 small:500 16k:50 16k:500" (body:connections)
#   BENCH_WRK_THREADS  wrk threads (default 1: wrk is pinned to one CPU)
#   BENCH_UPSTREAM_IDLE  idle origin connections kept by nginx/Ficus (default 1024; HAProxy keeps all)
#   BENCH_IDLE_CONNS   idle keep-alive connections for the memory test (default 10000)
#   BENCH_PROXY_CPU / BENCH_LOAD_CPU   CPU for the proxy / for wrk + origin (1 / 0)
#   BENCH_OUT          output basename (default bench/results/latest, quick: .../quick)
#   BENCH_KEEP_TMP=1   keep the temp dir (configs, logs, raw wrk output)
#   FICUS_BIN          Ficus binary (default build/ficus)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
FICUS_BIN=${FICUS_BIN:-$ROOT/build/ficus}

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
    SECS=${BENCH_SECONDS:-3}
    ROUNDS=${BENCH_ROUNDS:-1}
    WARMUP=${BENCH_WARMUP:-1}
    SCENARIOS=${BENCH_SCENARIOS:-"small:50"}
    IDLE_CONNS=${BENCH_IDLE_CONNS:-1000}
    OUT=${BENCH_OUT:-$BENCH/results/quick}
else
    SECS=${BENCH_SECONDS:-10}
    ROUNDS=${BENCH_ROUNDS:-3}
    WARMUP=${BENCH_WARMUP:-2}
    SCENARIOS=${BENCH_SCENARIOS:-"small:50 small:500 16k:50 16k:500"}
    IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
    OUT=${BENCH_OUT:-$BENCH/results/latest}
fi
CONTESTANTS=${BENCH_CONTESTANTS:-"ficus nginx haproxy"}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
# Idle origin connections each proxy may keep: nginx "keepalive N" and Ficus
# "max_idle" (default 64) get the same value; HAProxy keeps all of them.
UPSTREAM_IDLE=${BENCH_UPSTREAM_IDLE:-1024}
FICUS_MAX_IDLE=$UPSTREAM_IDLE
PROXY_CPU=${BENCH_PROXY_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- processes
PIDS=()  # every background process this script started and has not reaped
T=""

forget_pid() {
    local p=$1 i
    for i in "${!PIDS[@]}"; do [[ ${PIDS[$i]} == "$p" ]] && unset 'PIDS[i]'; done
    return 0
}

# The pid and all its descendants (nginx master -> worker, Ficus master -> workers).
tree_pids() {
    local p=$1 c
    [[ -d /proc/$p ]] || return 0
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null || true); do tree_pids "$c"; done
}

# Stop one process we started, and its descendants: TERM, then KILL after 3 s.
stop_pid() {
    local p=$1 all i
    all=$(tree_pids "$p" | tr '\n' ' ')
    if [[ -n $all ]]; then
        # shellcheck disable=SC2086
        kill -TERM $all 2>/dev/null || true
        for ((i = 0; i < 30; i++)); do
            local alive=0 q
            for q in $all; do [[ -d /proc/$q ]] && ! grep -q '^State:.*Z' "/proc/$q/status" 2>/dev/null && alive=1; done
            [[ $alive == 0 ]] && break
            sleep 0.1
        done
        # shellcheck disable=SC2086
        kill -KILL $all 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
    forget_pid "$p"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    if [[ -n $T && -d $T ]]; then
        if [[ ${BENCH_KEEP_TMP:-0} == 1 || ($rc != 0 && $rc != 130 && $rc != 143) ]]; then
            log "temp dir kept: $T"
        else
            rm -rf "$T"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# launch LOGFILE CMD...: start CMD in the background; sets LAST_PID.
launch() {
    local logf=$1
    shift
    "$@" >"$logf" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# ---------------------------------------------------------------- helpers
# N distinct free TCP ports on 127.0.0.1 (bound to port 0 together, then released).
free_ports() {
    node -e '
const net = require("net"); const n = +process.argv[1]; const ss = [];
for (let i = 0; i < n; i++) {
  const s = net.createServer();
  s.listen(0, "127.0.0.1", () => {
    ss.push(s);
    if (ss.length === n) { console.log(ss.map((x) => x.address().port).join(" ")); ss.forEach((x) => x.close()); }
  });
}' "$1"
}

# Sum of a /proc/PID/status field (KiB) over a process tree.
tree_status_kib() {
    local field=$1 p total=0 v
    for p in $(tree_pids "$2"); do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# utime+stime clock ticks summed over a process tree (all threads included).
tree_cpu_ticks() {
    local p total=0 v
    for p in $(tree_pids "$1"); do
        v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

now() { date +%s.%N; }

# "busy total" jiffies of one CPU from /proc/stat.
core_jiffies() {
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}
# busy % of a CPU between two core_jiffies samples ("n/a" without pinning).
core_busy_pct() {
    [[ -n $1 && -n $2 ]] || { echo -1; return 0; }
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); t = y[2] - x[2];
        printf "%.1f", (t > 0 ? 100 * (y[1] - x[1]) / t : -1) }'
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2" || true; }

# wait_http NAME PID PORT [LOG]: until GET /small answers 200 (10 s max).
wait_http() {
    local name=$1 pid=$2 port=$3 logf=${4:-} i
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            [[ -n $logf ]] && tail -n 20 "$logf" >&2
            die "$name exited during startup"
        fi
        [[ $(http_code "$port" /small) == 200 ]] && return 0
        sleep 0.1
    done
    [[ -n $logf ]] && tail -n 20 "$logf" >&2
    die "$name did not answer on 127.0.0.1:$port within 10 s"
}

# Check that the proxy passes both bodies through unchanged.
verify_bodies() {
    local name=$1 port=$2 small size
    small=$(curl -s --max-time 5 "http://127.0.0.1:$port/small" | od -An -c | tr -s ' ')
    [[ $small == " H e l l o , w o r l d \n" ]] || die "$name: /small body mismatch:$small"
    size=$(curl -s -o /dev/null --max-time 5 -w '%{size_download}' "http://127.0.0.1:$port/16k")
    [[ $size == 16384 ]] || die "$name: /16k returned $size bytes, expected 16384"
}

# CPU pinning prefixes (set up below). taskset execs its command, so $! is the
# server itself, never a wrapper shell.
PIN_PROXY=()
PIN_LOAD=()

# ---------------------------------------------------------------- servers
NGINX_USER=""
[[ $(id -u) == 0 ]] && NGINX_USER="user root;"

nginx_temp_paths() {
    local d=$1
    mkdir -p "$d/tmp"
    cat <<EOF
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
EOF
}

start_origin() {
    local d=$T/origin
    mkdir -p "$d/www"
    printf 'Hello, world\n' >"$d/www/small"
    awk 'BEGIN { for (i = 0; i < 16384; i++) printf "%c", (i % 64 == 63) ? 10 : 97 + i % 26 }' >"$d/www/16k"
    cat >"$d/nginx.conf" <<EOF
$NGINX_USER
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $WORKER_CONNS; }
http {
$(nginx_temp_paths "$d")
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    server {
        listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
        root $d/www;
        location = /small { }
        location = /16k { }
    }
}
EOF
    launch "$d/stdout.log" "${PIN_LOAD[@]}" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
    ORIGIN_PID=$LAST_PID
    wait_http origin "$ORIGIN_PID" "$ORIGIN_PORT" "$d/error.log"
}

# start_<contestant> DIR PORT: sets LAST_PID (the process to measure, with children).
start_nginx() {
    local d=$1 port=$2
    cat >"$d/nginx.conf" <<EOF
$NGINX_USER
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $WORKER_CONNS; }
http {
$(nginx_temp_paths "$d")
    access_log off;
    server_tokens off;
    keepalive_requests 100000;
    keepalive_timeout 120s;
    upstream o {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive $UPSTREAM_IDLE;
        keepalive_requests 100000;
        keepalive_timeout 120s;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://o;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    launch "$d/stdout.log" "${PIN_PROXY[@]}" nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf"
    wait_http nginx "$LAST_PID" "$port" "$d/error.log"
}

start_haproxy() {
    local d=$1 port=$2
    cat >"$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn $HAPROXY_MAXCONN
    # maxconn counts client connections; HAProxy sizes its fd limit as if each
    # also had a server connection. Idle keep-alive clients have none, so run
    # with the fd limit we have instead of refusing to start.
    no strict-limits

defaults
    mode http
    option http-keep-alive
    http-reuse always
    maxconn $HAPROXY_MAXCONN
    timeout connect 5s
    timeout client 120s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 120s

frontend fe
    bind 127.0.0.1:$port
    default_backend be

backend be
    server origin 127.0.0.1:$ORIGIN_PORT
EOF
    haproxy -c -q -f "$d/haproxy.cfg" || die "haproxy config check failed"
    launch "$d/haproxy.log" "${PIN_PROXY[@]}" haproxy -db -f "$d/haproxy.cfg"
    wait_http haproxy "$LAST_PID" "$port" "$d/haproxy.log"
}

start_ficus() {
    local d=$1 port=$2 i
    cat >"$d/ficus.yaml" <<EOF
listen: ["127.0.0.1:$port"]
workers: 1
log: {access: off}
limits: {max_connections: 20000, idle_timeout: 120s}
upstreams:
  origin:
    servers: ["127.0.0.1:$ORIGIN_PORT"]
    max_idle: $FICUS_MAX_IDLE
routes:
  - name: all
    match: {path_prefix: /}
    to: origin
EOF
    "$FICUS_BIN" check -c "$d/ficus.yaml" >"$d/check.log" 2>&1 || { cat "$d/check.log" >&2; die "ficus check rejected the generated config"; }
    launch "$d/ficus.log" "${PIN_PROXY[@]}" "$FICUS_BIN" serve -c "$d/ficus.yaml"
    for ((i = 0; i < 100; i++)); do
        grep -qs 'event=ready' "$d/ficus.log" && break
        if ! kill -0 "$LAST_PID" 2>/dev/null; then
            tail -n 20 "$d/ficus.log" >&2
            die "ficus exited during startup"
        fi
        sleep 0.1
    done
    grep -qs 'event=ready' "$d/ficus.log" || { tail -n 20 "$d/ficus.log" >&2; die "ficus printed no event=ready within 10 s"; }
    wait_http ficus "$LAST_PID" "$port" "$d/ficus.log"
}

# start_contestant NAME TAG: fresh instance in $T/NAME-TAG on a new port.
# Sets PID[NAME], PORT[NAME], DIR[NAME].
declare -A PID PORT DIR
start_contestant() {
    local c=$1 tag=$2 d port
    d=$T/$c-$tag
    mkdir -p "$d"
    port=$(free_ports 1)
    "start_$c" "$d" "$port"
    PID[$c]=$LAST_PID
    PORT[$c]=$port
    DIR[$c]=$d
    verify_bodies "$c" "$port"
}

check_alive() {
    local c=$1
    if ! kill -0 "${PID[$c]}" 2>/dev/null; then
        tail -n 30 "${DIR[$c]}"/*.log >&2 || true
        die "$c (pid ${PID[$c]}) died during the benchmark"
    fi
}

# run_wrk PORT PATH CONNS SECONDS OUTFILE
run_wrk() {
    local port=$1 path=$2 conns=$3 secs=$4 out=$5 wp
    "${PIN_LOAD[@]}" wrk -t"$WRK_THREADS" -c"$conns" -d"${secs}s" --timeout 5s --latency \
        "http://127.0.0.1:$port$path" >"$out" 2>&1 &
    wp=$!
    PIDS+=("$wp")
    wait "$wp" || { cat "$out" >&2; die "wrk failed (see above)"; }
    forget_pid "$wp"
}

# ---------------------------------------------------------------- setup
for tool in nginx haproxy wrk node curl taskset; do
    command -v "$tool" >/dev/null 2>&1 || { "$ROOT/scripts/deps.sh" bench; break; }
done
for tool in nginx haproxy wrk node curl taskset; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/deps.sh bench installs it)"
done

# Open files: raise the soft limit as far as allowed (a container may cap the hard
# limit and deny raising it even to root). Each proxy needs one fd per idle
# client connection plus a few; the servers' own limits are derived from NOFILE.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
[[ $NOFILE -ge $((IDLE_CONNS + 500)) ]] ||
    die "open-file limit $NOFILE is too low for $IDLE_CONNS idle connections (set BENCH_IDLE_CONNS lower)"
WORKER_CONNS=$((NOFILE - 100 < 30000 ? NOFILE - 100 : 30000))
HAPROXY_MAXCONN=$((NOFILE - 200 < 40000 ? NOFILE - 200 : 40000))

NPROC=$(nproc)
PIN=1
if [[ $NPROC -lt 2 ]]; then
    PIN=0
    log "warning: only $NPROC CPU: running without CPU pinning"
else
    PIN_PROXY=(taskset -c "$PROXY_CPU")
    PIN_LOAD=(taskset -c "$LOAD_CPU")
fi

if pgrep -x wrk >/dev/null 2>&1; then
    log "warning: another wrk is running (pid $(pgrep -x wrk | tr '\n' ' ')); results will be disturbed"
fi
# How busy the machine is before we start (other test suites skew the numbers).
cpu_busy_pct() {
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; printf "%.0f", (t > 0 ? 100 * (y[1] - x[1]) / t : 0) }'
}
BG_BUSY=$(cpu_busy_pct)
[[ $BG_BUSY -lt 10 ]] || log "warning: the machine is already ${BG_BUSY}% busy before the benchmark; results will be noisy"

SKIPPED=""
LIST=()
for c in $CONTESTANTS; do
    case $c in
    ficus)
        if [[ ! -x $FICUS_BIN ]]; then
            log "skipping Ficus: $FICUS_BIN does not exist (build it with make)"
            SKIPPED="ficus (binary missing)"
            continue
        fi
        ;;
    nginx | haproxy) ;;
    *) die "unknown contestant '$c' (use ficus, nginx, haproxy)" ;;
    esac
    LIST+=("$c")
done
[[ ${#LIST[@]} -gt 0 ]] || die "no contestants to run"
for sc in $SCENARIOS; do
    [[ $sc =~ ^(small|16k):[0-9]+$ ]] || die "bad scenario '$sc' (want small:N or 16k:N)"
done

T=$(mktemp -d /tmp/ficus-bench.XXXXXX)
mkdir -p "$T/wrk" "$(dirname "$OUT")"

# Metadata.
FICUS_COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- src Makefile 2>/dev/null) ]]; then
    FICUS_COMMIT="$FICUS_COMMIT-dirty"
fi
FICUS_VERSION=""
if [[ " ${LIST[*]} " == *" ficus "* ]]; then
    FICUS_VERSION=$(timeout 3 "$FICUS_BIN" --version 2>&1 | head -n 1 || true)
fi
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[[ -n $CPU_MODEL ]] || CPU_MODEL=$(lscpu 2>/dev/null | awk -F': +' '/Model name/ { print $2; exit }')
{
    printf 'date\t%s\n' "$(date -u)"
    printf 'nproc\t%s\n' "$NPROC"
    printf 'cpu_model\t%s\n' "${CPU_MODEL:-unknown}"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'nginx_version\t%s\n' "$(nginx -v 2>&1 | head -n 1)"
    printf 'haproxy_version\t%s\n' "$(haproxy -v 2>&1 | head -n 1)"
    printf 'wrk_version\t%s\n' "$(wrk -v 2>&1 | head -n 1 || true)"
    printf 'node_version\t%s\n' "$(node --version)"
    printf 'ficus_commit\t%s\n' "$FICUS_COMMIT"
    printf 'ficus_version\t%s\n' "$FICUS_VERSION"
    printf 'ficus_binary\t%s\n' "$([[ -x $FICUS_BIN ]] && echo "$FICUS_BIN" || echo "")"
    printf 'ficus_built\t%s\n' "$([[ -x $FICUS_BIN ]] && date -u -r "$FICUS_BIN" '+%Y-%m-%dT%H:%M:%SZ' || echo "")"
    printf 'quick\t%s\n' "$QUICK"
    printf 'seconds\t%s\n' "$SECS"
    printf 'rounds\t%s\n' "$ROUNDS"
    printf 'warmup_seconds\t%s\n' "$WARMUP"
    printf 'proxy_cpu\t%s\n' "$([[ $PIN == 1 ]] && echo "$PROXY_CPU" || echo any)"
    printf 'load_cpu\t%s\n' "$([[ $PIN == 1 ]] && echo "$LOAD_CPU" || echo any)"
    printf 'idle_conns\t%s\n' "$IDLE_CONNS"
    printf 'upstream_idle\t%s\n' "$UPSTREAM_IDLE"
    printf 'contestants\t%s\n' "${LIST[*]}"
    printf 'skipped\t%s\n' "$SKIPPED"
    printf 'clk_tck\t%s\n' "$(getconf CLK_TCK)"
    printf 'background_cpu_pct\t%s\n' "$BG_BUSY"
} >"$T/meta.tsv"
: >"$T/rounds.tsv"
: >"$T/mem.tsv"

nsc=$(wc -w <<<"$SCENARIOS")
est=$(((nsc * ${#LIST[@]} * (ROUNDS * (SECS + 1) + WARMUP + 1)) + ${#LIST[@]} * 15))
log "contestants: ${LIST[*]}; scenarios: $SCENARIOS; ${SECS}s x $ROUNDS rounds; about $((est / 60 + 1)) min"

ORIGIN_PORT=$(free_ports 1)
start_origin
log "origin nginx on 127.0.0.1:$ORIGIN_PORT (CPU $LOAD_CPU)"

for c in "${LIST[@]}"; do
    start_contestant "$c" load
    log "$c on 127.0.0.1:${PORT[$c]} (pid ${PID[$c]}, CPU $PROXY_CPU)"
done

# ---------------------------------------------------------------- load
for sc in $SCENARIOS; do
    body=${sc%%:*}
    conns=${sc##*:}
    name="$body c$conns"
    path=/$body
    for c in "${LIST[@]}"; do
        log "$name: warm-up $c (${WARMUP}s)"
        run_wrk "${PORT[$c]}" "$path" "$conns" "$WARMUP" "$T/wrk/warmup-$body-$conns-$c.txt"
        check_alive "$c"
    done
    for ((r = 1; r <= ROUNDS; r++)); do
        for c in "${LIST[@]}"; do
            sleep 0.5
            out=$T/wrk/$body-$conns-$c-$r.txt
            t0=$(now)
            ticks0=$(tree_cpu_ticks "${PID[$c]}")
            pj0="" lj0="" pj1="" lj1=""
            if [[ $PIN == 1 ]]; then pj0=$(core_jiffies "$PROXY_CPU"); lj0=$(core_jiffies "$LOAD_CPU"); fi
            run_wrk "${PORT[$c]}" "$path" "$conns" "$SECS" "$out"
            if [[ $PIN == 1 ]]; then pj1=$(core_jiffies "$PROXY_CPU"); lj1=$(core_jiffies "$LOAD_CPU"); fi
            ticks1=$(tree_cpu_ticks "${PID[$c]}")
            t1=$(now)
            pbusy=$(core_busy_pct "$pj0" "$pj1")
            lbusy=$(core_busy_pct "$lj0" "$lj1")
            check_alive "$c"
            wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$path" "$conns" "$WRK_THREADS" \
                "$r" "$c" "$out" "$((ticks1 - ticks0))" "$wall" "$pbusy" "$lbusy" >>"$T/rounds.tsv"
            if read -r rps p50 p99 _ errs < <(node "$BENCH/report.mjs" parse "$out"); then
                cpu=$(awk -v t=$((ticks1 - ticks0)) -v w="$wall" -v h="$(getconf CLK_TCK)" \
                    'BEGIN { printf "%.0f", 100 * t / h / w }')
                printf '[bench] %-11s round %d/%d %-8s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %3s%%  cores %s/%s%%  errors %s\n' \
                    "$name" "$r" "$ROUNDS" "$c" "$rps" "$p50" "$p99" "$cpu" "$pbusy" "$lbusy" "$errs" >&2
                [[ $errs == 0 ]] || log "WARNING: $c $name round $r: $(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | tr '\n' ';')"
            else
                log "WARNING: could not parse wrk output for $c $name round $r:"
                cat "$out" >&2
            fi
        done
    done
done

# Peak RSS after all load, then retire the load instances.
for c in "${LIST[@]}"; do
    printf '%s\tpeak_rss_kib\t%s\n' "$c" "$(tree_status_kib VmHWM "${PID[$c]}")" >>"$T/mem.tsv"
    printf '%s\trss_after_load_kib\t%s\n' "$c" "$(tree_status_kib VmRSS "${PID[$c]}")" >>"$T/mem.tsv"
    stop_pid "${PID[$c]}"
done

# ---------------------------------------------------------------- idle connections
# A fresh instance per proxy: warm up briefly, VmRSS, open IDLE_CONNS keep-alive
# connections (one request each), VmRSS again.
for c in "${LIST[@]}"; do
    start_contestant "$c" idle
    run_wrk "${PORT[$c]}" /small 10 1 "$T/wrk/idle-warmup-$c.txt"
    sleep 0.5
    before=$(tree_status_kib VmRSS "${PID[$c]}")
    hout=$T/idle-$c.out
    launch "$hout" "${PIN_LOAD[@]}" node "$BENCH/idle_conns.mjs" --port "${PORT[$c]}" \
        --conns "$IDLE_CONNS" --hold 300 --setup-timeout 120
    hpid=$LAST_PID
    for ((i = 0; i < 1300; i++)); do
        grep -q '"ready"' "$hout" 2>/dev/null && break
        kill -0 "$hpid" 2>/dev/null || { cat "$hout" >&2; die "idle_conns.mjs failed against $c"; }
        sleep 0.1
    done
    grep -q '"ready"' "$hout" || die "idle_conns.mjs did not get ready against $c"
    sleep 1
    check_alive "$c"
    after=$(tree_status_kib VmRSS "${PID[$c]}")
    ready=$(grep '"ready"' "$hout")
    open=$(sed -E 's/.*"open":([0-9]+).*/\1/' <<<"$ready")
    failed=$(sed -E 's/.*"failed":([0-9]+).*/\1/' <<<"$ready")
    stop_pid "$hpid"
    closed=$(grep '"done"' "$hout" | sed -E 's/.*"closed_by_peer":([0-9]+).*/\1/' || true)
    {
        printf '%s\tidle_rss_before_kib\t%s\n' "$c" "$before"
        printf '%s\tidle_rss_after_kib\t%s\n' "$c" "$after"
        printf '%s\tidle_open\t%s\n' "$c" "$open"
        printf '%s\tidle_failed\t%s\n' "$c" "$failed"
        printf '%s\tidle_closed_by_peer\t%s\n' "$c" "${closed:-0}"
    } >>"$T/mem.tsv"
    log "$c idle: $open open ($failed failed), VmRSS $before -> $after KiB," \
        "$(awk -v a="$before" -v b="$after" -v n="$open" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "n/a" }') KiB/conn"
    stop_pid "${PID[$c]}"
done

stop_pid "$ORIGIN_PID"

# ---------------------------------------------------------------- report
echo
node "$BENCH/report.mjs" report "$T" "$OUT"
log "wrote $OUT.md and $OUT.json"
