/*
 * hg_noise.h
 *    White Gaussian noise for the receptions: a ziggurat sampler (Marsaglia
 *    & Tsang, "The ziggurat method for generating random variables", JSS
 *    2000) with 256 layers fed by Philox blocks computed 8 at a time, so that
 *    the common case (99 % of draws) runs as vector code.
 *
 * Stream layout (part of the model's output definition, version 2): the
 * noise stream's 32-bit words come from hg_philox_blocks, block 0 onwards,
 * in its word-major order, one word per normal: bits 0-7 pick the layer,
 * bits 8-31 are a signed abscissa hz = (w >> 8) - 2^23.  A word whose hz
 * falls outside its layer's rectangle is finished by the slow path (wedge
 * or tail), whose extra draws come, in output order, from the same stream
 * at block 2^31 onwards, so the fast words never depend on the slow ones.
 */
#ifndef HG_NOISE_H
#define HG_NOISE_H

#include "hg_rng.h"

/* Tables of the ziggurat, for abscissae of 23 bits plus sign. */
#define HG_ZIG_LAYERS 256

typedef struct hg_ziggurat
{
	uint32_t	kn[HG_ZIG_LAYERS];
	double		wn[HG_ZIG_LAYERS];
	double		fn[HG_ZIG_LAYERS];
} hg_ziggurat;

/* The tables: a pure function of nothing (computed with hg_math). */
void		hg_ziggurat_init(hg_ziggurat *z);

/*
 * Fill out[0..n) with N(0, sigma^2) floats from the stream of rng (fresh
 * from hg_rng_init; it is advanced past the blocks used).  Fast path:
 * (float) hz * (float) (sigma * wn[layer]); slow path: (float) (sigma * x).
 */
void		hg_rng_fill_normal(hg_rng *rng, const hg_ziggurat *z, float sigma,
							   float *out, int n);

#endif							/* HG_NOISE_H */
