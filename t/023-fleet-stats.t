# vim:set ft= ts=4 sw=4 et fdm=marker:

# The fleet's figures in abtest_api stats (abtest_store): two servers
# (web1, Test::Nginx's, and web2, ABTest::Fleet's on port()+8) with one
# PostgreSQL (t/lib/ABTest/Pg.pm, port()+7) that has sql/abtest-events.sql
# loaded.  The servers' events logs are shipped here by the test itself
# (each line inserted into abtest_event_lines, as rsyslog's ompgsql does;
# t/022-ship.t runs rsyslog), so that what is checked is the servers'
# side: the listener's read every 2 s, the figures in the stats JSON,
# stale ones while the store is down, a reset starting them afresh.
#
# The expected figures are computed here, in Perl, from the raw lines of
# both logs: per device its groups, first exposure and last goal.  Needs
# root and Debian's postgresql; the file is skipped without them.

use strict;
use warnings;

use lib 't/lib';
use ABTest::Pg;

BEGIN { ABTest::Pg::require_pg() }

use Test::Nginx::Socket 'no_plan';
use ABTest::Json qw(json_body_check match_json decode);
use ABTest::Oracle ();
use ABTest::Stats ();
use ABTest::Nginx qw(wait_for read_file);
use ABTest::Fleet;
use Time::HiRes ();

master_on();
workers(2);

our $Pg = ABTest::Pg->new->start;

our $Db;
our $Web2;

our $Config = <<'_EOC_';
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /events {
        abtest_api events trusted=on;
    }

    location = /api/stats {
        abtest_api stats;
    }

    location = /api/status {
        abtest_api status;
    }
_EOC_

our $Groups = [[A => 1], [B => 1]];


sub root { Test::Nginx::Socket::server_root() }

sub http_config {
    my ($node) = @_;
    return "    abtest_zone zone=abtest:1m;\n"
           . "    abtest_store \"" . $Pg->conninfo($Db)
           . "\" node=$node timeout=1s poll=1s;\n"
           . "    abtest_events_log logs/events.log;\n"
           . "    abtest_experiment e {\n"
           . "        group A 1;\n"
           . "        group B 1;\n"
           . "    }\n";
}

# the lines of both servers' events logs (web2's if the block runs it)
sub logs {
    return (split(/\n/, read_file(root() . '/logs/events.log')),
            $Web2 ? split(/\n/, read_file($Web2->root . '/logs/events.log'))
                  : ());
}

# the lines into the store as a shipper would, each its own statement
# (dollar-quoted: the lines are JSON, never "$ab$")
sub ship {
    my (@lines) = @_;
    return if !@lines;
    $Pg->psql($Db, CORE::join '',
              map { "INSERT INTO abtest_event_lines VALUES (\$ab\$$_\$ab\$);\n" }
              @lines);
}

sub post {
    my ($web, @events) = @_;
    my $body = '[' . CORE::join(', ', map {
        qq{{"deviceId": "$_->[0]", "event": "$_->[1]"}}
    } @events) . ']';
    my ($status, $answer) = $web->http('POST', '/events', $body,
                                       'Content-Type: application/json');
    die "POST: $status $answer" if $status != 200;
}

sub stats { $_[0]->json('GET', '/api/stats')->{e} }

# the figures, from the raw lines: only what the servers counted (the
# lines' "counted"), in the epoch $start
sub oracle {
    my ($start, @lines) = @_;
    my (%dev, %events);
    my %ms;
    for my $line (@lines) {
        my $ev = decode($line);
        my $c = $ev->{counted}{e} or next;
        next if $c->{start} != $start;
        my ($y, $mo, $d, $h, $mi, $s, $frac) = $ev->{received}
            =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/;
        my $ms = Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y) * 1000
                 + $frac;
        my $dv = $dev{$ev->{deviceId}} //= { groups => {} };
        $dv->{groups}{$c->{group}} = 1;
        # the names the experiment lists are counted each, the others
        # together
        my $name = $ev->{event} =~ /^(pageview|button_click)$/
                   ? $ev->{event} : ' other';
        $events{$c->{group}}{$name}++;
        if ($c->{role} eq 'exposure') {
            $dv->{exposure} = $ms
                if !defined $dv->{exposure} || $ms < $dv->{exposure};
        } elsif ($c->{role} eq 'goal') {
            $dv->{goal} = $ms if !defined $dv->{goal} || $ms > $dv->{goal};
        }
    }
    my %want = (multiple => 0, groups => {});
    for my $g (qw(A B)) {
        my %named = %{ $events{$g} // {} };
        my $other = delete $named{' other'} // 0;
        $want{groups}{$g} = { exposures => $named{pageview} // 0,
                              conversions => $named{button_click} // 0,
                              events => \%named, other_events => $other,
                              devices => { exposures => 0,
                                           conversions => 0 } };
    }
    for my $dv (values %dev) {
        my @g = keys %{ $dv->{groups} };
        if (@g > 1) {
            $want{multiple}++;
            next;
        }
        next if !defined $dv->{exposure};
        my $w = $want{groups}{$g[0]}{devices};
        $w->{exposures}++;
        $w->{conversions}++
            if defined $dv->{goal} && $dv->{goal} >= $dv->{exposure};
    }
    return \%want;
}

# the part of the stats the oracle computes
sub figures {
    my ($st) = @_;
    return { multiple => $st->{multiple}, groups => { map {
        my $g = $st->{groups}{$_};
        ($_ => { exposures => $g->{exposures},
                 conversions => $g->{conversions}, events => $g->{events},
                 other_events => $g->{other_events},
                 devices => { exposures => $g->{devices}{exposures},
                              conversions => $g->{devices}{conversions} } })
    } keys %{ $st->{groups} } } };
}

sub ms_of {
    my ($iso) = @_;
    my ($y, $mo, $d, $h, $mi, $s, $frac) =
        $iso =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/ or return;
    return Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y) * 1000 + $frac;
}

# '' once both servers show the oracle's figures, not stale (within 10 s)
sub agree {
    my ($start, @web) = @_;
    my $want = oracle($start, logs());
    my $last = '';
    wait_for(sub {
        for my $web (@web) {
            my $st = eval { stats($web) } or return 0;
            $last = ABTest::Json::show($st);
            return 0 if $st->{stale} || ms_of($st->{since}) != $start;
            return 0 if ABTest::Json::show(figures($st))
                        ne ABTest::Json::show($want);
        }
        return 1;
    }, 10) or return "the figures are not the oracle's:\n  want "
                     . ABTest::Json::show($want) . "\n  last $last";
    return '';
}

sub start_web2 {
    $Web2 = ABTest::Fleet->start(port => ABTest::Json::port() + 8,
                                 http => http_config('web2'),
                                 server => $Config);
}

sub ready {
    my (@web) = @_;
    for my $web (@web) {
        wait_for(sub {
            my $s = eval { $web->json('GET', '/api/status') } or return 0;
            $s->{store}{ready} && $s->{store}{connected};
        }, 10) or return 'a server did not read the store';
    }
    return '';
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;
    my ($n) = $block->name =~ /TEST (\d+)/;
    $Db = "s$n";
    $Web2 = undef;
    $Pg->restart if !$Pg->pid;
    $Pg->create_db($Db);
    $Pg->psql($Db, read_file('sql/abtest-events.sql'));
    # the servers read the figures (README: Events in PostgreSQL)
    $Pg->psql($Db, 'GRANT SELECT ON abtest_group_devices, abtest_group_events,'
                   . ' abtest_multiple, abtest_nodes TO abtest');
    $block->set_value('http_config', http_config('web1'));
    $block->set_value('config', $Config);
    $block->set_value('request', 'GET /api/stats');
    $block->set_value('no_error_log', "[error]\n[crit]\n[alert]\n")
        if !defined $block->no_error_log;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every server shows the fleet's figures: events of both servers, devices counted once, a device's exposure on one server and its goal on the other; multiple; nodes and lag
--- json eval
sub {
    require Time::Local;
    ::start_web2();
    my $web1 = ABTest::Fleet->adopt(port => ABTest::Json::port(),
                                    root => ::root());
    my $web2 = $::Web2;
    my $e = ::ready($web1, $web2);
    return $e if $e;

    my @dev = map { sprintf 'f1e2d3c4-0000-4000-8000-%012d', $_ } 1 .. 12;

    # exposures on web1, goals of half of them on web2 (after), a goal
    # before any exposure on web2 for two more, pageviews twice
    ::post($web1, map { [$_, 'pageview'] } @dev[0 .. 9]);
    ::post($web2, map { [$_, 'button_click'] } @dev[0 .. 4]);
    ::post($web2, map { [$_, 'button_click'] } @dev[10 .. 11]);
    ::post($web2, map { [$_, 'pageview'] } @dev[0 .. 2], @dev[10 .. 11]);
    ::post($web1, map { [$_, 'scroll'] } @dev[5 .. 7]);

    my @lines = ::logs();
    my $start = ::decode($lines[0])->{counted}{e}{start};

    # a device the store saw in both groups (a line as another server
    # with other weights would write it): in neither, and multiple
    my $other = ABTest::Oracle::seed_group($dev[9], 'e', $::Groups) eq 'A'
                ? 'B' : 'A';
    my $first = ::decode($lines[0]);
    push @lines, ABTest::Json::show({ %$first, id => 1, node => 'web9',
        deviceId => $dev[9], device_id => $dev[9],
        counted => { e => { %{ $first->{counted}{e} }, group => $other } } });
    ::ship(@lines);

    my $want = ::oracle($start, @lines);
    return 'the oracle has no multiple' if $want->{multiple} != 1;

    my $last;
    ::wait_for(sub {
        $last = eval { ::stats($web1) } or return 0;
        !$last->{stale}
        && ABTest::Json::show(::figures($last)) eq ABTest::Json::show($want);
    }, 10) or return "web1's figures are not the oracle's:\n  want "
                     . ABTest::Json::show($want) . "\n  got  "
                     . ABTest::Json::show($last);

    # the figures on devices against SciPy's (t/lib/stats_oracle.py), and
    # the planned sample from the devices
    my @names = map { $_->[0] } @$::Groups;
    my @n = map { $want->{groups}{$_}{devices}{exposures} } @names;
    my @x = map { $want->{groups}{$_}{devices}{conversions} } @names;
    my $cmp = ABTest::Stats::compare(n => \@n, x => \@x, control => 0);
    my %groups = map {
        my $i = $_;
        ($names[$i] => sub {
            ::match_json($_[0]{devices}, { %{ $cmp->{groups}[$i] },
                                           exposures => $n[$i],
                                           conversions => $x[$i] },
                         "devices of $names[$i]");
        })
    } 0 .. $#names;

    $e = ::match_json($last, {
        title => 'e', state => 'active', since => 'ISO', exposure => 'pageview',
        goal => 'button_click', control => 'A', groups => \%groups,
        sequential => \1, sequential_tuning => 5000,
        sample_size => $cmp->{sample_size},
        srm => sub { '' }, multiple => 1, devices_complete => \1,
        source => 'store', as_of => 'ISO',
        lag => qr/^\d+(\.\d+)?$/, stale => \0,
        nodes => { web1 => 'ISO', web2 => 'ISO', web9 => 'ISO' } });
    return $e if $e;

    # and web2 shows the same
    my $st2;
    ::wait_for(sub {
        $st2 = eval { ::stats($web2) } or return 0;
        ABTest::Json::show(::figures($st2)) eq ABTest::Json::show($want);
    }, 10) or return "web2's: " . ABTest::Json::show($st2);

    # a re-delivered log changes nothing
    ::ship(::logs());
    my $again = ::stats($web1);
    ::wait_for(sub { (eval { ::stats($web1)->{as_of} } // '')
                     ne $again->{as_of} }, 5)
        or return 'no read after the re-delivery';
    return 'a re-delivery moved the figures: '
           . ABTest::Json::show(::figures(::stats($web1)))
        if ABTest::Json::show(::figures(::stats($web1)))
           ne ABTest::Json::show($want);

    $web2->stop;
    return "web2's error log: $1"
        if $web2->error_log =~ /^(.*\[(?:error|crit|alert|emerg)\].*)$/m;
    return '';
}
--- no_error_log
[error]
[crit]
[alert]



=== TEST 2: the store down: the last figures, stale with the reason; back, fresh again
--- json eval
sub {
    require Time::Local;
    my $web1 = ABTest::Fleet->adopt(port => ABTest::Json::port(),
                                    root => ::root());
    my $e = ::ready($web1);
    return $e if $e;

    ::post($web1, map { [sprintf('d%02d', $_), 'pageview'] } 1 .. 6);
    ::post($web1, map { [sprintf('d%02d', $_), 'button_click'] } 1 .. 2);
    my @lines = ::logs();
    ::ship(@lines);
    my $start = ::decode($lines[0])->{counted}{e}{start};

    $e = ::agree($start, $web1);
    return $e if $e;
    my $before = ::figures(::stats($web1));

    $::Pg->kill;

    my $st;
    ::wait_for(sub { $st = eval { ::stats($web1) }; $st && $st->{stale} }, 5)
        or return 'not stale with the store down: ' . ABTest::Json::show($st);
    return 'stale without a reason' if !length($st->{reason} // '');
    return 'the last figures are gone: ' . ABTest::Json::show(::figures($st))
        if ABTest::Json::show(::figures($st)) ne ABTest::Json::show($before);

    $::Pg->restart;
    $e = ::ready($web1);
    return $e if $e;

    ::wait_for(sub { $st = eval { ::stats($web1) }; $st && !$st->{stale} }, 10)
        or return 'still stale: ' . ABTest::Json::show($st);
    return exists $st->{reason} ? 'a reason when fresh' : '';
}
--- no_error_log
[crit]
[alert]



=== TEST 3: a weight change starts the figures afresh fleet-wide; a late line of the old epoch does not count
--- json eval
sub {
    require Time::Local;
    my $web1 = ABTest::Fleet->adopt(port => ABTest::Json::port(),
                                    root => ::root());
    my $e = ::ready($web1);
    return $e if $e;

    ::post($web1, map { [sprintf('d%02d', $_), 'pageview'] } 1 .. 4);
    my @old = ::logs();
    ::ship(@old);
    $e = ::agree(::decode($old[0])->{counted}{e}{start}, $web1);
    return $e if $e;

    my ($status, $body) = $web1->http('POST', '/api/experiments/update',
        '{"name": "e", "groups": {"A": 1, "B": 3}}',
        'Content-Type: application/json');
    return "update: $status $body" if $status != 200;

    ::post($web1, map { [sprintf('n%02d', $_), 'pageview'] } 1 .. 3);
    my @lines = ::logs();
    my @new = @lines[@old .. $#lines];
    my $start = ::decode($new[0])->{counted}{e}{start};
    return 'the same epoch after a weight change'
        if $start == ::decode($old[0])->{counted}{e}{start};

    # the new epoch's lines, and one of the old epoch arriving late
    ::ship(@new);
    my $late = ::decode($old[0]);
    ::ship(ABTest::Json::show({ %$late, id => $late->{id} + 1000,
                                deviceId => 'late', device_id => 'late' }));

    $::Groups = [[A => 1], [B => 3]];
    return ::agree($start, $web1);
}
