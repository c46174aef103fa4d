# vim:set ft= ts=4 sw=4 et fdm=marker:

# The store (abtest_store) with one server of two workers, against a
# PostgreSQL cluster of the file's own (t/lib/ABTest/Pg.pm), a database
# per block:
#
# * configuration errors, each with its file and line;
# * the schema made by the first server, the same as sql/abtest.sql;
#   seeding from the configuration, and the store winning over it;
# * updates as one transaction, answered as without a store; the seed's
#   transitions refused the same as without one (a server without a store
#   answers the same requests beside it);
# * a DBA's change by hand applied at once, a missed notification caught
#   by poll=, hostile rows refused with an error line and never applied;
# * PostgreSQL hung (SIGSTOP: updates answer 503 within timeout=) and
#   killed (SIGKILL), then back; a server started while the store is down
#   (its state file) catching up;
# * a reload and a SIGKILLed listener with the connection open;
# * passwords (in the URI, PGPASSFILE) never in a log or an answer; a
#   host name resolved at configuration time;
# * a new group set as a generation of its own, "mismatch" where the
#   store takes no row of it;
# * abtest_api status without a store.
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
use ABTest::Nginx qw(wait_for worker_pids master_pid alive new_workers
                     read_file);
use ABTest::Fleet;
use File::Temp qw(tempdir);
use Time::HiRes qw(time sleep);

master_on();
workers(2);

our $Tmp = tempdir('abtest-store-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Tmp;

our $Pg = ABTest::Pg->new->start;

# the block's database, made afresh before its nginx starts ("--- db"
# names an earlier block's, kept); "%DB%" in the configuration is its name
our $Db;

our $Config = <<'_EOC_';
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /api/expgroups {
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
    }
_EOC_


sub root { Test::Nginx::Socket::server_root() }

# Time::HiRes's time, for the blocks' code: it runs in a package of
# Test::Base's, which has the core time (whole seconds)
sub now { Time::HiRes::time() }

sub master { master_pid(root()) }

sub error_log { read_file(root() . '/logs/error.log') }

sub log_lines {
    my ($re, $log) = @_;
    return grep { /$re/ } split /\n/, $log // error_log();
}

# the zone, the block's store with the options given, and its experiments
sub store_config {
    my (%o) = @_;
    my $conninfo = $o{conninfo} // $Pg->conninfo('%DB%');
    my $opts = $o{opts} // 'node=web1 timeout=1s poll=1s';
    my $state = $o{state} ? " state=$o{state}" : '';
    return "    abtest_zone zone=abtest:1m$state;\n"
           . "    abtest_store \"$conninfo\" $opts;\n"
           . ($o{experiment} // $Experiment);
}

sub get {
    my ($uri) = @_;
    my ($status, $body) = ABTest::Json::http('GET', $uri);
    die "GET $uri: $status $body" if $status != 200;
    return decode($body);
}

sub status { get('/api/status') }

sub update {
    my ($json) = @_;
    return ABTest::Json::http('POST', '/api/experiments/update', $json,
                              'Content-Type: application/json');
}

# waits until the server's listener has read the store (writes taken)
sub ready {
    return wait_for(sub {
        my $s = eval { status() } or return 0;
        return $s->{store}{ready} && $s->{store}{connected};
    }, 10) ? '' : 'the server did not read the store: '
                  . ABTest::Json::show(eval { status() });
}

sub weights { get('/api/experiments')->{e}{groups} }


# the store's row of e (groups $groups): column => text
sub row {
    my ($groups, $db) = @_;
    my @cols = qw(weights state rollout_group start_ms end_ms
                  stats_start_ms history version updated_by);
    my @rows = $Pg->psql($db // $Db,
                         'SELECT ' . join(', ', map { "${_}::text" } @cols)
                         . " FROM abtest_experiments WHERE name = 'e'"
                         . " AND groups = '" . ($groups // 'A,B') . "'");
    return undef if !@rows;
    my %row;
    @row{@cols} = @{$rows[0]};
    $row{weights} = decode($row{weights}) if $row{weights} ne '';
    $row{history} = decode($row{history}) if $row{history} ne '';
    return \%row;
}

# the abtest role's connections to the block's database
sub connections {
    return $Pg->value('postgres', "SELECT count(*) FROM pg_stat_activity"
                      . " WHERE datname = '$Db' AND usename = 'abtest'");
}

# the processes that logged lines matching $re, and how often each did
sub lines_per_pid {
    my ($re) = @_;
    my %n;
    $n{$_}++ for map { /\[\w+\] (\d+)#/ ? $1 : () } log_lines($re);
    return \%n;
}

# '' when no process logged a line matching $re more than once
sub once_per_process {
    my ($re) = @_;
    my $n = lines_per_pid($re);
    my @twice = grep { $n->{$_} > 1 } sort keys %$n;
    return @twice ? "process $twice[0] logged $re $n->{$twice[0]} times"
                  : '';
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    my ($n) = $block->name =~ /TEST (\d+)/;
    $Db = "b$n";

    $Pg->restart if !$Pg->pid;

    if (defined $block->db) {
        ($Db = $block->db) =~ s/\s+//g;

    } else {
        $Pg->create_db($Db);
    }

    for my $section (qw(http_config main_config)) {
        my $text = $block->$section;
        $block->set_value($section, $text =~ s/%DB%/$Db/gr)
            if defined $text;
    }

    # SQL run in the block's database before nginx starts
    if (defined $block->pg_setup) {
        $Pg->psql($Db, $block->pg_setup);
    }

    $Pg->stop if defined $block->pg_down;

    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('no_error_log', "[error]\n[crit]\n[alert]\n")
        if !defined $block->no_error_log;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: abtest_store needs abtest_zone, said with its file and line
--- http_config eval
"    abtest_store \"" . $::Pg->conninfo('x') . "\";\n$::Experiment"
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_store" in \S+nginx\.conf:\d+ needs a shared zone: add "abtest_zone zone=name:size"/



=== TEST 2: a connection string libpq cannot parse
--- http_config
    abtest_zone zone=abtest:1m;
    abtest_store "host=127.0.0.1 port";
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "abtest_store" connection string: missing "=" after "port".* in \S+nginx\.conf:\d+/



=== TEST 3: an invalid node=
--- http_config
    abtest_zone zone=abtest:1m;
    abtest_store "host=127.0.0.1" node=web/1;
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "node=web\/1": use 1 to 64 characters of \[A-Za-z0-9_.-\] in \S+nginx\.conf:\d+/



=== TEST 4: an invalid timeout=, and an unknown parameter
--- http_config
    abtest_zone zone=abtest:1m;
    abtest_store "host=127.0.0.1" timeout=0;
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "timeout=0": use a time such as 2s or 500ms in \S+nginx\.conf:\d+/



=== TEST 5: an unknown parameter
--- http_config
    abtest_zone zone=abtest:1m;
    abtest_store "host=127.0.0.1" retries=3;
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "retries=3" in \S+nginx\.conf:\d+/



=== TEST 6: a host name that does not resolve fails at configuration time
--- http_config
    abtest_zone zone=abtest:1m;
    abtest_store "host=no-such-host.invalid dbname=abtest";
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_store": host "no-such-host\.invalid" host not found in \S+nginx\.conf:\d+/



=== TEST 7: abtest_store twice
--- http_config
    abtest_zone zone=abtest:1m;
    abtest_store "host=127.0.0.1";
    abtest_store "host=127.0.0.1";
--- config
    location = /t { return 200; }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_store" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 8: the first server makes the schema (that of sql/abtest.sql) and its rows; status
--- http_config eval
::store_config()
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my $s = ::status();
    my $row = ::row();
    return 'no row of e (A,B) in the store' if !$row;

    # the highest version read: the rows' and the settings' (the holdout)
    my $top = $::Pg->value($::Db, 'SELECT max(version) FROM (SELECT version'
                           . ' FROM abtest_experiments UNION ALL SELECT'
                           . ' version FROM abtest_settings) v');

    $e = ::match_json($s, {
        node => 'web1',
        module => qr/^\d+\.\d+\.\d+$/,
        nginx => qr/^\d+\.\d+\.\d+$/,
        pid => qr/^\d+$/,
        store => {
            connected => \1,
            version => $top,
            applied => 'ISO',
            error => undef,
            ready => \1,
            target => "127.0.0.1:" . $::Pg->port . "/$::Db",
            listener => sub {
                my @w = ::worker_pids(::master());
                return (grep { $_ == $_[0] } @w) ? ''
                       : "$_[0] is not a worker (@w)";
            },
            timeout_ms => 1000,
            poll_ms => 1000,
        },
        experiments => {
            e => { version => $row->{version}, source => 'store',
                   groups => 'A,B', state => 'active' },
        },
        zone => { name => 'abtest', size => 1048576,
                  used => qr/^\d+$/, state_file => undef, devices => 0,
                  devices_max => 2048 },
        ring => { events => 0, capacity => 1000, first_id => qr/^\d+$/,
                  next_id => qr/^\d+$/, evicted => 0 },
        events_log => undef,
    });
    return $e if $e;

    # the row is the configuration's
    return "the row: " . ABTest::Json::show($row)
        if !::same($row->{weights}, { A => 1, B => 1 })
           || $row->{state} ne 'active' || $row->{rollout_group} ne ''
           || $row->{end_ms} ne '' || $row->{start_ms} !~ /^\d{13}$/
           || !::same($row->{history}, []) || $row->{updated_by} ne 'web1';

    # the schema sql/abtest.sql makes, in a database of its own
    $::Pg->create_db('schema_copy');
    my $sql = ::read_file('sql/abtest.sql');
    $::Pg->psql('schema_copy', $sql);

    my $shape = sub {
        my ($db) = @_;
        return CORE::join "\n", map { CORE::join ' ', @$_ } $::Pg->psql($db,
            "SELECT table_name, column_name, data_type, is_nullable,"
            . " coalesce(column_default, '') FROM information_schema.columns"
            . " WHERE table_name IN ('abtest_experiments', 'abtest_settings')"
            . " ORDER BY table_name, column_name"),
            $::Pg->psql($db, "SELECT tgname, tgtype FROM pg_trigger"
                             . " WHERE NOT tgisinternal ORDER BY tgname"),
            $::Pg->psql($db, "SELECT indexname, indexdef FROM pg_indexes"
                             . " WHERE tablename IN ('abtest_experiments',"
                             . " 'abtest_settings') ORDER BY indexname");
    };

    my ($made, $dba) = ($shape->($::Db), $shape->('schema_copy'));
    return "the module's schema:\n$made\nsql/abtest.sql's:\n$dba"
        if $made ne $dba;

    return '';
}



=== TEST 9: the store wins over the configuration; a reload with other weights does not overwrite the row
--- pg_setup eval
::read_file('sql/abtest.sql')
. q{;
INSERT INTO abtest_experiments (name, groups, weights, state, start_ms)
    VALUES ('e', 'A,B', '{"A": 10, "B": 90}', 'inactive', NULL);
GRANT SELECT, INSERT, UPDATE ON abtest_experiments, abtest_settings TO abtest;
GRANT USAGE ON SEQUENCE abtest_version TO abtest;}
--- http_config eval
::store_config()
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my $before = ::row();
    my $got = ::get('/api/experiments')->{e};
    return 'the server shows ' . ABTest::Json::show($got)
        if !::same($got->{groups}, { A => 10, B => 90 })
           || $got->{state} ne 'inactive';

    # what devices are assigned with: the store's weights
    my $device = 'a1b2c3d4-0000-4000-8000-000000000001';
    my $g = ::get("/api/expgroups?device_id=$device")->{e};
    my $want = ABTest::Oracle::seed_group($device, 'e', [[A => 10],
                                                         [B => 90]]);
    return "expgroups: assigned $g->{assigned}, expected $want"
        if $g->{assigned} ne $want;

    # a reload with other configured weights: the store's row stays
    my $conf = ::root() . '/conf/nginx.conf';
    my $text = ::read_file($conf);
    $text =~ s/group A 1;/group A 3;/ or return 'no "group A 1;"';
    open my $fh, '>', $conf or return "$conf: $!";
    print $fh $text;
    close $fh;

    my $master = ::master();
    my @old = ::worker_pids($master);
    kill 'HUP', $master;
    ::wait_for(sub { ::new_workers($master, @old) >= 2
                   && !grep { ::alive($_) } @old }, 10)
        or return 'the reload did not end';

    $e = ::ready();
    return $e if $e;

    my $after = ::row();
    return 'the row changed: ' . ABTest::Json::show($after)
        if $after->{version} ne $before->{version}
           || !::same($after->{weights}, { A => 10, B => 90 });

    $got = ::get('/api/experiments')->{e};
    return 'after the reload the server shows '
           . ABTest::Json::show($got->{groups})
        if !::same($got->{groups}, { A => 10, B => 90 });

    return '';
}
--- no_error_log
[error]
[alert]



=== TEST 10: an update is one transaction in the store, answered as without one
--- http_config eval
::store_config()
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my $before = ::row();
    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 30, "B": 70}}');
    return "update: $status $body" if $status != 200;

    $e = ::match_json(::decode($body), { e => {
        title => 'e', groups => { A => 30, B => 70 }, fallback => 'A',
        state => 'active', active => \1, rollout_group => undef,
        started => 'ISO', ended => undef, start => undef, stop => undef,
        coverage => 1, holdout => 0, target => undef, layer => undef,
        cookie => undef } });
    return $e if $e;

    my $row = ::row();
    return 'the row: ' . ABTest::Json::show($row)
        if !::same($row->{weights}, { A => 30, B => 70 })
           || !::same($row->{history}, [{ A => 1, B => 1 }])
           || $row->{version} <= $before->{version}
           || $row->{updated_by} ne 'web1';

    # both workers, at once: the zone has it
    for (1 .. 6) {
        my $w = ::weights();
        return 'a GET shows ' . ABTest::Json::show($w)
            if !::same($w, { A => 30, B => 70 });
    }

    my $s = ::status();
    return "status: version $s->{store}{version}, row $row->{version}"
        if $s->{experiments}{e}{version} != $row->{version};

    return '';
}



=== TEST 11: the seed's transitions and bad bodies: the same answers as a server without a store
--- http_config eval
::store_config(experiment => "    abtest_experiment e {
        group A 1;
        group B 1;
        state inactive;
    }
    abtest_experiment r {
        group A 1;
        group B 1;
        state rollout;
        rollout B;
    }
    abtest_experiment d {
        group A 1;
        group B 1;
        rollout B;
    }
")
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my $alone = ABTest::Fleet->start(
        port => ABTest::Json::port() + 8,
        http => "    abtest_zone zone=abtest:1m;
    abtest_experiment e {
        group A 1;
        group B 1;
        state inactive;
    }
    abtest_experiment r {
        group A 1;
        group B 1;
        state rollout;
        rollout B;
    }
    abtest_experiment d {
        group A 1;
        group B 1;
        rollout B;
    }
",
        server => $::Config);

    # d is the demo's homepage_button_test: active with a configured
    # rollout group, which its JSON shows until the first update
    my @bodies = (
        '{"name": "d", "groups": {"A": 3, "B": 1}}',
        '{"name": "d", "state": "rollout"}',
        '{"name": "d", "state": "active"}',
        '{"name": "e", "state": "rollout", "rollout_group": "B"}',
        '{"name": "e", "state": "active"}',
        '{"name": "e", "state": "active"}',
        '{"name": "e", "state": "rollout"}',
        '{"name": "e", "state": "rollout", "rollout_group": "C"}',
        '{"name": "e", "rollout_group": "B"}',
        '{"name": "e", "state": "rollout", "rollout_group": "B"}',
        '{"name": "e", "state": "inactive"}',
        '{"name": "e", "state": "active"}',
        '{"name": "e", "state": "inactive"}',
        '{"name": "e", "groups": {"A": 5, "B": 1}}',
        '{"name": "e", "groups": {"A": 5}}',
        '{"name": "e", "groups": {"A": 0, "B": 1}}',
        '{"name": "e", "groups": {"A": 2147483647, "B": 2}}',
        '{"name": "e", "reset_stats": true}',
        '{"name": "e", "colour": "red"}',
        '{"name": "nosuch", "state": "active"}',
        '{"name": "r", "state": "inactive"}',
        '{"name": "r", "state": "active"}',
        '{"name": "r", "state": "rollout", "rollout_group": "A"}',
        '{"name": "r", "groups": {"A": 2, "B": 3}}',
        '[1, 2]',
        '{"name": "e", ',
    );

    # the times differ: whether there is one is compared
    my $shape = sub {
        my ($status, $body) = @_;
        my $json = eval { ::decode($body) } // $body;
        for my $exp (ref $json eq 'HASH' ? values %$json : ()) {
            next if ref $exp ne 'HASH';
            for my $t (qw(started ended)) {
                $exp->{$t} = defined $exp->{$t} ? 'a time' : undef
                    if exists $exp->{$t};
            }
        }
        return "$status " . ABTest::Json::show($json);
    };

    my $with = $shape->(200, ABTest::Json::show(::get('/api/experiments')));
    my $without = $shape->(200, ABTest::Json::show(
                                    $alone->json('GET', '/api/experiments')));
    return "at the start:\n  with the store: $with\n  without: $without"
        if $with ne $without;

    for my $body (@bodies) {
        my $with = $shape->(::update($body));
        my $without = $shape->($alone->http('POST', '/api/experiments/update',
                                            $body,
                                            'Content-Type: application/json'));
        return "$body:\n  with the store: $with\n  without: $without"
            if $with ne $without;
    }

    $with = $shape->(200, ABTest::Json::show(::get('/api/experiments')));
    $without = $shape->(200, ABTest::Json::show(
                                $alone->json('GET', '/api/experiments')));
    $alone->stop;
    return "at the end:\n  with the store: $with\n  without: $without"
        if $with ne $without;

    return '';
}
--- no_error_log
[error]
[alert]



=== TEST 12: a DBA's change by hand is applied at once (the trigger announces it)
--- http_config eval
::store_config()
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    $::Pg->psql($::Db, q{UPDATE abtest_experiments
                         SET weights = '{"A": 2, "B": 7}' WHERE name = 'e'});
    my $t0 = ::now();
    ::wait_for(sub { ::same(::weights(), { A => 2, B => 7 }) }, 5)
        or return 'the change was not applied: '
                  . ABTest::Json::show(::weights());
    my $took = ::now() - $t0;
    return sprintf('the change took %.3f s', $took) if $took > 1;

    $::Pg->psql($::Db, q{UPDATE abtest_experiments SET state = 'inactive'
                         WHERE name = 'e'});
    ::wait_for(sub { ::get('/api/experiments')->{e}{state} eq 'inactive' }, 1)
        or return 'the state change was not applied within 1 s';

    return '';
}



=== TEST 13: a notification missed: poll= reads the change
--- http_config eval
::store_config(opts => 'node=web1 timeout=1s poll=1s')
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    # the change without its NOTIFY (the trigger off for it)
    $::Pg->psql($::Db, q{BEGIN;
        ALTER TABLE abtest_experiments
            DISABLE TRIGGER abtest_experiments_version;
        UPDATE abtest_experiments SET weights = '{"A": 4, "B": 1}',
            version = nextval('abtest_version') WHERE name = 'e';
        ALTER TABLE abtest_experiments
            ENABLE TRIGGER abtest_experiments_version;
        COMMIT});

    ::wait_for(sub { ::same(::weights(), { A => 4, B => 1 }) }, 5)
        or return 'poll= did not read the change: '
                  . ABTest::Json::show(::weights());

    return '';
}



=== TEST 14: hostile rows (a DBA's typos) are refused with an error line, once each, never applied
--- http_config eval
::store_config(opts => 'node=web1 timeout=1s poll=300ms')
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my @typos = (
        [q{weights = '{"A": "x", "B": 1}'}, qr/weights: groups\.A: the weight must be a positive integer/],
        [q{weights = '{"A": 1, "C": 1}'}, qr/weights: groups: "C" is not a group of "e"/],
        [q{weights = '{"A": 0, "B": 0}'}, qr/weights: groups\.A: the weight must be a positive integer/],
        [q{weights = '[1, 2]'}, qr/weights: groups: must be an object/],
        [q{weights = '{"A": 2147483647, "B": 2}'}, qr/weights: groups: the weights sum to 2147483649/],
        [q{state = 'rollout'}, qr/rollout_group: given without state rollout, or missing with it/],
        [q{state = 'rollout', rollout_group = 'Z'}, qr/rollout_group: not a group of the experiment/],
        [q{rollout_group = 'A'}, qr/rollout_group: given without state rollout, or missing with it/],
        [q{history = '{"A": 1}'}, qr/history: not an array of weights/],
        [q{history = '[{"A": 1}]'}, qr/history\[0\]: groups: must name the 2 groups/],
        [q{start_ms = -5}, qr/start_ms, end_ms, stats_start_ms: not times/],
    );

    for my $typo (@typos) {
        my ($set, $re) = @$typo;
        my $version = $::Pg->value($::Db, "UPDATE abtest_experiments SET $set"
                                   . " WHERE name = 'e' RETURNING version");
        my $line = qr/\[error\] .*abtest: the store's row of experiment "e" \(groups A,B, version $version\) is refused: .*$re.*; the experiment keeps its run-time state/;
        ::wait_for(sub { ::log_lines($line) }, 5)
            or return "no error line for $set (version $version)";

        my $got = ::get('/api/experiments')->{e};
        return "$set was applied: " . ABTest::Json::show($got)
            if !::same($got->{groups}, { A => 1, B => 1 })
               || $got->{state} ne 'active';

        # an update builds on the store's row: refused too
        my ($status, $body) = ::update('{"name": "e", "groups": {"A": 2, "B": 2}}');
        return "an update on the hostile row ($set): $status $body"
            if $status != 500
               || ::decode($body)->{error} !~ /^the store's row of this experiment is refused: .*$re/;

        # the row as it was, for the next typo
        $::Pg->psql($::Db, q{UPDATE abtest_experiments SET
            weights = '{"A": 1, "B": 1}', state = 'active',
            rollout_group = NULL, history = '[]', start_ms = 1 WHERE name = 'e'});
        ::wait_for(sub { ::status()->{experiments}{e}{version}
                       == $::Pg->value($::Db, 'SELECT version FROM abtest_experiments') }, 5)
            or return "the good row after $set was not applied";
    }

    # several polls later, each refusal is still said once
    my $polls = ::status()->{store}{applied};
    ::wait_for(sub { ::status()->{store}{applied} gt $polls }, 5);
    $polls = ::status()->{store}{applied};
    ::wait_for(sub { ::status()->{store}{applied} gt $polls }, 5);

    my @lines = ::log_lines(qr/the store's row of experiment "e"/);
    my %versions;
    $versions{$_}++ for map { /version (\d+)\)/ ? $1 : () } @lines;
    my @twice = grep { $versions{$_} > 1 } keys %versions;
    return "version $twice[0] was refused $versions{$twice[0]} times"
        if @twice;
    return scalar(keys %versions) . ' refusals for ' . scalar(@typos)
           . ' typos' if keys %versions != @typos;

    # and a good change by hand is applied
    $::Pg->psql($::Db, q{UPDATE abtest_experiments
                         SET weights = '{"A": 6, "B": 5}' WHERE name = 'e'});
    ::wait_for(sub { ::same(::weights(), { A => 6, B => 5 }) }, 5)
        or return 'the good change was not applied';

    return '';
}
--- no_error_log
[crit]
[alert]
[emerg]



=== TEST 15: PostgreSQL hangs (SIGSTOP): requests are served, updates answer 503 within timeout=, then it is back
--- http_config eval
::store_config(opts => 'node=web1 timeout=1s poll=1s')
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    $::Pg->pause;

    my $t0 = ::now();
    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 9, "B": 1}}');
    my $took = ::now() - $t0;
    my $err = eval { ::decode($body)->{error} } // '';

    # the GETs and the assignment do not wait on the store
    my @slow;
    for my $i (1 .. 10) {
        my $t = ::now();
        ::get('/api/experiments');
        ::get("/api/expgroups?device_id=dev$i");
        $t = ::now() - $t;
        push @slow, $t if $t > 0.5;
    }

    # the listener's next read (poll=) does not come back either: the
    # server takes no update, and says so at once
    ::wait_for(sub { !::status()->{store}{ready} }, 3);
    my $s = ::status();
    my $t1 = ::now();
    my ($s2, $body2) = ::update('{"name": "e", "groups": {"A": 9, "B": 1}}');
    my $took2 = ::now() - $t1;

    $::Pg->resume;

    return "update: $status $body" if $status != 503;
    return "the 503's error: $err"
        if $err !~ /^the store is unreachable: no answer within 1000 ms/;
    return sprintf('the 503 took %.3f s', $took)
        if $took < 0.9 || $took > 2.5;
    return "GETs took (@slow) s while the store hung" if @slow;
    return 'status while it hangs: ' . ABTest::Json::show($s->{store})
        if $s->{store}{connected} || $s->{store}{ready}
           || ($s->{store}{error} // '') !~ /no answer within 1000 ms/;
    return "a second update: $s2 $body2" if $s2 != 503;
    return sprintf('the second 503 took %.3f s', $took2) if $took2 > 0.5;

    # back: the listener reconnects (backoff, at most poll= apart)
    $e = ::ready();
    return $e if $e;

    ($status, $body) = ::update('{"name": "e", "groups": {"A": 9, "B": 1}}');
    return "an update once it is back: $status $body" if $status != 200;
    return 'the row: ' . ABTest::Json::show(::row()->{weights})
        if !::same(::row()->{weights}, { A => 9, B => 1 });

    # nothing the store did not commit was applied before: one version
    # with these weights, made by the last update
    $e = ::once_per_process(qr/\[error\] .*abtest: the store "[^"]+" is unreachable: no answer within/);
    return $e if $e;
    return 'no "reachable again" notice'
        if !::log_lines(qr/\[notice\] .*abtest: the store "\S+" is reachable again/);

    return '';
}
--- no_error_log
[crit]
[alert]



=== TEST 16: PostgreSQL killed (SIGKILL), then started again
--- http_config eval
::store_config(opts => 'node=web1 timeout=1s poll=1s')
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 3, "B": 1}}');
    return "update: $status $body" if $status != 200;

    $::Pg->kill;

    # the listener notices at once (its socket closes)
    ::wait_for(sub { !::status()->{store}{connected} }, 5)
        or return 'the listener did not notice the kill';

    my $t0 = ::now();
    ($status, $body) = ::update('{"name": "e", "groups": {"A": 5, "B": 1}}');
    my $took = ::now() - $t0;
    return "update with the store killed: $status $body" if $status != 503;
    return sprintf('the 503 took %.3f s', $took) if $took > 0.5;
    return "its error: $body"
        if ::decode($body)->{error} !~ /^the store is unreachable: /;

    return 'the weights changed: ' . ABTest::Json::show(::weights())
        if !::same(::weights(), { A => 3, B => 1 });

    # the retries, at most poll= apart, are not logged again
    my $polls = 0;
    ::wait_for(sub { ::log_lines(qr/Connection refused/) && ++$polls > 20 }, 3);

    $::Pg->restart;

    $e = ::ready();
    return $e if $e;

    ($status, $body) = ::update('{"name": "e", "groups": {"A": 5, "B": 1}}');
    return "update after the restart: $status $body" if $status != 200;
    return 'the row: ' . ABTest::Json::show(::row()->{weights})
        if !::same(::row()->{weights}, { A => 5, B => 1 });

    return ::once_per_process(qr/\[error\] .*abtest: the store "[^"]+" is unreachable: /);
}
--- no_error_log
[crit]
[alert]



=== TEST 17: a server that will start while the store is down: its last state, in its state file
--- http_config eval
::store_config(state => "$::Tmp/s17/state.json")
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;
    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 20, "B": 80}}');
    return "update: $status $body" if $status != 200;
    return '';
}



=== TEST 18: started while the store is down: it serves its state file, takes no update, and catches up
--- db: b17
--- pg_down
--- http_config eval
::store_config(state => "$::Tmp/s17/state.json")
--- request
GET /api/experiments
--- json eval
sub {
    my $w = ::weights();
    return 'the state file was not used: ' . ABTest::Json::show($w)
        if !::same($w, { A => 20, B => 80 });

    my $s = ::status();
    return 'status with the store down: ' . ABTest::Json::show($s)
        if $s->{store}{connected} || $s->{store}{ready}
           || !defined $s->{store}{error}
           || $s->{experiments}{e}{source} ne 'configuration';

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 1, "B": 2}}');
    return "update with the store down: $status $body" if $status != 503;

    # the store is back, with a change a DBA made meanwhile
    $::Pg->restart;
    $::Pg->psql('b17', q{UPDATE abtest_experiments
                         SET weights = '{"A": 25, "B": 75}' WHERE name = 'e'});

    my $e = ::ready();
    return $e if $e;

    ::wait_for(sub { ::same(::weights(), { A => 25, B => 75 }) }, 3)
        or return 'not caught up: ' . ABTest::Json::show(::weights());
    return 'source: ' . ::status()->{experiments}{e}{source}
        if ::status()->{experiments}{e}{source} ne 'store';

    # the state file is the store's state again
    ::wait_for(sub { ::read_file("$::Tmp/s17/state.json") =~ /"A":25/ }, 3)
        or return 'the state file: ' . ::read_file("$::Tmp/s17/state.json");

    return '';
}
--- no_error_log
[crit]
[alert]



=== TEST 19: a reload with the connection open: new workers take it, the old ones are not held back
--- http_config eval
::store_config()
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 2, "B": 1}}');
    return "update: $status $body" if $status != 200;

    my $master = ::master();
    my @old = ::worker_pids($master);
    my $listener = ::status()->{store}{listener};

    kill 'HUP', $master;
    ::wait_for(sub { ::new_workers($master, @old) >= 2
                   && !grep { ::alive($_) } @old }, 5)
        or return 'the old workers did not exit within 5 s';

    $e = ::ready();
    return $e if $e;

    my $s = ::status();
    return "the listener is still $listener"
        if $s->{store}{listener} == $listener
           || grep { $_ == $s->{store}{listener} } @old;

    ($status, $body) = ::update('{"name": "e", "groups": {"A": 3, "B": 1}}');
    return "update after the reload: $status $body" if $status != 200;

    # the old workers' connections closed with them
    ::wait_for(sub { ::connections() <= 2 }, 5)
        or return ::connections() . ' connections to the store';

    return '';
}



=== TEST 20: the listener SIGKILLed: the new worker listens
--- http_config eval
::store_config()
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my $master = ::master();
    my @old = ::worker_pids($master);
    my $listener = ::status()->{store}{listener};

    kill 'KILL', $listener;
    ::wait_for(sub { ::new_workers($master, @old) == 1 }, 5)
        or return 'no worker started for the killed one';

    ::wait_for(sub {
        my $s = ::status();
        $s->{store}{listener} != $listener && $s->{store}{ready};
    }, 5) or return 'no new listener: '
                    . ABTest::Json::show(::status()->{store});

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 4, "B": 1}}');
    return "update: $status $body" if $status != 200;

    $::Pg->psql($::Db, q{UPDATE abtest_experiments
                         SET weights = '{"A": 8, "B": 1}' WHERE name = 'e'});
    ::wait_for(sub { ::same(::weights(), { A => 8, B => 1 }) }, 2)
        or return 'the new listener did not apply a change';

    # the killed worker's connection is gone
    ::wait_for(sub { ::connections() <= 2 }, 5)
        or return ::connections() . ' connections to the store';

    return '';
}
--- no_error_log
[crit]
[emerg]



=== TEST 21: the password of a URI is never in a log or an answer; a wrong one is said without it
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_store \"postgresql://abtest:wrong-Sekr1t\@127.0.0.1:" . $::Pg->port . "/%DB%\" node=web1 timeout=1s poll=500ms;
$::Experiment"
--- request
GET /api/experiments
--- json eval
sub {
    ::wait_for(sub { defined ::status()->{store}{error}
                   && ::status()->{store}{error} =~ /password/ }, 5)
        or return 'status: ' . ABTest::Json::show(::status()->{store});

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 1, "B": 2}}');
    return "update: $status $body" if $status != 503;
    return "the answer holds the password: $body" if $body =~ /Sekr1t/;

    my $s = ABTest::Json::show(::status());
    return "the status holds the password: $s" if $s =~ /Sekr1t/;
    return "the status: $s"
        if $s !~ /password authentication failed for user \\"abtest\\"/;

    my $log = ::error_log();
    return 'the error log holds the password' if $log =~ /Sekr1t/;
    return 'the error log does not say why'
        if $log !~ /\[error\] .*abtest: the store "127\.0\.0\.1:\d+\/b21" is unreachable: .*password authentication failed/;

    return '';
}
--- no_error_log
[crit]
[alert]



=== TEST 22: the password from PGPASSFILE, and a host name resolved at configuration time
--- main_config eval
my $file = "$::Tmp/pgpass";
open my $fh, '>', $file or die "$file: $!";
print $fh "*:*:*:abtest:abtest-pw\n";
close $fh;
chmod 0600, $file;
"env PGPASSFILE=$file;"
--- http_config eval
::store_config(conninfo => $::Pg->conninfo('%DB%', host => 'localhost',
                                           password => undef))
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my $s = ::status();
    return "target: $s->{store}{target}"
        if $s->{store}{target} ne 'localhost:' . $::Pg->port . "/$::Db";

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 1, "B": 2}}');
    return "update: $status $body" if $status != 200;

    # the server connected to the address "localhost" had at start
    my @addr = $::Pg->psql('postgres', "SELECT DISTINCT host(client_addr)"
                           . " FROM pg_stat_activity WHERE datname = '$::Db'");
    return 'connected from ' . CORE::join(' ', map { $_->[0] } @addr)
        if @addr != 1 || $addr[0][0] !~ /^(127\.0\.0\.1|::1)$/;

    return '';
}



=== TEST 23: other groups than the store's: a generation of its own, beside the other
--- pg_setup eval
::read_file('sql/abtest.sql')
. q{;
INSERT INTO abtest_experiments (name, groups, weights, state, start_ms)
    VALUES ('e', 'A,B', '{"A": 10, "B": 90}', 'active', 1);
GRANT SELECT, INSERT, UPDATE ON abtest_experiments, abtest_settings TO abtest;
GRANT USAGE ON SEQUENCE abtest_version TO abtest;}
--- http_config eval
::store_config(experiment => "    abtest_experiment e {
        group A 1;
        group B 1;
        group C 1;
    }
")
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my $s = ::status()->{experiments}{e};
    return 'status: ' . ABTest::Json::show($s)
        if $s->{source} ne 'store' || $s->{groups} ne 'A,B,C';

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 1, "B": 1, "C": 5}}');
    return "update: $status $body" if $status != 200;

    my $old = ::row('A,B');
    my $new = ::row('A,B,C');
    return 'the A,B row changed: ' . ABTest::Json::show($old->{weights})
        if !::same($old->{weights}, { A => 10, B => 90 });
    return 'the A,B,C row: ' . ABTest::Json::show($new && $new->{weights})
        if !$new || !::same($new->{weights}, { A => 1, B => 1, C => 5 });

    # a change of the other generation is not this server's
    $::Pg->psql($::Db, q{UPDATE abtest_experiments SET weights = '{"A": 1, "B": 1}'
                         WHERE name = 'e' AND groups = 'A,B'});
    my $v = $::Pg->value($::Db, "SELECT version FROM abtest_experiments"
                                . " WHERE groups = 'A,B'");
    ::wait_for(sub { ::status()->{store}{version} >= $v }, 3)
        or return 'the change was not read';
    return 'the server took the other generation: '
           . ABTest::Json::show(::weights())
        if !::same(::weights(), { A => 1, B => 1, C => 5 });

    return '';
}



=== TEST 24: "mismatch": the store has other groups and takes no row of this server's
--- pg_setup eval
::read_file('sql/abtest.sql')
. q{;
INSERT INTO abtest_experiments (name, groups, weights, state, start_ms)
    VALUES ('e', 'A,B', '{"A": 10, "B": 90}', 'active', 1);
GRANT SELECT, UPDATE ON abtest_experiments, abtest_settings TO abtest;
GRANT USAGE ON SEQUENCE abtest_version TO abtest;}
--- http_config eval
::store_config(experiment => "    abtest_experiment e {
        group A 1;
        group B 1;
        group C 1;
    }
    abtest_experiment f {
        group X 1;
        group Y 1;
    }
")
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my $s = ::status()->{experiments};
    return 'status: ' . ABTest::Json::show($s)
        if $s->{e}{source} ne 'mismatch' || $s->{f}{source} ne 'configuration'
           || defined $s->{e}{version};

    return 'no warning for the row refused'
        if !::log_lines(qr/\[warn\] .*abtest: the store "\S+" refused a row for experiment "e" \(groups A,B,C\): ERROR:  permission denied for table abtest_experiments/);

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 1, "B": 1, "C": 5}}');
    return "update: $status $body"
        if $status != 500
           || ::decode($body)->{error} !~ /^the store refused it: ERROR:  permission denied/;

    return 'served from the configuration: '
           . ABTest::Json::show(::weights())
        if !::same(::weights(), { A => 1, B => 1, C => 1 });

    return '';
}
--- no_error_log
[crit]
[alert]



=== TEST 25: status without a store, and without a zone
--- http_config eval
$::Experiment
--- config
    location = /api/status {
        abtest_api status;
    }
--- request
GET /api/status
--- json eval
{
    node => qr/./,
    module => qr/^\d+\.\d+\.\d+$/,
    nginx => qr/^\d+\.\d+\.\d+$/,
    pid => qr/^\d+$/,
    store => undef,
    experiments => {
        e => { version => undef, source => 'configuration',
               groups => 'A,B', state => 'active' },
    },
    zone => undef,
    ring => undef,
    events_log => undef,
}



=== TEST 26: several hosts: a unix socket that is not there, then an address (libpq's new socket, maybe of the same number, is watched)
--- http_config eval
::store_config(conninfo => $::Pg->conninfo('%DB%',
                                           host => '/nonexistent,127.0.0.1'))
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 1, "B": 3}}');
    return "update: $status $body" if $status != 200;

    my $s = ::status();
    return "target: $s->{store}{target}"
        if $s->{store}{target} ne '/nonexistent,127.0.0.1:' . $::Pg->port
                                  . "/$::Db";
    return '';
}



=== TEST 27: the table dropped under the servers: the listener makes it again, from the zone
--- http_config eval
::store_config(opts => 'node=web1 timeout=1s poll=300ms')
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 7, "B": 3}}');
    return "update: $status $body" if $status != 200;

    $::Pg->psql($::Db, 'DROP TABLE abtest_experiments');

    ::wait_for(sub { my $r = eval { ::row() }; $r && $r->{weights}
                     && ::same($r->{weights}, { A => 7, B => 3 }) }, 5)
        or return 'the row was not made again: '
                  . ABTest::Json::show(eval { ::row() });

    $e = ::ready();
    return $e if $e;

    ($status, $body) = ::update('{"name": "e", "groups": {"A": 1, "B": 3}}');
    return "update after: $status $body" if $status != 200;

    return 'the read that failed was not said'
        if !::log_lines(qr/\[error\] .*abtest: the store "\S+" is unreachable: the store refused it: ERROR:  relation "abtest_experiments" does not exist/);

    return '';
}
--- no_error_log
[crit]
[alert]



=== TEST 28: events name the store's node=, and count from the store row's statistics start
--- http_config eval
::store_config()
--- config eval
$::Config . '
    location = /events {
        abtest_api events trusted=on;
    }
'
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::ready();
    return $e if $e;

    # a weight change starts the statistics afresh, in the row
    my ($status, $body) = ::update('{"name": "e", "groups": {"A": 1, "B": 3}}');
    return "update: $status $body" if $status != 200;
    my $row = ::row();

    ($status, $body) = ABTest::Json::http('POST', '/events',
        '{"deviceId": "d1", "event": "pageview"}',
        'Content-Type: application/json');
    return "POST: $status $body" if $status != 200;

    my $events = ::get('/events');
    return ::match_json($events, [{
        id => qr/^\d+$/, node => 'web1', received => 'ISO', ts => undef,
        source => undef, event => 'pageview', deviceId => 'd1',
        device_id => 'd1', params => {},
        groups => { e => ABTest::Oracle::seed_group('d1', 'e',
                                                    [[A => 1], [B => 3]]) },
        counted => { e => {
            group => ABTest::Oracle::seed_group('d1', 'e',
                                                [[A => 1], [B => 3]]),
            groups => 'A,B', start => $row->{stats_start_ms} + 0,
            role => 'exposure' } } }]);
}
