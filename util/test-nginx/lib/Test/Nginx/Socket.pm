package Test::Nginx::Socket;

# A small runner for the subset of openresty's Test::Nginx::Socket that
# this project's t/*.t files use, built on Test::Base as the real one is.
# The real Test::Nginx is on CPAN only; the same .t files pass under it
# (util/run-tests.sh with TEST_NGINX_LIB).  See util/test-nginx/README.md
# for what is supported and how it differs.

use Test::Base -Base;

use Cwd qw(cwd);
use File::Find qw(find);
use File::Path qw(make_path remove_tree);
use IO::Select;
use IO::Socket::INET;
use List::Util qw(shuffle);
use POSIX ();
use Time::HiRes qw(sleep time);

our $VERSION = '0.2';

our @EXPORT = qw(
    run_tests no_shuffle repeat_each master_on master_off workers
    worker_connections log_level no_long_string no_root_location
    add_block_preprocessor add_response_body_check env_to_nginx
    server_port server_root html_dir bail_out check_accum_error_log
    timeout
);

my $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                 || 1984;
my $ServerRoot = cwd() . '/t/servroot';

$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
    if !defined $ENV{TEST_NGINX_SERVER_PORT};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServerRoot;

my $Binary = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $UseHup = $ENV{TEST_NGINX_USE_HUP};

# as the real one: nginx in the foreground under valgrind's memcheck, its
# reports on our stderr ("1"), or valgrind with the options given
my $UseValgrind = $ENV{TEST_NGINX_USE_VALGRIND};
my $ValgrindPid;
my $Timeout = $ENV{TEST_NGINX_TIMEOUT} || ($UseValgrind ? 30 : 3);
my $Sleep = $ENV{TEST_NGINX_SLEEP} || 0.015;
my $NoShuffle = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
my $AccumErrorLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG} || 0;

my ($MasterOn, $Workers, $WorkerConnections) = (0, 1, 64);
my $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
my ($RepeatEach, $NoRootLocation) = (1, 0);
my (@Preprocessors, @BodyChecks, @EnvToNginx);
my ($Running, $PrevConfig) = (0, undef);
my $NRequests = 1;
my $LogStart = 0;

# sections of the real Test::Nginx::Socket that this runner does not
# implement: a block using one is refused rather than half-checked
my @Unsupported = qw(
    abort access_log charset curl curl_error curl_options curl_protocol
    error_code_like error_log_file grep_error_log grep_error_log_out
    http09 http2 http3 ignore_response init no_access_log
    no_check_leak no_shutdown_error_log pipelined_requests
    post_main_config quic_max_idle_timeout raw_request
    raw_request_middle_delay reload_fails request_eval
    response_body_eval response_body_filters server_addr_for_client
    server_name shutdown shutdown_error_log skip_eval skip_nginx
    skip_nginx2 skip_openssl skip_slave stap stap_out stap_out_like
    stap_out_unlike tcp_listen tcp_no_close tcp_query tcp_query_len
    tcp_reply tcp_reply_delay tcp_shutdown tcp_shutdown_delay todo
    todo_nginx udp_listen udp_query udp_reply udp_reply_delay wait
);


sub no_shuffle () { $NoShuffle = 1 }
sub no_long_string () { }
sub check_accum_error_log () { $AccumErrorLog = 1 }
sub master_on () { $MasterOn = 1 }
sub master_off () { $MasterOn = 0 }
sub workers ($) { $Workers = shift }
sub worker_connections ($) { $WorkerConnections = shift }
sub log_level ($) { $LogLevel = shift }
sub no_root_location () { $NoRootLocation = 1 }
sub repeat_each (@) { $RepeatEach = shift if @_; $RepeatEach }
sub timeout (@) { $Timeout = shift if @_; $Timeout }
sub add_block_preprocessor (&) { unshift @Preprocessors, shift }
sub add_response_body_check ($) { push @BodyChecks, shift }
sub env_to_nginx (@) { push @EnvToNginx, @_ }
sub server_port () { $ServerPort }
sub server_root () { $ServerRoot }
sub html_dir () { "$ServerRoot/html" }

sub bail_out ($) {
    stop_nginx();
    Test::More::BAIL_OUT(shift);
}


# "3", "3s" or "300ms", in seconds
sub parse_time ($) {
    my $t = shift;
    return undef if !defined $t;
    $t =~ s/^\s+|\s+$//g;
    return $1 / 1000 if $t =~ /^([\d.]+)ms$/;
    $t =~ s/s$//;
    return $t;
}


# $TEST_NGINX_* in configuration text, as the real one: undefined is fatal
sub expand_env ($$) {
    my ($text, $name) = @_;

    return '' if !defined $text;

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} ? $ENV{$1}
                         : bail_out("$name - No environment $1 defined.\n")
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

    my $deadline = time + ($UseValgrind ? 60 : 5);
    while (kill(0, $pid) && time < $deadline) {
        # our child under valgrind: reaped here
        waitpid($ValgrindPid, POSIX::WNOHANG()) if $ValgrindPid;
        sleep 0.02;
    }

    if (kill 0, $pid) {
        kill 'KILL', $pid;
        sleep 0.1;
    }

    waitpid($ValgrindPid, 0) if $ValgrindPid;
    undef $ValgrindPid;
}


END {
    stop_nginx();
}


sub write_config ($$) {
    my ($block, $config) = @_;

    my $name = $block->name;
    my $user = defined $ENV{TEST_NGINX_WORKER_USER}
               ? "user $ENV{TEST_NGINX_WORKER_USER};\n"
               : $> == 0 ? "user root;\n" : '';
    my $master = ($MasterOn || $UseHup) ? 'on' : 'off';
    my $level = $block->log_level || $LogLevel;

    # after the block's main_config, where the real one puts them
    my $load = join '', map { "load_module $_;\n" }
                        split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '';

    my $env = join '', map { "env $_;\n" } @EnvToNginx;
    my $main = expand_env($block->main_config, $name);
    my $http = expand_env($block->http_config, $name);
    my $root = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $ServerRoot/html;
            index index.html index.htm;
        }
_EOC_

    my $daemon = $UseValgrind ? 'off' : 'on';

    my $conf = <<"_EOC_";
worker_processes $Workers;
daemon $daemon;
master_process $master;
error_log $ServerRoot/logs/error.log $level;
pid $ServerRoot/logs/nginx.pid;
$env
$main
$load
${user}
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

$config

$root    }
}
_EOC_

    open my $fh, '>', "$ServerRoot/conf/nginx.conf"
        or bail_out("cannot write nginx.conf: $!");
    print $fh $conf;
    close $fh;
}


# ">>> name" anywhere in a line starts a file, as in the real one (which
# also takes a date after the name for the file's time; ignored here); the
# text is $TEST_NGINX_* expanded
sub write_user_files ($) {
    my $block = shift;

    my $files = $block->user_files;
    return if !defined $files;

    my @files;

    if (ref $files eq 'ARRAY') {
        @files = @$files;

    } elsif (ref $files) {
        bail_out($block->name . " - user_files: a text or an ARRAY");

    } else {
        for my $line (split /^/m, $files) {
            if ($line =~ />>> (\S+)/) {
                push @files, [$1, ''];
            } elsif (@files) {
                $files[-1][1] .= $line;
            }
        }
    }

    for my $f (@files) {
        my ($name, $body) = @$f;
        my $path = $name =~ m{^/} ? $name : "$ServerRoot/html/$name";
        (my $dir = $path) =~ s{/[^/]+$}{};
        make_path($dir);
        open my $fh, '>', $path or bail_out("cannot write $path: $!");
        binmode $fh;
        print $fh expand_env($body // '', $block->name);
        close $fh;
    }
}


sub error_log_size () {
    return -s "$ServerRoot/logs/error.log" || 0;
}


# the lines from byte $from on, and the offset after them
sub read_error_log ($) {
    my $from = shift;

    open my $fh, '<', "$ServerRoot/logs/error.log" or return ([], $from);
    seek $fh, $from, 0;
    my @lines = <$fh>;
    my $end = tell $fh;
    close $fh;

    return (\@lines, $end);
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


# returns (exit status, nginx's stderr and stdout)
sub start_nginx () {
    return start_valgrind() if $UseValgrind;

    my $cmd = "$Binary -p $ServerRoot/ -c $ServerRoot/conf/nginx.conf"
              . " 2>&1";
    my $out = `$cmd`;
    my $status = $?;

    if ($status == 0) {
        $Running = 1;
        $status = -1 if !wait_for_port();
    }

    return ($status, $out);
}


# nginx (daemon off) a child of ours under valgrind, which follows the
# wrapper's exec and the workers' forks; the configuration is tested
# first, so that a block that must die gets nginx's own answer
sub start_valgrind () {
    my $args = "-p $ServerRoot/ -c $ServerRoot/conf/nginx.conf";
    my $out = `$Binary -t -q $args 2>&1`;
    my $status = $?;

    return ($status, $out) if $status != 0;

    my @opts = $UseValgrind =~ /^\d+$/
               ? ('--tool=memcheck', '--leak-check=full',
                  '--show-possibly-lost=no', '--num-callers=100',
                  '--gen-suppressions=all',
                  -f 'valgrind.suppress'
                  ? ('--suppressions=valgrind.suppress') : ())
               : split ' ', $UseValgrind;

    $ValgrindPid = fork();
    bail_out("fork() failed: $!") if !defined $ValgrindPid;

    if ($ValgrindPid == 0) {
        exec 'valgrind', '-q', '--trace-children=yes', @opts, $Binary,
             split ' ', $args;
        die "exec valgrind: $!";
    }

    $Running = 1;

    return (wait_for_port() ? 0 : -1, '');
}


sub prepare_server_root () {
    remove_tree($ServerRoot) if -d $ServerRoot;
    make_path("$ServerRoot/conf", "$ServerRoot/logs", "$ServerRoot/html");
}


# before a reload, as the real one: the files under t/servroot go, all but
# the pid file, sockets, certificates and keys; nginx reopens its logs
sub clear_server_root ($) {
    my $pid = shift;

    find({ no_chdir => 1, wanted => sub {
        unlink $_ if -f $_ && !/(?:\bnginx\.pid|\.sock|\.crt|\.key)$/;
    }}, $ServerRoot);

    make_path("$ServerRoot/conf", "$ServerRoot/logs", "$ServerRoot/html");

    kill 'USR1', $pid;

    my $deadline = time + $Timeout;
    sleep 0.01 while !-e "$ServerRoot/logs/error.log" && time < $deadline;
    sleep $Sleep;
}


# as the real one: leading blank and "#" lines dropped, "METHOD [URI
# [PROTOCOL]]", then the body, without its leading and trailing white
# space
sub parse_request ($$) {
    my ($name, $text) = @_;

    $text = '' if !defined $text;
    1 while $text =~ s/^\s*#[^\n]*\n|^\s+//;

    my ($line, $body) = split /\n/, $text, 2;
    bail_out("$name - request line should be non-empty")
        if !defined $line || $line !~ /\S/;

    my ($method, $uri, $proto, $extra) = split ' ', $line;
    bail_out("$name - bad request line \"$line\"") if defined $extra;

    return ($method, $uri // '/', $proto // 'HTTP/1.1', $body // '');
}


# "Name: value" lines, "#" lines dropped; not $TEST_NGINX_* expanded
sub more_headers ($$) {
    my ($block, $i) = @_;

    my $h = $block->more_headers;
    return () if !defined $h;

    if (ref $h eq 'ARRAY') {
        $h = $h->[$i];
        bail_out($block->name . " - more_headers lacks data for request $i")
            if !defined $h;
    }

    my @headers;

    for my $line (split /\n+/, $h) {
        next if $line =~ /^\s*#/;
        my ($k, $v) = split /:\s*/, $line, 2;
        push @headers, "$k: " . ($v // '');
    }

    return @headers;
}


sub send_request ($$$) {
    my ($block, $req, $i) = @_;

    my $name = $block->name;
    my ($method, $uri, $proto, $body) = parse_request($name, $req);
    my @more = more_headers($block, $i);
    my @headers;

    push @headers, "Host: localhost" if !grep { /^Host:/i } @more;
    push @headers, "Connection: close" if !grep { /^Connection/i } @more;
    push @headers, @more;

    my $chunked = grep { /^Transfer-Encoding: chunked\r?$/i } @more;

    # the body loses its white space at both ends where the length is
    # computed here (two substitutions: one is quadratic on long runs of
    # white space)
    if ($body ne '' && !$chunked && !grep { /^Content-Length:/ } @more) {
        $body =~ s/^\s+//;
        $body =~ s/\s+$//;
        push @headers, "Content-Length: " . length $body;
    }

    my $raw = "$method $uri $proto\r\n"
              . join('', map { "$_\r\n" } @headers) . "\r\n" . $body;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $ServerPort,
                                     Proto => 'tcp',
                                     Timeout => $Timeout)
        or return undef;

    print $sock $raw;

    # the timeout is for each wait for data, as in the real one
    my $sel = IO::Select->new($sock);
    my $resp = '';
    my $timeout = parse_time($block->timeout) || $Timeout;
    my $eof;

    while ($sel->can_read($timeout)) {
        my $n = sysread $sock, my $buf, 65536;
        if (!$n) {
            $eof = 1;
            last;
        }
        $resp .= $buf;
    }

    close $sock;

    fail("$name - client socket timed out (request $i)") if !$eof;

    return parse_response($resp);
}


sub parse_response ($) {
    my $resp = shift;

    # the status line and the headers, each with its CRLF, as the real one
    my ($head) = $resp =~ /^(.*?\r\n)\r\n/s;
    return { code => '', raw_headers => '', headers => {}, body => '' }
        if !defined $head;

    my $body = substr $resp, length($head) + 2;

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

    } elsif (defined $headers{'content-length'}
             && $headers{'content-length'} =~ /^\d+$/)
    {
        $body = substr $body, 0, $headers{'content-length'};
    }

    return { code => $code // '', raw_headers => $head,
             headers => \%headers, body => $body };
}


# the expectation of request $i: an array gives one per request and must
# be one when the block sends several requests
sub pick ($$$) {
    my ($block, $section, $i) = @_;

    my $v = $block->$section;
    return undef if !defined $v;

    if ($NRequests > 1) {
        bail_out($block->name . " - $section: several requests need an "
                 . "array of expectations")
            if ref $v ne 'ARRAY';
        return $v->[$i];
    }

    return ref $v eq 'ARRAY' ? $v->[0] : $v;
}


sub check_response ($$$$) {
    my ($block, $res, $i, $rep) = @_;

    my $name = $block->name;

    # a missing element of an array of expectations fails, as in the real
    # one, where the like and unlike ones match anything
    is($res->{code},
       defined $block->error_code ? pick($block, 'error_code', $i) : 200,
       "$name - status code ok");

    if (defined $block->response_headers) {
        my $want = pick($block, 'response_headers', $i) // '';
        for my $line (split /\n/, $want) {
            $line =~ s/^\s+|\s+$//g;
            next if $line eq '';

            if ($line =~ s/^!\s*//) {
                ok(!defined $res->{headers}{lc $line},
                   "$name - header $line not present in the raw headers");
                next;
            }

            my ($k, $v) = split /\s*:\s*/, $line, 2;
            $v = '' if !defined $v;
            $v =~ s/\$ServerPort\b/$ServerPort/g;
            is($res->{headers}{lc $k} // '', $v, "$name - header $k ok");
        }

    } elsif (defined $block->response_headers_like) {
        my $like = pick($block, 'response_headers_like', $i) // '';
        for my $line (split /\n/, $like) {
            $line =~ s/^\s+|\s+$//g;
            next if $line eq '';
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            like($res->{headers}{lc $k} // '', qr/^$v$/,
                 "$name - header $k like ok");
        }
    }

    if (defined(my $want = pick($block, 'raw_response_headers_like', $i))) {
        like($res->{raw_headers}, qr/$want/s,
             "$name - raw resp headers like");
    }

    if (defined(my $want = pick($block, 'raw_response_headers_unlike',
                                $i)))
    {
        unlike($res->{raw_headers}, qr/$want/s,
               "$name - raw resp headers unlike");
    }

    if (defined $block->response_body) {
        my $want = pick($block, 'response_body', $i);
        if (ref $want) {
            like($res->{body}, $want, "$name - response_body - like");
        } else {
            $want =~ s/\$ServerPort\b/$ServerPort/g if defined $want;
            is($res->{body}, $want, "$name - response_body - response is "
                                    . "expected");
        }

    } elsif (defined(my $like = pick($block, 'response_body_like', $i))) {
        like($res->{body}, qr/$like/s,
             "$name - response_body_like - response is expected");

    } elsif (defined(my $unlike = pick($block, 'response_body_unlike',
                                       $i)))
    {
        unlike($res->{body}, qr/$unlike/s,
               "$name - response_body_unlike - response is expected");
    }

    for my $check (@BodyChecks) {
        $check->($block, $res->{body}, $i, $rep, 0);
    }
}


# a text gives a pattern per line; a qr// or an array of them as they are
sub log_patterns ($) {
    my $v = shift;
    return () if !defined $v;
    return grep { defined } @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v;
    return grep { $_ ne '' } split /\n+/, $v;
}


sub line_matches ($$) {
    my ($line, $p) = @_;
    return ref $p ? $line =~ $p : index($line, $p) >= 0;
}


# every pattern is tried on each line of the log, as the real one does
sub check_error_log ($$$) {
    my ($block, $lines, $rep) = @_;

    my $name = $block->name;

    for my $p (log_patterns($block->error_log)) {
        ok((grep { line_matches($_, $p) } @$lines),
           "$name - pattern \"$p\" matches a line in error.log (req $rep)");
    }

    for my $p (log_patterns($block->no_error_log)) {
        my ($found) = grep { line_matches($_, $p) } @$lines;
        ok(!defined $found, "$name - pattern \"$p\" does not match a line "
                            . "in error.log (req $rep)")
            or diag("matched: $found");
    }
}


sub check_sections ($) {
    my $block = shift;

    my $name = $block->name;

    for my $s (@Unsupported) {
        bail_out("$name - --- $s is not supported by the bundled runner")
            if defined $block->$s;
    }

    # the real one checks only the first of these and ignores the other
    for my $pair ([qw(response_body response_body_like)],
                  [qw(response_body response_body_unlike)],
                  [qw(response_body_like response_body_unlike)],
                  [qw(response_headers response_headers_like)])
    {
        my ($first, $second) = @$pair;
        bail_out("$name - --- $first and --- $second together: the real "
                 . "Test::Nginx ignores --- $second")
            if defined $block->$first && defined $block->$second;
    }
}


sub run_block ($) {
    my $block = shift;

    my $name = $block->name;

    check_sections($block);

    my $config = $block->config;
    my $pid = $Running ? nginx_pid() : undef;
    my $log_from = 0;

    if (!defined $config) {
        # the real one keeps the running nginx and its configuration
        bail_out("$name - no --- config and no previous one")
            if !defined $PrevConfig;
        bail_out("$name - no --- config and no running nginx")
            if !$pid || !kill(0, $pid);
        # and its checks read the log from where that nginx started it
        $log_from = $LogStart;

    } elsif ($UseHup && $pid && kill(0, $pid) && !defined $block->must_die)
    {
        # a reload: the zone stays; the block's log is a new file
        $config = expand_env($config, $name);
        $PrevConfig = $config;
        clear_server_root($pid);
        $log_from = $LogStart = 0;
        write_user_files($block);
        write_config($block, $config);
        kill 'HUP', $pid;
        # the new workers are up once the old ones have been told to quit
        my $deadline = time + $Timeout;
        while (time < $deadline) {
            my ($lines) = read_error_log($log_from);
            last if grep { /gracefully shutting down/ } @$lines;
            sleep 0.02;
        }
        sleep 0.05;

    } else {
        $config = expand_env($config, $name);
        $PrevConfig = $config;
        $LogStart = 0;
        stop_nginx();
        prepare_server_root();
        write_user_files($block);
        write_config($block, $config);

        my ($status, $out) = start_nginx();

        if (defined(my $die = $block->must_die)) {
            $die =~ s/^\s+|\s+$//g;
            if ($die =~ /^\d+$/) {
                is($status >> 8, $die, "$name - die with the expected "
                                       . "exit code");
            } else {
                ok($status != 0, "$name - die as expected");
            }
            stop_nginx() if $status == 0;
            # what it logged to t/servroot/logs/error.log, not its stderr
            my ($lines) = read_error_log(0);
            check_error_log($block, $lines, 0);
            return;
        }

        # the real one gives up the whole run too
        bail_out("$name - cannot start nginx (status $status): $out")
            if $status != 0;
    }

    my $requests = $block->request;
    bail_out("$name - request empty") if !defined $requests;
    my @requests = ref $requests eq 'ARRAY' ? @$requests : ($requests);
    bail_out("$name - a request in packets is not supported by the bundled "
             . "runner")
        if grep { ref } @requests;
    $NRequests = @requests;

    # after each request, as the real one: error_log patterns must match
    # what this request logged (with check_accum_error_log(), what the
    # block logged so far); no_error_log the same, which only needs one
    # look at the whole log
    my $each = defined $block->error_log && @requests * $RepeatEach > 1;
    my $from = $log_from;

    for my $rep (0 .. $RepeatEach - 1) {
        write_user_files($block) if $rep > 0;

        for my $i (0 .. $#requests) {
            my $res = send_request($block, $requests[$i], $i);

            if (!$res) {
                fail("$name - request $i: cannot connect");
                next;
            }

            check_response($block, $res, $i, $rep);

            next if !$each;
            next if $rep == $RepeatEach - 1 && $i == $#requests;

            sleep $Sleep * 3;
            my ($lines, $end) = read_error_log($from);
            $from = $end if !$AccumErrorLog;
            check_error_log($block, $lines, $rep);
        }
    }

    # a worker may still be writing what it logged for the last request
    sleep $Sleep * 3;

    my ($lines) = read_error_log($each ? $from : $log_from);
    check_error_log($block, $lines, $RepeatEach - 1);
}


sub run_tests () {
    my @blocks = Test::Base::blocks();

    @blocks = shuffle @blocks if !$NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @Preprocessors;
        run_block($block);
    }

    stop_nginx();
}


1;
