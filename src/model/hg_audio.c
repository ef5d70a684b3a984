/*
 * hg_audio.c
 *    Voice-like, tone and DTMF audio for FM and AM (see hg_audio.h).
 */
#include "hg_audio.h"

#include "hg_math.h"

#include <math.h>
#include <string.h>

static const double dtmf_rows[4] = {697, 770, 852, 941};
static const double dtmf_cols[4] = {1209, 1336, 1477, 1633};

/* Coefficients of a two-pole resonator at f with bandwidth bw, unit gain at its peak. */
static void
resonator(double f, double bw, double fs, double *g, double *a1, double *a2)
{
	double		r = hg_exp(-HG_PI * bw / fs);
	double		s,
				c;

	hg_sincos_turns(f / fs, &s, &c);
	*a1 = 2.0 * r * c;
	*a2 = -r * r;
	*g = 1.0 - r;
}

/*
 * out[n] = the sum of three resonators driven by in[n], in one loop: each
 * is a serial recursion, so running the three side by side lets their
 * latencies overlap.  Each output adds the three in a fixed order.
 */
static void
resonate3(const double *in, double *out, int len, const double f[3], const double bw[3], double fs)
{
	double		g[3],
				a1[3],
				a2[3],
				y1[3] = {0, 0, 0},
				y2[3] = {0, 0, 0};
	int			n,
				k;

	for (k = 0; k < 3; k++)
		resonator(f[k], bw[k], fs, &g[k], &a1[k], &a2[k]);
	for (n = 0; n < len; n++)
	{
		double		acc = 0.0;

		for (k = 0; k < 3; k++)
		{
			double		y = g[k] * in[n] + a1[k] * y1[k] + a2[k] * y2[k];

			acc += y;
			y2[k] = y1[k];
			y1[k] = y;
		}
		out[n] = acc;
	}
}

/*
 * Voice: a glottal pulse train (pitch 90..220 Hz with slow vibrato) through
 * three formant resonators (F1 500-800, F2 1000-2000, F3 2500-3000 Hz),
 * shaped by syllables of 120-300 ms separated by pauses of 40-200 ms, then
 * pre-emphasis y[n] = x[n] - 0.95 x[n-1] as an FM transmitter applies.
 */
static void
voice(hg_rng *rng, double fs, double *audio, double *pulses, int len)
{
	double		f0 = hg_rng_range(rng, 90, 220);
	double		vibrato_hz = hg_rng_range(rng, 3, 6);
	double		f1 = hg_rng_range(rng, 500, 800);
	double		f2 = hg_rng_range(rng, 1000, 2000);
	double		f3 = hg_rng_range(rng, 2500, 3000);
	double		phase = hg_rng_uniform(rng);
	double		prev = 0.0;
	double		t_syllable_end;
	double		t_next_start;
	int			n;

	/* the window may open mid-syllable or in a pause */
	t_syllable_end = hg_rng_range(rng, -0.1, 0.25);
	t_next_start = t_syllable_end + hg_rng_range(rng, 0.04, 0.2);

	/* the vibrato's sine first, in a loop the compiler vectorises (audio is free yet) */
	for (n = 0; n < len; n++)
	{
		double		s,
					c;

		hg_sincos_turns_inline(vibrato_hz * (n / fs), &s, &c);
		audio[n] = s;
	}
	for (n = 0; n < len; n++)
	{
		double		pitch = f0 * (1.0 + 0.03 * audio[n]);

		phase += pitch / fs;
		pulses[n] = 0.0;
		if (phase >= 1.0)
		{
			phase -= 1.0;
			pulses[n] = 1.0;
		}
	}
	{
		const double formant[3] = {f1, f2, f3};
		const double bandwidth[3] = {80, 120, 200};

		resonate3(pulses, audio, len, formant, bandwidth, fs);
	}

	/* syllable envelope: raised-cosine 20 ms edges, silence between */
	{
		double		syl_start = t_syllable_end - hg_rng_range(rng, 0.12, 0.3);

		for (n = 0; n < len; n++)
		{
			double		t = n / fs;
			double		env;

			while (t >= t_next_start)
			{
				syl_start = t_next_start;
				t_syllable_end = syl_start + hg_rng_range(rng, 0.12, 0.3);
				t_next_start = t_syllable_end + hg_rng_range(rng, 0.04, 0.2);
			}
			if (t < syl_start || t > t_syllable_end)
				env = 0.02;		/* breath and room noise floor of a pause */
			else
			{
				double		edge = fmin(t - syl_start, t_syllable_end - t);

				env = 1.0;
				if (edge < 0.02)
				{
					double		s,
								c;

					hg_sincos_turns(edge / 0.04, &s, &c);	/* cos(pi edge / 20 ms) */
					env = fmax(0.5 - 0.5 * c, 0.02);
				}
			}
			audio[n] *= env;
		}
	}
	for (n = 0; n < len; n++)
	{
		double		x = audio[n];

		audio[n] = x - 0.95 * prev;
		prev = x;
	}
}

void
hg_audio_generate(hg_content content, hg_rng *rng, double fs,
				  double *audio, double *scratch, int len,
				  double *f1, double *f2)
{
	double		peak = 0.0;
	int			n;

	*f1 = 0.0;
	*f2 = 0.0;
	if (content == HG_CONTENT_TONE)
	{
		double		phase0 = hg_rng_uniform(rng);	/* in turns */
		double		s,
					c;

		*f1 = hg_rng_range(rng, 800, 1200);
		for (n = 0; n < len; n++)
		{
			hg_sincos_turns_inline(*f1 * n / fs + phase0, &s, &c);
			audio[n] = s;
		}
	}
	else if (content == HG_CONTENT_DTMF)
	{
		double		p1 = hg_rng_uniform(rng);	/* in turns */
		double		p2 = hg_rng_uniform(rng);
		double		s1,
					s2,
					c;

		*f1 = dtmf_rows[hg_rng_int(rng, 0, 3)];
		*f2 = dtmf_cols[hg_rng_int(rng, 0, 3)];
		for (n = 0; n < len; n++)
		{
			hg_sincos_turns_inline(*f1 * n / fs + p1, &s1, &c);
			hg_sincos_turns_inline(*f2 * n / fs + p2, &s2, &c);
			audio[n] = s1 + s2;
		}
	}
	else
		voice(rng, fs, audio, scratch, len);

	for (n = 0; n < len; n++)
	{
		double		a = audio[n] < 0 ? -audio[n] : audio[n];

		peak = a > peak ? a : peak;	/* max is exact: not libm's fmax, a call */
	}
	if (peak > 0.0)
		for (n = 0; n < len; n++)
			audio[n] /= peak;
}
