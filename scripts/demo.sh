#!/bin/bash
# Build-free demo runner (make demo builds first): starts a "legacy" and a "new"
# backend and Ficus in front of them with examples/demo.yaml. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
node examples/demo/backend.mjs legacy 3000 & pids+=($!)
node examples/demo/backend.mjs orders 4000 & pids+=($!)
sleep 0.5
build/ficus serve -c examples/demo.yaml 2> >(sed 's/^/ficus: /' >&2) & pids+=($!)
sleep 0.5
cat <<'MSG'

Ficus is listening on http://127.0.0.1:8080 (admin on http://127.0.0.1:9901). Try:

  curl -s http://127.0.0.1:8080/                      # -> legacy
  curl -s http://127.0.0.1:8080/api/orders/42         # -> orders (the new service)
  curl -s -X DELETE http://127.0.0.1:8080/api/orders/42   # method not routed -> legacy
  curl -s http://127.0.0.1:9901/metrics | grep ficus_requests_total
  curl -s http://127.0.0.1:9901/api/v1/config
  kill -HUP $(pgrep -f 'ficus serve')                 # reload examples/demo.yaml

Access log lines (JSON) appear below. Ctrl-C stops everything.

MSG
wait "${pids[2]}"
