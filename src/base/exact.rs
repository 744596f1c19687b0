//! f64 and double-double numerics of the exact reference (Dekker; Bailey's QD algorithms):
//! `e^x`, `erf`, `σ`, their first-order corrections and the few op-specific forms that cancel
//! in plain `f64`. Every activation's exact formula (in `ops::FAMILY`) is built from these.

/// The SELU constants, as in PyTorch.
pub(crate) const SELU_ALPHA: f64 = 1.673_263_242_354_377_284_817_042_991_671_7;
/// The SELU scale, as in PyTorch.
pub(crate) const SELU_SCALE: f64 = 1.050_700_987_355_480_493_419_334_985_294_6;
/// quick_gelu's constant: `x·σ(1.702·x)`.
pub(crate) const QUICK_GELU_C: f64 = 1.702;

/// `1` where `c` holds, else `0`: the derivative of a piecewise-linear op.
pub(crate) fn step(c: bool) -> f64 {
    if c {
        1.0
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------------------------
// Double-double arithmetic (Dekker / Bailey's QD algorithms).
// ---------------------------------------------------------------------------------------------

/// An unevaluated sum `hi + lo` with `|lo| ≤ ulp(hi)/2`: about 106 bits of precision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dd {
    pub(crate) hi: f64,
    pub(crate) lo: f64,
}

impl Dd {
    pub(crate) const fn new(hi: f64, lo: f64) -> Dd {
        Dd { hi, lo }
    }
    pub(crate) fn from(x: f64) -> Dd {
        Dd { hi: x, lo: 0.0 }
    }
    pub(crate) fn add(self, b: Dd) -> Dd {
        let s = two_sum(self.hi, b.hi);
        let t = two_sum(self.lo, b.lo);
        let s = quick_two_sum(s.hi, s.lo + t.hi);
        quick_two_sum(s.hi, s.lo + t.lo)
    }
    pub(crate) fn add_f(self, b: f64) -> Dd {
        let s = two_sum(self.hi, b);
        quick_two_sum(s.hi, s.lo + self.lo)
    }
    pub(crate) fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
    pub(crate) fn sub(self, b: Dd) -> Dd {
        self.add(b.neg())
    }
    pub(crate) fn mul(self, b: Dd) -> Dd {
        let p = two_prod(self.hi, b.hi);
        quick_two_sum(p.hi, p.lo + (self.hi * b.lo + self.lo * b.hi))
    }
    pub(crate) fn mul_f(self, b: f64) -> Dd {
        let p = two_prod(self.hi, b);
        quick_two_sum(p.hi, p.lo + self.lo * b)
    }
    /// Multiplication by a power of two (exact).
    pub(crate) fn scale(self, s: f64) -> Dd {
        Dd {
            hi: self.hi * s,
            lo: self.lo * s,
        }
    }
    pub(crate) fn div(self, b: Dd) -> Dd {
        let q1 = self.hi / b.hi;
        let r = self.sub(b.mul_f(q1));
        let q2 = r.hi / b.hi;
        let r = r.sub(b.mul_f(q2));
        let q3 = r.hi / b.hi;
        quick_two_sum(q1, q2).add_f(q3)
    }
    pub(crate) fn div_f(self, b: f64) -> Dd {
        let q1 = self.hi / b;
        let p = two_prod(q1, b);
        let s = two_sum(self.hi, -p.hi);
        let q2 = (s.hi + (s.lo - p.lo + self.lo)) / b;
        quick_two_sum(q1, q2)
    }
}

fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let bb = s - a;
    Dd {
        hi: s,
        lo: (a - (s - bb)) + (b - bb),
    }
}

fn quick_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd {
        hi: s,
        lo: b - (s - a),
    }
}

fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    Dd {
        hi: p,
        lo: a.mul_add(b, -p),
    }
}

/// `ln 2`.
pub(crate) const LN2: Dd = Dd::new(std::f64::consts::LN_2, 2.319_046_813_846_299_6e-17);
/// `1/√2`.
pub(crate) const FRAC_1_SQRT_2: Dd =
    Dd::new(std::f64::consts::FRAC_1_SQRT_2, -4.833_646_656_726_457e-17);
/// `1/√(2π)`.
pub(crate) const INV_SQRT_2PI: Dd = Dd::new(0.398_942_280_401_432_7, -2.492_327_202_277_73e-17);
/// `2/√π`.
pub(crate) const TWO_OVER_SQRT_PI: Dd =
    Dd::new(std::f64::consts::FRAC_2_SQRT_PI, 1.533_545_961_316_588e-17);
/// `√(2/π)`, gelu_tanh's `k`.
pub(crate) const SQRT_2_OVER_PI: Dd = Dd::new(0.797_884_560_802_865_4, -4.984_654_404_555_46e-17);
/// gelu_tanh's cubic coefficient 0.044715 (the real number).
pub(crate) const GELU_TANH_C: Dd = Dd::new(0.044_715, 2.196_021_142_708_559_5e-18);
/// quick_gelu's 1.702 (the real number).
pub(crate) const QUICK_GELU: Dd = Dd::new(QUICK_GELU_C, 4.263_256_414_560_601e-17);

/// `e^a` in double-double, for `|a| < 700` (relative error about `1e-29`).
pub(crate) fn exp_dd(a: Dd) -> Dd {
    let k = (a.hi / LN2.hi).round();
    // r = (a − k·ln2)/1024, |r| ≤ 3.4e-4.
    let r = a.sub(LN2.mul_f(k)).scale(1.0 / 1024.0);
    // expm1(r) by Taylor series.
    let mut term = r;
    let mut sum = r;
    for i in 2..=12 {
        term = term.mul(r).div_f(i as f64);
        sum = sum.add(term);
        if term.hi.abs() < 1e-36 {
            break;
        }
    }
    // expm1(2r) = expm1(r)·(2 + expm1(r)), ten times.
    for _ in 0..10 {
        sum = sum.mul(sum.add_f(2.0));
    }
    sum.add_f(1.0).scale(2f64.powi(k as i32))
}

/// `erf(a)` in double-double by its Taylor series, for `|a| ≤ 1`.
pub(crate) fn erf_dd(a: Dd) -> Dd {
    let a2 = a.mul(a).neg();
    let mut term = a; // (−1)^n a^{2n+1} / n!
    let mut sum = a;
    for n in 1..=60 {
        term = term.mul(a2).div_f(n as f64);
        let t = term.div_f((2 * n + 1) as f64);
        sum = sum.add(t);
        if t.hi.abs() < 1e-34 {
            break;
        }
    }
    TWO_OVER_SQRT_PI.mul(sum)
}

/// `σ(a)` in double-double.
pub(crate) fn sigmoid_dd(a: Dd) -> Dd {
    Dd::from(1.0).div(exp_dd(a.neg()).add_f(1.0))
}

// ---------------------------------------------------------------------------------------------
// f64 building blocks.
// ---------------------------------------------------------------------------------------------

/// `σ(z) = 1/(1 + e^{−z})`, without overflow.
pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `σ(z)·σ(−z) = σ'(z) = e^{−|z|}/(1 + e^{−|z|})²`.
pub(crate) fn sigmoid_prod(z: f64) -> f64 {
    let e = (-z.abs()).exp();
    e / ((1.0 + e) * (1.0 + e))
}

/// `σ(hi + lo)`, to first order in `lo`.
pub(crate) fn sigmoid_corr(z: Dd) -> f64 {
    let s = sigmoid(z.hi);
    if z.lo == 0.0 {
        s
    } else {
        s + s * sigmoid(-z.hi) * z.lo
    }
}

/// `a·x` for a piecewise-linear slope, with the limit `0·∞ = 0`.
pub(crate) fn slope_mul(a: f64, x: f64) -> f64 {
    if a == 0.0 {
        0.0
    } else {
        a * x
    }
}

/// The exact product `c·x` of a double-double constant and an `f32`.
pub(crate) fn mul_const(c: Dd, x: f64) -> Dd {
    c.mul_f(x)
}

/// The exact quotient `x/a` of two `f32`s as a double-double.
pub(crate) fn div_dd(x: f64, a: f64) -> Dd {
    let q = x / a;
    if !q.is_finite() || q == 0.0 {
        return Dd::from(q);
    }
    // x − q·a is exact (fma), so lo = (x − q·a)/a is the quotient's remainder to f64 precision.
    let r = (-q).mul_add(a, x);
    Dd::new(q, r / a)
}

/// `e^{hi + lo}`, to first order in `lo`.
pub(crate) fn exp_corr(z: Dd) -> f64 {
    let e = z.hi.exp();
    if z.lo == 0.0 || !e.is_finite() {
        e
    } else {
        e + e * z.lo
    }
}

/// `e^{hi + lo} − 1`, to first order in `lo`.
pub(crate) fn expm1_corr(z: Dd) -> f64 {
    let e = libm::expm1(z.hi);
    let d = z.hi.exp();
    if z.lo == 0.0 || !d.is_finite() {
        e
    } else {
        e + d * z.lo
    }
}

/// `erfc(hi + lo)`, to first order in `lo` (`erfc' = −2/√π·e^{−t²}`).
pub(crate) fn erfc_corr(t: Dd) -> f64 {
    let e = libm::erfc(t.hi);
    if t.lo == 0.0 {
        e
    } else {
        e - TWO_OVER_SQRT_PI.hi * (-t.hi * t.hi).exp() * t.lo
    }
}

/// The standard normal CDF `Φ(x) = erfc(−x/√2)/2`.
pub(crate) fn phi_cdf(x: f64) -> f64 {
    0.5 * erfc_corr(mul_const(FRAC_1_SQRT_2, -x))
}

/// The standard normal density `φ(x) = e^{−x²/2}/√(2π)` (`x²` is exact for an `f32` `x`).
pub(crate) fn phi_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() * INV_SQRT_2PI.hi
}

// --- derivative roots: centres of the double-double windows ---

/// Root of silu' (`1 + z + e^z = 0`).
pub(crate) const SILU_ROOT: f64 = -1.278_464_542_761_074;
/// Root of gelu'.
pub(crate) const GELU_ROOT: f64 = -0.751_791_524_693_564_5;
/// Root of gelu_tanh'.
pub(crate) const GELU_TANH_ROOT: f64 = -0.752_461_422_071_016_3;
/// Root of mish'.
pub(crate) const MISH_ROOT: f64 = -1.192_431_214_515_495_2;
/// Half-width of the windows around the roots evaluated in double-double. Outside them the
/// cancellation in the `f64` formulas costs at most a factor of about 5 (measured: relative error
/// below 1.3e-15 against mpmath).
pub(crate) const ROOT_WINDOW: f64 = 0.25;

/// `silu'(z) = σ(z)·(1 + z·σ(−z))` for an exact `z`, with the limits at `±∞`.
pub(crate) fn silu_der(z: f64) -> f64 {
    if z == f64::INFINITY {
        return 1.0;
    }
    if z == f64::NEG_INFINITY {
        return 0.0;
    }
    if (z - SILU_ROOT).abs() < ROOT_WINDOW {
        return silu_der_dd(Dd::from(z));
    }
    sigmoid(z) * (1.0 + z * sigmoid(-z))
}

/// `silu'(z)` in double-double: `σ(z)·(1 + z·σ(−z))`.
pub(crate) fn silu_der_dd(z: Dd) -> f64 {
    let e = exp_dd(z);
    let s_neg = Dd::from(1.0).div(e.add_f(1.0)); // σ(−z)
    let s = e.mul(s_neg); // σ(z)
    s.mul(z.mul(s_neg).add_f(1.0)).hi
}

/// `silu''(z) = σ(z)σ(−z)·(2 + z·(σ(−z) − σ(z)))`, for first-order corrections.
pub(crate) fn silu_der2(z: f64) -> f64 {
    let p = sigmoid_prod(z);
    if p == 0.0 {
        return 0.0;
    }
    p * (2.0 + z * (sigmoid(-z) - sigmoid(z)))
}

/// `silu'(hi + lo)`.
pub(crate) fn silu_der_corr(z: Dd) -> f64 {
    if z.hi.is_infinite() {
        return silu_der(z.hi);
    }
    if (z.hi - SILU_ROOT).abs() < ROOT_WINDOW {
        return silu_der_dd(z);
    }
    silu_der(z.hi) + silu_der2(z.hi) * z.lo
}

/// `w = 2u = 2√(2/π)·(x + 0.044715·x³)` in double-double (gelu_tanh's `1 + tanh u = 2σ(w)`).
pub(crate) fn gelu_tanh_w(x: f64) -> Dd {
    let x2 = x * x; // exact
    let x3 = two_prod(x2, x);
    GELU_TANH_C.mul(x3).add_f(x).mul(SQRT_2_OVER_PI).scale(2.0)
}

/// `tanh(softplus(x))` and `1 − tanh²(softplus(x))`, as rational functions of `e^{∓x}`.
pub(crate) fn mish_t(x: f64) -> (f64, f64) {
    if x >= 0.0 {
        let q = (-x).exp();
        let d = 1.0 + 2.0 * q + 2.0 * q * q;
        let t = (1.0 + 2.0 * q) / d;
        let one_minus_t2 = 4.0 * (q * q) * ((1.0 + q) * (1.0 + q)) / (d * d);
        (t, one_minus_t2)
    } else {
        let e = x.exp();
        let d = e * e + 2.0 * e + 2.0;
        let t = e * (e + 2.0) / d;
        let one_minus_t2 = 4.0 * ((1.0 + e) * (1.0 + e)) / (d * d);
        (t, one_minus_t2)
    }
}

/// Coefficients of `x − tanh x = Σ c_n x^{2n+1}` (`n ≥ 1`), `c_n = −2^{2n+2}(2^{2n+2} − 1)
/// B_{2n+2}/(2n+2)!`.
pub(crate) const TANHSHRINK_SERIES: [f64; 28] = [
    0.333_333_333_333_333_3,
    -0.133_333_333_333_333_33,
    0.053_968_253_968_253_97,
    -0.021_869_488_536_155_203,
    0.008_863_235_529_902_197,
    -0.003_592_128_036_572_481,
    0.001_455_834_387_051_318_3,
    -0.000_590_027_440_945_586,
    0.000_239_129_114_243_552_48,
    -9.691_537_956_929_451e-5,
    3.927_832_388_331_683e-5,
    -1.591_890_506_932_896_4e-5,
    6.451_689_215_655_431e-6,
    -2.614_771_151_290_754_6e-6,
    1.059_726_832_010_465_4e-6,
    -4.294_911_078_273_806e-7,
    1.740_661_896_357_164_8e-7,
    -7.054_636_946_400_968e-8,
    2.859_136_662_305_254e-8,
    -1.158_764_443_279_885_3e-8,
    4.696_295_398_230_901_6e-9,
    -1.903_336_833_931_276e-9,
    7.713_933_635_359_062e-10,
    -3.126_339_545_892_087e-10,
    1.267_057_693_030_54e-10,
    -5.135_191_408_039_368e-11,
    2.081_214_686_770_047_3e-11,
    -8.434_845_419_094_337e-12,
];

/// `x − tanh x`: the series below 0.6 in magnitude (ratio of terms `(2x/π)² < 0.15`),
/// double-double `x − (e^{2x} − 1)/(e^{2x} + 1)` up to 2 (where the subtraction still cancels
/// up to a factor of 8), and plain `f64` beyond.
pub(crate) fn tanhshrink(x: f64) -> f64 {
    if x.is_infinite() {
        return x;
    }
    let ax = x.abs();
    if ax < 0.6 {
        let x2 = x * x;
        let mut p = 0.0;
        for c in TANHSHRINK_SERIES.iter().rev() {
            p = p * x2 + c;
        }
        x * x2 * p
    } else if ax < 2.0 {
        let e = exp_dd(Dd::from(2.0 * ax));
        let t = e.add_f(-1.0).div(e.add_f(1.0));
        Dd::from(ax).sub(t).hi.copysign(x)
    } else {
        x - x.tanh()
    }
}
