/*
 * test_waveform.c
 *    Unit tests of the transmitted waveform: FM peak deviation, occupied
 *    bandwidth of every modulation, each modulation recognisable from its IQ
 *    by a simple test, tone and DTMF lines, mean power, determinism, and the
 *    choice of modulation following the weights.
 */
#include "hg_dsp.h"
#include "hg_test.h"
#include "hg_test_dsp.h"
#include "hg_waveform.h"

#define LEN 10240

static float re[LEN],
			im[LEN];

static void
synth(hg_config *c, hg_modulation mod, hg_content content, uint64_t i, double *f1, double *f2)
{
	hg_waveform *w = hg_waveform_create(c, LEN);
	hg_rng		r;

	hg_rng_init(&r, 1234, i, HG_RX_SHARED, HG_STREAM_WAVEFORM);
	hg_waveform_synthesize(w, c, mod, content, &r, re, im, LEN, f1, f2);
	hg_waveform_destroy(w);
}

static double
envelope(int n)
{
	return sqrt((double) re[n] * re[n] + (double) im[n] * im[n]);
}

static void
test_fm_deviation_and_bandwidth(void)
{
	hg_config	c;
	hg_content	contents[3] = {HG_CONTENT_VOICE, HG_CONTENT_TONE, HG_CONTENT_DTMF};
	int			k,
				n;

	hg_config_init(&c);
	for (k = 0; k < 3; k++)
	{
		uint64_t	i;

		for (i = 0; i < 4; i++)
		{
			double		f1,
						f2,
						peak = 0;

			synth(&c, HG_MOD_FM, contents[k], i, &f1, &f2);
			/* away from the buffer's ends, where the channel filter starts up */
			for (n = 100; n < LEN - 100; n++)
				peak = fmax(peak, fabs(discriminator(re, im, 1, n, c.sample_rate_hz)));
			HG_CHECK_NEAR(peak, 5000.0, 250.0, hg_content_name(contents[k]));
			/*
			 * Voice (90 % of FM samples) stays inside the 12.5 kHz channel.  A
			 * full-deviation tone cannot (Bessel lines: 99 % of an FM tone's
			 * power lies within +-(deviation + 2 f_tone)), so tones are held to
			 * that physical bound instead of the channel.
			 */
			{
				double		half_band = contents[k] == HG_CONTENT_VOICE ? 6250.0
					: c.fm_deviation_hz + 2.0 * fmax(f1, f2);

				HG_CHECK(fraction_in_band(re, im, 1, c.sample_rate_hz, half_band) >= 0.99,
						 "FM %s: %.4f of the power inside +-%.0f Hz", hg_content_name(contents[k]),
						 fraction_in_band(re, im, 1, c.sample_rate_hz, half_band), half_band);
			}
		}
	}
}

static void
test_every_modulation_in_channel_with_unit_power(void)
{
	hg_config	c;
	int			m;

	hg_config_init(&c);
	for (m = 0; m < HG_MOD_COUNT; m++)
	{
		double		f1,
					f2;
		hg_content	content = (m == HG_MOD_FM || m == HG_MOD_AM) ? HG_CONTENT_VOICE : HG_CONTENT_DATA;

		synth(&c, (hg_modulation) m, content, 7, &f1, &f2);
		HG_CHECK(fraction_in_band(re, im, 1, c.sample_rate_hz, 6250.0) >= 0.99, "%s: %.4f in band",
				 hg_modulation_name((hg_modulation) m), fraction_in_band(re, im, 1, c.sample_rate_hz, 6250.0));
		{
			double		p = 0;
			int			n;

			for (n = 0; n < LEN; n++)
				p += (double) re[n] * re[n] + (double) im[n] * im[n];
			HG_CHECK_NEAR(p / LEN, 1.0, 1e-3, "mean power");
		}
	}
}

static void
test_am_and_cw_envelopes(void)
{
	hg_config	c;
	double		f1,
				f2,
				mean = 0,
				var = 0,
				max_imag = 0,
				peak = 0;
	int			n,
				low = 0,
				high = 0;

	hg_config_init(&c);
	/* AM: the envelope follows the tone (varies), the phase does not (real signal) */
	synth(&c, HG_MOD_AM, HG_CONTENT_TONE, 3, &f1, &f2);
	for (n = 200; n < LEN - 200; n++)
	{
		mean += re[n];
		max_imag = fmax(max_imag, fabs(im[n]));
	}
	mean /= LEN - 400;
	for (n = 200; n < LEN - 200; n++)
		var += (re[n] - mean) * (re[n] - mean);
	var /= LEN - 400;
	/* (1 + m cos): std / mean = m / sqrt(2) = 0.566 for m = 0.8 */
	HG_CHECK_NEAR(sqrt(var) / mean, 0.8 / sqrt(2.0), 0.03, "AM modulation depth");
	HG_CHECK(max_imag < 1e-6, "AM has no quadrature part: %g", max_imag);

	/* CW: on/off keying, the envelope sits near zero or near its peak */
	synth(&c, HG_MOD_CW, HG_CONTENT_DATA, 5, &f1, &f2);
	for (n = 0; n < LEN; n++)
		peak = fmax(peak, envelope(n));
	for (n = 0; n < LEN; n++)
	{
		low += envelope(n) < 0.1 * peak;
		high += envelope(n) > 0.9 * peak;
	}
	HG_CHECK(low > LEN / 10 && high > LEN / 5, "CW keying: %d low, %d high of %d", low, high, LEN);
	HG_CHECK(low + high > LEN * 8 / 10, "CW has two levels: only %d of %d samples at either", low + high, LEN);
}

static void
test_fsk_two_tones(void)
{
	hg_config	c;
	double		f1,
				f2;
	int			n,
				near_low = 0,
				near_high = 0;

	hg_config_init(&c);
	synth(&c, HG_MOD_FSK, HG_CONTENT_DATA, 9, &f1, &f2);
	for (n = 100; n < LEN - 100; n++)
	{
		double		f = discriminator(re, im, 1, n, c.sample_rate_hz);

		near_low += fabs(f + 1000.0) < 300.0;
		near_high += fabs(f - 1000.0) < 300.0;
	}
	HG_CHECK(near_low > LEN / 4 && near_high > LEN / 4, "FSK tones at -+1 kHz: %d, %d of %d", near_low, near_high, LEN);
	HG_CHECK(near_low + near_high > LEN * 7 / 10, "FSK: only %d samples near either tone", near_low + near_high);
}

/*
 * Matched filter (RRC), then the symbol timing that minimises the error
 * vector magnitude against the ideal points; returns that EVM (rms, relative).
 */
static double
psk_evm(const hg_config *c, int points, int *quadrants)
{
	double		sps = c->sample_rate_hz / c->symbol_rate_hz;
	static double zr[LEN],
				zi[LEN];
	double		best = 1e9;
	int			n,
				k,
				phase,
				span = (int) (6 * sps);

	for (n = 0; n < LEN; n++)
	{
		double		ar = 0,
					ai = 0;

		for (k = -span; k <= span; k++)
			if (n - k >= 0 && n - k < LEN)
			{
				double		p = hg_rrc_pulse(k / sps, c->rrc_rolloff);

				ar += p * re[n - k];
				ai += p * im[n - k];
			}
		zr[n] = ar;
		zi[n] = ai;
	}
	for (phase = 0; phase < 64; phase++)
	{
		double		t,
					amp = 0,
					err = 0;
		int			count = 0,
					q[4] = {0};

		for (t = 300 + phase * sps / 64; t < LEN - 300; t += sps)
		{
			int			i0 = (int) t;
			double		fr = t - i0;
			double		xr = zr[i0] + fr * (zr[i0 + 1] - zr[i0]);
			double		xi = zi[i0] + fr * (zi[i0 + 1] - zi[i0]);

			amp += points == 2 ? fabs(xr) : (fabs(xr) + fabs(xi)) / 2;
			count++;
		}
		amp /= count;
		for (t = 300 + phase * sps / 64; t < LEN - 300; t += sps)
		{
			int			i0 = (int) t;
			double		fr = t - i0;
			double		xr = zr[i0] + fr * (zr[i0 + 1] - zr[i0]);
			double		xi = zi[i0] + fr * (zi[i0 + 1] - zi[i0]);
			double		er = fabs(xr) - amp;
			double		ei = points == 2 ? xi : fabs(xi) - amp;

			err += er * er + ei * ei;
			q[(xr > 0) + 2 * (xi > 0)]++;
		}
		err = sqrt(err / count) / amp;
		if (err < best)
		{
			best = err;
			memcpy(quadrants, q, sizeof(q));
		}
	}
	return best;
}

static void
test_psk_constellations(void)
{
	hg_config	c;
	double		f1,
				f2;
	int			q[4];
	double		evm;

	hg_config_init(&c);
	synth(&c, HG_MOD_BPSK, HG_CONTENT_DATA, 11, &f1, &f2);
	evm = psk_evm(&c, 2, q);
	HG_CHECK(evm < 0.15, "BPSK EVM %.3f", evm);
	synth(&c, HG_MOD_QPSK, HG_CONTENT_DATA, 12, &f1, &f2);
	evm = psk_evm(&c, 4, q);
	HG_CHECK(evm < 0.15, "QPSK EVM %.3f", evm);
	HG_CHECK(q[0] > 50 && q[1] > 50 && q[2] > 50 && q[3] > 50, "QPSK quadrants %d %d %d %d", q[0], q[1], q[2], q[3]);
	/* BPSK's points are not QPSK's: on four points its EVM is poor */
	synth(&c, HG_MOD_BPSK, HG_CONTENT_DATA, 11, &f1, &f2);
	HG_CHECK(psk_evm(&c, 4, q) > 0.5, "BPSK looks like QPSK");
}

static void
test_tone_and_dtmf_lines(void)
{
	hg_config	c;
	double		f1,
				f2;
	static float iq[2 * LEN];
	int			n;

	hg_config_init(&c);
	/* AM keeps the audio lines at +-f: the strongest sideband line is the tone */
	synth(&c, HG_MOD_AM, HG_CONTENT_TONE, 13, &f1, &f2);
	for (n = 0; n < LEN; n++)
	{
		iq[2 * n] = re[n];
		iq[2 * n + 1] = im[n];
	}
	HG_CHECK(f1 >= 800 && f1 <= 1200, "tone %g", f1);
	HG_CHECK_NEAR(strongest_line(iq, LEN, c.sample_rate_hz, 700, 1300), f1, 1.0, "tone line");
	synth(&c, HG_MOD_AM, HG_CONTENT_DTMF, 14, &f1, &f2);
	for (n = 0; n < LEN; n++)
	{
		iq[2 * n] = re[n];
		iq[2 * n + 1] = im[n];
	}
	HG_CHECK(f1 >= 697 && f1 <= 941 && f2 >= 1209 && f2 <= 1633, "DTMF pair %g %g", f1, f2);
	HG_CHECK_NEAR(strongest_line(iq, LEN, c.sample_rate_hz, 650, 1000), f1, 1.0, "DTMF row line");
	HG_CHECK_NEAR(strongest_line(iq, LEN, c.sample_rate_hz, 1150, 1700), f2, 1.0, "DTMF column line");
}

static void
test_deterministic_and_weighted_choice(void)
{
	hg_config	c;
	char		err[HG_ERRMSG_LEN];
	static float re2[LEN];
	double		f1,
				f2;
	int			counts[HG_MOD_COUNT] = {0};
	int			i;

	hg_config_init(&c);
	synth(&c, HG_MOD_FM, HG_CONTENT_VOICE, 21, &f1, &f2);
	memcpy(re2, re, sizeof(re));
	synth(&c, HG_MOD_FM, HG_CONTENT_VOICE, 22, &f1, &f2);
	synth(&c, HG_MOD_FM, HG_CONTENT_VOICE, 21, &f1, &f2);
	HG_CHECK(memcmp(re, re2, sizeof(re)) == 0, "same stream, different bytes");

	HG_CHECK(hg_config_set(&c, "weight_am", "1", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_set(&c, "weight_qpsk", "2", err, sizeof(err)), "%s", err);
	for (i = 0; i < 8000; i++)
	{
		hg_rng		r;
		hg_modulation m;
		hg_content	ct;

		hg_rng_init(&r, 5, (uint64_t) i, HG_RX_SHARED, HG_STREAM_WAVEFORM);
		hg_waveform_choose(&c, &r, &m, &ct);
		counts[m]++;
		HG_CHECK((m == HG_MOD_QPSK) == (ct == HG_CONTENT_DATA), "content of %s", hg_modulation_name(m));
	}
	HG_CHECK_NEAR(counts[HG_MOD_QPSK], 4000, 5 * sqrt(8000 * 0.25), "qpsk weight 2 of 4");
	HG_CHECK_NEAR(counts[HG_MOD_FM], 2000, 5 * sqrt(8000 * 0.1875), "fm weight 1 of 4");
	HG_CHECK(counts[HG_MOD_CW] == 0 && counts[HG_MOD_FSK] == 0, "zero weights drawn");
}

int
main(void)
{
	HG_RUN(test_fm_deviation_and_bandwidth);
	HG_RUN(test_every_modulation_in_channel_with_unit_power);
	HG_RUN(test_am_and_cw_envelopes);
	HG_RUN(test_fsk_two_tones);
	HG_RUN(test_psk_constellations);
	HG_RUN(test_tone_and_dtmf_lines);
	HG_RUN(test_deterministic_and_weighted_choice);
	return HG_TEST_SUMMARY();
}
