#!/usr/bin/perl
# bench/side-by-side.pl RESULTS_DIR
# The table of `make bench`: per path, bare, this module, nginx's userid +
# split_clients and the OpenResty peer side by side, from the --tsv files
# of bench/run.sh (run.tsv) and bench/events.sh (events.tsv).  Each cell:
# the median ratio against bare (every run between two runs of bare), the
# ratios' min-max over the rounds, and the instructions per request
# under callgrind.

use strict;
use warnings;

my ($dir) = @ARGV;
die "usage: $0 RESULTS_DIR\n" if !defined $dir;

my %k;
for my $f ("$dir/run.tsv", "$dir/events.tsv") {
    open my $fh, '<', $f or next;
    while (<$fh>) {
        chomp;
        my ($kind, $ratio, $min, $max, $rps, $ir) = split /\t/;
        $k{$kind} = { ratio => $ratio, min => $min, max => $max,
                      rps => $rps, ir => $ir };
    }
    close $fh;
}

my @rows = (
    [ 'returning device', 'bare', 'abtest-returning', 'userid-returning',
      'openresty-returning' ],
    [ 'new device', 'bare', 'abtest-new', 'userid-new', 'openresty-new' ],
    [ 'new device, 20 experiments, only $ab_group', 'bare',
      'abtest-lazy-new', undef, undef ],
    [ 'events POST (200 bytes, new device)', 'bare-post', 'events-buffered',
      undef, 'openresty-events' ],
    [ 'events POST, log written each loop pass', 'bare-post', 'events',
      undef, undef ],
);

sub cell {
    my ($kind, $bare) = @_;
    return '-' if !defined $kind || !$k{$kind};
    my $c = $k{$kind};
    my $s = sprintf '%.3f (%.3f-%.3f), %d Ir', $c->{ratio}, $c->{min},
                    $c->{max}, $c->{ir};
    $s .= sprintf ' (%+d)', $c->{ir} - $k{$bare}{ir}
        if $kind ne $bare && $k{$bare};
    return $s;
}

print "| path | bare | this module | userid + split_clients | OpenResty (Lua) |\n";
print "|---|---|---|---|---|\n";

for my $r (@rows) {
    my ($name, $bare, @kinds) = @$r;
    next if !$k{ $kinds[0] };
    print "| $name | ", join(' | ', map { cell($_, $bare) } $bare, @kinds),
          " |\n";
}

print "\nratio vs bare: median (min-max) over the rounds, each run between"
    . " two runs of bare; Ir: user-space instructions per request under"
    . " callgrind (added vs bare)\n";
