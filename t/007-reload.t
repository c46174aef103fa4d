# vim:set ft= ts=4 sw=4 et fdm=marker:

# Run-time changes survive "nginx -s reload" (HUP): the zone is reused.
# A reload that changes an experiment's groups starts it again from the
# configuration; removed experiments disappear; new ones start from it.

BEGIN {
    $ENV{TEST_NGINX_USE_HUP} = 1;
}

use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
no_shuffle();

our $Config = <<'_EOC_';
    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /t {
        abtest on;
        return 200 "$ab_group_headline_test pid=$pid\n";
    }
_EOC_

our $Two = <<'_EOC_';
    abtest_zone zone=abtest:1m;

    abtest_experiment homepage_button_test {
        group A 50;
        group B 50;
    }

    abtest_experiment headline_test {
        group Future 50;
        group Journey 50;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: both workers see a change on their next request, without a reload
--- http_config eval: $::Two
--- config eval: $::Config
--- request eval
["POST /api/experiments/update\n"
 . '{"name": "headline_test", "state": "inactive"}',
 map { "GET /t" } 1 .. 40]
--- more_headers
Content-Type: application/json
--- response_body_like eval
[qr/"headline_test":\{.*"state":"inactive"/,
 map { qr/^Future pid=\d+$/ } 1 .. 40]
--- no_error_log
[error]



=== TEST 2: change the weights at run time
--- http_config eval: $::Two
--- config eval: $::Config
--- request
POST /api/experiments/update
{"name": "homepage_button_test", "groups": {"A": 30, "B": 70}}
--- more_headers
Content-Type: application/json
--- response_body_like chomp
^\{"homepage_button_test":\{"title":"homepage_button_test","groups":\{"A":30,"B":70\}
--- no_error_log
[error]



=== TEST 3: after a reload with the same configuration, the change is there
--- http_config eval: $::Two
--- config eval: $::Config
--- request
GET /api/experiments
--- response_body_like chomp
"homepage_button_test":\{[^}]*"groups":\{"A":30,"B":70\}.*"headline_test":\{[^}]*"groups":\{"Future":50,"Journey":50\}
--- no_error_log
[error]



=== TEST 4: a reload that changes the groups resets that experiment only
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment homepage_button_test {
        group A 50;
        group B 50;
        group C 50;
    }

    abtest_experiment headline_test {
        group Future 50;
        group Journey 50;
    }
--- config eval: $::Config
--- request
GET /api/experiments
--- response_body_like chomp
"homepage_button_test":\{[^}]*"groups":\{"A":50,"B":50,"C":50\}
--- error_log
abtest: experiment "homepage_button_test" has new groups, its run-time state starts again from the configuration
--- no_error_log
[error]



=== TEST 5: a removed experiment disappears, a new one starts from its configuration
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment homepage_button_test {
        group A 50;
        group B 50;
        group C 50;
    }

    abtest_experiment checkout {
        group old 1;
        group new 3;
    }
--- config eval: $::Config
--- request
GET /api/experiments
--- response_body_like chomp
^\{"homepage_button_test":\{[^}]*\{"A":50,"B":50,"C":50\}.*"checkout":\{[^}]*"groups":\{"new":3,"old":1\}[^{]*\}\}$
--- error_log
abtest: experiment "headline_test" is no longer configured
--- no_error_log
[error]



=== TEST 6: editing the weights in the configuration wins over run-time changes
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment homepage_button_test {
        group A 10;
        group B 10;
        group C 80;
    }

    abtest_experiment checkout {
        group old 1;
        group new 3;
    }
--- config eval: $::Config
--- request
GET /api/experiments
--- response_body_like chomp
"homepage_button_test":\{[^}]*"groups":\{"A":10,"B":10,"C":80\}
--- error_log
abtest: experiment "homepage_button_test" is configured anew, its run-time state follows the configuration
--- no_error_log
[error]



=== TEST 7: a removed experiment that comes back starts from its configuration
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment homepage_button_test {
        group A 10;
        group B 10;
        group C 80;
    }

    abtest_experiment headline_test {
        group Future 50;
        group Journey 50;
    }
--- config eval: $::Config
--- request
GET /api/experiments
--- response_body_like chomp
^\{"homepage_button_test":\{[^}]*\{"A":10,"B":10,"C":80\}.*"headline_test":\{[^}]*"groups":\{"Future":50,"Journey":50\},[^}]*"state":"active"[^{]*\}\}$
--- error_log
abtest: experiment "headline_test" is configured again, it starts from the configuration
--- no_error_log
[error]
