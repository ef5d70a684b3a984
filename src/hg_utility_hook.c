/*
 * hg_utility_hook.c
 *    A ProcessUtility hook that guards the extension's schema (CREATE
 *    EXTENSION adopts an existing one only if it is empty and the caller's;
 *    no one but its owner takes strong locks on its tables, directly, through
 *    a view, by a statement that locks before it checks, or as a database's
 *    owner by VACUUM FULL, REINDEX DATABASE or an ANALYZE held open) and finishes
 *    DROP EXTENSION heimdall_gen: the heimdall_gen_admin role, which CREATE
 *    EXTENSION made (or adopted empty) and marked with a comment, goes with
 *    it.  A role is cluster-wide and the extension is per database, so
 *    while another database still has the extension (its policies name the
 *    role, which PostgreSQL records as a shared dependency) DROP ROLE fails;
 *    the role is then kept, silently.  And it refuses to drop the
 *    extension while jobs are queued or running.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hg_shmem.h"
#include "hg_sql.h"
#include "hg_utility_hook.h"

#define ADMIN_ROLE_MARKER "heimdall_gen: created by CREATE EXTENSION heimdall_gen"

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* A DROP of this kind of object that names heimdall_gen. */
static bool
drop_names_heimdall_gen(Node *parsetree, ObjectType kind)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != kind)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "heimdall_gen") == 0)
			return true;
	return false;
}

static bool
drops_this_extension(Node *parsetree)
{
	return drop_names_heimdall_gen(parsetree, OBJECT_EXTENSION);
}

/* DROP SCHEMA heimdall_gen CASCADE: it drops the extension too. */
static bool
drops_its_schema(Node *parsetree)
{
	return drop_names_heimdall_gen(parsetree, OBJECT_SCHEMA) && ((DropStmt *) parsetree)->behavior == DROP_CASCADE;
}

/*
 * DROP OWNED BY a list of roles that holds the extension's owner: it drops
 * the extension too (unless the owner is the bootstrap superuser, whose
 * objects it refuses to drop).
 */
static bool
drops_what_owner_owns(Node *parsetree, Oid extension_owner)
{
	ListCell   *lc;

	/* PostgreSQL refuses to drop what the bootstrap superuser owns, with its own message */
	if (!IsA(parsetree, DropOwnedStmt) || extension_owner == BOOTSTRAP_SUPERUSERID)
		return false;
	foreach(lc, ((DropOwnedStmt *) parsetree)->roles)
		if (get_rolespec_oid(lfirst_node(RoleSpec, lc), true) == extension_owner)
			return true;
	return false;
}

/* Workers holding a slot in this database: running a job, or starting to. */
static int
workers_in_this_database(void)
{
	int			n = 0;
	int			i;

	if (hg_shared == NULL)
		return 0;				/* not preloaded: no worker anywhere */
	LWLockAcquire(hg_shared->lock, LW_SHARED);
	for (i = 0; i < hg_shared->n_slots; i++)
		if (hg_shared->slots[i].in_use && hg_shared->slots[i].database_oid == MyDatabaseId)
			n++;
	LWLockRelease(hg_shared->lock);
	return n;
}

/*
 * DROP EXTENSION heimdall_gen (or DROP SCHEMA heimdall_gen CASCADE) while
 * jobs are under way would drop the tables their workers write into: each
 * worker would die at its next statement, and the caller would not be told
 * that anything was running.  Refused while a job of this database is
 * queued or running, or a worker still holds a slot here.  The jobs table
 * is locked first, as the drop would lock it anyway, so that neither
 * start_job nor the launcher can start a job between this check and the
 * drop.  DROP OWNED BY the extension's owner drops it as well.  Only for
 * a role with the owner's privileges (a superuser, the owner, a member):
 * anyone else's drop fails on its privileges, and must not queue that
 * lock.  Paused jobs run nothing; they go with the rest of the data, as
 * completed ones do.
 */
static void
refuse_drop_while_jobs_run(Node *parsetree)
{
	Oid			extension_owner;
	bool		schema_trusted;
	Oid			schema;
	Oid			jobs;
	int			workers;
	int64		active;
	char	   *some;
	bool		isnull;
	Datum		value;
	MemoryContext caller_context = CurrentMemoryContext;

	if (!drops_this_extension(parsetree) && !drops_its_schema(parsetree) && !IsA(parsetree, DropOwnedStmt))
		return;
	if (!hg_extension_installed(&extension_owner, &schema_trusted) ||
		!has_privs_of_role(GetUserId(), extension_owner))
		return;
	if (IsA(parsetree, DropOwnedStmt) && !drops_what_owner_owns(parsetree, extension_owner))
		return;
	if (!schema_trusted)
	{
		/*
		 * Another role owns the schema (the extension refuses to run then,
		 * and its error says to drop it): its tables may be anything now,
		 * so no SQL reads them as the owner.  Only workers still stopping,
		 * read from shared memory, hold the drop back.
		 */
		workers = workers_in_this_database();
		if (workers > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("extension \"heimdall_gen\" cannot be dropped while jobs are queued or running"),
					 errdetail("%d worker(s) still stopping in this database.", workers),
					 errhint("Try again once they are gone.")));
		return;
	}
	schema = get_namespace_oid("heimdall_gen", true);
	jobs = OidIsValid(schema) ? get_relname_relid("jobs", schema) : InvalidOid;
	if (!OidIsValid(jobs))
		return;
	LockRelationOid(jobs, AccessExclusiveLock);
	workers = workers_in_this_database();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/*
	 * Counted under a snapshot taken now that the lock is ours, not the
	 * statement's, taken before it waited: a job queued by a transaction
	 * that committed meanwhile would be dropped unseen (whatever the
	 * isolation level: this is a catalog-like check, not a read of data).
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	/* every name and operator qualified: the caller's search_path is in force */
	if (hg_spi_as_owner("SELECT pg_catalog.count(*), "
						"       pg_catalog.string_agg(j.job_id::pg_catalog.text, ', ' ORDER BY j.job_id) "
						"         FILTER (WHERE j.rank OPERATOR(pg_catalog.<=) 10) "
						"  FROM (SELECT j.job_id, pg_catalog.row_number() OVER (ORDER BY j.job_id) AS rank "
						"          FROM heimdall_gen.jobs j "
						"         WHERE j.status OPERATOR(pg_catalog.=) ANY ('{queued,running}'::pg_catalog.text[])) j",
						0, NULL, NULL, NULL, true) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read heimdall_gen.jobs");
	active = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	/* copied out of SPI's memory, which SPI_finish frees, for the message below */
	some = isnull ? "" : MemoryContextStrdup(caller_context, TextDatumGetCString(value));
	PopActiveSnapshot();
	SPI_finish();
	if (active > 0 || workers > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("extension \"heimdall_gen\" cannot be dropped while jobs are queued or running"),
				 active > 0 ?
				 errdetail("%lld job(s) queued or running in this database (%s%s); dropping the extension "
						   "would drop the tables their workers write into.",
						   (long long) active, some, active > 10 ? ", ..." : "") :
				 errdetail("%d worker(s) still stopping in this database.", workers),
				 errhint("Cancel or pause them first: SELECT heimdall_gen.cancel_job(job_id, wait => true) "
						 "FROM heimdall_gen.jobs WHERE status IN ('queued', 'running');")));
}

/* Drop the marked admin role, if it is there. */
static void
drop_marked_admin_role(void *arg)
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
}

/* Drop the marked admin role; keep it if anything still depends on it. */
static void
drop_admin_role(void)
{
	char	   *error;

	if (!hg_try_in_subtransaction(drop_marked_admin_role, NULL, &error))
		ereport(NOTICE,
				(errmsg("role \"heimdall_gen_admin\" is kept"),
				 errdetail("%s", error)));
}

/*
 * CREATE EXTENSION heimdall_gen adopts a schema named heimdall_gen if one
 * exists, with whatever is in it, and the extension's statements run with
 * raised privileges under a search_path that includes it.  Adopted only
 * when it is as the extension would make it: owned by the role creating
 * the extension, empty, and no one else may create in it (the schema a
 * DROP EXTENSION leaves behind).  Every name in the query is qualified:
 * the caller's search_path is still in force here.
 */
static void
refuse_unsafe_existing_schema(Node *parsetree)
{
	Oid			schema;
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		args[2];
	bool		isnull;
	bool		safe;

	if (!IsA(parsetree, CreateExtensionStmt) ||
		strcmp(((CreateExtensionStmt *) parsetree)->extname, "heimdall_gen") != 0 ||
		OidIsValid(get_extension_oid("heimdall_gen", true)))
		return;
	schema = get_namespace_oid("heimdall_gen", true);
	if (!OidIsValid(schema))
		return;
	args[0] = ObjectIdGetDatum(schema);
	args[1] = ObjectIdGetDatum(GetUserId());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(
			"SELECT n.nspowner OPERATOR(pg_catalog.=) $2"
			"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
			"                    WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass"
			"                      AND d.refobjid OPERATOR(pg_catalog.=) n.oid)"
			"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a"
			"                    WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'"
			"                      AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner)"
			"  FROM pg_catalog.pg_namespace n WHERE n.oid OPERATOR(pg_catalog.=) $1",
			2, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read schema heimdall_gen");
	safe = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
	SPI_finish();
	if (!safe)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_SCHEMA),
				 errmsg("schema \"heimdall_gen\" already exists, and is not empty, or not owned by you alone"),
				 errdetail("CREATE EXTENSION heimdall_gen would adopt it, and the extension's statements, run with "
						   "raised privileges, would call the functions and operators its owner or creators put there."),
				 errhint("Drop or rename that schema, then create the extension.")));
}

/*
 * Whether the lock guards below apply to this caller: the extension is
 * installed here, and the caller is neither a superuser nor its owner
 * (who may do anything to its tables, as CREATE and ALTER EXTENSION do).
 */
static bool
caller_is_guarded(void)
{
	Oid			extension_owner;
	bool		schema_trusted;

	/* (also while another role owns the schema: refusing a lock runs no SQL as the owner) */
	return !superuser() && hg_extension_installed(&extension_owner, &schema_trusted) &&
		GetUserId() != extension_owner;
}

/*
 * LOCK TABLE in a mode stronger than ROW EXCLUSIVE on the extension's
 * tables, by anyone but a superuser or the extension's owner: refused.
 * Users hold table-level privileges on heimdall_gen.receivers (their own
 * rows, under row-level security), which PostgreSQL takes as the right to
 * lock the whole table in any mode: one role could block every other's
 * start_job, the launcher, pg_dump and ALTER EXTENSION for as long as it
 * liked.  LOCK on a view locks the tables it reads too, checked with the
 * view owner's privileges, so any role could do the same through a view of
 * its own: views are followed, as LOCK follows them.
 */
typedef struct LockWalk
{
	Oid			schema;			/* heimdall_gen */
	const char *named;			/* the relation the LOCK statement names */
	List	   *visited_views;	/* each view is read once: no cycles, no blow-up */
} LockWalk;

static bool lock_reaches_our_tables(Node *node, LockWalk *walk);

static void
refuse_if_ours(Oid relid, const LockWalk *walk)
{
	if (get_rel_namespace(relid) == walk->schema)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to lock %s.%s in a mode stronger than ROW EXCLUSIVE",
						get_namespace_name(walk->schema), get_rel_name(relid)),
				 walk->named ?
				 errdetail("LOCK of view %s would lock the tables it reads, this one among them; such a lock "
						   "would block every other role's use of heimdall_gen.", walk->named) :
				 errdetail("Such a lock would block every other role's use of heimdall_gen."),
				 errhint("Lock only your own tables; a view that reads heimdall_gen's tables can be locked "
						 "in ROW EXCLUSIVE mode or weaker.")));
}

static void
refuse_if_ours_or_through_view(Oid relid, LockWalk *walk)
{
	Relation	view;

	refuse_if_ours(relid, walk);
	/*
	 * Held until the transaction ends, so that what is read here stays so
	 * until the LOCK that follows: a view cannot be redefined, nor a table
	 * turned into a view (CREATE OR REPLACE VIEW and CREATE RULE need ACCESS
	 * EXCLUSIVE).  Its kind is read once the lock is held.
	 */
	LockRelationOid(relid, AccessShareLock);
	if (get_rel_relkind(relid) != RELKIND_VIEW || list_member_oid(walk->visited_views, relid))
		return;
	/*
	 * Every view inside is followed, whatever its privileges: LOCK checks
	 * them as the outer view's owner or, for a security_invoker view, as the
	 * caller; refusing a LOCK that would have failed anyway costs nothing.
	 */
	walk->visited_views = lappend_oid(walk->visited_views, relid);
	view = relation_open(relid, NoLock);
	(void) lock_reaches_our_tables((Node *) get_view_query(view), walk);
	relation_close(view, NoLock);
}

/* Every relation a query reads, in its range tables, subqueries, CTEs and sublinks, as LOCK walks them. */
static bool
lock_reaches_our_tables(Node *node, LockWalk *walk)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION)
				refuse_if_ours_or_through_view(rte->relid, walk);
		}
		return query_tree_walker(query, lock_reaches_our_tables, walk, QTW_IGNORE_JOINALIASES);
	}
	return expression_tree_walker(node, lock_reaches_our_tables, walk);
}

/*
 * Called by RangeVarGetRelidExtended before it locks the relation a LOCK
 * names, and again each time the name has come to mean another relation
 * while it waited: what would be locked is checked, not what the name meant
 * when the statement began.  Also refuses, as LOCK itself would, a
 * relation LOCK cannot take or the caller may not lock in this mode, so that
 * nothing is locked here that LOCK would refuse.
 */
static void
check_before_locking(const RangeVar *rv, Oid relid, Oid old_relid, void *arg)
{
	LockWalk   *walk = arg;
	char		relkind;

	if (!OidIsValid(relid))
		return;
	refuse_if_ours(relid, walk);
	relkind = get_rel_relkind(relid);
	if (relkind == '\0')
		return;					/* dropped meanwhile: the lookup will say so */
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE && relkind != RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot lock relation \"%s\"", rv->relname),
				 errdetail_relkind_not_supported(relkind)));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(relkind), rv->relname);
}

/*
 * rv, from the hook's copy of a statement, as PostgreSQL is to resolve it
 * again: qualified with the schema of the relation relid checked here, so
 * that it can mean no relation of another schema.  The caller's temporary
 * tables, which no other session can touch, keep their name.
 */
static void
qualify_as_checked(RangeVar *rv, Oid relid)
{
	Oid			nsp = get_rel_namespace(relid);

	if (isTempNamespace(nsp))
		return;
	rv->catalogname = NULL;
	rv->schemaname = get_namespace_name(nsp);
}

/*
 * A guarded caller's strong LOCK is checked against what it will lock, not
 * against what its names meant when it began.  An attacker's review found
 * two ways past a check made first: the name was made to mean another
 * relation while LOCK waited for the one checked (another session dropped
 * that table, and the unqualified name fell through to heimdall_gen's; or
 * put a view over heimdall_gen's tables in its place), or the table
 * checked was turned into such a view (CREATE RULE "_RETURN") while LOCK
 * waited for it.  So each named relation is locked here, in the LOCK's
 * mode, by RangeVarGetRelidExtended, which checks each relation before it
 * locks it (check_before_locking); once it is held its kind is read and a
 * view's definition walked (every relation inside locked before it is
 * read, so nothing changes before LOCK locks them in turn); and LOCK is
 * handed the names qualified, to find the relations locked here.
 * Returns the statement PostgreSQL is to run: the LOCK itself, or that copy.
 */
static Node *
refuse_strong_locks(Node *parsetree)
{
	LockStmt   *stmt;
	LockStmt   *checked;
	ListCell   *lc;

	if (!IsA(parsetree, LockStmt))
		return parsetree;
	stmt = (LockStmt *) parsetree;
	if (stmt->mode <= RowExclusiveLock || !caller_is_guarded())
		return parsetree;
	checked = copyObject(stmt);
	checked->relations = NIL;
	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		LockWalk	walk = {.schema = get_namespace_oid("heimdall_gen", true)};
		Oid			relid = RangeVarGetRelidExtended(rv, stmt->mode,
													 RVR_MISSING_OK | (stmt->nowait ? RVR_NOWAIT : 0),
													 check_before_locking, &walk);

		if (!OidIsValid(relid))
		{
			checked->relations = lappend(checked->relations, copyObject(rv));
			continue;			/* LOCK itself says it does not exist */
		}
		checked->relations = lappend(checked->relations, copyObject(rv));
		qualify_as_checked(llast(checked->relations), relid);
		if (get_rel_relkind(relid) == RELKIND_VIEW)
			walk.named = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													get_rel_name(relid));
		refuse_if_ours_or_through_view(relid, &walk);
		list_free(walk.visited_views);
	}
	return (Node *) checked;
}

/*
 * After the LOCK: this transaction holds no lock stronger than ROW
 * EXCLUSIVE on the extension's tables, or it fails (and so lets go of it).
 * A last line, should LOCK have found another relation under a name
 * anyway (its schema renamed, and another made under that name, between
 * the check above and LOCK's own look).
 */
static void
refuse_strong_locks_held(Node *parsetree)
{
	Oid			schema;
	Relation	pg_class_rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;

	if (!IsA(parsetree, LockStmt) || ((LockStmt *) parsetree)->mode <= RowExclusiveLock || !caller_is_guarded())
		return;
	schema = get_namespace_oid("heimdall_gen", true);
	if (!OidIsValid(schema))
		return;
	pg_class_rel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_class_relnamespace, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(schema));
	scan = systable_beginscan(pg_class_rel, InvalidOid, false, NULL, 1, &key);	/* a few hundred rows */
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tuple);
		LOCKTAG		tag;
		LOCKMODE	mode;

		SET_LOCKTAG_RELATION(tag, MyDatabaseId, c->oid);
		for (mode = ShareUpdateExclusiveLock; mode <= AccessExclusiveLock; mode++)
			if (LockHeldByMe(&tag, mode))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("permission denied to lock heimdall_gen.%s in a mode stronger than ROW EXCLUSIVE",
								NameStr(c->relname)),
						 errdetail("Such a lock would block every other role's use of heimdall_gen.")));
	}
	systable_endscan(scan);
	table_close(pg_class_rel, AccessShareLock);
}

/*
 * Statements that PostgreSQL lets queue for a lock on a relation they name
 * before it checks whether the caller may act on it: CREATE RULE (ACCESS
 * EXCLUSIVE), CREATE TRIGGER and a FOREIGN KEY's referenced table (SHARE
 * ROW EXCLUSIVE), CREATE TABLE ... PARTITION OF, ALTER TABLE ... ATTACH /
 * DETACH PARTITION and ALTER INDEX ... [NO] DEPENDS ON EXTENSION (ACCESS
 * EXCLUSIVE).  The statement fails with "must be owner" once it has the
 * lock, but while it waits, every later lock request on the relation waits
 * behind it (on an index: every query and write of its table, which lock
 * all its indexes); a role that holds an ordinary lock on the table in
 * another session (a SELECT, an UPDATE of its own job's status in an open
 * transaction) makes that wait, and so every worker's, the launcher's and
 * every start_job's, last as long as it likes.  Only the extension's owner
 * may do any of these to its relations: everyone else is refused before the
 * lock is asked for.
 *
 * The name is checked as PostgreSQL will look it up, not only as it reads
 * now: an attacker's review made an unqualified name mean her own table
 * when it was checked and fall through her search_path to heimdall_gen's
 * once PostgreSQL looked again (she dropped her table while the statement
 * waited for it).  So a name that is not ours is handed on qualified with
 * the schema it was found in (rv belongs to the hook's copy of the
 * statement): from then on it can only mean a relation of that schema,
 * which is not heimdall_gen.
 */
static void
qualify_unless_ours(RangeVar *rv, const char *verb, const char *complement)
{
	Oid			relid;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return;					/* PostgreSQL says it does not exist, or finds one not ours */
	if (get_rel_namespace(relid) == get_namespace_oid("heimdall_gen", true))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s heimdall_gen.%s%s", verb, get_rel_name(relid), complement),
				 errdetail("Only the extension's owner may.  PostgreSQL would wait for a lock on the table "
						   "before checking, and every other role's use of heimdall_gen would wait behind it.")));
	qualify_as_checked(rv, relid);
}

/* FOREIGN KEY constraints among a list of Constraint (or ColumnDef, with theirs) nodes. */
static void
qualify_foreign_keys_unless_ours(List *elements)
{
	ListCell   *lc;

	foreach(lc, elements)
	{
		Node	   *element = lfirst(lc);

		if (IsA(element, ColumnDef))
			qualify_foreign_keys_unless_ours(((ColumnDef *) element)->constraints);
		else if (IsA(element, Constraint) && ((Constraint *) element)->contype == CONSTR_FOREIGN)
			qualify_unless_ours(((Constraint *) element)->pktable, "reference", " in a foreign key");
	}
}

/*
 * The same for a relation named by a list of names (COMMENT ON, ALTER
 * EXTENSION ... ADD), the column's last for a column: *names, in the hook's
 * copy, becomes the qualified name.
 */
static void
qualify_name_list_unless_ours(Node **names, bool ends_with_column, const char *verb)
{
	List	   *list = castNode(List, *names);
	int			rel_names = list_length(list) - (ends_with_column ? 1 : 0);
	RangeVar   *rv;

	if (rel_names < 1 || rel_names > 3)
		return;					/* PostgreSQL says what is wrong with the name */
	rv = makeRangeVarFromNameList(list_truncate(list_copy(list), rel_names));
	qualify_unless_ours(rv, verb, "");
	if (rv->schemaname == NULL)
		return;					/* no such relation: left as it was */
	*names = (Node *) list_make2(makeString(rv->schemaname), makeString(rv->relname));
	if (ends_with_column)
		*names = (Node *) lappend((List *) *names, llast(list));
}

/* Whether objects of this type are relations, or a relation's column, named by a list of names. */
static bool
names_a_relation(ObjectType type, bool *column)
{
	*column = type == OBJECT_COLUMN;
	return type == OBJECT_TABLE || type == OBJECT_INDEX || type == OBJECT_SEQUENCE || type == OBJECT_VIEW ||
		type == OBJECT_MATVIEW || type == OBJECT_FOREIGN_TABLE || type == OBJECT_COLUMN;
}

/* CREATE / ALTER PUBLICATION: the tables they name (a schema's tables need a superuser). */
static void
qualify_published_tables_unless_ours(List *objects)
{
	ListCell   *lc;

	foreach(lc, objects)
	{
		PublicationObjSpec *spec = lfirst_node(PublicationObjSpec, lc);

		if (spec->pubtable != NULL)
			qualify_unless_ours(spec->pubtable->relation, "publish", "");
	}
}

/*
 * Returns the statement PostgreSQL is to run: parsetree itself, or a copy
 * with its names checked and qualified.  Besides the statements above, these
 * take SHARE UPDATE EXCLUSIVE (on a parent: CREATE TABLE ... INHERITS, ALTER
 * TABLE ... INHERIT) before the check: COMMENT ON a relation or a column,
 * CREATE STATISTICS, ALTER EXTENSION ... ADD / DROP (of the caller's own
 * extension), CREATE / ALTER PUBLICATION (for a role that may create one).
 * A second attacker's review found the first four: no ordinary lock makes
 * them wait, but VACUUM and ANALYZE do, and a statement queued behind a
 * VACUUM of heimdall_gen's tables made PostgreSQL cancel the autovacuum (as
 * it cancels one that blocks anyone), over and over in a loop: those tables
 * (jobs is rewritten at every batch commit) would never be vacuumed.
 */
static Node *
refuse_locks_taken_before_checks(Node *parsetree)
{
	Node	   *checked;
	ListCell   *lc;
	bool		column;

	if (!IsA(parsetree, RuleStmt) && !IsA(parsetree, CreateTrigStmt) && !IsA(parsetree, CreateStmt) &&
		!IsA(parsetree, CreateForeignTableStmt) && !IsA(parsetree, AlterTableStmt) &&
		!IsA(parsetree, AlterObjectDependsStmt) && !IsA(parsetree, CommentStmt) &&
		!IsA(parsetree, CreateStatsStmt) && !IsA(parsetree, AlterExtensionContentsStmt) &&
		!IsA(parsetree, CreatePublicationStmt) && !IsA(parsetree, AlterPublicationStmt))
		return parsetree;
	if (!caller_is_guarded())
		return parsetree;
	checked = copyObject(parsetree);
	if (IsA(checked, CommentStmt))
	{
		CommentStmt *stmt = (CommentStmt *) checked;

		if (names_a_relation(stmt->objtype, &column))
			qualify_name_list_unless_ours(&stmt->object, column, "comment on");
	}
	else if (IsA(checked, AlterExtensionContentsStmt))
	{
		AlterExtensionContentsStmt *stmt = (AlterExtensionContentsStmt *) checked;

		if (names_a_relation(stmt->objtype, &column))
			qualify_name_list_unless_ours(&stmt->object, column, "change the extension membership of");
	}
	else if (IsA(checked, CreateStatsStmt))
	{
		foreach(lc, ((CreateStatsStmt *) checked)->relations)
			if (IsA(lfirst(lc), RangeVar))
				qualify_unless_ours(lfirst_node(RangeVar, lc), "create statistics on", "");
	}
	else if (IsA(checked, CreatePublicationStmt))
		qualify_published_tables_unless_ours(((CreatePublicationStmt *) checked)->pubobjects);
	else if (IsA(checked, AlterPublicationStmt))
		qualify_published_tables_unless_ours(((AlterPublicationStmt *) checked)->pubobjects);
	else if (IsA(checked, RuleStmt))
		qualify_unless_ours(((RuleStmt *) checked)->relation, "create a rule on", "");
	else if (IsA(checked, CreateTrigStmt))
		qualify_unless_ours(((CreateTrigStmt *) checked)->relation, "create a trigger on", "");
	else if (IsA(checked, AlterObjectDependsStmt))
		qualify_unless_ours(((AlterObjectDependsStmt *) checked)->relation, "change the dependencies of", "");
	else if (IsA(checked, AlterTableStmt))
	{
		foreach(lc, ((AlterTableStmt *) checked)->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype == AT_AttachPartition || cmd->subtype == AT_DetachPartition ||
				cmd->subtype == AT_DetachPartitionFinalize)
				qualify_unless_ours(castNode(PartitionCmd, cmd->def)->name, "attach or detach the partition", "");
			else if ((cmd->subtype == AT_AddConstraint || cmd->subtype == AT_AddColumn) && cmd->def != NULL)
				qualify_foreign_keys_unless_ours(list_make1(cmd->def));
			else if (cmd->subtype == AT_AddInherit || cmd->subtype == AT_DropInherit)
				qualify_unless_ours(castNode(RangeVar, cmd->def), "inherit from", "");
		}
	}
	else
	{
		/* CREATE TABLE, or CREATE FOREIGN TABLE, whose statement begins with one */
		CreateStmt *stmt = IsA(checked, CreateStmt) ? (CreateStmt *) checked :
			&((CreateForeignTableStmt *) checked)->base;

		foreach(lc, stmt->inhRelations)
			qualify_unless_ours(lfirst_node(RangeVar, lc),
								stmt->partbound != NULL ? "create a partition of" : "inherit from", "");
		qualify_foreign_keys_unless_ours(stmt->tableElts);
		qualify_foreign_keys_unless_ours(stmt->constraints);
	}
	return checked;
}

static void
refuse_rewrite(const char *what, const char *why, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s", what),
			 errdetail("%s  Only the extension's owner or a superuser may.", why),
			 errhint("%s", hint)));
}

#define REWRITE_WHY "It would hold an ACCESS EXCLUSIVE lock on heimdall_gen's tables while it rewrites them: " \
	"every role's jobs, workers and reads would wait, and every later lock request queues behind it while it " \
	"waits for its own."
#define ANALYZE_WHY "Its lock on heimdall_gen's tables would be kept until the transaction ends, and no VACUUM " \
	"of them could run meanwhile."
#define REINDEX_WHY "It stops writes to heimdall_gen's tables and reads through their indexes while it " \
	"rebuilds them; cancelled, its CONCURRENTLY form leaves copies of their indexes behind that every " \
	"insert updates and only the extension's owner may drop."

/*
 * A database's owner, not otherwise privileged, may VACUUM and ANALYZE every
 * table of it, and REINDEX DATABASE.  VACUUM FULL (of named tables, or of
 * all of them) rewrites each table under ACCESS EXCLUSIVE: an attacker's
 * review queued one on heimdall_gen.jobs behind an open transaction of its
 * own, and every role, the launcher and every worker waited behind it.
 * REINDEX DATABASE holds a SHARE lock on each table (no writes) and ACCESS
 * EXCLUSIVE on each index it rebuilds; its CONCURRENTLY form, cancelled,
 * leaves invalid copies of the indexes behind, which every insert still
 * updates and only the extension's owner may drop (a second review left
 * 1 GB of them on receptions).  ANALYZE in a transaction block or a
 * function keeps its SHARE UPDATE EXCLUSIVE lock until the transaction
 * ends, and meanwhile no VACUUM of the table runs (autovacuum skips it):
 * jobs, rewritten at every batch commit, would never be vacuumed.  Such a
 * caller is refused these on heimdall_gen's tables; plain VACUUM and an
 * ANALYZE of its own take locks that let jobs run.  A name that is not
 * ours is handed on qualified with the schema it was found in, as above,
 * so that it cannot come to mean one of ours while VACUUM waits for it.
 * Returns the statement to run.
 */
static Node *
refuse_rewrites_of_our_tables(Node *parsetree, ProcessUtilityContext context)
{
	ListCell   *lc;

	if (IsA(parsetree, VacuumStmt))
	{
		VacuumStmt *stmt = (VacuumStmt *) parsetree;
		VacuumStmt *checked;
		Oid			schema;
		bool		full = false;
		bool		lock_kept;
		const char *verb;
		const char *held = "";	/* after the target: why an ANALYZE is refused */
		const char *why;
		const char *hint;

		foreach(lc, stmt->options)
		{
			DefElem    *option = lfirst_node(DefElem, lc);

			if (strcmp(option->defname, "full") == 0)
				full = defGetBoolean(option);
		}
		/* VACUUM refuses to run in a transaction block itself; ANALYZE does not */
		lock_kept = !stmt->is_vacuumcmd && (IsTransactionBlock() || context != PROCESS_UTILITY_TOPLEVEL);
		if (!(stmt->is_vacuumcmd && full) && !lock_kept)
			return parsetree;
		if (!caller_is_guarded() || !pg_database_ownercheck(MyDatabaseId, GetUserId()))
			return parsetree;
		if (lock_kept)
		{
			verb = "ANALYZE";
			held = " in a transaction block or a function";
			why = ANALYZE_WHY;
			hint = "Run ANALYZE of heimdall_gen's tables as a statement of its own, outside a transaction "
				"block and a function: it then lets go of its lock at once.";
		}
		else
		{
			verb = "VACUUM FULL";
			why = REWRITE_WHY;
			hint = stmt->rels == NIL ? "Name the tables to rewrite, or run a plain VACUUM, which lets jobs run." :
				"Run a plain VACUUM, which lets jobs run.";
		}
		if (stmt->rels == NIL)
			refuse_rewrite(psprintf("%s every table of this database%s", verb, held), why, hint);
		schema = get_namespace_oid("heimdall_gen", true);
		checked = copyObject(stmt);
		foreach(lc, checked->rels)
		{
			VacuumRelation *target = lfirst_node(VacuumRelation, lc);
			Oid			relid;

			if (target->relation == NULL)
				continue;
			relid = RangeVarGetRelid(target->relation, NoLock, true);
			if (!OidIsValid(relid))
				continue;		/* VACUUM says it does not exist */
			if (get_rel_namespace(relid) == schema)
				refuse_rewrite(psprintf("%s heimdall_gen.%s%s", verb, get_rel_name(relid), held), why, hint);
			qualify_as_checked(target->relation, relid);
		}
		return (Node *) checked;
	}
	if (IsA(parsetree, ReindexStmt) && ((ReindexStmt *) parsetree)->kind == REINDEX_OBJECT_DATABASE &&
		caller_is_guarded() && OidIsValid(get_namespace_oid("heimdall_gen", true)))
		refuse_rewrite("REINDEX DATABASE, which would rebuild heimdall_gen's indexes", REINDEX_WHY,
					   "Reindex your own schemas or tables (REINDEX SCHEMA, REINDEX TABLE), which leaves "
					   "heimdall_gen's alone.");
	return parsetree;
}

/*
 * ALTER SCHEMA heimdall_gen RENAME TO ... (an operator's review): the
 * extension's statements, its workers' and its launcher's, name the schema
 * heimdall_gen, so every job stopped, and the free name let any role with
 * CREATE on the database make a schema heimdall_gen whose views the
 * launcher, a superuser, then read.  The extension refuses to run with its
 * schema renamed (hg_sql.c); this refuses the rename.  The one way to move
 * it is DROP EXTENSION and CREATE EXTENSION (the extension is not
 * relocatable, so ALTER EXTENSION ... SET SCHEMA is refused already).
 */
static void
refuse_rename_of_schema(Node *parsetree)
{
	RenameStmt *stmt;
	Oid			schema;

	if (!IsA(parsetree, RenameStmt))
		return;
	stmt = (RenameStmt *) parsetree;
	if (stmt->renameType != OBJECT_SCHEMA || stmt->subname == NULL)
		return;
	if (stmt->newname != NULL && strcmp(stmt->newname, "heimdall_gen") == 0)
		return;					/* the way back for a schema renamed behind this hook (hg_sql.c) */
	schema = hg_extension_schema();
	if (!OidIsValid(schema) || get_namespace_oid(stmt->subname, true) != schema)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("schema \"%s\" of extension heimdall_gen cannot be renamed", stmt->subname),
			 errdetail("The extension's functions, workers and launcher name it; renamed, every job would stop, "
					   "and any role with CREATE on the database could take the name."),
			 errhint("Leave its name. To put the extension elsewhere, dump the datasets, then DROP EXTENSION "
					 "and CREATE EXTENSION.")));
}

static void
hg_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	bool		drop = drops_this_extension(pstmt->utilityStmt) &&
		OidIsValid(get_extension_oid("heimdall_gen", true));

	Node	   *to_run;

	refuse_unsafe_existing_schema(pstmt->utilityStmt);
	refuse_rename_of_schema(pstmt->utilityStmt);
	refuse_drop_while_jobs_run(pstmt->utilityStmt);
	to_run = refuse_strong_locks(pstmt->utilityStmt);
	to_run = refuse_locks_taken_before_checks(to_run);
	to_run = refuse_rewrites_of_our_tables(to_run, context);
	if (to_run != pstmt->utilityStmt)
	{
		/* the statement is not ours to change (it may be cached): run a copy */
		pstmt = copyObject(pstmt);
		pstmt->utilityStmt = to_run;
	}

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	refuse_strong_locks_held(pstmt->utilityStmt);

	if (drop && !OidIsValid(get_extension_oid("heimdall_gen", true)))
		drop_admin_role();
}

void
hg_install_utility_hook(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = hg_process_utility;
}
