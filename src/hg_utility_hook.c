/*
 * hg_utility_hook.c
 *    A ProcessUtility hook that finishes DROP EXTENSION heimdall_gen: the
 *    heimdall_gen_admin role, which CREATE EXTENSION made (or adopted empty)
 *    and marked with a comment, goes with it.  A role is cluster-wide and
 *    the extension is per database, so while another database still has the
 *    extension (its policies name the role, which PostgreSQL records as a
 *    shared dependency) DROP ROLE fails; the role is then kept, silently.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "hg_utility_hook.h"

#define ADMIN_ROLE_MARKER "heimdall_gen: created by CREATE EXTENSION heimdall_gen"

static ProcessUtility_hook_type prev_utility_hook = NULL;

static bool
drops_this_extension(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "heimdall_gen") == 0)
			return true;
	return false;
}

/* Drop the marked admin role; keep it if anything still depends on it. */
static void
drop_admin_role(void)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) "
						"'heimdall_gen_admin' AND pg_catalog.shobj_description(r.oid, 'pg_authid') "
						"OPERATOR(pg_catalog.=) '" ADMIN_ROLE_MARKER "'", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_roles");
		if (SPI_processed == 1 && SPI_execute("DROP ROLE heimdall_gen_admin", false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not drop role heimdall_gen_admin");
		SPI_finish();
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(NOTICE,
				(errmsg("role \"heimdall_gen_admin\" is kept"),
				 errdetail("%s", edata->message)));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(context);
	CurrentResourceOwner = owner;
}

static void
hg_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	bool		drop = drops_this_extension(pstmt->utilityStmt) &&
		OidIsValid(get_extension_oid("heimdall_gen", true));

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);

	if (drop && !OidIsValid(get_extension_oid("heimdall_gen", true)))
		drop_admin_role();
}

void
hg_install_utility_hook(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = hg_process_utility;
}
