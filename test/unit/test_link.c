/*
 * test_link.c
 *    Unit tests of the link budget: FSPL against ITU-R P.525 at several
 *    distances and frequencies, the knife edge against P.526, and the whole
 *    budget adding up term by term with every random term inside its range.
 */
#include "hg_antenna.h"
#include "hg_link.h"
#include "hg_test.h"

static void
test_fspl_against_formula(void)
{
	const double d_m[] = {100, 1000, 12345, 50000, 250000};
	const double f_hz[] = {30e6, 145e6, 433.92e6, 1.2e9};
	size_t		i,
				j;

	for (i = 0; i < sizeof(d_m) / sizeof(d_m[0]); i++)
		for (j = 0; j < sizeof(f_hz) / sizeof(f_hz[0]); j++)
		{
			double		want = 32.44 + 20 * log10(d_m[i] / 1000) + 20 * log10(f_hz[j] / 1e6);

			HG_CHECK_NEAR(hg_fspl_db(d_m[i], f_hz[j]), want, 1e-9, "fspl");
		}
	/* hand values: 10 km at 145 MHz = 32.44 + 20 + 43.227 = 95.667 dB */
	HG_CHECK_NEAR(hg_fspl_db(10000, 145e6), 95.667, 0.001, "fspl 10 km 145 MHz");
	/* doubling the distance adds 6.02 dB */
	HG_CHECK_NEAR(hg_fspl_db(2e4, 145e6) - hg_fspl_db(1e4, 145e6), 6.0206, 1e-3, "6 dB per octave");
}

static void
test_knife_edge(void)
{
	/* v = 0 (grazing): J(0) = 6.9 + 20 log10(sqrt(1.01) - 0.1) = 6.03 dB */
	HG_CHECK_NEAR(hg_knife_edge_db(0, 5000, 5000, 145e6), 6.03, 0.01, "grazing");
	/* well clear of the path: no loss */
	HG_CHECK_NEAR(hg_knife_edge_db(-200, 5000, 5000, 145e6), 0.0, 1e-12, "clear");
	/* deep shadow: clamped at 30 dB */
	HG_CHECK_NEAR(hg_knife_edge_db(2000, 5000, 5000, 145e6), 30.0, 1e-12, "clamped");
	/* v = 1: h = sqrt(lambda d1 d2 / (2 (d1 + d2))), J(1) = 6.9 + 20 log10(sqrt(1.81) + 0.9) = 6.9 + 20 log10(2.2454) = 13.926 */
	{
		double		lambda = HG_SPEED_OF_LIGHT / 145e6;
		double		h = sqrt(lambda * 5000.0 * 5000.0 / (2.0 * 10000.0));

		HG_CHECK_NEAR(hg_knife_edge_db(h, 5000, 5000, 145e6), 13.926, 0.001, "v = 1");
	}
}

static void
test_budget_adds_up(void)
{
	hg_config	c;
	int			i;

	hg_config_init(&c);
	for (i = 0; i < 2000; i++)
	{
		hg_rng		r;
		hg_link_terms t;
		double		d = 1000.0 + 150.0 * i;

		hg_rng_init(&r, 5, (uint64_t) i, 1, HG_STREAM_LINK);
		hg_link_budget(&c, &r, 37.0, 4.0, d, 145e6, 0.0, &t);
		HG_CHECK_NEAR(t.rx_power_dbm, 37.0 + 4.0 - t.fspl_db - t.terrain_db - t.env_db + t.fading_db + t.extra_db,
					  1e-9, "sum of terms");
		HG_CHECK_NEAR(t.fspl_db, hg_fspl_db(d, 145e6), 1e-12, "fspl term");
		HG_CHECK(t.env_db >= 5 && t.env_db <= 15, "env %g", t.env_db);
		HG_CHECK(t.terrain_db == 0 || (t.terrain_db >= 10 && t.terrain_db <= 30), "terrain %g", t.terrain_db);
		HG_CHECK(t.fading_db >= -15 && t.fading_db <= 5, "fading %g", t.fading_db);
		HG_CHECK(t.extra_db == 0, "optional effects are off by default");
	}
}

static void
test_obstruction_probability(void)
{
	hg_config	c;
	int			obstructed = 0,
				i;

	hg_config_init(&c);
	/* at 100 km: p = min(0.05 + 0.1, 0.2) = 0.15 */
	for (i = 0; i < 20000; i++)
	{
		hg_rng		r;
		hg_link_terms t;

		hg_rng_init(&r, 9, (uint64_t) i, 0, HG_STREAM_LINK);
		hg_link_budget(&c, &r, 37.0, 0.0, 100000.0, 145e6, 0.0, &t);
		obstructed += t.terrain_db > 0;
	}
	HG_CHECK_NEAR(obstructed / 20000.0, 0.15, 5 * sqrt(0.15 * 0.85 / 20000), "P(obstructed) at 100 km");
}

static void
test_antenna_pattern(void)
{
	hg_antenna	yagi = {HG_ANT_YAGI, 12.0, 40.0, 20.0, 90.0};
	hg_antenna	omni = {HG_ANT_OMNI, 2.0, 360.0, 0.0, 0.0};

	HG_CHECK_NEAR(hg_antenna_gain_towards(&yagi, 90), 12.0, 1e-12, "boresight");
	HG_CHECK_NEAR(hg_antenna_gain_towards(&yagi, 110), 9.0, 1e-12, "beam edge -3 dB");
	HG_CHECK_NEAR(hg_antenna_gain_towards(&yagi, 80), 12.0 - 3.0 * 0.25, 1e-12, "in the lobe");
	HG_CHECK_NEAR(hg_antenna_gain_towards(&yagi, 270), -8.0, 1e-12, "behind: -front/back");
	HG_CHECK_NEAR(hg_antenna_gain_towards(&omni, 123), 2.0, 1e-12, "omni");
}

int
main(void)
{
	HG_RUN(test_fspl_against_formula);
	HG_RUN(test_knife_edge);
	HG_RUN(test_budget_adds_up);
	HG_RUN(test_obstruction_probability);
	HG_RUN(test_antenna_pattern);
	return HG_TEST_SUMMARY();
}
