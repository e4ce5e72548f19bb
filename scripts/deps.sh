#!/bin/sh
# Install the Debian packages Ficus builds and tests with (idempotent).
# `scripts/deps.sh --check` only reports whether something is missing.
set -e
PKGS="build-essential clang clang-tidy clang-format cppcheck libclang-rt-14-dev \
libyaml-dev libjansson-dev libcmocka-dev libssl-dev libsqlite3-dev zlib1g-dev libpcre2-dev nodejs \
nginx-light haproxy wrk procps curl chromium"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# The dashboard browser test drives Debian's chromium with playwright-core
# from npm (tests/browser/package-lock.json; no browser download).
BROWSER_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
browser_missing=""
[ -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] || browser_missing=" npm:playwright-core"
if [ -z "$missing$browser_missing" ]; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "missing:$missing$browser_missing"
    exit 1
fi
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    if [ "$(id -u)" != 0 ]; then
        echo "deps: not root; install these packages:$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi
if [ -n "$browser_missing" ]; then
    echo "deps: installing tests/browser (npm ci)"
    if ! command -v npm >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
    fi
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$BROWSER_DIR" --no-audit --no-fund
fi
# The nginx package may start a system instance on port 80; benchmarks run their own.
if command -v service >/dev/null 2>&1; then service nginx stop >/dev/null 2>&1 || true; fi
