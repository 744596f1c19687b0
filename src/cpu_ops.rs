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
//! the caller (bit tests), so these need not propagate NaN. The same algorithms, in the same
//! order of operations, are in `shaders/activations.wgsl`.

/// Expands `$body` once per op with `$m` naming that op's module.
#[rustfmt::skip]
macro_rules! dispatch_op {
    ($op:expr, $m:ident => $body:expr) => {{
        use $crate::activation::OpKind as K;
        match $op {
            K::Relu => { use $crate::cpu_ops::relu as $m; $body }
            K::Relu6 => { use $crate::cpu_ops::relu6 as $m; $body }
            K::LeakyRelu => { use $crate::cpu_ops::leaky_relu as $m; $body }
            K::Rrelu => { use $crate::cpu_ops::rrelu as $m; $body }
            K::Prelu => { use $crate::cpu_ops::prelu as $m; $body }
            K::Elu => { use $crate::cpu_ops::elu as $m; $body }
            K::Selu => { use $crate::cpu_ops::selu as $m; $body }
            K::Celu => { use $crate::cpu_ops::celu as $m; $body }
            K::Gelu => { use $crate::cpu_ops::gelu as $m; $body }
            K::GeluTanh => { use $crate::cpu_ops::gelu_tanh as $m; $body }
            K::Sigmoid => { use $crate::cpu_ops::sigmoid as $m; $body }
            K::LogSigmoid => { use $crate::cpu_ops::logsigmoid as $m; $body }
            K::HardSigmoid => { use $crate::cpu_ops::hardsigmoid as $m; $body }
            K::Tanh => { use $crate::cpu_ops::tanh as $m; $body }
            K::HardTanh => { use $crate::cpu_ops::hardtanh as $m; $body }
            K::Softsign => { use $crate::cpu_ops::softsign as $m; $body }
            K::Softplus => { use $crate::cpu_ops::softplus as $m; $body }
            K::Silu => { use $crate::cpu_ops::silu as $m; $body }
            K::Mish => { use $crate::cpu_ops::mish as $m; $body }
            K::HardSwish => { use $crate::cpu_ops::hardswish as $m; $body }
            K::TanhShrink => { use $crate::cpu_ops::tanhshrink as $m; $body }
            K::HardShrink => { use $crate::cpu_ops::hardshrink as $m; $body }
            K::SoftShrink => { use $crate::cpu_ops::softshrink as $m; $body }
            K::Threshold => { use $crate::cpu_ops::threshold as $m; $body }
            K::QuickGelu => { use $crate::cpu_ops::quick_gelu as $m; $body }
            K::Swish => { use $crate::cpu_ops::swish as $m; $body }
            K::SquaredRelu => { use $crate::cpu_ops::squared_relu as $m; $body }
        }
    }};
}
pub(crate) use dispatch_op;

use crate::fastmath::*;

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
    use crate::fastmath::*;
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
    use crate::fastmath::*;
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
    use crate::fastmath::*;
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
    use crate::fastmath::*;
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
// Exponential family.

pub mod elu {
    use crate::fastmath::*;
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        let (eh, el) = expm1_dd(finite(x).min(0.0), 0.0);
        let y = mul_dd(p[0], 0.0, eh, el);
        if x > 0.0 {
            x
        } else {
            y
        }
    }
    /// `dy·f'(x)`: `dy` or `dy·α·e^x` (scaled product).
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, p: [f32; 4]) -> f32 {
        let (k, s, t) = exp_core(finite(x).min(0.0), 0.0);
        let y = scale_mul_dd_dy(s, t, k, p[0], 0.0, dy);
        if x > 0.0 {
            dy
        } else {
            y
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

pub mod selu {
    use crate::fastmath::*;
    /// `scale·x` or `scale·α·expm1(x)` with the constants as double-floats (one rounding).
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let (eh, el) = expm1_dd(xs.min(0.0), 0.0);
        let neg = mul_dd(SELU_SA_HI, SELU_SA_LO, eh, el);
        let big = xs > 18_446_744_073_709_551_616.0;
        let xsc = xs * if big { 2.328_306_4e-10 } else { 1.0 };
        let pos = mul_dd(SELU_SCALE_HI, SELU_SCALE_LO, xsc, 0.0)
            * if big { 4_294_967_296.0 } else { 1.0 };
        let y = if xs > 0.0 { pos } else { neg };
        if xs >= SELU_OVERFLOW {
            INF
        } else {
            y
        }
    }
    /// `dy·f'(x)`: `dy·scale` or `dy·scale·α·e^x` (constants as double-floats, scaled product).
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let (k, s, t) = exp_core(finite(x).min(0.0), 0.0);
        let neg = scale_mul_dd_dy(s, t, k, SELU_SA_HI, SELU_SA_LO, dy);
        if x > 0.0 {
            mul_dd(dy, 0.0, SELU_SCALE_HI, SELU_SCALE_LO)
        } else {
            neg
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

pub mod celu {
    use crate::fastmath::*;
    /// `x/α` as a double-float for `x ≤ 0` (clamped where `e^(x/α)` has long vanished, so nothing
    /// overflows).
    #[inline(always)]
    fn q(x: f32, alpha: f32) -> (f32, f32) {
        let xn = finite(x).clamp(-1.0e30, 0.0);
        let q = div(xn, alpha).clamp(-1.0e4, 1.0e4);
        let (p, e) = two_prod(q, alpha);
        (q, ((xn - p) - e) / alpha)
    }
    /// `α·expm1(x/α)` for `x ≤ 0`.
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        let (qh, ql) = q(x, p[0]);
        let (eh, el) = expm1_dd(qh, ql);
        let y = mul_dd(p[0], 0.0, eh, el);
        if x > 0.0 {
            x
        } else {
            y
        }
    }
    /// `dy·f'(x)`: `dy` or `dy·e^(x/α)` (scaled product).
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, p: [f32; 4]) -> f32 {
        let (qh, ql) = q(x, p[0]);
        let (k, s, t) = exp_core(qh, ql);
        let y = scale_mul_dd_dy(s, t, k, 1.0, 0.0, dy);
        if x > 0.0 {
            dy
        } else {
            y
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

// ---------------------------------------------------------------------------------------------
// Logistic family.

pub mod sigmoid {
    use crate::fastmath::*;
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let g = sig_parts(finite(x).abs(), 0.0);
        if x >= 0.0 {
            g.p
        } else {
            g.q
        }
    }
    /// `σ(x)·σ(−x)` from the double-float pieces.
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        let g = sig_parts(finite(x).abs(), 0.0);
        mul_dd(g.p, g.pl, g.q, g.ql)
    }
    /// From the output: `y·(1 − y) = (y − y²)` with `y²` exact (TwoProd): one rounding for
    /// `y ≥ 1/2` (`y − p` is exact), about 0.5 ULP below;
    /// `−∞` selected where `y²` overflows.
    #[inline(always)]
    pub fn bwd(s: f32, _p: [f32; 4]) -> f32 {
        let ys = finite(s);
        let yc = ys.clamp(-18_446_742_974_197_923_840.0, 18_446_742_974_197_923_840.0);
        let (p, e) = two_prod(yc, yc);
        let r = (yc - p) - e;
        if ys.abs() >= 18_446_744_073_709_551_616.0 {
            -INF
        } else {
            r
        }
    }
    /// The fused backward; for |y| ≥ 2^32 (not an output of sigmoid, but possible) as
    /// `(dy * ys) * (1.0 - ys)`, which cannot overflow early.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        let ys = finite(s);
        let big = (dy * ys) * (1.0 - ys);
        if ys.abs() >= 4_294_967_296.0 {
            big
        } else {
            dy * bwd(s, p)
        }
    }
}

pub mod logsigmoid {
    use crate::fastmath::*;
    /// `min(x, 0) − log1p(e^−|x|)`.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let (k, s, t) = exp_core(-xs.abs(), 0.0);
        let (m, ml) = fast_two_sum(s, t);
        let l = log1p_dd(scale2(m, k), scale2(ml, k));
        let y = if xs < 0.0 { xs - l } else { -l };
        if is_inf(x) && x < 0.0 {
            x
        } else {
            y
        }
    }
    /// `dy·σ(−x)`: `dy·u·p` for `x ≥ 0` (`u = e^−x`, scaled product), `dy·p` below.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let g = sig_parts(finite(x).abs(), 0.0);
        let pos = scale_mul_dd_dy(g.m, g.ml, g.k, g.p, g.pl, dy);
        if x >= 0.0 {
            pos
        } else {
            mul_dd(dy, 0.0, g.p, g.pl)
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

/// `β·x` as a double-float, `x` clamped to ±2^64 (every result has saturated long before, and
/// the product cannot overflow for any reasonable β).
#[inline(always)]
fn beta_x(x: f32, beta: f32) -> (f32, f32) {
    two_prod(
        beta,
        finite(x).clamp(-18_446_744_073_709_551_616.0, 18_446_744_073_709_551_616.0),
    )
}

pub mod softplus {
    use crate::fastmath::*;
    /// `z > threshold ? x : log1p(e^z)/β` with `z = β·x` a double-float; for `z > 0`,
    /// `log1p(e^z) = z + log1p(e^−z)` and `z/β = x` exactly, so the result is `x + log1p(e^−|z|)/β`.
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        let (zh, zl) = super::beta_x(x, p[0]);
        let al = if zh < 0.0 { -zl } else { zl };
        let (k, s, t) = exp_core(-zh.abs(), -al);
        let (m, ml) = fast_two_sum(s, t);
        let l = div(log1p_dd(scale2(m, k), scale2(ml, k)), p[0]);
        let y = if zh > 0.0 { finite(x) + l } else { l };
        if zh > p[1] || (is_inf(x) && zh > 0.0) {
            x
        } else {
            y
        }
    }
    /// `dy·(z > threshold ? 1 : σ(z))`; `σ(z) = u·p` for `z < 0` (scaled product).
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, p: [f32; 4]) -> f32 {
        let (zh, zl) = super::beta_x(x, p[0]);
        let g = sig_parts(zh.abs(), if zh < 0.0 { -zl } else { zl });
        let neg = scale_mul_dd_dy(g.m, g.ml, g.k, g.p, g.pl, dy);
        let y = if zh >= 0.0 {
            mul_dd(dy, 0.0, g.p, g.pl)
        } else {
            neg
        };
        if zh > p[1] {
            dy
        } else {
            y
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

/// `σ(z)` and `σ(−z)` as double-floats `(s, sl, c, cl)` from [`Sig`].
#[inline(always)]
fn sig_pm(zh: f32, g: Sig) -> (f32, f32, f32, f32) {
    let pos = zh >= 0.0;
    (
        if pos { g.p } else { g.q },
        if pos { g.pl } else { g.ql },
        if pos { g.q } else { g.p },
        if pos { g.ql } else { g.pl },
    )
}

/// `x·σ(z)` for `z = zh + zl` (a double-float multiple of `x`): silu, swish, quick_gelu and
/// gelu_tanh. Below `z = −64`, `σ(z) = e^z` to 2^-92 and the product is formed by
/// [`scale_mul_dd`] so that it survives where `e^z` alone would be subnormal.
#[inline(always)]
fn x_sigmoid(x: f32, zh: f32, zl: f32) -> f32 {
    let xs = finite(x);
    let a = zh.abs();
    let g = sig_parts(a, if zh < 0.0 { -zl } else { zl });
    let (s, sl, _, _) = sig_pm(zh, g);
    let y = mul_dd(
        xs.clamp(-18_446_744_073_709_551_616.0, 18_446_744_073_709_551_616.0),
        0.0,
        s,
        sl,
    );
    let y = if xs.abs() > 18_446_744_073_709_551_616.0 {
        xs * s
    } else {
        y
    };
    let y = if zh < -64.0 {
        scale_mul_dd(g.m, g.ml, g.k, xs, 0.0)
    } else {
        y
    };
    if is_inf(x) && zh > 0.0 {
        x
    } else {
        y
    }
}

/// `dy·σ(z)·(1 + g·σ(−z))` — `dy` times the derivative of `x·σ(z(x))` with `g = x·z'` (a
/// double-float; `g = z` for swish) — from double-float pieces; `dy·e^z·(1 + g)` as a scaled
/// product below `z = −64`.
#[inline(always)]
fn x_sigmoid_der(zh: f32, zl: f32, gh: f32, gl: f32, dy: f32) -> f32 {
    let a = zh.abs();
    let g = sig_parts(a, if zh < 0.0 { -zl } else { zl });
    let (s, sl, c, cl) = sig_pm(zh, g);
    let (p, e) = two_prod(gh, c);
    let (bh, bl) = two_sum(1.0, p);
    let bl = bl + (e + gh.mul_add(cl, gl * c));
    let y = dy * mul_dd(s, sl, bh, bl);
    let (vh, vl) = two_sum(1.0, gh);
    if zh < -64.0 {
        scale_mul_dd_dy(g.m, g.ml, g.k, vh, vl + gl, dy)
    } else {
        y
    }
}

/// `dy·σ(z)·(1 + z·σ(−z))`, `dy` times the derivative of `x·σ(βx)` in `z = βx` (silu, swish, quick_gelu): the
/// root polynomial within 1/2 of its zero `z0 ≈ −1.2785`, [`x_sigmoid_der`] elsewhere.
#[inline(always)]
fn swish_der_z(zh: f32, zl: f32, dy: f32) -> f32 {
    let dh = zh - SWISH_ROOT_HI;
    let dl = zl - SWISH_ROOT_LO;
    let dc = dh.clamp(-1.0, 1.0);
    let r = SWISH_ROOT_Q8
        .mul_add(dc, SWISH_ROOT_Q7)
        .mul_add(dc, SWISH_ROOT_Q6)
        .mul_add(dc, SWISH_ROOT_Q5)
        .mul_add(dc, SWISH_ROOT_Q4)
        .mul_add(dc, SWISH_ROOT_Q3)
        .mul_add(dc, SWISH_ROOT_Q2);
    let near = root_eval(
        dc,
        dl,
        SWISH_ROOT_Q0_HI,
        SWISH_ROOT_Q0_LO,
        SWISH_ROOT_Q1_HI,
        SWISH_ROOT_Q1_LO,
        r,
    );
    let far = x_sigmoid_der(zh, zl, zh, zl, dy);
    if dh.abs() <= 0.5 {
        dy * near
    } else {
        far
    }
}

/// `1.702·x` as a double-float (1.702 is the real constant, split in two f32).
#[inline(always)]
fn quick_gelu_z(x: f32) -> (f32, f32) {
    let xc = finite(x).clamp(-18_446_744_073_709_551_616.0, 18_446_744_073_709_551_616.0);
    let (h, l) = two_prod(xc, QUICK_GELU_C_HI);
    (h, xc.mul_add(QUICK_GELU_C_LO, l))
}

pub mod silu {
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let (zh, zl) = super::beta_x(x, 1.0);
        super::x_sigmoid(x, zh, zl)
    }
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        let (zh, zl) = super::beta_x(x, 1.0);
        super::swish_der_z(zh, zl, 1.0)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let (zh, zl) = super::beta_x(s, 1.0);
        super::swish_der_z(zh, zl, dy)
    }
}

pub mod swish {
    #[inline(always)]
    pub fn fwd(x: f32, p: [f32; 4]) -> f32 {
        let (zh, zl) = super::beta_x(x, p[0]);
        super::x_sigmoid(x, zh, zl)
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        let (zh, zl) = super::beta_x(x, p[0]);
        super::swish_der_z(zh, zl, 1.0)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        let (zh, zl) = super::beta_x(s, p[0]);
        super::swish_der_z(zh, zl, dy)
    }
}

pub mod quick_gelu {
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let (zh, zl) = super::quick_gelu_z(x);
        super::x_sigmoid(x, zh, zl)
    }
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        let (zh, zl) = super::quick_gelu_z(x);
        super::swish_der_z(zh, zl, 1.0)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let (zh, zl) = super::quick_gelu_z(s);
        super::swish_der_z(zh, zl, dy)
    }
}

// ---------------------------------------------------------------------------------------------
// Hyperbolic family.

pub mod tanh {
    use crate::fastmath::*;
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        tanh(x)
    }
    /// `1 − tanh²`: `1 − t²` by fma below 1/2, `4pq` from `u = e^−2|x|` above (no cancellation).
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        let (th, tl, g) = tanh_dd(finite(x).abs().min(64.0));
        let small = (-th).mul_add(th, 1.0) - 2.0 * th * tl;
        let big = 4.0 * mul_dd(g.p, g.pl, g.q, g.ql);
        if th < 0.5 {
            small
        } else {
            big
        }
    }
    /// From the output: `(1 − y)(1 + y) = 1 − y²` with `y²` exact (TwoProd).
    #[inline(always)]
    pub fn bwd(s: f32, _p: [f32; 4]) -> f32 {
        let ys = finite(s);
        let yc = ys.clamp(-18_446_742_974_197_923_840.0, 18_446_742_974_197_923_840.0);
        let (p, e) = two_prod(yc, yc);
        let r = (1.0 - p) - e;
        if ys.abs() >= 18_446_744_073_709_551_616.0 {
            -INF
        } else {
            r
        }
    }
    /// The fused backward; for |y| ≥ 2^32 (not an output of tanh, but possible) as
    /// `(dy * (1.0 - ys)) * (1.0 + ys)`, which cannot overflow early.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        let ys = finite(s);
        let big = (dy * (1.0 - ys)) * (1.0 + ys);
        if ys.abs() >= 4_294_967_296.0 {
            big
        } else {
            dy * bwd(s, p)
        }
    }
}

pub mod tanhshrink {
    use crate::fastmath::*;
    /// `x³·P(x²)` below 1 (no cancellation; the last two Horner steps and `x³` in double-float),
    /// `(|x| − 1) + 2u/(1 + u)` above (`|x| − 1` exact, `u = e^−2|x|`).
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let a = xs.abs().min(64.0);
        let (sh, sl) = two_prod(a, a);
        let r = TANHSHRINK_P7
            .mul_add(sh, TANHSHRINK_P6)
            .mul_add(sh, TANHSHRINK_P5)
            .mul_add(sh, TANHSHRINK_P4)
            .mul_add(sh, TANHSHRINK_P3)
            .mul_add(sh, TANHSHRINK_P2);
        let (th, tl) = fast_two_sum(TANHSHRINK_P1_HI, sh * r);
        let tl = tl + TANHSHRINK_P1_LO;
        let (uh, ul) = two_prod(sh, th);
        let ul = ul + sh.mul_add(tl, sl * th);
        let (ph, pl) = fast_two_sum(TANHSHRINK_P0_HI, uh);
        let pl = pl + (ul + TANHSHRINK_P0_LO);
        let (ch, cl) = two_prod(a, sh);
        let cl = a.mul_add(sl, cl);
        let small = mul_dd(ch, cl, ph, pl);
        let g = sig_parts(2.0 * a, 0.0);
        let (bh, bl) = two_sum(a - 1.0, 2.0 * g.q);
        let big = bh + 2.0f32.mul_add(g.ql, bl);
        let y = copysign(if a < 1.0 { small } else { big }, xs);
        let y = if xs.abs() > 64.0 {
            xs - copysign(1.0, xs)
        } else {
            y
        };
        if is_inf(x) {
            x
        } else {
            y
        }
    }
    /// `dy·tanh²(x)` from the double-float `tanh`, formed as `(dy·t)·t`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let (th, tl, _) = tanh_dd(finite(x).abs().min(64.0));
        let (wh, wl) = two_prod(dy, th);
        mul_dd(wh, dy.mul_add(tl, wl), th, tl)
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

pub mod softsign {
    use crate::fastmath::*;
    /// `x/(1 + |x|)` with the denominator exact as a TwoSum pair and the quotient refined (`x`
    /// clamped to ±2^50, where the result is ±1 already).
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x).clamp(-1.125_899_9e15, 1.125_899_9e15);
        let (dh, dl) = two_sum(1.0, xs.abs());
        div_dd(xs, 0.0, dh, dl)
    }
    /// `dy·r²` with `r = 1/(1 + |x|)` a double-float from the exact denominator, formed as
    /// `(dy·r)·r`; above 2^60 the denominator is scaled by 2^-64 (and the result by 2^-128), so
    /// `r` never leaves the normal range.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let a = finite(x).abs();
        let big = a > 1.152_921_5e18;
        let f = if big { 5.421_011e-20 } else { 1.0 };
        let (dh, dl) = two_sum(1.0, a);
        let (dh, dl) = (dh * f, dl * f);
        let r0 = 1.0 / dh;
        let (p, e) = two_prod(r0, dh);
        let e = ((1.0 - p) - e) - r0 * dl;
        let (rh, rl) = fast_two_sum(r0, r0 * e);
        let (wh, wl) = two_prod(dy, rh);
        mul_dd(wh, dy.mul_add(rl, wl), rh, rl) * f * f
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

pub mod mish {
    use crate::fastmath::*;
    /// `(t, 1 − t, Sig)` with `t = tanh(softplus(x))` from `u = e^−|x|` (double-float) and
    /// `1 − t` without cancellation. For `x ≥ 0`: `t = (1 + 2u)/(1 + 2u + 2u²)`,
    /// `1 − t = 2u²/(…)`; for `x < 0`, with `n = u² + 2u`: `t = n/(n + 2)`, `1 − t = 2/(n + 2)`.
    #[inline(always)]
    fn parts(xs: f32) -> (f32, f32, Sig) {
        let g = sig_parts(xs.abs(), 0.0);
        let (uh, ul) = (g.u, g.ul);
        let (u2h, u2l) = two_prod(uh, uh);
        let u2l = (2.0 * uh).mul_add(ul, u2l);
        // x >= 0
        let (nh, nl) = fast_two_sum(1.0, 2.0 * uh);
        let nl = 2.0f32.mul_add(ul, nl);
        let (dh, dl) = fast_two_sum(nh, 2.0 * u2h);
        let dl = dl + 2.0f32.mul_add(u2l, nl);
        let tp = div_dd(nh, nl, dh, dl);
        let omtp = div_dd(2.0 * u2h, 2.0 * u2l, dh, dl);
        // x < 0
        let (nh2, nl2) = fast_two_sum(2.0 * uh, u2h);
        let nl2 = nl2 + 2.0f32.mul_add(ul, u2l);
        let (dh2, dl2) = two_sum(nh2, 2.0);
        let dl2 = dl2 + nl2;
        let tn = div_dd(nh2, nl2, dh2, dl2);
        let omtn = div_dd(2.0, 0.0, dh2, dl2);
        let pos = xs >= 0.0;
        (if pos { tp } else { tn }, if pos { omtp } else { omtn }, g)
    }
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let (t, _, g) = parts(xs);
        let y = if xs < -64.0 {
            scale_mul_dd(g.m, g.ml, g.k, xs, 0.0)
        } else {
            xs * t
        };
        if is_inf(x) && x > 0.0 {
            x
        } else {
            y
        }
    }
    /// `t + x·σ(x)·(1 − t)(1 + t)` for `x ≥ 0` (all terms positive); for `x < 0`, with `u = e^x`,
    /// the same expression is `u·W/D²`, `W = 4(1 + x) + u·((6 + 4x) + u·(4 + u))`,
    /// `D = 2 + u·(2 + u)`, which cancels only at the root: the root polynomial on [x0 − 1/2, x0 + 0.8].
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let xs = finite(x);
        let (t, omt, g) = parts(xs);
        let sg = if xs >= 0.0 { g.p } else { g.q };
        let pos = (xs * sg).mul_add(omt * (1.0 + t), t);
        let xn = xs.clamp(-1.0e30, 0.0);
        let u = g.u;
        let w = u.mul_add(
            u.mul_add(4.0 + u, 4.0f32.mul_add(xn, 6.0)),
            4.0 * (1.0 + xn),
        );
        let (dh, dl) = two_sum(2.0, u * (2.0 + u));
        let (d2h, d2l) = two_prod(dh, dh);
        let v = div_dd(w, 0.0, d2h, (2.0 * dh).mul_add(dl, d2l));
        let neg = scale_mul_dd_dy(g.m, g.ml, g.k, v, 0.0, dy);
        let y = if xs >= MISH_ROOT_HI { dy * pos } else { neg };
        let dh = xs - MISH_ROOT_HI;
        let dc = dh.clamp(-1.0, 1.0);
        let r = MISH_ROOT_Q10
            .mul_add(dc, MISH_ROOT_Q9)
            .mul_add(dc, MISH_ROOT_Q8)
            .mul_add(dc, MISH_ROOT_Q7)
            .mul_add(dc, MISH_ROOT_Q6)
            .mul_add(dc, MISH_ROOT_Q5)
            .mul_add(dc, MISH_ROOT_Q4)
            .mul_add(dc, MISH_ROOT_Q3)
            .mul_add(dc, MISH_ROOT_Q2);
        let near = root_eval(
            dc,
            -MISH_ROOT_LO,
            MISH_ROOT_Q0_HI,
            MISH_ROOT_Q0_LO,
            MISH_ROOT_Q1_HI,
            MISH_ROOT_Q1_LO,
            r,
        );
        if (-0.5..=0.8).contains(&dh) {
            dy * near
        } else {
            y
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

// ---------------------------------------------------------------------------------------------
// Gaussian family.

pub mod gelu {
    use crate::fastmath::*;
    /// `(x, erfcx(a), exp parts of e^−a²)` for `a = |x|/√2` as a double-float, clamped at 13.5
    /// (beyond, `e^−a²` is below 2^-262: nothing survives, even times a huge `dy`).
    #[inline(always)]
    fn parts(x: f32) -> (f32, f32, i32, f32, f32) {
        let xs = finite(x);
        let xc = xs.clamp(-18_446_744_073_709_551_616.0, 18_446_744_073_709_551_616.0);
        let (th, tl) = two_prod(xc, FRAC_1_SQRT2_HI);
        let tl = xc.mul_add(FRAC_1_SQRT2_LO, tl);
        let a = th.abs();
        let big = a > 13.5;
        let al = if big {
            0.0
        } else if th < 0.0 {
            -tl
        } else {
            tl
        };
        let a = a.min(13.5);
        let r = erfcx(a, al);
        let (k, s, t) = exp_neg_sq(a, al);
        (xs, r, if big { -300 } else { k }, s, t)
    }
    /// `x/2·erfc(−x/√2)`: `(x/2)·erfc(a)` for `x < 0`, `x − (x/2)·erfc(a)` for `x ≥ 0`.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let (xs, r, k, s, t) = parts(x);
        let hx = 0.5 * xs;
        let (vh, vl) = two_prod(
            0.5 * xs.clamp(-18_446_744_073_709_551_616.0, 18_446_744_073_709_551_616.0),
            r,
        );
        let neg = scale_mul_dd(s, t, k, vh, vl);
        let ec = scale_mul_dd(s, t, k, r, 0.0);
        let y = if xs < 0.0 { neg } else { (-hx).mul_add(ec, xs) };
        if is_inf(x) && x > 0.0 {
            x
        } else {
            y
        }
    }
    /// `Φ(x) + x·φ(x)`: `e^−a²·(erfcx(a)/2 + x/√(2π))` for `x < 0`,
    /// `1 + e^−a²·(x/√(2π) − erfcx(a)/2)` for `x ≥ 0`; the root polynomial within 1/2 of the zero.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let (xs, r, k, s, t) = parts(x);
        let e = scale2(s + t, k);
        let xc = xs.clamp(-18_446_744_073_709_551_616.0, 18_446_744_073_709_551_616.0);
        let (ch, cl) = two_prod(xc, FRAC_1_SQRT_2PI_HI);
        let cl = xc.mul_add(FRAC_1_SQRT_2PI_LO, cl);
        let hr = 0.5 * r;
        let (bh, bl) = two_sum(hr, ch);
        let neg = scale_mul_dd_dy(s, t, k, bh, bl + cl, dy);
        let y = if xs < 0.0 {
            neg
        } else {
            dy * e.mul_add(ch - hr, 1.0)
        };
        let dh = xs - GELU_ROOT_HI;
        let dc = dh.clamp(-1.0, 1.0);
        let q = GELU_ROOT_Q9
            .mul_add(dc, GELU_ROOT_Q8)
            .mul_add(dc, GELU_ROOT_Q7)
            .mul_add(dc, GELU_ROOT_Q6)
            .mul_add(dc, GELU_ROOT_Q5)
            .mul_add(dc, GELU_ROOT_Q4)
            .mul_add(dc, GELU_ROOT_Q3)
            .mul_add(dc, GELU_ROOT_Q2);
        let near = root_eval(
            dc,
            -GELU_ROOT_LO,
            GELU_ROOT_Q0_HI,
            GELU_ROOT_Q0_LO,
            GELU_ROOT_Q1_HI,
            GELU_ROOT_Q1_LO,
            q,
        );
        if dh.abs() <= 0.5 {
            dy * near
        } else {
            y
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}

pub mod gelu_tanh {
    use crate::fastmath::*;
    /// `z = 2·√(2/π)·(x + 0.044715·x³) = x·(K1 + K3·x²)` and `g = x·z' = x·(K1 + 3·K3·x²)` as
    /// double-floats, for `x` clamped to ±20 (beyond, `σ(z)` is 0 or 1 to far below any rounding).
    #[inline(always)]
    fn z(x: f32) -> (f32, f32, f32, f32) {
        let xc = finite(x).clamp(-20.0, 20.0);
        let (x2h, x2l) = two_prod(xc, xc);
        let (ah, al) = two_prod(GELU_TANH_K3_HI, x2h);
        let al = GELU_TANH_K3_HI.mul_add(x2l, GELU_TANH_K3_LO.mul_add(x2h, al));
        let (bh, bl) = two_sum(GELU_TANH_K1_HI, ah);
        let bl = bl + (al + GELU_TANH_K1_LO);
        let (zh, zl) = two_prod(xc, bh);
        let zl = xc.mul_add(bl, zl);
        let (ch, cl) = two_sum(bh, 2.0 * ah);
        let cl = cl + 2.0f32.mul_add(al, bl);
        let (gh, gl) = two_prod(xc, ch);
        let gl = xc.mul_add(cl, gl);
        (zh, zl, gh, gl)
    }
    /// `x/2·(1 + tanh(z/2)) = x·σ(z)`.
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        let (zh, zl, _, _) = z(x);
        super::x_sigmoid(x, zh, zl)
    }
    /// `σ(z)·(1 + x·z'·σ(−z))`; the root polynomial within 1/2 of the zero.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let (zh, zl, gh, gl) = z(x);
        let far = super::x_sigmoid_der(zh, zl, gh, gl, dy);
        let dh = finite(x) - GELU_TANH_ROOT_HI;
        let dc = dh.clamp(-1.0, 1.0);
        let q = GELU_TANH_ROOT_Q9
            .mul_add(dc, GELU_TANH_ROOT_Q8)
            .mul_add(dc, GELU_TANH_ROOT_Q7)
            .mul_add(dc, GELU_TANH_ROOT_Q6)
            .mul_add(dc, GELU_TANH_ROOT_Q5)
            .mul_add(dc, GELU_TANH_ROOT_Q4)
            .mul_add(dc, GELU_TANH_ROOT_Q3)
            .mul_add(dc, GELU_TANH_ROOT_Q2);
        let near = root_eval(
            dc,
            -GELU_TANH_ROOT_LO,
            GELU_TANH_ROOT_Q0_HI,
            GELU_TANH_ROOT_Q0_LO,
            GELU_TANH_ROOT_Q1_HI,
            GELU_TANH_ROOT_Q1_LO,
            q,
        );
        if dh.abs() <= 0.5 {
            dy * near
        } else {
            far
        }
    }
    #[inline(always)]
    pub fn der(x: f32, p: [f32; 4]) -> f32 {
        der_dy(x, 1.0, p)
    }
    #[allow(dead_code)] // callers may use `bwd_dy` instead
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
    /// The fused backward `dy·f'(s)`, with `dy` applied before the last scaling so that a factor
    /// below the normal range loses nothing when `dy` is large.
    #[inline(always)]
    pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
        der_dy(s, dy, p)
    }
}
