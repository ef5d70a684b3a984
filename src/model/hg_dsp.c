/*
 * hg_dsp.c
 *    Filter design and the complex FIR kernel (see hg_dsp.h).
 */
#include "hg_dsp.h"

#include "hg_math.h"
#include "hg_simd.h"

#include <math.h>
#include <string.h>

#define FIR_CHUNK 1024			/* outputs per pass: 4 x 4 kB of floats, in L1 */

double
hg_blackman(double x, double half_width)
{
	double		t = 0.5 * x / half_width;	/* pi x / half_width, in turns */
	double		s,
				c1,
				c2;

	if (fabs(x) >= half_width)
		return 0.0;
	hg_sincos_turns(t, &s, &c1);
	hg_sincos_turns(2.0 * t, &s, &c2);
	return 0.42 + 0.5 * c1 + 0.08 * c2;
}

double
hg_sinc(double x)
{
	double		s,
				c;

	if (fabs(x) < 1e-12)
		return 1.0;
	hg_sincos_turns(0.5 * x, &s, &c);
	return s / (HG_PI * x);
}

void
hg_design_lowpass(float *taps, int n_taps, double cutoff)
{
	double		half = (n_taps - 1) / 2.0;
	double		sum = 0.0;
	double		t[512];
	int			k;

	for (k = 0; k < n_taps && k < 512; k++)
	{
		double		x = k - half;

		t[k] = 2.0 * cutoff * hg_sinc(2.0 * cutoff * x) * hg_blackman(x, half + 1.0);
		sum += t[k];
	}
	for (k = 0; k < n_taps && k < 512; k++)
		taps[k] = (float) (t[k] / sum);
}

void
hg_add_fractional_delay(float *taps_re, float *taps_im, int n_taps, int half,
						double delay, double gain_re, double gain_im)
{
	int			k;

	for (k = 0; k < n_taps; k++)
	{
		double		x = (k - half + 1) - delay;
		double		w = hg_sinc(x) * hg_blackman(x, (double) half);

		taps_re[k] += (float) (gain_re * w);
		taps_im[k] += (float) (gain_im * w);
	}
}

/*
 * Each output sums its taps in ascending k from 0.0, each term being
 * (hr xr - hi xi) or (hr xi + hi xr): the order that defines the bytes.
 *
 * Portable path: outputs in chunks that stay in L1 across all taps; within
 * a chunk the tap-outer loop is a contiguous multiply-add per tap that the
 * compiler vectorises.
 */
static void
fir_complex_chunked(const float *x_re, const float *x_im, int first_lag_offset,
					const float *h_re, const float *h_im, int n_taps,
					float *y_re, float *y_im, int n_out)
{
	int			start;

	for (start = 0; start < n_out; start += FIR_CHUNK)
	{
		int			len = n_out - start < FIR_CHUNK ? n_out - start : FIR_CHUNK;
		float	   *yr = y_re + start;
		float	   *yi = y_im + start;
		int			k,
					n;

		memset(yr, 0, sizeof(float) * (size_t) len);
		memset(yi, 0, sizeof(float) * (size_t) len);
		for (k = 0; k < n_taps; k++)
		{
			const float hr = h_re[k];
			const float hi = h_im[k];
			const float *xr = x_re + first_lag_offset - k + start;
			const float *xi = x_im + first_lag_offset - k + start;

			for (n = 0; n < len; n++)
			{
				yr[n] += hr * xr[n] - hi * xi[n];
				yi[n] += hr * xi[n] + hi * xr[n];
			}
		}
	}
}

#ifdef HG_HAVE_AVX2_INTRINSICS
#include <immintrin.h>

/*
 * AVX2 path: 16 outputs at a time, their sums held in four registers across
 * all the taps, so y is written once instead of loaded and stored per tap.
 * Same operations in the same order as the portable path (no FMA), hence
 * the same bytes; the remainder goes through the portable path.
 */
__attribute__((target("avx2")))
static int
fir_complex_avx2(const float *x_re, const float *x_im, int first_lag_offset,
				 const float *h_re, const float *h_im, int n_taps,
				 float *y_re, float *y_im, int n_out)
{
	int			n0;

	for (n0 = 0; n0 + 16 <= n_out; n0 += 16)
	{
		__m256		ar0 = _mm256_setzero_ps(),
					ar1 = _mm256_setzero_ps(),
					ai0 = _mm256_setzero_ps(),
					ai1 = _mm256_setzero_ps();
		int			k;

		for (k = 0; k < n_taps; k++)
		{
			const __m256 hr = _mm256_set1_ps(h_re[k]);
			const __m256 hi = _mm256_set1_ps(h_im[k]);
			const float *xr = x_re + first_lag_offset - k + n0;
			const float *xi = x_im + first_lag_offset - k + n0;
			__m256		xr0 = _mm256_loadu_ps(xr),
						xr1 = _mm256_loadu_ps(xr + 8),
						xi0 = _mm256_loadu_ps(xi),
						xi1 = _mm256_loadu_ps(xi + 8);

			ar0 = _mm256_add_ps(ar0, _mm256_sub_ps(_mm256_mul_ps(hr, xr0), _mm256_mul_ps(hi, xi0)));
			ar1 = _mm256_add_ps(ar1, _mm256_sub_ps(_mm256_mul_ps(hr, xr1), _mm256_mul_ps(hi, xi1)));
			ai0 = _mm256_add_ps(ai0, _mm256_add_ps(_mm256_mul_ps(hr, xi0), _mm256_mul_ps(hi, xr0)));
			ai1 = _mm256_add_ps(ai1, _mm256_add_ps(_mm256_mul_ps(hr, xi1), _mm256_mul_ps(hi, xr1)));
		}
		_mm256_storeu_ps(y_re + n0, ar0);
		_mm256_storeu_ps(y_re + n0 + 8, ar1);
		_mm256_storeu_ps(y_im + n0, ai0);
		_mm256_storeu_ps(y_im + n0 + 8, ai1);
	}
	return n0;
}
#endif

void
hg_fir_complex(const float *x_re, const float *x_im, int first_lag_offset,
			   const float *h_re, const float *h_im, int n_taps,
			   float *y_re, float *y_im, int n_out)
{
	int			done = 0;

#ifdef HG_HAVE_AVX2_INTRINSICS
	if (__builtin_cpu_supports("avx2"))
		done = fir_complex_avx2(x_re, x_im, first_lag_offset, h_re, h_im, n_taps, y_re, y_im, n_out);
#endif
	fir_complex_chunked(x_re, x_im, first_lag_offset + done, h_re, h_im, n_taps,
						y_re + done, y_im + done, n_out - done);
}
