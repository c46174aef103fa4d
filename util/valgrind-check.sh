#!/bin/sh
# Runs test files under valgrind's memcheck (the bundled runner's
# TEST_NGINX_USE_VALGRIND=1, as the real Test::Nginx's) and says, per
# file, whether it is valgrind-clean: no invalid access, no use of
# uninitialised memory, no definitely-lost block with a frame of the
# module.
#
#   util/valgrind-check.sh [t/NNN-file.t ...]     (default: every file)
#
# Reports are kept in build/valgrind/<file>.log.  A file whose tests fail
# under valgrind (timing, load) is said so, not counted clean.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

mkdir -p build/valgrind

[ $# -gt 0 ] || set -- t/*.t

status=0
printf '%-28s %-8s %s\n' file tests valgrind

for t in "$@"; do
    name=$(basename "$t" .t)
    log=build/valgrind/$name.log

    if TEST_NGINX_USE_VALGRIND=1 util/run-tests.sh "$t" > "$log" 2>&1; then
        tests=passed
    else
        tests=failed
    fi

    # memcheck's errors, and leak records whose stack names the module
    errors=$(grep -cE '==[0-9]+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched free)' "$log" || true)
    leaks=$(awk '/definitely lost in loss record/ { rec = 1; own = 0; next }
                 rec && /ngx_http_abtest/ { own = 1 }
                 rec && /^==[0-9]+== $/ { if (own) n++; rec = 0 }
                 END { print n + 0 }' "$log")

    if [ "$errors" = 0 ] && [ "$leaks" = 0 ]; then
        verdict=clean
    else
        verdict="$errors errors, $leaks module leaks"
        status=1
    fi

    printf '%-28s %-8s %s\n' "$name" "$tests" "$verdict"
done

exit $status
