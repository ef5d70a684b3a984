/*
 * hg_link.h
 *    The link budget of signal-model.md section 2, in dB:
 *      P_rx = P_tx + G_tx + G_rx - FSPL(d, f) - L_terrain - L_env
 *             + F_slow + F_fast [- L_atm + G_tropo + G_es - L_pol]
 *    with every random term drawn from the receiver's own link stream.
 */
#ifndef HG_LINK_H
#define HG_LINK_H

#include "hg_model.h"
#include "hg_rng.h"

/* Free-space path loss, ITU-R P.525: 32.44 + 20 log10(d_km) + 20 log10(f_MHz). */
double		hg_fspl_db(double distance_m, double frequency_hz);

/*
 * Single knife-edge diffraction loss, ITU-R P.526: J(v) = 6.9 +
 * 20 log10(sqrt((v - 0.1)^2 + 1) + v - 0.1) for v > -0.78, else 0, with
 * v = h sqrt(2 (d1 + d2) / (lambda d1 d2)); clamped to 0..30 dB.
 */
double		hg_knife_edge_db(double obstacle_m, double d1_m, double d2_m, double frequency_hz);

/* The terms of one receiver's budget, kept for tests and labels. */
typedef struct hg_link_terms
{
	double		fspl_db;
	double		terrain_db;
	double		env_db;
	double		fading_db;		/* slow + fast, clipped */
	double		extra_db;		/* optional effects: -L_atm + G_tropo + G_es - L_pol */
	double		rx_power_dbm;
} hg_link_terms;

/*
 * Budget of one link.  gains_db = G_tx + G_rx towards each other;
 * mid_obstacle_m = terrain at mid-path above the line of sight (knife edge).
 */
void		hg_link_budget(const hg_config *cfg, hg_rng *rng, double tx_power_dbm,
						   double gains_db, double distance_m, double frequency_hz,
						   double mid_obstacle_m, hg_link_terms *out);

#endif							/* HG_LINK_H */
