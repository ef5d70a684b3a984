# What other roles control around a job, against the shared launcher and
# the job's workers (found by an attacker's review):
# - a database's owner may ALTER DATABASE ... SET any user setting, and it
#   applies to the launcher: "role" made it run as that owner, who then saw
#   only its own jobs through row-level security, so no other role's job
#   started; the launcher and the workers now pin it;
# - a role's own exit_on_error turned a pg_cancel_backend() of its worker
#   into a crash that resumed the job, where it must cancel it;
# - a role without CONNECT on the database: start_job refuses it, and a
#   queued job whose owner lost it fails with the reason, where each of its
#   workers died at its connection and the next started at once;
# - a database that allows no connection (its owner may say so): each
#   worker of a queued job dies at its connection, and the launcher waits
#   longer before each next one, where it started dozens a second;
# - a LOCK whose relation another session changed while it waited (the
#   name re-pointed, a view put in its place, the table turned into a
#   view) passed the check made on what the name first meant; so did
#   CREATE RULE, a foreign key and ALTER INDEX ... DEPENDS ON EXTENSION,
#   whose names fell through to heimdall_gen's.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $node = hg_node('others_settings', 'heimdall_gen.sample_delay_ms' => 2,
	shared_preload_libraries => "'heimdall_gen,pg_stat_statements'", 'pg_stat_statements.track' => "'all'");
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN; CREATE ROLE mallory LOGIN; CREATE ROLE dave LOGIN; CREATE ROLE dbowner LOGIN;
	ALTER DATABASE postgres OWNER TO dbowner;
});
my $small = $HeimdallTest::SMALL;

sub launcher_pid
{
	return $node->safe_psql('postgres',
		"SET ROLE NONE; SELECT pid FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher'");
}

# --- the database's owner sets "role" (and a timeout) for every session of it
$node->safe_psql('postgres', q{
	ALTER DATABASE postgres SET role = 'dbowner';
	ALTER DATABASE postgres SET lock_timeout = '1ms';
}, extra_params => [ '-U', 'dbowner' ]);
is($node->safe_psql('postgres', 'SELECT current_user'), 'dbowner', 'a new session of the database runs as its owner');
my $old_launcher = launcher_pid();
$node->safe_psql('postgres', "SET ROLE NONE; SELECT pg_terminate_backend($old_launcher)");
my $launcher_back = 0;
for (1 .. 600)	# (as the superuser: SET ROLE NONE, which poll_query_until's one statement cannot)
{
	last if ($launcher_back = launcher_pid() =~ /^\d+$/ && launcher_pid() != $old_launcher);
	Time::HiRes::usleep(100_000);
}
ok($launcher_back, 'the launcher is back, connected under those settings');
my $alices = $node->safe_psql('postgres',
	"SET ROLE NONE; SET ROLE alice; SELECT heimdall_gen.start_job('alices', 5, 1, '$small')");
is($node->safe_psql('postgres', "SET ROLE NONE; SELECT heimdall_gen.wait_job($alices, '60 s')"), 'completed',
	'another role\'s job still runs (the launcher pins its role)');
$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET ALL', extra_params => [ '-U', 'dbowner' ]);

# --- the database's owner has every statement JIT-compiled: a job went from
# 0.06 s to 3 s, a cancel from 20 to 150 ms; the workers and launcher pin jit off
SKIP:
{
	skip 'this PostgreSQL has no JIT provider', 2
	  unless $node->safe_psql('postgres', 'SELECT pg_jit_available()') eq 't';
	$node->safe_psql('postgres', q{
		ALTER DATABASE postgres SET jit = on;
		ALTER DATABASE postgres SET jit_above_cost = 0;
		ALTER DATABASE postgres SET jit_inline_above_cost = 0;
		ALTER DATABASE postgres SET jit_optimize_above_cost = 0;
	}, extra_params => [ '-U', 'dbowner' ]);
	# a new launcher, under those settings; this test's own sessions turn jit off
	my $before = launcher_pid();
	$node->safe_psql('postgres', "SET ROLE NONE; SELECT pg_terminate_backend($before)");
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity "
		  . "WHERE backend_type = 'heimdall_gen launcher' AND pid <> $before"), 'a new launcher is up');
	$node->safe_psql('postgres', 'SET jit = off; SET ROLE NONE; CREATE EXTENSION pg_stat_statements; '
		  . 'SELECT pg_stat_statements_reset()');
	my $jitted = $node->safe_psql('postgres',
		"SET jit = off; SET ROLE NONE; SET ROLE alice; SELECT heimdall_gen.start_job('alices_jit', 20, 1, '$small')");
	$node->safe_psql('postgres', "SET jit = off; SET ROLE NONE; SELECT heimdall_gen.wait_job($jitted, '60 s')");
	is($node->safe_psql('postgres', q{
		SET jit = off; SET ROLE NONE;
		SELECT count(*) FILTER (WHERE query LIKE '%samples_done%') > 0 AS job_statements_seen,
		       coalesce(sum(jit_functions), 0) AS jit_functions
		  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'postgres')}),
		't|0', "no statement of the job's worker or of the launcher was JIT-compiled");
	$node->safe_psql('postgres', 'SET jit = off; SET ROLE NONE; DROP EXTENSION pg_stat_statements');
	$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET ALL', extra_params => [ '-U', 'dbowner' ]);
}

# --- the database's owner turns index scans off for every session of it: a
# materialize() job then scanned all of receptions for each reception it
# filled (300 samples: 3 s, then over ten minutes).  The launcher and the
# workers put back the server's value of every user setting the database or
# the role changed.  Counted: sequential scans of receptions by two equal
# materialize() jobs, before and under those settings.
my $virtual = $small =~ s/^\{/{"iq_storage": "virtual", /r;
for my $ds ([ 'virtual_bulk', 1500, 21 ], [ 'to_fill_before', 5, 22 ], [ 'to_fill_under', 5, 23 ])
{
	my $job = $node->safe_psql('postgres',
		"SET ROLE NONE; SET ROLE alice; SELECT heimdall_gen.start_job('$ds->[0]', $ds->[1], $ds->[2], '$virtual')");
	$node->safe_psql('postgres', "SET ROLE NONE; SELECT heimdall_gen.wait_job($job, '120 s')");
}
$node->safe_psql('postgres', 'SET ROLE NONE; ANALYZE heimdall_gen.receptions');
my $seq_scans = sub {
	return $node->safe_psql('postgres',
		"SET ROLE NONE; SELECT seq_scan FROM pg_stat_all_tables WHERE relid = 'heimdall_gen.receptions'::regclass");
};
my $materialize = sub {
	my ($ds) = @_;
	# (alice's own session may set them back for itself: only the worker's scans are counted)
	my $job = $node->safe_psql('postgres', "SET ROLE NONE; SET ROLE alice; SET enable_indexscan = on; "
		  . "SET enable_bitmapscan = on; SET enable_indexonlyscan = on; SELECT heimdall_gen.materialize('$ds')");
	is($node->safe_psql('postgres', "SET ROLE NONE; SELECT heimdall_gen.wait_job($job, '120 s')"), 'completed',
		"materialize('$ds') completes");
	ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM heimdall_gen.worker_slots() WHERE job_id = $job"),
		'its worker is gone (its statistics are counted)');
};
my $receptions_filled = $node->safe_psql('postgres', "SET ROLE NONE; SELECT count(*) FROM heimdall_gen.receptions "
	  . "JOIN heimdall_gen.datasets USING (dataset_id) WHERE name = 'to_fill_before'");
my $s0 = $seq_scans->();
$materialize->('to_fill_before');
my $s1 = $seq_scans->();
$node->safe_psql('postgres', q{
	ALTER DATABASE postgres SET enable_indexscan = off;
	ALTER DATABASE postgres SET enable_bitmapscan = off;
	ALTER DATABASE postgres SET enable_indexonlyscan = off;
}, extra_params => [ '-U', 'dbowner' ]);
$materialize->('to_fill_under');
my $s2 = $seq_scans->();
note("sequential scans of receptions: materialize() of $receptions_filled receptions " . ($s1 - $s0)
	  . ' before, ' . ($s2 - $s1) . " under the database owner's settings");
cmp_ok($s1 - $s0, '<', $receptions_filled, 'a materialize() job finds receptions by index (the check can see a difference)');
cmp_ok($s2 - $s1, '<=', $s1 - $s0, "and still does under the database owner's enable_*scan = off");
$node->safe_psql('postgres', 'ALTER DATABASE postgres RESET ALL', extra_params => [ '-U', 'dbowner' ]);

# --- a superuser setting granted to a role (GRANT SET ON PARAMETER, new in
# PostgreSQL 15), which the role then sets for itself: its workers put the
# server's value back too (a second review: log_min_messages = debug5
# filled the log with the worker's DEBUG lines)
$node->safe_psql('postgres', 'GRANT SET ON PARAMETER log_min_messages TO mallory');
$node->safe_psql('postgres', 'ALTER ROLE mallory SET log_min_messages = debug5', extra_params => [ '-U', 'mallory' ]);
is($node->safe_psql('postgres', 'SHOW log_min_messages', extra_params => [ '-U', 'mallory' ]), 'debug5',
	"mallory's own sessions log at debug5");
my $before_debug = -s $node->logfile;
my $verbose = $node->safe_psql('postgres', "SET ROLE mallory; SELECT heimdall_gen.start_job('mallorys_debug', 3, 4, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($verbose, '60 s')"), 'completed', "mallory's job completes");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM heimdall_gen.worker_slots() WHERE job_id = $verbose"),
	'its worker is gone');
# (the commit of the connection's own transaction, which applies the role's
# settings, is logged at the role's level before the worker can act: its
# CommitTransaction lines are not counted; the old code also logged each of
# its transactions' starts and its exit callbacks)
my @debug_lines = grep { !/CommitTransaction/ } (slurp_file($node->logfile, $before_debug) =~ /^.*DEBUG:.*$/mg);
is(scalar(@debug_lines), 0, "its worker logs at the server's level, not at the level mallory set for itself")
  or diag(join("\n", @debug_lines[0 .. ($#debug_lines < 5 ? $#debug_lines : 5)]));
$node->safe_psql('postgres', 'ALTER ROLE mallory RESET log_min_messages; REVOKE SET ON PARAMETER log_min_messages FROM mallory');

# --- a setting of plpgsql, which the jobs table's triggers load during a
# job, set by a role for itself: it was a placeholder when the worker
# connected, left out of the settings put back, and took the role's value
# once plpgsql loaded (two reviews).  Seen by a trigger on the jobs table
# that notes what each worker's session has, for the length of this check.
$node->safe_psql('postgres', q{
	CREATE TABLE public.worker_saw (backend_type text, extra_errors text);
	CREATE FUNCTION public.note_worker_settings() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog AS $$
	BEGIN
		INSERT INTO public.worker_saw
		SELECT a.backend_type, current_setting('plpgsql.extra_errors') FROM pg_stat_activity a
		 WHERE a.pid = pg_backend_pid();
		RETURN NULL;
	END $$;
	CREATE TRIGGER zz_note_worker_settings AFTER UPDATE ON heimdall_gen.jobs
		FOR EACH ROW EXECUTE FUNCTION public.note_worker_settings();
});
# (a DO block loads plpgsql in her session, which makes the name known to ALTER ROLE)
$node->safe_psql('postgres', q{DO $$BEGIN END$$; ALTER ROLE mallory SET plpgsql.extra_errors = 'shadowed_variables'},
	extra_params => [ '-U', 'mallory' ]);
is($node->safe_psql('postgres', 'SHOW plpgsql.extra_errors', extra_params => [ '-U', 'mallory' ]), 'shadowed_variables',
	"mallory's own sessions have her plpgsql.extra_errors");
my $plpgsql_job = $node->safe_psql('postgres', "SET ROLE mallory; SELECT heimdall_gen.start_job('mallorys_plpgsql', 3, 5, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($plpgsql_job, '60 s')"), 'completed', "mallory's job completes");
is($node->safe_psql('postgres', "SELECT string_agg(DISTINCT extra_errors, ',') FROM public.worker_saw "
		. "WHERE backend_type = 'heimdall_gen worker'"),
	'none', "its worker's statements run under the server's plpgsql.extra_errors, not hers");
$node->safe_psql('postgres', 'ALTER ROLE mallory RESET plpgsql.extra_errors; '
	  . 'DROP TRIGGER zz_note_worker_settings ON heimdall_gen.jobs; DROP FUNCTION public.note_worker_settings(); '
	  . 'DROP TABLE public.worker_saw');

# --- the database's owner may VACUUM FULL and REINDEX DATABASE: both hold
# locks that stop every job (and a cancelled REINDEX CONCURRENTLY leaves
# index copies only the extension's owner may drop); an ANALYZE in a
# transaction block keeps every VACUUM out: it is refused them on
# heimdall_gen's tables
$node->safe_psql('postgres', 'CREATE TABLE dbowners_own (x int)', extra_params => [ '-U', 'dbowner' ]);
for my $refused ('VACUUM FULL heimdall_gen.jobs', 'VACUUM (FULL, ANALYZE) heimdall_gen.receptions',
	'VACUUM FULL dbowners_own, heimdall_gen.samples', 'VACUUM FULL', 'REINDEX DATABASE postgres',
	'REINDEX DATABASE CONCURRENTLY postgres', 'BEGIN; ANALYZE heimdall_gen.jobs',
	'BEGIN; ANALYZE', 'DO $$BEGIN ANALYZE heimdall_gen.receptions; END$$')
{
	my (undef, undef, $why) = $node->psql('postgres', "\\set VERBOSITY verbose\n$refused",
		extra_params => [ '-U', 'dbowner' ]);
	like($why, qr/42501: permission denied to (VACUUM FULL|REINDEX DATABASE|ANALYZE)/,
		"the database's owner: $refused is refused");
}
$node->safe_psql('postgres', 'VACUUM heimdall_gen.jobs', extra_params => [ '-U', 'dbowner' ]);
$node->safe_psql('postgres', 'ANALYZE heimdall_gen.jobs', extra_params => [ '-U', 'dbowner' ]);
$node->safe_psql('postgres', 'VACUUM FULL dbowners_own', extra_params => [ '-U', 'dbowner' ]);
$node->safe_psql('postgres', 'BEGIN; ANALYZE dbowners_own; COMMIT; DROP TABLE dbowners_own',
	extra_params => [ '-U', 'dbowner' ]);
pass("... a plain VACUUM or ANALYZE of heimdall_gen's tables, and VACUUM FULL or ANALYZE of its own table "
	  . "in a transaction block, are not");
$node->safe_psql('postgres', 'SET ROLE NONE; ALTER DATABASE postgres OWNER TO postgres');

# --- a role's own exit_on_error, and a pg_cancel_backend() of its worker
$node->safe_psql('postgres', 'ALTER ROLE mallory SET exit_on_error = on');
my $mallorys = $node->safe_psql('postgres',
	"SET ROLE mallory; SELECT heimdall_gen.start_job('mallorys', 100000, 2, '$small')");
ok(wait_samples($node, $mallorys, 3), 'mallory\'s job runs');
my $pid = worker_pid($node, $mallorys);
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'pg_cancel_backend() of its worker');
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($mallorys, '60 s')"), 'cancelled',
	'cancels the job, whatever the role set exit_on_error to');
is(job_row($node, $mallorys, 'restarts'), '0', 'no crash, no restart');

# --- a role that may not connect to the database
$node->safe_psql('postgres', 'REVOKE CONNECT ON DATABASE postgres FROM PUBLIC; '
	  . 'GRANT CONNECT ON DATABASE postgres TO alice, mallory');
my ($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSET ROLE dave; SELECT heimdall_gen.start_job('daves', 5, 3, '$small')");
like($err, qr/42501: role "dave" may not connect to database "postgres"/, 'start_job refuses it, and says why');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.datasets WHERE name = 'daves'"), '0',
	'and creates nothing');
# a job queued while the role could connect, resumed after it lost the right
$node->safe_psql('postgres', 'GRANT CONNECT ON DATABASE postgres TO dave');
my $daves = $node->safe_psql('postgres', "SET ROLE dave; SELECT heimdall_gen.start_job('daves', 100000, 3, '$small')");
ok(wait_samples($node, $daves, 2), 'dave\'s job runs while dave may connect');
$node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($daves)");
ok($node->poll_query_until('postgres', "SELECT status = 'paused' FROM heimdall_gen.jobs WHERE job_id = $daves"),
	'paused');
$node->safe_psql('postgres', 'REVOKE CONNECT ON DATABASE postgres FROM dave');
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT heimdall_gen.resume_job($daves)");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($daves, '60 s')"), 'failed',
	'resumed after dave lost CONNECT: the job fails');
like(job_row($node, $daves, 'error'), qr/may not connect to this database/, 'with the reason');
my $log = slurp_file($node->logfile, $log_offset);
my $died = () = $log =~ /User does not have CONNECT privilege/g;
is($died, 0, 'and no worker was started to die at its connection');
$node->safe_psql('postgres', 'GRANT CONNECT ON DATABASE postgres TO PUBLIC');

# --- a database that allows no connection: the workers of a queued job die at theirs
my $session = $node->background_psql('postgres');
$node->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS false');
$log_offset = -s $node->logfile;
$session->query_safe('SET ROLE alice');
my $waiting = $session->query_safe("SELECT heimdall_gen.start_job('waiting', 5, 4, '$small')");
$session->query_safe('RESET ROLE');
sleep(8);
$log = slurp_file($node->logfile, $log_offset);
my $early_ends = () = $log =~ /the worker of heimdall_gen job $waiting ended before it took the job/g;
my $refused = () = $log =~ /is not currently accepting connections/g;
ok($early_ends >= 2 && $early_ends <= 6,
	"in 8 s, $early_ends workers ended before taking the job, each wait longer (1, 2, 4 s ...)");
ok($refused <= 7, "$refused connections refused in 8 s, not hundreds");
like($session->query_safe("SELECT message FROM heimdall_gen.jobs WHERE job_id = $waiting"),
	qr/^waiting: \d+ workers? in a row ended before taking the job \(the server log says why: a database that allows no connection/,
	'and the job\'s row says why it waits (an attacker\'s review: it said nothing)');
$node->safe_psql('template1', 'ALTER DATABASE postgres ALLOW_CONNECTIONS true');
is($session->query_safe("SELECT heimdall_gen.wait_job($waiting, '60 s')"), 'completed',
	'once the database allows connections, the job runs');
is($session->query_safe("SELECT message FROM heimdall_gen.jobs WHERE job_id = $waiting"), '5 samples in 5 attempts',
	'and the message is its worker\'s');
$session->quit;

# ... but a job paused and resumed while its worker was starting, or after
# that worker took it, before the launcher looked again, is no early end:
# its row tells (a pause, a resume and a claim write it; a worker that died
# at its connection wrote nothing)
$log_offset = -s $node->logfile;
my @paused_early;
for my $i (1 .. 8)
{
	my $job = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('paused_early_$i', 3, $i, '$small')");
	$node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($job); SELECT heimdall_gen.resume_job($job);");
	push @paused_early, $job;
}
is(join(',', map { $node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($_, '60 s')") } @paused_early),
	join(',', ('completed') x 8), 'jobs paused and resumed at once all complete');
$log = slurp_file($node->logfile, $log_offset);
my $early = join('|', @paused_early);
unlike($log, qr/the worker of heimdall_gen job ($early) ended before it took the job/,
	'with no wait for workers that ended before taking them, nor that line in the log');

# --- a LOCK whose relation another session changes while it waits.  An
# ACCESS EXCLUSIVE lock on heimdall_gen.receivers (the table-level grant
# for receiver networks lets any role lock it so) blocks the launcher,
# pg_dump and every role's receiver networks for as long as its holder
# likes.  mallory's LOCK waits for her own table, which a second session
# of hers holds, and changes meanwhile; what the LOCK finally locks is what
# must be checked:
# - the table is dropped, and her search_path (m first) then falls through
#   to heimdall_gen.receivers;
# - the table is dropped and a view over heimdall_gen.receivers made under
#   its name;
# - the table is turned into such a view (CREATE RULE "_RETURN"), keeping
#   its OID.
$node->safe_psql('postgres', q{
	CREATE SCHEMA m AUTHORIZATION mallory;
	SET ROLE mallory;
	CREATE TABLE m.receivers (x int);
	CREATE TABLE m.swap (x int);
	CREATE TABLE m.conv AS SELECT * FROM heimdall_gen.receivers WITH NO DATA;
});
# $role's $statement (in a session with $setup) waits for a lock her other
# session holds in the transaction where it ran $change; once that commits,
# the statement's error is read until it matches $ends.  Returns the
# waiting session and its pid.
sub race_against_change
{
	my ($role, $change, $statement, $setup, $ends, $what) = @_;
	my $changer = $node->background_psql('postgres');
	$changer->query_safe("SET ROLE $role; BEGIN; $change");
	my $waiter = $node->background_psql('postgres', on_error_stop => 0);
	$waiter->query_safe("SET ROLE $role; $setup");
	my $pid = $waiter->query_safe('SELECT pg_backend_pid()');
	$waiter->query_until(qr/sent/, "\\echo sent\n$statement;\n");
	ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_locks WHERE pid = $pid AND NOT granted"),
		"$what: ${role}'s statement waits for her other session");
	$changer->query_safe('COMMIT');
	$changer->quit;
	ok(pump_until($waiter->{run}, $waiter->{timeout}, \$waiter->{stderr}, $ends), "$what: the statement fails");
	return ($waiter, $pid);
}

for my $race (
	[ 'DROP TABLE m.receivers', 'LOCK receivers', qr/permission denied to lock heimdall_gen\.receivers/,
		'the name falls through' ],
	[ 'DROP TABLE m.swap; CREATE VIEW m.swap AS SELECT * FROM heimdall_gen.receivers', 'LOCK m.swap',
		qr/permission denied to lock heimdall_gen\.receivers/, 'a view replaces the table' ],
	[ 'LOCK m.conv; CREATE RULE "_RETURN" AS ON SELECT TO m.conv DO INSTEAD SELECT * FROM heimdall_gen.receivers',
		'LOCK m.conv', qr/permission denied to lock heimdall_gen\.receivers/, 'the table becomes a view' ])
{
	my ($change, $lock, $refused, $what) = @$race;
	my ($locker, $locker_pid) = race_against_change('mallory', $change, "BEGIN; $lock IN ACCESS EXCLUSIVE MODE",
		'SET search_path = m, heimdall_gen', $refused, $what);
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM pg_locks WHERE pid = $locker_pid AND relation = 'heimdall_gen.receivers'::regclass"),
		'0', "$what: and holds no lock on heimdall_gen.receivers");
	$locker->quit;
}
# --- the same race against the statements PostgreSQL lets wait for a lock
# on a relation before it checks the caller's rights (CREATE RULE, a
# foreign key's referenced table, ALTER INDEX ... DEPENDS ON EXTENSION):
# mallory's statement names her own relation, checked and found not ours,
# and waits for it; her other session drops it, and her search_path (m
# first) falls through to heimdall_gen's.  A third session holds the
# ordinary locks any use of heimdall_gen.jobs takes (its indexes too), so
# a statement that went on to heimdall_gen.jobs would queue there, with
# every worker, the launcher and every start_job behind it (found by an
# attacker's review).  The statement must fail on the name it was checked
# with, and hold or wait for nothing on heimdall_gen's.
$node->safe_psql('postgres', q{
	SET ROLE mallory;
	CREATE TABLE m.jobs (job_id bigint PRIMARY KEY);	-- and so an index m.jobs_pkey
	CREATE TABLE m.fk (a bigint);
});
my $user_of_jobs = $node->background_psql('postgres');
$user_of_jobs->query_safe(
	'BEGIN; LOCK heimdall_gen.jobs IN ROW EXCLUSIVE MODE; SELECT * FROM heimdall_gen.jobs WHERE job_id = 0');
for my $race (
	[ 'DROP TABLE m.jobs', 'CREATE RULE r AS ON INSERT TO jobs DO INSTEAD NOTHING', 'CREATE RULE' ],
	[ 'CREATE TABLE m.jobs (job_id bigint PRIMARY KEY)', undef, undef ],
	[ 'DROP TABLE m.jobs', 'ALTER TABLE m.fk ADD FOREIGN KEY (a) REFERENCES jobs', 'a foreign key' ],
	[ 'CREATE TABLE m.jobs (job_id bigint PRIMARY KEY)', undef, undef ],
	[ 'DROP TABLE m.jobs', 'ALTER INDEX jobs_pkey DEPENDS ON EXTENSION plpgsql', 'ALTER INDEX DEPENDS' ])
{
	my ($change, $statement, $what) = @$race;
	if (!defined $statement)
	{
		$node->safe_psql('postgres', "SET ROLE mallory; $change");	# set the stage again
		next;
	}
	my ($waiter, $waiter_pid) = race_against_change('mallory', $change, $statement,
		"SET search_path = m, heimdall_gen; SET lock_timeout = '20s'", qr/ERROR:.*(does not exist|lock timeout)/, $what);
	like($waiter->{stderr}, qr/relation "m\.jobs(_pkey)?" does not exist/,
		"$what: on the name it was checked with, not queued on heimdall_gen's (it would end by lock timeout)");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			  WHERE l.pid = $waiter_pid AND c.relnamespace = 'heimdall_gen'::regnamespace AND l.mode <> 'AccessShareLock'"),
		'0', "$what: and holds no strong lock on heimdall_gen's relations");
	$waiter->quit;
}
$user_of_jobs->quit;
my $after = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('after_lock_race', 3, 5, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($after, '60 s')"), 'completed', 'jobs still run');

# --- one role's queue is bounded (heimdall_gen.max_queued_jobs_per_role):
# start_job, materialize and resume_job refuse a job beyond it, naming the
# setting, and undo that job; other roles' queues are their own
$node->safe_psql('postgres', 'CREATE ROLE quentin LOGIN; ALTER SYSTEM SET heimdall_gen.max_queued_jobs_per_role = 3; '
	  . 'SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', 'SHOW heimdall_gen.max_queued_jobs_per_role', '3'), 'a limit of 3 queued jobs');
($rc, $out, $err) = $node->psql('postgres', qq{
\\set VERBOSITY verbose
SET ROLE quentin;
BEGIN;
SELECT heimdall_gen.start_job('quota_' || i, 5, i, '$small') FROM generate_series(1, 3) i;
SAVEPOINT at_limit;
SELECT heimdall_gen.start_job('quota_4', 5, 4, '$small');
ROLLBACK TO at_limit;
SELECT 'after_start: queued=' || count(*) || ', quota_4=' || (SELECT count(*) FROM heimdall_gen.datasets WHERE name = 'quota_4')
  FROM heimdall_gen.jobs WHERE status = 'queued';
SELECT heimdall_gen.pause_job(max(job_id)) FROM heimdall_gen.jobs;
SELECT heimdall_gen.start_job('quota_5', 5, 5, '$small');
SAVEPOINT at_limit;
SELECT heimdall_gen.resume_job(min(job_id)) FROM heimdall_gen.jobs WHERE status = 'paused';
ROLLBACK TO at_limit;
SELECT 'after_resume: queued=' || count(*) FILTER (WHERE status = 'queued') || ', paused=' || count(*) FILTER (WHERE status = 'paused')
  FROM heimdall_gen.jobs;
ROLLBACK;
}, on_error_stop => 0);
my @refusals = $err =~ /ERROR:  53400: role "quentin" may have at most 3 queued jobs \(heimdall_gen.max_queued_jobs_per_role\)/g;
is(scalar @refusals, 2, 'a fourth queued job is refused (53400, naming the setting), by start_job and by resume_job');
like($out, qr/after_start: queued=3, quota_4=0/, 'the refused start_job left no dataset and no job');
like($out, qr/after_resume: queued=3, paused=1/, 'the refused resume_job left its job paused');
my $others = $node->safe_psql('postgres', "SET ROLE alice; SELECT heimdall_gen.start_job('quota_other', 3, 1, '$small')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($others, '60 s')"), 'completed', 'another role queues and runs');
# ... and two sessions of the role at once count each other's jobs: the
# second start_job waits for the first session's transaction (the role's
# queue lock), then sees its three jobs.  quentin runs one long job, and
# max_workers_per_role = 1 keeps the others queued.
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.max_workers_per_role = 1; SELECT pg_reload_conf()');
ok($node->poll_query_until('postgres', 'SHOW heimdall_gen.max_workers_per_role', '1'), 'one running job per role');
my $long = $node->safe_psql('postgres', "SET ROLE quentin; SELECT heimdall_gen.start_job('quota_long', 100000, 9, '$small')");
ok(wait_samples($node, $long, 1), 'quentin runs one job');
my ($second) = race_against_change('quentin',
	"SELECT heimdall_gen.start_job('quota_c' || i, 5, i, '$small') FROM generate_series(1, 3) i",
	"SELECT heimdall_gen.start_job('quota_c4', 5, 4, '$small')", 'SET client_min_messages = error',
	qr/may have at most 3 queued jobs.*\n.*queued job number 4/s,
	'queue limit, two sessions');
$second->quit;
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.datasets WHERE name = 'quota_c4'"), '0',
	'which left nothing behind');
$node->safe_psql('postgres', 'SELECT heimdall_gen.cancel_job(job_id, wait => true) FROM heimdall_gen.jobs '
	  . "WHERE owner = 'quentin'::regrole AND status IN ('queued', 'running')");
$node->safe_psql('postgres', 'ALTER SYSTEM RESET heimdall_gen.max_queued_jobs_per_role; '
	  . 'ALTER SYSTEM RESET heimdall_gen.max_workers_per_role; SELECT pg_reload_conf()');

$node->stop;
done_testing();
