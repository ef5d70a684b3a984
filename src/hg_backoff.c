/*
 * hg_backoff.c
 *    The launcher's wait before a queued job's next worker, after workers
 *    that ended before they took the job.
 *
 * Why.  A worker can die at its connection, before it takes its job: the
 * database's connection limit (which its owner may set to 0), a privilege
 * or a setting changed after the job was queued.  The job is then still
 * queued, and the end of that worker wakes the launcher, which started the
 * next one at once: dozens of processes a second, each with its lines in
 * the log, for as long as the cause lasted, on a slot other jobs wait for.
 * Now each such end doubles the job's wait before its next worker, from 1 s
 * to at most 30 s; the job keeps its place, and runs once the cause is gone.
 * A job is tracked from its first worker until it is no longer queued.
 * Whether a worker took its job is read from the job's row: its claim
 * writes it, so a row still the version it was started on was not taken
 * (inferring it from the launcher's rounds counted a job paused and
 * resumed between two rounds, or queued again by a restart, as an early
 * end, with its wait and a misleading line in the log).
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "hg_backoff.h"

#define FIRST_WAIT_MS 1000
#define LONGEST_WAIT_MS 30000
#define TRACKED_JOBS 1024		/* the launcher reads at most 1000 queued jobs a round */

typedef struct TrackedJob
{
	int64		job_id;			/* 0: a free entry */
	bool		worker_started; /* since the job was last seen without a worker */
	TransactionId row_version;	/* the xmin of the job's row when it was started */
	int			early_ends;		/* workers in a row that ended before taking it */
	TimestampTz next_start;		/* no worker before this */
} TrackedJob;

static TrackedJob tracked[TRACKED_JOBS];

static TrackedJob *
find(int64 job_id)
{
	int			k;

	for (k = 0; k < TRACKED_JOBS; k++)
		if (tracked[k].job_id == job_id)
			return &tracked[k];
	return NULL;
}

bool
hg_backoff_may_start(int64 job_id, TransactionId row_version, TimestampTz now,
					 int *early_ends, int *wait_ms_out)
{
	TrackedJob *t = find(job_id);

	*early_ends = 0;
	*wait_ms_out = 0;
	if (t == NULL)
		return true;
	if (t->worker_started && t->row_version != row_version)
	{
		/* its worker claimed it (a write), and it was queued again since */
		memset(t, 0, sizeof(TrackedJob));
		return true;
	}
	if (t->worker_started)
	{
		int			wait_ms = FIRST_WAIT_MS;
		int			k;

		t->worker_started = false;
		t->early_ends++;
		for (k = 1; k < t->early_ends && wait_ms < LONGEST_WAIT_MS; k++)
			wait_ms *= 2;
		wait_ms = Min(wait_ms, LONGEST_WAIT_MS);
		t->next_start = TimestampTzPlusMilliseconds(now, wait_ms);
		ereport(LOG,
				(errmsg("the worker of heimdall_gen job " INT64_FORMAT " ended before it took the job "
						"(%d in a row); its next worker starts in %d ms", job_id, t->early_ends, wait_ms),
				 errhint("The worker's own message above says why (a connection limit, a privilege, a setting).")));
		*early_ends = t->early_ends;
		*wait_ms_out = wait_ms;
	}
	return now >= t->next_start;
}

void
hg_backoff_started(int64 job_id, TransactionId row_version)
{
	TrackedJob *t = find(job_id);

	if (t == NULL)
		t = find(0);
	if (t == NULL)
		return;					/* every entry taken: this job goes without a wait */
	t->job_id = job_id;
	t->worker_started = true;
	t->row_version = row_version;
}

void
hg_backoff_keep_only(const int64 *queued_job_ids, int n)
{
	int			k;

	for (k = 0; k < TRACKED_JOBS; k++)
	{
		bool		queued = false;
		int			i;

		if (tracked[k].job_id == 0)
			continue;
		for (i = 0; i < n && !queued; i++)
			queued = queued_job_ids[i] == tracked[k].job_id;
		if (!queued)
			memset(&tracked[k], 0, sizeof(TrackedJob));
	}
}
