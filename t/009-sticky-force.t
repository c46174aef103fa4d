# vim:set ft= ts=4 sw=4 et fdm=marker:

# Stickiness (seed step 8): after a weight change, a device whose group
# cookie names the group earlier weights gave it keeps that group; a
# cookie naming a group the device was never given is corrected.  And the
# forced group for testing, on and off.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);

my @before = ([A => 50], [B => 50]);
my @after = ([A => 1], [B => 99]);

# devices the change moves from A to B, and devices B under both weights
our (@Moved, @StayB);
for my $i (1 .. 2000) {
    my $d = "sticky-device-$i";
    my ($g0, $g1) = (seed_group($d, 'button', \@before),
                     seed_group($d, 'button', \@after));
    push @Moved, $d if $g0 eq 'A' && $g1 eq 'B';
    push @StayB, $d if $g0 eq 'B' && $g1 eq 'B';
    last if @Moved >= 10 && @StayB >= 10;
}
@Moved = @Moved[0 .. 9];
@StayB = @StayB[0 .. 9];

our $HttpConfig = <<'_EOC_';
    abtest_zone zone=abtest:1m;

    abtest_experiment button {
        group  A 50;
        group  B 50;
        cookie exp_group;
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /vec {
        abtest off;
        proxy_set_header Cookie "device_id=$arg_id; exp_group=$arg_g";
        proxy_pass http://127.0.0.1:$server_port/t;
    }

    location = /t {
        return 200 "$ab_group\n";
    }
_EOC_

our $Post = "POST /api/experiments/update\n"
            . '{"name": "button", "groups": {"A": 1, "B": 99}}';

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

=== TEST 1: devices moved by a weight change keep their group through its cookie
--- more_headers
Content-Type: application/json
--- request eval
[$::Post, map { "GET /vec?id=$_&g=A" } @::Moved]
--- response_body_like eval
[qr/"groups":\{"A":1,"B":99\}/, map { qr/^A$/ } @::Moved]



=== TEST 2: without the group cookie, a moved device follows the new weights
--- more_headers
Content-Type: application/json
--- request eval
[$::Post, map { "GET /vec?id=$_&g=" } @::Moved]
--- response_body_like eval
[qr/"groups":\{"A":1,"B":99\}/, map { qr/^B$/ } @::Moved]
--- raw_response_headers_like eval
[qr//, map { qr/^Set-Cookie: exp_group=B; /m } @::Moved]



=== TEST 3: a cookie naming a group the device never had is corrected
--- more_headers
Content-Type: application/json
--- request eval
[$::Post, map { "GET /vec?id=$_&g=A" } @::StayB]
--- response_body_like eval
[qr/"groups":\{"A":1,"B":99\}/, map { qr/^B$/ } @::StayB]
--- raw_response_headers_like eval
[qr//, map { qr/^Set-Cookie: exp_group=B; /m } @::StayB]



=== TEST 4: before any weight change, the cookie is not trusted over the hash
--- request eval
[map { "GET /vec?id=$_&g=B" } @::Moved]
--- response_body_like eval
[map { qr/^A$/ } @::Moved]



=== TEST 5: abtest_force on: ?abtest_force=exp:group puts a browser in a group
--- config
    abtest on;
    abtest_force on;
    location = /t {
        return 200 "$ab_group\n";
    }
--- request eval
["GET /t?abtest_force=button:B", "GET /t?abtest_force=button%3AA"]
--- response_body eval
["B\n", "A\n"]
--- raw_response_headers_like eval
[qr/^Set-Cookie: abtest_force=button:B; Path=\/\r$/m,
 qr/^Set-Cookie: abtest_force=button:A; Path=\/\r$/m]



=== TEST 6: the forced group is kept by its cookie, whatever the state
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment button {
        group    A 50;
        group    B 50;
        state    inactive;
    }
--- config
    abtest on;
    abtest_force on;
    location = /t {
        return 200 "$ab_group\n";
    }
--- more_headers
Cookie: device_id=someone; abtest_force=other:x,button:B
--- request
GET /t
--- response_body
B



=== TEST 7: an unknown forced group is ignored; an empty argument ends forcing
--- config
    abtest on;
    abtest_force on;
    location = /t {
        return 200 "$ab_group\n";
    }
--- more_headers
Cookie: device_id=sticky-device-1
--- request eval
["GET /t?abtest_force=button:C", "GET /t?abtest_force="]
--- response_body eval
my $g = ABTest::Oracle::seed_group('sticky-device-1', 'button',
                                   [[A => 50], [B => 50]]);
["$g\n", "$g\n"]
--- raw_response_headers_like eval
[qr/^Set-Cookie: abtest_force=button:C; /m,
 qr/^Set-Cookie: abtest_force=; Max-Age=0; Path=\/\r$/m]



=== TEST 8: a malformed forced group is ignored, and logged
--- config
    abtest on;
    abtest_force on;
    location = /t {
        return 200 "$ab_group\n";
    }
--- more_headers
Cookie: device_id=sticky-device-1
--- request
GET /t?abtest_force=button:%3Cscript%3E
--- response_body eval
ABTest::Oracle::seed_group('sticky-device-1', 'button',
                           [[A => 50], [B => 50]]) . "\n"
--- raw_response_headers_like eval
qr/^(?!.*abtest_force)/s
--- error_log
ignoring an invalid abtest_force value



=== TEST 9: abtest_force off (the default): the argument and cookie are ignored
--- config
    abtest on;
    location = /t {
        return 200 "$ab_group\n";
    }
--- more_headers
Cookie: device_id=sticky-device-1; abtest_force=button:B
--- request eval
["GET /t?abtest_force=button:A"]
--- response_body eval
["" . ABTest::Oracle::seed_group('sticky-device-1', 'button',
                                 [[A => 50], [B => 50]]) . "\n"]
--- raw_response_headers_unlike eval
[qr/abtest_force/]
