/*
 * test_attempt.c
 *    Unit tests of whole attempts: the physics a user can verify from the IQ
 *    (received power, noise at the floor, time differences of arrival,
 *    frequency offsets), the labels' definitions, reproducibility whatever
 *    was generated before, that a rejection synthesises no IQ, and that a
 *    fixed network judged to stand on one line can keep no sample, and that
 *    a transmitter's longitude label stays within [-180, 180].
 */
#include "hg_geo.h"
#include "hg_model.h"
#include "hg_test.h"
#include "hg_test_dsp.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

static hg_sample sample_a;
static hg_sample sample_b;

static void
set(hg_config *c, const char *key, const char *value)
{
	char		err[HG_ERRMSG_LEN];

	if (!hg_config_set(c, key, value, err, sizeof(err)))
		HG_CHECK(0, "%s", err);
}

/* Find the next kept attempt at or after *i. */
static int
next_kept(const hg_config *c, uint64_t seed, uint64_t *i, hg_workspace *ws, hg_sample *s)
{
	int			tries;

	for (tries = 0; tries < 1000; tries++, (*i)++)
		if (hg_attempt(c, seed, *i, ws, s) == HG_KEPT)
			return 1;
	HG_CHECK(0, "no kept sample in 1000 attempts");
	return 0;
}

static void
test_received_power_matches_label(void)
{
	static const char *const mods[] = {"weight_fm", "weight_am", "weight_cw", "weight_fsk", "weight_bpsk", "weight_qpsk"};
	size_t		m;

	for (m = 0; m < sizeof(mods) / sizeof(mods[0]); m++)
	{
		hg_config	c;
		hg_workspace *ws;
		uint64_t	i = 0;
		int			s,
					k;

		hg_config_init(&c);
		set(&c, "noise", "false");
		set(&c, "weight_fm", "0");
		set(&c, mods[m], "1");
		ws = hg_workspace_create(&c);
		for (s = 0; s < 3 && next_kept(&c, 11, &i, ws, &sample_a); s++, i++)
			for (k = 0; k < sample_a.n_receivers; k++)
			{
				double		p = 10 * log10(mean_power_iq(sample_a.rx[k].iq, sample_a.n_iq));

				HG_CHECK_NEAR(p, sample_a.rx[k].rx_power_dbm, 0.1, mods[m]);
			}
		hg_workspace_destroy(ws);
	}
}

static void
test_noise_alone_is_the_floor(void)
{
	hg_config	with_noise,
				without;
	hg_workspace *w1,
			   *w2;
	uint64_t	i = 3;
	int			k,
				n;
	float	   *diff;

	hg_config_init(&with_noise);
	hg_config_init(&without);
	set(&without, "noise", "false");
	w1 = hg_workspace_create(&with_noise);
	w2 = hg_workspace_create(&without);
	diff = malloc(sizeof(float) * 2 * 10000);
	if (next_kept(&with_noise, 21, &i, w1, &sample_a))
	{
		HG_CHECK(hg_attempt(&without, 21, i, w2, &sample_b) == HG_KEPT, "same attempt, noise off");
		for (k = 0; k < sample_a.n_receivers; k++)
		{
			double		total = 10 * log10(mean_power_iq(sample_a.rx[k].iq, sample_a.n_iq));

			for (n = 0; n < 2 * sample_a.n_iq; n++)
				diff[n] = sample_a.rx[k].iq[n] - sample_b.rx[k].iq[n];
			HG_CHECK_NEAR(10 * log10(mean_power_iq(diff, sample_a.n_iq)), -120.0, 0.3, "noise power");
			/* signal and noise add in power: 10 log10(P_rx + N) */
			HG_CHECK_NEAR(total, 10 * log10(pow(10, sample_a.rx[k].rx_power_dbm / 10) + 1e-12), 0.3,
						  "signal + noise power");
		}
	}
	free(diff);
	hg_workspace_destroy(w1);
	hg_workspace_destroy(w2);
}

/* Lag (in samples, fractional) maximising |sum x1[n] conj(x2[n + lag])|. */
static double
xcorr_peak_lag(const float *x1, const float *x2, int n, int max_lag)
{
	double		mag[512];
	int			lag,
				best = 0;

	for (lag = -max_lag; lag <= max_lag; lag++)
	{
		double		sr = 0,
					si = 0;
		int			k;

		for (k = 0; k < n; k++)
		{
			int			j = k + lag;

			if (j < 0 || j >= n)
				continue;
			sr += x1[2 * k] * x2[2 * j] + x1[2 * k + 1] * x2[2 * j + 1];
			si += x1[2 * k + 1] * x2[2 * j] - x1[2 * k] * x2[2 * j + 1];
		}
		mag[lag + max_lag] = sqrt(sr * sr + si * si);
		if (mag[lag + max_lag] > mag[best])
			best = lag + max_lag;
	}
	if (best == 0 || best == 2 * max_lag)
		return best - max_lag;
	/* parabola through the peak and its neighbours */
	{
		double		a = mag[best - 1],
					b = mag[best],
					c = mag[best + 1];

		return best - max_lag + 0.5 * (a - c) / (a - 2 * b + c);
	}
}

static void
test_tdoa_in_the_iq(void)
{
	hg_config	c;
	hg_workspace *ws;
	uint64_t	i = 0;
	int			s,
				checked = 0;
	double		worst = 0;

	hg_config_init(&c);
	set(&c, "noise", "false");
	set(&c, "multipath", "false");
	set(&c, "block_fading", "false");
	set(&c, "freq_error_max_hz", "0");
	set(&c, "weight_fm", "0");
	set(&c, "weight_bpsk", "1");
	ws = hg_workspace_create(&c);
	for (s = 0; s < 3 && next_kept(&c, 31, &i, ws, &sample_a); s++, i++)
	{
		int			k;

		for (k = 1; k < sample_a.n_receivers; k++)
		{
			double		want = (sample_a.rx[k].delay_s - sample_a.rx[0].delay_s) * c.sample_rate_hz;
			double		got = xcorr_peak_lag(sample_a.rx[0].iq, sample_a.rx[k].iq, sample_a.n_iq, 120);

			HG_CHECK_NEAR(got, want, 0.05, "TDOA in samples");
			worst = fmax(worst, fabs(got - want));
			checked++;
		}
	}
	HG_CHECK(checked >= 6, "only %d pairs checked", checked);
	printf("    TDOA: %d receiver pairs, worst error %.4f sample\n", checked, worst);
	hg_workspace_destroy(ws);
}

/*
 * Model version 3: each reception is version 2's turned by one constant
 * phase (-f_c tau and its receiver's oscillator), different from receiver
 * to receiver; the labels stay as they were.
 */
static void
test_carrier_phase_per_reception(void)
{
	hg_config	c2,
				c3;
	hg_workspace *ws2,
			   *ws3;
	uint64_t	i = 0;
	int			s,
				checked = 0;
	double		worst_residual = 0.0;

	hg_config_init(&c2);
	set(&c2, "noise", "false");	/* the noise is not turned */
	c2.model_version = 2;
	c3 = c2;
	c3.model_version = 3;
	ws2 = hg_workspace_create(&c2);
	ws3 = hg_workspace_create(&c3);
	for (s = 0; s < 3 && next_kept(&c2, 77, &i, ws2, &sample_a); s++, i++)
	{
		double		lo = 10.0,
					hi = -10.0;
		int			k;

		HG_CHECK(hg_attempt(&c3, 77, i, ws3, &sample_b) == HG_KEPT, "version 3 keeps the same attempt");
		HG_CHECK(sample_b.n_receivers == sample_a.n_receivers && sample_b.frequency_hz == sample_a.frequency_hz,
				 "the same sample");
		for (k = 0; k < sample_a.n_receivers; k++)
		{
			const float *a = sample_a.rx[k].iq;
			const float *b = sample_b.rx[k].iq;
			double		zr = 0.0,
						zi = 0.0,
						pa = 0.0,
						err = 0.0,
						angle;
			int			n;

			HG_CHECK(sample_b.rx[k].rx_power_dbm == sample_a.rx[k].rx_power_dbm &&
					 sample_b.rx[k].delay_s == sample_a.rx[k].delay_s &&
					 sample_b.rx[k].freq_offset_hz == sample_a.rx[k].freq_offset_hz, "labels unchanged");
			/* z = <a, b> / <a, a>: the turn that takes a to b */
			for (n = 0; n < sample_a.n_iq; n++)
			{
				zr += (double) a[2 * n] * b[2 * n] + (double) a[2 * n + 1] * b[2 * n + 1];
				zi += (double) a[2 * n] * b[2 * n + 1] - (double) a[2 * n + 1] * b[2 * n];
				pa += (double) a[2 * n] * a[2 * n] + (double) a[2 * n + 1] * a[2 * n + 1];
			}
			zr /= pa;
			zi /= pa;
			for (n = 0; n < sample_a.n_iq; n++)
			{
				double		dr = b[2 * n] - (zr * a[2 * n] - zi * a[2 * n + 1]);
				double		di = b[2 * n + 1] - (zr * a[2 * n + 1] + zi * a[2 * n]);

				err += dr * dr + di * di;
			}
			HG_CHECK_NEAR(hypot(zr, zi), 1.0, 1e-4, "a turn, not a gain");
			HG_CHECK(err / pa < 1e-8, "receiver %d: not one constant turn of version 2 (residual %.3g)", k, err / pa);
			worst_residual = fmax(worst_residual, err / pa);
			angle = atan2(zi, zr);
			lo = fmin(lo, angle);
			hi = fmax(hi, angle);
			checked++;
		}
		HG_CHECK(hi - lo > 0.5, "the receivers' phases spread over %.3f rad only", hi - lo);
	}
	HG_CHECK(checked >= 9, "only %d receptions checked", checked);
	printf("    carrier phase: %d receptions, each version 2's turned (worst residual %.2g)\n",
		   checked, worst_residual);
	hg_workspace_destroy(ws2);
	hg_workspace_destroy(ws3);
}

static void
test_frequency_offset_from_a_tone(void)
{
	hg_config	c;
	hg_workspace *ws;
	uint64_t	i = 0;
	int			k;
	double		worst = 0;

	hg_config_init(&c);
	set(&c, "weight_fm", "0");
	set(&c, "weight_am", "1");
	set(&c, "weight_voice", "0");
	set(&c, "weight_dtmf", "0");	/* AM with one tone: the carrier line is the offset */
	set(&c, "block_fading", "false");
	set(&c, "min_snr_db", "15");
	ws = hg_workspace_create(&c);
	if (next_kept(&c, 41, &i, ws, &sample_a))
		for (k = 0; k < sample_a.n_receivers; k++)
		{
			double		f;

			if (!sample_a.rx[k].signal_present)
				continue;
			f = strongest_line(sample_a.rx[k].iq, sample_a.n_iq, c.sample_rate_hz, -60, 60);
			HG_CHECK_NEAR(f, sample_a.rx[k].freq_offset_hz, 1.0, "frequency offset (Hz)");
			worst = fmax(worst, fabs(f - sample_a.rx[k].freq_offset_hz));
		}
	printf("    frequency offset: worst error %.3f Hz\n", worst);
	hg_workspace_destroy(ws);
}

static void
test_labels_are_consistent(void)
{
	hg_config	c;
	hg_workspace *ws;
	uint64_t	i = 0;
	int			s,
				k;

	hg_config_init(&c);
	ws = hg_workspace_create(&c);
	for (s = 0; s < 20 && next_kept(&c, 51, &i, ws, &sample_a); s++, i++)
	{
		int			detected = 0;

		HG_CHECK(sample_a.sample_idx == i, "sample_idx is the attempt index");
		HG_CHECK(sample_a.n_receivers >= 5 && sample_a.n_receivers <= 10, "count %d", sample_a.n_receivers);
		HG_CHECK(sample_a.gdop > 0 && sample_a.gdop <= c.max_gdop, "gdop %g", sample_a.gdop);
		for (k = 0; k < sample_a.n_receivers; k++)
		{
			const hg_reception *r = &sample_a.rx[k];

			HG_CHECK(r->delay_s == r->distance_m / HG_SPEED_OF_LIGHT, "delay_s = distance_m / c exactly");
			HG_CHECK_NEAR(r->snr_db, r->rx_power_dbm - c.noise_floor_dbm, 1e-9, "snr definition");
			HG_CHECK(r->signal_present == (r->snr_db >= c.min_snr_db), "signal_present");
			HG_CHECK(fabs(r->freq_offset_hz) <= 50, "offset %g", r->freq_offset_hz);
			HG_CHECK(r->alt_m >= 50 + 10 && r->alt_m <= 200 + 300 * 2 + 80 + 20, "rx altitude %g", r->alt_m);
			detected += r->signal_present;
		}
		HG_CHECK(detected == sample_a.n_detected && detected >= c.min_receivers, "n_detected");
	}
	hg_workspace_destroy(ws);
}

static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t		k;

	for (k = 0; k < len; k++)
		h = (h ^ p[k]) * 1099511628211ull;
	return h;
}

static uint64_t
sample_digest(const hg_sample *s)
{
	uint64_t	h = 1469598103934665603ull;
	int			k;

	h = fnv1a(h, &s->tx_lat_deg, sizeof(double) * 5);
	h = fnv1a(h, &s->gdop, sizeof(double));
	for (k = 0; k < s->n_receivers; k++)
	{
		h = fnv1a(h, &s->rx[k].rx_power_dbm, sizeof(double));
		h = fnv1a(h, &s->rx[k].freq_offset_hz, sizeof(double));
		h = fnv1a(h, s->rx[k].iq, sizeof(float) * 2 * (size_t) s->n_iq);
	}
	return h;
}

static void
test_reproducible_whatever_came_before(void)
{
	hg_config	c;
	hg_workspace *busy,
			   *fresh;
	uint64_t	digests[12];
	hg_outcome	outcomes[12];
	uint64_t	i;

	hg_config_init(&c);
	set(&c, "weight_am", "1");
	set(&c, "weight_qpsk", "1");
	busy = hg_workspace_create(&c);
	fresh = hg_workspace_create(&c);
	for (i = 0; i < 12; i++)
	{
		outcomes[i] = hg_attempt(&c, 777, i, busy, &sample_a);
		digests[i] = outcomes[i] == HG_KEPT ? sample_digest(&sample_a) : 0;
	}
	/* backwards, in a fresh workspace, with other seeds in between */
	for (i = 12; i-- > 0;)
	{
		(void) hg_attempt(&c, 778, i + 100, fresh, &sample_b);
		HG_CHECK(hg_attempt(&c, 777, i, fresh, &sample_b) == outcomes[i], "outcome of %d", (int) i);
		if (outcomes[i] == HG_KEPT)
			HG_CHECK(sample_digest(&sample_b) == digests[i], "attempt %d differs", (int) i);
	}
	/* a different seed gives different data */
	HG_CHECK(hg_attempt(&c, 779, 0, fresh, &sample_b) != HG_KEPT || sample_digest(&sample_b) != digests[0],
			 "seed has no effect");
	hg_workspace_destroy(busy);
	hg_workspace_destroy(fresh);
}

static bool
flag_is_up(const void *flag)
{
	return *(const volatile int *) flag != 0;
}

/*
 * An abandoned attempt synthesises nothing more, and a workspace that had
 * one abandoned gives the same bytes as a fresh one once the flag is down.
 */
static void
test_abandoned_attempt_stops_and_leaves_no_trace(void)
{
	hg_config	c;
	hg_workspace *ws,
			   *fresh;
	int			abandon = 0;
	uint64_t	i,
				kept = 0;

	hg_config_init(&c);
	ws = hg_workspace_create(&c);
	fresh = hg_workspace_create(&c);
	hg_workspace_abandon_when(ws, flag_is_up, &abandon);
	for (i = 0; i < 20 && kept < 3; i++)
	{
		uint64_t	before = hg_workspace_receptions_synthesized(ws);
		hg_outcome	o;

		abandon = 1;
		(void) hg_attempt(&c, 4242, i, ws, &sample_a);
		HG_CHECK(hg_workspace_receptions_synthesized(ws) == before, "attempt %d: IQ synthesised after abandon",
				 (int) i);
		abandon = 0;
		o = hg_attempt(&c, 4242, i, ws, &sample_a);
		HG_CHECK(o == hg_attempt(&c, 4242, i, fresh, &sample_b), "attempt %d: outcome differs", (int) i);
		if (o == HG_KEPT)
		{
			kept++;
			HG_CHECK(hg_workspace_receptions_synthesized(ws) > before, "attempt %d: no IQ with the flag down",
					 (int) i);
			HG_CHECK(sample_digest(&sample_a) == sample_digest(&sample_b), "attempt %d: bytes differ after an abandon",
					 (int) i);
		}
	}
	HG_CHECK(kept >= 1, "no kept attempt to test");
	hg_workspace_destroy(ws);
	hg_workspace_destroy(fresh);
}

static void
test_rejection_synthesises_nothing(void)
{
	hg_config	c;
	hg_workspace *ws;
	int			i,
				rejected = 0;

	hg_config_init(&c);
	set(&c, "noise_floor_dbm", "-60");	/* nothing is detected */
	ws = hg_workspace_create(&c);
	for (i = 0; i < 50; i++)
		rejected += hg_attempt(&c, 61, (uint64_t) i, ws, &sample_a) == HG_REJECT_TOO_FEW_DETECTED;
	HG_CHECK(rejected == 50, "%d of 50 rejected", rejected);
	HG_CHECK(hg_workspace_receptions_synthesized(ws) == 0, "a rejected attempt synthesised IQ");
	hg_workspace_destroy(ws);

	/*
	 * GDOP >= 2/sqrt(N) for any N receivers (trace(S) <= N, so trace(S^-1) >=
	 * 4/N): three receivers can never meet max_gdop = 1, and each attempt is
	 * rejected for too few detected or for gdop, without IQ.
	 */
	hg_config_init(&c);
	set(&c, "max_gdop", "1");
	set(&c, "rx_count_min", "3");
	set(&c, "rx_count_max", "3");
	ws = hg_workspace_create(&c);
	rejected = 0;
	for (i = 0; i < 50; i++)
	{
		hg_outcome	o = hg_attempt(&c, 62, (uint64_t) i, ws, &sample_a);

		HG_CHECK(o != HG_KEPT, "attempt %d kept with gdop %g", i, sample_a.gdop);
		rejected += o == HG_REJECT_GDOP;
	}
	HG_CHECK(rejected > 20, "only %d of 50 rejected for gdop", rejected);
	HG_CHECK(hg_workspace_receptions_synthesized(ws) == 0, "IQ made for rejected attempts");
	hg_workspace_destroy(ws);
}

/* Every label of two samples, field by field, bit for bit; iq is not compared. */
static int
labels_identical(const hg_sample *a, const hg_sample *b)
{
	int			k;

#define SAME(f) (memcmp(&a->f, &b->f, sizeof(a->f)) == 0)
	if (!(SAME(sample_idx) && SAME(tx_lat_deg) && SAME(tx_lon_deg) && SAME(tx_alt_m) &&
		  SAME(tx_power_dbm) && SAME(frequency_hz) && SAME(modulation) && SAME(content) &&
		  SAME(gdop) && SAME(mean_snr_db) && SAME(n_receivers) && SAME(n_detected) && SAME(n_iq)))
		return 0;
	for (k = 0; k < a->n_receivers; k++)
		if (!(SAME(rx[k].rx_idx) && SAME(rx[k].rx_name) && SAME(rx[k].lat_deg) && SAME(rx[k].lon_deg) &&
			  SAME(rx[k].alt_m) && SAME(rx[k].antenna) && SAME(rx[k].antenna_gain_dbi) &&
			  SAME(rx[k].distance_m) && SAME(rx[k].delay_s) && SAME(rx[k].rx_power_dbm) &&
			  SAME(rx[k].snr_db) && SAME(rx[k].freq_offset_hz) && SAME(rx[k].signal_present) &&
			  SAME(rx[k].n_echoes)))
			return 0;
#undef SAME
	return 1;
}

/*
 * Labels-only attempts decide every label exactly as full ones, for every
 * outcome, and synthesise nothing; the full attempt run afterwards in the
 * same workspace gives the IQ of a fresh workspace.
 */
static void
test_labels_only_matches_full(void)
{
	static const char *const variants[][2] = {
		{"weight_fm", "1"}, {"weight_am", "1"}, {"weight_cw", "1"}, {"weight_fsk", "1"},
		{"weight_bpsk", "1"}, {"weight_qpsk", "1"}, {"rx_layout", "\"hexagonal\""},
		{"sporadic_e", "true"}, {"multipath", "false"}, {"noise_floor_dbm", "-88"},
	};
	size_t		v;
	int			compared = 0,
				kept = 0;

	for (v = 0; v < sizeof(variants) / sizeof(variants[0]); v++)
	{
		hg_config	c;
		hg_workspace *labels_ws,
				   *full_ws,
				   *fresh_ws;
		uint64_t	i;

		hg_config_init(&c);
		set(&c, "duration_ms", "50");
		set(&c, "tropo_ducting", "true");
		set(&c, "polarization_mismatch", "true");
		set(&c, variants[v][0], variants[v][1]);
		labels_ws = hg_workspace_create(&c);
		full_ws = hg_workspace_create(&c);
		fresh_ws = hg_workspace_create(&c);
		for (i = 0; i < 25; i++)
		{
			uint64_t	before = hg_workspace_receptions_synthesized(labels_ws);
			hg_outcome	lo = hg_attempt_ex(&c, 91 + v, i, labels_ws, &sample_a, HG_ATTEMPT_LABELS_ONLY);
			hg_outcome	fo = hg_attempt(&c, 91 + v, i, full_ws, &sample_b);
			int			k;

			HG_CHECK(hg_workspace_receptions_synthesized(labels_ws) == before, "labels-only synthesised IQ");
			HG_CHECK(lo == fo, "outcome %d vs %d at %d", (int) lo, (int) fo, (int) i);
			HG_CHECK(labels_identical(&sample_a, &sample_b), "labels differ at variant %d attempt %d",
					 (int) v, (int) i);
			compared++;
			if (fo != HG_KEPT)
				continue;
			kept++;
			for (k = 0; k < sample_a.n_receivers; k++)
				HG_CHECK(sample_a.rx[k].iq == NULL, "labels-only iq must be NULL");
			/* the full attempt again, in the workspace that ran labels-only attempts */
			HG_CHECK(hg_attempt(&c, 91 + v, i, labels_ws, &sample_a) == HG_KEPT, "regenerate");
			HG_CHECK(hg_attempt(&c, 91 + v, i, fresh_ws, &sample_b) == HG_KEPT, "fresh");
			HG_CHECK(sample_digest(&sample_a) == sample_digest(&sample_b),
					 "regenerated IQ differs at variant %d attempt %d", (int) v, (int) i);
			/* a later labels-only attempt leaves nothing behind either */
			(void) hg_attempt_ex(&c, 5, i + 1000, fresh_ws, &sample_b, HG_ATTEMPT_LABELS_ONLY);
		}
		hg_workspace_destroy(labels_ws);
		hg_workspace_destroy(full_ws);
		hg_workspace_destroy(fresh_ws);
	}
	HG_CHECK(kept > 100 && kept < compared, "%d kept of %d: both outcomes should be covered", kept, compared);
}

/* A fixed network of n receivers at (lat, lon), as start_job would build it. */
static void
fixed_network(hg_config *c, const double *lat, const double *lon, int n)
{
	char		err[HG_ERRMSG_LEN];
	int			k;

	hg_config_init(c);
	for (k = 0; k < n; k++)
	{
		hg_fixed_receiver rx = {"", lat[k], lon[k], 15.0, HG_ANT_OMNI, 0.0};

		snprintf(rx.name, sizeof(rx.name), "rx%d", k);
		HG_CHECK(hg_config_add_fixed_receiver(c, &rx, err, sizeof(err)), "%s", err);
	}
	HG_CHECK(hg_config_validate(c, err, sizeof(err)), "%s", err);
}

/* Kept attempts among the first n, labels only (cheap: no IQ). */
static int
kept_of(const hg_config *c, int n)
{
	hg_workspace *ws = hg_workspace_create(c);
	int			i,
				kept = 0;

	HG_CHECK(ws != NULL, "workspace");
	if (ws == NULL)
		return -1;
	for (i = 0; i < n; i++)
		kept += hg_attempt_ex(c, 71, (uint64_t) i, ws, &sample_a, HG_ATTEMPT_LABELS_ONLY) == HG_KEPT;
	hg_workspace_destroy(ws);
	return kept;
}

/*
 * start_job refuses a fixed network that hg_config_fixed_network_on_a_line
 * calls a line, because such a job could only fail after 20 x num_samples
 * attempts.  The refusal is justified only if the attempts agree: every one
 * of them is rejected.  Networks a little off their line, or too wide for
 * the test's bound on the earth's curvature, are left to the attempts.
 */
static void
test_a_network_on_a_line_keeps_nothing(void)
{
	/* on a meridian (a great circle), 67 km */
	const double meridian_lat[] = {45.0, 45.2, 45.4, 45.6};
	const double meridian_lon[] = {8.0, 8.0, 8.0, 8.0};
	/* the same with one receiver 5 m east of it */
	const double nudged_lon[] = {8.0, 8.0, 8.0 + 5.0 / 78.8e3, 8.0};
	/* three receivers at one point */
	const double point_lat[] = {45.3, 45.3, 45.3};
	const double point_lon[] = {8.2, 8.2, 8.2};
	/* a great circle that is neither a meridian nor a parallel (filled in below) */
	double		tilted_lat[5],
				tilted_lon[5];
	/* off the line: 500 m east of the meridian, and a triangle */
	const double off_lon[] = {8.0, 8.0, 8.0 + 500.0 / 78.8e3, 8.0};
	const double triangle_lat[] = {45.0, 45.3, 45.1};
	const double triangle_lon[] = {8.0, 8.1, 8.5};
	/* a meridian, 222 km, its first receiver at one end (once left to the attempts) */
	const double long_meridian_lat[] = {44.0, 45.0, 46.0};
	/* a meridian line 400 km long: beyond the bound, left to the attempts */
	const double wide_lat[] = {44.0, 45.8, 47.6};
	const double wide_lon[] = {8.0, 8.0, 8.0};
	/* judged a line: and then no attempt of 400 may keep a sample */
	const struct
	{
		const char *what;
		const double *lat;
		const double *lon;
		int			n;
	}			lines[] = {
		{"a meridian, 67 km", meridian_lat, meridian_lon, 4},
		{"a meridian, 222 km, from one end", long_meridian_lat, meridian_lon, 3},
		{"5 m off a 67 km meridian", meridian_lat, nudged_lon, 4},
		{"one point", point_lat, point_lon, 3},
		/* the sphere's great circle is within a few metres of the ellipsoid's over 80 km */
		{"a tilted great circle", tilted_lat, tilted_lon, 5},
	};
	hg_config	c;
	int			k;

	/* points of the great circle through (45 N, 8 E) heading 60 degrees east of north */
	for (k = 0; k < 5; k++)
	{
		double		d = (double) k * 20e3 / 6371e3;	/* 20 km apart, on a sphere */
		double		lat1 = 45.0 * 3.14159265358979 / 180,
					az = 60.0 * 3.14159265358979 / 180;
		double		lat2 = asin(sin(lat1) * cos(d) + cos(lat1) * sin(d) * cos(az));
		double		dlon = atan2(sin(az) * sin(d) * cos(lat1), cos(d) - sin(lat1) * sin(lat2));

		tilted_lat[k] = lat2 * 180 / 3.14159265358979;
		tilted_lon[k] = 8.0 + dlon * 180 / 3.14159265358979;
	}

	for (k = 0; k < (int) (sizeof(lines) / sizeof(lines[0])); k++)
	{
		fixed_network(&c, lines[k].lat, lines[k].lon, lines[k].n);
		HG_CHECK(hg_config_fixed_network_on_a_line(&c), "%s: not called a line", lines[k].what);
		HG_CHECK(kept_of(&c, 400) == 0, "%s: kept samples, so refusing it would lose them", lines[k].what);
	}

	fixed_network(&c, meridian_lat, off_lon, 4);
	HG_CHECK(!hg_config_fixed_network_on_a_line(&c), "500 m off a 67 km line is called a line");
	fixed_network(&c, triangle_lat, triangle_lon, 3);
	HG_CHECK(!hg_config_fixed_network_on_a_line(&c), "a triangle is called a line");
	HG_CHECK(kept_of(&c, 400) > 0, "the triangle kept nothing: the checks above prove nothing");
	fixed_network(&c, wide_lat, wide_lon, 3);
	HG_CHECK(!hg_config_fixed_network_on_a_line(&c), "a 400 km network is judged, beyond the bound");
}

/*
 * A network across the antimeridian spans over 180 degrees of longitude
 * from its westernmost to its easternmost receiver, as the transmitter's
 * box is drawn (start_job refuses it); the same shape elsewhere, a degree.
 */
static void
test_a_network_across_the_antimeridian_is_told(void)
{
	const double lat[] = {45.0, 45.3, 45.1, 45.4};
	const double across[] = {179.6, -179.7, -179.8, 179.9};
	const double shifted[] = {-0.4, 0.3, 0.2, -0.1};
	hg_config	c;

	fixed_network(&c, lat, across, 4);
	HG_CHECK(hg_config_fixed_network_lon_span_deg(&c) > 359.0, "across: span %g",
			 hg_config_fixed_network_lon_span_deg(&c));
	fixed_network(&c, lat, shifted, 4);
	HG_CHECK(fabs(hg_config_fixed_network_lon_span_deg(&c) - 0.7) < 1e-9, "at 0: span %g",
			 hg_config_fixed_network_lon_span_deg(&c));
	HG_CHECK(kept_of(&c, 100) > 0, "the same shape at longitude 0 keeps samples");
}

/*
 * A TX in the margin beyond the antimeridian is labelled in [-180, 180],
 * and each distance label is the distance from that labelled position.
 */
static void
test_tx_longitude_label_stays_within_180(void)
{
	hg_config	c;
	hg_workspace *ws;
	uint64_t	i;
	int			k,
				wrapped = 0;

	hg_config_init(&c);
	set(&c, "area_lon_min", "178");
	set(&c, "area_lon_max", "180");
	set(&c, "margin_deg", "5");
	set(&c, "inside_ratio", "0");
	ws = hg_workspace_create(&c);
	for (i = 0; i < 300; i++)
	{
		hg_ecef		tx;

		(void) hg_attempt_ex(&c, 77, i, ws, &sample_a, HG_ATTEMPT_LABELS_ONLY);
		HG_CHECK(sample_a.tx_lon_deg >= -180.0 && sample_a.tx_lon_deg <= 180.0,
				 "attempt %llu: tx_lon %.6f", (unsigned long long) i, sample_a.tx_lon_deg);
		wrapped += sample_a.tx_lon_deg < 0;
		tx = hg_geo_to_ecef(sample_a.tx_lat_deg, sample_a.tx_lon_deg, sample_a.tx_alt_m);
		for (k = 0; k < sample_a.n_receivers; k++)
		{
			const hg_reception *r = &sample_a.rx[k];

			HG_CHECK_NEAR(hg_geo_distance(tx, hg_geo_to_ecef(r->lat_deg, r->lon_deg, r->alt_m)),
						  r->distance_m, 1e-3, "distance from the labelled TX position (m)");
		}
	}
	HG_CHECK(wrapped > 0, "no TX fell past 180 degrees east: the test proves nothing");
	printf("    %d of 300 transmitters labelled west of the antimeridian\n", wrapped);
	hg_workspace_destroy(ws);
}

int
main(void)
{
	HG_RUN(test_received_power_matches_label);
	HG_RUN(test_noise_alone_is_the_floor);
	HG_RUN(test_tdoa_in_the_iq);
	HG_RUN(test_carrier_phase_per_reception);
	HG_RUN(test_frequency_offset_from_a_tone);
	HG_RUN(test_labels_are_consistent);
	HG_RUN(test_reproducible_whatever_came_before);
	HG_RUN(test_abandoned_attempt_stops_and_leaves_no_trace);
	HG_RUN(test_rejection_synthesises_nothing);
	HG_RUN(test_labels_only_matches_full);
	HG_RUN(test_a_network_on_a_line_keeps_nothing);
	HG_RUN(test_a_network_across_the_antimeridian_is_told);
	HG_RUN(test_tx_longitude_label_stays_within_180);
	return HG_TEST_SUMMARY();
}
