# vim:set ft= ts=4 sw=4 et fdm=marker:

# The admin location: the page is admin/admin.html with the API locations
# filled in, served with a Content-Security-Policy naming the hashes of
# its own inline script and style (computed here with Digest::SHA); a
# hostile title stays out of the page and is exact in the JSON; writes
# from another site are refused.

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use ABTest::Json qw(json_body_check);
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64);

our $Hostile = q{</script><script>alert(1)</script><img src=x onerror=alert(2)>};

our $HttpConfig = <<"_EOC_";
    abtest_zone zone=abtest:1m;

    abtest_experiment homepage_button_test {
        group    A 50;
        group    B 50;
        title    '$Hostile';
    }
_EOC_

our $Config = <<'_EOC_';
    abtest on;

    location = /experiments {
        abtest_admin;
    }

    location = /other/admin {
        abtest_admin experiments=/x/experiments stats=/x/stats;
    }

    location /api/experiments {
        abtest_api experiments write=on;
    }
_EOC_


# the page as the repository has it
sub page_source {
    open my $fh, '<:raw', 'admin/admin.html' or die "admin/admin.html: $!";
    local $/;
    my $html = <$fh>;
    close $fh;
    return $html;
}

sub page {
    my ($experiments, $stats) = @_;
    my $html = page_source();
    $html =~ s/\@ABTEST_EXPERIMENTS_URI\@/$experiments/g;
    $html =~ s/\@ABTEST_STATS_URI\@/$stats/g;
    return $html;
}

sub csp {
    my $html = page_source();
    my @scripts = $html =~ m{<script>(.*?)</script>}gs;
    my @styles = $html =~ m{<style>(.*?)</style>}gs;
    die "no inline script or style" if !@scripts || !@styles;
    my $hash = sub { "'sha256-" . encode_base64(sha256($_[0]), '') . "'" };
    return "default-src 'none'; script-src "
           . join(' ', map { $hash->($_) } @scripts)
           . "; style-src " . join(' ', map { $hash->($_) } @styles)
           . "; connect-src 'self'; img-src 'self' data:; base-uri 'none';"
           . " form-action 'none'; frame-ancestors 'none'";
}

sub post {
    my ($body) = @_;
    return "POST /api/experiments/update\n$body";
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

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the page is admin/admin.html with the default API locations
--- request
GET /experiments
--- response_headers eval
"Content-Type: text/html; charset=utf-8
Cache-Control: no-store
X-Frame-Options: DENY
X-Content-Type-Options: nosniff
Referrer-Policy: no-referrer
Content-Security-Policy: " . ::csp()
--- response_body eval
::page('/api/experiments', '/api/stats')



=== TEST 2: experiments= and stats= give other locations
--- request
GET /other/admin
--- response_headers eval
"Content-Security-Policy: " . ::csp()
--- response_body eval
::page('/x/experiments', '/x/stats')



=== TEST 3: HEAD; other methods are refused
--- request eval
["HEAD /experiments", "POST /experiments\nx=1"]
--- error_code eval
[200, 405]
--- response_headers eval
["Content-Type: text/html; charset=utf-8", "Allow: GET, HEAD"]
--- response_body eval
["", qq{{"error":"method POST is not allowed here, only GET, HEAD"}\n}]



=== TEST 4: a hostile title never enters the page; the JSON gives it exactly
--- request eval
["GET /experiments", "GET /api/experiments"]
--- response_body_unlike eval
[qr/\Q$::Hostile\E|onerror=alert|alert\(/, qr/^$/]
--- json eval
[undef,
 { homepage_button_test => sub {
       my ($got) = @_;
       return $got->{title} eq $::Hostile ? ''
              : "title: $got->{title}";
   } }]



=== TEST 5: writes from another site are refused; form posts too
--- request eval
my $change = '{"name": "homepage_button_test", "state": "inactive"}';
[::post($change), ::post($change), ::post($change), ::post($change),
 ::post($change), ::post('name=homepage_button_test&state=inactive'),
 "GET /api/experiments"]
--- more_headers eval
["Content-Type: application/json\nOrigin: http://evil.example",
 "Content-Type: application/json\nOrigin: null",
 "Content-Type: application/json\nOrigin: http://localhost.evil.example",
 "Content-Type: application/json\nSec-Fetch-Site: cross-site",
 "Content-Type: application/json\nSec-Fetch-Site: same-site",
 "Content-Type: application/x-www-form-urlencoded\nOrigin: http://localhost",
 ""]
--- error_code eval
[403, 403, 403, 403, 403, 415, 200]
--- json eval
my $refused = { error => 'Origin: writes from another site are refused' };
[$refused, $refused, $refused, $refused, $refused,
 { error => 'Content-Type: must be application/json' },
 { homepage_button_test => sub {
       $_[0]{state} eq 'active' ? '' : "state $_[0]{state}"
   } }]



=== TEST 6: writes from the page's own origin, or with no browser, are taken
--- request eval
[::post('{"name": "homepage_button_test", "state": "inactive"}'),
 ::post('{"name": "homepage_button_test", "state": "active"}'),
 ::post('{"name": "homepage_button_test", "state": "inactive"}')]
--- more_headers eval
["Content-Type: application/json\nOrigin: http://localhost\nSec-Fetch-Site: same-origin",
 "Content-Type: application/json\nOrigin: https://LOCALHOST",
 "Content-Type: application/json"]
--- error_code eval
[200, 200, 200]
--- json eval
my $state = sub { my $s = shift; sub {
    $_[0]{homepage_button_test}{state} eq $s ? '' : 'wrong state' } };
[$state->('inactive'), $state->('active'), $state->('inactive')]



=== TEST 7: abtest_admin: a location that is not a path is refused
--- config
    location = /experiments {
        abtest_admin experiments=api/experiments;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "experiments=api\/experiments": use a path starting with "\/", of \[A-Za-z0-9\/_.~-\]/



=== TEST 8: abtest_admin: characters that could leave the attribute are refused
--- config
    location = /experiments {
        abtest_admin stats=/a"onload="x;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid "stats=\/a"onload="x": use a path starting with "\/"/



=== TEST 9: abtest_admin: an unknown parameter
--- config
    location = /experiments {
        abtest_admin write=on;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "write=on"/
