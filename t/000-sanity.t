# vim:set ft= ts=4 sw=4 et fdm=marker:

# The device cookie, assignment by state, and the group cookie.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);

our $Known = '9b810e76-6ec9-4286-a3ca-828dd5f4b3b2';

our $HttpConfig = <<'_EOC_';
    abtest_experiment homepage_button_test {
        group    A 50;
        group    B 50;
        fallback A;
        title    "Homepage button";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $HttpConfig);
    }

    if (!defined $block->no_error_log) {
        $block->set_value('no_error_log', "[error]\n[alert]\n[emerg]\n");
    }
});

our $Uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a new device gets a UUIDv4 cookie, the same id in $ab_device_id
--- config
    location = /t {
        abtest on;
        add_header X-Device $ab_device_id;
        return 200 "new=$ab_new_device group=$ab_group\n";
    }
--- request
GET /t
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=($::Uuid); Expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT; Max-Age=31536000; Path=\/\r\n(?:.*\r\n)*X-Device: \1\r\n|^X-Device: ($::Uuid)\r\n(?:.*\r\n)*Set-Cookie: device_id=\2; /m
--- response_body_like chomp
^new=1 group=[AB]$



=== TEST 2: a valid cookie is kept: no Set-Cookie, the seed's group
--- config
    location = /t {
        abtest on;
        return 200 "id=$ab_device_id new=$ab_new_device group=$ab_group\n";
    }
--- more_headers eval
"Cookie: device_id=$::Known"
--- request
GET /t
--- raw_response_headers_unlike eval
qr/Set-Cookie/
--- response_body eval
"id=$::Known new= group="
. ABTest::Oracle::seed_group($::Known, 'homepage_button_test',
                             [['A', 50], ['B', 50]]) . "\n"



=== TEST 3: a new id is different on every request
--- config
    location = /t {
        abtest on;
        return 200 "$ab_device_id\n";
    }
--- request eval
["GET /t", "GET /t"]
--- response_body_like eval
[qr/^$::Uuid$/, qr/^$::Uuid$/]
--- no_error_log
[error]



=== TEST 4: an invalid cookie is replaced, logged at info without its value
--- config
    location = /t {
        abtest on;
        return 200 "new=$ab_new_device\n";
    }
--- more_headers
Cookie: device_id=not/a%20valid*id
--- request
GET /t
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body
new=1
--- error_log
abtest: client sent an invalid "device_id" cookie (16 bytes), issuing a new device id
--- no_error_log eval
[qr/\[(?:info|notice|warn|error)\].*not\/a%20valid/, qr/\[error\]/]



=== TEST 5: abtest off: no cookie, empty variables
--- config
    location = /t {
        abtest off;
        return 200 "id=$ab_device_id group=$ab_group all=$ab_groups\n";
    }
--- request
GET /t
--- raw_response_headers_unlike eval
qr/Set-Cookie/
--- response_body
id= group= all=



=== TEST 6: abtest is inherited from the server level
--- config
    abtest on;
    location = /t {
        return 200 "new=$ab_new_device\n";
    }
--- request
GET /t
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body
new=1



=== TEST 7: inactive gives the fallback to everyone
--- http_config
    abtest_experiment homepage_button_test {
        group    A 1;
        group    B 1000000;
        fallback A;
        state    inactive;
    }
--- config
    location = /t {
        abtest on;
        return 200 "$ab_group\n";
    }
--- request eval
[map { "GET /t" } 1 .. 20]
--- response_body eval
[map { "A\n" } 1 .. 20]



=== TEST 8: rollout gives the rollout group to everyone
--- http_config
    abtest_experiment homepage_button_test {
        group    A 1000000;
        group    B 1;
        fallback A;
        state    rollout;
        rollout  B;
    }
--- config
    location = /t {
        abtest on;
        return 200 "$ab_group\n";
    }
--- request eval
[map { "GET /t" } 1 .. 20]
--- response_body eval
[map { "B\n" } 1 .. 20]



=== TEST 9: group cookie: set with the device cookie for a new device
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
--- config
    location = /t {
        abtest on;
        return 200 "group=$ab_group\n";
    }
--- request
GET /t
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; .*\r\nSet-Cookie: exp_group=([AB]); Expires=[^;]+; Max-Age=31536000; Path=\/\r\n/ms
--- response_body_like chomp
^group=[AB]$



=== TEST 10: group cookie: not set again when it already names the group
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
--- config
    location = /t {
        abtest on;
        return 200 "group=$ab_group\n";
    }
--- more_headers eval
"Cookie: device_id=$::Known; exp_group="
. ABTest::Oracle::seed_group($::Known, 'homepage_button_test',
                             [['A', 50], ['B', 50]])
--- request
GET /t
--- raw_response_headers_unlike eval
qr/Set-Cookie/



=== TEST 11: group cookie: corrected when it names another group
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
--- config
    location = /t {
        abtest on;
        return 200 "group=$ab_group\n";
    }
--- more_headers eval
my $g = ABTest::Oracle::seed_group($::Known, 'homepage_button_test',
                                   [['A', 50], ['B', 50]]);
"Cookie: device_id=$::Known; exp_group=" . ($g eq 'A' ? 'B' : 'A')
--- request
GET /t
--- raw_response_headers_like eval
my $g = ABTest::Oracle::seed_group($::Known, 'homepage_button_test',
                                   [['A', 50], ['B', 50]]);
qr/^Set-Cookie: exp_group=$g; /m
--- raw_response_headers_unlike eval
qr/device_id=/



=== TEST 12: assign random (seed step 1): a draw the group cookie tells the page
--- http_config
    abtest_experiment button {
        group  A 50;
        group  B 50;
        assign random;
        cookie variant;
    }
--- config
    location = /t {
        abtest on;
        return 200 "group=$ab_group\n";
    }
--- request
GET /t
--- raw_response_headers_like eval
qr/^Set-Cookie: variant=[AB]; /m
--- response_body_like chomp
^group=[AB]$



=== TEST 13: assign random: a group cookie the draw did not give is not taken (no client chooses its group)
--- http_config
    abtest_experiment button {
        group  A 1;
        group  B 2147483646;
        assign random;
        cookie variant;
    }
--- config
    location = /t {
        abtest on;
        return 200 "group=$ab_group\n";
    }
--- more_headers eval
"Cookie: device_id=$::Known; variant=A"
--- request eval
[map { "GET /t" } 1 .. 10]
--- response_body eval
[map { "group=B\n" } 1 .. 10]
--- raw_response_headers_like eval
[map { qr/^Set-Cookie: variant=B; /m } 1 .. 10]



=== TEST 14: assign random: an unknown group in the cookie is drawn again
--- http_config
    abtest_experiment button {
        group  A 1;
        group  B 1;
        assign random;
        cookie variant;
    }
--- config
    location = /t {
        abtest on;
        return 200 "group=$ab_group\n";
    }
--- more_headers eval
"Cookie: device_id=$::Known; variant=C"
--- request
GET /t
--- raw_response_headers_like eval
qr/^Set-Cookie: variant=[AB]; /m
--- response_body_like chomp
^group=[AB]$



=== TEST 15: an error response carries the cookie too
--- config
    abtest on;
    location = /t {
        return 404;
    }
--- request
GET /t
--- error_code: 404
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
