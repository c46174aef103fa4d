# vim:set ft= ts=4 sw=4 et fdm=marker:

# Every figure that compares groups (README, Statistics) against an
# independent implementation: t/lib/stats_oracle.py, SciPy's normal and
# Beta distributions, the Bayesian figures by numerical integration
# (scipy.integrate.quad, where the module sums Evan Miller's closed form),
# the confidence sequence written again from Waudby-Smith et al.
#
# 200 tables (a fixed seed): eight experiments of two, three and four
# groups, each with its own exposure and goal names so that they count
# independently, reset and filled 25 times by events posted to the
# server (one device per group, from the seed's rule: ABTest::Oracle),
# then the stats compared with the oracle's after JSON decoding: 1e-9
# relative for the closed forms, 1e-6 for chance_to_beat_control, 1e-9
# for expected_loss.  The tables include zero counts, all conversions,
# one group empty, a control without conversions, rates above 1, and
# other alpha, mde, N* and sequential off.  The zones count no device
# (devices=0): one device stands for a group, and the figures on devices
# are the same functions of other counts (t/011, t/025 check those).
#
# Then the sequential p-value's promise by simulation (the oracle's own
# vectorised confidence sequence, the same formulas the tables checked
# against the module): 20,000 A/A experiments per rate looked at after
# every 100 devices, up to 10,000: the share ever significant stays at
# or below alpha + 0.01.  And the settings' configuration errors.

use strict;
use warnings;

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Test::More ();
use Time::HiRes ();
use JSON::PP ();
use ABTest::Oracle qw(seed_group);
use ABTest::Json qw(json_body_check match_json decode http);
use ABTest::Stats qw(compare);

our $Rounds = 25;

# name => groups, control, the settings in the block (undef: defaults)
our @Exps = (
    [e2a => [qw(A B)], 'A', {}],
    [e2b => [qw(A B)], 'B', { tuning => 1000, alpha => '0.1',
                              mde => '5%' }],
    [e2c => [qw(off on)], 'off', { alpha => '0.2', tuning => 100 }],
    [e3a => [qw(X Y Z)], 'Z', {}],
    [e3b => [qw(X Y Z)], 'X', { sequential => 'off', mde => '25%' }],
    [e3c => [qw(a b c)], 'a', { mde => '2.5%', alpha => '0.01' }],
    [e4a => [qw(A B C D)], 'A', {}],
    [e4b => [qw(A B C D)], 'C', { alpha => '0.01', tuning => 20000 }],
);

sub http_config {
    my $conf = "    abtest_zone zone=abtest:4m events=0 devices=0;\n";
    for my $e (@Exps) {
        my ($name, $groups, $control, $set) = @$e;
        $conf .= "    abtest_experiment $name {\n"
               . join('', map { "        group $_ 1;\n" } @$groups)
               . "        fallback $control;\n"
               . "        exposure view_$name;\n"
               . "        goal     buy_$name;\n"
               . (defined $set->{sequential}
                  ? "        sequential $set->{sequential};\n" : '')
               . (defined $set->{tuning}
                  ? "        sequential_tuning $set->{tuning};\n" : '')
               . (defined $set->{mde} ? "        mde $set->{mde};\n" : '')
               . (defined $set->{alpha}
                  ? "        alpha $set->{alpha};\n" : '')
               . "    }\n";
    }
    return $conf;
}

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
_EOC_


# one device of each group of each experiment, by the seed's rule
our %Device;

sub device {
    my ($exp, $groups, $group) = @_;
    return $Device{"$exp/$group"} //= do {
        my $i = 0;
        $i++ while seed_group("t024-$exp-$i", $exp, [map { [$_, 1] } @$groups])
                   ne $group;
        "t024-$exp-$i";
    };
}


# one group's counts: a rate from a few kinds, a size from a few scales
sub counts {
    my $scale = (0, 1, 12, 150, 600, 2000)[int rand 6];
    my $n = $scale ? 1 + int rand $scale : 0;
    my $kind = int rand 8;
    my $rate = $kind == 0 ? 0 : $kind == 1 ? 1 : $kind == 2 ? 0.5
             : rand() ** 2;
    my $x = 0;
    $x += rand() < $rate ? 1 : 0 for 1 .. $n;
    return ($n, $x);
}


# the tables of one round: [n], [x] per experiment, with the special cases
# taking turns
sub round_tables {
    my ($round) = @_;
    my @tables;
    for my $i (0 .. $#Exps) {
        my ($name, $groups, $control) = @{ $Exps[$i] };
        my $k = @$groups;
        my (@n, @x);
        ($n[$_], $x[$_]) = counts() for 0 .. $k - 1;
        my $c = (grep { $groups->[$_] eq $control } 0 .. $k - 1)[0];
        my $other = ($c + 1) % $k;
        my $case = ($round + $i) % 8;
        if ($case == 0) {                           # every count zero
            @n = (0) x $k; @x = (0) x $k;
        } elsif ($case == 1) {                      # one group empty
            $n[$other] = 0; $x[$other] = 0;
        } elsif ($case == 2) {                      # all conversions
            $n[$other] ||= 7; $x[$other] = $n[$other];
            $n[$c] ||= 5; $x[$c] = $n[$c];
        } elsif ($case == 3) {                      # control converts none
            $n[$c] ||= 40; $x[$c] = 0;
        } elsif ($case == 4) {                      # a rate above 1
            $x[$other] = $n[$other] + 3;
        } elsif ($case == 5) {                      # large and close: A/A
            my $rate = 0.05 + rand 0.3;
            for my $g (0 .. $k - 1) {
                $n[$g] = 1500 + int rand 1000;
                $x[$g] = int($n[$g] * $rate + (rand() - 0.5) * 40);
            }
        } elsif ($case == 6) {                      # one clear winner
            $n[$_] = 1000 for 0 .. $k - 1;
            $x[$_] = 100 for 0 .. $k - 1;
            $x[$other] = 150;
        }
        push @tables, [\@n, \@x, $c];
    }
    return @tables;
}


# the events of one round, in POSTs of at most 1000
sub post_round {
    my (@tables) = @_;
    my @events;
    for my $i (0 .. $#Exps) {
        my ($name, $groups) = @{ $Exps[$i] };
        my ($n, $x) = @{ $tables[$i] };
        for my $g (0 .. $#$groups) {
            my $d = device($name, $groups, $groups->[$g]);
            push @events, (qq{{"deviceId":"$d","event":"view_$name"}})
                          x $n->[$g];
            push @events, (qq{{"deviceId":"$d","event":"buy_$name"}})
                          x $x->[$g];
        }
    }
    while (my @batch = splice @events, 0, 1000) {
        my ($status, $body) = http('POST', '/events',
                                   '[' . join(',', @batch) . ']',
                                   'Content-Type: application/json');
        return "POST /events: $status $body" if $status != 200;
    }
    return '';
}


sub reset_all {
    for my $e (@Exps) {
        my ($status, $body) = http('POST', '/api/experiments/update',
                                   qq{{"name": "$e->[0]", "reset_stats": true}},
                                   'Content-Type: application/json');
        return "reset $e->[0]: $status $body" if $status != 200;
    }
    return '';
}


# the expected stats of one experiment's table, the oracle's
sub want {
    my ($i, $n, $x, $c) = @_;
    my ($name, $groups, $control, $set) = @{ $Exps[$i] };
    my $mde = $set->{mde} // '10%';
    $mde =~ s/%$//;
    my %s = (sequential => ($set->{sequential} // 'on') eq 'on',
             tuning => $set->{tuning} // 5000,
             alpha => $set->{alpha} // 0.05, mde => $mde / 100);
    my $cmp = compare(n => $n, x => $x, control => $c, %s);
    my %groups;
    for my $g (0 .. $#$groups) {
        $groups{$groups->[$g]} = {
            %{ $cmp->{groups}[$g] },
            exposures => $n->[$g], conversions => $x->[$g],
            weight => 1, events => sub { '' }, other_events => sub { '' },
        };
    }
    return {
        title => $name, state => 'active', since => 'ISO',
        exposure => "view_$name", goal => "buy_$name", control => $control,
        sequential => $s{sequential} ? \1 : \0,
        sequential_tuning => $s{tuning}, groups => \%groups,
        srm => sub { '' }, sample_size => $cmp->{sample_size},
    };
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', http_config())
        if !defined $block->http_config;
    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log && !defined $block->must_die;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: 200 tables posted as events: every figure equals SciPy's
--- request
GET /api/stats
--- json eval
sub {
    srand 20261201;
    my ($tables, @wrong) = (0);
    my (%seen, %took);

    for my $round (1 .. $::Rounds) {
        my $e = ::reset_all();
        return $e if $e;

        my @tables = ::round_tables($round);
        my $t0 = Time::HiRes::time();
        $e = ::post_round(@tables);
        return $e if $e;
        $took{post} += Time::HiRes::time() - $t0;

        my ($status, $body) = ABTest::Json::http('GET', '/api/stats');
        return "GET /api/stats: $status" if $status != 200;
        # json_double writes null for NaN and infinities: none gets out
        return "not finite: $1" if $body =~ /((?i:nan|inf)\w*)/;
        my $got = ABTest::Json::decode($body);

        for my $i (0 .. $#::Exps) {
            my ($n, $x, $c) = @{ $tables[$i] };
            my $name = $::Exps[$i][0];
            my $t1 = Time::HiRes::time();
            my $want = ::want($i, $n, $x, $c);
            $took{oracle} += Time::HiRes::time() - $t1;
            my $err = ABTest::Json::match_json($got->{$name}, $want,
                                               "round $round: \$.$name");
            push @wrong, "$err (n @$n, x @$x)" if $err;
            $tables++;
            $seen{groups}{scalar @$n}++;
            $seen{zero}++ if !grep { $_ } @$n;
            $seen{empty}++ if grep { !$_ } @$n;
            $seen{all}++ if grep { $n->[$_] && $x->[$_] == $n->[$_] } 0 .. $#$n;
            $seen{above_1}++ if grep { $x->[$_] > $n->[$_] } 0 .. $#$n;
        }
    }

    Test::More::note("$tables tables: "
                     . JSON::PP->new->canonical->encode(\%seen)
                     . sprintf(", %.1f s posting, %.1f s in the oracle",
                               $took{post}, $took{oracle}));
    return scalar(@wrong) . " of $tables tables differ:\n"
           . CORE::join("\n", @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)])
        if @wrong;
    return "only $tables tables" if $tables < 200;
    return 'not every kind of table was made'
        if grep { !$seen{$_} } qw(zero empty all above_1);
    return '';
}



=== TEST 2: sequential coverage: 20,000 A/A experiments looked at after every 100 devices, never significant more than alpha + 0.01 of the time
--- request
GET /api/stats
--- json eval
sub {
    my $start = time;
    my $out = `/usr/bin/python3 t/lib/stats_oracle.py coverage 20000 20261201`;
    return "the simulation failed: $?" if $?;
    my $r = ABTest::Json::decode($out);
    my @bad;
    for my $rate (sort keys %{ $r->{share} }) {
        my $s = $r->{share}{$rate};
        Test::More::note(sprintf "rate %s: ever significant %.4f sequential,"
                         . " %.4f fixed-horizon (%d looks of %d, alpha %s)",
                         $rate, $s->{sequential}, $s->{fixed_horizon},
                         $r->{looks}, $r->{step}, $r->{alpha});
        push @bad, "rate $rate: $s->{sequential}"
            if $s->{sequential} > $r->{alpha} + 0.01;
    }
    return "more than alpha + 0.01 ever significant: @bad" if @bad;
    return 'the simulation took more than 60 s' if time - $start > 60;
    return '';
}



=== TEST 3: sequential off: no sequential figures, the rest as always
--- http_config
    abtest_zone zone=abtest:1m events=0 devices=0;
    abtest_experiment e {
        group      A 1;
        group      B 1;
        sequential off;
    }
--- request eval
my @ev;
for my $g (qw(A B)) {
    my $i = 0;
    $i++ while ABTest::Oracle::seed_group("t024-off-$i", 'e', [[A => 1], [B => 1]]) ne $g;
    push @ev, (qq{{"deviceId":"t024-off-$i","event":"pageview"}}) x 100;
    push @ev, (qq{{"deviceId":"t024-off-$i","event":"button_click"}})
              x ($g eq 'A' ? 10 : 30);
}
["POST /events\n[" . CORE::join(',', @ev) . "]", "GET /api/stats"]
--- more_headers
Content-Type: application/json
--- json eval
my $cmp = ABTest::Stats::compare(n => [100, 100], x => [10, 30], control => 0,
                  sequential => 0);
die "the oracle gave sequential figures"
    if defined $cmp->{raw}{groups}[1]{p_value_sequential};
die "the oracle gave no chance" if !$cmp->{raw}{groups}[1]{chance_to_beat_control};
[{ status => 'ok', accepted => 240 },
 { e => { title => 'e', state => 'active', since => 'ISO',
          exposure => 'pageview', goal => 'button_click', control => 'A',
          sequential => \0, sequential_tuning => 5000,
          groups => { map {
              my $g = $_;
              ($g => { %{ $cmp->{groups}[$g eq 'A' ? 0 : 1] },
                       weight => 1, exposures => 100,
                       conversions => $g eq 'A' ? 10 : 30,
                       events => sub { '' }, other_events => 0 })
          } qw(A B) },
          srm => sub { '' }, sample_size => $cmp->{sample_size} } }]



=== TEST 4: sequential takes on or off
--- http_config
    abtest_experiment e {
        group      A 1;
        sequential yes;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid sequential "yes": use on or off in \S+nginx\.conf:\d+/



=== TEST 5: sequential_tuning: a whole number of devices above 0
--- http_config
    abtest_experiment e {
        group             A 1;
        sequential_tuning 0;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid sequential_tuning "0": use a whole number of devices from 1 to 1000000000 in \S+nginx\.conf:\d+/



=== TEST 6: sequential_tuning: not a fraction
--- http_config
    abtest_experiment e {
        group             A 1;
        sequential_tuning 50.5;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid sequential_tuning "50\.5"/



=== TEST 7: mde needs its percent sign
--- http_config
    abtest_experiment e {
        group A 1;
        mde   0.1;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid mde "0\.1": use a relative difference above 0% and at most 1000%, such as 10% in \S+nginx\.conf:\d+/



=== TEST 8: mde of 0% is no difference to find
--- http_config
    abtest_experiment e {
        group A 1;
        mde   0%;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid mde "0%"/



=== TEST 9: mde above 1000%
--- http_config
    abtest_experiment e {
        group A 1;
        mde   1000.01%;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid mde "1000\.01%"/



=== TEST 10: mde with more than 4 decimals
--- http_config
    abtest_experiment e {
        group A 1;
        mde   1.00001%;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid mde "1\.00001%"/



=== TEST 11: alpha above 0.5
--- http_config
    abtest_experiment e {
        group A 1;
        alpha 0.51;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid alpha "0\.51": use a number above 0 and at most 0\.5, such as 0\.05 in \S+nginx\.conf:\d+/



=== TEST 12: alpha of 0
--- http_config
    abtest_experiment e {
        group A 1;
        alpha 0;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid alpha "0"/



=== TEST 13: alpha is a number
--- http_config
    abtest_experiment e {
        group A 1;
        alpha 5%;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid alpha "5%"/



=== TEST 14: each setting once
--- http_config
    abtest_experiment e {
        group A 1;
        alpha 0.05;
        alpha 0.01;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"alpha" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 15: the smallest settings taken: alpha 0.000001, mde 0.0001%, N* 1
--- http_config
    abtest_zone zone=abtest:1m events=0 devices=0;
    abtest_experiment e {
        group             A 1;
        group             B 1;
        alpha             0.000001;
        mde               0.0001%;
        sequential_tuning 1;
    }
--- request
GET /api/stats
--- json eval
{ e => { title => 'e', state => 'active', since => 'ISO',
         exposure => 'pageview', goal => 'button_click', control => 'A',
         sequential => \1, sequential_tuning => 1, groups => sub { '' },
         srm => sub { '' },
         sample_size => { per_group => undef, reached => undef,
                          mde => ABTest::Json::approx(0.000001),
                          alpha => ABTest::Json::approx(0.000001),
                          power => ABTest::Json::approx(0.8) } } }
