//! The exact CPU reference: every activation's forward value, derivative and fused-backward
//! factor, computed in `f64` to a relative error far below one `f32` ULP over the whole `f32`
//! input range (at most about `1.3e-15` against 50-digit mpmath values at some 150,000 inputs;
//! `tests/reference_fixtures.rs` checks `1e-13` at the hard ones). It is the oracle the GPU
//! kernels and the fast CPU path are measured against with [`crate::base::ulp::ulp_error`].
//!
//! # Method
//!
//! The inputs are `f32`s and so exact in `f64`; products of two `f32`s (`β·x`, `slope·x`, `x²`)
//! are exact in `f64` too. Every formula is evaluated in a form that does not cancel:
//!
//! - exponentials of large arguments use `e^{−|x|}` (`σ(x)·σ(−x) = e^{−|x|}/(1 + e^{−|x|})²`,
//!   `1 − tanh² x = 4e^{−2|x|}/(1 + e^{−2|x|})²`, mish's `tanh(softplus(x))` as a rational
//!   function of `e^{±x}`), `log1p`/`expm1` where an argument is near 0, `erfc` for `Φ` of negative
//!   arguments, `2σ(2u)` for `1 + tanh u`, and for `x − tanh x` a Taylor series below 0.6 and
//!   double-double arithmetic up to 2;
//! - where an exponential's argument is not an exact `f64` (`1.702·x`, `x/√2`, `x/α`, gelu_tanh's
//!   `√(2/π)·(x + 0.044715·x³)`) it is computed in double-double (`hi + lo`) and the function is
//!   corrected to first order by `f'(hi)·lo`: an argument of size 700 rounded to `f64` would
//!   otherwise cost `700·2^-53 ≈ 8e-14` relative;
//! - near the roots of the derivatives of silu, swish, quick_gelu, gelu, gelu_tanh and mish, where
//!   the derivative is a difference of two `O(1)` terms, the whole derivative is evaluated in
//!   double-double arithmetic (`exp` by argument reduction and a Taylor series, `erf` by its Taylor
//!   series), so the result keeps a relative error near `1e-30/|x − root|`.
//!
//! Piecewise-linear ops and the kinks follow PyTorch's backward kernels exactly as
//! [`Spec::kinks`](crate::Spec::kinks) lists them. Parameters are used as the exact reals their
//! `f32` values are (except softplus's branch, which compares the f32 product `β·x` with the threshold, as PyTorch does), constants (`1.702`,
//! `0.044715`, `√(2/π)`, SELU's) at full precision. NaN inputs give NaN in every mode; `±inf` give
//! the mathematical limits. Results beyond the `f32` range are returned as they are (the metric
//! rounds them to infinity).

use crate::base::error::{Error, Result};
use crate::ops::activation::Activation;
use crate::ops::{OpKind, Saved, QUICK_GELU_C, SELU_ALPHA, SELU_SCALE};

mod softmax;

pub use softmax::{softmax_backward_exact, softmax_exact};

// ---------------------------------------------------------------------------------------------
// Double-double arithmetic (Dekker / Bailey's QD algorithms).
// ---------------------------------------------------------------------------------------------

/// An unevaluated sum `hi + lo` with `|lo| ≤ ulp(hi)/2`: about 106 bits of precision.
#[derive(Clone, Copy, Debug)]
struct Dd {
    hi: f64,
    lo: f64,
}

impl Dd {
    const fn new(hi: f64, lo: f64) -> Dd {
        Dd { hi, lo }
    }
    fn from(x: f64) -> Dd {
        Dd { hi: x, lo: 0.0 }
    }
    fn add(self, b: Dd) -> Dd {
        let s = two_sum(self.hi, b.hi);
        let t = two_sum(self.lo, b.lo);
        let s = quick_two_sum(s.hi, s.lo + t.hi);
        quick_two_sum(s.hi, s.lo + t.lo)
    }
    fn add_f(self, b: f64) -> Dd {
        let s = two_sum(self.hi, b);
        quick_two_sum(s.hi, s.lo + self.lo)
    }
    fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }
    fn sub(self, b: Dd) -> Dd {
        self.add(b.neg())
    }
    fn mul(self, b: Dd) -> Dd {
        let p = two_prod(self.hi, b.hi);
        quick_two_sum(p.hi, p.lo + (self.hi * b.lo + self.lo * b.hi))
    }
    fn mul_f(self, b: f64) -> Dd {
        let p = two_prod(self.hi, b);
        quick_two_sum(p.hi, p.lo + self.lo * b)
    }
    /// Multiplication by a power of two (exact).
    fn scale(self, s: f64) -> Dd {
        Dd {
            hi: self.hi * s,
            lo: self.lo * s,
        }
    }
    fn div(self, b: Dd) -> Dd {
        let q1 = self.hi / b.hi;
        let r = self.sub(b.mul_f(q1));
        let q2 = r.hi / b.hi;
        let r = r.sub(b.mul_f(q2));
        let q3 = r.hi / b.hi;
        quick_two_sum(q1, q2).add_f(q3)
    }
    fn div_f(self, b: f64) -> Dd {
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
const LN2: Dd = Dd::new(std::f64::consts::LN_2, 2.319_046_813_846_299_6e-17);
/// `1/√2`.
const FRAC_1_SQRT_2: Dd = Dd::new(std::f64::consts::FRAC_1_SQRT_2, -4.833_646_656_726_457e-17);
/// `1/√(2π)`.
const INV_SQRT_2PI: Dd = Dd::new(0.398_942_280_401_432_7, -2.492_327_202_277_73e-17);
/// `2/√π`.
const TWO_OVER_SQRT_PI: Dd = Dd::new(std::f64::consts::FRAC_2_SQRT_PI, 1.533_545_961_316_588e-17);
/// `√(2/π)`, gelu_tanh's `k`.
const SQRT_2_OVER_PI: Dd = Dd::new(0.797_884_560_802_865_4, -4.984_654_404_555_46e-17);
/// gelu_tanh's cubic coefficient 0.044715 (the real number).
const GELU_TANH_C: Dd = Dd::new(0.044_715, 2.196_021_142_708_559_5e-18);
/// quick_gelu's 1.702 (the real number).
const QUICK_GELU: Dd = Dd::new(QUICK_GELU_C, 4.263_256_414_560_601e-17);

/// `e^a` in double-double, for `|a| < 700` (relative error about `1e-29`).
fn exp_dd(a: Dd) -> Dd {
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
fn erf_dd(a: Dd) -> Dd {
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
fn sigmoid_dd(a: Dd) -> Dd {
    Dd::from(1.0).div(exp_dd(a.neg()).add_f(1.0))
}

// ---------------------------------------------------------------------------------------------
// f64 building blocks.
// ---------------------------------------------------------------------------------------------

/// `σ(z) = 1/(1 + e^{−z})`, without overflow.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `σ(z)·σ(−z) = σ'(z) = e^{−|z|}/(1 + e^{−|z|})²`.
fn sigmoid_prod(z: f64) -> f64 {
    let e = (-z.abs()).exp();
    e / ((1.0 + e) * (1.0 + e))
}

/// `σ(hi + lo)`, to first order in `lo`.
fn sigmoid_corr(z: Dd) -> f64 {
    let s = sigmoid(z.hi);
    if z.lo == 0.0 {
        s
    } else {
        s + s * sigmoid(-z.hi) * z.lo
    }
}

/// `a·x` for a piecewise-linear slope, with the limit `0·∞ = 0`.
fn slope_mul(a: f64, x: f64) -> f64 {
    if a == 0.0 {
        0.0
    } else {
        a * x
    }
}

/// The exact product `c·x` of a double-double constant and an `f32`.
fn mul_const(c: Dd, x: f64) -> Dd {
    c.mul_f(x)
}

/// The exact quotient `x/a` of two `f32`s as a double-double.
fn div_dd(x: f64, a: f64) -> Dd {
    let q = x / a;
    if !q.is_finite() || q == 0.0 {
        return Dd::from(q);
    }
    // x − q·a is exact (fma), so lo = (x − q·a)/a is the quotient's remainder to f64 precision.
    let r = (-q).mul_add(a, x);
    Dd::new(q, r / a)
}

/// `e^{hi + lo}`, to first order in `lo`.
fn exp_corr(z: Dd) -> f64 {
    let e = z.hi.exp();
    if z.lo == 0.0 || !e.is_finite() {
        e
    } else {
        e + e * z.lo
    }
}

/// `e^{hi + lo} − 1`, to first order in `lo`.
fn expm1_corr(z: Dd) -> f64 {
    let e = libm::expm1(z.hi);
    let d = z.hi.exp();
    if z.lo == 0.0 || !d.is_finite() {
        e
    } else {
        e + d * z.lo
    }
}

/// `erfc(hi + lo)`, to first order in `lo` (`erfc' = −2/√π·e^{−t²}`).
fn erfc_corr(t: Dd) -> f64 {
    let e = libm::erfc(t.hi);
    if t.lo == 0.0 {
        e
    } else {
        e - TWO_OVER_SQRT_PI.hi * (-t.hi * t.hi).exp() * t.lo
    }
}

/// The standard normal CDF `Φ(x) = erfc(−x/√2)/2`.
fn phi_cdf(x: f64) -> f64 {
    0.5 * erfc_corr(mul_const(FRAC_1_SQRT_2, -x))
}

/// The standard normal density `φ(x) = e^{−x²/2}/√(2π)` (`x²` is exact for an `f32` `x`).
fn phi_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() * INV_SQRT_2PI.hi
}

// --- derivative roots: centres of the double-double windows ---

/// Root of silu' (`1 + z + e^z = 0`).
const SILU_ROOT: f64 = -1.278_464_542_761_074;
/// Root of gelu'.
const GELU_ROOT: f64 = -0.751_791_524_693_564_5;
/// Root of gelu_tanh'.
const GELU_TANH_ROOT: f64 = -0.752_461_422_071_016_3;
/// Root of mish'.
const MISH_ROOT: f64 = -1.192_431_214_515_495_2;
/// Half-width of the windows around the roots evaluated in double-double. Outside them the
/// cancellation in the `f64` formulas costs at most a factor of about 5 (measured: relative error
/// below 1.3e-15 against mpmath).
const ROOT_WINDOW: f64 = 0.25;

/// `silu'(z) = σ(z)·(1 + z·σ(−z))` for an exact `z`, with the limits at `±∞`.
fn silu_der(z: f64) -> f64 {
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
fn silu_der_dd(z: Dd) -> f64 {
    let e = exp_dd(z);
    let s_neg = Dd::from(1.0).div(e.add_f(1.0)); // σ(−z)
    let s = e.mul(s_neg); // σ(z)
    s.mul(z.mul(s_neg).add_f(1.0)).hi
}

/// `silu''(z) = σ(z)σ(−z)·(2 + z·(σ(−z) − σ(z)))`, for first-order corrections.
fn silu_der2(z: f64) -> f64 {
    let p = sigmoid_prod(z);
    if p == 0.0 {
        return 0.0;
    }
    p * (2.0 + z * (sigmoid(-z) - sigmoid(z)))
}

/// `silu'(hi + lo)`.
fn silu_der_corr(z: Dd) -> f64 {
    if z.hi.is_infinite() {
        return silu_der(z.hi);
    }
    if (z.hi - SILU_ROOT).abs() < ROOT_WINDOW {
        return silu_der_dd(z);
    }
    silu_der(z.hi) + silu_der2(z.hi) * z.lo
}

/// `w = 2u = 2√(2/π)·(x + 0.044715·x³)` in double-double (gelu_tanh's `1 + tanh u = 2σ(w)`).
fn gelu_tanh_w(x: f64) -> Dd {
    let x2 = x * x; // exact
    let x3 = two_prod(x2, x);
    GELU_TANH_C.mul(x3).add_f(x).mul(SQRT_2_OVER_PI).scale(2.0)
}

/// `tanh(softplus(x))` and `1 − tanh²(softplus(x))`, as rational functions of `e^{∓x}`.
fn mish_t(x: f64) -> (f64, f64) {
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
const TANHSHRINK_SERIES: [f64; 28] = [
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
fn tanhshrink(x: f64) -> f64 {
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

// ---------------------------------------------------------------------------------------------
// The exact functions.
// ---------------------------------------------------------------------------------------------

/// The exact forward value `f(x)` of `op` with parameter vector `p` (in
/// [`Spec::params`](crate::Spec::params) order; for `leaky_relu`, `prelu` and `rrelu` `p[0]` is the
/// element's slope), to a relative error far below one `f32` ULP.
pub fn forward_exact(op: OpKind, p: [f32; 4], x: f32) -> f64 {
    use OpKind::*;
    if x.is_nan() {
        return f64::NAN;
    }
    let x = x as f64;
    let a = p[0] as f64;
    let b = p[1] as f64;
    let inf = x.is_infinite();
    match op {
        Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
        Relu6 => x.clamp(0.0, 6.0),
        LeakyRelu | Prelu => {
            if x > 0.0 {
                x
            } else {
                slope_mul(a, x)
            }
        }
        Rrelu => {
            if x >= 0.0 {
                x
            } else {
                slope_mul(a, x)
            }
        }
        Elu => {
            if x > 0.0 {
                x
            } else {
                a * libm::expm1(x)
            }
        }
        Selu => {
            if x > 0.0 {
                SELU_SCALE * x
            } else {
                SELU_SCALE * (SELU_ALPHA * libm::expm1(x))
            }
        }
        Celu => {
            if x > 0.0 {
                x
            } else {
                a * expm1_corr(div_dd(x, a))
            }
        }
        Gelu => {
            if inf {
                return if x > 0.0 { x } else { -0.0 };
            }
            x * phi_cdf(x)
        }
        GeluTanh => {
            if inf {
                return if x > 0.0 { x } else { -0.0 };
            }
            x * sigmoid_corr(gelu_tanh_w(x))
        }
        Sigmoid => sigmoid(x),
        LogSigmoid => {
            if x >= 0.0 {
                -libm::log1p((-x).exp())
            } else {
                x - libm::log1p(x.exp())
            }
        }
        HardSigmoid => {
            if x <= -3.0 {
                0.0
            } else if x >= 3.0 {
                1.0
            } else {
                (x + 3.0) / 6.0
            }
        }
        Tanh => x.tanh(),
        HardTanh => {
            // PyTorch's clamp: min(max(x, min_val), max_val).
            if x <= a {
                a.min(b)
            } else if x >= b {
                b
            } else {
                x
            }
        }
        Softsign => {
            if inf {
                return x.signum();
            }
            x / (1.0 + x.abs())
        }
        Softplus => {
            let z = a * x; // exact
                           // The branch is PyTorch's: the f32-rounded product against the threshold.
            if (a as f32 * x as f32) as f64 > b {
                x
            } else {
                let sp = if z > 0.0 {
                    z + libm::log1p((-z).exp())
                } else {
                    libm::log1p(z.exp())
                };
                sp / a
            }
        }
        Silu => {
            if inf {
                return if x > 0.0 { x } else { -0.0 };
            }
            x * sigmoid(x)
        }
        Swish => {
            if a == 0.0 {
                return 0.5 * x;
            }
            let z = a * x; // exact
            let s = sigmoid(z);
            if inf && s == 0.0 {
                return 0.0 * x.signum();
            }
            x * s
        }
        QuickGelu => {
            if inf {
                return if x > 0.0 { x } else { -0.0 };
            }
            x * sigmoid_corr(mul_const(QUICK_GELU, x))
        }
        Mish => {
            if inf {
                return if x > 0.0 { x } else { -0.0 };
            }
            x * mish_t(x).0
        }
        HardSwish => {
            if x <= -3.0 {
                0.0
            } else if x >= 3.0 {
                x
            } else {
                x * (x + 3.0) / 6.0
            }
        }
        TanhShrink => tanhshrink(x),
        HardShrink => {
            if x.abs() > a {
                x
            } else {
                0.0
            }
        }
        SoftShrink => {
            if x > a {
                x - a
            } else if x < -a {
                x + a
            } else {
                0.0
            }
        }
        Threshold => {
            if x > a {
                x
            } else {
                b
            }
        }
        SquaredRelu => {
            if x > 0.0 {
                x * x
            } else {
                0.0
            }
        }
    }
}

/// The exact derivative `f'(x)` of `op` (always from the input `x`), with the values at the kinks
/// that [`Spec::kinks`](crate::Spec::kinks) lists.
pub fn derivative_exact(op: OpKind, p: [f32; 4], x: f32) -> f64 {
    use OpKind::*;
    if x.is_nan() {
        return f64::NAN;
    }
    let x = x as f64;
    let a = p[0] as f64;
    let b = p[1] as f64;
    let inf = x.is_infinite();
    let step = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        Relu => step(x > 0.0),
        Relu6 => step(x > 0.0 && x < 6.0),
        LeakyRelu | Prelu | Rrelu => {
            if x > 0.0 {
                1.0
            } else {
                a
            }
        }
        Elu => {
            if x > 0.0 {
                1.0
            } else {
                a * x.exp()
            }
        }
        Selu => {
            if x > 0.0 {
                SELU_SCALE
            } else {
                SELU_SCALE * (SELU_ALPHA * x.exp())
            }
        }
        Celu => {
            if x > 0.0 {
                1.0
            } else {
                exp_corr(div_dd(x, a))
            }
        }
        Gelu => {
            if inf {
                return step(x > 0.0);
            }
            if (x - GELU_ROOT).abs() < ROOT_WINDOW {
                // Φ(x) + x·φ(x) in double-double (|x/√2| < 0.9: the erf series converges fast).
                let t = FRAC_1_SQRT_2.mul_f(x);
                let cdf = erf_dd(t).add_f(1.0).scale(0.5);
                let pdf = exp_dd(Dd::from(x * x).scale(-0.5)).mul(INV_SQRT_2PI);
                return cdf.add(pdf.mul_f(x)).hi;
            }
            phi_cdf(x) + x * phi_pdf(x)
        }
        GeluTanh => {
            if inf {
                return step(x > 0.0);
            }
            let k3 = 1.0 + 3.0 * GELU_TANH_C.hi * (x * x); // 1 + 3c·x²
            let w = gelu_tanh_w(x);
            if (x - GELU_TANH_ROOT).abs() < ROOT_WINDOW {
                // σ(w)·(1 + 2x·σ(−w)·k·(1 + 3c·x²)) in double-double.
                let s = sigmoid_dd(w);
                let s_neg = Dd::from(1.0).sub(s);
                let k3 = GELU_TANH_C.mul_f(3.0 * x * x).add_f(1.0);
                let inner = s_neg.mul(SQRT_2_OVER_PI).mul(k3).mul_f(2.0 * x).add_f(1.0);
                return s.mul(inner).hi;
            }
            let s = sigmoid_corr(w);
            let s_neg = sigmoid_corr(w.neg());
            if s == 0.0 {
                return 0.0;
            }
            s * (1.0 + 2.0 * x * s_neg * SQRT_2_OVER_PI.hi * k3)
        }
        Sigmoid => sigmoid_prod(x),
        LogSigmoid => sigmoid(-x),
        HardSigmoid => {
            if x > -3.0 && x < 3.0 {
                1.0 / 6.0
            } else {
                0.0
            }
        }
        Tanh => {
            let e = (-2.0 * x.abs()).exp();
            4.0 * e / ((1.0 + e) * (1.0 + e))
        }
        HardTanh => step(x > a && x < b),
        Softsign => {
            let r = 1.0 / (1.0 + x.abs());
            r * r
        }
        Softplus => {
            let z = a * x;
            if (a as f32 * x as f32) as f64 > b {
                1.0
            } else {
                sigmoid(z)
            }
        }
        Silu => silu_der(x),
        Swish => {
            if a == 0.0 {
                return 0.5;
            }
            silu_der(a * x)
        }
        QuickGelu => {
            if inf {
                return step(x > 0.0);
            }
            silu_der_corr(mul_const(QUICK_GELU, x))
        }
        Mish => {
            if inf {
                return step(x > 0.0);
            }
            if (x - MISH_ROOT).abs() < ROOT_WINDOW {
                // t + x·σ(x)·(1 − t²), t = n/(n + 2), n = e^{2x} + 2e^x, in double-double.
                let e = exp_dd(Dd::from(x));
                let n = e.mul(e.add_f(2.0));
                let d = n.add_f(2.0);
                let t = n.div(d);
                let ope = e.add_f(1.0);
                let one_minus_t2 = ope.mul(ope).scale(4.0).div(d.mul(d));
                let sig = e.div(ope);
                return t.add(sig.mul(one_minus_t2).mul_f(x)).hi;
            }
            let (t, one_minus_t2) = mish_t(x);
            t + x * sigmoid(x) * one_minus_t2
        }
        HardSwish => {
            if x < -3.0 {
                0.0
            } else if x <= 3.0 {
                (2.0 * x + 3.0) / 6.0
            } else {
                1.0
            }
        }
        TanhShrink => {
            let t = x.tanh();
            t * t
        }
        HardShrink | SoftShrink => step(x.abs() > a),
        Threshold => step(x > a),
        SquaredRelu => {
            if x > 0.0 {
                2.0 * x
            } else {
                0.0
            }
        }
    }
}

/// The factor the fused backward multiplies `dy` by, from the saved tensor `s`: `s = x` for
/// [`Saved::Input`] ops (then equal to [`derivative_exact`]), `s = y`, the forward output, for
/// [`Saved::Output`] ops (sigmoid: `y·(1 − y)`, tanh: `1 − y²`).
pub fn backward_factor_exact(op: OpKind, p: [f32; 4], s: f32) -> f64 {
    match op.spec().saved {
        Saved::Input => derivative_exact(op, p, s),
        Saved::Output => {
            let y = s as f64;
            match op {
                OpKind::Sigmoid => y * (1.0 - y),
                OpKind::Tanh => (1.0 - y) * (1.0 + y),
                _ => unreachable!("only sigmoid and tanh save their output"),
            }
        }
    }
}

/// The exact fused backward value `dy·factor` ([`backward_factor_exact`]) in `f64`. A factor
/// beyond the `f64` range at a finite saved value (celu's `e^(x/α)` for a negative `α`) is still
/// a finite real, so `dy = 0` gives a signed 0, not `0·∞ = NaN`.
pub fn backward_exact(op: OpKind, p: [f32; 4], s: f32, dy: f32) -> f64 {
    let f = backward_factor_exact(op, p, s);
    if dy == 0.0 && s.is_finite() && f.is_infinite() {
        return 0.0f64.copysign(dy as f64 * f.signum());
    }
    dy as f64 * f
}

/// The parameter vector for element `i`: [`Activation::params`] with `p[0]` replaced by
/// [`Activation::slope_at`] for `leaky_relu`, `prelu` and `rrelu`.
pub fn params_at(act: &Activation, i: usize) -> [f32; 4] {
    let mut p = act.params();
    if matches!(act.op(), OpKind::LeakyRelu | OpKind::Prelu | OpKind::Rrelu) {
        p[0] = act.slope_at(i as u64);
    }
    p
}

/// The reference forward pass: [`forward_exact`] rounded once to `f32`, per element.
pub fn forward(act: &Activation, x: &[f32]) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| forward_exact(act.op(), params_at(act, i), v) as f32)
        .collect()
}

/// The reference derivative: [`derivative_exact`] rounded once to `f32`, per element.
pub fn derivative(act: &Activation, x: &[f32]) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| derivative_exact(act.op(), params_at(act, i), v) as f32)
        .collect()
}

/// The reference fused backward: `dx = dy·factor`, with the factor from
/// [`backward_factor_exact`] and the product taken in `f64`, then rounded once to `f32`. `saved`
/// is the tensor [`Spec::saved`](crate::Spec::saved) names.
pub fn backward(act: &Activation, saved: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    if saved.len() != dy.len() {
        return Err(Error::LengthMismatch {
            what: "dy",
            got: dy.len(),
            expected: saved.len(),
        });
    }
    Ok(saved
        .iter()
        .zip(dy)
        .enumerate()
        .map(|(i, (&s, &g))| backward_exact(act.op(), params_at(act, i), s, g) as f32)
        .collect())
}

/// `prelu`'s slope gradient: for each slope `a_c`, `Σ x_i·dy_i` over the elements `i` of channel
/// `c` with `x_i ≤ 0` (PyTorch's `x > 0 ? 0 : x·dy`, so a NaN `x` propagates). The products are
/// exact in `f64` and summed with Neumaier's compensated summation, then rounded once.
pub fn prelu_slope_grad(act: &Activation, x: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    if act.op() != OpKind::Prelu {
        return Err(Error::BadParameter {
            op: act.op().spec().name,
            message: "the slope gradient exists only for prelu".into(),
        });
    }
    act.validate()?;
    if x.len() != dy.len() {
        return Err(Error::LengthMismatch {
            what: "dy",
            got: dy.len(),
            expected: x.len(),
        });
    }
    let c = act.slopes().len();
    let inner = act.inner();
    let mut sum = vec![0.0f64; c];
    let mut comp = vec![0.0f64; c];
    for (i, (&xv, &g)) in x.iter().zip(dy).enumerate() {
        if xv > 0.0 {
            continue;
        }
        let ch = if c == 1 { 0 } else { (i / inner) % c };
        let v = xv as f64 * g as f64;
        let s = sum[ch];
        let t = s + v;
        comp[ch] += if s.abs() >= v.abs() {
            (s - t) + v
        } else {
            (v - t) + s
        };
        sum[ch] = t;
    }
    Ok(sum.iter().zip(&comp).map(|(s, c)| (s + c) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_double_exp_and_erf() {
        // e^1 and erf(0.5) to ~32 digits.
        let e = exp_dd(Dd::from(1.0));
        assert_eq!(e.hi, std::f64::consts::E);
        assert!((e.lo - 1.445_646_891_729_250_2e-16).abs() < 1e-30);
        let r = erf_dd(Dd::from(0.5));
        assert_eq!(r.hi, 0.520_499_877_813_046_5);
        let e = exp_dd(Dd::from(-600.0));
        assert!((e.hi / 2.650_396_553_004_310_8e-261 - 1.0).abs() < 1e-16);
    }

    #[test]
    fn kink_conventions() {
        use OpKind::*;
        let d = |op: OpKind, x: f32| derivative_exact(op, crate::Activation::new(op).params(), x);
        assert_eq!(d(Relu, 0.0), 0.0);
        assert_eq!(d(LeakyRelu, 0.0), 0.01f32 as f64);
        assert_eq!(d(Elu, 0.0), 1.0);
        assert_eq!(d(Selu, 0.0), SELU_SCALE * SELU_ALPHA);
        assert_eq!(d(Celu, 0.0), 1.0);
        assert_eq!(d(HardSigmoid, 3.0), 0.0);
        assert_eq!(d(HardSigmoid, -3.0), 0.0);
        assert_eq!(d(HardTanh, 1.0), 0.0);
        assert_eq!(d(HardTanh, -1.0), 0.0);
        assert_eq!(d(HardSwish, -3.0), -0.5);
        assert_eq!(d(HardSwish, 3.0), 1.5);
        assert_eq!(d(HardShrink, 0.5), 0.0);
        assert_eq!(d(SoftShrink, -0.5), 0.0);
        assert_eq!(d(Threshold, 0.0), 0.0);
        assert_eq!(d(Relu6, 0.0), 0.0);
        assert_eq!(d(Relu6, 6.0), 0.0);
        assert_eq!(d(Softplus, 20.0), sigmoid(20.0));
    }

    #[test]
    fn stable_extremes() {
        use OpKind::*;
        let f = |op: OpKind, x: f32| forward_exact(op, crate::Activation::new(op).params(), x);
        let d = |op: OpKind, x: f32| derivative_exact(op, crate::Activation::new(op).params(), x);
        assert_eq!(f(Softplus, 100.0), 100.0);
        assert_eq!(f(SquaredRelu, 1e30), 1e30f32 as f64 * 1e30f32 as f64);
        assert!((f(TanhShrink, 1e-3) / (1e-3f32 as f64).powi(3) * 3.0 - 1.0).abs() < 1e-6);
        assert!(d(Softsign, f32::MAX) > 0.0);
        assert_eq!(d(Silu, f32::INFINITY), 1.0);
        assert_eq!(d(Gelu, f32::NEG_INFINITY), 0.0);
    }
}
