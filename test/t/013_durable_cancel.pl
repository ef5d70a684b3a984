# heimdall_gen.durable_cancel.  The worker commits its 'cancelled'
# asynchronously; cancel_job(wait => true) returns once the worker is gone.
# On: the call has flushed the WAL through that commit, so a crash right
# after it keeps the job cancelled.  Off (the default): the WAL writer
# flushes it a little later, and a crash before that resumes the job from
# its durable samples, which must then come out byte-identical to an
# uninterrupted run.  The node's WAL writer is made lazy (a flush every
# 10 s, none by volume), so that nothing but the call's own flush gets the
# commit to disk before the crash: without that flush the first part fails.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $N = 40;
my $node = hg_node('durable_cancel', wal_writer_delay => '10s', wal_writer_flush_after => '1GB',
	'heimdall_gen.batch_size' => 2,
	# commits can wait for a synchronous standby (the last part)
	wal_level => 'replica', max_wal_senders => 2);

is($node->safe_psql('postgres', 'SHOW heimdall_gen.durable_cancel'), 'off', 'off by default');

my $ref_job = hg_start_job($node, 'reference', $N, 515151);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($ref_job, '300 s')"), 'completed', 'reference run');
my $reference = dataset_checksum($node, 'reference');

# slow enough to cancel mid-flight (2 s a job: a loaded machine once let a
# job of 0.8 s end between the poll that saw it running and its cancel)
$node->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 50');
$node->reload;

# cancel at a random point with the setting as given, then crash the server at once
sub cancel_then_crash
{
	my ($dataset, $durable) = @_;
	my $job = hg_start_job($node, $dataset, $N, 515151);
	wait_samples($node, $job, 3 + int(rand(10))) or die "job $job did not start";
	my $pid = worker_pid($node, $job);
	die "job $job ended before it could be cancelled" if $pid !~ /^\d+$/;
	$node->safe_psql('postgres', qq{
		SET heimdall_gen.durable_cancel = $durable;
		SELECT heimdall_gen.cancel_job($job, wait => true)});
	ok(!kill(0, $pid), "$dataset: the worker ($pid) is gone when cancel_job returns");
	$node->stop('immediate');
	$node->start;
	return $job;
}

for my $round (1 .. 3)
{
	my $job = cancel_then_crash("durable_$round", 'on');
	# a lost cancel would read 'running' here: recovery replays only what reached the disk
	is(job_row($node, $job, 'status'), 'cancelled', "durable_$round: still cancelled after the crash");
	is(job_row($node, $job, "samples_done = (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = jobs.dataset_id)"),
		't', "durable_$round: samples_done counts the durable rows");
}

for my $round (1 .. 2)
{
	my $job = cancel_then_crash("lazy_$round", 'off');
	my $status = $node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')");
	diag("lazy_$round: after the crash the job ended '$status'");
	if ($status eq 'completed')
	{
		is(dataset_checksum($node, "lazy_$round"), $reference, "lazy_$round: the crash undid the cancel; the resumed job is byte-identical");
	}
	else
	{
		is($status, 'cancelled', "lazy_$round: the cancel reached the disk before the crash");
	}
}

# A synchronous standby named and away (a replication review).  A durable
# cancel waits for it as the caller's own commit would: flushed on the
# primary only, it was lost in a failover to a standby that had not
# received it, and the job ran to the end there.  The launcher's commits
# wait for none: it sat in SyncRep at its first commit, and no queued job
# started, while workers (asynchronous commits) could run them.
my ($probe, $probe_pid) = hg_synchronous_standby_away($node, '');
ok($probe_pid, 'commits wait for the synchronous standby');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($probe_pid)");
$probe->quit;

# three jobs for two workers: the launcher records why the third waits, and
# starts it when a worker is free (the starting sessions wait for no standby)
my @jobs = map {
	$node->safe_psql('postgres', "SET synchronous_commit = local; "
		  . "SELECT heimdall_gen.start_job('standby_away_$_', 8, $_, '$HeimdallTest::SMALL')")
} (1 .. 3);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($_, '120 s')"), 'completed',
	"job $_ completes while the standby is away") for @jobs;

# a commit with a NOTIFY that waits for the standby holds NOTIFY's lock
# (PostgreSQL holds it through that wait), and any role can make one: the
# workers, whose batches carry events, go on committing them, the events
# left unsent (a README review: every job stood still behind it)
$node->safe_psql('postgres', 'SET synchronous_commit = local; SELECT heimdall_gen.event_channel()');
my @writers = map {
	$node->safe_psql('postgres', "SET synchronous_commit = local; "
		  . "SELECT heimdall_gen.start_job('notify_held_$_', 100000, $_, '$HeimdallTest::SMALL')")
} (1 .. 2);
ok(wait_samples($node, $_, 2), "job $_ writes, sending events") for @writers;
my ($holder, $holder_pid) = hg_synchronous_standby_away($node, 'NOTIFY hg_held;');
ok($holder_pid, "a commit with a NOTIFY waits for the standby, holding NOTIFY's lock");
for my $writer (@writers)
{
	my $committed = job_row($node, $writer, 'samples_done');
	ok($node->poll_query_until('postgres',
			"SELECT samples_done >= $committed + 4 FROM heimdall_gen.jobs WHERE job_id = $writer"),
		"job $writer goes on committing its batches");
}
$node->safe_psql('postgres', "SET synchronous_commit = local; SELECT heimdall_gen.cancel_job($_, wait => true)")
  for @writers;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($holder_pid)");
$holder->quit;

# a job that cannot end before its cancel: one of $N samples once did (2 s,
# 50 ms a sample, on a machine loaded enough that the cancel came after it)
my $durable = $node->safe_psql('postgres', "SET synchronous_commit = local; "
	  . "SELECT heimdall_gen.start_job('durable_standby', 100000, 515151, '$HeimdallTest::SMALL')");
ok(wait_samples($node, $durable, 3), 'a job writes');
my $durable_pid = worker_pid($node, $durable);
like($durable_pid, qr/^\d+$/, "its worker's pid, read while it runs");
my $canceller = $node->background_psql('postgres', on_error_stop => 0);
my $canceller_pid = $canceller->query_safe('SELECT pg_backend_pid()');
$canceller->query_until(qr/sent/,
	"SET heimdall_gen.durable_cancel = on;\n\\echo sent\nSELECT heimdall_gen.cancel_job($durable, wait => true);\n\\echo returned\n");
ok($node->poll_query_until('postgres',
		"SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = $canceller_pid"),
	'a durable cancel waits for the synchronous standby');
ok(!kill(0, $durable_pid), "its worker ($durable_pid) is gone meanwhile");
is(job_row($node, $durable, 'status'), 'cancelled', 'the job reads cancelled on the primary');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET synchronous_standby_names');
$node->reload;
like($canceller->query_until(qr/returned/, ''), qr/^t$/m, 'once no standby is waited for, the cancel returns true');
$canceller->quit;

$node->stop;
done_testing();
