# A worker whose WAL buffers fill while the WAL writer holds the WAL write
# lock (its write and fsync, 100-300 ms on a busy disk) waits between rows, on
# its latch, where a cancel reaches it, not on that lock inside a row's insert
# (a cancel traced at 220 ms had spent 213 of them there).  The WAL writer is
# held at its next write by gdb (a breakpoint on the C library's pwrite64,
# which it calls from XLogWrite, holding WALWriteLock) for HOLD_S seconds: the
# worker stops writing with at most about half of wal_buffers unwritten (so
# that what a cancel writes still fits), waits on its latch (wait event
# Extension, not LWLock WALWrite), and cancel_job(wait => true) returns long
# before the WAL writer is let go.  Before, the cancel took the rest of the
# hold: the worker was inside an insert, on that lock, and so was cancel_job's
# own UPDATE (the worker had filled the buffers while the WAL writer slept,
# and a full 1 MB of WAL was unwritten when the hold began).
# Then the WAL writer stopped outright (gdb attached, no breakpoint, the lock
# free): the worker waits for it 5 s, then writes its WAL itself and logs it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $HOLD_S = 20;

# Yama's ptrace_scope 1 or more lets gdb attach only to its own children (or as root)
my $scope_file = '/proc/sys/kernel/yama/ptrace_scope';
my $scope = -e $scope_file ? slurp_file($scope_file) + 0 : 0;
plan skip_all => "kernel.yama.ptrace_scope is $scope: gdb may not attach to the WAL writer (0 lets it)"
  if $scope > 0;

# a small wal_buffers: the worker reaches half of it within milliseconds
my $node = hg_node('wal_room', wal_buffers => '1MB', 'heimdall_gen.max_workers' => 1);
my $walwriter = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'");
like($walwriter, qr/^\d+$/, "the WAL writer's pid, read from the server");

# Runs gdb on the WAL writer with these commands (signals passed on, not
# stopped at) and waits until its output matches $ready: returns gdb, the
# file its output goes to, and the time it matched (undef after 30 s).
sub gdb_on_wal_writer
{
	my ($file, $ready, @commands) = @_;
	my $out = $node->basedir . "/$file";
	my $harness = IPC::Run::start(
		[
			'gdb', '-p', $walwriter, '-batch', '-nx',
			'-ex', 'handle SIGUSR1 SIGUSR2 SIGURG SIGALRM SIGPIPE SIGHUP nostop noprint pass',
			map { ('-ex', $_) } @commands
		],
		'<', \undef, '>', $out, '2>&1');
	for (1 .. 600)
	{
		return ($harness, $out, time) if -e $out && slurp_file($out) =~ $ready;
		usleep(50_000);
	}
	return ($harness, $out, undef);
}

my $job = hg_start_job($node, 'wal_room', 100000, 1, '{"rx_count_min": 7, "rx_count_max": 7}');
ok(wait_samples($node, $job, 3), 'the job writes samples');
my $worker = worker_pid($node, $job);
like($worker, qr/^\d+$/, "its worker's pid");

# gdb (a process of this test) holds the WAL writer of this test's cluster
# at its next write of WAL, then removes the breakpoint and lets it go
my ($gdb, $gdb_out, $held_at) = gdb_on_wal_writer('gdb.out', qr/Breakpoint 1, /,
	'break pwrite64', 'continue', "shell sleep $HOLD_S", 'delete', 'detach');
ok(defined $held_at, 'the WAL writer is held in its write of WAL, holding the WAL write lock')
  or diag(-e $gdb_out ? slurp_file($gdb_out) : 'no gdb output');

# the worker stops writing: its WAL buffers are half full of WAL nobody can write out
my $stalled_at = live_samples($node, $job);
usleep(1_000_000);
is(live_samples($node, $job), $stalled_at, 'the worker writes no sample while the WAL writer is held');
is($node->safe_psql('postgres', "SELECT wait_event_type || ' ' || wait_event FROM pg_stat_activity WHERE pid = $worker"),
	'Extension Extension', 'it waits on its latch, not on the WAL write lock');
my $unwritten = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn() - pg_current_wal_lsn()');
cmp_ok($unwritten, '<', 768 * 1024,
	"with room left in the 1 MB of WAL buffers ($unwritten bytes unwritten: half, and at most a row more)");

# a commit that waits for no WAL flush: the WAL writer holds the lock a flush needs
my $started = time;
my ($out, $err) = ('', '');
my $cancel = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		"SET synchronous_commit = off; SELECT heimdall_gen.cancel_job($job, wait => true)"
	],
	'<', \undef, '>', \$out, '2>', \$err);
# what each process of the server waits on, every half second while the
# cancel runs: shown if it takes long (the step that waited for the WAL writer)
my (@waits, $took);
my $next_look = $started + 0.5;
while ($cancel->pumpable && time - $started < 3 * $HOLD_S)
{
	$cancel->pump_nb;
	if (time >= $next_look && @waits < 20)
	{
		push @waits, sprintf("%.2f s: %s", time - $started, $node->safe_psql('postgres',
			"SELECT string_agg(format('%s %s %s/%s %s', pid, backend_type, wait_event_type, wait_event, "
			  . "left(query, 60)), '; ' ORDER BY pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"));
		$next_look = time + 0.5;
	}
	usleep(5_000);
}
$cancel->finish;
$took = time - $started;
chomp $out;
is($out, 't', 'cancel_job(wait => true) succeeds') or diag($err);
cmp_ok($took, '<', 5, sprintf('and returns while the WAL writer is still held (%.2f s; held %d s)', $took, $HOLD_S))
  or diag(join("\n", @waits));
cmp_ok(time - $held_at, '<', $HOLD_S, 'the hold was still on when it returned');
ok(!-e "/proc/$worker", 'the worker is gone');

$gdb->finish;
like(slurp_file($gdb_out), qr/\[Inferior 1 \(process \d+\) detached\]/, 'gdb let the WAL writer go');
is($node->safe_psql('postgres', "SELECT status FROM heimdall_gen.jobs WHERE job_id = $job"), 'cancelled',
	'the job is cancelled');
my $next = hg_start_job($node, 'wal_room_after', 20, 2);
ok($node->poll_query_until('postgres', "SELECT status = 'completed' FROM heimdall_gen.jobs WHERE job_id = $next"),
	'and the server goes on: a new job completes');

# A WAL writer that does not run at all (stopped by gdb, between two rounds,
# the lock free): the worker waits for it STALL_MS (5 s), then writes its
# WAL itself, as before this wait existed, and says so in the log.
my $STOP_S = 12;
my $stopped_job = hg_start_job($node, 'wal_writer_stopped', 100000, 3, '{"rx_count_min": 7, "rx_count_max": 7}');
ok(wait_samples($node, $stopped_job, 3), 'a job writes samples');
my $log_offset = -s $node->logfile;
my ($gdb_stop, $gdb_stop_out, $stopped_at) = gdb_on_wal_writer('gdb_stop.out', qr/^stopped$/m,
	'echo stopped\n', "shell sleep $STOP_S", 'detach');
ok(defined $stopped_at, 'the WAL writer is stopped (gdb attached), holding no lock')
  or diag(-e $gdb_stop_out ? slurp_file($gdb_stop_out) : 'no gdb output');
usleep(1_000_000);		# (a sample under way when it stopped is written first)
my $before = live_samples($node, $stopped_job);
usleep(2_000_000);
is(live_samples($node, $stopped_job), $before, 'the worker first waits for the WAL writer');
my $went_on = 0;
while (time - $stopped_at < $STOP_S - 2)
{
	$went_on = 1, last if live_samples($node, $stopped_job) > $before + 2;
	usleep(200_000);
}
ok($went_on, sprintf('then writes on while the WAL writer is still stopped (%.1f s after it stopped)', time - $stopped_at));
like(substr(slurp_file($node->logfile), $log_offset),
	qr/the WAL writer wrote nothing for 5000 ms while the WAL buffers filled; this worker writes its WAL itself/,
	'and says so in the log');
is($node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($stopped_job, wait => true)"), 't', 'the job is cancelled');
$gdb_stop->finish;
like(slurp_file($gdb_stop_out), qr/\[Inferior 1 \(process \d+\) detached\]/, 'gdb let the WAL writer go');

$node->stop;
done_testing();
