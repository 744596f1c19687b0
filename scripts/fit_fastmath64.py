#!/usr/bin/env python3
"""Fit the polynomials of src/base/fastmath64.rs (the fast CPU path's f64 math) with mpmath.

Each fit is a near-minimax polynomial: interpolation at Chebyshev nodes followed by a few Remez
exchange steps on a dense grid, in 60-digit arithmetic. The script prints the coefficients (as
Rust f64 literals, highest degree first, the order of the Horner chains) and the worst error of
the fit (coefficients rounded to f64) measured on a denser grid; the unit tests in
src/base/fastmath64.rs measure the whole f64 evaluation.

Usage: python3 scripts/fit_fastmath64.py   (needs mpmath; takes a minute or two)
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

# The softmax family's e^r (`ExpScaled`, evaluated with coefficients scaled by powers of the
# temperature): EXP_E7 = 1 + r·q(r), q of degree 6 fitted with relative error, so e^r is exact at 0
# (log_softmax and backward); EXP_E6, e^r itself of degree 6 with relative error, P(0) ≠ 1
# (softmax and softmin forward, where only the spread of the relative error reaches e/S).


def qe_exact(r):
    return mp.expm1(r) / r if r != 0 else mp.mpf(1)


c = remez(qe_exact, -R, R, 6, weight=lambda r: 1 / qe_exact(r), steps=12)
c = [f64(v) for v in c]
rel_e = worst(lambda r: (1 + r * horner(c, r) - mp.exp(r)) / mp.exp(r), -R, R)
print(f"exp e = 1 + r q(r), q degree 6: rel err of e^r 2^{log2(rel_e):.1f}")
rust([mp.mpf(1)] + c, "EXP_E7")
c = remez(mp.exp, -R, R, 6, weight=lambda r: 1 / mp.exp(r))
c = [f64(v) for v in c]
rel_e = worst(lambda r: (horner(c, r) - mp.exp(r)) / mp.exp(r), -R, R)
print(f"exp e = p(r), degree 6: rel err of e^r 2^{log2(rel_e):.1f}, p(0) - 1 = {float(c[0] - 1):.2e}")
rust(c, "EXP_E6")

# log1p on [0, 1]: a rational, fitted at the end (after rational_remez).

# gelu: with u = |x| and e = e^(−u²/2), Φ(−u) = e·RF(u) and Φ(−u) − u·φ(u) = e·(u0 − u)·RD(u),
# u0 ≈ 0.7518 the root of gelu' mirrored (gelu'(−u0) = 0). RF(u) = erfcx(u/√2)/2 decays like
# 1/(u√(2π)); RD(u) = (RF(u) − u/√(2π))/(u0 − u) is smooth and positive, tending to 1/√(2π). Both
# are fitted as rationals P/S (S(0) = 1) with relative minimax error on 0 ≤ u ≤ 15 (beyond, the
# results are below f32's smallest subnormal). All coefficients come out positive, so Horner's
# rule in f64 adds no cancellation.
SQRT2 = mp.sqrt(2)
SQRT2PI = mp.sqrt(2 * mp.pi)
GELU_U_MAX = 15


def rf_exact(u):
    return mp.erfc(u / SQRT2) * mp.exp(u * u / 2) / 2


GELU_U0 = mp.findroot(lambda u: rf_exact(u) - u / SQRT2PI, mp.mpf("0.75"))


def rd_exact(u):
    if abs(u - GELU_U0) < mp.mpf(10) ** -15:
        # the limit: −d/du (RF(u) − u/√(2π)) = 2/√(2π) − u·RF(u)
        return 2 / SQRT2PI - u * rf_exact(u)
    return (rf_exact(u) - u / SQRT2PI) / (GELU_U0 - u)


def rational_remez(f, lo, hi, m, n, grid=3000, steps=16):
    """Near-minimax rational P/S (degrees m, n, S(0) = 1) with relative error for f > 0 on
    [lo, hi]: at each reference the linearised equations P(x_i) − f_i·S(x_i) =
    (−1)^i·E·f_i·S_prev(x_i) are solved a few times (S_prev from the previous solve), then the
    reference moves to the extrema of the error. Returns (p, s, worst relative error on the grid),
    lowest degree first."""
    lo, hi = mp.mpf(lo), mp.mpf(hi)
    k = m + n + 2
    pts = [(lo + hi) / 2 - (hi - lo) / 2 * mp.cos(mp.pi * i / grid) for i in range(grid + 1)]
    fv = [f(x) for x in pts]
    xs = [(lo + hi) / 2 - (hi - lo) / 2 * mp.cos(mp.pi * i / (k - 1)) for i in range(k)]
    s_prev = [mp.mpf(1)]
    best = None
    for _ in range(steps):
        fx = [f(x) for x in xs]
        for _ in range(6):
            a = mp.matrix(k, k)
            b = mp.matrix(k, 1)
            for i, x in enumerate(xs):
                for j in range(m + 1):
                    a[i, j] = x**j
                for j in range(1, n + 1):
                    a[i, m + j] = -fx[i] * x**j
                a[i, k - 1] = -((-1) ** i) * horner(s_prev, x) * fx[i]
                b[i] = fx[i]
            sol = mp.lu_solve(a, b)
            p = [sol[j] for j in range(m + 1)]
            s_prev = [mp.mpf(1)] + [sol[m + j] for j in range(1, n + 1)]
        s = s_prev
        err = [(horner(p, x) / horner(s, x) - v) / v for x, v in zip(pts, fv)]
        level = max(abs(e) for e in err)
        if best is None or level < best[2]:
            best = (p, s, level)
        ext = []
        run = [0]
        for i in range(1, len(pts)):
            if mp.sign(err[i]) == mp.sign(err[run[0]]):
                run.append(i)
            else:
                ext.append(max(run, key=lambda j: abs(err[j])))
                run = [i]
        ext.append(max(run, key=lambda j: abs(err[j])))
        if len(ext) < k:
            break
        while len(ext) > k:
            if abs(err[ext[0]]) < abs(err[ext[-1]]):
                ext.pop(0)
            else:
                ext.pop()
        xs = [pts[j] for j in ext]
    return best


u0_hi = float(GELU_U0)
print(f"GELU_U0: {u0_hi!r} + {float(GELU_U0 - mp.mpf(u0_hi))!r}")
for name, f, m, n in (("GELU_RF", rf_exact, 5, 6), ("GELU_RD", rd_exact, 5, 5)):
    p, s, _ = rational_remez(f, 0, GELU_U_MAX, m, n)
    p = [f64(v) for v in p]
    s = [f64(v) for v in s]
    assert all(v > 0 for v in p + s), "a coefficient is not positive"

    def rel(u, p=p, s=s, f=f):
        return (horner(p, u) / horner(s, u) - f(u)) / f(u)

    print(f"{name} ({m}, {n}): rel err 2^{log2(worst(rel, 0, GELU_U_MAX, 6000)):.1f}")
    rust(p, name + "_P")
    rust(s, name + "_S")


# log1p: ln(1 + u) = u·P(u)/S(u) on 0 ≤ u ≤ 1 (softplus and logsigmoid: u = e^−|z|), degrees
# (4, 4), S(0) = 1, relative minimax error of P/S against ln(1 + u)/u (= that of ln(1 + u)). All
# coefficients positive. (3, 4) and (4, 3) reach only 2^-34.7 and 2^-34.0.


def log1p_over_u(u):
    return mp.log1p(u) / u if u else mp.mpf(1)


p, s, _ = rational_remez(log1p_over_u, 0, 1, 4, 4)
p = [f64(v) for v in p]
s = [f64(v) for v in s]
assert all(v > 0 for v in p + s), "a coefficient is not positive"
rel = worst(lambda u: (u * horner(p, u) / horner(s, u) - mp.log1p(u)) / mp.log1p(u) if u else 0, 0, 1, 6000)
print(f"LOG1P (4, 4): rel err of ln(1+u) 2^{log2(rel):.1f}")
rust(p, "LOG1P_P")
rust(s, "LOG1P_S")
