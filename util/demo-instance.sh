#!/bin/sh
# Starts or stops a private copy of the demo site (conf/demo.conf) on
# another port, with its own pid, logs and temporary files, so that it
# never meets a running `make demo` (5000) or the test suite (1984).
#
#   util/demo-instance.sh start NAME PORT [CONF]
#                                           serves on 127.0.0.1:PORT, files
#                                           under build/NAME/; CONF: more
#                                           of the http block, included
#                                           before the server
#   util/demo-instance.sh stop NAME         stops it (QUIT, then KILL)

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

usage() {
    echo "usage: $0 start NAME PORT | stop NAME" >&2
    exit 2
}

[ $# -ge 2 ] || usage
what=$1
name=$2

case $name in
''|*[!A-Za-z0-9_-]*) echo "demo-instance.sh: bad name \"$name\"" >&2; exit 2 ;;
esac

dir=build/$name

case $what in
start)
    [ $# -eq 3 ] || [ $# -eq 4 ] || usage
    port=$3
    extra=
    if [ $# -eq 4 ]; then
        [ -f "$4" ] || { echo "demo-instance.sh: no file \"$4\"" >&2; exit 2; }
        extra=$(cd "$(dirname "$4")" && pwd)/$(basename "$4")
    fi

    case $port in
    ''|*[!0-9]*) echo "demo-instance.sh: bad port \"$port\"" >&2; exit 2 ;;
    esac

    if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null
    then
        "$0" stop "$name"
    fi

    rm -rf "$dir"
    mkdir -p "$dir/logs" "$dir/tmp"

    # the same site; only the port, the pid, the logs and the temporary
    # files move
    sed -e "s|127\.0\.0\.1:5000|127.0.0.1:$port|" \
        -e "s|build/demo/|$dir/|g" \
        -e "s|^error_log .*|error_log $dir/logs/error.log notice;|" \
        conf/demo.conf > "$dir/nginx.conf"

    grep -q "listen *127.0.0.1:$port;" "$dir/nginx.conf" || {
        echo "demo-instance.sh: conf/demo.conf no longer listens on" \
             "127.0.0.1:5000" >&2
        exit 1
    }

    if [ -n "$extra" ]; then
        awk -v inc="    include \"$extra\";" '
            /^    server \{/ && !done { print inc; print ""; done = 1 }
            { print }
            END { exit !done }' "$dir/nginx.conf" > "$dir/nginx.conf.new" || {
            echo "demo-instance.sh: conf/demo.conf has no server block" >&2
            exit 1
        }
        mv "$dir/nginx.conf.new" "$dir/nginx.conf"
    fi

    # started by root, the workers run as nobody, who may not reach the
    # checkout (a directory made by mktemp -d is 0700): then as root
    global='daemon on;'
    if [ "$(id -u)" = 0 ] \
       && ! runuser -u nobody -- test -r "$top/demo/index.html" 2>/dev/null
    then
        echo "demo-instance.sh: user nobody cannot read $top/demo/," \
             "the workers run as root" >&2
        global="$global user root;"
    fi

    /usr/sbin/nginx -p "$top/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
        -g "$global"

    # ready when it answers
    i=0
    while ! curl -fsS -o /dev/null "http://127.0.0.1:$port/api/experiments"
    do
        i=$((i + 1))
        if [ $i -ge 50 ]; then
            echo "demo-instance.sh: nginx does not answer on $port:" >&2
            tail -20 "$dir/logs/error.log" >&2
            exit 1
        fi
        sleep 0.1
    done

    echo "demo-instance.sh: $name on http://127.0.0.1:$port/ (pid $(cat "$dir/nginx.pid"))"
    ;;

stop)
    [ -f "$dir/nginx.pid" ] || exit 0
    pid=$(cat "$dir/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || { rm -f "$dir/nginx.pid"; exit 0; }

    i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -ge 50 ]; then
            kill -KILL "$pid" 2>/dev/null || :
            break
        fi
        sleep 0.1
    done
    rm -f "$dir/nginx.pid"
    ;;

*)
    usage
    ;;
esac
