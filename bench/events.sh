#!/bin/bash
# Benchmarks event collection against a bare nginx in the same run:
#
#   bare-post        return 200 for the same POST
#   events           abtest_api events, a line per event in the events log,
#                    written at the end of each event loop pass
#   events-buffered  the same with abtest_events_log ... buffer=256k flush=1s
#   openresty-events the same job in Lua (bench/openresty/, a peer): cjson,
#                    a shared dict, a stdio-buffered log file
#
# Each request is one 200-byte seed event (bench/post.lua), a new device
# every time.  wrk (ROUNDS rounds, DURATION seconds a run): every run of
# a kind between two runs of bare-post, the kinds in another order every
# round; then
# an exact count: COUNT events per server (bench/post-count.lua), whose
# 200 answers must equal the events in the ring, the log and the
# statistics;
# then callgrind instructions per request.
# Results: bench/results/events.md.  Everything listens on 127.0.0.1:
# PORT..PORT+3 (the servers), PORT+8 (callgrind's).

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
COUNT=${COUNT:-50000}
CG_REQUESTS=${CG_REQUESTS:-5000}
PORT=${PORT:-18095}

. "$top/bench/lib.sh"

# conf NAME PORT LOG-PARAMETERS ("-": a bare server, "lua": the peer)
conf() {
    local name=$1 port=$2 log=$3
    local d=$work/$name
    mkdir -p "$d/logs"
    {
        case $log in
        -) ;;
        lua) openresty_modules ;;
        *) echo "load_module $so;" ;;
        esac
        echo "worker_processes 1;"
        echo "worker_cpu_affinity 10;"
        echo "pid $d/nginx.pid;"
        echo "error_log $d/logs/error.log error;"
        echo "events { worker_connections 1024; }"
        echo "http {"
        echo "    access_log off;"
        echo "    client_body_temp_path $d/tmp;"
        if [ "$log" = - ]; then
            echo "    server {"
            echo "        listen 127.0.0.1:$port;"
            echo "        location / { return 200 '{\"status\":\"ok\"}\n'; }"
            echo "    }"
        elif [ "$log" = lua ]; then
            echo "    lua_shared_dict abtest_events 64m;"
            openresty_http "$d/logs/events.log"
            echo "    server {"
            echo "        listen 127.0.0.1:$port;"
            echo "        location = /events {"
            echo "            content_by_lua_block {"
            echo "                require(\"abtest_peer\").events(\"abtest_events\", 100000)"
            echo "            }"
            echo "        }"
            echo "        location = /noop { return 204; }"
            echo "    }"
        else
            echo "    abtest_zone zone=abtest:64m events=100000;"
            echo "    abtest_events_log $d/logs/events.log $log;"
            echo "    abtest_experiment homepage_button_test {"
            echo "        group A 50; group B 50; fallback A;"
            echo "    }"
            echo "    abtest_experiment headline_test {"
            echo "        group Future 50; group Journey 50; fallback Future;"
            echo "    }"
            echo "    server {"
            echo "        listen 127.0.0.1:$port;"
            echo "        location = /events { abtest_api events trusted=on; }"
            echo "        location = /api/stats { abtest_api stats; }"
            echo "        location = /noop { return 204; }"
            echo "    }"
        fi
        echo "}"
    } > "$d/nginx.conf"
}

start() {
    /usr/sbin/nginx -p "$work/$1/" -c "$work/$1/nginx.conf" -e stderr
}

stop() {
    local pid
    pid=$(cat "$work/$1/nginx.pid")
    kill -QUIT "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
}

conf bare-post "$PORT" -
conf events $((PORT + 1)) ''
conf events-buffered $((PORT + 2)) 'buffer=256k flush=1s'
conf openresty-events $((PORT + 3)) lua

declare -A url=( [bare-post]=http://127.0.0.1:$PORT/events
                 [events]=http://127.0.0.1:$((PORT + 1))/events
                 [events-buffered]=http://127.0.0.1:$((PORT + 2))/events
                 [openresty-events]=http://127.0.0.1:$((PORT + 3))/events )
kinds=(bare-post events events-buffered openresty-events)

for k in "${kinds[@]}"; do start "$k"; done
sleep 0.5

# ROUNDS=0: callgrind only
[ "$ROUNDS" = 0 ] || echo "warm-up"
for k in "${kinds[@]}"; do
    [ "$ROUNDS" = 0 ] && break
    taskset -c 0 wrk -t1 -c32 -d1s -s "$top/bench/post.lua" "${url[$k]}" \
        > /dev/null
done

# the runs in order, one line each: the kind, its wrk output
sequence=$out/sequence-events.txt
: > "$sequence"
rm -f "$out"/wrk-ev-*.txt
run=0

run_wrk() {   # kind
    run=$((run + 1))
    taskset -c 0 wrk -t1 -c32 -d"${DURATION}s" --latency \
        -s "$top/bench/post.lua" "${url[$1]}" > "$out/wrk-ev-$run.txt"
    echo "$1 wrk-ev-$run.txt" >> "$sequence"
}

others=("${kinds[@]:1}")
n=${#others[@]}
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS"
    for j in $(seq 0 $((n - 1))); do
        [ "$ROUNDS" = 0 ] || run_wrk bare-post
        run_wrk "${others[$(( (j + round - 1) % n ))]}"
    done
done
[ "$ROUNDS" = 0 ] || run_wrk bare-post

for k in "${kinds[@]}"; do stop "$k"; done

# the exact count, on fresh servers: no event is in flight when wrk stops
count() {   # kind
    local k=$1 d=$work/$1 ok refused logged counted
    rm -f "$d/logs/events.log"
    start "$k"
    sleep 0.3
    taskset -c 0 wrk -t1 -c32 -d"$(( COUNT / 5000 + 5 ))s" \
        -s "$top/bench/post-count.lua" "${url[$k]}" -- "$COUNT" \
        > "$out/count-$k.txt"
    ok=$(awk '/^events-2xx/ { print $2 }' "$out/count-$k.txt")
    refused=$(awk '/^refused/ { print $2 }' "$out/count-$k.txt")
    counted=$(curl -s "${url[$k]%/events}/api/stats" \
              | perl -MJSON::PP -e 'my $s = decode_json(join "", <STDIN>);
                  my $n = 0;
                  $n += $_->{conversions}
                      for values %{ $s->{homepage_button_test}{groups} };
                  print $n')
    # the ring holds them all (events=100000): its ids, page by page
    stored=$(perl -MJSON::PP -e '
        my ($url, $since, $n) = (shift, 0, 0);
        while (1) {
            my $page = decode_json(`curl -s "$url?since=$since&limit=10000"`);
            last if !@$page;
            $n += @$page;
            $since = $page->[-1]{id};
        }
        print $n' "${url[$k]}")
    stop "$k"    # a worker writes its buffer as it exits
    logged=$(wc -l < "$d/logs/events.log")
    echo "| $k | $ok | $refused | $stored | $logged | $counted |"
}

counts=
if [ "$ROUNDS" != 0 ]; then
    echo "exact count"
    counts=$(for k in events events-buffered; do count "$k"; done)
fi

# callgrind: instructions per request (bench/lib.sh)
cg() {   # kind
    local k=$1 d=$work/cg-$1 port
    mkdir -p "$d/logs"
    sed -e "s|$work/$k/|$d/|g" -e "s|worker_cpu_affinity 10;||" \
        -e "s|error_log .*;|error_log $d/logs/error.log error;\nmaster_process off;\ndaemon off;|" \
        -e "s|listen 127.0.0.1:[0-9]*;|listen 127.0.0.1:$((PORT + 8));|" \
        "$work/$k/nginx.conf" > "$d/nginx.conf"
    port=$(grep -o 'listen 127.0.0.1:[0-9]*' "$d/nginx.conf" | cut -d: -f2)
    # post.lua's event of device 1 (the same device every time here)
    printf '%s' '{"ts":"2026-11-25T10:00:00.000Z","deviceId":"00000001-5d3c-4d8e-9a43-2b7e6c1d9f10","source":"browser","event":"button_click","params":{"btn_type":"B","page":"/pricing?plan=pro&ref=newsletter-nov-26"}}' \
        > "$d/body.json"

    # a fixed number of POSTs on one keep-alive connection
    cg_per_request "$d" "http://127.0.0.1:$port/noop" \
        "http://127.0.0.1:$port/events?" "$CG_REQUESTS" \
        -H 'Content-Type: application/json' --data-binary @"$d/body.json" \
        || exit 1

    case $k in
    events)
        callgrind_annotate --inclusive=yes "$d/cg.2" 2>/dev/null \
            | grep -E 'ngx_http_abtest|yajl|EVP_|ngx_write_fd|ngx_shmtx' \
            | awk 'NR <= 16' > "$out/callgrind-events.txt"
        ;;
    openresty-events)
        callgrind_annotate --inclusive=yes "$d/cg.2" 2>/dev/null \
            | grep -E 'ngx_http_lua|lj_|EVP_|cjson' \
            | awk 'NR <= 16' > "$out/callgrind-openresty-events.txt"
        ;;
    esac
}

echo "callgrind"
declare -A ir
for k in "${kinds[@]}"; do ir[$k]=$(cg "$k"); done

{
    perl "$top/bench/summarize.pl" --sequence "$sequence" \
        --tsv "$out/events.tsv" "$out" "$ROUNDS" "${kinds[@]}" \
        -- "${ir[bare-post]}" "${ir[events]}" "${ir[events-buffered]}" \
        "${ir[openresty-events]}"
    if [ -n "$counts" ]; then
        echo
        echo "| kind | 200 answers | refused | in the ring | log lines | counted in stats |"
        echo "|---|---|---|---|---|---|"
        echo "$counts"
    fi
} | tee "$out/events.md"
