#!/usr/bin/perl
# Turns sql/abtest.sql into src/ngx_http_abtest_store_sql.h:
#
#   util/sql2c.pl sql/abtest.sql > src/ngx_http_abtest_store_sql.h
#
# The module makes the store's schema from the same text a DBA reads
# (without its comments).  The header is committed; util/style-check.sh
# checks it is up to date.

use strict;
use warnings;

my $file = shift or die "usage: $0 abtest.sql\n";
open my $fh, '<', $file or die "$file: $!\n";

my @lines;

while (my $line = <$fh>) {
    chomp $line;
    $line =~ s/\s*--.*$//;
    next if $line !~ /\S/;
    $line =~ s/^\s+/  /;
    $line =~ s/(\S)\s{2,}/$1 /g;
    die "$file: a quote or backslash is not expected\n" if $line =~ /["\\]/;
    push @lines, $line;
}

close $fh;

print <<"EOT";

/*
 * Generated from $file by util/sql2c.pl: do not edit.
 */


#ifndef _NGX_HTTP_ABTEST_STORE_SQL_H_INCLUDED_
#define _NGX_HTTP_ABTEST_STORE_SQL_H_INCLUDED_


#define NGX_HTTP_ABTEST_STORE_SCHEMA                                          \\
EOT

for my $i (0 .. $#lines) {
    my $text = qq{    "$lines[$i]\\n"};

    if ($i == $#lines) {
        print "$text\n";
        next;
    }

    $text .= ' ' x (77 - length $text) if length $text < 77;
    print "$text \\\n";
}

print <<"EOT";


#endif /* _NGX_HTTP_ABTEST_STORE_SQL_H_INCLUDED_ */
EOT
