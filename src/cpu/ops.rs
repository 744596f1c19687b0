//! The f32 bodies of every activation for the fast CPU path: one module per op, named as
//! [`OpKind::name`](crate::OpKind::name), each with
//! - `fwd(x, p)`: `f(x)`;
//! - `der(x, p)`: `f'(x)`;
//! - `bwd(s, p)`: the factor the fused backward multiplies `dy` by, from the saved tensor `s`
//!   (`x`, or `y` for ops whose [`Saved`](crate::Saved) is `Output`);
//! - `bwd_dy(s, dy, p)`: the fused backward itself, `dy·bwd(s, p)` except for squared_relu, which
//!   forms `2·(dy·x)` so that it does not overflow where `2x` alone would.
//!
//! `p` is the parameter vector in [`Spec::params`](crate::Spec::params) order; for `leaky_relu`,
//! `prelu` and `rrelu` the caller puts the element's slope in `p[0]`. NaN inputs are handled by
//! the caller (bit tests), so these need not propagate NaN. The piecewise-linear and hard ops
//! run the same algorithms, in the same order of operations, as `shaders/activations.wgsl`; the
//! transcendental ops are written in f64 (see `fastmath64`), branch-free so that they vectorize.

/// Expands `$body` once per op with `$m` naming that op's module.
#[rustfmt::skip]
macro_rules! dispatch_op {
    ($op:expr, $m:ident => $body:expr) => {{
        use $crate::ops::OpKind as K;
        match $op {
            K::Relu => { use $crate::cpu::ops::relu as $m; $body }
            K::Relu6 => { use $crate::cpu::ops::relu6 as $m; $body }
            K::LeakyRelu => { use $crate::cpu::ops::leaky_relu as $m; $body }
            K::Rrelu => { use $crate::cpu::ops::rrelu as $m; $body }
            K::Prelu => { use $crate::cpu::ops::prelu as $m; $body }
            K::Elu => { use $crate::cpu::ops::elu as $m; $body }
            K::Selu => { use $crate::cpu::ops::selu as $m; $body }
            K::Celu => { use $crate::cpu::ops::celu as $m; $body }
            K::Gelu => { use $crate::cpu::ops::gelu as $m; $body }
            K::GeluTanh => { use $crate::cpu::ops::gelu_tanh as $m; $body }
            K::Sigmoid => { use $crate::cpu::ops::sigmoid as $m; $body }
            K::LogSigmoid => { use $crate::cpu::ops::logsigmoid as $m; $body }
            K::HardSigmoid => { use $crate::cpu::ops::hardsigmoid as $m; $body }
            K::Tanh => { use $crate::cpu::ops::tanh as $m; $body }
            K::HardTanh => { use $crate::cpu::ops::hardtanh as $m; $body }
            K::Softsign => { use $crate::cpu::ops::softsign as $m; $body }
            K::Softplus => { use $crate::cpu::ops::softplus as $m; $body }
            K::Silu => { use $crate::cpu::ops::silu as $m; $body }
            K::Mish => { use $crate::cpu::ops::mish as $m; $body }
            K::HardSwish => { use $crate::cpu::ops::hardswish as $m; $body }
            K::TanhShrink => { use $crate::cpu::ops::tanhshrink as $m; $body }
            K::HardShrink => { use $crate::cpu::ops::hardshrink as $m; $body }
            K::SoftShrink => { use $crate::cpu::ops::softshrink as $m; $body }
            K::Threshold => { use $crate::cpu::ops::threshold as $m; $body }
            K::QuickGelu => { use $crate::cpu::ops::quick_gelu as $m; $body }
            K::Swish => { use $crate::cpu::ops::swish as $m; $body }
            K::SquaredRelu => { use $crate::cpu::ops::squared_relu as $m; $body }
        }
    }};
}
pub(crate) use dispatch_op;

use crate::base::fastmath::*;

// ---------------------------------------------------------------------------------------------
// Piecewise-linear ops: one rounding at most, so correctly rounded.

/// `bwd` = `der` (the backward reads `x`) and `bwd_dy` = `dy·bwd`: the common case.
macro_rules! backward_from_derivative {
    () => {
        #[inline(always)]
        pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
            der(s, p)
        }
        /// The fused backward `dy·bwd(s)`.
        #[inline(always)]
        pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
            dy * bwd(s, p)
        }
    };
}

pub mod relu {
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        if x > 0.0 {
            x
        } else {
            0.0
        }
    }
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        if x > 0.0 {
            1.0
        } else {
            0.0
        }
    }
    backward_from_derivative!();
}

pub mod relu6 {
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let y = if x > 0.0 { x } else { 0.0 };
        if x < 6.0 {
            y
        } else {
            6.0
        }
    }
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        if x > 0.0 && x < 6.0 {
            1.0
        } else {
            0.0
        }
    }
    backward_from_derivative!();
}

/// `x > 0 ? x : p0·x` with `p0` the element's slope (shared by leaky_relu, prelu, rrelu). An
/// infinite `x` is never multiplied: `p0·(−∞)` is selected as `∓∞` (or 0 for a zero slope).
#[inline(always)]
fn slope_fwd(x: f32, p0: f32) -> f32 {
    let y = p0 * finite(x);
    let inf = f32::from_bits(0x7f80_0000 | ((p0.to_bits() ^ x.to_bits()) & 0x8000_0000));
    let y = if is_inf(x) {
        if p0 == 0.0 {
            0.0
        } else {
            inf
        }
    } else {
        y
    };
    if x > 0.0 {
        x
    } else {
        y
    }
}

#[inline(always)]
fn slope_der(x: f32, p0: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else {
        p0
    }
}

pub mod leaky_relu {
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        super::slope_fwd(x, p[0])
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        super::slope_der(x, p[0])
    }
    backward_from_derivative!();
}

pub mod prelu {
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        super::slope_fwd(x, p[0])
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        super::slope_der(x, p[0])
    }
    backward_from_derivative!();
}

pub mod rrelu {
    /// `x ≥ 0 ? x : a·x` (equal to `x > 0 ? …` in value: both give 0 at 0).
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        super::slope_fwd(x, p[0])
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        super::slope_der(x, p[0])
    }
    backward_from_derivative!();
}

pub mod hardtanh {
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        let y = if x < p[0] { p[0] } else { x };
        if x > p[1] {
            p[1]
        } else {
            y
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        if x > p[0] && x < p[1] {
            1.0
        } else {
            0.0
        }
    }
    backward_from_derivative!();
}

pub mod hardshrink {
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        if x > p[0] || x < -p[0] {
            x
        } else {
            0.0
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        if x > p[0] || x < -p[0] {
            1.0
        } else {
            0.0
        }
    }
    backward_from_derivative!();
}

pub mod softshrink {
    use crate::base::fastmath::*;
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let y = if xs < -p[0] { xs + p[0] } else { 0.0 };
        let y = if xs > p[0] { xs - p[0] } else { y };
        if is_inf(x) {
            x
        } else {
            y
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        if x > p[0] || x < -p[0] {
            1.0
        } else {
            0.0
        }
    }
    backward_from_derivative!();
}

pub mod threshold {
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        if x > p[0] {
            x
        } else {
            p[1]
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        if x > p[0] {
            1.0
        } else {
            0.0
        }
    }
    backward_from_derivative!();
}

/// `(h + l)/6` correctly rounded (ties to even) for a TwoSum pair: a quotient `q`, the exact
/// residual `r = h + l − 6q` (TwoProd), the correction `r/6` itself correctly rounded (one refinement
/// step, no division), and a single final addition. Ties are exact midpoints `q ± ulp/2` that the
/// last addition rounds to even; otherwise the result is at least ulp/12 away from a midpoint,
/// far more than the correction's error (checked exhaustively over (−3, 3)).
#[inline(always)]
fn div6(h: f32, l: f32) -> f32 {
    let q = h * INV6;
    let (p, e) = two_prod(q, 6.0);
    let r = ((h - p) - e) + l;
    let c = r * INV6;
    let (p2, e2) = two_prod(c, 6.0);
    let c = ((r - p2) - e2).mul_add(INV6, c);
    q + c
}

pub mod hardsigmoid {
    use crate::base::fastmath::*;
    /// `(x + 3)/6` on (−3, 3), correctly rounded: `x + 3` exact as a TwoSum pair, then [`div6`].
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let (h, l) = two_sum(xs, 3.0);
        let y = super::div6(h, l);
        let y = if xs <= -3.0 { 0.0 } else { y };
        if xs >= 3.0 {
            1.0
        } else {
            y
        }
    }
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        if x > -3.0 && x < 3.0 {
            INV6
        } else {
            0.0
        }
    }
    backward_from_derivative!();
}

pub mod hardswish {
    use crate::base::fastmath::*;
    /// `x·(x + 3)/6` on (−3, 3) from the exact pair `x + 3` and an exact product: ≤ 0.5 ULP + ε.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let xc = xs.clamp(-3.0, 3.0);
        let (sh, sl) = two_sum(xc, 3.0);
        let (ph, pl) = two_prod(xc, sh);
        let y = super::div6(ph, xc.mul_add(sl, pl));
        let y = if xs <= -3.0 { 0.0 } else { y };
        if xs >= 3.0 {
            x
        } else {
            y
        }
    }
    /// `(2x + 3)/6` on [−3, 3], nearly correctly rounded.
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        let xc = finite(x).clamp(-3.0, 3.0);
        let (h, l) = two_sum(2.0 * xc, 3.0);
        let y = super::div6(h, l);
        let y = if x < -3.0 { 0.0 } else { y };
        if x > 3.0 {
            1.0
        } else {
            y
        }
    }
    backward_from_derivative!();
}

pub mod squared_relu {
    use crate::base::fastmath::*;
    /// `x²` (one rounding), `+∞` selected from 2^64 on.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let y = if xs > 0.0 { xs * xs } else { 0.0 };
        if xs >= 18_446_744_073_709_551_616.0 {
            INF
        } else {
            y
        }
    }
    /// The fused backward `dy·2·max(x, 0)` formed as `2·(dy·x)` (one rounding): `dy·bwd(x)`
    /// would overflow where `2x` does although the product may not (|dy| < 1, x > 2^127).
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(s);
        let y = if xs > 0.0 { 2.0 * (dy * xs) } else { 0.0 };
        if is_inf(s) && s > 0.0 {
            dy * s
        } else {
            y
        }
    }
    /// `2x`, `+∞` from 2^127 on.
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let y = if xs > 0.0 { 2.0 * xs } else { 0.0 };
        if xs >= 1.701_411_8e38 {
            INF
        } else {
            y
        }
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
}

// ---------------------------------------------------------------------------------------------
// Transcendental ops: evaluated in f64 and rounded once (see `fastmath64`). `der_dy(x, dy)` is
// `dy·f'(x)` with `dy` applied in f64, so a factor far below the f32 range loses nothing when
// `dy` is large, and `der` is `der_dy(x, 1)`.

/// `der`, `bwd` (= `der`, the backward reads `x`) and `bwd_dy` from a module's `der_dy`.
macro_rules! from_der_dy {
    () => {
        #[inline(always)]
        pub fn der(x: f32, p: [f32; 4]) -> f32 {
            der_dy(x, 1.0, p)
        }
        #[allow(dead_code)] // callers use `bwd_dy`
        #[inline(always)]
        pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
            der(s, p)
        }
        /// The fused backward `dy·f'(s)`, rounded once.
        #[inline(always)]
        pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
            der_dy(s, dy, p)
        }
    };
}

/// `bwd` from a module's `bwd_dy` (ops whose backward reads `y`).
macro_rules! bwd_from_bwd_dy {
    () => {
        #[allow(dead_code)] // callers use `bwd_dy`
        #[inline(always)]
        pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
            bwd_dy(s, 1.0, p)
        }
    };
}

pub mod elu {
    use crate::base::fastmath64::*;
    /// `α·expm1(x)` for `x ≤ 0`.
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        let y = (p[0] as f64 * expm1_nonpos(at_most(x as f64, 0.0))) as f32;
        if x > 0.0 {
            x
        } else {
            y
        }
    }
    /// `dy` or `dy·α·e^x`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, p: [f32; 4]) -> f32 {
        let y = (dy as f64 * (p[0] as f64 * exp_nonpos(at_most(x as f64, 0.0)))) as f32;
        if x > 0.0 {
            dy
        } else {
            y
        }
    }
    from_der_dy!();
}

pub mod selu {
    use crate::base::fastmath64::*;
    const SCALE: f64 = 1.050_700_987_355_480_5;
    const SCALE_ALPHA: f64 = SCALE * 1.673_263_242_354_377_3;
    /// `scale·x` or `scale·α·expm1(x)` (rounding to f32 gives `+∞` where `scale·x` overflows).
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xd = x as f64;
        let y = if x > 0.0 {
            SCALE * xd
        } else {
            SCALE_ALPHA * expm1_nonpos(at_most(xd, 0.0))
        };
        y as f32
    }
    /// `dy·scale` or `dy·scale·α·e^x`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let f = if x > 0.0 {
            SCALE
        } else {
            SCALE_ALPHA * exp_nonpos(at_most(x as f64, 0.0))
        };
        (dy as f64 * f) as f32
    }
    from_der_dy!();
}

pub mod celu {
    use crate::base::fastmath64::*;
    /// `x/α` for `x ≤ 0` (any sign of α: a negative α makes it positive), clamped to ±700 by
    /// `exp`/`expm1` (`e^±700` has long saturated); `−∞/α` is `∓∞`.
    #[inline(always)]
    fn q(x: f32, a: f64) -> f64 {
        // 1/α is loop-invariant (hoisted); x·(1/α) is within an f64 rounding of x/α.
        at_most(x as f64, 0.0) * (1.0 / a)
    }
    /// `α·expm1(x/α)` for `x ≤ 0`.
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        let a = p[0] as f64;
        let y = (a * expm1(q(x, a))) as f32;
        if x > 0.0 {
            x
        } else {
            y
        }
    }
    /// `dy` or `dy·e^(x/α)`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, p: [f32; 4]) -> f32 {
        let q = q(x, p[0] as f64);
        // x = −∞ with α < 0: the factor is +∞ (so dy = 0 gives NaN, as PyTorch's `dy·exp(∞)`).
        let e = if q == f64::INFINITY { q } else { exp(q) };
        let y = (dy as f64 * e) as f32;
        if x > 0.0 {
            dy
        } else {
            y
        }
    }
    from_der_dy!();
}

pub mod sigmoid {
    use crate::base::fastmath64::*;
    /// `1/(1 + e^−x)`: relative errors only, down to the subnormal results.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        (1.0 / (1.0 + exp(-(x as f64)))) as f32
    }
    /// `σ(x)·σ(−x) = e/(1 + e)²`, `e = e^−|x|`.
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        let e = exp_nonpos(-(x as f64).abs());
        let d = 1.0 + e;
        (e / (d * d)) as f32
    }
    /// From the output: `dy·y·(1 − y)`, exact in f64 but for the product with `dy` (`y` clamped
    /// to ±`f32::MAX`: no output of sigmoid, but a possible input).
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let y = finite64(s);
        (dy as f64 * (y * (1.0 - y))) as f32
    }
    bwd_from_bwd_dy!();
}

pub mod logsigmoid {
    use crate::base::fastmath64::*;
    /// `min(x, 0) − log1p(e^−|x|)`.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xd = x as f64;
        (at_most(xd, 0.0) - log1p_unit(exp_nonpos(-xd.abs()))) as f32
    }
    /// `dy·σ(−x) = dy/(1 + e^x)` (as sigmoid's forward: relative errors only, also where `e^x`
    /// is huge; no sign selects).
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        (dy as f64 * (1.0 / (1.0 + exp(x as f64)))) as f32
    }
    from_der_dy!();
}

pub mod softplus {
    use crate::base::fastmath64::*;
    /// `β·x > threshold ? x : log1p(e^z)/β` (the test on the f32 product, as PyTorch's), with
    /// `z = β·x` exact in f64 and `log1p(e^z) = max(z, 0) + log1p(e^−|z|)`, `max(z, 0)/β` being
    /// `x` or 0.
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        // β ≠ 0 (validated), so β·(±∞) is ±∞, never NaN: an infinite x is not clamped, since
        // β·f32::MAX need not have saturated for a tiny β.
        let z = p[0] as f64 * x as f64;
        // 1/β is loop-invariant: it scales log1p's (hoisted) coefficients, no division or
        // multiplication per element.
        let l = log1p_unit_scaled(exp_nonpos(-z.abs()), 1.0 / p[0] as f64);
        let y = (if z > 0.0 { x as f64 + l } else { l }) as f32;
        if p[0] * x > p[1] {
            x
        } else {
            y
        }
    }
    /// `dy·(β·x > threshold ? 1 : σ(β·x))`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, p: [f32; 4]) -> f32 {
        // σ(z) = 1/(1 + e^−z), as sigmoid's forward (e^−z clamped to e^±700; no sign selects).
        let s = 1.0 / (1.0 + exp(-(p[0] as f64 * x as f64)));
        let y = (dy as f64 * s) as f32;
        if p[0] * x > p[1] {
            dy
        } else {
            y
        }
    }
    from_der_dy!();
}

/// `x` widened and clamped to ±1e30, for forming `z = β·x` (every result has saturated long
/// before; the product stays finite, and is 0 for β = 0).
#[inline(always)]
fn wide_x(x: f32) -> f64 {
    (x as f64).clamp(-1.0e30, 1.0e30)
}

/// `x·σ(z)` for `z` a multiple of `x` (silu, swish, quick_gelu, gelu_tanh); `+∞` at `x = +∞`
/// where `z > 0`.
#[inline(always)]
fn x_sigmoid(x: f32, z: f64) -> f32 {
    let (s, _) = crate::base::fastmath64::sigmoid_pair::<false>(z);
    let y = (crate::base::fastmath64::finite64(x) * s) as f32;
    if crate::base::fastmath::is_inf(x) && z > 0.0 {
        x
    } else {
        y
    }
}

/// `dy·σ(z)·(1 + g·σ(−z))`, `dy` times the derivative of `x·σ(z(x))` with `g = x·z'` (`g = z`
/// for `z = β·x`). It cancels only near its root, where the error stays absolute (~2^-48: the
/// precise `e^x`).
#[inline(always)]
fn x_sigmoid_der(z: f64, g: f64, dy: f32) -> f32 {
    let (s, c) = crate::base::fastmath64::sigmoid_pair::<true>(z);
    (dy as f64 * (s * g.mul_add(c, 1.0))) as f32
}

pub mod silu {
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        super::x_sigmoid(x, super::wide_x(x))
    }
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let z = super::wide_x(x);
        super::x_sigmoid_der(z, z, dy)
    }
    from_der_dy!();
}

pub mod swish {
    /// `z = β·x` (exact in f64) clamped to ±1e30: clamping `x` instead, as silu does, would
    /// be wrong for a tiny `β`, whose `β·x` has not saturated at `x = ±1e30` (or `±∞`).
    #[inline(always)]
    fn z(x: f32, beta: f32) -> f64 {
        (beta as f64 * x as f64).clamp(-1.0e30, 1.0e30)
    }
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        super::x_sigmoid(x, z(x, p[0]))
    }
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, p: [f32; 4]) -> f32 {
        let z = z(x, p[0]);
        super::x_sigmoid_der(z, z, dy)
    }
    from_der_dy!();
}

pub mod quick_gelu {
    /// The real constant 1.702, not its f32 rounding.
    const C: f64 = 1.702;
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        super::x_sigmoid(x, C * super::wide_x(x))
    }
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let z = C * super::wide_x(x);
        super::x_sigmoid_der(z, z, dy)
    }
    from_der_dy!();
}

// ---------------------------------------------------------------------------------------------
// Hyperbolic family.

pub mod tanh {
    use crate::base::fastmath64::*;
    /// `−m/(2 + m)` with `m = expm1(−2|x|) ∈ (−1, 0]` (no cancellation), signed.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let m = expm1_nonpos(-2.0 * at_most((x as f64).abs(), 30.0));
        crate::base::fastmath::copysign((-m / (2.0 + m)) as f32, x)
    }
    /// `1 − tanh² = 4e/(1 + e)²`, `e = e^−2|x|`.
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        let e = exp_nonpos(-2.0 * (x as f64).abs());
        let d = 1.0 + e;
        (4.0 * e / (d * d)) as f32
    }
    /// From the output: `dy·(1 − y)(1 + y)`, exact in f64 but for the product with `dy` (`y`
    /// clamped to ±`f32::MAX`).
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let y = finite64(s);
        (dy as f64 * ((1.0 - y) * (1.0 + y))) as f32
    }
    bwd_from_bwd_dy!();
}

pub mod tanhshrink {
    use crate::base::fastmath::*;
    use crate::base::fastmath64::{at_most, expm1_nonpos, finite64};
    /// `x³·P(x²)` below 1 (no cancellation), `x − tanh(x)` above (`tanh` from
    /// `m = expm1(−2|x|)` as in [`super::tanh`]; the difference is at least 0.238).
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xd = finite64(x);
        let a = xd.abs();
        let s = a * a;
        let r = (TANHSHRINK_P7 as f64)
            .mul_add(s, TANHSHRINK_P6 as f64)
            .mul_add(s, TANHSHRINK_P5 as f64)
            .mul_add(s, TANHSHRINK_P4 as f64)
            .mul_add(s, TANHSHRINK_P3 as f64)
            .mul_add(s, TANHSHRINK_P2 as f64)
            .mul_add(s, TANHSHRINK_P1_HI as f64 + TANHSHRINK_P1_LO as f64)
            .mul_add(s, TANHSHRINK_P0_HI as f64 + TANHSHRINK_P0_LO as f64);
        let small = a * s * r;
        let m = expm1_nonpos(-2.0 * at_most(a, 30.0));
        let big = a + m / (2.0 + m);
        let y = copysign((if a < 1.0 { small } else { big }) as f32, x);
        if is_inf(x) {
            x
        } else {
            y
        }
    }
    /// `dy·tanh²(x)`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let m = expm1_nonpos(-2.0 * at_most((x as f64).abs(), 30.0));
        let t = m / (2.0 + m);
        (dy as f64 * (t * t)) as f32
    }
    from_der_dy!();
}

pub mod softsign {
    use crate::base::fastmath64::*;
    /// `x/(1 + |x|)` in f64 (`1 + |x|` exact but for the tiniest `x`).
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xd = finite64(x);
        (xd / (1.0 + xd.abs())) as f32
    }
    /// `dy/(1 + |x|)²`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let d = 1.0 + finite64(x).abs();
        (dy as f64 / (d * d)) as f32
    }
    from_der_dy!();
}

pub mod mish {
    use crate::base::fastmath64::*;
    /// `(e, n)`: `e = e^x` and `n = e·(e + 2) = (1 + e)² − 1`, so that
    /// `t = tanh(softplus(x)) = n/(n + 2)` (no cancellation); `x` clamped to [−700, 40] (above,
    /// `t` is 1 to far below an f32 rounding).
    #[inline(always)]
    fn parts<const PRECISE: bool>(x: f64) -> (f64, f64) {
        let e = if PRECISE {
            exp_precise(at_most(x, 40.0))
        } else {
            exp(at_most(x, 40.0))
        };
        (e, e * (e + 2.0))
    }
    /// `x·t`.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xd = finite64(x);
        let (_, n) = parts::<false>(xd);
        let y = (xd * (n / (n + 2.0))) as f32;
        if crate::base::fastmath::is_inf(x) && x > 0.0 {
            x
        } else {
            y
        }
    }
    /// `t + x·σ(x)·(1 − t²) = t + 4x·e·(1 + e)/(n + 2)²` (`1 − t² = 4(1 + e)²/(n + 2)²`); it
    /// cancels only near its root, where the error stays absolute.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let xd = (x as f64).clamp(-1.0e4, 1.0e4);
        // One division: t = n·(1/d) and (1 + e)/d² = (1 + e)·(1/d)², d = n + 2.
        // The precise e^x: the sum cancels near the root.
        let (e, n) = parts::<true>(xd);
        let inv = 1.0 / (n + 2.0);
        let t = n * inv;
        let f = (4.0 * xd * e).mul_add((1.0 + e) * (inv * inv), t);
        (dy as f64 * f) as f32
    }
    from_der_dy!();
}

// ---------------------------------------------------------------------------------------------
// Gaussian family.

pub mod gelu {
    use crate::base::fastmath64::{at_least, at_most, gelu_der_tail, gelu_tail, GELU_U_MAX};
    /// `x·Φ(x)` with `Φ(x) = Φ(−u)` for `x < 0` and `1 − Φ(−u)` above (`u = |x|`, no
    /// cancellation: `Φ(−u) ≤ 1/2`). `x` is clamped below so that `−∞` gives `−0`, and `+∞`
    /// passes (`u` is clamped, so `Φ = 1`).
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xd = at_least(x as f64, -GELU_U_MAX);
        let u = at_most(xd.abs(), GELU_U_MAX);
        let q = gelu_tail(u);
        let phi = if x.is_sign_negative() { q } else { 1.0 - q };
        (xd * phi) as f32
    }
    /// `Φ(x) + x·φ(x)`: `Φ(−u) − u·φ(u)` for `x < 0`, one minus it above.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let u = at_most((x as f64).abs(), GELU_U_MAX);
        let v = gelu_der_tail(u);
        let f = if x < 0.0 { v } else { 1.0 - v };
        (dy as f64 * f) as f32
    }
    from_der_dy!();
}

pub mod gelu_tanh {
    /// 2·√(2/π) and 2·√(2/π)·0.044715.
    const K1: f64 = 1.595_769_121_605_730_7;
    const K3: f64 = K1 * 0.044_715;
    /// `z = 2·√(2/π)·(x + 0.044715·x³) = x·(K1 + K3·x²)` and `g = x·z' = x·(K1 + 3·K3·x²)` for
    /// `x` clamped to ±1e4 (`σ(z)` is 0 or 1 to far below any rounding long before).
    #[inline(always)]
    fn z(x: f32) -> (f64, f64) {
        let xd = (x as f64).clamp(-1.0e4, 1.0e4);
        let x2 = xd * xd;
        (xd * K3.mul_add(x2, K1), xd * (3.0 * K3).mul_add(x2, K1))
    }
    /// `x/2·(1 + tanh(z/2)) = x·σ(z)`.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        super::x_sigmoid(x, z(x).0)
    }
    /// `σ(z)·(1 + x·z'·σ(−z))`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let (z, g) = z(x);
        super::x_sigmoid_der(z, g, dy)
    }
    from_der_dy!();
}
