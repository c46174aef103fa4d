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

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path rmtree);
use Time::HiRes qw(time sleep);

use ABTest::Json ();
use ABTest::Nginx qw(wait_for worker_pids alive new_workers);

our @Servers;


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
