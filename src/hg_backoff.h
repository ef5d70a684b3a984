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
 * worker left (no slot).  A worker started for it that ended while the job
 * stayed queued counts as an early end, and doubles the job's wait.
 */
extern bool hg_backoff_may_start(int64 job_id, TimestampTz now);

/* A worker was started for the job. */
extern void hg_backoff_started(int64 job_id);

/* Forget every job not among the n queued ones: taken, ended or dropped. */
extern void hg_backoff_keep_only(const int64 *queued_job_ids, int n);

#endif							/* HG_BACKOFF_H */
