# vim:set ft= ts=4 sw=4 et fdm=marker:

# Who enters, with a fleet (issue 15): three servers of two workers each
# (Test::Nginx's own is web1; web2 and web3 are ABTest::Fleet's, on ports
# port()+8 and port()+9) and one PostgreSQL cluster (port()+7), a database
# per block, as in t/021-fleet.t:
#
# * coverage and the schedule set through one server are seen by all
#   three, in the store's row and in every server's assignment (oracle:
#   Digest::SHA); a DBA's hostile values are refused with an error line;
# * the holdout set through one server is seen by all, from the store's
#   abtest_settings; a DBA's change applies, a hostile one does not, and
#   an edited abtest_holdout does not override the store's;
# * a schedule's start crossing while requests flow on two workers of
#   three servers: every server active at the moment itself (the same
#   "started"), within a second, the devices' groups the fallback with
#   reason "schedule" before it and the seed's rule's after; the store's
#   row written once, by the first server;
# * a schedule's stop crossing while PostgreSQL is down: every server
#   stops by itself; once the store is back, its row is brought up to the
#   schedule, and nothing writes the old state back;
# * a store of the previous version's schema (t/data/abtest-0.9.0.sql):
#   made by the servers' role, brought up to date by the servers, its
#   rows kept; made by a DBA, the servers say what to run, and catch up
#   once it is run.
#
# Needs root and Debian's postgresql; the file is skipped without them.

use strict;
use warnings;

use lib 't/lib';
use ABTest::Pg;

BEGIN { ABTest::Pg::require_pg() }

use Test::Nginx::Socket 'no_plan';
use ABTest::Json qw(json_body_check match_json decode same);
use ABTest::Oracle ();
use ABTest::Nginx qw(wait_for worker_pids master_pid alive read_file);
use ABTest::Fleet qw(name status update ready log_clean log_lines
                     once_per_process all_logs_clean);
use ABTest::Child qw(spawn reap);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

master_on();
workers(2);

our $Tmp = tempdir('abtest-tfleet-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Tmp;

our $Pg = ABTest::Pg->new->start;

# the block's database, made afresh before web1 starts ("%DB%")
our $Db;

our @Web;

our $Config = <<'_EOC_';
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /api/expgroups {
        add_header X-Worker $pid always;
        abtest_api expgroups;
    }

    location = /api/status {
        abtest_api status;
    }
_EOC_

our $Experiment = <<'_EOC_';
    abtest_experiment e {
        group A 1;
        group B 1;
        fallback A;
    }
_EOC_

our @Groups = (['A', 1], ['B', 1]);

# the rights a DBA gives the servers' role on sql/abtest.sql's schema
our $Grants = <<'_EOS_';
GRANT SELECT, INSERT, UPDATE ON abtest_experiments, abtest_settings
    TO abtest;
GRANT USAGE ON SEQUENCE abtest_version TO abtest;
_EOS_

# every UPDATE of a row that changes its state, as committed
our $Audit = <<'_EOS_';
CREATE TABLE abtest_audit (
    version      bigint PRIMARY KEY,
    state        text NOT NULL,
    old_state    text NOT NULL,
    start_ms     bigint,
    updated_by   text
);

CREATE FUNCTION abtest_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state <> OLD.state THEN
        INSERT INTO abtest_audit VALUES (NEW.version, NEW.state, OLD.state,
            NEW.start_ms, NEW.updated_by);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER abtest_audit AFTER UPDATE ON abtest_experiments
    FOR EACH ROW EXECUTE FUNCTION abtest_audit();

GRANT INSERT ON abtest_audit TO abtest;
_EOS_


sub root { Test::Nginx::Socket::server_root() }

sub now { Time::HiRes::time() }

# ms since the epoch as the API writes it
sub iso {
    my ($ms) = @_;
    my @t = gmtime(int($ms / 1000));
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', $t[5] + 1900,
                   $t[4] + 1, @t[3, 2, 1, 0], $ms % 1000;
}

sub store_config {
    my (%o) = @_;
    return "    abtest_zone zone=abtest:1m;\n"
           . "    abtest_store \"" . $Pg->conninfo($o{db} // '%DB%')
           . "\" node=" . ($o{node} // 'web1') . " timeout=1s poll=1s;\n"
           . ($o{holdout} ? "    abtest_holdout $o{holdout};\n" : '')
           . ($o{experiment} // $Experiment);
}

sub web_config {
    my ($node, %o) = @_;
    return store_config(db => $Db, node => $node, %o);
}

# the block's fleet: web1 as Test::Nginx started it, web2 and web3
sub fleet {
    my (%o) = @_;
    @Web = ABTest::Fleet->three(root => root(), server => $Config,
                                http => sub {
                                    web_config("web$_[0]",
                                               %{ $o{"web$_[0]"} // {} })
                                });
    return @Web;
}

sub exp_json { $_[0]->json('GET', '/api/experiments')->{e} }

# an update that must answer 200: '' or what it answered
sub updated {
    my ($web, $json) = @_;
    my ($status, $body) = update($web, $json);
    return $status == 200 ? '' : name($web) . ": $json: $status $body";
}


# '' once every server's e shows the fields of $want (within $seconds),
# else what the first that does not shows
sub all_show {
    my ($want, $seconds, @web) = @_;
    my $e = '';
    wait_for(sub {
        for my $web (@web) {
            my $got = eval { exp_json($web) } or do {
                $e = name($web) . ": $@";
                return 0;
            };
            my %part = map { $_ => $got->{$_} } keys %$want;
            $e = match_json(\%part, $want);
            if ($e) {
                $e = name($web) . ": $e in " . ABTest::Json::show($got);
                return 0;
            }
        }
        $e = '';
        return 1;
    }, $seconds);
    return $e;
}

# the store's row of e (A,B): column => text ('' for NULL)
sub row {
    my @cols = qw(state rollout_group start_ms end_ms stats_start_ms
                  coverage schedule_start_ms schedule_stop_ms version
                  updated_by);
    my @rows = $Pg->psql($Db, 'SELECT ' . join(', ', map { "${_}::text" }
                                                        @cols)
                         . ", weights::text FROM abtest_experiments"
                         . " WHERE name = 'e' AND groups = 'A,B'");
    return undef if !@rows;
    my %row;
    @row{@cols, 'weights'} = @{$rows[0]};
    $row{weights} = decode($row{weights});
    return \%row;
}

# the store's holdout row: [value, version, updated_by], or undef
sub setting {
    my @rows = $Pg->psql($Db, "SELECT value, version, updated_by"
                              . " FROM abtest_settings"
                              . " WHERE name = 'holdout'");
    return @rows ? $rows[0] : undef;
}

# '' once every server runs e from the store's row version (status)
sub all_at_row {
    my (@web) = @_;
    my $e = '';
    wait_for(sub {
        my $row = row() or return 0;
        for my $web (@web) {
            my $v = eval { status($web)->{experiments}{e} } // {};
            if (($v->{source} // '') ne 'store'
                || ($v->{version} // -1) != $row->{version})
            {
                $e = name($web) . ' runs from ' . ABTest::Json::show($v)
                     . ", the row is version $row->{version}";
                return 0;
            }
        }
        $e = '';
        return 1;
    }, 5);
    return $e;
}

# when each server first shows e in $state, until the time $until:
# name => [time, e]
sub seen_in {
    my ($state, $until, @web) = @_;
    my %seen;
    wait_for(sub {
        for my $web (@web) {
            next if $seen{name($web)};
            my $got = eval { exp_json($web) } or next;
            $seen{name($web)} = [now(), $got] if $got->{state} eq $state;
        }
        return keys %seen == @web;
    }, $until - now());
    return \%seen;
}

# '' when every server of seen_in's $seen started (or ended, as $field
# says) at the moment itself, within a second, and says so in $field
sub crossed {
    my ($seen, $field, $moment, $iso, @web) = @_;
    my ($state, $did, $do) = $field eq 'started'
                             ? ('active', 'started', 'start')
                             : ('inactive', 'stopped', 'stop');
    for my $web (@web) {
        my $first = $seen->{name($web)}
            or return name($web) . " did not $do";
        my ($t, $got) = @$first;
        return sprintf("%s was $state %.3f s before the moment",
                       name($web), $moment - $t) if $t < $moment - 0.005;
        return sprintf("%s $did %.3f s after the moment", name($web),
                       $t - $moment) if $t > $moment + 1;
        return name($web) . " $field at " . ($got->{$field} // 'null')
               . ", not at $iso" if ($got->{$field} // '') ne $iso;
    }
    return '';
}

# a device's expgroups answer of e on a server, with the worker's pid
sub groups_of {
    my ($web, $device) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $web->port, Proto => 'tcp',
                                     Timeout => 10)
        or die "cannot connect to " . name($web) . ": $!";

    print $sock "GET /api/expgroups?device_id=$device HTTP/1.1\r\n"
                . "Host: localhost\r\nConnection: close\r\n\r\n";

    local $/;
    my $resp = <$sock> // '';
    close $sock;

    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    my ($pid) = $head =~ /^X-Worker: (\d+)/mi;
    die name($web) . ": expgroups of $device: " . ($status // '?')
        . " $resp" if ($status // 0) != 200 || !$pid;

    my $answer = decode($body)->{e};
    $answer->{pid} = $pid;
    return $answer;
}

# the oracle: what a device gets with a coverage (of 10000) and a holdout
sub oracle {
    my ($device, %o) = @_;
    my $rule = ABTest::Oracle::seed_group($device, 'e', \@Groups);

    return { in => 0, reason => 'schedule', group => 'A' } if $o{schedule};

    return { in => 0, reason => 'holdout', group => 'A' }
        if ABTest::Oracle::seed_bucket($device, 'holdout', 10000)
           < ($o{holdout} // 0);

    return { in => 0, reason => 'coverage', group => 'A' }
        if ABTest::Oracle::seed_bucket($device, 'e:coverage', 10000)
           >= ($o{coverage} // 10000);

    return { in => 1, reason => undef, group => $rule };
}

# '' when every server gives each of $n devices what the oracle says
sub all_assign {
    my ($n, $tag, %o) = @_;
    my %reasons;
    for my $web (@Web) {
        for my $i (1 .. $n) {
            my $device = "$tag-$i";
            my $got = groups_of($web, $device);
            my $want = oracle($device, %o);
            $reasons{$want->{reason} // 'in'}++;
            return name($web) . ": $device: " . ABTest::Json::show($got)
                   . ', the oracle says ' . ABTest::Json::show($want)
                if ($got->{in_experiment} ? 1 : 0) != $want->{in}
                   || ($got->{reason} // '') ne ($want->{reason} // '')
                   || $got->{group} ne $want->{group};
        }
    }
    Test::More::diag("$tag: " . ABTest::Json::show(\%reasons));
    return '';
}

# the logs of one outage of the store: its [error] once per process,
# nothing worse, and its end said
sub outage_logs { ABTest::Fleet::outage_logs(\@Web) }

sub clean_logs { all_logs_clean(\@Web) }

# a block's checks: web2 and web3 stopped and PostgreSQL running whatever
# happens; then the logs of what ran
sub scenario {
    my ($check, $logs) = @_;
    return sub {
        my @args = @_;
        my $e = eval { $check->(@args) } // "died: $@";
        $Pg->running;
        $_->stop for grep { name($_) ne 'web1' } @Web;
        $e ||= ($logs // \&clean_logs)->();
        return $e;
    };
}

# the shape of the store's schema: columns, triggers, indexes of its tables
sub shape {
    my ($db) = @_;
    my $tables = "('abtest_experiments', 'abtest_settings')";
    return join "\n", map { join ' ', @$_ }
        $Pg->psql($db, "SELECT table_name, column_name, data_type,"
                       . " is_nullable, coalesce(column_default, '')"
                       . " FROM information_schema.columns"
                       . " WHERE table_name IN $tables"
                       . " ORDER BY table_name, column_name"),
        $Pg->psql($db, "SELECT tgname, tgtype, tgfoid::regproc FROM pg_trigger"
                       . " WHERE NOT tgisinternal AND tgname LIKE 'abtest_%'"
                       . " AND tgname <> 'abtest_audit' ORDER BY tgname"),
        $Pg->psql($db, "SELECT indexname, indexdef FROM pg_indexes"
                       . " WHERE tablename IN $tables ORDER BY indexname");
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    my ($n) = $block->name =~ /TEST (\d+)/;
    $Db = "tf$n";
    @Web = ();

    # "--- pg_setup": SQL run in the block's database before nginx starts
    ABTest::Fleet::setup_block($block, pg => $Pg, db => $Db,
                               http => store_config(), server => $Config);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: coverage and the schedule set through one server: every server and the store's row show them, every server assigns by them
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    # coverage through web2
    $e = ::updated($web[1], '{"name": "e", "coverage": 0.2}');
    return $e if $e;

    $e = ::all_show({ coverage => 0.2, start => undef, stop => undef },
                    5, @web);
    return $e if $e;

    my $row = ::row();
    return 'the row: ' . ABTest::Json::show($row)
        if $row->{coverage} ne '2000' || $row->{schedule_start_ms} ne ''
           || $row->{updated_by} ne 'web2';

    $e = ::all_at_row(@web) || ::all_assign(200, 'cov', coverage => 2000);
    return $e if $e;

    # the schedule through web3: the coverage stays
    $e = ::updated($web[2], '{"name": "e", "start": "2030-01-01T00:00:00Z",'
                            . ' "stop": "2030-02-01T12:30:00.250Z"}');
    return $e if $e;

    $e = ::all_show({ coverage => 0.2, start => '2030-01-01T00:00:00.000Z',
                      stop => '2030-02-01T12:30:00.250Z', state => 'active' },
                    5, @web);
    return $e if $e;

    $row = ::row();
    return 'the row: ' . ABTest::Json::show($row)
        if $row->{coverage} ne '2000'
           || $row->{schedule_start_ms} ne '1893456000000'
           || $row->{schedule_stop_ms} ne '1896179400250'
           || $row->{updated_by} ne 'web3';

    $e = ::all_at_row(@web) || ::all_assign(20, 'sched', schedule => 1);
    return $e if $e;

    # no schedule again, through web1, and a wider coverage
    $e = ::updated($web[0], '{"name": "e", "start": null, "stop": null,'
                            . ' "coverage": 0.35}');
    return $e if $e;

    $e = ::all_show({ coverage => 0.35, start => undef, stop => undef },
                    5, @web);
    return $e if $e;

    $row = ::row();
    return 'the row: ' . ABTest::Json::show($row)
        if $row->{coverage} ne '3500' || $row->{schedule_start_ms} ne ''
           || $row->{schedule_stop_ms} ne '';

    $e = ::all_at_row(@web) || ::all_assign(200, 'cov', coverage => 3500);
    return $e if $e;

    # a DBA's typos: refused by every server, said once each, not applied
    my @typos = (
        ['coverage = 10001', qr/coverage: not a whole number from 0 to 10000 \(of 10000\)/],
        ['coverage = -1', qr/coverage: not a whole number from 0 to 10000 \(of 10000\)/],
        ['schedule_start_ms = 2000, schedule_stop_ms = 1000', qr/schedule_stop_ms: not after schedule_start_ms/],
        ['schedule_start_ms = -7', qr/schedule_start_ms, schedule_stop_ms: not times/],
    );

    for my $typo (@typos) {
        my ($set, $re) = @$typo;
        my $version = $::Pg->value($::Db, "UPDATE abtest_experiments SET $set"
                                   . " WHERE name = 'e' RETURNING version");
        my $line = qr/\[error\] .*abtest: the store's row of experiment "e" \(groups A,B, version $version\) is refused: $re; the experiment keeps its run-time state/;
        for my $web (@web) {
            ::wait_for(sub { ::log_lines($web, $line) }, 5)
                or return ::name($web) . " said nothing of $set";
        }

        $e = ::all_show({ coverage => 0.35, start => undef }, 1, @web);
        return "$set: $e" if $e;

        $::Pg->psql($::Db, q{UPDATE abtest_experiments SET coverage = 3500,
            schedule_start_ms = NULL, schedule_stop_ms = NULL});
    }

    $e = ::all_at_row(@web);
    return $e if $e;

    for my $web (@web) {
        $e = ::once_per_process($web, qr/the store's row of experiment "e"/,
                                scalar @typos);
        return $e if $e;
    }

    return '';
}, sub {
    for my $web (@::Web) {
        my $e = ::log_clean($web, qr/the store's row of experiment "e" .* is refused: (coverage|schedule_)/);
        return $e if $e;
    }
    return '';
})
--- no_error_log
[crit]
[alert]



=== TEST 2: the holdout set through one server: every server shows it (abtest_settings) and holds out the same devices; a DBA's change too, a hostile one not; an edited abtest_holdout does not override the store's
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    # the first server made the row of its zone's
    my $s = ::setting();
    return 'no holdout row: ' . ABTest::Json::show($s)
        if !$s || $s->[0] ne '0' || $s->[2] !~ /^web[123]$/;

    my ($status, $body) = ::update($web[2], '{"holdout": 0.3}');
    return "holdout through web3: $status $body"
        if $status != 200 || !::same(::decode($body), { holdout => 0.3 });

    $s = ::setting();
    return 'the holdout row: ' . ABTest::Json::show($s)
        if $s->[0] ne '3000' || $s->[2] ne 'web3';

    $e = ::all_show({ holdout => 0.3 }, 5, @web)
         || ::all_assign(200, 'hold', holdout => 3000);
    return $e if $e;

    # not alone in its body, as without a store
    ($status, $body) = ::update($web[0], '{"holdout": 0.1, "name": "e"}');
    return "holdout with a name: $status $body" if $status != 400;

    # a DBA's change by hand
    $::Pg->psql($::Db, "UPDATE abtest_settings SET value = 1500"
                       . " WHERE name = 'holdout'");
    $e = ::all_show({ holdout => 0.15 }, 5, @web)
         || ::all_assign(100, 'hold2', holdout => 1500);
    return $e if $e;

    # a hostile one: said once per server, not applied
    my $version = $::Pg->value($::Db, "UPDATE abtest_settings"
                                      . " SET value = 10001 WHERE name ="
                                      . " 'holdout' RETURNING version");
    my $line = qr/\[error\] .*abtest: the store's setting "holdout" \(version $version\) is refused: value: not a whole number from 0 to 10000 \(of 10000\); the server keeps its holdout/;
    for my $web (@web) {
        ::wait_for(sub { ::log_lines($web, $line) }, 5)
            or return ::name($web) . ' did not refuse the hostile holdout';
    }

    # polls later, still once, and not applied
    my $polls = ::status($web[0])->{store}{applied};
    ::wait_for(sub { ::status($web[0])->{store}{applied} gt $polls }, 5);
    $polls = ::status($web[0])->{store}{applied};
    ::wait_for(sub { ::status($web[0])->{store}{applied} gt $polls }, 5);

    for my $web (@web) {
        my @lines = ::log_lines($web, qr/the store's setting "holdout"/);
        return ::name($web) . ' refused it ' . scalar(@lines) . ' times'
            if @lines != 1;
    }

    $e = ::all_show({ holdout => 0.15 }, 1, @web);
    return $e if $e;

    # web2 reloaded with abtest_holdout 10%: the store's stays
    $e = ::updated($web[1], '{"holdout": 0.05}');
    return $e if $e;
    $e = ::all_show({ holdout => 0.05 }, 5, @web);
    return $e if $e;

    $e = $web[1]->reload(http => ::web_config('web2', holdout => '10%'));
    return $e if $e;

    $e = ::ready($web[1]) || ::all_show({ holdout => 0.05 }, 3, @web);
    return $e if $e;

    return '';
}, sub {
    for my $web (@::Web) {
        my $e = ::log_clean($web, qr/the store's setting "holdout" \(version \d+\) is refused/);
        return $e if $e;
    }
    return '';
})
--- no_error_log
[crit]
[alert]



=== TEST 3: a schedule's start crosses while requests flow on two workers of three servers: all start at the moment itself, within a second; fallback with reason "schedule" before it, the seed's rule after; the store's row written once
--- pg_setup eval
::read_file('sql/abtest.sql') . ";\n$::Grants;\n$::Audit"
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    $e = ::updated($web[0], '{"name": "e", "state": "inactive"}');
    return $e if $e;

    # the start, 3 s on, through web2
    my $at = int((::now() + 3) * 1000);
    my $iso = ::iso($at);
    my $moment = $at / 1000;

    $e = ::updated($web[1], qq{{"name": "e", "start": "$iso"}});
    return $e if $e;

    $e = ::all_show({ state => 'inactive', start => $iso }, 2, @web);
    return $e if $e;
    return 'the schedule reached every server too late'
        if ::now() > $moment - 0.5;

    # four clients per server, until 1.5 s after the moment: each line
    # "sent answered pid in reason group"
    my $file = "$::Tmp/b3";
    my @pids;
    for my $w (0 .. $#web) {
        for my $c (1 .. 4) {
            my $web = $web[$w];
            my $me = "$w-$c";
            push @pids, ::spawn(sub {
                open my $out, '>', "$file.$me" or die "$file.$me: $!";
                my $i = 0;
                while (::now() < $moment + 1.5) {
                    my $device = "x$me-" . ++$i;
                    my $t0 = ::now();
                    my $g = ::groups_of($web, $device);
                    my $t1 = ::now();
                    printf $out "%.6f %.6f %s %s %d %s %s\n", $t0, $t1,
                           $device, $g->{pid}, $g->{in_experiment} ? 1 : 0,
                           $g->{reason} // '-', $g->{group};
                }
                close $out;
            });
        }
    }

    # when each server shows e active
    my $seen = ::seen_in('active', $moment + 5, @web);

    $e = ::reap(10, @pids);
    return $e if $e;

    $e = ::crossed($seen, 'started', $moment, $iso, @web);
    return $e if $e;

    Test::More::diag('seen active after the moment (ms): '
        . CORE::join(', ', map { sprintf '%s %.1f', $_,
                               1000 * ($seen->{$_}[0] - $moment) }
                     sort keys %$seen));

    # the devices: before the moment the fallback, for the schedule; after
    # it the seed's rule, on both workers of each server
    my (%before, %after, $n, $waiting);
    for my $w (0 .. $#web) {
        for my $c (1 .. 4) {
            for my $line (split /\n/, ::read_file("$file.$w-$c")) {
                my ($t0, $t1, $device, $pid, $in, $reason, $group)
                    = split / /, $line;
                my $rule = { in => 1, reason => '-', group =>
                             ABTest::Oracle::seed_group($device, 'e',
                                                        \@::Groups) };
                my $fallback = { in => 0, reason => 'schedule',
                                 group => 'A' };
                my $got = { in => $in + 0, reason => $reason,
                            group => $group };
                my $name = ::name($web[$w]);
                $n++;

                if ($t1 < $moment - 0.005) {
                    return "$name before the moment: $line"
                        if !::same($got, $fallback);
                    $before{$name}{$pid}++;

                } elsif ($t0 > $moment + 0.005) {
                    return "$name after the moment: $line, the rule says"
                           . " $rule->{group}" if !::same($got, $rule);
                    $after{$name}{$pid}++;

                } elsif (!::same($got, $fallback) && !::same($got, $rule)) {
                    # in the millisecond between the moment and the
                    # worker's timer, in the experiment, still inactive
                    return "$name at the moment: $line"
                        if !::same($got, { %$rule, group => 'A' });
                    $waiting++;
                }
            }
        }
    }

    Test::More::diag("$n answers (" . ($waiting // 0) . ' in the experiment'
        . ' before the timer made it active); before the moment per worker: '
        . ABTest::Json::show(\%before) . '; after: '
        . ABTest::Json::show(\%after));

    for my $web (@web) {
        my $name = ::name($web);
        for my $phase ([before => \%before], [after => \%after]) {
            return "$name answered $phase->[0] the moment from "
                   . scalar(keys %{ $phase->[1]{$name} // {} })
                   . ' worker(s)'
                if keys %{ $phase->[1]{$name} // {} } < 2;
        }
    }

    # the store's row: active from the moment, written once
    ::wait_for(sub { (::row()->{state} // '') eq 'active' }, 5)
        or return 'the row: ' . ABTest::Json::show(::row());

    my $row = ::row();
    return 'the row: ' . ABTest::Json::show($row)
        if $row->{start_ms} ne $at || $row->{stats_start_ms} ne $at
           || $row->{end_ms} ne '' || $row->{schedule_start_ms} ne $at;

    my @audit = $::Pg->psql($::Db, "SELECT version, state, old_state,"
                                   . " start_ms, updated_by FROM abtest_audit"
                                   . " WHERE state = 'active'");
    return 'the start written ' . scalar(@audit) . ' times: '
           . ABTest::Json::show(\@audit) if @audit != 1;
    Test::More::diag("the row written by $audit[0][4]");

    $e = ::all_at_row(@web)
         || ::all_show({ state => 'active', started => $iso }, 1, @web);
    return $e if $e;

    return '';
})



=== TEST 4: a schedule's stop crosses while PostgreSQL is down: every server stops at the moment by itself; the store back, its row is brought up to the schedule, and an update keeps it
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    $e = ::updated($web[0], '{"name": "e", "coverage": 0.5}')
         || ::updated($web[1], '{"holdout": 0.1}');
    return $e if $e;

    my $at = int((::now() + 3) * 1000);
    my $iso = ::iso($at);
    my $moment = $at / 1000;

    $e = ::updated($web[2], qq{{"name": "e", "stop": "$iso"}});
    return $e if $e;

    $e = ::all_show({ stop => $iso, coverage => 0.5, holdout => 0.1 }, 2,
                    @web);
    return $e if $e;

    my $before = ::row();
    return 'the row: ' . ABTest::Json::show($before)
        if $before->{state} ne 'active' || $before->{schedule_stop_ms} ne $at;

    $::Pg->kill;

    my $seen = ::seen_in('inactive', $moment + 5, @web);
    $e = ::crossed($seen, 'ended', $moment, $iso, @web);
    return $e if $e;

    $e = ::all_assign(20, 'stopped', schedule => 1);
    return $e if $e;

    $::Pg->restart;

    $e = ::ready(@web);
    return $e if $e;

    ::wait_for(sub { (::row()->{state} // '') eq 'inactive' }, 5)
        or return 'the row was not brought up: ' . ABTest::Json::show(::row());

    my $row = ::row();
    return 'the row: ' . ABTest::Json::show($row)
        if $row->{end_ms} ne $at || $row->{start_ms} ne $before->{start_ms}
           || $row->{coverage} ne '5000';

    $e = ::all_at_row(@web)
         || ::all_show({ state => 'inactive', ended => $iso, coverage => 0.5,
                         holdout => 0.1 }, 1, @web);
    return $e if $e;

    # an update through another server builds on the stopped row
    $e = ::updated($web[1], '{"name": "e", "groups": {"A": 2, "B": 1}}');
    return $e if $e;

    $row = ::row();
    return 'the update wrote back: ' . ABTest::Json::show($row)
        if $row->{state} ne 'inactive' || $row->{end_ms} ne $at
           || !::same($row->{weights}, { A => 2, B => 1 });

    $e = ::all_at_row(@web)
         || ::all_show({ state => 'inactive', ended => $iso,
                         groups => { A => 2, B => 1 } }, 1, @web);
    return $e if $e;

    return '';
}, \&::outage_logs)
--- no_error_log
[crit]
[alert]



=== TEST 5: a store of the previous version (made by the servers' role): the servers bring its schema up to date and keep its rows
--- pg_setup eval
"SET ROLE abtest;\n" . ::read_file('t/data/abtest-0.9.0.sql') . q{;
INSERT INTO abtest_experiments (name, groups, weights, state, start_ms,
                                stats_start_ms, updated_by)
    VALUES ('e', 'A,B', '{"A": 30, "B": 70}', 'active', 1000, 1000, 'old');}
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my $old = $::Pg->value($::Db, 'SELECT version FROM abtest_experiments');

    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    # the schema is the new one's
    $::Pg->create_db('tf_fresh');
    $::Pg->psql('tf_fresh', ::read_file('sql/abtest.sql'));

    my ($made, $fresh) = (::shape($::Db), ::shape('tf_fresh'));
    return "the upgraded schema:\n$made\nsql/abtest.sql's:\n$fresh"
        if $made ne $fresh;

    # the row as it was, with the new columns' defaults; every server runs
    # from it
    my $row = ::row();
    return 'the row: ' . ABTest::Json::show($row)
        if $row->{version} != $old || $row->{coverage} ne '10000'
           || $row->{schedule_start_ms} ne ''
           || !::same($row->{weights}, { A => 30, B => 70 });

    $e = ::all_at_row(@web)
         || ::all_show({ groups => { A => 30, B => 70 }, coverage => 1,
                         holdout => 0 }, 1, @web);
    return $e if $e;

    return 'no holdout row: ' . ABTest::Json::show(::setting())
        if !::setting();

    # and the new fields cross
    $e = ::updated($web[1], '{"name": "e", "coverage": 0.25}')
         || ::updated($web[2], '{"holdout": 0.02}');
    return $e if $e;

    $e = ::all_show({ coverage => 0.25, holdout => 0.02,
                      groups => { A => 30, B => 70 } }, 5, @web);
    return $e if $e;

    return 'the row: ' . ABTest::Json::show(::row())
        if ::row()->{coverage} ne '2500';

    return '';
})



=== TEST 6: a store of the previous version made by a DBA: the server says what to run, serves meanwhile, and catches up once it is run
--- pg_setup eval
::read_file('t/data/abtest-0.9.0.sql') . q{;
INSERT INTO abtest_experiments (name, groups, weights, state, start_ms)
    VALUES ('e', 'A,B', '{"A": 40, "B": 60}', 'active', 1);
GRANT SELECT, INSERT, UPDATE ON abtest_experiments TO abtest;
GRANT USAGE ON SEQUENCE abtest_version TO abtest;}
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my $web = ABTest::Fleet->adopt(name => 'web1',
                                   port => ABTest::Json::port(),
                                   root => ::root());
    @::Web = ($web);

    my $line = qr/\[error\] .*abtest: the store "[^"]+" is unreachable: the schema could not be made or brought up to date \(sql\/abtest\.sql, run by the tables' owner, does it\): ERROR:  must be owner of table abtest_experiments/;
    ::wait_for(sub { ::log_lines($web, $line) }, 5)
        or return 'nothing said of the old schema: ' . $web->error_log;

    my $s = ::status($web);
    return 'status: ' . ABTest::Json::show($s->{store}) if $s->{store}{ready};

    my ($status, $body) = ::update($web, '{"name": "e", "coverage": 0.5}');
    return "an update meanwhile: $status $body"
        if $status != 503
           || ::decode($body)->{error} !~ /the schema could not be made/;

    # the DBA runs the new sql/abtest.sql and grants the new table
    $::Pg->psql($::Db, ::read_file('sql/abtest.sql') . ";\n$::Grants");

    my $e = ::ready($web);
    return $e if $e;

    $e = ::all_show({ groups => { A => 40, B => 60 }, coverage => 1 }, 3,
                    $web)
         || ::updated($web, '{"name": "e", "coverage": 0.5}');
    return $e if $e;

    return 'the row: ' . ABTest::Json::show(::row())
        if ::row()->{coverage} ne '5000';

    return '';
}, \&::outage_logs)
--- no_error_log
[crit]
[alert]
