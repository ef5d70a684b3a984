/*
 * hg_sql.h
 *    The one way the glue runs its own SQL.  Launcher, workers and the SQL
 *    functions all run statements with raised privileges (as the extension's
 *    owner, a superuser), so every such statement runs under pinned settings
 *    (search_path = pg_catalog, heimdall_gen, pg_temp: no schema a user can
 *    create objects in), uses qualified names, and has its result and NULLs
 *    checked.  Also: what the library knows of the SQL installed in this
 *    database (owner, version), and the transaction and prepared-plan
 *    helpers the two kinds of background worker share.
 */
#ifndef HG_SQL_H
#define HG_SQL_H

#include "postgres.h"

#include "executor/spi.h"

/* The SQL version this library serves (the control file's default_version). */
#define HG_SQL_VERSION "0.8.0"

/* The search_path every privileged statement runs under. */
#define HG_PINNED_SEARCH_PATH "pg_catalog, heimdall_gen, pg_temp"

/*
 * Locks a queued job's row ($1: job_id) if no one else holds it, without
 * waiting: one row if locked.  The launcher's look and the worker's claim
 * use the same statement, so that the lock one skips is the one the other
 * would have waited for.
 */
#define HG_LOCK_QUEUED_JOB_SQL \
	"SELECT 1 FROM heimdall_gen.jobs j WHERE j.job_id = $1 AND j.status = 'queued' FOR NO KEY UPDATE SKIP LOCKED"

/*
 * Any job's row, the same way ($1: job_id), and whether it exists: told
 * apart, a row not locked is one another session holds.  The worker before
 * each write of its job's row, cancel_job to say who holds it.
 */
#define HG_LOCK_JOB_ROW_SQL "SELECT 1 FROM heimdall_gen.jobs j WHERE j.job_id = $1 FOR NO KEY UPDATE SKIP LOCKED"
#define HG_JOB_ROW_EXISTS_SQL "SELECT 1 FROM heimdall_gen.jobs j WHERE j.job_id = $1"

/*
 * In a background worker, before connecting: remember the server's user
 * settings, which the database's and the role's settings then change.
 */
extern void hg_remember_server_settings(void);

/*
 * In a background worker, after connecting: put back the server's value of
 * every user setting the database or the role changed (remembered above),
 * and override what else could change under the extension's statements
 * (search_path, transaction isolation and read-only defaults, the current
 * role, timeouts, exit_on_error, JIT and parallel query).
 */
extern void hg_pin_worker_settings(void);

/*
 * The installed extension in this database: false if it is not installed.
 * Fills owner and version (palloc'd in the current context) when asked.
 * Reads the catalog directly: no SQL, no search_path involved.
 */
extern bool hg_extension_info(Oid *owner, char **version);

/*
 * The same, without refusing a schema owned by another role: for what must
 * still work then (dropping the extension, refusing others' locks).  Says
 * whether the schema belongs to the extension's owner; run no SQL as that
 * owner when it does not.
 */
extern bool hg_extension_installed(Oid *owner, bool *schema_trusted);

/*
 * ERROR unless the installed SQL is the version this library serves: a
 * library that is newer than its SQL objects must refuse rather than write
 * rows of the wrong shape.  Checked once per transaction.
 */
extern void hg_require_current_schema(void);

/*
 * A function CALLED ON NULL INPUT refuses a NULL argument, naming it
 * (22023), rather than return NULL as a STRICT one would: a command that
 * did nothing must not read like one that worked.
 */
#define hg_require_arg(argno, name) \
	do { \
		if (PG_ARGISNULL(argno)) \
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s must not be null", (name)))); \
	} while (0)

/*
 * SPI_execute_with_args as the extension's owner (the caller must already
 * run under the pinned search_path, e.g. inside a function declared with
 * SET search_path).  Returns the SPI result code.
 */
extern int	hg_spi_as_owner(const char *sql, int nargs, Oid *types, Datum *args,
							const char *nulls, bool read_only);

/*
 * Every statement of this process is the extension's own (the worker and
 * the launcher call it once): heimdall_gen._own_statement() says true.
 */
extern void hg_all_statements_are_own(void);

/* SPI_prepare + SPI_keepplan, or ERROR naming the statement. */
extern SPIPlanPtr hg_prepare_kept(const char *sql, int nargs, Oid *types);

/*
 * Run fn(arg) in an internal subtransaction of the current transaction:
 * true when it succeeded; false when it raised an ERROR, which is rolled
 * back and cleared, its message in *error (palloc'd in the caller's
 * memory context).  For work whose failure must not end the caller: the
 * launcher's housekeeping, DROP EXTENSION's last step.
 */
extern bool hg_try_in_subtransaction(void (*fn) (void *arg), void *arg, char **error);

/* A transaction with SPI connected and a snapshot, reported as activity. */
extern void hg_begin_transaction(const char *activity);
extern void hg_commit_transaction(void);
/* Rolls back what was done since hg_begin_transaction, instead of committing it. */
extern void hg_abort_transaction(void);

/*
 * Column k (1-based) of row i of the last SPI result as a datum, or ERROR
 * naming what was read if it is NULL: rows are untrusted.
 */
extern Datum hg_spi_get_notnull(uint64 row, int k, const char *what);

#endif							/* HG_SQL_H */
