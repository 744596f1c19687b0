#!/usr/bin/env python3
"""Fit the polynomials of src/fastmath64.rs (the fast CPU path's f64 math) with mpmath.

Each fit is a near-minimax polynomial: interpolation at Chebyshev nodes followed by a few Remez
exchange steps on a dense grid, in 60-digit arithmetic. The script prints the coefficients (as
Rust f64 literals, highest degree first, the order of the Horner chains) and the worst error of
the fit (coefficients rounded to f64) measured on a denser grid; the unit tests in
src/fastmath64.rs measure the whole f64 evaluation.

Usage: python3 scripts/fit_fastmath64.py   (needs mpmath; takes a few seconds)
"""

import mpmath as mp

mp.mp.dps = 60


def cheb_nodes(lo, hi, n):
    return [
        (lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (2 * k + 1) / (2 * n)) for k in range(n)
    ]


def solve_poly(xs, ys):
    n = len(xs)
    a = mp.matrix(n, n)
    for i, x in enumerate(xs):
        for j in range(n):
            a[i, j] = x**j
    return list(mp.lu_solve(a, mp.matrix(ys)))


def horner(c, x):
    acc = mp.mpf(0)
    for v in reversed(c):
        acc = acc * x + v
    return acc


def remez(f, lo, hi, deg, weight=lambda x: 1, steps=8, grid=4000):
    """Near-minimax polynomial of degree `deg` for f on [lo, hi], error weighted by `weight`
    (minimises max |weight(x)·(p(x) − f(x))|)."""
    lo, hi = mp.mpf(lo), mp.mpf(hi)
    xs = cheb_nodes(lo, hi, deg + 2)
    xs.sort()
    pts = [lo + (hi - lo) * i / grid for i in range(grid + 1)]
    fv = {x: f(x) for x in pts}
    c = None
    for _ in range(steps):
        # Solve p(x_i) + (−1)^i·E/w(x_i) = f(x_i) for the coefficients and the level E.
        n = deg + 2
        a = mp.matrix(n, n)
        b = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            for j in range(deg + 1):
                a[i, j] = x**j
            a[i, deg + 1] = (-1) ** i / weight(x)
            b[i] = f(x)
        sol = mp.lu_solve(a, b)
        c = [sol[j] for j in range(deg + 1)]
        err = [weight(x) * (horner(c, x) - fv[x]) for x in pts]
        # New reference: the extremum of each run of one sign.
        ext = []
        run = [0]
        for i in range(1, len(pts)):
            if mp.sign(err[i]) == mp.sign(err[run[0]]) or err[i] == 0:
                run.append(i)
            else:
                ext.append(max(run, key=lambda k: abs(err[k])))
                run = [i]
        ext.append(max(run, key=lambda k: abs(err[k])))
        if len(ext) < n:
            break
        while len(ext) > n:
            # Drop the smaller end extremum until the count fits.
            if abs(err[ext[0]]) < abs(err[ext[-1]]):
                ext.pop(0)
            else:
                ext.pop()
        xs = [pts[k] for k in ext]
    return c


def f64(v):
    return mp.mpf(float(v))


def rust(c, name):
    lits = [repr(float(v)) for v in reversed(c)]
    print(f"{name} (highest degree first):")
    for v in lits:
        print(f"    {v},")


def worst(err_fn, lo, hi, n=20000):
    return max(abs(err_fn(mp.mpf(lo) + (mp.mpf(hi) - lo) * i / n)) for i in range(n + 1))


def log2(v):
    return float(mp.log(v, 2)) if v else float("-inf")


# exp: e^r − 1 = r + r²·q(r) on the reduced range |r| ≤ ln2/2 (with slack for the rounding of k).
R = mp.log(2) / 2 * mp.mpf("1.0001")


def q_exact(r):
    return (mp.expm1(r) - r) / r**2 if r != 0 else mp.mpf(1) / 2


# (Odd degrees: the even part dominates and this simple exchange does not converge.) Degree 6
# for the ops that do not cancel, degree 8 for the derivatives that cancel near their roots.
for deg in (6, 8):
    c = remez(q_exact, -R, R, deg)
    c = [f64(v) for v in c]
    # Relative error of e^r − 1 (what expm1 near 0 needs) and of e^r.
    rel_p = worst(lambda r: (r + r * r * horner(c, r) - mp.expm1(r)) / mp.expm1(r) if r else 0, -R, R)
    rel_e = worst(lambda r: (1 + r + r * r * horner(c, r) - mp.exp(r)) / mp.exp(r), -R, R)
    print(f"exp q degree {deg}: rel err of e^r-1 2^{log2(rel_p):.1f}, of e^r 2^{log2(rel_e):.1f}")
    rust(c, f"EXP_Q{deg}")

# log1p: ln(1 + u) = 2·atanh(w) = 2·(w + w³·L(w²)), w = u/(2 + u) ∈ [0, 1/3] for u ∈ [0, 1].
S = mp.mpf(1) / 9 * mp.mpf("1.0001")


def l_exact(s):
    if s == 0:
        return mp.mpf(1) / 3
    w = mp.sqrt(s)
    return (mp.atanh(w) / w - 1) / s


for deg in (4, 5, 6):
    c = remez(l_exact, 0, S, deg)
    c = [f64(v) for v in c]
    rel = worst(
        lambda s: (mp.sqrt(s) * (1 + s * horner(c, s)) - mp.atanh(mp.sqrt(s))) / mp.atanh(mp.sqrt(s))
        if s
        else 0,
        0,
        S,
    )
    print(f"log1p L degree {deg}: rel err of ln(1+u) 2^{log2(rel):.1f}")
    if deg == 5:
        rust(c, "LOG1P_L")

# erfcx (Shepherd–Laframboise form): (1 + 2a)·erfcx(a) = 1 + v·P(q), v = 2a/(a + 3), q = v − 1,
# for 0 ≤ a ≤ 13.5 (q ≤ 0.636…); P fitted in q with the error weighted to be relative to
# erfcx: |v·ΔP / (1 + v·P)|.
A_MAX = mp.mpf("13.5")
Q_MAX = 2 * A_MAX / (A_MAX + 3) - 1


def a_of_q(q):
    v = q + 1
    return 3 * v / (2 - v)


def p_exact(q):
    v = q + 1
    if v == 0:
        # limit: d/da[(1+2a)erfcx(a)] at 0 is 2 − 2/√π, and dv/da = 2/3.
        return (2 - 2 / mp.sqrt(mp.pi)) * 3 / 2
    a = a_of_q(q)
    return ((1 + 2 * a) * mp.erfc(a) * mp.exp(a * a) - 1) / v


def p_weight(q):
    v = q + 1
    return v / (1 + v * p_exact(q))


for deg in (8, 9, 10, 11, 12):
    c = remez(p_exact, -1, Q_MAX, deg, weight=p_weight, grid=3000)
    c = [f64(v) for v in c]

    def rel(q, c=c):
        a = a_of_q(q)
        want = mp.erfc(a) * mp.exp(a * a)
        got = (1 + (q + 1) * horner(c, q)) / (1 + 2 * a)
        return (got - want) / want

    print(f"erfcx P degree {deg}: rel err of erfcx 2^{log2(worst(rel, -1, Q_MAX, 6000)):.1f}")
    if deg == 11:
        rust(c, "ERFCX_P")
