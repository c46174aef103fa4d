#!/bin/sh
# Runs the Test::Nginx suite against the sanitizer nginx
# (util/build-sanitize.sh), then prints every ASan/UBSan report and fails
# if there is any, even when every test passed.
#
#   util/test-sanitize.sh [t/NNN-file.t ...]
#
# Reports go to files, build/sanitize/reports/sanitizer.<pid> (the real
# Test::Nginx: sanitizer-<file>-t<block>.<pid>), emptied first: a
# daemonised nginx has no terminal, and its stderr is the error log, which
# every test block starts anew.  TEST_NGINX_LIB works as in run-tests.sh.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/sanitize
reports=$out/reports

[ -x "$out/objs/nginx" ] || { echo "test-sanitize.sh: build first" \
    "(util/build-sanitize.sh)" >&2; exit 1; }

rm -rf "$reports"
mkdir -p "$reports"

# Leaks are checked at every process's exit, less what nginx core never
# frees by design (util/sanitize/lsan.supp).  The options are read when
# nginx starts: workers keep them although nginx clears their environment.
# The symbolizer is a wrapper (util/sanitize/llvm-symbolizer) named by an
# absolute path, the workers having no PATH.  Commas between options: the
# real Test::Nginx appends ",log_path=<ours>-<file>-t<block>" for each block.
export ASAN_OPTIONS="log_path=$reports/sanitizer,detect_leaks=1\
,external_symbolizer_path=$top/util/sanitize/llvm-symbolizer\
,detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$top/util/sanitize/lsan.supp\
,print_suppressions=0"
# UBSan writes where ASan does (one runtime, ASAN_OPTIONS' log_path)
export UBSAN_OPTIONS="print_stacktrace=1,report_error_type=1\
,halt_on_error=0,suppressions=$top/util/sanitize/ubsan.supp"

status=0
TEST_NGINX_REAL_BINARY=$out/objs/nginx ABTEST_STATIC=1 \
    "$top/util/run-tests.sh" "$@" || status=$?

# LSan also reports what a failed start (nginx -t, must_die) leaves behind:
# nginx returns from main() with its first pool, a local of main(), still
# allocated.  A report made only of leaks with no module code on their
# allocation stacks is nginx's own: it goes to reports/nginx/, is counted,
# and is no finding.  Anything else (ASan, UBSan, a leak through the
# module) is.
nginx_own() {
    awk -v top="$top" '
        function module(s) {
            return index(s, top "/src/ngx_http_abtest_") \
                || index(s, top "/ngx_http_abtest_module.c") \
                || s ~ / in ngx_http_abtest_/
        }
        /^(Direct|Indirect) leak of / { leak = 1; next }
        leak && /^$/                  { leak = 0; next }
        leak                          { if (module($0)) other = 1; next }
        /^(=+|-+)?$/                                       { next }
        /^==[0-9]+==ERROR: LeakSanitizer: detected memory leaks$/ { next }
        /^SUMMARY: AddressSanitizer: [0-9]+ byte\(s\) leaked/ { next }
        { other = 1 }
        END { exit other }
    ' "$1"
}

mkdir -p "$reports/nginx"
for f in "$reports"/sanitizer*; do
    [ -f "$f" ] || continue
    if nginx_own "$f"; then
        mv "$f" "$reports/nginx/"
    fi
done
own=$(find "$reports/nginx" -type f | wc -l)
[ "$own" = 0 ] || echo "test-sanitize.sh: $own report(s) of nginx's own" \
    "leaks at exit, no module code on their stacks: $reports/nginx/"

found=$(find "$reports" -maxdepth 1 -type f | sort)
if [ -n "$found" ]; then
    for f in $found; do
        echo "==== $f"
        cat "$f"
    done
    echo "test-sanitize.sh: $(echo "$found" | wc -l) sanitizer report(s)" \
         "above (prove exited $status)" >&2
    exit 1
fi

echo "test-sanitize.sh: no sanitizer report (prove exited $status)"
exit "$status"
