# A job whose worker keeps dying at the same sample ends 'failed' with an
# error instead of looping; DROP EXTENSION during a running job completes and
# the worker goes away (nothing hangs).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

# nothing is committed for a long while, so every crash happens at sample 0
my $node = hg_node('crash_loop',
	'heimdall_gen.batch_size' => 10000,
	'heimdall_gen.commit_interval_ms' => 600000,
	'heimdall_gen.max_restarts' => 2,
	'heimdall_gen.sample_delay_ms' => 20);

my $job = hg_start_job($node, 'doomed', 1000, 3);
for my $round (1 .. 2)
{
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $job AND samples_done >= 2"),
		"round $round: the worker runs");
	my $pid = worker_pid($node, $job);
	ok(kill('KILL', $pid), "round $round: kill -9 worker $pid");
	$node->poll_query_until('postgres', 'SELECT true') or diag('server did not come back');
}
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM heimdall_gen.jobs WHERE job_id = $job"),
	'after max_restarts crashes at the same sample the job fails');
is(job_row($node, $job, 'restarts'), '2', 'both restarts counted');
like(job_row($node, $job, 'error'), qr/stopped unexpectedly 2 times at sample 0/, 'the error says why');
sleep 1;
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.worker_slots() WHERE job_id = $job"), '0',
	'and it is not started again');

# DROP EXTENSION while a job writes: it waits at most for the worker's open
# batch (commit_interval_ms), then completes, and the worker leaves
$node->append_conf('postgresql.conf', "heimdall_gen.batch_size = 10\nheimdall_gen.commit_interval_ms = 1000");
$node->reload;
$job = hg_start_job($node, 'dropped', 100000, 4);
ok(wait_samples($node, $job, 2), 'a job is writing');
my $worker = worker_pid($node, $job);
$node->safe_psql('postgres', "SET statement_timeout = '60s'; DROP EXTENSION heimdall_gen CASCADE");
pass('DROP EXTENSION returned');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $worker"),
	'the worker is gone');
$node->safe_psql('postgres', 'CREATE EXTENSION heimdall_gen');
$job = hg_start_job($node, 'after', 2, 5);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '120 s')"), 'completed',
	'the launcher serves a re-created extension');

$node->stop;
done_testing();
