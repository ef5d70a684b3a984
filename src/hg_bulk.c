/*
 * hg_bulk.c
 *    Direct inserts through the table AM, the way copyfrom.c writes rows
 *    (see hg_bulk.h).
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/pg_list.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "hg_bulk.h"

/* Why a direct insert would skip something this table does on INSERT; NULL if nothing. */
static const char *
what_would_be_skipped(Relation rel, const HgBulkTable *t)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		return "it is not a plain table";
	if (rel->rd_rules != NULL)
		return "it has rules";
	if (rel->rd_rel->relforcerowsecurity)
		return "it forces row-level security";
	if (rel->trigdesc != NULL)
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			const Trigger *tg = &rel->trigdesc->triggers[i];

			if (TRIGGER_FOR_INSERT(tg->tgtype) && tg->tgenabled != TRIGGER_DISABLED &&
				RI_FKey_trigger_type(tg->tgfoid) != RI_TRIGGER_FK)
				return "it has an INSERT trigger other than a foreign key check";
		}
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			k;
		bool		known = false;

		if (att->attisdropped)
			continue;
		for (k = 0; k < t->ncols; k++)
			known |= t->attnum[k] == att->attnum;
		if (!known)
			return "it has a column the worker does not fill";
	}
	return NULL;
}

bool
hg_bulk_prepare(HgBulkTable *t, const char *schema, const char *table,
				int ncols, const char *const *names, const Oid *types, const char **why)
{
	Relation	rel;
	int			k;

	Assert(ncols <= HG_BULK_MAX_COLS);
	memset(t, 0, sizeof(*t));
	t->relid = get_relname_relid(table, get_namespace_oid(schema, false));
	if (!OidIsValid(t->relid))
		elog(ERROR, "table %s.%s does not exist", schema, table);
	t->ncols = ncols;
	rel = table_open(t->relid, AccessShareLock);
	for (k = 0; k < ncols; k++)
	{
		t->attnum[k] = get_attnum(t->relid, names[k]);
		if (t->attnum[k] <= 0 ||
			TupleDescAttr(RelationGetDescr(rel), t->attnum[k] - 1)->atttypid != types[k])
			elog(ERROR, "column %s of %s.%s is missing or of another type", names[k], schema, table);
	}
	*why = what_would_be_skipped(rel, t);
	table_close(rel, NoLock);
	return *why == NULL;
}

void
hg_bulk_open(HgBulkTable *t)
{
	MemoryContext old;

	t->rel = table_open(t->relid, RowExclusiveLock);
	t->estate = CreateExecutorState();
	old = MemoryContextSwitchTo(t->estate->es_query_cxt);
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, 0, NULL, 0);
	ExecOpenIndices(t->rri, false);
	t->slot = ExecInitExtraTupleSlot(t->estate, RelationGetDescr(t->rel), table_slot_callbacks(t->rel));
	MemoryContextSwitchTo(old);
	t->cid = GetCurrentCommandId(true);
}

void
hg_bulk_insert(HgBulkTable *t, const Datum *values, const bool *isnull)
{
	TupleTableSlot *slot = t->slot;
	int			k;

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, slot->tts_tupleDescriptor->natts * sizeof(bool));	/* dropped columns */
	for (k = 0; k < t->ncols; k++)
	{
		slot->tts_values[t->attnum[k] - 1] = values[k];
		slot->tts_isnull[t->attnum[k] - 1] = isnull[k];
	}
	ExecStoreVirtualTuple(slot);
	if (t->rel->rd_att->constr)
		ExecConstraints(t->rri, slot, t->estate);
	/* forms the tuple, TOASTs what is too long (per the columns' STORAGE), WAL-logs it */
	table_tuple_insert(t->rel, slot, t->cid, 0, NULL);
	if (t->rri->ri_NumIndices > 0)
		list_free(ExecInsertIndexTuples(t->rri, slot, t->estate, false, false, NULL, NIL));
	ExecClearTuple(slot);
	ResetPerTupleExprContext(t->estate);
}

void
hg_bulk_close(HgBulkTable *t)
{
	if (t->rel == NULL)
		return;
	ExecResetTupleTable(t->estate->es_tupleTable, false);
	ExecCloseIndices(t->rri);
	FreeExecutorState(t->estate);
	table_close(t->rel, NoLock);
	t->rel = NULL;
	t->estate = NULL;
	t->rri = NULL;
	t->slot = NULL;
}
