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
 *    So between rows the worker waits on its latch instead, from the point
 *    where half the buffers are taken, and only while another process
 *    holds that lock: the same wait, where a cancel reaches it.  When no one
 *    holds it, nothing waits (the buffers fill, and the insert writes WAL
 *    itself, into the page cache, as PostgreSQL does).
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/wait_event.h"

#include "hg_walroom.h"

/* WAL inserted but not yet written, past which the worker looks at the write lock */
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
hg_wal_room_wait(bool (*stop_requested) (void *arg), void *arg)
{
	while (buffers_filling() && wal_write_lock_busy())
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (stop_requested(arg))
			return false;
	}
	return true;
}
