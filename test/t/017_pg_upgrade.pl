# pg_upgrade of a cluster that stopped while a job was writing.  pg_upgrade
# starts both servers in binary-upgrade mode, where no launcher may run (an
# operator's review: the new server's launcher, connected to its database,
# made pg_upgrade's DROP DATABASE fail; the old server's resumed the job
# during the upgrade, after pg_upgrade had read its next transaction id, so
# a batch rolled back there came back committed in the new cluster and the
# job failed on a duplicate key).  With heimdall_gen.database listing the
# database in both clusters, the upgrade succeeds; the new cluster holds
# exactly what the old one had committed; the job resumes there and equals
# an uninterrupted run of the same seed.
use strict;
use warnings;
use Cwd;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

my $old = hg_node('upgrade_old', 'heimdall_gen.sample_delay_ms' => 100, 'heimdall_gen.batch_size' => 3);
my $done = hg_start_job($old, 'done_ds', 5, 101);
is($old->safe_psql('postgres', "SELECT heimdall_gen.wait_job($done, '120 s')"), 'completed', 'a dataset is complete');
my $running = hg_start_job($old, 'running_ds', 40, 404);
ok($old->poll_query_until('postgres', "SELECT samples_done >= 6 FROM heimdall_gen.jobs WHERE job_id = $running"),
	'another is being written');
$old->stop('fast');
my $new = hg_node_initialised('upgrade_new');

my $sockdir = PostgreSQL::Test::Utils::tempdir_short;
my $cwd = getcwd();
# pg_upgrade writes its scripts into the working directory
chdir(PostgreSQL::Test::Utils::tempdir) or die "chdir: $!";
command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $old->config_data('--bindir'), '-B', $new->config_data('--bindir'),
		'-s', $sockdir, '-p', $old->port, '-P', $new->port
	],
	'pg_upgrade succeeds with heimdall_gen.database listing the database in both clusters');
chdir($cwd) or die "chdir: $!";

# both read with no launcher running: the new cluster holds what the old one committed
my %seen;
for my $node ($old, $new)
{
	$node->append_conf('postgresql.conf', "heimdall_gen.database = 'no_such_database'");
	$node->start;
	$seen{$node->name} = join("\n",
		$node->safe_psql('postgres',
			'SELECT job_id, status, samples_done, next_attempt, restarts FROM heimdall_gen.jobs ORDER BY job_id'),
		map { dataset_checksum($node, $_) } ('done_ds', 'running_ds'));
	$node->stop;
}
like($seen{upgrade_old}, qr/^$running\|queued\|\d+\|\d+\|1$/m, 'the old cluster queued the running job again when it stopped');
is($seen{upgrade_new}, $seen{upgrade_old}, 'the new cluster holds exactly what the old one had committed');

# served again, the job resumes and equals an uninterrupted run
$new->append_conf('postgresql.conf', "heimdall_gen.database = 'postgres'\nheimdall_gen.sample_delay_ms = 0");
$new->start;
is($new->safe_psql('postgres', "SELECT heimdall_gen.wait_job($running, '300 s')"), 'completed',
	'the job completes in the new cluster');
my $reference = hg_start_job($new, 'reference_ds', 40, 404);
is($new->safe_psql('postgres', "SELECT heimdall_gen.wait_job($reference, '300 s')"), 'completed',
	'an uninterrupted run of the same seed');
is(dataset_checksum($new, 'running_ds'), dataset_checksum($new, 'reference_ds'), 'the two are byte for byte the same');
$new->stop;
done_testing();
