/*
 * hg_attempt.c
 *    One attempt of the generator: the workspace that holds every buffer,
 *    and hg_attempt_ex(), which decides the geometry and link budget first,
 *    applies the filter of signal-model.md section 5 before any IQ exists,
 *    and only for a kept sample synthesises the transmission once and each
 *    receiver's channel; in labels-only mode it draws the few labels the
 *    waveform and channel streams decide and synthesises nothing.
 */
#include "hg_model.h"

#include "hg_antenna.h"
#include "hg_block.h"
#include "hg_channel.h"
#include "hg_gdop.h"
#include "hg_geo.h"
#include "hg_link.h"
#include "hg_math.h"
#include "hg_noise.h"
#include "hg_rng.h"
#include "hg_waveform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_SAMPLES 32		/* keeps the TX filter's start-up out of every reception */
#define EARTH_RADIUS_K43 (4.0 / 3.0 * 6371000.0)	/* effective radius for refraction */

struct hg_workspace
{
	int			n_iq;
	int			pre_roll;		/* transmission index of emission time 0 */
	int			tx_len;
	int			max_delay_samples;
	hg_waveform *wave;
	float	   *tx_re;
	float	   *tx_im;
	float	   *iq[HG_MAX_RECEIVERS];
	hg_channel_buffers chan;
	hg_ziggurat zig;
	uint64_t	receptions_synthesized;
	void	   *block;			/* every buffer above, in one allocation (hg_block.h) */
	size_t		block_size;
	hg_abandon_fn abandon;		/* true: the caller throws this attempt away */
	const void *abandon_arg;
};

void
hg_workspace_abandon_when(hg_workspace *ws, hg_abandon_fn abandon, const void *arg)
{
	ws->abandon = abandon;
	ws->abandon_arg = arg;
}

static bool
abandoned(const hg_workspace *ws)
{
	return ws->abandon != NULL && ws->abandon(ws->abandon_arg);
}

hg_workspace *
hg_workspace_create(const hg_config *cfg)
{
	hg_workspace *ws = calloc(1, sizeof(hg_workspace));
	int			k;
	bool		ok;

	if (!ws)
		return NULL;
	ws->n_iq = hg_config_iq_length(cfg);
	ws->chan.n_taps = hg_channel_taps(cfg);
	ws->max_delay_samples = (int) ceil(hg_geo_max_distance(cfg) / HG_SPEED_OF_LIGHT * cfg->sample_rate_hz);
	ws->pre_roll = ws->max_delay_samples + ws->chan.n_taps + GUARD_SAMPLES;
	ws->tx_len = ws->pre_roll + ws->n_iq + HG_FD_HALF + GUARD_SAMPLES;
	ws->wave = hg_waveform_create(cfg, ws->tx_len);
	{
		const size_t tx = sizeof(float) * (size_t) ws->tx_len;
		const size_t taps = sizeof(float) * (size_t) ws->chan.n_taps;
		const size_t iq = sizeof(float) * 2 * (size_t) ws->n_iq;
		hg_slice	slices[8 + HG_MAX_RECEIVERS] = {
			{(void **) &ws->tx_re, tx, 0},
			{(void **) &ws->tx_im, tx, 0},
			{(void **) &ws->chan.taps_re, taps, 0},
			{(void **) &ws->chan.taps_im, taps, 0},
			{(void **) &ws->chan.y_re, iq / 2, 0},
			{(void **) &ws->chan.y_im, iq / 2, 0},
			{(void **) &ws->chan.noise, iq, 0},
			{(void **) &ws->chan.gain, sizeof(double) * (size_t) ws->n_iq, 0},
		};

		for (k = 0; k < HG_MAX_RECEIVERS; k++)
			slices[8 + k] = (hg_slice) {(void **) &ws->iq[k], iq, 0};
		ws->block = hg_block_carve(slices, 8 + HG_MAX_RECEIVERS, &ws->block_size);
	}
	ok = ws->wave && ws->block;
	if (!ok)
	{
		hg_workspace_destroy(ws);
		return NULL;
	}
	hg_ziggurat_init(&ws->zig);
	ws->chan.ziggurat = &ws->zig;
	return ws;
}

void
hg_workspace_destroy(hg_workspace *ws)
{
	if (!ws)
		return;
	hg_waveform_destroy(ws->wave);
	hg_block_free(ws->block, ws->block_size);
	free(ws);
}

int
hg_model_version(void)
{
	return HG_MODEL_VERSION;
}

bool
hg_model_generates(int version)
{
	return version >= HG_MODEL_VERSION_OLDEST && version <= HG_MODEL_VERSION;
}

size_t
hg_workspace_bytes(const hg_workspace *ws)
{
	return sizeof(hg_workspace) + ws->block_size + hg_waveform_bytes(ws->wave);
}

uint64_t
hg_workspace_receptions_synthesized(const hg_workspace *ws)
{
	return ws->receptions_synthesized;
}

/* cf32_le on any host: swap each float's bytes on a big-endian one. */
static void
to_little_endian(float *iq, int n_floats)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	int			k;

	for (k = 0; k < n_floats; k++)
	{
		uint32_t	v;

		memcpy(&v, &iq[k], 4);
		v = __builtin_bswap32(v);
		memcpy(&iq[k], &v, 4);
	}
#else
	(void) iq;
	(void) n_floats;
#endif
}

/* Terrain above the straight line between two antennas at mid-path, earth bulge included. */
static double
mid_path_obstacle(double lat1, double lon1, double alt1, double lat2, double lon2, double alt2, double d)
{
	double		ground = hg_terrain_elevation((lat1 + lat2) / 2, (lon1 + lon2) / 2);
	double		bulge = d * d / (8.0 * EARTH_RADIUS_K43);

	return ground + bulge - (alt1 + alt2) / 2;
}

hg_outcome
hg_attempt(const hg_config *cfg, uint64_t seed, uint64_t attempt_idx,
		   hg_workspace *ws, hg_sample *out)
{
	return hg_attempt_ex(cfg, seed, attempt_idx, ws, out, 0);
}

hg_outcome
hg_attempt_ex(const hg_config *cfg, uint64_t seed, uint64_t attempt_idx,
			  hg_workspace *ws, hg_sample *out, unsigned flags)
{
	hg_rng		rng_rx,
				rng_tx,
				rng;
	double		lat[HG_MAX_RECEIVERS],
				lon[HG_MAX_RECEIVERS],
				height[HG_MAX_RECEIVERS];
	hg_ecef		rx_pos[HG_MAX_RECEIVERS],
				tx_pos;
	hg_antenna	rx_ant[HG_MAX_RECEIVERS],
				tx_ant;
	double		dir_e[HG_MAX_RECEIVERS],
				dir_n[HG_MAX_RECEIVERS],
				pos_e[HG_MAX_RECEIVERS],
				pos_n[HG_MAX_RECEIVERS];
	hg_box		box;
	double		snr_sum = 0.0,
				f1,
				f2;
	int			n,
				k,
				detected = 0;

	memset(out, 0, sizeof(*out));
	out->sample_idx = attempt_idx;
	out->n_iq = ws->n_iq;

	/* receivers: where, how high, which antennas */
	hg_rng_init(&rng_rx, seed, attempt_idx, HG_RX_SHARED, HG_STREAM_RECEIVERS);
	n = hg_geo_place_receivers(cfg, &rng_rx, lat, lon, height);
	out->n_receivers = n;
	box.lat_min = box.lat_max = lat[0];
	box.lon_min = box.lon_max = lon[0];
	for (k = 0; k < n; k++)
	{
		hg_reception *r = &out->rx[k];

		if (cfg->rx_layout == HG_LAYOUT_FIXED)
		{
			hg_antenna_draw_kind(&rng_rx, cfg->fixed_rx[k].antenna, cfg->fixed_rx[k].azimuth_deg, &rx_ant[k]);
			memcpy(r->rx_name, cfg->fixed_rx[k].name, HG_RX_NAME_LEN);
		}
		else
		{
			hg_antenna_draw_rx(&rng_rx, &rx_ant[k]);
			snprintf(r->rx_name, HG_RX_NAME_LEN, "rx%02d", k);
		}
		r->rx_idx = k;
		r->lat_deg = lat[k];
		r->lon_deg = lon[k];
		r->alt_m = hg_terrain_elevation(lat[k], lon[k]) + height[k];
		r->antenna = rx_ant[k].kind;
		rx_pos[k] = hg_geo_to_ecef(lat[k], lon[k], r->alt_m);
		box.lat_min = fmin(box.lat_min, lat[k]);
		box.lat_max = fmax(box.lat_max, lat[k]);
		box.lon_min = fmin(box.lon_min, lon[k]);
		box.lon_max = fmax(box.lon_max, lon[k]);
	}

	/* transmitter */
	hg_rng_init(&rng_tx, seed, attempt_idx, HG_RX_SHARED, HG_STREAM_TX);
	hg_geo_place_tx(cfg, &rng_tx, box, &out->tx_lat_deg, &out->tx_lon_deg);
	out->tx_alt_m = hg_terrain_elevation(out->tx_lat_deg, out->tx_lon_deg) + cfg->tx_height_m;
	out->tx_power_dbm = hg_rng_range(&rng_tx, cfg->tx_power_min_dbm, cfg->tx_power_max_dbm);
	out->frequency_hz = hg_rng_range(&rng_tx, cfg->frequency_min_hz, cfg->frequency_max_hz);
	hg_antenna_draw_tx(&rng_tx, &tx_ant);
	tx_pos = hg_geo_to_ecef(out->tx_lat_deg, out->tx_lon_deg, out->tx_alt_m);

	/* link budget of every receiver */
	for (k = 0; k < n; k++)
	{
		hg_reception *r = &out->rx[k];
		hg_link_terms terms;
		double		az_tx_to_rx = hg_geo_azimuth(out->tx_lat_deg, out->tx_lon_deg, tx_pos, rx_pos[k]);
		double		az_rx_to_tx = hg_geo_azimuth(r->lat_deg, r->lon_deg, rx_pos[k], tx_pos);
		double		g_tx = hg_antenna_gain_towards(&tx_ant, az_tx_to_rx);

		r->antenna_gain_dbi = hg_antenna_gain_towards(&rx_ant[k], az_rx_to_tx);
		r->distance_m = hg_geo_distance(tx_pos, rx_pos[k]);
		r->delay_s = r->distance_m / HG_SPEED_OF_LIGHT;
		hg_rng_init(&rng, seed, attempt_idx, (uint32_t) k, HG_STREAM_LINK);
		hg_link_budget(cfg, &rng, out->tx_power_dbm, g_tx + r->antenna_gain_dbi, r->distance_m,
					   out->frequency_hz,
					   mid_path_obstacle(out->tx_lat_deg, out->tx_lon_deg, out->tx_alt_m,
										 r->lat_deg, r->lon_deg, r->alt_m, r->distance_m),
					   &terms);
		r->rx_power_dbm = terms.rx_power_dbm;
		r->snr_db = r->rx_power_dbm - cfg->noise_floor_dbm;
		r->signal_present = r->snr_db >= cfg->min_snr_db;
		if (r->signal_present)
		{
			double		e,
						no;

			hg_geo_horizontal_direction(out->tx_lat_deg, out->tx_lon_deg, tx_pos, rx_pos[k], &e, &no);
			dir_e[detected] = e;
			dir_n[detected] = no;
			/* position in metres along the TX's east/north axes, for the collinearity test */
			pos_e[detected] = e * r->distance_m;
			pos_n[detected] = no * r->distance_m;
			snr_sum += r->snr_db;
			detected++;
		}
	}
	out->n_detected = detected;
	out->mean_snr_db = detected ? snr_sum / detected : -INFINITY;

	/*
	 * A TX placed in the margin past 180 degrees east or west is labelled on
	 * the other side (an attacker's review found labels of 184.56, invalid in
	 * GeoJSON).  Only the label: the geometry above used the longitude as
	 * drawn, so the IQ and every other label stay as they were.
	 */
	out->tx_lon_deg = hg_geo_wrap_longitude(out->tx_lon_deg);

	/* the filter: decided before any IQ exists */
	if (detected < cfg->min_receivers)
		return HG_REJECT_TOO_FEW_DETECTED;
	if (out->mean_snr_db < cfg->min_snr_db)
		return HG_REJECT_LOW_MEAN_SNR;
	out->gdop = hg_receivers_collinear(pos_e, pos_n, detected, 1e-3)
		? INFINITY : hg_gdop_from_directions(dir_e, dir_n, detected);
	if (!(out->gdop <= cfg->max_gdop))
		return HG_REJECT_GDOP;

	/* kept: the transmission once, then each receiver's channel */
	hg_rng_init(&rng, seed, attempt_idx, HG_RX_SHARED, HG_STREAM_WAVEFORM);
	hg_waveform_choose(cfg, &rng, &out->modulation, &out->content);
	if (flags & HG_ATTEMPT_LABELS_ONLY)
	{
		/* the channel labels are the first draws of each channel stream */
		for (k = 0; k < n; k++)
		{
			hg_rng_init(&rng, seed, attempt_idx, (uint32_t) k, HG_STREAM_CHANNEL);
			hg_channel_draw_labels(cfg, &rng, &out->rx[k].freq_offset_hz, &out->rx[k].n_echoes);
			out->rx[k].iq = NULL;
		}
		return HG_KEPT;
	}
	if (abandoned(ws))
		return HG_KEPT;			/* incomplete: the caller discards it */
	hg_waveform_synthesize(ws->wave, cfg, out->modulation, out->content, &rng,
						   ws->tx_re, ws->tx_im, ws->tx_len, &f1, &f2);
	for (k = 0; k < n; k++)
	{
		hg_reception *r = &out->rx[k];
		hg_rng		rng_noise;
		double		delay_s = r->delay_s;
		double		carrier_phase = 0.0;

		/* a receiver's channel is ~0.1 ms: a stop waits for one, not the whole attempt */
		if (abandoned(ws))
			return HG_KEPT;		/* incomplete: the caller discards it */

		/* never read before the buffer: a delay beyond the sized worst case is held there */
		if (delay_s * cfg->sample_rate_hz > ws->max_delay_samples)
			delay_s = ws->max_delay_samples / cfg->sample_rate_hz;
		if (cfg->model_version >= 3)
		{
			/*
			 * The carrier's phase after the path, -f_c tau, and the phase of
			 * this receiver's oscillator, uniform: no two are in phase.  A
			 * stream of its own, so that version 2's draws stay as they were.
			 */
			hg_rng_init(&rng, seed, attempt_idx, (uint32_t) k, HG_STREAM_OSCILLATOR);
			carrier_phase = hg_rng_uniform(&rng) - hg_frac(out->frequency_hz * delay_s);
		}
		hg_rng_init(&rng, seed, attempt_idx, (uint32_t) k, HG_STREAM_CHANNEL);
		hg_rng_init(&rng_noise, seed, attempt_idx, (uint32_t) k, HG_STREAM_NOISE);
		hg_channel_apply(cfg, &ws->chan, &rng, &rng_noise, ws->tx_re, ws->tx_im, ws->pre_roll,
						 delay_s, carrier_phase, r->rx_power_dbm, ws->n_iq, ws->iq[k],
						 &r->freq_offset_hz, &r->n_echoes);
		to_little_endian(ws->iq[k], 2 * ws->n_iq);
		r->iq = ws->iq[k];
		ws->receptions_synthesized++;
	}
	return HG_KEPT;
}
