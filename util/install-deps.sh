#!/bin/sh
# Installs the Debian packages a make target needs, only those missing.
#
#   util/install-deps.sh build|test|bench|fleet|browser|sanitize|fuzz ...

set -eu

pkgs=
for what in "$@"; do
    case $what in
    build)   pkgs="$pkgs nginx nginx-dev libssl-dev libyajl-dev libpq-dev
                   dpkg-dev" ;;
    test)    pkgs="$pkgs tini curl libtest-base-perl libtext-diff-perl
                   libtest-longstring-perl libwww-perl libhttp-message-perl
                   libipc-run-perl liburi-perl liblist-moreutils-perl
                   postgresql rsyslog rsyslog-pgsql python3-scipy
                   prometheus" ;;
    # the OpenResty peer (bench/openresty/): Debian's lua module for its
    # nginx, cjson and the LRU cache (lua-resty-core brings it, named
    # here as the peer requires it)
    bench)   pkgs="$pkgs wrk valgrind curl postgresql rsyslog rsyslog-pgsql
                   libnginx-mod-http-lua lua-cjson lua-resty-lrucache" ;;
    fleet)   pkgs="$pkgs curl postgresql rsyslog rsyslog-pgsql" ;;
    sanitize)
        # nginx built from Debian's source package with clang's ASan and
        # UBSan (util/build-sanitize.sh): the sanitizer runtimes
        # (libclang-rt-dev) are only a recommendation of clang's, llvm has
        # the symbolizer for the reports, dpkg-dev unpacks the source;
        # nginx's own libraries (pcre2, zlib, OpenSSL) and the module's
        pkgs="$pkgs clang libclang-rt-dev llvm dpkg-dev make
              libpcre2-dev zlib1g-dev libssl-dev libyajl-dev libpq-dev"
        ;;
    fuzz)
        # the libFuzzer harnesses (util/build-fuzz.sh): what the sanitizer
        # build needs, where clang's runtimes (libclang-rt-dev) bring
        # libFuzzer too and llvm brings llvm-objcopy (nginx.o without
        # its main)
        pkgs="$pkgs clang libclang-rt-dev llvm dpkg-dev make
              libpcre2-dev zlib1g-dev libssl-dev libyajl-dev libpq-dev"
        ;;
    browser)
        # Debian's chromium, driven by npm's playwright-core (which never
        # downloads a browser here).  node and npm: whatever is on PATH
        # (playwright-core needs node 18 or later), else Debian's own;
        # another vendor's nodejs package conflicts with Debian's npm.
        pkgs="$pkgs chromium"
        command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
        command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
        ;;
    deb)
        # make deb: Debian's way of building nginx modules (nginx-dev's
        # dh-sequence-nginx, debhelper), the module's libraries, lintian;
        # util/test-deb.sh: debootstrap for a clean Debian root
        pkgs="$pkgs nginx nginx-dev build-essential debhelper dpkg-dev lintian
              libssl-dev libyajl-dev libpq-dev debootstrap"
        ;;
    *)       echo "install-deps.sh: unknown set \"$what\"" >&2; exit 2 ;;
    esac
done

missing=
for p in $pkgs; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null \
         | grep -q 'install ok installed'
    then
        missing="$missing $p"
    fi
done

[ -n "$missing" ] || exit 0

echo "installing:$missing"

sudo=
if [ "$(id -u)" != 0 ]; then
    sudo=sudo
fi

export DEBIAN_FRONTEND=noninteractive

# rsyslog-pgsql asks dbconfig-common to make a database "Syslog" for the
# system's rsyslog and writes /etc/rsyslog.d/pgsql.conf for it: not
# wanted (the tests and bench/ship.sh run rsyslogd of their own), and
# it fails without a local PostgreSQL
case $missing in
*rsyslog-pgsql*)
    echo "rsyslog-pgsql rsyslog-pgsql/dbconfig-install boolean false" \
        | $sudo debconf-set-selections ;;
esac

$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing

# the tests start a Prometheus of their own (t/026-metrics.t); the
# package's service, which its installation may start, is not needed
case " $missing " in
*" prometheus "*)
    if [ -d /run/systemd/system ]; then
        $sudo systemctl disable --now prometheus || true
    elif [ -x /etc/init.d/prometheus ]; then
        $sudo /etc/init.d/prometheus stop || true
        $sudo update-rc.d prometheus disable || true
    fi
    ;;
esac
