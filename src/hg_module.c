/*
 * hg_module.c
 *    Entry point of the heimdall_gen shared library: refuses to load except
 *    through shared_preload_libraries, defines the settings, requests the
 *    shared memory, registers one launcher background worker per database
 *    listed in heimdall_gen.database, and installs the utility hook
 *    (hg_utility_hook.c: the schema's guard, the refusal to drop the
 *    extension under running jobs, the admin role dropped with it).
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/bgworker_internals.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "hg_guc.h"
#include "hg_shmem.h"
#include "hg_utility_hook.h"

PG_MODULE_MAGIC;

char	   *hg_database = NULL;
int			hg_max_workers = 2;
int			hg_max_workers_per_role = 0;
int			hg_max_queued_jobs_per_role = 1000;
int			hg_batch_size = 10;
int			hg_commit_interval_ms = 1000;
int			hg_max_restarts = 3;
int			hg_sample_delay_ms = 0;
int			hg_model_threads = 2;
int			hg_model_memory_kb = 256 * 1024;
bool		hg_durable_cancel = false;
double		hg_event_queue_limit = 0.5;
char	   *hg_meminfo_file = NULL;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;

static void
hg_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	hg_shmem_request();
}

/* One model thread per CPU, within the setting's range. */
static int
default_model_threads(void)
{
	long		cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus < 1 ? 1 : cpus > 16 ? 16 : (int) cpus;
}

/*
 * What is wrong with a value of heimdall_gen.database, or NULL; *names gets
 * its databases (C strings) when the syntax is right.  One rule for the
 * check hook and for the server's start.
 */
static char *
database_list_problem(const char *value, List **names)
{
	*names = NIL;
	if (!SplitIdentifierString(pstrdup(value ? value : ""), ',', names))
		return pstrdup("List syntax is invalid: database names separated by commas, "
					   "double-quoted where they need it.");
	if (list_length(*names) > HG_MAX_LAUNCHERS)
		return psprintf("It lists %d databases; at most %d are served.", list_length(*names), HG_MAX_LAUNCHERS);
	return NULL;
}

/* The databases of heimdall_gen.database, as a list of C strings. */
static List *
listed_databases(void)
{
	List	   *names;
	char	   *problem = database_list_problem(hg_database, &names);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for parameter \"heimdall_gen.database\": \"%s\"", hg_database),
				 errdetail("%s", problem)));
	return names;
}

/*
 * Check hook of heimdall_gen.database: ALTER SYSTEM (and SET, refused anyway
 * for a restart-only setting) get an error at once for a list the next start
 * could not serve, rather than a server that then refuses to start.  At
 * the server's start (the value from the configuration files, read while
 * the library is preloaded) it lets everything through, so that _PG_init
 * stops the start with its FATAL: a refused value there would only be
 * logged and replaced by the default.
 */
static bool
check_database_list(char **newval, void **extra, GucSource source)
{
	List	   *names;
	char	   *problem;

	if (process_shared_preload_libraries_in_progress || *newval == NULL)
		return true;
	problem = database_list_problem(*newval, &names);
	if (problem == NULL)
		return true;
	GUC_check_errdetail("%s", problem);
	return false;
}

bool
hg_database_listed(const char *name)
{
	ListCell   *lc;

	foreach(lc, listed_databases())
		if (strcmp((const char *) lfirst(lc), name) == 0)
			return true;
	return false;
}

/*
 * Listed databases whose launcher the postmaster refused to register
 * (max_worker_processes reached: it logs only "too many background
 * workers").  Set in the postmaster by _PG_init, inherited by every backend.
 */
static char unregistered[HG_MAX_LAUNCHERS][NAMEDATALEN];
static int	n_unregistered = 0;

bool
hg_database_has_launcher(const char *name)
{
	int			i;

	if (!hg_database_listed(name))
		return false;
	for (i = 0; i < n_unregistered; i++)
		if (strcmp(unregistered[i], name) == 0)
			return false;
	return true;
}

/* Whether the postmaster holds a registration of this name (RegisterBackgroundWorker says nothing). */
static bool
registered(const char *bgw_name)
{
	slist_iter	iter;

	slist_foreach(iter, &BackgroundWorkerList)
	{
		RegisteredBgWorker *rw = slist_container(RegisteredBgWorker, rw_lnode, iter.cur);

		if (strcmp(rw->rw_worker.bgw_name, bgw_name) == 0)
			return true;
	}
	return false;
}

/* Background workers registered so far, the server's own and other libraries' included. */
static int
registered_count(void)
{
	slist_iter	iter;
	int			n = 0;

	slist_foreach(iter, &BackgroundWorkerList)
		n++;
	return n;
}

static void
register_launcher(int index, const char *database)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "heimdall_gen");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "hg_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "heimdall_gen launcher for %s", database);
	snprintf(worker.bgw_type, BGW_MAXLEN, "heimdall_gen launcher");
	worker.bgw_main_arg = Int32GetDatum(index);
	strlcpy(worker.bgw_extra, database, BGW_EXTRALEN);
	RegisterBackgroundWorker(&worker);
	if (registered(worker.bgw_name))
		return;
	strlcpy(unregistered[n_unregistered++], database, NAMEDATALEN);
	ereport(WARNING,
			(errmsg("database \"%s\" gets no heimdall_gen launcher: max_worker_processes (%d) is too low",
					database, max_worker_processes),
			 errdetail("Jobs started there would never run; start_job refuses them."),
			 errhint("Set max_worker_processes to at least one per database in heimdall_gen.database, plus "
					 "heimdall_gen.max_workers, plus the other background workers of the server, and restart.")));
}

void
_PG_init(void)
{
	List	   *databases;
	ListCell   *lc;
	int			index = 0;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("heimdall_gen must be loaded via shared_preload_libraries"),
				 errhint("Add heimdall_gen to shared_preload_libraries in postgresql.conf, set "
						 "heimdall_gen.database to this database, and restart the server.")));

	DefineCustomStringVariable("heimdall_gen.database",
							   "Databases whose heimdall_gen jobs are run (a comma-separated list).",
							   "Each listed database gets a launcher; in any other database the "
							   "extension serves its data but starts no job.",
							   &hg_database, "postgres",
							   PGC_POSTMASTER, 0, check_database_list, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.max_workers",
							"Maximum number of jobs generating at once.",
							"Each running job uses one background worker; set max_worker_processes high enough.",
							&hg_max_workers, 2, 1, 64,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.max_workers_per_role",
							"Maximum number of jobs of one role generating at once (0: no limit).",
							"Slots go to the roles with the fewest running jobs first; this also caps each role, "
							"so that one role's long jobs cannot hold every slot.",
							&hg_max_workers_per_role, 0, 0, 64,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.max_queued_jobs_per_role",
							"Maximum number of queued jobs of one role (0: no limit).",
							"start_job, materialize and resume_job refuse a job beyond it.  The launcher orders "
							"every queued job at each round: an unbounded queue slows the rounds for every role.",
							&hg_max_queued_jobs_per_role, 1000, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.batch_size",
							"Kept samples a worker writes per transaction.",
							NULL, &hg_batch_size, 10, 1, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.commit_interval_ms",
							"Longest time a worker keeps samples uncommitted.",
							NULL, &hg_commit_interval_ms, 1000, 10, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.max_restarts",
							"Crashes of a job's worker at the same sample after which the job ends 'failed'.",
							"A crash, kill -9 of the worker or an immediate shutdown counts; a fast or smart shutdown or "
							"pg_terminate_backend does not. The count starts again once a sample commits.",
							&hg_max_restarts, 3, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.sample_delay_ms",
							"Pause after every attempt (for demonstrations and tests).",
							"Cancel and pause still take effect at once: the pause waits on the worker's latch.",
							&hg_sample_delay_ms, 0, 0, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.model_threads",
							"Model threads per worker computing attempts ahead in parallel.",
							"The dataset's bytes and numbering do not depend on it.  The default is the number of CPUs.",
							&hg_model_threads, default_model_threads(), 1, 16,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("heimdall_gen.model_memory",
							"Memory a worker's model threads may hold for the attempts they compute ahead.",
							"A job whose attempts are large runs fewer model threads and computes fewer attempts "
							"ahead, never less than one thread and two attempts.  The dataset's bytes do not "
							"depend on it.",
							&hg_model_memory_kb, 256 * 1024, 1024, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomBoolVariable("heimdall_gen.durable_cancel",
							 "Whether cancel_job(wait => true) waits for its cancel to reach the disk.",
							 "Off: the cancel is committed and the worker gone when the call returns, and the "
							 "WAL writer makes it durable within wal_writer_delay; a crash before that resumes "
							 "the job, byte for byte.  On: the call flushes the WAL while the worker's process "
							 "exits, which on a saturated disk can take a hundred milliseconds.",
							 &hg_durable_cancel, false,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("heimdall_gen.event_queue_limit",
							 "Fraction of the server's NOTIFY queue above which jobs send no events.",
							 "A transaction whose NOTIFY finds the queue full fails at its commit, and any role "
							 "can fill it; events are dropped (with a WARNING) well before that, so that "
							 "batches, the launcher and the job functions go on.",
							 &hg_event_queue_limit, 0.5, 0.0, 1.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("heimdall_gen.meminfo_file",
							   "Developer option: the file a worker reads the machine's dirty page figures from.",
							   "/proc/meminfo.  The tests point it at a file of their own to plant a disk that "
							   "never catches up; a file that cannot be read turns the pacing off.",
							   &hg_meminfo_file, "/proc/meminfo",
							   PGC_SIGHUP, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL, NULL, NULL, NULL);
	MarkGUCPrefixReserved("heimdall_gen");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = hg_shmem_request_hook;
	hg_shmem_startup();

	hg_install_utility_hook();

	/*
	 * pg_upgrade starts both servers in binary-upgrade mode, the old one to
	 * dump it, the new one to restore into: no job may run in either.  A job
	 * the old server resumed committed batches after pg_upgrade had read its
	 * next transaction id, so the new cluster reused those ids, and a batch
	 * rolled back on the old server came back committed (the job then failed
	 * on a duplicate key, its dataset stuck); and the new server's launcher,
	 * connected to its database, made pg_upgrade's DROP DATABASE of it fail
	 * (an operator's review).
	 */
	if (IsBinaryUpgrade)
		return;
	databases = listed_databases();
	foreach(lc, databases)
	{
		const char *name = (const char *) lfirst(lc);
		ListCell   *earlier;
		bool		seen = false;

		/* one launcher per database, however often it is listed: a slot's launcher is found by database */
		foreach(earlier, databases)
		{
			if (earlier == lc)
				break;
			seen |= strcmp((const char *) lfirst(earlier), name) == 0;
		}
		if (!seen)
			register_launcher(index++, name);
	}
	if (registered_count() + hg_max_workers > max_worker_processes)
		ereport(WARNING,
				(errmsg("%d background workers registered at start (%d of them heimdall_gen's launchers) and "
						"heimdall_gen.max_workers (%d) need more than max_worker_processes (%d)",
						registered_count(), index - n_unregistered, hg_max_workers, max_worker_processes),
				 errdetail("Fewer jobs run at once than heimdall_gen.max_workers says; those left wait in the queue."),
				 errhint("Raise max_worker_processes and restart.")));
}
