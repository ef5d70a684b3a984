/*
 * hg_iq.h
 *    Regeneration of a dataset's attempts for reading virtual IQ (see
 *    hg_iq.c), shared by iq(), free_iq() and the materialize job.
 */
#ifndef HG_IQ_H
#define HG_IQ_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "hg_model.h"

/*
 * The kept sample of attempt sample_idx of the dataset, regenerated (or
 * from this backend's cache of the last attempt); valid until the next
 * call.  ERROR if the attempt is not kept: the rows do not match the model.
 * The caller has checked the dataset's model version.
 */
extern const hg_sample *hg_regenerate(int64 dataset_id, int64 seed, Jsonb *params, int32 model_version,
									  int64 sample_idx);

#endif							/* HG_IQ_H */
