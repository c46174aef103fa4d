package ABTest::Stats;

# The statistics the stats location must report, computed here from the
# formulas (README, Statistics) with Perl's POSIX math, independently of
# the module's C code.
#
#   group_stats(n => , x => , nc => , xc => , control => 0|1,
#               weight => , events => {...}, [devices => [n, x, nc, xc]])
#       the expected JSON of one group (exposures n, conversions x, the
#       control group's nc and xc), with "devices" the same figures on
#       the devices' counts
#   device_counts($exposure, $goal, [[device, event, group], ...])
#       the devices' counts of events sent in that order: per group the
#       devices exposed ({group => n}) and converted by a goal after their
#       first exposure, and the devices seen in more than one group
#   experiment_stats(title => , state => , exposure => , goal => ,
#                    control => , weights => [[group, weight], ...],
#                    listed => [other names counted each],
#                    events => [[device, event, group], ...])
#       the expected JSON of an experiment whose statistics counted those
#       events, in that order
#   srm([n1, n2, ...], [w1, w2, ...])
#       the expected "srm" object

use strict;
use warnings;

use POSIX qw(erfc floor);
use ABTest::Json qw(approx);
use Exporter 'import';

our @EXPORT_OK = qw(group_stats srm chi2_sf device_counts experiment_stats);

my $Z95 = 1.959963984540054;


sub num {
    my ($x) = @_;
    return defined $x ? approx($x) : undef;
}


sub group_stats {
    my (%o) = @_;

    my $figures = figures(@o{qw(n x nc xc control)});

    return {
        weight => $o{weight},
        %$figures,
        events => $o{events} // {},
        other_events => $o{other} // 0,
        ($o{devices} ? (devices => figures(@{ $o{devices} }, $o{control}))
                     : ()),
    };
}


sub experiment_stats {
    my (%e) = @_;
    my (%count, %other);

    # the names the experiment lists are counted each, the others together
    my %listed = map { $_ => 1 }
                 ($e{exposure}, $e{goal}, @{ $e{listed} // [] });

    for my $ev (@{ $e{events} }) {
        if ($listed{$ev->[1]}) {
            $count{$ev->[2]}{$ev->[1]}++;
        } else {
            $other{$ev->[2]}++;
        }
    }

    # the devices, exposed and converted after it (sent in this order)
    my ($dn, $dx, $multiple) = device_counts($e{exposure}, $e{goal},
                                             $e{events});

    my $c = $count{$e{control}} // {};
    my (%groups, @exposures, @weights);

    for my $g (@{ $e{weights} }) {
        my $k = $count{$g->[0]} // {};
        $groups{$g->[0]} = group_stats(
            n => $k->{$e{exposure}} // 0, x => $k->{$e{goal}} // 0,
            nc => $c->{$e{exposure}} // 0, xc => $c->{$e{goal}} // 0,
            control => $g->[0] eq $e{control}, weight => $g->[1],
            events => $k, other => $other{$g->[0]},
            devices => [$dn->{$g->[0]} // 0, $dx->{$g->[0]} // 0,
                        $dn->{$e{control}} // 0, $dx->{$e{control}} // 0]);
        push @exposures, $k->{$e{exposure}} // 0;
        push @weights, $g->[1];
    }

    return {
        title => $e{title}, state => $e{state}, since => 'ISO',
        exposure => $e{exposure}, goal => $e{goal}, control => $e{control},
        groups => \%groups, srm => srm(\@exposures, \@weights),
        multiple => $multiple, devices_complete => $e{complete} // \1,
    };
}


sub device_counts {
    my ($exposure, $goal, $events) = @_;
    my (%groups_of, %exposed, %converted, %n, %x);
    my $multiple = 0;

    for my $ev (@$events) {
        my ($d, $name, $g) = @$ev;
        $groups_of{$d}{$g} = 1;
        $exposed{$d} = 1 if $name eq $exposure;
        $converted{$d} = 1 if $name eq $goal && $exposed{$d};
    }

    for my $d (keys %groups_of) {
        my @g = keys %{ $groups_of{$d} };
        if (@g > 1) {
            $multiple++;
            next;
        }
        next if !$exposed{$d};
        $n{$g[0]}++;
        $x{$g[0]}++ if $converted{$d};
    }

    return (\%n, \%x, $multiple);
}


# exposures, conversions, rate, error, ci95, uplift, p_value
sub figures {
    my ($n, $x, $nc, $xc, $control) = @_;
    my %o = (control => $control);

    my $p = $n ? $x / $n : undef;
    my $pc = $nc ? $xc / $nc : undef;
    my $proportion = $n && $x <= $n;

    my ($se, $ci);

    if ($proportion) {
        $se = sqrt($p * (1 - $p) / $n);
        my ($lo, $hi) = ($p - $Z95 * $se, $p + $Z95 * $se);
        $ci = [num($lo < 0 ? 0 : $lo), num($hi > 1 ? 1 : $hi)];
    }

    my ($uplift, $pvalue);

    if (!$o{control}) {
        $uplift = ($n && $xc && $nc) ? ($p - $pc) / $pc : undef;

        if ($proportion && $nc && $xc <= $nc) {
            my $pooled = ($x + $xc) / ($n + $nc);
            if ($pooled > 0 && $pooled < 1) {
                my $s = sqrt($pooled * (1 - $pooled) * (1 / $n + 1 / $nc));
                $pvalue = erfc(abs(($p - $pc) / $s) / sqrt(2));
            }
        }
    }

    return {
        exposures => $n,
        conversions => $x,
        rate => num($p),
        error => num(defined $se ? 2 * $se : undef),
        ci95 => $ci,
        uplift => num($uplift),
        p_value => num($pvalue),
    };
}


# the chi-square survival function for 1 and 2 degrees of freedom in
# closed form, others by summing the series of the regularized gamma
sub chi2_sf {
    my ($chi2, $df) = @_;

    return erfc(sqrt($chi2 / 2)) if $df == 1;
    return exp(-$chi2 / 2) if $df == 2;

    # P(a, x) = x^a e^-x / Gamma(a + 1) * sum x^k / ((a+1)...(a+k))
    my ($a, $x) = ($df / 2, $chi2 / 2);
    my ($term, $sum) = (1, 1);
    for my $k (1 .. 10000) {
        $term *= $x / ($a + $k);
        $sum += $term;
        last if $term < 1e-17 * $sum;
    }
    return 1 - exp($a * log($x) - $x - POSIX::lgamma($a + 1)) * $sum;
}


sub srm {
    my ($counts, $weights) = @_;

    my ($total, $wsum) = (0, 0);
    $total += $_ for @$counts;
    $wsum += $_ for @$weights;

    return { chi2 => undef, p_value => undef, mismatch => undef }
        if !$total || @$counts < 2;

    my $chi2 = 0;
    for my $i (0 .. $#$counts) {
        my $e = $total * $weights->[$i] / $wsum;
        $chi2 += ($counts->[$i] - $e) ** 2 / $e;
    }

    my $p = chi2_sf($chi2, @$counts - 1);

    return { chi2 => approx($chi2), p_value => approx($p),
             mismatch => $p < 0.001 ? \1 : \0 };
}


1;
