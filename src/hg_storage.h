/*
 * hg_storage.h
 *    Writing kept samples into heimdall_gen.samples and .receptions from a
 *    worker: prepared plans kept across transactions, the IQ copied once from
 *    the model's buffer into a bytea (cf32_le).
 */
#ifndef HG_STORAGE_H
#define HG_STORAGE_H

#include "postgres.h"

#include "executor/spi.h"

#include "hg_model.h"

typedef struct HgStorage
{
	SPIPlanPtr	insert_sample;
	SPIPlanPtr	insert_reception;
	SPIPlanPtr	fill_iq;
	MemoryContext rows_context; /* reset after every sample */
	uint64		seed;			/* for each sample's split */
	double		split_ratios[3];
	bool		store_iq;		/* false in a virtual dataset: iq stays NULL */
} HgStorage;

/*
 * Prepare the plans for a dataset of this seed and config; call inside a
 * transaction with SPI connected.
 */
extern void hg_storage_prepare(HgStorage *st, uint64 seed, const hg_config *cfg);

/*
 * Insert one kept sample and its receptions; inside a transaction, SPI
 * connected.  Between rows it asks stop_requested(arg): if that says yes it
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
