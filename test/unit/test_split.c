/*
 * test_split.c
 *    Unit tests of the deterministic train / val / test split (hg_split_of):
 *    frequencies follow the ratios within binomial tolerance, the answer
 *    depends on (seed, sample index) alone, zero ratios are never returned,
 *    and the configuration parameter split_ratios is validated and written
 *    to JSON in a form that reads back.
 */
#include "hg_model.h"
#include "hg_test.h"

#include <stdlib.h>

static void
test_frequencies_follow_ratios(void)
{
	static const double cases[][3] = {{0.8, 0.1, 0.1}, {0.5, 0.25, 0.25}, {0.6, 0.4, 0.0}, {0.0, 0.0, 1.0}};
	const int	n = 100000;
	size_t		c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
	{
		int			count[3] = {0, 0, 0};
		int			i,
					k;

		for (i = 0; i < n; i++)
			count[hg_split_of(42 + c, (uint64_t) i, cases[c])]++;
		for (k = 0; k < 3; k++)
		{
			double		p = cases[c][k];
			double		sd = sqrt(n * p * (1 - p));

			/* 5 standard deviations: a false alarm once in millions of runs */
			HG_CHECK(fabs(count[k] - n * p) <= 5 * sd + 1e-9,
					 "ratios %g/%g/%g: part %d got %d of %d", cases[c][0], cases[c][1], cases[c][2], k,
					 count[k], n);
		}
	}
}

static void
test_same_inputs_same_answer(void)
{
	const double r[3] = {0.7, 0.2, 0.1};
	int			i,
				differs = 0;

	for (i = 0; i < 1000; i++)
	{
		int			a = hg_split_of(7, (uint64_t) i * 977u, r);

		HG_CHECK(hg_split_of(7, (uint64_t) i * 977u, r) == a, "not a function of its inputs");
		differs += hg_split_of(8, (uint64_t) i * 977u, r) != a;
	}
	HG_CHECK(differs > 200, "the seed changes only %d of 1000 assignments", differs);
	HG_CHECK(hg_split_of(UINT64_MAX, UINT64_MAX, r) >= 0, "extreme inputs");
}

/*
 * Pinned answers: the split is part of a dataset's meaning, and readers
 * recompute it, so it must never change (it does not depend on the model
 * version: it uses its own Philox stream).
 */
static void
test_split_is_pinned(void)
{
	const double r[3] = {0.7, 0.2, 0.1};
	const char *want = "02110000000200000001000010120000";
	char		got[33];
	int			i;

	for (i = 0; i < 32; i++)
		got[i] = (char) ('0' + hg_split_of(1, (uint64_t) i, r));
	got[32] = '\0';
	HG_CHECK(strcmp(got, want) == 0, "seed 1, indices 0..31: %s, pinned %s", got, want);
}

static void
test_split_ratios_parameter(void)
{
	hg_config	c,
				before;
	char		err[HG_ERRMSG_LEN] = "";
	char		json[8192];
	const double good[3] = {0.7, 0.15, 0.15};
	const double negative[3] = {1.1, -0.1, 0.0};
	const double short_sum[3] = {0.7, 0.1, 0.1};

	hg_config_init(&c);
	HG_CHECK(c.split_ratios[0] == 0.8 && c.split_ratios[1] == 0.1 && c.split_ratios[2] == 0.1, "default");
	HG_CHECK(c.iq_storage == HG_IQ_STORED, "iq_storage default");
	HG_CHECK(hg_config_set_split_ratios(&c, good, 3, err, sizeof(err)), "%s", err);
	HG_CHECK(c.split_ratios[1] == 0.15, "stored");

	before = c;
	HG_CHECK(!hg_config_set_split_ratios(&c, negative, 3, err, sizeof(err)) &&
			 strstr(err, "split_ratios") && strstr(err, "between 0 and 1"), "negative: %s", err);
	HG_CHECK(!hg_config_set_split_ratios(&c, short_sum, 3, err, sizeof(err)) &&
			 strstr(err, "sum to 1"), "sum 0.9: %s", err);
	HG_CHECK(!hg_config_set_split_ratios(&c, good, 2, err, sizeof(err)) && strstr(err, "3 numbers"),
			 "two ratios: %s", err);
	HG_CHECK(!hg_config_set(&c, "split_ratios", "[0.5, 0.5]", err, sizeof(err)), "two in JSON");
	HG_CHECK(!hg_config_set(&c, "split_ratios", "0.8", err, sizeof(err)) && strstr(err, "split_ratios"),
			 "scalar: %s", err);
	HG_CHECK(!hg_config_set(&c, "split_ratios", "[\"0.8\", 0.1, 0.1]", err, sizeof(err)), "string element");
	HG_CHECK(!hg_config_set(&c, "split_ratios", "[0.8, 0.1, 0.1] x", err, sizeof(err)), "trailing text");
	HG_CHECK(!hg_config_set(&c, "split_ratios", "[0.8, 0.1, 0.1, 0]", err, sizeof(err)), "four");
	/* an overflow is refused, and shown cut, like a scalar's: the allowed range stays readable */
	HG_CHECK(!hg_config_set(&c, "split_ratios", "[1e400, 0, 0]", err, sizeof(err)), "1e400");
	{
		char		huge[420];

		snprintf(huge, sizeof(huge), "[1%0400d, 0, 0]", 0);
		HG_CHECK(!hg_config_set(&c, "split_ratios", huge, err, sizeof(err)) && strlen(err) < 200 &&
				 strstr(err, "summing to 1") != NULL, "a 401-digit ratio: %s", err);
	}
	HG_CHECK(memcmp(&before, &c, sizeof(c)) == 0, "a rejected value changed the configuration");
	/* an underflow is a tiny number (0), as for a scalar */
	HG_CHECK(hg_config_set(&c, "split_ratios", "[1e-400, 1, 0]", err, sizeof(err)), "1e-400: %s", err);
	HG_CHECK(c.split_ratios[0] == 0.0 && c.split_ratios[1] == 1.0, "1e-400 read as 0");

	HG_CHECK(hg_config_set(&c, "split_ratios", " [0.6,0.3 , 0.1] ", err, sizeof(err)), "%s", err);
	HG_CHECK(c.split_ratios[0] == 0.6 && c.split_ratios[1] == 0.3 && c.split_ratios[2] == 0.1, "JSON array");
	HG_CHECK(hg_config_set(&c, "iq_storage", "\"virtual\"", err, sizeof(err)), "%s", err);
	HG_CHECK(!hg_config_set(&c, "iq_storage", "\"compressed\"", err, sizeof(err)) &&
			 strstr(err, "\"stored\", \"virtual\""), "iq_storage: %s", err);
	HG_CHECK(hg_config_validate(&c, err, sizeof(err)), "%s", err);

	/* written to JSON as an array that reads back */
	HG_CHECK(hg_config_to_json(&c, json, sizeof(json)) < sizeof(json), "JSON fits");
	HG_CHECK(strstr(json, "\"split_ratios\": [0.6, 0.3, 0.1]") != NULL, "split_ratios in JSON: %s", json);
	HG_CHECK(strstr(json, "\"iq_storage\": \"virtual\"") != NULL, "iq_storage in JSON");
	hg_config_init(&before);
	HG_CHECK(hg_config_set(&before, "split_ratios", "[0.6, 0.3, 0.1]", err, sizeof(err)), "%s", err);
	HG_CHECK(memcmp(before.split_ratios, c.split_ratios, sizeof(c.split_ratios)) == 0, "read back");

	/* validate catches ratios written straight into the struct */
	c.split_ratios[2] = 0.2;
	HG_CHECK(!hg_config_validate(&c, err, sizeof(err)) && strstr(err, "split_ratios"), "validate: %s", err);
}

/* Neither parameter changes what an attempt produces. */
static void
test_layout_parameters_do_not_change_output(void)
{
	static hg_sample a,
				b;
	hg_config	c1,
				c2;
	hg_workspace *w1,
			   *w2;
	char		err[HG_ERRMSG_LEN];
	uint64_t	i;
	int			k;

	hg_config_init(&c1);
	hg_config_set(&c1, "duration_ms", "20", err, sizeof(err));
	c2 = c1;
	HG_CHECK(hg_config_set(&c2, "iq_storage", "\"virtual\"", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_set(&c2, "split_ratios", "[0.2, 0.3, 0.5]", err, sizeof(err)), "%s", err);
	w1 = hg_workspace_create(&c1);
	w2 = hg_workspace_create(&c2);
	for (i = 0; i < 10; i++)
	{
		hg_outcome	o = hg_attempt(&c1, 3, i, w1, &a);

		HG_CHECK(hg_attempt(&c2, 3, i, w2, &b) == o, "outcome");
		if (o == HG_KEPT)
			for (k = 0; k < a.n_receivers; k++)
				HG_CHECK(memcmp(a.rx[k].iq, b.rx[k].iq, sizeof(float) * 2 * (size_t) a.n_iq) == 0, "IQ");
	}
	hg_workspace_destroy(w1);
	hg_workspace_destroy(w2);
}

int
main(void)
{
	HG_RUN(test_frequencies_follow_ratios);
	HG_RUN(test_same_inputs_same_answer);
	HG_RUN(test_split_is_pinned);
	HG_RUN(test_split_ratios_parameter);
	HG_RUN(test_layout_parameters_do_not_change_output);
	return HG_TEST_SUMMARY();
}
