# vim:set ft= ts=4 sw=4 et fdm=marker:

# Every configuration error of targeting (issue 15) fails "nginx -t" with
# [emerg], the problem, and the file and line.  The directives under test
# are in a file of their own (--- abtest: html/target.conf, included at
# the http level; --- server: html/server.conf, in the server), so that
# the line each error names is known exactly under either runner.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Json qw(json_body_check match_json approx);

add_block_preprocessor(sub {
    my $block = shift;

    my @files;
    if (defined(my $http = $block->abtest)) {
        push @files, ['target.conf', $http];
        $block->set_value('http_config', "    include ../html/target.conf;\n")
            if !defined $block->http_config;
    }
    if (defined(my $server = $block->server)) {
        push @files, ['server.conf', $server];
        $block->set_value('config', "    include ../html/server.conf;\n"
                                    . "    location = /t {\n"
                                    . "        return 200;\n    }\n");
    }
    $block->set_value('user_files', \@files) if @files;
    $block->set_value('config', "    location = /t {\n        return 200;\n"
                                . "    }\n")
        if !defined $block->config;
});

json_body_check();

# where an error must be: the file and the line
sub at {
    my ($line, $file) = @_;
    $file //= 'target.conf';
    return qr/ in \S+\/html\/\Q$file\E:$line(?!\d)/;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: holdout without the % sign
--- abtest
abtest_experiment e {
    group A 1;
}
abtest_holdout 5;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid holdout "5".*0\.01%${\ ::at(4)}/



=== TEST 2: holdout above 100%
--- abtest
abtest_holdout 100.01%;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid holdout "100\.01%".*${\ ::at(1)}/



=== TEST 3: a negative holdout
--- abtest
abtest_holdout -1%;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid holdout "-1%".*${\ ::at(1)}/



=== TEST 4: a holdout finer than 0.01%
--- abtest
# the second line
abtest_holdout 0.005%;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid holdout "0\.005%".*${\ ::at(2)}/



=== TEST 5: a holdout that is no number
--- abtest
abtest_holdout five%;
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid holdout "five%".*${\ ::at(1)}/



=== TEST 6: abtest_holdout twice
--- abtest
abtest_holdout 5%;
abtest_holdout 6%;
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_holdout" directive is duplicate${\ ::at(2)}/



=== TEST 7: coverage without the % sign
--- abtest
abtest_experiment e {
    group    A 1;
    coverage 20;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid coverage "20" in experiment "e".*${\ ::at(3)}/



=== TEST 8: coverage above 100%
--- abtest
abtest_experiment e {
    group    A 1;
    coverage 101%;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid coverage "101%" in experiment "e".*${\ ::at(3)}/



=== TEST 9: coverage finer than 0.01%
--- abtest
abtest_experiment e {
    group    A 1;
    coverage 0.001%;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid coverage "0\.001%" in experiment "e".*${\ ::at(3)}/



=== TEST 10: coverage twice
--- abtest
abtest_experiment e {
    group    A 1;
    coverage 20%;
    coverage 30%;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*"coverage" directive is duplicate${\ ::at(4)}/



=== TEST 11: a layer's share above 100
--- abtest
abtest_experiment a {
    group A 1;
}
abtest_layer homepage {
    a 100.5;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid share "100\.5" of experiment "a" in layer "homepage".*${\ ::at(5)}/



=== TEST 12: a layer's share finer than 0.01
--- abtest
abtest_experiment a {
    group A 1;
}
abtest_layer homepage {
    a 12.345;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid share "12\.345" of experiment "a" in layer "homepage".*${\ ::at(5)}/



=== TEST 13: a negative share
--- abtest
abtest_experiment a {
    group A 1;
}
abtest_layer homepage {
    a -5%;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid share "-5%" of experiment "a" in layer "homepage".*${\ ::at(5)}/



=== TEST 14: a layer's shares add up to more than 100%
--- abtest
abtest_experiment a {
    group A 1;
}
abtest_experiment b {
    group A 1;
}
abtest_experiment c {
    group A 1;
}
abtest_layer homepage {
    a 50;
    b 30%;
    c 20.01;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*the shares of layer "homepage" add up to more than 100% with experiment "c"${\ ::at(13)}/



=== TEST 15: an experiment listed twice in a layer
--- abtest
abtest_experiment a {
    group A 1;
}
abtest_layer homepage {
    a 10;
    a 20;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "a" is listed twice in layer "homepage"${\ ::at(6)}/



=== TEST 16: an unknown experiment in a layer (declared nowhere, found once all are read)
--- abtest
abtest_layer homepage {
    a 10;
    nosuch 20;
}
abtest_experiment a {
    group A 1;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown experiment "nosuch" in layer "homepage"${\ ::at(3)}/



=== TEST 17: an experiment in two layers
--- abtest
abtest_experiment a {
    group A 1;
}
abtest_layer one {
    a 10;
}
abtest_layer two {
    a 20;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "a" is in layer "one" and in layer "two"${\ ::at(8)}/



=== TEST 18: a layer declared twice
--- abtest
abtest_experiment a {
    group A 1;
}
abtest_experiment b {
    group A 1;
}
abtest_layer homepage {
    a 10;
}
abtest_layer homepage {
    b 10;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*duplicate layer "homepage".*${\ ::at(10)}/



=== TEST 19: a layer that lists no experiment
--- abtest
abtest_layer empty {
}
--- must_die
--- error_log eval
qr/\[emerg\] .*layer "empty" lists no experiment${\ ::at(2)}/



=== TEST 20: stop before start
--- abtest
abtest_experiment e {
    group A 1;
    start 2026-12-24T00:00:00Z;
    stop  2026-12-23T23:59:59.999Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" stops before it starts${\ ::at(4)}/



=== TEST 21: stop at start
--- abtest
abtest_experiment e {
    group A 1;
    start 2026-12-24T00:00:00.000Z;
    stop  2026-12-24T00:00:00Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" stops before it starts${\ ::at(4)}/



=== TEST 22: stop before start, stop written first
--- abtest
abtest_experiment e {
    group A 1;
    stop  2026-12-24T00:00:00Z;
    start 2027-01-07T00:00:00Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" stops before it starts${\ ::at(4)}/



=== TEST 23: a start that is a date only
--- abtest
abtest_experiment e {
    group A 1;
    # the fourth line
    start 2026-12-24;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid start time "2026-12-24" in experiment "e": use UTC, as in 2026-12-24T00:00:00Z${\ ::at(4)}/



=== TEST 24: a start without Z
--- abtest
abtest_experiment e {
    group A 1;
    start 2026-12-24T00:00:00;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid start time "2026-12-24T00:00:00" in experiment "e": use UTC, as in 2026-12-24T00:00:00Z${\ ::at(3)}/



=== TEST 25: a start with a time zone offset
--- abtest
abtest_experiment e {
    group A 1;
    start 2026-12-24T00:00:00+01:00;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid start time "2026-12-24T00:00:00\+01:00" in experiment "e": use UTC/



=== TEST 26: a start on February 30th
--- abtest
abtest_experiment e {
    group A 1;
    start 2026-02-30T00:00:00Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid start time "2026-02-30T00:00:00Z" in experiment "e": use UTC.*${\ ::at(3)}/



=== TEST 27: a start at hour 24
--- abtest
abtest_experiment e {
    group A 1;
    start 2026-12-24T24:00:00Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid start time "2026-12-24T24:00:00Z" in experiment "e": use UTC.*${\ ::at(3)}/



=== TEST 28: a start that is a word
--- abtest
abtest_experiment e {
    group A 1;
    start tomorrow;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid start time "tomorrow" in experiment "e": use UTC.*${\ ::at(3)}/



=== TEST 29: February 29th of a year that is no leap year
--- abtest
abtest_experiment e {
    group A 1;
    stop  2027-02-29T00:00:00Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid stop time "2027-02-29T00:00:00Z" in experiment "e": use UTC.*${\ ::at(3)}/



=== TEST 30: a bad stop time
--- abtest
abtest_experiment e {
    group A 1;
    start 2026-12-24T00:00:00Z;
    stop  2027-13-01T00:00:00Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid stop time "2027-13-01T00:00:00Z" in experiment "e": use UTC, as in 2026-12-24T00:00:00Z${\ ::at(4)}/



=== TEST 31: start twice
--- abtest
abtest_experiment e {
    group A 1;
    start 2026-12-24T00:00:00Z;
    start 2026-12-25T00:00:00Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*"start" directive is duplicate${\ ::at(4)}/



=== TEST 32: stop twice
--- abtest
abtest_experiment e {
    group A 1;
    stop 2026-12-24T00:00:00Z;
    stop 2026-12-25T00:00:00Z;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*"stop" directive is duplicate${\ ::at(4)}/



=== TEST 33: target twice
--- abtest
abtest_experiment e {
    group  A 1;
    target $http_x_a;
    target $http_x_b;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*"target" directive is duplicate${\ ::at(4)}/



=== TEST 34: abtest with neither on, off nor a variable
--- server
abtest maybe;
--- http_config
abtest_experiment e {
    group A 1;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "maybe".*${\ ::at(1, 'server.conf')}/



=== TEST 35: abtest_layer is for the http level only
--- server
# the second line
abtest_layer homepage {
    e 10;
}
--- http_config
abtest_experiment e {
    group A 1;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_layer" directive is not allowed here${\ ::at(2, 'server.conf')}/



=== TEST 36: abtest_holdout is for the http level only
--- server
abtest_holdout 5%;
--- http_config
abtest_experiment e {
    group A 1;
}
--- must_die
--- error_log eval
qr/\[emerg\] .*"abtest_holdout" directive is not allowed here${\ ::at(1, 'server.conf')}/



=== TEST 37: the issue's configuration contract is accepted, with the bounds of every share
--- abtest
map $http_user_agent $ab_human { ~*(bot|crawl|spider|preview) 0; default 1; }
map $cookie_country $ab_country_ok { DE 1; default 0; }
abtest_zone zone=abtest:1m;
abtest_holdout 5%;
abtest_layer homepage {                # experiments of a layer share no device
    homepage_button_test 50;           # share of the layer's devices, in percent
    headline_test        50;
}
abtest_layer full {
    whole 100%;
}
abtest_layer edges {
    tiny 0.01;
    none 0%;
}
abtest_experiment homepage_button_test {
    group A 50; group B 50; fallback A;
    target   $ab_country_ok;           # enters only where the value is neither empty nor "0"
    coverage 20%;                      # share of eligible devices that enter (0-100%, 0.01% steps)
    start    2026-12-24T00:00:00Z;     # optional schedule: active from, inactive after
    stop     2027-01-07T00:00:00Z;
}
abtest_experiment headline_test {
    group Future 1; group Journey 1;
    coverage 100%;
    start 2026-12-24T00:00:00.123Z;
}
abtest_experiment whole { group A 1; coverage 0%; }
abtest_experiment tiny { group A 1; coverage 0.01%; }
abtest_experiment none { group A 1; stop 2099-01-01T00:00:00Z; }
abtest_experiment leap { group A 1; start 2028-02-29T23:59:59.999Z; }
--- config
    abtest $ab_human;
    location /api/experiments {
        abtest_api experiments;
    }
--- request
GET /api/experiments
--- json eval
sub {
    my ($j) = @_;
    my @got = map { [$_, @{ $j->{$_} }{qw(coverage holdout)},
                     $j->{$_}{layer} ? @{ $j->{$_}{layer} }{qw(name from to)}
                                     : (undef) x 3] }
              qw(homepage_button_test headline_test whole tiny none);
    return "leap: start $j->{leap}{start}"
        if $j->{leap}{start} ne '2028-02-29T23:59:59.999Z';
    ::match_json(\@got, [
        ['homepage_button_test', ::approx(0.2), ::approx(0.05), 'homepage',
         ::approx(0), ::approx(0.5)],
        ['headline_test', ::approx(1), ::approx(0.05), 'homepage', ::approx(0.5),
         ::approx(1)],
        ['whole', ::approx(0), ::approx(0.05), 'full', ::approx(0), ::approx(1)],
        ['tiny', ::approx(0.0001), ::approx(0.05), 'edges', ::approx(0),
         ::approx(0.0001)],
        ['none', ::approx(1), ::approx(0.05), 'edges', ::approx(0.0001),
         ::approx(0.0001)],
    ]);
}
--- no_error_log
[emerg]
[error]



=== TEST 38: holdout 0% and 100% are shares too
--- abtest
abtest_holdout 100%;
abtest_experiment e { group A 1; }
--- config
    abtest on;
    location = /api/expgroups {
        abtest_api expgroups;
    }
--- request
GET /api/expgroups?device_id=d1
--- json eval
{ e => { state => 'active', active => \1, fallback => 'A', assigned => 'A',
         group => 'A', in_experiment => \0, reason => 'holdout' } }
--- no_error_log
[emerg]
[error]
