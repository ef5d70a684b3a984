/*
 * test_math.c
 *    Unit tests of the model's own elementary functions (hg_math.h):
 *    1. they compute exactly the documented algorithm: a hash of their
 *       outputs on fixed inputs equals the hash that the independent numpy
 *       re-implementation test/reference/hg_math_ref.py prints;
 *    2. their accuracy, measured against the C library's long-double
 *       functions (64-bit mantissa, so its own error is negligible) and
 *       printed: max error in ulps of the double result;
 *    3. special values and the properties the model relies on.
 *
 *    Under valgrind, long double is computed in double precision; the test
 *    notices (1 + 2^-60 == 1 in long double) and then measures against the
 *    double functions with a correspondingly looser bound, on fewer points.
 */
#include "hg_math.h"
#include "hg_test.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#define N_POINTS 4096			/* per input set, as in hg_math_ref.py */

/* Pinned: the hash hg_math_ref.py prints.  Changing hg_math changes output bytes: see test_golden.c. */
#define REFERENCE_HASH 0xe543511785b42a2dull

static uint64_t
splitmix64(uint64_t i)
{
	uint64_t	z = (i + 1) * 0x9E3779B97F4A7C15ull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double
point(int set_id, int i, double lo, double hi)
{
	double		u = (double) (splitmix64((uint64_t) set_id * N_POINTS + (uint64_t) i) >> 11) * 0x1p-53;

	return lo + (hi - lo) * u;
}

static double
log_point(int set_id, int i)
{
	int			e = (i * 7919) % 2000 - 1000;

	return point(set_id, i, 1.0, 2.0) * ldexp(1.0, e);
}

static uint64_t
fnv1a_double(uint64_t h, double v)
{
	unsigned char b[8];
	uint64_t	u;
	int			k;

	memcpy(&u, &v, 8);
	for (k = 0; k < 8; k++)
		b[k] = (unsigned char) (u >> (8 * k));	/* little-endian bytes on any host */
	for (k = 0; k < 8; k++)
		h = (h ^ b[k]) * 0x100000001B3ull;
	return h;
}

typedef double (*fn1) (double);

static uint64_t
hash_fn1(uint64_t h, fn1 f, int set_id, double lo, double hi)
{
	int			i;

	for (i = 0; i < N_POINTS; i++)
		h = fnv1a_double(h, f(point(set_id, i, lo, hi)));
	return h;
}

static uint64_t
hash_sincos(uint64_t h, int set_id, double lo, double hi, int turns)
{
	double		s[N_POINTS],
				c[N_POINTS];
	int			i;

	for (i = 0; i < N_POINTS; i++)
	{
		if (turns)
			hg_sincos_turns(point(set_id, i, lo, hi), &s[i], &c[i]);
		else
			hg_sincos(point(set_id, i, lo, hi), &s[i], &c[i]);
	}
	for (i = 0; i < N_POINTS; i++)
		h = fnv1a_double(h, s[i]);
	for (i = 0; i < N_POINTS; i++)
		h = fnv1a_double(h, c[i]);
	return h;
}

static uint64_t
reference_hash(void)
{
	uint64_t	h = 0xCBF29CE484222325ull;
	int			i;

	h = hash_sincos(h, 0, -7.0, 7.0, 0);
	h = hash_sincos(h, 1, -20000.0, 20000.0, 0);
	h = hash_sincos(h, 2, -3.0, 3.0, 1);
	h = hash_fn1(h, hg_exp, 3, -1.0, 1.0);
	h = hash_fn1(h, hg_exp, 4, -745.0, 709.0);
	h = hash_fn1(h, hg_exp10, 5, -20.0, 20.0);
	h = hash_fn1(h, hg_exp10, 6, -300.0, 300.0);
	h = hash_fn1(h, hg_log, 7, 0.5, 2.0);
	for (i = 0; i < N_POINTS; i++)
		h = fnv1a_double(h, hg_log(log_point(8, i)));
	h = hash_fn1(h, hg_log10, 9, 0.5, 2.0);
	for (i = 0; i < N_POINTS; i++)
		h = fnv1a_double(h, hg_log10(log_point(10, i)));
	for (i = 0; i < N_POINTS; i++)
		h = fnv1a_double(h, hg_atan2(point(11, i, -10.0, 10.0), point(12, i, -10.0, 10.0)));
	return h;
}

static void
test_matches_numpy_reference(void)
{
	uint64_t	h = reference_hash();

	HG_CHECK(h == REFERENCE_HASH,
			 "hash 0x%016llx, hg_math_ref.py says 0x%016llx: the C code no longer computes the documented algorithm",
			 (unsigned long long) h, (unsigned long long) REFERENCE_HASH);
}

/* ------------------------------------------------------------------------
 * Accuracy
 * ------------------------------------------------------------------------ */

static int	extended;			/* long double really has more bits than double */

static double
ulp_error(double got, long double want)
{
	double		w = (double) want;
	int			e;

	if (w == 0.0)
		return got == 0.0 ? 0.0 : INFINITY;
	(void) frexp(w, &e);
	/* ulp of a double in [2^(e-1), 2^e) is 2^(e-53); no lower than the smallest subnormal */
	return (double) (fabsl((long double) got - want) / ldexpl(1.0L, e - 53 < -1074 ? -1074 : e - 53));
}

typedef struct accuracy
{
	const char *what;
	double		max_ulp;
	double		arg_at_max;
} accuracy;

static void
record(accuracy *a, double err, double arg)
{
	if (err > a->max_ulp)
	{
		a->max_ulp = err;
		a->arg_at_max = arg;
	}
}

static void
report(const accuracy *a, double bound)
{
	printf("    %-34s max %.3f ulp (at %.17g)\n", a->what, a->max_ulp, a->arg_at_max);
	HG_CHECK(a->max_ulp <= bound, "%s: %.3f ulp > %.2f", a->what, a->max_ulp, bound);
}

/*
 * sin or cos of 2 pi t in long double: t - k/4 is exact, and the quarter
 * turn is applied by swapping and negating, so no large angle is rounded.
 */
static long double
turns_ld(int which, double t)
{
	double		k = rint(4.0 * t);
	long double r = 2.0L * 3.14159265358979323846264338327950288L * (long double) (t - k * 0.25);
	long double s = sinl(r),
				c = cosl(r);
	int			q = (int) ((long long) k & 3);
	long double qs[4] = {s, c, -s, -c},
				qc[4] = {c, -s, -c, s};

	return which == 6 ? qs[q] : qc[q];
}

/* The reference, in long double where it has more bits, else in double. */
static long double
ref1(int which, double x)
{
	if (extended)
		switch (which)
		{
			case 0:
				return sinl(x);
			case 1:
				return cosl(x);
			case 2:
				return expl(x);
			case 3:
				return powl(10.0L, x);
			case 4:
				return logl(x);
			case 5:
				return log10l(x);
			case 6:
			default:
				return turns_ld(which, x);
		}
	switch (which)
	{
		case 0:
			return sin(x);
		case 1:
			return cos(x);
		case 2:
			return exp(x);
		case 3:
			return pow(10.0, x);
		case 4:
			return log(x);
		case 5:
			return log10(x);
		case 6:
		default:
			return turns_ld(which, x);
	}
}

static double
mine1(int which, double x)
{
	double		s,
				c;

	switch (which)
	{
		case 0:
			return hg_sin(x);
		case 1:
			return hg_cos(x);
		case 2:
			return hg_exp(x);
		case 3:
			return hg_exp10(x);
		case 4:
			return hg_log(x);
		case 5:
			return hg_log10(x);
		case 6:
			hg_sincos_turns(x, &s, &c);
			return s;
		default:
			hg_sincos_turns(x, &s, &c);
			return c;
	}
}

static void
measure(const char *what, int which, double lo, double hi, int n, double bound, int log_spread)
{
	accuracy	a = {what, 0.0, 0.0};
	int			i;

	for (i = 0; i < n; i++)
	{
		double		x = log_spread ? log_point(20 + which, i % N_POINTS) * (1.0 + i / (double) n)
			: point(30 + which, i, lo, hi);

		record(&a, ulp_error(mine1(which, x), ref1(which, x)), x);
	}
	report(&a, bound);
}

static void
test_accuracy(void)
{
	/*
	 * The bounds are what hg_math.h documents (measured maxima, rounded up);
	 * with a double reference (valgrind) its own error of up to ~1 ulp adds.
	 */
	int			n = extended ? 400000 : 20000;
	double		slack = extended ? 0.0 : 1.0;
	double		b = 1.0 + slack;
	accuracy	a = {"atan2 y, x in [-10, 10]", 0.0, 0.0};
	accuracy	a_big = {"atan2 y, x in [-1e6, 1e6]", 0.0, 0.0};
	int			i;

	printf("    reference: %s\n", extended ? "long double libm" : "double libm (no extended precision here)");
	measure("sin x in [-pi, pi]", 0, -M_PI, M_PI, n, b, 0);
	measure("cos x in [-pi, pi]", 1, -M_PI, M_PI, n, b, 0);
	measure("sin x in [-2e4, 2e4]", 0, -2e4, 2e4, n, b, 0);
	measure("cos x in [-2e4, 2e4]", 1, -2e4, 2e4, n, b, 0);
	measure("sin 2 pi t, t in [-2, 2]", 6, -2, 2, n, 2.0 + slack, 0);
	measure("cos 2 pi t, t in [-2, 2]", 7, -2, 2, n, 2.0 + slack, 0);
	measure("exp x in [-10, 10]", 2, -10, 10, n, b, 0);
	measure("exp x in [-708, 709]", 2, -708, 709, n, b, 0);
	measure("exp10 x in [-30, 30]", 3, -30, 30, n, 1.5 + slack, 0);
	measure("exp10 x in [-307, 308]", 3, -307, 308, n, 1.5 + slack, 0);
	measure("log x in [0.5, 2]", 4, 0.5, 2, n, b, 0);
	measure("log x in [2^-1000, 2^1000]", 4, 0, 0, n, b, 1);
	measure("log10 x in [0.5, 2]", 5, 0.5, 2, n, b, 0);
	measure("log10 x in [2^-1000, 2^1000]", 5, 0, 0, n, b, 1);
	for (i = 0; i < n; i++)
	{
		double		y = point(40, i, -10, 10),
					x = point(41, i, -10, 10);

		record(&a, ulp_error(hg_atan2(y, x), extended ? atan2l(y, x) : atan2(y, x)), y / x);
		y *= 1e5;
		x = point(42, i, -1e6, 1e6);
		record(&a_big, ulp_error(hg_atan2(y, x), extended ? atan2l(y, x) : atan2(y, x)), y / x);
	}
	report(&a, 1.5 + slack);
	report(&a_big, 1.5 + slack);
}

static void
test_special_values(void)
{
	double		s,
				c;

	HG_CHECK(isnan(hg_sin(NAN)) && isnan(hg_cos(INFINITY)), "sin/cos of NaN, inf");
	HG_CHECK(hg_sin(0.0) == 0.0 && hg_cos(0.0) == 1.0, "sin 0, cos 0");
	HG_CHECK(hg_exp(0.0) == 1.0 && hg_exp(1000) == INFINITY && hg_exp(-1000) == 0.0, "exp");
	HG_CHECK(hg_exp10(0.0) == 1.0 && hg_exp10(1.0) == 10.0 && hg_exp10(2.0) == 100.0 && hg_exp10(-1.0) == 0.1,
			 "exp10 of small integers: %.17g %.17g %.17g", hg_exp10(1.0), hg_exp10(2.0), hg_exp10(-1.0));
	HG_CHECK(hg_log(1.0) == 0.0 && hg_log(0.0) == -INFINITY && isnan(hg_log(-1.0)), "log");
	HG_CHECK(hg_log10(1.0) == 0.0 && hg_log10(10.0) == 1.0 && hg_log10(1000.0) == 3.0 && hg_log10(1e-12) == -12.0,
			 "log10 of powers of ten: %.17g %.17g", hg_log10(1000.0), hg_log10(1e-12));
	HG_CHECK(hg_log(4.9e-324) < -744 && hg_log(4.9e-324) > -745, "log of the smallest subnormal");
	HG_CHECK(hg_atan2(0.0, 1.0) == 0.0 && hg_atan2(0.0, -1.0) == atan2(0.0, -1.0) &&
			 hg_atan2(-0.0, -1.0) == -atan2(0.0, -1.0) && hg_atan2(1.0, 0.0) == atan2(1.0, 0.0) &&
			 hg_atan2(-1.0, -0.0) == atan2(-1.0, -0.0), "atan2 on the axes");
	HG_CHECK(hg_atan2(1.0, 1.0) == atan2(1.0, 1.0) && hg_atan2(-1.0, -1.0) == atan2(-1.0, -1.0), "atan2 diagonals");
	hg_sincos_turns(0.25, &s, &c);
	HG_CHECK(s == 1.0 && c == 0.0, "quarter turn: %g %g", s, c);
	hg_sincos_turns(-0.5, &s, &c);
	HG_CHECK(s == 0.0 && c == -1.0, "half turn: %g %g", s, c);
	hg_sincos_turns(1e12 + 0.125, &s, &c);
	HG_CHECK(fabs(s - M_SQRT1_2) < 1e-15 && fabs(c - M_SQRT1_2) < 1e-15, "a large turn count: %g %g", s, c);
	HG_CHECK(hg_frac(3.75) == 0.75 && hg_frac(-0.25) == 0.75, "frac");
}

/* sin^2 + cos^2 = 1 and odd/even symmetry hold to rounding. */
static void
test_identities(void)
{
	int			i;
	double		worst = 0.0;

	for (i = 0; i < 100000; i++)
	{
		double		x = point(50, i, -100, 100);
		double		s,
					c;

		hg_sincos(x, &s, &c);
		worst = fmax(worst, fabs(s * s + c * c - 1.0));
		HG_CHECK(hg_sin(-x) == -s && hg_cos(-x) == c, "symmetry at %.17g", x);
		if (hg_sin(-x) != -s)
			break;
	}
	HG_CHECK(worst < 4e-16, "sin^2 + cos^2 - 1 up to %g", worst);
}

int
main(void)
{
	volatile long double one = 1.0L;
	volatile long double tiny = 0x1p-60L;

	extended = one + tiny != one;
	HG_RUN(test_matches_numpy_reference);
	HG_RUN(test_accuracy);
	HG_RUN(test_special_values);
	HG_RUN(test_identities);
	return HG_TEST_SUMMARY();
}
