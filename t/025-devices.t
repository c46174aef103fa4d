# vim:set ft= ts=4 sw=4 et fdm=marker:

# Per-device results on one server (abtest_zone devices=N): a device
# counts once however many events it sends, converts once by a goal at
# or after its first exposure, and counts in no group when seen in two
# (multiple); a full table says so (devices_complete) and still counts
# events; the records start afresh with the statistics, and give their
# room back; a reload keeps them.  The expected figures are computed here
# (ABTest::Stats), from the events sent and the seed's rule.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);
use ABTest::Json qw(json_body_check match_json decode http);
use ABTest::Nginx qw(wait_for master_pid worker_pids new_workers alive);
use ABTest::Stats qw(experiment_stats);

master_on();
workers(2);

our $Weights = [[A => 1], [B => 1]];

our $Experiment = <<'_EOC_';
    abtest_experiment e {
        group  A 1;
        group  B 1;
        cookie exp_group;
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;

    location = /events {
        abtest_api events trusted=on;
    }

    location = /api/stats {
        abtest_api stats;
    }

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /api/status {
        abtest_api status;
    }
_EOC_


sub post {
    my ($events, @headers) = @_;
    my $body = '[' . CORE::join(', ', map {
        qq{{"deviceId": "$_->[0]", "event": "$_->[1]"}}
    } @$events) . ']';
    my ($status, $answer) = http('POST', '/events', $body,
                                 'Content-Type: application/json', @headers);
    die "POST: $status $answer" if $status != 200;
}

sub stats { decode((http('GET', '/api/stats'))[1])->{e} }

sub group_of { seed_group($_[0], 'e', $_[1] // $Weights) }

# the stats of e after [device, event, group] triples sent in order
sub expected {
    my ($sent, %o) = @_;
    return experiment_stats(
        title => 'e', state => 'active', exposure => 'pageview',
        goal => 'button_click', control => 'A',
        weights => $o{weights} // $Weights, events => $sent);
}

# [device, event] pairs with each device's group added
sub grouped {
    my ($weights, @pairs) = @_;
    return map { [@$_, group_of($_->[0], $weights)] } @pairs;
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('request', 'GET /api/stats')
        if !defined $block->request;
    $block->set_value('no_error_log', "[error]\n[crit]\n[alert]\n")
        if !defined $block->no_error_log && !defined $block->must_die;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an invalid devices=
--- http_config
    abtest_zone zone=abtest:1m devices=many;
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "devices=" value "devices=many": use the number of devices to count per experiment together, 0 for none, at most 100000000 in \S+nginx\.conf:\d+/



=== TEST 2: a device counts once however many events it sends, converts once by a goal after its first exposure; a goal before any exposure converts nothing
--- http_config eval
"    abtest_zone zone=abtest:1m;\n$::Experiment"
--- json eval
sub {
    my @d = map { "dev-$_" } 1 .. 40;
    my @sent;

    # a goal first for the last ten, in a request of its own
    push @sent, ::grouped(undef, map { [$_, 'button_click'] } @d[30 .. 39]);
    ::post([@sent]);

    # the reloading visitors: three pageviews each, from both workers
    my @views = ::grouped(undef, map { my $x = $_; map { [$x, 'pageview'] } 1 .. 3 } @d);
    ::post([@views[0 .. 59]]);
    ::post([@views[60 .. $#views]]);
    push @sent, @views;

    # goals after the exposure for every third device, some twice
    my @goals = ::grouped(undef, map { [$_, 'button_click'] }
                                 @d[grep { $_ % 3 == 0 } 0 .. 29], @d[0, 3]);
    ::post([@goals]);
    push @sent, @goals;

    my $want = ::expected(\@sent);
    return 'the oracle has no devices'
        if !$want->{groups}{A}{devices}{exposures};
    return ::match_json(::stats(), $want);
}



=== TEST 3: a device seen in two groups (its group cookie of earlier weights, then the rule's) is in none, and multiple says so
--- http_config eval
"    abtest_zone zone=abtest:1m;\n$::Experiment"
--- json eval
sub {
    my $new = [[A => 1], [B => 3]];
    my ($moved) = grep { ::group_of($_) ne ::group_of($_, $new) }
                  map { "moved-$_" } 1 .. 200;
    my ($stays) = grep { ::group_of($_) eq ::group_of($_, $new) }
                  map { "stays-$_" } 1 .. 200;

    my ($status, $body) = ::http('POST', '/api/experiments/update',
                               '{"name": "e", "groups": {"A": 1, "B": 3}}',
                               'Content-Type: application/json');
    return "update: $status $body" if $status != 200;

    # its own request with the cookie of its earlier group: sticky
    my $old = ::group_of($moved);
    ::post([[$moved, 'pageview']], "Cookie: device_id=$moved; exp_group=$old");
    # then a backend's event of it: the rule's group under the new weights
    ::post([[$moved, 'pageview'], [$stays, 'pageview']]);

    my @sent = ([$moved, 'pageview', $old],
                [$moved, 'pageview', ::group_of($moved, $new)],
                [$stays, 'pageview', ::group_of($stays, $new)]);
    my $want = ::expected(\@sent, weights => $new);
    return 'the oracle has no multiple' if $want->{multiple} != 1;
    return ::match_json(::stats(), $want);
}



=== TEST 4: a full table: the devices it has no room for are counted as events, not as devices, and devices_complete says so; a reset gives the room back
--- http_config eval
"    abtest_zone zone=abtest:1m devices=3;\n$::Experiment"
--- json eval
sub {
    my @d = map { "full-$_" } 1 .. 5;
    my @sent = ::grouped(undef, map { [$_, 'pageview'] } @d);
    ::post([@sent]);

    my $zone = ::decode((::http('GET', '/api/status'))[1])->{zone};
    return 'status: ' . ABTest::Json::show($zone)
        if $zone->{devices} != 3 || $zone->{devices_max} != 3;

    my $st = ::stats();
    my $want = ::expected(\@sent);
    my $devices = 0;
    $devices += $st->{groups}{$_}{devices}{exposures} for qw(A B);
    return "$devices devices counted in a table of 3" if $devices != 3;
    return 'complete with no room: ' . ABTest::Json::show($st)
        if $st->{devices_complete};
    for my $g (qw(A B)) {
        return "events of $g: $st->{groups}{$g}{exposures}"
            if $st->{groups}{$g}{exposures}
               != $want->{groups}{$g}{exposures};
    }

    my ($status, $body) = ::http('POST', '/api/experiments/update',
                               '{"name": "e", "reset_stats": true}',
                               'Content-Type: application/json');
    return "reset: $status $body" if $status != 200;

    # the earlier records are void: three new devices find room
    my @again = ::grouped(undef, map { [$_, 'pageview'] }
                                 map { "after-$_" } 1 .. 3);
    ::post([@again]);
    return ::match_json(::stats(), ::expected(\@again));
}



=== TEST 5: devices=0 counts no device: no device figures at all
--- http_config eval
"    abtest_zone zone=abtest:1m devices=0;\n$::Experiment"
--- json eval
sub {
    ::post([['d1', 'pageview']]);
    my $st = ::stats();
    return 'device figures with devices=0: ' . ABTest::Json::show($st)
        if exists $st->{multiple} || exists $st->{groups}{A}{devices};
    return '';
}



=== TEST 6: a reload keeps the devices' records and figures; a device seen before counts once after it
--- http_config eval
"    abtest_zone zone=abtest:1m;\n$::Experiment"
--- json eval
sub {
    my @sent = ::grouped(undef, map { [$_, 'pageview'] } qw(r1 r2 r3));
    ::post([@sent]);

    my $master = ::master_pid(Test::Nginx::Socket::server_root());
    my @old = ::worker_pids($master);
    kill 'HUP', $master;
    ::wait_for(sub { ::new_workers($master, @old) >= 2
                   && !grep { ::alive($_) } @old }, 10)
        or return 'the reload did not end';

    my @more = ::grouped(undef, [r1 => 'pageview'], [r1 => 'button_click'],
                         [r4 => 'pageview']);
    ::post([@more]);
    return ::match_json(::stats(), ::expected([@sent, @more]));
}
