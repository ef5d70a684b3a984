# Upgrade from 0.1.0: the 0.1.0 library, built from git history (commit
# 17c3146) into a private copy of the PostgreSQL installation, generates
# datasets (completed, paused, running at shutdown, queued) under CREATE
# EXTENSION heimdall_gen VERSION '0.1.0'.  The same data directory then runs
# the new library: it refuses to work against the old SQL (55000, hint: run
# ALTER EXTENSION heimdall_gen UPDATE) and its launcher starts nothing.
# After ALTER EXTENSION heimdall_gen UPDATE every dataset is byte for byte
# what it was, owners are the right roles, interrupted jobs finish equal to
# uninterrupted 0.1.0 runs (or, when the model's version changed, refuse
# with a clear error and write nothing), new jobs work, and the upgraded
# catalog equals a fresh CREATE EXTENSION's.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $OLD_COMMIT = '17c3146';	# the last commit of 0.1.0
my $P = $HeimdallTest::SMALL;

# --- the 0.1.0 library in a private copy of the installation
my $node = hg_old_node('upgrade', $OLD_COMMIT);
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE EXTENSION heimdall_gen VERSION '0.1.0';
});
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'heimdall_gen'"), '0.1.0',
	'0.1.0 installed, on the 0.1.0 library');

sub start_as
{
	my ($role, $ds, $n, $seed) = @_;
	return $node->safe_psql('postgres', "SET ROLE $role; SELECT heimdall_gen.start_job('$ds', $n, $seed, '$P')");
}
sub wait_final
{
	my ($job) = @_;
	return $node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '300 s')");
}

# references for the interrupted jobs: uninterrupted 0.1.0 runs
my %ref;
for my $r (['paused', 24, 31], ['running', 24, 32], ['queued', 6, 33], ['done_a', 10, 34], ['done_p', 8, 35])
{
	my ($name, $n, $seed) = @$r;
	my $j = start_as($name eq 'done_a' ? 'alice' : 'postgres', $name =~ /^done/ ? $name : "ref_$name", $n, $seed);
	is(wait_final($j), 'completed', "0.1.0: $name " . ($name =~ /^done/ ? 'completed' : 'reference'));
	push @{ $ref{_todo} }, [ $name, $name =~ /^done/ ? $name : "ref_$name" ];
}

# what 0.1.0's tables hold: the checksums below cover exactly these columns,
# so that columns a later version adds do not count as a change
my %cols_010;
$cols_010{$_} = $node->safe_psql('postgres', "SELECT string_agg(quote_literal(attname), ',') FROM pg_attribute "
	  . "WHERE attrelid = 'heimdall_gen.$_'::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'dataset_id'")
  for qw(samples receptions);
sub sum_sql
{
	my ($dataset) = @_;
	my $s = "(SELECT jsonb_object_agg(key, value) FROM jsonb_each(to_jsonb(s)) WHERE key IN ($cols_010{samples}))";
	my $r = "(SELECT jsonb_object_agg(key, value) FROM jsonb_each(to_jsonb(r)) WHERE key IN ($cols_010{receptions}))";
	return qq{
		SELECT (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = d.dataset_id) || ' samples, '
			|| (SELECT count(*) FROM heimdall_gen.receptions r WHERE r.dataset_id = d.dataset_id) || ' receptions, '
			|| md5(coalesce((SELECT string_agg(${s}::text, ',' ORDER BY s.sample_idx)
							   FROM heimdall_gen.samples s WHERE s.dataset_id = d.dataset_id), '')
				   || '/' || coalesce((SELECT string_agg(${r}::text, ',' ORDER BY r.sample_idx, r.rx_idx)
									  FROM heimdall_gen.receptions r WHERE r.dataset_id = d.dataset_id), ''))
		  FROM heimdall_gen.datasets d WHERE d.name = '$dataset'};
}
sub sum_of { return $node->safe_psql('postgres', sum_sql($_[0])) }

$ref{ $_->[0] } = sum_of($_->[1]) for @{ delete $ref{_todo} };

# slow (at least 5 s for 24 samples, however fast the machine): still running at the shutdown
$node->append_conf('postgresql.conf', 'heimdall_gen.sample_delay_ms = 200');
$node->reload;
my $jp = start_as('alice', 'paused', 24, 31);
ok($node->poll_query_until('postgres', "SELECT samples_done >= 3 FROM heimdall_gen.jobs WHERE job_id = $jp"),
	'0.1.0: paused has committed a batch');
$node->safe_psql('postgres', "SELECT heimdall_gen.pause_job($jp)");
ok(wait_no_worker($node, $jp), '0.1.0: paused');
my $jr = start_as('alice', 'running', 24, 32);
ok(wait_samples($node, $jr, 3), '0.1.0: running generating');
my $jq = start_as('postgres', 'queued', 6, 33);
is(job_row($node, $jq, 'status'), 'queued', '0.1.0: queued waits');

my @names = qw(done_a done_p paused running queued);
$node->stop('fast');	# 'running' stays running, 'queued' queued
my %before = map { $_ => undef } @names;
my $jobs_sql = 'SELECT string_agg(concat_ws(\'|\', job_id, status, samples_done, attempts, next_attempt, restarts, '
  . 'owner::text), E\'\n\' ORDER BY job_id) FROM heimdall_gen.jobs';

# --- the same data directory on the new library (the system installation)
delete $node->{_install_path};
$node->append_conf('postgresql.conf', "heimdall_gen.sample_delay_ms = 0\nheimdall_gen.max_workers = 2");
$node->start;
# the version the new library serves: its control file's default
my $NEW = $node->safe_psql('postgres', "SELECT default_version FROM pg_available_extensions WHERE name = 'heimdall_gen'");
%before = map { $_ => sum_of($_) } @names;
my $jobs_before = $node->safe_psql('postgres', $jobs_sql);
# (or queued again, when the old launcher saw its worker go before it went itself)
like($node->safe_psql('postgres', "SELECT status FROM heimdall_gen.jobs WHERE job_id = $jr"), qr/^(running|queued)$/,
	'the job interrupted by the shutdown is left running or queued');

my ($ret, $out, $err) = $node->psql('postgres', "SELECT heimdall_gen.start_job('new', 3, 1, '$P')",
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/ERROR:\s+55000: the heimdall_gen library serves SQL version \Q$NEW\E, but version 0\.1\.0 is installed/,
	'new library, old SQL: start_job refuses with 55000');
like($err, qr/HINT:\s+Run ALTER EXTENSION heimdall_gen UPDATE/, '... and the hint to update');
($ret, $out, $err) = $node->psql('postgres', "SELECT heimdall_gen.resume_job($jp)");
like($err, qr/ALTER EXTENSION heimdall_gen UPDATE|serves SQL version/, 'resume_job refuses too');
ok($node->wait_for_log(qr/library serves SQL version \Q$NEW\E, but version 0\.1\.0 is installed in database "postgres"/),
	'the launcher says why it starts nothing');
sleep 6;	# past the launcher's idle round
is($node->safe_psql('postgres', $jobs_sql), $jobs_before, 'the launcher touched no job');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_stat_activity WHERE backend_type = \'heimdall_gen worker\''),
	'0', 'no worker runs');

# --- the update
# (checksums in the updating transaction: once it commits, the launcher resumes the jobs)
my @after = split /\n/, $node->safe_psql('postgres', join("\n", 'BEGIN;', 'ALTER EXTENSION heimdall_gen UPDATE;',
	(map { sum_sql($_) . ';' } @names), 'COMMIT;'));
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'heimdall_gen'"), $NEW,
	"updated to $NEW");
is($after[$_], $before{$names[$_]}, "after the update: $names[$_] byte for byte") for 0 .. $#names;
is($before{$_}, $ref{$_}, "$_ as generated by 0.1.0") for qw(done_a done_p);
is($node->safe_psql('postgres', "SELECT string_agg(name || ':' || owner::text || ':' || (owner::oid = "
	  . "(SELECT oid FROM pg_roles WHERE rolname = owner::text)) || ':' || model_version, ',' ORDER BY name) "
	  . "FROM heimdall_gen.datasets WHERE name IN ('done_a', 'done_p', 'paused')"),
	'done_a:alice:true:1,done_p:postgres:true:1,paused:alice:true:1', 'owners are the roles (regrole), model version 1');

my $model = $node->safe_psql('postgres', 'SELECT heimdall_gen.model_version()');
if ($model == 1)
{
	is($node->safe_psql('postgres', "SET ROLE alice; SELECT heimdall_gen.resume_job($jp)"), 't', 'alice resumes her paused job');
}
else
{
	# refused at the call, as extending the dataset is, rather than queued only to fail
	($ret, $out, $err) = $node->psql('postgres', "SET ROLE alice; SELECT heimdall_gen.resume_job($jp)");
	like($err, qr/ERROR:  job $jp cannot be resumed: dataset "paused" was generated by model version 1, this server runs model version $model/,
		"model version $model: resume_job refuses the paused job of a model-1 dataset");
	is(job_row($node, $jp, 'status'), 'paused', '... which stays paused');
	is($node->safe_psql('postgres', "SET ROLE alice; SELECT heimdall_gen.cancel_job($jp)"), 't', '... and can be cancelled');
	is(sum_of('paused'), $before{'paused'}, '... its committed samples kept');
}
for my $t ([$jr, 'running'], [$jq, 'queued'], $model == 1 ? ([$jp, 'paused']) : ())
{
	my ($j, $name) = @$t;
	if ($model == 1)
	{
		is(wait_final($j), 'completed', "$name job completes on the new library");
		is(sum_of($name), $ref{$name}, "$name equals an uninterrupted 0.1.0 run");
	}
	else
	{
		is(wait_final($j), 'failed', "model version $model: the $name job of a model-1 dataset fails");
		like(job_row($node, $j, 'error'), qr/generated by model version 1, this server runs model version $model/,
			'... saying why');
		is(sum_of($name), $before{$name}, '... and writes nothing');
	}
}
($ret, $out, $err) = $node->psql('postgres', "SELECT heimdall_gen.start_job('done_p', 2, NULL, '$P')");
if ($model == 1)
{
	is($ret, 0, 'extending a 0.1.0 dataset works');
}
else
{
	like($err, qr/generated by model version 1, this server runs model version $model/, 'extending a model-1 dataset is refused');
}

# new features work
my $jn = $node->safe_psql('postgres', "SET ROLE alice; SELECT heimdall_gen.start_job('new_after_update', 5, 7, '$P')");
is(wait_final($jn), 'completed', 'a new job completes');
like($node->safe_psql('postgres', 'SET ROLE alice; SELECT heimdall_gen.event_channel()'), qr/^heimdall_gen_[0-9a-f]{32}$/,
	'event_channel() works');
is($node->safe_psql('postgres', "SELECT model_version = heimdall_gen.model_version() FROM heimdall_gen.datasets "
	  . "WHERE name = 'new_after_update'"), 't', 'the new dataset records the model version');
($ret, $out, $err) = $node->psql('postgres', "SET ROLE alice; INSERT INTO heimdall_gen.jobs (dataset_id, num_samples, "
	  . "start_attempt, next_attempt) SELECT dataset_id, 1, 0, 0 FROM heimdall_gen.datasets LIMIT 1");
like($err, qr/permission denied/, 'users no longer write the tables');

# --- the upgraded catalog equals a fresh install's
my $fingerprint = q{
SELECT md5(string_agg(x, E'\n' ORDER BY x)) || ' ' || count(*) FROM (
  SELECT 'fn ' || p.oid::regprocedure::text || ' ' || p.prorettype::regtype || ' ' || p.provolatile::text || p.proparallel::text
		 || ' secdef=' || p.prosecdef || ' strict=' || p.proisstrict || ' cfg=' || coalesce(p.proconfig::text, '')
		 || ' acl=' || coalesce(p.proacl::text, '') || ' lang=' || l.lanname || ' src=' || md5(p.prosrc)
		 || ' bin=' || coalesce(p.probin, '') AS x
	FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
   WHERE p.pronamespace = 'heimdall_gen'::regnamespace
  UNION ALL
  SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' rls=' || c.relrowsecurity || ' acl=' || coalesce(c.relacl::text, '')
		 || ' opts=' || coalesce(c.reloptions::text, '')
		 || coalesce(' view=' || md5(pg_get_viewdef(c.oid)), '')
	FROM pg_class c WHERE c.relnamespace = 'heimdall_gen'::regnamespace
  UNION ALL
  SELECT 'col ' || c.relname || '.' || a.attname || ' #' || a.attnum || ' ' || format_type(a.atttypid, a.atttypmod)
		 || ' notnull=' || a.attnotnull || ' storage=' || a.attstorage::text || ' identity=' || a.attidentity::text
		 || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' acl=' || coalesce(a.attacl::text, '')
	FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'heimdall_gen'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'con ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
	FROM pg_constraint WHERE connamespace = 'heimdall_gen'::regnamespace
  UNION ALL
  SELECT 'idx ' || pg_get_indexdef(indexrelid) FROM pg_index
   WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'heimdall_gen'::regnamespace)
  UNION ALL
  SELECT 'pol ' || tablename || ' ' || policyname || ' ' || permissive || ' ' || roles::text || ' ' || cmd
		 || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
	FROM pg_policies WHERE schemaname = 'heimdall_gen'
  UNION ALL
  SELECT 'trg ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = 'heimdall_gen'::regnamespace AND NOT t.tgisinternal
  UNION ALL
  SELECT 'ext ' || extname || ' ' || extversion || ' ' || coalesce(extconfig::regclass[]::text, '') || ' '
		 || coalesce(extcondition::text, '') FROM pg_extension WHERE extname = 'heimdall_gen'
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, objsubid) FROM pg_depend
   WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	 AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'heimdall_gen')
  UNION ALL
  SELECT 'schema acl=' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'heimdall_gen'
) f};
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION heimdall_gen');
my $fresh = $node->safe_psql('fresh', $fingerprint);
my $upgraded = $node->safe_psql('postgres', $fingerprint);
is($upgraded, $fresh, "the upgraded catalog equals a fresh install's ($fresh)");
if ($upgraded ne $fresh)
{
	my $rows = $fingerprint =~ s/^\s*SELECT md5\(string_agg\(x, E'\\n' ORDER BY x\)\) \|\| ' ' \|\| count\(\*\) FROM \(/SELECT x FROM (/r;
	$rows .= ' ORDER BY x';
	my %f = map { $_ => 1 } split /\n/, $node->safe_psql('fresh', $rows);
	my %u = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', $rows);
	diag("only fresh:    $_") for grep { !$u{$_} } sort keys %f;
	diag("only upgraded: $_") for grep { !$f{$_} } sort keys %u;
}

# --- a row a role wrote by hand under 0.1.0 (which let every role INSERT
# its own datasets rows) is named by the update, with its owner and the way
# out, rather than failing it with an error that names neither (an
# attacker's review); once corrected, the update goes through
$node->safe_psql('postgres', 'CREATE DATABASE planted');
$node->safe_psql('planted', "CREATE EXTENSION heimdall_gen VERSION '0.1.0'");
$node->safe_psql('planted', q{
	SET ROLE alice;
	INSERT INTO heimdall_gen.datasets (name, seed, params) VALUES ('bad_ratios', 1, '{"split_ratios": "bad"}');
	INSERT INTO heimdall_gen.samples VALUES ((SELECT dataset_id FROM heimdall_gen.datasets WHERE name = 'bad_ratios'),
		0, 45, 7, 2, 37, 145e6, 'fm', 'voice', 1, 10, 5, 5);
	INSERT INTO heimdall_gen.datasets (name, seed, params) VALUES ('not_an_object', 2, '"x"');
});
($ret, $out, $err) = $node->psql('planted', 'ALTER EXTENSION heimdall_gen UPDATE');
like($err, qr/ERROR:  dataset "bad_ratios" \(id \d+\) of role "alice" cannot be updated: parameter "split_ratios"/,
	'the update names the dataset a role planted under 0.1.0, and its owner') or diag($err);
like($err, qr/HINT:  As a superuser, correct its params .* or delete it/, '... and the way out');
$node->safe_psql('planted', "UPDATE heimdall_gen.datasets SET params = '{}' WHERE name = 'bad_ratios'");
($ret, $out, $err) = $node->psql('planted', 'ALTER EXTENSION heimdall_gen UPDATE');
like($err, qr/ERROR:  dataset "not_an_object" \(id \d+\) of role "alice" cannot be updated: its params are a JSON string, not an object/,
	'params that are not an object are named too') or diag($err);
$node->safe_psql('planted', "DELETE FROM heimdall_gen.datasets WHERE name = 'not_an_object'");
$node->safe_psql('planted', 'ALTER EXTENSION heimdall_gen UPDATE');
is($node->safe_psql('planted', "SELECT extversion FROM pg_extension WHERE extname = 'heimdall_gen'"), $NEW,
	"once they are corrected, the update goes through to $NEW");

$node->stop;
done_testing();
