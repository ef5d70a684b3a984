# Launchers the server cannot give: a database listed in heimdall_gen.database
# whose launcher the postmaster refuses to register (max_worker_processes too
# low) is named in a WARNING at start, and start_job there fails (53400)
# instead of queueing a job no worker would ever run (a user's review: the
# job was accepted and stayed queued, and the log named no database).  A
# listed database that does not exist is retried with growing pauses, not a
# FATAL line every 5 s for ever, and its launcher connects once it is made.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

# the server's own logical replication launcher and two of ours fit (postgres,
# hg_late); hg_unserved, listed third, does not
my $node = hg_node('launchers',
	'heimdall_gen.database' => "'postgres, hg_late, hg_unserved'",
	'heimdall_gen.max_workers' => 1,
	max_worker_processes => 3);
my $log = sub { slurp_file($node->logfile) };

like($log->(), qr/WARNING:  database "hg_unserved" gets no heimdall_gen launcher: max_worker_processes \(3\) is too low/,
	'the database left without a launcher is named at start');
like($log->(), qr/WARNING:  3 background workers registered at start \(2 of them heimdall_gen's launchers\) and heimdall_gen.max_workers \(1\) need more than max_worker_processes \(3\)/,
	'and that no worker would fit beside the launchers');
unlike($log->(), qr/gets no heimdall_gen launcher.*"(postgres|hg_late)"/, 'the databases that got one are not');

$node->safe_psql('postgres', 'CREATE DATABASE hg_unserved');
$node->safe_psql('hg_unserved', 'CREATE EXTENSION heimdall_gen');
my ($rc, $out, $err) = $node->psql('hg_unserved',
	qq{\\set VERBOSITY verbose
	   SELECT heimdall_gen.start_job('never', 3, 1, '$HeimdallTest::SMALL')});
isnt($rc, 0, 'start_job refuses in the database without a launcher');
like($err, qr/53400: database "hg_unserved" has no heimdall_gen launcher: max_worker_processes \(3\) was too low/,
	'with SQLSTATE 53400 and the setting to raise');
is($node->safe_psql('hg_unserved', 'SELECT count(*) FROM heimdall_gen.jobs'), '0', 'and no job was queued');
is($node->safe_psql('hg_unserved', 'SELECT count(*) FROM heimdall_gen.datasets'), '0', 'nor a dataset made');

# hg_late does not exist yet: attempt 1 fails, the postmaster starts the
# launcher again 5 s later, attempt 2 pauses 5 s more, fails, and attempt 3
# says it will pause 15 s more: by then exactly two attempts have failed
ok($node->wait_for_log(qr/2 failed attempts of the heimdall_gen launcher to connect to database "hg_late"; the next in 20 s/),
	'failed connections are retried with growing pauses, and said so');
my @fatal = ($log->() =~ /FATAL:  database "hg_late" does not exist/g);
is(scalar @fatal, 2, 'two failed attempts so far, not one every 5 s');
$node->safe_psql('postgres', 'CREATE DATABASE hg_late');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND datname = 'hg_late'}),
	'the launcher connects once the database exists');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher' AND datname = 'postgres'}),
	'1', 'the first database kept its launcher all along');

# the shared memory's page size: without huge pages a cancel waits longer the
# more of shared_buffers a worker went through, and the log says so once per
# server start, however many launchers start; on huge pages it says nothing
my $told = sub { scalar(() = $log->() =~ /LOG:  heimdall_gen: the server's shared memory is in 4 kB pages/g) };
my $postmaster = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
my $huge_pages = slurp_file("/proc/$postmaster/maps") =~ /anon_hugepage/;
is($told->(), $huge_pages ? 0 : 1,
	'the page size is told once with two launchers running (' . ($huge_pages ? 'huge pages' : '4 kB pages') . ')');
like($log->(), qr/shared_buffers \(\d+ MB\).*\n.*DETAIL: .*\n.*HINT:  Give the server huge pages/, 'with the size, the cost and the remedy')
  unless $huge_pages;

# a job in a served database, with no background worker left for it: it
# stays queued, and its row says why
my $waiting = $node->safe_psql('postgres', "SELECT heimdall_gen.start_job('no_worker', 3, 1, '$HeimdallTest::SMALL')");
ok($node->poll_query_until('postgres',
		"SELECT status || ': ' || message FROM heimdall_gen.jobs WHERE job_id = $waiting",
		"queued: waiting for a background worker: the server's max_worker_processes are all in use"),
	'a job no worker can be had for stays queued, and its message says why');

# ALTER SYSTEM refuses a list the next start could not serve, rather than
# write one that stops the server from starting (a user's review: 17 names
# were accepted, and the restart then failed with a FATAL)
my $many = join(', ', 'postgres', map { "db$_" } 1 .. 16);
($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nALTER SYSTEM SET heimdall_gen.database = '$many'");
like($err, qr/22023: invalid value for parameter "heimdall_gen.database".*\n.*It lists 17 databases; at most 16 are served/,
	'ALTER SYSTEM refuses 17 databases, saying how many are served');
($rc, $out, $err) = $node->psql('postgres', q{ALTER SYSTEM SET heimdall_gen.database = 'postgres, "hg_late'});
like($err, qr/invalid value for parameter "heimdall_gen.database".*\n.*List syntax is invalid/, 'and a list it cannot read');
unlike(slurp_file($node->data_dir . '/postgresql.auto.conf'), qr/heimdall_gen/, 'neither was written');
$node->safe_psql('postgres', q{ALTER SYSTEM SET heimdall_gen.database = 'postgres, hg_late, hg_unserved, "Other DB"'});
like(slurp_file($node->data_dir . '/postgresql.auto.conf'), qr/heimdall_gen.database = 'postgres, hg_late, hg_unserved, "Other DB"'/,
	'a list of 4, one quoted, is written');
$node->restart;
is($node->safe_psql('postgres', 'SHOW heimdall_gen.database'), 'postgres, hg_late, hg_unserved, "Other DB"',
	'and the server starts with it');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'heimdall_gen launcher'}),
	'its launchers are up');
is($told->(), $huge_pages ? 0 : 2, 'the page size is told again after the restart, once');

$node->stop;

# the same list written into postgresql.conf by hand: the server refuses to
# start, saying why (a value refused at start would only be replaced by the
# default, serving another database than the one meant)
my $too_many = PostgreSQL::Test::Cluster->new('too_many');
$too_many->init;
$too_many->append_conf('postgresql.conf', "shared_preload_libraries = 'heimdall_gen'\n"
	  . "heimdall_gen.database = '$many'");
ok(!$too_many->start(fail_ok => 1), 'a server whose postgresql.conf lists 17 databases does not start');
like(slurp_file($too_many->logfile), qr/invalid value for parameter "heimdall_gen.database".*\n.*DETAIL:  It lists 17 databases; at most 16 are served/,
	'and its log says why');
done_testing();
