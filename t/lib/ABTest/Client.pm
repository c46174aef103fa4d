package ABTest::Client;

# Many requests quickly: HTTP/1.1 keep-alive, pipelined in windows, with
# the status, headers and body of every answer (Test::Nginx sends one
# request per connection, which 100,000 devices cannot afford).
#
#   pipeline(\@requests, %options)
#       the answers, in order, to requests given as
#       [method, uri, [header lines], body]; window => requests sent
#       before their answers are read (default 100), port => the port
#       (default the test server's).  A connection the server closes
#       (keepalive_requests, "Connection: close") is opened again and the
#       requests without an answer are sent again.  An answer is
#       {status => 200, headers => {lower-case name => [values]},
#        body => '...'}; a request that gets none dies.
#   request($method, $uri, [header lines], $body)
#       one request on a connection of its own: one answer as above.
#   header($answer, $name)
#       the values of a header (a list).

use strict;
use warnings;

use IO::Socket::INET;
use ABTest::Json ();
use Exporter 'import';

our @EXPORT_OK = qw(pipeline request header);


sub header {
    my ($answer, $name) = @_;
    return @{ $answer->{headers}{lc $name} // [] };
}


sub connect_to {
    my ($port) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => 10)
        or die "cannot connect to 127.0.0.1:$port: $!";
    binmode $sock;
    return $sock;
}


sub text_of {
    my ($req, $close) = @_;
    my ($method, $uri, $headers, $body) = @$req;
    $body //= '';
    my $text = "$method $uri HTTP/1.1\r\nHost: localhost\r\n";
    $text .= "$_\r\n" for @{ $headers // [] };
    $text .= "Content-Length: " . length($body) . "\r\n"
        if length $body || $method eq 'POST';
    $text .= "Connection: close\r\n" if $close;
    return "$text\r\n$body";
}


# one answer from the front of $$buf, reading more from $sock as needed;
# undef at the end of the connection before a whole answer
sub read_answer {
    my ($sock, $buf, $method) = @_;

    my $fill = sub {
        my $n = sysread $sock, $$buf, 65536, length $$buf;
        die "read: $!" if !defined $n;
        return $n;
    };

    my $end;
    while (($end = index $$buf, "\r\n\r\n") < 0) {
        $fill->() or return undef;
    }

    my $head = substr $$buf, 0, $end + 4, '';
    my ($status_line, @lines) = split /\r\n/, $head;
    my ($status) = $status_line =~ m{^HTTP/1\.[01] (\d{3})}
        or die "not an HTTP answer: $status_line";

    my %headers;
    for my $line (@lines) {
        my ($name, $value) = $line =~ /^([^:]+):\s*(.*?)\s*$/ or next;
        push @{ $headers{lc $name} }, $value;
    }

    my $body = '';

    if ($method eq 'HEAD' || $status == 204 || $status == 304) {
        # no body

    } elsif (($headers{'transfer-encoding'}[0] // '') =~ /chunked/i) {
        while (1) {
            my $eol;
            while (($eol = index $$buf, "\r\n") < 0) {
                $fill->() or return undef;
            }
            my $size = hex substr $$buf, 0, $eol + 2, '';
            while (length $$buf < $size + 2) {
                $fill->() or return undef;
            }
            $body .= substr $$buf, 0, $size, '';
            substr $$buf, 0, 2, '';
            if ($size == 0) {
                # no trailers from nginx: the last chunk's CRLF was it
                last;
            }
        }

    } elsif (defined(my $len = $headers{'content-length'}[0])) {
        while (length $$buf < $len) {
            $fill->() or return undef;
        }
        $body = substr $$buf, 0, $len, '';

    } else {
        # to the end of the connection
        1 while $fill->();
        $body = $$buf;
        $$buf = '';
        $headers{'connection'} = ['close'];
    }

    return { status => $status, headers => \%headers, body => $body };
}


sub pipeline {
    my ($requests, %o) = @_;

    my $port = $o{port} // ABTest::Json::port();
    my $window = $o{window} // 100;
    my @answers;
    my $next = 0;
    my ($sock, $buf);

    while ($next < @$requests) {
        if (!$sock) {
            $sock = connect_to($port);
            $buf = '';
        }

        my $last = $next + $window - 1;
        $last = $#$requests if $last > $#$requests;

        my $text = join '', map { text_of($_) } @{$requests}[$next .. $last];
        my $off = 0;
        while ($off < length $text) {
            my $n = syswrite $sock, $text, length($text) - $off, $off;
            last if !defined $n;    # closed: the answers tell how far
            $off += $n;
        }

        my $got = 0;
        for my $i ($next .. $last) {
            my $a = eval { read_answer($sock, \$buf, $requests->[$i][0]) };
            last if !$a;
            push @answers, $a;
            $got++;
            if (grep { lc eq 'close' } @{ $a->{headers}{connection} // [] })
            {
                last;
            }
        }

        die "no answer to $requests->[$next][0] $requests->[$next][1]"
            if $got == 0;

        $next += $got;

        if ($next <= $last) {
            # the server closed the connection: the rest again on a new one
            close $sock;
            undef $sock;
        }
    }

    close $sock if $sock;
    return @answers;
}


sub request {
    my ($method, $uri, $headers, $body) = @_;
    my $sock = connect_to(ABTest::Json::port());
    my $text = text_of([$method, $uri, $headers, $body], 1);
    print $sock $text;
    my $buf = '';
    my $a = read_answer($sock, \$buf, $method)
        or die "no answer to $method $uri";
    close $sock;
    return $a;
}


1;
