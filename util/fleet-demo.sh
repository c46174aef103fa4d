#!/bin/sh
# The fleet demo: a PostgreSQL cluster of its own (util/pg-cluster.sh, in
# build/fleet-demo/pg), three nginx servers with the demo site and
# abtest_store (conf/fleet/web.conf: web1..web3 on 127.0.0.1:5001-5003,
# each its own state file) and a plain nginx in front on 127.0.0.1:5000
# (conf/fleet/front.conf, round robin).  Each server's events log goes
# to PostgreSQL by an rsyslogd of its own (conf/rsyslog-abtest.conf, its
# state in build/fleet-demo/webN/rsyslog/), so that every server's stats
# and admin page show the fleet's figures.  Ctrl-C (or TERM) stops them
# all.
#
# Every start is afresh: build/fleet-demo/ is made anew.  PostgreSQL
# listens on 127.0.0.1:FLEET_PG_PORT, by default the first free port
# from 5010 up (never one something else listens on, 5432 included).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

dir=build/fleet-demo
nodes="web1 web2 web3"
pg=$top/$dir/pg

# a port nothing listens on (nor holds) on 127.0.0.1
free() {
    perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(
        LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], Listen => 1,
        ReuseAddr => 1) ? 0 : 1)' "$1"
}

pid_of() {
    cat "$dir/$1/nginx.pid" 2>/dev/null || :
}

# running, not a zombie (a daemon's master is reaped by init, which may
# be slow at it)
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] \
        && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}

stop_nginx() {
    pid=$(pid_of "$1")
    [ -n "$pid" ] || return 0
    kill -QUIT "$pid" 2>/dev/null || return 0
    i=0
    while alive "$pid"; do
        i=$((i + 1))
        if [ $i -ge 50 ]; then
            kill -KILL "$pid" 2>/dev/null || :
            break
        fi
        sleep 0.1
    done
}

# a shipper's rsyslogd: KILL, as conf/rsyslog-abtest.conf says (a TERM
# while the store is away drops the line being retried; a KILL loses
# nothing, the position is never ahead of what the store committed)
stop_shipper() {
    pid=$(cat "$dir/$1/rsyslog/pid" 2>/dev/null || :)
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null || return 0
    i=0
    while alive "$pid" && [ $i -lt 100 ]; do
        i=$((i + 1))
        sleep 0.1
    done
}

stopped=
stop_all() {
    [ -z "$stopped" ] || return 0
    stopped=1
    echo
    echo "fleet-demo: stopping"
    for n in front $nodes; do stop_nginx "$n"; done
    for n in $nodes; do stop_shipper "$n"; done
    util/pg-cluster.sh stop "$pg"
}

# an earlier run's, if it was not stopped
for n in front $nodes; do stop_nginx "$n"; done
for n in $nodes; do stop_shipper "$n"; done
util/pg-cluster.sh remove "$pg"
rm -rf "$dir"

for port in 5000 5001 5002 5003; do
    free "$port" || {
        echo "fleet-demo: 127.0.0.1:$port is in use (make demo?)" >&2
        exit 1
    }
done

pg_port=${FLEET_PG_PORT:-}
if [ -z "$pg_port" ]; then
    pg_port=5010
    while ! free "$pg_port"; do
        pg_port=$((pg_port + 1))
        [ "$pg_port" -lt 5100 ] || {
            echo "fleet-demo: no free port for PostgreSQL in 5010-5099" >&2
            exit 1
        }
    done
fi

# started by root, the workers run as nobody, who may not reach the
# checkout (under /root, or a directory made by mktemp -d): then as root
global='daemon on;'
if [ "$(id -u)" = 0 ] \
   && ! runuser -u nobody -- test -r "$top/demo/index.html" 2>/dev/null
then
    echo "fleet-demo: user nobody cannot read $top/demo/, the workers run as root"
    global="$global user root;"
fi

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "fleet-demo: PostgreSQL on 127.0.0.1:$pg_port ($dir/pg)"
mkdir -p "$dir"
util/pg-cluster.sh start "$pg" "$pg_port"
conninfo=$(util/pg-cluster.sh conninfo "$pg")

# the events' schema; the servers read the figures, the shippers (the
# same role, over the unix socket) insert the lines
util/pg-cluster.sh psql "$pg" -q -d abtest -f sql/abtest-events.sql
util/pg-cluster.sh psql "$pg" -q -d abtest -c "GRANT INSERT ON \
    abtest_event_lines, abtest_events, abtest_rejected TO abtest; \
    GRANT SELECT, INSERT, UPDATE ON abtest_nodes, abtest_devices, \
    abtest_group_devices, abtest_group_events, abtest_multiple TO abtest"
socket=$(util/pg-cluster.sh conninfo "$pg" socket | sed 's/ .*//; s/^host=//')
shipper_uri="postgresql:///abtest?host=$socket&port=$pg_port&user=abtest"

port=5000
for n in $nodes; do
    port=$((port + 1))
    mkdir -p "$dir/$n/logs" "$dir/$n/tmp"
    sed -e "s|@NODE@|$n|g" -e "s|@PORT@|$port|g" -e "s|@STORE@|$conninfo|g" \
        conf/fleet/web.conf > "$dir/$n/nginx.conf"
    /usr/sbin/nginx -p "$top/" -c "$dir/$n/nginx.conf" -e "$dir/$n/logs/error.log" \
        -g "$global"

    # its shipper, in the background, from the log's first line
    mkdir -p "$dir/$n/rsyslog/work"
    : >> "$dir/$n/logs/events.log"
    ABTEST_EVENTS_LOG=$top/$dir/$n/logs/events.log \
    ABTEST_RSYSLOG_DIR=$top/$dir/$n/rsyslog/work \
    ABTEST_PG_URI=$shipper_uri \
        /usr/sbin/rsyslogd -n -f "$top/conf/rsyslog-abtest.conf" \
        -i "$top/$dir/$n/rsyslog/pid" \
        > "$dir/$n/rsyslog/output" 2>&1 < /dev/null &
done

mkdir -p "$dir/front/logs" "$dir/front/tmp"
/usr/sbin/nginx -p "$top/" -c conf/fleet/front.conf \
    -e "$dir/front/logs/error.log" -g "$global"

# ready when every server has read the store
port=5000
for n in $nodes; do
    port=$((port + 1))
    i=0
    until curl -fsS "http://127.0.0.1:$port/api/status" 2>/dev/null \
          | grep -q '"ready":true'
    do
        i=$((i + 1))
        if [ $i -ge 100 ]; then
            echo "fleet-demo: $n (127.0.0.1:$port) has not read its store:" >&2
            tail -20 "$dir/$n/logs/error.log" >&2
            exit 1
        fi
        sleep 0.1
    done
done

# and when every shipper runs (its pid file written)
for n in $nodes; do
    i=0
    until [ -s "$dir/$n/rsyslog/pid" ]; do
        i=$((i + 1))
        if [ $i -ge 100 ]; then
            echo "fleet-demo: $n's shipper (rsyslogd) did not start:" >&2
            cat "$dir/$n/rsyslog/output" >&2
            exit 1
        fi
        sleep 0.1
    done
done

cat <<EOF
fleet-demo: web1, web2, web3 on http://127.0.0.1:5001/ .. :5003/ (logs in
            $dir/webN/logs/), the front server on http://127.0.0.1:5000/
            (round robin).  The admin page: http://127.0.0.1:5000/experiments
            Try:
  curl -H 'Content-Type: application/json' \\
       -d '{"name": "homepage_button_test", "groups": {"A": 20, "B": 80}}' \\
       http://127.0.0.1:5000/api/experiments/update
  for p in 5001 5002 5003; do curl -s http://127.0.0.1:\$p/api/experiments; echo; done
fleet-demo: Ctrl-C stops it
EOF

# until a signal, or until a server or a shipper is gone
while :; do
    for n in front $nodes; do
        pid=$(pid_of "$n")
        if ! alive "$pid"; then
            echo "fleet-demo: $n stopped" >&2
            exit 1
        fi
    done
    for n in $nodes; do
        pid=$(cat "$dir/$n/rsyslog/pid" 2>/dev/null || :)
        if ! alive "$pid"; then
            echo "fleet-demo: $n's shipper (rsyslogd) stopped:" >&2
            cat "$dir/$n/rsyslog/output" >&2
            exit 1
        fi
    done
    sleep 1
done
