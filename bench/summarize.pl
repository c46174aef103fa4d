#!/usr/bin/perl
# bench/summarize.pl RESULTS_DIR ROUNDS IR_BARE IR_AB_NEW IR_AB_RET IR_UID_NEW IR_UID_RET
# bench/summarize.pl RESULTS_DIR ROUNDS KIND... -- IR...
# Medians of the wrk rounds, paired ratios against the first kind (the
# bare server), callgrind table.

use strict;
use warnings;

my ($dir, $rounds, @args) = @ARGV;
my @kinds = qw(bare abtest-new abtest-returning userid-new userid-returning);
my @ir = @args;

if (grep { $_ eq '--' } @args) {
    @kinds = ();
    push @kinds, shift @args while $args[0] ne '--';
    shift @args;
    @ir = @args;
}

my $bare = $kinds[0];

sub median {
    my @v = sort { $a <=> $b } @_;
    return 0 if !@v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub us {
    my ($v, $unit) = @_;
    return $v * 1000 if $unit eq 'ms';
    return $v * 1e6 if $unit eq 's';
    return $v;
}

my (%rps, %p50, %p99);

for my $k (@kinds) {
    for my $r (1 .. $rounds) {
        open my $fh, '<', "$dir/wrk-$k-$r.txt" or die "$dir/wrk-$k-$r.txt: $!";
        while (<$fh>) {
            push @{ $rps{$k} }, $1 if /^Requests\/sec:\s+([\d.]+)/;
            push @{ $p50{$k} }, us($1, $2) if /^\s+50%\s+([\d.]+)(us|ms|s)/;
            push @{ $p99{$k} }, us($1, $2) if /^\s+99%\s+([\d.]+)(us|ms|s)/;
        }
        close $fh;
    }
}

print "| kind | median req/s | min-max req/s | paired ratio vs $bare | p50 µs | p99 µs |\n";
print "|---|---|---|---|---|---|\n";

for my $k (@kinds) {
    my @r = @{ $rps{$k} };
    my @ratio = map { $rps{$k}[$_] / $rps{$bare}[$_] } 0 .. $#r;
    my @s = sort { $a <=> $b } @r;
    printf "| %s | %.0f | %.0f-%.0f | %.3f | %.0f | %.0f |\n",
        $k, median(@r), $s[0], $s[-1], median(@ratio),
        median(@{ $p50{$k} }), median(@{ $p99{$k} });
}

print "\n| kind | instructions per request | added vs $bare |\n|---|---|---|\n";

for my $i (0 .. $#kinds) {
    printf "| %s | %d | %s |\n", $kinds[$i], $ir[$i],
        $i ? sprintf("%+d", $ir[$i] - $ir[0]) : '-';
}

printf "\nrounds: %d; wrk -t1 -c32, 1 worker pinned to CPU 1, wrk on CPU 0\n",
    $rounds;
