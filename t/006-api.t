# vim:set ft= ts=4 sw=4 et fdm=marker:

# The JSON API: shapes decoded and compared field by field (JSON::PP),
# every error path with its status and body, the seed's state transitions.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);
use ABTest::Json qw(json_body_check);

our $Known = '1027c4d1-c386-4bc4-8d61-3e30d8f16adf';

our $HttpConfig = <<'_EOC_';
    abtest_zone zone=abtest:1m;

    abtest_experiment homepage_button_test {
        group    A 50;
        group    B 50;
        fallback A;
        title    "Homepage \"button\" <test>";
    }

    abtest_experiment headline_test {
        group    Future 50;
        group    Journey 50;
        fallback Future;
        state    inactive;
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /api/expgroups {
        abtest_api expgroups;
    }

    location /ro/experiments {
        abtest_api experiments;
    }
_EOC_

# --- json: the expected JSON per request (t/lib/ABTest/Json.pm)
json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        if !defined $block->http_config;
    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log;
});

sub exp_json {
    my (%o) = @_;
    return {
        title => $o{title},
        groups => $o{groups},
        fallback => $o{fallback},
        state => $o{state},
        active => $o{state} eq 'active' ? \1 : \0,
        rollout_group => $o{rollout},
        started => $o{start},
        ended => $o{end},
        start => undef,
        stop => undef,
        coverage => 1,
        holdout => 0,
        target => undef,
        layer => undef,
        cookie => $o{cookie},
    };
}

our $Button = exp_json(title => 'Homepage "button" <test>',
                       groups => { A => 50, B => 50 }, fallback => 'A',
                       state => 'active', start => 'ISO');
our $Headline = exp_json(title => 'headline_test',
                         groups => { Future => 50, Journey => 50 },
                         fallback => 'Future', state => 'inactive');

sub post {
    my ($body) = @_;
    return "POST /api/experiments/update\n$body";
}

# Test::Nginx checks error_log after every request of a block, by default
# against what that request logged; TEST 8's 409 is logged by the first of
# its two requests, so every check reads the block's whole log instead.
check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: GET /api/experiments: the seed's shape, a superset of both versions
--- request
GET /api/experiments
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- json eval
{ homepage_button_test => $::Button, headline_test => $::Headline }



=== TEST 2: GET /api/expgroups?device_id=: state, fallback, assigned, group
--- request eval
"GET /api/expgroups?device_id=$::Known"
--- json eval
my $b = ABTest::Oracle::seed_group($::Known, 'homepage_button_test',
                                   [[A => 50], [B => 50]]);
my $h = ABTest::Oracle::seed_group($::Known, 'headline_test',
                                   [[Future => 50], [Journey => 50]]);
{
    homepage_button_test => { state => 'active', active => \1,
        fallback => 'A', assigned => $b, in_experiment => \1,
        reason => undef, group => $b },
    headline_test => { state => 'inactive', active => \0,
        fallback => 'Future', assigned => $h, in_experiment => \1,
        reason => undef, group => 'Future' },
}



=== TEST 3: expgroups without device_id: the caller's cookie
--- more_headers eval
"Cookie: device_id=$::Known"
--- request
GET /api/expgroups
--- json eval
my $b = ABTest::Oracle::seed_group($::Known, 'homepage_button_test',
                                   [[A => 50], [B => 50]]);
my $h = ABTest::Oracle::seed_group($::Known, 'headline_test',
                                   [[Future => 50], [Journey => 50]]);
{
    homepage_button_test => { state => 'active', active => \1,
        fallback => 'A', assigned => $b, in_experiment => \1,
        reason => undef, group => $b },
    headline_test => { state => 'inactive', active => \0,
        fallback => 'Future', assigned => $h, in_experiment => \1,
        reason => undef, group => 'Future' },
}



=== TEST 4: expgroups with neither: "group": "" as the seed answers
--- request
GET /api/expgroups
--- json eval
{
    homepage_button_test => { state => 'active', active => \1,
        fallback => 'A', assigned => '', group => '' },
    headline_test => { state => 'inactive', active => \0,
        fallback => 'Future', assigned => '', group => '' },
}



=== TEST 5: expgroups with an invalid device_id: 400
--- request
GET /api/expgroups?device_id=a%20b
--- error_code: 400
--- json eval
{ error => 'device_id: use 1 to 64 characters of [A-Za-z0-9_-]' }
--- error_log
abtest api: 400 device_id



=== TEST 6: update weights: 200 with the experiment's new JSON, then GET
--- request eval
[::post('{"name": "homepage_button_test", "groups": {"A": 30, "B": 70}}'),
 "GET /api/experiments"]
--- json eval
my $b = { %$::Button, groups => { A => 30, B => 70 } };
[{ homepage_button_test => $b },
 { homepage_button_test => $b, headline_test => $::Headline }]
--- more_headers
Content-Type: application/json



=== TEST 7: the seed's transitions: inactive -> active -> rollout -> active -> inactive
--- request eval
[::post('{"name": "headline_test", "state": "active"}'),
 ::post('{"name": "headline_test", "state": "rollout", "rollout_group": "Journey"}'),
 ::post('{"name": "headline_test", "state": "active"}'),
 ::post('{"name": "headline_test", "state": "inactive"}')]
--- more_headers
Content-Type: application/json
--- json eval
my %h = (title => 'headline_test', groups => { Future => 50, Journey => 50 },
         fallback => 'Future');
[{ headline_test => ::exp_json(%h, state => 'active', start => 'ISO') },
 { headline_test => ::exp_json(%h, state => 'rollout', rollout => 'Journey',
                               start => 'ISO', end => 'ISO') },
 { headline_test => ::exp_json(%h, state => 'active', start => 'ISO') },
 { headline_test => ::exp_json(%h, state => 'inactive', start => 'ISO',
                               end => 'ISO') }]



=== TEST 8: inactive -> rollout is refused with 409, nothing changes
--- request eval
[::post('{"name": "headline_test", "state": "rollout", "rollout_group": "Journey"}'),
 "GET /api/experiments"]
--- more_headers
Content-Type: application/json
--- error_code eval
[409, 200]
--- json eval
[{ error => 'state: an inactive experiment can only become active' },
 { homepage_button_test => $::Button, headline_test => $::Headline }]
--- error_log
abtest api: 409 state



=== TEST 9: rollout -> inactive is refused with 409
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group    A 1;
        group    B 1;
        state    rollout;
        rollout  B;
    }
--- request eval
::post('{"name": "e", "state": "inactive"}')
--- more_headers
Content-Type: application/json
--- error_code: 409
--- json eval
{ error => 'state: an experiment in rollout can only become active' }



=== TEST 10: bad bodies: 400 naming the field, nothing changes
--- request eval
[::post('{"groups": {"A": 1, "B": 1}}'),
 ::post('{"name": 5}'),
 ::post('[1, 2]'),
 ::post('{"name": "homepage_button_test", "groups": {"A": 1}}'),
 ::post('{"name": "homepage_button_test", "groups": {"A": 1, "C": 1}}'),
 ::post('{"name": "homepage_button_test", "groups": {"A": 0, "B": 1}}'),
 ::post('{"name": "homepage_button_test", "groups": {"A": -3, "B": 1}}'),
 ::post('{"name": "homepage_button_test", "groups": {"A": 1.5, "B": 1}}'),
 ::post('{"name": "homepage_button_test", "groups": {"A": "1", "B": 1}}'),
 ::post('{"name": "homepage_button_test", "groups": {"A": 2147483647, "B": 2}}'),
 ::post('{"name": "homepage_button_test", "groups": [50, 50]}'),
 ::post('{"name": "homepage_button_test", "state": "paused"}'),
 ::post('{"name": "homepage_button_test", "state": "rollout"}'),
 ::post('{"name": "homepage_button_test", "state": "rollout", "rollout_group": "C"}'),
 ::post('{"name": "homepage_button_test", "rollout_group": "B"}'),
 ::post('{"name": "homepage_button_test", "colour": "red"}'),
 ::post('{"name": "homepage_button_test", "reset_stats": 1}'),
 ::post('{"name": "homepage_button_test", '),
 ::post(''),
 "GET /api/experiments"]
--- more_headers
Content-Type: application/json
--- error_code eval
[(400) x 19, 200]
--- json eval
[{ error => 'name: a string is required' },
 { error => 'name: a string is required' },
 { error => 'body: must be a JSON object' },
 { error => 'groups: must name the 2 groups of "homepage_button_test", no more, no less' },
 { error => 'groups: "C" is not a group of "homepage_button_test", or named twice' },
 { error => 'groups.A: the weight must be a positive integer' },
 { error => 'groups.A: the weight must be a positive integer' },
 { error => 'groups.A: the weight must be a positive integer' },
 { error => 'groups.A: the weight must be a positive integer' },
 { error => 'groups: the weights sum to 2147483649, more than 2^31' },
 { error => 'groups: must be an object' },
 { error => 'state: must be "active", "inactive" or "rollout"' },
 { error => 'rollout_group: a group is needed for state rollout' },
 { error => 'rollout_group: must be a group of "homepage_button_test" or null' },
 { error => 'rollout_group: only with state rollout' },
 { error => 'unknown field "colour"' },
 { error => 'reset_stats: must be true or false' },
 undef,
 { error => 'body: empty, expected a JSON object' },
 { homepage_button_test => $::Button, headline_test => $::Headline }]
--- response_body_like eval
[(qr/^\{"error":"[^"]/) x 19, qr/^\{/]
--- no_error_log
[error]



=== TEST 11: unknown experiment: 404
--- request eval
::post('{"name": "nosuch", "state": "active"}')
--- more_headers
Content-Type: application/json
--- error_code: 404
--- json eval
{ error => 'name: no experiment "nosuch"' }



=== TEST 12: wrong methods: 405 with Allow
--- request eval
["GET /api/experiments/update", "DELETE /api/experiments",
 "POST /api/expgroups\n{}"]
--- error_code eval
[405, 405, 405]
--- raw_response_headers_like eval
[qr/^Allow: POST\r$/m, qr/^Allow: GET, HEAD\r$/m, qr/^Allow: GET, HEAD\r$/m]
--- json eval
[{ error => 'method GET is not allowed here, only POST' },
 { error => 'method DELETE is not allowed here, only GET, HEAD' },
 { error => 'method POST is not allowed here, only GET, HEAD' }]



=== TEST 13: not application/json: 415 (form posts included)
--- request eval
::post('name=homepage_button_test&state=inactive')
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 415
--- json eval
{ error => 'Content-Type: must be application/json' }



=== TEST 14: a body larger than client_body_buffer_size: 413
--- config
    location /api/experiments {
        client_body_buffer_size 1k;
        abtest_api experiments write=on;
    }
--- request eval
::post('{"name": "homepage_button_test", "title": "' . ('x' x 2000) . '"}')
--- more_headers
Content-Type: application/json
--- error_code: 413
--- json eval
{ error => 'body: larger than 1024 bytes (client_body_buffer_size)' }



=== TEST 15: without write=on, updates are refused with 403
--- request
POST /ro/experiments/update
{"name": "homepage_button_test", "state": "inactive"}
--- more_headers
Content-Type: application/json
--- error_code: 403
--- json eval
{ error => 'this location is read-only: "abtest_api experiments write=on" enables updates' }



=== TEST 16: application/json with a charset is accepted; names are escaped
--- request eval
::post('{"name": "homepage_button_test", "state": "inactive"}')
--- more_headers
Content-Type: application/json; charset=utf-8
--- json eval
{ homepage_button_test => { %$::Button, state => 'inactive', active => \0,
                            ended => 'ISO' } }
--- response_body_like chomp
"title":"Homepage \\"button\\" <test>"



=== TEST 17: a change is seen by the variables on the next request
--- config
    abtest on;
    location /api/experiments {
        abtest_api experiments write=on;
    }
    location = /t {
        return 200 "$ab_group_headline_test\n";
    }
--- request eval
[::post('{"name": "headline_test", "state": "active", "groups": {"Future": 1, "Journey": 1000000}}'),
 "GET /t"]
--- more_headers eval
"Content-Type: application/json\r\nCookie: device_id=$::Known"
--- response_body_like eval
my $g = ABTest::Oracle::seed_group($::Known, 'headline_test',
                                   [[Future => 1], [Journey => 1000000]]);
[qr/^\{"headline_test":/, qr/^$g$/]



=== TEST 18: write=on without abtest_zone fails nginx -t
--- http_config
    abtest_experiment e {
        group A 1;
    }
--- config
    location /api/experiments {
        abtest_api experiments write=on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_api experiments write=on" in \S+:\d+ needs a shared zone/



=== TEST 19: without a zone the read API works from the configuration
--- http_config
    abtest_experiment e {
        group A 1;
        group B 3;
    }
--- config
    location /api/experiments {
        abtest_api experiments;
    }
--- request
GET /api/experiments
--- json eval
{ e => ::exp_json(title => 'e', groups => { A => 1, B => 3 },
                  fallback => 'A', state => 'active') }



=== TEST 20: the group cookie is shown; a rollout without a group takes the configured one
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group    A 1;
        group    B 1;
        cookie   exp_group;
        rollout  B;
    }
--- request eval
[::post('{"name": "e", "state": "rollout"}'),
 ::post('{"name": "e", "state": "active"}'),
 ::post('{"name": "e", "state": "rollout"}')]
--- more_headers
Content-Type: application/json
--- json eval
my %e = (title => 'e', groups => { A => 1, B => 1 }, fallback => 'A',
         cookie => 'exp_group', start => 'ISO');
[{ e => ::exp_json(%e, state => 'rollout', rollout => 'B', end => 'ISO') },
 { e => ::exp_json(%e, state => 'active') },
 { e => ::exp_json(%e, state => 'rollout', rollout => 'B', end => 'ISO') }]



=== TEST 21: a long name in a message is not cut in the middle of a character
--- request eval
[::post('{"name": "' . ("\x{c3}\x{a9}" x 40) . '"}'),
 ::post('{"name": "homepage_button_test", "' . ("\x{c3}\x{a9}" x 40)
        . '": 1}')]
--- more_headers
Content-Type: application/json
--- error_code eval
[404, 400]
--- json eval
[{ error => 'name: no experiment "(a name longer than 64 bytes)"' },
 { error => 'unknown field "(a name longer than 64 bytes)"' }]



=== TEST 22: an update of unknown length (chunked) is taken within client_body_buffer_size, and refused as JSON beyond it
--- config
    location /api/experiments {
        client_body_buffer_size 1k;
        abtest_api experiments write=on;
    }
--- request
GET /api/experiments
--- json eval
sub {
    my $chunked = sub {
        my ($json) = @_;
        return "POST /api/experiments/update HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\nContent-Type: application/json\r\n"
            . "Transfer-Encoding: chunked\r\n\r\n"
            . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $json, $json);
    };
    my ($status, $body) = ABTest::Json::http_raw(
        $chunked->('{"name": "headline_test", "state": "inactive"}'));
    return "status $status: $body" if $status != 200;
    my $e = ABTest::Json::match_json(ABTest::Json::decode($body),
                                     { headline_test => sub {
                                         $_[0]{state} eq 'inactive' ? ''
                                         : "state $_[0]{state}" } });
    return $e if $e;
    ($status, $body) = ABTest::Json::http_raw(
        $chunked->('{"name": "headline_test", "title": "' . ('x' x 2000)
                   . '"}'));
    return "status $status: $body" if $status != 413;
    return ABTest::Json::match_json(ABTest::Json::decode($body),
        { error => 'body: larger than 1024 bytes (client_body_buffer_size)' });
}
--- error_log
abtest api: 413 body: larger than 1024 bytes (client_body_buffer_size)


=== TEST 26: invalid UTF-8 that yajl lets through is refused (400), never echoed in a 404
--- request eval
[::post(qq{{"name": "\xc0\xafx", "state": "active"}}),
 ::post(qq{{"name": "homepage_button_test", "\xed\xa0\x80": 1}}),
 ::post(qq{{"name": "homepage_button_test", "state": "\xf4\x90\x80\x80"}}),
 "GET /api/experiments"]
--- more_headers
Content-Type: application/json
--- error_code eval
[400, 400, 400, 200]
--- json eval
[{ error => 'body: invalid JSON: lexical error: invalid bytes in UTF8 string.' },
 { error => 'body: invalid JSON: lexical error: invalid bytes in UTF8 string.' },
 { error => 'body: invalid JSON: lexical error: invalid bytes in UTF8 string.' },
 { homepage_button_test => $::Button, headline_test => $::Headline }]
--- no_error_log
[error]
