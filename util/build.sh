#!/bin/sh
# Builds build/ngx_http_abtest_module.so.
#
#   util/build.sh                       against Debian's nginx-dev tree
#   NGINX_SRC=/path/nginx-x.y.z util/build.sh   against another source tree
#
# nginx's configure runs once per build directory (it only writes there);
# later builds only recompile what changed.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
src=${NGINX_SRC:-/usr/share/nginx/src}

if [ ! -x "$src/configure" ] && [ ! -x "$src/auto/configure" ]; then
    echo "build.sh: no nginx source tree at $src" >&2
    echo "  (Debian: apt-get install nginx-dev, or set NGINX_SRC)" >&2
    exit 1
fi

mkdir -p "$build/objs"

stamp="$build/objs/.configured-from"

# configure again for another tree, or when "config" (the list of sources)
# changed since
if [ ! -f "$build/objs/Makefile" ] \
   || [ "$(cat "$stamp" 2>/dev/null)" != "$src" ] \
   || [ "$top/config" -nt "$build/objs/Makefile" ]
then
    cd "$src"
    configure=./configure
    [ -x ./configure ] || configure=./auto/configure

    if [ "$src" = /usr/share/nginx/src ] && [ -f conf_flags ]; then
        # Debian's own flags, so that Debian's binary accepts the module
        flags=$(bash -c '. ./conf_flags; printf "%s\n" "${NGX_CONF_FLAGS[@]}"')
        cc_opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)"
        ld_opt="$(dpkg-buildflags --get LDFLAGS) -fPIC"
        echo "$flags" | tr '\n' '\0' | xargs -0 "$configure" \
            --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
            --add-dynamic-module="$top" --builddir="$build/objs" \
            > "$build/configure.log" 2>&1 \
            || { tail -20 "$build/configure.log" >&2; exit 1; }
    else
        "$configure" --with-compat --add-dynamic-module="$top" \
            --builddir="$build/objs" > "$build/configure.log" 2>&1 \
            || { tail -20 "$build/configure.log" >&2; exit 1; }
    fi

    echo "$src" > "$stamp"
fi

make -s -f "$build/objs/Makefile" -C "$src" modules
# a new file, not the old one rewritten: a running nginx has it mapped
cp "$build/objs/ngx_http_abtest_module.so" "$build/.ngx_http_abtest_module.so"
mv -f "$build/.ngx_http_abtest_module.so" "$build/ngx_http_abtest_module.so"
echo "built $build/ngx_http_abtest_module.so"
