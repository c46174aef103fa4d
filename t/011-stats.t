# vim:set ft= ts=4 sw=4 et fdm=marker:

# The stats location against an independent computation: the devices'
# groups from the seed's rule (ABTest::Oracle), the expected counts from
# the events sent, the formulas from Perl's POSIX math (ABTest::Stats).

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);
use ABTest::Json qw(json_body_check);
use ABTest::Stats qw(experiment_stats);

# "events": the other names each experiment lists, counted each
our %Exps = (
    homepage_button_test => { groups => [[A => 50], [B => 50]],
                              control => 'A', exposure => 'pageview',
                              goal => 'button_click', state => 'active',
                              title => 'homepage_button_test',
                              events => [qw(view buy scroll),
                                         map { "name$_" } 1 .. 27] },
    three_way => { groups => [[X => 1], [Y => 1], [Z => 2]],
                   control => 'Z', exposure => 'view', goal => 'buy',
                   state => 'active', title => 'Three ways',
                   events => [qw(pageview button_click scroll)] },
    off_test => { groups => [[P => 1], [Q => 1]], control => 'P',
                  exposure => 'pageview', goal => 'button_click',
                  state => 'inactive', title => 'off_test' },
);

our $HttpConfig = <<'_EOC_';
    abtest_zone zone=abtest:1m;

    abtest_experiment homepage_button_test {
        group    A 50;
        group    B 50;
        fallback A;
        events   view buy scroll name1 name2 name3 name4 name5 name6 name7 name8 name9 name10 name11 name12 name13 name14 name15 name16 name17 name18 name19 name20 name21 name22 name23 name24 name25 name26 name27;
    }

    abtest_experiment three_way {
        group    X 1;
        group    Y 1;
        group    Z 2;
        fallback Z;
        exposure view;
        goal     buy;
        events   pageview button_click scroll;
        title    "Three ways";
    }

    abtest_experiment off_test {
        group    P 1;
        group    Q 1;
        state    inactive;
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;
    abtest_force on;

    location = /events {
        abtest_api events trusted=on;
    }

    location = /api/stats {
        abtest_api stats;
    }

    location /api/experiments {
        abtest_api experiments write=on;
    }
_EOC_


sub group_of {
    my ($device, $exp) = @_;
    return seed_group($device, $exp, $Exps{$exp}{groups});
}


# [device, event name] pairs: the plan of what is sent
sub events_plan {
    my ($n, $rule) = @_;
    my @events;
    for my $i (1 .. $n) {
        my $d = "stats-device-$i";
        push @events, map { [$d, $_] } $rule->($i, $d);
    }
    return @events;
}


# the events of a plan as POST requests of at most 1000 events
sub posts {
    my (@events) = @_;
    my @posts;
    while (my @batch = splice @events, 0, 1000) {
        push @posts, "POST /events\n[" . CORE::join(',', map {
            qq{{"deviceId": "$_->[0]", "event": "$_->[1]"}}
        } @batch) . ']';
    }
    return @posts;
}


sub answers {
    my (@events) = @_;
    my @answers;
    while (my @batch = splice @events, 0, 1000) {
        push @answers, { status => 'ok', accepted => scalar @batch };
    }
    return @answers;
}


# the expected stats of one experiment from the events it counted
sub exp_stats {
    my ($name, $counted, %o) = @_;
    my $e = $Exps{$name};
    my $weights = $o{groups} // $e->{groups};
    return experiment_stats(
        %$e, state => $o{state} // $e->{state}, weights => $weights,
        listed => $e->{events},
        events => [map { [@$_, seed_group($_->[0], $name, $weights)] }
                   @$counted]);
}


sub stats {
    my (%counted) = @_;
    return { map { $_ => exp_stats($_, $counted{$_} // []) } keys %Exps };
}


# a plan with every kind of event, by device number
our @Plan = events_plan(300, sub {
    my ($i, $d) = @_;
    my @e = ('pageview', ($i % 3 == 0 ? 'pageview' : ()), 'view');
    my $b = group_of($d, 'homepage_button_test');
    push @e, 'button_click' if $i % ($b eq 'B' ? 4 : 9) == 0;
    push @e, 'buy' if $i % 5 == 0;
    push @e, 'scroll' if $i % 7 == 0;
    return @e;
});


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

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

=== TEST 1: no data yet: counts of zero and nulls, never a division by zero
--- request
GET /api/stats
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- json eval
::stats()



=== TEST 2: 300 devices' events: every figure as computed here
--- request eval
[::posts(@::Plan), "GET /api/stats"]
--- json eval
[::answers(@::Plan),
 ::stats(homepage_button_test => \@::Plan, three_way => \@::Plan)]



=== TEST 3: a sample ratio mismatch is flagged
--- request eval
my @events = grep {
    ::group_of($_->[0], 'homepage_button_test') eq 'A'
    || $_->[0] =~ /-\d$/
} ::events_plan(200, sub { 'pageview' });
[::posts(@events), "GET /api/stats"]
--- json eval
my @events = grep {
    ::group_of($_->[0], 'homepage_button_test') eq 'A'
    || $_->[0] =~ /-\d$/
} ::events_plan(200, sub { 'pageview' });
my $s = ::exp_stats('homepage_button_test', \@events);
die "the plan has no mismatch" if !${ $s->{srm}{mismatch} };
[::answers(@events), ::stats(homepage_button_test => \@events,
                            three_way => \@events)]



=== TEST 4: reset_stats: the counts start again from zero, then count anew
--- request eval
my @before = ::events_plan(50, sub { ('pageview', 'button_click') });
my @after = ::events_plan(10, sub { 'pageview' });
[::posts(@before),
 qq{POST /api/experiments/update\n{"name": "homepage_button_test", "reset_stats": true}},
 "GET /api/stats",
 ::posts(@after),
 "GET /api/stats"]
--- json eval
my @before = ::events_plan(50, sub { ('pageview', 'button_click') });
my @after = ::events_plan(10, sub { 'pageview' });
[::answers(@before), undef,
 ::stats(three_way => \@before),
 ::answers(@after),
 ::stats(homepage_button_test => \@after,
         three_way => [@before, @after])]



=== TEST 5: only an active experiment counts; re-activation starts afresh (seed step 9)
--- request eval
my @a = ::events_plan(20, sub { 'pageview' });
my @b = ::events_plan(30, sub { ('pageview', 'button_click') });
my @c = ::events_plan(5, sub { 'button_click' });
my $up = "POST /api/experiments/update\n";
[::posts(@a),
 $up . '{"name": "homepage_button_test", "state": "inactive"}',
 ::posts(@b),
 "GET /api/stats",
 $up . '{"name": "homepage_button_test", "state": "active"}',
 $up . '{"name": "three_way", "state": "rollout", "rollout_group": "X"}',
 ::posts(@c),
 "GET /api/stats"]
--- json eval
my @a = ::events_plan(20, sub { 'pageview' });
my @b = ::events_plan(30, sub { ('pageview', 'button_click') });
my @c = ::events_plan(5, sub { 'button_click' });
my $s = ::stats(homepage_button_test => \@a, three_way => [@a, @b]);
$s->{homepage_button_test}{state} = 'inactive';
my $t = ::stats(homepage_button_test => \@c, three_way => [@a, @b]);
$t->{three_way}{state} = 'rollout';
[::answers(@a), undef, ::answers(@b), $s, undef, undef, ::answers(@c), $t]



=== TEST 6: a forced group is shown in the event but not counted
--- request eval
my $d = 'stats-device-7';
my $g = ::group_of($d, 'homepage_button_test');
my $other = $g eq 'A' ? 'B' : 'A';
["POST /events?abtest_force=homepage_button_test:$other\n"
 . '[{"event": "pageview"}, {"event": "button_click"}]',
 "GET /api/stats"]
--- more_headers
Content-Type: application/json
Cookie: device_id=stats-device-7
--- json eval
my @events = (['stats-device-7', 'pageview'],
              ['stats-device-7', 'button_click']);
[{ status => 'ok', accepted => 2 },
 ::stats(three_way => \@events)]



=== TEST 7: more goal events than exposures: a rate above 1 is no proportion
--- request eval
my @events = ::events_plan(40, sub { ('pageview', 'button_click', 'button_click') });
[::posts(@events), "GET /api/stats"]
--- json eval
my @events = ::events_plan(40, sub { ('pageview', 'button_click', 'button_click') });
my $s = ::stats(homepage_button_test => \@events, three_way => \@events);
my $a = $s->{homepage_button_test}{groups}{A};
die "expected a rate of 2" if $a->{rate} && ${ $a->{rate} } != 2;
die "expected no interval" if defined $a->{ci95} || defined $a->{error};
[::answers(@events), $s]



=== TEST 8: only the names an experiment lists are counted each (30 at most beside exposure and goal), the others together
--- request eval
my @events = ::events_plan(4, sub { map { "name$_" } 1 .. 40 });
[::posts(@events), "GET /api/stats"]
--- json eval
my @events = ::events_plan(4, sub { map { "name$_" } 1 .. 40 });
# homepage_button_test lists name1 .. name27; three_way none of them
my %s = map {
    $_ => ::exp_stats($_, $_ eq 'off_test' ? [] : \@events)
} keys %::Exps;
[::answers(@events), \%s]



=== TEST 9: a weight change restarts the statistics: a new split is a new comparison
--- request eval
my @before = ::events_plan(30, sub { ('pageview', 'button_click') });
my @after = ::events_plan(12, sub { ('pageview', 'button_click') });
[::posts(@before),
 "POST /api/experiments/update\n"
 . '{"name": "homepage_button_test", "groups": {"A": 30, "B": 70}}',
 "GET /api/stats",
 ::posts(@after),
 "GET /api/stats"]
--- json eval
my @before = ::events_plan(30, sub { ('pageview', 'button_click') });
my @after = ::events_plan(12, sub { ('pageview', 'button_click') });
my $split = [[A => 30], [B => 70]];
my %s1 = %{ ::stats(three_way => \@before) };
$s1{homepage_button_test} = ::exp_stats('homepage_button_test', [],
                                        groups => $split);
my %s2 = %{ ::stats(three_way => [@before, @after]) };
$s2{homepage_button_test} = ::exp_stats('homepage_button_test', \@after,
                                        groups => $split);
[::answers(@before), undef, \%s1, ::answers(@after), \%s2]



=== TEST 10: the same event as exposure and goal is refused
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group    A 1;
        exposure click;
        goal     click;
    }
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" has the same event "click" as exposure and goal/



=== TEST 11: an exposure name longer than 64 bytes is refused
--- http_config eval
"    abtest_experiment e {
        group    A 1;
        exposure " . ('v' x 65) . ";
    }"
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid exposure event name "v{65}": use 1 to 64 bytes of UTF-8 without control characters/



=== TEST 12: GET only
--- request
POST /api/stats
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- json eval
{ error => 'method POST is not allowed here, only GET, HEAD' }
