# Bad input, wider: a seeded fuzz of start_job (HG_FUZZ_SEED=<seed> repeats
# it, HG_FUZZ_CALLS sets the count, at least 1000).  Each call changes one
# argument of a valid call: the dataset name (quotes, unicode, whitespace,
# thousands of characters, NULL), num_samples (at and past its limits,
# NULL), the seed (extremes, NULL), or params (every JSON type and nesting
# as the whole and as a value of every parameter, huge and tiny numbers,
# "NaN" and "Infinity", huge strings, unknown and odd keys, broken receiver
# lists).  Every call either is valid (and then rolled back) or fails with
# SQLSTATE class 22 or 42 and a message, detail or hint that names the
# field; nothing is created, the server does not restart, no backend dies.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Encode qw(encode_utf8 decode_utf8);
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $seed = $ENV{HG_FUZZ_SEED} // int(rand(2**31));
my $CALLS = $ENV{HG_FUZZ_CALLS} // 1200;
srand($seed);
diag("fuzz seed $seed (HG_FUZZ_SEED=$seed repeats it), $CALLS calls");

my $node = hg_node('fuzz');
my $json = JSON::PP->new->canonical;

# a call that is valid is rolled back (its subtransaction fails on purpose)
$node->safe_psql('postgres', q{
CREATE ROLE fuzz_other LOGIN;
CREATE FUNCTION fuzz_call(n text, k integer, s bigint, p jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text;
BEGIN
	BEGIN
		PERFORM heimdall_gen.start_job(n, k, s, p);
		RAISE EXCEPTION 'fuzz: accepted';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
								hnt = PG_EXCEPTION_HINT;
		IF msg = 'fuzz: accepted' THEN
			RETURN 'OK';
		END IF;
		RETURN st || ' ' || replace(msg || ' / ' || coalesce(det, '') || ' / ' || coalesce(hnt, ''), E'\n', ' ');
	END;
END
$$;
});
# a dataset of another role: its name is taken
$node->safe_psql('postgres', "SET ROLE fuzz_other; SELECT heimdall_gen.start_job('taken', 1, 1, '{\"duration_ms\": 10}')");
my @keys = sort keys %{ $json->decode($node->safe_psql('postgres', "SELECT heimdall_gen.resolve_params('{}')")) };
ok(@keys > 20, scalar(@keys) . ' parameters');

sub pick { return $_[ int(rand(@_)) ] }
sub rand_string
{
	my ($len) = @_;
	my @alphabet = ('a' .. 'z', 'A' .. 'Z', 0 .. 9, qw(_ . - ' " \\ / % $ ; :), ',', ' ', "\t", "\n",
		'é', 'ß', 'Ω', 'δ', '中', '文', "\x{1F4E1}", "\x{200B}", "\x{FEFF}", "\x{202E}");
	return join('', map { pick(@alphabet) } 1 .. $len);
}
sub extreme_number
{
	return pick(0, -0.0, 1, -1, 0.5, 7, 1e6, -1e6, 2**31, -2**31 - 1, 2**53 + 1, 2**63, 1e308, -1e308,
		'1e309', '-1e309', '1e-400', '1e400', '123456789012345678901234567890.123456789',
		'0.000000000000000000000000000001', 4.9e-324, 1.7976931348623157e308, rand() * 1000 - 500,
		int(rand(100)));
}
# any JSON value: scalars of every type, and nesting
sub any_value
{
	my ($depth) = @_;
	$depth //= 0;
	my $r = rand();
	return JSON::PP::null if $r < 0.08;
	return (rand() < 0.5 ? JSON::PP::true : JSON::PP::false) if $r < 0.16;
	return '__RAW__' . extreme_number() if $r < 0.45;	# a number, written as is
	return pick('NaN', 'Infinity', '-Infinity', '', ' ', 'fixed', 'uniform', 'yagi', 'omni', '1', '1e400', 'null')
	  if $r < 0.6;
	return rand_string(int(rand(40))) if $r < 0.7;
	return 'x' x (1000 + int(rand(20000))) if $r < 0.75;
	return [ map { any_value($depth + 1) } 1 .. int(rand(4)) ] if $r < 0.85 && $depth < 4;
	return { map { rand_string(3) => any_value($depth + 1) } 1 .. int(rand(3)) } if $depth < 4;
	return 1;
}
sub deep
{
	my ($n) = @_;
	my $v = 1;
	$v = rand() < 0.5 ? [$v] : { k => $v } for 1 .. $n;
	return $v;
}
sub receivers
{
	# zigzag, not on a line (start_job refuses a network on one line)
	my @rx = map { { name => "r$_", lat => 45 + $_ / 10, lon => 8 + ($_ % 2) / 10, alt_m => 15, antenna => 'omni', azimuth_deg => 0 } }
	  1 .. (pick(0, 1, 2, 3, 5, 16, 17, 40));
	if (@rx && rand() < 0.8)
	{
		my $victim = pick(@rx);
		my $field = pick(qw(name lat lon alt_m antenna azimuth_deg extra));
		$victim->{$field} = any_value(2);
		delete $victim->{$field} if rand() < 0.1;
	}
	return rand() < 0.1 ? [ @rx, any_value(1) ] : \@rx;
}

# the number as JSON text (keeps '1e400' and friends exact)
sub encode
{
	my ($v) = @_;
	my $text = $json->allow_nonref->encode($v);
	$text =~ s/"__RAW__([^"]*)"/$1/g;
	return $text;
}

my @cases;
for my $i (1 .. $CALLS)
{
	my %c = (field => '', name => "fz_$i", n => 10, seed => 1, params => '{"duration_ms": 10}');
	my $r = rand();
	if ($r < 0.22)
	{
		$c{field} = 'dataset name';
		$c{name} = pick(undef, '', ' ', '   ', "\t", "\n", "a'b", 'a"b', "x'); DROP TABLE heimdall_gen.jobs; --",
			'données', 'δοκιμή', "\x{1F4E1}sat", "a\x{200B}b", 'a b', 'a/b', 'a\\b', '-lead', '.lead', '_lead',
			'x' x 100, 'x' x 101, 'x' x (1000 + int(rand(9000))), 'taken', 'ok.name-1_2',
			rand_string(1 + int(rand(30))), rand_string(int(rand(300))), "  fz_pad  ");
	}
	elsif ($r < 0.36)
	{
		$c{field} = 'num_samples';
		$c{n} = pick(undef, 0, -1, 1, 2, 9999999, 10000000, 10000001, 2147483647, -2147483648,
			int(rand(2**31)) * pick(1, -1));
	}
	elsif ($r < 0.42)
	{
		$c{field} = 'seed';
		$c{seed} = pick(undef, 0, -1, '9223372036854775807', '-9223372036854775808', int(rand(2**48)));
	}
	else
	{
		$c{field} = 'params';
		my $p = rand();
		if ($p < 0.08)
		{
			$c{params} = pick(undef, 'null', 'true', 'false', '0', '"{}"', '[]', '[{}]', '1e400', '"x"');
		}
		elsif ($p < 0.7)
		{
			my $key = pick(@keys);
			$c{field} = $key;
			my $v = rand() < 0.05 ? deep(50 + int(rand(200))) : any_value();
			$c{params} = '{' . encode($key) . ': ' . encode($v) . '}';
		}
		elsif ($p < 0.8)
		{
			my $key = pick(rand_string(1 + int(rand(20))), '', ' ', 'Duration_ms', 'duration_ms ', "x" x 3000,
				'seed', 'num_samples', 'params');
			$c{field} = substr($key, 0, 40);
			$c{params} = '{' . encode($key) . ': ' . encode(1) . '}';
		}
		elsif ($p < 0.93)
		{
			$c{field} = 'receiver';
			$c{params} = encode({ rx_layout => 'fixed', fixed_receivers => receivers() });
		}
		else
		{
			$c{field} = 'receiver_network';
			$c{params} = encode({ receiver_network => any_value(1) });
		}
	}
	$c{params} =~ s/"NaN"/NaN/ if defined $c{params} && rand() < 0.02;	# not JSON: the cast refuses, class 22
	push @cases, \%c;
}

sub lit
{
	my ($v) = @_;
	return 'NULL' unless defined $v;
	$v =~ s/'/''/g;
	return "'$v'";
}

my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $before = $node->safe_psql('postgres',
	'SELECT (SELECT count(*) FROM heimdall_gen.datasets) || \'/\' || (SELECT count(*) FROM heimdall_gen.jobs)');

my (%by_class, @bad, $ok_count);
my $batch = 100;
for (my $b = 0; $b < @cases; $b += $batch)
{
	my @sql;
	for my $k ($b .. ($b + $batch - 1 < $#cases ? $b + $batch - 1 : $#cases))
	{
		my $c = $cases[$k];
		# the params text is cast in its own subtransaction too: invalid JSON is the cast's refusal
		push @sql, "SELECT $k, fuzz_call(" . join(', ', lit($c->{name}), defined $c->{n} ? $c->{n} : 'NULL',
			defined $c->{seed} ? $c->{seed} : 'NULL', lit($c->{params}) . '::text::jsonb') . ');';
	}
	my ($ret, $out, $err) = $node->psql('postgres', encode_utf8(join("\n", @sql)), on_error_stop => 0);
	$out = decode_utf8($out);
	# a statement whose cast failed prints an error and no row: recover those from stderr
	my %got = map { my ($k, $r) = split /\|/, $_, 2; ($k => $r) } grep { length } split /\n/, $out;
	for my $k ($b .. ($b + $batch - 1 < $#cases ? $b + $batch - 1 : $#cases))
	{
		my $c = $cases[$k];
		my $r = $got{$k};
		if (!defined $r)
		{
			# only the ::jsonb cast of a non-JSON text may fail outside fuzz_call
			$by_class{'22P02 (not JSON, refused by the cast)'}++;
			push @bad, "case $k: no result and params '" . substr($c->{params} // 'NULL', 0, 80) . "' is JSON"
			  if defined $c->{params} && $c->{params} !~ /NaN/;
			next;
		}
		if ($r eq 'OK')
		{
			$ok_count++;
			next;
		}
		my ($state, $text) = split / /, $r, 2;
		$by_class{$state}++;
		my $field = $c->{field} =~ s/\n/ /gr;	# fuzz_call puts the error on one line
		my $names_field = index(lc $text, lc $field) >= 0
		  || ($field =~ /^receiver/ && $text =~ /receiver/i)
		  || ($field eq 'params' && $text =~ /params/i)
		  # a parameter whose value breaks a relation between parameters: the error names that relation's fields
		  || ($field =~ /^[a-z_]+$/ && $text =~ /parameters? "[a-z_]+"/);
		push @bad, "case $k ($field = " . substr($c->{params} // $c->{name} // 'NULL', 0, 100) . "): $state "
		  . substr($text, 0, 300)
		  unless $state =~ /^(22|42)/ && $names_field;
	}
}
my $after = $node->safe_psql('postgres',
	'SELECT (SELECT count(*) FROM heimdall_gen.datasets) || \'/\' || (SELECT count(*) FROM heimdall_gen.jobs)');

my $failures = 0;
$failures += $_ for values %by_class;
diag(sprintf('fuzz: seed %d, %d calls: %d valid (rolled back), %d refused: %s', $seed, scalar(@cases), $ok_count // 0,
	$failures, join(', ', map { "$_ x $by_class{$_}" } sort keys %by_class)));
ok(@cases >= 1000, scalar(@cases) . ' calls');
is(scalar(@bad), 0, 'every refusal is class 22 or 42 and names the field') or diag(join("\n", @bad[0 .. ($#bad < 40 ? $#bad : 40)]));
is($after, $before, "nothing created (datasets/jobs $before)");
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $start_time, 'the server never restarted');
ok(!$node->log_contains(qr/terminated by signal|PANIC|TRAP/), 'no backend died');
my $j = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('after_fuzz', 2, 5, '{\"duration_ms\": 10}')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($j, '120 s')"), 'completed', 'a valid job still runs');

$node->stop;
done_testing();
