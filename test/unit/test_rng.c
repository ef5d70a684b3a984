/*
 * test_rng.c
 *    Unit tests of the counter-based RNG: the Philox known answers, stream
 *    determinism whatever the call order, independence of neighbouring
 *    streams, and the moments of the uniform and normal draws.
 */
#include "hg_noise.h"
#include "hg_rng.h"
#include "hg_test.h"

#include <stdlib.h>
#include <string.h>

/* Known-answer vectors of Philox4x32-10 published with Random123 (kat_vectors). */
static void
test_philox_known_answers(void)
{
	static const struct
	{
		uint32_t	ctr[4];
		uint32_t	key[2];
		uint32_t	out[4];
	}			kat[] = {
		{{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
		{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
		{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	};
	size_t		v;
	int			w;

	for (v = 0; v < sizeof(kat) / sizeof(kat[0]); v++)
	{
		uint32_t	out[4];

		hg_philox4x32_10(kat[v].key, kat[v].ctr, out);
		for (w = 0; w < 4; w++)
			HG_CHECK(out[w] == kat[v].out[w], "vector %zu word %d: got %08x want %08x",
					 v, w, out[w], kat[v].out[w]);
	}
}

/* Stream (seed, i, rx, purpose) gives the same words whatever ran before. */
static void
test_determinism_across_call_order(void)
{
	uint32_t	first[64];
	hg_rng		a;
	hg_rng		b;
	hg_rng		noise;
	int			k;

	hg_rng_init(&a, 12345u, 77u, 3u, HG_STREAM_CHANNEL);
	for (k = 0; k < 64; k++)
		first[k] = hg_rng_u32(&a);

	/* interleave other streams, in another order, then redo the same stream */
	hg_rng_init(&noise, 12345u, 78u, 3u, HG_STREAM_CHANNEL);
	for (k = 0; k < 1000; k++)
		(void) hg_rng_u32(&noise);
	hg_rng_init(&b, 12345u, 77u, 3u, HG_STREAM_CHANNEL);
	for (k = 0; k < 64; k++)
	{
		(void) hg_rng_u32(&noise);
		HG_CHECK(hg_rng_u32(&b) == first[k], "word %d differs after other draws", k);
	}
}

/* Neighbouring attempts, receivers and purposes share no words and are uncorrelated. */
static void
test_independent_streams(void)
{
	enum
	{
		N = 200000
	};
	hg_rng		a;
	hg_rng		b;
	hg_rng		c;
	double		sab = 0.0;
	double		sac = 0.0;
	int			equal = 0;
	int			k;

	hg_rng_init(&a, 99u, 1000u, HG_RX_SHARED, HG_STREAM_TX);
	hg_rng_init(&b, 99u, 1001u, HG_RX_SHARED, HG_STREAM_TX);
	hg_rng_init(&c, 99u, 1000u, 0u, HG_STREAM_TX);
	for (k = 0; k < N; k++)
	{
		double		x = hg_rng_uniform(&a) - 0.5;
		double		y = hg_rng_uniform(&b) - 0.5;
		double		z = hg_rng_uniform(&c) - 0.5;

		sab += x * y;
		sac += x * z;
		equal += (x == y);
	}
	/* correlation of independent uniforms: 0 +/- 1/sqrt(N) per sigma; allow 5 sigma */
	HG_CHECK_NEAR(sab / N / (1.0 / 12.0), 0.0, 5.0 / sqrt((double) N), "corr(i, i+1)");
	HG_CHECK_NEAR(sac / N / (1.0 / 12.0), 0.0, 5.0 / sqrt((double) N), "corr(rx, shared)");
	HG_CHECK(equal == 0, "%d identical draws between streams i and i+1", equal);
}

static void
test_uniform_and_int_ranges(void)
{
	hg_rng		r;
	int			counts[7] = {0};
	double		sum = 0.0;
	int			k;

	hg_rng_init(&r, 1u, 2u, 3u, HG_STREAM_RECEIVERS);
	for (k = 0; k < 70000; k++)
	{
		double		u = hg_rng_uniform(&r);
		int			v = hg_rng_int(&r, 3, 9);

		HG_CHECK(u >= 0.0 && u < 1.0, "uniform %g out of [0,1)", u);
		HG_CHECK(v >= 3 && v <= 9, "int %d out of [3,9]", v);
		if (v >= 3 && v <= 9)
			counts[v - 3]++;
		sum += u;
	}
	HG_CHECK_NEAR(sum / 70000.0, 0.5, 5.0 * sqrt(1.0 / 12.0 / 70000.0), "uniform mean");
	for (k = 0; k < 7; k++)
		HG_CHECK_NEAR(counts[k], 10000.0, 5.0 * sqrt(10000.0 * 6.0 / 7.0), "int bucket");
}

/* Mean 0, variance 1, skewness 0, kurtosis 3, for both normal samplers. */
static void
check_normal_moments(const double *x, int n, const char *what)
{
	double		m1 = 0.0,
				m2 = 0.0,
				m3 = 0.0,
				m4 = 0.0;
	int			k;

	for (k = 0; k < n; k++)
	{
		m1 += x[k];
		m2 += x[k] * x[k];
		m3 += x[k] * x[k] * x[k];
		m4 += x[k] * x[k] * x[k] * x[k];
	}
	m1 /= n;
	m2 /= n;
	m3 /= n;
	m4 /= n;
	/* standard errors: 1/sqrt(n), sqrt(2/n), sqrt(15/n), sqrt(96/n); 5 sigma */
	HG_CHECK_NEAR(m1, 0.0, 5.0 * sqrt(1.0 / n), what);
	HG_CHECK_NEAR(m2, 1.0, 5.0 * sqrt(2.0 / n), what);
	HG_CHECK_NEAR(m3, 0.0, 5.0 * sqrt(15.0 / n), what);
	HG_CHECK_NEAR(m4, 3.0, 5.0 * sqrt(96.0 / n), what);
}

static void
test_normal_moments(void)
{
	enum
	{
		N = 400000
	};
	double	   *x = malloc(sizeof(double) * N);
	float	   *f = malloc(sizeof(float) * N);
	hg_ziggurat z;
	hg_rng		r;
	int			k;
	int			beyond3 = 0;

	HG_CHECK(x && f, "out of memory");
	if (!x || !f)
		return;
	hg_rng_init(&r, 2024u, 5u, 1u, HG_STREAM_LINK);
	for (k = 0; k < N; k++)
		x[k] = hg_rng_normal(&r);
	check_normal_moments(x, N, "Box-Muller");

	hg_ziggurat_init(&z);
	hg_rng_init(&r, 2024u, 5u, 1u, HG_STREAM_NOISE);
	hg_rng_fill_normal(&r, &z, 1.0f, f, N);
	for (k = 0; k < N; k++)
	{
		x[k] = f[k];
		beyond3 += fabs(x[k]) > 3.0;
	}
	check_normal_moments(x, N, "ziggurat");
	/* the tail: P(|x| > 3) = 0.0026998 */
	HG_CHECK_NEAR(beyond3, 0.0026998 * N, 5.0 * sqrt(0.0026998 * N), "ziggurat tail mass");
	free(x);
	free(f);
}

static void
test_choose_follows_weights(void)
{
	const double w[4] = {0.9, 0.0, 0.05, 0.05};
	int			counts[4] = {0};
	hg_rng		r;
	int			k;

	hg_rng_init(&r, 7u, 7u, HG_RX_SHARED, HG_STREAM_WAVEFORM);
	for (k = 0; k < 20000; k++)
	{
		int			c = hg_rng_choose(&r, w, 4);

		HG_CHECK(c >= 0 && c < 4, "choice %d", c);
		if (c >= 0 && c < 4)
			counts[c]++;
	}
	HG_CHECK(counts[1] == 0, "zero weight chosen %d times", counts[1]);
	HG_CHECK_NEAR(counts[0], 18000.0, 5.0 * sqrt(20000 * 0.9 * 0.1), "weight 0.9");
	HG_CHECK_NEAR(counts[2], 1000.0, 5.0 * sqrt(20000 * 0.05 * 0.95), "weight 0.05");
	HG_CHECK(hg_rng_choose(&r, (const double[2]) {0.0, 0.0}, 2) == -1, "all-zero weights");
}

/* The vector Philox path gives the blocks of the scalar one, in the documented layout. */
static void
test_philox_blocks_layout(void)
{
	static uint32_t fast[32 * 7],
				slow[32 * 7];
	const uint32_t key[2] = {0xDEADBEEFu, 0x01234567u};
	const uint32_t starts[3] = {0u, 1000u, 0xFFFFFFF0u};	/* the last wraps around */
	int			s,
				g,
				j,
				w;

	for (s = 0; s < 3; s++)
	{
		uint32_t	ctr[4] = {starts[s], 0x0605u, 77u, 1u};

		hg_philox_blocks(key, ctr, 7, fast);
		hg_philox_blocks_scalar(key, ctr, 7, slow);
		HG_CHECK(memcmp(fast, slow, sizeof(fast)) == 0, "vector and scalar blocks differ (start %u)", starts[s]);
		for (g = 0; g < 7; g++)
			for (j = 0; j < 8; j++)
			{
				uint32_t	one[4],
							c[4] = {starts[s] + 8u * (uint32_t) g + (uint32_t) j, 0x0605u, 77u, 1u};

				hg_philox4x32_10(key, c, one);
				for (w = 0; w < 4; w++)
					HG_CHECK(fast[32 * g + 8 * w + j] == one[w], "group %d block %d word %d", g, j, w);
			}
	}
}

int
main(void)
{
	HG_RUN(test_philox_known_answers);
	HG_RUN(test_philox_blocks_layout);
	HG_RUN(test_determinism_across_call_order);
	HG_RUN(test_independent_streams);
	HG_RUN(test_uniform_and_int_ranges);
	HG_RUN(test_normal_moments);
	HG_RUN(test_choose_follows_weights);
	return HG_TEST_SUMMARY();
}
