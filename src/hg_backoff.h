/*
 * hg_backoff.h
 *    The launcher's wait before a queued job's next worker, after workers
 *    that ended before they took the job (hg_backoff.c says why).
 */
#ifndef HG_BACKOFF_H
#define HG_BACKOFF_H

#include "datatype/timestamp.h"

/*
 * Whether a worker may be started now for the queued job, which has no
 * worker left (no slot); row_version is the xmin of its row.  A worker
 * started for it that ended while the row stayed the version it started
 * on counts as an early end, and doubles the job's wait: then *early_ends
 * is how many in a row and *wait_ms the wait, else *early_ends is 0.  A
 * row written since was claimed by that worker (and queued again since: a
 * pause and a resume, a restart): the worker took the job, the wait starts
 * over.
 */
extern bool hg_backoff_may_start(int64 job_id, TransactionId row_version, TimestampTz now,
								 int *early_ends, int *wait_ms);

/* A worker was started for the job, whose row was row_version. */
extern void hg_backoff_started(int64 job_id, TransactionId row_version);

/* Forget every job not among the n queued ones: taken, ended or dropped. */
extern void hg_backoff_keep_only(const int64 *queued_job_ids, int n);

#endif							/* HG_BACKOFF_H */
