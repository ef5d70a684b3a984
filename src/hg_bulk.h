/*
 * hg_bulk.h
 *    Rows straight into a table through the table AM, as COPY FROM writes
 *    them: no executor per row, no plan, no parameter binding.  The tuple is
 *    inserted with table_tuple_insert (which TOASTs it, honouring each
 *    column's STORAGE, and WAL-logs it as any insert), its index entries with
 *    ExecInsertIndexTuples, its NOT NULL and CHECK constraints with
 *    ExecConstraints.
 *
 *    What it does not do is fire triggers: hg_bulk_prepare accepts a table
 *    only if its one kind of INSERT trigger is a foreign-key check (the
 *    caller keeps those keys valid itself, see hg_storage.c), and no rule,
 *    forced row security or partitioning.  Columns are matched by name and
 *    type, so dropped or reordered columns are harmless and an unexpected
 *    one is refused.
 */
#ifndef HG_BULK_H
#define HG_BULK_H

#include "postgres.h"

#include "nodes/execnodes.h"
#include "utils/rel.h"

#define HG_BULK_MAX_COLS 32

typedef struct HgBulkTable
{
	Oid			relid;
	int			ncols;			/* the caller's columns */
	AttrNumber	attnum[HG_BULK_MAX_COLS];	/* the caller's column k is attribute attnum[k] */
	/* while open, within one transaction */
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	CommandId	cid;
} HgBulkTable;

/*
 * Look up schema.table and match the caller's columns (names, types);
 * inside a transaction.  Returns false, saying why in *why, if the table
 * has anything a direct insert would skip (a trigger other than a foreign
 * key check, a rule, forced row security, partitions): the caller then
 * inserts through the executor.  An unknown or mistyped column is an ERROR.
 */
extern bool hg_bulk_prepare(HgBulkTable *t, const char *schema, const char *table,
							int ncols, const char *const *names, const Oid *types,
							const char **why);

/* Open the table and its indexes for inserts in the current transaction. */
extern void hg_bulk_open(HgBulkTable *t);

/* Insert one row: values[k], isnull[k] of the caller's column k. */
extern void hg_bulk_insert(HgBulkTable *t, const Datum *values, const bool *isnull);

/* Close what hg_bulk_open opened (an abort releases it too). */
extern void hg_bulk_close(HgBulkTable *t);

#endif							/* HG_BULK_H */
