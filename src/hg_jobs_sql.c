/*
 * hg_jobs_sql.c
 *    SQL functions that steer jobs: start_job, materialize, cancel_job,
 *    pause_job, resume_job, wait_job, drop_dataset, event_channel,
 *    worker_slots (live progress) and _wake_launcher.  Stopping a running job sets the flag in
 *    its worker's slot and the worker's latch (the worker sees it within one
 *    sample) and records the status in the job's row.  Permission mirrors
 *    pg_cancel_backend: the job's owner, a member of heimdall_gen_admin or of
 *    pg_signal_backend.
 *
 *    Users have no write access to the tables: these functions note the
 *    caller, then run their fixed, qualified statements as the extension's
 *    owner (hg_spi_as_owner) under the search_path pinned in their SQL
 *    declaration.  A job is (this database, job_id): the same id in another
 *    database is another job.
 */
#include "postgres.h"

#include <math.h>

#include <signal.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "replication/syncrep.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/syscache.h"
#include "commands/dbcommands.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "hg_events.h"
#include "hg_guc.h"
#include "hg_latch.h"
#include "hg_model.h"
#include "hg_shmem.h"
#include "hg_sql.h"

PG_FUNCTION_INFO_V1(hg_cancel_job);
PG_FUNCTION_INFO_V1(hg_pause_job);
PG_FUNCTION_INFO_V1(hg_resume_job);
PG_FUNCTION_INFO_V1(hg_wait_job);
PG_FUNCTION_INFO_V1(hg_worker_slots);
PG_FUNCTION_INFO_V1(hg_wake_launcher);
PG_FUNCTION_INFO_V1(hg_start_job);
PG_FUNCTION_INFO_V1(hg_drop_dataset);
PG_FUNCTION_INFO_V1(hg_event_channel);
PG_FUNCTION_INFO_V1(hg_materialize);

typedef enum SlotFlag
{
	FLAG_CANCEL,
	FLAG_PAUSE
} SlotFlag;

static bool wake_at_commit = false;
static bool announce_at_commit = false;

/*
 * Flags that cancel_job without wait and pause_job raise when the caller's
 * transaction commits, not before: a rollback (of the transaction, or of
 * the savepoint the call was made in) leaves the job running.  The status
 * row, written in the same transaction, is the fence meanwhile: the
 * worker's next batch commit waits for its lock.
 */
typedef struct PendingFlag
{
	int64		job_id;
	int			flag;			/* SlotFlag */
	int			nest_level;		/* the (sub)transaction that asked */
	uint64		claim_number;	/* the job's slot when asked: only its worker gets the flag */
} PendingFlag;

#define MAX_PENDING_FLAGS 64
static PendingFlag pending_flags[MAX_PENDING_FLAGS];
static int	n_pending_flags = 0;

static void announce_job_ended_at_commit(void);
static void signal_worker_at_commit(int64 job_id, SlotFlag flag);
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
 * The job's owner and status; false when there is no such job.  Read as the
 * extension's owner (row-level security must not turn someone else's job
 * into "no such job"), with the statement's snapshot, or with a fresh one
 * (fresh_snapshot: what has committed by now, such as a worker's last
 * commit made while this statement ran).
 */
static bool
read_job(int64 job_id, bool fresh_snapshot, Oid *owner, char **status)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};

	if (hg_spi_as_owner("SELECT j.owner, j.status FROM heimdall_gen.jobs j WHERE j.job_id = $1",
						1, types, args, NULL, !fresh_snapshot) != SPI_OK_SELECT)
		elog(ERROR, "could not read job " INT64_FORMAT, job_id);
	if (SPI_processed == 0)
		return false;
	*owner = DatumGetObjectId(hg_spi_get_notnull(0, 1, "jobs.owner"));
	*status = TextDatumGetCString(hg_spi_get_notnull(0, 2, "jobs.status"));
	return true;
}

/*
 * With heimdall_gen.durable_cancel: flush the WAL through the worker's
 * asynchronous commit of 'cancelled' (inserted before it left its slot),
 * so that the cancel survives a crash (and a failover to a synchronous
 * standby) once the call returns.  Called while
 * the worker's process is still going away: on an idle disk the flush
 * takes about as long as that, and costs the caller little.  Off (the
 * default), the WAL writer flushes it within wal_writer_delay, and the
 * call never waits on a saturated disk: a synchronous flush there took
 * 4 ms at the median and 130-190 ms at the tail (measured, 2-core VM).
 */
static void
flush_the_worker_if_durable(void)
{
	XLogRecPtr	through;

	if (!hg_durable_cancel)
		return;
	through = GetXLogInsertRecPtr();
	XLogFlush(through);

	/*
	 * And on the synchronous standbys, as the caller's own commit would be:
	 * flushed here only, the cancel was lost when the primary failed over to
	 * a standby that had not received it, and the job ran on to the end
	 * there (a replication review).  Returns at once without synchronous
	 * standbys; a query cancel ends the wait, as for any commit.
	 */
	SyncRepWaitForLSN(through, false);
}

/* Members of heimdall_gen_admin (and superusers) see and steer every job. */
static bool
caller_is_admin(void)
{
	Oid			admin = get_role_oid("heimdall_gen_admin", true);

	return superuser() || (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin));
}

/*
 * The owner of a job, its admins and pg_signal_backend may steer it; as
 * with pg_cancel_backend, pg_signal_backend does not reach a superuser's
 * job, nor does a superuser's job become anyone's through it.
 */
static bool
may_control(Oid owner)
{
	Oid			caller = GetUserId();

	if (caller == owner || caller_is_admin())
		return true;
	return has_privs_of_role(caller, ROLE_PG_SIGNAL_BACKEND) && !superuser_arg(owner);
}


/*
 * What cancel, pause and resume check before anything else, and before
 * any flag is raised: each of them writes the job's row (or, for a cancel
 * that waited, WAL), which a read-only transaction or a standby must
 * refuse as a whole, not after the worker has stopped.
 */
static void
require_writable_job_command(const char *what)
{
	require_shared_memory();
	hg_require_current_schema();
	PreventCommandIfReadOnly(psprintf("%s_job()", what));
	PreventCommandDuringRecovery(psprintf("%s_job()", what));
}

/*
 * A transaction snapshot (REPEATABLE READ, SERIALIZABLE) never sees the
 * commits a job's worker makes while it runs: wait_job would wait forever,
 * and the UPDATE of cancel and pause would fail with a serialization error
 * after the worker was flagged.  Refused first, so nothing has changed.
 */
static void
require_read_committed(const char *function, const char *detail)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s needs READ COMMITTED isolation", function),
				 errdetail("%s", detail),
				 errhint("Call it in a READ COMMITTED transaction (the default), for instance on its own.")));
}

#define UPDATED_BY_WORKER "The job's worker updates its row while it runs; this transaction's snapshot would not see it."

/*
 * After those checks, the common start of cancel, pause and resume: SPI
 * connected, the job's status returned once the caller is known to be
 * allowed to steer it.  A job the caller may not steer is one it may not
 * see either (row-level security shows a job to its owner and to admins,
 * who may steer it): it does not exist for the caller, as for wait_job,
 * which reads as the caller.  "Permission denied" told any role which ids
 * were other roles' jobs still there (an attacker's review).
 */
static char *
open_job(int64 job_id, Oid *owner)
{
	char	   *status;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!read_job(job_id, false, owner, &status) || !may_control(*owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("job " INT64_FORMAT " does not exist", job_id)));
	return status;
}

/* Jobs start only in a database that has a launcher. */
static void
require_served_database(void)
{
	char	   *name;

	if (hg_database_is_served(MyDatabaseId))
		return;
	name = get_database_name(MyDatabaseId);
	if (name != NULL && hg_database_listed(name))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("database \"%s\" has no heimdall_gen launcher: max_worker_processes (%d) was too low "
						"when the server started", name, max_worker_processes),
				 errdetail("It is listed in heimdall_gen.database, but the server could not register its launcher, "
						   "so no job would ever run here."),
				 errhint("Set max_worker_processes to at least one per database in heimdall_gen.database, plus "
						 "heimdall_gen.max_workers, plus the other background workers of the server, and restart.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("database \"%s\" has no heimdall_gen launcher", name),
				 errdetail("Here the extension serves its data, but no job would ever run."),
				 errhint("Add this database to heimdall_gen.database in postgresql.conf and restart the server.")));
}

/*
 * A job's worker connects as the role that starts it: a role that may not
 * connect to this database would have every worker die at its connection.
 * (The launcher also fails a queued job whose owner lost the privilege.)
 */
static void
require_connect_privilege(void)
{
	if (pg_database_aclcheck(MyDatabaseId, GetUserId(), ACL_CONNECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not connect to database \"%s\"",
						GetUserNameFromId(GetUserId(), false), get_database_name(MyDatabaseId)),
				 errdetail("A job's worker connects to the database as the role that starts the job."),
				 errhint("GRANT CONNECT ON DATABASE to that role, or start the job as a role that may connect.")));
}

/*
 * The same for LOGIN, which _start_job checks among its arguments:
 * materialize() queued a job its owner's workers could not run, and the
 * launcher failed it only later (an attacker's review).
 */
static void
require_login(void)
{
	HeapTuple	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
	bool		can_login;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for role %u", GetUserId());
	can_login = ((Form_pg_authid) GETSTRUCT(tuple))->rolcanlogin;
	ReleaseSysCache(tuple);
	if (!can_login)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" cannot log in", GetUserNameFromId(GetUserId(), false)),
				 errdetail("A job's worker connects as the role that started it."),
				 errhint("Start the job as a role with LOGIN (SET ROLE to a login role, or ALTER ROLE ... LOGIN).")));
}

static bool
is_final(const char *status)
{
	return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
		strcmp(status, "cancelled") == 0;
}

/*
 * What a call has seen of a job's worker, over its looks at the slots: that
 * one ran the job, and the handle on its process, kept so that the call can
 * wait until the postmaster has reaped it even when the worker left its
 * slot before the next look.
 */
typedef struct WorkerSeen
{
	bool		running;
	pid_t		pid;			/* 0 until the worker attached */
	bool		has_handle;
	HgWorkerHandle handle;
	uint64		step_aside_until_ns;	/* the other workers step aside for it until then (0: not asked) */
} WorkerSeen;

/* The caller holds hg_shared->lock. */
static void
note_worker(const HgSlot *s, WorkerSeen *seen)
{
	seen->running = true;
	if (s->pid != 0)
		seen->pid = s->pid;
	if (s->has_handle)
	{
		seen->has_handle = true;
		seen->handle = s->handle;
	}
}

/*
 * Raise the flag in the job's slot and wake its worker, if one runs the job
 * (noted in *seen).  With only_claim (not 0), only if the slot still holds
 * that claim: a flag asked for at commit is raised once the status row is
 * visible, and by then that worker may have read the row itself and left,
 * the job been resumed and a new worker started for it, which the late flag
 * would pause or cancel against the row (a code review).
 */
static void
signal_worker(int64 job_id, SlotFlag flag, WorkerSeen *seen, uint64 only_claim)
{
	Latch	   *latch = NULL;
	int			slot;

	LWLockAcquire(hg_shared->lock, LW_SHARED);
	slot = hg_slot_of_job(MyDatabaseId, job_id);
	if (slot >= 0 && (only_claim == 0 || hg_shared->slots[slot].claim_number == only_claim))
	{
		HgSlot	   *s = &hg_shared->slots[slot];

		pg_atomic_write_u32(flag == FLAG_CANCEL ? &s->cancel_requested : &s->pause_requested, 1);
		latch = s->latch;
		note_worker(s, seen);
	}
	LWLockRelease(hg_shared->lock);
	if (latch)
		SetLatch(latch);
}

/*
 * The fast start of a cancel: raise the flag of a running job before its
 * row is read (a statement, a third of a millisecond the worker would go on
 * writing), when the caller may steer the role the worker runs as.  The
 * slot holds that role, copied by the launcher from the job's row, which
 * no one but the extension's owner can change.  Nothing is raised for
 * anyone else; the full check on the row follows either way.  The worker
 * may have left its slot by then: *seen keeps it.
 */
static void
signal_worker_early(int64 job_id, SlotFlag flag, WorkerSeen *seen)
{
	int			slot;
	Oid			owner = InvalidOid;

	LWLockAcquire(hg_shared->lock, LW_SHARED);
	slot = hg_slot_of_job(MyDatabaseId, job_id);
	if (slot >= 0)
		owner = hg_shared->slots[slot].owner_oid;
	LWLockRelease(hg_shared->lock);
	/* catalog lookups (role membership) only once the lock is released */
	if (slot >= 0 && OidIsValid(owner) && may_control(owner))
		signal_worker(job_id, flag, seen, 0);
}

/*
 * Once the flag of a running worker is up and this call will wait for it
 * to be gone: the other workers step aside meanwhile (hg_step_aside_begin).
 * On a saturated machine, two CPUs shared with another job writing at full
 * speed, the stopping worker otherwise waits for a CPU at each step of its
 * stop: a cancel took 8.0-11.6 ms at the median, 5.6-6.7 ms with the
 * others aside (docs/performance.md, fourteenth round).  The others lose at most
 * HG_STEP_ASIDE_MAX_MS, fewer when the stop is quicker: the call ends it
 * once the worker has been reaped.
 */
static void
ask_others_to_step_aside(WorkerSeen *seen)
{
	if (seen->running && seen->step_aside_until_ns == 0)
		seen->step_aside_until_ns = hg_step_aside_begin();
}

/* A status event on the private channel of the job's owner. */
static void
send_status_event(int64 job_id, Oid owner, const char *status)
{
	hg_send_event(owner, psprintf("{\"job_id\": " INT64_FORMAT ", \"event\": \"status\", \"status\": \"%s\"}",
								  job_id, status));
}

/* Set the status if it is one of from_statuses; notify. */
static bool
set_status(int64 job_id, Oid owner, const char *to, const char *from_sql_list, const char *extra_set)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	char	   *sql = psprintf("UPDATE heimdall_gen.jobs SET status = '%s'%s WHERE job_id = $1 AND status IN (%s)",
							   to, extra_set, from_sql_list);

	if (hg_spi_as_owner(sql, 1, types, args, NULL, false) != SPI_OK_UPDATE)
		elog(ERROR, "could not update job " INT64_FORMAT, job_id);
	if (SPI_processed != 1)
		return false;
	send_status_event(job_id, owner, to);
	return true;
}

/*
 * The processes holding a lock the worker `pid` waits for, as text ("123"
 * or "123, 456"), or NULL when it waits for none; *this_transaction tells
 * whether this session is among them (it holds a row of the job the
 * worker must update to stop: waiting for it would never end).  One call
 * of pg_blocking_pids() serves both checks.
 */
static char *
worker_blocked_by(pid_t pid, bool *this_transaction)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum((int32) pid)};
	bool		isnull;
	Datum		value;
	char	   *pids = NULL;

	*this_transaction = false;
	if (pid == 0)
		return NULL;
	if (SPI_execute_with_args("SELECT pg_catalog.pg_backend_pid() = ANY (b), pg_catalog.array_to_string(b, ', ') "
							  "  FROM pg_catalog.pg_blocking_pids($1) b WHERE pg_catalog.cardinality(b) > 0",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the locks worker %d waits for", (int) pid);
	/* called every 100 ms while a cancel waits: its (usually empty) result is freed each time */
	if (SPI_processed != 1)
	{
		SPI_freetuptable(SPI_tuptable);
		return NULL;
	}
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*this_transaction = !isnull && DatumGetBool(value);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		pids = TextDatumGetCString(value);
	SPI_freetuptable(SPI_tuptable);
	return pids;
}

#define BLOCKED_NOTICE_AFTER_MS 1000
#define BLOCKED_CHECK_EVERY_MS 100

/*
 * Until no worker runs the job: it has left its slot, after its last
 * commit.  A worker that waits for this very transaction (it locked the
 * job's row in a way the check before the flag could not see) is an
 * error, not an endless wait.  One that waits for another session's lock
 * (its owner may hold the job's row, with SELECT ... FOR UPDATE) stops
 * when that lock goes, and not before: the caller is told so once, rather
 * than left waiting without a word.  Both checks run on elapsed time, not
 * on the sleep's timeout: the condition variable is broadcast at every
 * job's end in the cluster, often enough, on a busy server, that a
 * timeout might never come.
 */
static void
wait_for_slot_release(int64 job_id, WorkerSeen *seen)
{
	TimestampTz started = GetCurrentTimestamp();
	TimestampTz checked = started;
	bool		told = false;

	ConditionVariablePrepareToSleep(&hg_shared->job_ended);
	for (;;)
	{
		int			slot;
		char	   *blockers;
		bool		blocked_by_us;
		bool		may_tell;
		bool		may_hold_its_row;
		TimestampTz now;

		LWLockAcquire(hg_shared->lock, LW_SHARED);
		slot = hg_slot_of_job(MyDatabaseId, job_id);
		if (slot >= 0)
			note_worker(&hg_shared->slots[slot], seen);
		LWLockRelease(hg_shared->lock);
		if (slot < 0)
			break;
		/* woken when a worker frees its slot; the timeout is only a backstop */
		(void) ConditionVariableTimedSleep(&hg_shared->job_ended, BLOCKED_CHECK_EVERY_MS, PG_WAIT_EXTENSION);
		now = GetCurrentTimestamp();
		if (!TimestampDifferenceExceeds(checked, now, BLOCKED_CHECK_EVERY_MS))
			continue;
		checked = now;
		/* a transaction without an xid holds no row lock: it cannot be what the worker waits for */
		may_hold_its_row = TransactionIdIsValid(GetTopTransactionIdIfAny());
		may_tell = !told && TimestampDifferenceExceeds(started, now, BLOCKED_NOTICE_AFTER_MS);
		if (!may_tell && !may_hold_its_row)
			continue;
		blockers = worker_blocked_by(seen->pid, &blocked_by_us);
		if (blocked_by_us && may_hold_its_row)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
					 errmsg("cancel_job cannot wait for job " INT64_FORMAT ": its worker waits for this transaction",
							job_id),
					 errdetail("The worker must update the job's row to stop, and this transaction holds a lock on it."),
					 errhint("Commit first, or call cancel_job(id) without wait.")));
		if (may_tell && blockers != NULL)
		{
			ereport(NOTICE,
					(errmsg("the worker of job " INT64_FORMAT " is waiting for a lock held by process %s",
							job_id, blockers),
					 errdetail("It stops once that lock is released.  If it is the job's row, a transaction "
							   "holding it (SELECT ... FOR UPDATE, an UPDATE) must end first."),
					 errhint("pg_stat_activity shows what that process runs; pg_terminate_backend() ends it.")));
			told = true;
		}
	}
	ConditionVariableCancelSleep();
}

/*
 * cancel_job(wait => true) in a transaction that has itself updated or
 * locked the job's row (a hand UPDATE, pause_job, SELECT ... FOR UPDATE)
 * would wait for a worker that needs that row to stop: refused before any
 * flag is raised, so the call changes nothing.  Autocommit calls, and any
 * transaction that has written nothing yet, hold no row lock: no query.
 */
static void
refuse_wait_behind_own_row_lock(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	TransactionId xmin,
				xmax;

	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (hg_spi_as_owner("SELECT j.xmin, j.xmax FROM heimdall_gen.jobs j WHERE j.job_id = $1",
						1, types, args, NULL, false) != SPI_OK_SELECT)
		elog(ERROR, "could not read job " INT64_FORMAT, job_id);
	if (SPI_processed == 1)
	{
		xmin = DatumGetTransactionId(hg_spi_get_notnull(0, 1, "jobs.xmin"));
		xmax = DatumGetTransactionId(hg_spi_get_notnull(0, 2, "jobs.xmax"));
		if (TransactionIdIsCurrentTransactionId(xmin) ||
			(TransactionIdIsValid(xmax) && TransactionIdIsCurrentTransactionId(xmax)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cancel_job cannot wait for job " INT64_FORMAT " in a transaction that has updated or locked its row",
							job_id),
					 errdetail("The worker must update that row to stop; it would wait for this transaction, and this call for the worker."),
					 errhint("Commit first, or call cancel_job(id) without wait.")));
	}
	SPI_finish();
}

/*
 * Until the worker's process is gone: reaped by the postmaster, not only
 * out of its slot and the proc array (a process that has left them still
 * tears down its address space, 2-5 ms on a VM).  The postmaster tells
 * only the launcher (bgw_notify_pid): poll, finely for the first 50 ms,
 * then every millisecond up to 10 s.
 */
static void
wait_for_reap(HgWorkerHandle *handle)
{
	int			i;

	for (i = 0; i < 10250; i++)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid((BackgroundWorkerHandle *) handle, &pid) == BGWH_STOPPED)
			break;
		if (i < 250)
		{
			pg_usleep(200L);
			CHECK_FOR_INTERRUPTS();
		}
		else
			hg_latch_nap(1);
	}
}

/*
 * Recording the cancel needs the job's row.  When another transaction
 * holds it locked (its owner may, with SELECT ... FOR UPDATE, which the
 * hand-cancel grant allows; the job's worker then leaves its slot, see
 * lock_job_row in hg_worker.c), say so before waiting for that lock,
 * rather than wait without a word.  When the row is free this takes its
 * lock, which the UPDATE that follows needs anyway.
 */
static void
tell_if_row_held(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};

	if (hg_spi_as_owner(HG_LOCK_JOB_ROW_SQL,
						1, types, args, NULL, false) != SPI_OK_SELECT)
		elog(ERROR, "could not lock job " INT64_FORMAT, job_id);
	if (SPI_processed == 1)
		return;
	if (hg_spi_as_owner(HG_JOB_ROW_EXISTS_SQL,
						1, types, args, NULL, false) != SPI_OK_SELECT)
		elog(ERROR, "could not read job " INT64_FORMAT, job_id);
	if (SPI_processed == 1)
		ereport(NOTICE,
				(errmsg("another transaction holds the row of job " INT64_FORMAT " locked; this call waits for "
						"that lock to record the cancel", job_id),
				 errdetail("Its owner may hold it with SELECT ... FOR UPDATE, or an UPDATE of it not yet committed."),
				 errhint("From another session, pg_blocking_pids(%d) names the process; pg_stat_activity shows "
						 "what it runs, pg_terminate_backend() ends it.", MyProcPid)));
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
mark_cancelled(int64 job_id, Oid owner)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	char	   *previous;

	if (hg_spi_as_owner("WITH prev AS (SELECT p.status FROM heimdall_gen.jobs p WHERE p.job_id = $1 FOR UPDATE) "
						"UPDATE heimdall_gen.jobs j SET status = 'cancelled', "
						"       finished_at = coalesce(j.finished_at, pg_catalog.now()), "
						"       message = CASE WHEN prev.status = 'cancelled' THEN j.message "
						"                 ELSE " HG_CANCELLED_MESSAGE_SQL " END "
						"  FROM prev "
						" WHERE j.job_id = $1 AND prev.status IN ('queued', 'running', 'paused', 'cancelled') "
						"RETURNING prev.status",
						1, types, args, NULL, false) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not cancel job " INT64_FORMAT, job_id);
	if (SPI_processed != 1)
		return false;			/* it ended meanwhile: completed or failed stands */
	previous = TextDatumGetCString(hg_spi_get_notnull(0, 1, "jobs.status"));
	if (strcmp(previous, "cancelled") != 0)
	{
		send_status_event(job_id, owner, "cancelled");
		announce_job_ended_at_commit();
	}
	return true;
}

Datum
hg_cancel_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	bool		wait;
	char	   *status;
	WorkerSeen	seen = {0};
	Oid			owner;

	hg_require_arg(0, "job_id");
	hg_require_arg(1, "wait");
	job_id = PG_GETARG_INT64(0);
	wait = PG_GETARG_BOOL(1);

	require_writable_job_command("cancel");
	require_read_committed("cancel_job", UPDATED_BY_WORKER);
	if (wait)
	{
		/*
		 * Waiting, the call stops the worker at once, like pg_cancel_backend:
		 * the worker records the cancel itself, and a rollback of the
		 * caller's transaction does not undo it.  Without wait the flag is
		 * raised when the caller commits (signal_worker_at_commit).
		 */
		refuse_wait_behind_own_row_lock(job_id);
		signal_worker_early(job_id, FLAG_CANCEL, &seen);
		ask_others_to_step_aside(&seen);
	}
	status = open_job(job_id, &owner);
	if (is_final(status))
	{
		ereport(NOTICE, (errmsg("job " INT64_FORMAT " already ended: %s", job_id, status)));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}

	if (wait)
	{
		signal_worker(job_id, FLAG_CANCEL, &seen, 0);
		ask_others_to_step_aside(&seen);
	}
	if (seen.running && wait)
	{
		bool		worker_cancelled;

		/*
		 * The worker writes 'cancelled' itself.  Updating the row here first
		 * would hold its lock until we commit, while we wait for a worker
		 * that needs that lock for its last commit.  Its last commit is made
		 * once it has left its slot: read it while its process goes away.
		 */
		wait_for_slot_release(job_id, &seen);
		worker_cancelled = read_job(job_id, true, &owner, &status) && strcmp(status, "cancelled") == 0;
		if (worker_cancelled)
			flush_the_worker_if_durable();
		if (seen.has_handle)
			wait_for_reap(&seen.handle);
		hg_step_aside_end(seen.step_aside_until_ns);
		if (worker_cancelled)
		{
			SPI_finish();
			PG_RETURN_BOOL(true);
		}
		/* it completed or failed first, or left without a word: as for a job without worker */
	}
	tell_if_row_held(job_id);
	if (!mark_cancelled(job_id, owner))
	{
		ereport(NOTICE, (errmsg("job " INT64_FORMAT " ended before it could be cancelled", job_id)));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	SPI_finish();
	if (!wait)
		signal_worker_at_commit(job_id, FLAG_CANCEL);
	PG_RETURN_BOOL(true);
}

Datum
hg_pause_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	char	   *status;
	Oid			owner;

	hg_require_arg(0, "job_id");
	job_id = PG_GETARG_INT64(0);

	require_writable_job_command("pause");
	require_read_committed("pause_job", UPDATED_BY_WORKER);
	status = open_job(job_id, &owner);
	if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
	{
		ereport(NOTICE, (errmsg("job " INT64_FORMAT " is %s: nothing to pause", job_id, status)));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	/*
	 * The flag when the caller commits: a rollback leaves the job running.
	 * The message is the worker's words; it rewrites them with its final
	 * count when it stops, but a job no worker runs (queued, or one whose
	 * worker left its slot) keeps these.
	 */
	if (set_status(job_id, owner, "paused", "'queued', 'running'",
				   ", message = pg_catalog.format('paused at %s of %s samples', samples_done, num_samples)"))
		signal_worker_at_commit(job_id, FLAG_PAUSE);
	SPI_finish();
	PG_RETURN_BOOL(true);
}

static void
at_commit_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT)
	{
		int			i;

		/* committed: the rows say so; no ERROR may come from here */
		for (i = 0; i < n_pending_flags; i++)
		{
			WorkerSeen	ignored = {0};

			signal_worker(pending_flags[i].job_id, (SlotFlag) pending_flags[i].flag, &ignored,
						  pending_flags[i].claim_number);
		}
	}
	if (event == XACT_EVENT_COMMIT && wake_at_commit)
		hg_wake_launcher_now(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT && announce_at_commit)
		hg_announce_job_ended();
	/*
	 * A prepared transaction commits later, perhaps in another session: its
	 * flags are not raised (the status row it wrote stops the worker when
	 * COMMIT PREPARED makes it visible), nor carried into this session's
	 * next transaction.
	 */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
	{
		wake_at_commit = announce_at_commit = false;
		n_pending_flags = 0;
	}
}

/*
 * A savepoint rolled back takes back the flags asked for inside it; one
 * released hands them to its parent.  Levels only grow along the list, so
 * those of the savepoint ending are at its end.
 */
static void
at_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (n_pending_flags > 0 && pending_flags[n_pending_flags - 1].nest_level >= level)
			n_pending_flags--;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (i = 0; i < n_pending_flags; i++)
			if (pending_flags[i].nest_level >= level)
				pending_flags[i].nest_level = level - 1;
	}
}

static void
register_at_commit_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(at_commit_xact_callback, NULL);
		RegisterSubXactCallback(at_subxact_callback, NULL);
		xact_callback_registered = true;
	}
}

/*
 * Raise the flag when this transaction commits.  Past MAX_PENDING_FLAGS in
 * one transaction the flag is not raised: the worker still stops at its
 * next status read or batch commit (the row is the fence), a few samples
 * later.
 */
static void
signal_worker_at_commit(int64 job_id, SlotFlag flag)
{
	int			slot;
	uint64		claim_number = 0;

	register_at_commit_callback();
	if (n_pending_flags >= MAX_PENDING_FLAGS)
		return;
	LWLockAcquire(hg_shared->lock, LW_SHARED);
	slot = hg_slot_of_job(MyDatabaseId, job_id);
	if (slot >= 0)
		claim_number = hg_shared->slots[slot].claim_number;
	LWLockRelease(hg_shared->lock);
	if (slot < 0)
		return;					/* no worker: one claimed later waits for this row's lock, then reads it */
	pending_flags[n_pending_flags].job_id = job_id;
	pending_flags[n_pending_flags].flag = flag;
	pending_flags[n_pending_flags].nest_level = GetCurrentTransactionNestLevel();
	pending_flags[n_pending_flags].claim_number = claim_number;
	n_pending_flags++;
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

/*
 * A paused job whose dataset was made by a model version this server no
 * longer generates (an upgrade came between the pause and now) would only
 * fail once its worker claimed it: refused here, as start_job refuses to
 * extend such a dataset.
 */
static void
require_generated_model_version(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job_id)};
	int32		version;

	if (hg_spi_as_owner("SELECT d.model_version, d.name FROM heimdall_gen.jobs j "
						"  JOIN heimdall_gen.datasets d ON d.dataset_id = j.dataset_id WHERE j.job_id = $1",
						1, types, args, NULL, true) != SPI_OK_SELECT)
		elog(ERROR, "could not read the dataset of job " INT64_FORMAT, job_id);
	if (SPI_processed != 1)
		return;					/* no dataset: the worker's claim fails the job with the reason */
	version = DatumGetInt32(hg_spi_get_notnull(0, 1, "datasets.model_version"));
	if (!hg_model_generates(version))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("job " INT64_FORMAT " cannot be resumed: dataset \"%s\" %s",
						job_id, TextDatumGetCString(hg_spi_get_notnull(0, 2, "datasets.name")),
						hg_model_version_refusal(version)),
				 errdetail("Its next samples cannot be generated by the model that made the others."),
				 errhint("Cancel the job; its committed samples stay readable.  Generate into a new dataset name.")));
}

/*
 * One role's job submissions, one transaction at a time: the owner's row
 * of event_channels (made if missing), locked until the transaction ends.
 * Without it each session counted only the jobs committed and its own, and
 * four sessions of one role each queued the whole limit at once (an
 * attacker's review).  Taken before the job is queued, so that two
 * sessions never wait for each other's lock and each other's dataset name.
 * Only the role itself (or an admin acting on its jobs) can hold that row:
 * row-level security hides it from the others.
 */
static void
lock_queue_of(Oid owner)
{
	Oid			types[1] = {REGROLEOID};
	Datum		args[1] = {ObjectIdGetDatum(owner)};

	if (hg_max_queued_jobs_per_role == 0 || !OidIsValid(owner))
		return;					/* no limit, or a dropped role's job (the launcher fails it) */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (hg_spi_as_owner("SELECT heimdall_gen._channel_of($1)", 1, types, args, NULL, false) != SPI_OK_SELECT ||
		hg_spi_as_owner("SELECT 1 FROM heimdall_gen.event_channels c WHERE c.role_id = $1 FOR UPDATE",
						1, types, args, NULL, false) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the job queue of role %u", owner);
	SPI_finish();
}

/*
 * The owner's queued jobs, this call's included, within
 * heimdall_gen.max_queued_jobs_per_role (0: no limit).  Checked once the
 * job is queued, in the same statement, so that bad arguments are named
 * first; the error undoes the job.  Why a limit: the launcher reads and
 * orders every queued job at each round, and one role that queued 100,000
 * one-sample jobs kept it at 94 % of a core, every role's jobs starting
 * behind those rounds (an attacker's review).  The caller took the
 * owner's queue lock (lock_queue_of) before it queued the job, so that
 * the count sees every other session's jobs of that role.
 */
static void
require_room_in_queue(Oid owner)
{
	Oid			types[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(owner)};
	int64		queued;
	char	   *owner_name;

	if (hg_max_queued_jobs_per_role == 0)
		return;
	/* not read-only: a new snapshot, which sees the job this statement queued */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (hg_spi_as_owner("SELECT pg_catalog.count(*) FROM heimdall_gen.jobs j "
						" WHERE j.status = 'queued' AND j.owner::pg_catalog.oid = $1",
						1, types, args, NULL, false) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count queued jobs");
	queued = DatumGetInt64(hg_spi_get_notnull(0, 1, "count"));
	SPI_finish();
	if (queued <= hg_max_queued_jobs_per_role)
		return;
	owner_name = GetUserNameFromId(owner, true);
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("role \"%s\" may have at most %d queued jobs (heimdall_gen.max_queued_jobs_per_role)",
					owner_name ? owner_name : psprintf("%u", owner), hg_max_queued_jobs_per_role),
			 errdetail("This job would be queued job number " INT64_FORMAT " of that role.", queued),
			 errhint("Wait for queued jobs to start, or cancel some.")));
}

Datum
hg_resume_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	char	   *status;
	bool		resumed;
	Oid			owner;

	hg_require_arg(0, "job_id");
	job_id = PG_GETARG_INT64(0);

	require_writable_job_command("resume");
	status = open_job(job_id, &owner);
	require_served_database();
	if (strcmp(status, "paused") != 0)
	{
		ereport(NOTICE, (errmsg("job " INT64_FORMAT " is %s, not paused", job_id, status)));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	require_generated_model_version(job_id);
	lock_queue_of(owner);
	resumed = set_status(job_id, owner, "queued", "'paused'", ", message = NULL");
	SPI_finish();
	if (resumed)
	{
		require_room_in_queue(owner);
		wake_launcher_at_commit();
	}
	PG_RETURN_BOOL(resumed);
}

Datum
hg_wake_launcher(PG_FUNCTION_ARGS)
{
	if (hg_shared != NULL)
		wake_launcher_at_commit();
	PG_RETURN_VOID();
}

/*
 * The longest timeout wait_job takes: a century is "no limit" to anyone,
 * and what is beyond it would overflow the deadline ("timestamp out of
 * range", which names no argument).
 */
#define WAIT_JOB_LONGEST_TIMEOUT_YEARS 100

static void
negative_timeout(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("wait_job's timeout must not be negative"),
			 errhint("Give '0 s' to read the status without waiting, or NULL to wait without limit.")));
}

/*
 * Whether a launcher serves this database, asked once per wait (*served: -1
 * until asked): the question allocates, and an endless wait asks it every
 * second.  Which databases are served is set at server start.
 */
static bool
database_served(int *served)
{
	if (*served < 0)
		*served = hg_database_is_served(MyDatabaseId) ? 1 : 0;
	return *served == 1;
}

Datum
hg_wait_job(PG_FUNCTION_ARGS)
{
	int64		job_id;
	TimestampTz deadline = 0;
	bool		has_deadline = !PG_ARGISNULL(1);
	int			served = -1;
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *status = NULL;

	hg_require_arg(0, "job_id");
	job_id = PG_GETARG_INT64(0);
	args[0] = Int64GetDatum(job_id);
	if (has_deadline)
	{
		Interval   *timeout = PG_GETARG_INTERVAL_P(1);
		TimestampTz now = GetCurrentTimestamp();
		const double longest_s = (double) WAIT_JOB_LONGEST_TIMEOUT_YEARS * MONTHS_PER_YEAR * DAYS_PER_MONTH * SECS_PER_DAY;
		const double months_s = (double) timeout->month * DAYS_PER_MONTH * SECS_PER_DAY;
		const double days_s = (double) timeout->day * SECS_PER_DAY;
		const double time_s = (double) timeout->time / USECS_PER_SEC;

		/* zero looks once and returns the status; a negative timeout is a mistake, not a shorter one */
		if (months_s + days_s + time_s < 0)
			negative_timeout();

		/*
		 * Each part too, not only their sum: '12000000 months -360000000
		 * days' sums to nothing, but its months alone overflow the deadline.
		 */
		if (months_s + days_s + time_s > longest_s ||
			fabs(months_s) > longest_s || fabs(days_s) > longest_s || fabs(time_s) > longest_s)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wait_job's timeout must be at most %d years", WAIT_JOB_LONGEST_TIMEOUT_YEARS),
					 errdetail("Its months, days and time must each be within %d years either way.",
							   WAIT_JOB_LONGEST_TIMEOUT_YEARS),
					 errhint("Give NULL to wait without limit.")));
		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(now), PointerGetDatum(timeout)));
		if (deadline < now)
			negative_timeout(); /* '1 month -31 days' in a month of 30 */
	}
	require_read_committed("wait_job", "In a snapshot-isolated transaction the job's status would never change.");
	require_shared_memory();
	hg_require_current_schema();
	ConditionVariablePrepareToSleep(&hg_shared->job_ended);
	for (;;)
	{
		TransactionId xmin;
		long		sleep_ms = 1000;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* as the caller: row-level security decides which jobs exist for them */
		if (SPI_execute_with_args("SELECT j.status, j.xmin FROM heimdall_gen.jobs j WHERE j.job_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read job " INT64_FORMAT, job_id);
		if (SPI_processed == 0)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
							errmsg("job " INT64_FORMAT " does not exist", job_id)));
		/* copied into the caller's context: SPI_finish frees SPI's */
		if (status)
			pfree(status);
		status = MemoryContextStrdup(caller_context,
									 TextDatumGetCString(hg_spi_get_notnull(0, 1, "jobs.status")));
		xmin = DatumGetTransactionId(hg_spi_get_notnull(0, 2, "jobs.xmin"));
		SPI_finish();
		/* the launcher sees only committed rows: this wait could never end */
		if (!is_final(status) && TransactionIdIsCurrentTransactionId(xmin))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job " INT64_FORMAT " was started or changed in this transaction", job_id),
					 errdetail("Its worker starts only once the transaction commits, so the wait would never end."),
					 errhint("Commit first: call wait_job in a later statement, outside the transaction block.")));
		/* restored into a database no launcher serves: no worker will ever end it */
		if (!is_final(status) && !has_deadline && !database_served(&served))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("job " INT64_FORMAT " is %s, and database \"%s\" has no heimdall_gen launcher",
							job_id, status, get_database_name(MyDatabaseId)),
					 errdetail("No worker runs jobs here, so the wait would never end."),
					 errhint("Add this database to heimdall_gen.database in postgresql.conf and restart the server, "
							 "or give wait_job a timeout.")));
		if (is_final(status) || (has_deadline && GetCurrentTimestamp() >= deadline))
			break;
		if (has_deadline)
			sleep_ms = Min(sleep_ms, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline) + 1);

		/*
		 * Woken when a worker leaves its slot or cancel_job ends a job
		 * without one; the timeout only catches a status set by hand.
		 */
		(void) ConditionVariableTimedSleep(&hg_shared->job_ended, sleep_ms, PG_WAIT_EXTENSION);
		CHECK_FOR_INTERRUPTS();
	}
	ConditionVariableCancelSleep();
	PG_RETURN_TEXT_P(cstring_to_text(status));
}

/*
 * The caller's own running jobs in this database; every job of this
 * database for heimdall_gen_admin.  Other databases' jobs are never shown.
 */
Datum
hg_worker_slots(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	bool		see_all;

	require_shared_memory();
	hg_require_current_schema();
	see_all = caller_is_admin();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(hg_shared->lock, LW_SHARED);
	for (i = 0; i < hg_shared->n_slots; i++)
	{
		HgSlot	   *s = &hg_shared->slots[i];
		Datum		values[8];
		bool		nulls[8] = {false};

		if (!s->in_use || s->database_oid != MyDatabaseId || (!see_all && s->owner_oid != GetUserId()))
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

/*
 * Call an internal function (not executable by PUBLIC) as the extension's
 * owner with the caller's role as its first argument $1; returns its single
 * result, copied into the caller's memory context.
 */
static Datum
call_internal(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls,
			  bool *isnull, int16 typlen, bool typbyval)
{
	MemoryContext caller_context = CurrentMemoryContext;
	Datum		result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = ObjectIdGetDatum(GetUserId());
	types[0] = REGROLEOID;
	if (hg_spi_as_owner(sql, nargs, types, args, nulls, false) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "\"%s\" returned no row", sql);
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (!*isnull)
	{
		MemoryContext old = MemoryContextSwitchTo(caller_context);

		result = datumCopy(result, typbyval, typlen);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/* SQL: heimdall_gen.start_job(dataset, num_samples, seed, params) -> bigint */
Datum
hg_start_job(PG_FUNCTION_ARGS)
{
	Oid			types[5] = {InvalidOid, TEXTOID, INT4OID, INT8OID, JSONBOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	Datum		job;
	int			k;

	require_shared_memory();
	hg_require_current_schema();
	PreventCommandIfReadOnly("start_job()");
	require_served_database();
	require_connect_privilege();
	for (k = 0; k < 4; k++)
	{
		nulls[k + 1] = PG_ARGISNULL(k) ? 'n' : ' ';
		args[k + 1] = PG_ARGISNULL(k) ? (Datum) 0 : PG_GETARG_DATUM(k);
	}
	lock_queue_of(GetUserId());
	job = call_internal("SELECT heimdall_gen._start_job($1, $2, $3, $4, $5)", 5, types, args, nulls,
						&isnull, sizeof(int64), FLOAT8PASSBYVAL);
	if (isnull)
		elog(ERROR, "start_job created no job");
	require_room_in_queue(GetUserId());
	PG_RETURN_DATUM(job);
}

/* SQL: heimdall_gen.drop_dataset(name) -> bigint */
Datum
hg_drop_dataset(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {InvalidOid, TEXTOID};
	Datum		args[2] = {0, PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0)};
	char		nulls[2] = {' ', PG_ARGISNULL(0) ? 'n' : ' '};
	bool		isnull;
	Datum		removed;

	hg_require_current_schema();
	hg_require_arg(0, "name");
	PreventCommandIfReadOnly("drop_dataset()");
	hg_require_possible_dataset_name(PG_GETARG_TEXT_PP(0));
	removed = call_internal("SELECT heimdall_gen._drop_dataset($1, $2)", 2, types, args, nulls,
							&isnull, sizeof(int64), FLOAT8PASSBYVAL);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(removed);
}

/*
 * A read-only transaction (a hot standby's) reads a role's channel but
 * cannot make one: said so, rather than with the INSERT inside _channel_of
 * and its context (a replication review).
 */
static void
refuse_new_channel_if_read_only(void)
{
	bool		has_one;

	if (!XactReadOnly)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	has_one = hg_event_channel_of(GetUserId(), CurrentMemoryContext) != NULL;
	SPI_finish();
	if (!has_one)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot make an event channel in a read-only transaction"),
				 errdetail("Role \"%s\" has none yet; event_channel() makes it on first use.",
						   GetUserNameFromId(GetUserId(), false)),
				 errhint("Call heimdall_gen.event_channel() once in a read-write transaction, on the primary.")));
}

/* SQL: heimdall_gen.event_channel() -> text, the caller's private NOTIFY channel */
Datum
hg_event_channel(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {InvalidOid};
	Datum		args[1];
	bool		isnull;
	Datum		channel;

	hg_require_current_schema();
	refuse_new_channel_if_read_only();
	channel = call_internal("SELECT heimdall_gen._channel_of($1)", 1, types, args, NULL,
							&isnull, -1, false);
	if (isnull)
		elog(ERROR, "no event channel");
	PG_RETURN_DATUM(channel);
}

/* SQL: heimdall_gen.materialize(dataset) -> bigint, a job that fills a virtual dataset's IQ */
Datum
hg_materialize(PG_FUNCTION_ARGS)
{
	Oid			types[2] = {InvalidOid, TEXTOID};
	Datum		args[2];
	bool		isnull;
	Datum		job;

	hg_require_arg(0, "dataset");
	args[0] = 0;
	args[1] = PG_GETARG_DATUM(0);

	require_shared_memory();
	hg_require_current_schema();
	PreventCommandIfReadOnly("materialize()");
	hg_require_possible_dataset_name(PG_GETARG_TEXT_PP(0));
	require_served_database();
	require_login();
	require_connect_privilege();
	hg_refuse_others_dataset("materialize", PG_GETARG_TEXT_PP(0));
	lock_queue_of(GetUserId());
	job = call_internal("SELECT heimdall_gen._materialize($1, $2)", 2, types, args, NULL,
						&isnull, sizeof(int64), FLOAT8PASSBYVAL);
	if (isnull)
		elog(ERROR, "materialize created no job");
	require_room_in_queue(GetUserId());
	PG_RETURN_DATUM(job);
}
