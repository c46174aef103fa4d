#!/bin/bash
# Benchmarks the module against a bare nginx in the same run:
#
#   bare               return 200
#   abtest-new         abtest on, 2 experiments, no cookie (id issued)
#   abtest-returning   the same with a device cookie
#   userid-new         nginx's userid + split_clients doing the same job
#   userid-returning   the same with a userid cookie
#
# wrk on 127.0.0.1 in alternating rounds (ROUNDS, DURATION seconds each),
# then user-space instructions per request under callgrind.
# Results: bench/results/latest.md.  Everything listens on 127.0.0.1.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CG_REQUESTS=${CG_REQUESTS:-20000}

. "$top/bench/lib.sh"

device_cookie='Cookie: device_id=9b810e76-6ec9-4286-a3ca-828dd5f4b3b2'
userid_cookie='Cookie: device_id=fwAAAWsC90M3znIcAwMDAg=='

# conf NAME PORT MODE [extra main directives]
conf() {
    local name=$1 port=$2 mode=$3 extra=${4:-}
    local d=$work/$name
    mkdir -p "$d/logs"
    {
        [ "$mode" = bare ] || [ "$mode" = userid ] || echo "load_module $so;"
        cat <<EOF
worker_processes 1;
worker_cpu_affinity 10;
pid $d/nginx.pid;
error_log $d/logs/error.log error;
$extra
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
        abtest)
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

conf bare 18090 bare
conf abtest 18091 abtest
conf userid 18092 userid

for s in bare abtest userid; do
    /usr/sbin/nginx -p "$work/$s/" -c "$work/$s/nginx.conf" -e stderr
done
sleep 0.5

declare -A url=( [bare]=http://127.0.0.1:18090/ [abtest]=http://127.0.0.1:18091/
                 [userid]=http://127.0.0.1:18092/ )

run_wrk() {   # kind server [header]
    local kind=$1 server=$2 header=${3:-}
    local args=(-t1 -c32 -d"${DURATION}s" --latency)
    [ -n "$header" ] && args+=(-H "$header")
    taskset -c 0 wrk "${args[@]}" "${url[$server]}" > "$out/wrk-$kind-$round.txt"
}

kinds=(bare abtest-new abtest-returning userid-new userid-returning)

echo "warm-up"
for s in bare abtest userid; do
    taskset -c 0 wrk -t1 -c32 -d1s "${url[$s]}" > /dev/null
done

for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS"
    run_wrk bare bare
    run_wrk abtest-new abtest
    run_wrk abtest-returning abtest "$device_cookie"
    run_wrk userid-new userid
    run_wrk userid-returning userid "$userid_cookie"
done

# callgrind: instructions per request (bench/lib.sh)
cg() {   # kind server [header]
    local kind=$1 server=$2 header=${3:-}
    local d=$work/cg-$kind
    mkdir -p "$d/logs"
    sed -e "s|pid .*;|pid $d/nginx.pid;|" -e "s|worker_cpu_affinity 10;||" \
        -e "s|error_log .*;|error_log $d/logs/error.log error;\nmaster_process off;\ndaemon off;|" \
        -e "s|18090|18190|; s|18091|18191|; s|18092|18192|" \
        "$work/$server/nginx.conf" > "$d/nginx.conf"
    local port hdr=()
    port=$(grep -o 'listen 127.0.0.1:[0-9]*' "$d/nginx.conf" | cut -d: -f2)
    [ -n "$header" ] && hdr=(-H "$header")

    # /1, /2, ...: every path is served by "location /"
    cg_per_request "$d" "http://127.0.0.1:$port/" "http://127.0.0.1:$port/" \
        "$CG_REQUESTS" "${hdr[@]}" || exit 1

    if [ "$kind" = abtest-new ] || [ "$kind" = abtest-returning ]; then
        callgrind_annotate --inclusive=yes "$d/cg.2" 2>/dev/null \
            | grep -E 'ngx_http_abtest|EVP_|SHA256|RAND_|ngx_http_parse' \
            | awk 'NR <= 12' > "$out/callgrind-$kind.txt"
    fi
}

echo "callgrind"
declare -A ir
ir[bare]=$(cg bare bare)
ir[abtest-new]=$(cg abtest-new abtest)
ir[abtest-returning]=$(cg abtest-returning abtest "$device_cookie")
ir[userid-new]=$(cg userid-new userid)
ir[userid-returning]=$(cg userid-returning userid "$userid_cookie")

perl "$top/bench/summarize.pl" "$out" "$ROUNDS" \
    "${ir[bare]}" "${ir[abtest-new]}" "${ir[abtest-returning]}" \
    "${ir[userid-new]}" "${ir[userid-returning]}" | tee "$out/latest.md"
