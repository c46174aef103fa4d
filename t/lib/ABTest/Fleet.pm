package ABTest::Fleet;

# nginx servers of the tests' own, beside Test::Nginx's: the other
# servers of a fleet.  Each runs in t/fleet-<port>/ with the nginx and
# the module the suite runs (TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES),
# and is stopped when the test file ends.
#
#   my $web2 = ABTest::Fleet->start(port => 2993, http => $http_config,
#                                   server => $location_config);
#   $web2->http('GET', '/api/status')     (status, body)
#   $web2->json('GET', '/api/status')     the decoded body (dies if not 200)
#   $web2->reload(http => $new_http_config)
#   $web2->master; $web2->workers; $web2->error_log; $web2->stop
#
#   my $web1 = ABTest::Fleet->adopt(port => 1984, root => $servroot);
#       a server someone else started (Test::Nginx's own), seen through
#       the same accessors; never written, reloaded or stopped from here
#
#   my @web = ABTest::Fleet->three(root => $servroot, server => $config,
#                                  http => sub { http config of web$_[0] });
#       a block's fleet of three: web1 (Test::Nginx's, adopted), web2 and
#       web3 (started, on port()+8 and port()+9; ABTest::Fleet->node(3,
#       http => ..., server => ...) starts one of them alone)
#   $web->name                 web1, web2, ... (name => of start, adopt)
#   $web->status; $web->update($json)
#   $web->log_lines($re); $web->log_clean(@ok);
#   $web->once_per_process($re, $times)
#   ready(@web); all_logs_clean(\@web, @ok); outage_logs(\@web, $times)
#       '' or what the first server that does not shows
#   setup_block($block, pg => $pg, db => $db, http => $http_config,
#               server => $config, sql => [$sql, ...])
#       a block of a fleet's test (add_block_preprocessor): see below
#
# The functions (and the methods, called as functions) are exported on
# request, for the blocks' code (::name($web), ::ready(@web)).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path rmtree);
use Time::HiRes qw(time sleep);

use ABTest::Json ();
use ABTest::Nginx qw(wait_for worker_pids alive new_workers);
use Exporter 'import';

our @EXPORT_OK = qw(name status update log_lines log_clean once_per_process
                    ready all_logs_clean outage_logs);

our @Servers;

# the one [error] an outage of the store is worth
our $Unreachable = qr/\[error\] .*abtest: the store "[^"]+" is unreachable: /;
our $Reachable = qr/\[notice\] .*abtest: the store "\S+" is reachable/;


sub start {
    my ($class, %args) = @_;

    my $self = bless { workers => 2, server => '', main => '', http => '',
                       %args }, $class;
    $self->{root} = abs_path('t') . "/fleet-$self->{port}";

    rmtree($self->{root});
    make_path(map { "$self->{root}/$_" } qw(conf logs html));

    $self->write_conf;

    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $out = `'$nginx' -p '$self->{root}/' -c conf/nginx.conf 2>&1`;
    die "the server on port $self->{port} did not start: $out"
        . $self->error_log if $?;

    push @Servers, $self;

    wait_for(sub { $self->master && $self->workers == $self->{workers} }, 10)
        or die "the server on port $self->{port} has no workers";

    return $self;
}


sub adopt {
    my ($class, %args) = @_;
    return bless { workers => 2, %args, adopted => 1 }, $class;
}


# the servers of a block of t/021, t/022, t/028: web1 is Test::Nginx's
sub three {
    my ($class, %args) = @_;

    my @web = ($class->adopt(name => 'web1', port => ABTest::Json::port(),
                             root => $args{root}));
    push @web, $class->node($_, http => $args{http}->($_),
                            server => $args{server}) for 2, 3;
    return @web;
}


sub node {
    my ($class, $n, %args) = @_;
    return $class->start(name => "web$n",
                         port => ABTest::Json::port() + 6 + $n, %args);
}


sub write_conf {
    my ($self) = @_;

    my $modules = $ENV{TEST_NGINX_LOAD_MODULES} // '';
    my $load = join '', map { "load_module $_;\n" } split ' ', $modules;

    open my $fh, '>', "$self->{root}/conf/nginx.conf"
        or die "nginx.conf: $!";

    print $fh <<"_EOC_";
$load
worker_processes $self->{workers};
daemon on;
master_process on;
error_log logs/error.log info;
pid logs/nginx.pid;
@{[ $> == 0 ? 'user root;' : '' ]}
$self->{main}

events {
    worker_connections 256;
}

http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $self->{root}/client_body_temp;
    proxy_temp_path $self->{root}/proxy_temp;
    fastcgi_temp_path $self->{root}/fastcgi_temp;
    uwsgi_temp_path $self->{root}/uwsgi_temp;
    scgi_temp_path $self->{root}/scgi_temp;

$self->{http}

    server {
        listen 127.0.0.1:$self->{port};
        server_name localhost;

$self->{server}
    }
}
_EOC_

    close $fh;
}


sub port { $_[0]{port} }
sub root { $_[0]{root} }
sub name { $_[0]{name} // 'port ' . $_[0]{port} }


sub master {
    my ($self) = @_;
    open my $fh, '<', "$self->{root}/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    chomp $pid if defined $pid;
    return ($pid && alive($pid)) ? $pid : undef;
}


sub workers {
    my ($self) = @_;
    my $master = $self->master or return ();
    return worker_pids($master);
}


sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{root}/logs/error.log" or return '';
    local $/;
    return <$fh> // '';
}


sub http {
    my ($self, @req) = @_;
    local $ABTest::Json::Port = $self->{port};
    return ABTest::Json::http(@req);
}


# the answer's JSON; dies unless it is 200
sub json {
    my ($self, @req) = @_;
    my ($status, $body) = $self->http(@req);
    die "$req[0] $req[1] on port $self->{port}: $status $body"
        if $status != 200;
    return ABTest::Json::decode($body);
}


sub status { $_[0]->json('GET', '/api/status') }


sub update {
    my ($self, $json) = @_;
    return $self->http('POST', '/api/experiments/update', $json,
                       'Content-Type: application/json');
}


sub log_lines {
    my ($self, $re) = @_;
    return grep { /$re/ } split /\n/, $self->error_log;
}


# '' when the error log has no [emerg], [alert] or [crit], and no [error]
# but lines matching one of @ok
sub log_clean {
    my ($self, @ok) = @_;
    for my $line (split /\n/, $self->error_log) {
        my ($level) = $line =~ /\[(emerg|alert|crit|error)\]/ or next;
        next if $level eq 'error' && grep { $line =~ $_ } @ok;
        return $self->name . "'s error log: $line";
    }
    return '';
}


# '' when no process of the server logged a line matching $re more than
# $times times (once by default)
sub once_per_process {
    my ($self, $re, $times) = @_;
    my %n;
    $n{$_}++ for map { /\[\w+\] (\d+)#/ ? $1 : () } log_lines($self, $re);
    my @more = grep { $n{$_} > ($times // 1) } sort keys %n;
    return @more ? $self->name . ": process $more[0] logged $re"
                   . " $n{$more[0]} times" : '';
}


# '' once every server given has read the store (takes writes)
sub ready {
    my (@web) = @_;
    for my $web (@web) {
        wait_for(sub {
            my $s = eval { $web->status } or return 0;
            return $s->{store}{ready} && $s->{store}{connected};
        }, 10) or return $web->name . ' did not read the store: '
                         . ABTest::Json::show(eval { $web->status });
    }
    return '';
}


sub all_logs_clean {
    my ($web, @ok) = @_;
    for my $w (@$web) {
        my $e = log_clean($w, @ok);
        return $e if $e;
    }
    return '';
}


# the logs of $outages outages of the store (one by default): its [error]
# once per process and outage, nothing worse, and its end said
sub outage_logs {
    my ($web, $outages) = @_;
    for my $w (@$web) {
        my $e = log_clean($w, $Unreachable)
                || once_per_process($w, $Unreachable, $outages);
        return $e if $e;
        return $w->name . ' did not log the outage'
            if !log_lines($w, $Unreachable);
        return $w->name . ' did not log the end of the outage'
            if !log_lines($w, $Reachable);
    }
    return '';
}


# a block's database made afresh (the cluster running whatever the block
# before did), with the SQL of sql => and then its "--- pg_setup" run in
# it; its http_config ($http if it has none) with "%DB%" the database's
# name, its config $server if it has none, and by default no [error] or
# worse in web1's error log
sub setup_block {
    my ($block, %args) = @_;
    my ($pg, $db) = @args{qw(pg db)};

    $pg->running;
    $pg->create_db($db);
    $pg->psql($db, $_) for @{ $args{sql} // [] };
    $pg->psql($db, $block->pg_setup) if defined $block->pg_setup;

    my $text = $block->http_config // $args{http};
    $block->set_value('http_config', $text =~ s/%DB%/$db/gr);
    $block->set_value('config', $args{server}) if !defined $block->config;
    $block->set_value('no_error_log', "[error]\n[crit]\n[alert]\n")
        if !defined $block->no_error_log;
}


# a new configuration (any of http, server, main), then HUP; returns ''
# once the new workers run and the old ones are gone
sub reload {
    my ($self, %args) = @_;

    return 'an adopted server is reloaded by its owner' if $self->{adopted};

    @$self{keys %args} = values %args;
    $self->write_conf;

    my $master = $self->master or return 'no master';
    my @old = $self->workers;
    kill 'HUP', $master;

    return wait_for(sub {
        new_workers($master, @old) >= $self->{workers}
            && !grep { alive($_) } @old
    }, 10) ? '' : "the reload on port $self->{port} did not end";
}


# a graceful stop (QUIT): TERM would have the master SIGKILL a worker
# that takes over a second to exit (as under ASan, whose leak check runs
# at exit), and log it as an [alert]
sub stop {
    my ($self) = @_;
    return if $self->{adopted};
    my $master = $self->master or return;
    kill 'QUIT', $master;
    wait_for(sub { !alive($master) }, 20)
        or kill 'KILL', $master, $self->workers;
}


END {
    local $?;
    $_->stop for @Servers;
}


1;
