/*
 * hg_shmem.h
 *    Shared state of heimdall_gen: one slot per worker (the job it runs, the
 *    worker's pid and latch, the cancel and pause flags as atomics, live
 *    progress counters) and the launcher's latch, so that SQL functions can
 *    stop a worker within one sample and wake the launcher when work arrives.
 */
#ifndef HG_SHMEM_H
#define HG_SHMEM_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

typedef struct HgSlot
{
	/* assignment, under HgShared->lock */
	bool		in_use;
	int64		job_id;
	Oid			database_oid;
	Oid			owner_oid;
	pid_t		pid;			/* 0 until the worker attached */
	Latch	   *latch;			/* the worker's process latch, once attached */

	/* requests from SQL functions: read every iteration by the worker */
	pg_atomic_uint32 cancel_requested;
	pg_atomic_uint32 pause_requested;

	/* progress, written by the worker only */
	pg_atomic_uint64 samples_done;
	pg_atomic_uint64 attempts;
	int64		samples_at_start;
	TimestampTz run_started_at;
} HgSlot;

typedef struct HgShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	ConditionVariable job_ended;	/* broadcast when a worker leaves its slot */
	int			n_slots;
	HgSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} HgShared;

extern HgShared *hg_shared;

extern Size hg_shmem_size(void);
extern void hg_shmem_request(void);
extern void hg_shmem_startup(void);

/* Slot running job_id (in_use), or -1; caller holds the lock (shared is enough). */
extern int	hg_slot_of_job(int64 job_id);

/* Wake the launcher now (no-op when it is not running). */
extern void hg_wake_launcher_now(void);

/*
 * Wake every session sleeping on job_ended (wait_job, cancel_job with wait):
 * a job stopped or changed to a final status, look again.
 */
extern void hg_announce_job_ended(void);

#endif							/* HG_SHMEM_H */
