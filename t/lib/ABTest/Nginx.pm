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
#   master_pid($root)
#       the pid in $root/logs/nginx.pid, or undef.
#   alive($pid)
#       true while the process runs (a zombie does not).
#   new_workers($master, @old)
#       the master's workers that are not in @old (after a reload or a
#       respawn).
#   mount_tmpfs($dir, $options)
#       mounts a tmpfs on $dir (made if missing) with the mount options
#       (e.g. "size=256k", "ro,size=64k"); '' or what went wrong.  END
#       unmounts what is still mounted.
#   unmount($dir)
#       a lazy unmount (nginx may still hold a file there): the mount is
#       gone at once, its memory once the last file is closed.
#   zone_lock($pid, $size)
#       the pid that holds the lock of the shared zone of $size bytes, as
#       process $pid maps it (the first word of nginx's slab pool), 0 when
#       it is free, undef when there is no such zone.
#   stop($pid) / cont($pid)
#       SIGSTOP, returning once the process is stopped; SIGCONT.
#   fill_fs($dir)
#       writes $dir/filler until the file system is full: an empty file
#       there can then take no byte.  Returns '' or what went wrong.
#   read_file($path)
#       the file's text; '' when it is missing (a log not written yet).

use strict;
use warnings;

use Cwd qw(abs_path);
use Time::HiRes qw(sleep time);
use Exporter 'import';

our @EXPORT_OK = qw(worker_pids wait_for files_open workers_reopened
                    master_pid alive new_workers mount_tmpfs unmount
                    fill_fs zone_lock stop cont read_file);


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


sub master_pid {
    my ($root) = @_;
    open my $fh, '<', "$root/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    return undef if !defined $pid;
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}


sub alive {
    my ($pid) = @_;
    return 0 if !$pid;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $line = <$fh>;
    close $fh;
    return defined $line && $line =~ /^\d+ \(.*\) ([^Z]) /s ? 1 : 0;
}


sub new_workers {
    my ($master, @old) = @_;
    my %old = map { $_ => 1 } @old;
    return grep { !$old{$_} } worker_pids($master);
}


my %mounted;

sub mount_tmpfs {
    my ($dir, $options) = @_;

    mkdir $dir if !-d $dir;
    unmount($dir) if $mounted{$dir};

    my $out = `mount -t tmpfs -o '$options' tmpfs '$dir' 2>&1`;
    return "mount -t tmpfs -o $options: " . ($out || "status $?") if $?;

    $mounted{$dir} = 1;
    return '';
}


sub unmount {
    my ($dir) = @_;
    return if !delete $mounted{$dir};
    system('umount', '-l', $dir);
}


END {
    local $?;
    unmount($_) for keys %mounted;
}


sub fill_fs {
    my ($dir) = @_;

    open my $fh, '>', "$dir/filler" or return "$dir/filler: $!";
    my $chunk = 'x' x 65536;

    # the last writes take what is left of the last page, byte by byte
    while (length $chunk) {
        my $n = syswrite $fh, $chunk;
        next if $n;
        return "$dir/filler: $!" if !$!{ENOSPC};
        substr($chunk, length($chunk) / 2) = '';
    }

    close $fh;
    return '';
}


sub zone_lock {
    my ($pid, $size) = @_;
    no warnings 'portable';

    open my $maps, '<', "/proc/$pid/maps" or return undef;
    my $addr;
    while (my $line = <$maps>) {
        next unless $line =~ /^([0-9a-f]+)-([0-9a-f]+) rw-s /;
        if (hex($2) - hex($1) == $size) {
            $addr = hex $1;
            last;
        }
    }
    close $maps;
    return undef if !defined $addr;

    open my $mem, '<:raw', "/proc/$pid/mem" or return undef;
    sysseek($mem, $addr, 0) or return undef;
    my $n = sysread $mem, my $word, 8;
    close $mem;
    return undef if !$n || $n != 8;
    return unpack 'Q<', $word;
}


sub stop {
    my ($pid) = @_;
    kill 'STOP', $pid or return 0;
    my $deadline = time + 2;
    while (time < $deadline) {
        open my $fh, '<', "/proc/$pid/stat" or return 0;
        my $line = <$fh>;
        close $fh;
        return 1 if defined $line && $line =~ /^\d+ \(.*\) [Tt] /s;
    }
    return 0;
}


sub cont {
    my ($pid) = @_;
    kill 'CONT', $pid;
}


sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text // '';
}


1;
