/*
 * hg_launcher.c
 *    The launcher: one static background worker per cluster, connected to
 *    heimdall_gen.database.  It sleeps on its latch and, when woken (a job
 *    was queued or resumed, a worker exited) or every few seconds, re-queues
 *    jobs whose worker vanished (crash, restart, fast shutdown: counting
 *    restarts and failing a job that keeps dying at the same sample), and
 *    starts one dynamic worker per queued job, oldest first, while worker
 *    slots are free.  It only ever sees committed jobs, so a rolled-back
 *    start_job starts nothing.  It runs whether or not its database has the
 *    extension, and notices CREATE EXTENSION (whose script wakes it).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "hg_guc.h"
#include "hg_shmem.h"

PGDLLEXPORT void hg_launcher_main(Datum main_arg);

#define IDLE_TIMEOUT_MS 5000	/* safety net only: every event sets the latch */

static BackgroundWorkerHandle **handles = NULL;	/* per slot, this launcher's */
static bool warned_no_worker = false;

static void
detach_launcher(int code, Datum arg)
{
	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	if (hg_shared->launcher_pid == MyProcPid)
	{
		hg_shared->launcher_pid = 0;
		hg_shared->launcher_latch = NULL;
	}
	LWLockRelease(hg_shared->lock);
}

static bool
extension_installed(void)
{
	bool		installed;

	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'heimdall_gen'", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "heimdall_gen launcher: could not read pg_extension");
	installed = SPI_processed == 1;
	return installed;
}

/*
 * A job left 'running' with no worker in a slot lost its worker: crash,
 * restart, fast shutdown, pg_terminate_backend.  Queue it again to resume
 * at its committed next attempt, unless it died max_restarts times at the
 * same sample: then it fails, instead of looping.
 */
static void
requeue_orphaned_jobs(void)
{
	uint64		i,
				n;
	int64	   *ids;

	if (SPI_execute("SELECT job_id FROM heimdall_gen.jobs WHERE status = 'running' ORDER BY job_id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "heimdall_gen launcher: could not read running jobs");
	n = SPI_processed;
	ids = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	for (i = 0; i < n; i++)
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		args[2] = {Int64GetDatum(ids[i]), Int32GetDatum(hg_max_restarts)};
		int			slot;

		LWLockAcquire(hg_shared->lock, LW_SHARED);
		slot = hg_slot_of_job(ids[i]);
		LWLockRelease(hg_shared->lock);
		if (slot >= 0)
			continue;
		/* WHERE status = 'running' is re-checked on the newest row: a worker that just finished wins */
		if (SPI_execute_with_args(
								  "WITH c AS (SELECT job_id, CASE WHEN restart_point = samples_done "
								  "                              THEN restarts_at_point + 1 ELSE 1 END AS at_point "
								  "             FROM heimdall_gen.jobs WHERE job_id = $1) "
								  "UPDATE heimdall_gen.jobs j SET restarts = j.restarts + 1, "
								  "       restart_point = j.samples_done, restarts_at_point = c.at_point, "
								  "       status = CASE WHEN c.at_point >= $2 THEN 'failed' ELSE 'queued' END, "
								  "       finished_at = CASE WHEN c.at_point >= $2 THEN now() END, "
								  "       error = CASE WHEN c.at_point >= $2 THEN format("
								  "           'the worker stopped unexpectedly %s times at sample %s of %s; "
								  "see the server log', c.at_point, j.samples_done, j.num_samples) END "
								  "  FROM c WHERE j.job_id = c.job_id AND j.status = 'running' "
								  "RETURNING j.status, j.restarts",
								  2, types, args, NULL, false, 0) == SPI_OK_UPDATE_RETURNING && SPI_processed == 1)
		{
			char	   *status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
			char	   *payload = psprintf("{\"job_id\": " INT64_FORMAT ", \"event\": \"status\", \"status\": \"%s\", "
										   "\"restarts\": %s}", ids[i], status,
										   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
			Oid			t[1] = {TEXTOID};
			Datum		a[1] = {CStringGetTextDatum(payload)};

			ereport(LOG, (errmsg("heimdall_gen: job " INT64_FORMAT " lost its worker; %s", ids[i],
								 strcmp(status, "failed") == 0 ? "it failed: too many restarts at the same sample"
								 : "queued again to resume")));
			SPI_execute_with_args("SELECT pg_catalog.pg_notify('heimdall_gen', $1)", 1, t, a, NULL, false, 0);
		}
	}
}

/* Forget slots whose worker stopped without releasing them (it died before it attached). */
static void
reap_dead_slots(void)
{
	int			i;

	for (i = 0; i < hg_shared->n_slots; i++)
	{
		pid_t		pid;

		if (handles[i] == NULL)
			continue;
		if (GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED)
			continue;
		pfree(handles[i]);
		handles[i] = NULL;
		LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
		if (hg_shared->slots[i].in_use && hg_shared->slots[i].pid == 0)
			hg_shared->slots[i].in_use = false;
		LWLockRelease(hg_shared->lock);
	}
}

static bool
start_worker(int slot_index, int64 job_id)
{
	BackgroundWorker worker;
	MemoryContext old;
	bool		ok;

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
	/* the handle outlives this round's transaction and its SPI memory */
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handles[slot_index]);
	MemoryContextSwitchTo(old);
	return ok;
}

/* One worker per queued job, oldest first, while slots are free. */
static void
start_queued_jobs(void)
{
	uint64		i;
	uint64		n;

	if (SPI_execute("SELECT j.job_id, r.oid, r.rolcanlogin, j.owner FROM heimdall_gen.jobs j "
					"LEFT JOIN pg_catalog.pg_roles r ON r.rolname = j.owner "
					"WHERE j.status = 'queued' ORDER BY j.job_id LIMIT 1000", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "heimdall_gen launcher: could not read queued jobs");
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull,
					login_null;
		int64		job_id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		Oid			owner = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		bool		can_login = DatumGetBool(SPI_getbinval(t, d, 3, &login_null));
		int			free_slot = -1,
					k;

		if (isnull || login_null || !can_login)
		{
			/* the worker runs as the owner: without LOGIN it could never connect */
			Oid			types[2] = {INT8OID, TEXTOID};
			Datum		args[2] = {Int64GetDatum(job_id), CStringGetTextDatum(SPI_getvalue(t, d, 4))};

			SPI_execute_with_args("UPDATE heimdall_gen.jobs SET status = 'failed', finished_at = now(), "
								  "error = format('role %I cannot log in, and the worker runs as the job''s owner', $2) "
								  "WHERE job_id = $1 AND status = 'queued'", 2, types, args, NULL, false, 0);
			/* the result set of the outer query is gone: rescan on the next round */
			SetLatch(MyLatch);
			return;
		}

		LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
		if (hg_slot_of_job(job_id) >= 0)
		{
			LWLockRelease(hg_shared->lock);
			continue;			/* its previous worker is still winding down */
		}
		for (k = 0; k < hg_shared->n_slots; k++)
			if (!hg_shared->slots[k].in_use)
			{
				free_slot = k;
				break;
			}
		if (free_slot < 0)
		{
			LWLockRelease(hg_shared->lock);
			return;				/* all slots busy: the rest stay queued, in order */
		}
		{
			HgSlot	   *s = &hg_shared->slots[free_slot];

			s->in_use = true;
			s->job_id = job_id;
			s->database_oid = MyDatabaseId;
			s->owner_oid = owner;
			s->pid = 0;
			s->latch = NULL;
			pg_atomic_write_u32(&s->cancel_requested, 0);
			pg_atomic_write_u32(&s->pause_requested, 0);
			pg_atomic_write_u64(&s->samples_done, 0);
			pg_atomic_write_u64(&s->attempts, 0);
			s->samples_at_start = 0;
			s->run_started_at = GetCurrentTimestamp();
		}
		LWLockRelease(hg_shared->lock);

		if (handles[free_slot] != NULL)
		{
			pfree(handles[free_slot]);
			handles[free_slot] = NULL;
		}
		if (!start_worker(free_slot, job_id))
		{
			LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
			hg_shared->slots[free_slot].in_use = false;
			LWLockRelease(hg_shared->lock);
			if (!warned_no_worker)
				ereport(WARNING,
						(errmsg("heimdall_gen: no background worker available for job " INT64_FORMAT, job_id),
						 errhint("Raise max_worker_processes above heimdall_gen.max_workers plus the other workers.")));
			warned_no_worker = true;
			return;
		}
		warned_no_worker = false;
	}
}

static void
one_round(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "heimdall_gen launcher: scheduling jobs");
	if (extension_installed())
	{
		requeue_orphaned_jobs();
		start_queued_jobs();
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
hg_launcher_main(Datum main_arg)
{
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	hg_shared->launcher_pid = MyProcPid;
	hg_shared->launcher_latch = MyLatch;
	LWLockRelease(hg_shared->lock);
	before_shmem_exit(detach_launcher, (Datum) 0);

	handles = MemoryContextAllocZero(TopMemoryContext, sizeof(BackgroundWorkerHandle *) * hg_shared->n_slots);
	BackgroundWorkerInitializeConnection(hg_database, NULL, 0);
	pgstat_report_appname("heimdall_gen launcher");

	while (!ShutdownRequestPending)
	{
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		reap_dead_slots();
		one_round();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 IDLE_TIMEOUT_MS, PG_WAIT_EXTENSION);
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
