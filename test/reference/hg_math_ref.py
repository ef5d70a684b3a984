#!/usr/bin/env python3
"""
hg_math_ref.py
    An independent re-implementation, in numpy float64, of the algorithms of
    src/model/hg_math.c (documented in hg_math.h), operation by operation in
    the same order.  IEEE-754 +, -, *, / and sqrt are correctly rounded, so
    numpy gives the same bits as the C code when the order is the same; the
    constants come from hg_math_consts.py, derived from first principles, not
    from the C file.

    It evaluates every function on the fixed inputs that test/unit/test_math.c
    uses (splitmix64 of the point index mapped to [lo, hi)), hashes the
    little-endian bytes of every output with FNV-1a 64 and prints the hash.
    test_math.c pins that hash: if the C code and this file agree, the C
    functions compute exactly the documented algorithm.

    /usr/bin/python3 test/reference/hg_math_ref.py      (Debian python3-numpy)
    make check-math-reference                         (runs it, compares with the pin)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hg_math_consts as K  # noqa: E402

f64 = np.float64
u64 = np.uint64
MAGIC = f64(6755399441055744.0)
N_POINTS = 4096
np.seterr(all="ignore")


def bits(x):
    return np.asarray(x, dtype=f64).view(u64)


def from_bits(u):
    return np.asarray(u, dtype=u64).view(f64)


def pow2i(k):
    return from_bits((k.astype(np.int64) + 1023).astype(u64) << u64(52))


def rnd(x):
    return (x + MAGIC) - MAGIC


# ---------------------------------------------------------------- sin, cos
def sincos_kernel(r, rlo):
    z = r * r
    ps = f64(K.SIN_RAD[7])
    pc = f64(K.COS_RAD[7])
    for k in range(6, -1, -1):
        ps = f64(K.SIN_RAD[k]) + z * ps
        pc = f64(K.COS_RAD[k]) + z * pc
    hz = f64(0.5) * z
    w = f64(1.0) - hz
    s = r + (rlo * w + (r * z) * ps)
    c = w + ((((f64(1.0) - w) - hz) - r * rlo) + (z * z) * pc)
    return s, c


def sincos(x):
    k = rnd(x * f64(K.TWO_OVER_PI))
    a = x - k * f64(K.PIO2_1)
    w = k * f64(K.PIO2_2)
    r1 = a - w
    bv = a - r1
    err = (a - (r1 + bv)) + (bv - w)
    err = err - k * f64(K.PIO2_3)
    r = r1 + err
    rlo = err - (r - r1)
    sr, cr = sincos_kernel(r, rlo)
    q = k.astype(np.int64) & 3
    s = np.select([q == 0, q == 1, q == 2], [sr, cr, -sr], -cr)
    c = np.select([q == 0, q == 1, q == 2], [cr, -sr, -cr], sr)
    return s, c


def sincos_turns(t):
    k = rnd(t * f64(4.0))
    r = t - k * f64(0.25)
    z = r * r
    ps = f64(K.SIN_TURN[8])
    for c in K.SIN_TURN[7:0:-1]:
        ps = f64(c) + z * ps
    sr = r * f64(K.SIN_TURN[0]) + (r * z) * ps
    pc = f64(K.COS_TURN[8])
    for c in K.COS_TURN[7::-1]:
        pc = f64(c) + z * pc
    cr = f64(1.0) + z * pc
    q = k.astype(np.int64)
    s = np.where(q & 1, cr, sr) * np.where(q & 2, f64(-1.0), f64(1.0))
    c = np.where(q & 1, sr, cr) * np.where((q + 1) & 2, f64(-1.0), f64(1.0))
    return s, c


# ---------------------------------------------------------------- exp
def exp_dd(hi, lo):
    k = rnd(hi * f64(K.INV_LN2))
    r = ((hi - k * f64(K.LN2_HI)) - k * f64(K.LN2_LO)) + lo
    p = f64(K.EXP_C[11])
    for j in range(10, -1, -1):
        p = f64(K.EXP_C[j]) + r * p
    e = f64(1.0) + (r + (r * r) * p)
    ki = k.astype(np.int64)
    big = ki > 1000
    small = ki < -1000
    mid = np.clip(ki, -1022, 1023)
    out = e * pow2i(mid)
    out = np.where(big, (e * pow2i(np.where(big, ki - 1000, 0))) * pow2i(np.full_like(ki, 1000)), out)
    out = np.where(small, (e * pow2i(np.where(small, ki + 1000, 0))) * pow2i(np.full_like(ki, -1000)), out)
    return out


def exp(x):
    return exp_dd(x, np.zeros_like(x))


def two_product(a, b):
    sp = f64(134217729.0)
    ca = sp * a
    cb = sp * b
    ahi = ca - (ca - a)
    bhi = cb - (cb - b)
    alo = a - ahi
    blo = b - bhi
    p = a * b
    e = ((ahi * bhi - p) + ahi * blo + alo * bhi) + alo * blo
    return p, e


def exp10(x):
    hi, lo = two_product(x, np.full_like(x, K.LN10_HI))
    lo = lo + x * f64(K.LN10_LO)
    return exp_dd(hi, lo)


# ---------------------------------------------------------------- log
def log_reduce(x):
    """Inputs here are positive normal doubles (the test's sets)."""
    u = bits(x)
    e = (u >> u64(52)).astype(np.int64) - 1023
    m = from_bits((u & u64(0x000FFFFFFFFFFFFF)) | u64(0x3FF0000000000000))
    hi = m >= f64(K.SQRT2)
    m = np.where(hi, m * f64(0.5), m)
    e = e + hi.astype(np.int64)
    f = m - f64(1.0)
    s = f / (f64(2.0) + f)
    z = s * s
    r = f64(K.LOG_C[9])
    for k in range(8, -1, -1):
        r = f64(K.LOG_C[k]) + z * r
    r = r * z
    hfsq = f64(0.5) * f * f
    tail = s * (hfsq + r)
    return e.astype(f64), f, hfsq, tail


def log(x):
    e, f, hfsq, tail = log_reduce(x)
    return e * f64(K.LN2_HI) + (f - (hfsq - (tail + e * f64(K.LN2_LO))))


def log10(x):
    e, f, hfsq, tail = log_reduce(x)
    hi, lo = two_product(f, np.full_like(f, K.INV_LN10_HI))
    lo = lo + (f * f64(K.INV_LN10_LO) - (hfsq - tail) * f64(K.INV_LN10_HI))
    eh = e * f64(K.LOG10_2_HI)
    s = eh + hi
    bv = s - eh
    err = (eh - (s - bv)) + (hi - bv)
    return s + (err + (lo + e * f64(K.LOG10_2_LO)))


# ---------------------------------------------------------------- atan2
def atan2(y, x):
    """Inputs here are finite and not both zero (the test's set)."""
    ay = np.where(bits(y) >> u64(63), -y, y)
    ax = np.where(bits(x) >> u64(63), -x, x)
    x_neg = (bits(x) >> u64(63)).astype(bool)
    y_neg = (bits(y) >> u64(63)).astype(bool)
    flat = ay <= ax
    a = np.where(flat, ay, ax)
    b = np.where(flat, ax, ay)
    octant = np.where(flat, np.where(x_neg, 3, 0), np.where(x_neg, 2, 1))
    t = a / b
    j = (t * f64(8.0) + f64(0.5)).astype(np.int64)
    j = np.where(j < 2, 0, j)
    c = j.astype(f64) * f64(0.125)
    pc, ec = two_product(c, b)
    u = ((a - pc) - ec) / (b + c * a)
    uu = u * u
    p = f64(K.ATAN_C[11])
    for k in range(10, -1, -1):
        p = f64(K.ATAN_C[k]) + uu * p
    p = u + (u * uu) * p
    p = np.where((octant == 1) | (octant == 3), -p, p)
    base_hi = np.array([[K.ATAN_BASE[jj][o][0] for o in range(4)] for jj in range(9)])
    base_lo = np.array([[K.ATAN_BASE[jj][o][1] for o in range(4)] for jj in range(9)])
    res = base_hi[j, octant] + (base_lo[j, octant] + p)
    return np.where(y_neg, -res, res)


# ---------------------------------------------------------------- inputs and hash
def splitmix64(i):
    with np.errstate(over="ignore"):
        z = (i.astype(u64) + u64(1)) * u64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> u64(30))) * u64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> u64(27))) * u64(0x94D049BB133111EB)
        return z ^ (z >> u64(31))


def points(set_id, lo, hi):
    """N_POINTS doubles in [lo, hi): lo + (hi - lo) * u, u = 53 random bits / 2^53."""
    i = np.arange(N_POINTS, dtype=np.int64) + set_id * N_POINTS
    u = (splitmix64(i) >> u64(11)).astype(f64) * f64(2.0 ** -53)
    return f64(lo) + (f64(hi) - f64(lo)) * u


def log_points(set_id):
    """(1 + u) * 2^e, e spread over -1000..999: positive normal doubles of every size."""
    i = np.arange(N_POINTS, dtype=np.int64)
    m = points(set_id, 1.0, 2.0)
    e = (i * 7919) % 2000 - 1000
    return m * pow2i(np.clip(e, -1022, 1023))


def fnv1a(h, data):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def outputs():
    """The same sets, in the same order, as test_math.c's reference_hash()."""
    out = []
    x = points(0, -7.0, 7.0)
    out += list(sincos(x))
    x = points(1, -20000.0, 20000.0)
    out += list(sincos(x))
    t = points(2, -3.0, 3.0)
    out += list(sincos_turns(t))
    out.append(exp(points(3, -1.0, 1.0)))
    out.append(exp(points(4, -745.0, 709.0)))
    out.append(exp10(points(5, -20.0, 20.0)))
    out.append(exp10(points(6, -300.0, 300.0)))
    out.append(log(points(7, 0.5, 2.0)))
    out.append(log(log_points(8)))
    out.append(log10(points(9, 0.5, 2.0)))
    out.append(log10(log_points(10)))
    out.append(atan2(points(11, -10.0, 10.0), points(12, -10.0, 10.0)))
    return out


def main():
    h = 0xCBF29CE484222325
    for arr in outputs():
        h = fnv1a(h, np.asarray(arr, dtype="<f8").tobytes())
    print("hg_math reference hash: 0x%016x" % h)


if __name__ == "__main__":
    main()
