package ABTest::Oracle;

# The seed demo's assign_group() in Perl, used as the tests' independent
# oracle: Digest::SHA for the hash, Math::BigInt for the 256-bit modulo,
# nothing shared with the module's C code.
#
#   seed_group($device_id, $experiment, [[name, weight], ...])
#       the group the seed's weighted rule (steps 5-9) gives
#   seed_bucket($device_id, $experiment, $total)
#       int(sha256("<device_id>:<experiment>"), big-endian) % total
#   keyed_group($key, $device_id, $experiment, [[name, weight], ...])
#       the group of "assign random": the same walk, with the number
#       int(HMAC-SHA-256 of "<device_id>:<experiment>" under $key, the
#       zone's 32-byte secret, big-endian) % total
#   counted_as($event, $group, $generation)
#       what an event's "counted" says of an experiment that counts it in
#       $group: the group, the generation ("A,B"), a statistics start,
#       the name's role (the default exposure pageview, goal button_click)
#   node_name()
#       the server's default node: the host name, as nginx has it
#
# Who enters an experiment (issue 15), each share in 10000 buckets by a
# hash of its own:
#
#   share_bucket($text)
#       int(sha256($text), big-endian) % 10000, with Math::BigInt
#   fold_bucket($text, $total)
#       the same number (% $total, at most 2^31) folded from the digest's
#       16-bit words, without Math::BigInt: fast enough for 100,000
#       devices; t/027-target.t checks it against share_bucket(),
#       seed_bucket() and Python's int.from_bytes() first
#   holdout_bucket($device), layer_bucket($device, $layer),
#   coverage_bucket($device, $experiment)
#       the buckets of "<device>:holdout", "<device>:layer:<layer>",
#       "<device>:<experiment>:coverage"
#   fast_group($device_id, $experiment, [[name, weight], ...])
#       seed_group() by fold_bucket()
#   entry_reason($device, $experiment, {excluded => 0|1,
#                schedule => 0|1 (outside it), holdout => of 10000,
#                target => 0|1 (given and false), layer => [name, from,
#                to] (of 10000), coverage => of 10000 (default 10000)})
#       undef when the device enters the experiment, else the first
#       reason of: excluded, schedule, holdout, target, layer, coverage

use strict;
use warnings;

use Digest::SHA qw(sha256 sha256_hex hmac_sha256_hex);
use Math::BigInt;
use Sys::Hostname ();
use Exporter 'import';

our @EXPORT_OK = qw(seed_group seed_bucket keyed_group counted_as
                    node_name share_bucket fold_bucket holdout_bucket
                    layer_bucket coverage_bucket fast_group entry_reason);


sub counted_as {
    my ($event, $group, $generation) = @_;
    my $role = { pageview => 'exposure', button_click => 'goal' }->{$event}
               // 'event';
    return { group => $group, groups => $generation,
             start => qr/^\d{13}$/, role => $role };
}


# nginx lower-cases gethostname()'s answer
sub node_name { lc Sys::Hostname::hostname() }


sub seed_bucket {
    my ($device_id, $experiment, $total) = @_;

    my $h = Math::BigInt->from_hex(sha256_hex("$device_id:$experiment"));

    return $h->bmod($total)->numify;
}


sub seed_group {
    my ($device_id, $experiment, $groups) = @_;

    my $total = 0;
    $total += $_->[1] for @$groups;

    my $m = seed_bucket($device_id, $experiment, $total);

    # the seed walks sorted(groups.items()): byte order of the names
    my $upper = 0;
    for my $g (sort { $a->[0] cmp $b->[0] } @$groups) {
        $upper += $g->[1];
        return $g->[0] if $m < $upper;
    }

    die "no group for $device_id:$experiment";
}


sub keyed_group {
    my ($key, $device_id, $experiment, $groups) = @_;

    my $total = 0;
    $total += $_->[1] for @$groups;

    my $h = Math::BigInt->from_hex(hmac_sha256_hex("$device_id:$experiment",
                                                   $key));
    my $m = $h->bmod($total)->numify;

    my $upper = 0;
    for my $g (sort { $a->[0] cmp $b->[0] } @$groups) {
        $upper += $g->[1];
        return $g->[0] if $m < $upper;
    }

    die "no group for $device_id:$experiment";
}


sub share_bucket {
    my ($text) = @_;
    return Math::BigInt->from_hex(sha256_hex($text))->bmod(10000)->numify;
}


# Horner's rule on the digest's sixteen 16-bit words, big-endian: every
# step stays below 2^47, exact in Perl's integers
sub fold_bucket {
    my ($text, $total) = @_;
    my $r = 0;
    $r = ($r * 65536 + $_) % $total for unpack 'n16', sha256($text);
    return $r;
}


sub holdout_bucket { fold_bucket("$_[0]:holdout", 10000) }

sub layer_bucket { fold_bucket("$_[0]:layer:$_[1]", 10000) }

sub coverage_bucket { fold_bucket("$_[0]:$_[1]:coverage", 10000) }


sub fast_group {
    my ($device_id, $experiment, $groups) = @_;

    my $total = 0;
    $total += $_->[1] for @$groups;

    my $m = fold_bucket("$device_id:$experiment", $total);

    my $upper = 0;
    for my $g (sort { $a->[0] cmp $b->[0] } @$groups) {
        $upper += $g->[1];
        return $g->[0] if $m < $upper;
    }

    die "no group for $device_id:$experiment";
}


# the contract's order: the first check that applies is the reason
sub entry_reason {
    my ($device, $experiment, $o) = @_;

    return 'excluded' if $o->{excluded};
    return 'schedule' if $o->{schedule};
    return 'holdout'
        if $o->{holdout} && holdout_bucket($device) < $o->{holdout};
    return 'target' if $o->{target};

    if (my $l = $o->{layer}) {
        my $b = layer_bucket($device, $l->[0]);
        return 'layer' if $b < $l->[1] || $b >= $l->[2];
    }

    my $coverage = $o->{coverage} // 10000;
    return 'coverage'
        if $coverage < 10000 && coverage_bucket($device, $experiment)
                                >= $coverage;

    return undef;
}


1;
