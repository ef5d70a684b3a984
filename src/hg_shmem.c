/*
 * hg_shmem.c
 *    Allocation and attachment of heimdall_gen's shared memory (see
 *    hg_shmem.h), requested from _PG_init through the PG15 shmem hooks.
 */
#include "postgres.h"

#include <time.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "commands/dbcommands.h"

#include "hg_guc.h"
#include "hg_shmem.h"

HgShared   *hg_shared = NULL;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

Size
hg_shmem_size(void)
{
	return add_size(offsetof(HgShared, slots), mul_size(sizeof(HgSlot), hg_max_workers));
}

void
hg_shmem_request(void)
{
	RequestAddinShmemSpace(hg_shmem_size());
	RequestNamedLWLockTranche("heimdall_gen", 1);
}

static void
hg_shmem_startup_hook(void)
{
	bool		found;
	int			i;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	hg_shared = ShmemInitStruct("heimdall_gen", hg_shmem_size(), &found);
	if (!found)
	{
		memset(hg_shared, 0, hg_shmem_size());
		hg_shared->lock = &(GetNamedLWLockTranche("heimdall_gen"))->lock;
		ConditionVariableInit(&hg_shared->job_ended);
		pg_atomic_init_u64(&hg_shared->step_aside_until_ns, 0);
		pg_atomic_init_u64(&hg_shared->step_aside_last_begun_ns, 0);
		hg_shared->n_slots = hg_max_workers;
		for (i = 0; i < hg_max_workers; i++)
		{
			pg_atomic_init_u32(&hg_shared->slots[i].cancel_requested, 0);
			pg_atomic_init_u32(&hg_shared->slots[i].pause_requested, 0);
			pg_atomic_init_u64(&hg_shared->slots[i].samples_done, 0);
			pg_atomic_init_u64(&hg_shared->slots[i].attempts, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
hg_shmem_startup(void)
{
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = hg_shmem_startup_hook;
}

int
hg_slot_of_job(Oid database_oid, int64 job_id)
{
	int			i;

	for (i = 0; i < hg_shared->n_slots; i++)
		if (hg_shared->slots[i].in_use && hg_shared->slots[i].job_id == job_id &&
			hg_shared->slots[i].database_oid == database_oid)
			return i;
	return -1;
}

/* The entry of a pending cancel, or NULL; the caller holds the lock. */
static HgPendingCancel *
pending_cancel_of(Oid database_oid, int64 job_id)
{
	int			i;

	for (i = 0; i < HG_MAX_PENDING_CANCELS; i++)
		if (hg_shared->pending_cancels[i].job_id == job_id &&
			hg_shared->pending_cancels[i].database_oid == database_oid)
			return &hg_shared->pending_cancels[i];
	return NULL;
}

bool
hg_pending_cancel_note(Oid database_oid, int64 job_id)
{
	HgPendingCancel *entry;

	Assert(job_id != 0);
	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	entry = pending_cancel_of(database_oid, job_id);
	if (entry == NULL)
		entry = pending_cancel_of(InvalidOid, 0);	/* a free one */
	if (entry != NULL)
	{
		entry->database_oid = database_oid;
		entry->job_id = job_id;
	}
	LWLockRelease(hg_shared->lock);
	return entry != NULL;
}

bool
hg_pending_cancel_exists(Oid database_oid, int64 job_id)
{
	bool		exists;

	LWLockAcquire(hg_shared->lock, LW_SHARED);
	exists = pending_cancel_of(database_oid, job_id) != NULL;
	LWLockRelease(hg_shared->lock);
	return exists;
}

void
hg_pending_cancel_forget(Oid database_oid, int64 job_id)
{
	HgPendingCancel *entry;

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	entry = pending_cancel_of(database_oid, job_id);
	if (entry != NULL)
	{
		entry->database_oid = InvalidOid;
		entry->job_id = 0;
	}
	LWLockRelease(hg_shared->lock);
}

int
hg_pending_cancels_of(Oid database_oid, int64 *job_ids)
{
	int			i,
				n = 0;

	LWLockAcquire(hg_shared->lock, LW_SHARED);
	for (i = 0; i < HG_MAX_PENDING_CANCELS; i++)
		if (hg_shared->pending_cancels[i].job_id != 0 && hg_shared->pending_cancels[i].database_oid == database_oid)
			job_ids[n++] = hg_shared->pending_cancels[i].job_id;
	LWLockRelease(hg_shared->lock);
	return n;
}

HgLauncher *
hg_launcher_of(Oid database_oid)
{
	int			i;

	for (i = 0; i < HG_MAX_LAUNCHERS; i++)
		if (hg_shared->launchers[i].database_oid == database_oid)
			return &hg_shared->launchers[i];
	return NULL;
}

void
hg_wake_launcher_now(Oid database_oid)
{
	HgLauncher *launcher;
	Latch	   *latch = NULL;

	if (hg_shared == NULL)
		return;
	LWLockAcquire(hg_shared->lock, LW_SHARED);
	launcher = hg_launcher_of(database_oid);
	if (launcher != NULL)
		latch = launcher->latch;
	LWLockRelease(hg_shared->lock);
	if (latch)
		SetLatch(latch);
}

bool
hg_database_is_served(Oid database_oid)
{
	char	   *name = get_database_name(database_oid);

	return name != NULL && hg_database_has_launcher(name);
}

void
hg_announce_job_ended(void)
{
	if (hg_shared)
		ConditionVariableBroadcast(&hg_shared->job_ended);
}

/* CLOCK_MONOTONIC: the same clock in every process and thread, never set back. */
static uint64
monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64) now.tv_sec * UINT64CONST(1000000000) + (uint64) now.tv_nsec;
}

uint64
hg_step_aside_begin(void)
{
	uint64		now = monotonic_ns();
	uint64		last = pg_atomic_read_u64(&hg_shared->step_aside_last_begun_ns);

	/* one asker per period: a cancel that loses the race goes without */
	if (last != 0 && now - last < (uint64) HG_STEP_ASIDE_EVERY_MS * 1000000)
		return 0;
	if (!pg_atomic_compare_exchange_u64(&hg_shared->step_aside_last_begun_ns, &last, now))
		return 0;
	pg_atomic_write_u64(&hg_shared->step_aside_until_ns, now + (uint64) HG_STEP_ASIDE_MAX_MS * 1000000);
	return now + (uint64) HG_STEP_ASIDE_MAX_MS * 1000000;
}

void
hg_step_aside_end(uint64 until_ns)
{
	uint64		expected = until_ns;

	if (until_ns != 0)
		(void) pg_atomic_compare_exchange_u64(&hg_shared->step_aside_until_ns, &expected, 0);
}

uint64
hg_step_aside_remaining_ns(void)
{
	uint64		until = pg_atomic_read_u64(&hg_shared->step_aside_until_ns);
	uint64		now;

	if (until == 0)
		return 0;
	now = monotonic_ns();
	return until > now ? until - now : 0;
}
