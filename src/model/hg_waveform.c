/*
 * hg_waveform.c
 *    Modulators and the transmitter channel filter (see hg_waveform.h).
 */
#include "hg_waveform.h"

#include "hg_audio.h"
#include "hg_block.h"
#include "hg_dsp.h"
#include "hg_math.h"
#include "hg_simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AUDIO_TAPS 63			/* 3 kHz audio low-pass */
#define AUDIO_HALF (AUDIO_TAPS / 2)
#define AUDIO_CHUNK 512			/* outputs per pass of the audio filter: in L1 */
#define TX_TAPS 41				/* transmitter channel filter */
#define RRC_SPAN 6				/* pulse truncated at +-6 symbols */
#define RRC_TABLE_RES 256		/* table points per symbol */

struct hg_waveform
{
	int			max_len;
	double	   *audio;			/* max_len */
	double	   *scratch;		/* max_len */
	double	   *audio_pad;		/* max_len + AUDIO_TAPS: audio with zeros either side */
	float	   *tmp_re;			/* max_len: before the channel filter */
	float	   *tmp_im;
	float		audio_taps[AUDIO_TAPS];
	float		tx_taps[TX_TAPS];
	float		tx_taps_im[TX_TAPS];	/* zeros: the filter is real */
	float	   *rrc;			/* RRC_TABLE_RES * 2 * RRC_SPAN + 1 points */
	int			symbols_cap;
	signed char *symbols_i;		/* one symbol per period, +-1 */
	signed char *symbols_q;
	void	   *block;			/* the buffers above, in one allocation (hg_block.h) */
	size_t		block_size;
};

double
hg_rrc_pulse(double t, double rolloff)
{
	double		b = rolloff;
	double		at = fabs(t);

	double		s1,
				c1,
				s2,
				c2;

	/* the angles pi t (1 -+ b) and pi / 4b, in turns */
	if (at < 1e-9)
		return 1.0 - b + 4.0 * b / HG_PI;
	if (b > 0 && fabs(at - 1.0 / (4.0 * b)) < 1e-9)
	{
		hg_sincos_turns(1.0 / (8.0 * b), &s1, &c1);
		return b / sqrt(2.0) * ((1 + 2 / HG_PI) * s1 + (1 - 2 / HG_PI) * c1);
	}
	hg_sincos_turns(0.5 * t * (1 - b), &s1, &c1);
	hg_sincos_turns(0.5 * t * (1 + b), &s2, &c2);
	return (s1 + 4 * b * t * c2) / (HG_PI * t * (1 - (4 * b * t) * (4 * b * t)));
}

hg_waveform *
hg_waveform_create(const hg_config *cfg, int max_len)
{
	hg_waveform *w = calloc(1, sizeof(hg_waveform));
	int			k,
				n_rrc = RRC_TABLE_RES * 2 * RRC_SPAN + 1;

	if (!w)
		return NULL;
	w->max_len = max_len;
	/*
	 * At most one symbol per sample: every configuration that draws FSK or
	 * PSK has symbol_rate_hz below sample_rate_hz; one that draws neither
	 * may have any symbol rate (up to 62.5 per sample), never used.
	 */
	w->symbols_cap = (int) ceil(max_len * fmin(cfg->symbol_rate_hz, cfg->sample_rate_hz) / cfg->sample_rate_hz) +
		2 * RRC_SPAN + 4;
	{
		const hg_slice slices[] = {
			{(void **) &w->audio, sizeof(double) * (size_t) max_len, 0},
			{(void **) &w->scratch, sizeof(double) * (size_t) max_len, 0},
			/* zeroed: the pad's either side is never written */
			{(void **) &w->audio_pad, sizeof(double) * ((size_t) max_len + AUDIO_TAPS), 1},
			{(void **) &w->tmp_re, sizeof(float) * (size_t) (max_len + TX_TAPS), 0},
			{(void **) &w->tmp_im, sizeof(float) * (size_t) (max_len + TX_TAPS), 0},
			{(void **) &w->rrc, sizeof(float) * (size_t) n_rrc, 0},
			{(void **) &w->symbols_i, (size_t) w->symbols_cap, 0},
			{(void **) &w->symbols_q, (size_t) w->symbols_cap, 0},
		};

		w->block = hg_block_carve(slices, (int) (sizeof(slices) / sizeof(slices[0])), &w->block_size);
	}
	if (!w->block)
	{
		hg_waveform_destroy(w);
		return NULL;
	}
	hg_design_lowpass(w->audio_taps, AUDIO_TAPS, 3000.0 / cfg->sample_rate_hz);
	/* the filter's -6 dB point sits at the channel edge */
	hg_design_lowpass(w->tx_taps, TX_TAPS, 0.5 * cfg->channel_bw_hz / cfg->sample_rate_hz);
	for (k = 0; k < TX_TAPS; k++)
		w->tx_taps_im[k] = 0.0f;
	for (k = 0; k < n_rrc; k++)
		w->rrc[k] = (float) hg_rrc_pulse((double) (k - RRC_TABLE_RES * RRC_SPAN) / RRC_TABLE_RES, cfg->rrc_rolloff);
	return w;
}

size_t
hg_waveform_bytes(const hg_waveform *w)
{
	return sizeof(hg_waveform) + w->block_size;
}

void
hg_waveform_destroy(hg_waveform *w)
{
	if (!w)
		return;
	hg_block_free(w->block, w->block_size);
	free(w);
}

void
hg_waveform_choose(const hg_config *cfg, hg_rng *rng, hg_modulation *mod, hg_content *content)
{
	const double mod_w[HG_MOD_COUNT] = {cfg->weight_fm, cfg->weight_am, cfg->weight_cw,
	cfg->weight_fsk, cfg->weight_bpsk, cfg->weight_qpsk};
	const double content_w[3] = {cfg->weight_voice, cfg->weight_tone, cfg->weight_dtmf};
	int			m = hg_rng_choose(rng, mod_w, HG_MOD_COUNT);
	int			c = hg_rng_choose(rng, content_w, 3);	/* drawn always: a fixed stream layout */

	*mod = (hg_modulation) (m < 0 ? HG_MOD_FM : m);
	*content = (*mod == HG_MOD_FM || *mod == HG_MOD_AM) ? (hg_content) (c < 0 ? 0 : c) : HG_CONTENT_DATA;
}

/*
 * y[n] = sum_k h[k] x[n + HALF - k], x zero outside [0, len), folding the
 * symmetric taps: y[n] = sum_{k < HALF} h[k] (x[n + HALF - k] + x[n - HALF + k])
 * + h[HALF] x[n], summed in that order from 0.0.  x is read from a
 * zero-padded copy (pad[HALF + i] = x[i]) so no tap needs a bounds test;
 * tap-outer over chunks of outputs that stay in L1, so each pass is a
 * contiguous multiply-add the compiler vectorises (an AVX2 clone too).
 */
HG_AVX2_CLONES
static void
audio_lowpass(const double *pad, const float *taps, double *y, int len)
{
	int			start;

	for (start = 0; start < len; start += AUDIO_CHUNK)
	{
		int			n_out = len - start < AUDIO_CHUNK ? len - start : AUDIO_CHUNK;
		double	   *yc = y + start;
		const double *p = pad + start;
		int			k,
					n;

		for (n = 0; n < n_out; n++)
			yc[n] = 0.0;
		for (k = 0; k < AUDIO_HALF; k++)
		{
			const double h = taps[k];

			for (n = 0; n < n_out; n++)
				yc[n] += h * (p[n + 2 * AUDIO_HALF - k] + p[n + k]);
		}
		for (n = 0; n < n_out; n++)
			yc[n] += (double) taps[AUDIO_HALF] * p[n + AUDIO_HALF];
	}
}

/* Largest |x[n]|, by plain comparisons (max is exact, so any order gives the same). */
static double
peak_of(const double *x, int len)
{
	double		peak = 0.0;
	int			n;

	for (n = 0; n < len; n++)
	{
		double		a = x[n] < 0 ? -x[n] : x[n];

		peak = a > peak ? a : peak;
	}
	return peak;
}

/* Analog audio through the 3 kHz audio filter, peak renormalised to 1. */
static void
analog_audio(hg_waveform *w, const hg_config *cfg, hg_content content, hg_rng *rng, int len,
			 double *f1, double *f2)
{
	double		peak;
	int			n;

	hg_audio_generate(content, rng, cfg->sample_rate_hz, w->audio, w->scratch, len, f1, f2);
	if (content != HG_CONTENT_VOICE)
		return;					/* tones are already inside the audio band */
	/* the pad's zeros either side are never written: only its middle */
	memcpy(w->audio_pad + AUDIO_HALF, w->audio, sizeof(double) * (size_t) len);
	for (n = len; n < w->max_len; n++)
		w->audio_pad[AUDIO_HALF + n] = 0.0;
	audio_lowpass(w->audio_pad, w->audio_taps, w->scratch, len);
	peak = peak_of(w->scratch, len);
	for (n = 0; n < len; n++)
		w->audio[n] = peak > 0 ? w->scratch[n] / peak : 0.0;
}

/*
 * Constant-envelope phase modulation shared by FM and FSK: the phase
 * advances by step * x[n] turns per sample (x in [-1, 1] is the audio or
 * the symbol), kept in [-1/2, 1/2] turn.  The phases are accumulated first
 * (a serial sum) into phase[], then turned into cos / sin in a loop the
 * compiler vectorises (an AVX2 clone too: same operations, same bits).
 */
HG_AVX2_CLONES
static void
phase_modulate(const double *x, double *phase, int len, double step, float *re, float *im)
{
	double		p = 0.0;
	int			n;

	for (n = 0; n < len; n++)
	{
		p += step * x[n];
		if (p > 0.5)
			p -= 1.0;
		else if (p < -0.5)
			p += 1.0;
		phase[n] = p;
	}
	for (n = 0; n < len; n++)
	{
		double		s,
					c;

		hg_sincos_turns_inline(phase[n], &s, &c);
		re[n] = (float) c;
		im[n] = (float) s;
	}
}

static void
modulate_fm(hg_waveform *w, const hg_config *cfg, int len, float *re, float *im)
{
	phase_modulate(w->audio, w->scratch, len, cfg->fm_deviation_hz / cfg->sample_rate_hz, re, im);
}

static void
modulate_am(hg_waveform *w, const hg_config *cfg, int len, float *re, float *im)
{
	int			n;

	for (n = 0; n < len; n++)
	{
		re[n] = (float) (1.0 + cfg->am_index * w->audio[n]);
		im[n] = 0.0f;
	}
}

/*
 * CW: Morse-like keying at cw_wpm (a dot lasts 1.2 / wpm s): marks of 1 or
 * 3 units, spaces of 1 or 3 units, with 5 ms raised-cosine edges so the
 * keying makes no clicks outside the channel.
 */
static void
modulate_cw(const hg_config *cfg, hg_rng *rng, int len, float *re, float *im)
{
	double		unit = 1.2 / cfg->cw_wpm;
	double		edge = 0.005;
	double		t_on = -hg_rng_range(rng, 0, 3 * unit);	/* the window opens mid-mark */
	double		t_off = t_on + 3 * unit;
	double		t_next = t_off + unit;
	int			n;

	for (n = 0; n < len; n++)
	{
		double		t = n / cfg->sample_rate_hz;
		double		a;

		while (t >= t_next)
		{
			t_on = t_next;
			t_off = t_on + (hg_rng_uniform(rng) < 0.5 ? 1 : 3) * unit;
			t_next = t_off + (hg_rng_uniform(rng) < 0.7 ? 1 : 3) * unit;
		}
		if (t < t_on || t > t_off)
			a = 0.0;
		else
		{
			double		d = fmin(t - t_on, t_off - t);

			double		s,
						c;

			hg_sincos_turns(0.5 * d / edge, &s, &c);	/* cos(pi d / edge) */
			a = d >= edge ? 1.0 : 0.5 - 0.5 * c;
		}
		re[n] = (float) a;
		im[n] = 0.0f;
	}
}

/* Random +-1 symbols covering the buffer plus the pulse span on both sides. */
static int
draw_symbols(hg_waveform *w, hg_rng *rng, int n_symbols, int two_streams)
{
	int			k;
	uint32_t	bits = 0;

	if (n_symbols > w->symbols_cap)
		n_symbols = w->symbols_cap;
	for (k = 0; k < n_symbols; k++)
	{
		if (k % 16 == 0)
			bits = hg_rng_u32(rng);
		w->symbols_i[k] = (bits & 1u) ? 1 : -1;
		w->symbols_q[k] = two_streams ? ((bits & 2u) ? 1 : -1) : 0;
		bits >>= 2;
	}
	return n_symbols;
}

/* Continuous-phase 2-FSK: tones at +-fsk_shift_hz/2, one symbol per period. */
static void
modulate_fsk(hg_waveform *w, const hg_config *cfg, hg_rng *rng, int len, float *re, float *im)
{
	double		sps = cfg->sample_rate_hz / cfg->symbol_rate_hz;
	double		offset = hg_rng_uniform(rng);	/* symbol clock phase */
	int			n_sym = draw_symbols(w, rng, (int) ceil(len / sps) + 2, 0);
	int			n;

	/* the symbol in force at each sample, as a +-1 frequency */
	for (n = 0; n < len; n++)
	{
		int			k = (int) floor(n / sps + offset);

		w->audio[n] = w->symbols_i[k < n_sym ? k : n_sym - 1];
	}
	phase_modulate(w->audio, w->scratch, len, 0.5 * cfg->fsk_shift_hz / cfg->sample_rate_hz, re, im);
}

/*
 * BPSK / QPSK: s(t) = sum_k d_k p(t/T - k + offset) with a root-raised-
 * cosine p, read from a table at 1/256 symbol resolution with linear
 * interpolation, so samples per symbol need not be an integer.
 */
static void
modulate_psk(hg_waveform *w, const hg_config *cfg, hg_rng *rng, int qpsk, int len, float *re, float *im)
{
	double		sps = cfg->sample_rate_hz / cfg->symbol_rate_hz;
	double		offset = hg_rng_uniform(rng);
	int			n_sym = draw_symbols(w, rng, (int) ceil(len / sps) + 2 * RRC_SPAN + 2, qpsk);
	double		amp = qpsk ? M_SQRT1_2 : 1.0;
	int			n,
				k;

	for (n = 0; n < len; n++)
	{
		/* symbol index relative to the first one, which sits RRC_SPAN before sample 0 */
		double		ts = n / sps + offset + RRC_SPAN;
		int			k0 = (int) floor(ts) - RRC_SPAN;
		double		acc_i = 0.0,
					acc_q = 0.0;

		for (k = k0; k <= k0 + 2 * RRC_SPAN + 1; k++)
		{
			double		pos;
			int			idx;
			double		frac,
						p;

			if (k < 0 || k >= n_sym)
				continue;
			pos = (ts - k + RRC_SPAN) * RRC_TABLE_RES;
			idx = (int) floor(pos);
			if (idx < 0 || idx >= RRC_TABLE_RES * 2 * RRC_SPAN)
				continue;
			frac = pos - idx;
			p = w->rrc[idx] + frac * (w->rrc[idx + 1] - w->rrc[idx]);
			acc_i += p * w->symbols_i[k];
			acc_q += p * w->symbols_q[k];
		}
		re[n] = (float) (amp * acc_i);
		im[n] = (float) (amp * acc_q);
	}
}

void
hg_waveform_synthesize(hg_waveform *w, const hg_config *cfg, hg_modulation mod,
					   hg_content content, hg_rng *rng, float *re, float *im, int len,
					   double *f1, double *f2)
{
	const int	half = TX_TAPS / 2;
	double		power = 0.0;
	float		scale;
	int			n;

	*f1 = 0.0;
	*f2 = 0.0;
	if (len > w->max_len)
		len = w->max_len;
	/* the raw signal, with half a filter of lead-in on either side */
	switch (mod)
	{
		case HG_MOD_AM:
			analog_audio(w, cfg, content, rng, len, f1, f2);
			modulate_am(w, cfg, len, w->tmp_re, w->tmp_im);
			break;
		case HG_MOD_CW:
			modulate_cw(cfg, rng, len, w->tmp_re, w->tmp_im);
			break;
		case HG_MOD_FSK:
			modulate_fsk(w, cfg, rng, len, w->tmp_re, w->tmp_im);
			break;
		case HG_MOD_BPSK:
		case HG_MOD_QPSK:
			modulate_psk(w, cfg, rng, mod == HG_MOD_QPSK, len, w->tmp_re, w->tmp_im);
			break;
		case HG_MOD_FM:
		default:
			analog_audio(w, cfg, content, rng, len, f1, f2);
			modulate_fm(w, cfg, len, w->tmp_re, w->tmp_im);
			break;
	}
	/*
	 * The transmitter's channel filter, for every modulation but FM: FM keeps
	 * its constant envelope and exact deviation, its bandwidth being bounded
	 * by the 3 kHz audio filter and the deviation (Carson's rule) instead.
	 * Edges see zeros beyond the buffer.
	 */
	for (n = 0; n < len && mod == HG_MOD_FM; n++)
	{
		re[n] = w->tmp_re[n];
		im[n] = w->tmp_im[n];
		power += (double) re[n] * re[n] + (double) im[n] * im[n];
	}
	for (n = 0; n < len && mod != HG_MOD_FM; n++)
	{
		double		ar = 0.0,
					ai = 0.0;
		int			k;

		for (k = 0; k < TX_TAPS; k++)
		{
			int			m = n + half - k;

			if (m >= 0 && m < len)
			{
				ar += w->tx_taps[k] * w->tmp_re[m];
				ai += w->tx_taps[k] * w->tmp_im[m];
			}
		}
		re[n] = (float) ar;
		im[n] = (float) ai;
		power += ar * ar + ai * ai;
	}
	power /= len;
	scale = power > 0 ? (float) (1.0 / sqrt(power)) : 1.0f;
	for (n = 0; n < len; n++)
	{
		re[n] *= scale;
		im[n] *= scale;
	}
}
