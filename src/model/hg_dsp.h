/*
 * hg_dsp.h
 *    Small signal-processing kernels shared by the waveform and the channel:
 *    windowed-sinc filter design, fractional-delay taps, and a complex FIR
 *    on split real/imaginary arrays (a layout the compiler vectorises).
 */
#ifndef HG_DSP_H
#define HG_DSP_H

/* Blackman window of half-width half_width, evaluated at x (0 outside). */
double		hg_blackman(double x, double half_width);

/* sin(pi x) / (pi x). */
double		hg_sinc(double x);

/* Linear-phase low-pass of n_taps (odd), cutoff in cycles per sample, unit DC gain. */
void		hg_design_lowpass(float *taps, int n_taps, double cutoff);

/*
 * Add gain * (windowed sinc delayed by delay samples) to the taps of a
 * fractional-delay filter: taps[k] belongs to lag k - half + 1, so
 * y[n] = sum_k taps[k] x[n - (k - half + 1)] and delays in [0, 2) are
 * interpolated from half samples on either side.
 */
void		hg_add_fractional_delay(float *taps_re, float *taps_im, int n_taps, int half,
									double delay, double gain_re, double gain_im);

/*
 * y[n] = sum_k h[k] x[n + first_lag_offset - k] for n in [0, n_out):
 * complex taps and signals as split arrays.  x must hold indices
 * [first_lag_offset - n_taps + 1, first_lag_offset + n_out).
 */
void		hg_fir_complex(const float *x_re, const float *x_im, int first_lag_offset,
						   const float *h_re, const float *h_im, int n_taps,
						   float *y_re, float *y_im, int n_out);

#endif							/* HG_DSP_H */
