#!/bin/sh
# The browser test (t/browser/*.test.js, node's test runner): Debian's
# headless chromium driven by playwright-core against a private copy of
# the demo on 127.0.0.1:5050 (BROWSER_TEST_PORT), with its own pid, logs
# and temporary files under build/browser-test/, stopped at the end even
# on failure; t/browser/targeting.conf adds an experiment with a coverage,
# a target, a layer and a schedule. Screenshots go to build/screenshots/.
#
#   util/browser-test.sh [t/browser/file.test.js ...]

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

port=${BROWSER_TEST_PORT:-5050}

util/install-deps.sh browser
util/node-deps.sh

[ -f build/ngx_http_abtest_module.so ] || util/build.sh

if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
    echo "browser-test.sh: something already listens on 127.0.0.1:$port;" \
         "set BROWSER_TEST_PORT" >&2
    exit 1
fi

mkdir -p build/screenshots

trap 'util/demo-instance.sh stop browser-test' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

util/demo-instance.sh start browser-test "$port" t/browser/targeting.conf

[ $# -gt 0 ] || set -- t/browser/*.test.js

start=$(date +%s)
ABTEST_BASE_URL="http://127.0.0.1:$port" \
    timeout -k 5 170 node --test --test-reporter=spec "$@"
echo "browser-test.sh: passed in $(($(date +%s) - start)) s;" \
     "screenshots in build/screenshots/"
