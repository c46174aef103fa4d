#!/bin/sh
# Builds the libFuzzer harnesses fuzz/*.c (README.md, "Fuzzing"): nginx from
# Debian's source (util/nginx-source.sh) compiled with clang, coverage for
# libFuzzer (-fsanitize=fuzzer-no-link), ASan and UBSan, --with-debug,
# NGX_DEBUG_PALLOC=1 and the module linked in, under build/fuzz/objs; then
# each harness linked with every nginx object but main(), into
# build/fuzz/bin/<harness>.
#
#   util/build-fuzz.sh
#
# configure runs once per build directory (again when the flags, the
# source tree or "config" change); later builds only recompile what
# changed, and a harness is linked again when it or an object is newer.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/fuzz
objs=$out/objs
bin=$out/bin

# the source tree the sanitizer build uses, fetched once for both
src=$("$top/util/nginx-source.sh" "$top/build/sanitize/src")

# -O1 and frame pointers: usable stacks at a bearable speed.  NGX_DEBUG_PALLOC:
# every pool allocation is its own malloc(), so that ASan sees overruns of
# pool memory and LeakSanitizer sees what a pool never frees.
cc_opt='-O1 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls
        -fsanitize=fuzzer-no-link,address,undefined -DNGX_DEBUG_PALLOC=1'
ld_opt='-fsanitize=address,undefined'
cc_opt=$(echo $cc_opt)

# nginx's default module set: the harnesses call no module but ours
set -- --with-cc=clang --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
    --with-debug --with-compat \
    --prefix="$out/nginx" --builddir="$objs" --add-module="$top"

mkdir -p "$objs" "$bin"
stamp=$objs/.configured-with
want=$(printf '%s\n' "$src" "$@")

if [ ! -f "$objs/Makefile" ] \
   || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
   || [ "$top/config" -nt "$objs/Makefile" ]
then
    echo "build-fuzz.sh: configure in $src"
    (cd "$src" && ./configure "$@") > "$out/configure.log" 2>&1 \
        || { tail -20 "$out/configure.log" >&2; exit 1; }
    printf '%s\n' "$want" > "$stamp"
fi

# the objects, and nginx itself (a check that they link)
make -s -j"$(nproc)" -f "$objs/Makefile" -C "$src" binary


# the libraries of nginx's own link line in objs/Makefile (here "-lyajl
# -lcrypto -lm -lpq -lpcre2-8 -lz")
libs=$(sed -n '/^\t$(LINK) -o /,/^$/p' "$objs/Makefile" \
       | tr ' \t\\' '\n\n\n' | grep '^-l' | awk '!seen[$0]++' | tr '\n' ' ')
[ -n "$libs" ] || { echo "build-fuzz.sh: no libraries in" \
    "$objs/Makefile's link line" >&2; exit 1; }

core=$(find "$objs/src" -name '*.o' ! -path '*/src/core/nginx.o' | sort)
addon=$(find "$objs/addon" -name '*.o' | sort)

# every include directory of nginx's build and the module's
incs="-I$src/src/core -I$src/src/event -I$src/src/event/modules
      -I$src/src/os/unix -I$src/src/http -I$src/src/http/modules
      -I$objs -I$top/src -I$top/fuzz"

cflags="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -DNGX_DEBUG_PALLOC=1 -Wall -Wextra -Wno-unused-parameter
        -Wno-sign-compare -Werror"

# a file is made again when it is missing or older than one it is made of
stale() {
    target=$1
    shift
    [ -f "$target" ] || return 0
    for f in "$@"; do
        [ "$f" -nt "$target" ] && return 0
    done
    return 1
}

# nginx.o without its main(), which libFuzzer brings
if stale "$out/nginx-nomain.o" "$objs/src/core/nginx.o"; then
    llvm-objcopy --redefine-sym main=ngx_fuzz_nginx_main \
        "$objs/src/core/nginx.o" "$out/nginx-nomain.o"
fi

headers=$(ls "$top"/fuzz/*.h "$top"/src/*.h "$objs"/ngx_auto_*.h)

# shellcheck disable=SC2086
if stale "$out/fuzz_common.o" "$top/fuzz/fuzz_common.c" $headers; then
    # shellcheck disable=SC2086
    clang -c $cflags $incs "$top/fuzz/fuzz_common.c" -o "$out/fuzz_common.o"
fi

for c in "$top"/fuzz/fuzz_*.c; do
    name=$(basename "$c" .c)
    name=${name#fuzz_}
    [ "$name" != common ] || continue

    # shellcheck disable=SC2086
    if stale "$out/$name.o" "$c" $headers; then
        # shellcheck disable=SC2086
        clang -c $cflags $incs "$c" -o "$out/$name.o"
    fi

    # shellcheck disable=SC2086
    if stale "$bin/$name" "$out/$name.o" "$out/fuzz_common.o" \
        "$out/nginx-nomain.o" "$objs/ngx_modules.o" $addon $core
    then
        # shellcheck disable=SC2086
        clang -fsanitize=fuzzer,address,undefined -o "$bin/$name" \
            "$out/$name.o" "$out/fuzz_common.o" "$out/nginx-nomain.o" \
            $core "$objs/ngx_modules.o" $addon $libs
    fi
done

echo "built $(ls "$bin" | tr '\n' ' ')in $bin" \
     "(nginx $(cat "$top/build/sanitize/src/VERSION" 2>/dev/null || echo "?"))"
