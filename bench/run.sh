#!/bin/bash
# Benchmarks the module against a bare nginx in the same run:
#
#   bare                    return 200
#   abtest-new              abtest on, 2 experiments, no cookie (id issued)
#   abtest-returning        the same with a device cookie
#   userid-new              nginx's userid + split_clients doing the same job
#   userid-returning        the same with a userid cookie
#   abtest-zone-new         abtest with abtest_zone (run-time state in
#   abtest-zone-returning   shared memory), new and returning devices
#   abtest-store-new        the same with abtest_store too, on a running
#   abtest-store-returning  PostgreSQL (STORE=0 leaves these two out)
#   abtest-lazy-new         20 experiments declared, only $ab_group used
#   openresty-new           the same job in Lua (bench/openresty/, a peer:
#   openresty-returning     it loads the lua module, not this one)
#
# KINDS="abtest-new userid-new" runs only those (and bare); ROUNDS=0 only
# callgrind.
# wrk on 127.0.0.1 (ROUNDS rounds, DURATION seconds a run): every run of
# a kind lies between two runs of bare, the kinds in another order every
# round; then user-space instructions per request under callgrind.
# Results: bench/results/latest.md.  Everything listens on 127.0.0.1:
# PORT..PORT+4 (the servers), PORT+8 (callgrind's), PORT+9 (PostgreSQL).

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CG_REQUESTS=${CG_REQUESTS:-20000}
PORT=${PORT:-18090}
STORE=${STORE:-1}
KINDS=${KINDS:-}

. "$top/bench/lib.sh"

device_cookie='Cookie: device_id=9b810e76-6ec9-4286-a3ca-828dd5f4b3b2'
userid_cookie='Cookie: device_id=fwAAAWsC90M3znIcAwMDAg=='

# conf NAME PORT MODE (bare, userid, abtest, zone, store, lazy, openresty)
conf() {
    local name=$1 port=$2 mode=$3
    local d=$work/$name
    mkdir -p "$d/logs"
    {
        case $mode in
        bare|userid) ;;
        openresty) openresty_modules ;;
        *) echo "load_module $so;" ;;
        esac
        cat <<EOF
worker_processes 1;
worker_cpu_affinity 10;
pid $d/nginx.pid;
error_log $d/logs/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/tmp;
EOF
        case $mode in
        bare)
            cat <<'EOF'
    server {
        listen 127.0.0.1:PORT;
        location / { return 200 "ok\n"; }
    }
EOF
            ;;
        abtest|zone|store)
            [ "$mode" = abtest ] || echo "    abtest_zone zone=abtest:1m;"
            # over the unix socket: a password's SCRAM exchange (67M
            # instructions in PBKDF2) takes longer than timeout= under
            # valgrind, and a second attempt would count in one run only
            [ "$mode" != store ] \
                || echo "    abtest_store \"$pg_socket\" node=bench timeout=2s poll=5s;"
            cat <<'EOF'
    abtest_experiment homepage_button_test {
        group A 50; group B 50; fallback A;
    }
    abtest_experiment headline_test {
        group Future 50; group Journey 50; fallback Future;
    }
    server {
        listen 127.0.0.1:PORT;
        abtest on;
        location / {
            add_header X-AB-Group $ab_group;
            return 200 "ok $ab_group $ab_group_headline_test\n";
        }
    }
EOF
            ;;
        lazy)
            # assignment is lazy: only $ab_group's experiment is hashed
            for i in $(seq 1 19); do
                echo "    abtest_experiment experiment_$i {"
                echo "        group A 50; group B 50; fallback A;"
                echo "    }"
            done
            cat <<'EOF'
    abtest_experiment homepage_button_test {
        group A 50; group B 50; fallback A;
    }
    server {
        listen 127.0.0.1:PORT;
        abtest on;
        abtest_use homepage_button_test;
        location / {
            add_header X-AB-Group $ab_group;
            return 200 "ok $ab_group\n";
        }
    }
EOF
            ;;
        openresty)
            openresty_http
            cat <<'EOF'
    server {
        listen 127.0.0.1:PORT;
        location / {
            content_by_lua_block { require("abtest_peer").assign() }
        }
    }
EOF
            ;;
        userid)
            cat <<'EOF'
    userid         on;
    userid_name    device_id;
    userid_expires 365d;
    userid_path    /;
    split_clients "${uid_got}${uid_set}homepage_button_test" $ab_group {
        50% A; * B;
    }
    split_clients "${uid_got}${uid_set}headline_test" $ab_headline {
        50% Future; * Journey;
    }
    server {
        listen 127.0.0.1:PORT;
        location / {
            add_header X-AB-Group $ab_group;
            return 200 "ok $ab_group $ab_headline\n";
        }
    }
EOF
            ;;
        esac
        echo "}"
    } | sed "s/PORT/$port/" > "$d/nginx.conf"
}

kinds=(abtest-new abtest-returning userid-new userid-returning
       openresty-new openresty-returning abtest-lazy-new
       abtest-zone-new abtest-zone-returning)
[ "$STORE" = 1 ] && kinds+=(abtest-store-new abtest-store-returning)
if [ -n "$KINDS" ]; then
    read -r -a kinds <<< "$KINDS"
fi

# a kind's server and request header
server_of() {
    case $1 in
    bare) echo bare ;;
    abtest-zone-*) echo zone ;;
    abtest-store-*) echo store ;;
    abtest-lazy-*) echo lazy ;;
    abtest-*) echo abtest ;;
    userid-*) echo userid ;;
    openresty-*) echo openresty ;;
    *) echo "bench: unknown kind $1" >&2; exit 2 ;;
    esac
}

servers=(bare)
for k in "${kinds[@]}"; do
    s=$(server_of "$k")
    [[ " ${servers[*]} " = *" $s "* ]] || servers+=("$s")
done
if [[ " ${servers[*]} " = *" store "* ]]; then
    pg_start $((PORT + 9))
fi

declare -A url
i=0
for s in "${servers[@]}"; do
    conf "$s" $((PORT + i)) "$s"
    url[$s]=http://127.0.0.1:$((PORT + i))/
    i=$((i + 1))
done

for s in "${servers[@]}"; do
    /usr/sbin/nginx -p "$work/$s/" -c "$work/$s/nginx.conf" -e stderr
done
sleep 0.5

header_of() {
    case $1 in
    abtest-*returning|openresty-returning) echo "$device_cookie" ;;
    userid-returning) echo "$userid_cookie" ;;
    esac
}

# the runs in order, one line each: the kind, its wrk output
sequence=$out/sequence.txt
: > "$sequence"
run=0

run_wrk() {   # kind
    local kind=$1 server header
    local args=(-t1 -c32 -d"${DURATION}s" --latency)
    server=$(server_of "$kind")
    header=$(header_of "$kind")
    [ -n "$header" ] && args+=(-H "$header")
    run=$((run + 1))
    taskset -c 0 wrk "${args[@]}" "${url[$server]}" > "$out/wrk-$run.txt"
    echo "$kind wrk-$run.txt" >> "$sequence"
}

# an earlier run's outputs would be read as this one's
rm -f "$out"/wrk-*.txt

[ "$ROUNDS" = 0 ] || echo "warm-up"
for s in "${servers[@]}"; do
    [ "$ROUNDS" = 0 ] && break
    taskset -c 0 wrk -t1 -c32 -d1s "${url[$s]}" > /dev/null
done

n=${#kinds[@]}
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS"
    for j in $(seq 0 $((n - 1))); do
        run_wrk bare
        run_wrk "${kinds[$(( (j + round - 1) % n ))]}"
    done
done
[ "$ROUNDS" = 0 ] || run_wrk bare

# callgrind: instructions per request (bench/lib.sh), the kind's server
# alone in the foreground on PORT+8
cg() {   # kind
    local kind=$1 server header
    server=$(server_of "$kind")
    header=$(header_of "$kind")
    local d=$work/cg-$kind cgport=$((PORT + 8))
    mkdir -p "$d/logs"
    sed -e "s|pid .*;|pid $d/nginx.pid;|" -e "s|worker_cpu_affinity 10;||" \
        -e "s|error_log .*;|error_log $d/logs/error.log error;\nmaster_process off;\ndaemon off;|" \
        -e "s|listen 127.0.0.1:[0-9]*;|listen 127.0.0.1:$cgport;|" \
        "$work/$server/nginx.conf" > "$d/nginx.conf"
    local hdr=()
    [ -n "$header" ] && hdr=(-H "$header")

    # /1, /2, ...: every path is served by "location /"
    cg_per_request "$d" "http://127.0.0.1:$cgport/" "http://127.0.0.1:$cgport/" \
        "$CG_REQUESTS" "${hdr[@]}" || exit 1

    case $kind in
    abtest-new|abtest-returning|abtest-lazy-new)
        callgrind_annotate --inclusive=yes "$d/cg.2" 2>/dev/null \
            | grep -E 'ngx_http_abtest|EVP_|SHA256|RAND_|ngx_http_parse' \
            | awk 'NR <= 16' > "$out/callgrind-$kind.txt"
        ;;
    openresty-*)
        callgrind_annotate --inclusive=yes "$d/cg.2" 2>/dev/null \
            | grep -E 'ngx_http_lua|lj_|EVP_|RAND_' \
            | awk 'NR <= 16' > "$out/callgrind-$kind.txt"
        ;;
    abtest-store-*)
        # the instructions run from the store's entry points (its timers
        # and connection events, a worker's start and exit), libpq's and
        # OpenSSL's included: the same in both runs when no request
        # reaches the store
        local n1 n2
        n1=$(store_ir "$d/cg.1")
        n2=$(store_ir "$d/cg.2")
        {
            echo "| run | requests | instructions from the store's entry points |"
            echo "|---|---|---|"
            echo "| 1 | $CG_REQUESTS | $n1 |"
            echo "| 2 | $((CG_REQUESTS * 2)) | $n2 |"
            echo
            echo "per request: $(( (n2 - n1) / CG_REQUESTS )) ($(( n2 - n1 )) in all)"
            echo
            callgrind_annotate --inclusive=yes --threshold=100 "$d/cg.2" \
                2>/dev/null | awk '/ngx_http_abtest_store\.c:|libpq/ && n++ < 16'
        } > "$out/callgrind-$kind.txt"
        ;;
    esac
}

# the inclusive instructions of the store's entry points in a callgrind
# output (they do not call one another)
store_ir() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null \
        | awk '/ngx_http_abtest_store\.c:ngx_http_abtest_store_(timer|event|kick|deadline|init_process|exit_process)( |$)/ {
                   gsub(",", "", $1); n += $1 }
               END { print n + 0 }'
}

echo "callgrind"
declare -A ir
all=(bare "${kinds[@]}")
for k in "${all[@]}"; do ir[$k]=$(cg "$k"); done

irs=()
for k in "${all[@]}"; do irs+=("${ir[$k]}"); done

pairs=()
for k in abtest-store-new abtest-store-returning; do
    if [[ " ${kinds[*]} " = *" $k "* ]] \
       && [[ " ${kinds[*]} " = *" ${k/store/zone} "* ]]
    then
        pairs+=(--pair "$k=${k/store/zone}")
    fi
done

{
    perl "$top/bench/summarize.pl" --sequence "$sequence" "${pairs[@]}" \
        --tsv "$out/run.tsv" "$out" "$ROUNDS" "${all[@]}" -- "${irs[@]}"
    if [[ " ${servers[*]} " = *" store "* ]]; then
        for k in abtest-store-new abtest-store-returning; do
            echo
            echo "$k, the store's own code under callgrind:"
            echo
            sed -n '1,7p' "$out/callgrind-$k.txt"
        done
    fi
} | tee "$out/latest.md"
