/*
 * hg_extend.c
 *    Empty TOAST pages made ready before a row is written, one at a time
 *    between two stop checks (see hg_extend.h).
 */
#include "postgres.h"

#include "access/heaptoast.h"
#include "access/table.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "hg_extend.h"

/* A page whose free space map entry says at least this much is free counts as unused. */
#define UNUSED_FREE_SPACE (BLCKSZ / 2)

/* Pages the chunks of one value fill, and one more: the page an insert is filling still looks empty in the map. */
static int
pages_for_value(Size value_bytes)
{
	Size		chunks = (value_bytes + TOAST_MAX_CHUNK_SIZE - 1) / TOAST_MAX_CHUNK_SIZE;
	Size		pages = (chunks + EXTERN_TUPLES_PER_PAGE - 1) / EXTERN_TUPLES_PER_PAGE + 1;

	return (int) Min(pages, HG_EXTEND_MAX_PAGES);
}

/*
 * Forget the pages that inserts have filled since (theirs or another
 * process's: the map says so once an insert moves on from a page) or that
 * a VACUUM cut off the end of the relation (the map is cut with it).
 */
static void
forget_used_pages(HgExtend *x, Relation toast)
{
	int			kept = 0;
	int			i;

	for (i = 0; i < x->n_ready; i++)
		if (GetRecordedFreeSpace(toast, x->ready[i]) >= UNUSED_FREE_SPACE)
			x->ready[kept++] = x->ready[i];
	x->n_ready = kept;
}

static bool
asked_to_stop(bool (*stop_requested) (void *arg), void *arg)
{
	return stop_requested != NULL && stop_requested(arg);
}

/*
 * One empty page at the end of the relation.  The extension lock is
 * waited for only after a last stop check: another process holds it for
 * as long as its own page takes, in the kernel.  The page is in the free
 * space map, its upper levels included, before that lock is released: an
 * insert that waited for the lock looks there first, and would otherwise
 * add pages of its own.
 */
static bool
add_page(Relation toast, BlockNumber *added, bool (*stop_requested) (void *arg), void *arg)
{
	Buffer		buffer;

	if (!ConditionalLockRelationForExtension(toast, ExclusiveLock))
	{
		if (asked_to_stop(stop_requested, arg))
			return false;
		LockRelationForExtension(toast, ExclusiveLock);
	}
	buffer = ReadBufferExtended(toast, MAIN_FORKNUM, P_NEW, RBM_ZERO_AND_LOCK, NULL);
	*added = BufferGetBlockNumber(buffer);
	if (!PageIsNew(BufferGetPage(buffer)))
		elog(ERROR, "page %u of relation \"%s\" should be empty but is not",
			 *added, RelationGetRelationName(toast));
	/*
	 * Left all zeros, as it is on disk already, the way PostgreSQL leaves
	 * the pages it adds ahead: the insert that takes it initialises it, and
	 * every reader and VACUUM take an all-zero page for an empty one.
	 */
	UnlockReleaseBuffer(buffer);
	RecordPageWithFreeSpace(toast, *added, BLCKSZ - SizeOfPageHeaderData);
	FreeSpaceMapVacuumRange(toast, *added, *added + 1);
	UnlockRelationForExtension(toast, ExclusiveLock);
	return true;
}

bool
hg_extend_ahead(HgExtend *x, Oid table_relid, Size value_bytes, bool (*stop_requested) (void *arg), void *arg)
{
	Relation	table;
	Relation	toast;
	Oid			toast_relid;
	int			wanted;
	bool		stopped = false;

	if (value_bytes <= TOAST_TUPLE_THRESHOLD)
		return true;			/* it may stay in the row */
	table = table_open(table_relid, RowExclusiveLock);
	toast_relid = table->rd_rel->reltoastrelid;
	table_close(table, NoLock);
	if (!OidIsValid(toast_relid))
		return true;
	toast = table_open(toast_relid, RowExclusiveLock);
	if (toast_relid != x->toast_relid || toast->rd_node.relNode != x->toast_filenode)
	{
		/* block numbers of other files: a match with a free page there would be chance */
		x->toast_relid = toast_relid;
		x->toast_filenode = toast->rd_node.relNode;
		x->n_ready = 0;
	}
	forget_used_pages(x, toast);
	wanted = pages_for_value(value_bytes);
	while (x->n_ready < wanted)
	{
		BlockNumber added;

		if (asked_to_stop(stop_requested, arg) || !add_page(toast, &added, stop_requested, arg))
		{
			stopped = true;
			break;
		}
		x->ready[x->n_ready++] = added;
	}
	table_close(toast, NoLock);
	return !stopped;
}
