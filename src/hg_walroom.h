/*
 * hg_walroom.h
 *    Wait on the latch, not on the WAL write lock, when the WAL buffers are
 *    filling while another process writes WAL out (see hg_walroom.c).
 */
#ifndef HG_WALROOM_H
#define HG_WALROOM_H

#include "postgres.h"

/*
 * Between two rows: while more than half of wal_buffers holds WAL not yet
 * written and another process holds the WAL write lock, wait on the latch
 * in 1 ms steps, asking stop_requested(arg) after each.  False when that
 * said stop; true at once in every other case (it never waits while no one
 * else is writing WAL: then a full buffer is written by this process, as
 * PostgreSQL does, in the page cache's time).
 */
extern bool hg_wal_room_wait(bool (*stop_requested) (void *arg), void *arg);

#endif							/* HG_WALROOM_H */
