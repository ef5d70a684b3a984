/*
 * hg_sql.c
 *    Running the extension's own SQL safely (see hg_sql.h), and the small
 *    SQL-callable functions that expose what the library knows:
 *    current_role_id(), model_version(), model_versions(),
 *    _model_version_refusal(), _check_library(),
 *    _own_statement().
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "hg_model.h"
#include "hg_sql.h"

PG_FUNCTION_INFO_V1(hg_current_role_id);
PG_FUNCTION_INFO_V1(hg_sql_model_version);
PG_FUNCTION_INFO_V1(hg_sql_model_versions);
PG_FUNCTION_INFO_V1(hg_model_version_refusal_sql);
PG_FUNCTION_INFO_V1(hg_check_library);
PG_FUNCTION_INFO_V1(hg_own_statement_sql);

/*
 * Whether the statement now running is the extension's own: one that
 * hg_spi_as_owner runs, or any statement of a process that runs nothing
 * else (the worker, the launcher).  The trigger that sends the status
 * event of a hand UPDATE asks, so that the extension's own updates, which
 * send their events themselves, are not announced twice, while a hand
 * UPDATE by the role that owns the extension is announced like anyone's.
 */
static int	own_statement_depth = 0;
static bool own_process = false;

void
hg_all_statements_are_own(void)
{
	own_process = true;
}

/*
 * The server's settings that a session may change (PGC_USERSET, which a
 * database's owner may ALTER DATABASE ... SET and a role ALTER ROLE ... SET
 * for itself; PGC_SUSET, which they may once granted SET ON PARAMETER) as
 * this process had them before it connected: the configuration file's, the
 * command line's, the defaults.  NULL until remembered.
 */
typedef struct ServerSetting
{
	char	   *name;
	char	   *value;
} ServerSetting;

static ServerSetting *server_settings = NULL;
static int	n_server_settings = 0;

void
hg_remember_server_settings(void)
{
	struct config_generic **variables;
	int			n;
	MemoryContext caller;
	int			i;

	/*
	 * plpgsql, which the jobs table's triggers load during a job, first:
	 * loaded after the connection, its settings (plpgsql.extra_errors, ...)
	 * would be placeholders there, left out below, and would take what the
	 * role or the database set for them when it loaded.  Loaded now, they
	 * are the server's settings like any other.  (The only library the
	 * extension's statements load: the rest is C, in this module.)
	 */
	load_file("$libdir/plpgsql", false);
	variables = get_guc_variables();
	n = GetNumConfigOptions();
	caller = MemoryContextSwitchTo(TopMemoryContext);

	server_settings = palloc(sizeof(ServerSetting) * n);
	n_server_settings = 0;
	for (i = 0; i < n; i++)
	{
		struct config_generic *v = variables[i];
		const char *value;

		if ((v->context != PGC_USERSET && v->context != PGC_SUSET) || (v->flags & GUC_CUSTOM_PLACEHOLDER))
			continue;
		value = GetConfigOption(v->name, false, false);
		server_settings[n_server_settings].name = pstrdup(v->name);
		server_settings[n_server_settings].value = pstrdup(value ? value : "");
		n_server_settings++;
	}
	MemoryContextSwitchTo(caller);
}

static const char *
server_value_of(const char *name)
{
	int			i;

	for (i = 0; i < n_server_settings; i++)
		if (strcmp(server_settings[i].name, name) == 0)
			return server_settings[i].value;
	return NULL;
}

/*
 * Put back the server's value of every setting that the database's or the
 * role's settings changed at connection.  Pinning them one by one always
 * left some out: with enable_indexscan, enable_bitmapscan and
 * enable_indexonlyscan off for the database (its owner may), every
 * statement of a materialize() job scanned all of receptions, and a job of
 * 300 samples went from 3 s to over ten minutes (an attacker's review).
 * Superuser settings too: PostgreSQL 15 lets a superuser GRANT SET ON
 * PARAMETER to a role, which may then ALTER ROLE ... SET it for itself
 * (session_replication_role = replica would switch the jobs table's
 * triggers and foreign keys off in its workers; log_min_messages = debug5
 * filled the log: a second review).  Who set a database's or role's value
 * is not recorded, so a superuser's own per-role log_statement does not
 * reach the workers either: they run only the extension's statements, as
 * the server is configured, whoever owns the database or the job.
 * client_encoding is left alone: no client reads a worker's output, and it
 * needs a transaction.  Values are those of the process's start: a reload
 * of postgresql.conf reaches a setting put back here at the next worker
 * (or launcher) start.
 */
static void
forget_database_and_role_settings(void)
{
	struct config_generic **variables = get_guc_variables();
	int			n = GetNumConfigOptions();
	int			i;

	if (server_settings == NULL)
		return;
	for (i = 0; i < n; i++)
	{
		struct config_generic *v = variables[i];
		const char *value;

		if (v->source != PGC_S_DATABASE && v->source != PGC_S_USER && v->source != PGC_S_DATABASE_USER)
			continue;
		if (strcmp(v->name, "client_encoding") == 0 || (value = server_value_of(v->name)) == NULL)
			continue;
		if (set_config_option(v->name, value, PGC_SUSET, PGC_S_OVERRIDE, GUC_ACTION_SET, true, WARNING, false) <= 0)
			ereport(WARNING,
					(errmsg("heimdall_gen could not put back the server's value of \"%s\" for its background process",
							v->name)));
	}
}

void
hg_pin_worker_settings(void)
{
	forget_database_and_role_settings();
	SetConfigOption("search_path", HG_PINNED_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * A database's owner may ALTER DATABASE ... SET any user setting, and it
	 * applies to the launcher (connected as the bootstrap superuser) as to
	 * every worker.  "role" made the launcher run as that owner, who then
	 * saw only its own jobs through row-level security: no other role's job
	 * was ever started.  Timeouts would fail its rounds, and exit_on_error
	 * turned a pg_cancel_backend() of a worker into a crash that resumed the
	 * job instead of cancelling it.
	 */
	SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("exit_on_error", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * With jit on and its cost thresholds at 0 (an attacker's review, as the
	 * database's owner), every statement of the launcher and the workers was
	 * compiled at each run: a job of 200 samples went from 0.06 s to 3 s and
	 * a cancel from 20 to 150 ms.  Their statements are small and planned
	 * once; parallel workers would only take background-worker slots that
	 * jobs need.
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("max_parallel_workers_per_gather", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("force_parallel_mode", "off", PGC_SUSET, PGC_S_OVERRIDE);
}

/* The owner of a schema. */
static Oid
owner_of_schema(Oid schema)
{
	HeapTuple	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(schema));
	Oid			schema_owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for schema %u", schema);
	schema_owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);
	return schema_owner;
}

/*
 * The extension's schema has the name every statement of the extension
 * gives it (ALTER SCHEMA ... RENAME is refused by hg_utility_hook.c, but a
 * rename made while the library was not loaded is possible).  Renamed, it
 * frees that name for a schema of anyone's.
 */
static bool
schema_named_ours(Oid schema)
{
	char	   *name = get_namespace_name(schema);

	return name != NULL && strcmp(name, "heimdall_gen") == 0;
}

/*
 * The extension's schema must belong to the extension's owner.  Its
 * statements run with raised privileges under a search_path that includes
 * that schema: whoever owns it (a role that created a schema of that name
 * before CREATE EXTENSION, which then adopts it) could put operators and
 * functions there that those statements would call.  Nothing runs then.
 */
static void
require_schema_owned_by(Oid schema, Oid extension_owner)
{
	Oid			schema_owner = owner_of_schema(schema);
	char	   *schema_owner_name;
	char	   *extension_owner_name;

	if (!schema_named_ours(schema))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the schema of extension heimdall_gen is named \"%s\", not heimdall_gen",
						get_namespace_name(schema)),
				 errdetail("Its statements name the schema heimdall_gen, and a role with CREATE on the database "
						   "could make a schema of that name for them to read with raised privileges; "
						   "heimdall_gen refuses to run."),
				 errhint("Give it its name back: ALTER SCHEMA %s RENAME TO heimdall_gen;",
						 quote_identifier(get_namespace_name(schema)))));
	if (schema_owner == extension_owner)
		return;
	schema_owner_name = GetUserNameFromId(schema_owner, true);
	extension_owner_name = GetUserNameFromId(extension_owner, true);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("the schema of extension heimdall_gen is owned by role \"%s\", not by the extension's owner \"%s\"",
					schema_owner_name ? schema_owner_name : "?", extension_owner_name ? extension_owner_name : "?"),
			 errdetail("The schema's owner could put functions and operators in it that the extension's "
					   "statements, run with raised privileges, would call; heimdall_gen refuses to run."),
			 errhint("Drop the extension and the schema, then run CREATE EXTENSION heimdall_gen, "
					 "which creates its schema itself.")));
}

/* pg_extension's row of heimdall_gen, read directly: false if it is not installed. */
static bool
read_extension_row(Oid *owner, char **version, Oid *schema)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("heimdall_gen"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_extension ext = (Form_pg_extension) GETSTRUCT(tuple);

		found = true;
		*owner = ext->extowner;
		*schema = ext->extnamespace;
		if (version)
		{
			bool		isnull;
			Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

			*version = isnull ? pstrdup("") : TextDatumGetCString(d);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

bool
hg_extension_info(Oid *owner, char **version)
{
	Oid			extension_owner;
	Oid			schema;

	if (!read_extension_row(&extension_owner, version, &schema))
		return false;
	require_schema_owned_by(schema, extension_owner);
	if (owner)
		*owner = extension_owner;
	return true;
}

Oid
hg_extension_schema(void)
{
	Oid			owner;
	Oid			schema;

	return read_extension_row(&owner, NULL, &schema) ? schema : InvalidOid;
}

bool
hg_extension_installed(Oid *owner, bool *schema_trusted)
{
	Oid			schema;

	if (!read_extension_row(owner, NULL, &schema))
		return false;
	*schema_trusted = owner_of_schema(schema) == *owner && schema_named_ours(schema);
	return true;
}

void
hg_require_current_schema(void)
{
	static LocalTransactionId checked_in = InvalidLocalTransactionId;
	char	   *version = NULL;

	if (checked_in == MyProc->lxid)
		return;
	if (!hg_extension_info(NULL, &version))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"heimdall_gen\" is not installed in this database")));
	if (strcmp(version, HG_SQL_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the heimdall_gen library serves SQL version %s, but version %s is installed",
						HG_SQL_VERSION, version),
				 errdetail("The library was upgraded; its functions refuse to run against the older tables."),
				 errhint("Run ALTER EXTENSION heimdall_gen UPDATE in this database.")));
	checked_in = MyProc->lxid;
}

bool
hg_try_in_subtransaction(void (*fn) (void *arg), void *arg, char **error)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		*error = edata->message;
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
	return ok;
}

int
hg_spi_as_owner(const char *sql, int nargs, Oid *types, Datum *args,
				const char *nulls, bool read_only)
{
	/* an extension's owner does not change: read once per transaction, not per statement */
	static LocalTransactionId owner_read_in = InvalidLocalTransactionId;
	static Oid	owner = InvalidOid;
	Oid			save_userid;
	int			save_sec;
	int			rc;

	if (owner_read_in != MyProc->lxid)
	{
		if (!hg_extension_info(&owner, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"heimdall_gen\" is not installed in this database")));
		owner_read_in = MyProc->lxid;
	}
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	own_statement_depth++;
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, types, args, nulls, read_only, 0);
	}
	PG_FINALLY();
	{
		own_statement_depth--;
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return rc;
}

/*
 * Planned once, here, and never again while the tables stay as they are: a
 * generic plan (these are key lookups, whose plan does not depend on the
 * values), built now rather than at its first execution.  With the default
 * plan_cache_mode every execution up to the fifth would plan the statement
 * anew, and a statement that runs once, as a job's last UPDATE does, would
 * plan it exactly when a cancel is waiting for it.
 */
SPIPlanPtr
hg_prepare_kept(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	CachedPlan *generic;

	if (plan == NULL || SPI_keepplan(plan) != 0)
		elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	generic = SPI_plan_get_cached_plan(plan);
	if (generic != NULL)
		ReleaseCachedPlan(generic, CurrentResourceOwner);
	return plan;
}

#define SHOWN_BYTES 40
#define DATASET_NAME_MAX_CHARS 200	/* the datasets table's CHECK */

const char *
hg_shown(const char *s)
{
	int			len = (int) strlen(s);
	int			cut;

	if (len <= SHOWN_BYTES)
		return s;
	cut = pg_mbcliplen(s, len, SHOWN_BYTES);
	return psprintf("%.*s...", cut, s);
}

void
hg_require_possible_dataset_name(text *name)
{
	const char *chars = VARDATA_ANY(name);
	int			len = VARSIZE_ANY_EXHDR(name);
	int			n = pg_mbstrlen_with_len(chars, len);

	if (n <= DATASET_NAME_MAX_CHARS)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("dataset \"%s\" does not exist", hg_shown(pnstrdup(chars, Min(len, 4 * SHOWN_BYTES)))),
			 errdetail("A dataset's name is 1 to %d characters; this one has %d.", DATASET_NAME_MAX_CHARS, n)));
}

void
hg_refuse_others_dataset(const char *function, text *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(name)};
	bool		own_isnull;
	bool		own;
	char	   *others;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* as the caller: row-level security decides which rows it sees (an aggregate: one row, always) */
	if (SPI_execute_with_args("SELECT pg_catalog.bool_or(d.owner::pg_catalog.oid OPERATOR(pg_catalog.=) "
							  "                         heimdall_gen.current_role_id()::pg_catalog.oid), "
							  "       pg_catalog.string_agg(CASE WHEN d.owner::pg_catalog.oid OPERATOR(pg_catalog.=) 0 "
							  "                                  THEN 'no role (its role was dropped)' "
							  "                                  ELSE pg_catalog.format('role %s', d.owner) END, "
							  "                             ', ' ORDER BY d.owner::pg_catalog.oid) "
							  "  FROM heimdall_gen.datasets d WHERE d.name OPERATOR(pg_catalog.=) $1",
							  1, types, args, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the owners of dataset \"%s\"", hg_shown(text_to_cstring(name)));
	own = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &own_isnull));
	/* NULL: no row seen at all, the caller's function says "does not exist" */
	if (!own_isnull && !own)
	{
		others = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("dataset \"%s\" is not yours: it belongs to %s", hg_shown(text_to_cstring(name)),
						others ? others : "another role"),
				 errdetail("%s() acts on the calling role's own datasets; row-level security lets you read "
						   "other roles' datasets, not change them.", function),
				 errhint("Call it as the dataset's owner (SET ROLE).")));
	}
	SPI_finish();
}

bool
hg_lock_within_ms(const LOCKTAG *tag, LOCKMODE mode, int ms)
{
	int			tries = ms * 10;

	for (;;)
	{
		if (LockAcquire(tag, mode, false, true) != LOCKACQUIRE_NOT_AVAIL)
			return true;
		if (tries-- <= 0)
			return false;
		pg_usleep(100L);
	}
}

void
hg_begin_transaction(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
hg_commit_transaction(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
hg_abort_transaction(void)
{
	SPI_finish();
	PopActiveSnapshot();
	AbortCurrentTransaction();
}

Datum
hg_spi_get_notnull(uint64 row, int k, const char *what)
{
	bool		isnull;
	Datum		d;

	if (SPI_tuptable == NULL || row >= SPI_processed || k > SPI_tuptable->tupdesc->natts)
		elog(ERROR, "no %s in the result", what);
	d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, k, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s is null", what)));
	return d;
}

/* SQL: heimdall_gen.current_role_id() -> regrole, the role the statement runs as */
Datum
hg_current_role_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(GetUserId());
}

/* SQL: heimdall_gen._own_statement() -> boolean (see own_statement_depth) */
Datum
hg_own_statement_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(own_process || own_statement_depth > 0);
}

/* SQL: heimdall_gen.model_version() -> integer */
Datum
hg_sql_model_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(HG_MODEL_VERSION);
}

char *
hg_model_version_refusal(int32 version)
{
	return psprintf("was generated by model version %d, this server runs model version %d "
					"(and generates versions %d to %d)",
					version, HG_MODEL_VERSION, HG_MODEL_VERSION_OLDEST, HG_MODEL_VERSION);
}

/* SQL: heimdall_gen._model_version_refusal(version) -> text, NULL for a version generated */
Datum
hg_model_version_refusal_sql(PG_FUNCTION_ARGS)
{
	int32		version = PG_GETARG_INT32(0);

	if (hg_model_generates(version))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(hg_model_version_refusal(version)));
}

/* SQL: heimdall_gen.model_versions() -> integer[], the versions generated, oldest first */
Datum
hg_sql_model_versions(PG_FUNCTION_ARGS)
{
	Datum		versions[HG_MODEL_VERSION - HG_MODEL_VERSION_OLDEST + 1];
	int			v;

	for (v = HG_MODEL_VERSION_OLDEST; v <= HG_MODEL_VERSION; v++)
		versions[v - HG_MODEL_VERSION_OLDEST] = Int32GetDatum(v);
	PG_RETURN_ARRAYTYPE_P(construct_array(versions, lengthof(versions), INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

/* SQL: heimdall_gen._check_library() */
Datum
hg_check_library(PG_FUNCTION_ARGS)
{
	hg_require_current_schema();
	PG_RETURN_VOID();
}
