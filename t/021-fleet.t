# vim:set ft= ts=4 sw=4 et fdm=marker:

# The store (abtest_store) with a fleet: three servers of two workers each
# (Test::Nginx's own is web1; web2 and web3 are ABTest::Fleet's, on ports
# port()+8 and port()+9) and one PostgreSQL cluster (t/lib/ABTest/Pg.pm,
# on port()+7), a database per block:
#
# * a change through each server seen by all three within 1 s (the times
#   are said with diag);
# * concurrent updates on different servers: every update answered 200
#   in the store once (an audit trigger of the block's own), none half
#   applied, each built on the one before; every server shows the last;
# * the seed's transitions refused in the store across servers, with the
#   answers of a server without a store;
# * PostgreSQL killed (SIGKILL), then hung (SIGSTOP): every server serves
#   and assigns, updates answer 503 within timeout=, nothing the store did
#   not commit is applied; then back, and every server with it;
# * a rolling deploy of a new group set: a generation of the new servers'
#   own, nothing flip-flopping while old and new run side by side, the
#   old servers adopting the new row once they run the new groups;
# * a server started while the store is down (its state file), catching
#   up with the fleet once it is back;
# * the store restored from a backup (its versions gone back): its rows
#   taken again by every server, and the writes after it shown.
#
# Every server's error log is read at the end of each block.  Needs root
# and Debian's postgresql; the file is skipped without them.

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
use ABTest::Fleet qw(name status update ready all_logs_clean);
use ABTest::Child qw(spawn reap);
use File::Temp qw(tempdir);
use List::Util ();
use Time::HiRes qw(time sleep);

master_on();
workers(2);

our $Tmp = tempdir('abtest-fleet-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Tmp;

our $Pg = ABTest::Pg->new->start;

# the block's database, made afresh before web1 starts; "%DB%" in the
# configuration is its name
our $Db;

# the block's servers: web1 (Test::Nginx's), web2, web3
our @Web;

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

# the next generation of e: a group more
our $ExperimentABC = <<'_EOC_';
    abtest_experiment e {
        group A 1;
        group B 1;
        group C 1;
    }
_EOC_

# the store's audit of its own: every UPDATE of a row, as committed, with
# the row it replaced
our $Audit = <<'_EOS_';
CREATE TABLE abtest_audit (
    version      bigint PRIMARY KEY,
    old_version  bigint NOT NULL,
    weights      jsonb NOT NULL,
    history      jsonb NOT NULL,
    old_weights  jsonb NOT NULL,
    old_history  jsonb NOT NULL,
    state        text NOT NULL,
    updated_by   text
);

CREATE FUNCTION abtest_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO abtest_audit VALUES (NEW.version, OLD.version, NEW.weights,
        NEW.history, OLD.weights, OLD.history, NEW.state, NEW.updated_by);
    RETURN NULL;
END
$$;

CREATE TRIGGER abtest_audit AFTER UPDATE ON abtest_experiments
    FOR EACH ROW EXECUTE FUNCTION abtest_audit();

GRANT SELECT, INSERT, UPDATE ON abtest_experiments, abtest_settings TO abtest;
GRANT USAGE ON SEQUENCE abtest_version TO abtest;
GRANT INSERT ON abtest_audit TO abtest;
_EOS_


sub root { Test::Nginx::Socket::server_root() }

# Time::HiRes's time, for the blocks' code (their package has the core one)
sub now { Time::HiRes::time() }

# the zone, the block's store for a node, and the experiment
sub store_config {
    my (%o) = @_;
    my $state = $o{state} ? " state=$o{state}" : '';
    return "    abtest_zone zone=abtest:1m$state;\n"
           . "    abtest_store \"" . $Pg->conninfo($o{db} // '%DB%')
           . "\" node=" . ($o{node} // 'web1') . " timeout=1s poll=1s;\n"
           . ($o{experiment} // $Experiment);
}

sub web_config {
    my ($node, %o) = @_;
    return store_config(db => $Db, node => $node, %o);
}

# the block's fleet: web1 as Test::Nginx started it, web2 and web3 (each
# with the options of web_config in $o{web2}, $o{web3})
sub fleet {
    my (%o) = @_;
    @Web = ABTest::Fleet->three(root => root(), server => $Config,
                                http => sub {
                                    web_config("web$_[0]",
                                               %{ $o{"web$_[0]"} // {} })
                                });
    return @Web;
}

sub start_web {
    my ($n, %o) = @_;
    return ABTest::Fleet->node($n, http => web_config("web$n", %o),
                               server => $Config);
}

sub exp_json { $_[0]->json('GET', '/api/experiments')->{e} }

sub weights { exp_json($_[0])->{groups} }

sub groups_body {
    my ($groups) = @_;
    return '{"name": "e", "groups": ' . ABTest::Json::show($groups) . '}';
}


# true once every server given shows $want as e's weights
sub all_show {
    my ($want, $seconds, @web) = @_;
    return wait_for(sub {
        !grep { !same(eval { weights($_) }, $want) } @web;
    }, $seconds);
}

sub shown {
    my (@web) = @_;
    return CORE::join ', ', map { name($_) . ' '
                                  . ABTest::Json::show(eval { weights($_) }) }
                            @web;
}

# the store's row of e (groups $groups): column => text
sub row {
    my ($groups) = @_;
    my @cols = qw(weights state rollout_group start_ms end_ms
                  stats_start_ms history version updated_by);
    my @rows = $Pg->psql($Db, 'SELECT ' . join(', ', map { "${_}::text" }
                                                        @cols)
                         . " FROM abtest_experiments WHERE name = 'e'"
                         . " AND groups = '" . ($groups // 'A,B') . "'");
    return undef if !@rows;
    my %row;
    @row{@cols} = @{$rows[0]};
    $row{weights} = decode($row{weights}) if $row{weights} ne '';
    $row{history} = decode($row{history}) if $row{history} ne '';
    return \%row;
}

# the weights of every row of e: groups => weights
sub generations {
    return { map { $_->[0] => decode($_->[1]) }
             $Pg->psql($Db, "SELECT groups, weights::text"
                            . " FROM abtest_experiments WHERE name = 'e'") };
}

# the logs of an outage ($outages of them): the [error] once per process
# and outage, nothing worse, and the end said
sub outage_logs { ABTest::Fleet::outage_logs(\@Web, @_) }

sub clean_logs { all_logs_clean(\@Web) }

# a block's checks: web2 and web3 stopped and PostgreSQL resumed whatever
# happens; then the checks of the logs of what ran (web1's beside its
# no_error_log)
sub scenario {
    my ($check, $logs) = @_;
    return sub {
        my @args = @_;
        my $e = eval { $check->(@args) } // "died: $@";
        $Pg->resume;
        $_->stop for grep { name($_) ne 'web1' } @Web;
        $e ||= ($logs // \&clean_logs)->();
        return $e;
    };
}

# web1's own configuration rewritten (Test::Nginx's server), then HUP;
# '' once its new workers run and the old ones are gone
sub reload_web1 {
    my ($edit) = @_;
    my $conf = root() . '/conf/nginx.conf';
    my $text = read_file($conf);
    $edit->(\$text) or return "the edit of $conf did not apply";
    open my $fh, '>', $conf or return "$conf: $!";
    print $fh $text;
    close $fh;

    my $master = master_pid(root());
    my @old = worker_pids($master);
    kill 'HUP', $master;
    return wait_for(sub { new_workers($master, @old) >= 2
                        && !grep { alive($_) } @old }, 10)
           ? '' : 'the reload of web1 did not end';
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    my ($n) = $block->name =~ /TEST (\d+)/;
    $Db = "f$n";
    @Web = ();

    # "--- pg_setup": SQL run in the block's database before nginx starts
    ABTest::Fleet::setup_block($block, pg => $Pg, db => $Db,
                               http => store_config(), server => $Config);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a change through each server is seen by all three within 1 s
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    my %took;
    my $n = 1;

    for my $round (1 .. 3) {
        for my $web (@web) {
            my $want = { A => ++$n, B => 1 };
            my ($status, $body) = ::update($web, ::groups_body($want));
            my $t0 = ::now();
            return ::name($web) . ": $status $body" if $status != 200;

            # the answer is the experiment's new JSON, as without a store
            my $answer = ::decode($body)->{e};
            return ::name($web) . ' answered ' . ABTest::Json::show($answer)
                if !::same($answer->{groups}, $want);

            my %seen;
            ::wait_for(sub {
                for my $w (@web) {
                    $seen{::name($w)} //= ::now() - $t0
                        if ::same(eval { ::weights($w) }, $want);
                }
                return keys %seen == @web;
            }, 5) or return 'a change through ' . ::name($web)
                            . ' was not seen in 5 s: ' . ::shown(@web);

            my $slowest = List::Util::max(values %seen);
            push @{ $took{::name($web)} }, $slowest;
            return sprintf('a change through %s took %.3f s to reach all',
                           ::name($web), $slowest)
                if $slowest >= 1;

            # the row is the one update's, made by the server it went to
            my $row = ::row();
            return 'the row: ' . ABTest::Json::show($row)
                if !::same($row->{weights}, $want)
                   || $row->{updated_by} ne ::name($web);

            for my $w (@web) {
                my $v = ::status($w)->{experiments}{e};
                return ::name($w) . ' runs from ' . ABTest::Json::show($v)
                       . ", the row is version $row->{version}"
                    if $v->{source} ne 'store'
                       || $v->{version} != $row->{version};
            }
        }
    }

    Test::More::diag('from the 200 to all three servers showing it (ms): '
        . CORE::join('; ', map { "through $_ " . CORE::join(' ',
                                   map { sprintf '%.1f', 1000 * $_ }
                                   @{ $took{$_} }) } sort keys %took));
    return '';
})



=== TEST 2: concurrent updates on different servers: every answered one in the store once, none half applied
--- pg_setup eval
::read_file('sql/abtest.sql') . ";\n$::Audit"
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    my $first = ::row();
    my $per_server = 3;
    my $file = "$::Tmp/b2";

    # the clients start together, once all are forked: $go holds the
    # time they stop at
    my $go = "$file.go";
    unlink $go;

    # client $c posts {"A": 100 + $c, "B": $i} on its $i-th update: every
    # update of the block asks for a set of weights of its own, none the
    # seed's
    my (@pids, %server);
    my $c = 0;
    for my $web (@web) {
        for (1 .. $per_server) {
            $c++;
            $server{$c} = ::name($web);
            my $me = $c;
            push @pids, ::spawn(sub {
                open my $out, '>', "$file.$me" or die "$file.$me: $!";
                $out->autoflush(1);
                ::wait_for(sub { -s $go }, 30) or die 'no start';
                my $end = ::read_file($go);
                my $i = 0;
                while (::now() < $end) {
                    $i++;
                    my ($status, $body) = ::update($web,
                        ::groups_body({ A => 100 + $me, B => $i }));
                    $body =~ s/\s+/ /g;
                    print $out "$status\t", 100 + $me, ",$i\t$body\n";
                }
                close $out;
            });
        }
    }

    open my $fh, '>', "$go.new" or return "$go.new: $!";
    print {$fh} ::now() + 3;
    close $fh;
    rename "$go.new", $go or return "$go: $!";

    $e = ::reap(20, @pids);
    return $e if $e;

    # what the clients were answered: "A,B" => [server, status, body]
    my (%asked, %ok, %per);
    for my $k (1 .. $c) {
        for my $line (split /\n/, ::read_file("$file.$k")) {
            my ($status, $key, $body) = split /\t/, $line, 3;
            $asked{$key} = [$server{$k}, $status, $body];
            if ($status == 200) {
                $ok{$key} = 1;
                $per{$server{$k}}++;
            }
        }
    }

    my @refused = grep { $asked{$_}[1] != 200 } sort keys %asked;
    return "$refused[0] through $asked{$refused[0]}[0]: "
           . CORE::join(' ', @{ $asked{$refused[0]} }[1, 2])
           . ' (' . scalar(@refused) . ' not answered 200)' if @refused;
    return 'too few updates: ' . ABTest::Json::show(\%per)
        if grep { ($per{$_} // 0) < 10 } map { ::name($_) } @web;

    # the store's history of the row, update by update
    my @audit = $::Pg->psql($::Db, 'SELECT version, old_version,'
        . ' weights::text, history::text, old_weights::text,'
        . ' old_history::text, state, updated_by FROM abtest_audit'
        . ' ORDER BY version');

    my %in_store;
    my ($version, $weights, $history) = ($first->{version},
                                         $first->{weights},
                                         $first->{history});
    my $interleaved = 0;
    my $by = '';

    for my $a (@audit) {
        my ($v, $old_v, $w, $h, $old_w, $old_h, $state, $node) = @$a;
        ($w, $h, $old_w, $old_h) = map { ::decode($_) } $w, $h, $old_w,
                                                         $old_h;
        my $key = ($w->{A} // '?') . ',' . ($w->{B} // '?');

        # one requested set, whole, by the server it was posted to
        return "version $v: weights " . ABTest::Json::show($w)
               . ' were asked by no client'
            if !$asked{$key} || keys %$w != 2;
        return "version $v ($key) was written by $node, asked of"
               . " $asked{$key}[0]" if $node ne $asked{$key}[0];
        return "version $v: state $state" if $state ne 'active';
        return "$key is in the store twice" if $in_store{$key}++;

        # built on the update before it: none lost, the history moved on
        return "version $v replaced version $old_v, not $version"
            if $old_v != $version;
        return "version $v replaced weights " . ABTest::Json::show($old_w)
               . ', not ' . ABTest::Json::show($weights)
            if !::same($old_w, $weights) || !::same($old_h, $history);
        my @want = ($weights, @$history);
        splice @want, 8 if @want > 8;
        return "version $v: history " . ABTest::Json::show($h)
               . ', expected ' . ABTest::Json::show(\@want)
            if !::same($h, \@want);

        $interleaved++ if $by ne '' && $node ne $by;
        ($version, $weights, $history, $by) = ($v, $w, $h, $node);
    }

    my @lost = grep { !$in_store{$_} } sort keys %ok;
    return scalar(@lost) . " updates answered 200 are not in the store,"
           . " $lost[0] through $asked{$lost[0]}[0] first" if @lost;
    my @extra = grep { !$ok{$_} } sort keys %in_store;
    return "$extra[0] is in the store, its answer was not 200" if @extra;
    return "the servers' updates did not interleave ($interleaved changes"
           . ' of server)' if $interleaved < 3;

    # the row is the last update's, and every server shows it
    my $last = ::row();
    return "the row is version $last->{version}, the last update $version"
        if $last->{version} != $version || !::same($last->{weights}, $weights);

    ::wait_for(sub {
        !grep { my $s = eval { ::status($_) };
                !$s || ($s->{experiments}{e}{version} // 0) != $version }
              @web
    }, 2) or return "not every server read version $version";
    return 'the servers show ' . ::shown(@web)
           . ', the row ' . ABTest::Json::show($weights)
        if !::all_show($weights, 0, @web);

    Test::More::diag(sprintf '%d concurrent updates answered 200 in 3 s'
                     . ' (%s), %d changes of server', scalar(keys %ok),
                     CORE::join(', ', map { "$_ $per{$_}" } sort keys %per),
                     $interleaved);
    return '';
})



=== TEST 3: the seed's transitions refused in the store across servers, as without a store
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    my ($web1, $web2, $web3) = @web;

    # the same requests to a server without a store, for its answers
    my $alone = ABTest::Fleet->start(
        name => 'alone',
        port => ABTest::Json::port() + 10,
        http => "    abtest_zone zone=abtest:1m;\n$::Experiment",
        server => $::Config);
    push @::Web, $alone;

    my $inactive = 'state: an inactive experiment can only become active';
    my $rollout = 'state: an experiment in rollout can only become active';

    # each right after the one before, on another server: the store
    # checks against its row, whatever the server has applied so far
    my @steps = (
        [$web2, '{"name": "e", "state": "inactive"}', 200],
        [$web1, '{"name": "e", "state": "rollout", "rollout_group": "B"}',
         409, $inactive],
        [$web3, '{"name": "e", "state": "rollout"}', 409, $inactive],
        [$web3, '{"name": "e", "state": "active"}', 200],
        [$web1, '{"name": "e", "state": "rollout", "rollout_group": "B"}',
         200],
        [$web2, '{"name": "e", "state": "inactive"}', 409, $rollout],
        [$web3, '{"name": "e", "state": "inactive"}', 409, $rollout],
        [$web2, '{"name": "e", "state": "active"}', 200],
        [$web3, '{"name": "e", "state": "inactive"}', 200],
        [$web1, '{"name": "e", "state": "rollout", "rollout_group": "A"}',
         409, $inactive],
        [$web2, '{"name": "e", "state": "active", "groups": {"A": 3, "B": 1}}',
         200],
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

    my $version = ::row()->{version};

    for my $step (@steps) {
        my ($web, $body, $want, $error) = @$step;
        my ($status, $answer) = ::update($web, $body);
        my $with = $shape->($status, $answer);
        my $without = $shape->($alone->http('POST',
                                            '/api/experiments/update', $body,
                                            'Content-Type: application/json'));
        my $what = ::name($web) . " $body";

        return "$what: $status $answer" if $status != $want;
        return "$what:\n  with the store: $with\n  without: $without"
            if $with ne $without;

        # a refusal leaves the row as it was, a change moves it on
        my $now = ::row()->{version};
        if ($error) {
            $e = ::match_json(::decode($answer), { error => $error });
            return "$what: $e" if $e;
            return "$what was refused, and the row changed"
                if $now != $version;

        } elsif ($now <= $version) {
            return "$what was answered $status, and the row did not change";
        }
        $version = $now;
    }

    # every server shows the store's row, as the server without one ends
    my $row = ::row();
    $e = ::wait_for(sub {
        !grep { ($_->{version} // 0) != $row->{version} }
         map { eval { ::status($_)->{experiments}{e} } // {} } @web
    }, 2);
    return "not every server read version $row->{version}" if !$e;

    my $last = $shape->(200, ABTest::Json::show(
                                 $web1->json('GET', '/api/experiments')));
    my $without = $shape->(200, ABTest::Json::show(
                                    $alone->json('GET', '/api/experiments')));
    return "at the end:\n  web1: $last\n  without a store: $without"
        if $last ne $without;

    for my $web ($web2, $web3) {
        return ::name($web) . ' and web1 differ: '
               . ABTest::Json::show(::exp_json($web))
            if !::same(::exp_json($web), ::exp_json($web1));
    }

    return '';
})



=== TEST 4: PostgreSQL killed (SIGKILL): every server serves and assigns, updates answer 503; restarted, all three take it up again
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    my $want = { A => 3, B => 1 };
    my ($status, $body) = ::update($web[0], ::groups_body($want));
    return "update: $status $body" if $status != 200;
    ::all_show($want, 2, @web) or return 'not seen by all: ' . ::shown(@web);
    my $version = ::row()->{version};

    $::Pg->kill;

    # each server's listener notices (its socket closes)
    ::wait_for(sub {
        !grep { eval { ::status($_)->{store}{connected} } // 1 } @web
    }, 5) or return 'not every server noticed the kill: '
                    . CORE::join(' ', map { ABTest::Json::show(
                                            ::status($_)->{store}) } @web);

    my @devices = map { sprintf 'a1b2c3d4-0000-4000-8000-%012d', $_ } 1 .. 5;

    for my $web (@web) {
        return ::name($web) . ' shows ' . ABTest::Json::show(::weights($web))
            if !::same(::weights($web), $want);

        for my $device (@devices) {
            my $g = $web->json('GET', "/api/expgroups?device_id=$device")
                    ->{e}{assigned};
            my $oracle = ABTest::Oracle::seed_group($device, 'e',
                                                    [[A => 3], [B => 1]]);
            return ::name($web) . " assigned $device to $g, not $oracle"
                if $g ne $oracle;
        }

        my $t0 = ::now();
        ($status, $body) = ::update($web, ::groups_body({ A => 5, B => 1 }));
        my $took = ::now() - $t0;
        return ::name($web) . " with the store killed: $status $body"
            if $status != 503;
        $e = ::match_json(::decode($body),
                          { error => qr/^the store is unreachable: ./ });
        return ::name($web) . ": $e" if $e;
        return sprintf('%s: the 503 took %.3f s', ::name($web), $took)
            if $took > 1.5;
    }

    return 'an update was applied: ' . ::shown(@web)
        if !::all_show($want, 0, @web);

    $::Pg->restart;

    $e = ::ready(@web);
    return $e if $e;

    my $row = ::row();
    return "the row moved while the store was down: version"
           . " $row->{version}, was $version"
        if $row->{version} != $version;

    # a change through one reaches all
    $want = { A => 5, B => 1 };
    ($status, $body) = ::update($web[1], ::groups_body($want));
    return "update after the restart: $status $body" if $status != 200;
    ::all_show($want, 1, @web)
        or return 'the change through web2 did not reach all in 1 s: '
                  . ::shown(@web);

    return '';
}, sub { ::outage_logs(1) })
--- no_error_log
[crit]
[alert]



=== TEST 5: PostgreSQL hung (SIGSTOP): updates on each server answer 503 within timeout=, GETs are fast; resumed, all catch up
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    my $want = { A => 2, B => 3 };
    my ($status, $body) = ::update($web[2], ::groups_body($want));
    return "update: $status $body" if $status != 200;
    ::all_show($want, 2, @web) or return 'not seen by all: ' . ::shown(@web);
    my $version = ::row()->{version};

    $::Pg->pause;

    my @took;
    for my $web (@web) {
        my $t0 = ::now();
        ($status, $body) = ::update($web, ::groups_body({ A => 9, B => 1 }));
        my $took = ::now() - $t0;
        push @took, sprintf '%s %.3f s', ::name($web), $took;

        return ::name($web) . " with the store hung: $status $body"
            if $status != 503;
        $e = ::match_json(::decode($body),
                          { error => qr/^the store is unreachable: ./ });
        return ::name($web) . ": $e" if $e;
        return sprintf('%s: the 503 took %.3f s (timeout=1s)',
                       ::name($web), $took) if $took > 1.5;

        # the GETs and the assignment do not wait on the store
        for my $i (1 .. 5) {
            my $t = ::now();
            my $w = ::weights($web);
            $web->json('GET', "/api/expgroups?device_id=dev$i");
            $t = ::now() - $t;
            return sprintf('%s: two GETs took %.3f s while the store hung',
                           ::name($web), $t) if $t > 0.5;
            return ::name($web) . ' shows ' . ABTest::Json::show($w)
                if !::same($w, $want);
        }
    }

    # each listener's next read (poll=) does not come back either
    ::wait_for(sub {
        !grep { eval { ::status($_)->{store}{ready} } // 1 } @web
    }, 4) or return 'a server still takes updates with the store hung';

    $::Pg->resume;

    $e = ::ready(@web);
    return $e if $e;

    # nothing was committed, nothing applied
    return 'the row moved while the store hung: version '
           . ::row()->{version} . ", was $version"
        if ::row()->{version} != $version;
    return 'an update was applied: ' . ::shown(@web)
        if !::all_show($want, 0, @web);

    $want = { A => 9, B => 1 };
    ($status, $body) = ::update($web[0], ::groups_body($want));
    return "update once it is back: $status $body" if $status != 200;
    ::all_show($want, 1, @web)
        or return 'the change did not reach all in 1 s: ' . ::shown(@web);

    Test::More::diag('503 with the store hung: ' . CORE::join(', ', @took));
    return '';
}, sub { ::outage_logs(1) })
--- no_error_log
[crit]
[alert]



=== TEST 6: a rolling deploy of a new group set: a generation of its own, nothing flip-flops, then adopted by all
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;
    my ($web1, $web2, $web3) = @web;

    my $ab = { A => 2, B => 1 };
    my ($status, $body) = ::update($web1, ::groups_body($ab));
    return "update: $status $body" if $status != 200;
    ::all_show($ab, 2, @web) or return 'not seen by all: ' . ::shown(@web);

    # web3 first: its own row of A,B,C, made from its configuration
    $e = $web3->reload(http => ::web_config('web3',
                                            experiment => $::ExperimentABC));
    return $e if $e;
    $e = ::ready($web3);
    return $e if $e;

    my $new = ::row('A,B,C');
    return 'no row of A,B,C' if !$new;
    return 'the A,B,C row: ' . ABTest::Json::show($new)
        if !::same($new->{weights}, { A => 1, B => 1, C => 1 })
           || $new->{updated_by} ne 'web3';
    return 'the A,B row changed: ' . ABTest::Json::show(::row('A,B'))
        if !::same(::row('A,B')->{weights}, $ab);
    return 'web3 shows ' . ABTest::Json::show(::weights($web3))
        if !::same(::weights($web3), { A => 1, B => 1, C => 1 });
    return 'the old servers show ' . ::shown($web1, $web2)
        if !::all_show($ab, 0, $web1, $web2);

    # the mixed phase: each server is sampled all along, while updates go
    # to both generations; a server shows only its own generation's
    # weights, each later than the one before
    my %writes = (web1 => [$ab], web2 => [$ab],
                  web3 => [{ A => 1, B => 1, C => 1 }]);
    my $file = "$::Tmp/b6";
    my $stop = "$file.stop";
    unlink $stop;

    my @pids = map {
        my $web = $_;
        ::spawn(sub {
            open my $out, '>', "$file." . ::name($web) or die "$file: $!";
            $out->autoflush(1);
            while (!-e $stop) {
                my ($s, $b) = $web->http('GET', '/api/experiments');
                my $w = $s == 200 ? eval { ::decode($b)->{e}{groups} } : undef;
                print $out ($w ? ABTest::Json::show($w) : "$s $b"), "\n";
            }
            close $out;
        })
    } @web;

    for my $i (1 .. 8) {
        my $old = { A => 2 + $i, B => 1 };
        my $through = $i % 2 ? $web1 : $web2;
        ($status, $body) = ::update($through, ::groups_body($old));
        return ::name($through) . ": $status $body" if $status != 200;
        push @{ $writes{$_} }, $old for qw(web1 web2);

        my $next = { A => 1, B => 1, C => 1 + $i };
        ($status, $body) = ::update($web3, ::groups_body($next));
        return "web3: $status $body" if $status != 200;
        push @{ $writes{web3} }, $next;

        # each writes its own generation's row only
        my $rows = ::generations();
        return 'the rows: ' . ABTest::Json::show($rows)
            if !::same($rows, { 'A,B' => $old, 'A,B,C' => $next });

        # and it reaches the servers of that generation only
        ::all_show($old, 1, $web1, $web2) && ::all_show($next, 1, $web3)
            or return "after update $i: " . ::shown(@web);
    }

    # a few more samples of the last state, then the samplers stop
    my $lines = sub { my $n = () = ::read_file($_[0]) =~ /\n/g; $n };
    my %at = map { ::name($_) => $lines->("$file." . ::name($_)) } @web;
    ::wait_for(sub {
        !grep { $lines->("$file." . ::name($_)) < $at{::name($_)} + 20 } @web
    }, 5);
    open my $fh, '>', $stop or return "$stop: $!";
    close $fh;
    $e = ::reap(10, @pids);
    return $e if $e;

    my @counts;
    for my $web (@web) {
        my $n = ::name($web);
        my %index;
        my @w = @{ $writes{$n} };
        $index{ ABTest::Json::show($w[$_]) } //= $_ for 0 .. $#w;
        my $at = 0;
        my @seen = split /\n/, ::read_file("$file.$n");
        for my $k (0 .. $#seen) {
            my $i = $index{$seen[$k]};
            return "$n showed $seen[$k] (sample $k), not its generation's"
                if !defined $i;
            return "$n went back from " . ABTest::Json::show($w[$at])
                   . " to $seen[$k] (sample $k)" if $i < $at;
            $at = $i;
        }
        return "$n ended at " . ABTest::Json::show($w[$at])
            if $at != $#w;
        push @counts, "$n " . scalar(@seen);
    }

    # web3 ends the test with a rollout of C
    ($status, $body) = ::update($web3,
        '{"name": "e", "state": "rollout", "rollout_group": "C"}');
    return "web3's rollout: $status $body" if $status != 200;
    my $state = ::exp_json($web3);

    # the old servers get the new groups: they adopt the A,B,C row
    my $ab_version = ::row('A,B')->{version};

    $e = ::reload_web1(sub {
        ${$_[0]} =~ s/^(        group B 1;\n)/$1        group C 1;\n/m
    });
    return $e if $e;
    $e = $web2->reload(http => ::web_config('web2',
                                            experiment => $::ExperimentABC));
    return $e if $e;
    $e = ::ready($web1, $web2);
    return $e if $e;

    for my $web ($web1, $web2) {
        my $got = ::exp_json($web);
        return ::name($web) . ' after its reload: ' . ABTest::Json::show($got)
               . ', web3: ' . ABTest::Json::show($state)
            if !::same($got, $state);
        my $s = ::status($web)->{experiments}{e};
        return ::name($web) . ' runs from ' . ABTest::Json::show($s)
            if $s->{groups} ne 'A,B,C' || $s->{source} ne 'store'
               || $s->{version} != ::row('A,B,C')->{version};
    }

    # from now on the A,B row is unused
    my $ab_c = { A => 1, B => 2, C => 3 };
    ($status, $body) = ::update($web1, '{"name": "e", "state": "active", '
                                       . '"groups": {"A": 1, "B": 2, "C": 3}}');
    return "web1 after the deploy: $status $body" if $status != 200;
    ::all_show($ab_c, 1, @web) or return 'after the deploy: ' . ::shown(@web);
    return 'the A,B row changed after the deploy'
        if ::row('A,B')->{version} != $ab_version;

    Test::More::diag('samples in the mixed phase: '
                     . CORE::join(', ', @counts));
    return '';
})



=== TEST 7: a server started while the store is down serves its state file, then adopts the fleet's row
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my $state = "$::Tmp/s7/state.json";
    my @web = ::fleet(web3 => { state => $state });
    my $e = ::ready(@web);
    return $e if $e;
    my ($web1, $web2, $web3) = @web;

    my $seen = { A => 20, B => 80 };
    my ($status, $body) = ::update($web1, ::groups_body($seen));
    return "update: $status $body" if $status != 200;
    ::all_show($seen, 2, @web) or return 'not seen by all: ' . ::shown(@web);
    ::wait_for(sub { ::read_file($state) =~ /"A":20/ }, 3)
        or return "web3's state file: " . ::read_file($state);

    # web3 goes away; the fleet moves on without it, then the store stops
    $web3->stop;
    my $fleet = { A => 30, B => 70 };
    ($status, $body) = ::update($web2, ::groups_body($fleet));
    return "update: $status $body" if $status != 200;
    ::all_show($fleet, 2, $web1, $web2)
        or return 'not seen by all: ' . ::shown($web1, $web2);

    $::Pg->stop;

    $web3 = ::start_web(3, state => $state);
    @web = ($web1, $web2, $web3);
    @::Web = @web;

    return "web3 started with the store down shows "
           . ABTest::Json::show(::weights($web3))
        if !::same(::weights($web3), $seen);
    my $s = ::status($web3);
    return 'web3 status with the store down: ' . ABTest::Json::show($s)
        if $s->{store}{connected} || $s->{store}{ready}
           || !defined $s->{store}{error}
           || $s->{experiments}{e}{source} ne 'configuration';

    ($status, $body) = ::update($web3, ::groups_body({ A => 1, B => 2 }));
    return "web3's update with the store down: $status $body"
        if $status != 503
           || ::decode($body)->{error} !~ /^the store is unreachable: /;

    return 'web1 and web2 show ' . ::shown($web1, $web2)
        if !::all_show($fleet, 0, $web1, $web2);

    # the store is back: web3 takes the fleet's row
    $::Pg->restart;
    my $t0 = ::now();
    ::all_show($fleet, 5, $web3)
        or return 'web3 did not catch up: ' . ::shown($web3);
    my $took = ::now() - $t0;

    $e = ::ready(@web);
    return $e if $e;
    $s = ::status($web3)->{experiments}{e};
    return 'web3 runs from ' . ABTest::Json::show($s)
        if $s->{source} ne 'store' || $s->{version} != ::row()->{version};

    # its state file is the store's state again
    ::wait_for(sub { ::read_file($state) =~ /"A":30/ }, 3)
        or return "web3's state file: " . ::read_file($state);

    # and it is one of the fleet again
    my $want = { A => 40, B => 60 };
    ($status, $body) = ::update($web3, ::groups_body($want));
    return "web3's update: $status $body" if $status != 200;
    ::all_show($want, 1, @web) or return 'not seen by all: ' . ::shown(@web);

    Test::More::diag(sprintf 'web3 caught up %.3f s after the store'
                     . ' restarted', $took);
    return '';
}, sub { ::outage_logs(1) })
--- no_error_log
[crit]
[alert]



=== TEST 8: the store restored from a backup (its versions went back): every server takes its rows, and a write through one is shown by all
--- request
GET /api/experiments
--- json eval
::scenario(sub {
    my @web = ::fleet();
    my $e = ::ready(@web);
    return $e if $e;

    my $backed_up = { A => 2, B => 1 };
    my ($status, $body) = ::update($web[0], ::groups_body($backed_up));
    return "update: $status $body" if $status != 200;
    ::all_show($backed_up, 2, @web)
        or return 'not seen by all: ' . ::shown(@web);

    # a copy of the cluster's files, the store stopped: the backup
    my $data = $::Pg->dir . '/data';
    $::Pg->stop;
    system('rm', '-rf', "$data.backup") == 0
        && system('cp', '-a', $data, "$data.backup") == 0
        or return 'the backup was not made';
    $::Pg->restart;
    $e = ::ready(@web);
    return $e if $e;

    # the fleet moves on
    my $later = { A => 4, B => 1 };
    for my $w ({ A => 3, B => 1 }, $later) {
        ($status, $body) = ::update($web[1], ::groups_body($w));
        return "update: $status $body" if $status != 200;
    }
    ::all_show($later, 2, @web) or return 'not seen by all: ' . ::shown(@web);

    # then the store is restored from the backup
    $::Pg->stop;
    system('rm', '-rf', $data) == 0
        && system('mv', "$data.backup", $data) == 0
        or return 'the backup was not restored';
    $::Pg->restart;
    $e = ::ready(@web);
    return $e if $e;

    my $row = ::row();
    return 'the restored row: ' . ABTest::Json::show($row)
        if !::same($row->{weights}, $backed_up);

    # said once by each server
    for my $web (@web) {
        my @said = grep { /\[warn\] .*abtest: the store "\S+" holds versions up to \d+, below the \d+ this server read: its rows are applied again/ }
                   split /\n/, $web->error_log;
        return ::name($web) . ' said the store went back '
               . scalar(@said) . ' times' if @said != 1;
    }

    # the store is the run-time source: every server shows what it holds
    ::all_show($backed_up, 3, @web)
        or return 'after the restore: ' . ::shown(@web) . ', the store '
                  . ABTest::Json::show($row->{weights});

    # and a write through one server is shown by all
    my $want = { A => 5, B => 1 };
    ($status, $body) = ::update($web[2], ::groups_body($want));
    return "update after the restore: $status $body" if $status != 200;
    ::all_show($want, 1, @web)
        or return 'the update after the restore (version '
                  . ::row()->{version} . '): ' . ::shown(@web);

    return '';
}, sub { ::outage_logs(2) })
--- no_error_log
[crit]
[alert]
