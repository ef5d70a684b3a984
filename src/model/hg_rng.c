/*
 * hg_rng.c
 *    Counter-based random numbers: Philox4x32-10 blocks, and the uniform,
 *    integer, categorical and normal draws the model builds from them.
 *    The stream layout (key and counter words) is documented in hg_rng.h.
 */
#include "hg_rng.h"

#include "hg_math.h"
#include "hg_simd.h"

#include <math.h>
#include <string.h>

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

/* One group of 8 blocks, word-major, in plain C: the reference for the vector path. */
static void
philox_group(const uint32_t key[2], const uint32_t counter[4], uint32_t first, uint32_t *out)
{
	uint32_t	block[4];
	uint32_t	ctr[4] = {0, counter[1], counter[2], counter[3]};
	int			j,
				w;

	for (j = 0; j < 8; j++)
	{
		ctr[0] = first + (uint32_t) j;
		hg_philox4x32_10(key, ctr, block);
		for (w = 0; w < 4; w++)
			out[8 * w + j] = block[w];
	}
}

#ifdef HG_HAVE_AVX2_INTRINSICS
#include <immintrin.h>

/*
 * Two groups (16 blocks) at a time with AVX2: each 32-bit counter word sits
 * in a 64-bit lane, so each 32 x 32 -> 64 product is one vpmuludq, the high
 * half a shift and the low half a mask; four independent vectors keep the
 * multiplier busy.  Integer operations: the same bits as philox_group.
 */
__attribute__((target("avx2")))
static void
philox_pairs_avx2(const uint32_t key[2], const uint32_t counter[4], int n_pairs, uint32_t *out)
{
	const __m256i m0 = _mm256_set1_epi64x(PHILOX_M0);
	const __m256i m1 = _mm256_set1_epi64x(PHILOX_M1);
	const __m256i low = _mm256_set1_epi64x(0xFFFFFFFFll);
	const __m256i pack = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
	__m256i		rk0[PHILOX_ROUNDS],
				rk1[PHILOX_ROUNDS];
	uint32_t	k0 = key[0],
				k1 = key[1];
	int			p,
				r,
				v;

	for (r = 0; r < PHILOX_ROUNDS; r++)
	{
		if (r > 0)
		{
			k0 += PHILOX_W0;
			k1 += PHILOX_W1;
		}
		rk0[r] = _mm256_set1_epi64x(k0);
		rk1[r] = _mm256_set1_epi64x(k1);
	}
	for (p = 0; p < n_pairs; p++)
	{
		uint32_t	b = counter[0] + 16u * (uint32_t) p;
		__m256i		c0[4],
					c1[4],
					c2[4],
					c3[4];

		for (v = 0; v < 4; v++)
		{
			uint32_t	f = b + 4u * (uint32_t) v;

			c0[v] = _mm256_setr_epi64x(f, (uint32_t) (f + 1), (uint32_t) (f + 2), (uint32_t) (f + 3));
			c1[v] = _mm256_set1_epi64x(counter[1]);
			c2[v] = _mm256_set1_epi64x(counter[2]);
			c3[v] = _mm256_set1_epi64x(counter[3]);
		}
		for (r = 0; r < PHILOX_ROUNDS; r++)
			for (v = 0; v < 4; v++)
			{
				__m256i		p0 = _mm256_mul_epu32(c0[v], m0);
				__m256i		p1 = _mm256_mul_epu32(c2[v], m1);

				c0[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[v]), rk0[r]);
				c2[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[v]), rk1[r]);
				c1[v] = _mm256_and_si256(p1, low);
				c3[v] = _mm256_and_si256(p0, low);
			}
		/* vector v holds blocks 4v..4v+3 of the pair: group v / 2, lanes (v % 2) * 4 */
		for (v = 0; v < 4; v++)
		{
			uint32_t   *o = out + 32 * (2 * p + v / 2) + 4 * (v % 2);

			_mm_storeu_si128((__m128i *) (o + 0), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c0[v], pack)));
			_mm_storeu_si128((__m128i *) (o + 8), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c1[v], pack)));
			_mm_storeu_si128((__m128i *) (o + 16), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c2[v], pack)));
			_mm_storeu_si128((__m128i *) (o + 24), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c3[v], pack)));
		}
	}
}
#endif

void
hg_philox_blocks_scalar(const uint32_t key[2], const uint32_t counter[4], int n_groups, uint32_t *out)
{
	int			g;

	for (g = 0; g < n_groups; g++)
		philox_group(key, counter, counter[0] + 8u * (uint32_t) g, out + 32 * g);
}

void
hg_philox_blocks(const uint32_t key[2], const uint32_t counter[4], int n_groups, uint32_t *out)
{
	int			done = 0;

#ifdef HG_HAVE_AVX2_INTRINSICS
	if (__builtin_cpu_supports("avx2"))
	{
		done = n_groups / 2 * 2;
		philox_pairs_avx2(key, counter, n_groups / 2, out);
	}
#endif
	for (; done < n_groups; done++)
		philox_group(key, counter, counter[0] + 8u * (uint32_t) done, out + 32 * done);
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
