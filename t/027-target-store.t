# vim:set ft= ts=4 sw=4 et fdm=marker:

# Issue 15 with abtest_store, one server: coverage, the schedule and the
# holdout changed through the write API go into the store (the run-time
# source, as for weights and states), so that the server keeps them when
# it applies the store's rows, and gets them back from the store alone
# (a fresh zone, no state file) as any other server of the fleet would.

use strict;
use warnings;

use lib 't/lib';
use ABTest::Pg;

BEGIN { ABTest::Pg::require_pg() }

use Test::Nginx::Socket 'no_plan';
use ABTest::Json qw(json_body_check match_json decode approx);
use ABTest::Nginx qw(wait_for);
use Time::HiRes ();
use Time::Local ();

master_on();
workers(2);
log_level('info');

our $Pg = ABTest::Pg->new(port => ABTest::Json::port() + 7);
$Pg->start;
$Pg->create_db('target');

our $HttpConfig = "    abtest_zone zone=abtest:1m;\n"
    . "    abtest_store \"" . $Pg->conninfo('target')
    . "\" node=web1 timeout=1s poll=1s;\n" . <<'_EOC_';
    abtest_holdout 5%;

    abtest_experiment cov {
        group    A 1;
        group    B 1;
        coverage 10%;
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /api/status {
        abtest_api status;
    }
_EOC_


sub get {
    my ($uri) = @_;
    my ($status, $body) = ABTest::Json::http('GET', $uri);
    die "GET $uri: $status $body" if $status != 200;
    return decode($body);
}


sub ready {
    return wait_for(sub {
        my $s = eval { get('/api/status') } or return 0;
        return $s->{store}{ready} && $s->{store}{connected};
    }, 10) ? '' : 'the server did not read the store';
}


sub post {
    my ($json) = @_;
    my ($s, $b) = ABTest::Json::http('POST', '/api/experiments/update',
                                     $json, 'Content-Type: application/json');
    return $s == 200 ? '' : "POST $json: $s $b";
}


# what the experiments JSON says of who enters once the listener has read
# the store again after now (its rows and settings applied over the zone:
# poll=1s reads it every second), against what is wanted
sub stays {
    my (@want) = @_;
    my $since = Time::HiRes::time();
    wait_for(sub {
        my $at = eval { get('/api/status')->{store}{applied} } or return 0;
        my ($y, $mo, $d, $h, $mi, $sec) =
            $at =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+(?:\.\d+)?)Z$/
            or return 0;
        return Time::Local::timegm(0, $mi, $h, $d, $mo - 1, $y) + $sec
               > $since;
    }, 10) or return 'the store was not read again within 10 s';

    my $c = get('/api/experiments')->{cov};
    my @got = @$c{qw(coverage holdout start stop)};
    return join '; ', grep { $_ } map {
        match_json($got[$_], $want[$_],
                   'cov.' . (qw(coverage holdout start stop))[$_])
    } 0 .. 3;
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $HttpConfig);
    $block->set_value('config', $Config);
    $block->set_value('no_error_log', "[error]\n[alert]\n");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: coverage, schedule and holdout set through the API stay set with the store
--- request
GET /api/status
--- json eval
sub {
    my $e = ::ready()
         || ::post('{"name": "cov", "coverage": 0.2, '
                   . '"start": "2099-12-24T00:00:00Z"}')
         || ::post('{"holdout": 0.08}');
    return $e || ::stays(::approx(0.2), ::approx(0.08),
                         '2099-12-24T00:00:00.000Z', undef);
}



=== TEST 2: a fresh zone without a state file gets them from the store
--- request
GET /api/status
--- json eval
sub {
    return ::ready() || ::stays(::approx(0.2), ::approx(0.08),
                                '2099-12-24T00:00:00.000Z', undef);
}
