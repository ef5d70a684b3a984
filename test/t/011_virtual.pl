# Virtual datasets: a virtual job stores labels only, and iq() regenerates
# every reception to the byte of the stored dataset of the same (params,
# seed): per modulation, with every optional effect on, in every receiver
# layout.  The number of model threads changes no byte; neither do kill -9
# and pause/resume of a virtual job.  A scan calling iq() runs in parallel
# workers with the same result; materialize() then free_iq() round-trips,
# a tampered stored reception makes free_iq() refuse; a dataset of another
# model version cannot be regenerated.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $node = hg_node('virtual', 'heimdall_gen.batch_size' => 3, 'heimdall_gen.model_threads' => 2,
	max_parallel_workers => 4);

sub run_job
{
	my ($name, $n, $seed, $params) = @_;
	my $job = hg_start_job($node, $name, $n, $seed, $params);
	is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')"), 'completed', "$name completes");
	return $job;
}

# labels and IQ through iq(), in (sample_idx, rx_idx) order: the same query for any dataset
sub read_checksum
{
	my ($name) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) || ' rows, ' || md5(string_agg(concat_ws(':', r.sample_idx, r.rx_idx, r.rx_power_dbm,
				r.delay_s, r.freq_offset_hz, r.snr_db, s.tx_lat, s.gdop, s.modulation, s.split,
				md5(heimdall_gen.iq(r.dataset_id, r.sample_idx, r.rx_idx))), ',' ORDER BY r.sample_idx, r.rx_idx))
		  FROM heimdall_gen.receptions r JOIN heimdall_gen.samples s USING (dataset_id, sample_idx)
		  JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = '$name'});
}

my $effects = '"atmospheric_absorption": true, "tropo_ducting": true, "sporadic_e": true, '
  . '"polarization_mismatch": true, "multipath": true, "block_fading": true';
my @layouts = ('"rx_layout": "uniform"', '"rx_layout": "hexagonal"',
	'"fixed_receivers": [{"name": "a", "lat": 44.2, "lon": 7.3}, {"name": "b", "lat": 45.8, "lon": 7.5, "antenna": "yagi", "azimuth_deg": 120}, '
	  . '{"name": "c", "lat": 45.0, "lon": 9.8, "antenna": "log_periodic"}, {"name": "d", "lat": 44.5, "lon": 8.9}]');
my @mods = qw(fm am cw fsk bpsk qpsk);
for my $i (0 .. $#mods)
{
	my $weights = join(', ', map { "\"weight_$_\": " . ($_ eq $mods[$i] ? 1 : 0) } @mods);
	my $params = "{\"duration_ms\": 10, \"rx_count_min\": 4, \"rx_count_max\": 5, $weights, $effects, $layouts[$i % 3]}";
	run_job("stored_$mods[$i]", 4, 100 + $i, $params);
	my $vparams = $params =~ s/^\{/{"iq_storage": "virtual", /r;
	run_job("virtual_$mods[$i]", 4, 100 + $i, $vparams);
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d
		USING (dataset_id) WHERE d.name = 'virtual_$mods[$i]' AND r.iq IS NOT NULL}), '0',
		"virtual_$mods[$i] stores no IQ");
	is(read_checksum("virtual_$mods[$i]"), read_checksum("stored_$mods[$i]"),
		"$mods[$i], all effects, layout " . ($i % 3) . ': iq() of the virtual dataset equals the stored bytes');
}

# model threads: 1, 2 and 4 give the same bytes
my %by_threads;
for my $threads (1, 2, 4)
{
	$node->safe_psql('postgres', "ALTER SYSTEM SET heimdall_gen.model_threads = $threads; SELECT pg_reload_conf()");
	run_job("threads_$threads", 12, 7, $HeimdallTest::SMALL);
	$by_threads{$threads} = dataset_checksum($node, "threads_$threads");
}
is($by_threads{1}, $by_threads{2}, 'model_threads 1 and 2: identical datasets');
is($by_threads{1}, $by_threads{4}, 'model_threads 1 and 4: identical datasets');
# ... and so does a model_memory that holds fewer workspaces than 4 threads
# want (10): a workspace of SMALL is about 220 kB, 1 MB holds 4, which is 3
# threads; the worker logs it
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', "ALTER SYSTEM SET heimdall_gen.model_memory = '1MB'; SELECT pg_reload_conf()");
run_job('threads_4_in_1MB', 12, 7, $HeimdallTest::SMALL);
$node->safe_psql('postgres', 'ALTER SYSTEM RESET heimdall_gen.model_memory; SELECT pg_reload_conf()');
like(slurp_file($node->logfile, $log_offset),
	qr/runs 3 model thread\(s\) \(heimdall_gen.model_threads = 4\) with 4 workspaces of 2\d\d kB \(heimdall_gen.model_memory = 1024 kB\)/,
	'model_memory 1MB: three model threads and four workspaces, logged');
is(dataset_checksum($node, 'threads_4_in_1MB'), $by_threads{4}, 'and the same dataset as with 4 threads');

# a virtual job killed, then paused and resumed: the labels of an uninterrupted run
my $vsmall = '{"iq_storage": "virtual", "duration_ms": 20, "rx_count_min": 4, "rx_count_max": 6}';
run_job('virtual_ref', 60, 9, $vsmall);
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.sample_delay_ms = 20; SELECT pg_reload_conf()');
my $job = hg_start_job($node, 'virtual_hurt', 60, 9, $vsmall);
ok(wait_samples($node, $job, 10), 'the virtual job runs');
my $pid = worker_pid($node, $job);
is($node->safe_psql('postgres', "SELECT backend_type FROM pg_stat_activity WHERE pid = $pid"), 'heimdall_gen worker',
	"pid $pid is a worker of this cluster");
ok(kill('KILL', $pid), 'kill -9 the virtual job\'s worker');
ok($node->poll_query_until('postgres', "SELECT samples_done >= 25 FROM heimdall_gen.jobs WHERE job_id = $job"),
	'it resumes');
$node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($job)");
ok(wait_no_worker($node, $job), 'paused');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET heimdall_gen.sample_delay_ms; SELECT pg_reload_conf()');
$node->safe_psql('postgres', "SELECT heimdall_gen.resume_job($job)");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')"), 'completed', 'and completes');
is(read_checksum('virtual_hurt'), read_checksum('virtual_ref'), 'kill -9 and pause/resume: identical to the uninterrupted run');

# a parallel scan over iq(): Gather with workers launched, the same bytes
my $vid = $node->safe_psql('postgres', "SELECT dataset_id FROM heimdall_gen.datasets WHERE name = 'virtual_ref'");
my $scan = qq{SELECT md5(string_agg(h, ',' ORDER BY sample_idx, rx_idx)) FROM (
	SELECT r.sample_idx, r.rx_idx, md5(heimdall_gen.iq(r.dataset_id, r.sample_idx, r.rx_idx)) AS h
	  FROM heimdall_gen.receptions r WHERE r.dataset_id = $vid) t};
my $force = 'SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET min_parallel_index_scan_size = 0; '
  . 'SET enable_bitmapscan = off; SET enable_indexscan = off; '
  . 'SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off; ';
my $plan = $node->safe_psql('postgres', $force . "EXPLAIN (ANALYZE, COSTS OFF) $scan");
like($plan, qr/Gather/, 'the scan calling iq() gets a parallel plan');
like($plan, qr/Workers Launched: [12]/, 'with workers launched');
is($node->safe_psql('postgres', $force . $scan),
	$node->safe_psql('postgres', "SET max_parallel_workers_per_gather = 0; $scan"), 'parallel and serial reads agree');

# materialize, then free_iq: the same bytes all along
my $before = read_checksum('virtual_ref');
my $mjob = $node->safe_psql('postgres', "SELECT heimdall_gen.materialize('virtual_ref')");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($mjob, '300 s')"), 'completed', 'materialize completes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d
	USING (dataset_id) WHERE d.name = 'virtual_ref' AND r.iq IS NULL}), '0', 'every reception has its IQ stored');
is(read_checksum('virtual_ref'), $before, 'materialized bytes are the regenerated ones');
ok($node->safe_psql('postgres', "SELECT heimdall_gen.free_iq('virtual_ref')") > 0, 'free_iq frees them again');
is(read_checksum('virtual_ref'), $before, 'and iq() still reads the same bytes');

# free_iq holds the dataset's row until its transaction ends: a start_job
# extending the dataset meanwhile waits, so no job adds IQ that free_iq has
# not compared before freeing it
my $freer = $node->background_psql('postgres');
$freer->query_safe("BEGIN; SELECT heimdall_gen.free_iq('virtual_ref')");
my $extender = $node->background_psql('postgres');
$extender->query_until(qr/sent/, "\\echo sent\nSELECT heimdall_gen.start_job(name, 1, seed, params) FROM heimdall_gen.datasets WHERE name = 'virtual_ref';\n");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE 'SELECT heimdall_gen.start_job(name, 1,%' AND wait_event_type = 'Lock'}),
	'a start_job on the dataset waits for free_iq to commit');
$freer->query_safe('COMMIT');
$freer->quit;
my $extension_job = $extender->query_safe('SELECT 1') =~ /^(\d+)/ ? $1 : 0;
$extender->quit;
ok($extension_job > 0, "then it starts its job ($extension_job)");
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($extension_job, '120 s')"), 'completed', 'which completes');

# a tampered stored reception: free_iq refuses, names it, frees nothing
$node->safe_psql('postgres', q{UPDATE heimdall_gen.receptions SET iq = overlay(iq placing '\x01'::bytea from 9)
	WHERE dataset_id = (SELECT dataset_id FROM heimdall_gen.datasets WHERE name = 'stored_fm')
	  AND (sample_idx, rx_idx) = (SELECT sample_idx, 1 FROM heimdall_gen.samples s JOIN heimdall_gen.datasets d
	       USING (dataset_id) WHERE d.name = 'stored_fm' ORDER BY sample_idx DESC LIMIT 1)});
my ($rc, $out, $err) = $node->psql('postgres', "SELECT heimdall_gen.free_iq('stored_fm')");
like($err, qr/stored IQ of sample \d+, rx_idx 1 of dataset "stored_fm" differs from its regeneration/,
	'free_iq refuses a tampered dataset and names the reception');
is($node->safe_psql('postgres', q{SELECT count(*) FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d
	USING (dataset_id) WHERE d.name = 'stored_fm' AND r.iq IS NULL}), '0', 'nothing was freed');

# a job of the dataset that has not ended, here a paused one: free_iq
# refuses, naming the job and its status (it said "a job", and "being
# written" of a job that writes nothing while paused: a review)
my $paused_job = $node->safe_psql('postgres', q{SELECT heimdall_gen.start_job(name, 100000, seed, params)
	FROM heimdall_gen.datasets WHERE name = 'stored_fm'});
$node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($paused_job)");
($rc, $out, $err) = $node->psql('postgres', "SELECT heimdall_gen.free_iq('stored_fm')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55006: dataset "stored_fm" is being written by job $paused_job\nDETAIL:  Job $paused_job is (paused|queued)\./,
	'free_iq refuses while a job of the dataset is paused, naming the job and its status');
$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($paused_job)");

# another model version: no regeneration, stored IQ still reads
$node->safe_psql('postgres', "UPDATE heimdall_gen.datasets SET model_version = model_version + 1 WHERE name IN ('virtual_am', 'stored_am')");
($rc, $out, $err) = $node->psql('postgres', q{SELECT heimdall_gen.iq(dataset_id, sample_idx, 0) FROM heimdall_gen.samples
	JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'virtual_am' LIMIT 1});
like($err, qr/was generated by model version \d+, this server runs model version \d+/, 'iq() refuses another model version');
like(read_checksum('stored_am'), qr/^\d+ rows, [0-9a-f]{32}$/, 'a stored dataset of another version still reads');

# bad arguments, with their SQLSTATEs (VERBOSITY verbose prints them): a
# sample that is not kept does not exist, as sigmf() says it
($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT heimdall_gen.iq(999999, 0, 0)");
like($err, qr/42704: dataset 999999 does not exist/, 'unknown dataset');
($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n"
	. q{SELECT heimdall_gen.iq(dataset_id, -5, 0) FROM heimdall_gen.datasets WHERE name = 'virtual_ref'});
like($err, qr/42704: sample_idx -5 is not a kept sample of dataset "virtual_ref"/, 'a sample that is not kept');
($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n"
	. q{SELECT heimdall_gen.iq(dataset_id, sample_idx, 99) FROM heimdall_gen.samples
	JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'virtual_ref' LIMIT 1});
like($err, qr/22023: rx_idx must be between 0 and \d+/, 'an rx_idx out of range');
$node->safe_psql('postgres', 'CREATE ROLE other LOGIN');
my $first = $node->safe_psql('postgres', "SELECT min(sample_idx) FROM heimdall_gen.samples WHERE dataset_id = $vid");
($rc, $out, $err) = $node->psql('postgres', "SET ROLE other; SELECT heimdall_gen.iq($vid, $first, 0)");
like($err, qr/dataset $vid does not exist/, 'another role\'s dataset does not exist for it');

# an admin (the superuser here: row-level security shows it every dataset)
# calling free_iq() or materialize() on another role's dataset was told it
# did not exist, though it could read it: now whose it is, and nothing done
my $others_job = $node->safe_psql('postgres', q{SET ROLE other; SELECT heimdall_gen.start_job('others_virtual', 2, 5, '{"duration_ms": 10, "iq_storage": "virtual"}')});
is($node->safe_psql('postgres', "SET ROLE other; SELECT heimdall_gen.wait_job($others_job, '60 s')"), 'completed',
	"another role's virtual dataset");
for my $fn ('free_iq', 'materialize')
{
	($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT heimdall_gen.$fn('others_virtual')");
	like($err, qr/42501: dataset "others_virtual" is not yours: it belongs to role other\n/,
		"$fn() by an admin on another role's dataset names its owner");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM heimdall_gen.jobs j JOIN heimdall_gen.datasets d USING (dataset_id)
	WHERE d.name = 'others_virtual'}), '1', 'and queues no job');
($rc, $out, $err) = $node->psql('postgres', "SET ROLE other; SELECT heimdall_gen.materialize('others_virtual')");
like($out, qr/^\d+$/, "its owner's own materialize() still queues a job") or diag($err);
is($node->safe_psql('postgres', "SET ROLE other; SELECT heimdall_gen.wait_job($out, '60 s')"), 'completed',
	'which fills its IQ');
$node->safe_psql('postgres', 'CREATE ROLE third LOGIN');
($rc, $out, $err) = $node->psql('postgres', "SET ROLE third; SELECT heimdall_gen.free_iq('others_virtual')");
like($err, qr/dataset "others_virtual" does not exist/, 'a role that cannot read it is still told it does not exist');

# the regeneration cache of a session is keyed on the dataset's params, not
# its id alone: DROP and CREATE EXTENSION start the ids again, and a new
# dataset with an old id and seed must not be served the old one's IQ
my $session = $node->background_psql('postgres');
my $iq_of_first = q{SELECT d.dataset_id || ' ' || length(heimdall_gen.iq(d.dataset_id, s.sample_idx, 0))
	  FROM heimdall_gen.datasets d JOIN heimdall_gen.samples s USING (dataset_id)
	 WHERE d.name = '%s' ORDER BY s.sample_idx LIMIT 1};
$session->query_safe('DROP EXTENSION heimdall_gen; CREATE EXTENSION heimdall_gen');
my $job_a = $session->query_safe(q{SELECT heimdall_gen.start_job('cache_a', 2, 77, '{"duration_ms": 10, "iq_storage": "virtual"}')});
$session->query_safe("SELECT heimdall_gen.wait_job($job_a, '60 s')");
my ($id_a, $len_a) = split / /, $session->query_safe(sprintf($iq_of_first, 'cache_a'));
$session->query_safe('DROP EXTENSION heimdall_gen; CREATE EXTENSION heimdall_gen');
my $job_b = $session->query_safe(q{SELECT heimdall_gen.start_job('cache_b', 2, 77, '{"duration_ms": 20, "iq_storage": "virtual"}')});
$session->query_safe("SELECT heimdall_gen.wait_job($job_b, '60 s')");
my ($id_b, $len_b) = split / /, $session->query_safe(sprintf($iq_of_first, 'cache_b'));
$session->quit;
is($id_b, $id_a, "the new dataset has the old one's id ($id_a)");
is($len_b, 2 * $len_a, "and its own IQ in the same session: twice as long for twice the duration ($len_a -> $len_b bytes)");
is($len_b, $node->safe_psql('postgres', sprintf($iq_of_first, 'cache_b') =~ s/d.dataset_id \|\| ' ' \|\| //r),
	'the length a new session reads');

# the regeneration cache does not outlive its transaction: a session that
# read one sample of a large virtual dataset holds its workspace (tens of
# MB) while the transaction lasts, and gives it back at its end; kept for
# the session, a hundred idle sessions once held 6.6 GB
run_job('big_virtual', 2, 5, '{"iq_storage": "virtual", "duration_ms": 262.144, "sample_rate_hz": 1000000, '
	  . '"channel_bw_hz": 1000000, "rx_count_min": 15, "rx_count_max": 15}');
my $rss = q{SELECT 'rss=' || (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+)'))[1]};
my $first_big = q{SELECT length(heimdall_gen.iq(s.dataset_id, s.sample_idx, 0)) FROM heimdall_gen.samples s
	JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'big_virtual' ORDER BY s.sample_idx LIMIT 1};
my $rss_out = $node->safe_psql('postgres', "$rss;\nBEGIN;\n$first_big;\n$rss;\nCOMMIT;\n$rss;");
my ($idle_kb, $inside_kb, $after_kb) = $rss_out =~ /rss=(\d+)/g;
ok($inside_kb - $idle_kb > 30_000, "within its transaction the attempt is kept (RssAnon $idle_kb -> $inside_kb kB)");
ok($after_kb - $idle_kb < 10_000, "and given back at its end ($after_kb kB)");

# free_iq reads every stored reception to compare it with its regeneration,
# one at a time: its memory stays flat however large the dataset (each
# detoasted copy was kept until the call ended, 1.4 GB for a 1.2 GB
# dataset, found by an attacker's review).  Its backend's private memory is
# sampled from /proc while the call runs.
run_job('many_stored', 30, 6, '{"duration_ms": 65.536, "sample_rate_hz": 1000000, "channel_bw_hz": 200000, '
	  . '"symbol_rate_hz": 50000, "rx_count_min": 15, "rx_count_max": 15}');
my $iq_mb = $node->safe_psql('postgres', q{SELECT sum(length(r.iq)) / 1048576 FROM heimdall_gen.receptions r
	JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'many_stored'});
my $big_freer = $node->background_psql('postgres');
my $freer_pid = $big_freer->query_safe('SELECT pg_backend_pid()');
my $rss_before = rss_anon_kb($freer_pid);
my $rss_peak = $rss_before;
$big_freer->query_until(qr/sent/, "\\echo sent\nSELECT 'freed ' || heimdall_gen.free_iq('many_stored');\n");
while ($big_freer->{stdout} !~ /freed \d+/ && $big_freer->{stderr} !~ /ERROR/)
{
	my $kb = rss_anon_kb($freer_pid);
	$rss_peak = $kb if $kb > $rss_peak;
	usleep(5_000);
	$big_freer->{run}->pump_nb;
}
like($big_freer->{stdout}, qr/freed 450/, "free_iq compares and frees the $iq_mb MB of IQ of 450 receptions");
ok($rss_peak - $rss_before < $iq_mb * 1024 / 4,
	"its memory stays flat meanwhile: RssAnon $rss_before -> at most $rss_peak kB");
$big_freer->quit;

$node->stop;
done_testing();
