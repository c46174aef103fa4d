# vim:set ft= ts=4 sw=4 et fdm=marker:

# The events logs into PostgreSQL by rsyslog (conf/rsyslog-abtest.conf:
# imfile, ompgsql) and the per-device results there (sql/abtest-events.sql,
# sql/abtest-results.sql).  Three servers of two workers (Test::Nginx's
# own is web1; web2 and web3 are ABTest::Fleet's, on ports port()+8 and
# port()+9), each with abtest_store, its events log and an rsyslogd of
# its own (t/lib/ABTest/Rsyslog.pm, in t/rsyslog-<port>/, in the
# foreground); one PostgreSQL cluster (t/lib/ABTest/Pg.pm, port()+7), a
# database per block, into which the shippers insert as a role of their
# own with the grants sql/abtest-events.sql documents.
#
# Every block posts real events to the servers' events locations, waits
# for each line of the three logs to be in the store (polling, with a
# deadline), and compares the figures the analyst's queries give (each
# query of sql/abtest-results.sql as it is, with -v experiment=...) with
# a computation of this file's own in Perl from the raw lines of the
# logs (per device: its groups, its first exposure and last goal), whose
# groups are first checked against the seed's rule (ABTest::Oracle):
#
# * one device's events reaching two servers count once; devices given
#   two groups (assign random: each server draws with its own zone key)
#   are multiple, in no group; the lag and the nodes sending;
# * every line sent again (a shipper restarted without its position, a
#   second shipper reading the same file): nothing changes;
# * rsyslogd SIGKILLed five times while clients post: each time, every
#   line before the position it kept is in the store; all arrive once;
# * PostgreSQL stopped while clients post: nginx accepts every event,
#   rsyslogd retries (one is SIGKILLed and started meanwhile), and all
#   are in the results once it is back;
# * a line cut short (as by a full disk), and lines without an id, node,
#   device, name, time or a counted entry's role, kept aside each with
#   its reason, the lines after them stored; lines of 13 KB (30
#   experiments) stored whole;
# * a reset of the statistics starts the results afresh fleet-wide;
# * the events log rotated (renamed, USR1) under the shipper: every line
#   of the old file and the new one stored once.
#
# Needs root, Debian's postgresql, rsyslog and rsyslog-pgsql; the file is
# skipped without them.

use strict;
use warnings;

use lib 't/lib';
use ABTest::Pg;
use ABTest::Rsyslog;

BEGIN { ABTest::Pg::require_pg(); ABTest::Rsyslog::require_rsyslog() }

use Test::Nginx::Socket 'no_plan';
use ABTest::Json qw(json_body_check decode);
use ABTest::Oracle ();
use ABTest::Nginx qw(wait_for read_file);
use ABTest::Fleet qw(name all_logs_clean);
use ABTest::Child qw(spawn reap);
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

master_on();
workers(2);

our $Tmp = tempdir('abtest-ship-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Tmp;

our $Pg = ABTest::Pg->new->start;
$Pg->psql('postgres', 'CREATE ROLE rsyslog LOGIN');

# the block's database, and its servers and shippers
our $Db;
our @Web;
our @Ship;

our $Config = <<'_EOC_';
    abtest on;

    location = /events {
        abtest_api events trusted=on;
    }

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /api/status {
        abtest_api status;
    }
_EOC_

# e: the seed's rule; r: assign random, which each server draws with
# its own zone's key
our $Experiments = <<'_EOC_';
    abtest_experiment e {
        group A 1;
        group B 1;
    }

    abtest_experiment r {
        group A 1;
        group B 1;
        assign random;
    }
_EOC_

# the servers' role takes the store's table as they make it (a DBA made
# it here), the shippers' role what sql/abtest-events.sql says
our $Grants = <<'_EOS_';
GRANT SELECT, INSERT, UPDATE ON abtest_experiments, abtest_settings TO abtest;
GRANT USAGE ON SEQUENCE abtest_version TO abtest;
GRANT INSERT ON abtest_event_lines, abtest_events, abtest_rejected
    TO rsyslog;
GRANT SELECT, INSERT, UPDATE ON abtest_nodes, abtest_devices,
    abtest_group_devices, abtest_group_events, abtest_multiple
    TO rsyslog;
_EOS_


sub root { Test::Nginx::Socket::server_root() }

sub now { Time::HiRes::time() }

sub store_config {
    my (%o) = @_;
    return "    abtest_zone zone=abtest:" . ($o{zone} // '1m') . ";\n"
           . "    abtest_store \"" . $Pg->conninfo($o{db} // '%DB%')
           . "\" node=" . ($o{node} // 'web1') . " timeout=1s poll=1s;\n"
           . "    abtest_events_log logs/events.log;\n"
           . ($o{experiments} // $Experiments);
}

# the block's fleet: web1 as Test::Nginx started it, then web2 and web3
sub fleet {
    my (%o) = @_;
    @Web = ABTest::Fleet->three(root => root(), server => $Config,
                                http => sub {
                                    store_config(db => $Db,
                                                 node => "web$_[0]", %o)
                                });
    return @Web;
}

sub log_path { $_[0]->root . '/logs/events.log' }

sub uri {
    return "postgresql:///$Db?host=" . $Pg->socket_dir . '&port='
           . $Pg->port . '&user=rsyslog';
}

# an rsyslogd following the server's events log ($tag: another one for
# the same file, in a directory of its own)
sub shipper {
    my ($web, $tag) = @_;
    my $rs = ABTest::Rsyslog->new(port => $web->port . ($tag // ''),
                                  log => log_path($web), uri => uri());
    push @Ship, $rs;
    return $rs->start;
}

# the events, [device, name] each, posted in one request; the status
sub post {
    my ($web, @events) = @_;
    my $body = '[' . join(',', map { '{"deviceId":"' . $_->[0]
                                     . '","event":"' . $_->[1]
                                     . '","source":"test"}' } @events)
               . ']';
    my ($status) = $web->http('POST', '/events', $body,
                              'Content-Type: application/json');
    return $status;
}

# every line of the servers' logs, decoded (a line that is no JSON: undef)
sub log_lines {
    my (@web) = @_;
    my @lines;
    for my $web (@web) {
        for my $line (split /\n/, read_file(log_path($web))) {
            push @lines, eval { decode($line) };
        }
    }
    return @lines;
}

# the number of lines of the servers' logs (no decoding: for waits)
sub line_count {
    my (@web) = @_;
    my $n = 0;
    $n += (read_file(log_path($_)) =~ tr/\n//) for @web;
    return $n;
}

sub count {
    my ($sql) = @_;
    return $Pg->value($Db, $sql) // 0;
}

# '' once the store has $n events (and nothing else is wrong), within
# $seconds
sub arrived {
    my ($n, $seconds) = @_;
    my $have = 0;
    wait_for(sub {
        $have = eval { count('SELECT count(*) FROM abtest_events') } // -1;
        return $have >= $n;
    }, $seconds // 30);
    return $have == $n ? ''
           : "the store has $have events, the logs $n lines; shippers said: "
             . join(' | ', map { $_->output } @Ship);
}

# each query of sql/abtest-results.sql, as an analyst runs it, in the
# block's database: rows of the Nth query, tab-separated columns
our @Queries = grep { /\bSELECT\b/ }
               split /;\s*\n/, read_file('sql/abtest-results.sql');

sub query {
    my ($n, $experiment) = @_;
    my $file = "$Tmp/query.sql";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $Queries[$n - 1], ";\n";
    close $fh;
    my $out = `psql -X -q -h '@{[ $Pg->socket_dir ]}' -p @{[ $Pg->port ]} \\
               -U postgres -d $Db -v ON_ERROR_STOP=1 -A -t -F '\t' \\
               -v experiment='$experiment' -f '$file' 2>&1`;
    die "query $n: $out" if $?;
    return map { [split /\t/, $_, -1] } split /\n/, $out;
}

sub ms_of {
    my ($iso) = @_;
    my ($y, $mo, $d, $h, $mi, $s, $ms) =
        $iso =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/
        or die "not a time: $iso";
    return timegm($s, $mi, $h, $d, $mo - 1, $y) * 1000 + $ms;
}

# the figures of $experiment's epoch $start (generation $groups), from the
# raw lines in Perl: per device its groups, first exposure, last goal
sub expected {
    my ($experiment, $groups, $start, @lines) = @_;
    my (%dev, %events);
    for my $l (@lines) {
        my $c = $l->{counted}{$experiment} or next;
        next if $c->{groups} ne $groups || $c->{start} != $start;
        my $d = $dev{ $l->{deviceId} } //= { groups => {} };
        $d->{groups}{ $c->{group} } = 1;
        my $ms = ms_of($l->{received});
        if ($c->{role} eq 'exposure') {
            $d->{exp} = $ms if !defined $d->{exp} || $ms < $d->{exp};
        } elsif ($c->{role} eq 'goal') {
            $d->{goal} = $ms if !defined $d->{goal} || $ms > $d->{goal};
        }
        $events{ $c->{group} }{ $l->{event} }++;
    }
    my %want = (multiple => 0,
                groups => { map { $_ => [0, 0] } split /,/, $groups },
                events => \%events);
    for my $d (values %dev) {
        my @g = keys %{ $d->{groups} };
        if (@g > 1) {
            $want{multiple}++;
            next;
        }
        next if !defined $d->{exp};
        $want{groups}{ $g[0] }[0]++;
        $want{groups}{ $g[0] }[1]++
            if defined $d->{goal} && $d->{goal} >= $d->{exp};
    }
    return \%want;
}

# the same figures from the analyst's queries 1 to 3, for the generation
# $groups; and the epoch they read
sub queried {
    my ($experiment, $groups) = @_;
    my %got = (groups => {}, events => {});
    my $start;
    for my $r (query(1, $experiment)) {
        next if $r->[0] ne $groups;
        $start = $r->[1];
        $got{groups}{ $r->[2] } = [0 + $r->[3], 0 + $r->[4]];
    }
    for my $r (query(2, $experiment)) {
        $got{multiple} = 0 + $r->[2] if $r->[0] eq $groups;
    }
    for my $r (query(3, $experiment)) {
        $got{events}{ $r->[2] }{ $r->[3] } = 0 + $r->[4]
            if $r->[0] eq $groups;
    }
    return (\%got, $start);
}

# '' when the queries' figures of $experiment equal the Perl computation
# from every line of the block's logs, for the store's current epoch
sub results_match {
    my ($experiment, @lines) = @_;
    my $start = $Pg->value($Db, "SELECT stats_start_ms FROM"
        . " abtest_experiments WHERE name = '$experiment'"
        . " AND groups = 'A,B'");
    my ($got, $read) = queried($experiment, 'A,B');
    return "$experiment: the queries read epoch " . ($read // 'none')
           . ", the store's is $start"
        if !defined $read || $read ne $start;
    my $want = expected($experiment, 'A,B', $start, @lines);
    my ($g, $w) = (ABTest::Json::show($got), ABTest::Json::show($want));
    return $g eq $w ? '' : "$experiment: the queries say $g, the lines $w";
}

# '' when every line's counted groups of e are the seed's rule's (an
# oracle of its own), and r's are the groups of r
sub groups_checked {
    my (@lines) = @_;
    for my $l (@lines) {
        my $c = $l->{counted}{e}
            or return "an event not counted in e: " . ABTest::Json::show($l);
        my $want = ABTest::Oracle::seed_group($l->{deviceId}, 'e',
                                              [[A => 1], [B => 1]]);
        return "$l->{node} counted $l->{deviceId} in e's $c->{group}, the"
               . " rule says $want" if $c->{group} ne $want;
        my $r = $l->{counted}{r}
            or return "an event not counted in r: " . ABTest::Json::show($l);
        return "r's group $r->{group}" if $r->{group} !~ /^[AB]$/;
    }
    return '';
}

sub nothing_rejected {
    my @r = $Pg->psql($Db, 'SELECT reason, left(line, 80)'
                           . ' FROM abtest_rejected');
    return @r ? 'rejected: ' . join(' | ', map { "@$_" } @r) : '';
}

# clients posting to every server until $stop exists, paced to about
# 240 / $period events/s in all (1200 by default): every $period s
# (0.2) a batch of 60 pageviews of devices
# of their own, and 20 button_clicks of the same devices on the next
# server; each writes the number of events answered 200 to $file.<n>.
# The scenario's end stops them, whatever happens.
our @Clients;
our $ClientsStop;

sub clients {
    my ($file, $stop, $period, @web) = @_;
    $ClientsStop = $stop;
    for my $c (1 .. 3) {
        push @Clients, spawn(sub {
            my ($ok, $i) = (0, 0);
            my $next = now();
            while (!-e $stop) {
                my @views = map { ["c$c-" . ($i + $_), 'pageview'] } 1 .. 60;
                my @clicks = map { ["c$c-" . ($i + 3 * $_), 'button_click'] }
                             1 .. 20;
                my $web = $web[($c + $i) % @web];
                my $other = $web[($c + $i + 1) % @web];
                $ok += 60 if post($web, @views) == 200;
                $ok += 20 if post($other, @clicks) == 200;
                $i += 60;
                $next += $period;
                my $wait = $next - now();
                sleep $wait if $wait > 0;
            }
            open my $out, '>', "$file.$c" or die "$file.$c: $!";
            print $out $ok;
            close $out;
        });
    }
    return @Clients;
}

# '' once the clients have stopped, and the events they had answered 200
sub stop_clients {
    my ($file) = @_;
    return '' if !@Clients;
    open my $fh, '>', $ClientsStop or return "$ClientsStop: $!";
    close $fh;
    my $e = reap(20, @Clients);
    @Clients = ();
    return $e if $e || !defined $file;
    my $acked = 0;
    $acked += read_file("$file.$_") for 1 .. 3;
    return ('', $acked);
}

# the lines of a file before $offset, decoded: what a shipper's position
# says is in the store
sub lines_before {
    my ($path, $offset) = @_;
    open my $fh, '<', $path or return ();
    my $text = '';
    read $fh, $text, $offset;
    close $fh;
    return map { decode($_) } split /\n/, $text;
}

# '' when the servers' error logs have no [emerg], [alert], [crit], and
# no [error] but the store's unreachable (when $outage)
sub clean_logs {
    my ($outage) = @_;
    my @ok = $outage ? qr/abtest: the store "[^"]+" is unreachable/ : ();
    return all_logs_clean(\@Web, @ok);
}

# a block's checks: shippers and web2, web3 stopped, PostgreSQL running,
# whatever happens; then the servers' logs
sub scenario {
    my ($check, $outage) = @_;
    return sub {
        my $e = eval { $check->() } // "died: $@";
        $e ||= stop_clients();
        stop_clients();
        $_->kill for @Ship;
        @Ship = ();
        $Pg->restart if !$Pg->pid;
        $_->stop for grep { name($_) ne 'web1' } @Web;
        $e ||= clean_logs($outage);
        return $e;
    };
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    my ($n) = $block->name =~ /TEST (\d+)/;
    $Db = "s$n";
    @Web = ();

    # web1's events log of this block only (the real Test::Nginx keeps
    # t/servroot's files from block to block)
    unlink root() . '/logs/events.log', root() . '/logs/events.log.1';

    ABTest::Fleet::setup_block($block, pg => $Pg, db => $Db,
                               sql => [read_file('sql/abtest.sql'),
                                       read_file('sql/abtest-events.sql'),
                                       $Grants],
                               http => store_config(), server => $Config);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: three servers: a device's events on two servers count once, devices in two groups are multiple, results as computed from the lines
--- request
GET /api/status
--- json eval
::scenario(sub {
    my @web = ::fleet();
    ::shipper($_) for @web;

    # 60 devices: each one's pageview on one server, and for every
    # other one a button_click on the next server (before or after the
    # pageview: both orders); a third of them a pageview again on the
    # third server; some goals only
    my $posted = 0;
    for my $round (0 .. 2) {
        for my $i (0 .. 59) {
            my $d = "dev$i";
            my ($a, $b, $c) = map { $web[($i + $_) % 3] } 0 .. 2;
            my @steps = ([$a, 'pageview']);
            if ($i % 2 == 0) {
                $i % 4 == 0 ? unshift(@steps, [$b, 'button_click'])
                            : push(@steps, [$b, 'button_click']);
            }
            push @steps, [$c, 'pageview'] if $i % 3 == 0 && $round == 1;
            push @steps, [$b, 'signup'] if $i % 5 == 0;
            @steps = ([$b, 'button_click']) if $i >= 50;
            for my $s (@steps) {
                my $status = ::post($s->[0], [$d, $s->[1]]);
                return ::name($s->[0]) . " answered $status" if $status != 200;
                $posted++;
            }
        }
    }

    my @lines = ::log_lines(@web);
    return 'the logs have ' . @lines . " lines, $posted were posted"
        if @lines != $posted;
    my $e = ::arrived($posted) || ::groups_checked(@lines)
            || ::nothing_rejected();
    return $e if $e;

    # the events of a device on two servers are one device: the devices
    # in the results are at most the 60 posted
    my @devices = ::query(1, 'e');
    my $exposed = 0;
    $exposed += $_->[3] for @devices;
    return "e: $exposed exposed devices, 50 had a pageview"
        if $exposed != 50;

    $e = ::results_match('e', @lines) || ::results_match('r', @lines);
    return $e if $e;

    # r's draws differ between servers (each zone has its own key): some
    # devices are in both groups, counted in neither
    my ($r) = ::queried('r', 'A,B');
    return 'no device of r is multiple: ' . ABTest::Json::show($r)
        if !$r->{multiple};
    my ($ee) = ::queried('e', 'A,B');
    return 'e has multiple devices: ' . ABTest::Json::show($ee)
        if $ee->{multiple};
    Test::More::diag("r: $r->{multiple} of 60 devices in both groups (the"
                     . ' servers draw with keys of their own)');

    # the lag and the nodes: each server's newest line, sent just now
    my %newest;
    for my $l (@lines) {
        $newest{ $l->{node} } = $l->{received}
            if !defined $newest{ $l->{node} }
               || $l->{received} gt $newest{ $l->{node} };
    }
    my @lag = ::query(4, 'e');
    return 'lag: ' . CORE::join(' | ', map { "@$_" } @lag) if @lag != 4;
    for my $row (@lag[0 .. 2]) {
        my $want = ::ms_of($newest{ $row->[0] } // return "node $row->[0]");
        my $got = $::Pg->value($::Db, "SELECT (extract(epoch FROM"
            . " newest_received) * 1000)::bigint FROM abtest_nodes"
            . " WHERE node = '$row->[0]'");
        return "$row->[0]'s newest is $got, its log's $want"
            if $got != $want;
    }
    my @active = map { $_->[0] } ::query(5, 'e');
    return "nodes sending: @active" if "@active" ne 'web1 web2 web3';
    return '';
})



=== TEST 2: every line sent again (a shipper without its position, two shippers of one file): nothing changes
--- request
GET /api/status
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my @ship = map { ::shipper($_) } @web;

    my $n = 0;
    for my $i (0 .. 299) {
        my $web = $web[$i % 3];
        my @ev = (["d$i", 'pageview']);
        push @ev, ["d$i", 'button_click'] if $i % 4 == 0;
        return 'post failed' if ::post($web, @ev) != 200;
        $n += @ev;
    }
    my $e = ::arrived($n);
    return $e if $e;

    my $snapshot = sub {
        return ABTest::Json::show([(map { [::query($_, 'e')] } 1 .. 3),
                                   $::Pg->psql($::Db, 'SELECT node, count(*)'
                                       . ' FROM abtest_events GROUP BY 1'
                                       . ' ORDER BY 1'),
                                   $::Pg->psql($::Db, 'SELECT count(*) FROM'
                                       . ' abtest_devices')]);
    };
    my $before = $snapshot->();

    # each shipper read its whole file: its position is at the end
    my $at_end = sub {
        my ($rs, $web) = @_;
        my $size = -s ::log_path($web);
        return ::wait_for(sub { ($rs->positions->{::log_path($web)} // -1)
                                == $size }, 20);
    };
    for my $i (0 .. 2) {
        $at_end->($ship[$i], $web[$i])
            or return ::name($web[$i]) . "'s shipper is not at the end";
    }

    # web1's shipper restarted without its position; web2's file read by
    # a second shipper at once; both read every line again
    $ship[0]->stop;
    $ship[0]->forget;
    $ship[0]->start;
    my $twice = ::shipper($web[1], 'b');
    $at_end->($ship[0], $web[0]) && $at_end->($twice, $web[1])
        or return 'the files were not read again: '
                  . ABTest::Json::show([$ship[0]->positions,
                                        $twice->positions]);

    my $after = $snapshot->();
    return "after re-delivery $after, before $before" if $after ne $before;
    $e = ::nothing_rejected() || ::results_match('e', ::log_lines(@web));
    return $e;
})



=== TEST 3: rsyslogd SIGKILLed five times while clients post: its position never ahead of the store, every event in it once
--- request
GET /api/status
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my @ship = map { ::shipper($_) } @web;
    my $file = "$::Tmp/b3";
    my $stop = "$file.stop";
    unlink $stop;
    ::clients($file, $stop, 0.4, @web);

    my @said;
    for my $k (1 .. 5) {
        my $i = $k % 3;
        my ($web, $rs) = ($web[$i], $ship[$i]);
        my $path = ::log_path($web);

        # mid-stream: lines in its file it has not stored yet
        my $behind = 0;
        ::wait_for(sub {
            my $stored = ::count("SELECT count(*) FROM abtest_events"
                                 . " WHERE node = '" . ::name($web) . "'");
            $behind = ::line_count($web) - $stored;
            return $behind > 30;
        }, 10) or return ::name($web) . "'s shipper is never behind";

        $rs->kill;

        # every line before the position it kept is in the store
        my $pos = $rs->positions->{$path} // 0;
        my %stored = map { $_->[0] => 1 }
                     $::Pg->psql($::Db, "SELECT id FROM abtest_events WHERE"
                                    . " node = '" . ::name($web) . "'");
        my @before = ::lines_before($path, $pos);
        my @missing = grep { !$stored{ $_->{id} } } @before;
        return "killed, " . ::name($web) . "'s shipper kept position $pos,"
               . ' ' . @missing . ' lines before it are not in the store'
            if @missing;
        push @said, ::name($web) . " $behind behind, kept "
                    . @before . ' lines';
        $rs->start;
    }

    my ($e, $acked) = ::stop_clients($file);
    return $e if $e;

    my @lines = ::log_lines(@web);
    return "the logs have " . @lines . " lines, $acked events answered 200"
        if @lines != $acked;
    $e = ::arrived($acked, 60) || ::nothing_rejected();
    return $e if $e;

    # every line of the logs is an event of the store, once
    my %stored = map { ("$_->[0] $_->[1]" => 1) }
                 $::Pg->psql($::Db, 'SELECT node, id FROM abtest_events');
    my @missing = grep { !$stored{"$_->{node} $_->{id}"} } @lines;
    return @missing . ' lines not in the store' if @missing;

    Test::More::diag("killed: @{[ CORE::join '; ', @said ]}; $acked events");
    return ::results_match('e', @lines);
})



=== TEST 4: PostgreSQL stopped while clients post: nginx accepts every event, rsyslogd waits (or is killed and started), all arrive once it is back
--- request
GET /api/status
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my @ship = map { ::shipper($_) } @web;
    my @pid = map { $_->pid } @ship;
    my $file = "$::Tmp/b4";
    my $stop = "$file.stop";
    unlink $stop;
    ::clients($file, $stop, 0.2, @web);

    ::wait_for(sub { ::count('SELECT count(*) FROM abtest_events') > 100 },
               10) or return 'no event arrived';
    $::Pg->stop;
    my $lines_at_stop = ::line_count(@web);

    # nginx goes on taking events, and each shipper says its action is
    # suspended
    ::wait_for(sub { ::line_count(@web) > $lines_at_stop + 300 }, 10)
        or return 'nginx took no events with the store down';
    my ($e, $acked) = ::stop_clients($file);
    return $e if $e;
    for my $rs (@ship) {
        ::wait_for(sub { $rs->output =~ /db error|suspended/ }, 20)
            or return 'a shipper did not say it waits: ' . $rs->output;
    }

    # a shipper stopped during the outage, with KILL (a TERM now drops
    # the line it is retrying: README), and started again
    $ship[0]->kill;
    my $said = length $ship[0]->output;
    $ship[0]->start;
    $pid[0] = $ship[0]->pid;
    ::wait_for(sub { substr($ship[0]->output, $said)
                     =~ /db error|suspended/ }, 20)
        or return 'the restarted shipper does not wait: '
                  . $ship[0]->output;
    my @lines = ::log_lines(@web);
    return "the logs have " . @lines . " lines, $acked events answered 200"
        if @lines != $acked;

    $::Pg->restart;
    $e = ::arrived($acked, 60) || ::nothing_rejected();
    return $e if $e;
    for my $i (0 .. 2) {
        return 'a shipper restarted: ' . $ship[$i]->output
            if ($ship[$i]->pid // 0) != $pid[$i];
    }
    Test::More::diag("$acked events, " . (@lines - $lines_at_stop)
                     . ' of them written while PostgreSQL was down');
    return ::results_match('e', @lines);
}, 'outage')
--- no_error_log
[crit]
[alert]



=== TEST 5: a cut line and lines lacking what an event needs kept aside with the reason, the lines after them stored; lines of 13 KB stored whole
--- http_config eval
my $x = CORE::join '', map { sprintf "    abtest_experiment %s%02d {\n"
                                . "        group %s 1;\n"
                                . "        group %s 1;\n    }\n",
                                'x' x 62, $_, 'A' x 64, 'B' x 64 } 1 .. 30;
::store_config(zone => '4m', experiments => $::Experiments . $x)
--- request
GET /api/status
--- json eval
::scenario(sub {
    my $web = ABTest::Fleet->adopt(name => 'web1',
                                   port => ABTest::Json::port(),
                                   root => ::root());
    @::Web = ($web);
    my $path = ::log_path($web);
    my $rs = ::shipper($web);

    return 'post failed' if ::post($web, ['cut1', 'pageview']) != 200;
    return 'post failed' if ::post($web, ['cut2', 'pageview']) != 200;
    my $e = ::arrived(2);
    return $e if $e;

    # what a full disk leaves: the start of a line, then the next line
    # (nginx writes with O_APPEND: this lands between two of its writes)
    my ($first) = split /\n/, ::read_file($path);
    my $cut = substr($first, 0, 100);

    # and lines that are JSON but no event: each field the store needs
    # taken out of a real line in turn, a counted entry without its role
    my $real = ABTest::Json::decode($first);
    my %bad;
    for my $field (qw(id node deviceId event received)) {
        my %l = %$real;
        delete $l{$field};
        delete $l{device_id} if $field eq 'deviceId';
        $bad{$field} = ABTest::Json::show(\%l);
    }
    my %l = %$real;
    $l{counted} = { e => { %{ $real->{counted}{e} } } };
    delete $l{counted}{e}{role};
    $bad{'counted.e'} = ABTest::Json::show(\%l);
    $bad{'not a JSON object'} = '[1]';

    open my $fh, '>>', $path or return "$path: $!";
    print $fh "$cut\n", map { "$bad{$_}\n" } sort keys %bad;
    close $fh;

    return 'post failed' if ::post($web, ['cut3', 'pageview'],
                                   ['cut3', 'button_click']) != 200;
    $e = ::arrived(4);
    return $e if $e;

    my %r = map { $_->[0] => $_->[1] }
            $::Pg->psql($::Db, 'SELECT line, reason FROM abtest_rejected');
    return 'rejected: ' . ABTest::Json::show(\%r)
        if keys %r != 1 + keys %bad
           || ($r{$cut} // '')
              !~ /^not JSON: invalid input syntax for type json/;
    for my $why (sort keys %bad) {
        my $reason = $r{ $bad{$why} } // 'not rejected';
        return "a line without $why: $reason"
            if index($reason, $why) != 0;
    }

    my %aside = map { $_ => 1 } $cut, values %bad;
    my @lines = map { ABTest::Json::decode($_) }
                grep { !$aside{$_} } split /\n/, ::read_file($path);
    my $long = 0;
    $long++ for grep { length(ABTest::Json::show($_)) > 13000 } @lines;
    return "lines of 13 KB: $long of " . @lines if $long != @lines;
    my ($len) = $::Pg->value($::Db, "SELECT min(length(line::text))"
                                . " FROM abtest_events");
    return "the shortest stored event has $len bytes" if $len < 13000;
    my $name = 'x' x 62 . '17';
    my $n = ::count("SELECT count(*) FROM abtest_devices"
                    . " WHERE experiment = '$name'");
    return "$name has $n devices, not 3" if $n != 3;
    return ::results_match('e', @lines);
})



=== TEST 6: a reset of the statistics through one server starts the results afresh fleet-wide
--- request
GET /api/status
--- json eval
::scenario(sub {
    my @web = ::fleet();
    ::shipper($_) for @web;

    my $n = 0;
    for my $i (0 .. 29) {
        return 'post failed' if ::post($web[$i % 3], ["d$i", 'pageview'],
                                       ["d$i", 'button_click']) != 200;
        $n += 2;
    }
    my $e = ::arrived($n);
    return $e if $e;
    my @old = ::query(1, 'e');

    my ($status, $body) = $web[1]->http('POST', '/api/experiments/update',
        '{"name": "e", "reset_stats": true}',
        'Content-Type: application/json');
    return "reset: $status $body" if $status != 200;
    my $start = $::Pg->value($::Db, "SELECT stats_start_ms FROM"
                                . " abtest_experiments WHERE name = 'e'");

    # the new epoch is every server's once each counts in it
    for my $web (@web) {
        ::wait_for(sub {
            ::post($web, ['probe', 'signup']) == 200 && $n++;
            my ($l) = CORE::reverse ::log_lines($web);
            return $l->{counted}{e}{start} == $start;
        }, 5) or return ::name($web) . ' does not count in the new epoch';
    }

    my @fresh = ::query(1, 'e');
    return 'after the reset: ' . CORE::join(' | ', map { "@$_" } @fresh)
        if grep { $_->[1] ne $start || $_->[3] != 0 || $_->[4] != 0 } @fresh;

    for my $i (0 .. 9) {
        return 'post failed' if ::post($web[$i % 3], ["n$i", 'pageview'])
                                != 200;
        $n++;
    }
    $e = ::arrived($n) || ::results_match('e', ::log_lines(@web));
    return $e if $e;
    my $exposed = 0;
    $exposed += $_->[3] for ::query(1, 'e');
    return "$exposed exposed after the reset, 10 posted" if $exposed != 10;
    my $was = 0;
    $was += $_->[3] for @old;
    return "$was exposed before it, 30 posted" if $was != 30;
    return '';
})



=== TEST 7: the events log rotated (renamed, then USR1) while the shipper follows it: every line of both files stored once
--- request
GET /api/status
--- json eval
::scenario(sub {
    my $web = ABTest::Fleet->adopt(name => 'web1',
                                   port => ABTest::Json::port(),
                                   root => ::root());
    @::Web = ($web);
    my $path = ::log_path($web);
    ::shipper($web);

    my $post = sub {
        my ($from, $to) = @_;
        for my $i ($from .. $to) {
            return "post $i failed"
                if ::post($web, ["rot$i", 'pageview'],
                          ["rot$i", 'button_click']) != 200;
        }
        return '';
    };

    my $e = $post->(1, 50) || ::arrived(100);
    return $e if $e;

    # as logrotate does: the file renamed, nginx told to reopen, and more
    # events at once, some in the old file before the workers reopen
    rename $path, "$path.1" or return "rename: $!";
    kill 'USR1', ABTest::Nginx::master_pid(::root());
    $e = $post->(51, 100);
    return $e if $e;
    ABTest::Nginx::wait_for(sub {
        ABTest::Nginx::workers_reopened(ABTest::Nginx::master_pid(::root()),
                                        $path) }, 5)
        or return 'the workers did not reopen the events log';
    $e = $post->(101, 150);
    return $e if $e;

    my @lines;
    for my $file ("$path.1", $path) {
        push @lines, map { ABTest::Json::decode($_) }
                     split /\n/, ::read_file($file);
    }
    return 'the two files have ' . @lines . ' lines, 300 were posted'
        if @lines != 300;
    $e = ::arrived(300) || ::nothing_rejected();
    return $e if $e;
    my %stored = map { ("$_->[0] $_->[1]" => 1) }
                 $::Pg->psql($::Db, 'SELECT node, id FROM abtest_events');
    my @missing = grep { !$stored{"$_->{node} $_->{id}"} } @lines;
    return @missing . ' lines not in the store' if @missing;
    return ::results_match('e', @lines);
})
