#!/bin/bash
# Demo runner (make demo builds first): starts a "legacy" and a "new" backend and
# Ficus in front of them with examples/demo.yaml, sends a trickle of traffic and
# shows the orders route migrating step by step. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
rm -f /tmp/ficus-demo.db /tmp/ficus-demo.db-wal /tmp/ficus-demo.db-shm
export FICUS_ADMIN_TOKEN=demo-token-0123456789abcdef
node examples/demo/backend.mjs legacy 3000 & pids+=($!)
node examples/demo/backend.mjs legacy 3001 & pids+=($!)
node examples/demo/backend.mjs orders 4000 & pids+=($!)
node examples/demo/backend.mjs catalog 4001 & pids+=($!)
sleep 0.5
FICUS_PROGRESS_MS=10000 build/ficus serve -c examples/demo.yaml >/tmp/ficus-demo-access.log \
    2> >(sed -u 's/^/ficus: /' >&2) & ficus_pid=$!
pids+=("$ficus_pid")
sleep 0.7
# A few example debt items, so the registry and the dashboard are populated.
debt() { build/ficus debt add -c examples/demo.yaml "$@" >/dev/null; }
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

cat <<'MSG'

Ficus is listening on http://127.0.0.1:8080 (admin on http://127.0.0.1:9901).
The "orders" route ramps from legacy to the new service: 5% -> 25% -> 50% -> 100%,
one step every 10 s while the guard sees no regression. Try, in another terminal:

  curl -s http://127.0.0.1:8080/                                  # -> legacy
  curl -s -H 'X-User-Id: alice' http://127.0.0.1:8080/api/orders/42   # sticky per user
  curl -s -H 'X-Ficus-Target: new' http://127.0.0.1:8080/api/orders/1 # tester pins a side
  export FICUS_ADMIN_TOKEN=demo-token-0123456789abcdef
  build/ficus ctl --admin 127.0.0.1:9901 routes
  build/ficus ctl --admin 127.0.0.1:9901 pause orders     # or resume, rollback, promote
  build/ficus ctl --admin 127.0.0.1:9901 events orders
  curl -s http://127.0.0.1:9901/metrics | grep ficus_migration
  build/ficus ctl --admin 127.0.0.1:9901 diffs catalog    # shadow: new catalog vs legacy
  build/ficus debt list -c examples/demo.yaml             # the technical debt registry
  build/ficus report -c examples/demo.yaml --format html -o /tmp/ficus-report.html
  Dashboard: http://127.0.0.1:9901/dashboard

Access log: /tmp/ficus-demo-access.log. Ctrl-C stops everything.

MSG
# A trickle of traffic from 200 users, and the route's state every 5 s.
(
    i=0
    while true; do
        curl -s -o /dev/null -H "X-User-Id: user-$((i % 200))" http://127.0.0.1:8080/api/orders/$i || true
        curl -s -o /dev/null -H "X-Api-Key: demo-secret" http://127.0.0.1:8080/api/catalog/$((i % 50)) || true
        i=$((i + 1))
        sleep 0.01
    done
) & pids+=($!)
while kill -0 "$ficus_pid" 2>/dev/null; do
    sleep 5
    echo "---- $(date +%T) ficus ctl routes"
    build/ficus ctl --admin 127.0.0.1:9901 routes || true
done
