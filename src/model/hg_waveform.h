/*
 * hg_waveform.h
 *    The transmitted complex baseband of one sample (signal-model.md
 *    section 3): the modulation and content drawn from the configured
 *    weights, then FM, AM, CW, 2-FSK, BPSK or QPSK synthesised at the
 *    carrier (0 Hz), through the transmitter's channel filter, with mean
 *    power 1.  Shared by every receiver of the sample.
 */
#ifndef HG_WAVEFORM_H
#define HG_WAVEFORM_H

#include "hg_model.h"
#include "hg_rng.h"

typedef struct hg_waveform hg_waveform;

/* Scratch for up to max_len complex samples; NULL if out of memory. */
hg_waveform *hg_waveform_create(const hg_config *cfg, int max_len);
void		hg_waveform_destroy(hg_waveform *w);
/* Bytes the waveform generator reserved for its buffers. */
size_t		hg_waveform_bytes(const hg_waveform *w);

/* Draw the modulation (weight_fm..weight_qpsk) and the content (weight_voice..dtmf; DATA for digital). */
void		hg_waveform_choose(const hg_config *cfg, hg_rng *rng, hg_modulation *mod, hg_content *content);

/*
 * len complex samples as split arrays re[], im[], mean power 1, at
 * cfg->sample_rate_hz.  Voice, AM, CW and PSK keep 99 % of the power inside
 * +-channel_bw_hz/2; FM is not filtered, and a full-deviation tone spreads
 * over about 2 (5 kHz + 2 f_tone) (97.8 % inside 12.5 kHz at worst).  Draws
 * only from rng.  Returns the audio or keying frequency drawn for tone and
 * DTMF content in *f1, *f2 (0 otherwise), for tests.
 */
void		hg_waveform_synthesize(hg_waveform *w, const hg_config *cfg, hg_modulation mod,
								   hg_content content, hg_rng *rng, float *re, float *im, int len,
								   double *f1, double *f2);

/* Root-raised-cosine pulse (unit energy per symbol period T = 1), at t in symbols. */
double		hg_rrc_pulse(double t, double rolloff);

#endif							/* HG_WAVEFORM_H */
