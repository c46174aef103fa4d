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
#                    events => [[device, event, group], ...],
#                    settings => {sequential => , tuning => , ...})
#       the expected JSON of an experiment whose statistics counted those
#       events, in that order, with compared()'s figures
#   srm([n1, n2, ...], [w1, w2, ...])
#       the expected "srm" object
#   compare(n => [...], x => [...], control => i, sequential => 0|1,
#           tuning => , alpha => , mde => )
#       the figures that compare a table's groups, from SciPy
#       (t/lib/stats_oracle.py, started once and kept for the file's
#       tests): { groups => [{uplift_ci95 => ..., ...}, ...],
#       sample_size => {...} } as expectations for match_json, and {raw}
#       the oracle's own numbers.  Tolerances: 1e-9 relative for the
#       closed forms (approx), 1e-6 for chance_to_beat_control, 1e-9 for
#       expected_loss (both integrated numerically by the oracle); a
#       per_group of ceil(), or within one where the unrounded count is
#       within 1e-6 of a whole number.
#   compared(\%groups, [names], [n], [x], $control_index, %settings)
#       adds compare()'s figures to group_stats()'s expectations (the
#       groups named in that order) and gives the experiment's own:
#       (sequential => , sequential_tuning => , sample_size => )
#   within($x, $tolerance)
#       a check that a number is within $tolerance of $x

use strict;
use warnings;

use POSIX qw(erfc floor);
use IPC::Open2 qw(open2);
use JSON::PP;
use Scalar::Util qw(looks_like_number);
use ABTest::Json qw(approx);
use Exporter 'import';

our @EXPORT_OK = qw(group_stats srm chi2_sf device_counts experiment_stats
                    compare compared within);

# the figures compare() adds beside group_stats()'s
our @Compared = qw(uplift_ci95 p_value_holm p_value_sequential
                   p_value_sequential_holm ci95_sequential
                   uplift_ci95_sequential uplift_credible95
                   chance_to_beat_control expected_loss);

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
    my (%groups, @names, @exposures, @conversions, @weights, @dn, @dx);
    my $control;

    for my $g (@{ $e{weights} }) {
        my $k = $count{$g->[0]} // {};
        $groups{$g->[0]} = group_stats(
            n => $k->{$e{exposure}} // 0, x => $k->{$e{goal}} // 0,
            nc => $c->{$e{exposure}} // 0, xc => $c->{$e{goal}} // 0,
            control => $g->[0] eq $e{control}, weight => $g->[1],
            events => $k, other => $other{$g->[0]},
            devices => [$dn->{$g->[0]} // 0, $dx->{$g->[0]} // 0,
                        $dn->{$e{control}} // 0, $dx->{$e{control}} // 0]);
        $control = @names if $g->[0] eq $e{control};
        push @names, $g->[0];
        push @exposures, $k->{$e{exposure}} // 0;
        push @conversions, $k->{$e{goal}} // 0;
        push @dn, $dn->{$g->[0]} // 0;
        push @dx, $dx->{$g->[0]} // 0;
        push @weights, $g->[1];
    }

    # the figures that compare the groups together, from SciPy: counted
    # in events, and in devices, of which the planned sample is
    my %set = %{ $e{settings} // {} };
    compared(\%groups, \@names, \@exposures, \@conversions, $control, %set);
    my %devices = map { $_ => $groups{$_}{devices} } @names;
    my %plan = compared(\%devices, \@names, \@dn, \@dx, $control, %set);

    return {
        title => $e{title}, state => $e{state}, since => 'ISO',
        exposure => $e{exposure}, goal => $e{goal}, control => $e{control},
        groups => \%groups, srm => srm(\@exposures, \@weights),
        multiple => $multiple, devices_complete => $e{complete} // \1,
        %plan,
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


sub within {
    my ($x, $tol) = @_;
    return sub {
        my ($got) = @_;
        return "expected $x (within $tol), got " . ($got // 'null')
            if !defined $got || ref $got || !looks_like_number($got);
        return abs($got - $x) <= $tol ? ''
               : "expected $x (within $tol), got $got";
    };
}


my ($Oracle_out, $Oracle_in, $Oracle_pid);
my %Memo;

sub oracle {
    my ($table) = @_;

    my $line = JSON::PP->new->canonical->encode($table);
    return $Memo{$line} if $Memo{$line};

    if (!$Oracle_pid) {
        my $py = __FILE__ =~ s{ABTest/Stats\.pm$}{stats_oracle.py}r;
        $Oracle_pid = open2($Oracle_out, $Oracle_in, '/usr/bin/python3',
                            $py, 'serve')
            or die "cannot run $py: $!";
    }

    print {$Oracle_in} "$line\n";
    my $answer = <$Oracle_out>;
    die "the stats oracle gave no answer for $line" if !defined $answer;

    return $Memo{$line} = JSON::PP->new->decode($answer);
}


sub expect {
    my ($field, $v) = @_;
    return undef if !defined $v;
    return [map { approx($_) } @$v] if ref $v eq 'ARRAY';
    return within($v, 1e-6) if $field eq 'chance_to_beat_control';
    return within($v, 1e-9) if $field eq 'expected_loss';
    return approx($v);
}


sub compare {
    my (%t) = @_;

    my $raw = oracle({ n => $t{n}, x => $t{x}, control => $t{control},
                       sequential => ($t{sequential} // 1) ? \1 : \0,
                       tuning => 0 + ($t{tuning} // 5000),
                       alpha => 0 + ($t{alpha} // 0.05),
                       mde => 0 + ($t{mde} // 0.1) });

    my @groups = map {
        my $g = $_;
        +{ map { $_ => expect($_, $g->{$_}) } keys %$g }
    } @{ $raw->{groups} };

    my $plan = $raw->{sample_size};
    my ($per_group, $reached) = @$plan{qw(per_group reached)};

    if (defined $per_group) {
        my ($want, $u) = ($per_group, $plan->{unrounded});
        my $near = abs($u - sprintf('%.0f', $u)) < 1e-6;
        $per_group = sub {
            my ($got) = @_;
            return '' if defined $got && !ref $got
                         && ($got == $want || ($near && abs($got - $u) < 1));
            return "expected $want devices per group, got "
                   . ($got // 'null');
        };
    }

    return {
        raw => $raw,
        groups => \@groups,
        sample_size => {
            per_group => $per_group,
            reached => defined $reached ? approx($reached) : undef,
            mde => approx($t{mde} // 0.1), alpha => approx($t{alpha} // 0.05),
            power => approx(0.8),
        },
    };
}


sub compared {
    my ($groups, $names, $n, $x, $control, %set) = @_;

    my $cmp = compare(n => $n, x => $x, control => $control, %set);

    for my $i (0 .. $#$names) {
        my $want = $groups->{ $names->[$i] };
        $want->{$_} = $cmp->{groups}[$i]{$_} for @Compared;
    }

    return (sequential => ($set{sequential} // 1) ? \1 : \0,
            sequential_tuning => $set{tuning} // 5000,
            sample_size => $cmp->{sample_size});
}


1;
