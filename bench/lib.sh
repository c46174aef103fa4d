# Sourced by bench/run.sh and bench/events.sh, after they set "top".
#
# Checks that the module is built, makes "out" (results) and "work" (a
# temporary directory for the servers, removed at exit with every nginx
# and valgrind left running: their pids go in "pids").  SO=path runs
# another build of the module (an A/B of two builds); CG_OPTS adds
# valgrind options (CG_OPTS=--dump-instr=yes for callgrind_annotate's
# per-instruction view, as in bench/README.md); CG_KEEP=1 keeps each
# kind's callgrind output in results/callgrind-KIND.out.
#
#   cg_per_request DIR PROBE-URL URL-PREFIX REQUESTS [curl options]
#
# Runs DIR/nginx.conf (one process, in the foreground) under callgrind
# twice, for REQUESTS and then twice as many requests made by curl on one
# keep-alive connection (URL globbing: URL-PREFIX[1-N]), and prints the
# user-space instructions per request: the difference of the two runs,
# which cancels start-up and shut-down.  DIR/cg.2 stays for annotation.
#
#   pg_start PORT
#
# A fresh PostgreSQL cluster on 127.0.0.1:PORT (util/pg-cluster.sh, in
# build/bench-pg-PORT), removed at exit; sets "pg_conninfo" (what
# abtest_store takes: over 127.0.0.1 with a password), "pg_socket" (the
# same over the unix socket, no password) and "pg_bin" (the server's
# programs).

so=${SO:-$top/build/ngx_http_abtest_module.so}
CG_OPTS=${CG_OPTS:-}
out=$top/bench/results

[ -f "$so" ] || { echo "bench: build the module first (make)" >&2; exit 1; }

mkdir -p "$out"
work=$(mktemp -d /tmp/abtest-bench-XXXXXX)
pids=()
pg_dir=

cleanup() {
    for d in "$work"/*/; do
        [ -f "$d/nginx.pid" ] && kill -QUIT "$(cat "$d/nginx.pid")" 2>/dev/null
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$work"
    [ -z "$pg_dir" ] || "$top/util/pg-cluster.sh" remove "$pg_dir"
    pg_dir=
}
trap cleanup EXIT INT TERM


cg_per_request() {
    local d=$1 probe=$2 prefix=$3 requests=$4 n vg i total1 total2
    shift 4

    for n in 1 2; do
        # shellcheck disable=SC2086
        valgrind --tool=callgrind --callgrind-out-file="$d/cg.$n" $CG_OPTS \
            /usr/sbin/nginx -p "$d/" -c "$d/nginx.conf" -e stderr \
            2> "$d/valgrind.$n.log" &
        vg=$!
        pids+=("$vg")
        # nginx under valgrind takes a few seconds to start
        for _ in $(seq 300); do
            curl -s -o /dev/null "$probe" && break
            sleep 0.2
        done
        curl -s -o /dev/null "$@" "$prefix[1-$((requests * n))]" > /dev/null
        # a QUIT is sometimes lost under valgrind: again every 2 s
        kill -QUIT "$vg"
        for i in $(seq 150); do
            kill -0 "$vg" 2>/dev/null || break
            [ $((i % 20)) -ne 0 ] || kill -QUIT "$vg" 2>/dev/null || true
            sleep 0.1
        done
        wait "$vg" || true
    done

    if [ ! -s "$d/cg.1" ] || [ ! -s "$d/cg.2" ]; then
        echo "bench: callgrind run in $d failed" >&2
        cat "$d"/valgrind.*.log >&2
        return 1
    fi

    # CG_KEEP=1: both runs stay, for callgrind_annotate and cg-diff.pl
    if [ "${CG_KEEP:-0}" != 0 ]; then
        cp "$d/cg.1" "$out/callgrind-${d##*/cg-}.1.out"
        cp "$d/cg.2" "$out/callgrind-${d##*/cg-}.out"
    fi

    total1=$(grep -m1 '^summary:' "$d/cg.1" | awk '{print $2}')
    total2=$(grep -m1 '^summary:' "$d/cg.2" | awk '{print $2}')
    echo $(( (total2 - total1) / requests ))
}


pg_start() {
    pg_dir=$top/build/bench-pg-$1
    "$top/util/pg-cluster.sh" start "$pg_dir" "$1"
    pg_conninfo=$("$top/util/pg-cluster.sh" conninfo "$pg_dir")
    pg_socket=$("$top/util/pg-cluster.sh" conninfo "$pg_dir" socket)
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
}


# The OpenResty peer (bench/openresty/abtest_peer.lua): Debian's lua
# module and the NDK it needs, never this module.
openresty_modules() {
    echo "load_module /usr/lib/nginx/modules/ndk_http_module.so;"
    echo "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;"
}

# its http-level lines; an events log's path, if any, opened by the master
openresty_http() {
    local log=${1:+\"$1\"}
    echo "    lua_package_path \"$top/bench/openresty/?.lua;;\";"
    echo "    init_by_lua_block { require(\"abtest_peer\").init($log) }"
    echo "    init_worker_by_lua_block { require(\"abtest_peer\").init_worker() }"
}
