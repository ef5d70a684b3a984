# NOTIFY events on the owner's private channel (heimdall_gen.event_channel()),
# as a client that LISTENs sees them: every status change of a job in order
# (queued, running, then completed or cancelled, each once), progress events
# in between at most a few times a second, and every payload valid JSON
# naming its job.  Meanwhile another role LISTENs on the old public channel
# and on its own: it hears nothing of these jobs.  And a NOTIFY queue that a
# listener keeps from emptying stops no job: above
# heimdall_gen.event_queue_limit no event is sent, and every call goes on.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes ();
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $node = hg_node('events', 'heimdall_gen.sample_delay_ms' => 20, 'heimdall_gen.batch_size' => 2);

# A DO block for a psql script: wait (up to 60 s) until the job of dataset
# $name has $condition (over its jobs row j); each statement sees the
# latest commits.  The waits must run in the listening session itself.
sub wait_in_session
{
	my ($name, $condition) = @_;
	return qq{DO \$\$
BEGIN
	FOR i IN 1 .. 1200 LOOP
		EXIT WHEN (SELECT $condition FROM heimdall_gen.jobs j JOIN heimdall_gen.datasets d USING (dataset_id)
				   WHERE d.name = '$name');
		PERFORM pg_sleep(0.05);
	END LOOP;
END
\$\$;
};
}

# The payloads of the notifications on a private channel that psql printed in $psql_out, in order.
sub payloads_heard
{
	my ($psql_out) = @_;
	return $psql_out =~ /^Asynchronous notification "heimdall_gen_[0-9a-f]{32}" with payload "(.*)" received/mg;
}

# The status changes of $job among them.
sub statuses_heard
{
	my ($psql_out, $job) = @_;
	my @heard = map { decode_json($_) } payloads_heard($psql_out);
	return join(',', map { $_->{status} } grep { $_->{job_id} == $job && $_->{event} eq 'status' } @heard);
}

# The eavesdropper: another role, listening wherever it can while the jobs run.
$node->safe_psql('postgres', 'CREATE ROLE eve LOGIN');
my ($eve_out, $eve_err) = ('', '');
my $eve_in = q{
SELECT heimdall_gen.event_channel() AS eve_channel \gset
LISTEN heimdall_gen;
LISTEN :eve_channel;
SELECT 'others_channels=' || count(*) FROM heimdall_gen.event_channels WHERE role_id <> heimdall_gen.current_role_id();
DO $$
BEGIN
	FOR i IN 1 .. 240 LOOP
		PERFORM pg_stat_clear_snapshot();
		EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'eve_may_stop');
		PERFORM pg_sleep(0.5);
	END LOOP;
END
$$;
SELECT 'eve done';
};
# (a variable, not a constant: IPC::Run consumes what it has written)
my $eve = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' user=eve' ],
	'<', \$eve_in, '>', \$eve_out, '2>', \$eve_err, IPC::Run::timeout(180));
# IPC::Run feeds the script only when pumped: until eve listens
$eve->pump until $eve_out =~ /others_channels=/;

# One session listens, runs a job to completion and cancels another; psql
# prints the notifications it received after each statement.
my ($out, $err) = ('', '');
$node->psql('postgres', q{
SELECT heimdall_gen.event_channel() AS channel \gset
LISTEN :channel;
SELECT heimdall_gen.start_job('events_done', 40, 1, '} . $HeimdallTest::SMALL . q{') AS done_job \gset
SELECT heimdall_gen.wait_job(:done_job, '120 s');
SELECT heimdall_gen.start_job('events_cancel', 100000, 2, '} . $HeimdallTest::SMALL . q{') AS cancel_job \gset
} . wait_in_session('events_cancel', 'j.samples_done >= 4') . q{
SELECT heimdall_gen.cancel_job(:cancel_job, wait => true);
SELECT pg_sleep(0.5);
SELECT 'done_job=' || :done_job, 'cancel_job=' || :cancel_job;
}, stdout => \$out, stderr => \$err, on_error_die => 1);
$node->psql('postgres', 'SELECT pg_sleep(2)',
	connstr => $node->connstr('postgres') . ' application_name=eve_may_stop', on_error_die => 1);
$eve->finish;
like($eve_out, qr/eve done/, 'the eavesdropper listened all along');
like($eve_out, qr/others_channels=0/, 'it reads no other role\'s channel name');
unlike($eve_out, qr/Asynchronous notification/, 'and hears nothing of another role\'s jobs');
unlike($eve_out, qr/events_done|events_cancel/, 'not even a dataset name');

my ($done_job) = $out =~ /done_job=(\d+)/;
my ($cancel_job) = $out =~ /cancel_job=(\d+)/;
ok($done_job && $cancel_job, "both jobs started ($done_job, $cancel_job)");
ok($node->safe_psql('postgres', "SELECT samples_done > 0 FROM heimdall_gen.jobs WHERE job_id = $cancel_job"),
	'the cancelled job had committed samples');

# every notification on our channel, in the order received
my @events;
for my $payload (payloads_heard($out))
{
	my $event = eval { decode_json($payload) };
	ok($event, "payload is JSON: $payload") or next;
	push @events, $event;
}
ok(@events >= 7, scalar(@events) . ' events received');

is(statuses_heard($out, $done_job), 'queued,running,completed', 'completed job: each status change once, in order');
is(statuses_heard($out, $cancel_job), 'queued,running,cancelled', 'cancelled job: each status change once, in order');

# progress: between running and the end, monotonic, at most ~4 per second
my @progress = grep { $_->{job_id} == $done_job && $_->{event} eq 'progress' } @events;
ok(@progress >= 1, scalar(@progress) . ' progress events for the completed job');
my @done = map { $_->{samples_done} } @progress;
is_deeply([@done], [sort { $a <=> $b } @done], 'progress samples_done never goes back');
my $seconds = $node->safe_psql('postgres',
	"SELECT extract(epoch FROM finished_at - started_at) FROM heimdall_gen.jobs WHERE job_id = $done_job");
ok(@progress <= 4 * $seconds + 2,
	scalar(@progress) . " progress events in $seconds s: at most a few per second");
my ($first_progress) = grep { $events[$_]->{event} eq 'progress' && $events[$_]->{job_id} == $done_job } 0 .. $#events;
my ($completed) = grep { ($events[$_]->{status} // '') eq 'completed' } 0 .. $#events;
my ($running) = grep { ($events[$_]->{status} // '') eq 'running' && $events[$_]->{job_id} == $done_job } 0 .. $#events;
ok($running < $first_progress && $first_progress < $completed, 'progress comes between running and completed');
my ($final) = grep { $_->{job_id} == $done_job && ($_->{status} // '') eq 'completed' } @events;
is($final->{samples_done}, 40, 'the completed event says how far the job got');

# a hand UPDATE of the status of a job no worker runs (queued or paused) is
# an event too, and its row says how far the job got; such UPDATEs by the
# job's owner (the extension's own functions send their events themselves)
$node->safe_psql('postgres', 'CREATE ROLE hand LOGIN');
my ($hand_out, $hand_err) = ('', '');
$node->psql('postgres', q{
SET ROLE hand;
SELECT heimdall_gen.event_channel() AS channel \gset
LISTEN :channel;
BEGIN;
SELECT heimdall_gen.start_job('hand_queued', 100000, 3, '} . $HeimdallTest::SMALL . q{') AS hand_job \gset
UPDATE heimdall_gen.jobs SET status = 'paused' WHERE job_id = :hand_job;
COMMIT;
UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = :hand_job;
SELECT pg_sleep(0.2);
SELECT 'hand_job=' || :hand_job;
}, stdout => \$hand_out, stderr => \$hand_err, on_error_die => 1);
my ($hand_job) = $hand_out =~ /hand_job=(\d+)/;
is(statuses_heard($hand_out, $hand_job), 'queued,paused,cancelled',
	'hand pause and hand cancel of a job without worker: each an event, in order');
is($node->safe_psql('postgres', "SELECT status || ': ' || message FROM heimdall_gen.jobs WHERE job_id = $hand_job"),
	'cancelled: cancelled at 0 of 100000 samples', 'and the row says how far it got');

# ... by the role that owns the extension as well (one role doing everything,
# the usual setup): the trigger knows the extension's own statements from
# the library, not from the role they run as.  And the extension's own
# commands, run by that role, are still heard once each.
my ($own_out, $own_err) = ('', '');
$node->psql('postgres', q{
SELECT heimdall_gen.event_channel() AS channel \gset
LISTEN :channel;
BEGIN;
SELECT heimdall_gen.start_job('owner_hand', 100000, 3, '} . $HeimdallTest::SMALL . q{') AS hand_job \gset
UPDATE heimdall_gen.jobs SET status = 'paused' WHERE job_id = :hand_job;
SELECT heimdall_gen.start_job('owner_commands', 100000, 3, '} . $HeimdallTest::SMALL . q{') AS command_job \gset
SELECT heimdall_gen.pause_job(:command_job);
COMMIT;
UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = :hand_job;
SELECT heimdall_gen.resume_job(:command_job);
SELECT heimdall_gen.cancel_job(:command_job);
SELECT pg_sleep(0.2);
SELECT 'jobs=' || :hand_job || ',' || :command_job;
}, stdout => \$own_out, stderr => \$own_err, on_error_die => 1);
my ($owner_hand_job, $owner_command_job) = $own_out =~ /jobs=(\d+),(\d+)/;
is($node->safe_psql('postgres', q{SELECT pg_catalog.pg_get_userbyid(extowner) FROM pg_extension WHERE extname = 'heimdall_gen'}),
	'postgres', 'those statements ran as the role that owns the extension');
is(statuses_heard($own_out, $owner_hand_job), 'queued,paused,cancelled',
	"the extension owner's hand pause and hand cancel: each an event, in order");
like(statuses_heard($own_out, $owner_command_job), qr/^queued,paused,queued,(running,)?cancelled$/,
	"the extension's own commands: each status heard once, none twice");

# --- a NOTIFY queue that no listener empties stops nothing
# A session that LISTENs and stays in a transaction keeps the server's
# NOTIFY queue from emptying; any role can then fill it, and a NOTIFY that
# finds it full fails its transaction's commit.  Filling its 8 GB is beyond
# a test, so the limit is lowered below what a few notifications occupy:
# above it no event may be sent, and every path that sends one must go on
# (a worker's claim, batches and end, start_job, pause_job, resume_job,
# cancel_job, a hand status UPDATE).  With the events sent regardless (the
# 0.4.0 behaviour) the owner below hears them, and the test fails.
$node->safe_psql('postgres', 'CREATE ROLE stuck LOGIN; CREATE ROLE queued_owner LOGIN');
my ($stuck_out, $stuck_err) = ('', '');
my $stuck_in = "LISTEN anything;\nBEGIN;\nSELECT 'stuck_in_transaction';\n";
my $stuck = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres') . ' user=stuck' ],
	'<', \$stuck_in, '>', \$stuck_out, '2>', \$stuck_err, IPC::Run::timeout(300));
$stuck->pump until $stuck_out =~ /stuck_in_transaction/;
# (payloads differ: a transaction's duplicate notifications are sent once)
$node->safe_psql('postgres', "SELECT count(pg_notify('filler', i || repeat('x', 7000))) FROM generate_series(1, 20) i",
	extra_params => [ '-U', 'stuck' ]);
my $usage = $node->safe_psql('postgres', 'SELECT pg_notification_queue_usage()');
ok($usage > 1e-5, "the queue holds what the stuck listener has not read (usage $usage)");
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.event_queue_limit = 1e-6');
$node->reload;
my $log_offset = -s $node->logfile;

my ($q_out, $q_err) = ('', '');
$node->psql('postgres', q{
SET ROLE queued_owner;
SELECT heimdall_gen.event_channel() AS channel \gset
LISTEN :channel;
SELECT heimdall_gen.start_job('queue_full_done', 10, 4, '} . $HeimdallTest::SMALL . q{') AS full_done \gset
SELECT 'done=' || heimdall_gen.wait_job(:full_done, '120 s');
SELECT heimdall_gen.start_job('queue_full_paused', 100000, 5, '} . $HeimdallTest::SMALL . q{') AS full_paused \gset
} . wait_in_session('queue_full_paused', 'j.samples_done >= 2') . q{
SELECT 'paused=' || heimdall_gen.pause_job(:full_paused);
} . wait_in_session('queue_full_paused', "j.status = 'paused'") . q{
SELECT 'paused_status=' || heimdall_gen.wait_job(:full_paused, '0 s');
SELECT 'resumed=' || heimdall_gen.resume_job(:full_paused);
SELECT 'cancelled=' || heimdall_gen.cancel_job(:full_paused, wait => true);
SELECT heimdall_gen.start_job('queue_full_hand', 100000, 6, '} . $HeimdallTest::SMALL . q{') AS full_hand \gset
UPDATE heimdall_gen.jobs SET status = 'cancelled' WHERE job_id = :full_hand AND status = 'queued';
SELECT pg_sleep(0.3);
SELECT 'has_room=' || heimdall_gen.event_queue_has_room();
SELECT 'jobs=' || :full_done || ',' || :full_paused || ',' || :full_hand;
}, stdout => \$q_out, stderr => \$q_err, on_error_die => 1);
my ($full_done, $full_paused, $full_hand) = $q_out =~ /jobs=(\d+),(\d+),(\d+)/;
ok($full_done, 'every call went through with the queue over the limit');
like($q_out, qr/done=completed/, 'a job runs to its end');
like($q_out, qr/paused=t.*paused_status=paused.*resumed=t.*cancelled=t/s, 'pause, resume and cancel work');
is($node->safe_psql('postgres', "SELECT string_agg(status, ',' ORDER BY job_id) FROM heimdall_gen.jobs "
	  . "WHERE job_id IN ($full_done, $full_paused, $full_hand)"),
	'completed,cancelled,cancelled', 'the jobs table holds every status');
unlike($q_out, qr/Asynchronous notification/, 'no event was sent while the queue was over the limit');
like($q_out, qr/has_room=false/, 'event_queue_has_room() says so');
like($q_err, qr/WARNING:  heimdall_gen sends no job events while the NOTIFY queue is/,
	'the caller is told why');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/too many notifications|terminated by signal|exited with exit code 1/,
	'no commit failed, no worker or launcher died');

# the listener lets go: the queue drains, and events flow again
$stuck_in .= "COMMIT;\n\\q\n";
$stuck->finish;
my $drained = 0;
for (1 .. 100)
{
	last if ($drained = $node->safe_psql('postgres', 'SELECT pg_notification_queue_usage() = 0') eq 't');
	Time::HiRes::usleep(100_000);
}
ok($drained, 'the queue drained once the listener committed');
is($node->safe_psql('postgres', 'SELECT heimdall_gen.event_queue_has_room()'), 't', 'event_queue_has_room() again');
($q_out, $q_err) = ('', '');
$node->psql('postgres', q{
SET ROLE queued_owner;
SELECT heimdall_gen.event_channel() AS channel \gset
LISTEN :channel;
SELECT heimdall_gen.start_job('queue_free_done', 5, 7, '} . $HeimdallTest::SMALL . q{') AS free_done \gset
SELECT heimdall_gen.wait_job(:free_done, '120 s');
SELECT pg_sleep(0.3);
SELECT 'free_done=' || :free_done;
}, stdout => \$q_out, stderr => \$q_err, on_error_die => 1);
my ($free_done) = $q_out =~ /free_done=(\d+)/;
is(statuses_heard($q_out, $free_done), 'queued,running,completed', 'with room again, every status change is an event');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET heimdall_gen.event_queue_limit');
$node->reload;

# --- a role's own uncommitted channel stops no one else.  A role whose jobs
# started while the queue was over the limit has no channel yet; a session
# of it that asks for one (event_channel() makes it) and stays in its
# transaction holds that row uncommitted.  The worker, the launcher and an
# admin's cancel made the channel too, and so waited for that transaction
# without end: the launcher stopped for every role, the worker sat in its
# slot holding its job's row (found by an attacker's review).  They only
# read channels now: no listener can know a channel not yet made.  (Without
# a queue limit: the limit's lock is on the role's channel row, which
# start_job then makes.)
$node->safe_psql('postgres', 'CREATE ROLE chanless LOGIN');
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.event_queue_limit = 0');	# even an empty queue is full
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.max_queued_jobs_per_role = 0');
$node->reload;
ok($node->poll_query_until('postgres', "SELECT current_setting('heimdall_gen.event_queue_limit') = '0' "
		  . "AND current_setting('heimdall_gen.max_queued_jobs_per_role') = '0'"),
	'no room for events, and no queue limit');
my $cl_job = $node->safe_psql('postgres',
	"SET ROLE chanless; SELECT heimdall_gen.start_job('chanless_job', 100000, 3, '$HeimdallTest::SMALL')");
ok(wait_samples($node, $cl_job, 2), 'a job of a role without a channel runs');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.event_channels WHERE role_id = 'chanless'::regrole"),
	'0', 'the role has no channel (its start_job sent no event)');
my $channel_maker = $node->background_psql('postgres');
$channel_maker->query_safe('SET ROLE chanless; BEGIN; SELECT heimdall_gen.event_channel()');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET heimdall_gen.event_queue_limit');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET heimdall_gen.max_queued_jobs_per_role');
$node->reload;
ok($node->poll_query_until('postgres', 'SELECT heimdall_gen.event_queue_has_room()'), 'room again');
my $cl_at = live_samples($node, $cl_job);
ok(wait_samples($node, $cl_job, $cl_at + 60), 'its worker goes on past its progress events (1.2 s of samples)');
my $beside = hg_start_job($node, 'beside_chanless', 3, 4, $HeimdallTest::SMALL);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($beside, '60 s')"), 'completed',
	"another role's job starts and completes meanwhile");
my (undef, $cl_cancel) = $node->psql('postgres',
	"SET statement_timeout = '30s'; SELECT heimdall_gen.cancel_job($cl_job, wait => true)");
is($cl_cancel, 't', "an admin's cancel of the job returns");
$channel_maker->query_safe('COMMIT');
$channel_maker->quit;

$node->stop;
done_testing();
