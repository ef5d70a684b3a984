/*
 * hg_extend.h
 *    Room for a row's TOAST chunks made before the row is written, a page at
 *    a time, where a cancel reaches the worker.  PostgreSQL 15 grows a
 *    relation by one 8 kB write of zeros per page, inside the insert that
 *    needs it: a reception's IQ (~80 kB in TOAST chunks, four to a page)
 *    grew the TOAST table by ten such writes per row, a third of the
 *    worker's time (`perf`), and under a busy disk those writes, and the
 *    extension lock another job held meanwhile, were where a cancel waited
 *    for the row to end.  The pages added here are empty and listed in the
 *    free space map, where the row's insert finds them, as PostgreSQL's own
 *    bulk extension leaves them (hio.c); a row still extends the table
 *    itself when they are gone, so nothing depends on them.  The 8 kB
 *    writes are the same; what changes is that a stop check comes between
 *    any two of them.  A worker counts only pages it added itself: those a
 *    worker leaves ready when it ends (a row's worth at most) are used by
 *    later rows, through the map, without being counted.
 */
#ifndef HG_EXTEND_H
#define HG_EXTEND_H

#include "postgres.h"

#include "storage/block.h"

/* The most pages kept ready: 2 MB, a reception of 256k complex samples */
#define HG_EXTEND_MAX_PAGES 256

/* Zeroed before first use. */
typedef struct HgExtend
{
	Oid			toast_relid;	/* the TOAST relation ready[] is about, */
	Oid			toast_filenode; /* in these files (VACUUM FULL, TRUNCATE: new ones) */
	int			n_ready;		/* pages this process added that looked unused when last seen */
	BlockNumber ready[HG_EXTEND_MAX_PAGES];
} HgExtend;

/*
 * Before inserting into table_relid a row with a value of value_bytes that
 * goes to TOAST uncompressed (a column of STORAGE EXTERNAL, as
 * receptions.iq is; a value that compresses would need fewer pages than
 * are made ready): make sure that as many empty pages as its chunks fill
 * are ready in the table's TOAST relation, adding them one at a time and
 * asking stop_requested(arg) before each.  False when that said stop (the
 * pages added so far stay ready, for whichever insert comes next).  In a
 * transaction; the table's TOAST relation and its files are looked up each
 * time (a rewrite of the table may change either).
 */
extern bool hg_extend_ahead(HgExtend *x, Oid table_relid, Size value_bytes,
							bool (*stop_requested) (void *arg), void *arg);

#endif							/* HG_EXTEND_H */
