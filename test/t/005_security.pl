# Rows read back are untrusted, owners are role OIDs, databases are apart:
# - a job whose dataset a superuser deleted or gave to another role, before
#   or while it runs, ends 'failed' with the reason; the server never
#   restarts (the postmaster's start time is unchanged);
# - a renamed role keeps its jobs; a role dropped and created again under
#   the same name gets none of the old role's rows, and the old role's
#   queued job fails instead of running as the new one;
# - two databases with the extension: the same job id in each is another
#   job; a database without a launcher serves data but starts nothing;
# - heimdall_gen_admin: a pre-existing role with members is refused, an
#   empty one adopted, and the role goes with the last DROP EXTENSION;
# - a crashed worker: the server restarts its launcher, keeps serving, and
#   a fast shutdown then stops it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heimdall_gen'
heimdall_gen.database = 'postgres, db2, postgres'
heimdall_gen.max_workers = 2
max_worker_processes = 16
restart_after_crash = on
heimdall_gen.batch_size = 2
wal_level = replica
max_wal_senders = 2
});
$node->start;

# -- a database listed twice still gets one launcher (slots find theirs by database)
ok($node->poll_query_until('postgres',
	q{SELECT count(*) >= 1 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND datname = 'postgres'}),
	'the launcher of postgres runs');
sleep 1;
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND datname = 'postgres'}),
	'1', 'postgres, listed twice, has one launcher');

# -- heimdall_gen_admin: an existing role with a member is not adopted
$node->safe_psql('postgres', 'CREATE ROLE heimdall_gen_admin NOLOGIN; CREATE ROLE insider LOGIN IN ROLE heimdall_gen_admin');
my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION heimdall_gen');
isnt($rc, 0, 'CREATE EXTENSION refuses a pre-existing heimdall_gen_admin with members');
like($err, qr/role "heimdall_gen_admin" already exists and was not created by heimdall_gen/, 'and says why');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'heimdall_gen'"), '0',
	'nothing was created');
$node->safe_psql('postgres', 'REVOKE heimdall_gen_admin FROM insider');
$node->safe_psql('postgres', 'CREATE EXTENSION heimdall_gen');
pass('an empty pre-existing heimdall_gen_admin is adopted');
$node->safe_psql('postgres', 'DROP EXTENSION heimdall_gen');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname = 'heimdall_gen_admin'"), '0',
	'DROP EXTENSION drops the role it adopted');

# -- two databases: the role is shared, kept while one still has the extension
$node->safe_psql('postgres', 'CREATE DATABASE db2; CREATE DATABASE db3');
$node->safe_psql($_, 'CREATE EXTENSION heimdall_gen') for qw(postgres db2 db3);
$node->safe_psql('db3', 'DROP EXTENSION heimdall_gen');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname = 'heimdall_gen_admin'"), '1',
	'the role stays while other databases have the extension');
$node->safe_psql('db3', 'CREATE EXTENSION heimdall_gen');

my $small = $HeimdallTest::SMALL;
$node->safe_psql('postgres', q{ALTER SYSTEM SET heimdall_gen.sample_delay_ms = 50});
$node->reload;
my $j1 = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('p1', 100000, 1, '$small')");
my $j2 = $node->safe_psql('db2', "SELECT heimdall_gen.start_job('d1', 30, 1, '$small')");
is($j1, $j2, "both databases have a job $j1");
ok(wait_samples($node, $j1, 2), 'the job of the first database runs');
ok($node->poll_query_until('db2', "SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $j2"),
	'the job of the second database runs');
is($node->safe_psql('db2', 'SELECT count(*) FROM heimdall_gen.worker_slots()'), '1',
	'worker_slots() shows only this database\'s jobs');
$node->safe_psql('db2', "SELECT heimdall_gen.cancel_job($j2, wait => true)");
is($node->safe_psql('db2', "SELECT status FROM heimdall_gen.jobs WHERE job_id = $j2"), 'cancelled',
	"cancel_job($j2) in db2 cancels db2's job");
is($node->safe_psql('postgres', "SELECT status FROM heimdall_gen.jobs WHERE job_id = $j1"), 'running',
	"and leaves job $j1 of the other database running");
ok(wait_samples($node, $j1, 6), 'which goes on writing');
($rc, $out, $err) = $node->psql('db3', "SELECT heimdall_gen.start_job('d3', 5, 1, '$small')");
like($err, qr/database "db3" has no heimdall_gen launcher/, 'a database without a launcher refuses start_job');
like($err, qr/HINT:.*heimdall_gen.database/, 'with a hint');
is($node->safe_psql('db3', 'SELECT count(*) FROM heimdall_gen.jobs'), '0', 'and creates nothing');

# -- a running job whose dataset changes hands, and one whose dataset goes
# (a crash reinitialisation keeps pg_postmaster_start_time(): the log tells)
my $log_offset = -s $node->logfile;
sub server_crashed { return $node->log_contains(qr/terminated by signal|was terminated|reinitializing/, $log_offset); }
$node->safe_psql('postgres', 'CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN');
$node->safe_psql('postgres', "UPDATE heimdall_gen.datasets SET owner = 'bob' WHERE name = 'p1'");
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM heimdall_gen.jobs WHERE job_id = $j1"),
	'a running job whose dataset a superuser gave to another role fails');
like($node->safe_psql('postgres', "SELECT error FROM heimdall_gen.jobs WHERE job_id = $j1"),
	qr/no longer belongs to the job's owner/, 'saying why');

# queued jobs with broken rows (planted by a superuser: users cannot write jobs)
sub queued_job_as
{
	my ($role, $name) = @_;
	my $out = $node->safe_psql('postgres', qq{
		SET ROLE $role;
		BEGIN;
		SELECT heimdall_gen.start_job('$name', 5, 1, '$small') AS j \\gset
		SELECT heimdall_gen.pause_job(:j);
		COMMIT;
		SELECT :j});
	return (split /\n/, $out)[-1];
}
my $ja = queued_job_as('alice', 'alice_data');
my $jb = queued_job_as('bob', 'bob_data');
my $jc = queued_job_as('alice', 'alice_gone');
queued_job_as('alice', 'alice_other');
$node->safe_psql('postgres', qq{
	UPDATE heimdall_gen.datasets SET owner = 'bob' WHERE name = 'alice_data';
	UPDATE heimdall_gen.jobs SET dataset_id = (SELECT dataset_id FROM heimdall_gen.datasets WHERE name = 'alice_other')
	 WHERE job_id = $jb;
	DELETE FROM heimdall_gen.datasets WHERE name = 'alice_gone';
	UPDATE heimdall_gen.jobs SET status = 'queued' WHERE job_id IN ($ja, $jb);
	SELECT heimdall_gen._wake_launcher();
});
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM heimdall_gen.jobs WHERE job_id = $ja"),
	'a queued job whose dataset was given to another role fails');
like($node->safe_psql('postgres', "SELECT error FROM heimdall_gen.jobs WHERE job_id = $ja"),
	qr/belongs to another role/, 'saying why');
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM heimdall_gen.jobs WHERE job_id = $jb"),
	'a job pointed at another role\'s dataset fails');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'alice_other'"),
	'0', 'and wrote nothing into it');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.jobs WHERE job_id = $jc"), '0',
	'a deleted dataset takes its jobs with it');
ok(!server_crashed(), 'the server never crashed or reinitialised');

# -- roles: renamed keeps, re-created gets nothing
my $jr = queued_job_as('alice', 'renamed_data');
$node->safe_psql('postgres', 'ALTER ROLE alice RENAME TO alice2');
is($node->safe_psql('postgres', "SET ROLE alice2; SELECT count(*) FROM heimdall_gen.jobs WHERE job_id = $jr"), '1',
	'a renamed role still sees its job');
$node->safe_psql('postgres', "SET ROLE alice2; SELECT heimdall_gen.resume_job($jr)");
ok($node->poll_query_until('postgres', "SELECT status = 'completed' FROM heimdall_gen.jobs WHERE job_id = $jr"),
	'and its job runs as it');
my $jd = queued_job_as('bob', 'dropped_data');
$node->safe_psql('postgres', 'DROP ROLE bob; CREATE ROLE bob LOGIN');
is($node->safe_psql('postgres', 'SET ROLE bob; SELECT count(*) FROM heimdall_gen.jobs'), '0',
	'a new role of a dropped role\'s name sees none of its jobs');
($rc, $out, $err) = $node->psql('postgres', "SET ROLE bob; SELECT heimdall_gen.resume_job($jd)");
like($err, qr/job $jd does not exist/, 'nor may it resume them: for it they do not exist');
$node->safe_psql('postgres', "UPDATE heimdall_gen.jobs SET status = 'queued' WHERE job_id = $jd");
$node->safe_psql('postgres', 'SELECT heimdall_gen._wake_launcher()');
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM heimdall_gen.jobs WHERE job_id = $jd"),
	'the dropped role\'s queued job fails instead of running as the new role');
like($node->safe_psql('postgres', "SELECT error FROM heimdall_gen.jobs WHERE job_id = $jd"),
	qr/owner role no longer exists/, 'saying why');
ok(!server_crashed(), 'the server still never crashed');

# -- the rows of a dropped role belong to no role (owner 0): a regrole column
# records no dependency, and a stale OID would be handed by a restore to
# whichever role has it in the target cluster
$node->safe_psql('postgres', 'CREATE ROLE leaver LOGIN');
my $leaver_oid = $node->safe_psql('postgres', "SELECT oid FROM pg_roles WHERE rolname = 'leaver'");
my $lj = $node->safe_psql('postgres', "SET ROLE leaver; SELECT heimdall_gen.start_job('leavers', 2, 1, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($lj, '60 s')"), 'completed', "a role's job completes");
$node->safe_psql('postgres', q{SET ROLE leaver; SELECT heimdall_gen.event_channel();
	INSERT INTO heimdall_gen.receivers (network, name, lat, lon) VALUES ('leaving', 'a', 45, 8)});
$node->safe_psql('postgres', 'DROP ROLE leaver');
$node->safe_psql('postgres', 'SELECT heimdall_gen._wake_launcher()');
ok($node->poll_query_until('postgres', qq{
	SELECT (SELECT owner::oid FROM heimdall_gen.datasets WHERE name = 'leavers') = 0
	   AND (SELECT owner::oid FROM heimdall_gen.jobs WHERE job_id = $lj) = 0
	   AND NOT EXISTS (SELECT 1 FROM heimdall_gen.receivers WHERE owner::oid = $leaver_oid)
	   AND NOT EXISTS (SELECT 1 FROM heimdall_gen.event_channels WHERE role_id::oid = $leaver_oid)}),
	"once the role is dropped, its dataset and job belong to no role, its receivers and channel are gone");
is($node->safe_psql('postgres', q{SELECT count(*) FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d
	USING (dataset_id) WHERE d.name = 'leavers'}), '2', 'the data itself stays');
# a running job of a role that is dropped ends 'failed', and says that the
# role was dropped (a user's review: it said the dataset no longer existed
# or belonged to another role)
$node->safe_psql('postgres', 'CREATE ROLE runaway LOGIN');
my $rj = $node->safe_psql('postgres', "SET ROLE runaway; SELECT heimdall_gen.start_job('runaways', 100000, 1, '$small')");
ok(wait_samples($node, $rj, 2), "a role's job runs");
$node->safe_psql('postgres', 'DROP ROLE runaway');
$node->safe_psql('postgres', 'SELECT heimdall_gen._wake_launcher()');
ok($node->poll_query_until('postgres', "SELECT status = 'failed' FROM heimdall_gen.jobs WHERE job_id = $rj"),
	'the role is dropped: its running job fails');
like($node->safe_psql('postgres', "SELECT error FROM heimdall_gen.jobs WHERE job_id = $rj"),
	qr/the job's owner role was dropped/, 'saying so');

# -- slots are shared fairly: a freed slot goes to the role with the fewest
# running jobs, not to the oldest queued job of a role that queued many;
# heimdall_gen.max_workers_per_role caps each role
$node->safe_psql('postgres', 'CREATE ROLE greedy LOGIN; CREATE ROLE modest LOGIN');
my @greedy = map { $node->safe_psql('postgres', "SET ROLE greedy; SELECT heimdall_gen.start_job('greedy_$_', 100000, $_, '$small')") } 1 .. 3;
ok(wait_samples($node, $greedy[0], 1) && wait_samples($node, $greedy[1], 1), "two of greedy's jobs hold both slots");
# every role reads every session's application_name (not its backend_type):
# a worker's names no job
is($node->safe_psql('postgres', "SET ROLE modest; SELECT string_agg(DISTINCT application_name, ',') "
	  . "FROM pg_stat_activity WHERE application_name LIKE 'heimdall_gen%' AND application_name <> 'heimdall_gen launcher'"),
	'heimdall_gen worker', "another role sees greedy's workers, but not which jobs they run");
my $modest = $node->safe_psql('postgres', "SET ROLE modest; SELECT heimdall_gen.start_job('modest_1', 100000, 4, '$small')");
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($greedy[0], wait => true)");
ok(wait_samples($node, $modest, 1), "the freed slot goes to modest's job, queued after greedy's third");
is(job_row($node, $greedy[2], 'status'), 'queued', "greedy's third job still waits");
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.max_workers_per_role = 1; SELECT pg_reload_conf()');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($modest, wait => true)");
$node->safe_psql('postgres', 'SELECT heimdall_gen._wake_launcher()');
sleep 2;
is(job_row($node, $greedy[2], 'status'), 'queued', 'with max_workers_per_role = 1, a free slot is not given to a role that holds one');
is($node->safe_psql('postgres', 'SELECT count(*) FROM heimdall_gen.worker_slots()'), '1', 'one slot stays free');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($greedy[1], wait => true)");
ok(wait_samples($node, $greedy[2], 1), "once greedy's running job ends, its queued one starts");
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($greedy[2], wait => true)");
$node->safe_psql('postgres', 'ALTER SYSTEM RESET heimdall_gen.max_workers_per_role; SELECT pg_reload_conf()');

# -- a launcher that ends between claiming a slot and registering its worker
# gives the slot back (a code review: the slot had no handle, nothing freed
# it, and its job stayed queued for good).  The launcher claims a slot for
# a queued job, then tests the job's row lock, which waits behind a table
# lock; cancelled there, it ends (ERROR is FATAL in a background worker).
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.max_workers_per_role = 1; SELECT pg_reload_conf()');
my $first = $node->safe_psql('postgres', "SET ROLE greedy; SELECT heimdall_gen.start_job('claim_1', 100000, 11, '$small')");
ok(wait_samples($node, $first, 1), "greedy's first job runs");
my $second = $node->safe_psql('postgres', "SET ROLE greedy; SELECT heimdall_gen.start_job('claim_2', 100000, 12, '$small')");
my $table_lock = $node->background_psql('postgres');
$table_lock->query_safe('BEGIN; LOCK heimdall_gen.jobs IN EXCLUSIVE MODE');
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.max_workers_per_role = 2; SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM heimdall_gen.worker_slots() WHERE job_id = $second AND pid IS NULL"),
	"the launcher claimed a slot for greedy's second job and waits behind the table lock");
my $stuck_launcher = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND wait_event_type = 'Lock'");
like($stuck_launcher, qr/^\d+$/, "pid $stuck_launcher is this cluster's launcher, waiting for a lock");
$node->safe_psql('postgres', "SELECT pg_cancel_backend($stuck_launcher)");
$table_lock->query_safe('COMMIT');
$table_lock->quit;
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND pid <> $stuck_launcher"),
	'the launcher is started again');
my $started = 0;
for (1 .. 300)
{
	last if ($started = $node->safe_psql('postgres',
		"SELECT count(*) FROM heimdall_gen.worker_slots() WHERE job_id = $second AND samples_done > 0") eq '1');
	Time::HiRes::usleep(100_000);
}
ok($started, 'the slot it had claimed was given back: the job starts');
# (a slot left claimed would keep a waiting cancel_job waiting: bounded)
$node->safe_psql('postgres', "SET statement_timeout = '60s'; SELECT heimdall_gen.cancel_job($_, wait => true)")
  for ($first, $second);
is($node->safe_psql('postgres', 'SELECT count(*) FROM heimdall_gen.worker_slots()'), '0', 'and no slot is left in use');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET heimdall_gen.max_workers_per_role; SELECT pg_reload_conf()');

# -- a role that holds its own job's row locked (FOR UPDATE: the hand-cancel
# grant allows it) and ends that job's worker must not stop the launcher,
# which requeues such orphans: other jobs still start
my $locked = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('lock_own', 100000, 8, '$small')");
ok(wait_samples($node, $locked, 1), 'a job runs');
my $holder = $node->background_psql('postgres');
$holder->query_safe("BEGIN; SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $locked FOR UPDATE");
my $locked_pid = worker_pid($node, $locked);
is($node->safe_psql('postgres', "SELECT backend_type FROM pg_stat_activity WHERE pid = $locked_pid"),
	'heimdall_gen worker', "pid $locked_pid is a worker of this cluster");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($locked_pid)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM heimdall_gen.worker_slots() WHERE job_id = $locked"),
	'its worker is gone, the job left running and its row locked');
my $other = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('after_lock', 3, 9, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($other, '60 s')"), 'completed',
	'another job still starts and completes');
is(job_row($node, $locked, 'status'), 'running', 'the locked job waits, untouched');
$holder->query_safe('COMMIT');
$holder->quit;
$node->safe_psql('postgres', 'SELECT heimdall_gen._wake_launcher()');
ok($node->poll_query_until('postgres', "SELECT restarts = 1 FROM heimdall_gen.jobs WHERE job_id = $locked"),
	'once the lock is gone it is requeued and resumes');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($locked, wait => true)");

# -- roles that hold their own queued jobs' rows locked (FOR UPDATE, as
# above) must not pin the worker slots: a worker's claim would wait for
# that lock as long as the transaction stays open, while other roles' jobs
# queue behind.  Two such roles come first in the fair order (one job each,
# older than the bystander's); the launcher skips their jobs, and they start
# once the locks are gone.
$node->safe_psql('postgres', 'CREATE ROLE pinner1 LOGIN; CREATE ROLE pinner2 LOGIN; CREATE ROLE bystander LOGIN');
my @busy = map { $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('busy_$_', 100000, $_, '$small')") } 1 .. 2;
ok(wait_samples($node, $busy[0], 1) && wait_samples($node, $busy[1], 1), 'two jobs hold both slots');
my (@pinned, @pins);
for my $k (1 .. 2)
{
	my $job = $node->safe_psql('postgres', "SET ROLE pinner$k; SELECT heimdall_gen.start_job('pinned_$k', 3, $k, '$small')");
	my $session = $node->background_psql('postgres');
	$session->query_safe("SET ROLE pinner$k; BEGIN; SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $job FOR UPDATE");
	push @pinned, $job;
	push @pins, $session;
}
my $bystander = $node->safe_psql('postgres', "SET ROLE bystander; SELECT heimdall_gen.start_job('bystander_1', 3, 3, '$small')");
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($_, wait => true)") for @busy;
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($bystander, '60 s')"), 'completed',
	"another role's job, queued after the locked ones, gets a slot and completes");
is($node->safe_psql('postgres', "SELECT string_agg(status, ',' ORDER BY job_id) FROM heimdall_gen.jobs WHERE job_id IN ($pinned[0], $pinned[1])"),
	'queued,queued', 'the locked jobs stay queued, untouched');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.worker_slots() WHERE job_id IN ($pinned[0], $pinned[1])"),
	'0', 'and hold no slot');
for my $session (@pins)
{
	$session->query_safe('COMMIT');
	$session->quit;
}
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($pinned[0], '60 s') || ',' || heimdall_gen.wait_job($pinned[1], '60 s')"),
	'completed,completed', 'once the locks are gone they start, without anyone waking the launcher');

# The launcher's look at a queued job's row lock binds no one: it is
# rolled back at once, so a worker's claim never waits for the launcher's
# round to commit.  Here that commit cannot end (a synchronous standby that
# does not exist; the test's own sessions commit locally), and the job it
# started must still run to completion.
$node->safe_psql('postgres', "ALTER SYSTEM SET synchronous_standby_names = 'nosuch'; SELECT pg_reload_conf()");
Time::HiRes::usleep(500_000);
my $probe = $node->background_psql('postgres');
$probe->query_until(qr/sent/, "\\echo sent\nCREATE TEMP TABLE sync_rep_probe ();\n");
ok($node->poll_query_until('postgres', "SELECT count(*) >= 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND backend_type = 'client backend'"),
	'commits now wait for a standby that does not exist');
my $unhurried = $node->safe_psql('postgres',
	"SET synchronous_commit = local; SELECT heimdall_gen.start_job('launcher_uncommitted', 3, 11, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($unhurried, '60 s')"), 'completed',
	"a job completes while the launcher's round that started it cannot commit");
$node->safe_psql('postgres', "ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf()");
$probe->quit;

# -- running jobs whose rows their owner holds locked (FOR UPDATE, which the
# hand-cancel grant allows): a worker must not wait for that lock on its
# slot, where a role could take every slot at no cost (start two jobs, lock
# their rows) and keep other roles' jobs queued for as long as it liked.
# Each worker leaves its slot within a few seconds, its job stays 'running'
# and resumes at its last committed batch once the lock is gone.  A
# cancel_job(wait => true) meanwhile must record the cancel in that row:
# it says it waits for a lock, and returns once the lock goes.
my @held = map { $node->safe_psql('postgres', "SET ROLE pinner1; SELECT heimdall_gen.start_job('held_$_', 100000, $_, '$small')") } 1 .. 2;
ok(wait_samples($node, $held[0], 1) && wait_samples($node, $held[1], 1), "pinner1's two jobs hold both slots");
my $held_log = -s $node->logfile;
my $locker = $node->background_psql('postgres');
$locker->query_safe("SET ROLE pinner1; BEGIN; SELECT 1 FROM heimdall_gen.jobs WHERE job_id IN ($held[0], $held[1]) FOR UPDATE");
my $queued_behind = $node->safe_psql('postgres', "SET ROLE bystander; SELECT heimdall_gen.start_job('behind_held', 3, 14, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($queued_behind, '60 s')"), 'completed',
	"another role's job gets a slot and completes while pinner1 holds her jobs' rows locked");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM heimdall_gen.worker_slots() WHERE job_id IN ($held[0], $held[1])"),
	'the workers of the locked jobs have left their slots');
is($node->safe_psql('postgres', "SELECT string_agg(status, ',') FROM heimdall_gen.jobs WHERE job_id IN ($held[0], $held[1])"),
	'running,running', 'their jobs stay running, untouched');
like(slurp_file($node->logfile, $held_log), qr/job $held[0] leaves its worker slot: another transaction has held its row locked/,
	'the log says why the worker left');
my $canceller = $node->background_psql('postgres');
$canceller->query_until(qr/sent/, "\\echo sent\nSELECT heimdall_gen.cancel_job($held[0], wait => true);\n");
ok(pump_until($canceller->{run}, $canceller->{timeout}, \$canceller->{stderr},
		qr/another transaction holds the row of job $held[0] locked; this call waits for that lock/),
	'cancel_job(wait => true) says that it waits for a lock on the row');
$locker->query_safe('COMMIT');
$locker->quit;
like($canceller->query_until(qr/done/, "\\echo done\n"), qr/^t$/m, 'and returns true once the lock is gone');
$canceller->quit;
is(job_row($node, $held[0], 'status'), 'cancelled', 'the job is cancelled');
ok($node->poll_query_until('postgres', "SELECT j.restarts = 1 FROM heimdall_gen.jobs j "
		. "JOIN heimdall_gen.worker_slots() s USING (job_id) WHERE j.job_id = $held[1]"),
	'the other one is resumed once the lock is gone, counting a restart');
ok(wait_samples($node, $held[1], live_samples($node, $held[1]) + 1), '... and generates again');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($held[1], wait => true)");

# -- the same for a running job's dataset row: each batch takes the key-share
# lock the samples' foreign key needs on it, and a transaction holding it
# FOR UPDATE (its owner's start_job, drop_dataset or materialize, kept open
# by a client that does not read the error they end with) kept the worker
# waiting on its slot with no end.  It now leaves its slot after 2 s; the
# launcher queues the job again and starts it once the lock is gone.  (Held here by the
# superuser, as that stalled client would hold it.)
my $ds_held = $node->safe_psql('postgres', "SET ROLE pinner1; SELECT heimdall_gen.start_job('ds_held', 100000, 3, '$small')");
ok(wait_samples($node, $ds_held, 1), "pinner1's job $ds_held writes");
my $ds_held_log = -s $node->logfile;
my $ds_locker = $node->background_psql('postgres');
$ds_locker->query_safe("BEGIN; SELECT 1 FROM heimdall_gen.datasets d JOIN heimdall_gen.jobs j USING (dataset_id) "
	  . "WHERE j.job_id = $ds_held FOR UPDATE OF d");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM heimdall_gen.worker_slots() WHERE job_id = $ds_held"),
	'the worker leaves its slot while its dataset row is held');
like(slurp_file($node->logfile, $ds_held_log), qr/job $ds_held leaves its worker slot: another transaction has held its dataset's row locked/,
	'the log says why');
my $beside_ds = $node->safe_psql('postgres', "SET ROLE bystander; SELECT heimdall_gen.start_job('beside_ds_held', 3, 15, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($beside_ds, '60 s')"), 'completed',
	"another role's job gets a slot and completes meanwhile");
is(job_row($node, $ds_held, 'status'), 'queued', 'the launcher queued the job again, and leaves it while its dataset row is held');
$ds_locker->query_safe('COMMIT');
$ds_locker->quit;
ok(wait_samples($node, $ds_held, live_samples($node, $ds_held) + 1), 'once the lock is gone the job generates again');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($ds_held, wait => true)");

# -- the same lock, and the worker ended by an error (its owner may
# pg_cancel_backend() it; a full disk does it too): recording the end of
# the job waited for the row's lock on the slot, with no end (a code
# audit).  The worker leaves within a few seconds, the job stays 'running',
# and resumes once the lock is gone.
my $errored = $node->safe_psql('postgres', "SET ROLE pinner1; SELECT heimdall_gen.start_job('errored_held', 100000, 5, '$small')");
ok(wait_samples($node, $errored, 1), "pinner1's job is writing");
my $errored_pid = worker_pid($node, $errored);
my $errored_log = -s $node->logfile;
my $error_locker = $node->background_psql('postgres');
# (one round trip: the cancel reaches the worker before its next batch
# commit could meet the lock and leave by the 2 s path instead)
my @locked_then_cancelled = split /\n/, $error_locker->query_safe("SET ROLE pinner1; BEGIN; "
	  . "SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $errored FOR UPDATE; SELECT pg_cancel_backend($errored_pid)");
is($locked_then_cancelled[-1], 't', 'pinner1 cancels the query of her own worker while she holds its row');
my $left_in = 0;
for (1 .. 200)
{
	last if $node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.worker_slots() WHERE pid = $errored_pid") eq '0';
	$left_in++;
	Time::HiRes::usleep(100_000);
}
cmp_ok($left_in, '<', 200, 'the worker leaves its slot while the row is still held (within 20 s)');
is(job_row($node, $errored, 'status'), 'running', 'the job stays running');
like(slurp_file($node->logfile, $errored_log), qr/job $errored stays running: another transaction has held its row locked/,
	'the log says why its end was not recorded');
$error_locker->query_safe('COMMIT');
$error_locker->quit;
ok($node->poll_query_until('postgres', "SELECT j.restarts = 1 FROM heimdall_gen.jobs j "
		. "JOIN heimdall_gen.worker_slots() s USING (job_id) WHERE j.job_id = $errored"),
	'once the lock is gone the job is resumed, counting a restart');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($errored, wait => true)");

# -- a role dropped while a session of it holds its rows locked (DROP ROLE
# ends neither that session nor a prepared transaction): the launcher, which
# hands a dropped role's rows to no one, must skip the locked ones rather
# than wait for them, or no job of any role would start.  They are handed
# over once the lock goes.
$node->safe_psql('postgres', 'CREATE ROLE leaver LOGIN');
# queued and paused in one transaction: no worker ever runs it
my ($left) = (split /\n/, $node->safe_psql('postgres', "SET ROLE leaver; BEGIN; "
	  . "SELECT heimdall_gen.start_job('left', 3, 12, '$small') AS j \\gset\n"
	  . "SELECT heimdall_gen.pause_job(:j); COMMIT; SELECT :j"))[-1];
$node->safe_psql('postgres', "SET ROLE leaver; INSERT INTO heimdall_gen.receivers (network, name, lat, lon) VALUES ('gone', 'r1', 45, 8)");
my $leaver = $node->background_psql('postgres');
$leaver->query_safe("SET ROLE leaver; BEGIN; SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $left FOR UPDATE; "
	. "SELECT 1 FROM heimdall_gen.receivers FOR UPDATE");
$node->safe_psql('postgres', 'DROP ROLE leaver');
my $after_leaver = $node->safe_psql('postgres',
	"SET ROLE bystander; SELECT heimdall_gen.start_job('after_leaver', 3, 13, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($after_leaver, '60 s')"), 'completed',
	"another role's job completes while a dropped role's rows are held locked");
is($node->safe_psql('postgres', "SELECT owner::oid <> 0 FROM heimdall_gen.jobs WHERE job_id = $left"), 't',
	'the locked row was skipped, not waited for');
$leaver->query_safe('COMMIT');
$leaver->quit;
ok($node->poll_query_until('postgres', "SELECT (SELECT owner::oid = 0 FROM heimdall_gen.jobs WHERE job_id = $left) "
		. "AND NOT EXISTS (SELECT 1 FROM heimdall_gen.receivers WHERE network = 'gone')"),
	'once the lock is gone, the job belongs to no role and the receivers are gone');

# -- another role's dataset row: start_job and drop_dataset looked a dataset
# up by name FOR UPDATE before checking whose it was, so any role could lock
# another's row, and hold it for as long as it liked with a client that does
# not read the error sent before its transaction ends (an attacker's review:
# the owner's workers, cancels and calls stalled behind it).  They now lock
# only a row the caller may change.  Planted here: the owner holds her own
# row (an uncommitted drop_dataset); another role's calls on that name must
# refuse at once, not wait for her lock.
my $row_owned = $node->safe_psql('postgres', "SET ROLE bystander; SELECT heimdall_gen.start_job('row_owned', 2, 21, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($row_owned, '60 s')"), 'completed', "bystander's dataset row_owned is made");
my $row_keeper = $node->background_psql('postgres');
$row_keeper->query_safe("SET ROLE bystander; BEGIN; SELECT heimdall_gen.drop_dataset('row_owned')");
for my $call ("SELECT heimdall_gen.start_job('row_owned', 1)", "SELECT heimdall_gen.drop_dataset('row_owned')")
{
	my ($rc, $out, $err) = $node->psql('postgres', "SET ROLE pinner2; SET statement_timeout = '5s'; $call",
		extra_params => ['-v', 'VERBOSITY=verbose']);
	like($err, qr/(42710|42501)/, "pinner2's '$call' on bystander's locked dataset row is refused at once")
	  or diag($err);
}
$row_keeper->query_safe('ROLLBACK');
$row_keeper->quit;
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.datasets WHERE name = 'row_owned'"), '1',
	'the row is there, untouched');

# -- a schema named heimdall_gen made before CREATE EXTENSION (by a role with
# CREATE on the database) is not adopted: its owner could have planted an
# operator there that the extension's statements, run as a superuser, would
# call.  And an extension whose schema came to belong to another role
# refuses to run.
$node->safe_psql('postgres', 'CREATE ROLE planter LOGIN; CREATE DATABASE db4; GRANT CREATE ON DATABASE db4 TO planter');
$node->safe_psql('db4', q{
	SET ROLE planter;
	CREATE SCHEMA heimdall_gen;
	CREATE FUNCTION heimdall_gen.pwn(a regrole, b regrole) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN EXECUTE 'ALTER ROLE planter SUPERUSER'; RETURN a::oid OPERATOR(pg_catalog.=) b::oid; END $$;
	CREATE OPERATOR heimdall_gen.= (LEFTARG = regrole, RIGHTARG = regrole, FUNCTION = heimdall_gen.pwn)});
($rc, $out, $err) = $node->psql('db4', 'CREATE EXTENSION heimdall_gen');
like($err, qr/schema "heimdall_gen" already exists, and is not empty, or not owned by you alone/, "CREATE EXTENSION refuses another role's schema")
  or diag($err);
is($node->safe_psql('db4', "SELECT count(*) FROM pg_extension WHERE extname = 'heimdall_gen'"), '0',
	'and installs nothing');
# handed to the superuser, it still holds what was planted
$node->safe_psql('db4', 'ALTER SCHEMA heimdall_gen OWNER TO postgres');
($rc, $out, $err) = $node->psql('db4', 'CREATE EXTENSION heimdall_gen');
like($err, qr/schema "heimdall_gen" already exists, and is not empty/, 'nor a schema with planted objects, whoever owns it')
  or diag($err);
# empty and the superuser's, but another role may create in it
$node->safe_psql('db4', 'DROP SCHEMA heimdall_gen CASCADE; CREATE SCHEMA heimdall_gen; GRANT CREATE ON SCHEMA heimdall_gen TO planter');
($rc, $out, $err) = $node->psql('db4', 'CREATE EXTENSION heimdall_gen');
like($err, qr/schema "heimdall_gen" already exists, and is not empty, or not owned by you alone/,
	'nor an empty one another role may create in') or diag($err);
$node->safe_psql('db4', 'DROP SCHEMA heimdall_gen CASCADE; CREATE EXTENSION heimdall_gen');
$node->safe_psql('db4', 'ALTER SCHEMA heimdall_gen OWNER TO planter');
$node->safe_psql('db4', q{
	SET ROLE planter;
	CREATE FUNCTION heimdall_gen.pwn(a regrole, b regrole) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN EXECUTE 'ALTER ROLE planter SUPERUSER'; RETURN a::oid OPERATOR(pg_catalog.=) b::oid; END $$;
	CREATE OPERATOR heimdall_gen.= (LEFTARG = regrole, RIGHTARG = regrole, FUNCTION = heimdall_gen.pwn)});
for my $call ('SELECT heimdall_gen.event_channel()', "SELECT heimdall_gen.start_job('x', 1)",
	'SELECT heimdall_gen.cancel_job(1)')
{
	($rc, $out, $err) = $node->psql('db4', "SET ROLE planter; $call");
	like($err, qr/the schema of extension heimdall_gen is owned by role "planter"/,
		"a schema owned by another role: '$call' refuses to run") or diag($err);
}
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'planter'"), 'f',
	'the planted operator never ran');
# ... and the way out its error names works: the extension and the schema
# can be dropped (the drop's own check refused it with that same error), and
# other roles' statements in the database are not refused for it
$node->safe_psql('db4', 'CREATE ROLE bystander4 LOGIN; GRANT CREATE ON SCHEMA public TO bystander4');
$node->safe_psql('db4', 'SET ROLE bystander4; CREATE TABLE own4 (x int); BEGIN; LOCK own4 IN EXCLUSIVE MODE; COMMIT; '
	  . "COMMENT ON TABLE own4 IS 'mine'; DROP TABLE own4");
pass("another role's LOCK and COMMENT of its own table run while the schema is planter's");
($rc, $out, $err) = $node->psql('db4', 'DROP EXTENSION heimdall_gen');
is($rc, 0, 'the superuser may drop the extension whose schema another role owns') or diag($err);
$node->safe_psql('db4', 'DROP SCHEMA heimdall_gen CASCADE; CREATE EXTENSION heimdall_gen');
is($node->safe_psql('db4', 'SELECT heimdall_gen.model_version() > 0'), 't', 'and create it again, which then runs');
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'planter'"), 'f',
	'the planted operator never ran meanwhile');

# -- the extension's schema renamed (an operator's review): its statements
# name the schema heimdall_gen, so every job stopped, and the free name let
# a role with CREATE on the database make a schema heimdall_gen whose views
# the launcher, a superuser, read: code of that role's run as a superuser.
# The rename is refused; one made behind the hook's back (here a catalog
# update, as a rename while the library was not loaded would be) makes the
# extension refuse to run, and the launcher never reads the planted views.
($rc, $out, $err) = $node->psql('db2', 'ALTER SCHEMA heimdall_gen RENAME TO hg_moved', extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/0A000: schema "heimdall_gen" of extension heimdall_gen cannot be renamed/, 'ALTER SCHEMA heimdall_gen RENAME is refused')
  or diag($err);
is($node->safe_psql('db2', "SELECT count(*) FROM pg_namespace WHERE nspname = 'heimdall_gen'"), '1', 'the schema keeps its name');
my $renamed_log = -s $node->logfile;
$node->safe_psql('postgres', 'GRANT CREATE ON DATABASE db2 TO planter');
$node->safe_psql('db2', "UPDATE pg_catalog.pg_namespace SET nspname = 'hg_moved' WHERE nspname = 'heimdall_gen'");
$node->safe_psql('db2', q{
	SET ROLE planter;
	CREATE SCHEMA heimdall_gen;
	CREATE FUNCTION heimdall_gen.pwn() RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE planter SUPERUSER';
		END IF;
		RETURN true;
	END $$;
	CREATE VIEW heimdall_gen.jobs AS SELECT 1::bigint AS job_id, 'running'::text AS status WHERE heimdall_gen.pwn();
	CREATE VIEW heimdall_gen.datasets AS SELECT 1::bigint AS dataset_id, 0::regrole AS owner WHERE heimdall_gen.pwn();
	GRANT USAGE ON SCHEMA heimdall_gen TO PUBLIC; GRANT SELECT ON ALL TABLES IN SCHEMA heimdall_gen TO PUBLIC});
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND datname = 'db2'");
my $db2_launcher = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND datname = 'db2'");
like($db2_launcher, qr/^\d+$/, "db2's launcher is pid $db2_launcher");
$node->safe_psql('postgres', "SELECT pg_terminate_backend($db2_launcher)");
$node->wait_for_log(qr/the schema of extension heimdall_gen is named "hg_moved", not heimdall_gen/, $renamed_log);
pass("db2's next launcher refuses to run, saying why");
($rc, $out, $err) = $node->psql('db2', "SELECT hg_moved.start_job('x', 1)");
like($err, qr/the schema of extension heimdall_gen is named "hg_moved", not heimdall_gen/, 'and so does start_job') or diag($err);
like($err, qr/ALTER SCHEMA hg_moved RENAME TO heimdall_gen/, 'its hint gives the way back') or diag($err);
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'planter'"), 'f',
	'the planted views were never read as a superuser');
# the way back the hint gives is allowed (a rename to heimdall_gen), once
# the planted schema is gone
$node->safe_psql('db2', 'DROP SCHEMA heimdall_gen CASCADE; ALTER SCHEMA hg_moved RENAME TO heimdall_gen');
is($node->safe_psql('db2', 'SELECT heimdall_gen.model_version() > 0'), 't', "named heimdall_gen again by the hint's ALTER SCHEMA, it runs");

# -- a worker crash: the server restarts, serves, and stops on a fast shutdown
my $jx = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('crash', 100000, 5, '$small')");
ok(wait_samples($node, $jx, 2), 'a job runs');
my $pid = worker_pid($node, $jx);
is($node->safe_psql('postgres', "SELECT backend_type FROM pg_stat_activity WHERE pid = $pid"), 'heimdall_gen worker',
	"pid $pid is a worker of this cluster");
ok(kill('SEGV', $pid), "the worker crashes (SIGSEGV to $pid)");
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
pass('the server reinitialised after the crash');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher'}),
	'both launchers are back');
ok($node->poll_query_until('postgres', "SELECT samples_done >= 4 FROM heimdall_gen.jobs WHERE job_id = $jx"),
	'the job resumed and writes again');
my $t0 = time;
my $stopped = PostgreSQL::Test::Utils::system_log('pg_ctl', '-D', $node->data_dir, '-m', 'fast', '-t', '60', 'stop') == 0;
ok($stopped, 'a fast shutdown stops the server (within 60 s: ' . (time - $t0) . ' s)');
$node->_update_pid(0) if $stopped;
$node->stop('immediate') unless $stopped;

done_testing();
