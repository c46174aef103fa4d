package ABTest::Json;

# JSON answers compared after decoding (JSON::PP), field by field.
#
#   match_json($got, $want, $path)
#       '' when $got matches $want, else the first difference.  In $want:
#       a plain scalar is an exact string or number, undef is null, \1 and
#       \0 are true and false, 'ISO' an ISO 8601 time with milliseconds,
#       a qr// a string matching it, approx($x) a number within 1e-9 of
#       $x (relative), and a code ref a check of its own that returns ''
#       or what is wrong.  Hashes must have exactly the expected keys.
#   json_body_check()
#       compares each response with the block's "--- json" section (one
#       expectation, or one per request where the requests are an array;
#       undef skips one).
#   http($method, $uri, $body, @headers)
#       a request of a check's own to the test server: (status, body).
#   http_raw($request)
#       the same for a request written out whole.
#   same($a, $b)
#       true when the two are the same JSON (show's canonical text).
#   file_lines($path, $n)
#       the lines of a file once it has at least $n (waiting up to 5 s: a
#       worker writes the events log at the end of its event loop pass).

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use Scalar::Util qw(blessed looks_like_number);
use Time::HiRes ();
use Test::More;
use Exporter 'import';

our @EXPORT_OK = qw(match_json json_body_check approx decode http http_raw
                    file_lines same);

our $Iso = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;


sub approx {
    my ($x) = @_;
    return bless \$x, 'ABTest::Json::Approx';
}


sub decode {
    my ($text) = @_;
    return JSON::PP->new->utf8->decode($text);
}


sub show {
    return JSON::PP->new->canonical->allow_nonref->encode($_[0]);
}


sub same {
    my ($x, $y) = @_;
    return show($x) eq show($y);
}


sub match_json {
    my ($got, $want, $path) = @_;

    $path //= '$';

    if (ref $want eq 'CODE') {
        my $e = $want->($got);
        return $e ? "$path: $e" : '';
    }

    if (ref $want eq 'Regexp') {
        return '' if defined $got && !ref $got && $got =~ $want;
        return "$path: expected a string like $want, got " . show($got);
    }

    if (blessed $want && blessed $want eq 'ABTest::Json::Approx') {
        my $x = $$want;
        return "$path: expected about $x, got " . show($got)
            if !defined $got || ref $got || !looks_like_number($got);
        my $tol = 1e-9 * (abs($x) > 1 ? abs($x) : 1);
        return abs($got - $x) <= $tol ? ''
               : "$path: expected about $x, got $got";
    }

    if (!ref $want) {
        if (!defined $want) {
            return defined $got ? "$path: expected null, got " . show($got)
                                : '';
        }

        if ($want eq 'ISO') {
            return defined $got && !ref $got && $got =~ $Iso ? ''
                   : "$path: expected an ISO time, got " . show($got);
        }

        return '' if defined $got && !ref $got && $got eq $want;
        return "$path: expected " . show($want) . ", got " . show($got);
    }

    if (ref $want eq 'HASH') {
        return "$path: expected an object, got " . show($got)
            if ref $got ne 'HASH';
        my @keys = sort keys %$want;
        my @have = sort keys %$got;
        return "$path: keys are (@have), expected (@keys)"
            if "@keys" ne "@have";
        for my $k (@keys) {
            my $e = match_json($got->{$k}, $want->{$k}, "$path.$k");
            return $e if $e;
        }
        return '';
    }

    if (ref $want eq 'ARRAY') {
        return "$path: expected an array, got " . show($got)
            if ref $got ne 'ARRAY';
        return "$path: " . scalar(@$got) . " elements, expected "
               . scalar(@$want) if @$got != @$want;
        for my $i (0 .. $#$want) {
            my $e = match_json($got->[$i], $want->[$i], "$path\[$i]");
            return $e if $e;
        }
        return '';
    }

    # \1 and \0 for JSON::PP::true and false
    return "$path: expected " . ($$want ? 'true' : 'false') . ", got "
           . show($got)
        if !JSON::PP::is_bool($got) || !!$got != !!$$want;
    return '';
}


sub json_body_check {
    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $req_idx) = @_;

        my $json = $block->json;
        return if !defined $json;

        my $want = ref $block->request eq 'ARRAY' ? $json->[$req_idx]
                                                  : $json;
        return if !defined $want;

        my $got = eval { decode($body) };
        ok(defined $got, $block->name . " - body is JSON")
            or diag("$@ in: $body");
        my $e = defined $got ? match_json($got, $want, '$') : 'not JSON';
        is($e, '', $block->name . " - JSON of request $req_idx");
    });
}


# the port the tests' nginx listens on, under either runner; another
# server's while $ABTest::Json::Port is set (local)
our $Port;

sub port {
    return $Port || $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
           || 1984;
}


sub http {
    my ($method, $uri, $body, @headers) = @_;

    $body //= '';

    return http_raw("$method $uri HTTP/1.1\r\nHost: localhost\r\n"
                    . "Connection: close\r\n"
                    . join('', map { "$_\r\n" } @headers)
                    . ($method eq 'POST' ? "Content-Length: " . length($body)
                                           . "\r\n" : '')
                    . "\r\n$body");
}


# a request sent as it is written (it should ask to close the connection)
sub http_raw {
    my ($req) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => port(), Proto => 'tcp',
                                     Timeout => 10)
        or die "cannot connect: $!";

    print $sock $req;

    local $/;
    my $resp = <$sock>;
    close $sock;

    my ($head, $content) = split /\r\n\r\n/, $resp // '', 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};

    if (($head // '') =~ /^Transfer-Encoding: chunked/mi) {
        my $decoded = '';
        while ($content =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $decoded .= substr $content, 0, $len, '';
            $content =~ s/^\r\n//;
        }
        $content = $decoded;
    }

    return ($status // 0, $content // '');
}


sub file_lines {
    my ($path, $n) = @_;

    my $deadline = Time::HiRes::time() + 5;
    my @lines;

    while (1) {
        @lines = ();
        if (open my $fh, '<', $path) {
            @lines = <$fh>;
            close $fh;
        }
        last if @lines >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }

    return @lines;
}


1;
