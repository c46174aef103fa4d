# vim:set ft= ts=4 sw=4 et fdm=marker:

# The events log: a line per accepted event, equal to the ring's; written
# by each request or buffered, flushed on reopen (USR1) and when a worker
# exits; sent to syslog; two workers writing at once lose nothing.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Json qw(json_body_check match_json decode http);
use ABTest::Nginx qw(wait_for workers_reopened);
use IO::Socket::INET;
use ABTest::Oracle ();
use POSIX ();
use Time::HiRes qw(sleep time);

master_on();
workers(2);

$ENV{TEST_NGINX_SYSLOG_PORT} ||= (ABTest::Json::port() + 100);

our $Config = <<'_EOC_';
    abtest on;

    location = /events {
        abtest_api events trusted=on;
        access_log logs/pids.log pids;
    }

    location = /api/stats {
        abtest_api stats;
    }
_EOC_

our $Experiment = <<'_EOC_';
    log_format pids '$pid $request';

    abtest_experiment e {
        group A 1;
        group B 1;
    }
_EOC_


sub root { Test::Nginx::Socket::server_root() }


sub lines_of {
    my ($file) = @_;
    open my $fh, '<', root() . "/logs/$file" or return ();
    my @lines = <$fh>;
    close $fh;
    return @lines;
}


# waits up to 5 s for "file" to have "n" lines
sub wait_lines {
    my ($file, $n) = @_;
    my $deadline = time + 5;
    my @lines;
    while (time < $deadline) {
        @lines = lines_of($file);
        return @lines if @lines >= $n;
        sleep 0.05;
    }
    return @lines;
}


sub master_pid {
    open my $fh, '<', root() . '/logs/nginx.pid' or return undef;
    my $pid = <$fh>;
    close $fh;
    chomp $pid;
    return $pid;
}


sub post_events {
    my ($json) = @_;
    my ($status, $body) = http('POST', '/events', $json,
                               'Content-Type: application/json');
    return $status == 200 ? '' : "POST /events: $status $body";
}


# a UDP syslog server for one block: every datagram, a line in a file
our $SyslogPid;

sub start_syslog {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $ENV{TEST_NGINX_SYSLOG_PORT},
                                     Proto => 'udp')
        or die "cannot listen for syslog: $!";

    $SyslogPid = fork;
    die "fork: $!" if !defined $SyslogPid;

    if ($SyslogPid == 0) {
        local $SIG{ALRM} = sub { POSIX::_exit(0) };
        alarm 20;
        while (1) {
            my $msg;
            $sock->recv($msg, 65536) or next;
            # opened for each message: the runner makes logs/ afresh
            open my $out, '>>', root() . '/logs/syslog.txt' or next;
            print $out "$msg\n";
            close $out;
        }
    }

    close $sock;
}

sub stop_syslog {
    return if !$SyslogPid;
    kill 'KILL', $SyslogPid;
    waitpid $SyslogPid, 0;
    $SyslogPid = undef;
}

END { stop_syslog() }


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $Config) if !defined $block->config;
    start_syslog() if defined $block->syslog;
    $block->set_value('more_headers', "Content-Type: application/json")
        if !defined $block->more_headers;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: two workers writing at once: every event once in the ring, the log and the counts
--- http_config eval
"    abtest_zone zone=abtest:4m events=5000;
    abtest_events_log logs/events.log;
$::Experiment"
--- request
GET /events?limit=1
--- json eval
sub {
    # 8 clients at once, 50 requests of 5 events each
    my @pids;
    for my $c (1 .. 8) {
        my $pid = fork;
        die "fork: $!" if !defined $pid;
        if ($pid == 0) {
            for my $r (1 .. 50) {
                my $json = '[' . CORE::join(',', map {
                    qq{{"deviceId": "c$c", "event": "pageview",
                        "params": {"r": $r, "k": $_}}}
                } 1 .. 5) . ']';
                ::post_events($json) eq '' or POSIX::_exit(1);
            }
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    my $failed = 0;
    for (@pids) { waitpid $_, 0; $failed++ if $? }
    return "$failed clients were refused" if $failed;

    my ($status, $body) = ::http('GET', '/events?limit=10000');
    my $ring = ::decode($body);
    return scalar(@$ring) . " events in the ring, expected 2000"
        if @$ring != 2000;

    my %seen;
    for my $i (0 .. $#$ring) {
        my $e = $ring->[$i];
        my $key = "$e->{deviceId}/$e->{params}{r}/$e->{params}{k}";
        return "$key twice" if $seen{$key}++;
        return "ids not consecutive at $i"
            if $i && $e->{id} != $ring->[$i - 1]{id} + 1;
    }

    my @log = sort { $a->{id} <=> $b->{id} }
              map { ::decode($_) } ::wait_lines('events.log', 2000);
    my $e = ::match_json(\@log, $ring, 'log');
    return $e if $e;

    ($status, $body) = ::http('GET', '/api/stats');
    my $s = ::decode($body)->{e}{groups};
    my $n = $s->{A}{exposures} + $s->{B}{exposures};
    return "the counts say $n exposures" if $n != 2000;

    my %pids = map { (split ' ')[0] => 1 } ::lines_of('pids.log');
    return "one worker took every request" if keys %pids < 2;
    return '';
}



=== TEST 2: buffer= keeps the lines until flush= or a reopen (USR1) writes them
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log logs/events.log buffer=64k flush=1h;
$::Experiment"
--- request
POST /events
{"deviceId": "d1", "event": "pageview"}
--- json eval
sub {
    my ($got) = @_;
    my $e = ::match_json($got, { status => 'ok' });
    return $e if $e;
    my @lines = ::lines_of('events.log');
    return scalar(@lines) . " lines before the flush" if @lines;
    kill 'USR1', ::master_pid();
    @lines = ::wait_lines('events.log', 1);
    return scalar(@lines) . " lines after USR1, expected 1" if @lines != 1;
    my $line = ::decode($lines[0]);
    $e = ::match_json($line, { id => qr/^\d+$/,
        node => ABTest::Oracle::node_name(),
        received => 'ISO', ts => undef, source => undef,
        event => 'pageview', deviceId => 'd1', device_id => 'd1',
        params => {}, groups => { e => qr/^[AB]$/ },
        counted => { e => { group => qr/^[AB]$/, groups => 'A,B',
                            start => qr/^\d{13}$/, role => 'exposure' } } });
    return $e if $e;
    return "counted in $line->{counted}{e}{group}, its group is"
           . " $line->{groups}{e}"
        if $line->{counted}{e}{group} ne $line->{groups}{e};
    return '';
}



=== TEST 3: flush= writes the buffer in time
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log logs/events.log buffer=64k flush=300ms;
$::Experiment"
--- request
POST /events
{"deviceId": "d1", "event": "pageview"}
--- json eval
sub {
    my @lines = ::wait_lines('events.log', 1);
    return @lines == 1 ? '' : scalar(@lines) . " lines, expected 1";
}



=== TEST 4: a worker that exits (reload) writes its buffer
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log logs/events.log buffer=64k flush=1h;
$::Experiment"
--- request
POST /events
[{"deviceId": "d1", "event": "a"}, {"deviceId": "d2", "event": "b"}]
--- json eval
sub {
    return 'written before the reload' if ::lines_of('events.log');
    kill 'HUP', ::master_pid();
    my @lines = ::wait_lines('events.log', 2);
    return @lines == 2 ? '' : scalar(@lines) . " lines, expected 2";
}



=== TEST 5: a rotated log (mv, then USR1): new events go to the new file
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log logs/events.log;
$::Experiment"
--- request
POST /events
{"deviceId": "d1", "event": "first"}
--- json eval
sub {
    my $root = ::root();
    rename "$root/logs/events.log", "$root/logs/events.log.1" or return $!;
    my $master = ::master_pid();
    kill 'USR1', $master;
    # the master reopens the file first, then each worker
    ::wait_for(sub { -e "$root/logs/events.log"
                     && ::workers_reopened($master, "$root/logs/events.log") })
        or return 'the workers did not reopen the events log';
    my $e = ::post_events('{"deviceId": "d1", "event": "second"}');
    return $e if $e;
    my @old = ::lines_of('events.log.1');
    my @new = ::wait_lines('events.log', 1);
    return "old: @old new: @new"
        if @old != 1 || @new != 1 || $old[0] !~ /"first"/
           || $new[0] !~ /"second"/;
    return '';
}



=== TEST 6: syslog: a message per event, the JSON after the header
--- http_config eval
"    abtest_zone zone=abtest:1m;
    abtest_events_log syslog:server=127.0.0.1:\$TEST_NGINX_SYSLOG_PORT,tag=abtest;
$::Experiment"
--- syslog
--- request
POST /events
[{"deviceId": "d1", "event": "a"}, {"deviceId": "d2", "event": "b", "params": {"x": "y z"}}]
--- json eval
sub {
    my @lines = ::wait_lines('syslog.txt', 2);
    ::stop_syslog();
    return scalar(@lines) . " messages, expected 2" if @lines != 2;
    my @got;
    for (@lines) {
        /^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ abtest: (\{.*\})$/
            or return "not a syslog message with the event: $_";
        push @got, ::decode($1);
    }
    return ::match_json([map { $_->{event} } @got], ['a', 'b'])
           || ::match_json($got[1]{params}, { x => 'y z' });
}



=== TEST 7: abtest_events_log: every setting checked
--- http_config
    abtest_events_log logs/events.log flush=1s;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_events_log" directive takes flush= only with buffer=/



=== TEST 8: abtest_events_log: no buffer with syslog
--- http_config
    abtest_events_log syslog:server=127.0.0.1:514 buffer=4k;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_events_log" directive takes no buffer= or flush= with syslog/



=== TEST 9: abtest_events_log: a bad size
--- http_config
    abtest_events_log logs/events.log buffer=lots;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid buffer size "lots"/



=== TEST 10: abtest_events_log: once
--- http_config
    abtest_events_log logs/a.log;
    abtest_events_log logs/b.log;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_events_log" directive is duplicate/
