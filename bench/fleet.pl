#!/usr/bin/perl
# bench/fleet.pl [options] PORT...   (run by bench/fleet.sh)
#
# Against the fleet's servers on 127.0.0.1:PORT... (each with
# abtest_store, all on one PostgreSQL) and a server without a store
# (--alone PORT, the same configuration otherwise):
#
# 1. Propagation: --writes updates of EXPERIMENT's weights, round robin
#    over the servers, each to new weights, one at a time.  From the
#    moment a write's 200 answer is read (the transaction is committed),
#    GET /api/experiments on every server in a tight loop (a new
#    connection each time, so that any worker may answer) until each
#    shows the new weights; a server's time is when the first answer
#    that shows them has been read (an upper bound, within one poll).
# 2. An update's own latency (connect, POST, the 200 answer read), with
#    the store (round robin over the fleet) and without (--alone), in
#    --rounds alternating runs of --latency-writes updates, the run
#    without a store first and last, so that every run with the store
#    lies between two without.
#
# Prints a Markdown report (bench/results/fleet.md).  Times come from
# CLOCK_MONOTONIC (Time::HiRes).

use strict;
use warnings;

use Getopt::Long;
use IO::Socket::INET;
use List::Util qw(shuffle);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC sleep);

my $writes = 100;
my $rounds = 5;
my $latency_writes = 40;
my $alone;
my $experiment = 'homepage_button_test';
my $timeout = 5;
my $gap = 0.02;

GetOptions('writes=i' => \$writes, 'rounds=i' => \$rounds,
           'latency-writes=i' => \$latency_writes, 'alone=i' => \$alone,
           'experiment=s' => \$experiment, 'timeout=f' => \$timeout,
           'gap=f' => \$gap)
    or die "usage: $0 [--writes N] [--rounds N] [--latency-writes N]"
           . " [--alone PORT] PORT...\n";

my @ports = @ARGV or die "$0: no servers\n";

sub now { clock_gettime(CLOCK_MONOTONIC) }


# one request on a new connection: (status, body)
sub http {
    my ($port, $method, $path, $body) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp')
        or die "connect 127.0.0.1:$port: $!\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);

    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              . "Connection: close\r\n";
    if (defined $body) {
        $req .= "Content-Type: application/json\r\n"
                . 'Content-Length: ' . length($body) . "\r\n";
    }
    $req .= "\r\n" . ($body // '');

    syswrite($s, $req) == length($req) or die "write: $!\n";

    my $resp = '';
    while (1) {
        my $n = sysread($s, $resp, 65536, length $resp);
        die "read: $!\n" if !defined $n;
        last if $n == 0;
    }
    close $s;

    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    return ($status // 0, $content // '');
}


sub weights_of {
    my ($json) = @_;
    my ($a, $b) = $json =~ /"\Q$experiment\E":\{[^{}]*"groups":\{"A":(\d+),"B":(\d+)\}/;
    return defined $a ? "$a/$b" : '';
}


sub update_body {
    my ($a, $b) = @_;
    return qq({"name":"$experiment","groups":{"A":$a,"B":$b}});
}


sub pct {
    my ($p, @v) = @_;
    return 0 if !@v;
    @v = sort { $a <=> $b } @v;
    # nearest rank
    my $i = int($p / 100 * @v + 0.999999) - 1;
    $i = 0 if $i < 0;
    return $v[$i];
}

sub median { pct(50, @_) }

sub ms { sprintf '%.2f', $_[0] * 1000 }


# every server ready: the store connected and read
for my $port (@ports) {
    my $deadline = now() + 10;
    while (1) {
        my ($st, $body) = eval { http($port, 'GET', '/api/status') };
        last if ($st // 0) == 200 && $body =~ /"connected":true/
                && $body =~ /"ready":true/;
        die "the server on $port is not connected to its store: "
            . ($body // $@) . "\n" if now() > $deadline;
        sleep 0.05;
    }
}


# 1. propagation
my (%seen, @all, %writer, %other, @polls, $n);
my $at_once = 0;
my $base = 10;

for my $i (0 .. $writes - 1) {
    my $w = $ports[$i % @ports];
    my ($a, $b) = ($base + $i, 1000 - $i);
    my $want = "$a/$b";

    my ($st, $body) = http($w, 'POST', '/api/experiments/update',
                           update_body($a, $b));
    my $t1 = now();

    die "update on $w: $st $body\n" if $st != 200;
    die "update on $w answered other weights: $body\n"
        if weights_of($body) ne $want;

    # the writer first, the others in a new order every pass (a server
    # polled later in a pass would be seen later)
    my %left = map { $_ => 1 } @ports;
    my $last = 0;
    my $pass = 0;
    while (%left) {
        $pass++;
        my @pass = shuffle(grep { $_ ne $w } keys %left);
        unshift @pass, $w if $left{$w};
        for my $port (@pass) {
            my $t = now();
            my ($gst, $gbody) = http($port, 'GET', '/api/experiments');
            my $t2 = now();
            push @polls, $t2 - $t;
            die "GET on $port: $gst\n" if $gst != 200;
            next if weights_of($gbody) ne $want;
            my $d = $t2 - $t1;
            push @{ $seen{$port} }, $d;
            push @{ ($port eq $w ? \%writer : \%other)->{$port} }, $d;
            $at_once++ if $port eq $w && $pass == 1;
            $last = $d if $d > $last;
            delete $left{$port};
        }
        if (%left && now() - $t1 > $timeout) {
            die "write $i (on $w): not seen on " . join(',', sort keys %left)
                . " after ${timeout}s\n";
        }
    }
    push @all, $last;
    $n++;
    sleep $gap;
}


# 2. an update's latency: alone, store, alone, ..., alone
my (%lat, %round_p50);
my $k = 0;

for my $r (1 .. $rounds * 2 + 1) {
    my $kind = $r % 2 ? 'alone' : 'store';
    next if $kind eq 'alone' && !defined $alone;
    my @v;
    for (1 .. $latency_writes) {
        my $port = $kind eq 'alone' ? $alone : $ports[$k % @ports];
        my ($a, $b) = (2000 + $k % 500, 3000 - $k % 500);
        $k++;
        my $t = now();
        my ($st, $body) = http($port, 'POST', '/api/experiments/update',
                               update_body($a, $b));
        my $d = now() - $t;
        die "update on $port: $st $body\n" if $st != 200;
        push @v, $d;
        sleep 0.002;
    }
    push @{ $lat{$kind} }, @v;
    push @{ $round_p50{$kind} }, median(@v);
}


# the report
my @names = map { "web" . ($_ + 1) } 0 .. $#ports;

print "## Propagation: a committed write to every server\n\n";
printf "%d writes, round robin over %d servers (2 workers each); the time"
       . " from the write's 200 answer until each server's"
       . " GET /api/experiments shows the new weights. A poll took %s ms"
       . " (median), the resolution.\n\n",
       $n, scalar @ports, ms(median(@polls));

print "| server | p50 ms | p99 ms | max ms | p50 ms as another server's write | max ms as another's |\n";
print "|---|---|---|---|---|---|\n";
for my $j (0 .. $#ports) {
    my $p = $ports[$j];
    printf "| %s (:%s) | %s | %s | %s | %s | %s |\n", $names[$j], $p,
        ms(median(@{ $seen{$p} })), ms(pct(99, @{ $seen{$p} })),
        ms(pct(100, @{ $seen{$p} })), ms(median(@{ $other{$p} || [] })),
        ms(pct(100, @{ $other{$p} || [] }));
}
printf "| **all three** (the last one) | %s | %s | %s | | |\n\n",
    ms(median(@all)), ms(pct(99, @all)), ms(pct(100, @all));

my @w = map { @{ $writer{$_} || [] } } @ports;
printf "The writing server itself shows its write at once: on the first"
       . " poll after the answer for %d of %d writes (p50 %s ms, max %s ms).\n\n",
       $at_once, $n, ms(median(@w)), ms(pct(100, @w));

print "## An update's latency (connect, POST, the 200 answer)\n\n";
printf "%d runs of %d updates with the store (round robin over the fleet),"
       . " each between two runs without a store (a server of the same"
       . " configuration without abtest_store).\n\n",
       scalar @{ $round_p50{store} || [] }, $latency_writes;

print "| kind | updates | p50 ms | p99 ms | max ms | per-run p50, min-max ms |\n";
print "|---|---|---|---|---|---|\n";
for my $kind (qw(alone store)) {
    next if !$lat{$kind};
    my @v = @{ $lat{$kind} };
    my @r = sort { $a <=> $b } @{ $round_p50{$kind} };
    printf "| %s | %d | %s | %s | %s | %s-%s |\n",
        $kind eq 'alone' ? 'without a store' : 'with the store',
        scalar @v, ms(median(@v)), ms(pct(99, @v)), ms(pct(100, @v)),
        ms($r[0]), ms($r[-1]);
}
