#!/bin/sh
# Unpacks Debian's nginx source package under DIR (default build/sanitize/src)
# and prints the path of the tree (DIR/nginx-x.y.z).  Nothing is downloaded
# when a tree is already there.
#
#   util/nginx-source.sh [DIR]
#
# apt needs a deb-src entry: one is added (ngx-abtest-src.sources or .list
# in /etc/apt/sources.list.d) with the URIs, suites and components of the
# distribution's own deb entries.  The newest version's .dsc can be missing
# on a mirror (the security one has lacked it) while older ones are there:
# the candidate is tried first, then every version apt knows, newest first.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build/sanitize/src}

say() { echo "nginx-source.sh: $*" >&2; }

tree() {
    for d in "$dir"/nginx-*/; do
        [ -x "$d/auto/configure" ] || [ -x "$d/configure" ] || continue
        echo "${d%/}"
        return 0
    done
    return 1
}

if tree >/dev/null; then
    tree
    exit 0
fi

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo

. /etc/os-release
codename=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
etc=/etc/apt/sources.list.d

have_src() {
    apt-cache showsrc nginx 2>/dev/null | grep -q '^Version:'
}

# deb-src stanzas for the deb822 stanzas whose suites are the
# distribution's (codename, codename-updates, codename-security): other
# vendors' repositories (node, cloud tools) often have no sources
deb822_src() {
    awk -v codename="$codename" '
        function flush() {
            if (types ~ /(^| )deb( |$)/ && types !~ /deb-src/ \
                && suites ~ ("(^| )" codename "([- ]|$)") && uris != "") {
                print "Types: deb-src"
                print "URIs: " uris
                print "Suites: " suites
                print "Components: " comps
                if (signed != "") print "Signed-By: " signed
                print ""
            }
            types = uris = suites = comps = signed = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        { key = tolower($1); sub(/^[^:]*:[ \t]*/, "") }
        key == "types:"      { types = $0 }
        key == "uris:"       { uris = $0 }
        key == "suites:"     { suites = $0 }
        key == "components:" { comps = $0 }
        key == "signed-by:"  { signed = $0 }
        END { flush() }
    ' "$@"
}

# the same for one-line entries: "deb [options] uri suite components"
list_src() {
    awk -v codename="$codename" '
        $1 == "deb" {
            i = 2
            if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) ~ ("^" codename "(-|$)")) {
                sub(/^deb/, "deb-src"); print
            }
        }
    ' "$@"
}

if ! have_src; then
    # only the files apt reads (*.sources, *.list), not disabled copies
    sources=$(ls /etc/apt/sources.list.d/*.sources 2>/dev/null \
              | grep -v '/ngx-abtest-src\.sources$' || true)
    lists=$(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            2>/dev/null | grep -v '/ngx-abtest-src\.list$' || true)
    src822=
    srclist=
    # shellcheck disable=SC2086
    [ -z "$sources" ] || src822=$(deb822_src $sources)
    # shellcheck disable=SC2086
    [ -z "$lists" ] || srclist=$(list_src $lists)
    if [ -z "$src822$srclist" ]; then
        say "no deb entry for $codename in /etc/apt: cannot add deb-src"
        exit 1
    fi
    if [ -n "$src822" ]; then
        say "adding $etc/ngx-abtest-src.sources:"
        printf '%s\n' "$src822" | sed 's/^/    /' >&2
        printf '# added by util/nginx-source.sh (apt-get source nginx)\n%s\n' \
            "$src822" | $sudo tee "$etc/ngx-abtest-src.sources" >/dev/null
    fi
    if [ -n "$srclist" ]; then
        say "adding $etc/ngx-abtest-src.list:"
        printf '%s\n' "$srclist" | sed 's/^/    /' >&2
        printf '# added by util/nginx-source.sh (apt-get source nginx)\n%s\n' \
            "$srclist" | $sudo tee "$etc/ngx-abtest-src.list" >/dev/null
    fi
    # a repository without an index of its own must not stop us: what
    # counts is whether nginx's sources are known afterwards
    $sudo apt-get update -q >&2 || say "apt-get update failed (going on)"
    if ! have_src; then
        say "apt knows no nginx source package even with deb-src"
        exit 1
    fi
fi

command -v dpkg-source >/dev/null 2>&1 \
    || { say "dpkg-source missing (apt-get install dpkg-dev)"; exit 1; }

# the candidate first ("" = apt's choice), then every version known
versions=$( {
    apt-cache showsrc nginx | sed -n 's/^Version: //p'
    apt-cache madison nginx | awk -F'|' '$3 ~ /Sources/ {
        gsub(/ /, "", $2); print $2 }'
} | awk '!seen[$0]++' | sort -r -V)

mkdir -p "$dir"
cd "$dir"
for v in "" $versions; do
    spec=nginx${v:+=$v}
    say "apt-get source $spec"
    # a failed try may leave part of a download behind
    rm -rf nginx-*/
    if apt-get source -q "$spec" > "$dir/apt-get-source.log" 2>&1 && tree \
       >/dev/null
    then
        got=$(dpkg-parsechangelog -l "$(tree)/debian/changelog" -S Version)
        say "using Debian's nginx $got ($(tree))"
        echo "$got" > "$dir/VERSION"
        tree
        exit 0
    fi
    tail -5 "$dir/apt-get-source.log" | sed 's/^/    /' >&2
done

say "no version of nginx's source package could be fetched"
exit 1
