package ABTest::Nginx;

# The running nginx, as the tests see it from outside.
#
#   worker_pids($master)
#       the pids of the master's children (its workers).
#   wait_for($check, $seconds)
#       calls $check until it returns true or $seconds (default 5) pass;
#       returns its last value.  Tests wait for the condition they check,
#       never for a fixed time.
#   files_open($pid)
#       the paths of the files the process has open.
#   workers_reopened($master, $path)
#       true once every worker has the file at $path (not an older file
#       that was renamed) open, as after a reopen (USR1).

use strict;
use warnings;

use Cwd qw(abs_path);
use Time::HiRes qw(sleep time);
use Exporter 'import';

our @EXPORT_OK = qw(worker_pids wait_for files_open workers_reopened);


sub worker_pids {
    my ($master) = @_;
    my @pids;

    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh>;
        close $fh;
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        next unless defined $line && $line =~ /^(\d+) \(.*\) \S (\d+) /s;
        push @pids, $1 if $2 == $master;
    }

    return @pids;
}


sub wait_for {
    my ($check, $seconds) = @_;
    my $deadline = time + ($seconds // 5);
    my $ok;

    while (1) {
        $ok = $check->();
        return $ok if $ok || time >= $deadline;
        sleep 0.02;
    }
}


sub files_open {
    my ($pid) = @_;
    return grep { defined } map { readlink } glob "/proc/$pid/fd/*";
}


sub workers_reopened {
    my ($master, $path) = @_;
    my $want = abs_path($path) // return 0;
    my @workers = worker_pids($master) or return 0;

    for my $pid (@workers) {
        return 0 unless grep { $_ eq $want } files_open($pid);
    }

    return 1;
}


1;
