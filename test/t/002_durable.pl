# Durable jobs: pause/resume, kill -9 of the worker (twice), fast and
# immediate server restarts, other batch sizes, more jobs than slots, and
# extending a dataset.  Each interrupted dataset must be byte-identical
# (IQ and labels) to an uninterrupted run of the same seed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $N = 60;
my $node = hg_node('durable', 'heimdall_gen.batch_size' => 5);

# the reference: one uninterrupted run
my $ref_job = hg_start_job($node, 'reference', $N, 424242);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($ref_job, '300 s')"), 'completed', 'reference run');
my $reference = dataset_checksum($node, 'reference');
like($reference, qr/^\d+ rows, [0-9a-f]{32}$/, "reference checksum $reference");

# from here on, slow enough to catch jobs mid-flight: at 25 ms a sample a
# loaded machine's polling (0.7 s late once) let a killed job's first round
# run to sample 45 of 60, and its second round's target then came so close
# to the end that the job completed before its worker could be killed
$node->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 50');
$node->reload;

# --- pause at a random point, resume
my $job = hg_start_job($node, 'paused', $N, 424242);
my $at = 5 + int(rand(30));
ok(wait_samples($node, $job, $at), "running past sample $at");
is($node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($job)"), 't', 'pause');
ok(wait_no_worker($node, $job), 'the worker left its slot');
is(job_row($node, $job, 'status'), 'paused', 'status paused');
my $other = hg_start_job($node, 'while_paused', 3, 7);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($other, '120 s')"), 'completed',
	'another job ran in the freed slot meanwhile');
is(job_row($node, $job, 'status'), 'paused', 'still paused');
is($node->safe_psql('postgres', "SELECT heimdall_gen.resume_job($job)"), 't', 'resume');
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')"), 'completed', 'resumed job completes');
is(dataset_checksum($node, 'paused'), $reference, 'paused + resumed dataset is identical');

# --- kill -9 of the worker, twice (the postmaster restarts all backends)
$job = hg_start_job($node, 'killed', $N, 424242);
for my $round (1 .. 2)
{
	# beyond what is committed: the worker runs its model only once its claim
	# is written (a kill before that may take the launcher's uncommitted
	# requeue, and so its restart count, with it: a crash before the job ran)
	my $committed = job_row($node, $job, 'samples_done');
	my $target = 10 * $round + int(rand(8));
	$target = $committed + 2 if $target < $committed + 2;
	ok(wait_samples($node, $job, $target), "kill round $round: generating");
	my $pid = worker_pid($node, $job);
	ok(kill('KILL', $pid), "kill -9 worker $pid");
	# the postmaster resets shared memory and restarts; wait for the job to run again
	$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $job AND pid IS NOT NULL")
	  or diag('job did not restart');
}
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')"), 'completed', 'killed job completes');
is(job_row($node, $job, 'restarts'), '2', 'two restarts counted');
is(dataset_checksum($node, 'killed'), $reference, 'dataset after two kill -9 is identical');

# --- server restarts mid-job: fast and immediate shutdown
for my $mode ('fast', 'immediate')
{
	$job = hg_start_job($node, "restart_$mode", $N, 424242);
	ok(wait_samples($node, $job, 10 + int(rand(20))), "$mode: generating");
	$node->stop($mode);
	$node->start;
	is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')"), 'completed', "$mode: completes");
	is(job_row($node, $job, 'restarts'), '1', "$mode: one restart counted, not failed");
	is(dataset_checksum($node, "restart_$mode"), $reference, "$mode restart: identical");
}

# --- other batch sizes
$node->append_conf('postgresql.conf', "heimdall_gen.sample_delay_ms = 0\nheimdall_gen.batch_size = 1");
$node->reload;
$job = hg_start_job($node, 'batch1', $N, 424242);
$node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')");
is(dataset_checksum($node, 'batch1'), $reference, 'batch size 1: identical');
$node->append_conf('postgresql.conf', "heimdall_gen.batch_size = 37");
$node->reload;
$job = hg_start_job($node, 'batch37', $N, 424242);
$node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')");
is(dataset_checksum($node, 'batch37'), $reference, 'batch size 37: identical');

# --- the executor's way: an INSERT trigger a superuser added on receptions
# must fire, so the worker inserts through the executor instead of the
# table AM, with the same bytes
$node->safe_psql('postgres', q{
	CREATE TABLE public.seen_receptions (n bigint NOT NULL);
	INSERT INTO public.seen_receptions VALUES (0);
	CREATE FUNCTION public.count_reception() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN UPDATE public.seen_receptions SET n = n + 1; RETURN NEW; END $$;
	CREATE TRIGGER count_reception AFTER INSERT ON heimdall_gen.receptions
		FOR EACH ROW EXECUTE FUNCTION public.count_reception()});
$job = hg_start_job($node, 'through_executor', $N, 424242);
$node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')");
is(dataset_checksum($node, 'through_executor'), $reference, 'inserted through the executor: identical');
is($node->safe_psql('postgres', "SELECT n = (SELECT count(*) FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d "
	  . "USING (dataset_id) WHERE d.name = 'through_executor') FROM public.seen_receptions"), 't',
	'the trigger fired for every reception');
ok($node->log_contains(qr/inserting heimdall_gen rows through the executor: it has an INSERT trigger/),
	'the worker said why it took the executor\'s way');
$node->safe_psql('postgres', 'DROP TRIGGER count_reception ON heimdall_gen.receptions');

# --- extend a dataset: 25 + 35 samples = one job of 60
$job = hg_start_job($node, 'extended', 25, 424242);
$node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')");
my $job2 = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('extended', 35, NULL, '$HeimdallTest::SMALL')");
$node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job2, '300 s')");
is(dataset_checksum($node, 'extended'), $reference, 'extended dataset equals one job of the summed size');
my ($ret) = $node->psql('postgres',
	"SELECT heimdall_gen.start_job('extended', 5, NULL, '{\"duration_ms\": 30}')");
isnt($ret, 0, 'extending with other parameters is refused');

# --- more jobs than slots: 3 jobs on 2 slots
# (30 samples x 100 ms: each job runs 3 s at least, however fast the machine,
# so the first two are surely still running when we look at the third)
$node->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 100');
$node->reload;
my @jobs = map { hg_start_job($node, "queue_$_", 30, 100 + $_) } (1 .. 3);
ok(wait_samples($node, $jobs[0], 1) && wait_samples($node, $jobs[1], 1), 'two jobs run');
is(job_row($node, $jobs[2], 'status'), 'queued', 'the third waits as queued');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.worker_slots()"), '2', 'two slots in use');
for my $j (@jobs)
{
	is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($j, '300 s')"), 'completed', "job $j completes");
}
ok(job_row($node, $jobs[2], 'started_at') ge job_row($node, $jobs[0], 'finished_at')
	  || job_row($node, $jobs[2], 'started_at') ge job_row($node, $jobs[1], 'finished_at'),
	'the third started only when a slot freed');

# --- drop_dataset refuses while a job writes, then removes everything
$job = hg_start_job($node, 'to_drop', 100000, 9);
ok(wait_samples($node, $job, 2), 'writing to_drop');
($ret) = $node->psql('postgres', "SELECT heimdall_gen.drop_dataset('to_drop')");
isnt($ret, 0, 'drop_dataset refuses while a job writes');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($job, wait => true)");
ok($node->safe_psql('postgres', "SELECT heimdall_gen.drop_dataset('to_drop')") > 0, 'dropped after cancel');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.datasets WHERE name = 'to_drop'"), '0', 'gone');

# --- memory stays flat, even with every sample in one open batch
$node->append_conf('postgresql.conf',
	"heimdall_gen.sample_delay_ms = 0\nheimdall_gen.batch_size = 10000\nheimdall_gen.commit_interval_ms = 600000");
$node->reload;
$job = hg_start_job($node, 'memory', 100000, 10, '{"rx_count_min": 7, "rx_count_max": 7}');
ok(wait_samples($node, $job, 40), 'a job fills one batch with full-size samples (7 x 80 kB of IQ each)');
my $wpid = worker_pid($node, $job);
my $rss_early = rss_anon_kb($wpid);
ok(wait_samples($node, $job, 240), 'two hundred samples later, still uncommitted');
my $rss_late = rss_anon_kb($wpid);
ok($rss_early > 0 && $rss_late > 0 && $rss_late - $rss_early < 16 * 1024,
	"worker private memory flat: $rss_early kB -> $rss_late kB (holding the rows would add ~110 MB)");
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($job, wait => true)");

# ... and so does a materialize job's, which looks up each sample to fill
# (a C review: that lookup's result was kept until the batch committed, 8 kB
# a sample, 80 MB for a batch of 10,000)
my $small_virtual = '{"duration_ms": 20, "rx_count_min": 3, "rx_count_max": 3, "iq_storage": "virtual"}';
$job = hg_start_job($node, 'to_fill', 12000, 11, $small_virtual);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')"), 'completed', 'a virtual dataset of 12,000 samples');
$job = $node->safe_psql('postgres', "SELECT heimdall_gen.materialize('to_fill')");
ok(wait_samples($node, $job, 1000), 'materialize fills its first thousand samples, uncommitted');
$wpid = worker_pid($node, $job);
$rss_early = rss_anon_kb($wpid);
ok(wait_samples($node, $job, 4000), "three thousand more, in the same batch");
$rss_late = rss_anon_kb($wpid);
ok($rss_early > 0 && $rss_late > 0 && $rss_late - $rss_early < 8 * 1024,
	"materializing worker's private memory flat: $rss_early kB -> $rss_late kB (the lookups kept added 24 MB)");
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($job, wait => true)");

$node->stop;
done_testing();
