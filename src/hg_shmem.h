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

/*
 * A copy of the BackgroundWorkerHandle the launcher got for a slot's worker.
 * The handle is opaque, but it is only (slot, generation) in PostgreSQL 15's
 * bgworker.c, and GetBackgroundWorkerPid works on it from any process: a
 * copy in shared memory lets a restarted launcher find a worker that was
 * registered by its predecessor, and cancel_job(wait => true) wait until the
 * postmaster has reaped the process.
 */
typedef struct HgWorkerHandle
{
	int			slot;
	uint64		generation;
} HgWorkerHandle;

typedef struct HgSlot
{
	/* assignment, under HgShared->lock; a job is (database_oid, job_id) */
	bool		in_use;
	int64		job_id;
	Oid			database_oid;
	Oid			owner_oid;
	pid_t		pid;			/* 0 until the worker attached */
	Latch	   *latch;			/* the worker's process latch, once attached */
	bool		has_handle;		/* handle below is the registered worker's */
	HgWorkerHandle handle;
	uint64		claim_number;	/* which claim of a slot this is: HgShared.claims_made when claimed (from 1) */
	TransactionId queued_row_version;	/* xmin of the job's queued row its worker was started for */

	/* requests from SQL functions: read every iteration by the worker */
	pg_atomic_uint32 cancel_requested;
	pg_atomic_uint32 pause_requested;

	/* progress, written by the worker only */
	pg_atomic_uint64 samples_done;
	pg_atomic_uint64 attempts;
	int64		samples_at_start;
	TimestampTz run_started_at;
} HgSlot;

/* At most this many databases get a launcher (heimdall_gen.database). */
#define HG_MAX_LAUNCHERS 16

/* A launcher, one per database listed in heimdall_gen.database. */
typedef struct HgLauncher
{
	Oid			database_oid;	/* InvalidOid until it connected */
	pid_t		pid;
	Latch	   *latch;
	bool		wants_slot;		/* a queued job of its last round found no free slot */
	int			connect_attempts;	/* since the last connection that succeeded */
} HgLauncher;

/*
 * A cancel whose worker could not write it: cancel_job(id, wait => true)
 * raised the flag, the worker stopped, but another transaction held the
 * job's row past the worker's wait, so it left its slot with the job still
 * 'running' (hg_worker.c, STOP_ROW_HELD).  The caller's own UPDATE may never
 * come (its statement timed out): the launcher writes 'cancelled' instead
 * of queueing the job again once the row is free.  Shared by every
 * database; with no room left, or after a server restart, the job resumes
 * as before.
 */
#define HG_MAX_PENDING_CANCELS 256
typedef struct HgPendingCancel
{
	Oid			database_oid;
	int64		job_id;			/* 0: a free entry */
} HgPendingCancel;

typedef struct HgShared
{
	LWLock	   *lock;
	HgLauncher	launchers[HG_MAX_LAUNCHERS];
	ConditionVariable job_ended;	/* broadcast when a worker leaves its slot */
	/* others step aside for a stopping worker until then (CLOCK_MONOTONIC ns; 0: no one) */
	pg_atomic_uint64 step_aside_until_ns;
	pg_atomic_uint64 step_aside_last_begun_ns;
	uint64		claims_made;	/* slots claimed since the server started, under lock */
	bool		page_size_told; /* a launcher logged the shared memory's page size, under lock */
	HgPendingCancel pending_cancels[HG_MAX_PENDING_CANCELS];	/* under lock */
	int			n_slots;
	HgSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} HgShared;

extern HgShared *hg_shared;

extern Size hg_shmem_size(void);
extern void hg_shmem_request(void);
extern void hg_shmem_startup(void);

/* Slot running the job (in_use), or -1; caller holds the lock (shared is enough). */
extern int	hg_slot_of_job(Oid database_oid, int64 job_id);

/* Wake the launcher of a database now (no-op when it has none running). */
extern void hg_wake_launcher_now(Oid database_oid);

/* The launcher of a database, or NULL; the caller holds hg_shared->lock. */
extern HgLauncher *hg_launcher_of(Oid database_oid);

/* Whether a launcher serves this database (is configured for it). */
extern bool hg_database_is_served(Oid database_oid);

/*
 * The cancels a worker left to the launcher (HgPendingCancel).  Note one
 * before the slot is released, so that a launcher that finds no slot for
 * the job finds the note; the caller holds no lock, and false means no room.
 * The others take the lock themselves.
 */
extern bool hg_pending_cancel_note(Oid database_oid, int64 job_id);
extern bool hg_pending_cancel_exists(Oid database_oid, int64 job_id);
extern void hg_pending_cancel_forget(Oid database_oid, int64 job_id);
/* The jobs of a database with a note, into job_ids (HG_MAX_PENDING_CANCELS long); returns how many. */
extern int	hg_pending_cancels_of(Oid database_oid, int64 *job_ids);

/*
 * Wake every session sleeping on job_ended (wait_job, cancel_job with wait):
 * a job stopped or changed to a final status, look again.
 */
extern void hg_announce_job_ended(void);

/*
 * The other workers step aside for a worker that is being stopped while
 * someone waits for it (cancel_job(id, wait => true)): between two rows,
 * and their model threads between two receivers, they sleep until
 * hg_step_aside_end, so that the stopping worker has the CPUs for its
 * last transaction and its exit.  hg_step_aside_begin returns the
 * deadline to pass to hg_step_aside_end, or 0 when the others were asked
 * to step aside too recently: however often a role cancels its own jobs,
 * other jobs lose at most HG_STEP_ASIDE_MAX_MS in every
 * HG_STEP_ASIDE_EVERY_MS.
 */
#define HG_STEP_ASIDE_MAX_MS 15
#define HG_STEP_ASIDE_EVERY_MS 250
extern uint64 hg_step_aside_begin(void);
extern void hg_step_aside_end(uint64 until_ns);
/* How long the others should still step aside; any thread may ask (atomic reads). */
extern uint64 hg_step_aside_remaining_ns(void);

#endif							/* HG_SHMEM_H */
