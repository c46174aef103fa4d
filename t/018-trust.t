# vim:set ft= ts=4 sw=4 et fdm=marker:

# What a client cannot do:
#
# * post events of another device: an events location takes only the
#   device of the request's own cookie (403 otherwise, nothing of the
#   batch stored or counted), unless it is "abtest_api events trusted=on";
# * foretell or choose an "assign random" group: the draw is keyed by a
#   secret of the zone (HMAC-SHA-256, computed here with Digest::SHA from
#   the key the state file keeps), sticky, and a group cookie the draw did
#   not give is not taken; the key survives a restart through the state
#   file (0600), and a bad key there is an [error], never a failed start;
# * write, or load the admin page, through a Host that is not one of the
#   server's names (exact, wildcards, regular expressions) or the
#   connection's address: 421 as JSON, logged at info; reads are answered;
#   two servers on one address each check their own names;
#
# and the configuration errors of "trusted=" and of an experiment's
# "events" list.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group keyed_group counted_as node_name);
use ABTest::Json qw(match_json json_body_check decode);
use ABTest::Stats qw(experiment_stats);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::IP;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);

our $Dir;

BEGIN {
    # what must outlive a block (the state file, the groups of block A)
    $Dir = tempdir('abtest-trust-XXXXXX', TMPDIR => 1, CLEANUP => 1);
}

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our $Dev = '5b0c7f1e-2d4a-4c3b-9e8f-6a1d2c3b4e5f';
our $Groups = [[A => 50], [B => 50]];

sub group_of {
    my ($device) = @_;
    return seed_group($device, 'homepage_button_test', $Groups);
}

# another device, in the other group of homepage_button_test than $Dev
our $Other = (grep { group_of($_) ne group_of($Dev) }
              map { "other-device-$_" } 1 .. 100)[0];

our $NotOwn = "deviceId: not the device of the request's device cookie; "
              . "only a trusted events location (abtest_api events "
              . "trusted=on) takes events of other devices";

our $HttpConfig = <<'_EOC_';
    abtest_zone zone=abtest:1m events=100;

    abtest_experiment homepage_button_test {
        group    A 50;
        group    B 50;
        fallback A;
        title    "Homepage button";
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;

    location = /events {
        abtest_api events;
    }

    location = /trusted/events {
        abtest_api events trusted=on;
    }

    location = /api/stats {
        abtest_api stats;
    }
_EOC_

our $RandomConfig = <<'_EOC_';
    abtest on;

    location = /t {
        return 200 "$ab_group_rnd_test\n";
    }

    location = /api/expgroups {
        abtest_api expgroups;
    }
_EOC_

sub random_http_config {
    my (%o) = @_;
    my $zone = $o{state} ? "state=$o{state}" : '';
    my $b = $o{b} // 1;
    return <<"_EOC_";
    abtest_zone zone=abtest:1m $zone;

    abtest_experiment rnd_test {
        group  A 1;
        group  B $b;
        assign random;
        cookie rnd;
    }
_EOC_
}


# an event as GET on an events location must show it
sub stored {
    my (%f) = @_;
    return {
        id => qr/^\d+$/,
        node => node_name(),
        received => 'ISO',
        ts => undef,
        source => undef,
        event => $f{event},
        deviceId => $f{device},
        device_id => $f{device},
        (exists $f{exp_group} ? (exp_group => $f{exp_group}) : ()),
        params => {},
        groups => { homepage_button_test => group_of($f{device}) },
        counted => { homepage_button_test =>
                     counted_as($f{event}, group_of($f{device}), 'A,B') },
    };
}


# the stats of homepage_button_test after the [device, event] pairs
sub stats_of {
    my (@counted) = @_;
    return { homepage_button_test => experiment_stats(
        title => 'Homepage button', state => 'active',
        exposure => 'pageview', goal => 'button_click', control => 'A',
        weights => $Groups,
        events => [map { [@$_, group_of($_->[0])] } @counted]) };
}


sub post {
    my ($body, $uri) = @_;
    return "POST " . ($uri // '/events') . "\n$body";
}

sub ev {
    my (%f) = @_;
    return '{' . CORE::join(', ', map { qq{"$_": "$f{$_}"} } sort keys %f)
           . '}';
}

sub headers {
    my ($cookie) = @_;
    return "Content-Type: application/json"
           . (defined $cookie ? "\nCookie: $cookie" : '');
}


# A request written out whole ("Connection: close" added), to the test
# server over IPv4, or to $peer: "ip6" ([::1], the same port) or the path
# of a unix socket.  (status, the header lines, the body)
sub exchange {
    my ($req, $peer) = @_;
    my $port = ABTest::Json::port();
    my $sock;

    if (!defined $peer) {
        $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Timeout => 10);
    } elsif ($peer eq 'ip6') {
        $sock = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port,
                                    Timeout => 10);
    } else {
        $sock = IO::Socket::UNIX->new(Peer => $peer, Type => SOCK_STREAM,
                                      Timeout => 10);
    }

    die "cannot connect to " . ($peer // "127.0.0.1:$port") . ": $!"
        if !$sock;

    print $sock $req;

    local $/;
    my $resp = <$sock> // '';
    close $sock;

    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    $head //= '';
    $body //= '';
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};

    if ($head =~ /^Transfer-Encoding: chunked/mi) {
        my $decoded = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $decoded .= substr $body, 0, $len, '';
            $body =~ s/^\r\n//;
        }
        $body = $decoded;
    }

    return ($status // 0, $head, $body);
}

# method, uri, host (undef: no Host line), proto, headers, body (JSON)
sub request {
    my (%o) = @_;
    my $r = "$o{method} $o{uri} " . ($o{proto} // 'HTTP/1.1') . "\r\n";
    $r .= "Host: $o{host}\r\n" if defined $o{host};
    $r .= "Connection: close\r\n";
    $r .= "$_\r\n" for @{ $o{headers} // [] };
    if (defined $o{body}) {
        $r .= "Content-Type: application/json\r\n"
              . "Content-Length: " . length($o{body}) . "\r\n";
    }
    return "$r\r\n" . ($o{body} // '');
}

sub header {
    my ($head, $name) = @_;
    my ($v) = $head =~ /^\Q$name\E: ([^\r\n]*)/mi;
    return $v;
}


# The three requests the Host check guards: an update, an event, the
# admin page.  An update that is taken changes nothing (reset_stats); one
# that is refused would change the weights.
sub guarded {
    my ($host, %o) = @_;
    my @common = (host => $host, proto => $o{proto});
    return (
        [update => request(method => 'POST', @common,
                           uri => ($o{update_uri}
                                   // '/api/experiments/update'),
                           body => $o{refused}
                               ? '{"name": "homepage_button_test", '
                                 . '"groups": {"A": 1, "B": 3}}'
                               : '{"name": "homepage_button_test", '
                                 . '"reset_stats": true}')],
        [events => request(method => 'POST', @common,
                           uri => $o{events_uri} // '/events',
                           headers => ['Cookie: device_id=host-device'],
                           body => '{"event": "pageview"}')],
        [admin => request(method => 'GET', @common,
                          uri => $o{admin_uri} // '/admin')],
    );
}

# '' when the three are taken over $peer, else what went wrong
sub taken {
    my ($host, $peer, %o) = @_;
    my $shown = ($peer // 'tcp') . " Host " . ($host // '(none)');

    for my $r (guarded($host, %o)) {
        my ($status, $head, $body) = exchange($r->[1], $peer);
        return "$shown, $r->[0]: $status $body" if $status != 200;

        if (defined $o{server}) {
            my $s = header($head, 'X-Server') // '';
            return "$shown, $r->[0]: answered by server \"$s\""
                if $s ne $o{server};
        }

        if ($r->[0] eq 'admin') {
            return "$shown, admin: not the page"
                if (header($head, 'Content-Type') // '') !~ m{^text/html}
                   || $body !~ /<html/i;
            next;
        }

        my $got = eval { decode($body) };
        my $e = $r->[0] eq 'update'
                ? match_json([keys %{ $got // {} }], ['homepage_button_test'])
                : match_json($got, { status => 'ok' });
        return "$shown, $r->[0]: $e" if $e;
    }

    return '';
}

# '' when the three are refused with 421 naming $name (nginx's form of the
# Host: lower case, no port)
sub misdirected {
    my ($host, $name, $peer, %o) = @_;
    my $shown = ($peer // 'tcp') . " Host " . ($host // '(none)');

    for my $r (guarded($host, %o, refused => 1)) {
        my ($status, $head, $body) = exchange($r->[1], $peer);
        return "$shown, $r->[0]: $status, expected 421: $body"
            if $status != 421;
        return "$shown, $r->[0]: Content-Type "
               . (header($head, 'Content-Type') // '(none)')
            if (header($head, 'Content-Type') // '') ne 'application/json';

        if (defined $o{server}) {
            my $s = header($head, 'X-Server') // '';
            return "$shown, $r->[0]: answered by server \"$s\""
                if $s ne $o{server};
        }

        my $e = match_json(eval { decode($body) },
            { error => qq{Host: "$name" is not a name or an address of }
                       . 'this server (server_name)' });
        return "$shown, $r->[0]: $e" if $e;
    }

    return '';
}


# the bounds of a binomial count (n, 1/2) that hold with 99.9%: the
# smallest k with P(X <= k) > 0.0005, and n minus it
sub binomial_bounds {
    my ($n) = @_;
    my ($p, $cdf) = (0.5 ** $n, 0);
    for my $k (0 .. $n) {
        $cdf += $p;
        return ($k, $n - $k) if $cdf > 0.0005;
        $p *= ($n - $k) / ($k + 1);
    }
}


sub state_file {
    my ($name) = @_;
    open my $fh, '<', "$Dir/$name" or return undef;
    local $/;
    my $text = <$fh>;
    close $fh;
    return eval { decode($text) };
}

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', "$Dir/$name" or die "$Dir/$name: $!";
    print $fh $text;
    close $fh;
}

# "random_key" of a state file, checked: 64 hexadecimal digits, mode 0600
sub state_key {
    my ($name) = @_;
    my $state = state_file($name);
    return (undef, "$name: not JSON") if !$state;
    my $key = $state->{random_key};
    return (undef, "$name: random_key " . ($key // 'missing'))
        if !defined $key || $key !~ /^[0-9a-f]{64}$/;
    my $mode = (stat "$Dir/$name")[2] & 07777;
    return (undef, sprintf("$name: mode %04o, expected 0600", $mode))
        if $mode != 0600;
    return ($key, '');
}

our @Devices50 = map { sprintf 'keyed-device-%02d', $_ } 1 .. 50;

# the groups of devices as /t gives them: {device => group}
sub page_groups {
    my (@devices) = @_;
    my %g;
    for my $d (@devices) {
        my ($status, undef, $body) = exchange(request(method => 'GET',
            uri => '/t', host => 'localhost',
            headers => ["Cookie: device_id=$d"]));
        return "GET /t for $d: $status" if $status != 200;
        CORE::chomp $body;
        $g{$d} = $body;
    }
    return \%g;
}

# '' when the groups of the 50 devices are the keyed draw under $hex
sub keyed_by {
    my ($hex, $got) = @_;
    my $key = pack 'H*', $hex;
    my %want = map { $_ => keyed_group($key, $_, 'rnd_test',
                                       [[A => 1], [B => 1]]) } @Devices50;
    return match_json($got, \%want, 'groups');
}


# a server of its own for the two-server blocks, on unix sockets (no port
# of other suites), saying which one answered
sub server_on {
    my ($name, @socks) = @_;
    my $listen = CORE::join('', map {
        "        listen unix:$ENV{TEST_NGINX_HTML_DIR}/$_.sock;\n"
    } @socks);
    return <<"_EOC_";
    server {
$listen        server_name $name.example;
        add_header  X-Server $name always;
        abtest on;

        location /api/experiments {
            abtest_api experiments write=on;
        }

        location = /events {
            abtest_api events;
        }

        location = /admin {
            abtest_admin;
        }
    }
_EOC_
}


# experiment "e" with the settings given, in a zone
sub exp_config {
    my ($settings) = @_;
    return <<"_EOC_";
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group  A 1;
$settings
    }
_EOC_
}

sub names {
    my ($n) = @_;
    return CORE::join(' ', map { sprintf 'e%02d', $_ } 1 .. $n);
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        if !defined $block->http_config;
    $block->set_value('config', $Config) if !defined $block->config;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log && !defined $block->must_die;
});

# a block's error_log lines are looked for in its whole log (a refusal
# comes first in its block; the requests after it log other lines)
check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: untrusted events location: the request's own device, named (deviceId, device_id) or by default (the cookie's), is taken
--- request eval
[::post(::ev(deviceId => $::Dev, event => 'pageview')),
 ::post(::ev(event => 'button_click')),
 ::post('[' . ::ev(device_id => $::Dev, event => 'pageview',
                   exp_group => 'X')
        . ', ' . ::ev(deviceId => $::Dev, device_id => $::Dev,
                      event => 'pageview') . ']'),
 "GET /events",
 "GET /api/stats"]
--- more_headers eval
[(::headers("device_id=$::Dev")) x 3, "", ""]
--- error_code eval
[200, 200, 200, 200, 200]
--- json eval
[{ status => 'ok' }, { status => 'ok' }, { status => 'ok', accepted => 2 },
 [::stored(device => $::Dev, event => 'pageview'),
  ::stored(device => $::Dev, event => 'button_click'),
  ::stored(device => $::Dev, event => 'pageview', exp_group => 'X'),
  ::stored(device => $::Dev, event => 'pageview')],
 ::stats_of([$::Dev, 'pageview'], [$::Dev, 'button_click'],
            [$::Dev, 'pageview'], [$::Dev, 'pageview'])]
--- no_error_log
abtest api:
[error]
[alert]



=== TEST 2: untrusted events location: an event of another device is refused (403), in a batch too; nothing of it stored or counted; logged at info
--- request eval
[::post(::ev(deviceId => $::Other, event => 'button_click')),
 ::post(::ev(device_id => $::Other, event => 'button_click',
             exp_group => 'B')),
 ::post(::ev(deviceId => $::Other, device_id => $::Other,
             event => 'button_click')),
 ::post('[' . ::ev(deviceId => $::Dev, event => 'pageview') . ', '
        . ::ev(deviceId => $::Other, event => 'button_click') . ']'),
 ::post('[' . ::ev(deviceId => $::Other, event => 'button_click') . ', '
        . ::ev(deviceId => $::Dev, event => 'pageview') . ']'),
 ::post(::ev(deviceId => uc $::Dev, event => 'button_click')),
 ::post(::ev(deviceId => $::Dev, event => 'button_click')),
 ::post(::ev(deviceId => $::Dev, event => 'button_click')),
 ::post('[' . ::ev(deviceId => $::Dev, event => 'button_click') . ']'),
 ::post(::ev(deviceId => $::Dev, event => 'button_click')),
 ::post(::ev(event => 'pageview')),
 ::post(::ev(deviceId => $::Dev, event => 'pageview')),
 "GET /events",
 "GET /api/stats"]
--- more_headers eval
[(::headers("device_id=$::Dev")) x 6,
 ::headers("device_id=$::Other; device_id=$::Dev"),
 ::headers(), ::headers(),
 ::headers("device_id=not/a*device"),
 ::headers(),
 ::headers("device_id=$::Dev"),
 "", ""]
--- error_code eval
[(403) x 10, 400, 200, 200, 200]
--- json eval
[({ error => $::NotOwn }) x 3,
 { error => "[1].$::NotOwn" },
 { error => "[0].$::NotOwn" },
 ({ error => $::NotOwn }) x 3,
 { error => "[0].$::NotOwn" },
 { error => $::NotOwn },
 { error => 'deviceId: missing, and the request has no device cookie' },
 { status => 'ok' },
 [::stored(device => $::Dev, event => 'pageview')],
 ::stats_of([$::Dev, 'pageview'])]
--- error_log eval
qr/\[info\] .*abtest api: 403 deviceId: not the device of the request's device cookie; only a trusted events location \(abtest_api events trusted=on\) takes events of other devices/
--- no_error_log
[error]
[alert]
[warn]



=== TEST 3: a trusted=on location takes the same events: every device, and counts them in its group
--- request eval
[::post(::ev(deviceId => $::Other, event => 'button_click'), '/trusted/events'),
 ::post(::ev(device_id => $::Other, event => 'button_click',
             exp_group => 'B'), '/trusted/events'),
 ::post('[' . ::ev(deviceId => $::Dev, event => 'pageview') . ', '
        . ::ev(deviceId => $::Other, event => 'pageview') . ']',
        '/trusted/events'),
 ::post(::ev(deviceId => $::Dev, event => 'button_click'), '/trusted/events'),
 ::post(::ev(deviceId => $::Other, event => 'pageview'), '/trusted/events'),
 ::post(::ev(event => 'pageview'), '/trusted/events'),
 "GET /trusted/events",
 "GET /api/stats"]
--- more_headers eval
[(::headers("device_id=$::Dev")) x 3,
 ::headers(),
 ::headers("device_id=not/a*device"),
 ::headers(),
 "", ""]
--- error_code eval
[200, 200, 200, 200, 200, 400, 200, 200]
--- json eval
[{ status => 'ok' }, { status => 'ok' }, { status => 'ok', accepted => 2 },
 { status => 'ok' }, { status => 'ok' },
 { error => 'deviceId: missing, and the request has no device cookie' },
 [::stored(device => $::Other, event => 'button_click'),
  ::stored(device => $::Other, event => 'button_click', exp_group => 'B'),
  ::stored(device => $::Dev, event => 'pageview'),
  ::stored(device => $::Other, event => 'pageview'),
  ::stored(device => $::Dev, event => 'button_click'),
  ::stored(device => $::Other, event => 'pageview')],
 ::stats_of([$::Other, 'button_click'], [$::Other, 'button_click'],
            [$::Dev, 'pageview'], [$::Other, 'pageview'],
            [$::Dev, 'button_click'], [$::Other, 'pageview'])]
--- no_error_log
abtest api: 403
[error]
[alert]



=== TEST 4: assign random: 200 devices, each sticky; the split within binomial bounds; a keyed draw, not the seed's rule; a cookie of the other group not taken; expgroups tells the page's group
--- http_config eval: ::random_http_config()
--- config eval: $::RandomConfig
--- request
GET /api/expgroups
--- json eval
sub {
    my ($count_a, $unlike_seed) = (0, 0);

    for my $i (1 .. 200) {
        my $d = "random-device-$i";
        my $get = sub {
            my ($cookie) = @_;
            my ($status, $head, $body) = ::exchange(::request(
                method => 'GET', uri => '/t', host => 'localhost',
                headers => ["Cookie: device_id=$d$cookie"]));
            CORE::chomp $body;
            my ($set) = $head =~ /^Set-Cookie: rnd=([^;]*);/m;
            return ($status, $body, $set);
        };

        my ($status, $g, $set) = $get->('');
        return "$d: $status $g" if $status != 200 || $g !~ /^[AB]$/;
        return "$d: the group cookie says " . ($set // 'nothing')
            if ($set // '') ne $g;

        # sticky: without the group cookie, with the other group's, with
        # its own (no cookie set again)
        my $other = $g eq 'A' ? 'B' : 'A';
        for my $c (['', $g], ["; rnd=$other", $g], ["; rnd=$g", undef]) {
            my ($s, $again, $set2) = $get->($c->[0]);
            return "$d: group $again, then $g with cookie '$c->[0]'"
                if $s != 200 || $again ne $g;
            return "$d: cookie '$c->[0]': Set-Cookie rnd="
                   . ($set2 // '(none)')
                if ($set2 // '') ne ($c->[1] // '');
        }

        # the device's own (its cookie), or asked by anyone
        for my $cookie (["Cookie: device_id=$d"], []) {
            my ($s, undef, $body) = ::exchange(::request(method => 'GET',
                uri => "/api/expgroups?device_id=$d", host => 'localhost',
                headers => $cookie));
            my $e = ::match_json(eval { ::decode($body) },
                { rnd_test => { state => 'active', active => \1,
                                fallback => 'A', assigned => $g,
                                in_experiment => \1, reason => undef,
                                group => $g } },
                "expgroups $d (@$cookie)");
            return $e if $e;
        }

        $count_a++ if $g eq 'A';
        $unlike_seed++
            if $g ne ::seed_group($d, 'rnd_test', [[A => 1], [B => 1]]);
    }

    my ($lo, $hi) = ::binomial_bounds(200);
    return "$count_a of 200 in A, outside [$lo, $hi]"
        if $count_a < $lo || $count_a > $hi;
    return "every group is the seed's rule's: the draw is not keyed"
        if !$unlike_seed;
    return '';
}



=== TEST 5: assign random: a group cookie naming a group the draw did not give is not taken (A 1, B 2147483646, rnd=A)
--- http_config eval: ::random_http_config(b => 2147483646)
--- config eval: $::RandomConfig
--- request
GET /api/expgroups
--- json eval
sub {
    for my $i (1 .. 20) {
        my $d = "chooser-$i";
        my ($status, $head, $body) = ::exchange(::request(method => 'GET',
            uri => '/t', host => 'localhost',
            headers => ["Cookie: device_id=$d; rnd=A"]));
        CORE::chomp $body;
        return "$d: $status, group $body with rnd=A" if $body ne 'B';
        return "$d: no Set-Cookie rnd=B" if $head !~ /^Set-Cookie: rnd=B;/m;
    }
    return '';
}



=== TEST 6: the state file keeps the random key (64 hex digits, mode 0600): the groups of 50 devices are the keyed draw under it
--- http_config eval: ::random_http_config(state => "$::Dir/state.json")
--- config eval: $::RandomConfig
--- request
GET /api/expgroups
--- json eval
sub {
    my ($key, $e) = ::state_key('state.json');
    return $e if $e;
    my $groups = ::page_groups(@::Devices50);
    return $groups if !ref $groups;
    $e = ::keyed_by($key, $groups);
    return $e if $e;
    ::write_file('groups.json', JSON::PP->new->canonical->encode(
                                    { key => $key, groups => $groups }));
    return '';
}



=== TEST 7: after a restart (a fresh zone, the same state file): the same key, the same groups
--- http_config eval: ::random_http_config(state => "$::Dir/state.json")
--- config eval: $::RandomConfig
--- request
GET /api/expgroups
--- json eval
sub {
    my $before = ::state_file('groups.json')
        or return 'no groups.json from the block before';
    my ($key, $e) = ::state_key('state.json');
    return $e if $e;
    return "random_key $key, was $before->{key}" if $key ne $before->{key};
    my $groups = ::page_groups(@::Devices50);
    return $groups if !ref $groups;
    return ::match_json($groups, $before->{groups}, 'groups after restart');
}
--- error_log
abtest: experiment "rnd_test" restored from the state file



=== TEST 8: a state file's key of upper-case hex digits is taken: the draws are the keyed ones under it; the file is written back with it
--- http_config eval
::write_file('upper.json', '{"version": 1, "random_key": "'
             . ('0123456789ABCDEF' x 4) . '", "experiments": {}}');
::random_http_config(state => "$::Dir/upper.json")
--- config eval: $::RandomConfig
--- request
GET /api/expgroups
--- json eval
sub {
    my $groups = ::page_groups(@::Devices50);
    return $groups if !ref $groups;
    my $e = ::keyed_by('0123456789abcdef' x 4, $groups);
    return $e if $e;
    my ($key, $e2) = ::state_key('upper.json');
    return $e2 || ($key eq '0123456789abcdef' x 4 ? ''
                   : "the file's key is now $key");
}



=== TEST 9: a random_key of 63 hex digits: [error], nginx starts and draws with a new key, which the file then holds
--- http_config eval
::write_file('short.json', '{"version": 1, "random_key": "'
             . ('a' x 63) . '", "experiments": {}}');
::random_http_config(state => "$::Dir/short.json")
--- config eval: $::RandomConfig
--- request
GET /api/expgroups
--- error_log eval
qr/\[error\] .*abtest: state file "\S+short\.json": "random_key" is not 64 hexadecimal digits, "assign random" draws anew/
--- no_error_log
[alert]
[emerg]
--- json eval
sub {
    my ($key, $e) = ::state_key('short.json');
    return $e if $e;
    # a new zone's own key, not a constant one
    my $earlier = ::state_file('groups.json')
        or return 'no groups.json from an earlier block';
    return "the new key is the earlier zone's" if $key eq $earlier->{key};
    my $groups = ::page_groups(@::Devices50);
    return ref $groups ? ::keyed_by($key, $groups) : $groups;
}



=== TEST 10: a random_key of 64 characters that are not all hex digits: [error], nginx starts
--- http_config eval
::write_file('nothex.json', '{"version": 1, "random_key": "'
             . ('0123456789abcdef' x 3) . '0123456789abcdeg'
             . '", "experiments": {}}');
::random_http_config(state => "$::Dir/nothex.json")
--- config eval: $::RandomConfig
--- request
GET /t
--- response_body_like chomp
^[AB]$
--- error_log eval
qr/\[error\] .*abtest: state file "\S+nothex\.json": "random_key" is not 64 hexadecimal digits, "assign random" draws anew/
--- no_error_log
[alert]
[emerg]



=== TEST 11: a random_key that is not a string (a number): [error], nginx starts
--- http_config eval
::write_file('number.json', '{"version": 1, "random_key": 12345, '
             . '"experiments": {}}');
::random_http_config(state => "$::Dir/number.json")
--- config eval: $::RandomConfig
--- request
GET /t
--- response_body_like chomp
^[AB]$
--- error_log eval
qr/\[error\] .*abtest: state file "\S+number\.json": "random_key" is not 64 hexadecimal digits, "assign random" draws anew/
--- no_error_log
[alert]
[emerg]



=== TEST 12: Host check: writes and the admin page are taken for the server's names (exact, wildcards, regex) and its address, refused with 421 for others; reads are answered
--- config
    server_name www.example.com *.shop.example .static.example www.example.*
                ~^api[0-9]+\.example\.net$;
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /events {
        abtest_api events;
    }

    location = /api/expgroups {
        abtest_api expgroups;
    }

    location = /admin {
        abtest_admin;
    }
--- request
GET /api/experiments
--- json eval
sub {
    my $port = ABTest::Json::port();
    my $taken = 0;

    for my $host ('localhost', 'www.example.com', 'a.shop.example',
                  'b.a.shop.example', 'static.example', 'x.static.example',
                  'www.example.org', 'www.example.co.uk', 'api7.example.net',
                  'api2026.example.net', '127.0.0.1', "127.0.0.1:$port",
                  "localhost:$port", 'WWW.Example.COM', 'www.example.com.',
                  # as nginx routes it: "www.example.*" is any name that
                  # begins with "www.example."
                  'www.example.com.evil.example')
    {
        my $e = ::taken($host);
        return $e if $e;
        $taken++;
    }

    for my $h (['evil.example'], ['shop.example'], ['api.example.net'],
               ['EVIL.example:8080', 'evil.example'], ['evilstatic.example'],
               ['www.example'], ['xwww.example.com'], ['api7.example.net.evil'],
               ['localhost.evil.example'], ['evil.example.www.example.com'],
               ['127.0.0.2'], ['[::1]'])
    {
        my $e = ::misdirected($h->[0], $h->[1] // $h->[0]);
        return $e if $e;
    }

    # the Host nginx goes by is the request line's, when it has one
    my ($status, undef, $body) = ::exchange(
        "POST http://evil.example/events HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nCookie: device_id=host-device\r\n"
        . "Content-Type: application/json\r\nContent-Length: 21\r\n\r\n"
        . '{"event": "pageview"}');
    return "an absolute URI of evil.example: $status $body" if $status != 421;

    # reads are answered whatever the Host
    for my $uri ('/api/experiments', '/events', '/api/expgroups') {
        my ($s, undef, $b) = ::exchange(::request(method => 'GET',
            uri => $uri, host => 'evil.example'));
        return "GET $uri with Host evil.example: $s $b" if $s != 200;
    }

    # nothing refused was done: one event per taken Host, weights kept
    ($status, undef, $body) = ::exchange(::request(method => 'GET',
        uri => '/events?limit=10000', host => 'localhost'));
    my $n = @{ ::decode($body) };
    return "$n events stored, expected $taken" if $n != $taken;

    ($status, undef, $body) = ::exchange(::request(method => 'GET',
        uri => '/api/experiments', host => 'localhost'));
    return ::match_json(::decode($body)->{homepage_button_test}{groups},
                        { A => 50, B => 50 }, 'weights');
}
--- error_log eval
qr/\[info\] .*abtest api: 421 Host: "evil\.example" is not a name or an address of this server \(server_name\)/



=== TEST 13: Host check over IPv6: the connection's address [::1] (with a port too) and the names are taken; 127.0.0.1 is not this connection's address
--- config
    listen [::1]:$TEST_NGINX_SERVER_PORT;
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /events {
        abtest_api events;
    }

    location = /admin {
        abtest_admin;
    }
--- request
GET /api/experiments
--- json eval
sub {
    my $port = ABTest::Json::port();
    for my $host ('[::1]', "[::1]:$port", 'localhost') {
        my $e = ::taken($host, 'ip6');
        return $e if $e;
    }
    for my $h (['127.0.0.1'], ["127.0.0.1:$port", '127.0.0.1'],
               ['[::2]'], ['evil.example'])
    {
        my $e = ::misdirected($h->[0], $h->[1] // $h->[0], 'ip6');
        return $e if $e;
    }
    return '';
}



=== TEST 14: Host check: HTTP/1.0 without a Host is taken; with a foreign Host refused
--- config
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /events {
        abtest_api events;
    }

    location = /admin {
        abtest_admin;
    }
--- request
GET /api/experiments
--- json eval
sub {
    return ::taken(undef, undef, proto => 'HTTP/1.0')
        || ::misdirected('evil.example', 'evil.example', undef,
                         proto => 'HTTP/1.0');
}
--- error_log eval
qr/\[info\] .*abtest api: 421 Host: "evil\.example"/



=== TEST 15: two servers on one address: a Host routes to its server, which takes it; the default server refuses a Host it does not list, also the other server's name where that one does not listen
--- http_config eval
$::HttpConfig . ::server_on('one', 'shared', 'one')
. ::server_on('two', 'shared', 'two')
--- request
GET /events
--- json eval
sub {
    my $dir = $ENV{TEST_NGINX_HTML_DIR};
    my ($shared, $one, $two) = map { "$dir/$_.sock" } qw(shared one two);

    return ::taken('one.example', $shared, server => 'one')
        || ::taken('two.example', $shared, server => 'two')
        || ::misdirected('evil.example', 'evil.example', $shared,
                         server => 'one')
        || ::taken('one.example', $one, server => 'one')
        || ::misdirected('two.example', 'two.example', $one,
                         server => 'one')
        || ::taken('two.example', $two, server => 'two')
        || ::misdirected('one.example', 'one.example', $two,
                         server => 'two')
        || ::taken(undef, $two, server => 'two', proto => 'HTTP/1.0');
}



=== TEST 16: abtest_api events trusted=maybe: invalid parameter
--- config
    location = /events {
        abtest_api events trusted=maybe;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "trusted=maybe" in \S+:\d+/



=== TEST 17: abtest_api experiments trusted=on: invalid parameter (only events locations are trusted)
--- config
    location /api/experiments {
        abtest_api experiments trusted=on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "trusted=on" in \S+:\d+/



=== TEST 18: abtest_api expgroups trusted=on: invalid parameter
--- config
    location = /api/expgroups {
        abtest_api expgroups trusted=on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "trusted=on" in \S+:\d+/



=== TEST 19: abtest_api events write=on: invalid parameter
--- config
    location = /events {
        abtest_api events write=on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "write=on" in \S+:\d+/



=== TEST 20: trusted= given twice is refused (one parameter at most)
--- config
    location = /events {
        abtest_api events trusted=on trusted=off;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "abtest_api" directive in \S+:\d+/



=== TEST 21: an experiment's events: more than 30 names
--- http_config eval
::exp_config('        events ' . ::names(31) . ';')
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*too many "events" in experiment "e", at most 30 beside the exposure and the goal in \S+:\d+/



=== TEST 22: an experiment's events: 30 names are taken; each is counted on its own, an unlisted name in other_events
--- http_config eval
::exp_config('        events ' . ::names(30) . ';')
--- request eval
[::post('[' . CORE::join(', ', map { ::ev(event => $_) }
                         qw(e30 e01 unlisted pageview e30)) . ']'),
 "GET /api/stats"]
--- more_headers eval
[::headers("device_id=$::Dev"), ""]
--- json eval
[{ status => 'ok', accepted => 5 },
 { e => ABTest::Stats::experiment_stats(
       title => 'e', state => 'active', exposure => 'pageview',
       goal => 'button_click', control => 'A', weights => [[A => 1]],
       listed => [map { sprintf 'e%02d', $_ } 1 .. 30],
       events => [map { [$::Dev, $_, 'A'] }
                  qw(e30 e01 unlisted pageview e30)]) }]



=== TEST 23: an experiment's events: a name listed twice
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group A 1;
        events view scroll view;
    }
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*event "view" is listed twice in experiment "e" in \S+:\d+/



=== TEST 24: an experiment's events: the exposure
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group A 1;
        exposure view;
        events   scroll view;
    }
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" lists its exposure or goal "view" in "events" in \S+:\d+/



=== TEST 25: an experiment's events: the goal, set after the list
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group A 1;
        events   scroll buy;
        goal     buy;
    }
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" lists its exposure or goal "buy" in "events" in \S+:\d+/



=== TEST 26: an experiment's events: the default exposure (pageview)
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group A 1;
        events   scroll pageview;
    }
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*experiment "e" lists its exposure or goal "pageview" in "events" in \S+:\d+/



=== TEST 27: an experiment's events: a control character in a name
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group A 1;
        events   scroll "a\tb";
    }
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid event name "a\tb": use 1 to 64 bytes of UTF-8 without control characters in \S+:\d+/



=== TEST 28: an experiment's events: a name of 65 bytes
--- http_config eval
::exp_config('        events   ' . ('n' x 65) . ';')
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid event name "n{65}": use 1 to 64 bytes of UTF-8 without control characters in \S+:\d+/



=== TEST 29: an experiment's events: the list given twice
--- http_config
    abtest_zone zone=abtest:1m;

    abtest_experiment e {
        group A 1;
        events   scroll;
        events   view;
    }
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"events" directive is duplicate in \S+:\d+/
