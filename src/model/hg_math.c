/*
 * hg_math.c
 *    The model's elementary functions from IEEE basic operations only
 *    (algorithms and accuracy in hg_math.h).  Every constant below is
 *    printed by test/reference/hg_math_consts.py, which derives it from
 *    first principles; hex literals keep each one exact.
 */
#include "hg_math.h"

#include <math.h>
#include <string.h>

#define PIO2_1 0x1.921fb54400000p+0	/* pi/2 in 33 + 33 + 53 bits */
#define PIO2_2 0x1.0b4611a600000p-34
#define PIO2_3 0x1.3198a2e037073p-69
#define TWO_OVER_PI 0x1.45f306dc9c883p-1
#define LN2_HI 0x1.62e42fefa3800p-1	/* 42 bits: k * LN2_HI is exact for |k| < 2^11 */
#define LN2_LO 0x1.ef35793c76730p-45
#define INV_LN2 0x1.71547652b82fep+0
#define SQRT2 0x1.6a09e667f3bcdp+0
#define INV_LN10_HI 0x1.bcb7b1526e50ep-2	/* 1/ln 10 as a double-double */
#define INV_LN10_LO 0x1.95355baaafad3p-57
#define LOG10_2_HI 0x1.34413509f7800p-2
#define LOG10_2_LO 0x1.fef311f12b358p-46
#define LN10_HI 0x1.26bb1bbb55516p+1
#define LN10_LO (-0x1.f48ad494ea3e9p-53)
#define SPLITTER 134217729.0	/* 2^27 + 1: Veltkamp's split of a double into 26 + 27 bits */

/* Taylor coefficients: sin r^3..r^17, cos r^4..r^18, exp 1/n! n=2..13,
 * log 2/(2n+1) n=1..10, atan (-1)^n/(2n+1) n=1..12 */
static const double sin_rad[8] = {
	-0x1.5555555555555p-3, 0x1.1111111111111p-7, -0x1.a01a01a01a01ap-13, 0x1.71de3a556c734p-19,
	-0x1.ae64567f544e4p-26, 0x1.6124613a86d09p-33, -0x1.ae7f3e733b81fp-41, 0x1.952c77030ad4ap-49
};
static const double cos_rad[8] = {
	0x1.5555555555555p-5, -0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-16, -0x1.27e4fb7789f5cp-22,
	0x1.1eed8eff8d898p-29, -0x1.93974a8c07c9dp-37, 0x1.ae7f3e733b81fp-45, -0x1.6827863b97d97p-53
};
static const double exp_c[12] = {
	0x1.0000000000000p-1, 0x1.5555555555555p-3, 0x1.5555555555555p-5, 0x1.1111111111111p-7,
	0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-13, 0x1.a01a01a01a01ap-16, 0x1.71de3a556c734p-19,
	0x1.27e4fb7789f5cp-22, 0x1.ae64567f544e4p-26, 0x1.1eed8eff8d898p-29, 0x1.6124613a86d09p-33
};
static const double log_c[10] = {
	0x1.5555555555555p-1, 0x1.999999999999ap-2, 0x1.2492492492492p-2, 0x1.c71c71c71c71cp-3,
	0x1.745d1745d1746p-3, 0x1.3b13b13b13b14p-3, 0x1.1111111111111p-3, 0x1.e1e1e1e1e1e1ep-4,
	0x1.af286bca1af28p-4, 0x1.8618618618618p-4
};
static const double atan_c[12] = {
	-0x1.5555555555555p-2, 0x1.999999999999ap-3, -0x1.2492492492492p-3, 0x1.c71c71c71c71cp-4,
	-0x1.745d1745d1746p-4, 0x1.3b13b13b13b14p-4, -0x1.1111111111111p-4, 0x1.e1e1e1e1e1e1ep-5,
	-0x1.af286bca1af28p-5, 0x1.8618618618618p-5, -0x1.642c8590b2164p-5, 0x1.47ae147ae147bp-5
};

/* [j][octant][hi, lo]: atan(j/8), pi/2 - atan(j/8), pi/2 + atan(j/8), pi - atan(j/8) */
static const double atan_base[9][4][2] = {
	{{0x0.0p+0, 0x0.0p+0}, {0x1.921fb54442d18p+0, 0x1.1a62633145c07p-54}, {0x1.921fb54442d18p+0, 0x1.1a62633145c07p-54}, {0x1.921fb54442d18p+1, 0x1.1a62633145c07p-53}},
	{{0x1.fd5ba9aac2f6ep-4, -0x1.cd37686760c17p-59}, {0x1.7249faa996a21p+0, 0x1.a8cc1e7480c68p-54}, {0x1.b1f56fdeef00fp+0, 0x1.17f14fdc1574cp-55}, {0x1.8234d7f6ecb9dp+1, -0x1.3cd17e5a39792p-54}},
	{{0x1.f5b75f92c80ddp-3, 0x1.8ab6e3cf7afbdp-57}, {0x1.5368c951e9cfdp+0, -0x1.96f47948a99f1p-54}, {0x1.d0d6a1369bd34p+0, -0x1.a23602a65700cp-57}, {0x1.72c43f4b1650ap+1, 0x1.c1b6f4f44e10bp-53}},
	{{0x1.6f61941e4def1p-2, -0x1.c63aae6f6e918p-56}, {0x1.3647503caf55cp+0, 0x1.17e21d9a42c9ap-55}, {0x1.edf81a4bd64d4p+0, 0x1.a8d3b7956a1c1p-54}, {0x1.643382c07913ap+1, 0x1.a65371fe67254p-54}},
	{{0x1.dac670561bb4fp-2, 0x1.a2b7f222f65e2p-56}, {0x1.1b6e192ebbe44p+0, 0x1.b1b466a88828ep-54}, {0x1.0468a8ace4df6p+1, 0x1.0620bf7406affp-55}, {0x1.56c6e7397f5aep+1, 0x1.660b64ece6f4bp-53}},
	{{0x1.1e00babdefeb4p-1, -0x1.928df287a668fp-58}, {0x1.031f57e54adbep+0, 0x1.338b4259c0270p-54}, {0x1.109009519d639p+1, 0x1.01398408cb59ep-54}, {0x1.4a9f8694c6d6bp+1, 0x1.26f6d2c582f3bp-53}},
	{{0x1.4978fa3269ee1p-1, 0x1.2419a87f2a458p-56}, {0x1.dac670561bb4fp-1, 0x1.a2b7f222f65e2p-55}, {0x1.1b6e192ebbe44p+1, 0x1.b1b466a88828ep-53}, {0x1.3fc176b7a8560p+1, -0x1.441a3bd3f1083p-58}},
	{{0x1.700a7c5784634p-1, -0x1.8c34d25aadef6p-56}, {0x1.b434ee31013fdp-1, -0x1.0520d0701d877p-55}, {0x1.251279b802819p+1, 0x1.6eaa5d3534893p-55}, {0x1.361d162e61b8bp+1, 0x1.4be8fd7c9b7e6p-53}},
	{{0x1.921fb54442d18p-1, 0x1.1a62633145c07p-55}, {0x1.921fb54442d18p-1, 0x1.1a62633145c07p-55}, {0x1.2d97c7f3321d2p+1, 0x1.a79394c9e8a0ap-54}, {0x1.2d97c7f3321d2p+1, 0x1.a79394c9e8a0ap-54}}
};

static uint64_t
bits_of(double x)
{
	uint64_t	u;

	memcpy(&u, &x, sizeof(u));
	return u;
}

static double
double_of(uint64_t u)
{
	double		x;

	memcpy(&x, &u, sizeof(x));
	return x;
}

static int
is_nan_or_inf(double x)
{
	return (bits_of(x) & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
}

/* 2^k for -1022 <= k <= 1023, from its exponent bits. */
static double
pow2i(int k)
{
	return double_of((uint64_t) (k + 1023) << 52);
}

double
hg_frac(double x)
{
	/* floor is exact, and so is x - floor(x) for any finite double */
	return x - floor(x);
}

/* ------------------------------------------------------------------------
 * sin, cos
 * ------------------------------------------------------------------------ */

/*
 * sin and cos of r + rlo, |r| <= pi/4 (a little beyond is fine), rlo a
 * tail below half an ulp of r: sin(r + d) = sin r + d cos r, cos(r + d) =
 * cos r - d sin r, to first order, which is all d needs.
 */
static void
sincos_kernel(double r, double rlo, double *s, double *c)
{
	double		z = r * r;
	double		ps = sin_rad[7],
				pc = cos_rad[7],
				hz,
				w;
	int			k;

	for (k = 6; k >= 0; k--)
	{
		ps = sin_rad[k] + z * ps;
		pc = cos_rad[k] + z * pc;
	}
	hz = 0.5 * z;
	w = 1.0 - hz;
	*s = r + (rlo * w + (r * z) * ps);
	/* cos = 1 - z/2 + z^2 pc, with the rounding error of 1 - z/2 added back */
	*c = w + ((((1.0 - w) - hz) - r * rlo) + (z * z) * pc);
}

void
hg_sincos(double x, double *s, double *c)
{
	double		k,
				a,
				w,
				r1,
				bv,
				err,
				r,
				rlo,
				sr,
				cr;
	int			q;

	if (is_nan_or_inf(x))
	{
		*s = *c = x - x;		/* NaN */
		return;
	}
	k = (x * TWO_OVER_PI + HG_ROUND_MAGIC) - HG_ROUND_MAGIC;
	/*
	 * r + rlo = x - k pi/2 as a double-double: x - k P1 and k P2 are exact
	 * (33-bit parts, |k| < 2^20); their difference is recovered exactly by
	 * Knuth's two-sum, then the small k P3 joins the tail.
	 */
	a = x - k * PIO2_1;
	w = k * PIO2_2;
	r1 = a - w;
	bv = a - r1;
	err = (a - (r1 + bv)) + (bv - w);
	err -= k * PIO2_3;
	r = r1 + err;
	rlo = err - (r - r1);
	sincos_kernel(r, rlo, &sr, &cr);
	/* k mod 4, correct for negative k too (two's complement) */
	q = (int) (int64_t) k & 3;
	switch (q)
	{
		case 0:
			*s = sr;
			*c = cr;
			break;
		case 1:
			*s = cr;
			*c = -sr;
			break;
		case 2:
			*s = -sr;
			*c = -cr;
			break;
		default:
			*s = -cr;
			*c = sr;
			break;
	}
}

double
hg_sin(double x)
{
	double		s,
				c;

	hg_sincos(x, &s, &c);
	return s;
}

double
hg_cos(double x)
{
	double		s,
				c;

	hg_sincos(x, &s, &c);
	return c;
}

void
hg_sincos_turns(double t, double *s, double *c)
{
	if (is_nan_or_inf(t))
	{
		*s = *c = t - t;
		return;
	}
	/* whole turns first (exact), so the inline kernel's int quadrant never overflows */
	if (t > 536870912.0 || t < -536870912.0)
		t = hg_frac(t);
	hg_sincos_turns_inline(t, s, c);
}

/* ------------------------------------------------------------------------
 * exp, exp10
 * ------------------------------------------------------------------------ */

/* exp(hi + lo) for |hi| <= 745.2, |lo| tiny. */
static double
exp_dd(double hi, double lo)
{
	double		k = (hi * INV_LN2 + HG_ROUND_MAGIC) - HG_ROUND_MAGIC;
	double		r = ((hi - k * LN2_HI) - k * LN2_LO) + lo;
	double		p = exp_c[11];
	double		e;
	int			ki = (int) k,
				j;

	for (j = 10; j >= 0; j--)
		p = exp_c[j] + r * p;
	e = 1.0 + (r + (r * r) * p);
	/* times 2^k in at most two exact steps (the second may round into subnormals) */
	if (ki > 1000)
		return (e * pow2i(ki - 1000)) * pow2i(1000);
	if (ki < -1000)
		return (e * pow2i(ki + 1000)) * pow2i(-1000);
	return e * pow2i(ki);
}

double
hg_exp(double x)
{
	if (x != x)
		return x;
	if (x > 709.8)
		return double_of(0x7ff0000000000000ull);
	if (x < -745.2)
		return 0.0;
	return exp_dd(x, 0.0);
}

/* a * b = p + e exactly (Dekker), without FMA. */
static void
two_product(double a, double b, double *p, double *e)
{
	double		ca = SPLITTER * a,
				cb = SPLITTER * b;
	double		ahi = ca - (ca - a),
				bhi = cb - (cb - b);
	double		alo = a - ahi,
				blo = b - bhi;

	*p = a * b;
	*e = ((ahi * bhi - *p) + ahi * blo + alo * bhi) + alo * blo;
}

double
hg_exp10(double x)
{
	double		hi,
				lo;

	if (x != x)
		return x;
	if (x > 308.3)
		return double_of(0x7ff0000000000000ull);
	if (x < -323.7)
		return 0.0;
	two_product(x, LN10_HI, &hi, &lo);
	lo += x * LN10_LO;
	return exp_dd(hi, lo);
}

/* ------------------------------------------------------------------------
 * log, log10
 * ------------------------------------------------------------------------ */

/*
 * x = 2^e (1 + f) with 1 + f in [sqrt(2)/2, sqrt(2)); returns e and writes
 * f and the two small terms of log(1 + f) = f - (hfsq - s (hfsq + R)).
 * Returns 0 with *special set for x <= 0, inf or NaN.
 */
static int
log_reduce(double x, double *f, double *hfsq, double *tail, double *special)
{
	uint64_t	u = bits_of(x);
	int			e = 0;
	double		m,
				s,
				z,
				r;
	int			k;

	if (x != x || x <= 0.0 || is_nan_or_inf(x))
	{
		if (x == 0.0)
			*special = -double_of(0x7ff0000000000000ull);
		else if (x < 0.0)
			*special = double_of(0x7ff8000000000000ull);
		else
			*special = x;		/* +inf or NaN */
		return 0;
	}
	if ((u >> 52) == 0)
	{
		/* subnormal: scale into the normal range first (exact) */
		x *= 18014398509481984.0;	/* 2^54 */
		u = bits_of(x);
		e = -54;
	}
	e += (int) (u >> 52) - 1023;
	m = double_of((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
	if (m >= SQRT2)
	{
		m *= 0.5;
		e++;
	}
	*f = m - 1.0;				/* exact (Sterbenz) */
	s = *f / (2.0 + *f);
	z = s * s;
	r = log_c[9];
	for (k = 8; k >= 0; k--)
		r = log_c[k] + z * r;
	r *= z;
	*hfsq = 0.5 * *f * *f;
	*tail = s * (*hfsq + r);
	*special = 0.0;
	return e + 2048;			/* never 0 for a finite positive x */
}

double
hg_log(double x)
{
	double		f,
				hfsq,
				tail,
				special;
	int			e = log_reduce(x, &f, &hfsq, &tail, &special);

	if (e == 0)
		return special;
	e -= 2048;
	return e * LN2_HI + (f - (hfsq - (tail + e * LN2_LO)));
}

double
hg_log10(double x)
{
	double		f,
				hfsq,
				tail,
				special,
				hi,
				lo,
				eh,
				sum,
				bv,
				err;
	int			e = log_reduce(x, &f, &hfsq, &tail, &special);

	if (e == 0)
		return special;
	e -= 2048;
	/*
	 * f / ln 10 exactly as hi + lo (Dekker), the small terms once rounded,
	 * and e log10(2) + hi by two-sum, so only the last addition rounds much.
	 */
	two_product(f, INV_LN10_HI, &hi, &lo);
	lo += f * INV_LN10_LO - (hfsq - tail) * INV_LN10_HI;
	eh = e * LOG10_2_HI;
	sum = eh + hi;
	bv = sum - eh;
	err = (eh - (sum - bv)) + (hi - bv);
	return sum + (err + (lo + e * LOG10_2_LO));
}

/* ------------------------------------------------------------------------
 * atan2
 * ------------------------------------------------------------------------ */

double
hg_atan2(double y, double x)
{
	double		ay = (bits_of(y) >> 63) ? -y : y;
	double		ax = (bits_of(x) >> 63) ? -x : x;
	int			y_neg = (int) (bits_of(y) >> 63);
	int			x_neg = (int) (bits_of(x) >> 63);
	double		a,
				b,
				t,
				c,
				pc,
				ec,
				u,
				uu,
				p,
				res;
	int			j,
				k,
				oct;

	if (x != x || y != y)
		return x + y;
	if (is_nan_or_inf(x) || is_nan_or_inf(y))
		return double_of(0x7ff8000000000000ull);	/* not needed by the model */
	if (ay == 0.0 && ax == 0.0)
		res = x_neg ? atan_base[0][3][0] : 0.0;
	else
	{
		/* the octant decides the table column and the sign of atan(u) */
		if (ay <= ax)
		{
			a = ay;
			b = ax;
			oct = x_neg ? 3 : 0;
		}
		else
		{
			a = ax;
			b = ay;
			oct = x_neg ? 2 : 1;
		}
		/*
		 * t = a/b in [0, 1]; below 3/16 the series takes t itself, above it
		 * u = tan(atan t - atan c) for c = j/8 nearest t, as (a - c b) / (b + c a)
		 * with c b exact (Dekker) so the cancelling numerator is exact too.
		 */
		t = a / b;
		j = (int) (t * 8.0 + 0.5);
		if (j < 2)
			j = 0;
		c = j * 0.125;
		two_product(c, b, &pc, &ec);
		u = ((a - pc) - ec) / (b + c * a);
		uu = u * u;
		p = atan_c[11];
		for (k = 10; k >= 0; k--)
			p = atan_c[k] + uu * p;
		p = u + (u * uu) * p;	/* atan(u) */
		if (oct == 1 || oct == 3)
			p = -p;
		res = atan_base[j][oct][0] + (atan_base[j][oct][1] + p);
	}
	return y_neg ? -res : res;
}
