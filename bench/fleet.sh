#!/bin/bash
# The fleet's store: how fast a committed write reaches every server.
#
# A PostgreSQL cluster of its own (util/pg-cluster.sh, in
# build/bench-pg-PORT), three nginx servers (web1..web3, two workers
# each) with abtest_store on it, and a fourth of the same configuration
# without abtest_store.  bench/fleet.pl then makes WRITES updates round
# robin over the three and times each from its 200 answer to the moment
# every server shows the new weights, and times updates with and without
# the store (ROUNDS runs of LATENCY_WRITES each).
#
# Ports (127.0.0.1): PORT for PostgreSQL, PORT+1..PORT+3 the fleet,
# PORT+4 the server without a store.  Needs root (PostgreSQL runs as the
# postgres user) or a user who can run initdb.
# Results: bench/results/fleet.md.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-18100}
WRITES=${WRITES:-100}
ROUNDS=${ROUNDS:-5}
LATENCY_WRITES=${LATENCY_WRITES:-40}

. "$top/bench/lib.sh"

pg_start "$PORT"

# conf NAME PORT NODE ("-": no store)
conf() {
    local name=$1 port=$2 node=$3
    local d=$work/$name
    mkdir -p "$d/logs"
    {
        echo "load_module $so;"
        echo "worker_processes 2;"
        echo "pid $d/nginx.pid;"
        echo "error_log $d/logs/error.log notice;"
        echo "events { worker_connections 1024; }"
        echo "http {"
        echo "    access_log off;"
        echo "    client_body_temp_path $d/tmp;"
        echo "    abtest_zone zone=abtest:1m;"
        [ "$node" = - ] \
            || echo "    abtest_store \"$pg_conninfo\" node=$node timeout=2s poll=5s;"
        echo "    abtest_experiment homepage_button_test {"
        echo "        group A 50; group B 50; fallback A;"
        echo "    }"
        echo "    abtest_experiment headline_test {"
        echo "        group Future 50; group Journey 50; fallback Future;"
        echo "    }"
        echo "    server {"
        echo "        listen 127.0.0.1:$port;"
        echo "        abtest on;"
        echo "        location /api/experiments {"
        echo "            abtest_api experiments write=on;"
        echo "        }"
        echo "        location = /api/status { abtest_api status; }"
        echo "        location / { return 200 \"ok \$ab_group\\n\"; }"
        echo "    }"
        echo "}"
    } > "$d/nginx.conf"
    /usr/sbin/nginx -p "$d/" -c "$d/nginx.conf" -e "$d/logs/error.log"
}

ports=()
for i in 1 2 3; do
    conf "web$i" $((PORT + i)) "web$i"
    ports+=($((PORT + i)))
done
conf alone $((PORT + 4)) -

echo "fleet: PostgreSQL on $PORT, web1..web3 on ${ports[*]}, without a store on $((PORT + 4))"
echo "fleet: $WRITES writes, then $ROUNDS x $LATENCY_WRITES updates with and without the store"

if ! perl "$top/bench/fleet.pl" --writes "$WRITES" --rounds "$ROUNDS" \
        --latency-writes "$LATENCY_WRITES" --alone $((PORT + 4)) "${ports[@]}" \
        > "$out/fleet.md.tmp"
then
    for s in web1 web2 web3 alone; do
        echo "== $s" >&2
        tail -5 "$work/$s/logs/error.log" >&2
    done
    exit 1
fi

{
    cat "$out/fleet.md.tmp"
    echo
    echo "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'), $("$pg_bin/postgres" --version | sed 's/^postgres (PostgreSQL) \([0-9.]*\).*/PostgreSQL \1/') (fsync off), $(nproc) CPUs, everything on 127.0.0.1"
} | tee "$out/fleet.md"
rm -f "$out/fleet.md.tmp"

# nothing went wrong in the servers meanwhile
for s in web1 web2 web3 alone; do
    if grep -E '\[(alert|crit|emerg|error)\]' "$work/$s/logs/error.log" >&2; then
        echo "fleet: errors in $s's log above" >&2
        exit 1
    fi
done
