#!/bin/bash
# Demo runner (make demo builds first): starts a "legacy" and a "new" backend and
# Ficus in front of them with examples/demo.yaml, sends a trickle of traffic and
# shows the orders route migrating step by step. Ctrl-C stops everything.
#
# Ports (make demo PORT=... ADMIN_PORT=... LEGACY_PORT=... NEW_PORT=...):
#   --port N         the proxy (default 8080)
#   --admin-port N   the admin API and dashboard (default 9901)
#   --legacy-port N  the legacy backend, N+1 its second instance (default 3000)
#   --new-port N     the new orders service, N+1 the new catalog (default 4000)
#   --print-config   print the configuration the demo would use, and exit
# Every port is checked free before anything starts. With the default ports the
# demo runs examples/demo.yaml itself; otherwise a copy with the ports changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=8080 ADMIN_PORT=9901 LEGACY_PORT=3000 NEW_PORT=4000 print_config=0
usage() {
    echo "demo: $1" >&2
    echo "usage: scripts/demo.sh [--port N] [--admin-port N] [--legacy-port N] [--new-port N] [--print-config]" >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
    --port) PORT=${2-}; shift ;;
    --admin-port) ADMIN_PORT=${2-}; shift ;;
    --legacy-port) LEGACY_PORT=${2-}; shift ;;
    --new-port) NEW_PORT=${2-}; shift ;;
    --print-config) print_config=1 ;;
    *) usage "unknown argument '$1'" ;;
    esac
    shift
done
# Each port must be a number; LEGACY_PORT and NEW_PORT take the next one too.
for v in PORT ADMIN_PORT LEGACY_PORT NEW_PORT; do
    n=${!v}
    case $v in
    LEGACY_PORT | NEW_PORT) max=65534 ;; # N+1 is used too
    *) max=65535 ;;
    esac
    if ! [[ "$n" =~ ^[0-9]{1,5}$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt "$max" ]; then
        usage "$v=$n: expected a port number from 1 to $max"
    fi
done
LEGACY2_PORT=$((LEGACY_PORT + 1)) CATALOG_PORT=$((NEW_PORT + 1))
# Pairs: a port, and the make variable that sets it (for the messages).
ports=("$PORT" PORT "$ADMIN_PORT" ADMIN_PORT "$LEGACY_PORT" LEGACY_PORT "$LEGACY2_PORT" LEGACY_PORT
    "$NEW_PORT" NEW_PORT "$CATALOG_PORT" NEW_PORT)
declare -A owner=()
for ((i = 0; i < ${#ports[@]}; i += 2)); do
    p=${ports[i]} v=${ports[i + 1]}
    if [ -n "${owner[$p]-}" ]; then
        usage "port $p is used twice ($v and ${owner[$p]}; LEGACY_PORT and NEW_PORT also take the next port)"
    fi
    owner[$p]=$v
done

# The demo configuration for these ports: examples/demo.yaml itself, or a copy
# with each address changed on its own line (the token file made absolute).
config=examples/demo.yaml
default_ports() {
    [ "$PORT:$ADMIN_PORT:$LEGACY_PORT:$NEW_PORT" = "8080:9901:3000:4000" ]
}
demo_config() {
    sed -e "/^listen:/s/127\.0\.0\.1:8080/127.0.0.1:$PORT/" \
        -e "/^admin:/s/127\.0\.0\.1:9901/127.0.0.1:$ADMIN_PORT/" \
        -e "/^admin:/s|token_file: demo-admin.token|token_file: \"$PWD/examples/demo-admin.token\"|" \
        -e "/^  legacy:/s/127\.0\.0\.1:3000/127.0.0.1:$LEGACY_PORT/" \
        -e "/^  legacy-2:/s/127\.0\.0\.1:3001/127.0.0.1:$LEGACY2_PORT/" \
        -e "/^  orders:/s/127\.0\.0\.1:4000/127.0.0.1:$NEW_PORT/" \
        -e "/^  catalog:/s/127\.0\.0\.1:4001/127.0.0.1:$CATALOG_PORT/" \
        examples/demo.yaml
}
if [ "$print_config" = 1 ]; then
    if default_ports; then cat examples/demo.yaml; else demo_config; fi
    exit 0
fi

# A port is taken when something accepts a connection on it.
in_use() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}
for ((i = 0; i < ${#ports[@]}; i += 2)); do
    p=${ports[i]} v=${ports[i + 1]}
    if in_use "$p"; then
        echo "demo: port $p is in use (another process listens there); run make demo $v=..." >&2
        exit 1
    fi
done

if ! default_ports; then
    tmpdir=$(mktemp -d /tmp/ficus-demo.XXXXXX)
    config=$tmpdir/demo.yaml
    demo_config >"$config"
fi
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${tmpdir-}" ]; then rm -rf "$tmpdir"; fi
}
trap cleanup EXIT INT TERM
rm -f /tmp/ficus-demo.db /tmp/ficus-demo.db-wal /tmp/ficus-demo.db-shm
export FICUS_ADMIN_TOKEN=demo-token-0123456789abcdef
node examples/demo/backend.mjs legacy "$LEGACY_PORT" & pids+=($!)
node examples/demo/backend.mjs legacy "$LEGACY2_PORT" & pids+=($!)
node examples/demo/backend.mjs orders "$NEW_PORT" & pids+=($!)
node examples/demo/backend.mjs catalog "$CATALOG_PORT" & pids+=($!)
sleep 0.5
FICUS_PROGRESS_MS=10000 build/ficus serve -c "$config" >/tmp/ficus-demo-access.log \
    2> >(sed -u 's/^/ficus: /' >&2) & ficus_pid=$!
pids+=("$ficus_pid")
sleep 0.7
# A few example debt items, so the registry and the dashboard are populated.
debt() { build/ficus debt add -c "$config" "$@" >/dev/null; }
debt --title "Orders read the legacy database directly" --route orders --kind data \
    --stability 4 --velocity 4 --effort 8 --owner team-orders \
    --description "The new orders service still joins legacy tables; blocks the final cut-over."
debt --title "Catalog prices computed twice (legacy ORM and new service)" --route catalog \
    --kind code --stability 3 --velocity 5 --effort 5 --owner team-catalog \
    --description "The shadow shows the new service dropping VAT on some items."
debt --title "Monolith session handling shared by every page" --route default \
    --kind architecture --stability 4 --velocity 3 --effort 20 --owner platform
debt --title "No contract tests between checkout and payments" --kind testing \
    --stability 3 --velocity 2 --effort 3 --component checkout
debt --title "OpenSSL 1.1 on the legacy hosts" --kind security \
    --stability 2 --velocity 1 --effort 2 --owner platform

cat <<MSG

Ficus is listening on http://127.0.0.1:$PORT (admin on http://127.0.0.1:$ADMIN_PORT).
The "orders" route ramps from legacy to the new service: 5% -> 25% -> 50% -> 100%,
one step every 10 s while the guard sees no regression. Try, in another terminal:

  curl -s http://127.0.0.1:$PORT/                                  # -> legacy
  curl -s -H 'X-User-Id: alice' http://127.0.0.1:$PORT/api/orders/42   # sticky per user
  curl -s -H 'X-Ficus-Target: new' http://127.0.0.1:$PORT/api/orders/1 # tester pins a side
  export FICUS_ADMIN_TOKEN=demo-token-0123456789abcdef
  build/ficus ctl --admin 127.0.0.1:$ADMIN_PORT routes
  build/ficus ctl --admin 127.0.0.1:$ADMIN_PORT pause orders     # or resume, rollback, promote
  build/ficus ctl --admin 127.0.0.1:$ADMIN_PORT events orders
  curl -s http://127.0.0.1:$ADMIN_PORT/metrics | grep ficus_migration
  build/ficus ctl --admin 127.0.0.1:$ADMIN_PORT diffs catalog    # shadow: new catalog vs legacy
  build/ficus debt list -c examples/demo.yaml             # the technical debt registry
  build/ficus report -c examples/demo.yaml --format html -o /tmp/ficus-report.html
  Dashboard: http://127.0.0.1:$ADMIN_PORT/dashboard

Access log: /tmp/ficus-demo-access.log. Ctrl-C stops everything.

MSG
# A trickle of traffic from 200 users, and the route's state every 5 s.
(
    i=0
    while true; do
        curl -s -o /dev/null -H "X-User-Id: user-$((i % 200))" "http://127.0.0.1:$PORT/api/orders/$i" || true
        curl -s -o /dev/null -H "X-Api-Key: demo-secret" "http://127.0.0.1:$PORT/api/catalog/$((i % 50))" || true
        i=$((i + 1))
        sleep 0.01
    done
) & pids+=($!)
while kill -0 "$ficus_pid" 2>/dev/null; do
    sleep 5
    echo "---- $(date +%T) ficus ctl routes"
    build/ficus ctl --admin "127.0.0.1:$ADMIN_PORT" routes || true
done
