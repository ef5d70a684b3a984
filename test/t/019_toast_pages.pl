# A worker adds the TOAST pages a reception's IQ will fill before writing
# its row, a page at a time between two stop checks (hg_extend.c), instead
# of inside the row's insert, where a cancel waited for it.  What must hold:
# the pages it keeps ready stay bounded (a row's worth, whatever the number
# of rows, cancels included), and a table rewritten under a running job
# (VACUUM FULL writes its TOAST relation anew, compacted, with none of the
# pages made ready) changes nothing in its rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use HeimdallTest;

# no autovacuum: the dead chunks of cancelled batches, once vacuumed, would
# be half-empty pages the count of pages kept ready below cannot tell apart
my $node = hg_node('toast_pages', autovacuum => 'off');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_freespacemap');
# 5,000 complex samples a reception: 40,004 bytes of IQ, 21 TOAST chunks,
# six pages and the one being filled
my $params = '{"duration_ms": 100, "rx_count_min": 4, "rx_count_max": 4}';
my $pages_per_row = 7;

sub toast_relid
{
	return $node->safe_psql('postgres',
		"SELECT reltoastrelid FROM pg_class WHERE oid = 'heimdall_gen.receptions'::regclass");
}

# pages the free space map lists as at least half empty: those kept ready
sub empty_pages
{
	my $toast = toast_relid();
	return $node->safe_psql('postgres', "SELECT count(*) FROM pg_freespace($toast) WHERE avail >= 4096");
}

sub toast_filenode
{
	my $toast = toast_relid();
	return $node->safe_psql('postgres', "SELECT pg_relation_filenode($toast)");
}

sub toast_pages
{
	my $toast = toast_relid();
	return $node->safe_psql('postgres', "SELECT pg_relation_size($toast) / 8192");
}

my $job = hg_start_job($node, 'plain', 40, 11, $params);
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '120 s')"), 'completed', 'a job completes');
my $rows = $node->safe_psql('postgres',
	"SELECT count(*) FROM heimdall_gen.receptions r JOIN heimdall_gen.datasets d USING (dataset_id) WHERE d.name = 'plain'");
is($rows, 160, '160 receptions written');
cmp_ok(empty_pages(), '<=', $pages_per_row + 1, "at most a row's worth of pages left ready (${\ empty_pages()})");
# six pages a row, and the pages left ready
cmp_ok(toast_pages(), '<=', 6 * $rows + $pages_per_row,
	"the TOAST relation holds no more pages than the rows fill (${\ toast_pages()} for $rows rows)");

# A cancel mid-sample leaves the pages its worker had made ready, for the
# next rows; a new worker does not count them as its own, so each worker
# that ended may leave a row's worth, never more
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.sample_delay_ms = 20');
$node->reload;
for my $round (1 .. 5)
{
	my $cancelled = hg_start_job($node, "cancelled_$round", 1000, 100 + $round, $params);
	wait_samples($node, $cancelled, 3);
	$node->safe_psql('postgres', "SELECT heimdall_gen.cancel_job($cancelled, wait => true)");
}
cmp_ok(empty_pages(), '<=', 6 * ($pages_per_row + 1),
	"after five cancels, pages ready stay bounded (${\ empty_pages()})");

# VACUUM FULL between two batches of a running job: the pages its worker
# had made ready are gone, its next rows go to the compacted TOAST relation
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.batch_size = 1');
$node->safe_psql('postgres', 'ALTER SYSTEM SET heimdall_gen.sample_delay_ms = 50');
$node->reload;
my $before = toast_filenode();
$job = hg_start_job($node, 'rewritten', 40, 11, $params);
wait_samples($node, $job, 10);
$node->safe_psql('postgres', 'VACUUM FULL heimdall_gen.receptions');
isnt(toast_filenode(), $before, 'VACUUM FULL wrote the TOAST relation anew');
is($node->safe_psql('postgres', "SELECT heimdall_gen.wait_job($job, '120 s')"), 'completed',
	'the job rewritten under completes');
is(dataset_checksum($node, 'rewritten'), dataset_checksum($node, 'plain'),
	'its rows are byte for byte those of the same dataset written without it');
cmp_ok(empty_pages(), '<=', $pages_per_row + 1, "the rewritten TOAST relation has at most a row's worth ready (${\ empty_pages()})");

$node->stop;
done_testing();
