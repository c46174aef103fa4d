# vim:set ft= ts=4 sw=4 et fdm=marker:

# The variables where nginx users put them: proxy_pass to another server,
# headers to upstreams, add_header, return, map, rewrite, SSI, error pages
# and subrequests.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $Known = '78e51061-7311-48a3-82ce-6f447ed4d57b';
our $Button = seed_group($Known, 'homepage_button_test', [[A => 50], [B => 50]]);
our $Headline = seed_group($Known, 'headline_test', [[Future => 50], [Journey => 50]]);
our $Checkout = seed_group($Known, 'Checkout_Flow', [[old => 1], [new => 1]]);

our $Uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/;

our $HttpConfig = <<'_EOC_';
    abtest_experiment homepage_button_test {
        group    A 50;
        group    B 50;
        fallback A;
    }

    abtest_experiment headline_test {
        group    Future 50;
        group    Journey 50;
        fallback Future;
    }

    abtest_experiment Checkout_Flow {
        group    old 1;
        group    new 1;
    }

    map $ab_group $ab_colour {
        A        white;
        B        gold;
        default  none;
    }

    upstream backend_A {
        server unix:$TEST_NGINX_HTML_DIR/backend_a.sock;
    }

    upstream backend_B {
        server unix:$TEST_NGINX_HTML_DIR/backend_b.sock;
    }

    server {
        listen unix:$TEST_NGINX_HTML_DIR/backend_a.sock;
        location / {
            return 200 "backend A $uri groups=$http_x_ab_groups\n";
        }
    }

    server {
        listen unix:$TEST_NGINX_HTML_DIR/backend_b.sock;
        location / {
            return 200 "backend B $uri groups=$http_x_ab_groups\n";
        }
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $HttpConfig);
    }

    if (!defined $block->more_headers) {
        $block->set_value('more_headers', "Cookie: device_id=$Known\n");
    }

    if (!defined $block->no_error_log) {
        $block->set_value('no_error_log', "[error]\n[alert]\n");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: proxy_pass to another server chosen by $ab_group, groups in a header
--- config
    abtest on;
    location /app/ {
        proxy_set_header X-AB-Groups $ab_groups;
        proxy_pass http://backend_$ab_group;
    }
--- request
GET /app/page
--- response_body eval
"backend $::Button /app/page groups=homepage_button_test=$::Button,"
. "headline_test=$::Headline,Checkout_Flow=$::Checkout\n"



=== TEST 2: add_header and return
--- config
    abtest on;
    location = /t {
        add_header X-AB-Group $ab_group;
        return 200 "group=$ab_group headline=$ab_group_headline_test\n";
    }
--- request
GET /t
--- response_headers eval
"X-AB-Group: $::Button"
--- response_body eval
"group=$::Button headline=$::Headline\n"



=== TEST 3: map on $ab_group
--- config
    abtest on;
    location = /t {
        return 200 "colour=$ab_colour\n";
    }
--- request
GET /t
--- response_body eval
"colour=" . ($::Button eq 'A' ? 'white' : 'gold') . "\n"



=== TEST 4: rewrite to a per-group location
--- config
    abtest on;
    location = /t {
        rewrite ^ /variant/$ab_group_headline_test last;
    }
    location ~ ^/variant/(\w+)$ {
        return 200 "variant $1\n";
    }
--- request
GET /t
--- response_body eval
"variant $::Headline\n"



=== TEST 5: SSI renders the group on the server (no flicker)
--- config
    abtest on;
    location /ssi/ {
        ssi on;
        alias html/;
    }
--- user_files
>>> page.html
<h1><!--# if expr="$ab_group = A" -->Variant A<!--# else -->Variant B<!--# endif --></h1>
<p><!--# echo var="ab_group_headline_test" --></p>
--- request
GET /ssi/page.html
--- response_body eval
"<h1>Variant $::Button</h1>\n<p>$::Headline</p>\n"



=== TEST 6: subrequests share the main request's device and set no cookie
--- more_headers
X-New-Device: yes
--- config
    abtest on;
    location /ssi/ {
        ssi on;
        alias html/;
    }
    location = /sub {
        return 200 "sub=$ab_device_id";
    }
--- user_files
>>> page.html
main=<!--# echo var="ab_device_id" --> <!--# include virtual="/sub" -->
--- request
GET /ssi/page.html
--- response_body_like eval
qr/^main=($::Uuid) sub=\1$/
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m
--- raw_response_headers_unlike eval
qr/Set-Cookie: device_id.*Set-Cookie: device_id/s



=== TEST 7: an error page keeps the device id issued before the redirect
--- more_headers
X-New-Device: yes
--- config
    abtest on;
    location = /missing {
        error_page 404 /err?before=$ab_device_id;
        return 404;
    }
    location = /err {
        internal;
        add_header X-Device $ab_device_id always;
        return 404 "before=$arg_before after=$ab_device_id\n";
    }
--- request
GET /missing
--- error_code: 404
--- response_body_like eval
qr/^before=($::Uuid) after=\1$/
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=($::Uuid); (?:.*\r\n)*X-Device: \1\r\n|^X-Device: ($::Uuid)\r\n(?:.*\r\n)*Set-Cookie: device_id=\2; /m



=== TEST 8: nginx's own error pages carry the cookie
--- more_headers
X-New-Device: yes
--- config
    abtest on;
    location = /t {
        return 403;
    }
--- request
GET /t
--- error_code: 403
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m



=== TEST 9: abtest_use picks the experiment behind $ab_group
--- config
    abtest on;
    abtest_use headline_test;
    location = /t {
        return 200 "$ab_group\n";
    }
    location = /u {
        abtest_use homepage_button_test;
        return 200 "$ab_group\n";
    }
--- request eval
["GET /t", "GET /u"]
--- response_body eval
["$::Headline\n", "$::Button\n"]



=== TEST 10: $ab_group_<name> ignores case; an unknown experiment is empty
--- config
    abtest on;
    location = /t {
        return 200 "[$ab_group_HEADLINE_test][$ab_group_checkout_flow][$ab_group_Checkout_Flow][$ab_group_nosuch]\n";
    }
--- request
GET /t
--- response_body eval
"[$::Headline][$::Checkout][$::Checkout][]\n"



=== TEST 11: $ab_groups lists every experiment in declaration order
--- config
    abtest on;
    location = /t {
        return 200 "$ab_groups\n";
    }
--- request
GET /t
--- response_body eval
"homepage_button_test=$::Button,headline_test=$::Headline,Checkout_Flow=$::Checkout\n"



=== TEST 12: $ab_new_device and $ab_device_id for a returning device
--- config
    abtest on;
    location = /t {
        return 200 "[$ab_new_device][$ab_device_id]\n";
    }
--- request
GET /t
--- response_body eval
"[][$::Known]\n"



=== TEST 13: variables in a location where abtest is off are empty
--- config
    location = /t {
        return 200 "[$ab_group][$ab_groups][$ab_device_id][$ab_group_headline_test]\n";
    }
--- request
GET /t
--- response_body
[][][][]
--- raw_response_headers_unlike eval
qr/Set-Cookie/



=== TEST 14: no experiments declared: empty groups, the device cookie still
--- http_config
--- more_headers
X-New-Device: yes
--- config
    abtest on;
    location = /t {
        return 200 "[$ab_group][$ab_groups]\n";
    }
--- request
GET /t
--- response_body
[][]
--- raw_response_headers_like eval
qr/^Set-Cookie: device_id=$::Uuid; /m



=== TEST 15: experiments of the longest names: $ab_group_<name> of each answers, whatever variables_hash_bucket_size
--- http_config eval
CORE::join '', map { "    abtest_experiment ${_}_" . ('x' x 61) . " {\n"
                     . "        group A 1;\n        group B 1;\n    }\n" }
               qw(e1 e2 e3)
--- config eval
"    abtest on;
    location = /t {
        return 200 \"" . CORE::join(' ', map { "\$ab_group_${_}_" . ('x' x 61) }
                                       qw(e1 e2 e3)) . "\\n\";
    }"
--- request
GET /t
--- response_body eval
CORE::join(' ', map { ::seed_group($::Known, "${_}_" . ('x' x 61),
                                   [[A => 1], [B => 1]]) } qw(e1 e2 e3)) . "\n"
