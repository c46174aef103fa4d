#!/bin/sh
# The visit simulator (sim/simulate.js) against the demo on
# 127.0.0.1:5000: uses the running demo, or starts one for the run
# (build/sim/) and stops it after.
#
#   util/simulate.sh [-n 1000] [--http] [options]    (make simulate N=1000)
#   util/simulate.sh --help

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

util/install-deps.sh browser
util/node-deps.sh

for a in "$@"; do
    case $a in
    -h|--help) exec node sim/simulate.js --help ;;
    --base|--base=*) exec node sim/simulate.js "$@" ;;   # another server
    esac
done

[ -f build/ngx_http_abtest_module.so ] || util/build.sh

if curl -s -o /dev/null --max-time 5 http://127.0.0.1:5000/; then
    echo "simulate: using the demo running on 127.0.0.1:5000" >&2
else
    echo "simulate: nothing on 127.0.0.1:5000, starting the demo for this" \
         "run" >&2
    util/demo-instance.sh start sim 5000 >&2
    trap 'util/demo-instance.sh stop sim; echo "simulate: demo stopped" >&2' \
        EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
fi

node sim/simulate.js "$@"
