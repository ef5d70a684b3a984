/*
 * hg_walroom.c
 *    Room in the WAL buffers before a row is written.  A row's insert puts
 *    its WAL (~80 kB of IQ) into wal_buffers; when they are full of WAL not
 *    yet written, the insert must write some out itself, and for that takes
 *    the WAL write lock, which the WAL writer holds for as long as its
 *    write and fsync take.  On a busy disk that fsync takes 100-300 ms, and
 *    a cancel waited all that time for the worker, inside the row, on an
 *    LWLock no flag or latch reaches (traced: a cancel of 220 ms, 213 of
 *    them on LWLock/WALWrite inside one reception's insert; README's VM).
 *
 *    So the worker keeps at least half of the buffers free of unwritten
 *    WAL: between rows, past that point, it waits on its latch (where a
 *    cancel reaches it) for the WAL to be written, by the WAL writer or
 *    whoever holds the lock.  Waiting only while someone held the lock was
 *    not enough: at up to 270 MB/s the worker fills a small wal_buffers
 *    between two rounds of the WAL writer, writing it itself while the
 *    lock is free, and the WAL writer's next round then found the buffers
 *    full and held the lock through its fsync while the worker's next row
 *    waited for it (held at a breakpoint: 1 MB buffers, 1040 kB unwritten,
 *    the worker on LWLock/WALWrite in a TOAST insert).  Now, when the lock
 *    is free past half, the worker wakes the WAL writer, which writes what
 *    is complete (its fsync comes every wal_writer_flush_after or
 *    wal_writer_delay), and waits for it.  Should nothing be written for
 *    STALL_MS while no one holds the lock (a WAL writer stopped, say by a
 *    debugger), the worker goes on, and for WRITE_ITSELF_MS its inserts
 *    write the WAL themselves, in the page cache's time, as PostgreSQL's do.
 */
#include "postgres.h"

#include "access/xlog.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "hg_latch.h"
#include "hg_walroom.h"

/*
 * How long the WAL writer, woken, may leave the buffers unwritten, the lock
 * free, before the worker writes them itself.  It starts within a
 * millisecond or two; this is for one that does not run at all.  After
 * such a stall the worker waits for it no more for WRITE_ITSELF_MS (not 5 s
 * again at its next row).
 */
#define STALL_MS 5000
#define WRITE_ITSELF_MS 60000

/* until when this process writes WAL itself, the WAL writer having stalled */
static TimestampTz write_itself_until = 0;

/* WAL inserted but not yet written, past which the worker waits for it to be written */
static uint64
unwritten_limit(void)
{
	return (uint64) XLOGbuffers * XLOG_BLCKSZ / 2;
}

/* Someone else holds the WAL write lock (it was free a moment ago if this says no). */
static bool
wal_write_lock_busy(void)
{
	if (!LWLockConditionalAcquire(WALWriteLock, LW_EXCLUSIVE))
		return true;
	LWLockRelease(WALWriteLock);
	return false;
}

/* More WAL inserted and not yet written than the limit (a write position ahead, were it ever, is none). */
static bool
buffers_filling(void)
{
	XLogRecPtr	inserted = GetXLogInsertRecPtr();
	XLogRecPtr	written = GetXLogWriteRecPtr();

	return inserted > written && inserted - written > unwritten_limit();
}

bool
hg_wake_wal_writer(void)
{
	/* read once: the WAL writer clears it when it exits */
	Latch	   *latch = ProcGlobal->walwriterLatch;

	if (latch == NULL)
		return false;
	SetLatch(latch);
	return true;
}

bool
hg_wal_room_wait(bool (*stop_requested) (void *arg), void *arg)
{
	XLogRecPtr	written = GetXLogWriteRecPtr();
	int			stalled_ms = 0;

	while (buffers_filling())
	{
		if (write_itself_until != 0 && GetCurrentTimestamp() < write_itself_until)
			break;
		if (wal_write_lock_busy() || GetXLogWriteRecPtr() != written)
		{
			/* someone is writing it */
			written = GetXLogWriteRecPtr();
			stalled_ms = 0;
		}
		else if (!hg_wake_wal_writer())
			break;
		else if (stalled_ms++ >= STALL_MS)
		{
			ereport(LOG,
					(errmsg("heimdall_gen: the WAL writer wrote nothing for %d ms while the WAL buffers filled; "
							"this worker writes its WAL itself for the next %d s", STALL_MS, WRITE_ITSELF_MS / 1000)));
			write_itself_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), WRITE_ITSELF_MS);
			break;
		}
		hg_latch_nap(1);
		if (stop_requested(arg))
			return false;
	}
	return true;
}
