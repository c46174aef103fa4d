package ABTest::Rsyslog;

# An rsyslogd of the tests' own, in the foreground (-n), running the
# project's conf/rsyslog-abtest.conf: imfile follows an events log and
# ompgsql inserts each line into PostgreSQL.  Its directory is
# t/rsyslog-<port>/ (its state files, pid file and output), and it is
# killed when the test file ends.  The system's rsyslog is never used or
# touched.
#
#   ABTest::Rsyslog::require_rsyslog()   skips the file if it cannot run
#   my $rs = ABTest::Rsyslog->new(port => 3995, log => $events_log,
#                                 uri => 'postgresql:///db?host=...');
#   $rs->start                 returns once it runs (dies if it does not)
#   $rs->pid; $rs->output
#   $rs->stop                  TERM, then waits for it to exit (only
#                              with PostgreSQL up: a TERM while it is
#                              down drops the line being retried)
#   $rs->kill                  SIGKILL, returns once it is gone
#   $rs->forget                its state files removed: the next start
#                              reads every file from its first line
#   $rs->positions             imfile's state: file => offset
#
# The port only names the directory, so that files of one run never meet
# another's; rsyslogd listens on nothing.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path rmtree);
use POSIX ();
use Time::HiRes qw(time sleep);

our @Daemons;

our $Conf = abs_path('conf/rsyslog-abtest.conf');


sub unavailable {
    return 'no rsyslogd (Debian: apt-get install rsyslog rsyslog-pgsql)'
        if system('command -v rsyslogd >/dev/null 2>&1') != 0
           && !-x '/usr/sbin/rsyslogd';
    return 'no ompgsql (Debian: apt-get install rsyslog-pgsql)'
        if !grep { -f "$_/ompgsql.so" } glob('/usr/lib/*/rsyslog'),
                                        '/usr/lib/rsyslog';
    return '';
}


sub require_rsyslog {
    my $why = unavailable();
    return if !$why;
    require Test::More;
    Test::More::plan(skip_all => $why);
}


sub rsyslogd {
    return -x '/usr/sbin/rsyslogd' ? '/usr/sbin/rsyslogd' : 'rsyslogd';
}


sub new {
    my ($class, %args) = @_;
    my $port = $args{port} or die "ABTest::Rsyslog: no port";
    my $self = bless { %args }, $class;
    $self->{dir} = abs_path('t') . "/rsyslog-$port";
    rmtree($self->{dir});
    make_path("$self->{dir}/work");
    push @Daemons, $self;
    return $self;
}


sub dir { $_[0]{dir} }


sub pid {
    my ($self) = @_;
    my $pid = $self->{pid} or return undef;
    return undef if waitpid($pid, POSIX::WNOHANG()) == $pid;
    return CORE::kill(0, $pid) ? $pid : undef;
}


sub output {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/output" or return '';
    local $/;
    return <$fh> // '';
}


# starts it; returns once it runs with its configuration read (its pid
# file written), or dies with what it said
sub start {
    my ($self) = @_;

    die "rsyslogd of $self->{dir} runs already" if $self->pid;
    unlink "$self->{dir}/pid";

    my $pid = fork;
    die "fork: $!" if !defined $pid;

    if ($pid == 0) {
        $ENV{ABTEST_EVENTS_LOG} = $self->{log};
        $ENV{ABTEST_RSYSLOG_DIR} = "$self->{dir}/work";
        $ENV{ABTEST_PG_URI} = $self->{uri};
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/output";
        open STDERR, '>&', \*STDOUT;
        { exec rsyslogd(), '-n', '-f', $self->{conf} // $Conf,
               '-i', "$self->{dir}/pid"; }
        POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    my $deadline = time + 10;
    while (!-s "$self->{dir}/pid") {
        die "rsyslogd did not start: " . $self->output if !$self->pid;
        die "rsyslogd wrote no pid file in 10 s: " . $self->output
            if time > $deadline;
        sleep 0.02;
    }

    return $self;
}


# waits up to $seconds for it to exit; true if it did
sub reap {
    my ($self, $seconds) = @_;
    my $pid = $self->{pid} or return 1;
    my $deadline = time + $seconds;
    while (waitpid($pid, POSIX::WNOHANG()) != $pid) {
        return 0 if time > $deadline;
        sleep 0.02;
    }
    delete $self->{pid};
    return 1;
}


sub stop {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    CORE::kill('TERM', $pid);
    return if $self->reap(15);
    CORE::kill('KILL', $pid);
    $self->reap(10);
}


sub kill {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    CORE::kill('KILL', $pid);
    $self->reap(10) or die "rsyslogd $pid survives SIGKILL";
}


sub forget {
    my ($self) = @_;
    die "forget with rsyslogd running" if $self->pid;
    unlink glob("$self->{dir}/work/*");
}


# imfile's state files: the file each follows => its position
sub positions {
    my ($self) = @_;
    my %at;
    for my $state (glob "$self->{dir}/work/imfile-state:*") {
        open my $fh, '<', $state or next;
        local $/;
        my $text = <$fh> // '';
        close $fh;
        my ($file) = $text =~ /"filename": "((?:[^"\\]|\\.)*)"/;
        my ($offs) = $text =~ /"curr_offs": (\d+)/;
        next if !defined $file || !defined $offs;
        $file =~ s/\\(.)/$1/g;
        $at{$file} = $offs;
    }
    return \%at;
}


END {
    local $?;
    for my $rs (@Daemons) {
        next if !$rs->{pid};
        CORE::kill('KILL', $rs->{pid});
        waitpid($rs->{pid}, 0);
    }
}


1;
