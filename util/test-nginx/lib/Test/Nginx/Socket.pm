package Test::Nginx::Socket;

# A small runner for the subset of openresty's Test::Nginx::Socket that
# this project's t/*.t files use, built on Test::Base as the real one is.
# The real Test::Nginx is on CPAN only; the same .t files pass under it
# (util/run-tests.sh with TEST_NGINX_LIB).  See util/test-nginx/README.md
# for what is supported.

use Test::Base -Base;

use Cwd qw(cwd);
use File::Path qw(make_path remove_tree);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

our $VERSION = '0.1';

our @EXPORT = qw(
    run_tests no_shuffle repeat_each master_on master_off workers
    worker_connections log_level no_long_string no_root_location
    add_block_preprocessor add_response_body_check env_to_nginx
    server_port server_root html_dir bail_out check_accum_error_log
    $ServerPort $ServerRoot
);

our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                  || 1984;
our $ServerRoot = cwd() . '/t/servroot';

$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
    if !defined $ENV{TEST_NGINX_SERVER_PORT};

my $Binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $UseHup = $ENV{TEST_NGINX_USE_HUP};
my $Timeout = 5;

my ($MasterOn, $Workers, $WorkerConnections, $LogLevel) = (0, 1, 64,
                                                           'debug');
my ($RepeatEach, $NoRootLocation) = (1, 0);
my (@Preprocessors, @BodyChecks, @EnvToNginx);
my $Running = 0;


sub no_shuffle () { }
sub no_long_string () { }
sub check_accum_error_log () { }
sub master_on () { $MasterOn = 1 }
sub master_off () { $MasterOn = 0 }
sub workers ($) { $Workers = shift }
sub worker_connections ($) { $WorkerConnections = shift }
sub log_level ($) { $LogLevel = shift }
sub no_root_location () { $NoRootLocation = 1 }
sub repeat_each (@) { $RepeatEach = shift if @_; $RepeatEach }
sub add_block_preprocessor ($) { push @Preprocessors, shift }
sub add_response_body_check ($) { push @BodyChecks, shift }
sub env_to_nginx (@) { push @EnvToNginx, @_ }
sub server_port () { $ServerPort }
sub server_root () { $ServerRoot }
sub html_dir () { "$ServerRoot/html" }

sub bail_out ($) {
    stop_nginx();
    Test::More::BAIL_OUT(shift);
}


# $TEST_NGINX_* in configuration text, as the real one: undefined is fatal
sub expand_env ($) {
    my $text = shift;

    return '' if !defined $text;

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} ? $ENV{$1}
                         : bail_out("No environment $1 defined.\n")
    }ge;

    return $text;
}


sub nginx_pid () {
    open my $fh, '<', "$ServerRoot/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    return undef if !defined $pid;
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}


# nginx runs as a daemon, not our child: wait until the master is gone
sub stop_nginx () {
    return if !$Running;
    $Running = 0;

    my $pid = nginx_pid();
    return if !$pid;

    kill 'QUIT', $pid;

    my $deadline = time + 5;
    while (kill(0, $pid) && time < $deadline) {
        sleep 0.02;
    }

    if (kill 0, $pid) {
        kill 'KILL', $pid;
        sleep 0.1;
    }
}


END {
    stop_nginx();
}


sub write_config ($) {
    my $block = shift;

    my $user = $> == 0 ? "user root;\n" : '';
    my $master = $MasterOn ? 'on' : 'off';
    my $load = '';

    for my $so (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '') {
        $load .= "load_module $so;\n";
    }

    my $env = join '', map { "env $_;\n" } @EnvToNginx;
    my $main = expand_env($block->main_config);
    my $http = expand_env($block->http_config);
    my $server = expand_env($block->config);
    my $root = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $ServerRoot/html;
            index index.html index.htm;
        }
_EOC_

    my $conf = <<"_EOC_";
$load${user}worker_processes $Workers;
daemon on;
master_process $master;
error_log $ServerRoot/logs/error.log $LogLevel;
pid $ServerRoot/logs/nginx.pid;
$env
$main

events {
    accept_mutex off;
    worker_connections $WorkerConnections;
}

http {
    access_log $ServerRoot/logs/access.log;
    default_type text/plain;
    keepalive_timeout 68;

    client_body_temp_path $ServerRoot/client_body_temp;
    proxy_temp_path $ServerRoot/proxy_temp;
    fastcgi_temp_path $ServerRoot/fastcgi_temp;
    uwsgi_temp_path $ServerRoot/uwsgi_temp;
    scgi_temp_path $ServerRoot/scgi_temp;

$http

    server {
        listen 127.0.0.1:$ServerPort;
        server_name localhost;
        client_max_body_size 30M;

$server

$root    }
}
_EOC_

    open my $fh, '>', "$ServerRoot/conf/nginx.conf"
        or bail_out("cannot write nginx.conf: $!");
    print $fh $conf;
    close $fh;
}


sub write_user_files ($) {
    my $block = shift;

    my $files = $block->user_files;
    return if !defined $files;

    my @files = ref $files ? @$files : ();

    if (!ref $files) {
        while ($files =~ /^>>> (\S+)\n(.*?)(?=^>>> |\z)/msg) {
            push @files, [$1, $2];
        }
    }

    for my $f (@files) {
        my ($name, $body) = @$f;
        my $path = "$ServerRoot/html/$name";
        (my $dir = $path) =~ s{/[^/]+$}{};
        make_path($dir);
        open my $fh, '>', $path or bail_out("cannot write $path: $!");
        print $fh $body;
        close $fh;
    }
}


sub error_log_size () {
    return -s "$ServerRoot/logs/error.log" || 0;
}


sub read_error_log ($) {
    my $from = shift;

    open my $fh, '<', "$ServerRoot/logs/error.log" or return '';
    seek $fh, $from, 0;
    local $/;
    my $text = <$fh>;
    close $fh;

    return $text // '';
}


sub wait_for_port () {
    my $deadline = time + $Timeout;

    while (time < $deadline) {
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                         PeerPort => $ServerPort,
                                         Proto => 'tcp');
        if ($sock) {
            close $sock;
            return 1;
        }

        sleep 0.01;
    }

    return 0;
}


# returns (started, nginx's stderr)
sub start_nginx ($) {
    my $block = shift;

    my $cmd = "$Binary -p $ServerRoot/ -c $ServerRoot/conf/nginx.conf"
              . " 2>&1";
    my $out = `$cmd`;
    my $ok = $? == 0;

    if ($ok) {
        $Running = 1;
        $ok = wait_for_port();
    }

    return ($ok, $out);
}


sub prepare_server_root () {
    remove_tree($ServerRoot) if -d $ServerRoot;
    make_path("$ServerRoot/conf", "$ServerRoot/logs", "$ServerRoot/html");
}


sub parse_request ($) {
    my $text = shift;

    $text =~ s/^\s+//;
    my ($line, $body) = split /\n/, $text, 2;
    $line =~ s/\s+$//;

    my ($method, $uri, $proto) = split ' ', $line;
    $body = '' if !defined $body;
    $body =~ s/\n\z//;

    return ($method, $uri, $proto || 'HTTP/1.1', $body);
}


sub more_headers ($$) {
    my ($block, $i) = @_;

    my $h = $block->more_headers;
    return () if !defined $h;

    $h = $h->[$i] if ref $h eq 'ARRAY';
    $h = expand_env($h);

    return grep { /\S/ } split /\r?\n/, $h;
}


sub send_request ($$$) {
    my ($block, $req, $i) = @_;

    my ($method, $uri, $proto, $body) = parse_request($req);

    my @headers = ("Host: localhost", "Connection: close",
                   more_headers($block, $i));

    if (length $body || $method eq 'POST' || $method eq 'PUT') {
        push @headers, "Content-Length: " . length $body;
    }

    my $raw = "$method $uri $proto\r\n" . join('', map { "$_\r\n" } @headers)
              . "\r\n" . $body;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $ServerPort,
                                     Proto => 'tcp',
                                     Timeout => $Timeout)
        or return undef;

    print $sock $raw;

    my $sel = IO::Select->new($sock);
    my $resp = '';
    my $timeout = $block->timeout || $Timeout;
    my $deadline = time + $timeout;

    while (time < $deadline) {
        last if !$sel->can_read($deadline - time);
        my $n = sysread $sock, my $buf, 65536;
        last if !$n;
        $resp .= $buf;
    }

    close $sock;

    return parse_response($resp);
}


sub parse_response ($) {
    my $resp = shift;

    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    return { code => '', raw_headers => $resp, headers => {}, body => '' }
        if !defined $head;

    $body = '' if !defined $body;

    my ($status, @lines) = split /\r\n/, $head;
    my ($code) = $status =~ m{^HTTP/\d\.\d (\d+)};
    my %headers;

    for my $l (@lines) {
        my ($k, $v) = $l =~ /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $headers{$k} = defined $headers{$k} ? "$headers{$k}, $v" : $v;
    }

    if (($headers{'transfer-encoding'} // '') =~ /chunked/i) {
        my $decoded = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $decoded .= substr $body, 0, $len, '';
            $body =~ s/^\r\n//;
        }
        $body = $decoded;
    }

    return { code => $code // '', raw_headers => "$head\r\n\r\n",
             headers => \%headers, body => $body };
}


# one expectation, or the i-th of an array of them
sub pick ($$) {
    my ($v, $i) = @_;
    return ref $v eq 'ARRAY' ? $v->[$i] : $v;
}


sub as_regex ($) {
    my $v = shift;
    return $v if ref $v eq 'Regexp';
    return qr/$v/sm;
}


sub check_response ($$$$) {
    my ($block, $res, $i, $label) = @_;

    my $name = $block->name . $label;

    if (defined(my $code = pick($block->error_code, $i))) {
        is($res->{code}, $code, "$name - status code ok");
    }

    if (defined(my $want = pick($block->response_headers, $i))) {
        for my $line (grep { /\S/ } split /\n/, $want) {
            if ($line =~ /^!\s*([^:\s]+)\s*$/) {
                ok(!defined $res->{headers}{lc $1},
                   "$name - header $1 not present");
                next;
            }

            my ($k, $v) = $line =~ /^([^:]+):\s*(.*?)\s*$/ or next;
            is($res->{headers}{lc $k} // '', $v,
               "$name - header $k ok");
        }
    }

    if (defined(my $want = pick($block->response_headers_like, $i))) {
        for my $line (grep { /\S/ } split /\n/, $want) {
            my ($k, $v) = $line =~ /^([^:]+):\s*(.*?)\s*$/ or next;
            like($res->{headers}{lc $k} // '', qr/$v/s,
                 "$name - header $k like");
        }
    }

    if (defined(my $want = pick($block->raw_response_headers_like, $i))) {
        like($res->{raw_headers}, as_regex($want),
             "$name - raw resp headers like");
    }

    if (defined(my $want = pick($block->raw_response_headers_unlike, $i))) {
        unlike($res->{raw_headers}, as_regex($want),
               "$name - raw resp headers unlike");
    }

    if (defined(my $want = pick($block->response_body, $i))) {
        is($res->{body}, $want, "$name - response_body - response is "
                                . "expected");
    }

    if (defined(my $want = pick($block->response_body_like, $i))) {
        like($res->{body}, as_regex($want),
             "$name - response_body_like - response is expected");
    }

    if (defined(my $want = pick($block->response_body_unlike, $i))) {
        unlike($res->{body}, as_regex($want),
               "$name - response_body_unlike - response is expected");
    }

    for my $check (@BodyChecks) {
        $check->($block, $res->{body}, $i, 0, 0);
    }
}


sub log_patterns ($) {
    my $v = shift;
    return () if !defined $v;
    return @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v eq 'Regexp';
    return grep { /\S/ } split /\n/, $v;
}


sub check_error_log ($$) {
    my ($block, $log) = @_;

    my $name = $block->name;

    for my $p (log_patterns($block->error_log)) {
        if (ref $p eq 'Regexp') {
            like($log, $p, "$name - pattern \"$p\" matches a line in "
                           . "error.log");
        } else {
            ok(index($log, $p) >= 0, "$name - pattern \"$p\" matches a "
                                     . "line in error.log")
                or diag("no \"$p\" in the error log:\n$log");
        }
    }

    for my $p (log_patterns($block->no_error_log)) {
        if (ref $p eq 'Regexp') {
            unlike($log, $p, "$name - pattern \"$p\" does not match a "
                             . "line in error.log");
        } else {
            my $at = index($log, $p);
            ok($at < 0, "$name - pattern \"$p\" does not match a line "
                        . "in error.log")
                or diag("found: " . substr($log, ($at > 200 ? $at - 200 : 0),
                                           400));
        }
    }
}


sub run_block ($) {
    my $block = shift;

    $_->($block) for @Preprocessors;

    my $name = $block->name;

    make_path("$ServerRoot/conf", "$ServerRoot/logs", "$ServerRoot/html");

    my $log_from = 0;
    my $pid = $Running ? nginx_pid() : undef;

    if ($UseHup && $pid && kill(0, $pid) && !$block->must_die) {
        # a reload: the zone and the error log stay
        $log_from = error_log_size();
        write_user_files($block);
        write_config($block);
        kill 'HUP', $pid;
        # the new workers are up once the old ones have been told to quit
        my $deadline = time + $Timeout;
        while (time < $deadline) {
            last if read_error_log($log_from) =~ /gracefully shutting down/;
            sleep 0.02;
        }
        sleep 0.05;

    } else {
        stop_nginx();
        prepare_server_root();
        write_user_files($block);
        write_config($block);

        my ($ok, $out) = start_nginx($block);

        if (defined $block->must_die) {
            ok(!$ok, "$name - nginx must die");
            stop_nginx() if $ok;
            check_error_log($block, $out . read_error_log(0));
            return;
        }

        if (!$ok) {
            fail("$name - nginx started: $out");
            return;
        }
    }

    my $requests = $block->request;
    my @requests = ref $requests eq 'ARRAY' ? @$requests : ($requests);

    for my $rep (1 .. $RepeatEach) {
        my $label = $RepeatEach > 1 ? " #$rep" : '';

        for my $i (0 .. $#requests) {
            next if !defined $requests[$i];

            my $res = send_request($block, $requests[$i], $i);

            if (!$res) {
                fail("$name$label - request $i: cannot connect");
                next;
            }

            check_response($block, $res, $i, $label);
        }
    }

    # nginx writes its log as it goes; give a worker a moment to finish
    sleep 0.05 if $MasterOn;

    check_error_log($block, read_error_log($log_from));
}


sub run_tests () {
    my @blocks = Test::Base::blocks();

    my @only = grep { defined $_->ONLY } @blocks;
    @blocks = @only if @only;

    for my $block (@blocks) {
        next if defined $block->SKIP;
        run_block($block);
        last if defined $block->LAST;
    }

    stop_nginx();
}


1;
