# HeimdallTest.pm: helpers shared by the TAP tests of heimdall_gen: a node
# with the extension preloaded and created, a checksum over a dataset's rows,
# waits on jobs and workers, and an earlier release built from git history.
package HeimdallTest;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Exporter 'import';
use File::Path qw(make_path);
use Time::HiRes;
use FindBin;

our @EXPORT = qw(hg_node hg_node_initialised hg_synchronous_standby_away hg_start_job dataset_checksum wait_samples live_samples worker_pid
				 wait_no_worker job_row rss_anon_kb hg_old_node);

# Small, fast samples: 1,000 complex samples per reception.
our $SMALL = '{"duration_ms": 20, "rx_count_min": 4, "rx_count_max": 6}';

# A node initialised with the library preloaded (settings in %conf added or
# overriding), not started: the new cluster of a pg_upgrade must be empty.
sub hg_node_initialised
{
	my ($name, %conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my %settings = (
		shared_preload_libraries => "'heimdall_gen'",
		'heimdall_gen.database' => "'postgres'",
		'heimdall_gen.max_workers' => 2,
		max_worker_processes => 16,
		restart_after_crash => 'on',
		# as scripts/tmp-cluster.sh: the WAL writer and the background
		# writer do the writing (README, "Server settings ...")
		wal_buffers => '64MB',
		wal_writer_delay => '10ms',
		bgwriter_delay => '10ms',
		bgwriter_lru_maxpages => 1000,
		bgwriter_lru_multiplier => 10,
		%conf);
	$node->append_conf('postgresql.conf', join("\n", map { "$_ = $settings{$_}" } sort keys %settings));
	return $node;
}

# The same, started, with the extension created.
sub hg_node
{
	my ($name, %conf) = @_;
	my $node = hg_node_initialised($name, %conf);
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION heimdall_gen');
	return $node;
}

# Names a synchronous standby that never comes (synchronous_standby_names,
# reloaded), then has a new session commit a transaction that writes WAL,
# with $sql in it, until one such commit waits for that standby (wait event
# SyncRep): the reload reaches the checkpointer, which makes commits wait, a
# moment after pg_reload_conf() returns, and a commit that writes no WAL (a
# NOTIFY alone) waits for no standby.  Returns the session (a BackgroundPsql)
# and its pid, or 0 for the pid after 60 tries.  The node needs WAL senders
# (wal_level replica, max_wal_senders > 0) for any commit to wait.
sub hg_synchronous_standby_away
{
	my ($node, $sql) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
	$node->reload;
	my $session = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	for my $try (1 .. 60)
	{
		$session->query_until(qr/sent $try/,
			"\\echo sent $try\nBEGIN; CREATE TABLE standby_probe_${pid}_$try (); $sql COMMIT;\n");
		for (1 .. 10)
		{
			return ($session, $pid) if $node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND wait_event = 'SyncRep'") eq '1';
			Time::HiRes::usleep(100_000);
		}
	}
	return ($session, 0);
}

sub hg_start_job
{
	my ($node, $dataset, $n, $seed, $params) = @_;
	$params //= $SMALL;
	return $node->safe_psql('postgres',
		"SELECT heimdall_gen.start_job('$dataset', $n, $seed, '$params')");
}

# md5 over every IQ and the labels, in (sample_idx, rx_idx) order, with the row count.
sub dataset_checksum
{
	my ($node, $dataset) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) || ' rows, ' || md5(string_agg(
			concat_ws(':', r.sample_idx, r.rx_idx, md5(r.iq), r.rx_power_dbm, r.delay_s, r.freq_offset_hz,
					  r.snr_db, s.tx_lat, s.tx_lon, s.gdop, s.modulation), ',' ORDER BY r.sample_idx, r.rx_idx))
		  FROM heimdall_gen.receptions r
		  JOIN heimdall_gen.samples s USING (dataset_id, sample_idx)
		  JOIN heimdall_gen.datasets d USING (dataset_id)
		 WHERE d.name = '$dataset'});
}

sub live_samples
{
	my ($node, $job) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce((SELECT samples_done FROM heimdall_gen.worker_slots() WHERE job_id = $job), -1)");
}

# Wait until the job's worker has generated at least $n samples.
sub wait_samples
{
	my ($node, $job, $n) = @_;
	return $node->poll_query_until('postgres',
		"SELECT samples_done >= $n FROM heimdall_gen.worker_slots() WHERE job_id = $job");
}

sub worker_pid
{
	my ($node, $job) = @_;
	return $node->safe_psql('postgres', "SELECT pid FROM heimdall_gen.worker_slots() WHERE job_id = $job");
}

# A process's private memory (RssAnon) in kB, from /proc; -1 once it is gone.
sub rss_anon_kb
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return -1;
	my ($kb) = map { /^RssAnon:\s+(\d+)/ ? $1 : () } <$fh>;
	close($fh);
	return $kb // -1;
}

sub wait_no_worker
{
	my ($node, $job) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM heimdall_gen.worker_slots() WHERE job_id = $job");
}

sub job_row
{
	my ($node, $job, $cols) = @_;
	return $node->safe_psql('postgres', "SELECT $cols FROM heimdall_gen.jobs WHERE job_id = $job");
}

# Every column of every sample and reception of a dataset (all labels and the
# IQ, but not the dataset_id, so that a regenerated copy under another name
# compares equal), in database $db: HeimdallTest::checksum_in($node, $db, $name)
sub checksum_in
{
	my ($node, $db, $dataset) = @_;
	return $node->safe_psql($db, checksum_sql($dataset));
}

# the query of checksum_in; with $below, only the samples whose index is below it
sub checksum_sql
{
	my ($dataset, $below) = @_;
	my $s_below = defined $below ? "AND s.sample_idx < $below" : '';
	my $r_below = defined $below ? "AND r.sample_idx < $below" : '';
	return qq{
		SELECT (SELECT count(*) FROM heimdall_gen.samples s WHERE s.dataset_id = d.dataset_id $s_below) || ' samples, '
			|| (SELECT count(*) FROM heimdall_gen.receptions r WHERE r.dataset_id = d.dataset_id $r_below) || ' receptions, '
			|| md5(coalesce((SELECT string_agg((to_jsonb(s) - 'dataset_id')::text, ',' ORDER BY s.sample_idx)
							   FROM heimdall_gen.samples s WHERE s.dataset_id = d.dataset_id $s_below), '')
				   || '/' || coalesce((SELECT string_agg((to_jsonb(r) - 'dataset_id')::text, ','
												 ORDER BY r.sample_idx, r.rx_idx)
									  FROM heimdall_gen.receptions r WHERE r.dataset_id = d.dataset_id $r_below), ''))
		  FROM heimdall_gen.datasets d WHERE d.name = '$dataset'};
}

# The library of an earlier commit, built from git history into a private
# copy of the PostgreSQL installation: returns the path to give
# PostgreSQL::Test::Cluster->new(..., install_path => ...).  Needs a clone
# with history.
sub hg_old_install
{
	my ($commit) = @_;
	my $repo = "$FindBin::RealBin/../..";
	my $pg_config = $ENV{PG_CONFIG} // '/usr/lib/postgresql/15/bin/pg_config';
	my $bindir = `$pg_config --bindir`; chomp $bindir;			# /usr/lib/postgresql/15/bin
	my $sharedir = `$pg_config --sharedir`; chomp $sharedir;	# /usr/share/postgresql/15
	(my $libroot = $bindir) =~ s{/bin$}{};
	my $old = PostgreSQL::Test::Utils::tempdir;
	my $t0 = time;

	make_path("$old/src", "$old/inst$libroot", "$old/inst$sharedir");
	system("git -c safe.directory='*' -C '$repo' archive $commit | tar -x -C '$old/src'") == 0
	  or die("could not extract $commit from the git history of $repo (a clone with history is needed)");
	system("cp -a '$libroot/.' '$old/inst$libroot/' && cp -a '$sharedir/.' '$old/inst$sharedir/'") == 0
	  or die('could not copy the PostgreSQL installation');
	system("make -s -C '$old/src' -j2 PG_CONFIG='$pg_config' >'$old/build.log' 2>&1 && "
		  . "make -s -C '$old/src' install PG_CONFIG='$pg_config' DESTDIR='$old/inst' >>'$old/build.log' 2>&1") == 0
	  or die("could not build the library of $commit: " . slurp_file("$old/build.log"));
	note("$commit built and installed in " . (time - $t0) . ' s');
	return "$old/inst$libroot";
}

# A started node on the library of an earlier commit (hg_old_install), the
# extension preloaded but not created: one worker, batches of 3.  Delete
# $node->{_install_path} and start it again to run the data directory on
# this library.
sub hg_old_node
{
	my ($name, $commit) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name, install_path => hg_old_install($commit));

	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'heimdall_gen'
heimdall_gen.database = 'postgres'
heimdall_gen.max_workers = 1
heimdall_gen.batch_size = 3
max_worker_processes = 16
});
	$node->start;
	return $node;
}

1;
