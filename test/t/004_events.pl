# NOTIFY events on the owner's private channel (heimdall_gen.event_channel()),
# as a client that LISTENs sees them: every status change of a job in order
# (queued, running, then completed or cancelled, each once), progress events
# in between at most a few times a second, and every payload valid JSON
# naming its job.  Meanwhile another role LISTENs on the old public channel
# and on its own: it hears nothing of these jobs.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $node = hg_node('events', 'heimdall_gen.sample_delay_ms' => 20, 'heimdall_gen.batch_size' => 2);

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
DO $$
BEGIN
	-- until the job has committed a few samples (each statement sees the latest commits)
	FOR i IN 1 .. 1200 LOOP
		EXIT WHEN (SELECT j.samples_done FROM heimdall_gen.jobs j JOIN heimdall_gen.datasets d USING (dataset_id)
				   WHERE d.name = 'events_cancel') >= 4;
		PERFORM pg_sleep(0.05);
	END LOOP;
END
$$;
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
for my $line (split /\n/, $out)
{
	next unless $line =~ /^Asynchronous notification "heimdall_gen_[0-9a-f]{32}" with payload "(.*)" received/;
	my $payload = $1;
	my $event = eval { decode_json($payload) };
	ok($event, "payload is JSON: $payload") or next;
	push @events, $event;
}
ok(@events >= 7, scalar(@events) . ' events received');

sub statuses_of
{
	my ($job) = @_;
	return join(',', map { $_->{status} } grep { $_->{job_id} == $job && $_->{event} eq 'status' } @events);
}
is(statuses_of($done_job), 'queued,running,completed', 'completed job: each status change once, in order');
is(statuses_of($cancel_job), 'queued,running,cancelled', 'cancelled job: each status change once, in order');

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
my @hand_events = map { decode_json($_) } $hand_out =~ /^Asynchronous notification "heimdall_gen_[0-9a-f]{32}" with payload "(.*)" received/mg;
is(join(',', map { $_->{status} } grep { $_->{job_id} == $hand_job && $_->{event} eq 'status' } @hand_events),
	'queued,paused,cancelled', 'hand pause and hand cancel of a job without worker: each an event, in order');
is($node->safe_psql('postgres', "SELECT status || ': ' || message FROM heimdall_gen.jobs WHERE job_id = $hand_job"),
	'cancelled: cancelled at 0 of 100000 samples', 'and the row says how far it got');

$node->stop;
done_testing();
