# vim:set ft= ts=4 sw=4 et fdm=marker:

# abtest_api metrics, the Prometheus text exposition:
#
# * the format read here (t/lib/ABTest/Metrics.pm: every family with HELP
#   and TYPE, none twice, samples inside their family, counters named
#   _total, label values escaped) and by `promtool check metrics`;
# * the values against counts computed here from the events posted (the
#   devices' groups from the seed's rule, ABTest::Oracle; the SRM p-value
#   from ABTest::Stats), the answers of the events locations by status,
#   the ring, the experiments per state, the state version moving with
#   an update; the events log's buffered bytes, then written;
# * GET and HEAD only (405 with Allow), a JSON error for arguments;
# * a real Prometheus server (Debian's prometheus, started here on
#   127.0.0.1 with its own configuration and data directory) scraping
#   the location every second, its query API polled until it answers
#   the module's series with the values expected here (the README's
#   PromQL: the conversion rate per group, the SRM p-value).

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);
use ABTest::Json qw(json_body_check approx);
use ABTest::Metrics qw(parse_exposition sample_key promtool_check);
use ABTest::Stats qw(srm);
use ABTest::Nginx qw(mount_tmpfs unmount fill_fs wait_for);
use ABTest::Pg;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use Time::HiRes ();

master_on();
workers(2);

our $Tmp = tempdir('abtest-metrics-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# the experiments as configured below, for the computations here
our %Exps = (
    homepage_button_test => { groups => [[A => 50], [B => 50]],
                              exposure => 'pageview',
                              goal => 'button_click',
                              events => ['we"ird\\name', 'scroll'],
                              state => 'active' },
    three_way => { groups => [[X => 1], [Y => 1], [Z => 2]],
                   exposure => 'view', goal => 'buy', events => [],
                   state => 'active' },
    off_test => { groups => [[P => 1], [Q => 1]], exposure => 'pageview',
                  goal => 'button_click', events => [],
                  state => 'inactive' },
    rolled => { groups => [[R => 1], [S => 1]], exposure => 'pageview',
                goal => 'button_click', events => [], state => 'rollout' },
);

our $HttpConfig = <<'_EOC_';
    abtest_zone zone=abtest:1m;
    abtest_events_log logs/abtest-events.log;

    abtest_experiment homepage_button_test {
        group    A 50;
        group    B 50;
        events   'we"ird\\name' scroll;
    }

    abtest_experiment three_way {
        group    X 1;
        group    Y 1;
        group    Z 2;
        fallback Z;
        exposure view;
        goal     buy;
    }

    abtest_experiment off_test {
        group    P 1;
        group    Q 1;
        state    inactive;
    }

    abtest_experiment rolled {
        group    R 1;
        group    S 1;
        state    rollout;
        rollout  S;
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;

    location = /events {
        abtest_api events trusted=on;
    }

    location = /own/events {
        abtest_api events;
    }

    location = /metrics {
        abtest_api metrics;
    }

    location /api/experiments {
        abtest_api experiments write=on;
    }
_EOC_


# every family the module writes with a zone and an events log, no store
our @Families = qw(
    abtest_info abtest_experiments abtest_experiment_state
    abtest_group_weight abtest_statistics_start_timestamp_seconds
    abtest_exposures_total abtest_conversions_total abtest_events_total
    abtest_other_events_total abtest_state_version abtest_zone_size_bytes
    abtest_zone_used_bytes abtest_ring_events abtest_ring_capacity_events
    abtest_ring_evicted_events_total abtest_event_requests_total
    abtest_events_accepted_total abtest_events_log_write_errors_total
    abtest_events_log_buffered_bytes abtest_exposed_devices
    abtest_converted_devices abtest_multiple_devices abtest_devices_complete
    abtest_devices_table_records abtest_devices_table_capacity_records
);

our @Statuses = qw(200 400 403 405 408 413 415 421 500 503 other);


# [device, event name] pairs: the plan of what is sent
sub events_plan {
    my ($n, $rule) = @_;
    my @events;
    for my $i (1 .. $n) {
        my $d = "metrics-device-$i";
        push @events, map { [$d, $_] } $rule->($i, $d);
    }
    return @events;
}


sub json_str {
    my ($s) = @_;
    $s =~ s/(["\\])/\\$1/g;
    return qq{"$s"};
}


# the events of a plan as POST requests of at most 1000 events
sub posts {
    my (@events) = @_;
    my @posts;
    while (my @batch = splice @events, 0, 1000) {
        push @posts, "POST /events\n[" . CORE::join(',', map {
            '{"deviceId": ' . json_str($_->[0]) . ', "event": '
            . json_str($_->[1]) . '}'
        } @batch) . ']';
    }
    return @posts;
}


# the samples a plan's events make, computed from the seed's rule
sub expected {
    my (@events) = @_;
    my %want;

    for my $name (keys %Exps) {
        my $e = $Exps{$name};
        my %listed = map { $_ => 1 }
                     ($e->{exposure}, $e->{goal}, @{ $e->{events} });
        my (%n, %other, %exposed, %converted);

        if ($e->{state} eq 'active') {
            for my $ev (@events) {
                my $g = seed_group($ev->[0], $name, $e->{groups});
                if ($listed{$ev->[1]}) {
                    $n{$g}{$ev->[1]}++;
                } else {
                    $other{$g}++;
                }
                # devices: exposed, and converted at or after it
                $exposed{$g}{$ev->[0]} = 1 if $ev->[1] eq $e->{exposure};
                $converted{$g}{$ev->[0]} = 1
                    if $ev->[1] eq $e->{goal} && $exposed{$g}{$ev->[0]};
            }
        }

        $want{ sample_key('abtest_multiple_devices', experiment => $name) }
            = 0;
        $want{ sample_key('abtest_devices_complete', experiment => $name) }
            = 1;

        my (@exposures, @weights);

        for my $gw (@{ $e->{groups} }) {
            my ($g, $w) = @$gw;
            my %l = (experiment => $name, group => $g);
            my $c = $n{$g} // {};

            $want{ sample_key('abtest_group_weight', %l) } = $w;
            $want{ sample_key('abtest_exposures_total', %l) }
                = $c->{$e->{exposure}} // 0;
            $want{ sample_key('abtest_conversions_total', %l) }
                = $c->{$e->{goal}} // 0;
            $want{ sample_key('abtest_other_events_total', %l) }
                = $other{$g} // 0;
            $want{ sample_key('abtest_exposed_devices', %l) }
                = keys %{ $exposed{$g} // {} };
            $want{ sample_key('abtest_converted_devices', %l) }
                = keys %{ $converted{$g} // {} };

            for my $ev (keys %listed) {
                $want{ sample_key('abtest_events_total', %l, event => $ev) }
                    = $c->{$ev} // 0;
            }

            push @exposures, $c->{$e->{exposure}} // 0;
            push @weights, $w;
        }

        my $srm = srm(\@exposures, \@weights);
        $want{ sample_key('abtest_srm_p_value', experiment => $name) }
            = defined $srm->{p_value} ? ${ $srm->{p_value} } : 'absent';

        for my $s (qw(active inactive rollout)) {
            $want{ sample_key('abtest_experiment_state',
                              experiment => $name, state => $s) }
                = $e->{state} eq $s ? 1 : 0;
        }
    }

    my %states;
    $states{ $Exps{$_}{state} }++ for keys %Exps;
    for my $s (qw(active inactive rollout)) {
        $want{ sample_key('abtest_experiments', state => $s) }
            = $states{$s} // 0;
    }

    $want{'abtest_ring_events{}'} = scalar @events;
    $want{'abtest_ring_capacity_events{}'} = 1000;
    $want{'abtest_ring_evicted_events_total{}'} = 0;
    $want{'abtest_events_accepted_total{}'} = scalar @events;
    $want{'abtest_events_log_write_errors_total{}'} = 0;
    $want{'abtest_zone_size_bytes{}'} = 1048576;
    $want{ sample_key('abtest_info', node => ABTest::Oracle::node_name(),
                      version => '0.9.0', nginx => 'ANY') } = 1;

    return \%want;
}


# the answers of the events locations: { status => count }
sub requests {
    my (%count) = @_;
    my %want;
    for my $s (@Statuses) {
        $want{ sample_key('abtest_event_requests_total', status => $s) }
            = $count{$s} // 0;
    }
    return %want;
}


sub batches { my $n = shift; int(($n + 999) / 1000) }


# the README's text after the line that starts with $intro, in the
# fenced block that follows
sub readme_block {
    my ($intro) = @_;
    open my $fh, '<', 'README.md' or die "README.md: $!";
    local $/;
    my $readme = <$fh>;
    $readme =~ /^\Q$intro\E.*?\n```\w*\n(.*?)^```$/ms
        or die "no block after \"$intro\" in README.md";
    return $1;
}


# a plan with every kind of event, by device number
our @Plan = events_plan(300, sub {
    my ($i, $d) = @_;
    my @e = ('pageview', ($i % 3 == 0 ? 'pageview' : ()), 'view');
    push @e, 'button_click' if $i % 4 == 0;
    push @e, 'buy' if $i % 5 == 0;
    push @e, 'we"ird\\name' if $i % 7 == 0;
    push @e, 'scroll', 'other' if $i % 11 == 0;
    return @e;
});

# the samples of the last exposition read, for checks across requests
our $Last;

# "--- metrics eval": per request, the samples expected (a value, a code
# ref called with the value and the previous exposition's samples, or
# "absent"); "--- families eval": the families expected, exactly
Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;

    my $all = $block->metrics;
    return if !defined $all;

    my $want = ref $block->request eq 'ARRAY' ? $all->[$req_idx] : $all;
    return if !defined $want;

    my ($samples, $types, $problems) = parse_exposition($body);
    my $name = $block->name . " - request $req_idx";

    is(CORE::join("\n", @$problems), '', "$name: the exposition's format");

    my ($rc, $out) = promtool_check($body);
    is("$rc: $out", "0: ", "$name: promtool check metrics");

    if (my $families = $block->families) {
        is(CORE::join(' ', sort keys %$types),
           CORE::join(' ', sort @$families), "$name: the families");
    }

    # the info's nginx version is whatever the binary is
    for my $k (keys %$samples) {
        next if $k !~ /^abtest_info\{/;
        (my $any = $k) =~ s/nginx="[^"]*"/nginx="ANY"/;
        $samples->{$any} = delete $samples->{$k};
    }

    my @wrong;
    for my $k (sort keys %$want) {
        my $w = $want->{$k};
        my $got = $samples->{$k};

        if (!ref $w && $w eq 'absent') {
            push @wrong, "$k: expected none, got $got" if defined $got;
            next;
        }
        if (!defined $got) {
            push @wrong, "$k: missing";
            next;
        }
        if (ref $w eq 'CODE') {
            my $e = $w->($got, $Last);
            push @wrong, "$k: $e" if $e;
            next;
        }
        my $ok = ref $w ? $got == $$w
                        : abs($got - $w) <= 1e-9 * (abs($w) || 1);
        push @wrong, "$k: got $got, expected " . (ref $w ? $$w : $w)
            if !$ok;
    }

    is(CORE::join("\n", @wrong), '', "$name: the values");

    $Last = $samples;
});


# "--- prometheus eval": { PromQL => { 'label=value,...' => value } }, what
# a Prometheus server of the test's own, scraping this nginx every
# second (and evaluating "--- prometheus_rules"), must answer once the
# last request was answered
Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx) = @_;

    my $want = $block->prometheus;
    return if !defined $want;
    return if ref $block->request eq 'ARRAY'
              && $req_idx != $#{ $block->request };

    my $prom = ABTest::Metrics::Prometheus->start(
        port => ABTest::Json::port() + 11, dir => "$Tmp/prometheus",
        target => '127.0.0.1:' . ABTest::Json::port(), path => '/metrics',
        rules => scalar $block->prometheus_rules);

    my %wrong;
    my $ok = $prom->wait_for(sub {
        my ($p) = @_;
        %wrong = ();
        for my $q (sort keys %$want) {
            my $got = $p->vector($q);
            if (!$got) {
                $wrong{$q} = 'no answer';
                next;
            }
            my $w = $want->{$q};
            my $have = CORE::join(' ', map { "$_=>$got->{$_}" }
                                       sort keys %$got);
            my $exp = CORE::join(' ', map { "$_=>$w->{$_}" } sort keys %$w);
            my $same = (CORE::join(',', sort keys %$got)
                        eq CORE::join(',', sort keys %$w));
            for my $k (keys %$w) {
                last if !$same;
                $same = defined $got->{$k} && defined $w->{$k}
                        && abs($got->{$k} - $w->{$k})
                           <= 1e-9 * (abs($w->{$k}) || 1);
            }
            $wrong{$q} = "got {$have}, expected {$exp}" if !$same;
        }
        return !%wrong;
    }, 60);

    my $log = $prom->log;
    $prom->stop;

    is(CORE::join("\n", map { "$_: $wrong{$_}" } sort keys %wrong), '',
       $block->name . ": Prometheus answers the module's series")
        or diag("prometheus log:\n$log");
});


json_body_check();

# "--- disk": the events log's own small tmpfs (needs root), mounted
# before nginx opens the log; $NoDisk says why there is none
our $Disk = "$Tmp/disk";
our $NoDisk;

# before File::Temp removes $Tmp (END blocks run last defined first)
END { unmount($Disk) }

# "--- store": a PostgreSQL cluster of the file's own (port + 7, made
# for the first such block) and a fresh database "metrics"; $NoStore says
# why there is none (not root, no server)
our ($Pg, $NoStore);


add_block_preprocessor(sub {
    my $block = shift;

    if (defined $block->disk) {
        $NoDisk = mount_tmpfs($Disk, 'size=256k');
    }

    if (defined $block->store && !defined $NoStore) {
        $NoStore = ABTest::Pg::unavailable();
        if (!$NoStore) {
            $Pg = ABTest::Pg->new(port => ABTest::Json::port() + 7);
            $Pg->start;
            $Pg->create_db('metrics');
        }
    }

    # "%CONNINFO%" in the configuration: the store's, once it is made
    if (defined $block->store) {
        my $conninfo = $Pg ? $Pg->conninfo('metrics')
                           : 'host=127.0.0.1 port=1 dbname=none';
        $block->set_value('http_config',
                          $block->http_config =~ s/%CONNINFO%/$conninfo/gr);
    }

    $block->set_value('http_config', $HttpConfig)
        if !defined $block->http_config;
    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('more_headers', "Content-Type: application/json")
        if !defined $block->more_headers;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log && !defined $block->must_die;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a fresh server: every family, zeros, the states and weights, no SRM yet
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
Cache-Control: no-store
--- families eval
\@::Families
--- metrics eval
+{ %{ ::expected() }, ::requests(),
   'abtest_events_log_buffered_bytes{}' => 0 }



=== TEST 2: GET and HEAD only; a scrape takes no arguments
--- request eval
["POST /metrics\n{}", "PUT /metrics", "GET /metrics?name[]=abtest_info",
 "HEAD /metrics"]
--- error_code eval
[405, 405, 400, 200]
--- response_headers eval
[{ Allow => 'GET, HEAD', 'Content-Type' => 'application/json' },
 { Allow => 'GET, HEAD' },
 { 'Content-Type' => 'application/json' },
 { 'Content-Type' => 'text/plain; version=0.0.4; charset=utf-8' }]
--- json eval
[{ error => 'method POST is not allowed here, only GET, HEAD' },
 { error => 'method PUT is not allowed here, only GET, HEAD' },
 { error => 'arguments: none are taken, got "name[]=abtest_info"' }]
--- response_body eval
[qr/./, qr/./, qr/./, '']



=== TEST 3: 300 devices' events: counters per group and name, other names, the SRM p-value, the ring; the events locations' answers by status
--- request eval
[::posts(@::Plan),
 "POST /events\n{\"event\": ",
 "POST /events\n[]",
 "POST /events\nevent=pageview",
 "PUT /events\n{}",
 qq{POST /own/events\n{"deviceId": "someone-else", "event": "pageview"}},
 "GET /events?limit=1",
 "GET /metrics"]
--- more_headers eval
[("Content-Type: application/json") x ::batches(scalar @::Plan),
 "Content-Type: application/json",
 "Content-Type: application/json",
 "Content-Type: application/x-www-form-urlencoded",
 "Content-Type: application/json",
 "Content-Type: application/json\nCookie: device_id=me",
 "", ""]
--- error_code eval
[(200) x ::batches(scalar @::Plan), 400, 400, 415, 405, 403, 200, 200]
--- metrics eval
[(undef) x (::batches(scalar @::Plan) + 6),
 { %{ ::expected(@::Plan) },
   ::requests(200 => ::batches(scalar @::Plan), 400 => 2, 415 => 1,
              405 => 1, 403 => 1),
   # a record per device and experiment counted, 300 devices in 2
   'abtest_devices_table_records{}' => 600,
   'abtest_events_log_buffered_bytes{}' => 0 }]



=== TEST 4: an update moves the state version and the states; a re-activation starts the statistics afresh
--- request eval
["GET /metrics",
 qq{POST /api/experiments/update\n{"name": "off_test", "state": "active"}},
 "GET /metrics"]
--- metrics eval
[{},
 undef,
 { 'abtest_state_version{}' => sub {
       my ($v, $last) = @_;
       my $before = $last->{'abtest_state_version{}'};
       return $v > $before ? '' : "$v, not above $before";
   },
   'abtest_experiments{state="active"}' => 3,
   'abtest_experiments{state="inactive"}' => 0,
   'abtest_experiment_state{experiment="off_test",state="active"}' => 1,
   'abtest_statistics_start_timestamp_seconds{experiment="off_test"}' =>
       sub {
           my ($v) = @_;
           return abs($v - Time::HiRes::time()) < 60 ? ''
                                                     : "$v is not now";
       } }]



=== TEST 5: a buffered events log: the lines' bytes waiting, then written (flush=)
--- http_config eval
(my $c = $::HttpConfig) =~ s{logs/abtest-events.log;}
                            {$::Tmp/buffered.log buffer=1m flush=2s;};
$c
--- request eval
[::posts(::events_plan(20, sub { 'pageview' })), "GET /metrics"]
--- metrics eval
[undef,
 { 'abtest_events_log_buffered_bytes{}' => sub {
       my ($v) = @_;
       my $size = -s "$::Tmp/buffered.log" // 0;
       return "nothing buffered" if $v <= 0;
       return "the log has $size bytes already" if $size;
       # written by flush=: the file gets exactly those bytes, 20 lines
       my @lines = ABTest::Json::file_lines("$::Tmp/buffered.log", 20);
       my $written = 0;
       $written += length for @lines;
       return "the log has " . scalar(@lines) . " lines, $written bytes,"
              . " expected 20 lines, $v bytes"
           if @lines != 20 || $written != $v;
       my ($status, $body) = ABTest::Json::http(GET => '/metrics');
       my ($s) = ABTest::Metrics::parse_exposition($body);
       my $after = $s->{'abtest_events_log_buffered_bytes{}'};
       return "still $after bytes buffered" if $after != 0;
       return '';
   },
   'abtest_events_accepted_total{}' => 20 }]



=== TEST 6: a real Prometheus scrapes the location: its query API answers the series, the conversion rate per group, the SRM p-value
--- request eval
[::posts(@::Plan), "GET /metrics"]
--- metrics eval
[undef, {}]
--- prometheus eval
my $w = ::expected(@::Plan);
my $key = \&ABTest::Metrics::sample_key;
my %want;
for my $exp (qw(homepage_button_test three_way)) {
    my (%exposures, %rate);
    for my $g (map { $_->[0] } @{ $::Exps{$exp}{groups} }) {
        my %l = (experiment => $exp, group => $g);
        my $n = $w->{ $key->('abtest_exposures_total', %l) };
        my $x = $w->{ $key->('abtest_conversions_total', %l) };
        $exposures{"experiment=$exp,group=$g"} = $n;
        $rate{"group=$g"} = $x / $n;
    }
    $want{qq{abtest_exposures_total{experiment="$exp"}}} = \%exposures;
    $want{qq{sum by (group) (abtest_conversions_total{experiment="$exp"})
             / sum by (group) (abtest_exposures_total{experiment="$exp"})}}
        = \%rate;
    $want{qq{abtest_srm_p_value{experiment="$exp"}}}
        = { "experiment=$exp"
            => $w->{ $key->('abtest_srm_p_value', experiment => $exp) } };
}
$want{'abtest_events_accepted_total'} = { '' => scalar @::Plan };
$want{'abtest_event_requests_total{status="200"}'}
    = { 'status=200' => ::batches(scalar @::Plan) };
\%want



=== TEST 7: the README's alert rule: a sample ratio mismatch makes Prometheus' alert pend for homepage_button_test only
--- request eval
my @events = grep {
    ::seed_group($_->[0], 'homepage_button_test',
                 $::Exps{homepage_button_test}{groups}) eq 'A'
    || $_->[0] =~ /-\d$/
} ::events_plan(300, sub { 'pageview' });
[::posts(@events), "GET /metrics"]
--- metrics eval
my @events = grep {
    ::seed_group($_->[0], 'homepage_button_test',
                 $::Exps{homepage_button_test}{groups}) eq 'A'
    || $_->[0] =~ /-\d$/
} ::events_plan(300, sub { 'pageview' });
my $p = ::expected(@events)
        ->{'abtest_srm_p_value{experiment="homepage_button_test"}'};
die "the plan has no mismatch: $p" if $p >= 0.001;
[undef, { 'abtest_srm_p_value{experiment="homepage_button_test"}' => $p }]
--- prometheus_rules eval
::readme_block('An alert rule for a sample ratio mismatch')
--- prometheus eval
{ 'ALERTS{alertname="ABTestSampleRatioMismatch"}' =>
      { 'alertname=ABTestSampleRatioMismatch,alertstate=pending,'
        . 'experiment=homepage_button_test' => 1 } }



=== TEST 8: a full disk: the failed writes counted, the waiting lines' bytes buffered, new events refused (503); room again: written, answered 200
--- disk
--- http_config eval
(my $c = $::HttpConfig) =~ s{logs/abtest-events.log;}{$::Disk/events.log;};
$c
--- request
GET /metrics
--- metrics eval
{ 'abtest_events_log_write_errors_total{}' => sub {
    return '' if $::NoDisk && Test::More::diag("skipped: $::NoDisk");
    my $metric = sub {
        my ($status, $body) = ABTest::Json::http(GET => '/metrics');
        my ($s) = ABTest::Metrics::parse_exposition($body);
        return $s->{$_[0]} // 0;
    };
    my $post = sub {
        my $body = '{"deviceId": "disk-device", "event": "pageview"}';
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                         PeerPort => ABTest::Json::port(),
                                         Proto => 'tcp', Timeout => 10)
            or die "connect: $!";
        print $sock "POST /events HTTP/1.1\r\nHost: localhost\r\n"
                    . "Connection: close\r\n"
                    . "Content-Type: application/json\r\n"
                    . "Content-Length: " . length($body) . "\r\n\r\n$body";
        return $sock;
    };
    # the answer's status, or undef if none came within $seconds
    my $status = sub {
        my ($sock, $seconds) = @_;
        return undef if !IO::Select->new($sock)->can_read($seconds);
        local $/;
        my $resp = <$sock> // '';
        return $resp =~ m{^HTTP/1\.1 (\d+)} ? $1 : "no answer: $resp";
    };

    my $e = ABTest::Nginx::fill_fs($::Disk);
    return $e if $e;

    # a worker whose write fails keeps the line and its answer waits;
    # then it refuses new events: post until one is refused (each worker
    # holds at most one waiting line)
    my (@waiting, $refused);
    for (1 .. 10) {
        my $sock = $post->();
        my $s = $status->($sock, 1);
        if (!defined $s) {
            push @waiting, $sock;
            next;
        }
        $refused = $s;
        last;
    }
    return "no event refused: " . scalar(@waiting) . " waiting"
        if !defined $refused;
    return "an event answered $refused, not 503" if $refused != 503;
    return "no answer waits for its line" if !@waiting;

    my $errors = $metric->('abtest_events_log_write_errors_total{}');
    return "$errors failed writes counted, fewer than the "
           . scalar(@waiting) . " waiting lines" if $errors < @waiting;
    my $buffered = $metric->('abtest_events_log_buffered_bytes{}');
    return "no bytes buffered" if !$buffered;
    my $r503 = $metric->('abtest_event_requests_total{status="503"}');
    return "503 answers counted: $r503, not 1" if $r503 != 1;
    my $r200 = $metric->('abtest_event_requests_total{status="200"}');
    return "200 answers counted: $r200, not 0" if $r200 != 0;

    # room again: the retry (every second) writes the lines, then answers
    unlink "$::Disk/filler" or return "unlink: $!";
    for my $sock (@waiting) {
        my $s = $status->($sock, 5) // 'none';
        return "a waiting event answered $s" if $s ne '200';
    }
    my $size = -s "$::Disk/events.log";
    return "the log has $size bytes, $buffered were buffered"
        if $size != $buffered;
    ABTest::Nginx::wait_for(sub {
        $metric->('abtest_events_log_buffered_bytes{}') == 0
        && $metric->('abtest_event_requests_total{status="200"}')
           == @waiting;
    }, 5) or return 'lines still buffered, or the 200 answers not counted';
    my $accepted = $metric->('abtest_events_accepted_total{}');
    return "$accepted events accepted, not " . scalar(@waiting)
        if $accepted != @waiting;
    return '';
  } }
--- no_error_log
[error]
--- error_log
cannot write the events log
is written again



=== TEST 9: with a store: connected, caught up, its version as PostgreSQL has it (moving with an update), when it was read, the fleet's figures stale (no events' tables); PostgreSQL stopped: disconnected
--- store
--- http_config eval
(my $c = $::HttpConfig)
    =~ s{abtest_zone zone=abtest:1m;}
        {abtest_zone zone=abtest:1m;
    abtest_store "%CONNINFO%" node=web1 timeout=1s poll=1s;};
$c
--- request
GET /metrics
--- metrics eval
{ 'abtest_store_connected{}' => sub {
    return '' if $::NoStore && Test::More::diag("skipped: $::NoStore");
    my $metric = sub {
        my ($status, $body) = ABTest::Json::http(GET => '/metrics');
        my ($s, $types, $problems) = ABTest::Metrics::parse_exposition($body);
        return @$problems ? "@$problems" : $s->{$_[0]};
    };
    # the schema is the server's to make: none before its first connection
    my $version = sub {
        return -2 if !$::Pg->value('metrics', q{SELECT count(*) FROM pg_class
                                   WHERE relname = 'abtest_experiments'});
        # the rows' and the settings' (the holdout's row)
        return $::Pg->value('metrics', 'SELECT max(version) FROM (SELECT'
                            . ' version FROM abtest_experiments UNION ALL'
                            . ' SELECT version FROM abtest_settings) v');
    };

    ABTest::Nginx::wait_for(sub {
        ($metric->('abtest_store_connected{}') // 0) == 1
        && ($metric->('abtest_store_ready{}') // 0) == 1
        && ($metric->('abtest_store_version{}') // -1) == $version->()
    }, 10) or return 'not connected, ready and at version ' . $version->()
                     . ': at ' . ($metric->('abtest_store_version{}') // '-');

    my $read = $metric->('abtest_store_last_read_timestamp_seconds{}') // 0;
    return "last read at $read, not now" if abs($read - Time::HiRes::time()) > 30;
    my $stale = $metric->('abtest_store_figures_stale{}') // '-';
    return "the figures' stale is $stale, not 1" if $stale ne '1';
    my $devices = $metric->('abtest_exposed_devices{experiment="three_way",group="X"}');
    return "devices without figures: $devices" if defined $devices;

    my ($status, $body) = ABTest::Json::http('POST',
        '/api/experiments/update', '{"name": "three_way", "state": "inactive"}',
        'Content-Type: application/json');
    return "the update answered $status $body" if $status != 200;
    my $after = $version->();
    ABTest::Nginx::wait_for(sub {
        ($metric->('abtest_store_version{}') // -1) == $after
    }, 5) or return "the store's version $after not in the metrics";

    $::Pg->stop;
    ABTest::Nginx::wait_for(sub {
        ($metric->('abtest_store_connected{}') // 1) == 0
    }, 10) or return 'still connected with PostgreSQL stopped';
    return '';
  } }
--- no_error_log
[alert]
[emerg]
