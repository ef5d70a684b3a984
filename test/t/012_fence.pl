# The fence of cancel_job(id) without wait: once it returns, its status has
# committed and no sample of the job commits after it.  Guaranteed by the
# design (each batch's counters UPDATE locks the job's row and re-reads its
# status; a batch that finds it cancelled is dropped), so this checks it
# where a race would show: jobs committing small batches every few
# milliseconds, cancelled at random moments, the rows counted right after
# the cancel returns and again once the worker has gone.  Half the rounds
# cancel with a hand UPDATE of the status, which raises no flag: there the
# batch's status re-check is all that stops the worker, every time.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $node = hg_node('fence', 'heimdall_gen.batch_size' => 1, 'heimdall_gen.commit_interval_ms' => 10);
my $seed = $ENV{HG_FENCE_SEED} // time;
srand($seed);
diag("seed $seed");

my $violations = 0;
for my $round (1 .. 25)
{
	my $job = hg_start_job($node, "fence_$round", 100000, $round, '{"duration_ms": 10, "rx_count_min": 3, "rx_count_max": 4}');
	wait_samples($node, $job, 1 + int(rand(8))) or die "job $job did not start";
	# one session: cancel, then count what is committed, in the same breath
	my $cancel = $round % 2 ? "SELECT heimdall_gen.cancel_job($job)"
	  : "UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = $job";
	my $at_return = $node->safe_psql('postgres', qq{
		$cancel;
		SELECT count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.jobs j USING (dataset_id) WHERE j.job_id = $job});
	$at_return = (split /\n/, $at_return)[-1];
	wait_no_worker($node, $job);
	my ($after, $done, $status) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = j.dataset_id), j.samples_done, j.status
		  FROM heimdall_gen.jobs j WHERE j.job_id = $job});
	if ($after != $at_return || $done != $after || $status ne 'cancelled')
	{
		$violations++;
		diag("job $job: $at_return samples when cancel_job returned, $after later, samples_done $done, $status");
	}
}
is($violations, 0, '25 cancels (cancel_job and hand UPDATE): no sample committed after the cancel returned, samples_done = rows');

# The fence at completion: a job whose whole run is one open batch (no batch
# commits before the end) completes while its status row says 'cancelled',
# set by hand, so no flag, and fewer than 10 attempts, so no status read.
# Its last UPDATE finds the row no longer 'running': the batch is dropped,
# nothing commits, the status stays as the canceller set it.
$node->safe_psql('postgres', qq{
	ALTER SYSTEM SET heimdall_gen.batch_size = 10000;
	ALTER SYSTEM SET heimdall_gen.commit_interval_ms = 600000;
	ALTER SYSTEM SET heimdall_gen.sample_delay_ms = 400});
$node->reload;
my $at_completion = 0;
for my $round (1 .. 3)
{
	my $job = hg_start_job($node, "complete_$round", 4, 100 + $round, '{"duration_ms": 10, "rx_count_min": 3, "rx_count_max": 3}');
	wait_samples($node, $job, 1) or die "job $job did not start";
	# (its three other samples take 1.2 s at least; on a machine so loaded
	# that it completed first, the round says so and checks nothing)
	my $cancelled = $node->safe_psql('postgres', qq{
		WITH c AS (UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = $job AND status = 'running'
		           RETURNING 1) SELECT count(*) FROM c});
	wait_no_worker($node, $job);
	if ($cancelled ne '1')
	{
		pass("round $round: the job completed before the cancel (a loaded machine): nothing to check");
		next;
	}
	my ($rows, $done, $status, $message) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = j.dataset_id), j.samples_done,
		       j.status, coalesce(j.message, '')
		  FROM heimdall_gen.jobs j WHERE j.job_id = $job});
	is("$rows $done $status", '0 0 cancelled', "round $round: cancelled before its end, nothing committed");
	# the worker's own ending would have written a message; the hand UPDATE did not
	$at_completion++ if $message eq '';
}
ok($at_completion > 0, "$at_completion of 3 rounds reached the job's last UPDATE with the row cancelled");
$node->stop;
done_testing();
