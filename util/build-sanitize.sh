#!/bin/sh
# Builds build/sanitize/objs/nginx: Debian's nginx source (util/nginx-source.sh)
# with clang, AddressSanitizer and UndefinedBehaviorSanitizer, --with-debug,
# NGX_DEBUG_PALLOC=1 and the module linked in (--add-module).
#
#   util/build-sanitize.sh
#
# Static, not a .so: an ASan nginx aborts on reload with the dynamic module,
# which exports ngx_modules as the binary does.  configure runs once per
# build directory (again when the flags, the source tree or "config"
# change); later builds only recompile what changed.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/sanitize
objs=$out/objs

src=$("$top/util/nginx-source.sh" "$out/src")

# -O1 and frame pointers: usable stacks at a bearable speed.  UBSan
# recovers (one report per site, the run goes on, the reports fail it at
# the end) so that every finding of a run is seen; ASan stops the process.
# NGX_DEBUG_PALLOC: every pool allocation is its own malloc(), so that
# ASan sees overruns of pool memory instead of landing in a neighbour.
cc_opt='-O1 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls
        -fsanitize=address,undefined -fsanitize-recover=undefined
        -DNGX_DEBUG_PALLOC=1'
ld_opt='-fsanitize=address,undefined'
cc_opt=$(echo $cc_opt)

# Debian's module set (conf_flags of nginx-dev), paths under build/
set -- --with-cc=clang --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
    --with-debug --with-compat --with-threads --with-pcre-jit \
    --with-http_ssl_module --with-http_v2_module \
    --with-http_realip_module --with-http_auth_request_module \
    --with-http_stub_status_module --with-http_dav_module \
    --with-http_slice_module \
    --prefix="$out/nginx" --builddir="$objs" --add-module="$top"

mkdir -p "$objs"
stamp=$objs/.configured-with
want=$(printf '%s\n' "$src" "$@")

if [ ! -f "$objs/Makefile" ] \
   || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
   || [ "$top/config" -nt "$objs/Makefile" ]
then
    echo "build-sanitize.sh: configure in $src"
    (cd "$src" && ./configure "$@") > "$out/configure.log" 2>&1 \
        || { tail -20 "$out/configure.log" >&2; exit 1; }
    printf '%s\n' "$want" > "$stamp"
fi

make -s -j"$(nproc)" -f "$objs/Makefile" -C "$src" binary
echo "built $objs/nginx ($(cat "$out/src/VERSION" 2>/dev/null || echo "?"))"
