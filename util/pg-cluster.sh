#!/bin/sh
# A PostgreSQL cluster of its own for the benchmarks and the fleet demo,
# from Debian's postgresql (the newest /usr/lib/postgresql/*/bin), as
# t/lib/ABTest/Pg.pm makes the tests' one:
#
#   util/pg-cluster.sh start DIR PORT   a fresh cluster in DIR (an earlier
#                                       one there is removed), started on
#                                       127.0.0.1:PORT and a unix socket
#                                       in DIR; database abtest, owned by
#                                       role abtest (password abtest-pw,
#                                       scram over 127.0.0.1)
#   util/pg-cluster.sh stop DIR         stops it (fast), keeps its files
#   util/pg-cluster.sh remove DIR       stops it and removes its files
#   util/pg-cluster.sh conninfo DIR [socket]   what abtest_store takes:
#                                       over 127.0.0.1 with the password,
#                                       or over the unix socket (trust)
#   util/pg-cluster.sh psql DIR [psql options]   psql as the superuser
#
# Run by root, the server runs as the postgres user (initdb refuses
# root); a DIR postgres cannot reach (a checkout under /root) is then a
# link to a directory under /tmp.  Run by another user, it runs as that
# user.  Durability is off (fsync, synchronous_commit): a benchmark's and
# a demo's cluster, not a store to keep.

set -eu

usage() {
    echo "usage: $0 start DIR PORT | stop DIR | remove DIR" \
         "| conninfo DIR [socket] | psql DIR [options]" >&2
    exit 2
}

bin=
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    [ -x "$d/initdb" ] && bin=$d
done

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# DIR's real directory (DIR may be a link to /tmp)
real() {
    if [ -L "$1" ]; then
        readlink -f "$1"
    else
        echo "$1"
    fi
}

port_of() {
    cat "$(real "$1")/port"
}

[ $# -ge 2 ] || usage
what=$1
dir=$2

case $dir in
/*) ;;
*) dir=$(pwd)/$dir ;;
esac

case $what in
start)
    [ $# -eq 3 ] || usage
    port=$3
    [ -n "$bin" ] || {
        echo "pg-cluster.sh: no PostgreSQL server" \
             "(Debian: apt-get install postgresql)" >&2
        exit 1
    }

    "$0" remove "$dir"
    mkdir -p "$(dirname "$dir")"

    if [ "$(id -u)" = 0 ]; then
        getent passwd postgres > /dev/null || {
            echo "pg-cluster.sh: no postgres user (apt-get install postgresql)" >&2
            exit 1
        }
        mkdir "$dir"
        if ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
            rmdir "$dir"
            tmp=$(mktemp -d /tmp/abtest-pg-XXXXXX)
            chmod 0755 "$tmp"
            ln -s "$tmp" "$dir"
            echo "pg-cluster.sh: postgres cannot enter $(dirname "$dir")," \
                 "the cluster is in $tmp" >&2
        fi
        chown postgres:postgres "$(real "$dir")"
    else
        mkdir "$dir"
    fi

    r=$(real "$dir")
    echo "$port" > "$r/port.tmp"
    as_pg "$bin/initdb" -D "$r/data" -U postgres -A trust --no-sync \
        -E UTF8 --locale=C > "$r/initdb.log" 2>&1 || {
        cat "$r/initdb.log" >&2
        exit 1
    }
    mv "$r/port.tmp" "$r/port"

    # anyone on the socket; the servers' role with a password over TCP,
    # as a fleet's servers reach their store
    printf '%s\n' 'local all all trust' \
        'host all all 127.0.0.1/32 scram-sha-256' > "$r/pg_hba.conf"
    as_pg sh -c "cat '$r/pg_hba.conf' > '$r/data/pg_hba.conf'"
    printf '%s\n' "listen_addresses = '127.0.0.1'" "port = $port" \
        "unix_socket_directories = '$r'" 'fsync = off' \
        'synchronous_commit = off' 'full_page_writes = off' \
        'max_connections = 60' 'shared_buffers = 16MB' \
        'log_min_messages = warning' > "$r/postgresql.conf"
    as_pg sh -c "cat '$r/postgresql.conf' >> '$r/data/postgresql.conf'"

    as_pg "$bin/pg_ctl" -D "$r/data" -l "$r/server.log" -w -t 30 start \
        > /dev/null || {
        cat "$r/server.log" >&2
        exit 1
    }

    "$0" psql "$dir" -q -c "CREATE ROLE abtest LOGIN PASSWORD 'abtest-pw'" \
        -c 'CREATE DATABASE abtest OWNER abtest'
    ;;

stop|remove)
    r=$(real "$dir")
    if [ -f "$r/data/postmaster.pid" ] && [ -n "$bin" ]; then
        as_pg "$bin/pg_ctl" -D "$r/data" -w -t 30 -m fast stop \
            > /dev/null 2>&1 || :
    fi
    if [ "$what" = remove ] && [ -e "$dir" ]; then
        [ "$r" = "$dir" ] || rm -rf "$r"
        rm -rf "$dir"
    fi
    ;;

conninfo)
    if [ "${3:-tcp}" = socket ]; then
        echo "host=$(real "$dir") port=$(port_of "$dir") dbname=abtest user=abtest"
    else
        echo "host=127.0.0.1 port=$(port_of "$dir") dbname=abtest user=abtest password=abtest-pw"
    fi
    ;;

psql)
    shift 2
    r=$(real "$dir")
    exec psql -X -h "$r" -p "$(port_of "$dir")" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 "$@"
    ;;

*)
    usage
    ;;
esac
