# Discrete Remez exchange in mpmath: minimise max |w(x)·(f(x) − Σ c_i φ_i(x))| over a dense grid.
import mpmath as mp
mp.mp.dps = 40

def remez(f, basis, a, b, w=lambda x: 1, n_grid=4000, iters=30, verbose=False):
    n = len(basis)
    # dense grid clustered at the ends (Chebyshev)
    grid = [mp.mpf(a) + (mp.mpf(b) - a) * (1 - mp.cos(mp.pi * i / (n_grid - 1))) / 2 for i in range(n_grid)]
    fv = [f(x) for x in grid]
    wv = [w(x) for x in grid]
    bv = [[phi(x) for phi in basis] for x in grid]
    # initial reference: Chebyshev extrema
    idx = [int(round((n_grid - 1) * i / (n + 1))) for i in range(n + 2)]
    best = None
    for it in range(iters):
        # solve sum c_j phi_j(x_i) + (-1)^i E / w(x_i) = f(x_i)
        A = mp.matrix(n + 1, n + 1)
        rhs = mp.matrix(n + 1, 1)
        ref = idx[: n + 1] if False else idx
        # n+2 points with n+1 unknowns (n coeffs + E): least squares on n+2 rows is overdetermined;
        # use n+1 = len(basis)+1 unknowns and n+1 points.
        pts = idx[: n + 1]
        for r, i in enumerate(pts):
            for j in range(n):
                A[r, j] = bv[i][j]
            A[r, n] = (-1) ** r / wv[i]
            rhs[r] = fv[i]
        sol = mp.lu_solve(A, rhs)
        c = [sol[j] for j in range(n)]
        err = [wv[i] * (fv[i] - sum(c[j] * bv[i][j] for j in range(n))) for i in range(n_grid)]
        m = max(abs(e) for e in err)
        if best is None or m < best[0]:
            best = (m, c)
        if verbose:
            print(it, mp.nstr(m, 5), mp.nstr(abs(sol[n]), 5))
        # new reference: local extrema with alternating signs
        ext = []
        i = 0
        while i < n_grid:
            s = mp.sign(err[i])
            j = i
            k = i
            while j < n_grid and mp.sign(err[j]) == s:
                if abs(err[j]) > abs(err[k]):
                    k = j
                j += 1
            ext.append(k)
            i = j
        # reduce to n+1 points keeping the largest, preserving alternation
        while len(ext) > n + 1:
            # drop the smaller end or the smallest adjacent pair
            if abs(err[ext[0]]) < abs(err[ext[-1]]):
                ext.pop(0)
            else:
                ext.pop()
        if len(ext) < n + 1:
            break
        if ext == idx[: n + 1]:
            break
        idx = ext + idx[n + 1:]
    return best

def f32(x):
    import struct
    return struct.unpack('f', struct.pack('f', float(x)))[0]

def hexf(x):
    return float(x).hex()

def f32_near(x):
    import numpy as np
    d = float(x)
    f = np.float32(d)
    cands = [np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))]
    return min(cands, key=lambda c: abs(mp.mpf(float(c)) - x))

def fit_rounded(f, powers, a, b, w=lambda x: 1, n_grid=2000, fixed=None):
    """Minimax with coefficients rounded to f32 one at a time (lowest power first), refitting the
    rest each time. powers: list of exponents; fixed: dict power->value pre-fixed."""
    fixed = dict(fixed or {})
    free = [p for p in powers if p not in fixed]
    m = None
    while free:
        g = lambda x, fx=dict(fixed): f(x) - sum(mp.mpf(float(v)) * x**p for p, v in fx.items())
        basis = [(lambda k: (lambda x: x**k))(p) for p in free]
        m, c = remez(g, basis, a, b, w=w, n_grid=n_grid)
        fixed[free[0]] = f32_near(c[0])
        free = free[1:]
    # final error with all rounded
    grid = [mp.mpf(a) + (mp.mpf(b) - a) * i / 20000 for i in range(20001)]
    err = max(abs(w(x) * (f(x) - sum(mp.mpf(float(v)) * x**p for p, v in fixed.items()))) for x in grid)
    return err, [fixed[p] for p in powers]

def fit_f32(f, powers, a, b, w=lambda x: 1, n_grid=2000, n_check=3000, passes=6, span=3, keep_exact=()):
    """Minimax (Remez), coefficients rounded to f32, then coordinate descent over a few ulps of
    each coefficient to minimise the max weighted error on a dense grid (float64 evaluation)."""
    import numpy as np
    basis = [(lambda k: (lambda x: x**k))(p) for p in powers]
    m0, c = remez(f, basis, a, b, w=w, n_grid=n_grid)
    xs = [mp.mpf(a) + (mp.mpf(b) - a) * (1 - mp.cos(mp.pi * i / (n_check - 1))) / 2 for i in range(n_check)]
    xs += [mp.mpf(a) + (mp.mpf(b) - a) * i / (n_check - 1) for i in range(n_check)]
    fv = np.array([float(f(x)) for x in xs]); wv = np.array([float(w(x)) for x in xs])
    X = np.array([float(x) for x in xs])
    V = np.array([X**p for p in powers])
    cf = np.array([np.float32(f32_near(x)) for x in c], dtype=np.float32)
    ex = [j for j, p in enumerate(powers) if p in keep_exact]
    exv = np.array([float(c[j]) for j in ex])
    def err(cc):
        c64 = cc.astype(np.float64)
        for j, v in zip(ex, exv): c64[j] = v
        return np.max(np.abs(wv * (fv - c64 @ V)))
    best = err(cf)
    for _ in range(passes):
        improved = False
        for j in range(len(cf)):
            if j in ex: continue
            for step in range(-span, span + 1):
                if step == 0: continue
                cc = cf.copy()
                v = cc[j]
                for _s in range(abs(step)):
                    v = np.nextafter(v, np.float32(np.inf) if step > 0 else np.float32(-np.inf))
                cc[j] = v
                e = err(cc)
                if e < best:
                    best, cf, improved = e, cc, True
        if not improved:
            break
    out = list(cf)
    for j in ex: out[j] = c[j]
    return mp.mpf(best), out
