#!/bin/sh
# make deb: builds the Debian package libnginx-mod-http-abtest the way
# Debian builds its nginx modules (debian/: dh with nginx-dev's
# dh-sequence-nginx), from a copy of the tracked files under build/deb/,
# then runs lintian on it.  The packages end up in build/:
#
#   build/libnginx-mod-http-abtest_<version>_<arch>.deb
#   build/deb/lintian.txt         what lintian said
#
# Installs the build dependencies it lacks (util/install-deps.sh deb).

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

util/install-deps.sh deb

# the build dependencies debian/control names, nginx-abi-... included
# (the nginx the module is built for: Debian's virtual package)
if ! dpkg-checkbuilddeps debian/control; then
    echo "build-deb.sh: the build dependencies above are missing" >&2
    exit 1
fi

version=$(dpkg-parsechangelog -S Version)
module=$(sed -n 's/^#define NGX_HTTP_ABTEST_VERSION  *"\(.*\)"/\1/p' \
         src/ngx_http_abtest_module.h)

if [ "$version" != "$module" ]; then
    echo "build-deb.sh: debian/changelog says $version," \
         "src/ngx_http_abtest_module.h $module" >&2
    exit 1
fi

out=$top/build/deb
src=$out/libnginx-mod-http-abtest-$version
rm -rf "$out"
mkdir -p "$src"

# the tracked files only (a native source package of the checkout): no
# build products, no node_modules
if [ -d .git ] || [ -f .git ]; then
    git ls-files -z | xargs -0 tar -cf - | tar -C "$src" -xf -
else
    tar --exclude=./build --exclude=./node_modules --exclude=./t/servroot \
        -cf - . | tar -C "$src" -xf -
fi

start=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc) > "$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    echo "build-deb.sh: dpkg-buildpackage failed: $out/build.log" >&2
    exit 1
}
end=$(date +%s)

cp "$out"/libnginx-mod-http-abtest_"$version"_*.deb build/
echo "built $(ls build/libnginx-mod-http-abtest_"$version"_*.deb)" \
     "in $((end - start)) s"

# lintian: errors fail the build; warnings are listed (README.md,
# Installation, says which are left and why)
# every level: errors, warnings, info, pedantic, experimental; the
# source package, the binary package and the upload's .changes
lintian --display-level '>=pedantic' --display-experimental \
        "$out"/libnginx-mod-http-abtest_"$version".dsc \
        "$out"/libnginx-mod-http-abtest_"$version"_*.deb \
        "$out"/libnginx-mod-http-abtest_"$version"_*.changes 2>&1 \
    | grep -v '^running with root privileges' > "$out/lintian.txt" || true
cat "$out/lintian.txt"

if grep -q '^E:' "$out/lintian.txt"; then
    echo "build-deb.sh: lintian found errors" >&2
    exit 1
fi
