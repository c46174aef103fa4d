#!/bin/bash
# The events logs into PostgreSQL through rsyslog (conf/rsyslog-abtest.conf)
# and the per-device results there (sql/abtest-events.sql).
#
# A PostgreSQL cluster of its own (util/pg-cluster.sh, build/bench-pg-PORT,
# fsync and synchronous_commit off), rsyslogd processes of its own
# (rsyslogd -n, one per events log, as one per server), and for the lag
# three nginx servers.  Measures:
#
# 1. Throughput: three pre-written events logs of LINES lines each (the
#    servers' format, two experiments counted, DEVICES devices), shipped
#    at once by three rsyslogd from the start: events/s until the last is
#    stored.  Kinds: "direct" (the project's configuration: a line
#    committed before the next is read), the same with one rsyslogd,
#    "batch" (the action on an in-memory queue, transactions of up to
#    1024 lines: faster for rsyslog, but a SIGKILL loses its queue),
#    "plain-direct" and "plain-batch" (the same into a table without the
#    trigger: rsyslog's and the connection's own ceiling), and "copy"
#    (psql's \copy of the same files into abtest_event_lines, 1000 lines
#    a transaction, one session: the batch a logrotate postrotate would
#    run).
# 2. Lag: three nginx servers (two workers, abtest_zone, the events log)
#    with an rsyslogd each; bench/ship.pl posts RATES events/s in all for
#    LAG_SECONDS, each from a device of its own, and records when each
#    was acknowledged; the lag of an event is from its acknowledgement to
#    the moment the store committed it with the results (its stored_at):
#    p50, p99, max.
# 3. A results read with EVENTS events stored (generate_series straight
#    into the tables, summaries computed from them): each query of
#    sql/abtest-results.sql, 21 times, median and max.
#
# PARTS (default "throughput lag read") runs some of them.
#
# Ports (127.0.0.1): PORT for PostgreSQL, PORT+1..PORT+3 the servers.
# Needs root (PostgreSQL runs as postgres) and Debian's rsyslog and
# rsyslog-pgsql.  Results: bench/results/ship.md.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-18110}
LINES=${LINES:-20000}
DEVICES=${DEVICES:-20000}
RATES=${RATES:-1000 5000}
LAG_SECONDS=${LAG_SECONDS:-10}
EVENTS=${EVENTS:-10000000}
KINDS=${KINDS:-direct direct-1 batch plain-direct plain-batch copy}
PARTS=${PARTS:-throughput lag read}

. "$top/bench/lib.sh"

command -v rsyslogd > /dev/null || {
    echo "ship: no rsyslogd (util/install-deps.sh bench)" >&2
    exit 1
}

pg_start "$PORT"
sock=$(readlink -f "$pg_dir")
rs_pids=()

sql() {
    local db=$1
    shift
    psql -X -q -h "$sock" -p "$PORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 \
        "$@"
}

value() {
    sql "$1" -A -t -c "$2"
}

fresh_db() {
    sql postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
        -c "CREATE DATABASE $1"
    sql "$1" -f "$top/sql/abtest.sql"
    sql "$1" -f "$top/sql/abtest-events.sql"
    sql "$1" -c 'CREATE TABLE plain (line text)'
}

# rs_start NAME CONF LOG DB: an rsyslogd in the foreground, of its own
rs_start() {
    local d=$work/rs-$1
    mkdir -p "$d/work"
    ABTEST_EVENTS_LOG=$3 ABTEST_RSYSLOG_DIR=$d/work \
    ABTEST_PG_URI="postgresql:///$4?host=$sock&port=$PORT&user=postgres" \
        rsyslogd -n -f "$2" -i "$d/pid" > "$d/out" 2>&1 &
    rs_pids+=($!)
    pids+=($!)
}

rs_stop() {
    local p
    for p in "${rs_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${rs_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rs_pids=()
}

# wait_count DB TABLE N SECONDS: the seconds until TABLE has N rows
# (polled every 50 ms), or fails after SECONDS
wait_count() {
    local t0 n
    t0=$(date +%s.%N)
    while :; do
        n=$(value "$1" "SELECT count(*) FROM $2")
        [ "$n" -lt "$3" ] || break
        if awk "BEGIN { exit !($(date +%s.%N) - $t0 > $4) }"; then
            echo "ship: $2 has $n rows of $3 after $4 s" >&2
            return 1
        fi
        sleep 0.05
    done
    awk "BEGIN { print $(date +%s.%N) - $t0 }"
}

# the configuration's variants
conf=$top/conf/rsyslog-abtest.conf
sed 's/^           queue.type="Direct"$/           queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="1024"/' \
    "$conf" > "$work/batch.conf"
grep -q dequeueBatchSize "$work/batch.conf" || {
    echo "ship: the action's queue.type line changed in $conf" >&2
    exit 1
}
sed 's/INSERT INTO abtest_event_lines (line)/INSERT INTO plain (line)/' \
    "$conf" > "$work/plain-direct.conf"
sed 's/INSERT INTO abtest_event_lines (line)/INSERT INTO plain (line)/' \
    "$work/batch.conf" > "$work/plain-batch.conf"

report=$out/ship.md.tmp
: > "$report"

case " $PARTS " in
*" throughput "*)
start_ms=$(( $(date +%s) * 1000 ))
for n in 1 2 3; do
    perl "$top/bench/ship.pl" lines "web$n" "$LINES" "$DEVICES" "$start_ms" \
        > "$work/web$n.log"
done
total=$((3 * LINES))

{
    echo "## Throughput: 3 events logs of $LINES lines into PostgreSQL"
    echo
    echo "| kind | shippers | events | seconds | events/s | load before |"
    echo "|---|---|---|---|---|---|"
} >> "$report"

for kind in $KINDS; do
    fresh_db tp
    load=$(cut -d' ' -f1 /proc/loadavg)
    files="$work/web1.log $work/web2.log $work/web3.log"
    table=abtest_events
    n=$total
    case $kind in
    direct-1) files="$work/web1.log"; n=$LINES ;;
    plain-*) table=plain ;;
    esac
    if [ "$kind" = copy ]; then
        # one session, the files one after the other: three sessions at
        # once deadlock on the devices their transactions share
        t0=$(date +%s.%N)
        for f in $files; do
            rm -f "$f".part.*
            split -l 1000 "$f" "$f.part."
            for p in "$f".part.*; do
                echo "\\copy abtest_event_lines (line) FROM '$p'" \
                     "WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')"
            done
        done > "$work/copy.sql"
        sql tp -f "$work/copy.sql" > /dev/null
        secs=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
        shippers=1
    else
        c=$work/$kind.conf
        case $kind in direct|direct-1) c=$conf ;; esac
        i=0
        for f in $files; do
            i=$((i + 1))
            rs_start "$kind-$i" "$c" "$f" tp
        done
        shippers=$i
        secs=$(wait_count tp "$table" "$n" 120) || secs=
        rs_stop
    fi
    got=$(value tp "SELECT count(*) FROM $table")
    note=
    if [ "$table" = abtest_events ]; then
        r=$(value tp 'SELECT count(*) FROM abtest_rejected')
        [ "$r" = 0 ] || note="; $r lines rejected: $(value tp "SELECT
            reason FROM abtest_rejected GROUP BY 1 ORDER BY count(*) DESC
            LIMIT 1" | cut -c1-60)"
    fi
    if [ -z "$secs" ]; then
        printf '| %s | %s | %s | - | - (%s stored in 120 s%s) | %s |\n' \
            "$kind" "$shippers" "$n" "$got" "$note" "$load" | tee -a "$report"
        continue
    fi
    printf '| %s | %s | %s | %.1f | %.0f%s | %s |\n' "$kind" "$shippers" \
        "$n" "$secs" "$(awk "BEGIN { print $n / $secs }")" "$note" "$load" \
        | tee -a "$report"
done
    ;;
esac

case " $PARTS " in
*" lag "*)
# 2. the lag, with real servers
for n in 1 2 3; do
    d=$work/web$n
    mkdir -p "$d/logs"
    cat > "$d/nginx.conf" <<EOF
load_module $so;
worker_processes 2;
pid $d/nginx.pid;
error_log $d/logs/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $d/tmp;
    abtest_zone zone=abtest:1m events=1000;
    abtest_events_log $d/logs/events.log;
    abtest_experiment homepage_button_test {
        group A 50; group B 50; fallback A;
    }
    abtest_experiment headline_test {
        group Future 50; group Journey 50; fallback Future;
    }
    server {
        listen 127.0.0.1:$((PORT + n));
        abtest on;
        location = /events { abtest_api events trusted=on; }
    }
}
EOF
    /usr/sbin/nginx -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log"
done

fresh_db lag
for n in 1 2 3; do
    rs_start "lag-$n" "$conf" "$work/web$n/logs/events.log" lag
done

{
    echo
    echo "## Lag: acknowledged by nginx to committed with the results"
    echo
    echo "| events/s asked | acknowledged/s | lag p50 ms | p99 ms | max ms | backlog when posting ended | load before |"
    echo "|---|---|---|---|---|---|---|"
} >> "$report"

for rate in $RATES; do
    sql lag -c "TRUNCATE abtest_events, abtest_devices, abtest_group_devices,
                abtest_group_events, abtest_multiple, abtest_nodes"
    load=$(cut -d' ' -f1 /proc/loadavg)
    perl "$top/bench/ship.pl" post "$rate" "$LAG_SECONDS" "$work/acks" \
        $((PORT + 1)) $((PORT + 2)) $((PORT + 3))
    acked=$(wc -l < "$work/acks")
    backlog=$((acked - $(value lag 'SELECT count(*) FROM abtest_events')))
    wait_count lag abtest_events "$acked" 600 > /dev/null
    sql lag -A -t -F ' ' -c "SELECT device, extract(epoch FROM stored_at)
                             FROM abtest_events" > "$work/stored"
    lag=$(perl "$top/bench/ship.pl" lag "$work/acks" "$work/stored")
    echo "ship: $rate/s: $lag" >&2
    p50=$(echo "$lag" | sed 's/.*p50 \([0-9.]*\).*/\1/')
    p99=$(echo "$lag" | sed 's/.*p99 \([0-9.]*\).*/\1/')
    max=$(echo "$lag" | sed 's/.*max \([0-9.]*\).*/\1/')
    printf '| %s | %.0f | %s | %s | %s | %s | %s |\n' "$rate" \
        "$(awk "BEGIN { print $acked / $LAG_SECONDS }")" "$p50" "$p99" "$max" \
        "$backlog" "$load" | tee -a "$report"
done
rs_stop
    ;;
esac

case " $PARTS " in
*" read "*)
# 3. one results read with EVENTS events stored
fresh_db big
t0=$(date +%s)
sql big -v events="$EVENTS" <<'EOF'
-- 10 events per device, a tenth of a ms apart; every fifth a goal
INSERT INTO abtest_experiments (name, groups, weights, state, stats_start_ms)
    VALUES ('homepage_button_test', 'A,B', '{"A": 50, "B": 50}', 'active',
            1796000000000);
INSERT INTO abtest_events (node, id, received, device, event, line)
SELECT 'web' || (i % 3 + 1), i,
       to_timestamp((1796000000000 + i / 10) / 1000.0),
       'dev-' || (i % (:events / 10)),
       CASE WHEN i % 5 = 0 THEN 'button_click' ELSE 'pageview' END,
       jsonb_build_object('id', i, 'node', 'web' || (i % 3 + 1),
           'event', CASE WHEN i % 5 = 0 THEN 'button_click'
                    ELSE 'pageview' END,
           'deviceId', 'dev-' || (i % (:events / 10)),
           'counted', jsonb_build_object('homepage_button_test',
               jsonb_build_object('group', CASE WHEN i % 2 = 0 THEN 'A'
                                          ELSE 'B' END,
                                  'groups', 'A,B',
                                  'start', 1796000000000)))
FROM generate_series(1, :events) i;
INSERT INTO abtest_devices
SELECT 'homepage_button_test', 'A,B', 1796000000000, device,
       min(line->'counted'->'homepage_button_test'->>'group'), false,
       min((1796000000000 + id / 10)) FILTER (WHERE event = 'pageview'),
       max((1796000000000 + id / 10)) FILTER (WHERE event = 'button_click')
FROM abtest_events GROUP BY device;
INSERT INTO abtest_group_devices
SELECT experiment, groups, start_ms, group_name, 'web1',
       count(*) FILTER (WHERE first_exposure_ms IS NOT NULL),
       count(*) FILTER (WHERE last_goal_ms >= first_exposure_ms)
FROM abtest_devices GROUP BY 1, 2, 3, 4;
INSERT INTO abtest_group_events
SELECT 'homepage_button_test', 'A,B', 1796000000000,
       line->'counted'->'homepage_button_test'->>'group', event, node,
       count(*)
FROM abtest_events GROUP BY 4, 5, 6;
INSERT INTO abtest_nodes
SELECT node, max(received), max(stored_at), max(stored_at)
FROM abtest_events GROUP BY node;
VACUUM ANALYZE;
EOF
gen=$(( $(date +%s) - t0 ))
size=$(value big "SELECT pg_size_pretty(pg_database_size('big'))")

{
    echo
    echo "## One results read with $EVENTS events stored ($size, made in $gen s)"
    echo
    echo "| query | median ms | max ms |"
    echo "|---|---|---|"
} >> "$report"

perl -e 'local $/; $_ = <STDIN>; my @q = grep { /\bSELECT\b/ } split /;\s*\n/;
         for my $i (0 .. $#q) { open my $f, ">", "$ARGV[0]/q" . ($i + 1);
                                print $f "$q[$i];\n" }' "$work" \
    < "$top/sql/abtest-results.sql"
for q in 1 2 3 4 5; do
    {
        echo '\timing on'
        for _ in $(seq 21); do echo "\\i $work/q$q"; done
    } > "$work/q$q.timed"
    sql big -v experiment=homepage_button_test -o /dev/null \
        -f "$work/q$q.timed" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' \
        | sort -n > "$work/q$q.times"
    [ "$(wc -l < "$work/q$q.times")" = 21 ] || {
        echo "ship: query $q was not timed 21 times" >&2
        exit 1
    }
    printf '| %s | %s | %s |\n' "$q" "$(sed -n 11p "$work/q$q.times")" \
        "$(tail -1 "$work/q$q.times")" | tee -a "$report"
done
    ;;
esac

{
    cat "$report"
    echo
    echo "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'), $(rsyslogd -v | head -1 | sed 's/ (aka.*//'), $("$pg_bin/postgres" --version | sed 's/^postgres (PostgreSQL) \([0-9.]*\).*/PostgreSQL \1/') (fsync off), $(nproc) CPUs, everything on 127.0.0.1; load average before each run in its row"
} > "$out/ship.md"
rm -f "$report"
cat "$out/ship.md"

for n in 1 2 3; do
    [ -f "$work/web$n/logs/error.log" ] || continue
    if grep -E '\[(alert|crit|emerg|error)\]' "$work/web$n/logs/error.log" >&2
    then
        echo "ship: errors in web$n's log above" >&2
        exit 1
    fi
done
