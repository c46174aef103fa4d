# vim:set ft= ts=4 sw=4 et fdm=marker:

# A body costs memory in proportion to what is accepted of it: a worker's
# peak memory (VmHWM, reset before each request) for a batch accepted, a
# 1 MB body refused and a 16 MB body refused (client_max_body_size 0),
# and what the worker keeps afterwards; bodies of unknown length (chunked,
# HTTP/2 without Content-Length) bounded as they are read; an empty body.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Json qw(json_body_check match_json decode http http_raw);
use ABTest::Nginx qw(worker_pids);

master_on();
workers(1);

$ENV{TEST_NGINX_H2_PORT} ||= ABTest::Json::port() + 7;

# memory figures mean nothing under valgrind or a sanitizer
our $Measured = !($ENV{TEST_NGINX_USE_VALGRIND} || $ENV{ASAN_OPTIONS});

our $HttpConfig = <<'_EOC_';
    abtest_zone zone=abtest:64m events=2000;
    abtest_events_log logs/events.log;

    abtest_experiment e {
        group A 1;
        group B 1;
    }
_EOC_

our $Config = <<'_EOC_';
    location = /events {
        abtest_api events trusted=on;
    }

    location = /small/events {
        client_max_body_size 64k;
        abtest_api events trusted=on;
    }

    location = /big/events {
        client_max_body_size 0;
        abtest_api events trusted=on;
    }
_EOC_


sub master_pid {
    my $file = Test::Nginx::Socket::server_root() . '/logs/nginx.pid';
    open my $fh, '<', $file or return undef;
    my $pid = <$fh>;
    close $fh;
    chomp $pid;
    return $pid;
}


# a field of /proc/PID/status, in kB
sub status_kb {
    my ($pid, $field) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        return $1 if /^$field:\s+(\d+) kB/;
    }
    return undef;
}


# POSTs $body to $uri; returns (status, decoded answer, the worker's peak
# memory growth in kB during the request, its private memory after it)
sub measured_post {
    my ($uri, $body) = @_;
    my ($worker) = worker_pids(master_pid()) or return;

    # "5" resets the peak resident set size (VmHWM)
    open my $fh, '>', "/proc/$worker/clear_refs" or return;
    print $fh "5\n";
    close $fh;

    my $before = status_kb($worker, 'VmHWM');
    my ($status, $answer) = http('POST', $uri, $body,
                                 'Content-Type: application/json');
    my $peak = status_kb($worker, 'VmHWM');

    return ($status, decode($answer), $peak - $before,
            status_kb($worker, 'RssAnon'));
}


# 1000 events of 300 small values each: about 650 kB, accepted
our $Batch = '[' . CORE::join(',', map {
    qq({"deviceId":"d$_","event":"pageview","params":{"v":[)
    . CORE::join(',', (1) x 300) . ']}}'
} 1 .. 1000) . ']';

# an event whose params are 1 MB and 16 MB of small values: refused
sub small_values {
    my ($n) = @_;
    return qq({"deviceId":"d","event":"pageview","params":{"v":[)
           . CORE::join(',', (0) x $n) . ']}}';
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        if !defined $block->http_config;
    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: memory: an accepted batch costs a few times its size, refused bodies nothing, and it is given back
--- request
GET /events?limit=1
--- json eval
sub {
    return '' if !$::Measured;

    my $size = length $::Batch;
    my ($status, $answer, $peak, $kept) = ::measured_post('/events',
                                                          $::Batch);
    return "accepted batch: status $status" if $status != 200;
    my $e = ::match_json($answer, { status => 'ok', accepted => 1000 });
    return $e if $e;
    # the fields, the stored JSON, the ring's copy (in the zone) and the
    # log's: at most 8 times the body, and 2 MB of the worker's own
    return "an accepted batch of $size bytes took $peak kB at its peak"
        if $peak * 1024 > 8 * $size + 2 * 1024 * 1024;

    my $body = ::small_values(500000);
    ($status, $answer, $peak) = ::measured_post('/events', $body);
    return "1 MB refused: status $status" if $status != 400;
    $e = ::match_json($answer, { error => 'params: larger than 4096 bytes' });
    return $e if $e;
    return "a refused body of " . length($body) . " bytes took $peak kB"
        if $peak > 2048;

    $body = ::small_values(8000000);
    my $before = $kept;
    ($status, $answer, $peak, $kept) = ::measured_post('/big/events', $body);
    return "16 MB refused: status $status" if $status != 400;
    $e = ::match_json($answer, { error => 'params: larger than 4096 bytes' });
    return $e if $e;
    return "a refused body of " . length($body) . " bytes took $peak kB"
        if $peak > 4096;
    return "the worker kept $kept kB of its own after it, $before before"
        if $kept > $before + 2048;

    return '';
}



=== TEST 2: a chunked body over client_max_body_size is refused as it is read, as JSON, at info
--- request
GET /events?limit=1
--- json eval
sub {
    my $body = '{"deviceId": "d1", "event": "x", "params": {"a": "'
               . ('x' x 70000) . '"}}';
    my ($status, $answer) = ::http_raw(
        "POST /small/events HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n"
        . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body, $body));
    return "status $status: $answer" if $status != 413;
    return ::match_json(::decode($answer),
        { error => 'body: larger than 65536 bytes (client_max_body_size)' });
}
--- error_log
abtest api: 413 body: larger than 65536 bytes (client_max_body_size)



=== TEST 3: HTTP/2 without Content-Length: taken within the limit, refused beyond it (nothing stored)
--- http_config eval
$::HttpConfig . <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_H2_PORT http2;

        location = /events {
            abtest_api events trusted=on;
        }

        location = /small/events {
            client_max_body_size 64k;
            abtest_api events trusted=on;
        }
    }
_EOC_
--- request
GET /events?limit=1
--- json eval
sub {
    my $port = $ENV{TEST_NGINX_H2_PORT};
    # "-T -": a body from standard input, of a length nobody told
    my $h2 = sub {
        my ($uri, $body) = @_;
        my $file = Test::Nginx::Socket::server_root() . '/html/h2-body';
        open my $fh, '>', $file or return "$file: $!";
        print $fh $body;
        close $fh;
        my $out = `curl -sS --http2-prior-knowledge -m 10 -X POST \\
                   -H 'Content-Type: application/json' -T - \\
                   -w '\\n%{http_code} %{http_version}' \\
                   http://127.0.0.1:$port$uri < $file 2>&1`;
        return $out =~ /^(.*)\n(\d+) 2$/s ? ($2, $1) : (0, $out);
    };

    my ($status, $answer) = $h2->('/events',
                                  '{"deviceId": "h2", "event": "x"}');
    return "h2: status $status: $answer" if $status != 200;
    my $e = ::match_json(::decode($answer), { status => 'ok' });
    return $e if $e;

    # a body refused while it is read ends the stream: the 413 comes, or
    # the client sees the stream reset first, as with nginx's own limit
    ($status, $answer) = $h2->('/small/events',
        '{"deviceId": "h2", "event": "y", "params": {"a": "'
        . ('x' x 70000) . '"}}');
    if ($status == 413) {
        $e = ::match_json(::decode($answer),
            { error => 'body: larger than 65536 bytes (client_max_body_size)' });
        return $e if $e;

    } elsif ($answer !~ /Empty reply from server|reset/) {
        return "h2 too large: status $status: $answer";
    }

    # the first only
    ($status, $answer) = ::http('GET', '/events');
    return ::match_json([map { $_->{deviceId} . '/' . $_->{event} }
                       @{ ::decode($answer) }], ['h2/x']);
}



=== TEST 4: an empty body (Content-Length: 0) is a 400 naming it
--- request
POST /events
--- more_headers
Content-Type: application/json
Content-Length: 0
--- error_code: 400
--- json eval
{ error => 'body: empty, expected an event object or an array of them' }
