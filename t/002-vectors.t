# vim:set ft= ts=4 sw=4 et fdm=marker:

# Assignment is bit-exact with the seed demo's Python assign_group(): the
# 3000 reference rows of t/data/seed-assign.tsv (computed with the seed's
# own rule), checked against an independent Perl oracle (Digest::SHA and
# Math::BigInt), for every experiment of the file at once.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group);

our (@Experiments, %Groups, @Requests, @Bodies);

open my $tsv, '<', 't/data/seed-assign.tsv' or die "seed-assign.tsv: $!";
<$tsv>;

my @rows;
while (my $line = <$tsv>) {
    chomp $line;
    my ($device, $exp, $groups, $want) = split /\t/, $line;

    if (!$Groups{$exp}) {
        push @Experiments, $exp;
        $Groups{$exp} = [map { [split /:/] } split /,/, $groups];
    }

    # the two oracles must agree before they judge the module
    my $oracle = seed_group($device, $exp, $Groups{$exp});
    die "oracle disagrees with the seed for $device:$exp: $oracle ne $want"
        if $oracle ne $want;

    push @rows, $device;
}

for my $device (@rows) {
    push @Requests, "GET /vec?id=$device";
    push @Bodies, join(',', map { "$_=" . seed_group($device, $_, $Groups{$_}) }
                            @Experiments) . "\n";
}

our $HttpConfig = join '', map {
    my $exp = $_;
    "abtest_experiment $exp {\n"
    . join('', map { "    group $_->[0] $_->[1];\n" } @{ $Groups{$exp} })
    . "}\n"
} @Experiments;

our $Config = <<'_EOC_';
    location = /vec {
        # the device cookie of each reference row, sent through a proxy
        proxy_set_header Cookie "device_id=$arg_id";
        proxy_pass http://127.0.0.1:$server_port/assign;
    }

    location = /assign {
        abtest on;
        return 200 "$ab_groups\n";
    }
_EOC_

no_shuffle();
no_long_string();
run_tests();

__DATA__

=== TEST 1: 3000 reference devices, all six experiments of the vectors
--- http_config eval: $::HttpConfig
--- config eval: $::Config
--- request eval: [@::Requests]
--- response_body eval: [@::Bodies]
--- no_error_log
[error]
[alert]



=== TEST 2: "group A 1; group B 1" is the seed's parity rule (steps 2-4)
--- http_config
abtest_experiment homepage_button_test {
    group A 1;
    group B 1;
}
--- config eval: $::Config
--- request eval: [map { "GET /vec?id=parity-device-$_" } 1 .. 200]
--- response_body eval
use Digest::SHA qw(sha256);
# step 2: 'A' if int(sha256(key), big-endian) % 2 == 0 else 'B'; the
# parity of the number is the parity of its last byte
[map {
    my $last = ord substr sha256("parity-device-$_:homepage_button_test"), -1;
    "homepage_button_test=" . ($last % 2 == 0 ? "A" : "B") . "\n"
} 1 .. 200]
--- no_error_log
[error]
