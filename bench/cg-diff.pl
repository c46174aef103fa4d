#!/usr/bin/perl
# bench/cg-diff.pl SHORT.out LONG.out REQUESTS [N]
# Per request, the inclusive instructions of each function: the longer
# callgrind run's minus the shorter one's, over the REQUESTS more it
# served (bench/run.sh with CG_KEEP=1 keeps both as
# results/callgrind-KIND.1.out and .out), which cancels start-up and
# shut-down as bench/lib.sh's total does; the N (40) largest.

use strict;
use warnings;

my ($short, $long, $requests, $n) = @ARGV;
die "usage: $0 SHORT.out LONG.out REQUESTS [N]\n" if !$requests;
$n ||= 40;

sub inclusive {
    my ($file) = @_;
    my %ir;
    open my $fh, '-|', "callgrind_annotate --inclusive=yes --threshold=100"
        . " '$file' 2>/dev/null" or die "$file: $!";
    while (<$fh>) {
        next if !/^\s*([\d,]+)\s+\([^)]*\)\s+(\S.*?)\s*$/;
        my ($v, $f) = ($1, $2);
        $v =~ tr/,//d;
        $f =~ s/ \[.*\]$//;
        $ir{$f} //= $v;
    }
    close $fh;
    return \%ir;
}

my ($one, $two) = (inclusive($short), inclusive($long));
my %d = map { $_ => (($two->{$_} // 0) - ($one->{$_} // 0)) / $requests }
        keys %$two;

my $i = 0;
for my $f (sort { $d{$b} <=> $d{$a} } keys %d) {
    last if $i++ >= $n;
    printf "%9.0f  %s\n", $d{$f}, $f;
}
