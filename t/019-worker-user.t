# vim:set ft= ts=4 sw=4 et fdm=marker:

# The README's Synopsis on a stock Debian nginx: the workers run as
# another user than the master (root), and the state file's directory
# does not exist yet; the master makes it and gives it to the workers, so
# that updates are saved.

BEGIN {
    # both runners read it when they are loaded
    $ENV{TEST_NGINX_WORKER_USER} = 'nobody nogroup';
}

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Json qw(json_body_check match_json decode http);
use File::Temp qw(tempdir);

our $Dir;

BEGIN {
    # a directory the workers' user may pass through, wherever the
    # checkout is (mktemp -d makes 0700 ones)
    $Dir = tempdir('abtest-user-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $Dir;
    $ENV{TEST_NGINX_STATE_DIR} = "$Dir/abtest";
}

master_on();
workers(1);

our $HttpConfig = <<'_EOC_';
    abtest_zone zone=abtest:1m state=$TEST_NGINX_STATE_DIR/state.json;

    abtest_experiment homepage_button_test {
        group A 50;
        group B 50;
    }
_EOC_

our $Config = <<'_EOC_';
    location /api/experiments {
        abtest_api experiments write=on;
    }
_EOC_

json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        if !defined $block->http_config;
    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('no_error_log', "[error]\n[alert]\n[warn]\n")
        if !defined $block->no_error_log;
});

my $skip = $> != 0 ? 'needs root: the workers run as another user'
           : !getpwnam('nobody') ? 'no user "nobody"'
           : undef;

if ($skip) {
    plan(skip_all => $skip);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the state directory is made by the master, owned by the workers' user, and an update is saved there
--- request
POST /api/experiments/update
{"name": "homepage_button_test", "groups": {"A": 30, "B": 70}}
--- more_headers
Content-Type: application/json
--- json eval
sub {
    my ($got) = @_;
    my $e = ::match_json($got->{homepage_button_test}{groups},
                         { A => 30, B => 70 });
    return $e if $e;

    my $dir = "$::Dir/abtest";
    my @st = stat $dir or return "$dir: $!";
    my $nobody = getpwnam('nobody');
    return "$dir is owned by uid $st[4], not nobody ($nobody)"
        if $st[4] != $nobody;
    return sprintf("$dir has mode %o, expected 700", $st[2] & 07777)
        if ($st[2] & 07777) != 0700;

    my @file = stat "$dir/state.json" or return "$dir/state.json: $!";
    return sprintf("the state file has mode %o, expected 600",
                   $file[2] & 07777)
        if ($file[2] & 07777) != 0600;

    open my $fh, '<', "$dir/state.json" or return "$dir/state.json: $!";
    my $state = ::decode(do { local $/; <$fh> });
    close $fh;

    return ::match_json($state->{experiments}{homepage_button_test}{groups},
                      { A => 30, B => 70 });
}



=== TEST 2: a state directory the workers cannot write to is said at start (and nginx -t), and updates answer 500
--- http_config eval
my $dir = "$::Dir/root-only";
mkdir $dir, 0755;
"    abtest_zone zone=abtest:1m state=$dir/state.json;

    abtest_experiment homepage_button_test {
        group A 50;
        group B 50;
    }"
--- request
POST /api/experiments/update
{"name": "homepage_button_test", "groups": {"A": 40, "B": 60}}
--- more_headers
Content-Type: application/json
--- error_code: 500
--- json eval
{ error => 'the change is live, but the state file could not be written: see the error log' }
--- error_log eval
[qr/\[warn\] .*abtest: the state file's directory "\S+root-only" is not writable by the workers \(user "nobody"\): updates will answer 500 and be lost on restart/,
 qr/\[error\] .*abtest: cannot write the state file/]
--- no_error_log
[alert]
