# A worker waits for the disk on its latch while the machine's dirty pages
# are near the kernel's throttling point (hg_pace.c), but never without end:
# another writer (a backup, a file copy, another tenant) can hold them there
# for as long as it writes.  A review found a job that made no progress at
# all for 70 s, its batch's snapshot held meanwhile, and a hand cancel (the
# status row's fallback, read every 10 attempts) that went unseen for 45 s
# because no attempt ended.  Planted here without writing gigabytes: the
# developer option heimdall_gen.meminfo_file points the worker at a file
# whose Dirty figure never falls.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $node = hg_node('disk_wait');
my $params = '{"duration_ms": 10, "rx_count_min": 3, "rx_count_max": 3}';

# the same dataset written with the disk keeping up, for the checksum below
my $free_job = hg_start_job($node, 'unpaced', 12, 7, $params);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($free_job, '120 s')"), 'completed',
	'a job with the disk keeping up completes');

my $meminfo = $node->basedir . '/meminfo_never_clean';
open(my $fh, '>', $meminfo) or die "$meminfo: $!";
# 100 GB dirty of a machine with 1 MB to dirty: far past any threshold,
# whatever vm.dirty_* say
print $fh "MemFree:         1024 kB\nActive(file):      0 kB\nInactive(file):    0 kB\n"
  . "Dirty:       104857600 kB\nWriteback:         0 kB\n";
close($fh);
chmod 0644, $meminfo;
$node->safe_psql('postgres', "ALTER SYSTEM SET heimdall_gen.meminfo_file = '$meminfo'");
$node->reload;

my $offset = -s $node->logfile;
my $paced_job = hg_start_job($node, 'paced', 12, 7, $params);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($paced_job, '120 s')"), 'completed',
	'with the dirty pages never falling, the job still completes');
my $waited;
for (1 .. 300)
{
	($waited) = slurp_file($node->logfile, $offset) =~ /job $paced_job waited (\d+) ms for the disk/;
	last if defined $waited;
	usleep(100_000);
}
ok(($waited // 0) >= 100, "the plant took effect: the worker waited " . ($waited // "no") . " ms for the disk, 100 ms at a time");
is(dataset_checksum($node, 'paced'), dataset_checksum($node, 'unpaced'),
	'the paced dataset is byte for byte the unpaced one');

# A file that is not one (a FIFO, a device) turns the pacing off: read
# through stdio, a FIFO blocked the worker in open() and /dev/zero kept it
# reading without end, where neither a cancel nor a fast shutdown reached it.
my $fifo = $node->basedir . '/meminfo_fifo';
system('mkfifo', $fifo) == 0 or die "mkfifo $fifo";
for my $file ($fifo, '/dev/zero')
{
	$node->safe_psql('postgres', "ALTER SYSTEM SET heimdall_gen.meminfo_file = '$file'");
	$node->reload;
	my $job = hg_start_job($node, 'odd_meminfo' . ($file eq $fifo ? 1 : 2), 3, 9, $params);
	is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '60 s')"), 'completed',
		"with heimdall_gen.meminfo_file a " . ($file eq $fifo ? 'FIFO' : 'device') . ", a job completes");
}

# The fallback, bounded in time: a hand UPDATE raises no flag, and with
# attempts 3 s apart, ten of them would take 30 s; the row is read at the
# next attempt once 5 s have passed since the last read.
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.sample_delay_ms = 3000');
$node->reload;
my $slow_job = hg_start_job($node, 'slow', 100000, 8, $params);
wait_samples($node, $slow_job, 1) or die "job $slow_job did not start";
my $t0 = time;
$node->safe_psql('postgres', "UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = $slow_job");
wait_no_worker($node, $slow_job);
my $took = time - $t0;
ok($took < 20, "a hand cancel of a job whose attempts are 3 s apart is seen in $took s (ten attempts: 30 s)");
is(job_row($node, $slow_job, 'status'), 'cancelled', 'and the job stays cancelled');

$node->stop;
done_testing();
