/*
 * hg_jobs_sql.c
 *    SQL functions that steer jobs: cancel_job, pause_job, resume_job,
 *    wait_job, worker_slots (live progress) and _wake_launcher.  Stopping a
 *    running job sets the flag in its worker's slot and the worker's latch
 *    (the worker sees it within one sample) and records the status in the
 *    job's row.  Permission mirrors pg_cancel_backend: the job's owner, a
 *    member of heimdall_gen_admin or of pg_signal_backend.
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "hg_shmem.h"

PG_FUNCTION_INFO_V1(hg_cancel_job);
PG_FUNCTION_INFO_V1(hg_pause_job);
PG_FUNCTION_INFO_V1(hg_resume_job);
PG_FUNCTION_INFO_V1(hg_wait_job);
PG_FUNCTION_INFO_V1(hg_worker_slots);
PG_FUNCTION_INFO_V1(hg_wake_launcher);

typedef enum SlotFlag
{
	FLAG_CANCEL,
	FLAG_PAUSE
} SlotFlag;

static bool wake_at_commit = false;
static bool announce_at_commit = false;

static void announce_job_ended_at_commit(void);
static bool xact_callback_registered = false;

static void
require_shared_memory(void)
{
	if (hg_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heimdall_gen must be loaded via shared_preload_libraries"),
				 errhint("Add heimdall_gen to shared_preload_libraries and restart the server.")));
}

/*
 * Run a statement with the privileges of the bootstrap superuser, so that
 * jobs row-level security hides from the caller can be found (and refused
 * with 42501, not 42704) and an admin can change another user's job.
 */
static int
spi_as_superuser(const char *sql, int nargs, Oid *types, Datum *args, bool read_only)
{
	Oid			save_userid;
	int			save_sec;
	int			rc;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	rc = SPI_execute_with_args(sql, nargs, types, args, NULL, read_only, 0);
	SetUserIdAndSecContext(save_userid, save_sec);
	return rc;
}

/* The job's owner and status; ERROR 42704 when there is no such job. */
static void
fetch_job(int64 job_id, char **owner, char **status)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};

	if (spi_as_superuser("SELECT owner::text, status FROM heimdall_gen.jobs WHERE job_id = $1",
						 1, types, args, false) != SPI_OK_SELECT)
		elog(ERROR, "heimdall_gen: could not read job " INT64_FORMAT, job_id);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job_id)));
	*owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	*status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
}

static void
check_may_control(int64 job_id, const char *owner, const char *what)
{
	Oid			caller = GetUserId();
	Oid			owner_oid = get_role_oid(owner, true);
	Oid			admin = get_role_oid("heimdall_gen_admin", true);

	if (caller == owner_oid ||
		(OidIsValid(admin) && has_privs_of_role(caller, admin)) ||
		has_privs_of_role(caller, ROLE_PG_SIGNAL_BACKEND))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s job " INT64_FORMAT, what, job_id),
			 errdetail("Only the job's owner or a member of heimdall_gen_admin or pg_signal_backend may %s it.",
					   what)));
}

/*
 * The common start of cancel, pause and resume: SPI connected, the job's
 * status returned once the caller is known to be allowed to `what` it.
 */
static char *
open_job_for(int64 job_id, const char *what)
{
	char	   *owner,
			   *status;

	require_shared_memory();
	SPI_connect();
	fetch_job(job_id, &owner, &status);
	check_may_control(job_id, owner, what);
	return status;
}

static bool
is_final(const char *status)
{
	return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
		strcmp(status, "cancelled") == 0;
}

/* Raise the flag in the job's slot and wake its worker; returns whether one runs the job. */
static bool
signal_worker(int64 job_id, SlotFlag flag)
{
	Latch	   *latch = NULL;
	int			slot;

	LWLockAcquire(hg_shared->lock, LW_SHARED);
	slot = hg_slot_of_job(job_id);
	if (slot >= 0)
	{
		HgSlot	   *s = &hg_shared->slots[slot];

		pg_atomic_write_u32(flag == FLAG_CANCEL ? &s->cancel_requested : &s->pause_requested, 1);
		latch = s->latch;
	}
	LWLockRelease(hg_shared->lock);
	if (latch)
		SetLatch(latch);
	return slot >= 0;
}

static void
send_status_event(int64 job_id, const char *status)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(psprintf("{\"job_id\": " INT64_FORMAT ", \"event\": \"status\", "
														"\"status\": \"%s\"}", job_id, status))};

	SPI_execute_with_args("SELECT pg_catalog.pg_notify('heimdall_gen', $1)", 1, types, args, NULL, false, 0);
}

/* Set the status if it is one of from_statuses; notify. */
static bool
set_status(int64 job_id, const char *to, const char *from_sql_list, const char *extra_set)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	char	   *sql = psprintf("UPDATE heimdall_gen.jobs SET status = '%s'%s WHERE job_id = $1 AND status IN (%s)",
							   to, extra_set, from_sql_list);

	if (spi_as_superuser(sql, 1, types, args, false) != SPI_OK_UPDATE)
		elog(ERROR, "heimdall_gen: could not update job " INT64_FORMAT, job_id);
	if (SPI_processed != 1)
		return false;
	send_status_event(job_id, to);
	return true;
}

/* Until no worker runs the job and its process is gone. */
static void
wait_for_worker_exit(int64 job_id)
{
	pid_t		last_pid = 0;
	int			i;

	ConditionVariablePrepareToSleep(&hg_shared->job_ended);
	for (;;)
	{
		int			slot;

		LWLockAcquire(hg_shared->lock, LW_SHARED);
		slot = hg_slot_of_job(job_id);
		if (slot >= 0 && hg_shared->slots[slot].pid != 0)
			last_pid = hg_shared->slots[slot].pid;
		LWLockRelease(hg_shared->lock);
		if (slot < 0)
			break;
		/* woken when the worker frees its slot; the timeout is only a backstop */
		(void) ConditionVariableTimedSleep(&hg_shared->job_ended, 100, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	/*
	 * The slot is freed just before exit; wait until the process has left
	 * the proc array (no locks, no snapshot, gone from pg_stat_activity):
	 * from there on it is only the operating system tearing it down.
	 */
	for (i = 0; last_pid != 0 && i < 5000 && BackendPidGetProc(last_pid) != NULL; i++)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The row says 'cancelled' once this returns, in one statement: either this
 * call writes it (a queued or paused job, or a running one whose worker has
 * not stopped yet), or the worker already did, and then the row still gets
 * a new version, so that the caller's commit flushes the WAL through the
 * worker's asynchronous one: once the caller has committed, the cancel
 * survives a crash.  NOTIFY only when this call changed the status.  False
 * when the job completed or failed before it could be cancelled.
 */
static bool
mark_cancelled(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	char	   *previous;

	if (spi_as_superuser("WITH prev AS (SELECT status FROM heimdall_gen.jobs WHERE job_id = $1 FOR UPDATE) "
						 "UPDATE heimdall_gen.jobs j SET status = 'cancelled', "
						 "       finished_at = coalesce(j.finished_at, now()), "
						 "       message = CASE WHEN prev.status = 'cancelled' THEN j.message "
						 "                 ELSE format('cancelled at %s of %s samples', j.samples_done, j.num_samples) END "
						 "  FROM prev "
						 " WHERE j.job_id = $1 AND prev.status IN ('queued', 'running', 'paused', 'cancelled') "
						 "RETURNING prev.status",
						 1, types, args, false) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "heimdall_gen: could not cancel job " INT64_FORMAT, job_id);
	if (SPI_processed != 1)
		return false;			/* it ended meanwhile: completed or failed stands */
	previous = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(previous, "cancelled") != 0)
	{
		send_status_event(job_id, "cancelled");
		announce_job_ended_at_commit();
	}
	return true;
}

Datum
hg_cancel_job(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	bool		wait = PG_GETARG_BOOL(1);
	char	   *status;
	bool		has_worker;

	status = open_job_for(job_id, "cancel");
	if (is_final(status))
	{
		ereport(NOTICE, (errmsg("job " INT64_FORMAT " already ended: %s", job_id, status)));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}

	has_worker = signal_worker(job_id, FLAG_CANCEL);
	if (has_worker && wait)
	{
		/*
		 * The worker writes 'cancelled' itself.  Updating the row here first
		 * would hold its lock until we commit, while we wait for a worker
		 * that needs that lock for its last commit.
		 */
		wait_for_worker_exit(job_id);
	}
	if (!mark_cancelled(job_id))
	{
		ereport(NOTICE, (errmsg("job " INT64_FORMAT " ended before it could be cancelled", job_id)));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	SPI_finish();
	PG_RETURN_BOOL(true);
}

Datum
hg_pause_job(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	char	   *status;

	status = open_job_for(job_id, "pause");
	if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
	{
		ereport(NOTICE, (errmsg("job " INT64_FORMAT " is %s: nothing to pause", job_id, status)));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	(void) signal_worker(job_id, FLAG_PAUSE);
	set_status(job_id, "paused", "'queued', 'running'", "");
	SPI_finish();
	PG_RETURN_BOOL(true);
}

static void
at_commit_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
		hg_wake_launcher_now();
	if (event == XACT_EVENT_COMMIT && announce_at_commit)
		hg_announce_job_ended();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		wake_at_commit = announce_at_commit = false;
}

static void
register_at_commit_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(at_commit_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

/* The launcher only sees committed jobs: wake it when this transaction commits. */
static void
wake_launcher_at_commit(void)
{
	register_at_commit_callback();
	wake_at_commit = true;
}

/* Waiters only see committed statuses: wake them when this transaction commits. */
static void
announce_job_ended_at_commit(void)
{
	register_at_commit_callback();
	announce_at_commit = true;
}

Datum
hg_resume_job(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	char	   *status;
	bool		resumed;

	status = open_job_for(job_id, "resume");
	if (strcmp(status, "paused") != 0)
	{
		ereport(NOTICE, (errmsg("job " INT64_FORMAT " is %s, not paused", job_id, status)));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	resumed = set_status(job_id, "queued", "'paused'", ", message = NULL");
	SPI_finish();
	if (resumed)
		wake_launcher_at_commit();
	PG_RETURN_BOOL(resumed);
}

Datum
hg_wake_launcher(PG_FUNCTION_ARGS)
{
	if (hg_shared != NULL)
		wake_launcher_at_commit();
	PG_RETURN_VOID();
}

Datum
hg_wait_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	TimestampTz deadline = 0;
	bool		has_deadline = !PG_ARGISNULL(1);
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	char	   *status = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("job_id must not be null")));
	job_id = PG_GETARG_INT64(0);
	args[0] = Int64GetDatum(job_id);
	if (has_deadline)
		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   PG_GETARG_DATUM(1)));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("wait_job needs READ COMMITTED isolation"),
				 errdetail("In a snapshot-isolated transaction the job's status would never change.")));
	require_shared_memory();
	ConditionVariablePrepareToSleep(&hg_shared->job_ended);
	for (;;)
	{
		TransactionId xmin;
		bool		isnull;
		long		sleep_ms = 1000;

		SPI_connect();
		/* as the caller: row-level security decides which jobs exist for them */
		if (SPI_execute_with_args("SELECT status, xmin FROM heimdall_gen.jobs WHERE job_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "heimdall_gen: could not read job " INT64_FORMAT, job_id);
		if (SPI_processed == 0)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
							errmsg("job " INT64_FORMAT " does not exist", job_id)));
		if (status)
			pfree(status);
		status = MemoryContextStrdup(CurrentMemoryContext,
									 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		SPI_finish();
		/* the launcher sees only committed rows: this wait could never end */
		if (!is_final(status) && TransactionIdIsCurrentTransactionId(xmin))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job " INT64_FORMAT " was started or changed in this transaction", job_id),
					 errdetail("Its worker starts only once the transaction commits, so the wait would never end."),
					 errhint("Commit first: call wait_job in a later statement, outside the transaction block.")));
		if (is_final(status) || (has_deadline && GetCurrentTimestamp() >= deadline))
			break;
		if (has_deadline)
			sleep_ms = Min(sleep_ms, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline) + 1);

		/*
		 * Woken when a worker leaves its slot or cancel_job ends a job
		 * without one; the timeout only catches a status set by hand.
		 */
		(void) ConditionVariableTimedSleep(&hg_shared->job_ended, sleep_ms, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

Datum
hg_worker_slots(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	require_shared_memory();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(hg_shared->lock, LW_SHARED);
	for (i = 0; i < hg_shared->n_slots; i++)
	{
		HgSlot	   *s = &hg_shared->slots[i];
		Datum		values[8];
		bool		nulls[8] = {false};

		if (!s->in_use)
			continue;
		values[0] = Int64GetDatum(s->job_id);
		values[1] = Int32GetDatum((int32) s->pid);
		nulls[1] = s->pid == 0;
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&s->samples_done));
		values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&s->attempts));
		values[4] = Int64GetDatum(s->samples_at_start);
		values[5] = TimestampTzGetDatum(s->run_started_at);
		values[6] = BoolGetDatum(pg_atomic_read_u32(&s->cancel_requested) != 0);
		values[7] = BoolGetDatum(pg_atomic_read_u32(&s->pause_requested) != 0);
		/* before the worker attached, its counters are not yet the job's */
		nulls[2] = nulls[3] = nulls[4] = s->pid == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(hg_shared->lock);
	return (Datum) 0;
}
