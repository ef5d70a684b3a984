/*
 * hg_guc.h
 *    The server settings of heimdall_gen (defined in hg_module.c).
 */
#ifndef HG_GUC_H
#define HG_GUC_H

extern char *hg_database;		/* a comma-separated list of databases */
extern int	hg_max_workers;
extern int	hg_max_workers_per_role;	/* 0: no limit */
extern int	hg_max_queued_jobs_per_role;	/* 0: no limit */
extern int	hg_batch_size;
extern int	hg_commit_interval_ms;
extern int	hg_max_restarts;
extern int	hg_sample_delay_ms;
extern int	hg_model_threads;
extern int	hg_model_memory_kb;	/* a worker's model workspaces, at most (kB) */
extern bool hg_durable_cancel;	/* cancel_job(wait => true) flushes the WAL before returning */
extern double hg_event_queue_limit;	/* fraction of the NOTIFY queue above which no event is sent */
extern char *hg_meminfo_file;	/* developer option: where the dirty page figures are read (hg_pace.c) */

/* Whether a database of this name is in heimdall_gen.database. */
extern bool hg_database_listed(const char *name);

/* Listed, and its launcher registered (max_worker_processes may leave one out). */
extern bool hg_database_has_launcher(const char *name);

#endif							/* HG_GUC_H */
