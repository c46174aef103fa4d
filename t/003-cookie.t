# vim:set ft= ts=4 sw=4 et fdm=marker:

# Cookie attributes, and what happens to invalid and hostile cookies.

use Test::Nginx::Socket 'no_plan';

our $Uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_EOC_');
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    abtest on;
    location = /t {
        return 200 "id=$ab_device_id new=$ab_new_device\n";
    }
_EOC_
    }

    if (!defined $block->request) {
        $block->set_value('request', "GET /t\n");
    }

    if (!defined $block->no_error_log) {
        $block->set_value('no_error_log', "[error]\n[alert]\n");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: defaults match the seed: Expires and Max-Age of a year, Path=/, readable by scripts
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT; Max-Age=31536000; Path=\/\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT; Max-Age=31536000; Path=\/\r\n/m




=== TEST 2: abtest_cookie_expires 30d
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_expires 30d;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=2592000; Path=\/\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=2592000; Path=\/\r\n/m




=== TEST 3: abtest_cookie_expires off: a session cookie
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_expires off;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Path=\/\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Path=\/\r\n/m




=== TEST 4: abtest_cookie_expires max
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_expires max;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=Thu, 31 Dec 2037 23:55:55 GMT; Path=\/\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=Thu, 31 Dec 2037 23:55:55 GMT; Path=\/\r\n/m




=== TEST 5: abtest_cookie_path
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_path /shop/;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/shop\/\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/shop\/\r\n/m




=== TEST 6: abtest_cookie_domain
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_domain .example.com;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=31536000; Domain=.example.com; Path=\/\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=31536000; Domain=.example.com; Path=\/\r\n/m




=== TEST 7: abtest_cookie_flags secure
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_flags secure;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; Secure\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; Secure\r\n/m




=== TEST 8: abtest_cookie_flags httponly
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_flags httponly;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; HttpOnly\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; HttpOnly\r\n/m




=== TEST 9: abtest_cookie_flags samesite=strict
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_flags samesite=strict;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; SameSite=Strict\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; SameSite=Strict\r\n/m




=== TEST 10: abtest_cookie_flags samesite=lax
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_flags samesite=lax;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; SameSite=Lax\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; SameSite=Lax\r\n/m




=== TEST 11: abtest_cookie_flags samesite=none with secure
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_flags secure samesite=none;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; Secure; SameSite=None\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; Secure; SameSite=None\r\n/m




=== TEST 12: all three flags
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
    abtest_cookie_flags secure httponly samesite=lax;
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; Secure; HttpOnly; SameSite=Lax\r\n(?:.*\r\n)*Set-Cookie: exp_group=[AB]; Expires=[^;]+ GMT; Max-Age=31536000; Path=\/; Secure; HttpOnly; SameSite=Lax\r\n/m




=== TEST 13: CRLF sent percent-encoded is not a valid id
--- more_headers
Cookie: device_id=abc%0D%0ASet-Cookie:%20x=1
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body_like eval
qr/^id=$::Uuid new=1$/
--- error_log
client sent an invalid "device_id" cookie (26 bytes)




=== TEST 14: a quoted value is not a valid id
--- more_headers
Cookie: device_id="abc"
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body_like eval
qr/^id=$::Uuid new=1$/
--- error_log
client sent an invalid "device_id" cookie (5 bytes)




=== TEST 15: an empty value is not a valid id
--- more_headers
Cookie: device_id=
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body_like eval
qr/^id=$::Uuid new=1$/
--- error_log
client sent an invalid "device_id" cookie (0 bytes)




=== TEST 16: 65 bytes is too long
--- more_headers
Cookie: device_id=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body_like eval
qr/^id=$::Uuid new=1$/
--- error_log
client sent an invalid "device_id" cookie (65 bytes)




=== TEST 17: a 4 KB value is replaced
--- more_headers
Cookie: device_id=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body_like eval
qr/^id=$::Uuid new=1$/
--- error_log
client sent an invalid "device_id" cookie (4096 bytes)




=== TEST 18: spaces and control characters inside
--- more_headers
Cookie: device_id=ab	cd
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body_like eval
qr/^id=$::Uuid new=1$/
--- error_log
client sent an invalid "device_id" cookie (5 bytes)




=== TEST 19: ";" ends the value: the id before it is kept
--- more_headers
Cookie: device_id=abc-123;evil=1
--- raw_response_headers_unlike eval
qr/Set-Cookie: device_id/
--- response_body
id=abc-123 new=




=== TEST 20: several device cookies in one header: the first is used, as $cookie_ does
--- more_headers
Cookie: device_id=first-device; other=1; device_id=second-device
--- raw_response_headers_unlike eval
qr/Set-Cookie: device_id/
--- response_body
id=first-device new=




=== TEST 21: several Cookie headers: the first device cookie is used
--- more_headers
Cookie: other=1
Cookie: device_id=from-second-header
Cookie: device_id=from-third-header
--- raw_response_headers_unlike eval
qr/Set-Cookie: device_id/
--- response_body
id=from-second-header new=




=== TEST 22: a first invalid device cookie is not skipped for a later one
--- more_headers
Cookie: device_id=bad!id; device_id=good-id
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- response_body_like eval
qr/^id=$::Uuid new=1$/
--- error_log
client sent an invalid "device_id" cookie (6 bytes)




=== TEST 23: a 64-byte id of every allowed character is valid
--- more_headers
Cookie: device_id=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-
--- raw_response_headers_unlike eval
qr/Set-Cookie: device_id/
--- response_body
id=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_- new=




=== TEST 24: abtest_cookie_name picks the device cookie
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
    }
    abtest_cookie_name uid;
--- more_headers
Cookie: device_id=ignored; uid=mine
--- raw_response_headers_unlike eval
qr/Set-Cookie/
--- response_body
id=mine new=




=== TEST 25: abtest_cookie_name names the issued cookie
--- http_config
    abtest_experiment homepage_button_test {
        group  A 50;
        group  B 50;
    }
    abtest_cookie_name uid;
--- raw_response_headers_like eval
qr/^Set-Cookie: uid=$::Uuid; /m




=== TEST 26: a group cookie with an unknown group is corrected
--- more_headers
Cookie: device_id=abc-123; exp_group=%0D%0AX
--- raw_response_headers_like eval
qr/^Set-Cookie: exp_group=[AB]; /m
--- raw_response_headers_unlike eval
qr/Set-Cookie: device_id/




=== TEST 27: location-level cookie settings override the server's
--- config
    abtest on;
    abtest_cookie_path /;
    location = /t {
        abtest_cookie_path /t;
        abtest_cookie_flags httponly;
        return 200 "ok\n";
    }
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; [^\r]*Path=\/t; HttpOnly\r\n/m
