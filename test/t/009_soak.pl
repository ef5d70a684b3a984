# A random soak: three concurrent jobs (on two worker slots) and a seeded
# random sequence of at least 300 operations: new jobs, cancel (with and
# without wait), pause, resume, hand UPDATEs of the status, pg_terminate_backend
# and kill -9 of a worker, pg_terminate_backend of the launcher (also right
# after it was woken to start a worker), fast and immediate restarts,
# drop_dataset of a finished dataset, extending a finished dataset.  Every
# pid signalled is verified first: a heimdall_gen worker or launcher of this
# test's own cluster (pg_stat_activity on it, and the postmaster's child).
#
# After every operation: a final status never changes; stored samples =
# samples_done for every dataset; and, within a bound: every slot has a
# live worker, every worker holds a slot of a running job, no job runs
# without a worker, no job stays queued while a slot is free.  At the end
# every job reaches a final status (paused ones are resumed), and every
# dataset equals an uninterrupted run of its seed, params and size.  Prints
# its seed (HG_SOAK_SEED=<seed> repeats the sequence), the operations, the
# restarts and the violations; any violation fails it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $seed = $ENV{HG_SOAK_SEED} // int(rand(2**31));
srand($seed);
diag("soak seed $seed (HG_SOAK_SEED=$seed repeats it)");
my $MIN_OPS = $ENV{HG_SOAK_OPS} // 300;
my $MAX_SECONDS = 420;		# hard stop, whatever happens
my $BOUND = 25;				# seconds within which the eventual properties must hold
my $P = '{"duration_ms": 10, "rx_count_min": 4, "rx_count_max": 5}';

my $node = hg_node('soak',
	'heimdall_gen.max_workers' => 2,
	'heimdall_gen.batch_size' => 3,
	'heimdall_gen.max_restarts' => 100,
	'heimdall_gen.sample_delay_ms' => 60);

my (@violations, %final, %dropped_job, %op_count);
my ($ops, $server_restarts, $next_ds) = (0, 0, 0);
my $t_start = time;

sub violation
{
	my ($what) = @_;
	push @violations, "op $ops: $what";
	diag("VIOLATION op $ops: $what");
}

# psql that does not die: (ok, stdout, stderr)
sub pq
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 1);
	return ($ret == 0, $out // '', $err // '');
}

sub rows
{
	my ($sql) = @_;
	my ($ok, $out, $err) = pq($sql);
	violation("query failed: $err ($sql)") unless $ok;
	return map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $out;
}

sub wait_server
{
	$node->poll_query_until('postgres', 'SELECT true') or violation('server did not come back');
}

# an operation's error: expected refusals are fine, a crash or an internal error is not
sub op_sql
{
	my ($sql) = @_;
	my ($ok, $out, $err) = pq($sql);
	if (!$ok && $err =~ /server closed the connection|terminating connection|XX000|internal error|PANIC/)
	{
		violation("operation failed badly: $err");
		wait_server();
	}
	return ($ok, $out, $err);
}

sub jobs_where
{
	my ($cond) = @_;
	return map { $_->[0] } rows("SELECT job_id FROM heimdall_gen.jobs WHERE $cond ORDER BY job_id");
}
sub pick { return @_ ? $_[ int(rand(@_)) ] : undef }

# pids of this cluster's workers / launcher, each checked to be a child of its postmaster
sub verified_pids
{
	my ($type) = @_;
	my $pm = $node->{_pid};
	my @pids;
	for my $r (rows("SELECT pid FROM pg_stat_activity WHERE backend_type = 'heimdall_gen $type'"))
	{
		my $pid = $r->[0];
		open(my $fh, '<', "/proc/$pid/status") or next;
		my ($ppid) = map { /^PPid:\s+(\d+)/ ? $1 : () } <$fh>;
		close $fh;
		push @pids, $pid if defined $ppid && defined $pm && $ppid == $pm;
	}
	return @pids;
}

# ---------------------------------------------------------------------------
# the operations
# ---------------------------------------------------------------------------
sub op_new_job
{
	my $name = 'ds_' . $next_ds++;
	my ($n, $s) = (20 + int(rand(50)), int(rand(1_000_000)));
	my ($ok, $out, $err) = op_sql("SELECT heimdall_gen.start_job('$name', $n, $s, '$P')");
	return "new job $out: $name, $n samples" . ($ok ? '' : " refused: $err");
}
sub op_cancel
{
	my $j = pick(jobs_where("status IN ('queued', 'running', 'paused')")) // return op_new_job();
	my $wait = rand() < 0.4 ? 'true' : 'false';
	my ($ok, $out, $err) = op_sql("SELECT heimdall_gen.cancel_job($j, wait => $wait)");
	return "cancel $j (wait $wait): $out$err";
}
sub op_pause
{
	my $j = pick(jobs_where("status IN ('queued', 'running')")) // return op_new_job();
	my ($ok, $out, $err) = op_sql("SELECT heimdall_gen.pause_job($j)");
	return "pause $j: $out$err";
}
sub op_resume
{
	my $j = pick(jobs_where("status = 'paused'")) // return op_pause();
	my ($ok, $out, $err) = op_sql("SELECT heimdall_gen.resume_job($j)");
	return "resume $j: $out$err";
}
sub op_hand_update
{
	my $j = pick(jobs_where("status IN ('queued', 'running', 'paused')")) // return op_new_job();
	my $to = rand() < 0.5 ? 'cancelled' : 'paused';
	my ($ok, $out, $err) = op_sql("UPDATE heimdall_gen.jobs SET status = '$to' WHERE job_id = $j "
		  . "AND status IN ('queued', 'running', 'paused')");
	return "hand UPDATE $j to $to: " . ($ok ? 'done' : $err);
}
sub op_terminate_worker
{
	my $pid = pick(verified_pids('worker')) // return op_new_job();
	my ($ok, $out, $err) = op_sql("SELECT pg_terminate_backend($pid)");
	return "pg_terminate_backend(worker $pid): $out";
}
sub op_kill9_worker
{
	my $pid = pick(verified_pids('worker')) // return op_new_job();
	kill('KILL', $pid);
	$server_restarts++;
	wait_server();
	return "kill -9 worker $pid";
}
sub op_terminate_launcher
{
	my ($pid) = verified_pids('launcher');
	return op_new_job() unless $pid;
	# sometimes right after waking it to start a worker (the job is committed, the launcher registers its worker)
	my $j = pick(jobs_where("status = 'paused'"));
	my $sql = "SELECT pg_terminate_backend($pid)";
	my $what = "pg_terminate_backend(launcher $pid)";
	if (defined $j && rand() < 0.7)
	{
		$sql = "SELECT heimdall_gen.resume_job($j);\nSELECT pg_terminate_backend($pid)";
		$what = "resume $j, then at once $what";
	}
	op_sql($sql);
	return $what;
}
sub op_restart
{
	my $mode = rand() < 0.5 ? 'fast' : 'immediate';
	$node->stop($mode);
	$node->start;
	$server_restarts++;
	return "$mode restart";
}
sub op_drop_dataset
{
	my ($d) = pick(map { $_->[0] } rows("SELECT name FROM heimdall_gen.datasets d WHERE name LIKE 'ds\\_%' AND NOT EXISTS "
		  . "(SELECT 1 FROM heimdall_gen.jobs j WHERE j.dataset_id = d.dataset_id AND j.status IN ('queued', 'running', 'paused'))"));
	return op_new_job() unless defined $d;
	my @its = map { $_->[0] } rows("SELECT job_id FROM heimdall_gen.jobs j JOIN heimdall_gen.datasets d USING (dataset_id) "
		  . "WHERE d.name = '$d'");
	my ($ok, $out, $err) = op_sql("SELECT heimdall_gen.drop_dataset('$d')");
	if ($ok) { $dropped_job{$_} = 1 for @its; }
	return "drop_dataset $d: $out$err";
}
sub op_extend
{
	my ($d) = pick(map { $_->[0] } rows("SELECT name FROM heimdall_gen.datasets d WHERE name LIKE 'ds\\_%' AND NOT EXISTS "
		  . "(SELECT 1 FROM heimdall_gen.jobs j WHERE j.dataset_id = d.dataset_id AND j.status IN ('queued', 'running', 'paused'))"));
	return op_new_job() unless defined $d;
	my $n = 5 + int(rand(25));
	my ($ok, $out, $err) = op_sql("SELECT heimdall_gen.start_job(name, $n, NULL, params) FROM heimdall_gen.datasets "
		  . "WHERE name = '$d'");
	return "extend $d by $n: job $out$err";
}

# weights: the cheap operations often, the restarts now and then
my @menu = (
	[ \&op_new_job, 10, 'new job' ], [ \&op_cancel, 8, 'cancel' ], [ \&op_pause, 10, 'pause' ],
	[ \&op_resume, 14, 'resume' ], [ \&op_hand_update, 8, 'hand update' ],
	[ \&op_terminate_worker, 6, 'terminate worker' ], [ \&op_kill9_worker, 3, 'kill -9 worker' ],
	[ \&op_terminate_launcher, 5, 'terminate launcher' ], [ \&op_restart, 3, 'restart' ],
	[ \&op_drop_dataset, 4, 'drop dataset' ], [ \&op_extend, 6, 'extend' ]);
my $total_weight = 0;
$total_weight += $_->[1] for @menu;

# ---------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------
my $EVENTUAL = q{
WITH s AS (SELECT * FROM heimdall_gen.worker_slots()),
	 w AS (SELECT pid FROM pg_stat_activity WHERE backend_type = 'heimdall_gen worker')
SELECT 'E', x, NULL, NULL FROM (
	SELECT 'slot of job ' || s.job_id || ' has no live worker (pid ' || coalesce(s.pid::text, 'none') || ')' AS x
	  FROM s WHERE s.pid IS NULL OR s.pid NOT IN (SELECT pid FROM w)
	UNION ALL
	SELECT 'worker ' || w.pid || ' holds no slot' FROM w WHERE w.pid NOT IN (SELECT pid FROM s WHERE pid IS NOT NULL)
	UNION ALL
	SELECT 'the worker of job ' || j.job_id || ' runs on while the job is ' || j.status
	  FROM s JOIN heimdall_gen.jobs j USING (job_id) WHERE j.status NOT IN ('queued', 'running')
	UNION ALL
	SELECT 'job ' || j.job_id || ' is running without a worker' FROM heimdall_gen.jobs j
	 WHERE j.status = 'running' AND j.job_id NOT IN (SELECT job_id FROM s)
	UNION ALL
	SELECT 'job ' || j.job_id || ' stays queued while a slot is free' FROM heimdall_gen.jobs j
	 WHERE j.status = 'queued' AND (SELECT count(*) FROM s) < 2
) v};

# One query, one snapshot: every job's status (J), datasets whose stored
# samples differ from their jobs' samples_done (D), the jobs alive (A) and
# the eventual properties not holding yet (E).  Returns alive, and the E lines.
sub check_now
{
	my @r = rows(q{SELECT 'J', job_id::text, status, NULL FROM heimdall_gen.jobs
		UNION ALL
		SELECT 'D', name, stored::text, done::text FROM (
			SELECT d.name, (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = d.dataset_id) AS stored,
				   (SELECT coalesce(sum(samples_done), 0) FROM heimdall_gen.jobs j WHERE j.dataset_id = d.dataset_id) AS done
			  FROM heimdall_gen.datasets d) c WHERE stored <> done
		UNION ALL
		SELECT 'A', count(*)::text, NULL, NULL FROM heimdall_gen.jobs WHERE status IN ('queued', 'running', 'paused')
		UNION ALL
		SELECT * FROM (} . $EVENTUAL . q{) e});
	my (%seen, @pending);
	my $alive = 0;
	for my $r (@r)
	{
		my ($tag, @v) = @$r;
		if ($tag eq 'J')
		{
			my ($j, $st) = @v;
			$seen{$j} = 1;
			violation("job $j changed from final $final{$j} to $st") if exists $final{$j} && $final{$j} ne $st;
			$final{$j} //= $st if $st =~ /^(completed|failed|cancelled)$/;
		}
		elsif ($tag eq 'D') { violation("dataset $v[0] stores $v[1] samples, its jobs say $v[2]"); }
		elsif ($tag eq 'A') { $alive = $v[0]; }
		elsif ($tag eq 'E') { push @pending, $v[0]; }
	}
	# a failed query returned nothing: the next check sees the truth
	if (@r)
	{
		violation("job $_ ($final{$_}) vanished") for grep { !$seen{$_} && !$dropped_job{$_} } keys %final;
	}
	return ($alive, @pending);
}

sub check_eventually
{
	my (@pending) = @_;
	my $deadline = time + $BOUND;
	while (@pending)
	{
		if (time > $deadline)
		{
			violation("after ${BOUND} s: " . join('; ', @pending));
			return;
		}
		sleep 0.1;
		my ($ok, $out, $err) = pq($EVENTUAL);
		@pending = $ok ? map { (split /\|/)[1] } grep { length } split /\n/, $out : ($err);
	}
}

# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------
op_new_job() for 1 .. 3;
my ($alive) = check_now();
while ($ops < $MIN_OPS && time - $t_start < $MAX_SECONDS)
{
	# three concurrent jobs: when fewer are alive, a new one first
	my $op;
	if ($alive < 3 && rand() < 0.5)
	{
		$op = $menu[0];
	}
	else
	{
		my $r = rand($total_weight);
		for my $m (@menu) { $op = $m; last if ($r -= $m->[1]) < 0; }
	}
	$ops++;
	$op_count{ $op->[2] }++;
	my $what = $op->[0]->();
	note(sprintf('op %d at %.1f s: %s', $ops, time - $t_start, $what));
	my @pending;
	($alive, @pending) = check_now();
	check_eventually(@pending);
	sleep(rand(0.1));
}
my $soak_seconds = time - $t_start;
ok($ops >= $MIN_OPS, "$ops operations in " . sprintf('%.0f', $soak_seconds) . " s (at least $MIN_OPS)");

# ---------------------------------------------------------------------------
# the end: everything finishes, every dataset equals its reference
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 0');
$node->reload;
pq("SELECT heimdall_gen.resume_job(job_id) FROM heimdall_gen.jobs WHERE status = 'paused'");
for my $j (jobs_where("status IN ('queued', 'running', 'paused')"))
{
	my ($ok, $st) = pq("SELECT heimdall_gen.wait_job($j, '120 s')");
	violation("job $j is stuck: $st") unless $st =~ /^(completed|failed|cancelled)$/;
}
my (undef, @still) = check_now();
check_eventually(@still);
my $job_restarts = (rows('SELECT coalesce(sum(restarts), 0) FROM heimdall_gen.jobs'))[0][0];
my %by_status = map { $_->[0] => $_->[1] } rows('SELECT status, count(*) FROM heimdall_gen.jobs GROUP BY status');

# references: each dataset regenerated in one uninterrupted job of its size
my @ds = rows(q{SELECT name, (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = d.dataset_id)
				  FROM heimdall_gen.datasets d WHERE name LIKE 'ds\_%' ORDER BY dataset_id});
my @with_samples = grep { $_->[1] > 0 } @ds;
pq("SELECT heimdall_gen.start_job('ref_' || name, $_->[1], seed, params) FROM heimdall_gen.datasets WHERE name = '$_->[0]'")
  for @with_samples;
for my $j (jobs_where("status IN ('queued', 'running')"))
{
	my ($ok, $st) = pq("SELECT heimdall_gen.wait_job($j, '300 s')");
	violation("reference job $j: $st") unless $st eq 'completed';
}
my $compared = 0;
for my $d (@with_samples)
{
	my $got = HeimdallTest::checksum_in($node, 'postgres', $d->[0]);
	my $want = HeimdallTest::checksum_in($node, 'postgres', "ref_$d->[0]");
	$compared++;
	violation("dataset $d->[0] ($got) differs from its uninterrupted reference ($want)") if $got ne $want;
}
my $completed_ds = (rows(q{SELECT count(*) FROM heimdall_gen.datasets d WHERE name LIKE 'ds\_%' AND NOT EXISTS
	(SELECT 1 FROM heimdall_gen.jobs j WHERE j.dataset_id = d.dataset_id AND j.status <> 'completed')}))[0][0];

diag(sprintf('soak: seed %d, %d operations in %.0f s (%s)', $seed, $ops, $soak_seconds,
	join(', ', map { "$_ $op_count{$_}" } sort keys %op_count)));
diag(sprintf('soak: %d server restarts (kill -9, fast, immediate), %d job restarts counted; jobs: %s',
	$server_restarts, $job_restarts, join(', ', map { "$_ $by_status{$_}" } sort keys %by_status)));
diag(sprintf('soak: %d datasets (%d all-completed, %d dropped jobs), %d compared with an uninterrupted run; violations: %d',
	scalar(@ds), $completed_ds, scalar(keys %dropped_job), $compared, scalar(@violations)));
is(scalar(@violations), 0, 'no violations') or diag(join("\n", @violations));
ok($compared >= 10, "at least 10 datasets compared byte for byte ($compared)");

$node->stop;
done_testing();
