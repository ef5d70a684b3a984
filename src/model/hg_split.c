/*
 * hg_split.c
 *    Deterministic train / val / test assignment of a dataset's samples
 *    (definition in hg_model.h): a pure function of (seed, sample index),
 *    so a virtual dataset, a regenerated one and any reader agree on it
 *    without storing it.
 */
#include "hg_model.h"

#include "hg_rng.h"

int
hg_split_of(uint64_t seed, uint64_t sample_idx, const double ratios[3])
{
	hg_rng		rng;
	double		u;
	int			last = 0,
				k;

	hg_rng_init(&rng, seed, sample_idx, HG_RX_SHARED, HG_STREAM_SPLIT);
	u = hg_rng_uniform(&rng);
	for (k = 0; k < 3; k++)
		if (ratios[k] > 0.0)
			last = k;
	if (ratios[0] > 0.0 && u < ratios[0])
		return 0;
	if (ratios[1] > 0.0 && u < ratios[0] + ratios[1])
		return 1;
	/* the rest, or the last positive part when rounding left u above the sum */
	return ratios[2] > 0.0 ? 2 : last;
}
