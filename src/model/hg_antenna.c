/*
 * hg_antenna.c
 *    Antenna kinds, gains and patterns (see hg_antenna.h).
 */
#include "hg_antenna.h"

#include <math.h>

void
hg_antenna_draw_kind(hg_rng *rng, hg_antenna_kind kind, double azimuth_deg, hg_antenna *ant)
{
	ant->kind = kind;
	ant->beamwidth_deg = 360.0;
	ant->front_back_db = 0.0;
	ant->azimuth_deg = azimuth_deg;
	switch (kind)
	{
		case HG_ANT_OMNI:
			ant->gain_dbi = hg_rng_range(rng, 0, 3);
			break;
		case HG_ANT_YAGI:
			ant->gain_dbi = hg_rng_range(rng, 10, 15);
			ant->beamwidth_deg = hg_rng_range(rng, 30, 60);
			ant->front_back_db = hg_rng_range(rng, 15, 25);
			break;
		case HG_ANT_LOG_PERIODIC:
			ant->gain_dbi = hg_rng_range(rng, 8, 12);
			ant->beamwidth_deg = hg_rng_range(rng, 60, 80);
			ant->front_back_db = hg_rng_range(rng, 15, 20);
			break;
		case HG_ANT_COLLINEAR:
			ant->gain_dbi = hg_rng_range(rng, 6, 9);
			break;
		case HG_ANT_WHIP:
			ant->gain_dbi = hg_rng_range(rng, 0, 2);
			break;
		case HG_ANT_RUBBER_DUCK:
			ant->gain_dbi = hg_rng_range(rng, -3, 0);
			break;
		case HG_ANT_PORTABLE_DIRECTIONAL:
		default:
			ant->gain_dbi = hg_rng_range(rng, 3, 6);
			ant->beamwidth_deg = hg_rng_range(rng, 60, 90);
			ant->front_back_db = hg_rng_range(rng, 10, 15);
			break;
	}
}

void
hg_antenna_draw_tx(hg_rng *rng, hg_antenna *ant)
{
	static const double weights[3] = {0.90, 0.08, 0.02};
	static const hg_antenna_kind kinds[3] = {HG_ANT_WHIP, HG_ANT_RUBBER_DUCK, HG_ANT_PORTABLE_DIRECTIONAL};
	hg_antenna_kind kind = kinds[hg_rng_choose(rng, weights, 3)];

	hg_antenna_draw_kind(rng, kind, hg_rng_range(rng, 0, 360), ant);
}

void
hg_antenna_draw_rx(hg_rng *rng, hg_antenna *ant)
{
	static const double weights[4] = {0.70, 0.15, 0.10, 0.05};
	static const hg_antenna_kind kinds[4] = {HG_ANT_OMNI, HG_ANT_YAGI, HG_ANT_LOG_PERIODIC, HG_ANT_COLLINEAR};
	hg_antenna_kind kind = kinds[hg_rng_choose(rng, weights, 4)];

	hg_antenna_draw_kind(rng, kind, hg_rng_range(rng, 0, 360), ant);
}

double
hg_antenna_gain_towards(const hg_antenna *ant, double azimuth_deg)
{
	double		off,
				half;

	if (ant->beamwidth_deg >= 360.0)
		return ant->gain_dbi;
	off = fabs(fmod(azimuth_deg - ant->azimuth_deg + 540.0, 360.0) - 180.0);
	half = ant->beamwidth_deg / 2.0;
	if (off <= half)
		return ant->gain_dbi - 3.0 * (off / half) * (off / half);
	/* from -3 dB at the beam edge to -front/back straight behind */
	return ant->gain_dbi - 3.0 - (ant->front_back_db - 3.0) * (off - half) / (180.0 - half);
}
