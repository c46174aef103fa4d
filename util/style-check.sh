#!/bin/sh
# nginx code style basics on the C sources (the module's and the fuzzing
# harnesses'): 80 columns, no tabs, no trailing white space; and the
# generated admin page is up to date.

set -eu

cd "$(dirname "$0")/.."

status=0
files="ngx_http_abtest_module.c $(ls src/*.c src/*.h fuzz/*.c fuzz/*.h)"

# shellcheck disable=SC2086
if grep -n "$(printf '\t')" $files; then
    echo "style: tabs above" >&2; status=1
fi
# shellcheck disable=SC2086
if grep -n ' $' $files; then
    echo "style: trailing white space above" >&2; status=1
fi
# shellcheck disable=SC2086
if awk 'length($0) > 80 { print FILENAME ":" FNR ": " length($0) " columns"; bad = 1 }
        END { exit bad }' $files
then :; else
    echo "style: lines over 80 columns above" >&2; status=1
fi

# the admin page's header is generated: it must match admin/admin.html
if ! util/html2c.pl admin/admin.html | cmp -s - src/ngx_http_abtest_admin_page.h
then
    echo "style: src/ngx_http_abtest_admin_page.h is not admin/admin.html's:" \
         "make src/ngx_http_abtest_admin_page.h" >&2
    status=1
fi

# and the store's schema, sql/abtest.sql's
if ! util/sql2c.pl sql/abtest.sql | cmp -s - src/ngx_http_abtest_store_sql.h
then
    echo "style: src/ngx_http_abtest_store_sql.h is not sql/abtest.sql's:" \
         "make src/ngx_http_abtest_store_sql.h" >&2
    status=1
fi

# the Debian package's example is the README's Synopsis
if ! awk '/^Synopsis$/ {s=1} s && /^```nginx$/ {p=1; next} p && /^```$/ {exit} p' \
         README.md | cmp -s - conf/synopsis.conf
then
    echo "style: conf/synopsis.conf is not README.md's Synopsis" >&2
    status=1
fi

exit $status
