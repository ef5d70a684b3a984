/*
 * hg_antenna.h
 *    Antennas of signal-model.md section 2: which kind a transmitter or a
 *    receiver has (drawn with the stated probabilities), its gain, beam and
 *    front/back ratio, where a directional one points, and its gain towards
 *    a given azimuth.
 */
#ifndef HG_ANTENNA_H
#define HG_ANTENNA_H

#include "hg_model.h"
#include "hg_rng.h"

typedef struct hg_antenna
{
	hg_antenna_kind kind;
	double		gain_dbi;		/* boresight gain */
	double		beamwidth_deg;	/* 360 for an omnidirectional antenna */
	double		front_back_db;
	double		azimuth_deg;	/* boresight */
} hg_antenna;

void		hg_antenna_draw_tx(hg_rng *rng, hg_antenna *ant);
void		hg_antenna_draw_rx(hg_rng *rng, hg_antenna *ant);

/* A fixed receiver's antenna: its kind and pointing given, gain and beam drawn. */
void		hg_antenna_draw_kind(hg_rng *rng, hg_antenna_kind kind, double azimuth_deg, hg_antenna *ant);

/*
 * Gain towards azimuth_deg: boresight gain - 3 (off/(beam/2))^2 dB inside the
 * main lobe, -front/back straight behind, linear in the angle between.
 */
double		hg_antenna_gain_towards(const hg_antenna *ant, double azimuth_deg);

#endif							/* HG_ANTENNA_H */
