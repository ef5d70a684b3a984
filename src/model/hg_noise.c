/*
 * hg_noise.c
 *    The ziggurat noise generator (stream layout in hg_noise.h): tables,
 *    the vectorised fast pass over chunks of Philox words, and the scalar
 *    slow path for the draws that miss their layer's rectangle.
 */
#include "hg_noise.h"

#include "hg_math.h"
#include "hg_simd.h"

#include <math.h>
#include <string.h>

/*
 * R is the start of the tail, V the area of every layer, for 256 layers
 * (Marsaglia and Tsang's values, re-derived by solving for the R whose
 * layers close at the top: 3.654152885361009, 4.928673233974658e-3).  256
 * layers rather than 128: half as many draws miss their rectangle (the
 * slow path costs an exp and more draws).  Abscissae have 23 bits plus sign.
 */
#define ZIG_R 3.654152885361009
#define ZIG_V 4.928673233974658e-3
#define ZIG_M 8388608.0
#define ZIG_HALF 8388608		/* hz = (w >> 8) - 2^23 */
#define ZIG_TOP (HG_ZIG_LAYERS - 1)
#define ZIG_MASK ((uint32_t) ZIG_TOP)
#define CHUNK_GROUPS 32			/* 32 groups of 8 blocks: 1024 words, 5 kB in L1 */
#define CHUNK_WORDS (CHUNK_GROUPS * 32)
#define SLOW_PATH_BLOCK 0x80000000u

void
hg_ziggurat_init(hg_ziggurat *z)
{
	double		dn = ZIG_R;
	double		tn = dn;
	double		q = ZIG_V / hg_exp(-0.5 * dn * dn);
	int			i;

	z->kn[0] = (uint32_t) ((dn / q) * ZIG_M);
	z->kn[1] = 0;
	z->wn[0] = q / ZIG_M;
	z->wn[ZIG_TOP] = dn / ZIG_M;
	z->fn[0] = 1.0;
	z->fn[ZIG_TOP] = hg_exp(-0.5 * dn * dn);
	for (i = ZIG_TOP - 1; i >= 1; i--)
	{
		dn = sqrt(-2.0 * hg_log(ZIG_V / dn + hg_exp(-0.5 * dn * dn)));
		z->kn[i + 1] = (uint32_t) ((dn / tn) * ZIG_M);
		tn = dn;
		z->fn[i] = hg_exp(-0.5 * dn * dn);
		z->wn[i] = dn / ZIG_M;
	}
}

/*
 * A draw that missed layer iz's rectangle: the wedge between the rectangle
 * and the curve, or the tail beyond R.  Further draws come from slow, in a
 * fixed order.
 */
static double
ziggurat_slow(hg_rng *slow, const hg_ziggurat *z, int32_t hz, uint32_t iz)
{
	for (;;)
	{
		double		x = (double) hz * z->wn[iz];
		uint32_t	w,
					magnitude;

		if (iz == 0)
		{
			/* the tail beyond R, by Marsaglia's exponential method */
			double		xt;
			double		yt;

			do
			{
				xt = -hg_log(1.0 - hg_rng_uniform(slow)) / ZIG_R;
				yt = -hg_log(1.0 - hg_rng_uniform(slow));
			} while (yt + yt < xt * xt);
			return hz > 0 ? ZIG_R + xt : -ZIG_R - xt;
		}
		if (z->fn[iz] + hg_rng_uniform(slow) * (z->fn[iz - 1] - z->fn[iz]) < hg_exp(-0.5 * x * x))
			return x;
		w = hg_rng_u32(slow);
		hz = (int32_t) (w >> 8) - ZIG_HALF;
		iz = w & ZIG_MASK;
		magnitude = hz < 0 ? (uint32_t) -hz : (uint32_t) hz;
		if (magnitude < z->kn[iz])
			return (double) hz * z->wn[iz];
	}
}

/*
 * The fast pass over one chunk: every word becomes its rectangle value, and
 * flag[k] marks the words the slow path must redo.  Plain loops with table
 * lookups (gathers) the compiler vectorises; both clones give the same bits
 * (an int to float conversion and one float multiply per word).
 */
HG_AVX2_CLONES
static void
fast_pass(const uint32_t *words, const uint32_t *kn, const float *wnf, float *out,
		  unsigned char *flag, int n)
{
	int			k;

	for (k = 0; k < n; k++)
	{
		uint32_t	w = words[k];
		int32_t		hz = (int32_t) (w >> 8) - ZIG_HALF;
		uint32_t	iz = w & ZIG_MASK;
		uint32_t	magnitude = (uint32_t) (hz < 0 ? -hz : hz);

		out[k] = (float) hz * wnf[iz];
		flag[k] = (unsigned char) (magnitude >= kn[iz]);
	}
}

void
hg_rng_fill_normal(hg_rng *rng, const hg_ziggurat *z, float sigma, float *out, int n)
{
	uint32_t	words[CHUNK_WORDS];
	unsigned char flag[CHUNK_WORDS];
	float		wnf[HG_ZIG_LAYERS];
	hg_rng		slow = *rng;
	int			start,
				k;

	for (k = 0; k < HG_ZIG_LAYERS; k++)
		wnf[k] = (float) ((double) sigma * z->wn[k]);
	slow.counter[0] = SLOW_PATH_BLOCK;
	slow.used = 4;
	slow.have_spare = 0;
	for (start = 0; start < n; start += CHUNK_WORDS)
	{
		int			len = n - start < CHUNK_WORDS ? n - start : CHUNK_WORDS;
		int			groups = (len + 31) / 32;

		hg_philox_blocks(rng->key, rng->counter, groups, words);
		rng->counter[0] += 8u * (uint32_t) groups;
		fast_pass(words, z->kn, wnf, out + start, flag, len);
		/* the few slow words, found 8 flags at a time */
		for (k = 0; k < len; k += 8)
		{
			uint64_t	any = 0;
			int			j;

			memcpy(&any, flag + k, (size_t) (len - k < 8 ? len - k : 8));
			if (!any)
				continue;
			for (j = k; j < k + 8 && j < len; j++)
				if (flag[j])
				{
					int32_t		hz = (int32_t) (words[j] >> 8) - ZIG_HALF;

					out[start + j] = (float) ((double) sigma * ziggurat_slow(&slow, z, hz, words[j] & ZIG_MASK));
				}
		}
	}
}
