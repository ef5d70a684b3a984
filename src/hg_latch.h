/*
 * hg_latch.h
 *    The one short wait of the worker's and a canceller's loops: on the
 *    process latch, so that a cancel, a pause or the postmaster's death
 *    ends it at once, then the interrupts a signal may have raised.
 */
#ifndef HG_LATCH_H
#define HG_LATCH_H

#include "postgres.h"

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

/* Up to ms milliseconds on MyLatch (wait event Extension), then CHECK_FOR_INTERRUPTS. */
static inline void
hg_latch_nap(long ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

#endif							/* HG_LATCH_H */
