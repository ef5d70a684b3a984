/*
 * hg_audio.h
 *    Baseband content of the analog modulations (signal-model.md section 3):
 *    voice-like formant synthesis with a syllable envelope and pauses, a
 *    single tone, or a DTMF pair.  Output is real audio with peak |a| = 1.
 */
#ifndef HG_AUDIO_H
#define HG_AUDIO_H

#include "hg_model.h"
#include "hg_rng.h"

/*
 * Fill audio[0..len) at sample rate fs.  scratch holds len doubles.  The
 * tone frequency or DTMF pair drawn is returned in *f1 / *f2 (0 if none).
 */
void		hg_audio_generate(hg_content content, hg_rng *rng, double fs,
							  double *audio, double *scratch, int len,
							  double *f1, double *f2);

#endif							/* HG_AUDIO_H */
