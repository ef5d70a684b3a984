/*
 * test_config.c
 *    Unit tests of the configuration: defaults of signal-model.md, setting
 *    values from their JSON text, every kind of bad value rejected with a
 *    message naming the field and its range (and the configuration left
 *    unchanged), the constraints between fields, and the resolved JSON
 *    reading back into the same configuration.
 */
#include "hg_model.h"
#include "hg_test.h"

#include <math.h>
#include <stdlib.h>

static void
test_defaults_follow_signal_model(void)
{
	hg_config	c;
	char		err[HG_ERRMSG_LEN];

	hg_config_init(&c);
	HG_CHECK(c.sample_rate_hz == 50000 && c.duration_ms == 200, "recording defaults");
	HG_CHECK(hg_config_iq_length(&c) == 10000, "10,000 complex samples, got %d", hg_config_iq_length(&c));
	HG_CHECK(c.channel_bw_hz == 12500 && c.frequency_min_hz == 145e6, "channel defaults");
	HG_CHECK(c.rx_count_min == 5 && c.rx_count_max == 10, "receiver count 5..10");
	HG_CHECK(c.area_lat_min == 44 && c.area_lat_max == 46 && c.area_lon_min == 7 && c.area_lon_max == 10, "area");
	HG_CHECK(c.tx_power_min_dbm == 37 && c.inside_ratio == 0.7 && c.margin_deg == 0.5, "transmitter");
	HG_CHECK(c.noise_floor_dbm == -120 && c.min_snr_db == 3 && c.min_receivers == 3, "filter");
	HG_CHECK(c.multipath && c.block_fading && c.noise && !c.sporadic_e, "switches");
	HG_CHECK(c.rx_layout == HG_LAYOUT_UNIFORM && c.n_fixed_rx == 0, "layout");
	HG_CHECK(hg_config_validate(&c, err, sizeof(err)), "defaults invalid: %s", err);
}

/* kTB at 290 K over the recorded band: -174 dBm/Hz + 10 log10(sample_rate_hz) */
static void
test_thermal_noise_over_the_band(void)
{
	hg_config	c;
	double		at_50k,
				at_1m;

	hg_config_init(&c);
	at_50k = hg_config_thermal_noise_dbm(&c);
	c.sample_rate_hz = 1e6;
	at_1m = hg_config_thermal_noise_dbm(&c);
	HG_CHECK(fabs(at_50k - -127.0) < 0.05, "kTB over 50 kHz: %.3f dBm, not -127.0", at_50k);
	HG_CHECK(fabs(at_1m - at_50k - 10.0 * log10(20.0)) < 1e-9, "20x the band, +13.0 dB: %.3f -> %.3f", at_50k, at_1m);
	/* the default floor implies a 7 dB noise figure at 50 kHz, and a negative one at 1 MHz */
	HG_CHECK(c.noise_floor_dbm < at_1m && -120.0 > at_50k, "the default floor against kTB");
}

static void
test_set_valid_values(void)
{
	hg_config	c;
	char		err[HG_ERRMSG_LEN];

	hg_config_init(&c);
	HG_CHECK(hg_config_set(&c, "rx_count_max", "7", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_set(&c, "duration_ms", "20.5", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_set(&c, "multipath", "false", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_set(&c, "rx_layout", "\"hexagonal\"", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_set(&c, "frequency_max_hz", "4.3e8", err, sizeof(err)), "%s", err);
	HG_CHECK(c.rx_count_max == 7 && c.duration_ms == 20.5 && !c.multipath, "values stored");
	HG_CHECK(c.rx_layout == HG_LAYOUT_HEXAGONAL && c.frequency_max_hz == 4.3e8, "enum and exponent");
}

/* A rejected value leaves the configuration byte-identical and names the key. */
static void
expect_rejected(const char *key, const char *value, const char *must_mention)
{
	hg_config	before;
	hg_config	c;
	char		err[HG_ERRMSG_LEN] = "";

	hg_config_init(&c);
	before = c;
	HG_CHECK(!hg_config_set(&c, key, value, err, sizeof(err)), "%s=%s accepted", key, value);
	HG_CHECK(memcmp(&before, &c, sizeof(c)) == 0, "%s=%s changed the configuration", key, value);
	HG_CHECK(strstr(err, key) != NULL, "message for %s does not name it: %s", key, err);
	HG_CHECK(strstr(err, must_mention) != NULL, "message for %s=%s lacks \"%s\": %s",
			 key, value, must_mention, err);
}

static void
test_bad_values_rejected_with_field_and_range(void)
{
	expect_rejected("no_such_key", "1", "unknown");
	expect_rejected("rx_count_max", "16", "between 3 and 15");
	expect_rejected("rx_count_max", "2", "between 3 and 15");
	expect_rejected("rx_count_max", "7.5", "integer");
	expect_rejected("rx_count_max", "\"7\"", "integer");
	expect_rejected("duration_ms", "0", "between 1 and 2000");
	expect_rejected("duration_ms", "abc", "number");
	expect_rejected("duration_ms", "1e999", "number");
	expect_rejected("noise_floor_dbm", "null", "number");
	expect_rejected("multipath", "1", "boolean");
	expect_rejected("multipath", "\"true\"", "boolean");
	expect_rejected("rx_layout", "\"circle\"", "\"uniform\", \"hexagonal\", \"fixed\"");
	expect_rejected("rx_layout", "3", "string");
	expect_rejected("inside_ratio", "1.5", "between 0 and 1");
	/* a huge value is shown cut short, so that the range still fits in the message */
	expect_rejected("duration_ms", "1000000000000000000000000000000000000000000000000000000000000000000000000000000000",
					"is not between 1 and 2000");
	expect_rejected("duration_ms", "1e-400", "is not between 1 and 2000");
}

/* A number too small for a double is a tiny number, in range or not: not a malformed one. */
static void
test_underflow_is_a_small_number(void)
{
	hg_config	c;
	char		err[HG_ERRMSG_LEN] = "";

	hg_config_init(&c);
	HG_CHECK(hg_config_set(&c, "weight_fm", "1e-320", err, sizeof(err)), "1e-320 refused: %s", err);
	HG_CHECK(c.weight_fm > 0 && c.weight_fm < 1e-300, "weight_fm %g", c.weight_fm);
	HG_CHECK(hg_config_set(&c, "weight_am", "1e-400", err, sizeof(err)), "1e-400 refused: %s", err);
	HG_CHECK(c.weight_am == 0, "weight_am %g", c.weight_am);
}

static void
expect_invalid(const char *key1, const char *v1, const char *key2, const char *v2,
			   const char *must_mention)
{
	hg_config	c;
	char		err[HG_ERRMSG_LEN] = "";

	hg_config_init(&c);
	HG_CHECK(hg_config_set(&c, key1, v1, err, sizeof(err)), "%s", err);
	if (key2)
		HG_CHECK(hg_config_set(&c, key2, v2, err, sizeof(err)), "%s", err);
	HG_CHECK(!hg_config_validate(&c, err, sizeof(err)), "%s=%s accepted by validate", key1, v1);
	HG_CHECK(strstr(err, must_mention) != NULL, "message lacks \"%s\": %s", must_mention, err);
}

static void
test_cross_field_constraints(void)
{
	hg_config	c;
	hg_fixed_receiver rx = {"alpha", 45.0, 8.0, 15.0, HG_ANT_OMNI, 0.0};
	char		err[HG_ERRMSG_LEN] = "";

	expect_invalid("rx_count_min", "9", "rx_count_max", "6", "\"rx_count_min\"");
	expect_invalid("area_lat_min", "46.5", NULL, NULL, "\"area_lat_min\"");
	expect_invalid("frequency_min_hz", "4.4e8", NULL, NULL, "\"frequency_max_hz\"");
	expect_invalid("channel_bw_hz", "60000", NULL, NULL, "\"channel_bw_hz\"");
	expect_invalid("weight_fm", "0", NULL, NULL, "modulation weight");
	expect_invalid("min_receivers", "8", "rx_count_max", "7", "\"min_receivers\"");
	expect_invalid("duration_ms", "1", NULL, NULL, "complex samples");
	/* the count shown is the one refused, not rounded into the allowed range */
	expect_invalid("sample_rate_hz", "1000000", "duration_ms", "262.1445", "give 262144.5 complex samples");

	/* an empty or too small fixed network */
	hg_config_init(&c);
	HG_CHECK(hg_config_set(&c, "rx_layout", "\"fixed\"", err, sizeof(err)), "%s", err);
	HG_CHECK(!hg_config_validate(&c, err, sizeof(err)), "empty fixed network accepted");
	HG_CHECK(strstr(err, "fixed receiver network") != NULL, "message: %s", err);
	HG_CHECK(hg_config_add_fixed_receiver(&c, &rx, err, sizeof(err)), "%s", err);
	rx.antenna = HG_ANT_WHIP;
	HG_CHECK(!hg_config_add_fixed_receiver(&c, &rx, err, sizeof(err)), "TX antenna accepted on a receiver");
	rx.antenna = HG_ANT_YAGI;
	rx.lat_deg = 95;
	HG_CHECK(!hg_config_add_fixed_receiver(&c, &rx, err, sizeof(err)) && strstr(err, "lat"),
			 "lat 95 accepted: %s", err);
	HG_CHECK(c.n_fixed_rx == 1, "rejected receivers were added");
}

/*
 * A table of settings and whether a check of new params passes them: each
 * case sets up to five keys on the defaults, must validate, and then the
 * check must say fits or not, its message naming what the case mentions
 * (and also_mentions, when given).
 */
typedef struct ConfigCase
{
	const char *settings[5][2];
	bool		fits;
	const char *mentions;
} ConfigCase;

typedef bool (*ConfigCheck) (const hg_config *cfg, char *errmsg, size_t errmsg_len);

static void
run_config_cases(const ConfigCase *cases, size_t n, ConfigCheck check, const char *also_mentions)
{
	size_t		i;
	int			k;

	for (i = 0; i < n; i++)
	{
		hg_config	c;
		char		err[HG_ERRMSG_LEN] = "";
		bool		fits;

		hg_config_init(&c);
		for (k = 0; k < 5 && cases[i].settings[k][0] != NULL; k++)
			HG_CHECK(hg_config_set(&c, cases[i].settings[k][0], cases[i].settings[k][1], err, sizeof(err)), "%s", err);
		HG_CHECK(hg_config_validate(&c, err, sizeof(err)), "case %d: %s", (int) i, err);
		fits = check(&c, err, sizeof(err));
		HG_CHECK(fits == cases[i].fits, "case %d: fits %d: %s", (int) i, (int) fits, err);
		if (!fits && cases[i].mentions != NULL)
			HG_CHECK(strstr(err, cases[i].mentions) != NULL &&
					 (also_mentions == NULL || strstr(err, also_mentions) != NULL),
					 "case %d: message: %s", (int) i, err);
	}
}

/*
 * The modulations that can be drawn must fit in the channel: the 2-FSK
 * tones (shift + symbol rate) and the FM swing (twice the deviation); a
 * modulation whose weight is 0 is not checked.  The defaults fit.
 */
static void
test_modulations_fit_the_channel(void)
{
	static const ConfigCase cases[] = {
		{{{NULL, NULL}}, true, NULL},
		{{{"weight_fsk", "1"}}, true, NULL},	/* 2000 + 4800 within 12500 */
		{{{"weight_fsk", "1"}, {"fsk_shift_hz", "7701"}}, false, "\"fsk_shift_hz\" (7701)"},
		{{{"weight_fsk", "1"}, {"fsk_shift_hz", "7700"}}, true, NULL},
		{{{"fsk_shift_hz", "500000"}}, true, NULL},	/* no FSK drawn */
		{{{"fm_deviation_hz", "6250"}}, true, NULL},
		{{{"fm_deviation_hz", "6251"}}, false, "\"fm_deviation_hz\" (6251)"},
		{{{"fm_deviation_hz", "100000"}, {"weight_fm", "0"}, {"weight_am", "1"}}, true, NULL},
		{{{"channel_bw_hz", "8000"}}, false, "\"channel_bw_hz\" (8000)"},
	};

	run_config_cases(cases, sizeof(cases) / sizeof(cases[0]), hg_config_modulations_fit_channel, "\"channel_bw_hz\"");
}

/*
 * New params' channel must fit the recording: the frequency error keeps the
 * occupied band inside +-sample_rate_hz/2 (FM: 2 x deviation; the filtered
 * modulations: channel_bw_hz), and the shortest coherence time leaves at
 * most 61 coherence times per reception (what 64 fading blocks hold).
 */
static void
test_channel_fits_the_recording(void)
{
	static const ConfigCase cases[] = {
		{{{NULL, NULL}}, true, NULL},
		/* FM: 5000 + 5000 <= 25000 */
		{{{"freq_error_max_hz", "5000"}}, true, NULL},
		{{{"sample_rate_hz", "12500"}, {"channel_bw_hz", "12500"}, {"freq_error_max_hz", "1250"}}, true, NULL},
		{{{"sample_rate_hz", "12500"}, {"channel_bw_hz", "12500"}, {"freq_error_max_hz", "1251"}}, false, "at most 1250"},
		/* CW passes the channel filter: (8000 - 6000) / 2 */
		{{{"sample_rate_hz", "8000"}, {"channel_bw_hz", "6000"}, {"weight_cw", "1"}, {"weight_fm", "0"},
		{"freq_error_max_hz", "1000"}}, true, NULL},
		{{{"sample_rate_hz", "8000"}, {"channel_bw_hz", "6000"}, {"weight_cw", "1"}, {"weight_fm", "0"},
		{"freq_error_max_hz", "5000"}}, false, "at most 1000"},
		/* 200 ms: at least 200 / 61 = 3.28 ms */
		{{{"coherence_min_ms", "3.28"}}, true, NULL},
		{{{"coherence_min_ms", "3.27"}}, false, "at least 3.28"},
		{{{"coherence_min_ms", "1"}, {"block_fading", "false"}}, true, NULL},
		{{{"duration_ms", "2000"}, {"coherence_min_ms", "10"}}, false, "at least 32.79"},
		{{{"duration_ms", "2000"}, {"coherence_min_ms", "32.79"}}, true, NULL},
	};

	run_config_cases(cases, sizeof(cases) / sizeof(cases[0]), hg_config_channel_fits_recording, NULL);
}

/*
 * The PSK occupancy check (symbol_rate_hz * (1 + rrc_rolloff) within the
 * channel) applies only with BPSK or QPSK drawn: an FM-only dataset needs
 * no dummy symbol rate.
 */
static void
test_symbol_rate_checked_only_with_psk(void)
{
	hg_config	c;
	char		err[HG_ERRMSG_LEN] = "";

	hg_config_init(&c);
	HG_CHECK(hg_config_set(&c, "symbol_rate_hz", "500000", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_validate(&c, err, sizeof(err)), "FM only: %s", err);
	HG_CHECK(hg_config_set(&c, "weight_qpsk", "1", err, sizeof(err)), "%s", err);
	HG_CHECK(!hg_config_validate(&c, err, sizeof(err)) && strstr(err, "\"symbol_rate_hz\"") != NULL,
			 "QPSK drawn: %s", err);
	hg_config_init(&c);
	HG_CHECK(hg_config_set(&c, "channel_bw_hz", "6000", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_validate(&c, err, sizeof(err)), "4800 symbols/s, FM only, 6 kHz: %s", err);
	HG_CHECK(hg_config_set(&c, "weight_bpsk", "1", err, sizeof(err)), "%s", err);
	HG_CHECK(!hg_config_validate(&c, err, sizeof(err)) && strstr(err, "\"weight_bpsk\"") != NULL,
			 "BPSK drawn: %s", err);
}

/* Read the JSON text of "key"'s value out of a flat object (test helper, scalars only). */
static bool
json_value_of(const char *json, const char *key, char *out, size_t out_len)
{
	char		pattern[80];
	const char *at;
	size_t		n;

	snprintf(pattern, sizeof(pattern), "\"%s\": ", key);
	at = strstr(json, pattern);
	if (!at)
		return false;
	at += strlen(pattern);
	n = strcspn(at, ",}");
	if (n >= out_len)
		return false;
	memcpy(out, at, n);
	out[n] = '\0';
	return true;
}

static void
test_resolved_json_round_trip(void)
{
	hg_config	c;
	hg_config	back;
	hg_fixed_receiver rx = {"ridge \"7\"", 45.25, 8.5, 12.0, HG_ANT_YAGI, 90.0};
	char		err[HG_ERRMSG_LEN];
	char	   *json;
	size_t		need;
	int			k;

	hg_config_init(&c);
	HG_CHECK(hg_config_set(&c, "hex_jitter", "0.15", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_set(&c, "terrain_model", "\"knife_edge\"", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_set(&c, "noise", "false", err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_add_fixed_receiver(&c, &rx, err, sizeof(err)), "%s", err);

	need = hg_config_to_json(&c, NULL, 0);
	json = malloc(need + 1);
	HG_CHECK(json != NULL, "oom");
	if (!json)
		return;
	HG_CHECK(hg_config_to_json(&c, json, need + 1) == need, "length differs between calls");
	HG_CHECK(strstr(json, "\"hex_jitter\": 0.15,") != NULL, "shortest form of 0.15: %s", json);
	HG_CHECK(strstr(json, "\"name\": \"ridge \\\"7\\\"\"") != NULL, "receiver name escaped");

	/* every scalar key is present and reads back to the same value */
	hg_config_init(&back);
	for (k = 0; k < hg_config_param_count(); k++)
	{
		const char *key = hg_config_param_name(k);
		char		value[64];

		HG_CHECK(json_value_of(json, key, value, sizeof(value)), "key %s missing", key);
		HG_CHECK(hg_config_set(&back, key, value, err, sizeof(err)), "%s", err);
	}
	back.n_fixed_rx = c.n_fixed_rx;
	memcpy(back.fixed_rx, c.fixed_rx, sizeof(c.fixed_rx));
	HG_CHECK(memcmp(&back, &c, sizeof(c)) == 0, "round trip changed the configuration");
	free(json);
}

/* Any text is a receiver's name: its JSON escapes control characters too (a tab broke it). */
static void
test_receiver_name_with_control_characters(void)
{
	hg_config	c;
	hg_fixed_receiver rx = {"tab\there\nnew \001 \\ \"q\" \xce\xb4", 45.25, 8.5, 12.0, HG_ANT_OMNI, 0.0};
	char		err[HG_ERRMSG_LEN];
	char		json[4096];
	const char *p;

	hg_config_init(&c);
	HG_CHECK(hg_config_add_fixed_receiver(&c, &rx, err, sizeof(err)), "%s", err);
	HG_CHECK(hg_config_to_json(&c, json, sizeof(json)) < sizeof(json), "dump too long");
	HG_CHECK(strstr(json, "\"name\": \"tab\\u0009here\\u000anew \\u0001 \\\\ \\\"q\\\" \xce\xb4\"") != NULL,
			 "name escaped: %s", json);
	for (p = json; *p; p++)
		HG_CHECK((unsigned char) *p >= 0x20, "raw control character 0x%02x at %d", (unsigned char) *p, (int) (p - json));
}

static void
test_names(void)
{
	hg_antenna_kind a;

	HG_CHECK(strcmp(hg_modulation_name(HG_MOD_QPSK), "qpsk") == 0, "qpsk");
	HG_CHECK(strcmp(hg_outcome_name(HG_REJECT_GDOP), "gdop") == 0, "gdop");
	HG_CHECK(strcmp(hg_content_name((hg_content) 99), "unknown") == 0, "out of range");
	HG_CHECK(hg_antenna_from_name("log_periodic", &a) && a == HG_ANT_LOG_PERIODIC, "antenna by name");
	HG_CHECK(!hg_antenna_from_name("dish", &a), "unknown antenna");
}

int
main(void)
{
	HG_RUN(test_defaults_follow_signal_model);
	HG_RUN(test_thermal_noise_over_the_band);
	HG_RUN(test_set_valid_values);
	HG_RUN(test_bad_values_rejected_with_field_and_range);
	HG_RUN(test_underflow_is_a_small_number);
	HG_RUN(test_cross_field_constraints);
	HG_RUN(test_modulations_fit_the_channel);
	HG_RUN(test_symbol_rate_checked_only_with_psk);
	HG_RUN(test_channel_fits_the_recording);
	HG_RUN(test_resolved_json_round_trip);
	HG_RUN(test_receiver_name_with_control_characters);
	HG_RUN(test_names);
	return HG_TEST_SUMMARY();
}
