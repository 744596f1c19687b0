#!/usr/bin/env python3
"""Generate tests/fixtures/reference_mpmath.tsv: exact values of every activation, for the tests of
the f64 reference (each op's exact_* functions in src/ops/) in tests/reference_fixtures.rs.

For every op (default parameters plus a few non-default sets) and mode (forward, derivative, and the
backward factor from the saved output for sigmoid and tanh) it evaluates the function with mpmath at
a fixed list of hard f32 inputs: signed zeros, subnormals, the edges of the exp/erfc ranges, huge
values, each op's kinks and derivative roots and their f32 neighbours. Inputs are exact f32 values.
Each value is computed at 50 significant digits and again at 100, 200, ... until two successive
precisions agree to 40 digits, so cancellations (x - tanh x at x = 1e-45, derivatives next to
their roots) are resolved exactly. Formulas are written in mathematically identical forms that do
not need absurd precision (1 + tanh u = 2/(1 + e^-2u), 1 - sigma(x) = sigma(-x)), and follow the
kink conventions of the ops' specs in src/ops/ (PyTorch's backward kernels).

Columns (tab-separated, one header line):
  op       the op name (OpKind::name)
  params   p0,p1,p2,p3: the parameter vector in Spec::params order, each the shortest decimal that
           rounds (via f64) to the f32 value; for leaky_relu/prelu/rrelu p0 is the element's slope
  mode     forward | derivative | backward (backward: x is the saved output y)
  x        the f32 input, exactly, as Python's float.hex()
  exact    the exact value, 25 significant digits (or 0)

Usage: python3 scripts/gen_fixtures.py   (writes the file; needs mpmath)
"""

import os
import struct

import mpmath
from mpmath import mp, mpf

SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_SCALE = "1.0507009873554804934193349852946"
GELU_TANH_C = "0.044715"
QUICK_GELU_C = "1.702"


def f32(v):
    """Round a Python float to the nearest f32 value (returned as a float)."""
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def f32_bits(v):
    return struct.unpack("<I", struct.pack("<f", v))[0]


def from_bits(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]


def next_up(v):
    if v == 0.0:
        return from_bits(1)
    b = f32_bits(v)
    return from_bits(b + 1) if v > 0 else from_bits(b - 1)


def next_down(v):
    return -next_up(-v)


def f32_str(v):
    """Shortest decimal that rounds back (via f64) to the f32 value v."""
    if v == 0.0:
        return "0"
    for prec in range(1, 10):
        s = "%.*g" % (prec, v)
        if f32(float(s)) == v:
            return s
    raise AssertionError(v)


# --- the activations, at the current mpmath precision -------------------------------------------


def sig(z):
    return 1 / (1 + mp.exp(-z))


def silu_der(z):
    return sig(z) * (1 + z * sig(-z))


def gelu_tanh_u(x):
    return mp.sqrt(2 / mp.pi) * (x + mpf(GELU_TANH_C) * x**3)


def softplus1(x):
    return mp.log1p(mp.exp(x))


def step(c):
    return mpf(1) if c else mpf(0)


def forward(op, p, x):
    a, b = p[0], p[1]
    if op == "relu":
        return x if x > 0 else mpf(0)
    if op == "relu6":
        return min(max(mpf(0), x), mpf(6))
    if op in ("leaky_relu", "prelu"):
        return x if x > 0 else a * x
    if op == "rrelu":
        return x if x >= 0 else a * x
    if op == "elu":
        return x if x > 0 else a * mp.expm1(x)
    if op == "selu":
        return mpf(SELU_SCALE) * (x if x > 0 else mpf(SELU_ALPHA) * mp.expm1(x))
    if op == "celu":
        return max(mpf(0), x) + min(mpf(0), a * mp.expm1(x / a))
    if op == "gelu":
        return x / 2 * mp.erfc(-x / mp.sqrt(2))
    if op == "gelu_tanh":
        # x/2·(1 + tanh u) with 1 + tanh u = 2/(1 + e^{-2u})
        return x / (1 + mp.exp(-2 * gelu_tanh_u(x)))
    if op == "sigmoid":
        return sig(x)
    if op == "logsigmoid":
        return -mp.log1p(mp.exp(-x))
    if op == "hardsigmoid":
        return mpf(0) if x <= -3 else mpf(1) if x >= 3 else x / 6 + mpf(1) / 2
    if op == "tanh":
        return mp.tanh(x)
    if op == "hardtanh":
        return min(max(x, a), b)
    if op == "softsign":
        return x / (1 + abs(x))
    if op == "softplus":
        return x if a * x > b else mp.log1p(mp.exp(a * x)) / a
    if op == "silu":
        return x * sig(x)
    if op == "mish":
        return x * mp.tanh(softplus1(x))
    if op == "hardswish":
        return mpf(0) if x <= -3 else x if x >= 3 else x * (x + 3) / 6
    if op == "tanhshrink":
        return x - mp.tanh(x)
    if op == "hardshrink":
        return x if abs(x) > a else mpf(0)
    if op == "softshrink":
        return x - a if x > a else x + a if x < -a else mpf(0)
    if op == "threshold":
        return x if x > a else b
    if op == "quick_gelu":
        return x * sig(mpf(QUICK_GELU_C) * x)
    if op == "swish":
        return x * sig(a * x)
    if op == "squared_relu":
        return x * x if x > 0 else mpf(0)
    raise KeyError(op)


def derivative(op, p, x):
    a, b = p[0], p[1]
    if op == "relu":
        return step(x > 0)
    if op == "relu6":
        return step(0 < x < 6)
    if op in ("leaky_relu", "prelu", "rrelu"):
        return mpf(1) if x > 0 else a
    if op == "elu":
        return mpf(1) if x > 0 else a * mp.exp(x)
    if op == "selu":
        return mpf(SELU_SCALE) * (1 if x > 0 else mpf(SELU_ALPHA) * mp.exp(x))
    if op == "celu":
        return mpf(1) if x > 0 else mp.exp(x / a)
    if op == "gelu":
        return mp.ncdf(x) + x * mp.npdf(x)
    if op == "gelu_tanh":
        u = gelu_tanh_u(x)
        k = mp.sqrt(2 / mp.pi)
        c = mpf(GELU_TANH_C)
        one_plus_tanh = 2 / (1 + mp.exp(-2 * u))
        return one_plus_tanh / 2 + x / 2 * mp.sech(u) ** 2 * k * (1 + 3 * c * x * x)
    if op == "sigmoid":
        return sig(x) * sig(-x)
    if op == "logsigmoid":
        return sig(-x)
    if op == "hardsigmoid":
        return mpf(1) / 6 if -3 < x < 3 else mpf(0)
    if op == "tanh":
        return mp.sech(x) ** 2
    if op == "hardtanh":
        return step(a < x < b)
    if op == "softsign":
        return 1 / (1 + abs(x)) ** 2
    if op == "softplus":
        return mpf(1) if a * x > b else sig(a * x)
    if op == "silu":
        return silu_der(x)
    if op == "mish":
        sp = softplus1(x)
        return mp.tanh(sp) + x * sig(x) * mp.sech(sp) ** 2
    if op == "hardswish":
        return mpf(0) if x < -3 else x / 3 + mpf(1) / 2 if x <= 3 else mpf(1)
    if op == "tanhshrink":
        return mp.tanh(x) ** 2
    if op in ("hardshrink", "softshrink"):
        return step(abs(x) > a)
    if op == "threshold":
        return step(x > a)
    if op == "quick_gelu":
        return silu_der(mpf(QUICK_GELU_C) * x)
    if op == "swish":
        return silu_der(a * x)
    if op == "squared_relu":
        return 2 * x if x > 0 else mpf(0)
    raise KeyError(op)


def backward(op, p, y):
    if op == "sigmoid":
        return y * (1 - y)
    if op == "tanh":
        return 1 - y * y
    raise KeyError(op)


MODES = {"forward": forward, "derivative": derivative, "backward": backward}


def exact(mode, op, p, x):
    """The value at increasing precision until two successive precisions agree to 40 digits."""
    prev = None
    for dps in (50, 100, 200, 400, 800, 1600):
        with mp.workdps(dps):
            v = +MODES[mode](op, [mpf(q) for q in p], mpf(x))
        if prev is not None:
            if v == 0 and prev == 0:
                return v
            if abs(v - prev) <= abs(v) * mpf(10) ** -40:
                return v
        prev = v
    raise RuntimeError(f"no convergence: {op} {p} {mode} {x}")


def fmt(v):
    if mp.isnan(v):
        return "nan"
    if mp.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    with mp.workdps(60):
        return mpmath.nstr(v, 25, min_fixed=-4, max_fixed=25)


# --- inputs ---------------------------------------------------------------------------------------

HARD = [
    0.0, 1.4e-45, 1e-40, 1.17549435e-38, 1e-6, 1e-4, 1e-2, 0.5, 1.0, 1.2785, 1.5, 2.0, 3.0, 5.0,
    6.0, 10.0, 15.0, 20.0, 25.0, 30.0, 43.0, 44.0, 45.0, 50.0, 88.0, 88.7, 89.0, 100.0, 1e4, 2e7,
    1e30, 3.4028235e38,
]
HARD = [s * f32(v) for v in HARD for s in (1.0, -1.0)]

# Derivative roots (for the default parameters; swish and quick_gelu scale silu's).
SILU_ROOT = -1.2784645427610738
ROOTS = {
    "silu": [SILU_ROOT],
    "gelu": [-0.7517915246935645],
    "gelu_tanh": [-0.7524614220710163],
    "mish": [-1.1924312145154952],
    "quick_gelu": [SILU_ROOT / 1.702],
    "hardswish": [-1.5],
}


def kinks(op, p):
    a, b = p[0], p[1]
    if op == "softplus":
        return [f32(b / a)]
    table = {
        "relu": [0.0], "relu6": [0.0, 6.0], "leaky_relu": [0.0], "rrelu": [0.0], "prelu": [0.0],
        "elu": [0.0], "selu": [0.0], "celu": [0.0], "hardsigmoid": [-3.0, 3.0],
        "hardtanh": [a, b], "hardswish": [-3.0, 3.0],
        "hardshrink": [a, -a], "softshrink": [a, -a], "threshold": [a], "squared_relu": [0.0],
    }
    return table.get(op, [])


def roots(op, p):
    if op == "swish":
        return [SILU_ROOT / p[0]]
    return ROOTS.get(op, [])


def inputs(op, p):
    xs = list(HARD)
    for k in kinks(op, p):
        k = f32(k)
        xs += [k, next_up(k), next_down(k)]
    for r in roots(op, p):
        r = f32(r)
        v = r
        for _ in range(3):
            v = next_up(v)
            xs.append(v)
        v = r
        for _ in range(3):
            v = next_down(v)
            xs.append(v)
        xs.append(r)
        for d in (1e-6, 1e-3, 0.1, 0.49, 0.51):
            xs += [f32(r + d), f32(r - d)]
    out, seen = [], set()
    for x in xs:
        key = f32_bits(x)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


BACKWARD_Y = [
    0.5, 1.0 - 2.0**-24, 2.0**-30, -1.0 + 2.0**-24, 0.0, 1.0, -1.0, 0.25, 0.999, 1e-20, 2.0**-149,
    0.7615942, -0.5, -(1.0 - 2.0**-24), 2.0, -2.0,
]

# (op, params) configurations: defaults first, then the non-default sets.
RRELU_SLOPE = f32(f32(f32(1 / 8) + f32(1 / 3)) * 0.5)  # rrelu_eval_slope(lower, upper) in f32
CONFIGS = [
    ("relu", []), ("relu6", []), ("leaky_relu", [0.01]), ("rrelu", [RRELU_SLOPE, 1 / 3]),
    ("prelu", [0.25]), ("elu", [1.0]), ("selu", []), ("celu", [1.0]), ("gelu", []),
    ("gelu_tanh", []), ("sigmoid", []), ("logsigmoid", []), ("hardsigmoid", []), ("tanh", []),
    ("hardtanh", [-1.0, 1.0]), ("softsign", []), ("softplus", [1.0, 20.0]), ("silu", []),
    ("mish", []), ("hardswish", []), ("tanhshrink", []), ("hardshrink", [0.5]),
    ("softshrink", [0.5]), ("threshold", [0.0, 0.0]), ("quick_gelu", []), ("swish", [1.0]),
    ("squared_relu", []),
    # non-default parameters
    ("leaky_relu", [0.2]), ("elu", [0.5]), ("celu", [2.0]), ("softplus", [2.0, 20.0]),
    ("softplus", [0.5, 20.0]), ("swish", [1.5]), ("hardtanh", [-2.0, 3.0]), ("hardshrink", [1.0]),
    ("softshrink", [1.0]), ("threshold", [0.5, -2.0]),
]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "fixtures", "reference_mpmath.tsv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rows = ["op\tparams\tmode\tx\texact"]
    for op, params in CONFIGS:
        p = [f32(v) for v in params] + [0.0] * (4 - len(params))
        pstr = ",".join(f32_str(v) for v in p)
        xs = inputs(op, p)
        jobs = [("forward", x) for x in xs] + [("derivative", x) for x in xs]
        if op in ("sigmoid", "tanh"):
            ys = []
            for y in [f32(v) for v in BACKWARD_Y] + HARD:
                if f32_bits(y) not in {f32_bits(v) for v in ys}:
                    ys.append(y)
            jobs += [("backward", y) for y in ys]
        for mode, x in jobs:
            rows.append(f"{op}\t{pstr}\t{mode}\t{float.hex(x)}\t{fmt(exact(mode, op, p, x))}")
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")
    print(f"wrote {len(rows) - 1} rows to {path}")


if __name__ == "__main__":
    main()
