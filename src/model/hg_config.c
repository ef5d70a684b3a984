/*
 * hg_config.c
 *    The model's configuration: one table lists every parameter of
 *    signal-model.md with its type, default and allowed range, and the
 *    functions that fill defaults, set one parameter from its JSON text
 *    (validating it on the way in), check the constraints between fields,
 *    and write the fully resolved configuration back out as JSON.  Keeping
 *    all of it in one table means a parameter is added in exactly one place,
 *    and its error message, its default in the dataset row and its parser
 *    can never disagree.
 */
#include "hg_model.h"
#include "hg_math.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Names of the enumerations
 * ------------------------------------------------------------------------ */

static const char *const modulation_names[HG_MOD_COUNT] = {
	"fm", "am", "cw", "fsk", "bpsk", "qpsk"
};
static const char *const content_names[HG_CONTENT_COUNT] = {
	"voice", "tone", "dtmf", "data"
};
static const char *const antenna_names[HG_ANT_COUNT] = {
	"omni", "yagi", "log_periodic", "collinear", "whip", "rubber_duck",
	"portable_directional"
};
static const char *const outcome_names[HG_OUTCOME_COUNT] = {
	"kept", "too_few_detected", "low_mean_snr", "gdop"
};
static const char *const layout_names[] = {"uniform", "hexagonal", "fixed"};
static const char *const terrain_names[] = {"statistical", "knife_edge"};
static const char *const iq_storage_names[] = {"stored", "virtual"};

#define NAME_OR_UNKNOWN(table, n, v) \
	(((int) (v) >= 0 && (int) (v) < (n)) ? (table)[(int) (v)] : "unknown")

const char *
hg_modulation_name(hg_modulation m)
{
	return NAME_OR_UNKNOWN(modulation_names, HG_MOD_COUNT, m);
}

const char *
hg_content_name(hg_content c)
{
	return NAME_OR_UNKNOWN(content_names, HG_CONTENT_COUNT, c);
}

const char *
hg_antenna_name(hg_antenna_kind a)
{
	return NAME_OR_UNKNOWN(antenna_names, HG_ANT_COUNT, a);
}

const char *
hg_outcome_name(hg_outcome o)
{
	return NAME_OR_UNKNOWN(outcome_names, HG_OUTCOME_COUNT, o);
}

bool
hg_antenna_from_name(const char *name, hg_antenna_kind *kind)
{
	int			k;

	for (k = 0; k < HG_ANT_COUNT; k++)
		if (strcmp(name, antenna_names[k]) == 0)
		{
			*kind = (hg_antenna_kind) k;
			return true;
		}
	return false;
}

bool
hg_antenna_is_rx(hg_antenna_kind kind)
{
	return kind == HG_ANT_OMNI || kind == HG_ANT_YAGI ||
		kind == HG_ANT_LOG_PERIODIC || kind == HG_ANT_COLLINEAR;
}

/* ------------------------------------------------------------------------
 * The parameter table
 * ------------------------------------------------------------------------ */

typedef enum param_type
{
	PARAM_DOUBLE,
	PARAM_INT,
	PARAM_BOOL,
	PARAM_ENUM
} param_type;

typedef struct param_def
{
	const char *name;
	param_type	type;
	size_t		offset;
	double		def;			/* for enums: the index; for bools: 0 / 1 */
	double		min;
	double		max;
	const char *const *enum_names;
	int			n_enum;
} param_def;

#define F(field) offsetof(hg_config, field)
#define DBL(field, def, lo, hi) {#field, PARAM_DOUBLE, F(field), def, lo, hi, NULL, 0}
#define INT(field, def, lo, hi) {#field, PARAM_INT, F(field), def, lo, hi, NULL, 0}
#define BOOL(field, def) {#field, PARAM_BOOL, F(field), def, 0, 1, NULL, 0}
#define ENUM(field, def, names) \
	{#field, PARAM_ENUM, F(field), def, 0, 0, names, (int) (sizeof(names) / sizeof((names)[0]))}

static const param_def params[] = {
	/* recording */
	DBL(sample_rate_hz, 50000, 8000, 1000000),
	DBL(duration_ms, 200, 1, 2000),
	DBL(channel_bw_hz, 12500, 1000, 1000000),
	DBL(frequency_min_hz, 145e6, 1e6, 6e9),
	DBL(frequency_max_hz, 145e6, 1e6, 6e9),
	/* receivers */
	ENUM(rx_layout, HG_LAYOUT_UNIFORM, layout_names),
	INT(rx_count_min, 5, HG_MIN_RECEIVERS, HG_MAX_RECEIVERS),
	INT(rx_count_max, 10, HG_MIN_RECEIVERS, HG_MAX_RECEIVERS),
	DBL(area_lat_min, 44, -85, 85),
	DBL(area_lat_max, 46, -85, 85),
	DBL(area_lon_min, 7, -180, 180),
	DBL(area_lon_max, 10, -180, 180),
	DBL(hex_jitter, 0.1, 0, 0.5),
	DBL(rx_height_min_m, 10, 0, 500),
	DBL(rx_height_max_m, 20, 0, 500),
	/* transmitter */
	DBL(tx_power_min_dbm, 37, -30, 70),
	DBL(tx_power_max_dbm, 37, -30, 70),
	DBL(tx_height_m, 2, 0, 2000),
	DBL(inside_ratio, 0.7, 0, 1),
	DBL(margin_deg, 0.5, 0, 5),
	/* link budget */
	DBL(env_loss_min_db, 5, 0, 60),
	DBL(env_loss_max_db, 15, 0, 60),
	ENUM(terrain_model, HG_TERRAIN_STATISTICAL, terrain_names),
	DBL(slow_sigma_min_db, 3, 0, 20),
	DBL(slow_sigma_max_db, 6, 0, 20),
	DBL(rician_k_min_db, 6, -10, 30),
	DBL(rician_k_max_db, 10, -10, 30),
	DBL(rayleigh_beyond_km, 50, 0, 20000),
	DBL(fading_clip_min_db, -15, -60, 0),
	DBL(fading_clip_max_db, 5, 0, 30),
	BOOL(atmospheric_absorption, 0),
	BOOL(tropo_ducting, 0),
	BOOL(sporadic_e, 0),
	BOOL(polarization_mismatch, 0),
	DBL(noise_floor_dbm, -120, -180, -50),
	/* waveform */
	DBL(weight_fm, 1, 0, 1e6),
	DBL(weight_am, 0, 0, 1e6),
	DBL(weight_cw, 0, 0, 1e6),
	DBL(weight_fsk, 0, 0, 1e6),
	DBL(weight_bpsk, 0, 0, 1e6),
	DBL(weight_qpsk, 0, 0, 1e6),
	DBL(weight_voice, 0.9, 0, 1e6),
	DBL(weight_tone, 0.05, 0, 1e6),
	DBL(weight_dtmf, 0.05, 0, 1e6),
	DBL(fm_deviation_hz, 5000, 100, 100000),
	DBL(am_index, 0.8, 0.05, 1),
	DBL(symbol_rate_hz, 4800, 50, 500000),
	DBL(fsk_shift_hz, 2000, 50, 500000),
	DBL(rrc_rolloff, 0.35, 0.05, 1),
	DBL(cw_wpm, 20, 5, 60),
	/* channel */
	DBL(freq_error_max_hz, 50, 0, 5000),
	BOOL(multipath, 1),
	INT(echoes_min, 2, 0, 5),
	INT(echoes_max, 3, 0, 5),
	DBL(echo_delay_min_us, 0.5, 0, 50),
	DBL(echo_delay_max_us, 5, 0, 50),
	DBL(echo_atten_min_db, -25, -60, 0),
	DBL(echo_atten_max_db, -10, -60, 0),
	BOOL(block_fading, 1),
	DBL(coherence_min_ms, 50, 1, 10000),
	DBL(coherence_max_ms, 200, 1, 10000),
	BOOL(noise, 1),
	/* which samples are kept */
	DBL(min_snr_db, 3, -30, 60),
	INT(min_receivers, 3, HG_MIN_RECEIVERS, HG_MAX_RECEIVERS),
	DBL(max_gdop, 10, 1, 1e6),
	/* dataset layout (split_ratios, an array, is handled apart) */
	ENUM(iq_storage, HG_IQ_STORED, iq_storage_names),
};

#define SPLIT_SUM_TOLERANCE 1e-9
static const double default_split_ratios[3] = {0.8, 0.1, 0.1};

#define N_PARAMS ((int) (sizeof(params) / sizeof(params[0])))

/* The longest reception a configuration may ask for: 2^18 complex samples (2 MiB). */
#define HG_MAX_IQ_LENGTH 262144

static void *
field_ptr(hg_config *cfg, const param_def *p)
{
	return (char *) cfg + p->offset;
}

static const void *
field_cptr(const hg_config *cfg, const param_def *p)
{
	return (const char *) cfg + p->offset;
}

static void
store(hg_config *cfg, const param_def *p, double v)
{
	void	   *dst = field_ptr(cfg, p);

	switch (p->type)
	{
		case PARAM_DOUBLE:
			*(double *) dst = v;
			break;
		case PARAM_INT:
			*(int *) dst = (int) v;
			break;
		case PARAM_BOOL:
			*(bool *) dst = v != 0.0;
			break;
		case PARAM_ENUM:
			/* every enum field of hg_config is a plain C enum: int-sized */
			*(int *) dst = (int) v;
			break;
	}
}

#if defined(__GNUC__)
#define HG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define HG_PRINTF(f, a)
#endif

static int	set_error(char *errmsg, size_t len, const char *fmt,...) HG_PRINTF(3, 4);

static int
set_error(char *errmsg, size_t len, const char *fmt,...)
{
	va_list		ap;

	if (errmsg && len > 0)
	{
		va_start(ap, fmt);
		/* clang-analyzer 14 misses va_start here (a known false positive) */
		vsnprintf(errmsg, len, fmt, ap);	/* NOLINT(clang-analyzer-valist.Uninitialized) */
		va_end(ap);
	}
	return 0;
}

void
hg_config_init(hg_config *cfg)
{
	int			k;

	memset(cfg, 0, sizeof(*cfg));
	cfg->model_version = HG_MODEL_VERSION;
	for (k = 0; k < N_PARAMS; k++)
		store(cfg, &params[k], params[k].def);
	for (k = 0; k < 3; k++)
		cfg->split_ratios[k] = default_split_ratios[k];
}

/* The checks of split_ratios, shared by its setter and hg_config_validate. */
static bool
check_split_ratios(const double *r, int n, char *errmsg, size_t errmsg_len)
{
	double		sum = 0.0;
	int			k;

	if (n != 3)
		return set_error(errmsg, errmsg_len,
						 "parameter \"split_ratios\" must be an array of 3 numbers (train, val, test), not %d", n);
	for (k = 0; k < 3; k++)
	{
		if (!(r[k] >= 0.0 && r[k] <= 1.0))
			return set_error(errmsg, errmsg_len,
							 "parameter \"split_ratios\": element %d (%.10g) is not between 0 and 1", k, r[k]);
		sum += r[k];
	}
	if (!(fabs(sum - 1.0) <= SPLIT_SUM_TOLERANCE))
		return set_error(errmsg, errmsg_len,
						 "parameter \"split_ratios\" must sum to 1 (within 1e-9), not %.17g", sum);
	return true;
}

bool
hg_config_set_split_ratios(hg_config *cfg, const double *ratios, int n,
						   char *errmsg, size_t errmsg_len)
{
	int			k;

	if (ratios == NULL)
		return set_error(errmsg, errmsg_len, "parameter \"split_ratios\" must not be null");
	if (!check_split_ratios(ratios, n, errmsg, errmsg_len))
		return false;
	for (k = 0; k < 3; k++)
		cfg->split_ratios[k] = ratios[k];
	return true;
}

/*
 * The value as an error message shows it: its first 40 bytes, so that the
 * allowed range after it is not cut off (1e308 arrives as a 309-digit
 * number), and never half a UTF-8 character (a message with one fails to
 * convert to the client's encoding, a second error in place of the first).
 */
static const char *
shown_value(const char *value, char *buf, size_t len)
{
	int			keep = 40;
	int			lowest = keep - 3;	/* a UTF-8 character has 3 continuation bytes at most */

	if (strlen(value) <= (size_t) keep)
		return value;

	/*
	 * A continuation byte (10xxxxxx) at the cut: the character began before
	 * it.  In another encoding such bytes are not continuations, and no more
	 * than 3 are stepped over; the glue makes any character left cut a '?'.
	 */
	while (keep > lowest && ((unsigned char) value[keep] & 0xC0) == 0x80)
		keep--;
	snprintf(buf, len, "%.*s...", keep, value);
	return buf;
}

/*
 * split_ratios from its JSON text: "[" number ("," number)* "]" with
 * optional blanks.  Anything else is an error naming the key.
 */
static bool
set_split_ratios_json(hg_config *cfg, const char *value, char *errmsg, size_t errmsg_len)
{
	char		shown_buf[48];
	double		r[4] = {0.0, 0.0, 0.0, 0.0};
	int			n = 0;
	const char *p = value;
	char	   *end;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p++ != '[')
		goto bad;
	for (;;)
	{
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (n == 0 && *p == ']')
			break;
		if (n == 4 || *p == '"' || *p == '[' || *p == '{')
			goto bad;
		r[n] = strtod(p, &end);
		/* as for a scalar: an underflow (1e-400) is a tiny number, an overflow is not finite */
		if (end == p || !isfinite(r[n]))
			goto bad;
		n++;
		p = end;
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p == ']')
			break;
		goto bad;
	}
	p++;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p != '\0')
		goto bad;
	return hg_config_set_split_ratios(cfg, r, n, errmsg, errmsg_len);
bad:
	return set_error(errmsg, errmsg_len,
					 "parameter \"split_ratios\" must be an array of 3 numbers between 0 and 1 summing to 1, not %s",
					 shown_value(value, shown_buf, sizeof(shown_buf)));
}

static const param_def *
find_param(const char *key)
{
	int			k;

	for (k = 0; k < N_PARAMS; k++)
		if (strcmp(params[k].name, key) == 0)
			return &params[k];
	return NULL;
}

/* Text of a JSON string without its quotes, if value is one (no escapes). */
static bool
json_plain_string(const char *value, char *out, size_t out_len)
{
	size_t		n = strlen(value);

	if (n < 2 || value[0] != '"' || value[n - 1] != '"' || n - 2 >= out_len)
		return false;
	memcpy(out, value + 1, n - 2);
	out[n - 2] = '\0';
	return strchr(out, '\\') == NULL && strchr(out, '"') == NULL;
}

static void
describe_enum(const param_def *p, char *buf, size_t len)
{
	size_t		used = 0;
	int			k;

	buf[0] = '\0';
	for (k = 0; k < p->n_enum && used < len; k++)
		used += (size_t) snprintf(buf + used, len - used, "%s\"%s\"",
								  k == 0 ? "" : ", ", p->enum_names[k]);
}

bool
hg_config_set(hg_config *cfg, const char *key, const char *value,
			  char *errmsg, size_t errmsg_len)
{
	const param_def *p;
	char		text[64];
	char		shown_buf[48];
	const char *shown;
	char	   *end;
	double		v;
	int			k;

	if (key == NULL || value == NULL)
		return set_error(errmsg, errmsg_len, "parameter name and value must not be null");
	shown = shown_value(value, shown_buf, sizeof(shown_buf));
	if (strcmp(key, "split_ratios") == 0)
		return set_split_ratios_json(cfg, value, errmsg, errmsg_len);
	p = find_param(key);
	if (p == NULL)
	{
		/* a key of any length: cut as a value is, not by the message's size */
		char		key_buf[48];

		return set_error(errmsg, errmsg_len, "unknown parameter \"%s\"", shown_value(key, key_buf, sizeof(key_buf)));
	}

	switch (p->type)
	{
		case PARAM_BOOL:
			if (strcmp(value, "true") == 0)
				v = 1;
			else if (strcmp(value, "false") == 0)
				v = 0;
			else
				return set_error(errmsg, errmsg_len,
								 "parameter \"%s\" must be a boolean (true or false), not %s",
								 key, shown);
			break;

		case PARAM_ENUM:
			if (!json_plain_string(value, text, sizeof(text)))
			{
				char		allowed[200];

				describe_enum(p, allowed, sizeof(allowed));
				return set_error(errmsg, errmsg_len,
								 "parameter \"%s\" must be a string, one of %s, not %s",
								 key, allowed, shown);
			}
			for (k = 0; k < p->n_enum; k++)
				if (strcmp(text, p->enum_names[k]) == 0)
					break;
			if (k == p->n_enum)
			{
				char		allowed[200];

				describe_enum(p, allowed, sizeof(allowed));
				return set_error(errmsg, errmsg_len,
								 "parameter \"%s\" must be one of %s, not \"%s\"",
								 key, allowed, text);
			}
			v = k;
			break;

		case PARAM_DOUBLE:
		case PARAM_INT:
		default:
			v = strtod(value, &end);
			/* an underflow (1e-320) is a tiny number, checked against the range below */
			if (end == value || *end != '\0' || !isfinite(v) ||
				value[0] == '"')
				return set_error(errmsg, errmsg_len,
								 "parameter \"%s\" must be %s between %.10g and %.10g, not %s",
								 key, p->type == PARAM_INT ? "an integer" : "a number",
								 p->min, p->max, shown);
			if (p->type == PARAM_INT && v != floor(v))
				return set_error(errmsg, errmsg_len,
								 "parameter \"%s\" must be an integer between %.10g and %.10g, not %s",
								 key, p->min, p->max, shown);
			if (v < p->min || v > p->max)
				return set_error(errmsg, errmsg_len,
								 "parameter \"%s\" is out of range: %s is not between %.10g and %.10g",
								 key, shown, p->min, p->max);
			break;
	}
	store(cfg, p, v);
	return true;
}

/* lo <= hi for a pair of fields, else an error naming both. */
#define CHECK_ORDER(lo, hi) \
	do { \
		if (cfg->lo > cfg->hi) \
			return set_error(errmsg, errmsg_len, \
							 "parameter \"" #lo "\" (%.10g) must not exceed \"" #hi "\" (%.10g)", \
							 (double) cfg->lo, (double) cfg->hi); \
	} while (0)

bool
hg_config_modulations_fit_channel(const hg_config *cfg, char *errmsg, size_t errmsg_len)
{
	if (cfg->weight_fsk > 0.0 && cfg->fsk_shift_hz + cfg->symbol_rate_hz > cfg->channel_bw_hz)
		return set_error(errmsg, errmsg_len,
						 "parameter \"fsk_shift_hz\" (%.10g) with \"symbol_rate_hz\" (%.10g) occupies more than "
						 "\"channel_bw_hz\" (%.10g): the 2-FSK tones must fit in the channel (shift + symbol rate "
						 "at most the channel bandwidth), or set \"weight_fsk\" to 0",
						 cfg->fsk_shift_hz, cfg->symbol_rate_hz, cfg->channel_bw_hz);
	if (cfg->weight_fm > 0.0 && 2.0 * cfg->fm_deviation_hz > cfg->channel_bw_hz)
		return set_error(errmsg, errmsg_len,
						 "parameter \"fm_deviation_hz\" (%.10g) swings the FM carrier beyond \"channel_bw_hz\" "
						 "(%.10g): at most half the channel bandwidth, or set \"weight_fm\" to 0",
						 cfg->fm_deviation_hz, cfg->channel_bw_hz);
	return true;
}

/*
 * Coherence times of coherence_ms in one reception, computed as
 * hg_channel_apply does: it holds ceil(that + phase) + 2 fading blocks,
 * phase in [0, 1), so at most HG_MAX_FADING_BLOCKS when this is at most
 * HG_MAX_FADING_BLOCKS - 3.
 */
static double
coherence_times(const hg_config *cfg, double coherence_ms)
{
	return hg_config_iq_length(cfg) * (1.0 / (coherence_ms / 1000.0 * cfg->sample_rate_hz));
}

bool
hg_config_channel_fits_recording(const hg_config *cfg, char *errmsg, size_t errmsg_len)
{
	double		occupied = 0.0,
				largest_error;
	const char *what = "";

	/* the receiver's frequency error is the only shift added to the baseband */
	if (cfg->weight_fm > 0.0)
	{
		occupied = 2.0 * cfg->fm_deviation_hz;
		what = "2 x \"fm_deviation_hz\"";
	}
	if (cfg->weight_am + cfg->weight_cw + cfg->weight_fsk + cfg->weight_bpsk + cfg->weight_qpsk > 0.0 &&
		cfg->channel_bw_hz > occupied)
	{
		occupied = cfg->channel_bw_hz;
		what = "\"channel_bw_hz\"";
	}
	largest_error = 0.5 * (cfg->sample_rate_hz - occupied);
	if (largest_error < 0.0)
		largest_error = 0.0;
	if (cfg->freq_error_max_hz > largest_error)
		return set_error(errmsg, errmsg_len,
						 "parameter \"freq_error_max_hz\" (%.10g) must be at most %.10g with \"sample_rate_hz\" (%.10g): "
						 "the offset carrier plus half its band (%s, %.10g Hz) would pass sample_rate_hz/2 and wrap around",
						 cfg->freq_error_max_hz, largest_error, cfg->sample_rate_hz, what, occupied);

	if (cfg->block_fading && coherence_times(cfg, cfg->coherence_min_ms) > HG_MAX_FADING_BLOCKS - 3)
	{
		/* the shortest allowed, rounded up to 0.01 ms: the value shown is accepted */
		double		shortest = ceil(100.0 * hg_config_iq_length(cfg) * 1000.0 /
									((HG_MAX_FADING_BLOCKS - 3) * cfg->sample_rate_hz)) / 100.0;

		while (coherence_times(cfg, shortest) > HG_MAX_FADING_BLOCKS - 3)
			shortest += 0.01;
		return set_error(errmsg, errmsg_len,
						 "parameter \"coherence_min_ms\" (%.10g) is too short for \"duration_ms\" (%.10g): "
						 "at most %d coherence times per reception, so at least %.10g, or \"block_fading\": false",
						 cfg->coherence_min_ms, cfg->duration_ms, HG_MAX_FADING_BLOCKS - 3, shortest);
	}
	return true;
}

double
hg_config_thermal_noise_dbm(const hg_config *cfg)
{
	const double boltzmann = 1.380649e-23;	/* J/K, exact since 2019 */
	const double reference_kelvin = 290.0;

	/* W -> mW: + 30 dB */
	return 10.0 * hg_log10(boltzmann * reference_kelvin * cfg->sample_rate_hz) + 30.0;
}

bool
hg_config_validate(const hg_config *cfg, char *errmsg, size_t errmsg_len)
{
	double		n_iq = cfg->duration_ms * cfg->sample_rate_hz / 1000.0;
	int			available_rx;

	if (!hg_model_generates(cfg->model_version))
		return set_error(errmsg, errmsg_len, "model version %d is not one this model generates (%d to %d)",
						 cfg->model_version, HG_MODEL_VERSION_OLDEST, HG_MODEL_VERSION);
	CHECK_ORDER(frequency_min_hz, frequency_max_hz);
	CHECK_ORDER(rx_count_min, rx_count_max);
	CHECK_ORDER(area_lat_min, area_lat_max);
	CHECK_ORDER(area_lon_min, area_lon_max);
	CHECK_ORDER(rx_height_min_m, rx_height_max_m);
	CHECK_ORDER(tx_power_min_dbm, tx_power_max_dbm);
	CHECK_ORDER(env_loss_min_db, env_loss_max_db);
	CHECK_ORDER(slow_sigma_min_db, slow_sigma_max_db);
	CHECK_ORDER(rician_k_min_db, rician_k_max_db);
	CHECK_ORDER(fading_clip_min_db, fading_clip_max_db);
	CHECK_ORDER(echoes_min, echoes_max);
	CHECK_ORDER(echo_delay_min_us, echo_delay_max_us);
	CHECK_ORDER(echo_atten_min_db, echo_atten_max_db);
	CHECK_ORDER(coherence_min_ms, coherence_max_ms);

	if (cfg->channel_bw_hz > cfg->sample_rate_hz)
		return set_error(errmsg, errmsg_len,
						 "parameter \"channel_bw_hz\" (%.10g) must not exceed \"sample_rate_hz\" (%.10g)",
						 cfg->channel_bw_hz, cfg->sample_rate_hz);
	if (n_iq < 64 || n_iq > HG_MAX_IQ_LENGTH)
		return set_error(errmsg, errmsg_len,
						 "parameters \"duration_ms\" and \"sample_rate_hz\" give %.10g complex samples per reception; allowed 64 to %d",
						 n_iq, HG_MAX_IQ_LENGTH);
	if (cfg->weight_fm + cfg->weight_am + cfg->weight_cw + cfg->weight_fsk +
		cfg->weight_bpsk + cfg->weight_qpsk <= 0.0)
		return set_error(errmsg, errmsg_len,
						 "parameters \"weight_fm\" .. \"weight_qpsk\": at least one modulation weight must be positive");
	if (cfg->weight_fm + cfg->weight_am > 0.0 &&
		cfg->weight_voice + cfg->weight_tone + cfg->weight_dtmf <= 0.0)
		return set_error(errmsg, errmsg_len,
						 "parameters \"weight_voice\", \"weight_tone\", \"weight_dtmf\": at least one must be positive when FM or AM can be drawn");
	/* only the RRC-shaped modulations occupy symbol_rate * (1 + rolloff) */
	if (cfg->weight_bpsk + cfg->weight_qpsk > 0.0 &&
		cfg->symbol_rate_hz * (1.0 + cfg->rrc_rolloff) > cfg->channel_bw_hz)
		return set_error(errmsg, errmsg_len,
						 "parameter \"symbol_rate_hz\" (%.10g) with \"rrc_rolloff\" (%.3g) occupies more than \"channel_bw_hz\" (%.10g), "
						 "or set \"weight_bpsk\" and \"weight_qpsk\" to 0",
						 cfg->symbol_rate_hz, cfg->rrc_rolloff, cfg->channel_bw_hz);

	if (!check_split_ratios(cfg->split_ratios, 3, errmsg, errmsg_len))
		return false;

	if (cfg->rx_layout == HG_LAYOUT_FIXED)
	{
		if (cfg->n_fixed_rx < HG_MIN_RECEIVERS)
			return set_error(errmsg, errmsg_len,
							 "a fixed receiver network needs %d to %d receivers, it has %d",
							 HG_MIN_RECEIVERS, HG_MAX_FIXED_RECEIVERS, cfg->n_fixed_rx);
		available_rx = cfg->n_fixed_rx;
	}
	else
		available_rx = cfg->rx_count_max;
	if (cfg->min_receivers > available_rx)
		return set_error(errmsg, errmsg_len,
						 "parameter \"min_receivers\" (%d) exceeds the %d receivers a sample can have",
						 cfg->min_receivers, available_rx);
	return true;
}

bool
hg_config_add_fixed_receiver(hg_config *cfg, const hg_fixed_receiver *rx,
							 char *errmsg, size_t errmsg_len)
{
	hg_fixed_receiver *slot;

	if (cfg->n_fixed_rx >= HG_MAX_FIXED_RECEIVERS)
		return set_error(errmsg, errmsg_len,
						 "a fixed receiver network has at most %d receivers", HG_MAX_FIXED_RECEIVERS);
	if (rx->name[0] == '\0' || memchr(rx->name, '\0', HG_RX_NAME_LEN) == NULL)
		return set_error(errmsg, errmsg_len,
						 "receiver name must be 1 to %d characters", HG_RX_NAME_LEN - 1);
	if (!(rx->lat_deg >= -85 && rx->lat_deg <= 85))
		return set_error(errmsg, errmsg_len,
						 "receiver \"%s\": lat %.10g is not between -85 and 85", rx->name, rx->lat_deg);
	if (!(rx->lon_deg >= -180 && rx->lon_deg <= 180))
		return set_error(errmsg, errmsg_len,
						 "receiver \"%s\": lon %.10g is not between -180 and 180", rx->name, rx->lon_deg);
	if (!(rx->alt_m >= 0 && rx->alt_m <= 500))
		return set_error(errmsg, errmsg_len,
						 "receiver \"%s\": alt_m %.10g (height above ground) is not between 0 and 500",
						 rx->name, rx->alt_m);
	if (!hg_antenna_is_rx(rx->antenna))
		return set_error(errmsg, errmsg_len,
						 "receiver \"%s\": antenna must be one of \"omni\", \"yagi\", \"log_periodic\", \"collinear\"",
						 rx->name);
	if (!(rx->azimuth_deg >= 0 && rx->azimuth_deg < 360))
		return set_error(errmsg, errmsg_len,
						 "receiver \"%s\": azimuth_deg %.10g is not in [0, 360)", rx->name, rx->azimuth_deg);
	/* field by field into a zeroed slot: no uninitialised padding in cfg */
	slot = &cfg->fixed_rx[cfg->n_fixed_rx++];
	memset(slot, 0, sizeof(*slot));
	memcpy(slot->name, rx->name, sizeof(slot->name));
	slot->lat_deg = rx->lat_deg;
	slot->lon_deg = rx->lon_deg;
	slot->alt_m = rx->alt_m;
	slot->antenna = rx->antenna;
	slot->azimuth_deg = rx->azimuth_deg;
	cfg->rx_layout = HG_LAYOUT_FIXED;
	return true;
}

/* Shortest "%.Ng" that reads back as exactly v, so 0.1 prints as 0.1. */
static void
format_double(double v, char *buf, size_t len)
{
	int			digits;

	for (digits = 15; digits <= 17; digits++)
	{
		snprintf(buf, len, "%.*g", digits, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* Appends to a buffer like snprintf, tracking the length that would be needed. */
typedef struct json_out
{
	char	   *buf;
	size_t		len;
	size_t		used;
} json_out;

static void emit(json_out *o, const char *fmt,...) HG_PRINTF(2, 3);

static void
emit(json_out *o, const char *fmt,...)
{
	va_list		ap;
	int			n;
	size_t		room = o->used < o->len ? o->len - o->used : 0;

	va_start(ap, fmt);
	/* as in set_error: va_start is right above, whatever clang-analyzer 14 says */
	n = vsnprintf(room ? o->buf + o->used : NULL, room, fmt, ap);	/* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	if (n > 0)
		o->used += (size_t) n;
}

size_t
hg_config_to_json(const hg_config *cfg, char *buf, size_t buf_len)
{
	json_out	o = {buf, buf_len, 0};
	char		num[40];
	int			k;

	if (buf && buf_len)
		buf[0] = '\0';
	emit(&o, "{");
	for (k = 0; k < N_PARAMS; k++)
	{
		const param_def *p = &params[k];
		const void *src = field_cptr(cfg, p);

		emit(&o, "%s\"%s\": ", k ? ", " : "", p->name);
		switch (p->type)
		{
			case PARAM_DOUBLE:
				format_double(*(const double *) src, num, sizeof(num));
				emit(&o, "%s", num);
				break;
			case PARAM_INT:
				emit(&o, "%d", *(const int *) src);
				break;
			case PARAM_BOOL:
				emit(&o, "%s", *(const bool *) src ? "true" : "false");
				break;
			case PARAM_ENUM:
				emit(&o, "\"%s\"", NAME_OR_UNKNOWN(p->enum_names, p->n_enum, *(const int *) src));
				break;
		}
	}
	emit(&o, ", \"split_ratios\": [");
	for (k = 0; k < 3; k++)
	{
		format_double(cfg->split_ratios[k], num, sizeof(num));
		emit(&o, "%s%s", k ? ", " : "", num);
	}
	emit(&o, "], \"fixed_receivers\": [");
	for (k = 0; k < cfg->n_fixed_rx; k++)
	{
		const hg_fixed_receiver *rx = &cfg->fixed_rx[k];
		char		lat[40],
					lon[40],
					alt[40],
					az[40];

		format_double(rx->lat_deg, lat, sizeof(lat));
		format_double(rx->lon_deg, lon, sizeof(lon));
		format_double(rx->alt_m, alt, sizeof(alt));
		format_double(rx->azimuth_deg, az, sizeof(az));
		/* a name is any text: escaped as JSON wants (quote, backslash, control characters) */
		emit(&o, "%s{\"name\": \"", k ? ", " : "");
		for (const unsigned char *c = (const unsigned char *) rx->name; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				emit(&o, "\\%c", *c);
			else if (*c < 0x20)
				emit(&o, "\\u%04x", (unsigned) *c);
			else
				emit(&o, "%c", *c);
		}
		emit(&o, "\", \"lat\": %s, \"lon\": %s, \"alt_m\": %s, \"antenna\": \"%s\", \"azimuth_deg\": %s}",
			 lat, lon, alt, hg_antenna_name(rx->antenna), az);
	}
	emit(&o, "]}");
	return o.used;
}

int
hg_config_iq_length(const hg_config *cfg)
{
	return (int) lround(cfg->duration_ms * cfg->sample_rate_hz / 1000.0);
}

int
hg_config_param_count(void)
{
	return N_PARAMS;
}

const char *
hg_config_param_name(int k)
{
	return (k >= 0 && k < N_PARAMS) ? params[k].name : NULL;
}
