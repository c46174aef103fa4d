#!/bin/sh
# The module built without libpq (ABTEST_WITHOUT_STORE=1, as on a machine
# without libpq-dev): abtest_store fails "nginx -t" saying how to get it,
# and the rest works as with it (t/000-sanity.t, t/006-api.t).
#
#   util/test-nostore.sh

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

build=$top/build/nostore
ABTEST_WITHOUT_STORE=1 BUILD_DIR=$build util/build.sh

if ! grep -q 'built without abtest_store' "$build/configure.log"; then
    echo "test-nostore: configure did not say it builds without the store" >&2
    exit 1
fi

if grep -q NGX_HTTP_ABTEST_STORE "$build/objs/ngx_auto_config.h"; then
    echo "test-nostore: the store was built in all the same" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/logs"

cat > "$work/nginx.conf" << END
load_module $build/ngx_http_abtest_module.so;
events { }
http {
    abtest_zone zone=abtest:1m;
    abtest_store "host=127.0.0.1 dbname=abtest";
}
END

if /usr/sbin/nginx -p "$work/" -c nginx.conf -e "$work/logs/error.log" -t \
       > "$work/out" 2>&1
then
    echo "test-nostore: nginx -t accepted abtest_store without libpq" >&2
    exit 1
fi

if ! grep -q '\[emerg\] "abtest_store" needs libpq, and this module was built without it: install libpq-dev (Debian) and build the module again in .*nginx.conf:5' "$work/out"
then
    echo "test-nostore: nginx -t did not say why:" >&2
    cat "$work/out" >&2
    exit 1
fi

echo "test-nostore: abtest_store without libpq fails nginx -t, as it should"

TEST_NGINX_LOAD_MODULES=$build/ngx_http_abtest_module.so \
    util/run-tests.sh t/000-sanity.t t/006-api.t
