# A worker whose WAL buffers fill while the WAL writer holds the WAL write
# lock (its write and fsync, 100-300 ms on a busy disk) waits between rows, on
# its latch, where a cancel reaches it, not on that lock inside a row's insert
# (a cancel traced at 220 ms had spent 213 of them there).  The WAL writer is
# held at its next write by gdb (a breakpoint on the C library's pwrite64,
# which it calls from XLogWrite, holding WALWriteLock) for HOLD_S seconds: the worker stops writing,
# waits on its latch (wait event Extension, not LWLock WALWrite), and
# cancel_job(wait => true) returns long before the WAL writer is let go.  It
# took the rest of the hold before (the worker was inside the insert).
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

# a small wal_buffers: the worker reaches half of it within milliseconds
my $node = hg_node('wal_room', wal_buffers => '1MB', 'heimdall_gen.max_workers' => 1);
my $walwriter = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'");
like($walwriter, qr/^\d+$/, "the WAL writer's pid, read from the server");

my $job = hg_start_job($node, 'wal_room', 100000, 1, '{"rx_count_min": 7, "rx_count_max": 7}');
ok(wait_samples($node, $job, 3), 'the job writes samples');
my $worker = worker_pid($node, $job);
like($worker, qr/^\d+$/, "its worker's pid");

# gdb (a process of this test) holds the WAL writer of this test's cluster
# at its next write of WAL, then removes the breakpoint and lets it go
my $gdb_out = $node->basedir . '/gdb.out';
my $gdb = IPC::Run::start(
	[
		'gdb', '-p', $walwriter, '-batch', '-nx',
		'-ex', 'handle SIGUSR1 SIGUSR2 SIGURG SIGALRM SIGPIPE SIGHUP nostop noprint pass',
		'-ex', 'break pwrite64',
		'-ex', 'continue',
		'-ex', "shell sleep $HOLD_S",
		'-ex', 'delete',
		'-ex', 'detach'
	],
	'<', \undef, '>', $gdb_out, '2>&1');
my $held_at;
for (1 .. 600)
{
	if (-e $gdb_out && slurp_file($gdb_out) =~ /Breakpoint 1, /)
	{
		$held_at = time;
		last;
	}
	usleep(50_000);
}
ok(defined $held_at, 'the WAL writer is held in its write of WAL, holding the WAL write lock')
  or diag(-e $gdb_out ? slurp_file($gdb_out) : 'no gdb output');

# the worker stops writing: its WAL buffers are half full of WAL nobody can write out
my $stalled_at = live_samples($node, $job);
usleep(1_000_000);
is(live_samples($node, $job), $stalled_at, 'the worker writes no sample while the WAL writer is held');
is($node->safe_psql('postgres', "SELECT wait_event_type || ' ' || wait_event FROM pg_stat_activity WHERE pid = $worker"),
	'Extension Extension', 'it waits on its latch, not on the WAL write lock');

# a commit that waits for no WAL flush: the WAL writer holds the lock a flush needs
my $started = time;
my ($rc, $out, $err) = $node->psql('postgres',
	"SET synchronous_commit = off; SELECT heimdall_gen.cancel_job($job, wait => true)");
my $took = time - $started;
is($out, 't', 'cancel_job(wait => true) succeeds') or diag($err);
cmp_ok($took, '<', 5, sprintf('and returns while the WAL writer is still held (%.2f s; held %d s)', $took, $HOLD_S));
cmp_ok(time - $held_at, '<', $HOLD_S, 'the hold was still on when it returned');
ok(!-e "/proc/$worker", 'the worker is gone');

$gdb->finish;
like(slurp_file($gdb_out), qr/\[Inferior 1 \(process \d+\) detached\]/, 'gdb let the WAL writer go');
is($node->safe_psql('postgres', "SELECT status FROM heimdall_gen.jobs WHERE job_id = $job"), 'cancelled',
	'the job is cancelled');
my $next = hg_start_job($node, 'wal_room_after', 20, 2);
ok($node->poll_query_until('postgres', "SELECT status = 'completed' FROM heimdall_gen.jobs WHERE job_id = $next"),
	'and the server goes on: a new job completes');

$node->stop;
done_testing();
