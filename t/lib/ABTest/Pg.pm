package ABTest::Pg;

# A PostgreSQL cluster of the tests' own, from Debian's postgresql: made
# with initdb as the postgres user, on 127.0.0.1:<port> and a unix socket
# in its directory, stopped when the test file ends.
#
#   my $pg = ABTest::Pg->new(port => 2991);   # skips the file if it cannot
#   $pg->start;                  returns $pg
#   ABTest::Pg->new->start       the suite's cluster, on port()+7
#   $pg->create_db('t1');
#   $pg->conninfo('t1')          "host=127.0.0.1 port=2991 dbname=t1 ..."
#   $pg->psql('t1', $sql)        rows as arrays; dies on an SQL error
#   $pg->kill; $pg->pause; $pg->resume; $pg->stop
#   $pg->running                 resumed, or started again after a kill
#
# The cluster lives under t/ (t/pg-<port>), where postgres can reach it;
# a checkout postgres cannot enter (under a home directory of mode 0700)
# has it under /tmp instead, said once on stderr.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(rmtree);
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(time sleep);

our @Clusters;


# the newest installed server's programs (initdb, pg_ctl, postgres)
sub bin_dir {
    my @dirs = sort { ($a =~ m{/(\d+)/bin$})[0] <=> ($b =~ m{/(\d+)/bin$})[0] }
               grep { -x "$_/initdb" } glob('/usr/lib/postgresql/*/bin');
    return $dirs[-1];
}


# why the cluster cannot be made here, or ''
sub unavailable {
    return 'PostgreSQL tests need root (to run the server as postgres)'
        if $> != 0;
    return 'no PostgreSQL server (Debian: apt-get install postgresql)'
        if !bin_dir();
    return 'no postgres user' if !defined getpwnam('postgres');
    return 'no psql' if system('command -v psql >/dev/null 2>&1') != 0;
    return '';
}


# plans skip_all unless a cluster can be made; call it before the tests
sub require_pg {
    my $why = unavailable();
    return if !$why;
    require Test::More;
    Test::More::plan(skip_all => $why);
}


sub new {
    my ($class, %args) = @_;

    # by default the suite's cluster: ABTest::Fleet's servers take
    # port()+8 and on
    require ABTest::Json;
    my $port = $args{port} // ABTest::Json::port() + 7;
    my $self = bless { port => $port, bin => bin_dir() }, $class;

    my $dir = abs_path('t') . "/pg-$port";

    if (!postgres_can_enter(abs_path('t'))) {
        $dir = tempdir("abtest-pg-$port-XXXXXX", TMPDIR => 1);
        warn "# ABTest::Pg: postgres cannot enter t/, the cluster is in "
             . "$dir\n";
    }

    $self->{dir} = $dir;
    $self->{data} = "$dir/data";

    push @Clusters, $self;

    return $self;
}


sub postgres_can_enter {
    my ($path) = @_;
    return system('runuser', '-u', 'postgres', '--', 'test', '-x', $path)
           == 0;
}


sub as_postgres {
    my ($self, @cmd) = @_;
    my $out = `runuser -u postgres -- @cmd 2>&1`;
    return ($? == 0, $out);
}


sub dir { $_[0]{dir} }
sub port { $_[0]{port} }
sub socket_dir { $_[0]{dir} }


# a fresh cluster (an earlier run's is removed), started
sub start {
    my ($self) = @_;

    $self->stop if $self->pid;

    rmtree($self->{dir});
    mkdir $self->{dir} or die "mkdir $self->{dir}: $!";
    my (undef, undef, $uid, $gid) = getpwnam('postgres');
    chown $uid, $gid, $self->{dir} or die "chown $self->{dir}: $!";

    my ($ok, $out) = $self->as_postgres("$self->{bin}/initdb", '-D',
                                        $self->{data}, '-U', 'postgres',
                                        '-A', 'trust', '--no-sync',
                                        '-E', 'UTF8', '--locale=C');
    die "initdb failed: $out" if !$ok;

    # a role with a password, over TCP: what a server of the fleet uses
    open my $hba, '>', "$self->{data}/pg_hba.conf"
        or die "pg_hba.conf: $!";
    print $hba "local all all trust\n",
               "host all postgres 127.0.0.1/32 trust\n",
               "host all all 127.0.0.1/32 scram-sha-256\n";
    close $hba;

    # no fsync (the machine does not crash), but a commit is written to
    # the kernel before it is answered (synchronous_commit): kill, which
    # stands for a crash of the store, must not lose what it committed
    open my $conf, '>>', "$self->{data}/postgresql.conf"
        or die "postgresql.conf: $!";
    print $conf "listen_addresses = '127.0.0.1'\n",
                "port = $self->{port}\n",
                "unix_socket_directories = '$self->{dir}'\n",
                "fsync = off\n",
                "synchronous_commit = on\n",
                "full_page_writes = off\n",
                "max_connections = 60\n",
                "shared_buffers = 16MB\n",
                "log_min_messages = warning\n";
    close $conf;

    $self->restart;

    $self->psql('postgres', "CREATE ROLE abtest LOGIN PASSWORD 'abtest-pw'");

    return $self;
}


# the server again, on the same data (after stop or kill)
sub restart {
    my ($self) = @_;
    my ($ok, $out) = $self->as_postgres("$self->{bin}/pg_ctl", '-D',
                                        $self->{data}, '-l',
                                        "$self->{dir}/server.log", '-w',
                                        '-t', '30', 'start');
    die "pg_ctl start failed: $out\n" . $self->server_log if !$ok;
}


sub server_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/server.log" or return '';
    local $/;
    return <$fh>;
}


# the postmaster's pid, from its pid file, if it runs
sub pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{data}/postmaster.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    chomp $pid if defined $pid;
    return ($pid && CORE::kill(0, $pid)) ? $pid : undef;
}


# the postmaster and its children (backends, checkpointer, ...)
sub pids {
    my ($self) = @_;
    my $pid = $self->pid or return ();
    my @children = grep { /^\d+$/ } split /\s+/, `pgrep -P $pid`;
    return ($pid, @children);
}


sub stop {
    my ($self) = @_;
    return if !$self->pid;
    $self->resume;
    $self->as_postgres("$self->{bin}/pg_ctl", '-D', $self->{data}, '-w',
                       '-t', '30', '-m', 'fast', 'stop');
}


# SIGKILL of every process of the cluster, as a crash of the store (what
# it committed is in the kernel's hands, and survives); returns once they
# are gone
sub kill {
    my ($self) = @_;
    my @pids = $self->pids or return;
    CORE::kill('CONT', @pids);
    CORE::kill('KILL', @pids);
    my $deadline = time + 10;
    while (grep { CORE::kill(0, $_) && !zombie($_) } @pids) {
        die "the cluster's processes survive SIGKILL" if time > $deadline;
        sleep 0.02;
    }
    unlink "$self->{data}/postmaster.pid";
}


sub zombie {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$fh>;
    close $fh;
    return $stat =~ /^\d+ \(.*\) Z /s;
}


# SIGSTOP of every process of the cluster: a store that hangs
sub pause {
    my ($self) = @_;
    my @pids = $self->pids;
    $self->{paused} = \@pids;
    CORE::kill('STOP', @pids) if @pids;
}


sub resume {
    my ($self) = @_;
    my $pids = delete $self->{paused} or return;
    CORE::kill('CONT', @$pids);
}


# the cluster as a block starts from: whatever the one before did to it
sub running {
    my ($self) = @_;
    $self->resume;
    $self->restart if !$self->pid;
}


# a database for one block, owned by the servers' role
sub create_db {
    my ($self, $db) = @_;
    $self->psql('postgres', "DROP DATABASE IF EXISTS $db WITH (FORCE)");
    $self->psql('postgres', "CREATE DATABASE $db OWNER abtest");
}


# what a server's abtest_store takes: the role with its password
sub conninfo {
    my ($self, $db, %opts) = @_;
    my $host = $opts{host} // '127.0.0.1';
    my $password = exists $opts{password} ? $opts{password} : 'abtest-pw';
    return "host=$host port=$self->{port} dbname=$db user=abtest"
           . (defined $password ? " password=$password" : '');
}


# $sql in $db as the superuser, on the unix socket: the rows, each an
# array of its columns' text ('' for NULL); dies on an error
sub psql {
    my ($self, $db, $sql) = @_;

    my $pid = open my $fh, '-|';
    die "fork: $!" if !defined $pid;

    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        { exec 'psql', '-X', '-q', '-h', $self->{dir}, '-p', $self->{port},
               '-U', 'postgres', '-d', $db, '-v', 'ON_ERROR_STOP=1', '-A',
               '-t', '-F', "\t", '-c', $sql; }
        POSIX::_exit(127);
    }

    local $/;
    my $out = <$fh> // '';
    close $fh;
    die "psql: $sql: $out" if $?;

    return map { [split /\t/, $_, -1] } split /\n/, $out;
}


# the first column of the first row
sub value {
    my ($self, $db, $sql) = @_;
    my @rows = $self->psql($db, $sql);
    return @rows ? $rows[0][0] : undef;
}


END {
    local $?;
    for my $pg (@Clusters) {
        eval { $pg->stop };
        eval { $pg->kill } if $pg->pid;
        rmtree($pg->{dir}) if $pg->{dir} !~ m{/t/pg-\d+$};
    }
}


1;
