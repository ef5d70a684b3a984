# An upgrade across a model version: the 0.7.0 library (model version 2,
# commit 8b9b96b), built from git history into a private copy of the
# PostgreSQL installation, makes datasets; the same data directory then runs
# this library (model version 3).  After ALTER EXTENSION heimdall_gen UPDATE
# every dataset of version 2 goes on as version 2, so nothing made before
# the upgrade is lost or changed: the jobs left running, queued and paused
# finish byte for byte as uninterrupted 0.7.0 runs, a completed dataset is
# extended to what one 0.7.0 job of the same size made, a virtual dataset's
# IQ is regenerated equal to its stored twin and materialize stores exactly
# those bytes.  New datasets are version 3, and start_job and materialize
# refuse a version the library does not generate (resume, the worker's
# claim and iq() refuse it in 007 and 011).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $OLD_COMMIT = '8b9b96b';	# 0.7.0 as it landed, model version 2
my $P = $HeimdallTest::SMALL;
(my $PV = $P) =~ s/}$/, "iq_storage": "virtual"}/;

my $node = hg_old_node('model_upgrade', $OLD_COMMIT);
$node->safe_psql('postgres', 'CREATE EXTENSION heimdall_gen');
is($node->safe_psql('postgres', 'SELECT extversion || \'/\' || heimdall_gen.model_version() FROM pg_extension '
	  . "WHERE extname = 'heimdall_gen'"), '0.7.0/2', '0.7.0 installed, on the library of model version 2');

sub start { my ($ds, $n, $seed, $p) = @_; return hg_start_job($node, $ds, $n, $seed, $p // $P) }
sub wait_final { return $node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($_[0], '300 s')") }
sub sum_of { return HeimdallTest::checksum_in($node, 'postgres', $_[0]) }
# the IQ alone, stored or regenerated (iq() reads the stored IQ when there is some)
sub iq_sum
{
	return $node->safe_psql('postgres', qq{
		SELECT count(*) || ' receptions, ' || md5(string_agg(md5(heimdall_gen.iq(d.dataset_id, r.sample_idx, r.rx_idx)),
															 ',' ORDER BY r.sample_idx, r.rx_idx))
		  FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = '$_[0]'});
}

# references, made whole by 0.7.0: what the interrupted jobs must become
my %ref;
for my $r (['paused', 24, 31], ['running', 24, 32], ['queued', 6, 33], ['grown', 10, 34], ['twin', 8, 36])
{
	my ($name, $n, $seed) = @$r;
	is(wait_final(start("ref_$name", $n, $seed)), 'completed', "0.7.0: reference for $name");
	$ref{$name} = sum_of("ref_$name");
}
is(wait_final(start('grown', 6, 34)), 'completed', '0.7.0: a dataset of 6 samples, to be extended');
is(wait_final(start('virtual', 8, 36, $PV)), 'completed', '0.7.0: a virtual dataset, twin of ref_twin');
my $twin_iq = iq_sum('ref_twin');
is(iq_sum('virtual'), $twin_iq, '0.7.0 regenerates it equal to its stored twin');

# slow (at least 5 s for 24 samples): still running at the shutdown
$node->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 200');
$node->reload;
ok($node->poll_query_until('postgres', 'SHOW heimdall_gen.sample_delay_ms', '200ms'), 'the delay is in force');
my $jp = start('paused', 24, 31);
ok($node->poll_query_until('postgres', "SELECT samples_done >= 3 FROM heimdall_gen.jobs WHERE job_id = $jp"),
	'0.7.0: paused has committed a batch');
$node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($jp)");
ok(wait_no_worker($node, $jp), '0.7.0: paused');
my $jr = start('running', 24, 32);
ok(wait_samples($node, $jr, 3), '0.7.0: running generating');
my $jq = start('queued', 6, 33);
is(job_row($node, $jq, 'status'), 'queued', '0.7.0: queued waits');
$node->stop('fast');

# --- the same data directory on this library, then the update
delete $node->{_install_path};
$node->append_conf('postgresql.conf', "heimdall_gen.sample_delay_ms = 0\nheimdall_gen.max_workers = 2");
$node->start;
$node->safe_psql('postgres', 'ALTER EXTENSION heimdall_gen UPDATE');
my $new = $node->safe_psql('postgres', 'SELECT heimdall_gen.model_version()');
ok($new >= 3, "this library runs model version $new");
like($node->safe_psql('postgres', 'SELECT heimdall_gen.model_versions()'), qr/^\{2,.*\b$new\}$/,
	'and generates version 2 still');

is(wait_final($jr), 'completed', 'the job left running completes');
is(sum_of('running'), $ref{running}, '... byte for byte an uninterrupted 0.7.0 run');
is(wait_final($jq), 'completed', 'the queued job completes');
is(sum_of('queued'), $ref{queued}, '... byte for byte');
is($node->safe_psql('postgres', "SELECT heimdall_gen.resume_job($jp)"), 't', 'the paused job resumes');
is(wait_final($jp), 'completed', '... and completes');
is(sum_of('paused'), $ref{paused}, '... byte for byte');
is(wait_final(start('grown', 4, 34)), 'completed', 'the completed dataset is extended by 4 samples');
is(sum_of('grown'), $ref{grown}, '... to what one 0.7.0 job of 10 made');
is(iq_sum('virtual'), $twin_iq, 'the virtual dataset regenerates as 0.7.0 did');
my $mjob = $node->safe_psql('postgres', "SELECT heimdall_gen.materialize('virtual')");
is(wait_final($mjob), 'completed', 'materialize stores it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d
	USING (dataset_id) WHERE d.name = 'virtual' AND r.iq IS NULL}), '0', '... every reception');
is(iq_sum('virtual'), $twin_iq, '... those bytes');
is($node->safe_psql('postgres', "SELECT string_agg(DISTINCT model_version::text, ',') FROM heimdall_gen.datasets"),
	'2', 'every dataset made before the upgrade stays model version 2');

# a new dataset is the newest version, and its bytes are not version 2's
is(wait_final(start('new_twin', 8, 36)), 'completed', 'a new dataset with the twin\'s seed and params');
is($node->safe_psql('postgres', "SELECT model_version FROM heimdall_gen.datasets WHERE name = 'new_twin'"), $new,
	"... is model version $new");
isnt(iq_sum('new_twin'), $twin_iq, '... with other IQ bytes');
is($node->safe_psql('postgres', q{SELECT count(*) || ' pairs, ' || count(*) FILTER (WHERE (a.delay_s, a.rx_power_dbm,
	a.freq_offset_hz) IS DISTINCT FROM (b.delay_s, b.rx_power_dbm, b.freq_offset_hz)) || ' differ'
	  FROM heimdall_gen.receptions a JOIN heimdall_gen.receptions b USING (sample_idx, rx_idx)
	 WHERE a.dataset_id = (SELECT dataset_id FROM heimdall_gen.datasets WHERE name = 'new_twin')
	   AND b.dataset_id = (SELECT dataset_id FROM heimdall_gen.datasets WHERE name = 'ref_twin')}),
	$node->safe_psql('postgres', q{SELECT count(*) || ' pairs, 0 differ' FROM heimdall_gen.receptions r
	  JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'ref_twin'}),
	'... and the same labels, reception for reception');

# a version this library does not generate: refused on every path, nothing written
$node->safe_psql('postgres', "UPDATE heimdall_gen.datasets SET model_version = 1 WHERE name = 'grown'");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT heimdall_gen.start_job('grown', 2, NULL, '$P')");
like($err, qr/dataset "grown" was generated by model version 1, this server runs model version $new \(and generates versions 2 to $new\)/,
	'start_job refuses to extend a model-1 dataset, naming the versions it generates');
($rc, $out, $err) = $node->psql('postgres', "SELECT heimdall_gen.materialize('grown')");
like($err, qr/generated by model version 1, this server runs model version $new/, 'materialize refuses it');
is($node->safe_psql('postgres', "SELECT count(*) FROM heimdall_gen.jobs j JOIN heimdall_gen.datasets d USING (dataset_id) "
	  . "WHERE d.name = 'grown' AND j.status NOT IN ('completed')"), '0', '... and no job was queued');

$node->stop;
done_testing();
