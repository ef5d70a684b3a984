# Dump and restore: pg_dump (custom format and plain) of a database whose
# datasets are completed, being written, queued and paused, restored into a
# fresh database of the same cluster (pg_restore) and into a second cluster
# (psql), both listed in heimdall_gen.database.  Every dataset comes back
# byte for byte with its seed, params and owner; the job that was running
# is resumed by the launcher (one restart counted), the queued one runs, the
# paused one stays paused until resumed; each then equals an uninterrupted
# run of the same seed; new ids continue past the restored ones.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use IPC::Run ();
use lib $FindBin::RealBin;
use HeimdallTest;

my $P = $HeimdallTest::SMALL;
my $src = hg_node('dump_src',
	'heimdall_gen.database' => "'postgres,restored'",
	'heimdall_gen.max_workers' => 1,
	'heimdall_gen.batch_size' => 3);
my $tmp = PostgreSQL::Test::Utils::tempdir;

$src->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
});
sub start_as
{
	my ($node, $db, $role, $ds, $n, $seed) = @_;
	return $node->safe_psql($db, "SET ROLE $role; SELECT heimdall_gen.start_job('$ds', $n, $seed, '$P')");
}
sub wait_final
{
	my ($node, $db, $job) = @_;
	return $node->safe_psql($db, "SELECT heimdall_gen.wait_job($job, '300 s')");
}

# completed datasets of two roles, then one paused, one running, one queued
my $ja = start_as($src, 'postgres', 'alice', 'done_a', 12, 101);
my $jb = start_as($src, 'postgres', 'bob', 'done_b', 8, 202);
is(wait_final($src, 'postgres', $ja), 'completed', 'done_a completed');
is(wait_final($src, 'postgres', $jb), 'completed', 'done_b completed');

# slow (at least 6 s for 30 samples, however fast the machine): still running when dumped
$src->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 200');
$src->reload;
# a job of alice's paused once it has committed a batch
sub paused_after_a_batch
{
	my ($ds, $seed) = @_;
	my $job = start_as($src, 'postgres', 'alice', $ds, 30, $seed);
	ok($src->poll_query_until('postgres', "SELECT samples_done >= 3 FROM heimdall_gen.jobs WHERE job_id = $job"),
		"$ds has committed a batch");
	$src->safe_psql('postgres', "SELECT heimdall_gen.pause_job($job)");
	ok(wait_no_worker($src, $job), "$ds paused");
	return $job;
}
my $jp = paused_after_a_batch('paused_ds', 303);
my $jr = start_as($src, 'postgres', 'bob', 'running_ds', 30, 404);
ok($src->poll_query_until('postgres', "SELECT samples_done >= 3 FROM heimdall_gen.jobs WHERE job_id = $jr"),
	'running_ds has committed a batch');
my $jq = start_as($src, 'postgres', 'alice', 'queued_ds', 6, 505);
is(job_row($src, $jq, 'status'), 'queued', 'queued_ds waits (one worker slot)');

# both dumps while running_ds is being written
my @conn = ('-h', $src->host, '-p', $src->port);
command_ok(['pg_dump', @conn, '-Fc', '-f', "$tmp/db.dump", 'postgres'], 'pg_dump -Fc');
command_ok(['pg_dump', @conn, '-f', "$tmp/db.sql", 'postgres'], 'pg_dump plain');
command_ok(['pg_dumpall', @conn, '--globals-only', '-f', "$tmp/globals.sql"], 'pg_dumpall --globals-only');
is(job_row($src, $jr, 'status') . '/' . job_row($src, $jq, 'status'), 'running/queued', 'both dumps saw running_ds running, queued_ds queued');

# what the source held when dumped is what the custom dump holds: read it back from a restore
my @names = qw(done_a done_b paused_ds running_ds queued_ds);
my $meta_sql = "SELECT string_agg(concat_ws('|', name, owner, seed, params::text, model_version), E'\\n' ORDER BY name) "
  . "FROM heimdall_gen.datasets";
my %at_dump = map { $_ => HeimdallTest::checksum_in($src, 'postgres', $_) } qw(done_a done_b paused_ds);
my $meta_src = $src->safe_psql('postgres', $meta_sql);

# --- restore into a fresh database of the same cluster
$src->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok(['pg_restore', @conn, '--single-transaction', '--exit-on-error', '-d', 'restored', "$tmp/db.dump"],
	'pg_restore --single-transaction into a fresh database');

# --- and into a database no launcher serves: its jobs stay as they were, and
# a wait without a timeout is refused rather than left to wait for ever
$src->safe_psql('postgres', 'CREATE DATABASE unserved');
command_ok(['pg_restore', @conn, '--single-transaction', '--exit-on-error', '-d', 'unserved', "$tmp/db.dump"],
	'pg_restore into a database that is not in heimdall_gen.database');
my ($ret, $out, $err) = $src->psql('unserved', "SELECT heimdall_gen.wait_job($jr)");
like($err, qr/ERROR:  job $jr is running, and database "unserved" has no heimdall_gen launcher/,
	'unserved: wait_job without a timeout on a running job is refused');
is($src->safe_psql('unserved', "SELECT heimdall_gen.wait_job($jr, '0 s')"), 'running',
	'unserved: with a timeout it reads the status');
is($src->safe_psql('unserved', "SELECT heimdall_gen.wait_job($ja)"), 'completed',
	'unserved: a completed job is waited for as anywhere');
# heimdall-gen watch asks the server the same: it waited for ever (a user's
# review); -P: the build's heimdall_gen.so in the working directory is no module
{
	local $ENV{PYTHONPATH} = "$FindBin::RealBin/../../python";
	my @watch = ('python3', '-P', '-m', 'heimdall_gen.cli', '--dsn',
		'host=' . $src->host . ' port=' . $src->port . ' dbname=unserved', 'watch', '--quiet', '--timeout', '60');
	my ($stdout, $stderr) = ('', '');
	my $started = time;
	my $rc = IPC::Run::run([ @watch, $jr ], '>', \$stdout, '2>', \$stderr) ? 0 : $? >> 8;
	is($rc, 1, 'unserved: heimdall-gen watch of the running job exits 1 ...');
	like($stderr, qr/job $jr will not end: job $jr is running, and database "unserved" has no heimdall_gen launcher/,
		'... saying why, at once (' . (time - $started) . ' s), not at its timeout');
	$rc = IPC::Run::run([ @watch, $ja ], '>', \$stdout, '2>', \$stderr) ? 0 : $? >> 8;
	is($rc, 0, 'unserved: watch of a completed job exits 0');
}

# --- and into a second cluster: roles first (they are global), then the plain dump
my $dst = hg_node('dump_dst', 'heimdall_gen.database' => "'postgres,moved'", 'heimdall_gen.max_workers' => 2);
# the globals hold a CREATE ROLE for roles the new cluster has already (its superuser): not an error to stop at
$dst->psql('postgres', slurp_file("$tmp/globals.sql"));
$dst->safe_psql('postgres', 'CREATE DATABASE moved');
command_ok(['psql', '-h', $dst->host, '-p', $dst->port, '-X', '-q', '--single-transaction', '-v', 'ON_ERROR_STOP=1',
	'-d', 'moved', '-f', "$tmp/db.sql"], 'psql --single-transaction of the plain dump into another cluster');

# references: uninterrupted runs, and the source's own jobs run to the end
$src->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 0');
$src->reload;
my %ref;
for my $r (['paused_ds', 30, 303], ['running_ds', 30, 404], ['queued_ds', 6, 505])
{
	my ($name, $n, $seed) = @$r;
	my $j = start_as($src, 'postgres', 'postgres', "ref_$name", $n, $seed);
	is(wait_final($src, 'postgres', $j), 'completed', "reference for $name");
	$ref{$name} = HeimdallTest::checksum_in($src, 'postgres', "ref_$name");
}
$ref{done_a} = $at_dump{done_a};
$ref{done_b} = $at_dump{done_b};

for my $t ([$src, 'restored', 'pg_restore -Fc, same cluster'], [$dst, 'moved', 'plain dump, another cluster'])
{
	my ($node, $db, $how) = @$t;
	my $meta = $node->safe_psql($db, $meta_sql);
	is($meta, $meta_src, "$how: every dataset's name, owner, seed, params and model version");
	is(HeimdallTest::checksum_in($node, $db, $_), $at_dump{$_}, "$how: $_ byte for byte") for qw(done_a done_b);
	like(HeimdallTest::checksum_in($node, $db, 'paused_ds'), qr/^[1-9]\d* samples/, "$how: paused_ds's committed samples");
	is(HeimdallTest::checksum_in($node, $db, 'paused_ds'), $at_dump{paused_ds}, "$how: paused_ds byte for byte");
	is($node->safe_psql($db, "SELECT string_agg(j.status || ':' || j.owner, ',' ORDER BY job_id) FROM heimdall_gen.jobs j"
						. " WHERE job_id IN ($ja, $jb)"), 'completed:alice,completed:bob', "$how: completed jobs and their owners");

	# running at dump time: resumed by the launcher, counting a restart; queued: runs
	is(wait_final($node, $db, $jr), 'completed', "$how: the job running at dump time completes");
	is($node->safe_psql($db, "SELECT restarts FROM heimdall_gen.jobs WHERE job_id = $jr"), '1',
		"$how: ... as a resumption (one restart)");
	is(wait_final($node, $db, $jq), 'completed', "$how: the queued job completes");
	is($node->safe_psql($db, "SELECT status FROM heimdall_gen.jobs WHERE job_id = $jp"), 'paused',
		"$how: the paused job stays paused");
	is($node->safe_psql($db, "SET ROLE alice; SELECT heimdall_gen.resume_job($jp)"), 't', "$how: its owner resumes it");
	is(wait_final($node, $db, $jp), 'completed', "$how: and it completes");
	is(HeimdallTest::checksum_in($node, $db, $_), $ref{$_}, "$how: $_ equals an uninterrupted run")
	  for qw(paused_ds running_ds queued_ds);

	# ids continue past the restored ones
	my ($max_job, $max_ds) = split /\|/, $node->safe_psql($db,
		'SELECT (SELECT max(job_id) FROM heimdall_gen.jobs), (SELECT max(dataset_id) FROM heimdall_gen.datasets)');
	my $jn = start_as($node, $db, 'bob', 'after_restore', 3, 606);
	ok($jn > $max_job, "$how: a new job id ($jn) continues past the restored ones ($max_job)");
	ok($node->safe_psql($db, "SELECT dataset_id FROM heimdall_gen.datasets WHERE name = 'after_restore'") > $max_ds,
		"$how: so does a new dataset id");
	is(wait_final($node, $db, $jn), 'completed', "$how: a new job runs");
	# an extension of a restored dataset continues it
	my $je = start_as($node, $db, 'alice', 'done_a', 4, 'NULL');
	is(wait_final($node, $db, $je), 'completed', "$how: extending a restored dataset");
	like(HeimdallTest::checksum_in($node, $db, 'done_a'), qr/^16 samples/, "$how: done_a now holds 16 samples");
}

# the source: every job ran to the end and equals its reference there too
is(wait_final($src, 'postgres', $jr), 'completed', 'source: running_ds completes');
is(HeimdallTest::checksum_in($src, 'postgres', 'running_ds'), $ref{running_ds}, 'source: running_ds as the reference');

# rows lost outside the extension, as in a restore that failed part way
# (pg_restore -j loads samples before the datasets they reference, and
# those COPYs fail: an operator's review), fail the job when it resumes,
# saying so, rather than let it "complete" a dataset with a hole
$src->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 200');
$src->reload;
# a paused job of alice's, some rows of its dataset deleted by $delete
# (given the dataset's name), resumed: how it ends
sub resumed_after_losing
{
	my ($ds, $seed, $delete) = @_;
	my $job = paused_after_a_batch($ds, $seed);
	$src->safe_psql('postgres', sprintf($delete, $ds));
	$src->safe_psql('postgres', "SET ROLE alice; SELECT heimdall_gen.resume_job($job)");
	return ($job, wait_final($src, 'postgres', $job));
}
my ($jh, $holed_end) = resumed_after_losing('holed_ds', 707, q{
	DELETE FROM heimdall_gen.samples s USING heimdall_gen.datasets d
	 WHERE d.dataset_id = s.dataset_id AND d.name = '%s'
	   AND s.sample_idx = (SELECT min(x.sample_idx) FROM heimdall_gen.samples x WHERE x.dataset_id = d.dataset_id)});
is($holed_end, 'failed', 'a job whose committed samples are not all there fails when resumed');
my ($stored, $committed) = job_row($src, $jh, 'error') =~ /holds (\d+) of the (\d+) samples this job committed/;
ok(defined $committed && $stored == $committed - 1, 'its error counts what is missing')
  or diag(job_row($src, $jh, 'error'));
like(job_row($src, $jh, 'error'), qr/as by a restore that failed part way \(pg_restore -j\)/, 'and says what may have lost it');

# the receptions, which a restore can lose without the samples (their own
# COPY failing, or --exclude-table-data): the last committed sample's are counted
my ($ju, $unreceived_end) = resumed_after_losing('unreceived_ds', 808, q{
	DELETE FROM heimdall_gen.receptions r USING heimdall_gen.datasets d
	 WHERE d.dataset_id = r.dataset_id AND d.name = '%s'
	   AND r.sample_idx = (SELECT max(x.sample_idx) FROM heimdall_gen.samples x WHERE x.dataset_id = d.dataset_id)});
is($unreceived_end, 'failed', 'a job whose last sample lost its receptions fails when resumed');
like(job_row($src, $ju, 'error'), qr/last committed sample \(sample_idx \d+\) has 0 of its \d+ receptions/,
	'its error says which sample and how many');

$dst->stop;
$src->stop;
done_testing();
