# vim:set ft= ts=4 sw=4 et fdm=marker:

# Several worker processes give every device the same group, and a
# configuration reload (HUP) takes new experiment settings.

BEGIN {
    $ENV{TEST_NGINX_USE_HUP} = 1;
}

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);

master_on();
workers(2);
no_shuffle();

our $Config = <<'_EOC_';
    location = /vec {
        proxy_set_header Cookie "device_id=$arg_id";
        proxy_pass http://127.0.0.1:$server_port/assign;
    }

    location = /assign {
        abtest on;
        return 200 "$ab_group pid=$pid\n";
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: two workers, 200 devices, every group as the seed's rule gives
--- http_config
    abtest_experiment homepage_button_test {
        group A 50;
        group B 50;
    }
--- config eval: $::Config
--- request eval
[map { "GET /vec?id=worker-device-$_" } 1 .. 200]
--- response_body_like eval
[map {
    my $g = ABTest::Oracle::seed_group("worker-device-$_",
        'homepage_button_test', [[A => 50], [B => 50]]);
    qr/^$g pid=\d+$/
} 1 .. 200]
--- no_error_log
[error]
[alert]



=== TEST 2: after a reload with new weights, the new rule applies
--- http_config
    abtest_experiment homepage_button_test {
        group A 10;
        group B 90;
    }
--- config eval: $::Config
--- request eval
[map { "GET /vec?id=worker-device-$_" } 1 .. 200]
--- response_body_like eval
[map {
    my $g = ABTest::Oracle::seed_group("worker-device-$_",
        'homepage_button_test', [[A => 10], [B => 90]]);
    qr/^$g pid=\d+$/
} 1 .. 200]
--- no_error_log
[error]
[alert]



=== TEST 3: after a reload to state inactive, everyone gets the fallback
--- http_config
    abtest_experiment homepage_button_test {
        group    A 10;
        group    B 90;
        fallback B;
        state    inactive;
    }
--- config eval: $::Config
--- request eval
[map { "GET /vec?id=worker-device-$_" } 1 .. 50]
--- response_body_like eval
[map { qr/^B pid=\d+$/ } 1 .. 50]
--- no_error_log
[error]
[alert]
