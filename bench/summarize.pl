#!/usr/bin/perl
# bench/summarize.pl RESULTS_DIR ROUNDS IR_BARE IR_AB_NEW IR_AB_RET IR_UID_NEW IR_UID_RET
# bench/summarize.pl RESULTS_DIR ROUNDS KIND... -- IR...
# bench/summarize.pl --sequence FILE [--pair KIND=OTHER]... [--tsv FILE]
#                    RESULTS_DIR ROUNDS KIND... -- IR...
# Medians of the wrk rounds, ratios against the first kind (the bare
# server), callgrind table.
#
# Without --sequence, RESULTS_DIR/wrk-KIND-ROUND.txt are ROUNDS rounds in
# which every kind ran once, and a kind's ratio in a round is against the
# same round's bare run.  With --sequence, FILE lists the runs in the
# order they ran ("KIND FILE" a line, FILE in RESULTS_DIR), every run of
# another kind between two of the first, and a run's ratio is against
# the mean of those two.  --pair KIND=OTHER adds a table of KIND against
# OTHER (the same server with one thing more): their ratios and the
# instructions KIND adds.  --tsv FILE also writes, a line per kind and
# tab-separated: the kind, its median ratio, the ratios' min and max, its
# median req/s and its instructions per request (bench/side-by-side.pl).

use strict;
use warnings;

# the options come first (not Getopt::Long: "--" is an argument here)
my ($sequence, @pairs, $tsv);
while (@ARGV && $ARGV[0] =~ /^--(sequence|pair|tsv)$/) {
    my ($opt, $v) = splice @ARGV, 0, 2;
    die "$0: $opt needs a value\n" if !defined $v;
    if ($opt eq '--sequence') { $sequence = $v }
    elsif ($opt eq '--tsv') { $tsv = $v }
    else { push @pairs, $v }
}

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

my (%rps, %p50, %p99, %ratio);

# one wrk output: req/s, p50, p99 (µs)
sub wrk {
    my ($file) = @_;
    my @v;
    open my $fh, '<', "$dir/$file" or die "$dir/$file: $!";
    while (<$fh>) {
        $v[0] = $1 if /^Requests\/sec:\s+([\d.]+)/;
        $v[1] = us($1, $2) if /^\s+50%\s+([\d.]+)(us|ms|s)/;
        $v[2] = us($1, $2) if /^\s+99%\s+([\d.]+)(us|ms|s)/;
    }
    close $fh;
    die "$dir/$file: no wrk results\n" if !defined $v[0];
    return @v;
}

sub add {
    my ($k, @v) = @_;
    push @{ $rps{$k} }, $v[0];
    push @{ $p50{$k} }, $v[1];
    push @{ $p99{$k} }, $v[2];
}

if (defined $sequence) {
    my @runs;
    open my $fh, '<', $sequence or die "$sequence: $!";
    while (<$fh>) {
        my ($k, $file) = split;
        push @runs, [$k, wrk($file)];
    }
    close $fh;

    for my $i (0 .. $#runs) {
        my ($k, @v) = @{ $runs[$i] };
        add($k, @v);
        next if $k eq $bare;
        die "$sequence: run $i ($k) is not between two runs of $bare\n"
            if $i == 0 || $i == $#runs || $runs[$i - 1][0] ne $bare
               || $runs[$i + 1][0] ne $bare;
        push @{ $ratio{$k} },
            $v[0] / (($runs[$i - 1][1] + $runs[$i + 1][1]) / 2);
    }
    # bare's against itself: each run against its two neighbours
    my @b = grep { $runs[$_][0] eq $bare } 0 .. $#runs;
    for my $j (1 .. $#b - 1) {
        push @{ $ratio{$bare} }, $runs[$b[$j]][1]
            / (($runs[$b[$j - 1]][1] + $runs[$b[$j + 1]][1]) / 2);
    }
    $ratio{$bare} ||= [1] if @runs;

} else {
    for my $k (@kinds) {
        add($k, wrk("wrk-$k-$_.txt")) for 1 .. $rounds;
    }
    for my $k (@kinds) {
        $ratio{$k} = [map { $rps{$k}[$_] / $rps{$bare}[$_] }
                      0 .. $#{ $rps{$k} }];
    }
}

my $against = defined $sequence
              ? "ratio vs $bare (its neighbours)" : "paired ratio vs $bare";

# ROUNDS=0: callgrind only
my $have_wrk = grep { $rps{$_} } @kinds;

print "| kind | median req/s | min-max req/s | $against | ratio min-max | p50 µs | p99 µs |\n"
    . "|---|---|---|---|---|---|---|\n" if $have_wrk;

for my $k ($have_wrk ? @kinds : ()) {
    my @s = sort { $a <=> $b } @{ $rps{$k} };
    my @r = sort { $a <=> $b } @{ $ratio{$k} };
    printf "| %s | %.0f | %.0f-%.0f | %.3f | %.3f-%.3f | %.0f | %.0f |\n",
        $k, median(@s), $s[0], $s[-1], median(@r), $r[0], $r[-1],
        median(@{ $p50{$k} }), median(@{ $p99{$k} });
}

print "\n" if $have_wrk;
print "| kind | instructions per request | added vs $bare |\n|---|---|---|\n";

my %ir;
for my $i (0 .. $#kinds) {
    $ir{ $kinds[$i] } = $ir[$i];
    printf "| %s | %d | %s |\n", $kinds[$i], $ir[$i],
        $i ? sprintf("%+d", $ir[$i] - $ir[0]) : '-';
}

if (@pairs) {
    print "\n| kind | against | its ratio vs $bare | the other's | quotient"
          . " | instructions | the other's | difference |\n"
          . "|---|---|---|---|---|---|---|---|\n";
    for (@pairs) {
        my ($k, $o) = split /=/;
        my ($rk, $ro) = (median(@{ $ratio{$k} }), median(@{ $ratio{$o} }));
        printf "| %s | %s | %.3f | %.3f | %.3f | %d | %d | %+d |\n",
            $k, $o, $rk, $ro, $rk / $ro, $ir{$k}, $ir{$o},
            $ir{$k} - $ir{$o};
    }
}

if (defined $tsv) {
    open my $fh, '>', $tsv or die "$tsv: $!";
    for my $k (@kinds) {
        my @r = sort { $a <=> $b } @{ $ratio{$k} || [0] };
        printf $fh "%s\t%.3f\t%.3f\t%.3f\t%.0f\t%d\n", $k, median(@r),
            $r[0], $r[-1], median(@{ $rps{$k} || [] }), $ir{$k};
    }
    close $fh;
}

printf "\nrounds: %d; wrk -t1 -c32, 1 worker pinned to CPU 1, wrk on CPU 0%s\n",
    $rounds, defined $sequence ? "; every run between two of $bare" : '';
