# Cancellation, the mission's heart: the fast path (shared-memory flag +
# latch), the fallback alone (a hand-written UPDATE of the status row), a
# cancelled queued job that never starts, two concurrent jobs of which one
# is cancelled while the other completes, and a cancel that comes while the
# worker is still starting (its claim not yet written).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $node = hg_node('cancel', 'heimdall_gen.sample_delay_ms' => 20);

# after a call that must have changed nothing: the job still writes, and is running
sub goes_on_generating
{
	my ($job, $after) = @_;
	my $before = live_samples($node, $job);
	sleep 0.5;
	cmp_ok(live_samples($node, $job), '>', $before, "$after: the job goes on generating");
	is(job_row($node, $job, 'status'), 'running', "$after: still running");
}

# send cancel_job(job, wait => true) from a background session; returns once the call waits for the worker
sub send_waiting_cancel
{
	my ($session, $job, $what) = @_;
	$session->query_until(qr/sent/, "\\echo sent\nSELECT heimdall_gen.cancel_job($job, wait => true);\n");
	ok($node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE query LIKE 'SELECT heimdall_gen.cancel_job($job,%' AND wait_event = 'Extension'}), $what);
}

# --- cancel while running, wait => true
my $job = hg_start_job($node, 'fast', 100000, 1);
# committed samples: a cancel keeps those and drops the open batch
ok($node->poll_query_until('postgres', "SELECT samples_done >= 5 FROM heimdall_gen.jobs WHERE job_id = $job"),
	'job is generating and committing');
my $pid = worker_pid($node, $job);
ok($pid > 0, "worker pid $pid");
is($node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($job, wait => true)"), 't', 'cancel_job returns true');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"), '0',
	'the worker is gone from pg_stat_activity when cancel_job(wait) returns');
# not only from the proc array: the process itself is gone (reaped by the postmaster)
ok(!kill(0, $pid), "worker process $pid no longer exists when cancel_job(wait) returns");

# the same on a job computing at full speed (no sample delay): the model
# threads may be mid-attempt when the worker exits, and the worker, flagged
# before cancel_job has read the job's row, may have left its slot before
# cancel_job looks for it there (ten rounds: that race is rare)
$node->safe_psql('postgres', "ALTER SYSTEM SET heimdall_gen.sample_delay_ms = 0");
$node->reload;
for my $round (1 .. 10)
{
	my $fast = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('full_speed_$round', 100000, $round, "
		  . "'{\"rx_count_min\": 7, \"rx_count_max\": 7, \"duration_ms\": 50}')");
	ok(wait_samples($node, $fast, 1), "full-speed job $round is generating");
	my $fast_pid = worker_pid($node, $fast);
	if ($round == 1)
	{
		# its heap is on transparent huge pages (hg_heap.c), when the kernel has them:
		# fewer pages for the kernel to unmap when the process ends
	  SKIP:
		{
			my $thp = slurp_file('/sys/kernel/mm/transparent_hugepage/enabled');
			skip "transparent huge pages are off on this machine ($thp)", 1 if $thp =~ /\[never\]/;
			my ($huge_kb, $in_heap) = (0, 0);
			for (split /\n/, slurp_file("/proc/$fast_pid/smaps"))
			{
				$in_heap = /\[heap\]/ if /^[0-9a-f]+-[0-9a-f]+ /;
				$huge_kb += $1 if $in_heap && /^AnonHugePages:\s+(\d+) kB/;
			}
			cmp_ok($huge_kb, '>=', 2048, "the worker's heap is on huge pages: $huge_kb kB");
		}
	}
	$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($fast, wait => true)");
	ok(!kill(0, $fast_pid), "full-speed round $round: worker process $fast_pid gone when cancel_job(wait) returns");
}
$node->safe_psql('postgres', "ALTER SYSTEM RESET heimdall_gen.sample_delay_ms");
$node->reload;
is(job_row($node, $job, 'status'), 'cancelled', 'status is cancelled');
my $done = job_row($node, $job, 'samples_done');
ok($done >= 5, "samples_done $done");
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.samples WHERE dataset_id = "
	  . "(SELECT dataset_id FROM heimdall_gen.jobs WHERE job_id = $job)"), $done,
	'kept sample rows = samples_done');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.receptions WHERE dataset_id = "
	  . "(SELECT dataset_id FROM heimdall_gen.jobs WHERE job_id = $job)"),
	$node->safe_psql('postgres', "SELECT coalesce(sum(n_receivers), 0) FROM heimdall_gen.samples WHERE dataset_id = "
	  . "(SELECT dataset_id FROM heimdall_gen.jobs WHERE job_id = $job)"), 'every reception of every kept sample');
sleep 1;
is(job_row($node, $job, 'status'), 'cancelled', 'still cancelled after the worker exited');

# --- cancel without wait: returns at once, the worker stops within a sample
$job = hg_start_job($node, 'nowait', 100000, 2);
ok(wait_samples($node, $job, 3), 'second job is generating');
is($node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($job)"), 't', 'cancel without wait');
ok(wait_no_worker($node, $job), 'worker exits');
is(job_row($node, $job, 'status'), 'cancelled', 'status cancelled, not overwritten by the worker');
is(job_row($node, $job, 'samples_done = (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = jobs.dataset_id)'),
	't', 'kept rows = samples_done');

# --- the fallback alone: a hand UPDATE, no shared-memory flag
$job = hg_start_job($node, 'fallback', 100000, 3);
ok(wait_samples($node, $job, 5), 'third job is generating');
# read the live counter in the statement that changes the status
my $at_update = $node->safe_psql('postgres', qq{
	UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = $job
	RETURNING (SELECT samples_done FROM heimdall_gen.worker_slots() WHERE job_id = $job)});
ok(wait_no_worker($node, $job), 'worker stopped by the status row alone');
is($node->safe_psql('postgres', "SELECT bool_or(cancel_requested) FROM heimdall_gen.worker_slots()"), '',
	'no slot flag involved');
my $final = job_row($node, $job, 'samples_done');
cmp_ok($final - $at_update, '<=', 10, "stopped within 10 samples of the UPDATE ($at_update -> $final)");
is(job_row($node, $job, 'status'), 'cancelled', 'fallback: status cancelled');
is(job_row($node, $job, 'samples_done = (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = jobs.dataset_id)'),
	't', 'fallback: kept rows = samples_done');

# --- a cancelled queued job never starts: fill both slots first
my $a = hg_start_job($node, 'busy_a', 100000, 4);
my $b = hg_start_job($node, 'busy_b', 150, 5);
ok(wait_samples($node, $a, 1) && wait_samples($node, $b, 1), 'both slots busy');
my $queued = hg_start_job($node, 'never', 10, 6);
sleep 0.5;
is(job_row($node, $queued, 'status'), 'queued', 'third job waits as queued');
is($node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($queued)"), 't', 'cancel the queued job');
# --- two concurrent jobs, one cancelled, the other completes
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($a, wait => true)");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($b, '120 s')"), 'completed', 'the other job completes');
is(job_row($node, $a, 'status'), 'cancelled', 'the cancelled one stays cancelled');
is(job_row($node, $queued, "status || ' ' || samples_done || ' ' || (started_at IS NULL)"), 'cancelled 0 true',
	'the cancelled queued job never started, even with a slot free');
# the other job stepped aside (between rows, its model threads between
# receivers) while the cancel waited for its neighbour: its bytes are those
# of a run alone
my $alone = hg_start_job($node, 'busy_b_alone', 150, 5);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($alone, '120 s')"), 'completed', 'the same job alone');
is(dataset_checksum($node, 'busy_b'), dataset_checksum($node, 'busy_b_alone'),
	'a job that stepped aside for a cancel is byte-identical to one run alone');

# --- a freed slot goes to the queued job at once: the launcher is woken by
# the worker leaving its slot when a queued job waits for one, and by the
# postmaster when the worker has exited (bgw_notify_pid).  Were both wakes
# lost, the queued job would start at the launcher's 5 s safety net, 0-5 s
# later: three rounds under 1.5 s each would pass by chance 3 % of the time.
# The worker says when it wakes the launcher (DEBUG1).
$node->safe_psql('postgres', "ALTER SYSTEM SET log_min_messages = debug1");
$node->reload;
for my $round (1 .. 3)
{
	my @busy = map { hg_start_job($node, "slot_${round}_$_", 100000, 10 * $round + $_) } (1, 2);
	ok(wait_samples($node, $busy[0], 1) && wait_samples($node, $busy[1], 1), "round $round: both slots busy");
	my $next = hg_start_job($node, "slot_${round}_next", 100000, 10 * $round + 3);
	is(job_row($node, $next, 'status'), 'queued', "round $round: a third job waits");
	my $t0 = [Time::HiRes::gettimeofday()];
	my $log_before = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($busy[0], wait => true)");
	like(slurp_file($node->logfile, $log_before), qr/worker wakes 1 launcher\(s\) as it leaves its slot \(a queued job waits for a slot\)/,
		"round $round: the cancelled worker wakes the launcher for the queued job");
	ok($node->poll_query_until('postgres', "SELECT status = 'running' FROM heimdall_gen.jobs WHERE job_id = $next"),
		"round $round: the queued job starts");
	my $took = Time::HiRes::tv_interval($t0);
	cmp_ok($took, '<', 1.5, sprintf("round $round: it started %.3f s after the cancel freed its slot", $took));
	$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job(j, wait => true) FROM unnest(ARRAY[$busy[1], $next]) j");
}

# --- and a plain cancel wakes no launcher: there is nothing for its round to
# do, and it would run on a CPU the stopping worker and the canceller need.
# (The launcher's round that the postmaster's word "worker started" wakes
# finds the job still queued, its claim not yet committed, in the slot of
# the worker started for it: that is no slot wanted.  Noted as one, every
# cancel woke the launcher into a round, 1.9 ms on a CPU, traced.)
for my $round (1 .. 3)
{
	my $plain = hg_start_job($node, "plain_cancel_$round", 100000, 40 + $round);
	ok(wait_samples($node, $plain, 1), "plain cancel $round: the job is generating");
	my $log_before = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($plain, wait => true)");
	my $log = slurp_file($node->logfile, $log_before);
	unlike($log, qr/worker wakes \d+ launcher/, "plain cancel $round: the worker leaves without waking the launcher");
	is(job_row($node, $plain, 'status'), 'cancelled', "plain cancel $round: cancelled");
}
$node->safe_psql('postgres', "ALTER SYSTEM RESET log_min_messages");
$node->reload;

my ($ret, $stdout, $stderr);
# --- a cancel refused (a read-only transaction, or one with a transaction
# snapshot) leaves the job running: the refusal comes before the
# shared-memory flag is raised
my $ro = hg_start_job($node, 'read_only', 100000, 40);
ok(wait_samples($node, $ro, 1), 'a job is generating');
($ret, $stdout, $stderr) = $node->psql('postgres',
	"BEGIN READ ONLY; SELECT heimdall_gen.cancel_job($ro, wait => true); COMMIT;", extra_params => ['-v', 'VERBOSITY=verbose']);
like($stderr, qr/25006.*cannot execute cancel_job\(\) in a read-only transaction/s, 'cancel_job refused in a read-only transaction')
  or diag($stderr);
goes_on_generating($ro, 'refused in a read-only transaction');
# the same for a snapshot-isolated transaction, which could not see the worker's commits
($ret, $stdout, $stderr) = $node->psql('postgres',
	"BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM heimdall_gen.jobs; SELECT pg_sleep(0.3); "
	  . "SELECT heimdall_gen.cancel_job($ro, wait => true); COMMIT;");
like($stderr, qr/cancel_job needs READ COMMITTED isolation/, 'cancel_job refused in a REPEATABLE READ transaction')
  or diag($stderr);
goes_on_generating($ro, 'refused in a REPEATABLE READ transaction');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($ro, wait => true)");

# --- the flag is raised before the job's row is read, but only for a caller
# who may steer the job: a role without the right is refused and the job,
# running, never sees a flag
$node->safe_psql('postgres', 'CREATE ROLE intruder LOGIN; CREATE ROLE signaller LOGIN IN ROLE pg_signal_backend');
my $theirs = hg_start_job($node, 'not_yours', 100000, 41);
ok(wait_samples($node, $theirs, 1), 'a job of the superuser is generating');
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET ROLE intruder; SELECT heimdall_gen.cancel_job($theirs, wait => true)");
like($stderr, qr/job $theirs does not exist/, 'another role may not cancel it: for it the job does not exist') or diag($stderr);
goes_on_generating($theirs, "another role's cancel refused");
# pg_signal_backend reaches an ordinary role's job, not a superuser's (as
# pg_cancel_backend does not signal a superuser's process)
for my $what ('cancel', 'pause', 'resume')
{
	($ret, $stdout, $stderr) = $node->psql('postgres',
		"SET ROLE signaller; SELECT heimdall_gen.${what}_job($theirs" . ($what eq 'cancel' ? ', wait => true)' : ')'));
	like($stderr, qr/job $theirs does not exist/, "pg_signal_backend may not $what a superuser's job (hidden from it)")
	  or diag($stderr);
}
goes_on_generating($theirs, 'pg_signal_backend refused');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($theirs, wait => true)");
$node->safe_psql('postgres', 'CREATE ROLE ordinary LOGIN');
my $ordinary = $node->safe_psql('postgres',
	"SET ROLE ordinary; SELECT heimdall_gen.start_job('ordinarys', 100000, 42, '$HeimdallTest::SMALL')");
ok(wait_samples($node, $ordinary, 1), "an ordinary role's job is generating");
my $ordinary_pid = worker_pid($node, $ordinary);
is($node->safe_psql('postgres', "SET ROLE signaller; SELECT heimdall_gen.cancel_job($ordinary, wait => true)"), 't',
	"a member of pg_signal_backend may cancel an ordinary role's job");
is(job_row($node, $ordinary, 'status'), 'cancelled', 'and the job is cancelled');
ok(!kill(0, $ordinary_pid), "its worker process $ordinary_pid is gone");

# --- waiting in the transaction that started the job could never end: an error
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT heimdall_gen.wait_job(heimdall_gen.start_job('same_xact', 1, 7, '$HeimdallTest::SMALL'))",
	timeout => 60);
isnt($ret, 0, 'wait_job on a job started in the same transaction fails');
like($stderr, qr/job \d+ was started or changed in this transaction/, 'and says why') or diag($stderr);
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.datasets WHERE name = 'same_xact'"), '0',
	'nothing was created');

# --- cancel_job without wait and pause_job take effect when the caller
# commits: rolled back (the transaction, or the savepoint they were called
# in), they leave the job running; committed, they stop it
my $rb = hg_start_job($node, 'rolled_back', 100000, 43);
ok(wait_samples($node, $rb, 1), 'a job is generating');
for my $sql ("BEGIN; SELECT heimdall_gen.cancel_job($rb); ROLLBACK;",
	"BEGIN; SELECT heimdall_gen.pause_job($rb); ROLLBACK;",
	"SELECT heimdall_gen.cancel_job($rb), 1/0;",
	"BEGIN; SAVEPOINT s; SELECT heimdall_gen.cancel_job($rb); ROLLBACK TO SAVEPOINT s; COMMIT;",
	"BEGIN; SAVEPOINT s; SELECT heimdall_gen.pause_job($rb); RELEASE SAVEPOINT s; SAVEPOINT t; ROLLBACK TO SAVEPOINT t; ROLLBACK;")
{
	$node->psql('postgres', $sql);
	goes_on_generating($rb, "after '$sql'");
	is($node->safe_psql('postgres', "SELECT bool_or(cancel_requested OR pause_requested) FROM heimdall_gen.worker_slots() WHERE job_id = $rb"),
		'f', 'no flag raised');
}
# a savepoint released keeps its pause: the flag is raised at the commit
$node->safe_psql('postgres', "BEGIN; SAVEPOINT s; SELECT heimdall_gen.pause_job($rb); RELEASE SAVEPOINT s; SAVEPOINT t; ROLLBACK TO SAVEPOINT t; COMMIT;");
ok(wait_no_worker($node, $rb), 'the pause committed from a released savepoint stops the worker');
is(job_row($node, $rb, 'status'), 'paused', 'the job is paused');
$node->safe_psql('postgres', "SELECT heimdall_gen.resume_job($rb)");
ok(wait_samples($node, $rb, live_samples($node, $rb) + 1), 'resumed, it generates again');

# --- paused by hand and resumed before the worker read the pause (in one
# transaction here, or within the 10 attempts between two of its reads of
# the row): the row says 'queued' while a worker still runs the job.  That
# worker stops writing, dropping its open batch, and leaves its slot; the
# launcher starts the job again at its last committed batch.  (It went on
# writing under a 'queued' row until the job completed: an attacker's
# review.)
my $unaware = worker_pid($node, $rb);
my $requeue_log = -s $node->logfile;
$node->safe_psql('postgres', "BEGIN; UPDATE heimdall_gen.jobs SET status = 'paused' WHERE job_id = $rb; "
	  . "SELECT heimdall_gen.resume_job($rb); COMMIT;");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM heimdall_gen.worker_slots() WHERE pid = $unaware"),
	'paused by hand and resumed at once: the worker that missed the pause leaves its slot');
ok($node->poll_query_until('postgres', "SELECT j.status = 'running' AND s.pid <> $unaware AND s.samples_done > j.samples_done "
		. "FROM heimdall_gen.jobs j JOIN heimdall_gen.worker_slots() s USING (job_id) WHERE j.job_id = $rb"),
	'a new worker runs the job');
is(job_row($node, $rb, 'restarts'), '0', 'not counted as a restart');
like(slurp_file($node->logfile, $requeue_log), qr/job $rb leaves its worker slot: it was resumed before its worker saw it paused/,
	'the log says why the worker left');

# --- cancel_job(wait => true) in a transaction that holds the job's row
# lock would wait for a worker waiting for that lock: refused before any
# flag (the job goes on), or, for a lock taken where the first check cannot
# see it, a deadlock error instead of an endless wait
for my $lock ("UPDATE heimdall_gen.jobs SET status = 'paused' WHERE job_id = $rb",
	"SELECT heimdall_gen.pause_job($rb)",
	"SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $rb FOR UPDATE")
{
	($ret, $stdout, $stderr) = $node->psql('postgres',
		"BEGIN; $lock; SELECT heimdall_gen.cancel_job($rb, wait => true); ROLLBACK;",
		extra_params => ['-v', 'VERBOSITY=verbose'], timeout => 60);
	like($stderr, qr/55000.*cancel_job cannot wait for job $rb in a transaction that has updated or locked its row/s,
		"'$lock' then cancel_job(wait): refused") or diag($stderr);
	goes_on_generating($rb, "'$lock' then cancel_job(wait) refused");
}
# shared by two transactions, the row's lock is a multixact the first check
# does not read: the worker, which never waits for its row's lock on its
# slot, leaves without recording the cancel, and the call, having raised
# the flag, records it itself once the other transaction is gone (in its
# own transaction, then: the cancel stands once that commits)
my $sharer = $node->background_psql('postgres');
$sharer->query_safe("BEGIN; SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $rb FOR SHARE");
my $waiter = $node->background_psql('postgres', on_error_stop => 0);
$waiter->query_safe("BEGIN; SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $rb FOR SHARE");
send_waiting_cancel($waiter, $rb, 'cancel_job waits for the worker, which cannot lock its row');
ok(wait_no_worker($node, $rb), 'the worker leaves its slot without waiting for the lock');
$sharer->query_safe('COMMIT');
$sharer->quit;
like($waiter->query_until(qr/done/, "\\echo done\n"), qr/^t$/m, 'the call records the cancel once the other lock is gone');
$waiter->{stderr} = '';		# its NOTICE that it waits for a lock on the row (005_security checks it)
$waiter->query_safe('COMMIT');
$waiter->quit;
is(job_row($node, $rb, 'status'), 'cancelled', 'cancelled, as the waiting call asked');

# a waiting cancel whose own statement never finishes (its statement_timeout
# ends it while another session holds the row): the flag stopped the worker,
# which could not write 'cancelled' and left its slot.  The cancel must not
# be lost, nor counted as a restart: the worker hands it to the launcher,
# which writes it once the row is free.  (Before, the launcher queued the
# job again, counting a restart, and it ran on: a C review.)
my $timed_out = hg_start_job($node, 'cancel_timed_out', 100000, 9);
ok(wait_samples($node, $timed_out, 2), "job $timed_out is generating");
my $row_holder = $node->background_psql('postgres');
$row_holder->query_safe("BEGIN; SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $timed_out FOR UPDATE");
my $handed_log = -s $node->logfile;
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET statement_timeout = '4s'; SELECT heimdall_gen.cancel_job($timed_out, wait => true)",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($stderr, qr/57014/, 'the waiting cancel ends by its statement_timeout') or diag($stderr);
ok(wait_no_worker($node, $timed_out), 'the flagged worker has left its slot');
like(slurp_file($node->logfile, $handed_log),
	qr/job $timed_out was cancelled; the launcher records it once its row is no longer locked/,
	'the worker says it left the cancel to the launcher');
is(job_row($node, $timed_out, 'status'), 'running', 'the row, still held, says running');
my $samples_at_cancel = job_row($node, $timed_out, 'samples_done');
$row_holder->query_safe('COMMIT');
$row_holder->quit;
ok($node->poll_query_until('postgres', "SELECT status = 'cancelled' OR restarts > 0 FROM heimdall_gen.jobs WHERE job_id = $timed_out"),
	'the row is written once its lock is gone');
is(job_row($node, $timed_out, 'status'), 'cancelled', 'the launcher recorded the cancel');
is(job_row($node, $timed_out, 'restarts'), '0', 'no restart was counted');
is(job_row($node, $timed_out, 'message'), "cancelled at $samples_at_cancel of 100000 samples", 'its message says how far it got');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.jobs j USING (dataset_id) "
		. "WHERE j.job_id = $timed_out"), $samples_at_cancel, 'its dataset holds the samples committed before the cancel, no more');

# A cancel that comes while the worker is starting (on a saturated disk a
# worker's start took 58 ms at the median, 183 ms at worst).  Its claim
# commits without waiting for the flush, and the worker waits on its latch
# for the WAL writer to write that commit before starting its model
# threads.  This cluster's WAL writer is stopped (SIGSTOP, the pid
# pg_stat_activity gives for it, caught idle, so it holds no lock) to hold
# the worker there; the cancel raises the flag; the worker sees it at once,
# starts no model thread and records the cancel without computing an
# attempt.  (A row lock no longer holds a claim up: the launcher skips a
# queued job whose row is locked, 005_security.)
$node->append_conf('postgresql.conf', 'heimdall_gen.max_workers = 1');
$node->restart;
my $blocker = hg_start_job($node, 'blocker', 100000, 3);
wait_samples($node, $blocker, 1) or die "job $blocker did not start";
my $target = hg_start_job($node, 'claimed_late', 40, 2);
is(job_row($node, $target, 'status'), 'queued', 'the second job waits for the only slot');
$node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($target)");
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($blocker, wait => true)");
$node->safe_psql('postgres', 'ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf()');
my $walwriter = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'");
like($walwriter, qr/^\d+$/, "the WAL writer of this cluster is pid $walwriter");
my $stopped_idle = 0;
for my $try (1 .. 100)
{
	kill('STOP', $walwriter) or last;
	# stopped inside its idle wait, it holds no lock a commit could wait for
	$stopped_idle = $node->safe_psql('postgres',
		"SELECT wait_event = 'WalWriterMain' FROM pg_stat_activity WHERE pid = $walwriter") eq 't';
	last if $stopped_idle;
	kill('CONT', $walwriter);
	Time::HiRes::usleep(20_000);
}
ok($stopped_idle, 'the WAL writer is stopped while idle');
$node->safe_psql('postgres', "SELECT heimdall_gen.resume_job($target)");
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity a JOIN heimdall_gen.worker_slots() w ON w.pid = a.pid
	  JOIN heimdall_gen.jobs j ON j.job_id = w.job_id
	 WHERE j.job_id = $target AND a.wait_event = 'Extension' AND j.status = 'running'}),
	'its worker claimed the job and waits for its claim to be written');
my $log_offset = -s $node->logfile;
is($node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($target, wait => true)"), 't',
	'cancel_job returns true, the WAL writer still stopped');
ok(kill('CONT', $walwriter), 'the WAL writer goes on');
is(job_row($node, $target, 'status'), 'cancelled', 'the job claimed before the flag ends cancelled');
is(job_row($node, $target, 'samples_done'), '0', 'no sample was written');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.worker_slots() WHERE job_id = $target"), '0',
	'no worker runs it');
like(slurp_file($node->logfile, $log_offset), qr/job $target was stopped while it started: no model thread started/,
	'the worker stopped before starting its model threads');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf()');

$node->stop;
done_testing();
