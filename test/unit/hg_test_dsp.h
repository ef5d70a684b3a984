/*
 * hg_test_dsp.h
 *    Measurement helpers for the unit tests: mean power, an in-place radix-2
 *    FFT, the fraction of power inside a band, the instantaneous frequency
 *    of an FM discriminator, and the frequency of the strongest line.  They
 *    are independent of the model's own DSP so the tests do not check the
 *    model against itself.
 */
#ifndef HG_TEST_DSP_H
#define HG_TEST_DSP_H

#include <math.h>
#include <stdlib.h>

/* Mean |x|^2 of n interleaved complex floats. */
static inline double
mean_power_iq(const float *iq, int n)
{
	double		p = 0.0;
	int			k;

	for (k = 0; k < 2 * n; k++)
		p += (double) iq[k] * iq[k];
	return p / n;
}

/* In-place complex FFT, n a power of two, split arrays. */
static inline void
fft(double *re, double *im, int n)
{
	int			i,
				j = 0,
				len;

	for (i = 1; i < n; i++)
	{
		int			bit = n >> 1;

		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j)
		{
			double		t = re[i];

			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (len = 2; len <= n; len <<= 1)
	{
		double		ang = -2.0 * M_PI / len;

		for (i = 0; i < n; i += len)
			for (j = 0; j < len / 2; j++)
			{
				double		wr = cos(ang * j),
							wi = sin(ang * j);
				double		ur = re[i + j],
							ui = im[i + j];
				double		vr = re[i + j + len / 2] * wr - im[i + j + len / 2] * wi;
				double		vi = re[i + j + len / 2] * wi + im[i + j + len / 2] * wr;

				re[i + j] = ur + vr;
				im[i + j] = ui + vi;
				re[i + j + len / 2] = ur - vr;
				im[i + j + len / 2] = ui - vi;
			}
	}
}

/* Fraction of the power of the first 8192 complex samples within +-half_band_hz. */
static inline double
fraction_in_band(const float *re, const float *im, int stride, double fs, double half_band_hz)
{
	enum
	{
		N = 8192
	};
	double	   *xr = malloc(sizeof(double) * N),
			   *xi = malloc(sizeof(double) * N);
	double		inside = 0,
				total = 0;
	int			k;

	for (k = 0; k < N; k++)
	{
		xr[k] = re[k * stride];
		xi[k] = im[k * stride];
	}
	fft(xr, xi, N);
	for (k = 0; k < N; k++)
	{
		double		f = (k < N / 2 ? k : k - N) * fs / N;
		double		p = xr[k] * xr[k] + xi[k] * xi[k];

		total += p;
		if (fabs(f) <= half_band_hz)
			inside += p;
	}
	free(xr);
	free(xi);
	return inside / total;
}

/* Instantaneous frequency (Hz) between samples n-1 and n. */
static inline double
discriminator(const float *re, const float *im, int stride, int n, double fs)
{
	double		ar = re[n * stride],
				ai = im[n * stride];
	double		br = re[(n - 1) * stride],
				bi = im[(n - 1) * stride];

	return atan2(ai * br - ar * bi, ar * br + ai * bi) * fs / (2.0 * M_PI);
}

/* |DFT| of interleaved complex x at frequency f (Hz). */
static inline double
dft_magnitude(const float *iq, int n, double fs, double f)
{
	double		sr = 0,
				si = 0,
				w = -2.0 * M_PI * f / fs;
	int			k;

	for (k = 0; k < n; k++)
	{
		double		c = cos(w * k),
					s = sin(w * k);

		sr += iq[2 * k] * c - iq[2 * k + 1] * s;
		si += iq[2 * k] * s + iq[2 * k + 1] * c;
	}
	return sqrt(sr * sr + si * si);
}

/* Frequency of the strongest line in [lo, hi] Hz: 1 Hz scan, then 0.01 Hz refinement. */
static inline double
strongest_line(const float *iq, int n, double fs, double lo, double hi)
{
	double		best_f = lo,
				best = -1,
				f;

	for (f = lo; f <= hi; f += 1.0)
	{
		double		m = dft_magnitude(iq, n, fs, f);

		if (m > best)
		{
			best = m;
			best_f = f;
		}
	}
	for (f = best_f - 1.0; f <= best_f + 1.0; f += 0.01)
	{
		double		m = dft_magnitude(iq, n, fs, f);

		if (m > best)
		{
			best = m;
			best_f = f;
		}
	}
	return best_f;
}

#endif							/* HG_TEST_DSP_H */
