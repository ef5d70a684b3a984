/*
 * hg_storage.h
 *    Writing kept samples into heimdall_gen.samples and .receptions from a
 *    worker: straight through the table AM as COPY does (hg_bulk.h), or,
 *    should a table have grown a trigger or rule that this would skip,
 *    through prepared plans kept across transactions; the IQ copied once
 *    from the model's buffer into a bytea (cf32_le).
 */
#ifndef HG_STORAGE_H
#define HG_STORAGE_H

#include "postgres.h"

#include "executor/spi.h"

#include "hg_bulk.h"
#include "hg_extend.h"
#include "hg_model.h"

typedef struct HgStorage
{
	bool		direct;			/* rows go in through hg_bulk, not the executor */
	HgBulkTable samples;
	HgBulkTable receptions;
	SPIPlanPtr	insert_sample;	/* the executor's way, if a direct insert would skip something */
	SPIPlanPtr	insert_reception;
	SPIPlanPtr	fill_iq;
	MemoryContext rows_context; /* reset after every sample */
	uint64		seed;			/* for each sample's split */
	double		split_ratios[3];
	bool		store_iq;		/* false in a virtual dataset: iq stays NULL */
	HgExtend	extend;			/* the receptions' TOAST pages made ready between rows */
} HgStorage;

/*
 * Prepare the plans for a dataset of this seed and config; call inside a
 * transaction with SPI connected.
 */
extern void hg_storage_prepare(HgStorage *st, uint64 seed, const hg_config *cfg);

/* The bytes of a reception's IQ: n_iq complex samples, two float32 each (cf32_le). */
extern Size hg_reception_iq_bytes(int n_iq);

/* A bytea holding a reception's IQ exactly as the model wrote it (cf32_le), palloc'd. */
extern bytea *hg_reception_iq_bytea(const hg_reception *r, int n_iq);

/*
 * Insert one kept sample and its receptions; inside a transaction, SPI
 * connected, that holds a key-share lock on the dataset's row (what the
 * samples' foreign key check would take: the worker takes it, bounded,
 * before a batch's first sample).  Between rows it asks stop_requested(arg): if that says yes it
 * returns false with the sample half written, for a caller that is about to
 * abort the transaction anyway.
 */
extern bool hg_storage_write(HgStorage *st, int64 dataset_id, const hg_sample *s,
							 bool (*stop_requested) (void *arg), void *arg);

/*
 * Store the IQ of a kept sample whose labels are already there (a virtual
 * dataset being materialized); receptions that have IQ keep it.  Same
 * contract as hg_storage_write.
 */
extern bool hg_storage_fill_iq(HgStorage *st, int64 dataset_id, const hg_sample *s,
							   bool (*stop_requested) (void *arg), void *arg);

#endif							/* HG_STORAGE_H */
