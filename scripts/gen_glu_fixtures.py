#!/usr/bin/env python3
"""The GLU family's exact values in mpmath (60 digits), written independently of the Rust
reference: tests/fixtures/glu_mpmath.tsv, read by tests/glu.rs (`mpmath_fixtures`).

Each line: op, gate, value, dy (f32 values as hex floats), then forward = f(gate)*value,
d gate = dy*value*f'(gate), d value = dy*f(gate), each to 25 significant digits.
"""
import itertools
import struct

import mpmath as mp

mp.mp.dps = 60


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def dsigmoid(x):
    return sigmoid(x) * sigmoid(-x)


def phi_cdf(x):
    return mp.erfc(-x / mp.sqrt(2)) / 2


def phi_pdf(x):
    return mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)


def tanh_z(x):
    # 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3).
    return mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x ** 3)


OPS = {
    "glu": (sigmoid, dsigmoid),
    "swiglu": (lambda x: x * sigmoid(x), lambda x: sigmoid(x) * (1 + x * sigmoid(-x))),
    "geglu": (lambda x: x * phi_cdf(x), lambda x: phi_cdf(x) + x * phi_pdf(x)),
    # (1 + tanh u)/2 = sigma(2u) and (1 - tanh^2 u)/2 = 2 sigma(2u) sigma(-2u): no cancellation.
    "geglu_tanh": (
        lambda x: x * sigmoid(2 * tanh_z(x)),
        lambda x: sigmoid(2 * tanh_z(x))
        + x * 2 * sigmoid(2 * tanh_z(x)) * sigmoid(-2 * tanh_z(x)) * mp.sqrt(2 / mp.pi) * (1 + 3 * mp.mpf("0.044715") * x * x),
    ),
    "reglu": (lambda x: max(x, 0), lambda x: mp.mpf(1) if x > 0 else mp.mpf(0)),
}

GATES = [-150.0, -100.0, -20.0, -12.5, -3.0, -1.2784645, -0.75179, -0.5, -1e-7, 0.0, 1e-30, 0.25, 1.0, 2.5, 6.0, 15.0, 60.0]
VALUES = [-3.0e38, -2.0, -1e-30, 0.5, 7.25, 1e30]
DYS = [1.0, -0.375, 3e38]


def g(v):
    return mp.mpf(f32(v))


def main():
    with open("tests/fixtures/glu_mpmath.tsv", "w") as out:
        out.write("op\tgate\tvalue\tdy\tforward\td_gate\td_value\n")
        for op, (f, d) in OPS.items():
            for a, b, dy in itertools.product(GATES, VALUES, DYS):
                ga, gb, gd = g(a), g(b), g(dy)
                fwd = f(ga) * gb
                dg = gd * gb * d(ga)
                dv = gd * f(ga)
                row = [op] + [float(f32(v)).hex() for v in (a, b, dy)]
                row += [mp.nstr(v, 25, min_fixed=1, max_fixed=0) for v in (fwd, dg, dv)]
                out.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
