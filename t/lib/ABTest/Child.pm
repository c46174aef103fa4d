package ABTest::Child;

# Children of a test file (fork), for load beside the checks.
#
#   my $pid = spawn(sub { ... })
#       $code runs in a child, which then exits (0, or 1 if it died,
#       said on stderr) without the test's END blocks: they would stop
#       the servers and the cluster the parent still uses.
#   reap($seconds, @pids)
#       '' once the children have exited with 0, within $seconds; else
#       what went wrong (the ones left are killed).

use strict;
use warnings;

use POSIX ();
use Exporter 'import';

use ABTest::Nginx qw(wait_for);

our @EXPORT_OK = qw(spawn reap);


sub spawn {
    my ($code) = @_;
    my $pid = fork;
    die "fork: $!" if !defined $pid;
    return $pid if $pid;
    my $ok = eval { $code->(); 1 };
    print STDERR "child $$: $@" if !$ok;
    POSIX::_exit($ok ? 0 : 1);
}


sub reap {
    my ($seconds, @pids) = @_;
    my %left = map { $_ => 1 } @pids;
    my @failed;
    wait_for(sub {
        for my $pid (keys %left) {
            next if waitpid($pid, POSIX::WNOHANG()) != $pid;
            push @failed, $pid if $?;
            delete $left{$pid};
        }
        return !%left;
    }, $seconds);
    if (%left) {
        kill 'KILL', keys %left;
        waitpid($_, 0) for keys %left;
        return 'children did not end: ' . join(' ', sort keys %left);
    }
    return @failed ? "children failed: @failed" : '';
}


1;
