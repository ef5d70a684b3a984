/*
 * hg_launcher.c
 *    The launcher: one static background worker per database listed in
 *    heimdall_gen.database, connected to it as the bootstrap superuser.  It
 *    sleeps on its latch and, when woken (a job was queued or resumed, a
 *    worker exited) or every few seconds, re-queues jobs whose worker
 *    vanished (crash, restart, fast shutdown: counting restarts and failing a
 *    job that keeps dying at the same sample), and starts one dynamic worker
 *    per queued job while worker slots are free, shared fairly: the role
 *    with the fewest running jobs first, each role's oldest job first.  It only
 *    ever sees committed jobs, so a rolled-back start_job starts nothing.  It
 *    runs whether or not its database has the extension, notices CREATE
 *    EXTENSION (whose script wakes it), and starts nothing while the
 *    installed SQL is not the version this library serves.
 *
 *    It runs as a superuser, so every statement is qualified and runs under
 *    the pinned search_path (hg_sql.h), and every row it reads is untrusted:
 *    a job whose owner is gone or cannot log in, or whose dataset belongs to
 *    someone else, ends 'failed' with the reason instead of being started.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "hg_backoff.h"
#include "hg_events.h"
#include "hg_guc.h"
#include "hg_mappings.h"
#include "hg_shmem.h"
#include "hg_sql.h"

PGDLLEXPORT void hg_launcher_main(Datum main_arg);

#define CONNECT_RETRY_MAX_S 60	/* the longest pause before another attempt to connect */

#define IDLE_TIMEOUT_MS 5000	/* safety net only: every event sets the latch */
#define LOCKED_RETRY_MS 1000	/* a queued job skipped for a row lock or a wait: nothing signals their end */

static int	my_index = -1;		/* this launcher's entry in hg_shared->launchers */
static bool warned_no_worker = false;
static bool cancels_recorded = false;	/* this round wrote a cancel a worker left (record_pending_cancels) */
static int	round_requeued = 0;		/* jobs this round queued again (requeue_orphaned_jobs) */
static int	round_started = 0;		/* workers this round started */
static char *warned_version = NULL;

/*
 * The slot claim_slot gave this launcher whose worker is not registered
 * yet (-1: none).  Between the two the launcher runs SQL that can fail
 * (its lock test waits behind a table lock, and a cancel, a deadlock or a
 * timeout there ends the launcher): a claimed slot has no handle, so
 * nothing else would ever free it, and its job would stay queued for
 * good, holding one of heimdall_gen.max_workers (a code review).  The
 * launcher's exit gives it back.
 */
static int	slot_claimed_unregistered = -1;

static const char *hg_launcher_database(void);

static void
detach_launcher(int code, Datum arg)
{
	HgLauncher *me = &hg_shared->launchers[my_index];

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	if (slot_claimed_unregistered >= 0)
	{
		HgSlot	   *s = &hg_shared->slots[slot_claimed_unregistered];

		if (s->in_use && !s->has_handle && s->pid == 0 && s->database_oid == MyDatabaseId)
			s->in_use = false;
		slot_claimed_unregistered = -1;
	}
	if (me->pid == MyProcPid)
	{
		me->pid = 0;
		me->latch = NULL;
	}
	LWLockRelease(hg_shared->lock);
}

/* Installed, and the version this library serves (warns once otherwise). */
static bool
extension_ready(void)
{
	char	   *version = NULL;

	if (!hg_extension_info(NULL, &version))
		return false;
	if (strcmp(version, HG_SQL_VERSION) == 0)
	{
		warned_version = NULL;
		return true;
	}
	if (warned_version == NULL || strcmp(warned_version, version) != 0)
	{
		ereport(WARNING,
				(errmsg("the heimdall_gen library serves SQL version %s, but version %s is installed in database \"%s\"",
						HG_SQL_VERSION, version, hg_launcher_database()),
				 errdetail("No job is started until the extension is updated."),
				 errhint("Run ALTER EXTENSION heimdall_gen UPDATE in that database.")));
		warned_version = MemoryContextStrdup(TopMemoryContext, version);
	}
	return false;
}

/* End a queued job 'failed' with the reason (it was never started). */
static void
fail_queued_job(int64 job_id, const char *error)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(job_id), CStringGetTextDatum(error)};

	/* a row someone holds locked is left for a later round: the launcher never waits for a user */
	if (SPI_execute_with_args("WITH c AS (SELECT job_id FROM heimdall_gen.jobs WHERE job_id = $1 AND status = 'queued' "
							  "           FOR NO KEY UPDATE SKIP LOCKED) "
							  "UPDATE heimdall_gen.jobs j SET status = 'failed', finished_at = pg_catalog.now(), "
							  "error = $2 FROM c WHERE j.job_id = c.job_id AND j.status = 'queued' RETURNING j.owner",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not fail job " INT64_FORMAT, job_id);
	ereport(LOG, (errmsg("heimdall_gen job " INT64_FORMAT " failed: %s", job_id, error)));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		owner = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && hg_event_commit_lock_within_ms(HG_STATUS_EVENT_LOCK_MS))
			hg_send_event(DatumGetObjectId(owner),
						  psprintf("{\"job_id\": " INT64_FORMAT ", \"event\": \"status\", \"status\": \"failed\"}",
								   job_id));
	}
}

/*
 * Say on a queued job's row why it still waits: no background worker could
 * be had for it (max_worker_processes spent by other workers, parallel
 * queries among them), or its workers ended before taking it (the database
 * allows no connection, a connection limit...).  The server log said it,
 * but a user watching the job saw only 'queued'.  The worker's claim clears
 * the message.  A row someone holds locked is left as it is; written only
 * when it changes.
 */
static void
note_why_queued(int64 job_id, const char *message)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(job_id), CStringGetTextDatum(message)};

	if (SPI_execute_with_args("WITH c AS (SELECT job_id FROM heimdall_gen.jobs WHERE job_id = $1 AND status = 'queued' "
							  "           AND message IS DISTINCT FROM $2 FOR NO KEY UPDATE SKIP LOCKED) "
							  "UPDATE heimdall_gen.jobs j SET message = $2 FROM c WHERE j.job_id = c.job_id",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write the message of job " INT64_FORMAT, job_id);
}

/*
 * The cancels workers left to the launcher (HgPendingCancel): each job
 * still 'running' with no worker becomes 'cancelled', as its worker would
 * have written it, once no one holds its row.  A note whose job is no
 * longer 'running' (its canceller's own UPDATE committed, or someone
 * paused it) is forgotten.  True if a note waits for a row lock: nothing
 * wakes the launcher when that lock goes.
 */
static bool
record_pending_cancels(void)
{
	int64		ids[HG_MAX_PENDING_CANCELS];
	int			n = hg_pending_cancels_of(MyDatabaseId, ids);
	int			i;
	bool		some_wait = false;

	for (i = 0; i < n; i++)
	{
		Oid			types[1] = {INT8OID};
		Datum		args[1] = {Int64GetDatum(ids[i])};
		int			slot;

		LWLockAcquire(hg_shared->lock, LW_SHARED);
		slot = hg_slot_of_job(MyDatabaseId, ids[i]);
		LWLockRelease(hg_shared->lock);
		/*
		 * A worker in its slot: the one that made the note, not gone yet
		 * (it notes before it leaves), since a new run's start forgets the
		 * note (start_queued_jobs).  Looked at again next round.
		 */
		if (slot >= 0)
		{
			some_wait = true;
			continue;
		}
		/* read_only = false: each statement sees what committed before it, not the round's snapshot */
		if (SPI_execute_with_args("WITH c AS (SELECT job_id FROM heimdall_gen.jobs WHERE job_id = $1 AND status = 'running' "
								  "             FOR NO KEY UPDATE SKIP LOCKED) "
								  "UPDATE heimdall_gen.jobs j SET status = 'cancelled', "
								  "       finished_at = coalesce(j.finished_at, pg_catalog.now()), "
								  "       message = " HG_CANCELLED_MESSAGE_SQL " "
								  "  FROM c WHERE j.job_id = c.job_id AND j.status = 'running' "
								  "RETURNING j.owner",
								  1, types, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not record the cancel of job " INT64_FORMAT, ids[i]);
		if (SPI_processed == 1)
		{
			Oid			owner = DatumGetObjectId(hg_spi_get_notnull(0, 1, "jobs.owner"));

			hg_pending_cancel_forget(MyDatabaseId, ids[i]);
			cancels_recorded = true;
			ereport(LOG, (errmsg("heimdall_gen job " INT64_FORMAT " cancelled: the launcher recorded the cancel "
								 "its worker could not write", ids[i])));
			if (hg_event_commit_lock_within_ms(HG_STATUS_EVENT_LOCK_MS))
				hg_send_event(owner, psprintf("{\"job_id\": " INT64_FORMAT ", \"event\": \"status\", "
											  "\"status\": \"cancelled\"}", ids[i]));
			continue;
		}
		if (SPI_execute_with_args("SELECT 1 FROM heimdall_gen.jobs WHERE job_id = $1 AND status = 'running'",
								  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read job " INT64_FORMAT, ids[i]);
		if (SPI_processed == 0)
			hg_pending_cancel_forget(MyDatabaseId, ids[i]);	/* it ended otherwise */
		else
			some_wait = true;	/* its row is still locked */
	}
	return some_wait;
}

/*
 * A job left 'running' with no worker in a slot lost its worker: crash,
 * restart, fast shutdown, pg_terminate_backend.  Queue it again to resume
 * at its committed next attempt, unless it died max_restarts times at the
 * same sample: then it fails, instead of looping.  True if a job was
 * passed over for a lock on its row: nothing wakes the launcher when that
 * lock goes.
 */
static bool
requeue_orphaned_jobs(void)
{
	uint64		i,
				n;
	int64	   *ids;
	bool		passed_over = false;

	if (SPI_execute("SELECT j.job_id FROM heimdall_gen.jobs j WHERE j.status = 'running' ORDER BY j.job_id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read running jobs");
	n = SPI_processed;
	ids = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
		ids[i] = DatumGetInt64(hg_spi_get_notnull(i, 1, "jobs.job_id"));
	for (i = 0; i < n; i++)
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		args[2] = {Int64GetDatum(ids[i]), Int32GetDatum(hg_max_restarts)};
		int			slot;
		char	   *status;

		LWLockAcquire(hg_shared->lock, LW_SHARED);
		slot = hg_slot_of_job(MyDatabaseId, ids[i]);
		LWLockRelease(hg_shared->lock);
		if (slot >= 0 || hg_pending_cancel_exists(MyDatabaseId, ids[i]))
			continue;			/* running, or cancelled once its row is free (record_pending_cancels) */
		/*
		 * WHERE status = 'running' is re-checked on the newest row: a worker
		 * that just finished wins.  A row someone holds locked (its owner
		 * may, with SELECT ... FOR UPDATE) is skipped until a later round:
		 * waiting for it would stop the scheduling of every role's jobs.
		 */
		if (SPI_execute_with_args(
								  "WITH c AS (SELECT job_id, CASE WHEN restart_point = samples_done "
								  "                              THEN restarts_at_point + 1 ELSE 1 END AS at_point "
								  "             FROM heimdall_gen.jobs WHERE job_id = $1 AND status = 'running' "
								  "              FOR NO KEY UPDATE SKIP LOCKED) "
								  "UPDATE heimdall_gen.jobs j SET restarts = j.restarts + 1, "
								  "       restart_point = j.samples_done, restarts_at_point = c.at_point, "
								  "       status = CASE WHEN c.at_point >= $2 THEN 'failed' ELSE 'queued' END, "
								  "       finished_at = CASE WHEN c.at_point >= $2 THEN pg_catalog.now() END, "
								  "       error = CASE WHEN c.at_point >= $2 THEN pg_catalog.format("
								  "           'the worker stopped unexpectedly %s times at sample %s of %s; "
								  "see the server log', c.at_point, j.samples_done, j.num_samples) END "
								  "  FROM c WHERE j.job_id = c.job_id AND j.status = 'running' "
								  "RETURNING j.status, j.restarts, j.owner",
								  2, types, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "could not requeue job " INT64_FORMAT, ids[i]);
		if (SPI_processed != 1)
		{
			passed_over = true; /* locked (or no longer running: then one look more finds nothing) */
			continue;
		}
		status = TextDatumGetCString(hg_spi_get_notnull(0, 1, "jobs.status"));
		if (strcmp(status, "queued") == 0)
			round_requeued++;
		ereport(LOG, (errmsg("heimdall_gen job " INT64_FORMAT " lost its worker; %s", ids[i],
							 strcmp(status, "failed") == 0 ? "it failed: too many restarts at the same sample"
							 : "queued again to resume")));
		if (hg_event_commit_lock_within_ms(HG_STATUS_EVENT_LOCK_MS))
			hg_send_event(DatumGetObjectId(hg_spi_get_notnull(0, 3, "jobs.owner")),
						  psprintf("{\"job_id\": " INT64_FORMAT ", \"event\": \"status\", \"status\": \"%s\", "
								   "\"restarts\": %d}", ids[i], status,
								   DatumGetInt32(hg_spi_get_notnull(0, 2, "jobs.restarts"))));
	}
	return passed_over;
}

/*
 * Forget slots whose worker stopped without attaching (it died before, or
 * could not connect): they would otherwise stay in use forever.  Uses the
 * handle copies in shared memory, so a restarted launcher also finds the
 * workers its predecessor registered.
 */
static void
reap_dead_slots(void)
{
	int			i;

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < hg_shared->n_slots; i++)
	{
		HgSlot	   *s = &hg_shared->slots[i];
		pid_t		pid;

		if (!s->in_use || s->pid != 0 || !s->has_handle || s->database_oid != MyDatabaseId)
			continue;
		if (GetBackgroundWorkerPid((BackgroundWorkerHandle *) &s->handle, &pid) == BGWH_STOPPED)
		{
			s->in_use = false;
			s->has_handle = false;
		}
	}
	LWLockRelease(hg_shared->lock);
}

static bool
start_worker(int slot_index, int64 job_id)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher decides what resumes */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "heimdall_gen");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hg_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "heimdall_gen worker for job " INT64_FORMAT, job_id);
	snprintf(worker.bgw_type, BGW_MAXLEN, "heimdall_gen worker");
	worker.bgw_main_arg = Int32GetDatum(slot_index);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return false;
	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	memcpy(&hg_shared->slots[slot_index].handle, handle, sizeof(HgWorkerHandle));
	hg_shared->slots[slot_index].has_handle = true;
	slot_claimed_unregistered = -1;
	LWLockRelease(hg_shared->lock);
	pfree(handle);
	return true;
}

/*
 * A queued job waits for a slot: the next worker to leave one wakes this
 * launcher (release_slot).  Set under hg_shared->lock, in the same hold
 * that found no slot, so a slot freed after that hold always sees it.
 */
static void
note_slot_wanted(void)
{
	hg_shared->launchers[my_index].wants_slot = true;
}

/*
 * Claim a free slot for the job; -1 when all are busy, the job still has
 * one, or its owner already holds heimdall_gen.max_workers_per_role (in
 * any database: a role is the cluster's).  The end of one of that owner's
 * jobs then wakes the launcher, as a freed slot does.
 */
static int
claim_slot(int64 job_id, Oid owner, TransactionId row_version, bool *busy)
{
	int			k;
	int			free_slot = -1;
	int			owners_slots = 0;
	int			held;

	*busy = false;
	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	held = hg_slot_of_job(MyDatabaseId, job_id);
	if (held >= 0)
	{
		/*
		 * Its previous worker is still winding down: its leaving must wake
		 * this launcher.  Unless that worker was started for this very row
		 * version and is still claiming it (this round was woken by the
		 * postmaster's word that it started): it then leaves with the job
		 * claimed and ended, or wakes the launcher itself (release_slot).
		 * A want noted for it woke the launcher into a round at every
		 * cancel, on a CPU the stopping worker and the canceller needed
		 * (1.9 ms, traced).
		 */
		if (hg_shared->slots[held].queued_row_version != row_version)
			note_slot_wanted();
		LWLockRelease(hg_shared->lock);
		return -1;
	}
	for (k = 0; k < hg_shared->n_slots; k++)
		if (hg_shared->slots[k].in_use && hg_shared->slots[k].owner_oid == owner)
			owners_slots++;
	if (hg_max_workers_per_role > 0 && owners_slots >= hg_max_workers_per_role)
	{
		note_slot_wanted();
		LWLockRelease(hg_shared->lock);
		return -1;
	}
	for (k = 0; k < hg_shared->n_slots && free_slot < 0; k++)
		if (!hg_shared->slots[k].in_use)
			free_slot = k;
	if (free_slot >= 0)
	{
		HgSlot	   *s = &hg_shared->slots[free_slot];

		s->in_use = true;
		s->job_id = job_id;
		s->database_oid = MyDatabaseId;
		s->owner_oid = owner;
		s->pid = 0;
		s->latch = NULL;
		s->has_handle = false;
		s->claim_number = ++hg_shared->claims_made;
		s->queued_row_version = row_version;
		pg_atomic_write_u32(&s->cancel_requested, 0);
		pg_atomic_write_u32(&s->pause_requested, 0);
		pg_atomic_write_u64(&s->samples_done, 0);
		pg_atomic_write_u64(&s->attempts, 0);
		s->samples_at_start = 0;
		s->run_started_at = GetCurrentTimestamp();
		slot_claimed_unregistered = free_slot;
	}
	else
	{
		*busy = true;
		note_slot_wanted();
	}
	LWLockRelease(hg_shared->lock);
	return free_slot;
}

/* A slot claim_slot gave that no worker will take after all. */
static void
give_slot_back(int slot_index)
{
	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	hg_shared->slots[slot_index].in_use = false;
	slot_claimed_unregistered = -1;
	LWLockRelease(hg_shared->lock);
}

/*
 * Why a queued job cannot run, or NULL.  The worker connects as the job's
 * owner, so the owner must exist, may log in and may connect to this
 * database (else each worker dies at its connection, and the job, still
 * queued, got a new one at once, dozens a second); the dataset must exist
 * and belong to that same owner (a row planted by hand must not make a
 * worker write into someone else's dataset).
 */
static const char *
unrunnable_reason(HeapTuple t, TupleDesc d)
{
	bool		owner_null,
				role_null,
				login_null,
				ds_null,
				connect_null;
	Oid			owner = DatumGetObjectId(SPI_getbinval(t, d, 2, &owner_null));
	bool		can_login = DatumGetBool(SPI_getbinval(t, d, 4, &login_null));
	Oid			ds_owner = DatumGetObjectId(SPI_getbinval(t, d, 5, &ds_null));
	bool		may_connect = DatumGetBool(SPI_getbinval(t, d, 6, &connect_null));

	(void) SPI_getbinval(t, d, 3, &role_null);	/* pg_roles.oid: null when the role is gone */
	if (owner_null || role_null)
		return "the job's owner role no longer exists";
	if (login_null || !can_login)
		return "the job's owner cannot log in, and the worker connects as the job's owner";
	if (connect_null || !may_connect)
		return "the job's owner may not connect to this database (no CONNECT privilege), "
			"and the worker connects as the job's owner";
	if (ds_null)
		return "the job's dataset no longer exists";
	if (ds_owner != owner)
		return "the job's dataset belongs to another role";
	return NULL;
}

/*
 * Whether a queued job's row can be locked now, without waiting.  A row
 * held locked by another transaction (its owner may, with SELECT ... FOR
 * UPDATE) would keep the job's worker waiting in its claim, on a slot
 * other roles' jobs are queued for: such a job is skipped until a later
 * round.  The lock is taken in a subtransaction rolled back at once (the
 * row locks of an aborted subtransaction bind no one), so the worker's
 * claim never waits for this round to commit.
 */
static bool
queued_job_lockable(int64 job_id)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	bool		lockable;

	BeginInternalSubTransaction(NULL);
	if (SPI_execute_with_args(HG_LOCK_QUEUED_JOB_SQL,
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock job " INT64_FORMAT, job_id);
	lockable = SPI_processed == 1;
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	return lockable;
}

/* A queued job as read for a round: the query's result is gone once another statement runs. */
typedef struct QueuedJob
{
	int64		job_id;
	Oid			owner;
	TransactionId row_version;	/* the xmin of its row: which write made it queued */
	const char *unrunnable;		/* why it cannot run (a constant string), or NULL */
} QueuedJob;

/*
 * One worker per queued job while slots are free: the jobs of the roles
 * with the fewest running jobs first, each role's oldest first (a role
 * that queued many jobs does not keep the others waiting behind them all).
 * True if a job was skipped because its row was locked, or because its
 * workers ended before taking it (hg_backoff.c): the launcher then looks
 * again soon, since nothing wakes it when that lock goes or that wait ends.
 */
static bool
start_queued_jobs(void)
{
	uint64		i;
	uint64		n;
	QueuedJob  *queued;
	int64	   *queued_ids;
	bool		skipped_for_now = false;

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	hg_shared->launchers[my_index].wants_slot = false;	/* set again below if still so */
	LWLockRelease(hg_shared->lock);
	if (SPI_execute("SELECT j.job_id, j.owner, r.oid, r.rolcanlogin, d.owner, "
					"       pg_catalog.has_database_privilege(r.oid, pg_catalog.current_database(), 'CONNECT'), "
					"       j.xmin "
					"  FROM heimdall_gen.jobs j "
					"  LEFT JOIN pg_catalog.pg_roles r ON r.oid = j.owner "
					"  LEFT JOIN heimdall_gen.datasets d ON d.dataset_id = j.dataset_id "
					"  LEFT JOIN (SELECT x.owner::pg_catalog.oid AS owner, count(*) AS n FROM heimdall_gen.jobs x "
					"              WHERE x.status = 'running' GROUP BY 1) running ON running.owner = j.owner::pg_catalog.oid "
					" WHERE j.status = 'queued' "
					" ORDER BY coalesce(running.n, 0) + row_number() OVER (PARTITION BY j.owner::pg_catalog.oid ORDER BY j.job_id), "
					"          j.job_id "
					" LIMIT 1000", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read queued jobs");
	n = SPI_processed;
	queued = palloc(sizeof(QueuedJob) * (n + 1));
	queued_ids = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
	{
		queued[i].job_id = DatumGetInt64(hg_spi_get_notnull(i, 1, "jobs.job_id"));
		queued[i].owner = DatumGetObjectId(hg_spi_get_notnull(i, 2, "jobs.owner"));
		queued[i].row_version = DatumGetTransactionId(hg_spi_get_notnull(i, 7, "jobs.xmin"));
		queued[i].unrunnable = unrunnable_reason(SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
		queued_ids[i] = queued[i].job_id;
	}
	hg_backoff_keep_only(queued_ids, (int) n);
	for (i = 0; i < n; i++)
	{
		bool		busy;
		bool		has_slot;
		int			early_ends,
					wait_ms;
		int			slot;

		if (queued[i].unrunnable)
		{
			fail_queued_job(queued[i].job_id, queued[i].unrunnable);
			continue;
		}
		LWLockAcquire(hg_shared->lock, LW_SHARED);
		has_slot = hg_slot_of_job(MyDatabaseId, queued[i].job_id) >= 0;
		LWLockRelease(hg_shared->lock);
		/* (a job whose worker is still there: claim_slot below makes it wait for that one) */
		if (!has_slot && !hg_backoff_may_start(queued[i].job_id, queued[i].row_version, GetCurrentTimestamp(),
												&early_ends, &wait_ms))
		{
			skipped_for_now = true;	/* its workers ended before taking it: it waits */
			/* (written before its next worker starts, which then sees this row version) */
			if (early_ends > 0)
				note_why_queued(queued[i].job_id,
								psprintf("waiting: %d worker%s in a row ended before taking the job (the server log "
										 "says why: a database that allows no connection, a connection limit...); "
										 "the next starts in %d s", early_ends, early_ends == 1 ? "" : "s",
										 (wait_ms + 999) / 1000));
			continue;
		}
		slot = claim_slot(queued[i].job_id, queued[i].owner, queued[i].row_version, &busy);
		if (busy)
			break;				/* all slots busy: the rest stay queued, in order */
		if (slot < 0)
			continue;
		if (!queued_job_lockable(queued[i].job_id))
		{
			/* locked by someone (or no longer queued: then the next look finds nothing) */
			give_slot_back(slot);
			skipped_for_now = true;
			continue;
		}
		if (!start_worker(slot, queued[i].job_id))
		{
			give_slot_back(slot);
			note_why_queued(queued[i].job_id,
							"waiting for a background worker: the server's max_worker_processes are all in use");
			if (!warned_no_worker)
				ereport(WARNING,
						(errmsg("no background worker available for heimdall_gen job " INT64_FORMAT, queued[i].job_id),
						 errhint("Raise max_worker_processes above heimdall_gen.max_workers plus the other workers.")));
			warned_no_worker = true;
			break;
		}
		warned_no_worker = false;
		round_started++;
		/* a new run: a cancel noted for an earlier one (record_pending_cancels) is no longer its */
		hg_pending_cancel_forget(MyDatabaseId, queued[i].job_id);
		hg_backoff_started(queued[i].job_id, queued[i].row_version);
	}
	pfree(queued);
	pfree(queued_ids);
	return skipped_for_now;
}

/*
 * Rows of a dropped role belong to no role.  A regrole column records no
 * dependency: DROP ROLE succeeds and the rows keep the old OID, which
 * pg_dump writes as a bare number and a restore into another cluster would
 * hand to whichever role has that OID there (and a wrapped OID counter
 * here).  So datasets and jobs of a role that no longer exists get owner 0
 * ("-": admins see them, no one runs them; a queued one then fails), its
 * receivers and event channel go.  Run when the set of roles has changed
 * (a cheap signature of pg_roles), in a subtransaction: a failure is
 * logged and retried, never the end of the launcher.  A row someone holds
 * locked is skipped, not waited for: the role may have locked its rows
 * (SELECT ... FOR UPDATE, in a session that outlives the role or a
 * prepared transaction), and a launcher waiting for that lock would start
 * no job of any role.  Skipped rows are cleared in a later round.
 */
#define ROLE_GONE(column) \
	"NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = " column "::pg_catalog.oid)"
/* each table's rows of dropped roles, as x: what is cleared, and what is looked for after */
#define DATASETS_OF_DROPPED "heimdall_gen.datasets x WHERE x.owner::pg_catalog.oid <> 0 AND " ROLE_GONE("x.owner")
#define JOBS_OF_DROPPED "heimdall_gen.jobs x WHERE x.owner::pg_catalog.oid <> 0 AND " ROLE_GONE("x.owner")
#define RECEIVERS_OF_DROPPED "heimdall_gen.receivers x WHERE " ROLE_GONE("x.owner")
#define CHANNELS_OF_DROPPED "heimdall_gen.event_channels x WHERE " ROLE_GONE("x.role_id")

static const char *const clear_statements[] = {
	"UPDATE heimdall_gen.datasets d SET owner = 0 "
	" WHERE d.dataset_id IN (SELECT x.dataset_id FROM " DATASETS_OF_DROPPED " FOR NO KEY UPDATE SKIP LOCKED)",
	"UPDATE heimdall_gen.jobs j SET owner = 0 "
	" WHERE j.job_id IN (SELECT x.job_id FROM " JOBS_OF_DROPPED " FOR NO KEY UPDATE SKIP LOCKED)",
	"DELETE FROM heimdall_gen.receivers v "
	" WHERE (v.owner::pg_catalog.oid, v.network, v.name) IN "
	"       (SELECT x.owner::pg_catalog.oid, x.network, x.name FROM " RECEIVERS_OF_DROPPED " FOR UPDATE SKIP LOCKED)",
	"DELETE FROM heimdall_gen.event_channels c "
	" WHERE c.role_id::pg_catalog.oid IN "
	"       (SELECT x.role_id::pg_catalog.oid FROM " CHANNELS_OF_DROPPED " FOR UPDATE SKIP LOCKED)"};

/*
 * Whether rows were skipped: any row of a dropped role still there, read
 * without locks after the statements above (not read-only: a new snapshot,
 * which sees what they changed).
 */
#define ROWS_OF_DROPPED_ROLES_LEFT \
	"SELECT EXISTS (SELECT 1 FROM " DATASETS_OF_DROPPED ") OR EXISTS (SELECT 1 FROM " JOBS_OF_DROPPED ") " \
	"    OR EXISTS (SELECT 1 FROM " RECEIVERS_OF_DROPPED ") OR EXISTS (SELECT 1 FROM " CHANNELS_OF_DROPPED ")"

typedef struct ClearedRows
{
	uint64		changed;
	bool		some_left;		/* locked by someone: cleared in a later round */
} ClearedRows;

static void
clear_rows_of_dropped_roles(void *arg)
{
	ClearedRows *cleared = (ClearedRows *) arg;
	int			k;

	for (k = 0; k < (int) lengthof(clear_statements); k++)
	{
		int			rc = SPI_execute(clear_statements[k], false, 0);

		if (rc != SPI_OK_UPDATE && rc != SPI_OK_DELETE)
			elog(ERROR, "could not clear the rows of dropped roles");
		cleared->changed += SPI_processed;
	}
	if (SPI_execute(ROWS_OF_DROPPED_ROLES_LEFT, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the rows of dropped roles");
	cleared->some_left = DatumGetBool(hg_spi_get_notnull(0, 1, "rows left"));
}

static void
forget_dropped_owners(void)
{
	static char *known_roles = NULL;
	char	   *signature;
	char	   *error;
	ClearedRows cleared = {0};

	if (SPI_execute("SELECT pg_catalog.count(*)::pg_catalog.text || '/' || "
					"       coalesce(pg_catalog.sum(r.oid::pg_catalog.int8), 0)::pg_catalog.text "
					"  FROM pg_catalog.pg_roles r", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read pg_roles");
	signature = TextDatumGetCString(hg_spi_get_notnull(0, 1, "roles"));
	if (known_roles != NULL && strcmp(known_roles, signature) == 0)
		return;
	if (!hg_try_in_subtransaction(clear_rows_of_dropped_roles, &cleared, &error))
	{
		ereport(WARNING, (errmsg("could not clear the heimdall_gen rows of dropped roles: %s", error)));
		return;
	}
	if (cleared.changed > 0)
		ereport(LOG, (errmsg(UINT64_FORMAT " heimdall_gen rows of dropped roles now belong to no role",
							 cleared.changed)));
	if (cleared.some_left)
		return;					/* the signature is not recorded: looked at again next round */
	if (known_roles)
		pfree(known_roles);
	known_roles = MemoryContextStrdup(TopMemoryContext, signature);
}

/* One scheduling round; true if a queued job was skipped and should be looked at again soon. */
static bool
one_round(void)
{
	bool		look_again_soon = false;

	cancels_recorded = false;
	round_requeued = round_started = 0;
	/*
	 * Two transactions: a job queued again must be committed so before its
	 * worker starts, or its claim finds the row locked by this round and
	 * leaves, an early end the backoff counts (a second review).
	 */
	hg_begin_transaction("heimdall_gen launcher: tidying jobs");
	if (extension_ready())
	{
		forget_dropped_owners();
		look_again_soon = record_pending_cancels();
		look_again_soon |= requeue_orphaned_jobs();
	}
	hg_commit_transaction();
	hg_begin_transaction("heimdall_gen launcher: scheduling jobs");
	if (extension_ready())
		look_again_soon |= start_queued_jobs();
	hg_commit_transaction();
	if (cancels_recorded)
		hg_announce_job_ended();	/* committed now: a wait_job sees it */
	if (round_requeued > 0 || round_started > 0)
		ereport(DEBUG1, (errmsg("heimdall_gen launcher round: %d job%s queued again, %d worker%s started",
								round_requeued, round_requeued == 1 ? "" : "s",
								round_started, round_started == 1 ? "" : "s")));
	pgstat_report_activity(STATE_IDLE, NULL);
	return look_again_soon;
}

static const char *
hg_launcher_database(void)
{
	return MyBgworkerEntry ? MyBgworkerEntry->bgw_extra : "";
}

/*
 * A launcher that cannot connect to its database (dropped, or not made
 * yet) ends with FATAL, and the postmaster starts it again 5 s later: a
 * FATAL line every 5 s for as long as the database is listed, 17,000 a
 * day (a user's review).  Each attempt after a failed one pauses longer
 * first, doubling up to CONNECT_RETRY_MAX_S, and says why.  A connection
 * that succeeds counts from zero again, so a launcher that crashes later
 * comes back after the postmaster's 5 s as before.
 */
static void
pause_after_failed_connections(HgLauncher *me, const char *database)
{
	int			failed;
	long		pause_s;

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	failed = me->connect_attempts++;
	LWLockRelease(hg_shared->lock);
	if (failed == 0)
		return;
	/* the postmaster has waited 5 s already: 5, 15, 35, 55 s more (10, 20, 40, 60 s in all) */
	pause_s = Min(5L << Min(failed, 4), (long) CONNECT_RETRY_MAX_S) - 5;
	ereport(LOG,
			(errmsg("%d failed attempts of the heimdall_gen launcher to connect to database \"%s\"; the next in %ld s",
					failed, database, pause_s + 5),
			 errhint("Create that database, or remove it from heimdall_gen.database (a restart).")));
	while (pause_s-- > 0 && !ShutdownRequestPending)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	if (ShutdownRequestPending)
		proc_exit(1);
}

/*
 * The launcher's commits wait for no synchronous standby.  They are
 * scheduling (a job requeued, failed for a reason, its event), which a
 * launcher redoes after a failover, and with the standby down the launcher
 * sat in SyncRep at its first commit: no queued job started, unsaid, while
 * the workers, which commit asynchronously, could run them (a replication
 * review).  Flushed locally all the same.
 */
static void
commit_without_standbys(void)
{
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * SIGTERM (a shutdown, pg_terminate_backend, DROP DATABASE ... WITH
 * (FORCE)) is PostgreSQL's die() as well as the flag: a wait inside a
 * statement (for a lock, for a synchronous standby) ends at once, where the
 * flag alone was read only between rounds (a code audit: the launcher
 * outlived pg_terminate_backend behind a LOCK of the jobs table, and a fast
 * shutdown never ended behind a commit waiting for a standby).  The flag
 * ends the wait before the connection, where nothing reads die()'s.
 */
static void
launcher_told_to_end(SIGNAL_ARGS)
{
	ShutdownRequestPending = true;
	die(postgres_signal_arg);
}

/*
 * Once per server start: say so when the shared memory is in 4 kB pages.
 * A worker that has written for a while holds a page-table entry for each
 * 4 kB of shared_buffers it went through (the clock sweep hands it buffers
 * all round the pool), and its process ends, which cancel_job(wait =>
 * true) waits for, only once the kernel has cleared them all.  The admin
 * who wants cancels in milliseconds needs to know, and nothing else tells.
 */
static void
log_shared_memory_page_size(void)
{
	bool		tell;
	unsigned long page_kb;

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	tell = !hg_shared->page_size_told;
	hg_shared->page_size_told = true;
	LWLockRelease(hg_shared->lock);
	if (!tell)
		return;
	page_kb = hg_mapping_page_kb(BufferBlocks);
	if (page_kb != 4)
		return;					/* huge pages, or not known */
	ereport(LOG,
			(errmsg("heimdall_gen: the server's shared memory is in 4 kB pages: a cancel waits longer the more "
					"of shared_buffers (%d MB) the worker has written through",
					(int) (((Size) NBuffers * BLCKSZ) >> 20)),
			 errdetail("cancel_job(wait => true) returns once the worker's process is gone, and the kernel "
					   "ends it by clearing an entry per 4 kB page it touched: measured after 10 s of writing, "
					   "a cancel took 18 ms at the median with 128 MB of shared_buffers and 33 ms with 1 GB, "
					   "against 5-6 ms on huge pages."),
			 errhint("Give the server huge pages: vm.nr_hugepages of at least "
					 "\"postgres -D <data directory> -C shared_memory_size_in_huge_pages\", then huge_pages = on.")));
}

void
hg_launcher_main(Datum main_arg)
{
	HgLauncher *me;
	bool		look_again_soon;

	my_index = DatumGetInt32(main_arg);
	me = &hg_shared->launchers[my_index];
	pqsignal(SIGTERM, launcher_told_to_end);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	pause_after_failed_connections(me, hg_launcher_database());
	hg_remember_server_settings();
	BackgroundWorkerInitializeConnection(hg_launcher_database(), NULL, 0);
	hg_pin_worker_settings();
	commit_without_standbys();
	hg_all_statements_are_own();
	pgstat_report_appname("heimdall_gen launcher");
	log_shared_memory_page_size();

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	me->connect_attempts = 0;
	me->database_oid = MyDatabaseId;
	me->pid = MyProcPid;
	me->latch = MyLatch;
	LWLockRelease(hg_shared->lock);
	before_shmem_exit(detach_launcher, (Datum) 0);

	while (!ShutdownRequestPending)
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			hg_pin_worker_settings();
			commit_without_standbys();
		}
		reap_dead_slots();
		look_again_soon = one_round();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 look_again_soon ? LOCKED_RETRY_MS : IDLE_TIMEOUT_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/*
	 * Exit code 1 asks the postmaster to start the launcher again after
	 * bgw_restart_time: a pg_terminate_backend() or DROP DATABASE ... WITH
	 * (FORCE) must not leave queued jobs without a scheduler until the next
	 * server start.  In a shutdown the postmaster restarts nothing.
	 */
	proc_exit(1);
}
