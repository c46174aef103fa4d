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

use strict;
use warnings;

use Digest::SHA qw(sha256_hex hmac_sha256_hex);
use Math::BigInt;
use Sys::Hostname ();
use Exporter 'import';

our @EXPORT_OK = qw(seed_group seed_bucket keyed_group counted_as
                    node_name);


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


1;
