#!/bin/sh
# Install the Debian packages one Ficus task needs (idempotent).
#
#   scripts/deps.sh [--check] [build|demo|test|bench|all]
#
#   build  compiler and the libraries `make` links (the default)
#   demo   build + Node.js and curl (the demo backends and traffic)
#   test   build + cmocka, clang and its libFuzzer runtime, lint tools, Node.js,
#          Chromium and playwright-core (tests/browser/) for `make check`
#   bench  build + nginx, HAProxy, wrk, Node.js (`make bench`, `make soak`)
#   all    every one of the above
#
# --check only reports what is missing (exit 1) and installs nothing. A system
# service started by a package install (nginx) is left alone: the benchmarks run
# their own instances on ports of their own.
set -e
check=0
set_=""
for a in "$@"; do
    case "$a" in
    --check) check=1 ;;
    build | demo | test | bench | all) set_="$a" ;;
    -h | --help)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "deps: unknown argument '$a' (build|demo|test|bench|all, --check)" >&2
        exit 2
        ;;
    esac
done
[ -n "$set_" ] || set_=build

BUILD="build-essential libyaml-dev libjansson-dev libssl-dev libsqlite3-dev zlib1g-dev \
libsystemd-dev libpcre2-dev"
DEMO="nodejs curl procps"
TEST="clang clang-tidy clang-format cppcheck libclang-rt-14-dev libcmocka-dev nodejs \
procps curl chromium openssl"
BENCH="nginx-light haproxy wrk nodejs curl procps util-linux"
browser=0
case "$set_" in
build) PKGS="$BUILD" ;;
demo) PKGS="$BUILD $DEMO" ;;
test) PKGS="$BUILD $TEST" browser=1 ;;
bench) PKGS="$BUILD $BENCH" ;;
all) PKGS="$BUILD $DEMO $TEST $BENCH" browser=1 ;;
esac

missing=""
for p in $PKGS; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# The dashboard browser test drives Debian's chromium with playwright-core
# from npm (tests/browser/package-lock.json; no browser download).
BROWSER_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
browser_missing=""
if [ "$browser" = 1 ] && [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
    browser_missing=" npm:playwright-core"
fi
if [ -z "$missing$browser_missing" ]; then
    exit 0
fi
if [ "$check" = 1 ]; then
    echo "missing ($set_):$missing$browser_missing"
    exit 1
fi
if [ -n "$missing" ]; then
    echo "deps: installing for $set_:$missing"
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
    # Debian's nodejs has no npm; NodeSource's has it built in (and conflicts with it).
    if ! command -v npm >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
    fi
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$BROWSER_DIR" --no-audit --no-fund
fi
