/*
 * hg_rng.h
 *    Counter-based random numbers for the signal model.
 *
 * Every draw of attempt i comes from a stream identified by
 * (dataset seed, attempt index, receiver, purpose) and by the position of
 * the draw within that stream, and from nothing else: no global state, no
 * dependence on what was generated before.  The generator is Philox4x32-10
 * (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11), the counter-based generator used by cuRAND, numpy and JAX:
 *
 *     block = Philox4x32-10(key, counter)          (4 x 32 random bits)
 *     key     = { seed bits 0..31, seed bits 32..63 }
 *     counter = { block number within the stream,
 *                 purpose | receiver << 8,
 *                 attempt bits 0..31, attempt bits 32..63 }
 *
 * A stream is thus a sequence of 2^32 blocks (2^34 32-bit words) that no
 * other (seed, attempt, receiver, purpose) can reach.  Uniforms and
 * normals are built from the words in a fixed order, using only IEEE-754
 * double arithmetic (the model is compiled with -ffp-contract=off), so the
 * same inputs give the same bytes on any machine.
 */
#ifndef HG_RNG_H
#define HG_RNG_H

#include <stdint.h>

/* Receiver number of the streams that belong to the sample as a whole. */
#define HG_RX_SHARED 0xFFu

/* What a stream is for: one purpose, one independent stream. */
typedef enum hg_stream_purpose
{
	HG_STREAM_RECEIVERS = 1,	/* count, placement, antennas of the receivers */
	HG_STREAM_TX,				/* transmitter position, power, antenna, frequency */
	HG_STREAM_LINK,				/* per receiver: losses and fading of the link budget */
	HG_STREAM_WAVEFORM,			/* modulation, content, audio and symbols */
	HG_STREAM_CHANNEL,			/* per receiver: frequency error, echoes, block fading */
	HG_STREAM_NOISE,			/* per receiver: the white Gaussian noise */
	HG_STREAM_SPLIT,			/* train / val / test assignment of a sample */
	HG_STREAM_OSCILLATOR		/* per receiver: its oscillator's phase (model version 3) */
} hg_stream_purpose;

typedef struct hg_rng
{
	uint32_t	key[2];
	uint32_t	counter[4];		/* counter[0] = next block to compute */
	uint32_t	block[4];		/* the current block's output */
	int			used;			/* words of block already handed out (4 = none left) */
	int			have_spare;		/* a second Box-Muller normal is waiting */
	double		spare;
} hg_rng;

/* One raw Philox4x32-10 block, exposed for the known-answer test. */
void		hg_philox4x32_10(const uint32_t key[2], const uint32_t counter[4],
							 uint32_t out[4]);

/*
 * Blocks counter[0] .. counter[0] + 8 n_groups - 1 of the stream whose
 * other counter words are counter[1..3], in groups of 8 laid out word-major:
 * out[32 g + 8 w + j] is word w of block counter[0] + 8 g + j.  The same
 * numbers as hg_philox4x32_10, 8 blocks at a time (vectorised).
 */
void		hg_philox_blocks(const uint32_t key[2], const uint32_t counter[4], int n_groups,
							 uint32_t *out);

/* The same without the vector path, for the test that both agree. */
void		hg_philox_blocks_scalar(const uint32_t key[2], const uint32_t counter[4], int n_groups,
									uint32_t *out);

/* Position rng at the start of stream (seed, attempt, receiver, purpose). */
void		hg_rng_init(hg_rng *rng, uint64_t seed, uint64_t attempt,
						uint32_t receiver, hg_stream_purpose purpose);

uint32_t	hg_rng_u32(hg_rng *rng);

/* Uniform in [0, 1) with 53 random bits. */
double		hg_rng_uniform(hg_rng *rng);

/* Uniform in [lo, hi). */
double		hg_rng_range(hg_rng *rng, double lo, double hi);

/* Uniform integer in [lo, hi] (inclusive), without modulo bias. */
int			hg_rng_int(hg_rng *rng, int lo, int hi);

/* Standard normal N(0, 1), Box-Muller in double precision. */
double		hg_rng_normal(hg_rng *rng);

/*
 * Power gain |h|^2 of one Rician channel draw with K factor k_linear (0 is
 * Rayleigh), unit mean: h = sqrt(K/(K+1)) + sqrt(1/(K+1)) CN(0, 1).
 */
double		hg_rng_rician_power(hg_rng *rng, double k_linear);

/* Index drawn with probability weights[k] / sum(weights); -1 if all zero. */
int			hg_rng_choose(hg_rng *rng, const double *weights, int n);

#endif							/* HG_RNG_H */
