/*
 * hg_math.h
 *    The model's own elementary functions.  Everything that decides output
 *    bytes (labels and IQ) uses these instead of the C library's sin, cos,
 *    exp, log, log10, pow and atan2, whose last bit may differ between CPUs
 *    and C library versions (FMA and non-FMA code paths).  They are built
 *    only from IEEE-754 basic operations (+ - * / and sqrt, correctly
 *    rounded everywhere) plus exact conversions and bit manipulation, in a
 *    fixed order, compiled with -ffp-contract=off: the same inputs give the
 *    same bits on any IEEE machine.
 *
 *    Algorithms (constants derived in test/reference/hg_math_consts.py, an
 *    operation-by-operation numpy re-implementation in hg_math_ref.py):
 *    - sin, cos: Cody-Waite reduction by pi/2 in three parts (33 + 33 + 53
 *      bits), k = round(x * 2/pi); Taylor polynomials to r^17 / r^18 on
 *      |r| <= pi/4; quadrant from k mod 4.  Accurate for |x| <= 2^20 pi/2
 *      (about 1.6e6; the model stays far below); beyond, still deterministic
 *      but with an absolute error growing with |x|.
 *    - sincos_turns: sin and cos of 2 pi t for t in turns (cycles): exact
 *      reduction t - k/4, Taylor polynomials in r with (2 pi)^n / n!
 *      coefficients.  The model keeps oscillator phases in turns, reduced
 *      exactly with t - floor(t), so no phase ever grows large.
 *    - exp: k = round(x / ln 2), r = x - k ln2_hi - k ln2_lo, Taylor to
 *      r^13, times 2^k built from the exponent bits.
 *    - log: x = 2^e m, m in [sqrt(2)/2, sqrt(2)), f = m - 1, s = f / (2 + f),
 *      log m = f - (f^2/2 - s (f^2/2 + R(s^2))) with the atanh series R.
 *    - log10: the same, scaled by 1/ln 10, with e log10(2) in two parts.
 *    - exp10 (the model's only use of pow, 10^x): x ln 10 as a double-double
 *      (Dekker's product, no FMA), then exp.
 *    - atan2: t = min/max of |y|, |x|, j = round(8 t), u = (t - j/8) /
 *      (1 + t j/8), atan(u) by Taylor to u^17, added to a double-double table
 *      of atan(j/8), pi/2 -/+ atan(j/8), pi - atan(j/8) chosen by octant.
 *
 *    Accuracy, measured by test_math.c against the C library's long-double
 *    functions on 400,000 points per range (max error in ulps of the
 *    double result; the test checks these bounds and prints the maxima):
 *      sin, cos (radians, |x| <= 2e4)           0.77
 *      sincos_turns (|t| <= 2)                   1.93
 *      exp (-708..709)                           0.93
 *      exp10 (-307..308)                         1.08
 *      log, log10 (2^-1000..2^1000)              0.82, 0.90
 *      atan2 (|y|, |x| <= 1e6)                   1.38
 *    Special values: NaN in gives NaN; exp overflows to inf and underflows
 *    to 0; log(0) = -inf, log(x < 0) = NaN; sin/cos(inf) = NaN.
 */
#ifndef HG_MATH_H
#define HG_MATH_H

#include <stdint.h>

/* pi and 2 pi as doubles, for the model's own constants (not for reduction) */
#define HG_PI 3.14159265358979323846
#define HG_TWO_PI 6.28318530717958647692

double		hg_sin(double x);
double		hg_cos(double x);
void		hg_sincos(double x, double *s, double *c);
double		hg_exp(double x);
double		hg_exp10(double x);	/* 10^x: pow(10, x) */
double		hg_log(double x);
double		hg_log10(double x);
double		hg_atan2(double y, double x);
void		hg_sincos_turns(double t, double *s, double *c);	/* sin, cos of 2 pi t */

/*
 * x - floor(x), the fraction of a turn: exact for x >= 0 (in [0, 1)); for
 * a tiny negative x it may round up to exactly 1.0, the same angle.
 */
double		hg_frac(double x);

/*
 * Inline kernel of hg_sincos_turns for loops the compiler should
 * vectorise: branch-free, valid for |t| <= 2^29 (the quadrant is an int).
 * hg_sincos_turns is exactly this function.
 */
#define HG_ROUND_MAGIC 6755399441055744.0	/* 1.5 * 2^52: x + M - M rounds to nearest even */

static inline void
hg_sincos_turns_inline(double t, double *s, double *c)
{
	double		k = (t * 4.0 + HG_ROUND_MAGIC) - HG_ROUND_MAGIC;	/* nearest quarter turn */
	double		r = t - k * 0.25;	/* exact, |r| <= 1/8 */
	double		z = r * r;
	double		ps,
				pc,
				sr,
				cr;
	int			q = (int) k;

	/* sin(2 pi r) and cos(2 pi r): Taylor coefficients (2 pi)^n / n! */
	ps = 0x1.aaec32af93359p-4;
	ps = -0x1.6fadb9f155744p-1 + z * ps;
	ps = 0x1.e8f434d018d63p+1 + z * ps;
	ps = -0x1.e3074fde8871fp+3 + z * ps;
	ps = 0x1.50783487ee782p+5 + z * ps;
	ps = -0x1.32d2cce62bd86p+6 + z * ps;
	ps = 0x1.466bc6775aae2p+6 + z * ps;
	ps = -0x1.4abbce625be53p+5 + z * ps;
	sr = r * 0x1.921fb54442d18p+2 + (r * z) * ps;
	pc = -0x1.2a0c591af8314p-5;
	pc = 0x1.20c62c2f2d7f5p-2 + z * pc;
	pc = -0x1.b6e24f44b128fp+0 + z * pc;
	pc = 0x1.f9d38a3763cc3p+2 + z * pc;
	pc = -0x1.a6d1f2a204a8cp+4 + z * pc;
	pc = 0x1.e1f506891babbp+5 + z * pc;
	pc = -0x1.55d3c7e3cbffap+6 + z * pc;
	pc = 0x1.03c1f081b5ac4p+6 + z * pc;
	pc = -0x1.3bd3cc9be45dep+4 + z * pc;
	cr = 1.0 + z * pc;
	/* the quarter turns: (sin, cos) of q/4 + r, by swaps and exact sign flips */
	*s = ((q & 1) ? cr : sr) * ((q & 2) ? -1.0 : 1.0);
	*c = ((q & 1) ? sr : cr) * (((q + 1) & 2) ? -1.0 : 1.0);
}

#endif							/* HG_MATH_H */
