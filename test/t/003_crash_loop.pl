# A job whose worker keeps dying at the same sample ends 'failed' with an
# error instead of looping, while fast restarts of the server do not count
# against it; DROP EXTENSION during a running job is refused,
# and completes once the jobs are cancelled; a terminated launcher comes back; DROP DATABASE of
# the served database during a job is refused or, WITH (FORCE), completes
# (nothing hangs).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

# nothing is committed for a long while, so every crash happens at sample 0
my $node = hg_node('crash_loop',
	'heimdall_gen.batch_size' => 10000,
	'heimdall_gen.commit_interval_ms' => 600000,
	'heimdall_gen.max_restarts' => 2,
	'heimdall_gen.sample_delay_ms' => 20,
	# a commit waits for a synchronous standby only where one could connect
	# (the test framework's default is wal_level minimal, no WAL senders)
	wal_level => 'replica',
	max_wal_senders => 2);

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

# a worker told to end (a fast restart of the server, pg_terminate_backend)
# did not crash: it queues its job again itself, counting a restart but not
# against max_restarts (three fast restarts during one slow sample failed the
# job, found by a user's review); the job resumes each time
my $told = hg_start_job($node, 'told_to_end', 1000, 8);
for my $how ('restart', 'terminate', 'restart', 'restart')
{
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $told AND samples_done >= 1"),
		"the worker runs, before a $how at sample 0");
	my $told_pid = worker_pid($node, $told);
	if ($how eq 'restart')
	{
		$node->restart;			# fast
	}
	else
	{
		is($node->safe_psql('postgres', "SELECT pg_terminate_backend($told_pid)"), 't', "pg_terminate_backend($told_pid)");
		ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $told_pid"),
			'the worker is gone');
	}
}
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $told AND samples_done >= 1"),
	'the job runs again after three fast restarts and a pg_terminate_backend at the same sample');
is(job_row($node, $told, "status || ' ' || restarts || ' ' || restarts_at_point"), 'running 4 0',
	'each counted as a restart, none as a crash (max_restarts is 2)');
like(slurp_file($node->logfile), qr/job $told queued again at sample 0: its worker was told to end/,
	'the log says why');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($told, wait => true)");

# DROP EXTENSION while a job writes (or one is queued) is refused, naming
# the jobs, and changes nothing: it would drop the tables under the worker.
# It waits at most for the worker's open batch (commit_interval_ms) to
# check.  DROP SCHEMA ... CASCADE, which drops the extension too, likewise.
# Once the jobs are cancelled, it completes.
$node->append_conf('postgresql.conf', "heimdall_gen.batch_size = 10\nheimdall_gen.commit_interval_ms = 1000");
$node->reload;
$job = hg_start_job($node, 'dropped', 100000, 4);
ok(wait_samples($node, $job, 2), 'a job is writing');
my $worker = worker_pid($node, $job);
my $paused = hg_start_job($node, 'paused_one', 100000, 6);
$node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($paused)");
my $queued = hg_start_job($node, 'queued_one', 100000, 7);
for my $drop ('DROP EXTENSION heimdall_gen CASCADE', 'DROP SCHEMA heimdall_gen CASCADE')
{
	my ($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '60s'; $drop");
	like($err, qr/ERROR:  extension "heimdall_gen" cannot be dropped while jobs are queued or running/,
		"$drop is refused while a job runs");
	like($err, qr/DETAIL:  \d+ job\(s\) queued or running in this database \(.*\b$job\b/, '... naming the job');
	like($err, qr/HINT:  Cancel or pause them first/, '... and saying what to do');
}
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'heimdall_gen'"), '1',
	'the extension is still there');
is(worker_pid($node, $job), $worker, 'the same worker still runs the job');
my $before_drop = live_samples($node, $job);
ok(wait_samples($node, $job, $before_drop + 1), '... and still writes');
# a role that does not own the extension takes no lock on its tables by trying
$node->safe_psql('postgres', 'CREATE ROLE dropper LOGIN');
my (undef, undef, $dropper_err) = $node->psql('postgres', 'SET ROLE dropper; DROP EXTENSION heimdall_gen');
like($dropper_err, qr/must be owner of extension heimdall_gen/, 'a role that does not own it is refused as before');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job(job_id, wait => true) FROM heimdall_gen.jobs "
	  . "WHERE status IN ('queued', 'running')");
# a job queued by a transaction that commits while DROP EXTENSION waits for
# the jobs table's lock is seen by the check (a snapshot taken after the
# wait, not the statement's, taken before it), in either isolation level;
# a drop that missed it would take the queued job with it, unsaid
for my $isolation ('READ COMMITTED', 'REPEATABLE READ')
{
	my $name = $isolation eq 'READ COMMITTED' ? 'late_rc' : 'late_rr';
	my $starter = $node->background_psql('postgres');
	my $dropper = $node->background_psql('postgres', on_error_stop => 0);
	# the dropper's snapshot is taken before the job is queued
	$dropper->query_safe("BEGIN ISOLATION LEVEL $isolation; SELECT count(*) FROM heimdall_gen.jobs");
	my $late = (split /\n/, $starter->query_safe("BEGIN; SELECT heimdall_gen.start_job('$name', 3, 8)"))[-1];
	my $dropper_pid = $dropper->query_safe('SELECT pg_backend_pid()');
	$dropper->query_until(qr/sent/, "\\echo sent\nDROP EXTENSION heimdall_gen CASCADE;\n\\echo dropped\n");
	ok($node->poll_query_until('postgres', "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $dropper_pid"),
		"$isolation: DROP EXTENSION waits for the lock of the uncommitted start_job");
	$starter->query_safe('COMMIT');
	$starter->quit;
	$dropper->query_until(qr/dropped/, '');
	pump_until($dropper->{run}, $dropper->{timeout}, \$dropper->{stderr}, qr/DETAIL:.*\n/);
	like($dropper->{stderr}, qr/cannot be dropped while jobs are queued or running\nDETAIL:  .*\b$late\b/,
		"$isolation: ... and refuses, naming the job queued while it waited")
	  or diag($dropper->{stderr});
	$dropper->{stderr} = '';
	$dropper->query_safe('ROLLBACK');
	$dropper->quit;
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'heimdall_gen'"), '1',
		"$isolation: the extension is still there");
	$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($late, wait => true)");
}
$node->safe_psql('postgres', "SET statement_timeout = '60s'; DROP EXTENSION heimdall_gen CASCADE");
pass('DROP EXTENSION completes once no job is queued or running (a paused one goes with the data)');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $worker"),
	'the worker is gone');
# re-created by a superuser other than the bootstrap one: DROP OWNED BY that
# role drops the extension too, and is refused likewise while a job is
# queued or runs (a code audit: it went through)
$node->safe_psql('postgres', 'CREATE ROLE extowner SUPERUSER; DROP SCHEMA IF EXISTS heimdall_gen; '
	  . 'SET ROLE extowner; CREATE EXTENSION heimdall_gen');
my $owned = hg_start_job($node, 'owned', 100000, 9);
my (undef, undef, $owned_err) = $node->psql('postgres', "SET statement_timeout = '60s'; DROP OWNED BY extowner");
like($owned_err, qr/extension "heimdall_gen" cannot be dropped while jobs are queued or running\nDETAIL:  .*\b$owned\b/,
	"DROP OWNED BY the extension's owner is refused while a job is queued or runs") or diag($owned_err);
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'heimdall_gen'"), '1',
	'the extension is still there');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($owned, wait => true)");
$job = hg_start_job($node, 'after', 2, 5);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '120 s')"), 'completed',
	'the launcher serves a re-created extension');

# the launcher comes back after pg_terminate_backend, and jobs still start
my $launcher = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher'");
ok($launcher > 0, "launcher pid $launcher");
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)"), 't', 'terminate the launcher');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND pid <> $launcher"),
	'a new launcher is started');
$job = hg_start_job($node, 'after_launcher', 2, 6);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '120 s')"), 'completed',
	'and it starts jobs');

# Told to end, neither a worker nor the launcher waits for another session
# on its way out: a shutdown waits for them, and on a worker's way out
# nothing would end a wait (PostgreSQL holds interrupts there, so
# lock_timeout and a second SIGTERM are not acted on).  A code audit: a
# worker sat 21 s behind a LOCK of the jobs table, and a fast shutdown
# never ended behind a NOTIFY whose commit waited for a synchronous standby,
# nor behind the launcher waiting for one.  The pids are this cluster's
# (pg_stat_activity's backend_type), and gone is read there too: a process
# stuck in its exit is still listed.
sub gone_within
{
	my ($pid, $seconds) = @_;
	for (1 .. $seconds * 10)
	{
		return 1 if $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0';
		Time::HiRes::usleep(100_000);
	}
	return 0;
}

sub backend_type
{
	my ($pid) = @_;
	return $node->safe_psql('postgres', "SELECT backend_type FROM pg_stat_activity WHERE pid = $pid");
}

my $behind_lock = hg_start_job($node, 'behind_lock', 100000, 10);
ok(wait_samples($node, $behind_lock, 2), 'a job writes');
my $behind_lock_pid = worker_pid($node, $behind_lock);
is(backend_type($behind_lock_pid), 'heimdall_gen worker', "pid $behind_lock_pid is this cluster's worker");
my $table_locker = $node->background_psql('postgres');
$table_locker->query_safe('BEGIN; LOCK heimdall_gen.jobs IN ACCESS EXCLUSIVE MODE');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($behind_lock_pid)");
ok(gone_within($behind_lock_pid, 20), 'a worker told to end while the jobs table is locked leaves at once');
$table_locker->query_safe('COMMIT');
$table_locker->quit;
like(slurp_file($node->logfile),
	qr/job $behind_lock is left running for the launcher: its worker was told to end while another transaction held a lock on heimdall_gen.jobs/,
	'the log says why the job was not queued again');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $behind_lock AND pid <> $behind_lock_pid"),
	'once the lock is gone, the launcher resumes the job');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($behind_lock, wait => true)");

# the launcher, told to end while it waits in a statement, ends too
my $launcher_locker = $node->background_psql('postgres');
$launcher_locker->query_safe('BEGIN; LOCK heimdall_gen.jobs IN ACCESS EXCLUSIVE MODE');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND wait_event_type = 'Lock'"),
	'the launcher waits for the lock of the jobs table');
my $waiting_launcher = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher'");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($waiting_launcher)");
ok(gone_within($waiting_launcher, 20), 'a launcher told to end while it waits for a lock leaves at once');
$launcher_locker->query_safe('COMMIT');
$launcher_locker->quit;

# a commit waiting for a standby that never comes holds NOTIFY's lock: the
# worker's requeue on the way out must not wait for it (its batches send
# no event while it is held); the requeue goes through without its event
$node->safe_psql('postgres', 'SELECT heimdall_gen.event_channel()');
my $behind_notify = hg_start_job($node, 'behind_notify', 100000, 11);
ok(wait_samples($node, $behind_notify, 2), 'a job writes, sending events');
my $behind_notify_pid = worker_pid($node, $behind_notify);
is(backend_type($behind_notify_pid), 'heimdall_gen worker', "pid $behind_notify_pid is this cluster's worker");
my ($notifier, $notifier_pid) = hg_synchronous_standby_away($node, 'NOTIFY hg_held;');
ok($notifier_pid, "a NOTIFY's commit waits for a synchronous standby, holding NOTIFY's lock");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($behind_notify_pid)");
ok(gone_within($behind_notify_pid, 20), 'a worker told to end then leaves at once');
like(slurp_file($node->logfile), qr/job $behind_notify queued again at sample \d+: its worker was told to end/,
	'its job is queued again');

$node->safe_psql('postgres', "ALTER SYSTEM RESET synchronous_standby_names");
$node->reload;
$notifier->quit;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $behind_notify AND samples_done > 2"),
	'once the standby is no longer waited for, the job resumes');
is(job_row($node, $behind_notify, 'restarts'), '1', 'a restart counted');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($behind_notify, wait => true)");
$node->stop;

# DROP DATABASE of the database the launcher serves, while a job writes: a
# plain DROP is refused after PostgreSQL's 5 s wait (launcher and worker are
# connected), WITH (FORCE) ends them and returns; nothing hangs
my $other = PostgreSQL::Test::Cluster->new('drop_database');
$other->init;
$other->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'heimdall_gen'", "heimdall_gen.database = 'hgdb'",
	'heimdall_gen.sample_delay_ms = 20', 'max_worker_processes = 16'));
$other->start;
$other->safe_psql('postgres', 'CREATE DATABASE hgdb');
$other->safe_psql('hgdb', 'CREATE EXTENSION heimdall_gen');
# the launcher retries its connection every 5 s until hgdb exists
$job = $other->safe_psql('hgdb', "SELECT heimdall_gen.start_job('doomed_db', 100000, 7, '$HeimdallTest::SMALL')");
ok($other->poll_query_until('hgdb', "SELECT samples_done >= 2 FROM heimdall_gen.worker_slots() WHERE job_id = $job"),
	'a job writes in hgdb');

# a launcher that queues a job again starts it in the same round: it read
# the queued jobs in the round's first snapshot, which missed the job it had
# just queued again, and started it only at its next round, up to 5 s later
# when nothing else woke it (a C review)
my $requeue_pid = $other->safe_psql('hgdb', "SELECT pid FROM heimdall_gen.worker_slots() WHERE job_id = $job");
is($other->safe_psql('hgdb', "SELECT backend_type FROM pg_stat_activity WHERE pid = $requeue_pid"),
	'heimdall_gen worker', "pid $requeue_pid is this cluster's worker");
# (commit_delay, which needs fsync, holds the launcher's commit back: a
# worker started before the requeue commits finds the row locked and
# leaves, an early end; a second review saw it so every time, and once
# without it on a busy disk)
$other->safe_psql('postgres', 'ALTER SYSTEM SET log_min_messages = debug1; ALTER SYSTEM SET fsync = on; '
	  . 'ALTER SYSTEM SET commit_delay = 100000; ALTER SYSTEM SET commit_siblings = 0; SELECT pg_reload_conf()');
my $round_log = -s $other->logfile;
my $jobs_locker = $other->background_psql('hgdb');
$jobs_locker->query_safe('BEGIN; LOCK heimdall_gen.jobs IN SHARE MODE');
$other->safe_psql('hgdb', "SELECT pg_terminate_backend($requeue_pid)");
ok($other->poll_query_until('hgdb',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND wait_event_type = 'Lock'"),
	'the launcher, woken by the exit, waits for the lock to queue the job again');
$jobs_locker->query_safe('COMMIT');
$jobs_locker->quit;
ok($other->poll_query_until('hgdb',
		"SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $job AND pid <> $requeue_pid AND samples_done > 0"),
	'the job is resumed');
# the round's summary is logged after its second commit, which commit_delay
# holds back: the worker it started may be writing before then (CI read
# the log too early once)
ok($other->wait_for_log(qr/heimdall_gen launcher round: 1 job queued again, 1 worker started/, $round_log),
	'by the round that queued it again, not the next one');
unlike(slurp_file($other->logfile, $round_log), qr/ended before it took the job/,
	'whose worker starts once the requeue has committed, and takes the job');

$other->safe_psql('postgres', 'ALTER SYSTEM RESET log_min_messages; ALTER SYSTEM RESET fsync; ALTER SYSTEM RESET commit_delay; '
	  . 'ALTER SYSTEM RESET commit_siblings; SELECT pg_reload_conf()');

my ($ret, $stdout, $stderr) = $other->psql('postgres', 'DROP DATABASE hgdb', timeout => 60);
isnt($ret, 0, 'a plain DROP DATABASE is refused');
like($stderr, qr/being accessed by other users/, 'because the launcher and the worker use it');
($ret, $stdout, $stderr) = $other->psql('postgres', 'DROP DATABASE hgdb WITH (FORCE)', timeout => 60);
is($ret, 0, 'DROP DATABASE WITH (FORCE) returns') or diag($stderr);
ok($other->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen worker'"),
	'the worker is gone');
$other->stop;
done_testing();
