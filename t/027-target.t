# vim:set ft= ts=4 sw=4 et fdm=marker:

# Who enters an experiment (issue 15): "abtest $variable", the holdout, the
# schedule, "target", exclusive layers and coverage, against an independent
# oracle (t/lib/ABTest/Oracle.pm: Digest::SHA, Math::BigInt), itself first
# checked against Python's int.from_bytes() and the seed's 3000 rows.
# Devices that do not enter get the fallback everywhere and are never
# counted; the schedule moves the state by itself, on two workers.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Oracle qw(seed_group share_bucket fold_bucket seed_bucket
                      holdout_bucket fast_group entry_reason);
use ABTest::Json qw(json_body_check match_json approx decode);
use ABTest::Client qw(pipeline request header);
use ABTest::Stats qw(experiment_stats);
use ABTest::Nginx ();
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use IPC::Open2 qw(open2);
use POSIX ();
use Time::HiRes qw(time sleep);

our $Dir;

BEGIN {
    $Dir = tempdir('abtest-target-XXXXXX', TMPDIR => 1, CLEANUP => 1);
}

master_on();
workers(2);

# Debian's nginx is built --with-debug: at Test::Nginx's default level
# (debug) 100,000 requests would log 400 MB and take a minute
log_level('info');


# --- the oracle's own checks, before it judges the module ---------------

# fold_bucket() (fast, no big numbers) against share_bucket() (Math::BigInt)
# and Python's int.from_bytes(sha256(text).digest(), 'big') % 10000
{
    my @texts = map { ("dev-$_:holdout", "dev-$_:layer:homepage",
                       "dev-$_:exp_$_:coverage") } 1 .. 700;
    push @texts, 'x', '', "\xff" x 3;

    my $pid = open2(my $out, my $in, 'python3', '-c', <<'_PY_');
import hashlib, sys
for line in sys.stdin.buffer:
    text = bytes.fromhex(line.strip().decode())
    print(int.from_bytes(hashlib.sha256(text).digest(), 'big') % 10000)
_PY_
    print $in unpack('H*', $_) . "\n" for @texts;
    close $in;
    my @python = <$out>;
    waitpid $pid, 0;
    die "python3 failed" if $? || @python != @texts;

    for my $i (0 .. $#texts) {
        chomp $python[$i];
        my ($t, $p) = ($texts[$i], $python[$i]);
        my $big = share_bucket($t);
        my $fold = fold_bucket($t, 10000);
        die "oracle: share_bucket($t) = $big, Python says $p" if $big != $p;
        die "oracle: fold_bucket($t) = $fold, Python says $p" if $fold != $p;
    }

    # fast_group() is the seed's rule: the 3000 reference rows
    open my $tsv, '<', 't/data/seed-assign.tsv' or die "seed-assign.tsv: $!";
    <$tsv>;
    while (my $line = <$tsv>) {
        chomp $line;
        my ($device, $exp, $groups, $want) = split /\t/, $line;
        my $g = [map { [split /:/] } split /,/, $groups];
        my $fast = fast_group($device, $exp, $g);
        die "oracle: fast_group($device, $exp) = $fast, the seed says $want"
            if $fast ne $want;
    }
    close $tsv;
}


# --- helpers --------------------------------------------------------------

# $n device ids shaped as UUIDv4, a function of $tag and the number
sub devices {
    my ($n, $tag) = @_;
    return map {
        my $h = sha256_hex("$tag:$_");
        sprintf '%s-%s-4%s-%s%s-%s', substr($h, 0, 8), substr($h, 8, 4),
            substr($h, 13, 3), (qw(8 9 a b))[hex(substr $h, 16, 1) % 4],
            substr($h, 17, 3), substr($h, 20, 12);
    } 1 .. $n;
}


sub iso {
    my ($ms) = @_;
    my @t = gmtime(int($ms / 1000));
    return sprintf '%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', $t[5] + 1900,
        $t[4] + 1, @t[3, 2, 1, 0], $ms % 1000;
}


sub now_ms { int(time * 1000) }


# the objects of an expgroups answer ({"exp": {"field": value, ...}, ...},
# no deeper), read by two regular expressions: JSON::PP would take half a
# minute for 100,000 answers.  Values: strings, and true, false, null
# (undef), numbers as their text.  check_flat() compares it with JSON::PP.
sub flat {
    my ($text) = @_;
    my %out;
    while ($text =~ /"([^"\\]+)":\{([^{}]*)\}/g) {
        my ($name, $inner) = ($1, $2);
        my %f;
        while ($inner =~ /"([^"\\]+)":(?:"((?:[^"\\]|\\.)*)"|(true|false|null|[-+.0-9eE]+))/g) {
            $f{$1} = defined $2 ? $2 : $3 eq 'null' ? undef : $3;
        }
        $out{$name} = \%f;
    }
    return \%out;
}


sub check_flat {
    my ($text) = @_;
    my $pp = decode($text);
    my $flat = flat($text);
    for my $e (keys %$pp) {
        for my $k (keys %{ $pp->{$e} }) {
            my $v = $pp->{$e}{$k};
            $v = $v ? 'true' : 'false' if JSON::PP::is_bool($v);
            my $f = $flat->{$e}{$k};
            return "flat() reads $e.$k as " . ($f // 'null') . ", JSON::PP as "
                   . ($v // 'null')
                if (defined $f) != (defined $v) || (defined $f && $f ne $v);
        }
        return "flat() reads other fields of $e"
            if keys %{ $flat->{$e} } != keys %{ $pp->{$e} };
    }
    return keys %$flat == keys %$pp ? '' : 'flat() reads other experiments';
}


# a count within the binomial 99.9% bounds (two-sided) of n trials at p
our $Z999 = 3.2905267315;
our @Shares;

sub within_binomial {
    my ($what, $k, $n, $p) = @_;
    my $sd = sqrt($n * $p * (1 - $p));
    my $dev = $k - $n * $p;
    push @Shares, sprintf "%s: %d of %d (%.4f, expected %.4f, %+.2f sd)",
        $what, $k, $n, $n ? $k / $n : 0, $p, $sd ? $dev / $sd : 0;
    return '' if abs($dev) <= $Z999 * $sd;
    return sprintf "%s: %d of %d, outside %.1f +- %.1f (99.9%%)", $what, $k,
        $n, $n * $p, $Z999 * $sd;
}


sub show_shares {
    Test::More::note($_) for @Shares;
    @Shares = ();
}


sub null_or { defined $_[0] ? $_[0] : 'null' }


# an experiment's expected answer for a device: (reason or undef, group)
sub expect {
    my ($d, $name, $spec, %o) = @_;
    my $reason = entry_reason($d, $name, { %$spec, %o });
    my $group = defined $reason ? $spec->{fallback}
                                : fast_group($d, $name, $spec->{groups});
    return ($reason, $group);
}


# one expgroups object of the module against the oracle's answer
sub check_exp {
    my ($d, $name, $got, $reason, $group, $spec) = @_;
    return "$d: no $name in the answer" if !$got;
    my $in = defined $reason ? 'false' : 'true';
    return "$d $name: in_experiment " . null_or($got->{in_experiment})
           . ", expected $in"
        if null_or($got->{in_experiment}) ne $in;
    return "$d $name: reason " . null_or($got->{reason}) . ", expected "
           . null_or($reason)
        if null_or($got->{reason}) ne null_or($reason);
    return "$d $name: group " . null_or($got->{group}) . ", expected $group"
        if null_or($got->{group}) ne $group;
    my $rule = fast_group($d, $name, $spec->{groups});
    return "$d $name: assigned " . null_or($got->{assigned})
           . ", expected the rule's $rule"
        if null_or($got->{assigned}) ne $rule;
    return '';
}


sub poll {
    my ($check, $seconds) = @_;
    my $deadline = time + $seconds;
    while (1) {
        my $ok = $check->();
        return $ok if $ok || time >= $deadline;
        sleep 0.02;
    }
}


sub get_json {
    my ($uri, @headers) = @_;
    my $a = request('GET', $uri, \@headers);
    die "GET $uri: $a->{status} $a->{body}" if $a->{status} != 200;
    return decode($a->{body});
}


sub post_json {
    my ($uri, $body, @headers) = @_;
    my $a = request('POST', $uri,
                    ['Content-Type: application/json', @headers], $body);
    return ($a->{status}, eval { decode($a->{body}) } // $a->{body});
}


# --- TEST 1: 100,000 devices: holdout 5%, coverage 20%, layers ---------

our %Big = (
    cov    => { groups => [[A => 1], [B => 1]], fallback => 'A',
                coverage => 2000 },
    lay_a  => { groups => [[A => 1], [B => 1]], fallback => 'A',
                layer => ['homepage', 0, 5000] },
    lay_b  => { groups => [[C => 1], [D => 3]], fallback => 'D',
                layer => ['homepage', 5000, 10000] },
    part_x => { groups => [[X => 1], [Y => 1]], fallback => 'X',
                layer => ['partial', 0, 3000] },
    part_y => { groups => [[X => 1], [Y => 1]], fallback => 'Y',
                layer => ['partial', 3000, 5000] },
    all    => { groups => [[P => 1], [Q => 1]], fallback => 'P' },
);
our @BigOrder = qw(cov lay_a lay_b part_x part_y all);

our $BigHttp = <<'_EOC_';
    abtest_holdout 5%;

    abtest_layer homepage {
        lay_a 50;
        lay_b 50%;
    }

    abtest_layer partial {
        part_x 30;
        part_y 20;
    }

    abtest_experiment cov {
        group    A 1;
        group    B 1;
        coverage 20%;
    }

    abtest_experiment lay_a {
        group A 1;
        group B 1;
    }

    abtest_experiment lay_b {
        group    C 1;
        group    D 3;
        fallback D;
    }

    abtest_experiment part_x {
        group X 1;
        group Y 1;
    }

    abtest_experiment part_y {
        group    X 1;
        group    Y 1;
        fallback Y;
    }

    abtest_experiment all {
        group P 1;
        group Q 1;
    }
_EOC_

our $BigConfig = <<'_EOC_';
    keepalive_requests 1000000;
    access_log off;
    abtest on;

    location = /api/expgroups {
        abtest_api expgroups;
    }

    location = /assign {
        return 200 "$ab_groups\n";
    }
_EOC_


sub big_check {
    my $t0 = time;
    my @devs = devices(100000, 'big');

    my @ans = pipeline([map { ['GET', "/api/expgroups?device_id=$_"] }
                        @devs]);
    my @page = pipeline([map { ['GET', '/assign', ["Cookie: device_id=$_"]] }
                         @devs]);
    my $t1 = time;

    my (%in, %group, $held, $unlayered);

    for my $i (0 .. $#devs) {
        my $d = $devs[$i];
        return "$d: expgroups $ans[$i]{status}" if $ans[$i]{status} != 200;
        if ($i < 200) {
            my $e = check_flat($ans[$i]{body});
            return $e if $e;
        }
        my $got = flat($ans[$i]{body});
        my @line;

        for my $name (@BigOrder) {
            my ($reason, $group) = expect($d, $name, $Big{$name},
                                          holdout => 500);
            my $e = check_exp($d, $name, $got->{$name}, $reason, $group,
                              $Big{$name});
            return $e if $e;
            if (!defined $reason) {
                $in{$name}++;
                $group{$name}{$group}++;
            }
            push @line, "$name=$group";
        }

        # from the module's own answers: a layer's experiments share no
        # device, the holdout shares none with any experiment
        my %yes = map { $_ => $got->{$_}{in_experiment} eq 'true' }
                  @BigOrder;
        return "$d is in lay_a and lay_b" if $yes{lay_a} && $yes{lay_b};
        return "$d is in part_x and part_y" if $yes{part_x} && $yes{part_y};
        if ($got->{all}{reason} && $got->{all}{reason} eq 'holdout') {
            $held++;
            return "$d is held out and in an experiment"
                if grep { $yes{$_} } @BigOrder;
            return "$d is held out of all but not of every experiment"
                if grep { null_or($got->{$_}{reason}) ne 'holdout' }
                   @BigOrder;
        }
        $unlayered++ if !$yes{part_x} && !$yes{part_y}
                        && null_or($got->{part_x}{reason}) ne 'holdout';

        my $want = join(',', @line) . "\n";
        return "$d: the page's \$ab_groups is $page[$i]{body}, expected $want"
            if $page[$i]{status} != 200 || $page[$i]{body} ne $want;
    }

    my $n = @devs;
    my $eligible = $n - $held;
    my $e = within_binomial('held out', $held, $n, 0.05)
         || within_binomial('cov, coverage 20%', $in{cov}, $eligible, 0.2)
         || within_binomial('lay_a, 50% of layer homepage', $in{lay_a},
                            $eligible, 0.5)
         || within_binomial('lay_b, 50% of layer homepage', $in{lay_b},
                            $eligible, 0.5)
         || within_binomial('part_x, 30% of layer partial', $in{part_x},
                            $eligible, 0.3)
         || within_binomial('part_y, 20% of layer partial', $in{part_y},
                            $eligible, 0.2)
         || within_binomial('in no experiment of layer partial', $unlayered,
                            $eligible, 0.5)
         || within_binomial('lay_b group C (1 of 4)', $group{lay_b}{C},
                            $in{lay_b}, 0.25)
         || within_binomial('cov group B', $group{cov}{B}, $in{cov}, 0.5);
    return $e if $e;
    return "lay_a and lay_b take " . ($in{lay_a} + $in{lay_b})
           . " devices, not all $eligible of the layer"
        if $in{lay_a} + $in{lay_b} != $eligible;
    return "all has $in{all}, not the $eligible devices not held out"
        if $in{all} != $eligible;

    show_shares();
    Test::More::note(sprintf "100,000 devices: %.1f s of requests, %.1f s "
                     . "in all", $t1 - $t0, time - $t0);
    return '';
}


# --- TEST 2: the order of the reasons ------------------------------------

our %Order = (
    t1     => { groups => [[A => 1], [B => 1]], fallback => 'A',
                layer => ['L', 0, 6000], coverage => 5000, targeted => 1 },
    t2     => { groups => [[A => 1], [B => 1]], fallback => 'B',
                layer => ['L', 6000, 10000], coverage => 7500 },
    later  => { groups => [[A => 1], [B => 1]], fallback => 'A',
                schedule => 1, targeted => 1 },
    over   => { groups => [[A => 1], [B => 1]], fallback => 'A',
                schedule => 1 },
    plain  => { groups => [[A => 1], [B => 2]], fallback => 'A' },
);

our $OrderHttp = <<'_EOC_';
    map $arg_bot $ab_on {
        1       0;
        default 1;
    }

    map $arg_country $ab_country_ok {
        DE      1;
        default 0;
    }

    abtest_holdout 20%;

    abtest_layer L {
        t1 60;
        t2 40;
    }

    abtest_experiment t1 {
        group    A 1;
        group    B 1;
        target   $ab_country_ok;
        coverage 50%;
    }

    abtest_experiment t2 {
        group    A 1;
        group    B 1;
        fallback B;
        coverage 75%;
    }

    abtest_experiment later {
        group  A 1;
        group  B 1;
        target $ab_country_ok;
        start  2099-01-01T00:00:00Z;
    }

    abtest_experiment over {
        group A 1;
        group B 1;
        start 2020-01-01T00:00:00Z;
        stop  2021-01-01T00:00:00.500Z;
    }

    abtest_experiment plain {
        group A 1;
        group B 2;
    }
_EOC_

our $OrderConfig = <<'_EOC_';
    keepalive_requests 1000000;
    access_log off;
    abtest $ab_on;

    location = /api/expgroups {
        abtest_api expgroups;
    }

    location = /assign {
        return 200 "$ab_groups\n";
    }
_EOC_


sub order_check {
    my @devs = devices(4000, 'order');
    my @args = map {
        my $h = hex substr sha256_hex("args:$_"), 0, 4;
        [$h % 10 == 0, ('DE', 'US', '')[$h % 3]]
    } 0 .. $#devs;
    my $q = sub {
        my ($i) = @_;
        return ($args[$i][0] ? '&bot=1' : '')
               . ($args[$i][1] ne '' ? "&country=$args[$i][1]" : '');
    };

    my @ans = pipeline([map { ['GET', "/api/expgroups?device_id=$devs[$_]"
                                      . $q->($_)] } 0 .. $#devs]);
    my @page = pipeline([map { ['GET', '/assign?x=1' . $q->($_),
                                ["Cookie: device_id=$devs[$_]"]] }
                         0 .. $#devs]);
    my %reasons;

    for my $i (0 .. $#devs) {
        my $d = $devs[$i];
        return "$d: expgroups $ans[$i]{status}" if $ans[$i]{status} != 200;
        my $got = flat($ans[$i]{body});
        my @line;
        for my $name (qw(t1 t2 later over plain)) {
            my $s = $Order{$name};
            my ($reason, $group) = expect($d, $name, $s, holdout => 2000,
                excluded => $args[$i][0],
                target => $s->{targeted} && $args[$i][1] ne 'DE');
            my $e = check_exp($d, $name, $got->{$name}, $reason, $group, $s);
            return "$e (args" . $q->($i) . ")" if $e;
            $reasons{$name}{ $reason // 'in' }++;
            push @line, "$name=$group";
        }
        my $want = join(',', @line) . "\n";
        return "$d: the page's \$ab_groups is $page[$i]{body}, expected $want"
            if $page[$i]{body} ne $want;
    }

    # every reason where it can be the first one
    my %need = (t1 => [qw(excluded holdout target layer coverage in)],
                t2 => [qw(excluded holdout layer coverage in)],
                later => [qw(excluded schedule)],
                over => [qw(excluded schedule)],
                plain => [qw(excluded holdout in)]);
    for my $name (sort keys %need) {
        for my $r (@{ $need{$name} }) {
            return "$name: no device with reason $r to check"
                if ($reasons{$name}{$r} // 0) < 20;
        }
        Test::More::note("$name: " . join ', ', map {
            "$_ $reasons{$name}{$_}" } sort keys %{ $reasons{$name} });
    }
    return '';
}


# --- TEST 3: bots kept out by a map of the user agent ---------------------

our %UA = (
    googlebot => 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    googlebot_phone => 'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.201 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    bingbot => 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
    bingpreview => 'Mozilla/5.0 (iPhone; CPU iPhone OS 7_0 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) Version/7.0 Mobile/11A465 Safari/9537.53 BingPreview/1.0b',
    slackbot => 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
    facebook => 'facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)',
    baiduspider => 'Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)',
    chrome => 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
    safari => 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
    iphone => 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1',
    firefox => 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
);
our @Bots = qw(googlebot googlebot_phone bingbot bingpreview slackbot facebook
               baiduspider);
our @Humans = qw(chrome safari iphone firefox);

our $BotHttp = <<'_EOC_';
    # the issue's map, and Facebook's preview fetcher, which says none
    # of those words
    map $http_user_agent $ab_human {
        ~*(bot|crawl|spider|preview|facebookexternalhit) 0;
        default 1;
    }

    abtest_experiment hp {
        group    A 1;
        group    B 1;
        fallback A;
        cookie   exp_group;
    }

    abtest_experiment hl {
        group    Future 1;
        group    Journey 1;
        fallback Journey;
    }
_EOC_

our $BotConfig = <<'_EOC_';
    abtest $ab_human;

    location = /page {
        return 200 "$ab_group_hp $ab_group_hl [$ab_device_id]\n";
    }

    location = /api/expgroups {
        abtest_api expgroups;
    }
_EOC_


sub cookie_of {
    my ($a, $name) = @_;
    my @v = map { /^\Q$name\E=([^;]*)/ ? $1 : () } header($a, 'Set-Cookie');
    return @v;
}


sub bot_check {
    my %hl = (groups => [[Future => 1], [Journey => 1]]);
    my %hp = (groups => [[A => 1], [B => 1]]);
    my $known = '1027c4d1-c386-4bc4-8d61-3e30d8f16adf';

    for my $who (@Bots) {
        my $ua = "User-Agent: $UA{$who}";

        # a new bot: no device cookie, the fallbacks, the group cookie's
        # the fallback too
        my $a = request('GET', '/page', [$ua]);
        return "$who: /page $a->{status}" if $a->{status} != 200;
        return "$who got a device cookie: " . join ' ', cookie_of($a,
                                                             'device_id')
            if cookie_of($a, 'device_id');
        return "$who: the page says $a->{body}"
            if $a->{body} !~ /^A Journey \[/;
        my @g = cookie_of($a, 'exp_group');
        return "$who: exp_group cookies (@g), expected the fallback A"
            if "@g" ne 'A';

        # a bot with a device cookie: read, still out, nothing issued
        $a = request('GET', '/page', [$ua, "Cookie: device_id=$known"]);
        return "$who with a device: the page says $a->{body}"
            if $a->{body} ne "A Journey [$known]\n";
        return "$who with a device got a device cookie"
            if cookie_of($a, 'device_id');

        for my $q ('', "?device_id=$known") {
            my $j = get_json("/api/expgroups$q", $ua,
                             "Cookie: device_id=$known");
            for my $e ([hp => 'A', \%hp], [hl => 'Journey', \%hl]) {
                my ($name, $fb, $s) = @$e;
                my $g = $j->{$name};
                return "$who: expgroups$q $name: "
                       . JSON::PP->new->canonical->encode($g)
                    if ref $g ne 'HASH' || $g->{in_experiment}
                       || ($g->{reason} // '') ne 'excluded'
                       || $g->{group} ne $fb;
            }
        }
    }

    for my $who (@Humans, 'none') {
        my @ua = $who eq 'none' ? () : ("User-Agent: $UA{$who}");
        my $a = request('GET', '/page', \@ua);
        my @d = cookie_of($a, 'device_id');
        return "$who: device cookies (@d), expected one"
            if @d != 1 || $d[0] !~ /^[0-9a-f]{8}-[0-9a-f]{4}-4/;
        my $hp = seed_group($d[0], 'hp', $hp{groups});
        my $hl = seed_group($d[0], 'hl', $hl{groups});
        return "$who: the page says $a->{body}, expected $hp $hl [$d[0]]"
            if $a->{body} ne "$hp $hl [$d[0]]\n";
        my @g = cookie_of($a, 'exp_group');
        return "$who: exp_group (@g), expected $hp" if "@g" ne $hp;

        my $j = get_json('/api/expgroups', @ua, "Cookie: device_id=$d[0]");
        return "$who: expgroups hp " . JSON::PP->new->canonical->encode(
                                           $j->{hp})
            if !$j->{hp}{in_experiment} || defined $j->{hp}{reason}
               || $j->{hp}{group} ne $hp;
        return "$who: expgroups hl in_experiment"
            if !$j->{hl}{in_experiment} || $j->{hl}{group} ne $hl;
    }

    return '';
}


# --- TEST 4: target by a map of a cookie, and by a header -----------------

our $TargetHttp = <<'_EOC_';
    abtest_zone zone=abtest:1m events=1000;

    map $cookie_country $ab_country_ok {
        DE      1;
        FR      1;
        default 0;
    }

    abtest_experiment eu {
        group  A 1;
        group  B 1;
        target $ab_country_ok;
    }

    abtest_experiment hdr {
        group    A 1;
        group    B 1;
        fallback B;
        target   $http_x_country;
    }
_EOC_

our $TargetConfig = <<'_EOC_';
    abtest on;

    location = /page {
        return 200 "$ab_group_eu $ab_group_hdr\n";
    }

    location = /api/expgroups {
        abtest_api expgroups;
    }

    location = /events {
        abtest_api events;
    }
_EOC_


sub target_check {
    my @devs = devices(300, 'target');
    # nginx's map compares strings ignoring case: "de" is DE
    my @cases = (['DE', undef], ['US', 'US'], ['FR', '0'], [undef, ''],
                 ['de', 'yes'], ['AT', 'yes'], [undef, undef]);
    my %g = (groups => [[A => 1], [B => 1]]);
    my %seen;

    my @reqs;
    for my $i (0 .. $#devs) {
        my ($c, $h) = @{ $cases[$i % @cases] };
        my @hd = ('Cookie: device_id=' . $devs[$i]
                  . (defined $c ? "; country=$c" : ''),
                  (defined $h ? ("X-Country: $h") : ()));
        push @reqs, ['GET', '/api/expgroups', \@hd], ['GET', '/page', \@hd];
    }
    my @ans = pipeline(\@reqs);

    for my $i (0 .. $#devs) {
        my $d = $devs[$i];
        my ($c, $h) = @{ $cases[$i % @cases] };
        my $j = flat($ans[2 * $i]{body});
        my @page;
        for my $e (['eu', 'A', defined $c && $c =~ /^(DE|FR)$/i],
                   ['hdr', 'B', defined $h && $h ne '' && $h ne '0'])
        {
            my ($name, $fb, $yes) = @$e;
            my ($reason, $group) = expect($d, $name, { %g, fallback => $fb },
                                          target => !$yes);
            my $err = check_exp($d, $name, $j->{$name}, $reason, $group,
                                \%g);
            return "$err (country " . null_or($c) . ", X-Country "
                   . null_or($h) . ")" if $err;
            $seen{$name}{ $reason // 'in' }++;
            push @page, $group;
        }
        return "$d: the page says $ans[2 * $i + 1]{body}, expected @page"
            if $ans[2 * $i + 1]{body} ne "@page\n";
    }
    for my $name (qw(eu hdr)) {
        return "$name: not both in and target"
            if !$seen{$name}{in} || !$seen{$name}{target};
    }

    # an event POST is judged on its own request: the same device with
    # and without the cookie that targets it
    my $d = $devs[0];
    for my $c ('DE', 'US') {
        my ($s, $b) = post_json('/events', '{"event": "pageview"}',
                                "Cookie: device_id=$d; country=$c",
                                'X-Country: 1');
        return "POST /events with country $c: $s" if $s != 200;
    }
    my $events = get_json('/events?limit=10000');
    my @mine = grep { $_->{event} eq 'pageview' } @$events;
    return scalar(@mine) . " pageviews stored, expected 2" if @mine != 2;
    my $rule = seed_group($d, 'eu', $g{groups});
    my $hdr = seed_group($d, 'hdr', $g{groups});
    my $e = match_json($mine[0]{groups}, { eu => $rule, hdr => $hdr },
                       'the DE event: groups')
         || match_json($mine[0]{reasons}, undef, 'the DE event: reasons')
         || match_json($mine[1]{groups}, { eu => 'A', hdr => $hdr },
                       'the US event: groups')
         || match_json($mine[1]{reasons}, { eu => 'target' },
                       'the US event: reasons')
         || match_json([sort keys %{ $mine[1]{counted} }], ['hdr'],
                       'the US event: counted');
    return $e;
}


# --- TEST 5: coverage and the holdout at run time --------------------------

our %Run = (
    cov   => { groups => [[A => 1], [B => 1]], fallback => 'A' },
    plain => { groups => [[A => 1], [B => 1]], fallback => 'A' },
);

our $RunHttp = <<'_EOC_';
    abtest_zone zone=abtest:1m events=0;
    abtest_holdout 5%;

    abtest_experiment cov {
        group    A 1;
        group    B 1;
        coverage 10%;
    }

    abtest_experiment plain {
        group A 1;
        group B 1;
    }
_EOC_

our $ApiConfig = <<'_EOC_';
    keepalive_requests 1000000;
    access_log off;
    abtest on;

    location /api/experiments {
        abtest_api experiments write=on;
    }

    location = /api/expgroups {
        abtest_api expgroups;
    }
_EOC_


# the devices in cov and held out, checked against the oracle at coverage
# and holdout (of 10000)
sub run_sets {
    my ($devs, $coverage, $holdout) = @_;
    my @ans = pipeline([map { ['GET', "/api/expgroups?device_id=$_"] }
                        @$devs]);
    my (%in, %held);
    for my $i (0 .. $#$devs) {
        my $d = $devs->[$i];
        my $got = flat($ans[$i]{body});
        for my $name (qw(cov plain)) {
            my ($reason, $group) = expect($d, $name, $Run{$name},
                holdout => $holdout,
                coverage => $name eq 'cov' ? $coverage : 10000);
            my $e = check_exp($d, $name, $got->{$name}, $reason, $group,
                              $Run{$name});
            return "at coverage $coverage, holdout $holdout: $e" if $e;
        }
        $in{$d} = 1 if $got->{cov}{in_experiment} eq 'true';
        $held{$d} = 1 if ($got->{plain}{reason} // '') eq 'holdout';
    }
    return (\%in, \%held);
}


sub update {
    my ($body, $want) = @_;
    my ($s, $j) = post_json('/api/experiments/update', $body);
    return "POST $body: $s " . (ref $j ? JSON::PP->new->canonical
                                          ->encode($j) : $j)
        if $s != 200;
    return $want ? match_json($j, $want, "POST $body") : '';
}


sub subset {
    my ($small, $big) = @_;
    my @out = grep { !$big->{$_} } keys %$small;
    return @out;
}


sub run_check {
    my @devs = devices(20000, 'run');

    my ($in10, $held5) = run_sets(\@devs, 1000, 500);
    return $in10 if !ref $in10;
    my $n5 = @devs - keys %$held5;

    my $e = update('{"name": "cov", "coverage": 0.2}',
                   sub { $_[0]{cov}{coverage} == 0.2 ? ''
                         : "coverage $_[0]{cov}{coverage}" });
    return $e if $e;
    my ($in20) = run_sets(\@devs, 2000, 500);
    return $in20 if !ref $in20;
    my @lost = subset($in10, $in20);
    return scalar(@lost) . " devices in at 10% are out at 20%: @lost[0..2]"
        if @lost;
    $e = within_binomial('cov at 10%', scalar(keys %$in10), $n5, 0.1)
      || within_binomial('cov at 20%', scalar(keys %$in20), $n5, 0.2);
    return $e if $e;

    # lowering takes out the devices above the new coverage: the same
    # devices as before at 10%
    $e = update('{"name": "cov", "coverage": 0.1}');
    return $e if $e;
    my ($again) = run_sets(\@devs, 1000, 500);
    return $again if !ref $again;
    return "back at 10%: not the devices of 10% before"
        if subset($again, $in10) || subset($in10, $again);

    $e = update('{"name": "cov", "coverage": 0}');
    return $e if $e;
    my @few = @devs[0 .. 1999];
    my ($none) = run_sets(\@few, 0, 500);
    return $none if !ref $none;
    return "coverage 0 lets devices in" if keys %$none;
    $e = update('{"name": "cov", "coverage": 1}');
    return $e if $e;
    my ($every) = run_sets(\@few, 10000, 500);
    return $every if !ref $every;

    # the holdout at run time: {"holdout": 0.1} alone; raising it only
    # adds devices to it
    my ($s, $j) = post_json('/api/experiments/update', '{"holdout": 0.1}');
    $e = match_json([$s, $j], [200, { holdout => approx(0.1) }],
                    'POST {"holdout": 0.1}');
    return $e if $e;
    my $exps = get_json('/api/experiments');
    for my $name (qw(cov plain)) {
        return "$name: holdout " . null_or($exps->{$name}{holdout})
               . " after the update, expected 0.1"
            if !defined $exps->{$name}{holdout}
               || $exps->{$name}{holdout} != 0.1;
    }
    my (undef, $held10) = run_sets(\@devs, 10000, 1000);
    return $held10 if !ref $held10;
    my @out = subset($held5, $held10);
    return scalar(@out) . " devices held out at 5% are in at 10%" if @out;
    $e = within_binomial('held out at 5%', scalar(keys %$held5),
                         scalar(@devs), 0.05)
      || within_binomial('held out at 10%', scalar(keys %$held10),
                         scalar(@devs), 0.1);
    return $e if $e;

    ($s, $j) = post_json('/api/experiments/update', '{"holdout": 0}');
    return "holdout 0: $s" if $s != 200;
    my (undef, $held0) = run_sets(\@few, 10000, 0);
    return $held0 if !ref $held0;
    return "holdout 0 holds devices out" if keys %$held0;

    show_shares();
    return '';
}


# accepted coverages (TEST 6)
our @GoodShares = qw(0.29 0.57 0.58 0.0003 0.1001 0.9999 2e-1 1.0 0 1);


# --- TEST 7: excluded devices are never counted ----------------------------

our %Count = (
    cov => { groups => [[A => 1], [B => 1]], fallback => 'A',
             coverage => 5000 },
    all => { groups => [[X => 1], [Y => 1]], fallback => 'X' },
);

our $CountHttp = <<'_EOC_';
    abtest_zone zone=abtest:4m events=5000;
    abtest_holdout 10%;

    map $http_user_agent $ab_human {
        ~*(bot|crawl|spider|preview) 0;
        default 1;
    }

    abtest_experiment cov {
        group    A 1;
        group    B 1;
        coverage 50%;
    }

    abtest_experiment all {
        group X 1;
        group Y 1;
    }
_EOC_

our $CountConfig = <<'_EOC_';
    abtest $ab_human;

    location = /events {
        abtest_api events trusted=on;
    }

    location = /api/stats {
        abtest_api stats;
    }

    location /api/experiments {
        abtest_api experiments;
    }
_EOC_


sub count_check {
    my @humans = map { "human-$_" } 1 .. 300;
    my @bots = map { "bot-$_" } 1 .. 30;
    my @plan = map {
        my $i = $_;
        (['human-' . $i, 'pageview'],
         ($i % 3 == 0 ? (['human-' . $i, 'button_click']) : ()))
    } 1 .. 300;
    my @botplan = map { (["bot-$_", 'pageview'], ["bot-$_", 'button_click']) }
                  1 .. 30;

    my $json = sub {
        '[' . join(',', map { qq{{"deviceId": "$_->[0]", "event": "$_->[1]"}} }
                        @_) . ']';
    };
    my ($s, $j) = post_json('/events', $json->(@plan));
    return "POST /events: $s" if $s != 200;
    ($s, $j) = post_json('/events', $json->(@botplan),
                         "User-Agent: $UA{googlebot}");
    return "POST /events as Googlebot: $s" if $s != 200;

    my %reason = map {
        my $d = $_;
        ($d => { map { $_ => scalar entry_reason($d, $_,
                           { %{ $Count{$_} }, holdout => 1000 }) }
                 keys %Count })
    } @humans;
    $reason{$_} = { cov => 'excluded', all => 'excluded' } for @bots;

    # the statistics count only the devices that entered, in the rule's
    # group
    my $stats = get_json('/api/stats');
    for my $name (sort keys %Count) {
        my @counted = map { [@$_, fast_group($_->[0], $name,
                                              $Count{$name}{groups})] }
                      grep { !defined $reason{ $_->[0] }{$name} } @plan;
        my $want = experiment_stats(
            title => $name, state => 'active', exposure => 'pageview',
            goal => 'button_click', control => $Count{$name}{fallback},
            weights => $Count{$name}{groups}, events => \@counted);
        my $e = match_json($stats->{$name}, $want, "stats.$name");
        return $e if $e;
        Test::More::note("$name: " . scalar(@counted) . " of "
                         . scalar(@plan) . " events counted");
    }

    # every stored event: the fallback where the device is out, the
    # reasons of exactly those, counted only where in
    my $events = get_json('/events?limit=10000');
    return scalar(@$events) . " events stored, expected "
           . (@plan + @botplan) if @$events != @plan + @botplan;
    my %kinds;
    for my $ev (@$events) {
        my $d = $ev->{deviceId};
        my $r = $reason{$d} or return "an event of $d";
        my %groups = map {
            $_ => defined $r->{$_} ? $Count{$_}{fallback}
                                   : fast_group($d, $_, $Count{$_}{groups})
        } keys %Count;
        my %reasons = map { defined $r->{$_} ? ($_ => $r->{$_}) : () }
                      keys %Count;
        my @counted = sort grep { !defined $r->{$_} } keys %Count;
        my $e = match_json($ev->{groups}, \%groups, "${d}'s event: groups")
             || match_json($ev->{reasons}, %reasons ? \%reasons : undef,
                           "${d}'s event: reasons")
             || (!%reasons && exists $ev->{reasons}
                 ? "${d}'s event has \"reasons\" but is in every experiment"
                 : '')
             || match_json([sort keys %{ $ev->{counted} // {} }], \@counted,
                           "${d}'s event: counted");
        return $e if $e;
        $kinds{$_}++ for values %reasons;
    }
    for my $k (qw(excluded holdout coverage)) {
        return "no event with reason $k" if !$kinds{$k};
    }
    return '';
}


# --- TEST 8: the schedule crossing while requests flow, two workers -------

our $SchedHttp = <<'_EOC_';
    abtest_experiment sched {
        group A 1;
        group B 1;
        state inactive;
    }

    abtest_experiment other {
        group A 1;
        group B 1;
        state inactive;
    }
_EOC_

our $SchedConfig = <<'_EOC_';
    abtest on;

    location /api/experiments {
        add_header X-Worker $pid always;
        abtest_api experiments write=on;
    }

    location = /api/expgroups {
        add_header X-Worker $pid always;
        abtest_api expgroups;
    }
_EOC_


# clients asking for a device's groups until $until (s), each request on a
# connection of its own so that both workers answer; one line each:
# "sent received worker in_experiment reason group device"
sub flow {
    my ($until, $file, @devs) = @_;
    my @pids;
    for my $c (0 .. 2) {
        my $pid = fork;
        die "fork: $!" if !defined $pid;
        if ($pid == 0) {
            open my $out, '>', "$file.$c" or POSIX::_exit(1);
            my $i = $c;
            while (time < $until) {
                my $d = $devs[$i++ % @devs];
                my $t0 = time;
                my $a = eval { request('GET', "/api/expgroups?device_id=$d") };
                my $t1 = time;
                next if !$a;
                my $g = flat($a->{body})->{sched} // {};
                printf $out "%.6f %.6f %s %s %s %s %s\n", $t0, $t1,
                    (header($a, 'X-Worker'))[0] // '-',
                    null_or($g->{in_experiment}), null_or($g->{reason}),
                    null_or($g->{group}), $d;
            }
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return @pids;
}


sub schedule_body {
    my ($start, $stop) = @_;
    return '{"name": "sched", "start": "' . iso($start) . '", "stop": "'
           . iso($stop) . '"}';
}


sub sched_check {
    my $file = "$Dir/flow";
    my @devs = devices(50, 'sched');
    my %g = (groups => [[A => 1], [B => 1]]);

    # 2.5 s ahead, at a moment that is not a whole second
    my $start = (int(time) + 3) * 1000 + 437;
    my $stop = $start + 3000 + 111;
    my $e = update(schedule_body($start, $stop),
                   sub { my $x = $_[0]{sched};
                         match_json([@$x{qw(state start stop started ended)}],
                                    ['inactive', iso($start), iso($stop),
                                     undef, undef]) });
    return $e if $e;

    my @pids = flow($stop / 1000 + 1.5, $file, @devs);

    # the experiments JSON, polled: the state moves by itself; until both
    # workers answered a second after the stop
    my (@polls, %late);
    my $deadline = $stop / 1000 + 5;
    while (time < $deadline) {
        my $t0 = time;
        my $a = request('GET', '/api/experiments');
        my $t1 = time;
        my $x = decode($a->{body})->{sched};
        my $pid = (header($a, 'X-Worker'))[0];
        push @polls, [$t0, $t1, $pid, @$x{qw(state started ended)}];
        $late{$pid} = 1 if $t0 * 1000 >= $stop + 1000;
        last if keys %late >= 2 && $t0 > $stop / 1000 + 1.5;
        sleep 0.02;
    }
    waitpid $_, 0 for @pids;

    # the polls: inactive before the start, active from it on (within a
    # second) with started at the scheduled moment itself, inactive again
    # after the stop with ended at its moment
    my (%w, $on, $off);
    for my $p (@polls) {
        my ($t0, $t1, $pid, $state, $started, $ended) = @$p;
        my $at = sprintf '%.3f s after the start', $t0 - $start / 1000;
        if ($t1 * 1000 < $start) {
            return "$at: $state before the start" if $state ne 'inactive';
        } elsif ($t0 * 1000 >= $start + 1000 && $t1 * 1000 < $stop) {
            return "$at (worker $pid): $state" if $state ne 'active';
            $w{active}{$pid}++;
        } elsif ($t0 * 1000 >= $stop + 1000) {
            return "$at (worker $pid): $state after the stop"
                if $state ne 'inactive';
            $w{after}{$pid}++;
        }
        if ($state eq 'active') {
            $on //= $t1 * 1000 - $start;
            return "$at: started " . null_or($started) . ", expected "
                   . iso($start)
                if null_or($started) ne iso($start);
            return "$at: ended " . null_or($ended) . " while active"
                if defined $ended;
        }
        if ($state eq 'inactive' && $t0 * 1000 >= $stop) {
            $off //= $t1 * 1000 - $stop;
            my $x = match_json([$started, $ended], [iso($start), iso($stop)],
                               "$at: started, ended");
            return $x if $x;
        }
    }
    return "never active" if !defined $on;
    return "never inactive after the stop" if !defined $off;
    return "active only $on ms after the start" if $on > 1000;
    for my $k (qw(active after)) {
        return "only worker(s) " . join(',', keys %{ $w{$k} // {} })
               . " answered the experiments while $k"
            if keys %{ $w{$k} // {} } < 2;
    }

    # the flow: the fallback with reason "schedule" outside the schedule,
    # the rule's group inside it, on both workers
    my (%phase, $lines);
    for my $c (0 .. 2) {
        open my $fh, '<', "$file.$c" or return "no flow $c";
        while (my $line = <$fh>) {
            $lines++;
            my ($t0, $t1, $pid, $in, $reason, $group, $d) = split ' ', $line;
            my ($p, $want);
            if ($t1 * 1000 < $start) {
                ($p, $want) = ('before', "false schedule A");
            } elsif ($t0 * 1000 >= $start && $t1 * 1000 < $stop) {
                ($p, $want) = ('during',
                               'true null ' . seed_group($d, 'sched',
                                                         $g{groups}));
            } elsif ($t0 * 1000 >= $stop) {
                ($p, $want) = ('after', "false schedule A");
            } else {
                next;    # sent before a moment, answered after it
            }
            return sprintf("%s, %.3f s after the start, worker %s: %s, "
                           . "expected %s", $d, $t0 - $start / 1000, $pid,
                           "$in $reason $group", $want)
                if "$in $reason $group" ne $want;
            $phase{$p}{$pid}++;
        }
    }
    for my $p (qw(before during after)) {
        my $n = 0;
        $n += $_ for values %{ $phase{$p} // {} };
        return "$p: $n requests, on " . scalar(keys %{ $phase{$p} // {} })
               . " worker(s)"
            if $n < 20 || keys %{ $phase{$p} // {} } < 2;
    }
    Test::More::note(sprintf "schedule: %d requests, active %d ms after "
                     . "the start, inactive %d ms after the stop", $lines,
                     $on, $off);
    return '';
}


# --- TEST 9: the schedule moves the state with no request at all ----------

sub state_of {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    my $j = eval { decode($text) } or return '';
    return $j->{experiments}{sched}{state} // '';
}


sub quiet_check {
    my $path = "$Dir/state.json";
    my $start = now_ms() + 1500;
    my $stop = $start + 1500;
    my $e = update(schedule_body($start, $stop));
    return $e if $e;
    return "the state file says " . state_of($path) . " before the start"
        if state_of($path) ne 'inactive';

    # nothing but the state file is looked at until after the stop
    my $active = poll(sub { state_of($path) eq 'active' ? time : 0 },
                      ($start - now_ms()) / 1000 + 1.5);
    return "the state file never said active" if !$active;
    return sprintf "the state file said active %.3f s before the start",
        $start / 1000 - $active if $active * 1000 < $start - 20;
    return sprintf "the state file said active only %.3f s after the start",
        $active - $start / 1000 if $active * 1000 > $start + 1100;
    my $inactive = poll(sub { state_of($path) eq 'inactive' ? time : 0 },
                        ($stop - now_ms()) / 1000 + 1.5);
    return "the state file never said inactive after the stop"
        if !$inactive;
    return sprintf "the state file said inactive %.3f s before the stop",
        $stop / 1000 - $inactive if $inactive * 1000 < $stop - 20;
    return sprintf "the state file said inactive only %.3f s after the stop",
        $inactive - $stop / 1000 if $inactive * 1000 > $stop + 1100;

    my $x = get_json('/api/experiments')->{sched};
    Test::More::note(sprintf "no request: active %d ms after the start, "
                     . "inactive %d ms after the stop (the state file, "
                     . "polled every 20 ms)", $active * 1000 - $start,
                     $inactive * 1000 - $stop);
    return match_json([@$x{qw(state started ended start stop)}],
                      ['inactive', iso($start), iso($stop), iso($start),
                       iso($stop)], 'experiments.sched');
}


# --- TEST 10: the experiments JSON of every new field ---------------------

our $ShapeHttp = <<'_EOC_';
    abtest_zone zone=abtest:1m;
    abtest_holdout 2.5%;

    abtest_layer homepage {
        button 30.25;
        headline 50%;
    }

    abtest_experiment button {
        group    A 50;
        group    B 50;
        target   $http_x_ok;
        coverage 20%;
        start    2026-01-01T00:00:00Z;
        stop     2099-12-31T23:59:59.999Z;
        cookie   exp_group;
    }

    abtest_experiment headline {
        group Future 1;
        group Journey 1;
        start 2099-12-24T00:00:00.250Z;
    }

    abtest_experiment ended {
        group A 1;
        group B 1;
        start 2020-01-01T00:00:00Z;
        stop  2021-01-01T00:00:00Z;
    }

    abtest_experiment plain {
        group    A 1;
        group    B 1;
        coverage 0.01%;
    }
_EOC_


sub exp_json {
    my (%o) = @_;
    return {
        title => $o{title}, groups => $o{groups}, fallback => $o{fallback},
        state => $o{state}, active => $o{state} eq 'active' ? \1 : \0,
        rollout_group => undef, started => $o{started}, ended => $o{ended},
        cookie => $o{cookie}, coverage => approx($o{coverage} // 1),
        target => $o{target}, layer => $o{layer},
        holdout => approx(0.025), start => $o{start}, stop => $o{stop},
    };
}


our $Shapes = {
    button => exp_json(title => 'button', groups => { A => 50, B => 50 },
        fallback => 'A', state => 'active',
        started => '2026-01-01T00:00:00.000Z', cookie => 'exp_group',
        coverage => 0.2, target => '$http_x_ok',
        layer => { name => 'homepage', from => approx(0),
                   to => approx(0.3025) },
        start => '2026-01-01T00:00:00.000Z',
        stop => '2099-12-31T23:59:59.999Z'),
    headline => exp_json(title => 'headline',
        groups => { Future => 1, Journey => 1 }, fallback => 'Future',
        state => 'inactive',
        layer => { name => 'homepage', from => approx(0.3025),
                   to => approx(0.8025) },
        start => '2099-12-24T00:00:00.250Z'),
    ended => exp_json(title => 'ended', groups => { A => 1, B => 1 },
        fallback => 'A', state => 'inactive',
        start => '2020-01-01T00:00:00.000Z',
        stop => '2021-01-01T00:00:00.000Z'),
    plain => exp_json(title => 'plain', groups => { A => 1, B => 1 },
        fallback => 'A', state => 'active', started => 'ISO',
        coverage => 0.0001),
};


# --- TEST 11: out is the fallback in every state, whatever the cookies ----

our %States = (
    roll   => { groups => [[A => 1], [B => 1]], fallback => 'A',
                coverage => 5000 },
    off    => { groups => [[A => 1], [B => 1]], fallback => 'B',
                coverage => 5000 },
    sticky => { groups => [[A => 1], [B => 1]], fallback => 'A',
                coverage => 5000 },
);

our $StatesHttp = <<'_EOC_';
    abtest_zone zone=abtest:1m events=0;

    abtest_experiment roll {
        group    A 1;
        group    B 1;
        state    rollout;
        rollout  B;
        coverage 50%;
        cookie   exp_roll;
    }

    abtest_experiment off {
        group    A 1;
        group    B 1;
        fallback B;
        state    inactive;
        coverage 50%;
    }

    abtest_experiment sticky {
        group    A 1;
        group    B 1;
        coverage 50%;
        cookie   exp_group;
    }
_EOC_

our $StatesConfig = <<'_EOC_';
    keepalive_requests 1000000;
    access_log off;
    abtest on;
    abtest_force on;

    location = /page {
        return 200 "$ab_group_roll $ab_group_off $ab_group_sticky\n";
    }

    location = /api/expgroups {
        abtest_api expgroups;
    }
_EOC_


sub states_check {
    my @devs = devices(2000, 'states');
    my @rule = map { fast_group($_, 'sticky', $States{sticky}{groups}) }
               @devs;

    # each device with the group cookies of its rule's groups (a device
    # that was in once, say), then forced into B
    my @reqs;
    for my $i (0 .. $#devs) {
        my $cookies = "Cookie: device_id=$devs[$i]; exp_group=$rule[$i]; "
                      . "exp_roll=B";
        push @reqs, ['GET', "/api/expgroups?device_id=$devs[$i]"],
                    ['GET', '/page', [$cookies]],
                    ['GET', '/page?abtest_force=sticky:B',
                     ["Cookie: device_id=$devs[$i]"]];
    }
    my @ans = pipeline(\@reqs);
    my %n;

    for my $i (0 .. $#devs) {
        my $d = $devs[$i];
        my ($j, $page, $forced) = @ans[3 * $i .. 3 * $i + 2];
        my $got = flat($j->{body});
        my @page;
        for my $name (qw(roll off sticky)) {
            my $s = $States{$name};
            my ($reason, $group) = expect($d, $name, $s);
            # in: the rollout group in rollout, the fallback when inactive
            $group = 'B' if !defined $reason && $name ne 'sticky';
            my $e = check_exp($d, $name, $got->{$name}, $reason, $group,
                              $s);
            return $e if $e;
            push @page, $group;
            $n{$name}{ $reason // 'in' }++;
        }
        return "$d: the page says $page->{body}, expected @page"
            if $page->{body} ne "@page\n";
        my @set = cookie_of($page, 'exp_group');
        return "$d: Set-Cookie exp_group (@set), expected $page[2]"
            if @set && "@set" ne $page[2];
        return "$d: no Set-Cookie exp_group=$page[2] for a device out of "
               . "sticky with exp_group=$rule[$i]"
            if !@set && $page[2] ne $rule[$i];
        @set = cookie_of($page, 'exp_roll');
        return "$d: Set-Cookie exp_roll (@set), expected $page[0]"
            if @set && "@set" ne $page[0];

        # a forced group wins over everything, out of the experiment too
        my @f = split ' ', $forced->{body};
        return "$d: forced into sticky:B, the page says $forced->{body}"
            if ($f[2] // '') ne 'B';
    }
    for my $name (qw(roll off sticky)) {
        return "$name: not both in and out"
            if !$n{$name}{in} || !$n{$name}{coverage};
    }
    return '';
}


# --- TESTS 12, 13: coverage, schedule, holdout outlive a restart ----------

our $RestartHttp = <<'_EOC_';
    abtest_holdout 5%;

    abtest_experiment cov {
        group    A 1;
        group    B 1;
        coverage 10%;
    }

    abtest_experiment sched {
        group A 1;
        group B 1;
    }
_EOC_


sub restart_set {
    my $e = update('{"name": "cov", "coverage": 0.35}')
         || update('{"name": "sched", "start": "2099-12-24T00:00:00Z", '
                   . '"stop": "2100-01-07T00:00:00.001Z"}');
    return $e if $e;
    my ($s) = post_json('/api/experiments/update', '{"holdout": 0.07}');
    return "holdout: $s" if $s != 200;
    return restart_check();
}


sub restart_check {
    my $x = get_json('/api/experiments');
    my $e = match_json([@{ $x->{cov} }{qw(coverage holdout)},
                        @{ $x->{sched} }{qw(start stop holdout state)}],
                       [approx(0.35), approx(0.07),
                        '2099-12-24T00:00:00.000Z',
                        '2100-01-07T00:00:00.001Z', approx(0.07), 'active'],
                       'experiments');
    return $e if $e;

    my @devs = devices(3000, 'restart');
    my @ans = pipeline([map { ['GET', "/api/expgroups?device_id=$_"] }
                        @devs]);
    for my $i (0 .. $#devs) {
        my $d = $devs[$i];
        my $got = flat($ans[$i]{body});
        for my $e (['cov', { groups => [[A => 1], [B => 1]], fallback => 'A',
                             coverage => 3500 }],
                   ['sched', { groups => [[A => 1], [B => 1]],
                               fallback => 'A', schedule => 1 }])
        {
            my ($reason, $group) = expect($d, $e->[0], $e->[1],
                                          holdout => 700);
            my $err = check_exp($d, $e->[0], $got->{$e->[0]}, $reason,
                                $group, $e->[1]);
            return $err if $err;
        }
    }
    return '';
}


# --- TEST 14: a reload keeps them; an edited configuration wins ------------

sub reload_to {
    my ($edit) = @_;
    my $root = Test::Nginx::Socket::server_root();
    my $master = ABTest::Nginx::master_pid($root) or return "no master";
    my @old = ABTest::Nginx::worker_pids($master);
    if ($edit) {
        my $conf = "$root/conf/nginx.conf";
        open my $in, '<', $conf or return "$conf: $!";
        my $text = do { local $/; <$in> };
        close $in;
        $edit->($text) or return "the edit did not apply";
        open my $out, '>', $conf or return "$conf: $!";
        print $out $text;
        close $out;
    }
    kill 'HUP', $master;
    my $ok = poll(sub {
        my @now = ABTest::Nginx::worker_pids($master);
        my @new = ABTest::Nginx::new_workers($master, @old);
        return @new == 2 && @now == 2;
    }, 10);
    return $ok ? '' : 'the reload did not replace both workers';
}


sub reload_check {
    my $e = update('{"name": "cov", "coverage": 0.3}')
         || update('{"name": "sched", "start": "2099-12-24T00:00:00Z"}');
    return $e if $e;
    my ($s) = post_json('/api/experiments/update', '{"holdout": 0.08}');
    return "holdout: $s" if $s != 200;

    my $fields = sub {
        my $x = get_json('/api/experiments');
        return [@{ $x->{cov} }{qw(coverage holdout)}, $x->{sched}{start}];
    };

    $e = reload_to()
      || match_json($fields->(), [approx(0.3), approx(0.08),
                                  '2099-12-24T00:00:00.000Z'],
                    'after a reload');
    return $e if $e;

    # the configured coverage and holdout edited: the edit wins, once the
    # new configuration has met the zone (its first worker's start), and
    # no old worker answers any more
    $e = reload_to(sub {
            $_[0] =~ s/coverage 10%;/coverage 40%;/
            && $_[0] =~ s/abtest_holdout 5%;/abtest_holdout 6%;/ });
    return $e if $e;
    my $want = [approx(0.4), approx(0.06), '2099-12-24T00:00:00.000Z'];
    poll(sub { !match_json($fields->(), $want) }, 10);
    return match_json($fields->(), $want,
                      'after a reload with coverage and holdout edited');
}


# --- TEST 15: a start already passed, then stopped by hand ----------------

sub passed_check {
    my $start = now_ms() - 1000;
    my $e = update('{"name": "sched", "start": "' . iso($start) . '"}');
    return $e if $e;

    # from the moment on, before the timer's pass too (it may be a second
    # away), a device is in with the rule's group (a device whose group
    # is not the fallback)
    my ($d) = grep { seed_group($_, 'sched', [[A => 1], [B => 1]]) eq 'B' }
              devices(20, 'passed');
    my $g = get_json("/api/expgroups?device_id=$d")->{sched};
    my $state = get_json('/api/experiments')->{sched}{state};
    $e = match_json([@$g{qw(in_experiment reason group)}], [\1, undef, 'B'],
                    "expgroups at once after a start set in the past "
                    . "(the experiments JSON says $state)");
    return $e if $e;

    my $x = poll(sub {
        my $j = get_json('/api/experiments');
        return $j->{sched}{state} eq 'active' ? $j : 0;
    }, 1.5) or return 'a start 1 s ago did not activate within 1.5 s';
    $e = match_json($x->{sched}{started}, iso($start), 'started');
    return $e if $e;

    # stopped by hand: the schedule does not start it again.  The timer's
    # next pass is seen by the other experiment's start, just after
    $e = update('{"name": "sched", "state": "inactive"}');
    return $e if $e;
    my $other = now_ms() + 300;
    $e = update('{"name": "other", "start": "' . iso($other) . '"}');
    return $e if $e;
    $x = poll(sub {
        my $j = get_json('/api/experiments');
        return $j->{other}{state} eq 'active' ? $j : 0;
    }, 2) or return 'other did not start';
    return match_json([@{ $x->{sched} }{qw(state started ended)},
                       $x->{other}{started}],
                      ['inactive', iso($start), 'ISO', iso($other)],
                      'after the next pass');
}


# a start already passed: the schedule's first look, at once after the start
sub shape_check {
    my $j = poll(sub {
        my $x = get_json('/api/experiments');
        return $x->{button}{state} eq 'active' ? $x : 0;
    }, 2) || get_json('/api/experiments');
    return match_json($j, $Shapes);
}


json_body_check();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('no_error_log', "[error]\n[alert]\n")
        if !defined $block->no_error_log;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: 100,000 devices against the oracle: holdout 5%, coverage 20%, a layer 50/50, a layer 30/20 (50% unused); shares within 99.9% bounds, layers and holdout disjoint
--- http_config eval: $::BigHttp
--- config eval: $::BigConfig
--- request
GET /api/expgroups
--- json eval
sub { ::big_check() }
--- timeout: 120



=== TEST 2: the first reason that applies: excluded, schedule, holdout, target, layer, coverage (4000 devices, a page and expgroups)
--- http_config eval: $::OrderHttp
--- config eval: $::OrderConfig
--- request
GET /api/expgroups
--- json eval
sub { ::order_check() }



=== TEST 3: abtest $ab_human (a map of real user agents): bots get the fallbacks, reason "excluded", no device cookie; people a device and the rule's groups
--- http_config eval: $::BotHttp
--- config eval: $::BotConfig
--- request
GET /api/expgroups
--- json eval
sub { ::bot_check() }



=== TEST 4: target $ab_country_ok (a map of $cookie_country) and target $http_x_country; an event judged in its own request
--- http_config eval: $::TargetHttp
--- config eval: $::TargetConfig
--- request
GET /api/expgroups
--- json eval
sub { ::target_check() }



=== TEST 5: coverage at run time is monotone (10% -> 20% only adds, back to 10% the same devices, 0, 1); the holdout at run time
--- http_config eval: $::RunHttp
--- config eval: $::ApiConfig
--- request
GET /api/expgroups
--- json eval
sub { ::run_check() }
--- timeout: 60



=== TEST 6: bad coverage, start, stop, holdout in an update: 400 naming the field, nothing changed
--- http_config eval: $::RunHttp
--- config eval: $::ApiConfig
--- more_headers
Content-Type: application/json
--- request eval
my $up = "POST /api/experiments/update\n";
[map({ $up . qq{{"name": "cov", "coverage": $_}} }
     '"0.2"', '-0.1', '1.5', '1.0001', '0.00005', '0.12345', 'true',
     '{"x": 1}', '[0.2]', '"20%"'),
 map({ $up . qq{{"name": "cov", "start": $_}} }
     '"2026-12-24"', '"2026-12-24T00:00:00"', '"2026-12-24T00:00:00+01:00"',
     '"2026-02-30T00:00:00Z"', '"2026-12-24T24:00:00Z"', '"tomorrow"',
     '1798070400000', 'true'),
 map({ $up . qq{{"name": "cov", "stop": $_}} }
     '"2026-12-24 00:00:00Z"', '"2026-13-01T00:00:00Z"', '12'),
 $up . '{"name": "cov", "start": "2026-12-24T00:00:00Z", "stop": "2026-12-23T23:59:59.999Z"}',
 $up . '{"name": "cov", "start": "2026-12-24T00:00:00Z", "stop": "2026-12-24T00:00:00Z"}',
 $up . '{"name": "cov", "start": "2099-12-24T00:00:00Z"}',
 $up . '{"name": "cov", "stop": "2099-12-23T00:00:00Z"}',
 $up . '{"name": "cov", "start": null}',
 map({ $up . $_ } '{"holdout": 1.5}', '{"holdout": -0.01}',
     '{"holdout": "5%"}', '{"holdout": 0.00001}', '{"holdout": null}',
     '{"holdout": 0.05, "coverage": 0.1}',
     '{"name": "cov", "holdout": 0.05}'),
 # shares that a float times 10000 does not give exactly
 map({ $up . qq{{"name": "cov", "coverage": $_}} } @::GoodShares),
 $up . '{"name": "cov", "coverage": 0.1}',
 $up . '{"name": "cov", "start": "2028-02-29T12:34:56.789Z"}',
 $up . '{"name": "cov", "start": "2027-02-29T12:34:56.789Z"}',
 $up . '{"name": "cov", "start": null, "stop": null}',
 "GET /api/experiments"]
--- error_code eval
[(400) x 10, (400) x 8, (400) x 3, 400, 400, 200, 400, 200, (400) x 7,
 (200) x @::GoodShares, 200, 200, 400, 200, 200]
--- json eval
[({ error => qr/coverage/ }) x 10,
 ({ error => qr/start/ }) x 8,
 ({ error => qr/stop/ }) x 3,
 ({ error => qr/stop/ }) x 2,
 sub { ::match_json($_[0]{cov}{start}, '2099-12-24T00:00:00.000Z') },
 { error => qr/stop/ },
 sub { ::match_json([@{ $_[0]{cov} }{qw(start stop)}], [undef, undef]) },
 ({ error => qr/holdout/ }) x 7,
 map({ my $x = $_;
       sub { ::match_json($_[0]{cov}{coverage}, ::approx(eval $x)) } }
     @::GoodShares),
 sub { ::match_json($_[0]{cov}{coverage}, ::approx(0.1)) },
 sub { ::match_json($_[0]{cov}{start}, '2028-02-29T12:34:56.789Z') },
 { error => qr/start/ },
 sub { ::match_json([@{ $_[0]{cov} }{qw(start stop)}], [undef, undef]) },
 sub {
     my $j = shift;
     ::match_json([map { @{ $j->{$_} }{qw(coverage holdout start stop
                                          state)} } qw(cov plain)],
                  [::approx(0.1), ::approx(0.05), undef, undef, 'active',
                   ::approx(1), ::approx(0.05), undef, undef, 'active']);
 }]



=== TEST 7: devices out of an experiment are not counted (events, devices) and get the fallback; stored events carry "reasons" (holdout, coverage, a bot excluded)
--- http_config eval: $::CountHttp
--- config eval: $::CountConfig
--- request
GET /api/experiments
--- json eval
sub { ::count_check() }



=== TEST 8: a schedule set through the API 2.5 s ahead for 3 s, requests flowing on two workers: "schedule" and the fallback before, the rule's groups after; active by itself with started at the moment; stop likewise
--- http_config eval
"    abtest_zone zone=abtest:1m events=0;\n" . $::SchedHttp
--- config eval: $::SchedConfig
--- request
GET /api/experiments
--- json eval
sub { ::sched_check() }
--- timeout: 30



=== TEST 9: with no request at all, the schedule moves the state (the state file says so) at its moments
--- http_config eval
"    abtest_zone zone=abtest:1m state=$::Dir/state.json;\n" . $::SchedHttp
--- config eval: $::SchedConfig
--- request
GET /api/experiments
--- json eval
sub { ::quiet_check() }
--- timeout: 30



=== TEST 10: the experiments JSON: coverage, target, layer, holdout, start, stop; a start already passed activates the experiment as of its moment, one to come or a stop passed keeps it inactive
--- http_config eval: $::ShapeHttp
--- config eval: $::ApiConfig
--- request
GET /api/experiments
--- json eval
sub { ::shape_check() }



=== TEST 11: devices out of an experiment get the fallback in rollout and inactive too, a group cookie of the rule's group does not bring them in, a forced group still wins
--- http_config eval: $::StatesHttp
--- config eval: $::StatesConfig
--- request
GET /api/expgroups
--- json eval
sub { ::states_check() }



=== TEST 12: coverage, schedule and holdout set at run time, into the state file
--- http_config eval
"    abtest_zone zone=abtest:1m state=$::Dir/restart.json;\n" . $::RestartHttp
--- config eval: $::ApiConfig
--- request
GET /api/expgroups
--- json eval
sub { ::restart_set() }



=== TEST 13: after a restart, the state file gives them back
--- http_config eval
"    abtest_zone zone=abtest:1m state=$::Dir/restart.json;\n" . $::RestartHttp
--- config eval: $::ApiConfig
--- request
GET /api/expgroups
--- json eval
sub { ::restart_check() }



=== TEST 14: a reload keeps coverage, schedule and holdout set at run time; a reload with the configured coverage and holdout edited takes them
--- http_config eval
"    abtest_zone zone=abtest:1m;\n" . $::RestartHttp
--- config eval: $::ApiConfig
--- request
GET /api/expgroups
--- json eval
sub { ::reload_check() }
--- timeout: 30



=== TEST 15: a start set at a moment already passed: devices in with the rule's group at once, active as of that moment; stopped by hand, the schedule does not start it again
--- http_config eval
"    abtest_zone zone=abtest:1m;\n" . $::SchedHttp
--- config eval: $::SchedConfig
--- request
GET /api/experiments
--- json eval
sub { ::passed_check() }
