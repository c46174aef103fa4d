#!/bin/sh
# Runs nginx in the foreground with conf/demo.conf on 127.0.0.1:5000.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$top/build/demo/logs" "$top/build/demo/tmp"

/usr/sbin/nginx -p "$top/" -c conf/demo.conf -e stderr -t -q

echo "demo: http://127.0.0.1:5000/ (Ctrl-C stops it)"
exec /usr/sbin/nginx -p "$top/" -c conf/demo.conf -e stderr -g 'daemon off;'
