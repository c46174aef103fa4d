#!/bin/sh
# make test-deb: the Debian package tested as a user would use it.
#
#   util/test-deb.sh [build/libnginx-mod-http-abtest_<version>_<arch>.deb]
#
# A clean Debian root (debootstrap, minbase) under build/deb-test/root;
# there, `apt-get install ./libnginx-mod-http-abtest_*.deb` (nginx, libyajl2
# and libpq5 come from the mirror), the files and the state directory
# checked, Debian's nginx started in the root (chroot) with the README's
# Synopsis, the installed example, on 127.0.0.1:TEST_DEB_PORT (default
# 8480, its two backends on the next ports), and the device cookie, the
# variables (SSI and the upstream the Synopsis proxies to, against the
# seed's rule computed here), the write API (the state file written under
# /var/lib/nginx/abtest) and an event (the events log, the ring, the
# statistics) checked; then `apt-get remove` leaves nginx working, and
# purge takes the state.
#
# Needs root.  The mirror is the one of the machine's own apt sources;
# the base system's packages are kept in build/deb-test/bookworm.tgz
# (debootstrap --make-tarball) for the next runs.  Mounts (/proc, /dev) and
# the chroot's nginx are cleaned up on every exit.  KEEP_ROOT=1 keeps the
# root afterwards.

set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

say() { echo "test-deb.sh: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
ok() { echo "ok - $*"; }

[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, chroot)"; exit 1; }

arch=$(dpkg --print-architecture)
deb=${1:-$(ls build/libnginx-mod-http-abtest_*_"$arch".deb 2>/dev/null \
           | tail -1)}
[ -n "$deb" ] && [ -f "$deb" ] || fail "no package: run make deb"

util/install-deps.sh deb

. /etc/os-release
codename=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}

# the mirror of the distribution's own deb entries (deb822 or one-line)
mirror=$(awk -v codename="$codename" '
    /^Types:/ { types = $0 }
    /^URIs:/ { uris = $2 }
    /^Suites:/ { suites = $0 }
    /^$/ { if (types ~ / deb( |$)/ && suites ~ (" " codename "( |$)") \
               && uris != "" && !found) { print uris; found = 1 }
           types = ""; uris = ""; suites = "" }
    END { if (types ~ / deb( |$)/ && suites ~ (" " codename "( |$)") \
              && uris != "" && !found) print uris }
' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)

if [ -z "$mirror" ]; then
    mirror=$(awk -v codename="$codename" \
                 '$1 == "deb" && $3 == codename { print $2; exit }' \
                 /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                 2>/dev/null | head -1)
fi

[ -n "$mirror" ] || fail "no deb entry for $codename in /etc/apt"

work=$top/build/deb-test
root=$work/root
tarball=$work/$codename.tgz
port=${TEST_DEB_PORT:-8480}
http=http://127.0.0.1:$port
device=deb-test-device

mkdir -p "$work"


# what is mounted under the root, deepest first
mounts() {
    awk -v root="$root" '$2 == root || index($2, root "/") == 1 { print $2 }' \
        /proc/mounts | sort -r
}

stop_nginx() {
    pidfile=$root/run/nginx-test.pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill -QUIT "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

cleanup() {
    status=$?
    stop_nginx || true
    for m in $(mounts); do
        umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    if [ $status = 0 ] && [ "${KEEP_ROOT:-0}" != 1 ] && [ -z "$(mounts)" ]
    then
        rm -rf "$root"
    fi
    exit $status
}

trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                   LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# polls a shell condition, at most $1 seconds
wait_until() {
    seconds=$1; shift
    end=$(($(date +%s) + seconds))
    while ! eval "$@"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# the seed's rule, computed here (t/lib/ABTest/Oracle.pm)
oracle() {
    perl -I"$top/t/lib" -MABTest::Oracle=seed_group -e '
        my ($device, $exp, @groups) = @ARGV;
        print seed_group($device, $exp, [map { [split /=/] } @groups]);
    ' "$@"
}

start=$(date +%s)


# a clean root: from the kept base system, or downloaded once

for m in $(mounts); do umount "$m" || umount -l "$m"; done
rm -rf "$root"

if [ ! -f "$tarball" ]; then
    say "debootstrap: downloading the $codename base system from $mirror"
    rm -rf "$work/tarball-root" "$tarball.tmp"
    debootstrap --variant=minbase --make-tarball="$tarball.tmp" \
        "$codename" "$work/tarball-root" "$mirror" > "$work/debootstrap.log" \
        2>&1 || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
    mv "$tarball.tmp" "$tarball"
    rm -rf "$work/tarball-root"
fi

debootstrap --variant=minbase --unpack-tarball="$tarball" "$codename" \
    "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
ok "a clean $codename root ($(($(date +%s) - start)) s)"

mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"

cp /etc/resolv.conf "$root/etc/resolv.conf"

# no service starts in the root: it shares this machine's network, and
# nginx's own postinst would start it on port 80
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

echo "deb $mirror $codename main" > "$root/etc/apt/sources.list"


# the package, installed as a user does

cp "$deb" "$root/tmp/"
name=$(basename "$deb")

in_root apt-get update -q > "$work/apt.log" 2>&1 \
    || { tail -20 "$work/apt.log" >&2; fail "apt-get update"; }
in_root apt-get install -y -q --no-install-recommends "./tmp/$name" \
    >> "$work/apt.log" 2>&1 \
    || { tail -20 "$work/apt.log" >&2; fail "apt-get install ./$name"; }
ok "apt-get install ./$name ($(($(date +%s) - start)) s)"

[ -f "$root/usr/lib/nginx/modules/ngx_http_abtest_module.so" ] \
    || fail "no /usr/lib/nginx/modules/ngx_http_abtest_module.so"
grep -qx 'load_module modules/ngx_http_abtest_module.so;' \
    "$root/usr/share/nginx/modules-available/mod-http-abtest.conf" \
    || fail "mod-http-abtest.conf does not load the module"
[ "$(readlink "$root/etc/nginx/modules-enabled/50-mod-http-abtest.conf")" \
  = /usr/share/nginx/modules-available/mod-http-abtest.conf ] \
    || fail "modules-enabled has no link to mod-http-abtest.conf"
[ "$(in_root stat -c '%U:%G %a' /var/lib/nginx/abtest)" = \
  "www-data:www-data 700" ] \
    || fail "/var/lib/nginx/abtest: $(in_root stat -c '%U:%G %a' \
                                       /var/lib/nginx/abtest)"
example=usr/share/doc/libnginx-mod-http-abtest/examples/synopsis.conf
[ -f "$root/$example" ] || fail "no /$example"
in_root dpkg -s nginx | grep -q '^Provides:.*nginx-abi-' \
    || fail "the nginx installed provides no nginx-abi"
for lib in libyajl2 libpq5; do
    in_root dpkg -s "$lib" >/dev/null 2>&1 || fail "$lib not installed"
done
ok "the module, mod-http-abtest.conf enabled, /var/lib/nginx/abtest" \
   "for www-data, the example, nginx, libyajl2 and libpq5"


# Debian's nginx with the Synopsis (the installed example) in the main
# context of Debian's nginx.conf (its user, modules-enabled, which loads
# the module: the Synopsis' load_module line goes), on our ports, with the
# two backends it proxies to

b1=$((port + 1))
b2=$((port + 2))

{
    echo "user www-data;"
    echo "pid /run/nginx-test.pid;"
    echo "error_log /var/log/nginx/abtest-test-error.log info;"
    echo "include /etc/nginx/modules-enabled/*.conf;"
    echo "events {}"
    sed -e '/^load_module /d' \
        -e "s/listen 127.0.0.1:8080;/listen 127.0.0.1:$port;/" \
        -e "s/127.0.0.1:8001;/127.0.0.1:$b1;/" \
        -e "s/127.0.0.1:8002;/127.0.0.1:$b2;/" \
        -e 's|^http {|http {\n    include /etc/nginx/abtest-backends.conf;|' \
        "$root/$example"
} > "$root/etc/nginx/abtest-test.conf"

cat > "$root/etc/nginx/abtest-backends.conf" <<EOF
server { listen 127.0.0.1:$b1; return 200 "A \$http_x_ab_groups\n"; }
server { listen 127.0.0.1:$b2; return 200 "B \$http_x_ab_groups\n"; }
EOF

mkdir -p "$root/usr/share/nginx/html/static"
echo '<!--# echo var="ab_group_headline_test" -->' \
    > "$root/usr/share/nginx/html/static/group.html"

in_root nginx -t -q -c /etc/nginx/abtest-test.conf \
    || fail "nginx -t with the Synopsis"
in_root nginx -c /etc/nginx/abtest-test.conf || fail "nginx did not start"
wait_until 10 'curl -s -o /dev/null "$http/static/group.html"' \
    || fail "nginx does not answer on $http"
ok "Debian's nginx runs the Synopsis on $http"

# a new device gets its cookie
headers=$(curl -s -D - -o /dev/null "$http/static/group.html")
echo "$headers" | grep -Eqi '^Set-Cookie: device_id=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12};' \
    || fail "no UUIDv4 device cookie in: $headers"
ok "a new device gets a device_id cookie (a UUIDv4)"

# the variables: SSI, and the upstream chosen by $ab_group
button=$(oracle "$device" homepage_button_test A=50 B=50)
headline=$(oracle "$device" headline_test Future=50 Journey=50)

got=$(curl -s -b "device_id=$device" "$http/static/group.html")
[ "$got" = "$headline" ] \
    || fail "\$ab_group_headline_test is \"$got\", the rule says $headline"
got=$(curl -s -b "device_id=$device" "$http/")
want="$button homepage_button_test=$button,headline_test=$headline"
[ "$got" = "$want" ] || fail "the upstream answered \"$got\", not \"$want\""
ok "\$ab_group_headline_test ($headline), \$ab_group routing to" \
   "backend_$button and \$ab_groups as the seed's rule says"

# the write API: the change is live and in the state file
state=$root/var/lib/nginx/abtest/state.json
answer=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' \
         -d '{"name": "headline_test", "state": "inactive"}' \
         "$http/api/experiments/update")
case $answer in
*'"state":"inactive"'*' 200') ;;
*) fail "the update answered: $answer" ;;
esac
[ "$(in_root stat -c %U /var/lib/nginx/abtest/state.json)" = www-data ] \
    || fail "no state file of www-data's in /var/lib/nginx/abtest"
perl -MJSON::PP -e '
    local $/; open my $fh, "<", $ARGV[0] or die "$ARGV[0]: $!";
    my $s = decode_json(<$fh>);
    my $e = $s->{experiments}{headline_test};
    exit(($e && ($e->{state} // "") eq "inactive") ? 0 : 1);
' "$state" || fail "the state file does not say headline_test is inactive"
got=$(curl -s -b "device_id=$device" "$http/static/group.html")
[ "$got" = Future ] || fail "inactive, the headline is \"$got\", not Future"
ok "the write API: headline_test inactive, in /var/lib/nginx/abtest/" \
   "state.json (www-data's), its fallback served"

# an event: answered, in the ring, in the events log, counted
answer=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' \
         -b "device_id=$device" -d '{"event": "pageview"}' "$http/events")
case $answer in
'{"status":"ok"}'?' 200') ;;
*) fail "the event answered: $answer" ;;
esac
curl -s "$http/events" | grep -q "\"deviceId\":\"$device\"" \
    || fail "the event is not in the ring"
wait_until 5 'grep -q "\"event\":\"pageview\",\"deviceId\":\"$device\"" \
                  "$root/var/log/nginx/abtest-events.log" 2>/dev/null' \
    || fail "the event is not in /var/log/nginx/abtest-events.log"
curl -s "$http/api/stats" | perl -MJSON::PP -e '
    local $/; my $s = decode_json(<STDIN>);
    exit(($s->{homepage_button_test}{groups}{$ARGV[0]}{exposures} // 0) == 1
         ? 0 : 1);
' "$button" || fail "the event is not counted in group $button"
ok "an event: 200, in the ring, in the events log, counted in group $button"

stop_nginx
grep -E '\[(alert|emerg|crit)\]' \
    "$root/var/log/nginx/abtest-test-error.log" \
    && fail "nginx logged the above"


# apt-get remove: nginx goes on without the module

in_root apt-get remove -y -q libnginx-mod-http-abtest >> "$work/apt.log" \
    2>&1 || { tail -20 "$work/apt.log" >&2; fail "apt-get remove"; }

[ ! -e "$root/usr/lib/nginx/modules/ngx_http_abtest_module.so" ] \
    || fail "the module is still there"
[ ! -e "$root/etc/nginx/modules-enabled/50-mod-http-abtest.conf" ] \
    || fail "the module is still enabled"
in_root nginx -t -q || fail "nginx -t fails with Debian's nginx.conf"

cat > "$root/etc/nginx/plain-test.conf" <<EOF
pid /run/nginx-test.pid;
error_log /var/log/nginx/abtest-test-error.log;
include /etc/nginx/modules-enabled/*.conf;
events {}
http { server { listen 127.0.0.1:$port; return 200 "plain\n"; } }
EOF

in_root nginx -c /etc/nginx/plain-test.conf || fail "nginx did not start"
wait_until 10 '[ "$(curl -s "$http/")" = plain ]' \
    || fail "nginx does not serve after the removal"
stop_nginx
[ -f "$state" ] || fail "remove took the state file (only purge should)"
ok "apt-get remove: the module gone and disabled, nginx -t passes," \
   "nginx serves; the state is kept"

in_root apt-get purge -y -q libnginx-mod-http-abtest >> "$work/apt.log" \
    2>&1 || fail "apt-get purge"
[ ! -e "$root/var/lib/nginx/abtest" ] || fail "purge left /var/lib/nginx/abtest"
ok "apt-get purge takes /var/lib/nginx/abtest"

echo "test-deb.sh: all passed in $(($(date +%s) - start)) s"
