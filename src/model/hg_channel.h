/*
 * hg_channel.h
 *    One receiver's channel (signal-model.md section 4), applied to the
 *    shared transmitted baseband:
 *      1. propagation delay d/c as a fractional delay against the common time
 *         reference, and 0..5 multipath echoes (0.5-5 us, -25..-10 dB, random
 *         phase), folded into one short complex FIR of windowed sincs; from
 *         model version 3 every path turned by the reception's carrier
 *         phase (the caller's carrier_phase_turns: -f_c tau and the
 *         receiver's oscillator phase, so that receptions of one sample are
 *         not in phase with each other, as no two real receivers are);
 *      2. a block-fading envelope (coherence time 50-200 ms, unit mean power)
 *         and the receiver's frequency error, exp(j 2 pi f t);
 *      3. scaling so that the clean signal's mean |x|^2 over the window is
 *         exactly P_rx in milliwatts;
 *      4. complex white Gaussian noise whose total power is the noise floor
 *         in milliwatts: the floor is the noise power in the recorded band, so
 *         10 log10(mean |iq|^2) is the received power in dBm for signal and
 *         noise alike and snr_db = P_rx - floor can be measured from the IQ.
 *    Output: interleaved float I, Q.
 */
#ifndef HG_CHANNEL_H
#define HG_CHANNEL_H

#include "hg_model.h"
#include "hg_rng.h"

#define HG_FD_HALF 8			/* fractional-delay interpolator: 8 samples each side */
#define HG_MAX_ECHOES 5

/* Buffers one receiver's channel needs, owned by the workspace. */
typedef struct hg_channel_buffers
{
	float	   *taps_re;		/* n_taps */
	float	   *taps_im;
	int			n_taps;
	float	   *y_re;			/* n_iq */
	float	   *y_im;
	float	   *noise;			/* 2 * n_iq */
	double	   *gain;			/* n_iq: the block-fading envelope */
	const void *ziggurat;		/* hg_ziggurat tables */
} hg_channel_buffers;

/* Taps needed to hold the direct path plus the longest echo of cfg. */
int			hg_channel_taps(const hg_config *cfg);

/*
 * The channel's labels: the first draws of the channel stream (frequency
 * error, number of echoes).  hg_channel_apply starts with exactly this
 * call, and a labels-only attempt makes only this one, so the two cannot
 * disagree.
 */
void		hg_channel_draw_labels(const hg_config *cfg, hg_rng *channel_rng,
								   double *freq_offset_hz, int *n_echoes);

/*
 * tx_re/tx_im: the transmission, index pre_roll = emission time 0.  Writes
 * n_iq complex samples into iq (interleaved).  Fills *freq_offset_hz and
 * *n_echoes with what it drew.  carrier_phase_turns (in turns) turns every
 * path from model version 3 on; version 2 ignores it.
 */
void		hg_channel_apply(const hg_config *cfg, hg_channel_buffers *buf,
							 hg_rng *channel_rng, hg_rng *noise_rng,
							 const float *tx_re, const float *tx_im, int pre_roll,
							 double delay_s, double carrier_phase_turns, double rx_power_dbm,
							 int n_iq, float *iq, double *freq_offset_hz, int *n_echoes);

#endif							/* HG_CHANNEL_H */
