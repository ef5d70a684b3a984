/*
 * test_golden.c
 *    Pins the model's output bytes.  A fixed set of attempts (several seeds,
 *    every modulation and content, every optional effect on, knife-edge
 *    terrain, multipath and block fading, uniform, hexagonal and fixed
 *    layouts) is run and every byte of its output is hashed: the outcome,
 *    every label of the sample and of each reception, and the IQ.  Any
 *    change of any output byte, intended or not, fails this test.
 *
 *    Every version the model still generates (HG_MODEL_VERSION_OLDEST to
 *    HG_MODEL_VERSION, chosen by hg_config.model_version) is hashed and
 *    checked against its pin: a new version must leave the older ones'
 *    bytes as they were, since their datasets are still regenerated and
 *    extended.
 *
 *    How to update the pin, when a change of output bytes is intended:
 *      1. bump HG_MODEL_VERSION in src/model/hg_model.h and put the change
 *         behind cfg->model_version (the rule written there);
 *      2. run build/unit/test_golden: it prints the new hash;
 *      3. add {new version, new hash} to pinned[] below (keep the old rows:
 *         they are the history of the model's output).
 *    Changing the hash of an existing version instead is the mistake this
 *    test exists to catch: only a version never released may be re-pinned.
 */
#include "hg_model.h"
#include "hg_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct
{
	int			version;
	uint64_t	hash;
}			pinned[] = {
	/* version 1 computed from commit 17c3146 (glibc 2.36 libm, x86-64 with FMA) */
	{1, 0x61bedfdd929f9e21ull},
	{2, 0xe4358def41b46806ull},
	{3, 0x04a35175d761103full},
};

static hg_sample sample;

static uint64_t
fnv(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t		k;

	for (k = 0; k < len; k++)
		h = (h ^ p[k]) * 0x100000001B3ull;
	return h;
}

/* Integers and doubles as little-endian bytes, whatever the host. */
static uint64_t
fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];
	int			k;

	for (k = 0; k < 8; k++)
		b[k] = (unsigned char) (v >> (8 * k));
	return fnv(h, b, 8);
}

static uint64_t
fnv_double(uint64_t h, double d)
{
	uint64_t	u;

	memcpy(&u, &d, 8);
	return fnv_u64(h, u);
}

/* Every field of the outcome and the sample, one by one (no struct padding). */
static uint64_t
hash_outcome(uint64_t h, hg_outcome o, const hg_sample *s)
{
	int			k;

	h = fnv_u64(h, (uint64_t) o);
	h = fnv_u64(h, s->sample_idx);
	h = fnv_double(h, s->tx_lat_deg);
	h = fnv_double(h, s->tx_lon_deg);
	h = fnv_double(h, s->tx_alt_m);
	h = fnv_double(h, s->tx_power_dbm);
	h = fnv_double(h, s->frequency_hz);
	h = fnv_double(h, s->mean_snr_db);
	h = fnv_u64(h, (uint64_t) s->n_receivers);
	h = fnv_u64(h, (uint64_t) s->n_detected);
	if (o != HG_KEPT)
		return h;
	h = fnv_u64(h, (uint64_t) s->modulation);
	h = fnv_u64(h, (uint64_t) s->content);
	h = fnv_double(h, s->gdop);
	h = fnv_u64(h, (uint64_t) s->n_iq);
	for (k = 0; k < s->n_receivers; k++)
	{
		const hg_reception *r = &s->rx[k];

		h = fnv_u64(h, (uint64_t) r->rx_idx);
		h = fnv(h, r->rx_name, strlen(r->rx_name));
		h = fnv_double(h, r->lat_deg);
		h = fnv_double(h, r->lon_deg);
		h = fnv_double(h, r->alt_m);
		h = fnv_u64(h, (uint64_t) r->antenna);
		h = fnv_double(h, r->antenna_gain_dbi);
		h = fnv_double(h, r->distance_m);
		h = fnv_double(h, r->delay_s);
		h = fnv_double(h, r->rx_power_dbm);
		h = fnv_double(h, r->snr_db);
		h = fnv_double(h, r->freq_offset_hz);
		h = fnv_u64(h, (uint64_t) r->signal_present);
		h = fnv_u64(h, (uint64_t) r->n_echoes);
		h = fnv(h, r->iq, sizeof(float) * 2 * (size_t) s->n_iq);	/* cf32_le already */
	}
	return h;
}

static void
set(hg_config *c, const char *key, const char *value)
{
	char		err[HG_ERRMSG_LEN];

	if (!hg_config_set(c, key, value, err, sizeof(err)))
		HG_CHECK(0, "%s", err);
}

#define N_GOLDEN_CONFIGS 10

/* Configuration which (0 .. N_GOLDEN_CONFIGS - 1) of the golden set. */
static void
golden_config(int which, hg_config *c)
{
	static const char *const mods[] = {"weight_am", "weight_cw", "weight_fsk", "weight_bpsk", "weight_qpsk"};
	char		err[HG_ERRMSG_LEN];

	hg_config_init(c);
	set(c, "duration_ms", "40");	/* 2,000 complex samples: the test stays fast */
	switch (which)
	{
		case 0:					/* defaults: FM, voice / tone / DTMF; a floor that rejects some */
			set(c, "noise_floor_dbm", "-88");
			break;
		case 1:					/* FM with tones and DTMF only */
			set(c, "weight_voice", "0");
			break;
		case 2:
		case 3:
		case 4:
		case 5:
		case 6:					/* every other modulation, AM also with every content */
			set(c, "weight_fm", "0");
			set(c, mods[which - 2], "1");
			set(c, "weight_voice", "1");
			set(c, "weight_tone", "1");
			set(c, "weight_dtmf", "1");
			break;
		case 7:					/* every optional effect, over distances where each acts */
			set(c, "atmospheric_absorption", "true");
			set(c, "tropo_ducting", "true");
			set(c, "sporadic_e", "true");
			set(c, "polarization_mismatch", "true");
			set(c, "terrain_model", "\"knife_edge\"");
			set(c, "area_lat_min", "38");
			set(c, "area_lat_max", "52");
			set(c, "area_lon_min", "-2");
			set(c, "area_lon_max", "20");
			set(c, "noise_floor_dbm", "-150");
			set(c, "echoes_min", "5");
			set(c, "echoes_max", "5");
			set(c, "weight_qpsk", "1");
			break;
		case 8:					/* hexagonal layout, power and frequency ranges */
			set(c, "rx_layout", "\"hexagonal\"");
			set(c, "tx_power_min_dbm", "20");
			set(c, "frequency_max_hz", "4.4e8");
			set(c, "weight_am", "1");
			break;
		case 9:					/* fixed network of every RX antenna kind */
			{
				static const hg_fixed_receiver net[5] = {
					{"alpha", 44.2, 7.3, 15.0, HG_ANT_OMNI, 0.0},
					{"bravo", 45.8, 7.6, 10.0, HG_ANT_YAGI, 135.0},
					{"charlie", 45.1, 9.8, 20.0, HG_ANT_LOG_PERIODIC, 270.0},
					{"delta", 44.6, 8.9, 12.0, HG_ANT_COLLINEAR, 0.0},
					{"echo", 45.5, 8.4, 30.0, HG_ANT_YAGI, 300.0},
				};
				int			k;

				for (k = 0; k < 5; k++)
					HG_CHECK(hg_config_add_fixed_receiver(c, &net[k], err, sizeof(err)), "%s", err);
				set(c, "multipath", "false");
				set(c, "block_fading", "false");
				set(c, "weight_fsk", "1");
			}
			break;
		default:
			break;
	}
	HG_CHECK(hg_config_validate(c, err, sizeof(err)), "golden config %d: %s", which, err);
}

static uint64_t
golden_hash(int version, int *kept_out)
{
	uint64_t	h = 0xCBF29CE484222325ull;
	int			which,
				kept = 0;

	for (which = 0; which < N_GOLDEN_CONFIGS; which++)
	{
		static const uint64_t seeds[3] = {1, 0x5eed5eed5eedull, 0xFFFFFFFFFFFFFFFFull};
		hg_config	c;
		hg_workspace *ws;
		int			s;

		golden_config(which, &c);
		c.model_version = version;
		ws = hg_workspace_create(&c);
		HG_CHECK(ws != NULL, "workspace");
		if (!ws)
			continue;
		for (s = 0; s < 3; s++)
		{
			uint64_t	i;

			for (i = 0; i < 4; i++)
			{
				uint64_t	attempt = i + (uint64_t) s * 1000003u;
				hg_outcome	o = hg_attempt(&c, seeds[s], attempt, ws, &sample);

				kept += o == HG_KEPT;
				h = hash_outcome(h, o, &sample);
			}
		}
		hg_workspace_destroy(ws);
	}
	*kept_out = kept;
	return h;
}

/* One generated version's hash against its pin. */
static void
check_version_pinned(int version)
{
	int			kept;
	uint64_t	h = golden_hash(version, &kept);
	size_t		k;
	int			found = 0;

	printf("    model version %d: %d of 120 golden attempts kept, hash 0x%016llx\n",
		   version, kept, (unsigned long long) h);
	HG_CHECK(kept >= 60, "only %d kept: the golden set would not cover the IQ", kept);
	for (k = 0; k < sizeof(pinned) / sizeof(pinned[0]); k++)
		if (pinned[k].version == version)
		{
			found = 1;
			HG_CHECK(pinned[k].hash == h,
					 "output bytes of version %d changed (hash 0x%016llx, pinned 0x%016llx): "
					 "if intended, bump HG_MODEL_VERSION, keep this version's bytes behind "
					 "cfg->model_version and pin the new one (see the top of this file)",
					 version, (unsigned long long) h, (unsigned long long) pinned[k].hash);
		}
	HG_CHECK(found, "no pinned hash for model version %d: add {%d, 0x%016llxull} to pinned[]",
			 version, version, (unsigned long long) h);
}

static void
test_output_bytes_are_pinned(void)
{
	int			version;

	HG_CHECK(hg_model_version() == HG_MODEL_VERSION, "hg_model_version()");
	for (version = HG_MODEL_VERSION_OLDEST; version <= HG_MODEL_VERSION; version++)
		check_version_pinned(version);
}

/* The versions generated are the ones from OLDEST on, and the config refuses the others. */
static void
test_generated_versions(void)
{
	hg_config	c;
	char		err[HG_ERRMSG_LEN];

	HG_CHECK(!hg_model_generates(1) && hg_model_generates(2) && hg_model_generates(HG_MODEL_VERSION) &&
			 !hg_model_generates(HG_MODEL_VERSION + 1), "hg_model_generates");
	hg_config_init(&c);
	HG_CHECK(c.model_version == HG_MODEL_VERSION, "a new config generates the newest version");
	c.model_version = 1;
	HG_CHECK(!hg_config_validate(&c, err, sizeof(err)) && strstr(err, "model version 1") != NULL,
			 "version 1 refused: %s", err);
}

int
main(void)
{
	HG_RUN(test_output_bytes_are_pinned);
	HG_RUN(test_generated_versions);
	return HG_TEST_SUMMARY();
}
