/*
 * hg_worker.c
 *    The background worker that runs one job: it claims the job (queued ->
 *    running, committed before any work), then per attempt checks its slot's
 *    cancel and pause flags, CHECK_FOR_INTERRUPTS, runs the model and inserts
 *    a kept sample; it commits a batch every batch_size samples or
 *    commit_interval_ms together with the job's counters and next attempt
 *    index (so a crash loses nothing committed and doubles nothing; a
 *    cancel or pause drops the open batch rather than wait for it to be
 *    written, and a resume regenerates it identically), and
 *    reads its status row every 10 attempts as the fallback for a stop that
 *    did not come through shared memory.
 *
 *    It connects as the job's owner (pg_stat_activity shows who it works
 *    for) and writes the extension's tables with the extension owner's
 *    rights, through fixed, qualified, prepared statements under the pinned
 *    search_path (hg_sql.h): users have no write access to those tables.
 *    Every row it reads is untrusted: a job whose dataset is gone, belongs
 *    to another role or holds unusable params ends 'failed' with the reason.
 */
#include "postgres.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_tablespace_d.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/tablespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "hg_events.h"
#include "hg_guc.h"
#include "hg_heap.h"
#include "hg_latch.h"
#include "hg_model.h"
#include "hg_pace.h"
#include "hg_walroom.h"
#include "hg_walfd.h"
#include "hg_params.h"
#include "hg_prefetch.h"
#include "hg_shmem.h"
#include "hg_sql.h"
#include "hg_storage.h"

PGDLLEXPORT void hg_worker_main(Datum main_arg);

#define STATUS_CHECK_EVERY 10	/* attempts between reads of the status row */
#define STATUS_CHECK_AFTER_MS 5000	/* or sooner, if 10 attempts take longer (a slow disk) */
#define ATTEMPT_LIMIT_FACTOR 20 /* give up after 20 x num_samples attempts */

typedef enum StopReason
{
	STOP_NONE,
	STOP_COMPLETED,
	STOP_CANCELLED,
	STOP_PAUSED,
	STOP_GAVE_UP,
	STOP_FOREIGN,				/* the dataset no longer belongs to the job's owner */
	STOP_ROW_HELD,				/* another transaction held the job's row: leave it, and the slot */
	STOP_REQUEUED				/* the row says 'queued' (paused by hand, resumed before this worker saw
								 * the pause): leave it, and the slot, for the next worker */
} StopReason;

/* The stops that drop the open batch instead of committing it. */
static inline bool
stop_drops_batch(StopReason stop)
{
	return stop == STOP_CANCELLED || stop == STOP_PAUSED || stop == STOP_FOREIGN ||
		stop == STOP_ROW_HELD || stop == STOP_REQUEUED;
}

/* What the worker knows of its job; counters as committed plus this batch. */
typedef struct JobState
{
	int64		job_id;
	Oid			owner;
	bool		materialize;	/* kind 'materialize': fill a virtual dataset's IQ */
	int64		dataset_id;
	char	   *dataset_name;
	int64		seed;
	int32		num_samples;
	int32		samples_done;
	int64		attempts;
	int64		next_attempt;
	int64		rejected[HG_OUTCOME_COUNT];
	XLogRecPtr	claim_end;		/* the end of the claim's commit record */
} JobState;

static int	my_slot = -1;
static SPIPlanPtr read_status_plan = NULL;
static SPIPlanPtr flush_plan = NULL;
static SPIPlanPtr lock_row_plan = NULL;
static SPIPlanPtr row_exists_plan = NULL;
static SPIPlanPtr lock_dataset_plan = NULL;
static SPIPlanPtr dataset_exists_plan = NULL;
static char *event_channel = NULL;	/* the owner's, looked up once */
static SPIPlanPtr finish_plans[STOP_FOREIGN + 1];	/* by StopReason; STOP_NONE unused */

/*
 * A job's last UPDATE per stop reason: the final status and the counters in
 * one statement, so that the row gets one new version in the last
 * transaction (a second UPDATE of a row this transaction wrote would fire
 * the foreign key check, whose query each process prepares on first use: a
 * millisecond, exactly when a cancel waits).  It never overwrites a status
 * someone else set: it matches no row if someone cancelled or paused the
 * job meanwhile, and that stands.
 */
#define FINISH_COUNTERS "samples_done = $3, attempts = $4, next_attempt = $5, rejected_too_few_detected = $6, " \
	"rejected_low_mean_snr = $7, rejected_gdop = $8"
static const char *const finish_sql[STOP_FOREIGN + 1] = {
	[STOP_COMPLETED] = "UPDATE heimdall_gen.jobs SET status = 'completed', finished_at = pg_catalog.now(), message = $2, "
	FINISH_COUNTERS " WHERE job_id = $1 AND status = 'running' RETURNING status",
	[STOP_CANCELLED] = "UPDATE heimdall_gen.jobs SET status = 'cancelled', "
	"finished_at = coalesce(finished_at, pg_catalog.now()), message = $2, "
	FINISH_COUNTERS " WHERE job_id = $1 AND status IN ('running', 'cancelled') RETURNING status",
	[STOP_PAUSED] = "UPDATE heimdall_gen.jobs SET status = 'paused', message = $2, "
	FINISH_COUNTERS " WHERE job_id = $1 AND status IN ('running', 'paused') RETURNING status",
	[STOP_GAVE_UP] = "UPDATE heimdall_gen.jobs SET status = 'failed', finished_at = pg_catalog.now(), error = $2, "
	FINISH_COUNTERS " WHERE job_id = $1 AND status = 'running' RETURNING status",
	[STOP_FOREIGN] = "UPDATE heimdall_gen.jobs SET status = 'failed', finished_at = pg_catalog.now(), error = $2, "
	FINISH_COUNTERS " WHERE job_id = $1 AND status = 'running' RETURNING status",
};

/*
 * The job's status as committed, and whether its dataset still exists and
 * belongs to the job's owner ($2).  Read every 10 attempts and with every
 * batch's counters.
 */
#define STATUS_COLUMNS "status, (SELECT d.owner FROM heimdall_gen.datasets d WHERE d.dataset_id = j.dataset_id) " \
	"IS NOT DISTINCT FROM $2 AND j.owner = $2"


/* Set once the job's status row says how it ended: nothing is left for the launcher to mend. */
static bool job_status_final = false;

/* The claim found the job's row held locked: the job stays queued, for the launcher to pass over. */
static bool claim_left_job_queued = false;

static StopReason flagged_stop(HgSlot *slot);

/*
 * Free the slot on any exit and tell those waiting on the job.  Wake the
 * launcher only when it has something to do: a queued job waits for this
 * slot, the job may have been left 'running' (an error, a FATAL) and is
 * to be queued again, or it stays queued behind a lock.  Not after a plain
 * cancel: the launcher's round (queries, 1.9 ms of CPU) would take a CPU
 * from this process's exit and from the cancel_job waiting for it.
 */
static void
release_slot(int code, Datum arg)
{
	HgSlot	   *slot = &hg_shared->slots[DatumGetInt32(arg)];
	HgLauncher *launcher;
	bool		wake_launcher;
	Latch	   *to_wake[HG_MAX_LAUNCHERS];
	int			n_to_wake = 0;
	int			i;

	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	slot->in_use = false;
	slot->pid = 0;
	slot->latch = NULL;
	slot->job_id = 0;
	launcher = hg_launcher_of(MyDatabaseId);
	wake_launcher = !job_status_final || code != 0 || (launcher != NULL && launcher->wants_slot);
	/* slots are the cluster's: a launcher of another database may be waiting for one too */
	for (i = 0; i < HG_MAX_LAUNCHERS; i++)
	{
		HgLauncher *l = &hg_shared->launchers[i];

		if (l->latch != NULL && (l == launcher ? wake_launcher : l->wants_slot))
			to_wake[n_to_wake++] = l->latch;
	}
	LWLockRelease(hg_shared->lock);
	hg_announce_job_ended();
	for (i = 0; i < n_to_wake; i++)
		SetLatch(to_wake[i]);
	if (n_to_wake > 0)
		elog(DEBUG1, "heimdall_gen worker wakes %d launcher(s) as it leaves its slot (%s)", n_to_wake,
			 code != 0 ? "it exits on an error" :
			 !job_status_final ? "its job did not end" : "a queued job waits for a slot");
}

/*
 * Leaving fast.  Once proc_exit has run PostgreSQL's exit callbacks (the
 * slot, the lock and buffer cleanup, ProcKill, the stats: all there is to
 * do for the server), exit() would go on to run the C library's atexit
 * handlers and every loaded library's destructors: OpenSSL, GnuTLS, LDAP,
 * ICU ... cleaning up memory the kernel frees anyway.  Their pages are
 * shared copy-on-write with the postmaster, and in a process whose model
 * threads ran on other CPUs each write fault costs a TLB-shootdown
 * interrupt: 20-40 ms on a VM, and more when the host is busy, between
 * leaving the proc array and the postmaster reaping the worker, which is
 * what cancel_job(wait => true) waits for.  So the first atexit handler
 * (registered last) ends the process with _exit() when, and only when,
 * proc_exit is what called exit().
 */
static int	exit_code = 0;

static void
remember_exit_code(int code, Datum arg)
{
	exit_code = code;
}

static void
exit_without_library_cleanup(void)
{
	if (!proc_exit_inprogress)
		return;					/* exit() from elsewhere: the normal way */
	fflush(stdout);
	fflush(stderr);
	_exit(exit_code);
}

/*
 * NOTIFY on the owner's private channel, looked up (or created) once: the
 * statements of a job's last transaction run when a cancel is waiting for
 * them, and must not parse, plan or read catalogs (whose pages the IQ may
 * have pushed out of shared buffers) at that moment.  The first event of a
 * job is its 'running', sent when it is claimed.
 */
static void
send_event(const JobState *job, const char *payload, int lock_wait_ms)
{
	if (!hg_event_queue_has_room())
		return;					/* the commit carrying it would fail when the queue is full */
	if (event_channel == NULL)
		event_channel = hg_event_channel_of(job->owner, TopMemoryContext);
	if (event_channel == NULL)
		return;					/* the owner has no channel yet, so no listener: read again next time */
	if (!hg_event_commit_lock_within_ms(lock_wait_ms))
		return;					/* another session's NOTIFY commit holds it: not waited for long */
	Async_Notify(event_channel, payload);
}

/* Events go to the owner's private channel: the dataset's name may be in them. */
static void
notify_status(const JobState *job, const char *status)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"job_id\": " INT64_FORMAT ", \"event\": \"status\", \"status\": \"%s\", "
					 "\"samples_done\": %d, \"num_samples\": %d, \"dataset\": ",
					 job->job_id, status, job->samples_done, job->num_samples);
	escape_json(&buf, job->dataset_name ? job->dataset_name : "");
	appendStringInfoChar(&buf, '}');
	send_event(job, buf.data, HG_STATUS_EVENT_LOCK_MS);
}

static void
notify_progress(const JobState *job)
{
	send_event(job, psprintf("{\"job_id\": " INT64_FORMAT ", \"event\": \"progress\", "
							 "\"samples_done\": %d, \"num_samples\": %d, \"attempts\": " INT64_FORMAT "}",
							 job->job_id, job->samples_done, job->num_samples, job->attempts), 0);
}

/* Mark the just-claimed job 'failed' with the reason, in the claiming transaction. */
static void
fail_claimed_job(JobState *job, const char *error)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(job->job_id), CStringGetTextDatum(error)};

	ereport(LOG, (errmsg("heimdall_gen job " INT64_FORMAT " failed: %s", job->job_id, error)));
	if (SPI_execute_with_args("UPDATE heimdall_gen.jobs SET status = 'failed', finished_at = pg_catalog.now(), "
							  "error = $2 WHERE job_id = $1", 2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not fail job " INT64_FORMAT, job->job_id);
	notify_status(job, "failed");
}

/*
 * Locks a row (the job's, or its dataset's: row_id) without ever waiting
 * on another session's lock.  The job's: its
 * owner may hold it (SELECT ... FOR UPDATE is allowed by the grant that
 * lets a user cancel by hand), and a worker that waited would hold its
 * slot, with no end and at no cost to that role, while other roles' jobs
 * stay queued.  Brief locks (a pause, a cancel or a hand UPDATE being
 * committed) are waited out on the latch, ROW_LOCK_WAIT_MS at most, where
 * a cancel or pause flag ends the wait if stop_on_flags.  lock_plan locks
 * the row with SKIP LOCKED; still_plan tells a row skipped because another
 * session holds it from one that no longer matches (then there is nothing
 * to wait for).  Both take row_id, and are run not read-only, so that
 * each takes a new snapshot and sees what was committed meanwhile.  Used
 * by the claim, before every write of a running job's row, and before a
 * batch's first sample for the dataset's row.
 */
#define ROW_LOCK_WAIT_MS 2000

typedef enum RowLock
{
	ROW_LOCKED,
	ROW_NOT_THERE,				/* still_plan found nothing */
	ROW_FLAGGED,				/* a cancel or pause came while it waited */
	ROW_HELD					/* another session held it ROW_LOCK_WAIT_MS */
} RowLock;

static RowLock
wait_for_row(SPIPlanPtr lock_plan, SPIPlanPtr still_plan, int64 row_id, HgSlot *slot, bool stop_on_flags)
{
	Datum		args[1] = {Int64GetDatum(row_id)};
	TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ROW_LOCK_WAIT_MS);

	for (;;)
	{
		bool		got;

		/* up to 200 tries in one transaction: each result is freed, not left to the transaction's end */
		if (SPI_execute_plan(lock_plan, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not lock row " INT64_FORMAT, row_id);
		got = SPI_processed == 1;
		SPI_freetuptable(SPI_tuptable);
		if (got)
			return ROW_LOCKED;
		if (SPI_execute_plan(still_plan, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read row " INT64_FORMAT, row_id);
		got = SPI_processed == 1;
		SPI_freetuptable(SPI_tuptable);
		if (!got)
			return ROW_NOT_THERE;
		if (stop_on_flags && flagged_stop(slot) != STOP_NONE)
			return ROW_FLAGGED;
		if (GetCurrentTimestamp() >= give_up)
			return ROW_HELD;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Locks the job's row for the claim (wait_for_row): the launcher skips
 * a queued job whose row is locked; this covers a lock taken after the
 * launcher looked.  False if the job is no longer queued, was flagged, or
 * its row stayed locked: the job then stays as it is, and the worker
 * leaves its slot, then wakes the launcher (release_slot), which passes
 * the job over while it is locked.  Not before: the launcher would find
 * the slot still taken by the worker it started for this row, and wait for
 * nothing (claim_slot).
 */
static bool
lock_job_row_for_claim(const JobState *job, HgSlot *slot)
{
	Oid			types[1] = {INT8OID};
	SPIPlanPtr	lock_plan = hg_prepare_kept(HG_LOCK_QUEUED_JOB_SQL, 1, types);
	SPIPlanPtr	queued_plan = hg_prepare_kept("SELECT 1 FROM heimdall_gen.jobs j WHERE j.job_id = $1 AND j.status = 'queued'",
											  1, types);

	switch (wait_for_row(lock_plan, queued_plan, job->job_id, slot, true))
	{
		case ROW_LOCKED:
			return true;
		case ROW_HELD:
			ereport(LOG,
					(errmsg("heimdall_gen job " INT64_FORMAT " stays queued: another transaction holds its row "
							"or its dataset's row locked",
							job->job_id)));
			claim_left_job_queued = true;
			return false;
		default:
			return false;
	}
}

/*
 * A resumed job's committed rows are all there: its attempts
 * [start_attempt, next_attempt) hold samples_done kept samples, committed
 * with the counters in the same transactions, and each sample its
 * n_receivers receptions.  Fewer means rows were lost outside the
 * extension, as by a restore that failed part way: pg_restore -j loads the
 * extension's tables in parallel, samples and receptions before the
 * datasets they reference, and those COPYs fail (an operator's review),
 * or --exclude-table-data left the receptions out (a README review);
 * resumed at next_attempt, the job "completed" a dataset with a hole.  The
 * samples are counted (their primary key's index), the receptions of the
 * last one only: a lost table loses them all, and one sample is cheap at
 * any size.  NULL when all is there, else the reason to fail the job with.
 */
static char *
committed_rows_lost(const JobState *job, int64 start_attempt)
{
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3] = {Int64GetDatum(job->dataset_id), Int64GetDatum(start_attempt),
	Int64GetDatum(job->next_attempt)};
	int64		stored;
	int64		sample_idx;
	int32		receivers;

	if (job->samples_done == 0)
		return NULL;
	if (SPI_execute_with_args("SELECT pg_catalog.count(*) FROM heimdall_gen.samples s "
							  " WHERE s.dataset_id = $1 AND s.sample_idx >= $2 AND s.sample_idx < $3",
							  3, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the samples of job " INT64_FORMAT, job->job_id);
	stored = DatumGetInt64(hg_spi_get_notnull(0, 1, "count"));
	if (stored != job->samples_done)
		return psprintf("the job's dataset holds " INT64_FORMAT " of the %d samples this job committed (attempts "
						INT64_FORMAT " to " INT64_FORMAT "): rows were lost outside heimdall_gen, as by a restore "
						"that failed part way (pg_restore -j); restore the dataset again (without -j) or drop it",
						stored, job->samples_done, start_attempt, job->next_attempt - 1);
	if (SPI_execute_with_args("SELECT s.sample_idx, s.n_receivers, "
							  "       (SELECT pg_catalog.count(*) FROM heimdall_gen.receptions r "
							  "         WHERE r.dataset_id = s.dataset_id AND r.sample_idx = s.sample_idx) "
							  "  FROM heimdall_gen.samples s "
							  " WHERE s.dataset_id = $1 AND s.sample_idx >= $2 AND s.sample_idx < $3 "
							  " ORDER BY s.sample_idx DESC LIMIT 1",
							  3, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the last sample of job " INT64_FORMAT, job->job_id);
	sample_idx = DatumGetInt64(hg_spi_get_notnull(0, 1, "samples.sample_idx"));
	receivers = DatumGetInt32(hg_spi_get_notnull(0, 2, "samples.n_receivers"));
	stored = DatumGetInt64(hg_spi_get_notnull(0, 3, "count"));
	if (stored != receivers)
		return psprintf("the job's last committed sample (sample_idx " INT64_FORMAT ") has " INT64_FORMAT " of its %d "
						"receptions: rows were lost outside heimdall_gen, as by a restore that failed part way "
						"(pg_restore -j) or left the receptions out; restore the dataset again (without -j) or drop it",
						sample_idx, stored, receivers);
	return NULL;
}

/*
 * queued -> running, committed before work begins; false if the job is no
 * longer queued, its row is held locked by another session, or it cannot
 * run (then it is 'failed' with the reason).  The row and its dataset are
 * checked, not trusted: the launcher checked them too, but they may have
 * changed since.
 */
static bool
claim_job(JobState *job, hg_config *cfg)
{
	Oid			types[2] = {INT8OID, REGROLEOID};
	Datum		args[2] = {Int64GetDatum(job->job_id), ObjectIdGetDatum(job->owner)};
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull[16];
	Datum		v[16];
	int			k;
	Jsonb	   *params;
	char	   *lost;

	hg_begin_transaction("heimdall_gen: claiming job");
	if (!lock_job_row_for_claim(job, &hg_shared->slots[my_slot]))
	{
		hg_commit_transaction();
		return false;
	}
	if (SPI_execute_with_args(
							  "UPDATE heimdall_gen.jobs j SET status = 'running', "
							  "       started_at = coalesce(j.started_at, pg_catalog.now()), message = NULL "
							  " WHERE j.job_id = $1 AND j.status = 'queued' AND j.owner = $2 "
							  "RETURNING j.dataset_id, j.num_samples, j.samples_done, j.attempts, j.next_attempt, "
							  "          j.rejected_too_few_detected, j.rejected_low_mean_snr, j.rejected_gdop, "
							  "          (SELECT d.seed FROM heimdall_gen.datasets d WHERE d.dataset_id = j.dataset_id), "
							  "          (SELECT d.params FROM heimdall_gen.datasets d WHERE d.dataset_id = j.dataset_id), "
							  "          (SELECT d.name FROM heimdall_gen.datasets d WHERE d.dataset_id = j.dataset_id), "
							  "          (SELECT d.owner FROM heimdall_gen.datasets d WHERE d.dataset_id = j.dataset_id), "
							  "          (SELECT d.model_version FROM heimdall_gen.datasets d WHERE d.dataset_id = j.dataset_id), "
							  "          j.owner, j.kind = 'materialize', j.start_attempt",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim job " INT64_FORMAT, job->job_id);
	if (SPI_processed != 1)
	{
		hg_commit_transaction();
		return false;
	}
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	for (k = 0; k < 16; k++)
		v[k] = SPI_getbinval(t, d, k + 1, &isnull[k]);
	job->materialize = !isnull[14] && DatumGetBool(v[14]);
	if (!isnull[10])
		job->dataset_name = MemoryContextStrdup(TopMemoryContext, TextDatumGetCString(v[10]));
	if (isnull[8] || isnull[9] || isnull[10] || isnull[11] || isnull[12])
	{
		fail_claimed_job(job, "the job's dataset no longer exists");
		hg_commit_transaction();
		return false;
	}
	if (DatumGetObjectId(v[11]) != job->owner)
	{
		fail_claimed_job(job, "the job's dataset belongs to another role");
		hg_commit_transaction();
		return false;
	}
	if (!hg_model_generates(DatumGetInt32(v[12])))
	{
		fail_claimed_job(job, psprintf("the dataset %s", hg_model_version_refusal(DatumGetInt32(v[12]))));
		hg_commit_transaction();
		return false;
	}
	for (k = 0; k < 8; k++)
		if (isnull[k] || isnull[15])
			elog(ERROR, "job " INT64_FORMAT " has a null counter", job->job_id);
	job->dataset_id = DatumGetInt64(v[0]);
	job->num_samples = DatumGetInt32(v[1]);
	job->samples_done = DatumGetInt32(v[2]);
	job->attempts = DatumGetInt64(v[3]);
	job->next_attempt = DatumGetInt64(v[4]);
	job->rejected[HG_REJECT_TOO_FEW_DETECTED] = DatumGetInt64(v[5]);
	job->rejected[HG_REJECT_LOW_MEAN_SNR] = DatumGetInt64(v[6]);
	job->rejected[HG_REJECT_GDOP] = DatumGetInt64(v[7]);
	job->seed = DatumGetInt64(v[8]);
	if (!job->materialize && (lost = committed_rows_lost(job, DatumGetInt64(v[15]))) != NULL)
	{
		fail_claimed_job(job, lost);
		hg_commit_transaction();
		return false;
	}
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		params = DatumGetJsonbPCopy(v[9]);
		MemoryContextSwitchTo(old);
	}
	/*
	 * The dataset's params were resolved and validated by start_job; checked
	 * again (an ERROR fails the job), and a network reference is refused:
	 * resolved params hold their receivers inline.
	 */
	hg_params_to_config(params, cfg, false);
	/* the dataset's own version: one made before an upgrade goes on as it began */
	cfg->model_version = DatumGetInt32(v[12]);
	notify_status(job, "running");
	hg_commit_transaction();
	job->claim_end = XactLastCommitEnd;
	return true;
}

static void
prepare_plans(HgStorage *storage, const JobState *job, const hg_config *cfg)
{
	Oid			status_types[2] = {INT8OID, REGROLEOID};
	Oid			flush_types[8] = {INT8OID, REGROLEOID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Oid			finish_types[8] = {INT8OID, TEXTOID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	int			r;

	hg_storage_prepare(storage, (uint64) job->seed, cfg);
	read_status_plan = hg_prepare_kept("SELECT " STATUS_COLUMNS " FROM heimdall_gen.jobs j WHERE j.job_id = $1",
									   2, status_types);
	lock_row_plan = hg_prepare_kept(HG_LOCK_JOB_ROW_SQL, 1, status_types);
	row_exists_plan = hg_prepare_kept(HG_JOB_ROW_EXISTS_SQL, 1, status_types);
	/* the lock samples' foreign key takes, held for hg_storage_write (lock_dataset_row) */
	lock_dataset_plan = hg_prepare_kept("SELECT 1 FROM heimdall_gen.datasets d WHERE d.dataset_id = $1 "
										"FOR KEY SHARE SKIP LOCKED", 1, status_types);
	dataset_exists_plan = hg_prepare_kept("SELECT 1 FROM heimdall_gen.datasets d WHERE d.dataset_id = $1",
										  1, status_types);
	flush_plan = hg_prepare_kept("UPDATE heimdall_gen.jobs j SET samples_done = $3, attempts = $4, next_attempt = $5, "
								 "rejected_too_few_detected = $6, rejected_low_mean_snr = $7, rejected_gdop = $8 "
								 "WHERE j.job_id = $1 RETURNING " STATUS_COLUMNS, 8, flush_types);
	for (r = STOP_COMPLETED; r <= STOP_FOREIGN; r++)
		finish_plans[r] = hg_prepare_kept(finish_sql[r], 8, finish_types);
}

/*
 * What the job's status row, as committed by anyone (fresh snapshot per
 * query), asks for: a missing row or NULL status stops the job (nothing
 * left to write for), a dataset that changed hands fails it.  'queued'
 * while this worker runs the job: its owner paused it by hand and resumed
 * it before the worker read the pause; the job is then the launcher's to
 * start again, and this worker must stop writing it.
 */
static StopReason
status_stop_reason(SPIPlanPtr plan, const Datum *args)
{
	StopReason	reason = STOP_NONE;
	bool		status_null,
				ours_null;

	if (SPI_execute_plan(plan, (Datum *) args, NULL, false, 0) < 0 || SPI_processed != 1)
		reason = STOP_CANCELLED;
	else
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Datum		status = SPI_getbinval(t, d, 1, &status_null);
		Datum		ours = SPI_getbinval(t, d, 2, &ours_null);

		if (status_null)
			reason = STOP_CANCELLED;
		else if (ours_null || !DatumGetBool(ours))
			reason = STOP_FOREIGN;
		else
		{
			char	   *status_text = TextDatumGetCString(status);

			if (strcmp(status_text, "cancelled") == 0)
				reason = STOP_CANCELLED;
			else if (strcmp(status_text, "paused") == 0)
				reason = STOP_PAUSED;
			else if (strcmp(status_text, "queued") == 0)
				reason = STOP_REQUEUED;
			pfree(status_text);
		}
	}
	/* a result lives until the transaction ends: one per 10 attempts adds up in a long batch */
	if (SPI_tuptable)
		SPI_freetuptable(SPI_tuptable);
	return reason;
}

/* The job's counters as parameters $3 .. $8 of flush_plan and finish_plans. */
static void
counter_args(const JobState *job, Datum *args)
{
	args[2] = Int32GetDatum(job->samples_done);
	args[3] = Int64GetDatum(job->attempts);
	args[4] = Int64GetDatum(job->next_attempt);
	args[5] = Int64GetDatum(job->rejected[HG_REJECT_TOO_FEW_DETECTED]);
	args[6] = Int64GetDatum(job->rejected[HG_REJECT_LOW_MEAN_SNR]);
	args[7] = Int64GetDatum(job->rejected[HG_REJECT_GDOP]);
}

static StopReason lock_row_of_job(SPIPlanPtr lock_plan, SPIPlanPtr exists_plan, int64 row_id, const char *which,
								  StopReason if_gone, const JobState *job, HgSlot *slot, bool stop_on_flags);

/*
 * Locks a running job's row before the worker writes it (a batch's
 * counters, the final status), through wait_for_row: one role could
 * otherwise take every slot by starting a few jobs and locking their rows.
 * STOP_NONE once the row is locked (or gone: the UPDATE that follows then
 * says so), the flagged stop if a cancel or pause came while it waited and
 * stop_on_flags, STOP_ROW_HELD if the row stayed locked: the worker then
 * writes nothing more and leaves its slot; the job stays 'running', and
 * the launcher resumes it at its last committed batch once the lock is
 * gone (counting a restart).
 */
static StopReason
lock_job_row(const JobState *job, HgSlot *slot, bool stop_on_flags)
{
	/* (gone: the UPDATE that follows says so) */
	return lock_row_of_job(lock_row_plan, row_exists_plan, job->job_id, "its row", STOP_NONE, job, slot,
						   stop_on_flags);
}

/*
 * Locks the dataset's row before a batch's first sample is written, as
 * lock_job_row does the job's: the samples' foreign key needs a key-share
 * lock on it, which a transaction holding it FOR UPDATE (its owner's
 * start_job, drop_dataset or materialize, kept open by a client that does
 * not read its error) would make the worker wait for on its slot, with no
 * end.  STOP_ROW_HELD after ROW_LOCK_WAIT_MS: the job stays 'running' and
 * the launcher resumes it once the lock is gone (it skips a queued job
 * whose dataset row is locked).  STOP_FOREIGN if the dataset is gone.
 */
static StopReason
lock_dataset_row(const JobState *job, HgSlot *slot)
{
	return lock_row_of_job(lock_dataset_plan, dataset_exists_plan, job->dataset_id, "its dataset's row",
						   STOP_FOREIGN, job, slot, true);
}

/* The two above: wait_for_row's outcome as the stop it means, the worker's leaving logged. */
static StopReason
lock_row_of_job(SPIPlanPtr lock_plan, SPIPlanPtr exists_plan, int64 row_id, const char *which,
				StopReason if_gone, const JobState *job, HgSlot *slot, bool stop_on_flags)
{
	switch (wait_for_row(lock_plan, exists_plan, row_id, slot, stop_on_flags))
	{
		case ROW_FLAGGED:
			return flagged_stop(slot);
		case ROW_HELD:
			ereport(LOG,
					(errmsg("heimdall_gen job " INT64_FORMAT " leaves its worker slot: another transaction "
							"has held %s locked for %d ms", job->job_id, which, ROW_LOCK_WAIT_MS),
					 errdetail("The job resumes at its last committed batch once that lock is released.")));
			return STOP_ROW_HELD;
		case ROW_NOT_THERE:
			return if_gone;
		default:
			return STOP_NONE;
	}
}

/*
 * A cancel raised this worker's flag (cancel_job(id, wait => true) does so
 * before anything is written, and a rollback of its caller must not undo
 * it), but the job's row stayed locked: hand the cancel to the launcher
 * (HgPendingCancel), which writes it once the row is free.  Resuming the
 * job instead would lose the cancel whenever the caller's own UPDATE never
 * commits (a statement_timeout while it waits for that lock), and count a
 * restart that was none.  Called before the slot is released.
 */
static void
leave_cancel_to_launcher(const JobState *job)
{
	if (hg_pending_cancel_note(MyDatabaseId, job->job_id))
		ereport(LOG,
				(errmsg("heimdall_gen job " INT64_FORMAT " was cancelled; the launcher records it once its row "
						"is no longer locked", job->job_id)));
	else
		ereport(LOG,
				(errmsg("heimdall_gen job " INT64_FORMAT " was cancelled, but no room is left to keep that "
						"until its row is no longer locked", job->job_id),
				 errdetail("The job resumes at its last committed batch unless its canceller's own update commits."),
				 errhint("Cancel it again.")));
}

/* Write the counters of this batch; returns what the status row asks for. */
static StopReason
flush_counters(const JobState *job)
{
	Datum		args[8];

	args[0] = Int64GetDatum(job->job_id);
	args[1] = ObjectIdGetDatum(job->owner);
	counter_args(job, args);
	return status_stop_reason(flush_plan, args);
}

/*
 * The final status, with the counters and a message saying how far the job
 * got.  False when the status row no longer allows this ending (someone
 * cancelled or paused the job meanwhile): then nothing was written.
 */
static bool
finish_job(JobState *job, StopReason reason)
{
	Datum		args[8];
	char	   *message;

	switch (reason)
	{
		case STOP_COMPLETED:
			message = psprintf("%d sample%s in " INT64_FORMAT " attempt%s", job->samples_done,
							   job->samples_done == 1 ? "" : "s", job->attempts, job->attempts == 1 ? "" : "s");
			break;
		case STOP_PAUSED:
			message = psprintf("paused at %d of %d samples", job->samples_done, job->num_samples);
			break;
		case STOP_GAVE_UP:
			message = psprintf("gave up after " INT64_FORMAT " attempts (%d x num_samples) with %d of %d samples kept; "
							"rejected: " INT64_FORMAT " too few detected, " INT64_FORMAT " low mean SNR, "
							INT64_FORMAT " gdop",
							job->attempts, ATTEMPT_LIMIT_FACTOR, job->samples_done, job->num_samples,
							job->rejected[HG_REJECT_TOO_FEW_DETECTED], job->rejected[HG_REJECT_LOW_MEAN_SNR],
							job->rejected[HG_REJECT_GDOP]);
			break;
		case STOP_FOREIGN:
			/* the usual cause said plainly: a dropped role's datasets pass to no role (owner 0) */
			if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(job->owner)))
				message = psprintf("the job's owner role was dropped, and its datasets belong to no role now; "
								   "stopped at %d of %d samples", job->samples_done, job->num_samples);
			else
				message = psprintf("the dataset no longer exists or no longer belongs to the job's owner; "
								   "stopped at %d of %d samples", job->samples_done, job->num_samples);
			break;
		case STOP_CANCELLED:
		default:
			reason = STOP_CANCELLED;
			message = psprintf("cancelled at %d of %d samples", job->samples_done, job->num_samples);
			break;
	}
	args[0] = Int64GetDatum(job->job_id);
	args[1] = CStringGetTextDatum(message);
	counter_args(job, args);
	if (SPI_execute_plan(finish_plans[reason], args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not record the end of job " INT64_FORMAT, job->job_id);
	if (SPI_processed != 1)
		return false;
	notify_status(job, TextDatumGetCString(hg_spi_get_notnull(0, 1, "jobs.status")));
	return true;
}

/* The stop cancel_job or pause_job asked for through the slot's flags (a few ns), if any. */
static StopReason
flagged_stop(HgSlot *slot)
{
	if (pg_atomic_read_u32(&slot->cancel_requested))
		return STOP_CANCELLED;
	if (pg_atomic_read_u32(&slot->pause_requested))
		return STOP_PAUSED;
	return STOP_NONE;
}

static bool
slot_stop_requested(void *arg)
{
	return flagged_stop((HgSlot *) arg) != STOP_NONE;
}

/* The same for the model threads (hg_prefetch_start): two atomic reads, safe off the backend's thread. */
static bool
slot_stop_requested_by_model(const void *arg)
{
	return flagged_stop(unconstify(HgSlot *, (const HgSlot *) arg)) != STOP_NONE;
}

/*
 * How long to step aside for another worker that is stopping while its
 * canceller waits (hg_step_aside_begin), unless this one is told to stop
 * too; atomic reads, so the model threads ask it as well.
 */
static uint64_t
step_aside_ns(const void *arg)
{
	if (flagged_stop(unconstify(HgSlot *, (const HgSlot *) arg)) != STOP_NONE)
		return 0;
	return hg_step_aside_remaining_ns();
}

/*
 * The stop check between two rows of a sample (and two pages added ahead):
 * the worker steps aside there first, on its latch (a cancel or pause of
 * its own ends that at once; the end of the others' stop is seen within a
 * millisecond).
 */
static bool
stop_requested_between_rows(void *arg)
{
	while (step_aside_ns(arg) > 0)
		hg_latch_nap(1);
	/* and waits on it for room in the WAL buffers (hg_walroom.c) */
	if (!hg_wal_room_wait(slot_stop_requested, arg))
		return true;
	return slot_stop_requested(arg);
}

static void
publish_progress(HgSlot *slot, const JobState *job)
{
	pg_atomic_write_u64(&slot->samples_done, (uint64) job->samples_done);
	pg_atomic_write_u64(&slot->attempts, (uint64) job->attempts);
}

/*
 * The next kept sample of a materialize job whose receptions lack IQ, from
 * sample_idx `from` on; -1 when there is none left.
 */
static int64
next_sample_to_fill(const JobState *job, int64 from)
{
	static SPIPlanPtr plan = NULL;
	Datum		args[2] = {Int64GetDatum(job->dataset_id), Int64GetDatum(from)};
	bool		isnull;
	Datum		idx;
	int64		next;

	if (plan == NULL)
	{
		Oid			types[2] = {INT8OID, INT8OID};

		plan = hg_prepare_kept("SELECT min(r.sample_idx) FROM heimdall_gen.receptions r "
							   " WHERE r.dataset_id = $1 AND r.sample_idx >= $2 AND r.iq IS NULL", 2, types);
	}
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not find the next sample to fill");
	idx = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	next = isnull ? -1 : DatumGetInt64(idx);
	/* once per sample: kept until the batch's SPI_finish, 10,000 of them would be 80 MB */
	SPI_freetuptable(SPI_tuptable);
	return next;
}

/*
 * The model threads' next result, waiting for it on the latch as well (the
 * only wait of a worker that is not writing: the model is the slower side
 * when the disk keeps up), so that a cancel or pause is seen at once rather
 * than when the attempt in progress is done.  False if one came first.
 */
static bool
next_prefetched(HgPrefetch *prefetch, HgSlot *slot, hg_sample **sample, hg_outcome *outcome)
{
	static WaitEventSet *wait_set = NULL;

	while (!hg_prefetch_poll(prefetch, sample, outcome))
	{
		WaitEvent	event;

		if (slot_stop_requested(slot))
			return false;
		if (wait_set == NULL)
		{
			/* one per process: the worker runs one job, with one prefetch */
			wait_set = CreateWaitEventSet(TopMemoryContext, 3);
			AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
			AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
			AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, hg_prefetch_wait_fd(prefetch), NULL, NULL);
		}
		if (WaitEventSetWait(wait_set, -1, &event, 1, PG_WAIT_EXTENSION) == 1 &&
			(event.events & WL_LATCH_SET))
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	return true;
}

/*
 * The next attempt: in attempt order from the model threads, or for a
 * materialize job the next sample lacking IQ, regenerated inline.  Sets
 * *none_left when a materialize job has nothing more to fill, *stopped when
 * a cancel or pause came while it waited for the model threads.
 */
static hg_outcome
next_attempt(JobState *job, const hg_config *cfg, HgPrefetch *prefetch, hg_workspace *ws,
			 HgSlot *slot, hg_sample **sample, bool *none_left, bool *stopped)
{
	hg_outcome	outcome = HG_KEPT;

	*none_left = false;
	*stopped = false;
	if (prefetch)
	{
		*stopped = !next_prefetched(prefetch, slot, sample, &outcome);
		return outcome;
	}
	if (job->materialize)
	{
		int64		idx = next_sample_to_fill(job, job->next_attempt);

		if (idx < 0)
		{
			*none_left = true;
			return HG_KEPT;
		}
		job->next_attempt = idx;
		outcome = hg_attempt(cfg, (uint64) job->seed, (uint64) idx, ws, *sample);
		if (outcome != HG_KEPT)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("attempt " INT64_FORMAT " is not a kept sample when regenerated", idx),
					 errdetail("The dataset's rows do not match what its params and seed generate.")));
		return outcome;
	}
	return hg_attempt_ex(cfg, (uint64) job->seed, (uint64) job->next_attempt, ws, *sample,
						 cfg->iq_storage == HG_IQ_VIRTUAL ? HG_ATTEMPT_LABELS_ONLY : 0);
}

/* Roll back the open batch: its rows, and the counters back to those of the last commit. */
static void
drop_batch(JobState *job, const JobState *committed)
{
	hg_abort_transaction();
	*job = *committed;
}

#define CLAIM_WRITE_WAIT_MS 10000

/*
 * The claim commits without waiting for its WAL flush, but it must be in the
 * WAL files before the job's model runs: the launcher counts a worker that
 * dies (and takes the server down) again and again at the same sample only
 * through the 'running' that survives each crash recovery.  A crash of the
 * server, not of the machine, replays what was written to the kernel, so it
 * is the write that is waited for, not the flush.  The WAL writer does it,
 * nudged; the worker waits on its latch, where a cancel or pause reaches it
 * (false then), not in the kernel: a flush took 0.1-1.4 s on a disk kept
 * busy by another writer.  The WAL writer gets to it within its
 * wal_writer_delay; should it not within CLAIM_WRITE_WAIT_MS, the worker
 * flushes the claim itself.
 */
static bool
wait_until_claim_written(const JobState *job, HgSlot *slot)
{
	TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), CLAIM_WRITE_WAIT_MS);

	while (GetXLogWriteRecPtr() < job->claim_end)
	{
		if (GetCurrentTimestamp() >= give_up || !hg_wake_wal_writer())
		{
			/* no WAL writer, or one that does not get to it: write it here */
			ereport(DEBUG1, (errmsg("heimdall_gen job " INT64_FORMAT " flushes its claim itself", job->job_id)));
			XLogFlush(job->claim_end);
			break;
		}
		hg_latch_nap(1);
		if (flagged_stop(slot) != STOP_NONE)
			return false;
	}
	return true;
}

/*
 * The model threads of this worker, while they run: an ERROR or a FATAL
 * (a shutdown, pg_terminate_backend) leaves generate() without stopping
 * them, and they went on computing while the job's end was written, then
 * held up the process's exit (a code review).  The catch block and an exit
 * callback stop them first.
 */
static HgPrefetch *running_model = NULL;

static void
stop_model_threads(HgPrefetch *prefetch)
{
	hg_prefetch_stop(prefetch);
	if (running_model == prefetch)
		running_model = NULL;
}

static void
stop_model_threads_at_exit(int code, Datum arg)
{
	if (running_model != NULL)
		stop_model_threads(running_model);
}

/*
 * The model's side of a job: threads computing attempts ahead (a virtual
 * dataset's need no IQ), or a workspace to compute them inline (a
 * materialize job regenerates the samples it fills; also the fallback if
 * the threads cannot start).  Neither if a cancel or pause came while the
 * job was being claimed (on a saturated disk a worker's start took 58 ms
 * at the median, 183 ms at worst): the loop then stops before its first
 * attempt, and threads started only to be joined would make that stop
 * wait for the receiver each one is in.  The flags stay raised, so the
 * loop cannot miss the stop and ask for an attempt.
 */
static void
start_model(const JobState *job, const hg_config *cfg, HgSlot *slot, HgPrefetch **prefetch, hg_workspace **ws)
{
	*prefetch = NULL;
	*ws = NULL;
	if (flagged_stop(slot) != STOP_NONE)
	{
		elog(DEBUG1, "heimdall_gen: job " INT64_FORMAT " was stopped while it started: no model thread started",
			 job->job_id);
		return;
	}
	if (!job->materialize)
	{
		*prefetch = hg_prefetch_start(cfg, (uint64) job->seed, (uint64) job->next_attempt, hg_model_threads,
									  (size_t) hg_model_memory_kb * 1024,
									  cfg->iq_storage == HG_IQ_VIRTUAL ? HG_ATTEMPT_LABELS_ONLY : 0,
									  slot_stop_requested_by_model, step_aside_ns, slot);
		running_model = *prefetch;
		if (*prefetch != NULL && hg_prefetch_threads(*prefetch) < hg_model_threads)
			ereport(LOG,
					(errmsg("heimdall_gen job " INT64_FORMAT " runs %d model thread(s) (heimdall_gen.model_threads = %d) "
							"with %d workspaces of %zu kB (heimdall_gen.model_memory = %d kB)",
							job->job_id, hg_prefetch_threads(*prefetch), hg_model_threads,
							hg_prefetch_ring(*prefetch), hg_prefetch_workspace_bytes(*prefetch) / 1024,
							hg_model_memory_kb)));
	}
	if (*prefetch == NULL)
		*ws = hg_workspace_create(cfg);
	if (*prefetch == NULL && *ws == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}

/* Generate (or materialize) until done or told to stop; returns why it stopped. */
static StopReason
generate(JobState *job, const hg_config *cfg, HgSlot *slot)
{
	HgPrefetch *prefetch;
	hg_workspace *ws;
	hg_sample  *sample = MemoryContextAlloc(TopMemoryContext, sizeof(hg_sample));
	HgStorage	storage;
	Datum		status_args[2] = {Int64GetDatum(job->job_id), ObjectIdGetDatum(job->owner)};
	int64		attempt_limit = (int64) ATTEMPT_LIMIT_FACTOR * job->num_samples;
	bool		in_transaction = false;
	bool		dataset_locked = false;	/* in this transaction (lock_dataset_row) */
	bool		finished;
	int			batch_samples = 0;
	int			since_status_check = 0;
	TimestampTz last_status_check = GetCurrentTimestamp();
	TimestampTz batch_started = 0;
	TimestampTz last_progress_notify = 0;
	TimestampTz last_wal_release = 0;
	StopReason	stop = STOP_NONE;
	JobState	committed = *job;	/* the counters as of the last commit */

	hg_begin_transaction("heimdall_gen: preparing");
	prepare_plans(&storage, job, cfg);
	hg_commit_transaction();
	/* stopped meanwhile: start_model sees the flag and starts nothing */
	(void) wait_until_claim_written(job, slot);
	start_model(job, cfg, slot, &prefetch, &ws);

	for (;;)
	{
		hg_outcome	outcome;
		bool		none_left;
		bool		stopped;
		bool		written;

		/* the fast path: flags set by cancel_job / pause_job */
		CHECK_FOR_INTERRUPTS();
		stop = flagged_stop(slot);
		if (stop != STOP_NONE)
			break;
		if (job->samples_done >= job->num_samples)
			stop = STOP_COMPLETED;
		else if (job->attempts >= attempt_limit)
			stop = STOP_GAVE_UP;
		if (stop != STOP_NONE)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (!in_transaction)
		{
			hg_begin_transaction("heimdall_gen: generating");
			in_transaction = true;
			dataset_locked = false;
			batch_samples = 0;
			batch_started = GetCurrentTimestamp();
		}

		outcome = next_attempt(job, cfg, prefetch, ws, slot, &sample, &none_left, &stopped);
		if (stopped)
		{
			stop = flagged_stop(slot);
			break;
		}
		if (none_left)
		{
			stop = STOP_COMPLETED;
			break;
		}
		job->attempts++;
		job->next_attempt++;
		if (outcome == HG_KEPT)
		{
			/* wait on the latch, not in the kernel, while the disk is behind */
			if (!job->materialize && !dataset_locked)
			{
				stop = lock_dataset_row(job, slot);
				if (stop != STOP_NONE)
					break;
				dataset_locked = true;
			}
			written = hg_pace_wait(slot_stop_requested, slot);
			if (written && job->materialize)
				written = hg_storage_fill_iq(&storage, job->dataset_id, sample, stop_requested_between_rows, slot);
			else if (written)
				written = hg_storage_write(&storage, job->dataset_id, sample, stop_requested_between_rows, slot);
			if (!written)
			{
				/* cancel or pause arrived mid-sample: the batch is dropped below */
				stop = flagged_stop(slot);
				break;
			}
			job->samples_done++;
			batch_samples++;
		}
		else
			job->rejected[outcome]++;
		publish_progress(slot, job);

		/* the fallback: anything that set the status row (a hand UPDATE) */
		if (++since_status_check >= STATUS_CHECK_EVERY ||
			TimestampDifferenceExceeds(last_status_check, GetCurrentTimestamp(), STATUS_CHECK_AFTER_MS))
		{
			since_status_check = 0;
			last_status_check = GetCurrentTimestamp();
			stop = status_stop_reason(read_status_plan, status_args);
			if (stop != STOP_NONE)
				break;
		}

		if (batch_samples >= hg_batch_size ||
			TimestampDifferenceExceeds(batch_started, GetCurrentTimestamp(), hg_commit_interval_ms))
		{
			/*
			 * The fence: this UPDATE locks the job's row and re-reads its
			 * status.  A cancel or pause that committed before it wins, and
			 * the batch is dropped below instead of committed; one that comes
			 * after waits for this commit.  So no sample of a job commits
			 * after cancel_job() has returned, whatever the timing.
			 */
			stop = lock_job_row(job, slot, true);
			if (stop == STOP_NONE)
				stop = flush_counters(job);
			if (stop_drops_batch(stop))
				break;
			if (TimestampDifferenceExceeds(last_progress_notify, GetCurrentTimestamp(), 250))
			{
				notify_progress(job);
				last_progress_notify = GetCurrentTimestamp();
			}
			hg_commit_transaction();
			in_transaction = false;
			committed = *job;
			if (stop != STOP_NONE)
				break;
			/* a removed WAL segment still held is freed here, not in a cancel's exit (hg_walfd.c) */
			if (TimestampDifferenceExceeds(last_wal_release, GetCurrentTimestamp(), 1000))
			{
				(void) hg_release_removed_wal_segments("PG_VERSION");	/* in the data directory, our cwd */
				last_wal_release = GetCurrentTimestamp();
			}
		}

		if (hg_sample_delay_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 hg_sample_delay_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}

	/* the model threads finish their attempts while the last transaction runs */
	hg_prefetch_request_stop(prefetch);

	if (in_transaction && stop_drops_batch(stop))
	{
		/*
		 * Stop at once: drop the uncommitted batch instead of writing and
		 * syncing it (megabytes of IQ).  Nothing committed is lost, and a
		 * resume regenerates the dropped attempts byte for byte.  (A dataset
		 * that changed hands gets no more rows from this job either.)
		 */
		drop_batch(job, &committed);
		in_transaction = false;
	}
	/*
	 * The final status commits asynchronously too, so a stop never waits for
	 * the WAL of the batch it dropped to reach the disk.  It is durable soon
	 * after (wal_writer_delay); cancel_job(wait => true) flushes it at once
	 * only with heimdall_gen.durable_cancel, pause_job and cancel_job without
	 * wait write the status in their own transaction.  A crash that lost a
	 * 'cancelled' resumes the job, byte for byte; one that lost a
	 * 'completed' finds its samples all done and completes again.
	 */
	if (!in_transaction)
		hg_begin_transaction("heimdall_gen: finishing");
	if (stop != STOP_ROW_HELD && stop != STOP_REQUEUED && lock_job_row(job, slot, false) == STOP_ROW_HELD)
		stop = STOP_ROW_HELD;
	if (stop == STOP_REQUEUED)
		ereport(LOG,
				(errmsg("heimdall_gen job " INT64_FORMAT " leaves its worker slot: it was resumed before its worker "
						"saw it paused", job->job_id),
				 errdetail("A new worker continues it at its last committed batch.")));
	if (stop == STOP_ROW_HELD || stop == STOP_REQUEUED)
	{
		/*
		 * Writing the final status would wait for that lock, on the slot, or
		 * overwrite the resumed job's 'queued': write nothing (the open
		 * transaction, a batch or not, is dropped), leave the job as it is
		 * for the launcher ('running' is resumed as after a crash), and the
		 * slot.
		 */
		drop_batch(job, &committed);
		if (stop == STOP_ROW_HELD && pg_atomic_read_u32(&slot->cancel_requested))
			leave_cancel_to_launcher(job);
		stop_model_threads(prefetch);
		hg_workspace_destroy(ws);
		return stop;
	}
	finished = finish_job(job, stop);
	if (!finished && in_transaction)
	{
		/*
		 * The job completed or gave up with its last batch uncommitted, and
		 * someone cancelled or paused it meanwhile: the fence holds here too.
		 * That batch is dropped, the status row stays as they set it.
		 */
		drop_batch(job, &committed);
		hg_begin_transaction("heimdall_gen: finishing");
	}
	hg_commit_transaction();
	/*
	 * A row that refused this ending may say 'queued' (paused and resumed in
	 * one transaction while this worker ran): then the launcher, woken when
	 * the slot is freed, has that job to start.
	 */
	job_status_final = finished;
	publish_progress(slot, job);
	stop_model_threads(prefetch);
	if (hg_pace_waited_ms() > 0)
		ereport(LOG, (errmsg("heimdall_gen job " INT64_FORMAT " waited %.0f ms for the disk to catch up",
							 job->job_id, hg_pace_waited_ms())));
	hg_workspace_destroy(ws);
	return stop;
}

/*
 * The error of a job that stopped because a disk filled up: the server's
 * message (it names the file), which tablespace and directory that file is
 * in, and how to continue once there is space.  The job ends 'failed', not
 * 'paused': a full disk does not empty itself, and wait_job and monitoring
 * must see that the job stopped.  Its committed samples stay; start_job on
 * the same dataset continues at the next attempt, byte for byte.  Runs in
 * a transaction (it reads pg_tablespace).
 */
static char *
disk_full_error(const JobState *job, const char *message)
{
	const char *p = strstr(message, "pg_tblspc/");
	Oid			spc = DEFAULTTABLESPACE_OID;
	char	   *name;
	char	   *where;
	char	   *dataset;

	if (p != NULL)
		spc = (Oid) strtoul(p + strlen("pg_tblspc/"), NULL, 10);
	else if (strstr(message, "\"global/") != NULL)
		spc = GLOBALTABLESPACE_OID;
	name = get_tablespace_name(spc);
	/*
	 * Not its path: the owner reads this message, and ordinary roles may not
	 * see data_directory (a tablespace's location they may, with
	 * pg_tablespace_location()).
	 */
	if (spc == DEFAULTTABLESPACE_OID || spc == GLOBALTABLESPACE_OID)
		where = pstrdup("the data directory");
	else
		where = psprintf("%s", text_to_cstring(DatumGetTextPP(
			DirectFunctionCall1(pg_tablespace_location, ObjectIdGetDatum(spc)))));
	dataset = quote_literal_cstr(job->dataset_name ? job->dataset_name : "");
	if (job->materialize)
		return psprintf("%s: the disk is full (tablespace \"%s\", %s); the IQ of the %d samples filled is kept. "
						"Free space there, then SELECT heimdall_gen.materialize(%s) fills the rest, "
						"byte for byte",
						message, name ? name : "?", where, job->samples_done, dataset);
	return psprintf("%s: the disk is full (tablespace \"%s\", %s); the %d committed samples are kept. "
					"Free space there, then SELECT heimdall_gen.start_job(name, %d, NULL, params) "
					"FROM heimdall_gen.datasets WHERE name = %s continues the dataset where it stopped, "
					"byte for byte",
					message, name ? name : "?", where, job->samples_done,
					Max(job->num_samples - job->samples_done, 1), dataset);
}

/*
 * After an error: the job ends with this status; its committed counters
 * stand.  For a full disk the message is completed by disk_full_error().
 * Like every other write of the job's row, this one never waits for
 * another session's lock on it beyond ROW_LOCK_WAIT_MS: its owner may
 * hold it (and may pg_cancel_backend() its own worker, which ends here),
 * and the worker would wait on its slot for as long as they liked.  A row
 * still held is left 'running': the launcher resumes the job once the lock
 * is gone, counting a restart, as after a crash.
 */
static void
record_end(JobState *job, const char *status, const char *message, bool disk_full)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		args[3] = {Int64GetDatum(job->job_id), CStringGetTextDatum(status), (Datum) 0};
	SPIPlanPtr	lock_plan;
	SPIPlanPtr	exists_plan;

	SetConfigOption("synchronous_commit", "on", PGC_USERSET, PGC_S_SESSION);
	/*
	 * Outside PG_TRY an ERROR ends the process: a second pg_cancel_backend()
	 * while this waits for the row would leave the end unrecorded, and the
	 * job resumed.  Query cancels wait until it is done (2 s at most for the
	 * row, then one UPDATE); a termination does not.
	 */
	HOLD_CANCEL_INTERRUPTS();
	hg_begin_transaction("heimdall_gen: recording the end of a job");
	/* prepared here: the error may have come before the worker's own plans were */
	lock_plan = SPI_prepare(HG_LOCK_JOB_ROW_SQL, 1, types);
	exists_plan = SPI_prepare(HG_JOB_ROW_EXISTS_SQL, 1, types);
	if (lock_plan == NULL || exists_plan == NULL)
		elog(ERROR, "could not prepare the lock of job " INT64_FORMAT ": %s", job->job_id,
			 SPI_result_code_string(SPI_result));
	if (wait_for_row(lock_plan, exists_plan, job->job_id, NULL, false) == ROW_HELD)
	{
		ereport(LOG,
				(errmsg("heimdall_gen job " INT64_FORMAT " stays running: another transaction has held its row "
						"locked for %d ms, so its end (%s) is not recorded", job->job_id, ROW_LOCK_WAIT_MS, status),
				 errdetail("The job resumes at its last committed batch once that lock is released.")));
		hg_commit_transaction();
		RESUME_CANCEL_INTERRUPTS();
		return;
	}
	/* the counters in memory may include the batch the error rolled back */
	if (SPI_execute_with_args("SELECT samples_done FROM heimdall_gen.jobs WHERE job_id = $1",
							  1, types, args, NULL, true, 0) == SPI_OK_SELECT && SPI_processed == 1)
		job->samples_done = DatumGetInt32(hg_spi_get_notnull(0, 1, "jobs.samples_done"));
	if (disk_full)
		message = disk_full_error(job, message);
	args[2] = CStringGetTextDatum(message);
	if (SPI_execute_with_args("UPDATE heimdall_gen.jobs SET status = $2, finished_at = pg_catalog.now(), "
							  "error = CASE WHEN $2 = 'failed' THEN $3 END, "
							  "message = CASE WHEN $2 <> 'failed' THEN $3 ELSE message END "
							  "WHERE job_id = $1 AND status IN ('running', 'queued')",
							  3, types, args, NULL, false, 0) == SPI_OK_UPDATE && SPI_processed == 1)
		notify_status(job, status);
	hg_commit_transaction();
	RESUME_CANCEL_INTERRUPTS();
}

/*
 * Told to end (the server's fast or smart shutdown, pg_terminate_backend):
 * SIGTERM, which stays PostgreSQL's die() (the worker ends at its next
 * CHECK_FOR_INTERRUPTS, wherever it waits), and is remembered here.
 */
static volatile sig_atomic_t told_to_end = false;

static void
die_told_to_end(SIGNAL_ARGS)
{
	told_to_end = true;
	die(postgres_signal_arg);
}

/*
 * A job whose worker was told to end is queued again by the worker itself,
 * on its way out (a before_shmem_exit callback, which may still run a
 * transaction: PostgreSQL removes temporary tables so), counting a restart:
 * the next worker resumes at the last committed batch, byte for byte.  Left
 * 'running', the launcher queued it as after a crash, counting it against
 * max_restarts at that sample: three fast restarts of the server during one
 * slow sample failed the job (a user's review).  Only the status and the
 * restart count move; the open batch was rolled back.  A crash or kill -9
 * runs no callback at all, and an immediate shutdown none of this.
 *
 * A shutdown waits for this, and nothing could end a wait here: proc_exit
 * holds interrupts and its signal handlers raise none, so neither
 * lock_timeout nor a second SIGTERM would (a code audit: 21 s behind a LOCK
 * of the jobs table, and no end behind a NOTIFY waiting for a synchronous
 * standby).  So it waits for no lock another session holds for long: the
 * table's and NOTIFY's are taken only if free within 100 ms, the row's
 * with SKIP LOCKED, and the commit does not wait for a standby.  A table
 * or row not free leaves the job 'running' for the launcher, as does an
 * error here; NOTIFY's lock not free, the job is queued without its event.
 */
static void
requeue_when_told_to_end(int code, Datum arg)
{
	JobState   *job = (JobState *) DatumGetPointer(arg);
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(job->job_id)};
	Oid			jobs;
	LOCKTAG		jobs_lock;

	if (!told_to_end || job_status_final)
		return;
	AbortOutOfAnyTransaction();
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	hg_begin_transaction("heimdall_gen: queueing the job again, told to end");
	jobs = get_relname_relid("jobs", get_namespace_oid("heimdall_gen", true));
	SET_LOCKTAG_RELATION(jobs_lock, MyDatabaseId, jobs);
	/* 100 ms: ordinary commits are waited out, a LOCK TABLE is not */
	if (!OidIsValid(jobs) || !hg_lock_within_ms(&jobs_lock, RowExclusiveLock, 100))
	{
		ereport(LOG,
				(errmsg("heimdall_gen job " INT64_FORMAT " is left running for the launcher: its worker was told "
						"to end while another transaction held a lock on heimdall_gen.jobs", job->job_id)));
		hg_commit_transaction();
		return;
	}
	if (SPI_execute_with_args("WITH c AS (SELECT job_id FROM heimdall_gen.jobs WHERE job_id = $1 AND status = 'running' "
							  "            FOR NO KEY UPDATE SKIP LOCKED) "
							  "UPDATE heimdall_gen.jobs j SET status = 'queued', restarts = j.restarts + 1 "
							  "  FROM c WHERE j.job_id = c.job_id AND j.status = 'running' "
							  "RETURNING j.samples_done",
							  1, types, args, NULL, false, 0) == SPI_OK_UPDATE_RETURNING && SPI_processed == 1)
	{
		job->samples_done = DatumGetInt32(hg_spi_get_notnull(0, 1, "jobs.samples_done"));
		notify_status(job, "queued");	/* if NOTIFY's lock comes free within 100 ms */
		ereport(LOG, (errmsg("heimdall_gen job " INT64_FORMAT " queued again at sample %d: its worker was told to end",
							 job->job_id, job->samples_done)));
	}
	hg_commit_transaction();
}

/*
 * From here on the worker's statements run as the extension's owner (the
 * role that owns its tables); the session stays the job owner's.  An abort
 * restores the user id a transaction started with, so this holds for the
 * rest of the process.
 */
static void
act_as_extension_owner(void)
{
	Oid			owner;
	Oid			save_userid;
	int			save_sec;

	StartTransactionCommand();
	if (!hg_extension_info(&owner, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"heimdall_gen\" is not installed in this database")));
	hg_require_current_schema();
	CommitTransactionCommand();
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

void
hg_worker_main(Datum main_arg)
{
	HgSlot	   *slot;
	JobState	job;
	hg_config  *cfg;
	Oid			database_oid,
				owner_oid;

	my_slot = DatumGetInt32(main_arg);
	slot = &hg_shared->slots[my_slot];
	pqsignal(SIGTERM, die_told_to_end);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	before_shmem_exit(release_slot, Int32GetDatum(my_slot));
	on_proc_exit(remember_exit_code, (Datum) 0);
	if (atexit(exit_without_library_cleanup) != 0)
		elog(LOG, "could not register an exit handler");
	LWLockAcquire(hg_shared->lock, LW_EXCLUSIVE);
	memset(&job, 0, sizeof(job));
	job.job_id = slot->job_id;
	database_oid = slot->database_oid;
	owner_oid = slot->owner_oid;
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	LWLockRelease(hg_shared->lock);

	job.owner = owner_oid;

	/*
	 * Connected as the job's owner (its per-role settings and limits apply,
	 * pg_stat_activity shows it); the extension's tables are written with
	 * the extension owner's rights, under pinned settings.
	 */
	hg_remember_server_settings();
	BackgroundWorkerInitializeConnectionByOid(database_oid, owner_oid, 0);
	hg_pin_worker_settings();

	/*
	 * Every role reads every session's application_name: with the job's id
	 * in it, they saw which jobs of which roles ran, which worker_slots()
	 * and job_progress show only to the owner and admins (heimdall_gen.
	 * worker_slots() gives them the pid of each job's worker).  Reported
	 * after the settings are pinned, which may put back the server's
	 * application_name.
	 */
	pgstat_report_appname("heimdall_gen worker");
	hg_all_statements_are_own();
	act_as_extension_owner();
	/* registered after the connection's own callbacks, so it runs before they close it */
	before_shmem_exit(requeue_when_told_to_end, PointerGetDatum(&job));
	/* and this one before that (callbacks run last registered first) */
	before_shmem_exit(stop_model_threads_at_exit, (Datum) 0);

#ifdef __GLIBC__

	/*
	 * Every sample allocates and frees about a megabyte (its bytea values and
	 * the executor's copies of the rows).  glibc would give that back to the
	 * kernel after each sample and fault it in again for the next: ~110 page
	 * faults per sample, expensive in a VM.  Keep it instead; the worker's
	 * memory stays flat at its high-water mark.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
#endif
	/* and on huge pages, so that the process that holds it ends fast (a cancel waits for that) */
	hg_heap_on_huge_pages();
	cfg = MemoryContextAlloc(TopMemoryContext, sizeof(hg_config));

	/*
	 * No commit of a job's worker waits for its WAL flush, in the kernel,
	 * where a cancel cannot reach it.  Batches: rows and the job's next
	 * attempt index commit atomically, so a crash can only lose the last
	 * batches, which the resumed job regenerates byte for byte.  The claim:
	 * see wait_until_claim_written.  Only the end of a job after an error
	 * (record_end) waits for its flush.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION);

	PG_TRY();
	{
		if (!claim_job(&job, cfg))
		{
			/* cancelled, paused or failed before it started, or still queued behind a lock */
			job_status_final = !claim_left_job_queued;
			proc_exit(0);
		}
		slot->samples_at_start = job.samples_done;
		slot->run_started_at = GetCurrentTimestamp();
		publish_progress(slot, &job);
		(void) generate(&job, cfg, slot);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		MemoryContext ctx = MemoryContextSwitchTo(TopMemoryContext);

		edata = CopyErrorData();
		MemoryContextSwitchTo(ctx);
		EmitErrorReport();
		FlushErrorState();
		if (running_model != NULL)
			stop_model_threads(running_model);
		AbortCurrentTransaction();
		/*
		 * pg_cancel_backend() on a worker cancels its job, keeping what was
		 * committed; any other error ends the job 'failed' with the message.
		 * (A shutdown or pg_terminate_backend is FATAL and never gets here:
		 * requeue_when_told_to_end queues the job again.)
		 */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			record_end(&job, "cancelled", "cancelled by pg_cancel_backend()", false);
		else
			record_end(&job, "failed", edata->message, edata->sqlerrcode == ERRCODE_DISK_FULL);
		proc_exit(1);
	}
	PG_END_TRY();
	proc_exit(0);
}
