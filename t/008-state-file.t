# vim:set ft= ts=4 sw=4 et fdm=marker:

# The state file: a full restart keeps run-time changes; a corrupt,
# truncated, ill-fitting or unwritable file gives a clear error_log line
# and nginx starts from the configuration.

use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);

our $Dir;

BEGIN {
    $Dir = tempdir('abtest-state-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $ENV{TEST_NGINX_STATE_DIR} = $Dir;
}

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$Dir/$name" or die "$Dir/$name: $!";
    print $fh $text;
    close $fh;
}

write_file('corrupt.json', "{not json at all");
write_file('truncated.json',
           '{"version":1,"experiments":{"homepage_button_test":{"groups":{"A":');
write_file('misfit.json',
           '{"version":1,"experiments":{"homepage_button_test":'
           . '{"groups":{"A":1},"state":"active","rollout_group":null,'
           . '"configured":{"groups":{"A":1},"state":"active",'
           . '"rollout_group":null}}}}');
# a file where the state file's directory would be: it cannot be made
write_file('not-a-dir', '');

our $Config = <<'_EOC_';
    abtest on;
    location /api/experiments {
        abtest_api experiments write=on;
    }
_EOC_

sub http_config {
    my ($state) = @_;
    return <<"_EOC_";
    abtest_zone zone=abtest:1m state=$state;

    abtest_experiment homepage_button_test {
        group A 50;
        group B 50;
    }
_EOC_
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', $Config) if !defined $block->config;
});

# Test::Nginx checks error_log after every request of a block, by default
# against what that request logged; TEST 6's failed write is logged by the
# first of its two requests, so every check reads the block's whole log.
check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a change is written to the state file
--- http_config eval: ::http_config("$::Dir/state.json")
--- request
POST /api/experiments/update
{"name": "homepage_button_test", "groups": {"A": 20, "B": 80}, "state": "inactive"}
--- more_headers
Content-Type: application/json
--- response_body_like chomp
"groups":\{"A":20,"B":80\},"fallback":"A","state":"inactive"
--- no_error_log
[error]



=== TEST 2: after a restart, the state file gives the change back
--- http_config eval: ::http_config("$::Dir/state.json")
--- request
GET /api/experiments
--- response_body_like chomp
"groups":\{"A":20,"B":80\},"fallback":"A","state":"inactive","active":false,"rollout_group":null,"started":"[^"]+","ended":"[^"]+"
--- error_log
abtest: experiment "homepage_button_test" restored from the state file
--- no_error_log
[error]



=== TEST 3: a corrupt state file: error_log, start from the configuration
--- http_config eval: ::http_config("$::Dir/corrupt.json")
--- request
GET /api/experiments
--- response_body_like chomp
"groups":\{"A":50,"B":50\},"fallback":"A","state":"active"
--- error_log eval
qr/\[error\] .*abtest: state file "\S+corrupt.json" cannot be read, starting from the configuration: invalid JSON: /



=== TEST 4: a truncated state file: error_log, start from the configuration
--- http_config eval: ::http_config("$::Dir/truncated.json")
--- request
GET /api/experiments
--- response_body_like chomp
"groups":\{"A":50,"B":50\},"fallback":"A","state":"active"
--- error_log eval
qr/\[error\] .*abtest: state file "\S+truncated.json" cannot be read, starting from the configuration: invalid JSON: /



=== TEST 5: a state file that does not fit the experiment: error_log, configuration
--- http_config eval: ::http_config("$::Dir/misfit.json")
--- request
GET /api/experiments
--- response_body_like chomp
"groups":\{"A":50,"B":50\},"fallback":"A","state":"active"
--- error_log eval
qr/\[error\] .*abtest: state file "\S+misfit.json": experiment "homepage_button_test": groups: must name the 2 groups/



=== TEST 6: an unwritable state file (its directory cannot be made): nginx runs and says so; a change is live but answered 500
--- http_config eval: ::http_config("$::Dir/not-a-dir/state/state.json")
--- request eval
["POST /api/experiments/update\n{\"name\": \"homepage_button_test\", \"groups\": {\"A\": 1, \"B\": 3}}",
 "GET /api/experiments"]
--- more_headers
Content-Type: application/json
--- error_code eval
[500, 200]
--- response_body_like eval
[qr/^\{"error":"the change is live, but the state file could not be written: see the error log"\}$/,
 qr/"groups":\{"A":1,"B":3\}/]
--- error_log eval
[qr/\[warn\] .*abtest: the state file's directory "\S+not-a-dir\/state" cannot be made: run-time changes will not be saved/,
 qr/\[error\] .*abtest: cannot write the state file, open\(\) "\S+not-a-dir\/state\/state.json.tmp" failed/]
