/*
 * hg_params.c
 *    params jsonb -> hg_config, and back (see hg_params.h).
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/numeric.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "hg_params.h"
#include "hg_sql.h"

PG_FUNCTION_INFO_V1(hg_resolve_params);
PG_FUNCTION_INFO_V1(hg_resolve_params_as);

/* each raises its ERROR: no caller goes on with the bad value */
static void bad_params(const char *msg) pg_attribute_noreturn();
static void bad_params_hint(const char *msg, const char *hint) pg_attribute_noreturn();
static void bad_receiver(const char *network, const char *msg) pg_attribute_noreturn();

/*
 * The message with any character cut in two made a '?'.  The model cuts a
 * user's key or value at a byte count (and its messages at 255 bytes), knows
 * no encoding but UTF-8, and a message holding half a character of the
 * server's encoding fails to convert to the client's: a second error in
 * place of the one that says what is wrong (a C review).
 */
static char *
whole_characters(const char *msg)
{
	char	   *out = pstrdup(msg);
	int			len = (int) strlen(out);
	int			encoding = GetDatabaseEncoding();
	int			i = 0;

	while (i < len)
	{
		int			n = pg_encoding_verifymbchar(encoding, out + i, len - i);

		if (n <= 0)
		{
			out[i] = '?';
			n = 1;
		}
		i += n;
	}
	return out;
}

static void
bad_params(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid params: %s", whole_characters(msg)),
			 errhint("Every key of params is a generator parameter; "
					 "SELECT heimdall_gen.resolve_params() lists them with their defaults.")));
}

/* The same, for a refusal the generic hint about keys would not help with. */
static void
bad_params_hint(const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid params: %s", whole_characters(msg)),
			 errhint("%s", hint)));
}

/*
 * Whether fixed_receivers gives receivers: an empty list, which
 * resolve_params() prints as the default, gives none, and goes with a
 * receiver_network (a user's review: params built from resolve_params()
 * could not name a network).
 */
static bool
gives_receivers(const JsonbValue *v)
{
	return !(v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
			 JsonContainerSize(v->val.binary.data) == 0);
}

/* The JSON text of a scalar, as hg_config_set expects it. */
static char *
scalar_json_text(JsonbValue *v)
{
	StringInfoData buf;

	switch (v->type)
	{
		case jbvString:
			initStringInfo(&buf);
			{
				char	   *s = pnstrdup(v->val.string.val, v->val.string.len);

				escape_json(&buf, s);
			}
			return buf.data;
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvNull:
			return pstrdup("null");
		default:
			return pstrdup("(a JSON array or object)");
	}
}

/* The JSON text of any value: scalars as above, arrays (split_ratios) whole. */
static char *
json_text(JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	return scalar_json_text(v);
}

/* Field key of a receiver object in container c, or NULL. */
static JsonbValue *
receiver_field(JsonbContainer *c, const char *key)
{
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

static double
receiver_number(JsonbContainer *c, const char *key, double dflt, int index)
{
	JsonbValue *v = receiver_field(c, key);

	if (v == NULL)
		return dflt;
	if (v->type != jbvNumeric)
		bad_params(psprintf("fixed_receivers[%d].%s must be a number", index, key));

	/*
	 * Through the text: numeric_float8 would raise its own "out of range"
	 * for 1e400, naming neither the receiver nor the field.  A number too
	 * large for a double becomes infinite, one too small 0 (not a range
	 * error: the model's own range check then names the field).
	 */
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		double		d = strtod(text, NULL);

		if (!isfinite(d))
			bad_params(psprintf("fixed_receivers[%d].%s must be a finite number, not %s", index, key,
								hg_shown(text)));
		return d;
	}
}

/*
 * A receiver's bad value, said where it is to be fixed: a row of a stored
 * network (network not NULL) is named by its network and table.
 */
static void
bad_receiver(const char *network, const char *msg)
{
	if (network == NULL)
		bad_params(msg);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid params: receiver_network \"%s\" in heimdall_gen.receivers: %s", hg_shown(network),
					whole_characters(msg)),
			 errhint("Correct that row of heimdall_gen.receivers (network \"%s\").", hg_shown(network))));
}

static void
add_receiver(hg_config *cfg, const char *network, const char *name, double lat, double lon, double alt,
			 const char *antenna, double azimuth)
{
	hg_fixed_receiver rx;
	char		err[HG_ERRMSG_LEN];

	memset(&rx, 0, sizeof(rx));
	if (name == NULL || strlen(name) < 1 || strlen(name) >= HG_RX_NAME_LEN)
		bad_receiver(network, psprintf("receiver name \"%s\" must be 1 to %d bytes long (UTF-8)",
									   name ? hg_shown(name) : "", HG_RX_NAME_LEN - 1));
	strlcpy(rx.name, name, sizeof(rx.name));
	rx.lat_deg = lat;
	rx.lon_deg = lon;
	rx.alt_m = alt;
	rx.azimuth_deg = azimuth;
	if (!hg_antenna_from_name(antenna, &rx.antenna))
		bad_receiver(network, psprintf("receiver \"%s\": antenna \"%s\" is not one of \"omni\", \"yagi\", \"log_periodic\", \"collinear\"",
									   name, hg_shown(antenna)));
	if (!hg_config_add_fixed_receiver(cfg, &rx, err, sizeof(err)))
		bad_receiver(network, err);
}

/* Every key of receiver object c is one the model knows; lat and lon are given. */
static void
check_receiver_keys(JsonbContainer *c, int index)
{
	static const char *const known[] = {"name", "lat", "lon", "alt_m", "antenna", "azimuth_deg"};
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			k;

		if (tok != WJB_KEY)
			continue;
		for (k = 0; k < (int) lengthof(known); k++)
			if (strlen(known[k]) == (size_t) v.val.string.len &&
				memcmp(known[k], v.val.string.val, v.val.string.len) == 0)
				break;
		if (k == (int) lengthof(known))
			bad_params(psprintf("fixed_receivers[%d] has an unknown key \"%s\"; a receiver has "
								"name, lat, lon, alt_m, antenna, azimuth_deg", index,
								hg_shown(pnstrdup(v.val.string.val, v.val.string.len))));
	}
	if (receiver_field(c, "lat") == NULL || receiver_field(c, "lon") == NULL)
		bad_params(psprintf("fixed_receivers[%d] needs lat and lon", index));
}

static void
add_inline_receivers(hg_config *cfg, JsonbValue *value, bool check_keys)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			index = 0;

	if (value->type != jbvBinary || !JsonContainerIsArray(value->val.binary.data))
		bad_params("fixed_receivers must be an array of {name, lat, lon, alt_m, antenna, azimuth_deg}");
	it = JsonbIteratorInit(value->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbContainer *c;
		JsonbValue *name,
				   *ant;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			bad_params(psprintf("fixed_receivers[%d] must be an object", index));
		c = v.val.binary.data;
		if (check_keys)
			check_receiver_keys(c, index);
		name = receiver_field(c, "name");
		ant = receiver_field(c, "antenna");
		if (name == NULL)
			bad_params(psprintf("fixed_receivers[%d] has no name: each receiver needs one, a string of 1 to 31 bytes "
								"unique in the list", index));
		if (name->type != jbvString)
			bad_params(psprintf("fixed_receivers[%d].name must be a string", index));
		if (ant != NULL && ant->type != jbvString)
			bad_params(psprintf("fixed_receivers[%d].antenna must be a string", index));
		add_receiver(cfg, NULL, pnstrdup(name->val.string.val, name->val.string.len),
					 receiver_number(c, "lat", NAN, index), receiver_number(c, "lon", NAN, index),
					 receiver_number(c, "alt_m", 15, index),
					 ant ? pnstrdup(ant->val.string.val, ant->val.string.len) : "omni",
					 receiver_number(c, "azimuth_deg", 0, index));
		index++;
	}
}

/* The receivers of a stored network, in name order. */
static void
add_network_receivers(hg_config *cfg, JsonbValue *value)
{
	char	   *network;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	uint64		i;

	if (value->type != jbvString)
		bad_params("receiver_network must be a string, the network column of heimdall_gen.receivers");
	network = pnstrdup(value->val.string.val, value->val.string.len);
	args[0] = CStringGetTextDatum(network);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the caller's own networks only (the owner column; row-level security agrees) */
	if (SPI_execute_with_args("SELECT r.name, r.lat, r.lon, r.alt_m, r.antenna, r.azimuth_deg "
							  "FROM heimdall_gen.receivers r WHERE r.network = $1 "
							  "AND r.owner = heimdall_gen.current_role_id() ORDER BY r.name",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read heimdall_gen.receivers");
	if (SPI_processed < 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid params: receiver network \"%s\" has %d receivers, it needs %d to %d",
						hg_shown(network), (int) SPI_processed, HG_MIN_RECEIVERS, HG_MAX_FIXED_RECEIVERS),
				 errhint("Insert the receivers into heimdall_gen.receivers (network, name, lat, lon, alt_m, antenna, azimuth_deg).")));
	for (i = 0; i < SPI_processed; i++)
	{
		/* the columns are NOT NULL, but a row read back is checked anyway */
		add_receiver(cfg, network, TextDatumGetCString(hg_spi_get_notnull(i, 1, "receivers.name")),
					 DatumGetFloat8(hg_spi_get_notnull(i, 2, "receivers.lat")),
					 DatumGetFloat8(hg_spi_get_notnull(i, 3, "receivers.lon")),
					 DatumGetFloat8(hg_spi_get_notnull(i, 4, "receivers.alt_m")),
					 TextDatumGetCString(hg_spi_get_notnull(i, 5, "receivers.antenna")),
					 DatumGetFloat8(hg_spi_get_notnull(i, 6, "receivers.azimuth_deg")));
	}
	SPI_finish();
}

/*
 * What params a user gives now must also be, beyond what the model checks:
 * not what params stored with a dataset are held to, which must stay
 * readable (and regenerable) as they were made.
 *  - receivers and transmitter drawn in an area of no extent all stand on
 *    one spot: their bearings, and the GDOP that filters samples, are then
 *    rounding noise;
 *  - two fixed receivers of one name could not be told apart in the data;
 *  - an explicit rx_layout other than fixed beside fixed receivers would be
 *    silently replaced;
 *  - the modulations must fit the channel, and the channel the recording
 *    (frequency error within the band, coherence time within 61 per
 *    reception): else the IQ is not what the labels and params say.
 */
#define MIN_AREA_SPAN_DEG 0.001
/* 45.001 - 45 is 0.00099999999999766 in binary: the documented minimum itself is allowed */
#define AREA_SPAN_SLACK_DEG 1e-9

static void
check_new_params(const hg_config *cfg, const char *explicit_layout)
{
	int			i,
				j;
	char		err[HG_ERRMSG_LEN];
	double		lon_span;

	if (cfg->rx_layout != HG_LAYOUT_FIXED &&
		(cfg->area_lat_max - cfg->area_lat_min < MIN_AREA_SPAN_DEG - AREA_SPAN_SLACK_DEG ||
		 cfg->area_lon_max - cfg->area_lon_min < MIN_AREA_SPAN_DEG - AREA_SPAN_SLACK_DEG))
		bad_params(psprintf("the area (\"area_lat_min\" .. \"area_lat_max\", \"area_lon_min\" .. \"area_lon_max\") "
							"must span at least %g degrees in latitude and in longitude, not %.10g and %.10g "
							"(receivers and transmitter are drawn in it)", MIN_AREA_SPAN_DEG,
							cfg->area_lat_max - cfg->area_lat_min, cfg->area_lon_max - cfg->area_lon_min));
	for (i = 0; i < cfg->n_fixed_rx; i++)
		for (j = 0; j < i; j++)
			if (strcmp(cfg->fixed_rx[i].name, cfg->fixed_rx[j].name) == 0)
				bad_params(psprintf("receiver name \"%s\" appears twice", cfg->fixed_rx[i].name));
	if (cfg->rx_layout == HG_LAYOUT_FIXED && hg_config_fixed_network_on_a_line(cfg))
		bad_params_hint(psprintf("the %d fixed receivers stand on one line (or at one point): seen from any "
								 "transmitter they give no fix (infinite GDOP), so no sample could be kept; "
								 "move at least one receiver off that line", cfg->n_fixed_rx),
						"Change the position (lat, lon) of one receiver, in \"fixed_receivers\" or in your "
						"network's rows of heimdall_gen.receivers.");
	lon_span = hg_config_fixed_network_lon_span_deg(cfg);
	if (cfg->rx_layout == HG_LAYOUT_FIXED && lon_span > 180.0)
		bad_params_hint(psprintf("the %d fixed receivers span %.10g degrees of longitude from the lowest to the "
								 "highest, more than 180 (as a network across longitude 180 does): the transmitter "
								 "is drawn between those two longitudes, around the globe, and almost every "
								 "attempt would be rejected", cfg->n_fixed_rx, lon_span),
						"Use receivers whose longitudes differ by 180 degrees at most (near longitude 180, "
						"write them all as 179.x and 180, or all as -180 and -179.x).");
	if (!hg_config_modulations_fit_channel(cfg, err, sizeof(err)))
		bad_params(pstrdup(err));
	if (!hg_config_channel_fits_recording(cfg, err, sizeof(err)))
		bad_params(pstrdup(err));
	if (explicit_layout != NULL && cfg->n_fixed_rx > 0 && strcmp(explicit_layout, "\"fixed\"") != 0)
		bad_params(psprintf("\"rx_layout\": %s does not go with fixed receivers (\"fixed_receivers\" or "
							"\"receiver_network\"): leave it out, or make it \"fixed\"", explicit_layout));
	/* last: a call refused for another reason says only that; without noise the labels still count the floor */
	if (cfg->noise_floor_dbm < hg_config_thermal_noise_dbm(cfg))
	{
		double		thermal = hg_config_thermal_noise_dbm(cfg);

		/* a warning, not an error: the bytes are what the params say, only not a real receiver */
		ereport(WARNING,
				(errmsg("\"noise_floor_dbm\" (%.10g) is below the thermal noise over \"sample_rate_hz\" "
						"(%.10g): %.1f dBm at 290 K, so it implies a receiver noise figure of %.1f dB",
						cfg->noise_floor_dbm, cfg->sample_rate_hz, thermal, cfg->noise_floor_dbm - thermal),
				 errdetail("noise_floor_dbm is the noise power over the whole recorded band, sample_rate_hz wide; "
						   "no receiver's is below kTB."),
				 errhint("For a receiver of noise figure NF dB, set \"noise_floor_dbm\" to %.1f + NF.", thermal)));
	}
}

void
hg_params_to_config(Jsonb *params, hg_config *cfg, bool allow_network)
{
	char	   *explicit_layout = NULL;
	bool		seen_fixed = false,
				seen_network = false;

	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	char		err[HG_ERRMSG_LEN];

	hg_config_init(cfg);
	if (params == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(params))
		bad_params("params must be a JSON object");
	it = JsonbIteratorInit(&params->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && key != NULL)
		{
			if (strcmp(key, "rx_layout") == 0)
				explicit_layout = json_text(&v);
			/* alternatives: a network's rows and a list were once silently merged */
			seen_fixed |= strcmp(key, "fixed_receivers") == 0 && gives_receivers(&v);
			seen_network |= strcmp(key, "receiver_network") == 0;
			if (seen_fixed && seen_network && allow_network)
				bad_params_hint("\"fixed_receivers\" and \"receiver_network\" are alternatives: give one of them, "
								"not both",
								"Give the receivers inline in \"fixed_receivers\", or name your rows of "
								"heimdall_gen.receivers in \"receiver_network\" (an empty \"fixed_receivers\" "
								"goes with it).");
			if (strcmp(key, "fixed_receivers") == 0)
				add_inline_receivers(cfg, &v, allow_network);
			else if (strcmp(key, "receiver_network") == 0 && allow_network)
				add_network_receivers(cfg, &v);
			else if (strcmp(key, "receiver_network") == 0)
				bad_params("a stored dataset's params hold their receivers inline, not a receiver_network");
			else if (!hg_config_set(cfg, key, json_text(&v), err, sizeof(err)))
				bad_params(err);
		}
	}
	if (!hg_config_validate(cfg, err, sizeof(err)))
	{
		/* the model's message speaks of "a fixed receiver network": name the keys */
		if (cfg->rx_layout == HG_LAYOUT_FIXED && cfg->n_fixed_rx < HG_MIN_RECEIVERS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid params: %s", err),
					 errdetail("With \"rx_layout\": \"fixed\" the receivers come from \"fixed_receivers\" or \"receiver_network\"."),
					 errhint("Every key of params is a generator parameter; "
							 "SELECT heimdall_gen.resolve_params() lists them with their defaults.")));
		bad_params(err);
	}
	if (allow_network)
		check_new_params(cfg, explicit_layout);
}

Jsonb *
hg_config_to_jsonb(const hg_config *cfg)
{
	size_t		len = hg_config_to_json(cfg, NULL, 0);
	char	   *text = palloc(len + 1);

	hg_config_to_json(cfg, text, len + 1);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* SQL: heimdall_gen.resolve_params(params jsonb) -> jsonb */
Datum
hg_resolve_params(PG_FUNCTION_ARGS)
{
	hg_config  *cfg = palloc(sizeof(hg_config));

	hg_require_current_schema();
	hg_params_to_config(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0), cfg, true);
	PG_RETURN_JSONB_P(hg_config_to_jsonb(cfg));
}

/*
 * SQL: heimdall_gen._resolve_as(role regrole, params jsonb) -> jsonb, for
 * start_job, which runs as the extension's owner: the caller's receiver
 * networks are read as the caller, never with the owner's rights.
 */
Datum
hg_resolve_params_as(PG_FUNCTION_ARGS)
{
	Oid			role = PG_GETARG_OID(0);
	Jsonb	   *params = PG_GETARG_JSONB_P(1);
	hg_config  *cfg = palloc(sizeof(hg_config));
	Oid			save_userid;
	int			save_sec;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		hg_params_to_config(params, cfg, true);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	PG_RETURN_JSONB_P(hg_config_to_jsonb(cfg));
}
