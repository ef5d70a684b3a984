/*
 * hg_walroom.h
 *    Wait on the latch, not on the WAL write lock, while the WAL buffers are
 *    more than half full of WAL not yet written (see hg_walroom.c).
 */
#ifndef HG_WALROOM_H
#define HG_WALROOM_H

#include "postgres.h"

/*
 * Between two rows: while more than half of wal_buffers holds WAL not yet
 * written, wait on the latch in 1 ms steps for it to be written (waking
 * the WAL writer while no one holds the WAL write lock), asking
 * stop_requested(arg) after each step.  False when that said stop; true
 * once there is room, or when no WAL has been written for 5 s while no one
 * held the lock (then, for a minute, the inserts write WAL themselves, as
 * PostgreSQL's do, without waiting here).
 */
extern bool hg_wal_room_wait(bool (*stop_requested) (void *arg), void *arg);

/* Wake the WAL writer to write what is complete; false if there is none (it is not running). */
extern bool hg_wake_wal_writer(void);

#endif							/* HG_WALROOM_H */
