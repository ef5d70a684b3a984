#!/usr/bin/env python3
"""
hg_math_consts.py
    Derives every constant of src/model/hg_math.c from first principles
    with Python's decimal module (60 digits), so that nobody has to trust a
    table copied from elsewhere: pi by Machin's formula, ln 2 and ln 10 by
    Decimal.ln, Taylor coefficients as exact rationals, each rounded once to
    the nearest double (float() of a Decimal is correctly rounded).

    python3 test/reference/hg_math_consts.py        prints the C definitions
    hg_math_ref.py imports it, so the reference and the C file share nothing
    but these derivations.
"""
from decimal import Decimal, getcontext
from fractions import Fraction
import math

getcontext().prec = 60


def arctan_inv(n):
    """arctan(1/n) for an integer n > 1, by its Taylor series."""
    x = Decimal(1) / n
    x2 = x * x
    term, total, k = x, x, 1
    while True:
        term *= -x2
        k += 2
        add = term / k
        if abs(add) < Decimal(10) ** -58:
            return total
        total += add


def arctan(x):
    """arctan(x) for |x| <= 1/2 by its Taylor series (Decimal)."""
    x2 = x * x
    term, total, k = x, x, 1
    while True:
        term *= -x2
        k += 2
        add = term / k
        if abs(add) < Decimal(10) ** -58:
            return total
        total += add


PI = 4 * (4 * arctan_inv(5) - arctan_inv(239))
LN2 = Decimal(2).ln()
LN10 = Decimal(10).ln()


def to_double(d):
    return float(Fraction(d)) if not isinstance(d, float) else d


def round_bits(d, bits):
    """d rounded to `bits` significant bits (exactly, as a Fraction)."""
    f = Fraction(d)
    if f == 0:
        return f
    e = math.floor(math.log2(abs(float(f))))
    # make sure 2^e <= |f| < 2^(e+1) despite float rounding in log2
    while abs(f) >= Fraction(2) ** (e + 1):
        e += 1
    while abs(f) < Fraction(2) ** e:
        e -= 1
    scale = Fraction(2) ** (bits - 1 - e)
    return Fraction(round(f * scale)) / scale


def split(d, hi_bits):
    """(hi, lo): hi = d to hi_bits bits, lo = the rest to a double."""
    hi = round_bits(d, hi_bits)
    return float(hi), float(Fraction(d) - hi)


def split3(d, bits):
    """Three parts of `bits`, `bits` and 53 bits (Cody and Waite)."""
    p1 = round_bits(d, bits)
    p2 = round_bits(Fraction(d) - p1, bits)
    p3 = float(Fraction(d) - p1 - p2)
    return float(p1), float(p2), p3


def dd(d):
    """double-double: hi = nearest double, lo = nearest double to the rest."""
    hi = float(Fraction(d))
    return hi, float(Fraction(d) - Fraction(hi))


def fact(n):
    return math.factorial(n)


# sin / cos of a reduced angle r (radians), |r| <= pi/4: Taylor to r^17 / r^18
SIN_RAD = [float(Fraction((-1) ** k, fact(2 * k + 1))) for k in range(1, 9)]   # r^3 .. r^17
COS_RAD = [float(Fraction((-1) ** k, fact(2 * k))) for k in range(2, 10)]      # r^4 .. r^18
# sin / cos of 2 pi r, r in turns, |r| <= 1/8
TWO_PI = 2 * PI
SIN_TURN = [to_double((-1) ** k * TWO_PI ** (2 * k + 1) / fact(2 * k + 1)) for k in range(0, 9)]  # r^1 .. r^17
COS_TURN = [to_double((-1) ** k * TWO_PI ** (2 * k) / fact(2 * k)) for k in range(1, 10)]          # r^2 .. r^18
PIO2_1, PIO2_2, PIO2_3 = split3(PI / 2, 33)
TWO_OVER_PI = to_double(2 / PI)
# exp: Taylor 1/n! for n = 2..13 (used as 1 + (r + r^2 (1/2 + r/6 + ...)))
EXP_C = [float(Fraction(1, fact(n))) for n in range(2, 14)]
LN2_HI, LN2_LO = split(LN2, 42)
INV_LN2 = to_double(1 / LN2)
# log: 2 z^n / (2n + 1), n = 1..10
LOG_C = [float(Fraction(2, 2 * n + 1)) for n in range(1, 11)]
SQRT2 = to_double(Decimal(2).sqrt())
INV_LN10 = to_double(1 / LN10)
LOG10_2_HI, LOG10_2_LO = split(LN2 / LN10, 42)
LN10_HI, LN10_LO = dd(LN10)
# atan: Taylor (-1)^n / (2n + 1), n = 1..12, and four double-double tables
# over c_j = j/8, j = 0..8: atan(c), pi/2 - atan(c), pi/2 + atan(c), pi - atan(c)
ATAN_C = [float(Fraction((-1) ** n, 2 * n + 1)) for n in range(1, 13)]
INV_LN10_HI, INV_LN10_LO = dd(1 / LN10)


def atan_of(j):
    if j == 8:
        return PI / 4
    c = Decimal(j) / 8
    if c <= Decimal("0.5"):
        return arctan(c)
    # atan(c) = pi/4 - atan((1 - c) / (1 + c)), whose argument is <= 1/3
    return PI / 4 - arctan((1 - c) / (1 + c))


ATAN_BASE = []
for j in range(9):
    a = atan_of(j)
    ATAN_BASE.append([dd(a), dd(PI / 2 - a), dd(PI / 2 + a), dd(PI - a)])


def c_array(name, values):
    body = ",\n\t".join(v.hex() for v in values)
    return "static const double %s[%d] = {\n\t%s\n};" % (name, len(values), body)


def c_source():
    out = []
    for name in ["PIO2_1", "PIO2_2", "PIO2_3", "TWO_OVER_PI", "LN2_HI", "LN2_LO", "INV_LN2",
                 "SQRT2", "INV_LN10", "INV_LN10_HI", "INV_LN10_LO", "LOG10_2_HI", "LOG10_2_LO", "LN10_HI", "LN10_LO"]:
        out.append("#define %s %s" % (name, globals()[name].hex()))
    out.append(c_array("sin_rad", SIN_RAD))
    out.append(c_array("cos_rad", COS_RAD))
    out.append(c_array("sin_turn", SIN_TURN))
    out.append(c_array("cos_turn", COS_TURN))
    out.append(c_array("exp_c", EXP_C))
    out.append(c_array("log_c", LOG_C))
    out.append(c_array("atan_c", ATAN_C))
    rows = []
    for j in range(9):
        rows.append("\t{" + ", ".join("{%s, %s}" % (h.hex(), l.hex()) for h, l in ATAN_BASE[j]) + "}")
    out.append("static const double atan_base[9][4][2] = {\n" + ",\n".join(rows) + "\n};")
    return "\n".join(out)


if __name__ == "__main__":
    print(c_source())
