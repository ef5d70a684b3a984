/*
 * hg_rng.c
 *    Counter-based random numbers: Philox4x32-10 blocks, and the uniform,
 *    integer, categorical and normal draws the model builds from them.
 *    The stream layout (key and counter words) is documented in hg_rng.h.
 */
#include "hg_rng.h"

#include "hg_math.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u	/* golden ratio: the key schedule's Weyl step */
#define PHILOX_W1 0xBB67AE85u	/* sqrt(3) - 1 */
#define PHILOX_ROUNDS 10

static inline void
philox_round(uint32_t ctr[4], const uint32_t key[2])
{
	uint64_t	p0 = (uint64_t) PHILOX_M0 * ctr[0];
	uint64_t	p1 = (uint64_t) PHILOX_M1 * ctr[2];
	uint32_t	hi0 = (uint32_t) (p0 >> 32);
	uint32_t	lo0 = (uint32_t) p0;
	uint32_t	hi1 = (uint32_t) (p1 >> 32);
	uint32_t	lo1 = (uint32_t) p1;
	uint32_t	c1 = ctr[1];
	uint32_t	c3 = ctr[3];

	ctr[0] = hi1 ^ c1 ^ key[0];
	ctr[1] = lo1;
	ctr[2] = hi0 ^ c3 ^ key[1];
	ctr[3] = lo0;
}

void
hg_philox4x32_10(const uint32_t key[2], const uint32_t counter[4], uint32_t out[4])
{
	uint32_t	k[2] = {key[0], key[1]};
	int			r;

	out[0] = counter[0];
	out[1] = counter[1];
	out[2] = counter[2];
	out[3] = counter[3];
	for (r = 0; r < PHILOX_ROUNDS; r++)
	{
		if (r > 0)
		{
			k[0] += PHILOX_W0;
			k[1] += PHILOX_W1;
		}
		philox_round(out, k);
	}
}

void
hg_rng_init(hg_rng *rng, uint64_t seed, uint64_t attempt, uint32_t receiver,
			hg_stream_purpose purpose)
{
	rng->key[0] = (uint32_t) seed;
	rng->key[1] = (uint32_t) (seed >> 32);
	rng->counter[0] = 0;
	rng->counter[1] = ((uint32_t) purpose & 0xFFu) | ((receiver & 0xFFu) << 8);
	rng->counter[2] = (uint32_t) attempt;
	rng->counter[3] = (uint32_t) (attempt >> 32);
	rng->used = 4;
	rng->have_spare = 0;
	rng->spare = 0.0;
}

uint32_t
hg_rng_u32(hg_rng *rng)
{
	if (rng->used == 4)
	{
		hg_philox4x32_10(rng->key, rng->counter, rng->block);
		rng->counter[0]++;
		rng->used = 0;
	}
	return rng->block[rng->used++];
}

double
hg_rng_uniform(hg_rng *rng)
{
	/* 27 + 26 bits: the classic 53-bit construction, exact in a double */
	uint32_t	a = hg_rng_u32(rng) >> 5;
	uint32_t	b = hg_rng_u32(rng) >> 6;

	return ((double) a * 67108864.0 + (double) b) * (1.0 / 9007199254740992.0);
}

double
hg_rng_range(hg_rng *rng, double lo, double hi)
{
	return lo + (hi - lo) * hg_rng_uniform(rng);
}

int
hg_rng_int(hg_rng *rng, int lo, int hi)
{
	uint32_t	span;
	uint32_t	limit;
	uint32_t	x;

	if (hi <= lo)
		return lo;
	span = (uint32_t) ((int64_t) hi - lo + 1);
	/* reject the top partial copy of [0, span) so every value is equally likely */
	limit = UINT32_MAX - (UINT32_MAX % span + 1) % span;
	do
		x = hg_rng_u32(rng);
	while (x > limit);
	return lo + (int) (x % span);
}

double
hg_rng_normal(hg_rng *rng)
{
	double		u1;
	double		u2;
	double		radius;
	double		s,
				c;

	if (rng->have_spare)
	{
		rng->have_spare = 0;
		return rng->spare;
	}
	/* 1 - U lies in (0, 1], so the logarithm is finite */
	u1 = 1.0 - hg_rng_uniform(rng);
	u2 = hg_rng_uniform(rng);
	radius = sqrt(-2.0 * hg_log(u1));
	hg_sincos_turns(u2, &s, &c);	/* the angle 2 pi u2 */
	rng->spare = radius * s;
	rng->have_spare = 1;
	return radius * c;
}

double
hg_rng_rician_power(hg_rng *rng, double k_linear)
{
	double		los = sqrt(k_linear / (k_linear + 1.0));
	double		scatter = sqrt(1.0 / (2.0 * (k_linear + 1.0)));
	double		re = los + scatter * hg_rng_normal(rng);
	double		im = scatter * hg_rng_normal(rng);

	return re * re + im * im;
}

int
hg_rng_choose(hg_rng *rng, const double *weights, int n)
{
	double		total = 0.0;
	double		target;
	int			k;
	int			last = -1;

	for (k = 0; k < n; k++)
		if (weights[k] > 0.0)
			total += weights[k];
	if (total <= 0.0)
		return -1;
	target = hg_rng_uniform(rng) * total;
	for (k = 0; k < n; k++)
	{
		if (weights[k] <= 0.0)
			continue;
		last = k;
		if (target < weights[k])
			return k;
		target -= weights[k];
	}
	return last;				/* rounding left target just above the sum */
}

/*
 * Ziggurat of 128 layers for the standard normal (Marsaglia & Tsang, "The
 * ziggurat method for generating random variables", JSS 2000).  R is the
 * start of the tail, V the area of every layer.
 */
#define ZIG_R 3.442619855899
#define ZIG_V 9.91256303526217e-3
#define ZIG_M 2147483648.0

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
	z->wn[127] = dn / ZIG_M;
	z->fn[0] = 1.0;
	z->fn[127] = hg_exp(-0.5 * dn * dn);
	for (i = 126; i >= 1; i--)
	{
		dn = sqrt(-2.0 * hg_log(ZIG_V / dn + hg_exp(-0.5 * dn * dn)));
		z->kn[i + 1] = (uint32_t) ((dn / tn) * ZIG_M);
		tn = dn;
		z->fn[i] = hg_exp(-0.5 * dn * dn);
		z->wn[i] = dn / ZIG_M;
	}
}

/*
 * The rare cases of a ziggurat draw: the wedge between a layer's rectangle
 * and the curve, and the tail beyond R.  hz and iz are the draw that missed
 * the rectangle; further draws come from rng in a fixed order.
 */
static double
ziggurat_slow(hg_rng *rng, const hg_ziggurat *z, int32_t hz, uint32_t iz)
{
	for (;;)
	{
		double		x = (double) hz * z->wn[iz];
		uint32_t	magnitude;

		if (iz == 0)
		{
			/* the tail beyond R, by Marsaglia's exponential method */
			double		xt;
			double		yt;

			do
			{
				xt = -hg_log(1.0 - hg_rng_uniform(rng)) / ZIG_R;
				yt = -hg_log(1.0 - hg_rng_uniform(rng));
			} while (yt + yt < xt * xt);
			return hz > 0 ? ZIG_R + xt : -ZIG_R - xt;
		}
		if (z->fn[iz] + hg_rng_uniform(rng) * (z->fn[iz - 1] - z->fn[iz]) < hg_exp(-0.5 * x * x))
			return x;
		hz = (int32_t) hg_rng_u32(rng);
		iz = hg_rng_u32(rng) & 127u;
		magnitude = hz < 0 ? (uint32_t) (-(int64_t) hz) : (uint32_t) hz;
		if (magnitude < z->kn[iz])
			return (double) hz * z->wn[iz];
	}
}

/*
 * Normals in blocks: each Philox block gives three signed abscissae (words
 * 0-2) and, in word 3, the three 7-bit layer indices that go with them, so
 * the index and the value never share bits and a normal costs 4/3 words.
 * About 99 % of draws end in the layer's rectangle with one multiply.
 */
void
hg_rng_fill_normal(hg_rng *rng, const hg_ziggurat *z, float sigma, float *out, int n)
{
	int			k = 0;

	while (k < n)
	{
		uint32_t	block[4];
		int			j;

		hg_philox4x32_10(rng->key, rng->counter, block);
		rng->counter[0]++;
		for (j = 0; j < 3 && k < n; j++, k++)
		{
			int32_t		hz = (int32_t) block[j];
			uint32_t	iz = (block[3] >> (8 * j)) & 127u;
			uint32_t	magnitude = hz < 0 ? (uint32_t) (-(int64_t) hz) : (uint32_t) hz;

			out[k] = sigma * (float) (magnitude < z->kn[iz]
									  ? (double) hz * z->wn[iz]
									  : ziggurat_slow(rng, z, hz, iz));
		}
	}
}
