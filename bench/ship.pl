#!/usr/bin/perl
# bench/ship.sh's helper.
#
#   ship.pl lines NODE N DEVICES START_MS
#       N event lines as a server writes them (two experiments counted,
#       80% pageviews, 20% button_clicks of DEVICES devices), to stdout
#   ship.pl post RATE SECONDS OUT PORT...
#       posts RATE events/s in all for SECONDS, one event per request
#       over keep-alive connections (4 processes), round robin over the
#       servers, each event from a device of its own ("L<n>"); writes
#       "<device> <acknowledged at, s since the epoch>" per 200 to OUT
#   ship.pl lag ACKS STORED
#       ACKS from post, STORED "<device> <stored_at epoch>" from the
#       store: p50, p99, max of stored - acknowledged (ms), and how many
#       never arrived

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

my $what = shift // die "usage: ship.pl lines|post|lag ...\n";

if ($what eq 'lines') {
    my ($node, $n, $devices, $start) = @ARGV;
    srand(length $node);
    my $id = $start * 1000;
    for my $i (1 .. $n) {
        my $d = 'dev-' . int(rand($devices));
        my $goal = rand() < 0.2;
        my $ev = $goal ? 'button_click' : 'pageview';
        my $role = $goal ? 'goal' : 'exposure';
        my $g1 = (ord(substr($d, -1)) % 2) ? 'A' : 'B';
        my $g2 = (ord(substr($d, -2, 1)) % 2) ? 'Future' : 'Journey';
        my $ms = $start + int($i / 10);
        my @t = gmtime(int($ms / 1000));
        my $at = sprintf('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ',
                         $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0],
                         $ms % 1000);
        $id++;
        print qq({"id":$id,"node":"$node","received":"$at","ts":"$at",)
            . qq("source":"browser","event":"$ev","deviceId":"$d",)
            . qq("device_id":"$d","params":{"btn_type":"$g1"},)
            . qq("groups":{"homepage_button_test":"$g1",)
            . qq("headline_test":"$g2"},"counted":{"homepage_button_test":)
            . qq({"group":"$g1","groups":"A,B","start":$start,)
            . qq("role":"$role"},"headline_test":{"group":"$g2",)
            . qq("groups":"Future,Journey","start":$start,)
            . qq("role":"event"}}}\n);
    }
    exit 0;
}

if ($what eq 'post') {
    # a closed connection is said by the write, not a signal
    $SIG{PIPE} = 'IGNORE';
    my ($rate, $seconds, $out, @ports) = @ARGV;
    my $procs = 4;
    my @kids;
    for my $p (1 .. $procs) {
        my $pid = fork // die "fork: $!";
        if ($pid) {
            push @kids, $pid;
            next;
        }
        open my $fh, '>', "$out.$p" or die "$out.$p: $!";
        my $connect = sub {
            my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$_[0]",
                                          Proto => 'tcp');
            return $c || die "connect $_[0]: $!";
        };
        my @conn = map { $connect->($_) } @ports;
        my $every = $procs / $rate;
        my $t0 = time;
        my $next = $t0 + ($p - 1) * $every / $procs;
        my ($n, $refused) = (0, 0);
        while ($next < $t0 + $seconds) {
            my $wait = $next - time;
            sleep $wait if $wait > 0;
            my $d = "L$p-$n";
            my $body = qq({"deviceId":"$d","event":"pageview",)
                       . qq("source":"bench"});
            my $k = $n % @conn;
            my $request = "POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          . "Content-Type: application/json\r\n"
                          . 'Content-Length: ' . length($body)
                          . "\r\n\r\n$body";
            # a keep-alive connection the server closed (its
            # keepalive_requests, a reload): once more on a new one
            my $status = eval {
                print { $conn[$k] } $request;
                (read_answer($conn[$k]))[0];
            };
            if (!defined $status) {
                $conn[$k] = $connect->($ports[$k]);
                print { $conn[$k] } $request;
                ($status) = read_answer($conn[$k]);
            }
            if ($status == 200) {
                printf $fh "%s %.6f\n", $d, time;
            } else {
                warn "ship.pl: $status for $d\n" if !$refused++;
            }
            $n++;
            $next += $every;
        }
        close $fh;
        warn "ship.pl: $refused events refused\n" if $refused;
        POSIX::_exit(0);
    }
    waitpid($_, 0) for @kids;
    open my $all, '>', $out or die "$out: $!";
    for my $p (1 .. $procs) {
        open my $fh, '<', "$out.$p" or die "$out.$p: $!";
        print $all $_ while <$fh>;
        close $fh;
        unlink "$out.$p";
    }
    close $all;
    exit 0;
}

if ($what eq 'lag') {
    my ($acks, $stored) = @ARGV;
    my (%ack, %at);
    open my $af, "<", $acks or die "$acks: $!";
    while (<$af>) { my ($d, $t) = split; $ack{$d} = $t; }
    close $af;
    open my $s, '<', $stored or die "$stored: $!";
    while (<$s>) { my ($d, $t) = split; $at{$d} = $t; }
    close $s;
    my @lag = sort { $a <=> $b }
              map { 1000 * ($at{$_} - $ack{$_}) } grep { $at{$_} } keys %ack;
    my $missing = grep { !$at{$_} } keys %ack;
    my $pct = sub { @lag ? $lag[int($_[0] * $#lag + 0.5)] : 0 };
    printf "%d acknowledged, %d missing, lag ms p50 %.1f p99 %.1f max %.1f\n",
           scalar(keys %ack), $missing, $pct->(0.5), $pct->(0.99),
           @lag ? $lag[-1] : 0;
    exit 0;
}

die "ship.pl: unknown $what\n";


sub read_answer {
    my ($c) = @_;
    my $head = '';
    while ($head !~ /\r\n\r\n/) {
        my $n = sysread $c, $head, 4096, length $head;
        die "the server closed the connection" if !$n;
    }
    my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    my ($len) = $head =~ /Content-Length: (\d+)/i;
    my $body = substr($head, index($head, "\r\n\r\n") + 4);
    while (length $body < ($len // 0)) {
        my $n = sysread $c, $body, 4096, length $body;
        die "the server closed the connection" if !$n;
    }
    return ($status, $len);
}
