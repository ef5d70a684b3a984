# A full disk: the samples and receptions tables live in a tablespace on a
# small filesystem (scripts/test.sh mounts a 40 MB tmpfs and passes its path
# in HG_FULL_DISK_DIR; WAL stays on the normal disk), which a filler file
# brings to a few MB free.  The job writing there ends 'failed' with an
# error that says the disk is full, which file, which tablespace and where,
# and how to continue; every committed sample is intact (equal to the same
# prefix of an uninterrupted run); the server stays up and a job of another
# database keeps going.  Once space is freed, the start_job call the error
# names continues the dataset byte for byte.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $dir = $ENV{HG_FULL_DISK_DIR};
if (!$dir)
{
	# make test (scripts/test.sh, as root) always provides it: there, its absence is a failure
	die 'HG_FULL_DISK_DIR is not set: scripts/test.sh mounts a small tmpfs for this test as root'
	  if $ENV{HG_REQUIRE_FULL_DISK};
	plan skip_all => 'needs HG_FULL_DISK_DIR, a small filesystem (scripts/test.sh mounts one when run as root)';
}
my $avail = sub { my $a = `df -B1 --output=avail '$dir' | tail -n 1`; $a =~ s/\s//g; return $a };
ok(-d $dir && -w $dir && $avail->() < 200 * 1024 * 1024, "$dir is a small writable filesystem (" . $avail->() . ' bytes free)');

my $ts = "$dir/ts_$$";
mkdir $ts or die "mkdir $ts: $!";
my $BIG = '{"rx_count_min": 7, "rx_count_max": 7}';	# 7 x 80 kB of IQ per sample
my $N = 30;
my $node = hg_node('full_disk', 'heimdall_gen.database' => "'postgres,other'", 'heimdall_gen.batch_size' => 2);
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION heimdall_gen');

# the reference, uninterrupted, in the other database (default tablespace)
my $ref_job = $node->safe_psql('other', "SELECT heimdall_gen.start_job('ref', $N, 4242, '$BIG')");
is($node->safe_psql('other', "SELECT heimdall_gen.wait_job($ref_job, '300 s')"), 'completed', 'reference run');

# this database's datasets go to the small filesystem
$node->safe_psql('postgres', qq{
	CREATE TABLESPACE small LOCATION '$ts';
	ALTER TABLE heimdall_gen.samples SET TABLESPACE small;
	ALTER TABLE heimdall_gen.receptions SET TABLESPACE small;
});

# leave about 6 MB: some ten samples
my $filler = "$dir/filler_$$";
my $fill_mb = int(($avail->() - 6 * 1024 * 1024) / (1024 * 1024));
system("dd if=/dev/zero of='$filler' bs=1M count=$fill_mb status=none");
note('free before the job: ' . $avail->() . ' bytes');

# a job in the other database runs beside it (slowly: it must outlive the failure)
$node->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 10');
$node->reload;
my $other = $node->safe_psql('other', "SELECT heimdall_gen.start_job('beside', 1000, 9, '$HeimdallTest::SMALL')");
ok(wait_samples_in('other', $other, 1), 'a job in another database runs');

my $job = hg_start_job($node, 'victim', $N, 4242, $BIG);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')"), 'failed', 'the job fails on the full disk');
my $error = job_row($node, $job, 'error');
note("error: $error");
like($error, qr{could not extend file "pg_tblspc/\d+/[^"]+": No space left on device}, 'the error names the file');
like($error, qr{the disk is full \(tablespace "small", \Q$ts\E\)}, 'the error says the disk is full, which tablespace, where');
my ($done, $next) = split /\|/, job_row($node, $job, 'samples_done || \'|\' || next_attempt');
ok($done > 0 && $done < $N, "$done samples committed before the disk filled");
like(HeimdallTest::checksum_in($node, 'postgres', 'victim'), qr/^$done samples/, 'stored samples = samples_done');
is(HeimdallTest::checksum_in($node, 'postgres', 'victim'),
	$node->safe_psql('other', HeimdallTest::checksum_sql('ref', $next)),
	'every committed sample equals the same prefix of an uninterrupted run');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
is($node->safe_psql('other', "SELECT status FROM heimdall_gen.jobs WHERE job_id = $other"), 'running',
	'the other job keeps going');
$node->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 0');
$node->reload;
is($node->safe_psql('other', "SELECT heimdall_gen.wait_job($other, '300 s')"), 'completed', 'and completes');

# a new job into the still full tablespace fails the same way, cleanly
my $again = hg_start_job($node, 'victim2', 5, 1, $BIG);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($again, '300 s')"), 'failed', 'still full: a new job fails too');
like(job_row($node, $again, 'error'), qr/No space left on device: the disk is full/, '... saying so');

# free the space, then continue with the call the error names
unlink $filler or die "unlink $filler: $!";
my ($call) = $error =~ /(SELECT heimdall_gen\.start_job\(name, \d+, NULL, params\) FROM heimdall_gen\.datasets WHERE name = 'victim')/;
ok(defined $call, "the error says how to continue: $call");
my $cont = $node->safe_psql('postgres', $call);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($cont, '300 s')"), 'completed', 'the continuation completes');
is(HeimdallTest::checksum_in($node, 'postgres', 'victim'), HeimdallTest::checksum_in($node, 'other', 'ref'),
	'the dataset equals an uninterrupted run, byte for byte');

# a materialize job on the full disk: its error names the call that fills
# the rest (the start_job call of a generating job would add new samples to
# the dataset and leave the missing IQ missing, found by a user's review)
my $VIRT = '{"rx_count_min": 7, "rx_count_max": 7, "iq_storage": "virtual"}';
my $M = 15;
my $labels = hg_start_job($node, 'virt', $M, 4242, $VIRT);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($labels, '300 s')"), 'completed', 'a virtual dataset: labels only');
my $virt_next = job_row($node, $labels, 'next_attempt');
$fill_mb = int(($avail->() - 3 * 1024 * 1024) / (1024 * 1024));
system("dd if=/dev/zero of='$filler' bs=1M count=$fill_mb status=none");
my $fill = $node->safe_psql('postgres', "SELECT heimdall_gen.materialize('virt')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($fill, '300 s')"), 'failed', 'materialize fails on the full disk');
my $fill_error = job_row($node, $fill, 'error');
note("error: $fill_error");
like($fill_error, qr/the disk is full \(tablespace "small"/, 'saying the disk is full');
unlike($fill_error, qr/start_job/, 'without naming a start_job call');
unlink $filler or die "unlink $filler: $!";
($call) = $fill_error =~ /(SELECT heimdall_gen\.materialize\('virt'\))/;
ok(defined $call, "the error names the call that fills the rest: $call");
my $refill = $node->safe_psql('postgres', $call);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($refill, '300 s')"), 'completed', 'which completes');
is(HeimdallTest::checksum_in($node, 'postgres', 'virt'), $node->safe_psql('other', HeimdallTest::checksum_sql('ref', $virt_next)),
	"every reception's IQ stored, the $M samples equal to an uninterrupted stored run");

$node->safe_psql('postgres', "SELECT heimdall_gen.drop_dataset(name) FROM heimdall_gen.datasets");
$node->stop;
system("rm -rf '$ts'");
done_testing();

sub wait_samples_in
{
	my ($db, $j, $n) = @_;
	return $node->poll_query_until($db,
		"SELECT samples_done >= $n FROM heimdall_gen.worker_slots() WHERE job_id = $j");
}
