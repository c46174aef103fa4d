# vim:set ft= ts=4 sw=4 et fdm=marker:

# The events location: both seed event shapes, what the server adds, the
# ring and its paging, the backend exp_groups event, and every bad input
# refused whole with a JSON error naming the field.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group counted_as node_name);
use Time::Local ();
use ABTest::Json qw(match_json json_body_check decode http);

our $HttpConfig = <<'_EOC_';
    abtest_zone zone=abtest:1m events=5;
    abtest_events_log logs/events.log;

    abtest_experiment homepage_button_test {
        group    A 50;
        group    B 50;
        cookie   exp_group;
    }

    abtest_experiment headline_test {
        group    Future 50;
        group    Journey 50;
    }

    abtest_experiment paused_test {
        group    X 1;
        group    Y 1;
        fallback Y;
        state    inactive;
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;

    location = /events {
        abtest_api events trusted=on;
    }

    location = /small/events {
        client_max_body_size 512k;
        abtest_api events trusted=on;
    }

    location = /api/expgroups {
        abtest_api expgroups;
    }
_EOC_

our $Dev = '1027c4d1-c386-4bc4-8d61-3e30d8f16adf';
our $Ts = '2026-11-25T10:00:00.000Z';


# the device's groups as the seed's rule gives them
sub groups_of {
    my ($d) = @_;
    return {
        homepage_button_test => seed_group($d, 'homepage_button_test',
                                           [[A => 50], [B => 50]]),
        headline_test => seed_group($d, 'headline_test',
                                    [[Future => 50], [Journey => 50]]),
        paused_test => 'Y',
    };
}


# where the server counts an event: the active experiments, in the
# device's group
sub counted_of {
    my ($event, $groups) = @_;
    my %generation = (homepage_button_test => 'A,B',
                      headline_test => 'Future,Journey');
    return { map { $_ => counted_as($event, $groups->{$_}, $generation{$_}) }
             grep { defined $groups->{$_} } keys %generation };
}


# an event as GET /events must show it
sub stored {
    my (%f) = @_;
    my $groups = $f{groups} // groups_of($f{device});
    return {
        id => qr/^\d+$/,
        node => node_name(),
        received => 'ISO',
        ts => $f{ts},
        source => $f{source},
        event => $f{event},
        deviceId => $f{device},
        device_id => $f{device},
        (exists $f{exp_group} ? (exp_group => $f{exp_group}) : ()),
        params => $f{params} // {},
        groups => $groups,
        counted => $f{counted} // counted_of($f{event}, $groups),
    };
}


# the events, and ids that follow one another
sub events_in_order {
    my (@want) = @_;
    return sub {
        my ($got) = @_;
        my $e = match_json($got, \@want);
        return $e if $e;
        for my $i (1 .. $#$got) {
            return "ids $got->[$i - 1]{id} and $got->[$i]{id} do not follow"
                if $got->[$i]{id} != $got->[$i - 1]{id} + 1;
        }
        return '';
    };
}


sub post {
    my ($body, $uri) = @_;
    return "POST " . ($uri // '/events') . "\n$body";
}


# the events log, once it has $n lines (or 5 s passed)
sub log_lines {
    my ($n) = @_;
    return ABTest::Json::file_lines(Test::Nginx::Socket::server_root()
                                    . '/logs/events.log', $n);
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        if !defined $block->http_config;
    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log && !defined $block->must_die;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the seed's step-4 event (device_id, exp_group), then GET
--- request eval
[::post(qq{{"ts": "$::Ts", "device_id": "$::Dev", "source": "client",
            "event": "pageview", "exp_group": "A", "params": {}}}),
 "GET /events"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 200]
--- response_headers eval
["Content-Type: application/json\nCache-Control: no-store",
 "Content-Type: application/json\nCache-Control: no-store"]
--- json eval
[{ status => 'ok' },
 [::stored(ts => $::Ts, device => $::Dev, source => 'client',
           event => 'pageview', exp_group => 'A')]]



=== TEST 2: the seed's step-5 events (deviceId) as an array: "accepted"
--- request eval
[::post(qq{[{"ts": "$::Ts", "deviceId": "$::Dev", "source": "browser",
             "event": "pageview", "params": {}},
            {"ts": "$::Ts", "deviceId": "$::Dev", "source": "browser",
             "event": "button_click", "params": {"btn_type": "B"}}]}),
 "GET /events"]
--- more_headers
Content-Type: application/json
--- json eval
[{ status => 'ok', accepted => 2 },
 ::events_in_order(
     ::stored(ts => $::Ts, device => $::Dev, source => 'browser',
              event => 'pageview'),
     ::stored(ts => $::Ts, device => $::Dev, source => 'browser',
              event => 'button_click', params => { btn_type => 'B' }))]



=== TEST 3: no device in the body: the cookie's; the groups are the server's
--- request eval
my $g = ::groups_of($::Dev)->{homepage_button_test};
my $other = $g eq 'A' ? 'B' : 'A';
[::post(qq{{"event": "button_click", "exp_group": "$other"}}),
 "GET /events"]
--- more_headers eval
my $g = ::groups_of($::Dev)->{homepage_button_test};
my $other = $g eq 'A' ? 'B' : 'A';
"Content-Type: application/json
Cookie: device_id=$::Dev; exp_group=$other"
--- json eval
my $g = ::groups_of($::Dev)->{homepage_button_test};
my $other = $g eq 'A' ? 'B' : 'A';
[{ status => 'ok' },
 [::stored(ts => undef, source => undef, device => $::Dev,
           event => 'button_click', exp_group => $other)]]



=== TEST 4: params are kept as sent: nesting, numbers, escapes, UTF-8
--- request eval
[::post(q{{"deviceId": "d1", "event": "view",
           "params": {"n": 1.50, "big": 123456789012345678901234567890,
                      "list": [1, true, null, {"deep": [[]]}],
                      "text": "caf\u00e9 <b>\"x\"</b>\n", "e": {}}}}),
 "GET /events"]
--- more_headers
Content-Type: application/json
--- response_body_like eval
[qr/^\{"status":"ok"\}$/,
 qr/"params":\{"n":1\.50,"big":123456789012345678901234567890,"list":/]
--- json eval
[{ status => 'ok' },
 [::stored(ts => undef, source => undef, device => 'd1', event => 'view',
           params => { n => '1.5', big => '123456789012345678901234567890',
                       list => [1, \1, undef, { deep => [[]] }],
                       text => "caf\x{e9} <b>\"x\"</b>\n", e => {} })]]



=== TEST 5: the ring keeps the last events=5, oldest first; paging with since and limit
--- request eval
[::post('[' . CORE::join(',', map { qq{{"deviceId": "d$_", "event": "e",
                                        "params": {"n": $_}}} } 1 .. 8) . ']'),
 "GET /events"]
--- more_headers
Content-Type: application/json
--- json eval
[{ status => 'ok', accepted => 8 },
 sub {
     my ($got) = @_;
     my $e = ::events_in_order(map {
         ::stored(ts => undef, source => undef, device => "d$_",
                  event => 'e', params => { n => $_ })
     } 4 .. 8)->($got);
     return $e if $e;

     # every accepted event is in the log, the ring's as the ring has them
     my @log = map { ABTest::Json::decode($_) } ::log_lines(8);
     return scalar(@log) . " lines in the log, expected 8" if @log != 8;
     $e = ::match_json([@log[3 .. 7]], $got, 'log');
     return $e if $e;
     return "the log's first ids are not the ring's predecessors"
         if $log[2]{id} != $got->[0]{id} - 1;

     # pages of 2 through the ring
     my @ids = map { $_->{id} } @$got;
     my @pages = (['?limit=2', [@$got[0, 1]]],
                  ["?since=$ids[1]&limit=2", [@$got[2, 3]]],
                  ["?since=$ids[3]&limit=2", [$got->[4]]],
                  ["?since=$ids[4]", []],
                  ['?since=0&limit=10000', $got],
                  ["?since=" . ($ids[0] - 3), $got]);
     for my $p (@pages) {
         my ($status, $body) = ABTest::Json::http('GET', "/events$p->[0]");
         return "GET /events$p->[0]: $status" if $status != 200;
         $e = ::match_json(::decode($body), $p->[1], "/events$p->[0]");
         return $e if $e;
     }
     return '';
 }]



=== TEST 6: the backend exp_groups event of expgroups, as the seed posts it
--- request eval
["GET /api/expgroups?device_id=$::Dev",
 "GET /api/expgroups",
 "GET /events"]
--- json eval
my $g = ::groups_of($::Dev);
my $answer = {
    homepage_button_test => { state => 'active', active => \1,
        fallback => 'A', assigned => $g->{homepage_button_test},
        in_experiment => \1, reason => undef,
        group => $g->{homepage_button_test} },
    headline_test => { state => 'active', active => \1,
        fallback => 'Future', assigned => $g->{headline_test},
        in_experiment => \1, reason => undef,
        group => $g->{headline_test} },
    paused_test => { state => 'inactive', active => \0,
        fallback => 'Y',
        assigned => ::seed_group($::Dev, 'paused_test',
                                 [[X => 1], [Y => 1]]),
        in_experiment => \1, reason => undef, group => 'Y' },
};
[$answer, undef,
 [::stored(ts => 'ISO', source => 'backend', device => $::Dev,
           event => 'exp_groups', params => $answer)]]



=== TEST 7: bad inputs: a JSON error naming the field, and nothing stored
--- request eval
my $ok = qq{"deviceId": "d1", "event": "x"};
[::post(''),
 ::post('{"deviceId": "d1", "event": '),
 ::post('[]'),
 ::post('"pageview"'),
 ::post('[1]'),
 ::post('[' . CORE::join(',', ("{$ok}") x 1001) . ']'),
 ::post(qq{{"deviceId": "d1"}}),
 ::post(qq{{"deviceId": "d1", "event": 5}}),
 ::post(qq{{"deviceId": "d1", "event": ""}}),
 ::post('{"deviceId": "d1", "event": "' . ('e' x 65) . '"}'),
 ::post(qq{{"deviceId": "d1", "event": "a\\u0001b"}}),
 ::post(qq{{$ok, "event": "y"}}),
 ::post(qq{{$ok, "colour": "red"}}),
 ::post(qq{{$ok, "params": []}}),
 ::post(qq{{$ok, "params": "x"}}),
 ::post("{$ok, " . '"params": {"a": "' . ('x' x 4100) . '"}}'),
 ::post(qq{{$ok, "ts": {}}}),
 ::post("{$ok, " . '"ts": "' . ('1' x 65) . '"}'),
 ::post("{$ok, " . '"ts": ' . ('1' x 65) . '}'),
 ::post(qq{{$ok, "source": 1}}),
 ::post(qq{{$ok, "exp_group": ["A"]}}),
 ::post(qq{{"event": "x", "deviceId": "a b"}}),
 ::post(qq{{"event": "x", "deviceId": "a", "device_id": "b"}}),
 ::post(qq{{"event": "x"}}),
 ::post(qq{{$ok, "params": {"a": "x\\u0000y"}}}),
 ::post(qq{{$ok, "params": {"a": "\xff"}}}),
 ::post("{$ok, " . '"params": ' . ('[' x 10) . (']' x 10) . '}'),
 ::post('[' x 1048576),
 ::post(qq{[{$ok}, {"deviceId": "d1", "event": 1}]}),
 ::post(qq{[{$ok}, 7]}),
 "GET /events?since=abc",
 "GET /events?since=-1",
 "GET /events?limit=0",
 "GET /events?limit=10001",
 "GET /events"]
--- more_headers
Content-Type: application/json
--- error_code eval
[(400) x 34, 200]
--- json eval
my $name = 'event: a name of 1 to 64 bytes without control characters is required';
[{ error => 'body: empty, expected an event object or an array of them' },
 { error => 'body: invalid JSON: parse error: premature EOF' },
 { error => 'body: an empty array, expected events' },
 { error => 'body: must be an event object or an array of them' },
 { error => '[0]: must be an event object' },
 { error => 'body: more than 1000 events in one request' },
 { error => $name },
 { error => $name },
 { error => $name },
 { error => $name },
 { error => $name },
 { error => 'event: given twice' },
 { error => 'colour: unknown field (extra data goes in params)' },
 { error => 'params: must be an object or null' },
 { error => 'params: must be an object or null' },
 { error => 'params: larger than 4096 bytes' },
 { error => 'ts: must be a string or a number of at most 64 bytes, or null' },
 { error => 'ts: must be a string or a number of at most 64 bytes, or null' },
 { error => 'ts: must be a string or a number of at most 64 bytes, or null' },
 { error => 'source: must be a string of at most 64 bytes, or null' },
 { error => 'exp_group: must be a string of at most 64 bytes, or null' },
 { error => 'deviceId: must be 1 to 64 characters of [A-Za-z0-9_-], or null' },
 { error => 'device_id: differs from deviceId' },
 { error => 'deviceId: missing, and the request has no device cookie' },
 { error => 'body: \u0000 in a string is not supported' },
 { error => 'body: invalid JSON: lexical error: invalid bytes in UTF8 string.' },
 { error => 'body: nested deeper than 10 levels' },
 { error => 'body: nested deeper than 10 levels' },
 { error => "[1].$name" },
 { error => '[1]: must be an event object' },
 { error => 'since: must be an event id, a non-negative integer' },
 { error => 'since: must be an event id, a non-negative integer' },
 { error => 'limit: must be an integer from 1 to 10000' },
 { error => 'limit: must be an integer from 1 to 10000' },
 []]
--- no_error_log
[error]
[alert]



=== TEST 8: a refused body is logged with its problem
--- request eval
::post('')
--- more_headers
Content-Type: application/json
--- error_code: 400
--- json eval
{ error => 'body: empty, expected an event object or an array of them' }
--- error_log
abtest api: 400 body: empty



=== TEST 9: a refused event of an array is logged with its index
--- request eval
::post(qq{[{"deviceId": "d1", "event": "x"}, {"deviceId": "d1", "event": 1}]})
--- more_headers
Content-Type: application/json
--- error_code: 400
--- json eval
{ error => '[1].event: a name of 1 to 64 bytes without control characters is required' }
--- error_log
abtest api: 400 [1].event



=== TEST 10: a body over client_max_body_size (1 MB at 512k), media types, methods
--- request eval
[::post('{"deviceId": "d1", "event": "x", "params": {"a": "'
         . ('x' x 1048576) . '"}}', '/small/events'),
 "POST /events\n{}",
 "PUT /events\n{}",
 "DELETE /events",
 "GET /events"]
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: application/x-www-form-urlencoded",
 "Content-Type: application/json",
 "",
 ""]
--- error_code eval
[413, 415, 405, 405, 200]
--- response_headers eval
["", "", "Allow: GET, HEAD, POST", "Allow: GET, HEAD, POST", ""]
--- json eval
[{ error => 'body: larger than 524288 bytes (client_max_body_size)' },
 { error => 'Content-Type: must be application/json' },
 { error => 'method PUT is not allowed here, only GET, HEAD, POST' },
 { error => 'method DELETE is not allowed here, only GET, HEAD, POST' },
 []]



=== TEST 11: events=0: events are counted and logged, not kept
--- http_config
    abtest_zone zone=abtest:1m events=0;
    abtest_events_log logs/events.log;

    abtest_experiment e {
        group A 1;
        group B 1;
    }
--- request eval
[::post(qq{[{"deviceId": "d1", "event": "x"}, {"deviceId": "d2", "event": "x"}]}),
 "GET /events"]
--- more_headers
Content-Type: application/json
--- json eval
[{ status => 'ok', accepted => 2 },
 sub {
     my ($got) = @_;
     return 'the ring is not empty' if @$got;
     my @log = ::log_lines(2);
     return @log == 2 ? '' : scalar(@log) . ' lines in the log, expected 2';
 }]



=== TEST 12: abtest_api events needs a zone
--- http_config
    abtest_experiment e {
        group A 1;
    }
--- config
    location = /events {
        abtest_api events;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_api events" in \S+:\d+ needs a shared zone/



=== TEST 13: abtest_api stats needs a zone
--- http_config
    abtest_experiment e {
        group A 1;
    }
--- config
    location = /stats {
        abtest_api stats;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_api stats" in \S+:\d+ needs a shared zone/



=== TEST 14: events= must be a count
--- http_config
    abtest_zone zone=abtest:1m events=-1;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "events=" value "events=-1"/



=== TEST 15: a ring the zone cannot hold
--- http_config
    abtest_zone zone=abtest:1m events=1000000;

    abtest_experiment e {
        group A 1;
    }
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*abtest: zone is too small for events=1000000/



=== TEST 16: HEAD /events
--- request
HEAD /events
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body eval
""



=== TEST 17: a chunked body (no length) is taken within client_max_body_size and refused as JSON beyond it; a NUL byte refused
--- request
GET /events
--- json eval
sub {
    my $big = '{"deviceId": "d1", "event": "y", "params": {"a": "'
              . ('x' x 600000) . '"}}';
    my @cases = (
        ["POST /small/events HTTP/1.1\r\nHost: localhost\r\n"
         . "Connection: close\r\nContent-Type: application/json\r\n"
         . "Transfer-Encoding: chunked\r\n\r\n"
         . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big),
         413, { error => 'body: larger than 524288 bytes (client_max_body_size)' }],
        ["POST /events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
         . "Content-Type: application/json\r\n"
         . "Transfer-Encoding: chunked\r\n\r\n"
         . "20\r\n{\"deviceId\": \"d1\", \"event\": \"x\"}\r\n0\r\n\r\n",
         200, { status => 'ok' }],
        ["POST /events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
         . "Content-Type: application/json\r\nContent-Length: 33\r\n\r\n"
         . qq{{"deviceId": "d1", "event": "x\0"}},
         400, { error => 'body: holds a NUL byte' }],
    );
    for my $c (@cases) {
        my ($status, $body) = ABTest::Json::http_raw($c->[0]);
        return "status $status, expected $c->[1]: $body" if $status != $c->[1];
        my $e = ::match_json(::decode($body), $c->[2]);
        return $e if $e;
    }
    # the chunked event only: nothing of the refused bodies
    my ($status, $body) = ABTest::Json::http('GET', '/events');
    return ::match_json([map { $_->{event} } @{ ::decode($body) }], ['x']);
}
--- error_log
abtest api: 413 body: larger than 524288 bytes (client_max_body_size)




=== TEST 18: abtest_zone takes zone=, state= and events= together
--- http_config
    abtest_zone zone=abtest:1m state=logs/abtest.json events=3;

    abtest_experiment e {
        group A 1;
        group B 1;
    }
--- request eval
[::post('[' . CORE::join(',', map { qq{{"deviceId": "d$_", "event": "x"}} }
                          1 .. 4) . ']'),
 "GET /events"]
--- more_headers
Content-Type: application/json
--- json eval
[{ status => 'ok', accepted => 4 },
 sub { my ($got) = @_;
       ::match_json([map { $_->{deviceId} } @$got], [qw(d2 d3 d4)]) }]



=== TEST 19: events= has a bound
--- http_config
    abtest_zone zone=abtest:1m events=1152921504606846976;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "events=" value "events=1152921504606846976": use the number of events to keep, 0 for none, at most 10000000/



=== TEST 20: limit_except and if inside an events location
--- config
    abtest on;

    location = /events {
        abtest_api events trusted=on;
        client_max_body_size 1k;

        limit_except GET {
            allow 127.0.0.1;
            deny  all;
        }

        if ($arg_via_if) {
            set $x 1;
        }
    }
--- request eval
[::post(qq{{"deviceId": "d1", "event": "a"}}),
 ::post(qq{{"deviceId": "d1", "event": "b"}}, '/events?via_if=1'),
 ::post('{"deviceId": "d1", "event": "c", "params": {"a": "'
        . ('x' x 2000) . '"}}', '/events?via_if=1'),
 "GET /events"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 200, 413, 200]
--- json eval
[{ status => 'ok' }, { status => 'ok' },
 { error => 'body: larger than 1024 bytes (client_max_body_size)' },
 sub { my ($got) = @_;
       ::match_json([map { $_->{event} } @$got], [qw(a b)]) }]



=== TEST 21: HEAD on expgroups stores no event
--- request eval
["HEAD /api/expgroups?device_id=$::Dev", "GET /events"]
--- response_body eval
["", "[]\n"]



=== TEST 22: a field name that would forge a log line is logged harmless
--- request eval
::post(qq{{"deviceId": "d1", "event": "x", "a\\nFAKE [emerg] forged": 1}})
--- more_headers
Content-Type: application/json
--- error_code: 400
--- json eval
{ error => "a\nFAKE [emerg] forged: unknown field (extra data goes in params)" }
--- error_log
abtest api: 400 a?FAKE [emerg] forged: unknown field
--- no_error_log eval
[qr/^FAKE/, '[error]', '[alert]']



=== TEST 23: a location inside an events location is not one; limit_except there keeps its own handler
--- config
    location /in/ {
        abtest_api events trusted=on;

        location /in/static/ {
            limit_except GET {
                allow 127.0.0.1;
                deny  all;
            }
        }
    }
--- user_files
>>> in/static/page.html
static
--- request eval
["GET /in/static/page.html", "POST /in/static/page.html\n{}"]
--- more_headers
Content-Type: application/json
--- error_code eval
[200, 405]
--- response_headers eval
["Content-Type: text/html", "Content-Type: text/html"]
--- response_body_like eval
[qr/^static$/, qr/<html>/]



=== TEST 24: a body refused before it is read gets no "100 Continue"
--- request
GET /events
--- json eval
sub {
    my ($status, $body) = ABTest::Json::http_raw(
        "POST /small/events HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . "Expect: 100-continue\r\nContent-Length: 100000000\r\n\r\n");
    return "status $status: $body" if $status != 413;
    return ::match_json(::decode($body), {
        error => 'body: larger than 524288 bytes (client_max_body_size)' });
}



=== TEST 25: what yajl lets through of invalid UTF-8 (overlong forms, surrogates, above U+10FFFF, F5 leads) is refused like the rest, in every string and name, and nothing is stored
--- request
GET /events
--- json eval
sub {
    my $ok = qq{"deviceId": "$::Dev", "event": "pageview"};
    my @bad = ("\xc0\xaf", "\xc1\x89", "\xe0\x80\xaf", "\xf0\x86\x98\x80",
               "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80");
    my $before = ABTest::Json::decode((ABTest::Json::http('GET', '/events'))[1]);

    for my $b (@bad) {
        my $hex = CORE::join ' ', map { sprintf '%02X', ord } split //, $b;
        for my $body (qq{{$ok, "source": "x$b"}},
                      qq{{$ok, "exp_group": "$b"}},
                      qq{{$ok, "ts": "2026$b"}},
                      qq{{$ok, "params": {"k": "$b"}}},
                      qq{{$ok, "params": {"$b": 1}}},
                      qq{{$ok, "$b": 1}},
                      qq{[{$ok}, {$ok, "params": {"a": ["$b"]}}]})
        {
            my ($status, $resp) = ABTest::Json::http('POST', '/events', $body,
                                      'Content-Type: application/json');
            return "$hex in $body: $status $resp" if $status != 400;
            my $e = ABTest::Json::match_json(ABTest::Json::decode($resp), {
                error => 'body: invalid JSON: lexical error: invalid bytes in UTF8 string.' });
            return "$hex: $e" if $e;
        }
    }

    my $after = ABTest::Json::decode((ABTest::Json::http('GET', '/events'))[1]);
    return 'events were stored' if @$after != @$before;
    return '';
}



=== TEST 26: "counted" names where the statistics count an event: active experiments, the rule's group, the name's role; not an inactive experiment, not a forced group
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment shop {
        group    A 1;
        group    B 1;
        group    C 2;
        exposure view;
        goal     buy;
        events   click;
    }

    abtest_experiment paused_test {
        group    X 1;
        group    Y 1;
        state    inactive;
    }

    abtest_experiment forced_test {
        group    P 1;
        group    Q 1;
    }
--- config
    abtest on;
    abtest_force on;

    location = /events {
        abtest_api events trusted=on;
    }

    location = /api/stats {
        abtest_api stats;
    }
--- request
GET /events
--- json eval
sub {
    my $dev = $::Dev;
    my $shop = ABTest::Oracle::seed_group($dev, 'shop',
                                          [[A => 1], [B => 1], [C => 2]]);
    # the device's own request, forced into the group the rule does not give
    my $forced = ABTest::Oracle::seed_group($dev, 'forced_test',
                                            [[P => 1], [Q => 1]]) eq 'P'
                 ? 'Q' : 'P';
    my $body = CORE::join ', ', map { qq{{"deviceId": "$dev", "event": "$_"}} }
                                    qw(view buy click other);
    my ($status, $answer) = ABTest::Json::http('POST', '/events', "[$body]",
        'Content-Type: application/json',
        "Cookie: device_id=$dev; abtest_force=forced_test:$forced");
    return "POST: $status $answer" if $status != 200;

    my $stats = ABTest::Json::decode((ABTest::Json::http('GET', '/api/stats'))[1]);
    my ($y, $mo, $d, $h, $mi, $s, $ms) =
        $stats->{shop}{since} =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)Z$/
        or return "since: $stats->{shop}{since}";
    my $start = Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y) * 1000 + $ms;

    my $events = ABTest::Json::decode((ABTest::Json::http('GET', '/events'))[1]);
    my %role = (view => 'exposure', buy => 'goal', click => 'event',
                other => 'event');
    my @want = map {
        { event => $_, groups => { shop => $shop, paused_test => 'X',
                                   forced_test => $forced },
          counted => { shop => { group => $shop, groups => 'A,B,C',
                                 start => $start, role => $role{$_} } } }
    } qw(view buy click other);
    my @got = map { { event => $_->{event}, groups => $_->{groups},
                      counted => $_->{counted} } } @$events;
    my $e = ABTest::Json::match_json(\@got, \@want);
    return $e if $e;

    # and the zone's counters agree: shop counted all four, the forced
    # group nothing
    my $g = $stats->{shop}{groups}{$shop};
    return "shop's $shop: " . ABTest::Json::show($g)
        if $g->{exposures} != 1 || $g->{conversions} != 1;
    for my $q (values %{ $stats->{forced_test}{groups} }) {
        return 'forced_test counted: ' . ABTest::Json::show($stats->{forced_test})
            if $q->{exposures} || $q->{conversions};
    }
    return '';
}
