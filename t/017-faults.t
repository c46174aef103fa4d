# vim:set ft= ts=4 sw=4 et fdm=marker:

# Faults: what the events log and the zone promise when things go wrong.
#
# * Group commit (no buffer=): a worker SIGKILLed under the load of 8
#   clients loses no acknowledged event, and none is logged twice.
# * Reloads (HUP) under load, three in a row: every acknowledged event is
#   logged once, the last acknowledged update is the state.
# * A worker SIGKILLed while updates run: the master frees the zone's lock,
#   updates and GETs answer, the state (and the state file) is one of the
#   acknowledged updates.
# * A zone full of events, then a reload that adds an experiment: the
#   experiment wins the memory, events leave the ring.
# * A read-only state directory: nginx warns at start, an update is live
#   but answered 500.
# * A full disk for the events log (a small tmpfs filled up): without
#   buffer= a POST waits and the next ones are refused (503); with buffer=
#   events are taken, and a reload (HUP), a reopen (USR1) and a graceful
#   stop (QUIT) keep them until the disk has room again; a line a full
#   disk cut short is not continued by another worker's line.  The last
#   block stops nginx.
#
# Needs root (mount); the file is skipped without it.

use strict;
use warnings;

use File::Temp qw(tempdir);

our $Tmp;

BEGIN {
    $Tmp = tempdir('abtest-faults-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    # before Test::Nginx plans the tests: a skip is a plan of its own
    my $out = `mount -t tmpfs -o size=64k tmpfs '$Tmp' 2>&1`;

    if ($? != 0) {
        require Test::More;
        chomp $out;
        Test::More::plan(skip_all => "cannot mount a tmpfs (needs root): "
                                     . ($out || "status $?"));
    }

    system('umount', $Tmp) == 0 or die "cannot unmount $Tmp";
}

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Json qw(json_body_check match_json decode);
use ABTest::Nginx qw(wait_for worker_pids workers_reopened master_pid alive
                     new_workers mount_tmpfs unmount fill_fs zone_lock stop
                     cont read_file);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);

master_on();
workers(2);

# a request to a worker killed meanwhile must not kill its client
$SIG{PIPE} = 'IGNORE';

# the full disk of the events log, and the read-only state directory
our $Disk = "$Tmp/disk";
our $RoDir = "$Tmp/ro";

our $EventsLocation = <<'_EOC_';
    location = /events {
        abtest_api events trusted=on;
    }
_EOC_

our $Config = <<'_EOC_';
    location = /events {
        abtest_api events trusted=on;
    }

    location /api/experiments {
        abtest_api experiments write=on;
    }
_EOC_

our $Experiment = <<'_EOC_';
    abtest_experiment e {
        group A 1;
        group B 1;
    }
_EOC_


sub root { Test::Nginx::Socket::server_root() }

sub master { master_pid(root()) }


sub error_log { read_file(root() . '/logs/error.log') }

# the error log's lines matching $re
sub log_lines {
    my ($re) = @_;
    return grep { /$re/ } split /\n/, error_log();
}

# the pids of the processes that logged lines matching $re
sub log_pids {
    my ($re) = @_;
    my %pids = map { /\[\w+\] (\d+)#/ ? ($1 => 1) : () } log_lines($re);
    my @pids = sort keys %pids;
    return @pids;
}


# a request of our own, without waiting for its answer: the socket
sub request_start {
    my ($method, $uri, $body, @headers) = @_;

    $body //= '';

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => ABTest::Json::port(),
                                     Proto => 'tcp', Timeout => 5)
        or return undef;

    print $sock "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
                . "Connection: close\r\n"
                . join('', map { "$_\r\n" } @headers)
                . ($method eq 'POST' ? "Content-Type: application/json\r\n"
                                       . "Content-Length: " . length($body)
                                       . "\r\n" : '')
                . "\r\n$body";

    return $sock;
}

# its answer, (status, body), once nginx closed the connection, if it
# does within $seconds; () if not (the socket stays open); (0, '') when
# the connection broke before any answer
sub request_answer {
    my ($sock, $seconds) = @_;

    return (0, '') if !$sock;

    my $deadline = time + $seconds;
    my $sel = IO::Select->new($sock);
    ${*$sock}{abtest_resp} //= '';

    while (1) {
        my $left = $deadline - time;
        return () if !$sel->can_read($left > 0 ? $left : 0);
        my $n = sysread $sock, my $buf, 65536;
        last if !$n;
        ${*$sock}{abtest_resp} .= $buf;
    }

    my $resp = ${*$sock}{abtest_resp};
    close $sock;

    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};

    return ($status // 0, $content // '');
}

# a request answered within $seconds (5): (status, body), (0, '') if not
sub request {
    my ($method, $uri, $body, $seconds) = @_;
    my $sock = request_start($method, $uri, $body);
    my @res = request_answer($sock, $seconds // 5);
    close $sock if $sock && !@res;
    return @res ? @res : (0, '');
}


# events whose params are {"k": key}, one per key, as a POST body
sub events_json {
    my ($device, @keys) = @_;
    return '[' . CORE::join(',', map {
        qq({"deviceId":"$device","event":"pageview","params":{"k":"$_"}})
    } @keys) . ']';
}

# how often each key is in an events log (a line cut short by a kill is
# not counted: it has no params)
sub log_keys {
    my ($path) = @_;
    my %n;
    my $text = read_file($path);
    $n{$1}++ while $text =~ /"params":\{"k":"([^"]+)"\}/g;
    return \%n;
}

# how often each key is in the ring
sub ring_keys {
    my (%n, $since);
    while (1) {
        my $uri = '/events?limit=10000'
                  . (defined $since ? "&since=$since" : '');
        my ($status, $body) = request('GET', $uri);
        die "GET /events: $status" if $status != 200;
        my $events = decode($body);
        last if !@$events;
        $n{$_->{params}{k}}++ for @$events;
        $since = $events->[-1]{id};
    }
    return \%n;
}

# '' when every acknowledged key is in the log once, and no key twice
sub each_once {
    my ($log, @acked) = @_;
    for my $k (sort keys %$log) {
        return "$k is in the events log $log->{$k} times" if $log->{$k} > 1;
    }
    my @missing = grep { !$log->{$_} } @acked;
    return @missing ? scalar(@missing) . " acknowledged events are not in "
                      . "the events log, e.g. $missing[0]"
                    : '';
}


# Clients, each a process of its own: $code->($c, $i) makes the i-th
# request of client $c and returns the keys it got acknowledged, which go
# to a file of the client's in $dir.  They run until stop_clients(), and
# each then ends after an acknowledged request.

our ($ClientDir, @Clients);

sub start_clients {
    my ($n, $code) = @_;

    $ClientDir = tempdir('clients-XXXXXX', DIR => $::Tmp);
    @Clients = ();

    for my $c (1 .. $n) {
        my $pid = fork;
        die "fork: $!" if !defined $pid;

        if ($pid == 0) {
            local $SIG{ALRM} = sub { POSIX::_exit(2) };
            alarm 30;
            open my $acks, '>', "$ClientDir/acks.$c" or POSIX::_exit(3);
            $acks->autoflush(1);
            my $ok = 0;
            for (my $i = 1; !$ok || !-e "$ClientDir/stop"; $i++) {
                my @keys = eval { $code->($c, $i) };
                print $acks map { "$_\n" } @keys;
                $ok = @keys > 0;
            }
            POSIX::_exit(0);
        }

        push @Clients, $pid;
    }
}

# the keys acknowledged so far, in each client's order
sub acked {
    my @keys;
    for my $c (1 .. @Clients) {
        push @keys, split /\n/, read_file("$ClientDir/acks.$c");
    }
    return @keys;
}

# waits until $n more keys than now are acknowledged
sub wait_acked {
    my ($n, $seconds) = @_;
    my $want = acked() + $n;
    return wait_for(sub { acked() >= $want }, $seconds // 10);
}

# '' once every client ended well
sub stop_clients {
    open my $fh, '>', "$ClientDir/stop" or die "$ClientDir/stop: $!";
    close $fh;

    my $failed = 0;
    my $deadline = time + 10;

    for my $pid (@Clients) {
        while (waitpid($pid, POSIX::WNOHANG()) == 0) {
            if (time > $deadline) {
                kill 'KILL', $pid;
                waitpid $pid, 0;
                $? = 1;
                last;
            }
            Time::HiRes::sleep(0.02);
        }
        $failed++ if $?;
    }

    return $failed ? "$failed clients did not end well" : '';
}

END {
    local $?;
    kill 'KILL', @Clients if @Clients;
}


# HUP, then waits until $n new workers run and the old ones are gone
sub reload {
    my ($n) = @_;
    my $master = master();
    my @old = worker_pids($master);
    kill 'HUP', $master;
    return wait_for(sub {
        new_workers($master, @old) >= $n
            && !grep { alive($_) } @old
    }, 10) ? '' : 'the reload did not end';
}

# the configuration rewritten by $edit, then a reload
sub edit_and_reload {
    my ($edit) = @_;
    my $conf = root() . '/conf/nginx.conf';
    my $text = read_file($conf);
    $edit->(\$text);
    open my $out, '>', $conf or return "$conf: $!";
    print $out $text;
    close $out;
    return reload(2);
}


# every [alert] of the block is one of these (the master's for a killed
# worker, or what the block expects)
sub only_alerts {
    my (@ok) = @_;
    push @ok, qr/worker process \d+ exited on signal 9/,
              qr/shared memory zone "abtest" was locked by \d+/;
    for my $line (log_lines(qr/\[alert\]/)) {
        return "unexpected: $line" if !grep { $line =~ $_ } @ok;
    }
    return '';
}


# a block's checks, with the tmpfs unmounted whatever happens
sub on_disk {
    my ($check) = @_;
    return sub {
        my @args = @_;
        my $e = eval { $check->(@args) };
        $e = "died: $@" if !defined $e;
        unlink "$::Disk/filler";
        unmount($::Disk);
        unmount($::RoDir);
        return $e;
    };
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $Config) if !defined $block->config;

    # a fresh tmpfs before nginx starts (nginx opens the events log then)
    if (defined $block->disk) {
        my $e = mount_tmpfs($Disk, 'size=256k');
        Test::Nginx::Socket::bail_out($e) if $e;
    }

    if (defined $block->ro_state) {
        my $e = mount_tmpfs($RoDir, 'ro,size=64k');
        Test::Nginx::Socket::bail_out($e) if $e;
    }

    $block->set_value('no_error_log', "[error]\n[crit]\n[emerg]\n")
        if !defined $block->no_error_log;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: group commit: a worker killed under load loses no acknowledged event, and logs none twice
--- http_config eval
"    abtest_zone zone=abtest:32m events=100000;
    abtest_events_log logs/events.log;
$::Experiment"
--- request
GET /events?limit=1
--- json eval
sub {
    ::start_clients(8, sub {
        my ($c, $i) = @_;
        my @keys = map { "c$c-$i-$_" } 1 .. 10;
        my ($status) = ::request('POST', '/events',
                                 ::events_json("c$c", @keys));
        return $status == 200 ? @keys : ();
    });

    my $master = ::master();
    my (@killed, $e);

    # three kills, each of a worker stopped in the middle of a pass of
    # its event loop (not in epoll_wait()), when it may hold events not
    # written yet
    for my $kill (1 .. 3) {
        $e = "no events acknowledged before kill $kill"
            if !::wait_acked(200);
        last if $e;
        my @w = ::worker_pids($master);
        my $deadline = time + 2;
        while (time < $deadline) {
            ::stop($w[0]) or last;
            last if ::read_file("/proc/$w[0]/syscall") !~ /^(?:232|281) /;
            ::cont($w[0]);
        }
        kill 'KILL', $w[0];
        ::cont($w[0]);
        push @killed, $w[0];
        $e = "kill $kill: no worker started for the killed one"
            if !::wait_for(sub { ::new_workers($master, @w) == 1
                                 && ::worker_pids($master) == 2 });
        last if $e;
    }
    $e ||= 'no events acknowledged after the kills' if !::wait_acked(200);
    $e = ::stop_clients() || $e;
    return $e if $e;

    # answered after the write(): the lines are there now
    my @acked = ::acked();
    my $log = ::log_keys(::root() . '/logs/events.log');
    $e = ::each_once($log, @acked);
    return $e if $e;

    for my $pid (@killed) {
        return "worker $pid was not killed"
            if !::log_lines(qr/worker process $pid exited on signal 9/);
    }

    # every line is an event of the ring; the ring's events that no line
    # has were lost with a killed worker, unanswered
    my $ring = ::ring_keys();
    my @stray = grep { !$ring->{$_} } keys %$log;
    return "in the events log, not in the ring: @stray" if @stray;

    return ::only_alerts();
}



=== TEST 2: three reloads under load: every acknowledged event logged once, the last acknowledged update is the state
--- http_config eval
"    abtest_zone zone=abtest:4m events=1000;
    abtest_events_log logs/events.log;
$::Experiment"
--- request
GET /api/experiments
--- json eval
sub {
    # client 1 updates the weights (A: its request's number), the others
    # post events
    ::start_clients(7, sub {
        my ($c, $i) = @_;
        if ($c == 1) {
            my ($status) = ::request('POST', '/api/experiments/update',
                qq({"name": "e", "groups": {"A": $i, "B": 100}}));
            return $status == 200 ? ("u$i") : ();
        }
        my @keys = map { "c$c-$i-$_" } 1 .. 10;
        my ($status) = ::request('POST', '/events',
                                 ::events_json("c$c", @keys));
        return $status == 200 ? @keys : ();
    });

    my $e;
    $e = 'nothing acknowledged' if !::wait_acked(200);
    for my $n (1 .. 3) {
        last if $e;
        $e = ::reload(2);
        $e = "reload $n: $e" if $e;
        $e ||= "nothing acknowledged after reload $n" if !::wait_acked(100);
    }
    $e = ::stop_clients() || $e;
    return $e if $e;

    my @acked = ::acked();
    my @updates = map { /^u(\d+)$/ ? $1 : () } @acked;
    $e = ::each_once(::log_keys(::root() . '/logs/events.log'),
                     grep { !/^u/ } @acked);
    return $e if $e;

    my ($status, $body) = ::request('GET', '/api/experiments');
    return "GET: $status" if $status != 200;
    $e = ::match_json(::decode($body)->{e}{groups},
                      { A => $updates[-1], B => 100 }, 'groups');
    return $e if $e;

    my $n = () = ::log_lines(qr/\[notice\] \d+#\d+: reconfiguring$/);
    return "$n reloads logged" if $n != 3;
    return ::only_alerts();
}



=== TEST 3: a worker killed while many updates run: the lock is freed, updates and GETs answer, the state is an acknowledged update
--- http_config eval
"    abtest_zone zone=abtest:1m state=$::Tmp/state/state.json;
$::Experiment"
--- request
GET /api/experiments
--- json eval
sub {
    # client c's i-th update: A = c * 100000 + i, B = i + 1
    ::start_clients(8, sub {
        my ($c, $i) = @_;
        my ($a, $b) = ($c * 100000 + $i, $i + 1);
        my ($status) = ::request('POST', '/api/experiments/update',
            qq({"name": "e", "groups": {"A": $a, "B": $b}}), 3);
        return $status == 200 ? ("$a:$b") : ();
    });

    my $master = ::master();
    my $e;
    $e = 'no update acknowledged' if !::wait_acked(100);

    # a worker stopped while it holds the zone's lock is killed; the
    # master frees the lock
    my ($victim, $tries) = (0, 0);
    # each try stops a worker and reads the master's memory: on a loaded
    # machine a catch may take many
    my $deadline = time + 60;
    while (!$e && !$victim && time < $deadline) {
        for my $w (::worker_pids($master)) {
            $tries++;
            ::stop($w) or next;
            my $holder = ::zone_lock($master, 1048576);
            $e = 'no zone of 1m in the master' if !defined $holder;
            if (!$e && $holder == $w) {
                kill 'KILL', $w;
                $victim = $w;
            }
            ::cont($w);
            last if $e || $victim;
        }
    }
    $e ||= 'no worker found holding the lock' if !$victim;

    $e ||= 'no worker started for the killed one'
        if !::wait_for(sub { my @w = ::worker_pids($master);
                             @w == 2 && !grep { $_ == $victim } @w });
    $e ||= 'no update acknowledged after the kill' if !::wait_acked(50, 5);
    $e = ::stop_clients() || $e;
    return $e if $e;

    my $freed = qr/shared memory zone "abtest" was locked by $victim$/;
    return 'the master did not free the lock'
        if !::log_lines(qr/\[alert\] .*$freed/);

    my %acked = map { $_ => 1 } ::acked();

    my ($status, $body) = ::request('GET', '/api/experiments', undef, 3);
    return "GET: $status" if $status != 200;
    my $g = ::decode($body)->{e}{groups};
    return "the state $g->{A}:$g->{B} is no acknowledged update"
        if !$acked{"$g->{A}:$g->{B}"};

    # the last save wrote the state that is live
    my $file = "$::Tmp/state/state.json";
    ::wait_for(sub {
        my $s = eval { ::decode(::read_file($file)) } or return 0;
        return !::match_json($s->{experiments}{e}{groups}, $g);
    }) or return "the state file does not say $g->{A}:$g->{B}: "
                 . ::read_file($file);

    # and the zone answers at once
    for my $i (1 .. 5) {
        my $t = time;
        ($status) = ::request('POST', '/api/experiments/update',
                              qq({"name": "e", "groups": {"A": $i, "B": 1}}),
                              3);
        return "update $i: $status" if $status != 200;
        ($status, $body) = ::request('GET', '/api/experiments', undef, 3);
        return "GET $i: $status" if $status != 200;
        return "update and GET $i took " . (time - $t) . ' s'
            if time - $t > 3;
        $e = ::match_json(::decode($body)->{e}{groups}, { A => $i, B => 1 });
        return $e if $e;
    }

    return ::only_alerts();
}



=== TEST 4: a zone full of events, then a reload that adds an experiment: the experiment takes the memory, events leave the ring
--- http_config eval
"    abtest_zone zone=abtest:128k events=1000;
$::Experiment"
--- request
GET /api/experiments
--- json eval
sub {
    my $pad = 'p' x 200;
    my $i = 0;

    # until the ring stops growing: the zone says it is full
    my $full = ::wait_for(sub {
        $i++;
        my ($status, $body) = ::request('POST', '/events',
            ::events_json('d1', map { "$pad-$i-$_" } 1 .. 10));
        return 0 if $status != 200;
        return ::log_lines(qr/\[warn\] .*the zone is full/);
    }, 10);
    return "the zone did not fill up after $i requests" if !$full;

    my ($status, $body) = ::request('GET', '/events?limit=10000');
    my $before = @{ ::decode($body) };

    my $added = <<'_EOC_';
    abtest_experiment added {
        group X 1;
        group Y 1;
    }

_EOC_
    my $e = ::edit_and_reload(sub {
        ${$_[0]} =~ s/^(?=    abtest_experiment e \{$)/$added/m
            or die 'no experiment e in nginx.conf';
    });
    return $e if $e;

    my $made_room = qr/abtest: zone "abtest" was full, \d+ events left the /
                    . qr/ring to make room for an experiment/;
    ::wait_for(sub { ::log_lines(qr/\[warn\] .*$made_room/) })
        or return 'no events left the ring for the experiment';

    ($status, $body) = ::request('GET', '/api/experiments');
    my $exps = ::decode($body);
    $e = ::match_json([sort keys %$exps], ['added', 'e'], 'experiments')
         || ::match_json($exps->{added}{groups}, { X => 1, Y => 1 });
    return $e if $e;

    ($status, $body) = ::request('POST', '/api/experiments/update',
        '{"name": "added", "groups": {"X": 3, "Y": 1}}');
    return "update: $status $body" if $status != 200;
    $e = ::match_json(::decode($body)->{added}{groups}, { X => 3, Y => 1 });
    return $e if $e;

    ($status, $body) = ::request('GET', '/events?limit=10000');
    my $after = @{ ::decode($body) };
    return "the ring kept $after events, $before before the reload"
        if $after >= $before;
    return '';
}
--- no_error_log
[error]
[alert]
[emerg]



=== TEST 5: a read-only state directory: a warn at start; an update is live, answered 500
--- ro_state
--- http_config eval
"    abtest_zone zone=abtest:1m state=$::RoDir/state.json;
$::Experiment"
--- request
POST /api/experiments/update
{"name": "e", "groups": {"A": 10, "B": 90}}
--- more_headers
Content-Type: application/json
--- error_code: 500
--- json eval
::on_disk(sub {
    my ($got) = @_;
    my $e = ::match_json($got, { error => 'the change is live, but the '
        . 'state file could not be written: see the error log' });
    return $e if $e;
    my ($status, $body) = ::request('GET', '/api/experiments');
    return ::match_json(::decode($body)->{e}{groups}, { A => 10, B => 90 });
})
--- error_log eval
[qr/\[warn\] .*abtest: the state file's directory "\S+\/ro" is not writable by the workers \(user "root"\): updates will answer 500 and be lost on restart/,
 qr/\[error\] .*abtest: cannot write the state file, open\(\) "\S+\/ro\/state\.json\.tmp" failed \(30: Read-only file system\)/]
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 6: a full disk, no buffer=: a POST waits for its line, the next are refused (503), one alert per worker; room again: the answer and the line
--- disk
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log $::Disk/events.log;
$::Experiment"
--- request
GET /events
--- json eval
::on_disk(sub {
    my $log = "$::Disk/events.log";
    my $e = ::fill_fs($::Disk);
    return $e if $e;

    my $alert = qr/\[alert\] .*abtest:\ cannot\ write\ the\ events\ log
        \ "\Q$log\E":\ \d+\ bytes\ of\ events\ wait\ and\ are\ tried\ again
        \ every\ second,\ new\ events\ are\ refused\ meanwhile
        \ \(28:\ No\ space\ left\ on\ device\)/x;

    # the first waits: its worker cannot write the line
    my @waiting = (['w1', ::request_start('POST', '/events',
                                          ::events_json('d1', 'w1'))]);
    ::wait_for(sub { ::log_lines($alert) })
        or return 'no alert for the full disk';
    return 'answered before the line was written'
        if ::request_answer($waiting[0][1], 0);

    # the next ones: refused by a failing worker, or waiting in the other
    # (then it says so: a worker's alert of its own)
    my @refused;
    for my $i (1 .. 20) {
        last if @refused >= 5;
        my $pids = () = ::log_pids($alert);
        my $sock = ::request_start('POST', '/events',
                                   ::events_json('d1', "r$i"));
        my @res;
        ::wait_for(sub {
            @res = ::request_answer($sock, 0);
            @res || ::log_pids($alert) > $pids
        }) or return "POST r$i: neither answered nor waiting";
        if (!@res) {
            push @waiting, ["r$i", $sock];
            next;
        }
        return "POST r$i: $res[0] $res[1]" if $res[0] != 503;
        $e = ::match_json(::decode($res[1]), { error => 'the events log '
            . 'cannot be written now, the events were not stored: see the '
            . 'error log' });
        return $e if $e;
        push @refused, "r$i";
    }
    return scalar(@refused) . ' POSTs refused' if @refused < 5;
    return scalar(@waiting) . ' POSTs wait, for 2 workers' if @waiting > 2;

    my @alerts = ::log_lines($alert);
    my @pids = ::log_pids($alert);
    return scalar(@alerts) . " alerts from " . scalar(@pids) . " workers, "
           . scalar(@waiting) . " POSTs waiting"
        if @alerts != @pids || @pids != @waiting;
    return "lines written on a full disk" if -s $log;

    unlink "$::Disk/filler" or return "unlink: $!";

    for my $w (@waiting) {
        my ($status, $body) = ::request_answer($w->[1], 5);
        return "$w->[0]: no answer once the disk has room" if !defined $status;
        return "$w->[0]: $status $body" if $status != 200;
        # answered: the line is there
        return "$w->[0] answered before its line was written"
            if !::log_keys($log)->{$w->[0]};
    }

    my $keys = ::log_keys($log);
    $e = ::match_json([sort keys %$keys], [sort map { $_->[0] } @waiting],
                      'logged') || ::each_once($keys);
    return $e if $e;

    my @again = ::log_pids(qr/\[notice\] .*abtest: the events log /
                           . qr/"\Q$log\E" is written again/);
    return "written again by @again, failed in @pids" if "@again" ne "@pids";
    return ::only_alerts($alert);
})



=== TEST 7: a full disk, buffer=: events taken; an old worker of a reload stays until its lines are written
--- disk
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log $::Disk/events.log buffer=64k flush=1h;
$::Experiment"
--- request
GET /events
--- json eval
::on_disk(sub {
    my $log = "$::Disk/events.log";
    my $e = ::fill_fs($::Disk);
    return $e if $e;

    my @acked;
    for my $i (1 .. 10) {
        my ($status, $body) = ::request('POST', '/events',
                                        ::events_json('d1', "b$i"));
        return "POST b$i: $status $body" if $status != 200;
        push @acked, "b$i";
    }

    my $master = ::master();
    my @old = ::worker_pids($master);
    kill 'HUP', $master;

    # an old worker with lines says it cannot write them, and stays
    my $alert = qr/\[alert\] .*abtest: cannot write the events log/;
    ::wait_for(sub { ::new_workers($master, @old) == 2
                     && ::log_lines($alert) })
        or return 'no new workers, or no alert';
    my @stuck = ::log_pids($alert);
    for my $pid (@stuck) {
        return "$pid logged the alert but is not an old worker"
            if !grep { $_ == $pid } @old;
    }
    # the old workers without lines exit at once, those with lines wait
    ::wait_for(sub { !grep { ::alive($_) } grep { my $p = $_;
                         !grep { $_ == $p } @stuck } @old })
        or return 'an old worker without lines did not exit';
    # a retry (every second) that fails must not let them go: a wait
    # that must run out
    return "an old worker exited with its lines not written"
        if ::wait_for(sub { grep { !::alive($_) } @stuck }, 1.5);

    # the new workers take events meanwhile
    for my $i (1 .. 4) {
        my ($status, $body) = ::request('POST', '/events',
                                        ::events_json('d1', "n$i"));
        return "POST n$i: $status $body" if $status != 200;
        push @acked, "n$i";
    }
    return "lines written on a full disk" if -s $log;

    unlink "$::Disk/filler" or return "unlink: $!";

    ::wait_for(sub { !grep { ::alive($_) } @stuck })
        or return 'the old workers did not exit once the disk had room';
    $e = ::each_once(::log_keys($log), grep { /^b/ } @acked);
    return "the old workers' lines: $e" if $e;

    # the new workers' lines, on a reopen
    kill 'USR1', $master;
    ::wait_for(sub { !::each_once(::log_keys($log), @acked) })
        or return "after USR1: " . ::each_once(::log_keys($log), @acked);

    my $keys = ::log_keys($log);
    return 'events that were not acknowledged: '
           . CORE::join(' ', grep { !/^[bn]\d+$/ } keys %$keys)
        if keys %$keys != @acked;
    return ::only_alerts($alert);
})



=== TEST 8: a full disk, buffer=: a reopen (USR1) keeps the lines, they reach the new file once the disk has room
--- disk
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log $::Disk/events.log buffer=64k flush=1h;
$::Experiment"
--- request
GET /events
--- json eval
::on_disk(sub {
    my $log = "$::Disk/events.log";
    my $e = ::fill_fs($::Disk);
    return $e if $e;

    my @acked;
    for my $i (1 .. 10) {
        my ($status, $body) = ::request('POST', '/events',
                                        ::events_json('d1', "u$i"));
        return "POST u$i: $status $body" if $status != 200;
        push @acked, "u$i";
    }

    # a rotation: the old file renamed, then USR1
    rename $log, "$log.1" or return "rename: $!";
    my $master = ::master();
    kill 'USR1', $master;
    my $alert = qr/\[alert\] .*abtest: cannot write the events log/;
    ::wait_for(sub { -e $log && ::workers_reopened($master, $log)
                     && ::log_lines($alert) })
        or return 'the workers did not reopen the events log, or no alert';

    unlink "$::Disk/filler" or return "unlink: $!";

    # the retry, every second, writes to the reopened file
    ::wait_for(sub { !::each_once(::log_keys($log), @acked) })
        or return ::each_once(::log_keys($log), @acked);
    return "lines in the renamed file" if -s "$log.1";
    my $keys = ::log_keys($log);
    return scalar(keys %$keys) . ' events in the log' if keys %$keys != 10;
    return ::only_alerts($alert);
})



=== TEST 9: a full disk cuts a line short: the write is undone, and no other worker's line continues it
--- disk
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log $::Disk/events.log;
$::Experiment"
--- request
GET /events
--- json eval
::on_disk(sub {
    my $log = "$::Disk/events.log";

    # two lines that leave 50 bytes in the log's first page
    my ($status, $body) = ::request('POST', '/events',
        qq({"deviceId":"d1","event":"pageview","params":{"k":"x1"}}));
    return "POST x1: $status $body" if $status != 200;
    my $len = -s $log;
    my $pad = 'p' x (4096 - 50 - 2 * $len);
    ($status, $body) = ::request('POST', '/events',
        qq({"deviceId":"d1","event":"pageview","params":{"k":"x2$pad"}}));
    return "POST x2: $status $body" if $status != 200;
    return 'the log is ' . (-s $log) . ' bytes' if -s $log != 4096 - 50;

    # a page to free later, then nothing left
    open my $fh, '>', "$::Disk/page" or return "page: $!";
    print $fh 'x' x 4096;
    close $fh;
    my $e = ::fill_fs($::Disk);
    return $e if $e;

    # a worker's line cut short (50 bytes of it fit): the write is undone,
    # and the whole line waits
    my $alert = qr/\[alert\] .*abtest: cannot write the events log/;
    my $cut = ::request_start('POST', '/events', ::events_json('d1', 'cut'));
    ::wait_for(sub { ::log_lines($alert) })
        or return 'no alert for the full disk';
    return 'the log is ' . (-s $log) . ' bytes: the cut write is not undone'
        if -s $log != 4096 - 50;

    # a page again: the other worker writes a line of its own
    unlink "$::Disk/page" or return "unlink: $!";
    my $next;
    for my $i (1 .. 200) {
        ($status, $body) = ::request('POST', '/events',
                                     ::events_json('d1', "n$i"));
        next if $status == 503;
        return "POST n$i: $status $body" if $status != 200;
        $next = "n$i";
        last;
    }
    return 'no POST taken by the other worker' if !$next;

    unlink "$::Disk/filler" or return "unlink: $!";
    ($status, $body) = ::request_answer($cut, 5);
    return "the cut POST: " . ($status // 'no answer') if ($status // 0) != 200;

    # every acknowledged event is a line of its own
    my %whole;
    for my $line (split /\n/, ::read_file($log)) {
        my $ev = eval { ::decode($line) } or next;
        $whole{$ev->{params}{k}}++;
    }
    for my $k ('cut', $next) {
        return "$k is not a whole line of the events log: "
               . ::read_file($log) =~ s/p{100,}/.../r
            if !$whole{$k};
    }
    return '';
})



=== TEST 10: a full disk, buffer=: a graceful stop (QUIT) waits for the lines, and ends once the disk has room
--- disk
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log $::Disk/events.log buffer=64k flush=1h;
$::Experiment"
--- request
GET /events
--- json eval
::on_disk(sub {
    my $log = "$::Disk/events.log";
    my $e = ::fill_fs($::Disk);
    return $e if $e;

    my @acked;
    for my $i (1 .. 10) {
        my ($status, $body) = ::request('POST', '/events',
                                        ::events_json('d1', "q$i"));
        return "POST q$i: $status $body" if $status != 200;
        push @acked, "q$i";
    }

    my $master = ::master();
    my @workers = ::worker_pids($master);
    kill 'QUIT', $master;

    # the workers with lines say they cannot write them, the others exit
    my $alert = qr/\[alert\] .*abtest: cannot write the events log/;
    ::wait_for(sub {
        my %stuck = map { $_ => 1 } ::log_pids($alert);
        %stuck && !grep { ::alive($_) && !$stuck{$_} } @workers
    }) or return 'no alert, or a worker without lines did not exit';
    return 'nginx stopped with lines not written' if !::alive($master);
    return "lines written on a full disk" if -s $log;

    unlink "$::Disk/filler" or return "unlink: $!";

    ::wait_for(sub { !::alive($master) })
        or return 'nginx did not stop once the disk had room';

    $e = ::each_once(::log_keys($log), @acked);
    return $e if $e;
    return ::only_alerts($alert);
})
