# vim:set ft= ts=4 sw=4 et fdm=marker:

# A reload that fails after the zones were set up (here: a listen socket
# that cannot be bound) leaves the running configuration's run-time state,
# events and counters as they were: a configuration meets the zone only in
# its own workers.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Json qw(json_body_check match_json decode http);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

master_on();
workers(2);

sub root { Test::Nginx::Socket::server_root() }

sub master_pid {
    open my $fh, '<', root() . '/logs/nginx.pid' or return undef;
    my $pid = <$fh>;
    close $fh;
    chomp $pid;
    return $pid;
}

sub error_log {
    open my $fh, '<', root() . '/logs/error.log' or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

# rewrites nginx.conf with the edit, reloads, waits for the refusal
sub failed_reload {
    my ($edit) = @_;

    # a port held here: nginx cannot bind it
    my $holder = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => 0, Proto => 'tcp',
                                       Listen => 1, ReuseAddr => 0)
        or return "cannot hold a port: $!";
    my $busy = $holder->sockport;

    my $conf = root() . '/conf/nginx.conf';
    open my $in, '<', $conf or return "$conf: $!";
    my $text = do { local $/; <$in> };
    close $in;

    $edit->(\$text);
    $text =~ s/^(http \{)$/$1\n    server { listen 127.0.0.1:$busy; }/m
        or return "no http block in $conf";

    open my $out, '>', $conf or return "$conf: $!";
    print $out $text;
    close $out;

    kill 'HUP', master_pid();

    my $deadline = time + 5;
    while (time < $deadline) {
        last if error_log() =~ /bind\(\) to 127\.0\.0\.1:$busy failed/;
        sleep 0.05;
    }

    close $holder;

    return error_log() =~ /bind\(\) to 127\.0\.0\.1:$busy failed/
           ? '' : 'the reload did not fail';
}

sub post {
    my ($uri, $json) = @_;
    my ($status, $body) = http('POST', $uri, $json,
                               'Content-Type: application/json');
    return $status == 200 ? '' : "POST $uri: $status $body";
}

json_body_check();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a failed reload that changes groups and removes an experiment
--- http_config
    abtest_zone zone=abtest:1m events=100;

    abtest_experiment e {
        group A 50;
        group B 50;
    }

    abtest_experiment gone {
        group X 1;
        group Y 1;
    }
--- config
    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /events {
        abtest_api events trusted=on;
    }

    location = /api/stats {
        abtest_api stats;
    }
--- request
GET /api/experiments
--- json eval
sub {
    my $e = ::post('/api/experiments/update',
                   '{"name": "e", "groups": {"A": 10, "B": 90}}')
            || ::post('/events', '[{"deviceId": "d1", "event": "pageview"},'
                                 . '{"deviceId": "d2", "event": "pageview"}]');
    return $e if $e;

    $e = ::failed_reload(sub {
        my ($text) = @_;
        $$text =~ s/group B 50;/group B 50;\n        group C 50;/;
        $$text =~ s/abtest_experiment gone \{[^}]*\}//s;
    });
    return $e if $e;

    # the running workers go on as before the reload
    my ($status, $body) = ::http('GET', '/api/experiments');
    my $exps = ::decode($body);
    $e = ::match_json([$exps->{e}{groups}, $exps->{gone}{state}],
                      [{ A => 10, B => 90 }, 'active'], 'experiments');
    return $e if $e;

    $e = ::post('/api/experiments/update',
                '{"name": "gone", "state": "inactive"}')
         || ::post('/events', '{"deviceId": "d3", "event": "pageview"}');
    return $e if $e;

    ($status, $body) = ::http('GET', '/events');
    my $n = @{ ::decode($body) };
    return "$n events in the ring, expected 3" if $n != 3;

    ($status, $body) = ::http('GET', '/api/stats');
    my $g = ::decode($body)->{e}{groups};
    my $x = $g->{A}{exposures} + $g->{B}{exposures};
    return $x == 3 ? '' : "$x exposures counted, expected 3";
}
--- no_error_log
[alert]
