#!/bin/sh
# Runs the libFuzzer harnesses built by util/build-fuzz.sh (README.md,
# "Fuzzing: make fuzz"): for each harness, its regression inputs
# (fuzz/regressions/<harness>/), then its seed corpus (fuzz/corpus/<harness>/)
# and FUZZ_SECONDS of fuzzing from it; fails on any crash, leak, time-out
# or sanitizer report.  FUZZ_SECONDS=0 replays the regressions and the
# corpus only.
#
#   util/fuzz.sh [harness ...]              (default: every harness)
#   FUZZ_SECONDS=300 util/fuzz.sh events
#
# What fuzzing finds goes to build/fuzz/corpus/<harness>/ (never into the
# committed corpus), crashing inputs to build/fuzz/artifacts/<harness>/,
# each run's output to build/fuzz/logs/<harness>.log.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/fuzz
seconds=${FUZZ_SECONDS:-60}

case $seconds in
''|*[!0-9]*) echo "fuzz.sh: FUZZ_SECONDS must be a number of seconds" >&2
             exit 2 ;;
esac

# shellcheck disable=SC2046
[ "$#" -gt 0 ] || set -- $(cd "$top/fuzz" && ls fuzz_*.c \
                           | sed 's/^fuzz_//; s/\.c$//' | grep -v '^common$')

# ASan stops at its first error; UBSan too (halt_on_error), less nginx
# core's own idioms (util/sanitize/ubsan.supp); LeakSanitizer checks
# after every input that allocated more than it freed (-detect_leaks).
export ASAN_OPTIONS="detect_leaks=1,detect_stack_use_after_return=1\
,external_symbolizer_path=$top/util/sanitize/llvm-symbolizer\
,abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1,report_error_type=1\
,halt_on_error=1,suppressions=$top/util/sanitize/ubsan.supp"

status=0
summary=

for h in "$@"; do
    bin=$out/bin/$h
    [ -x "$bin" ] || { echo "fuzz.sh: no harness $bin" \
                       "(util/build-fuzz.sh)" >&2; exit 1; }

    mkdir -p "$out/corpus/$h" "$out/artifacts/$h" "$out/logs" \
             "$top/fuzz/corpus/$h"
    log=$out/logs/$h.log
    : > "$log"

    # libFuzzer's options (the loop's list was taken already); -timeout:
    # an input that takes seconds is a finding too
    set -- -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$h/"

    failed=
    regressions=$(find "$top/fuzz/regressions/$h" -type f 2>/dev/null \
                  | sort)

    if [ -n "$regressions" ]; then
        # shellcheck disable=SC2086
        "$bin" "$@" $regressions >> "$log" 2>&1 || failed=regressions
    fi

    if [ -z "$failed" ]; then
        if [ "$seconds" = 0 ]; then
            "$bin" "$@" -runs=0 "$out/corpus/$h" "$top/fuzz/corpus/$h" \
                >> "$log" 2>&1 || failed=corpus
        else
            "$bin" "$@" -max_total_time="$seconds" \
                "$out/corpus/$h" "$top/fuzz/corpus/$h" \
                >> "$log" 2>&1 || failed=fuzzing
        fi
    fi

    # a report that did not stop the run still fails it
    if [ -z "$failed" ] && grep -q -E 'runtime error:|Sanitizer' "$log"
    then
        failed=report
    fi

    stats=$(grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | tail -1 \
            | sed 's/^#\([0-9]*\)[[:space:]]*[A-Z]*[[:space:]]*/\1 runs, /')
    line="$h: ${failed:-ok} (${stats:-no run}) $log"
    summary="$summary$line
"
    echo "fuzz.sh: $line"

    if [ -n "$failed" ]; then
        status=1
        grep -E -A30 '^==[0-9]+==ERROR|runtime error:|check failed|not the' \
            "$log" | head -60 >&2 || true
        ls "$out/artifacts/$h"/* 2>/dev/null | sed 's/^/    artifact: /' >&2 \
            || true
    fi
done

printf 'fuzz.sh: summary\n%s' "$summary"
[ "$status" = 0 ] || echo "fuzz.sh: failed; keep each crashing input as" \
    "fuzz/regressions/<harness>/<name> (README.md, \"Fuzzing\")" >&2
exit "$status"
