/*
 * hg_channel.c
 *    Delay, multipath, fading, frequency error, scaling and noise of one
 *    reception (see hg_channel.h).
 */
#include "hg_channel.h"

#include "hg_dsp.h"
#include "hg_math.h"
#include "hg_noise.h"

#include <math.h>
#include <string.h>

#define ANCHOR_EVERY 256		/* re-anchor the rotating phasor with exact sincos */
#define MAX_FADING_BLOCKS 4096

int
hg_channel_taps(const hg_config *cfg)
{
	int			extra = (int) ceil(cfg->echo_delay_max_us * 1e-6 * cfg->sample_rate_hz);

	return 2 * HG_FD_HALF + 2 + extra;
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
				 double delay_s, double rx_power_dbm, int n_iq, float *iq,
				 double *freq_offset_hz, int *n_echoes)
{
	const double fs = cfg->sample_rate_hz;
	double		delay = delay_s * fs;
	int			whole = (int) floor(delay);
	double		frac = delay - whole;
	double		f_off,
				omega,
				power = 0.0,
				scale;
	double		fading_amp[64];
	double		blocks_per_sample,
				block_phase;
	int			n_blocks,
				e,
				n;

	/* 1. draws, in a fixed order */
	hg_channel_draw_labels(cfg, channel_rng, &f_off, n_echoes);
	memset(buf->taps_re, 0, sizeof(float) * (size_t) buf->n_taps);
	memset(buf->taps_im, 0, sizeof(float) * (size_t) buf->n_taps);
	hg_add_fractional_delay(buf->taps_re, buf->taps_im, buf->n_taps, HG_FD_HALF, frac, 1.0, 0.0);
	for (e = 0; e < *n_echoes; e++)
	{
		double		extra = hg_rng_range(channel_rng, cfg->echo_delay_min_us, cfg->echo_delay_max_us) * 1e-6 * fs;
		double		gain = hg_exp10(hg_rng_range(channel_rng, cfg->echo_atten_min_db, cfg->echo_atten_max_db) / 20.0);
		double		phase = hg_rng_uniform(channel_rng);	/* in turns */
		double		s,
					c;

		hg_sincos_turns(phase, &s, &c);
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
		if (n_blocks > 64)
		{
			/* longer recordings than 64 coherence times: stretch the blocks */
			blocks_per_sample = (62.0 - block_phase) / n_iq;
			n_blocks = 64;
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
	omega = f_off / fs;			/* turns per sample */
	for (n = 0; n < n_iq; n += ANCHOR_EVERY)
	{
		int			end = n + ANCHOR_EVERY < n_iq ? n + ANCHOR_EVERY : n_iq;
		double		pr,
					pi,
					rr,
					ri;
		int			m;

		hg_sincos_turns(omega * n, &pi, &pr);
		hg_sincos_turns(omega, &ri, &rr);

		for (m = n; m < end; m++)
		{
			double		u = m * blocks_per_sample + block_phase;
			int			b = (int) u;
			double		g = fading_amp[b] + (u - b) * (fading_amp[b + 1] - fading_amp[b]);
			double		yr = buf->y_re[m] * g,
						yi = buf->y_im[m] * g;
			double		zr = yr * pr - yi * pi;
			double		zi = yr * pi + yi * pr;
			double		t = pr * rr - pi * ri;

			pi = pr * ri + pi * rr;
			pr = t;
			buf->y_re[m] = (float) zr;
			buf->y_im[m] = (float) zi;
			power += zr * zr + zi * zi;
		}
	}
	power /= n_iq;

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
