/*
 * hg_channel.c
 *    Delay, multipath, fading, frequency error, scaling and noise of one
 *    reception (see hg_channel.h).
 */
#include "hg_channel.h"

#include "hg_dsp.h"
#include "hg_math.h"
#include "hg_noise.h"
#include "hg_simd.h"

#include <math.h>
#include <string.h>

#define OSC_BLOCK 256			/* oscillator: anchor phasor per block times a 256-entry table */
#define MAX_FADING_BLOCKS 4096

int
hg_channel_taps(const hg_config *cfg)
{
	int			extra = (int) ceil(cfg->echo_delay_max_us * 1e-6 * cfg->sample_rate_hz);

	return 2 * HG_FD_HALF + 2 + extra;
}

/*
 * gain[m] = amp[b] + (u - b) (amp[b + 1] - amp[b]) with u = m bps + phase
 * and b = (int) u: linear between the block centres.  Computed block by
 * block (where b is constant the loop has no lookups and vectorises); each
 * block's end is found by testing the same u >= b + 1 the definition uses.
 */
static void
fading_envelope(const double *amp, double bps, double phase, double *gain, int n_iq)
{
	int			m = 0;

	while (m < n_iq)
	{
		int			b = (int) (m * bps + phase);
		int			end = n_iq;
		double		a0 = amp[b],
					slope = amp[b + 1] - amp[b];
		int			k;

		if (bps > 0.0)
		{
			double		guess = ((b + 1) - phase) / bps;

			end = guess < n_iq ? (int) guess : n_iq;
			if (end <= m)
				end = m + 1;
			while (end > m + 1 && end - 1 < n_iq && (end - 1) * bps + phase >= b + 1)
				end--;
			while (end < n_iq && end * bps + phase < b + 1)
				end++;
		}
		for (k = m; k < end; k++)
		{
			double		u = k * bps + phase;

			gain[k] = a0 + (u - b) * slope;
		}
		m = end;
	}
}

/*
 * y <- y * gain * exp(j 2 pi omega m) in place, returning sum |y|^2.  The
 * phasor of sample m = 256 j + i is anchor[j] * table[i], both from
 * hg_sincos_turns (exact reduction of omega m), so no error accumulates.
 * The power is summed in 4 lanes (lane m % 4) added at the end in a fixed
 * order, so the loop vectorises and every build sums the same way.
 */
HG_AVX2_CLONES
static double
rotate_and_measure(float *y_re, float *y_im, const double *gain, double omega, int n_iq)
{
	double		tab_re[OSC_BLOCK],
				tab_im[OSC_BLOCK];
	double		acc[4] = {0.0, 0.0, 0.0, 0.0};
	int			i,
				n;

	for (i = 0; i < OSC_BLOCK; i++)
		hg_sincos_turns_inline(omega * i, &tab_im[i], &tab_re[i]);
	for (n = 0; n < n_iq; n += OSC_BLOCK)
	{
		int			len = n_iq - n < OSC_BLOCK ? n_iq - n : OSC_BLOCK;
		double		ar,
					ai;
		float	   *yr = y_re + n,
				   *yi = y_im + n;
		const double *g = gain + n;

		hg_sincos_turns(omega * n, &ai, &ar);
		for (i = 0; i < len; i++)
		{
			double		pr = ar * tab_re[i] - ai * tab_im[i];
			double		pi = ar * tab_im[i] + ai * tab_re[i];
			double		xr = yr[i] * g[i],
						xi = yi[i] * g[i];
			double		zr = xr * pr - xi * pi;
			double		zi = xr * pi + xi * pr;

			yr[i] = (float) zr;
			yi[i] = (float) zi;
		}
		/* n is a multiple of 4, so lane i % 4 of this block is lane m % 4 */
		for (i = 0; i + 4 <= len; i += 4)
		{
			int			j;

			for (j = 0; j < 4; j++)
			{
				double		zr = yr[i + j],
							zi = yi[i + j];

				acc[j] += zr * zr + zi * zi;
			}
		}
		for (; i < len; i++)
			acc[i % 4] += (double) yr[i] * yr[i] + (double) yi[i] * yi[i];
	}
	return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

void
hg_channel_draw_labels(const hg_config *cfg, hg_rng *channel_rng,
					   double *freq_offset_hz, int *n_echoes)
{
	*freq_offset_hz = hg_rng_range(channel_rng, -cfg->freq_error_max_hz, cfg->freq_error_max_hz);
	*n_echoes = cfg->multipath ? hg_rng_int(channel_rng, cfg->echoes_min, cfg->echoes_max) : 0;
	if (*n_echoes > HG_MAX_ECHOES)
		*n_echoes = HG_MAX_ECHOES;
}

void
hg_channel_apply(const hg_config *cfg, hg_channel_buffers *buf,
				 hg_rng *channel_rng, hg_rng *noise_rng,
				 const float *tx_re, const float *tx_im, int pre_roll,
				 double delay_s, double carrier_phase_turns, double rx_power_dbm,
				 int n_iq, float *iq, double *freq_offset_hz, int *n_echoes)
{
	const double fs = cfg->sample_rate_hz;
	double		delay = delay_s * fs;
	int			whole = (int) floor(delay);
	double		frac = delay - whole;
	double		f_off,
				omega,
				power = 0.0,
				scale;
	double		fading_amp[HG_MAX_FADING_BLOCKS];
	double		blocks_per_sample,
				block_phase;
	double		carrier_re = 1.0,
				carrier_im = 0.0;
	int			n_blocks,
				e,
				n;

	/* version 2 had no carrier phase: its paths keep the coefficients it gave them */
	if (cfg->model_version >= 3)
		hg_sincos_turns(carrier_phase_turns, &carrier_im, &carrier_re);

	/* 1. draws, in a fixed order */
	hg_channel_draw_labels(cfg, channel_rng, &f_off, n_echoes);
	memset(buf->taps_re, 0, sizeof(float) * (size_t) buf->n_taps);
	memset(buf->taps_im, 0, sizeof(float) * (size_t) buf->n_taps);
	hg_add_fractional_delay(buf->taps_re, buf->taps_im, buf->n_taps, HG_FD_HALF, frac, carrier_re, carrier_im);
	for (e = 0; e < *n_echoes; e++)
	{
		double		extra = hg_rng_range(channel_rng, cfg->echo_delay_min_us, cfg->echo_delay_max_us) * 1e-6 * fs;
		double		gain = hg_exp10(hg_rng_range(channel_rng, cfg->echo_atten_min_db, cfg->echo_atten_max_db) / 20.0);
		double		phase = hg_rng_uniform(channel_rng);	/* in turns */
		double		s,
					c;

		hg_sincos_turns(phase, &s, &c);
		if (cfg->model_version >= 3)
		{
			/* the echo's own phase, then the carrier's, as for the direct path */
			double		turned_c = c * carrier_re - s * carrier_im;
			double		turned_s = c * carrier_im + s * carrier_re;

			c = turned_c;
			s = turned_s;
		}
		hg_add_fractional_delay(buf->taps_re, buf->taps_im, buf->n_taps, HG_FD_HALF,
								frac + extra, gain * c, gain * s);
	}

	/* block fading: amplitudes at block centres, linear between them */
	if (cfg->block_fading)
	{
		double		tc = hg_rng_range(channel_rng, cfg->coherence_min_ms, cfg->coherence_max_ms) / 1000.0;
		double		k_db = hg_rng_range(channel_rng, cfg->rician_k_min_db, cfg->rician_k_max_db);
		int			b;

		blocks_per_sample = 1.0 / (tc * fs);
		block_phase = hg_rng_uniform(channel_rng);
		n_blocks = (int) ceil(n_iq * blocks_per_sample + block_phase) + 2;
		if (n_blocks > HG_MAX_FADING_BLOCKS)
		{
			/*
			 * longer recordings than 61 coherence times: stretch the blocks.
			 * New params cannot ask for it (hg_config_channel_fits_recording);
			 * kept so that a dataset made before that check regenerates.
			 */
			blocks_per_sample = ((double) (HG_MAX_FADING_BLOCKS - 2) - block_phase) / n_iq;
			n_blocks = HG_MAX_FADING_BLOCKS;
		}
		for (b = 0; b < n_blocks; b++)
			fading_amp[b] = sqrt(hg_rng_rician_power(channel_rng, hg_exp10(k_db / 10.0)));
	}
	else
	{
		blocks_per_sample = 0.0;
		block_phase = 0.0;
		fading_amp[0] = fading_amp[1] = 1.0;
	}

	/* 2. delay and multipath: source sample of output n is pre_roll - whole + n */
	hg_fir_complex(tx_re + pre_roll - whole, tx_im + pre_roll - whole, HG_FD_HALF - 1,
				   buf->taps_re, buf->taps_im, buf->n_taps, buf->y_re, buf->y_im, n_iq);

	/* 3. fading and frequency error; measure the power */
	fading_envelope(fading_amp, blocks_per_sample, block_phase, buf->gain, n_iq);
	omega = f_off / fs;			/* turns per sample */
	power = rotate_and_measure(buf->y_re, buf->y_im, buf->gain, omega, n_iq) / n_iq;

	/* 4. scale to P_rx, add noise at the floor */
	scale = power > 0 ? sqrt(hg_exp10(rx_power_dbm / 10.0) / power) : 0.0;
	if (cfg->noise)
		hg_rng_fill_normal(noise_rng, buf->ziggurat,
						   (float) sqrt(hg_exp10(cfg->noise_floor_dbm / 10.0) / 2.0),
						   buf->noise, 2 * n_iq);
	else
		memset(buf->noise, 0, sizeof(float) * 2 * (size_t) n_iq);
	{
		const float s = (float) scale;

		float	   *out = iq;
		const float *noise = buf->noise;

		for (n = 0; n < n_iq; n++, out += 2, noise += 2)
		{
			out[0] = s * buf->y_re[n] + noise[0];
			out[1] = s * buf->y_im[n] + noise[1];
		}
	}
	*freq_offset_hz = f_off;
}
