package ABTest::Metrics;

# The Prometheus text exposition format (0.0.4) read here, independently
# of the module's code, and checked by Prometheus' own tools.
#
#   parse_exposition($text)
#       ({ 'name{k="v",...}' => value }, { family => type }, [problems]):
#       the samples, labels sorted by name and their values unescaped;
#       the families; what breaks the format or the naming conventions
#       (a sample outside its family, a family twice, HELP or TYPE
#       missing, a counter not ending in _total, a bad escape)
#   sample_key($name, %labels)
#       the key of a sample in parse_exposition()'s answer
#   promtool_check($text)
#       (exit status, output) of `promtool check metrics`
#   ABTest::Metrics::Prometheus->start(port => , dir => , target => ,
#                                      path => , rules => )
#       a Prometheus server of the test's own on 127.0.0.1 (its own
#       configuration and data directory, scrape_interval 1s, evaluating
#       the rules file's text "rules" if given); ->query
#       asks its HTTP API, ->wait_for polls a query with a deadline,
#       ->stop ends it

use strict;
use warnings;

use Exporter 'import';
use IPC::Open3 qw(open3);
use IO::Socket::INET;
use JSON::PP ();
use Symbol qw(gensym);
use Time::HiRes ();

our @EXPORT_OK = qw(parse_exposition sample_key promtool_check);


my $Name = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;


sub unescape {
    my ($v) = @_;
    $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
    return $v;
}


sub sample_key {
    my ($name, %labels) = @_;
    return $name . '{' . CORE::join(',', map {
        my $v = $labels{$_};
        $v =~ s/(["\\])/\\$1/g;
        $v =~ s/\n/\\n/g;
        qq{$_="$v"};
    } sort keys %labels) . '}';
}


sub parse_exposition {
    my ($text) = @_;

    my (%samples, %types, %help, %done, @problems);
    my $current = '';

    push @problems, 'the exposition does not end with a line feed'
        if length $text && $text !~ /\n\z/;

    for my $line (split /\n/, $text) {
        if ($line =~ /^# (HELP|TYPE) ($Name) (.*)$/) {
            my ($what, $name, $rest) = ($1, $2, $3);

            if ($name ne $current) {
                push @problems, "family $name twice" if $done{$name};
                $done{$current} = 1 if $current ne '';
                $current = $name;
            }

            if ($what eq 'TYPE') {
                push @problems, "$name: type $rest"
                    if $rest !~ /^(counter|gauge|histogram|summary|untyped)$/;
                push @problems, "$name: TYPE twice" if $types{$name};
                push @problems, "$name: a counter's name must end in _total"
                    if $rest eq 'counter' && $name !~ /_total$/;
                push @problems, "$name: not a counter, yet named _total"
                    if $rest ne 'counter' && $name =~ /_total$/;
                $types{$name} = $rest;

            } else {
                push @problems, "$name: HELP twice" if defined $help{$name};
                push @problems, "$name: an empty HELP" if $rest eq '';
                $help{$name} = $rest;
            }

            next;
        }

        next if $line =~ /^#/;

        if ($line !~ /^($Name)(?:\{(.*)\})? (\S+)$/) {
            push @problems, "not a sample: $line";
            next;
        }

        my ($name, $labels, $value) = ($1, $2 // '', $3);

        push @problems, "$name: a sample outside its family ($current)"
            if $name ne $current;
        push @problems, "$name: no HELP" if !defined $help{$name};
        push @problems, "$name: no TYPE" if !$types{$name};

        my %l;
        while ($labels =~ s/^($Name)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//) {
            push @problems, "$name: label $1 twice" if exists $l{$1};
            $l{$1} = unescape($2);
        }
        push @problems, "$name: bad labels, left: $labels" if $labels ne '';

        push @problems, "$name: bad value $value"
            if $value !~ /^(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|NaN|[-+]Inf)$/;

        my $key = sample_key($name, %l);
        push @problems, "$key twice" if exists $samples{$key};
        $samples{$key} = $value;
    }

    return (\%samples, \%types, \@problems);
}


sub promtool_check {
    my ($text) = @_;

    my $err = gensym;
    my $pid = open3(my $in, my $out, $err, 'promtool', 'check', 'metrics');
    print $in $text;
    close $in;

    local $/;
    my $output = (<$out> // '') . (<$err> // '');
    waitpid $pid, 0;

    return ($? >> 8, $output);
}


package ABTest::Metrics::Prometheus;

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use POSIX qw(WNOHANG);


sub start {
    my ($class, %o) = @_;

    my $self = bless { %o }, $class;
    my $dir = $self->{dir};

    remove_tree($dir);
    make_path("$dir/data");

    my $rule_files = '';

    if (defined $o{rules}) {
        open my $rf, '>', "$dir/rules.yml" or die "$dir: $!";
        print $rf $o{rules};
        close $rf;
        $rule_files = "rule_files: ['$dir/rules.yml']\n";
    }

    open my $fh, '>', "$dir/prometheus.yml" or die "$dir: $!";
    print $fh <<"_EOC_";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
$rule_files
scrape_configs:
  - job_name: abtest
    metrics_path: $o{path}
    static_configs:
      - targets: ['$o{target}']
_EOC_
    close $fh;

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/prometheus.log";
        open STDERR, '>&', \*STDOUT;
        exec('prometheus', "--config.file=$dir/prometheus.yml",
             "--storage.tsdb.path=$dir/data",
             "--web.listen-address=127.0.0.1:$o{port}", '--log.level=warn')
            or POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    return $self;
}


# the decoded answer of /api/v1/query, or undef while it cannot answer
sub query {
    my ($self, $expr) = @_;

    (my $q = $expr) =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $self->{port},
                                     Proto => 'tcp', Timeout => 2)
        or return undef;

    print $sock "GET /api/v1/query?query=$q HTTP/1.0\r\n"
                . "Host: 127.0.0.1\r\n\r\n";

    local $/;
    my $resp = <$sock> // '';
    close $sock;

    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    return undef if !defined $body || ($head // '') !~ m{^HTTP/1\.\d 200};

    my $json = eval { JSON::PP::decode_json($body) };
    return undef if !$json || ($json->{status} // '') ne 'success';

    return $json->{data};
}


# { 'label=value,...' => value } of an instant vector query
sub vector {
    my ($self, $expr) = @_;

    my $data = $self->query($expr) or return undef;
    return undef if $data->{resultType} ne 'vector';

    my %v;
    for my $r (@{ $data->{result} }) {
        my $m = $r->{metric};
        my $k = CORE::join(',', map { "$_=$m->{$_}" }
                                grep { !/^(?:instance|job|__name__)$/ }
                                sort keys %$m);
        $v{$k} = $r->{value}[1];
    }

    return \%v;
}


# polls $check->($self) until it is true or $seconds passed
sub wait_for {
    my ($self, $check, $seconds) = @_;

    my $deadline = Time::HiRes::time() + $seconds;

    while (1) {
        my $ok = $check->($self);
        return $ok if $ok;
        return undef if Time::HiRes::time() > $deadline
                        || waitpid($self->{pid}, WNOHANG) == $self->{pid};
        Time::HiRes::sleep(0.2);
    }
}


sub log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/prometheus.log" or return '';
    local $/;
    return <$fh> // '';
}


sub stop {
    my ($self) = @_;

    my $pid = delete $self->{pid} or return;

    kill 'TERM', $pid;

    my $deadline = Time::HiRes::time() + 10;
    while (waitpid($pid, WNOHANG) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            last;
        }
        Time::HiRes::sleep(0.05);
    }
}


sub DESTROY { $_[0]->stop }


1;
