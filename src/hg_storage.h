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
	MemoryContext rows_context; /* reset after every sample */
} HgStorage;

/* Prepare the plans; call inside a transaction with SPI connected. */
extern void hg_storage_prepare(HgStorage *st);

/* Insert one kept sample and its receptions; inside a transaction, SPI connected. */
extern void hg_storage_write(HgStorage *st, int64 dataset_id, const hg_sample *s);

#endif							/* HG_STORAGE_H */
