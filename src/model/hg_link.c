/*
 * hg_link.c
 *    Path loss, losses, fading and the optional propagation effects of one
 *    transmitter-receiver link (see hg_link.h).
 */
#include "hg_link.h"

#include "hg_math.h"

#include <math.h>

double
hg_fspl_db(double distance_m, double frequency_hz)
{
	/* below 1 m the far-field formula means nothing; hold it there */
	double		d_km = fmax(distance_m, 1.0) / 1000.0;

	return 32.44 + 20.0 * hg_log10(d_km) + 20.0 * hg_log10(frequency_hz / 1e6);
}

double
hg_knife_edge_db(double obstacle_m, double d1_m, double d2_m, double frequency_hz)
{
	double		lambda = HG_SPEED_OF_LIGHT / frequency_hz;
	double		v,
				j;

	if (d1_m <= 0 || d2_m <= 0)
		return 0.0;
	v = obstacle_m * sqrt(2.0 * (d1_m + d2_m) / (lambda * d1_m * d2_m));
	if (v <= -0.78)
		return 0.0;
	j = 6.9 + 20.0 * hg_log10(sqrt((v - 0.1) * (v - 0.1) + 1.0) + v - 0.1);
	return fmin(fmax(j, 0.0), 30.0);
}

void
hg_link_budget(const hg_config *cfg, hg_rng *rng, double tx_power_dbm,
			   double gains_db, double distance_m, double frequency_hz,
			   double mid_obstacle_m, hg_link_terms *out)
{
	double		d_km = distance_m / 1000.0;
	double		f_mhz = frequency_hz / 1e6;
	double		sigma,
				slow,
				fast,
				k_db;

	/* every draw is made whatever the switches say, so that turning one
	 * effect on does not shift the random numbers of the others */
	double		u_env = hg_rng_uniform(rng);
	double		u_obstructed = hg_rng_uniform(rng);
	double		u_terrain = hg_rng_uniform(rng);
	double		u_sigma = hg_rng_uniform(rng);
	double		n_slow = hg_rng_normal(rng);
	double		u_k = hg_rng_uniform(rng);
	double		u_duct = hg_rng_uniform(rng);
	double		u_duct_gain = hg_rng_uniform(rng);
	double		u_es = hg_rng_uniform(rng);
	double		u_es_gain = hg_rng_uniform(rng);
	double		u_pol = hg_rng_uniform(rng);
	double		u_pol_loss = hg_rng_uniform(rng);

	out->fspl_db = hg_fspl_db(distance_m, frequency_hz);
	out->env_db = cfg->env_loss_min_db + (cfg->env_loss_max_db - cfg->env_loss_min_db) * u_env;

	if (cfg->terrain_model == HG_TERRAIN_KNIFE_EDGE)
		out->terrain_db = hg_knife_edge_db(mid_obstacle_m, distance_m / 2, distance_m / 2, frequency_hz);
	else
		out->terrain_db = (u_obstructed < fmin(0.05 + d_km / 1000.0, 0.2)) ? 10.0 + 20.0 * u_terrain : 0.0;

	sigma = cfg->slow_sigma_min_db + (cfg->slow_sigma_max_db - cfg->slow_sigma_min_db) * u_sigma;
	slow = sigma * n_slow;
	k_db = cfg->rician_k_min_db + (cfg->rician_k_max_db - cfg->rician_k_min_db) * u_k;
	fast = 10.0 * hg_log10(fmax(hg_rng_rician_power(rng, d_km < cfg->rayleigh_beyond_km
														? hg_exp10(k_db / 10.0) : 0.0), 1e-12));
	out->fading_db = fmin(fmax(slow + fast, cfg->fading_clip_min_db), cfg->fading_clip_max_db);

	out->extra_db = 0.0;
	if (cfg->atmospheric_absorption)
		/* gaseous absorption: ~0.01 dB/km at 1 GHz rising to ~0.02 at 3 GHz; negligible at VHF */
		out->extra_db -= d_km * 0.005 * fmin(f_mhz / 500.0, 4.0);
	if (cfg->tropo_ducting && d_km > 50.0 && u_duct < 0.05)
		out->extra_db += 20.0 * u_duct_gain;	/* a duct recovers up to 20 dB */
	if (cfg->sporadic_e && f_mhz >= 28.0 && f_mhz <= 225.0 && d_km >= 500.0 && d_km <= 2500.0 && u_es < 0.1)
		out->extra_db += 10.0 + 20.0 * u_es_gain;
	if (cfg->polarization_mismatch && u_pol < 0.1)
		out->extra_db -= 10.0 + 5.0 * u_pol_loss;	/* V <-> H: 10..15 dB */

	out->rx_power_dbm = tx_power_dbm + gains_db - out->fspl_db - out->terrain_db - out->env_db +
		out->fading_db + out->extra_db;
}
