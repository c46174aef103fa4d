#!/bin/sh
# Runs nginx in the foreground with conf/demo.conf on 127.0.0.1:5000.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$top/build/demo/logs" "$top/build/demo/tmp"

/usr/sbin/nginx -p "$top/" -c conf/demo.conf -e stderr -t -q

# started by root, the workers run as nobody, who may not reach the
# checkout (under /root, or a directory made by mktemp -d): then as root
global='daemon off;'
if [ "$(id -u)" = 0 ] \
   && ! runuser -u nobody -- test -r "$top/demo/index.html" 2>/dev/null
then
    echo "demo: user nobody cannot read $top/demo/, the workers run as root"
    global="$global user root;"
fi

echo "demo: http://127.0.0.1:5000/ (Ctrl-C stops it)"
exec /usr/sbin/nginx -p "$top/" -c conf/demo.conf -e stderr -g "$global"
