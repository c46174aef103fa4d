# vim:set ft= ts=4 sw=4 et fdm=marker:

# A reload (HUP) keeps the events ring and the statistics, as it keeps the
# zone; a new events= starts an empty ring, with ids going on; a new goal
# starts the statistics again.

BEGIN {
    $ENV{TEST_NGINX_USE_HUP} = 1;
}

use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);
use lib 't/lib';
use ABTest::Json qw(json_body_check match_json decode);

# the events log outlives the blocks: in HUP mode the real Test::Nginx
# removes the files under t/servroot (logs/ too) before every reload
our $EventsLog = tempdir('abtest-events-XXXXXX', TMPDIR => 1, CLEANUP => 1)
                 . '/events.log';

master_on();
workers(2);

our $Config = <<'_EOC_';
    location = /events {
        abtest_api events trusted=on;
    }

    location = /api/stats {
        abtest_api stats;
    }
_EOC_

sub http_config {
    my (%o) = @_;
    my $events = $o{events} // 10;
    my $goal = $o{goal} // 'button_click';
    return <<"_EOC_";
    abtest_zone zone=abtest:1m events=$events;
    abtest_events_log $::EventsLog;

    abtest_experiment e {
        group A 1;
        group B 1;
        goal  $goal;
    }
_EOC_
}

sub post {
    my (@n) = @_;
    return "POST /events\n[" . CORE::join(',', map {
        qq{{"deviceId": "d$_", "event": "pageview", "params": {"n": $_}}}
    } @n) . ']';
}

# the ring holds these events, by params.n, with consecutive ids
sub ring {
    my (@n) = @_;
    return sub {
        my ($got) = @_;
        my $e = match_json([map { $_->{params}{n} } @$got], \@n, 'n');
        return $e if $e;
        for my $i (1 .. $#$got) {
            return "ids do not follow at $i"
                if $got->[$i]{id} != $got->[$i - 1]{id} + 1;
        }
        return '';
    };
}

sub exposures {
    my ($n) = @_;
    return sub {
        my $g = $_[0]{e}{groups};
        my $got = $g->{A}{exposures} + $g->{B}{exposures};
        return $got == $n ? '' : "$got exposures, expected $n";
    };
}

json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('more_headers', "Content-Type: application/json")
        if !defined $block->more_headers;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log;
});

# TEST 3 and 4's lines are logged by the reload, before their first
# request: every error_log check (after every request) reads the block's
# whole log
check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: three events
--- http_config eval: ::http_config()
--- request eval
[::post(1 .. 3), "GET /events"]
--- json eval
[{ status => 'ok', accepted => 3 }, ::ring(1 .. 3)]



=== TEST 2: after a reload the ring and the counts are there, and go on
--- http_config eval: ::http_config()
--- request eval
["GET /events", "GET /api/stats", ::post(4, 5), "GET /events",
 "GET /api/stats"]
--- json eval
[::ring(1 .. 3), ::exposures(3), { status => 'ok', accepted => 2 },
 ::ring(1 .. 5), ::exposures(5)]



=== TEST 3: a new events= starts an empty ring; ids go on
--- http_config eval: ::http_config(events => 20)
--- request eval
["GET /events", ::post(6), "GET /events", "GET /api/stats"]
--- json eval
[[], { status => 'ok', accepted => 1 },
 sub {
     my ($got) = @_;
     my @log = map { ::decode($_) } ABTest::Json::file_lines($::EventsLog, 6);
     return scalar(@log) . " lines in the log" if @log != 6;
     return "the new event's id is not the next"
         if $got->[0]{id} != $log[4]{id} + 1;
     return ::ring(6)->($got);
 },
 ::exposures(6)]
--- error_log
abtest: events=20 is new, the events ring starts empty (its 5 events are in the events log, if there is one)



=== TEST 4: a new goal starts the statistics again
--- http_config eval: ::http_config(events => 20, goal => 'signup')
--- request eval
["GET /api/stats", "GET /events"]
--- json eval
[::exposures(0), ::ring(6)]
--- error_log
abtest: experiment "e" has a new exposure or goal (or other events listed), its statistics start again
