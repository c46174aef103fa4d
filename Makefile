# ngx_http_abtest_module
#
#   make         build build/ngx_http_abtest_module.so (installs what is missing)
#   make test    build and run the whole test suite
#   make browser-test   only the browser test (util/browser-test.sh)
#   make test-sanitize [T=t/NNN-file.t]   the suite under ASan and UBSan
#   make fuzz [FUZZ_SECONDS=60] [FUZZ=events]   libFuzzer on the parsers
#   make demo    run the demo site on http://127.0.0.1:5000
#   make fleet-demo   the same on three servers sharing PostgreSQL
#                     (127.0.0.1:5001-5003), a load balancer on :5000
#   make bench   run the benchmarks (bench/README.md)
#   make bench-fleet   only the fleet's: a write's propagation (bench/fleet.sh)
#   make bench-ship    only the shipper's: events into PostgreSQL by rsyslog
#                      (bench/ship.sh)
#   make simulate N=1000 [ARGS=--http]   simulate visits of the demo
#   make deb     the Debian package build/libnginx-mod-http-abtest_*.deb
#   make test-deb   the package installed into a clean Debian root
#
# NGINX_SRC=/path/to/nginx-x.y.z make   builds against another source tree.

MODULE  = build/ngx_http_abtest_module.so
SOURCES = config ngx_http_abtest_module.c $(wildcard src/*.c src/*.h)

.PHONY: all deps test browser-test test-sanitize fuzz demo fleet-demo bench \
        bench-fleet bench-ship style clean simulate deb test-deb

N ?= 1000
FUZZ_SECONDS ?= 60

all: deps $(MODULE)

deps:
	@util/install-deps.sh build

$(MODULE): $(SOURCES)
	util/build.sh

# the admin page and the store's schema are built into the module
src/ngx_http_abtest_admin_page.h: admin/admin.html util/html2c.pl
	util/html2c.pl admin/admin.html > $@

src/ngx_http_abtest_store_sql.h: sql/abtest.sql util/sql2c.pl
	util/sql2c.pl sql/abtest.sql > $@

test: deps
	@util/install-deps.sh test
	$(MAKE) $(MODULE)
	util/style-check.sh
	util/run-tests.sh $(T)
	@[ -n "$(T)" ] || util/test-nostore.sh
	@[ -n "$(T)" ] || util/browser-test.sh

# the browser test alone, on 127.0.0.1:5050 (or BROWSER_TEST_PORT)
browser-test: all
	util/browser-test.sh

# nginx from Debian's source with the module built in, clang's ASan and
# UBSan; fails on any sanitizer report (README.md, "Sanitizers")
test-sanitize: src/ngx_http_abtest_admin_page.h
	@util/install-deps.sh test sanitize
	util/build-sanitize.sh
	util/test-sanitize.sh $(T)

# libFuzzer harnesses of the parsers of client input, linked with nginx
# built from Debian's source with ASan and UBSan: the regressions, the
# seed corpus, then FUZZ_SECONDS of fuzzing each (0: replay only);
# fails on any crash, leak or report (README.md, "Fuzzing")
fuzz: src/ngx_http_abtest_admin_page.h
	@util/install-deps.sh fuzz
	util/build-fuzz.sh
	FUZZ_SECONDS=$(FUZZ_SECONDS) util/fuzz.sh $(FUZZ)

demo: all
	util/demo.sh

fleet-demo: all
	@util/install-deps.sh fleet
	util/fleet-demo.sh

simulate: all
	util/simulate.sh -n $(N) $(ARGS)

# the side-by-side table last (bench/side-by-side.pl): bare, the module,
# userid + split_clients and the OpenResty peer, from run.sh and events.sh
bench: all
	@util/install-deps.sh bench
	bench/run.sh
	bench/events.sh
	bench/fleet.sh
	@bench/side-by-side.pl bench/results | tee bench/results/side-by-side.md

bench-fleet: all
	@util/install-deps.sh bench
	bench/fleet.sh

# Debian's way (debian/, dh-sequence-nginx), then lintian (README.md,
# Installation)
deb:
	util/build-deb.sh

# the package installed with apt-get into a debootstrapped bookworm
# root, Debian's nginx started there with the Synopsis (needs root)
test-deb: deb
	util/test-deb.sh

bench-ship: all
	@util/install-deps.sh bench
	bench/ship.sh

style:
	util/style-check.sh

clean:
	rm -rf build t/servroot
