/*
 * hg_pace.h
 *    Writes paced to what the disk absorbs.  Linux lets a process dirty page
 *    cache freely until the machine's dirty and writeback pages pass the
 *    midpoint of vm.dirty_background_* and vm.dirty_* ("freerun"); beyond
 *    it, every write() that dirties a page may be put to sleep for up to
 *    200 ms (balance_dirty_pages), where no cancel reaches the worker.  The
 *    worker instead waits on its latch while the figures are near that
 *    point, a wait a cancel ends at once, but 100 ms at most at a time: the
 *    figures are the machine's, and another writer may hold them there for
 *    as long as it writes (then the worker writes 20 ms between two waits,
 *    throttled by the kernel as that writer is).
 */
#ifndef HG_PACE_H
#define HG_PACE_H

#include "postgres.h"

/*
 * Before writing a sample: returns true at once while the kernel is far from
 * throttling writers; otherwise waits on the process latch, in steps of a
 * few milliseconds, until it is or 100 ms have passed, and returns false as
 * soon as stop_requested(arg) says so.
 */
extern bool hg_pace_wait(bool (*stop_requested) (void *arg), void *arg);

/* Milliseconds this process has spent waiting in hg_pace_wait. */
extern double hg_pace_waited_ms(void);

#endif							/* HG_PACE_H */
