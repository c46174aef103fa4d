#!/bin/sh
# Runs the Test::Nginx suite against Debian's nginx and the built module.
#
#   util/run-tests.sh [t/NNN-file.t ...]
#
# TEST_NGINX_LIB=/path/to/test-nginx/lib runs the same files with the real
# Test::Nginx instead of the bundled runner.  TEST_NGINX_REAL_BINARY is the
# nginx the wrapper runs (bin/nginx); with ABTEST_STATIC=1 it has the module
# built in and none is loaded.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

lib=${TEST_NGINX_LIB:-$top/util/test-nginx/lib}

# Debian's nginx with -e logs/error.log: start-up errors in t/servroot, where
# Test::Nginx looks for them (util/test-nginx/bin/nginx)
export TEST_NGINX_BINARY="${TEST_NGINX_BINARY:-$top/util/test-nginx/bin/nginx}"

# ABTEST_STATIC=1: the module is linked into the nginx (make test-sanitize),
# so no load_module line at all
if [ "${ABTEST_STATIC:-}" = 1 ]; then
    unset TEST_NGINX_LOAD_MODULES
else
    export TEST_NGINX_LOAD_MODULES="${TEST_NGINX_LOAD_MODULES:-$top/build/ngx_http_abtest_module.so}"
fi

[ $# -gt 0 ] || set -- t/

# tini reaps the stopped nginx at once (this machine's init is slow at it)
exec tini -s -- prove -I "$lib" -r "$@"
