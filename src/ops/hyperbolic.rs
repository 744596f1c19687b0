//! The hyperbolic family: tanh and the ops built on it, and softsign.
//!
//! Each op's module holds its whole description: `SPEC` (docs, parameters, what the backward
//! reads), the exact f64 reference (`exact_fwd`, `exact_der`, `exact_bwd`) and the fast CPU
//! body (`fwd`, `der`, `bwd`, `bwd_dy`). The WGSL bodies are in `shaders/ops/hyperbolic.wgsl`.

#[allow(unused_imports)]
use crate::base::fastmath::*;

/// This family's entries in the op registry (see `ops/mod.rs`): `module = Variant`.
macro_rules! hyperbolic_ops {
    ($next:ident $d:tt [$($done:tt)*] $($rest:tt)*) => {
        $next! { $d [$($done)*
            hyperbolic::tanh = Tanh,
            hyperbolic::tanhshrink = TanhShrink,
            hyperbolic::softsign = Softsign,
            hyperbolic::mish = Mish,
        ] $($rest)* }
    };
}

/// `tanh`
pub mod tanh {
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "tanh(x)",
        derivative: "1 − y²",
        saved: Saved::Output,
        kinks: "smooth",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `tanh` (PyTorch's `torch.nn.Tanh`).
        pub fn tanh() -> Activation {
            Activation::new(OpKind::Tanh)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        x.tanh()
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        let e = (-2.0 * x.abs()).exp();
        4.0 * e / ((1.0 + e) * (1.0 + e))
    }
    /// The exact backward factor from the saved output `y`: `1 − y² = (1 − y)(1 + y)`.
    pub fn exact_bwd(y: f64, _a: f64, _b: f64) -> f64 {
        (1.0 - y) * (1.0 + y)
    }

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

/// `tanhshrink`
pub mod tanhshrink {
    use crate::base::exact as ex;
    use crate::base::fastmath::*;
    use crate::base::fastmath64::{at_most, expm1_nonpos, finite64};
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x − tanh(x)",
        derivative: "tanh²(x)",
        saved: Saved::Input,
        kinks: "smooth",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `tanhshrink` (PyTorch's `torch.nn.Tanhshrink`).
        pub fn tanhshrink() -> Activation {
            Activation::new(OpKind::TanhShrink)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        ex::tanhshrink(x)
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        let t = x.tanh();
        t * t
    }

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

/// `softsign`
pub mod softsign {
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x/(1 + |x|)",
        derivative: "1/(1 + |x|)²",
        saved: Saved::Input,
        kinks: "smooth (f'(0) = 1)",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `softsign` (PyTorch's `torch.nn.Softsign`).
        pub fn softsign() -> Activation {
            Activation::new(OpKind::Softsign)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return x.signum();
        }
        x / (1.0 + x.abs())
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        let r = 1.0 / (1.0 + x.abs());
        r * r
    }

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

/// `mish`
pub mod mish {
    use crate::base::exact as ex;
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x·tanh(softplus(x))",
        derivative: "t + x·σ(x)·(1 − t²), t = tanh(softplus(x))",
        saved: Saved::Input,
        kinks: "smooth",
        derivative_roots: &[-1.192_379_902_662_759_3],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `mish` (PyTorch's `torch.nn.Mish`).
        pub fn mish() -> Activation {
            Activation::new(OpKind::Mish)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return if x > 0.0 { x } else { -0.0 };
        }
        x * ex::mish_t(x).0
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return ex::step(x > 0.0);
        }
        if (x - ex::MISH_ROOT).abs() < ex::ROOT_WINDOW {
            // t + x·σ(x)·(1 − t²), t = n/(n + 2), n = e^{2x} + 2e^x, in double-double.
            let e = ex::exp_dd(ex::Dd::from(x));
            let n = e.mul(e.add_f(2.0));
            let d = n.add_f(2.0);
            let t = n.div(d);
            let ope = e.add_f(1.0);
            let one_minus_t2 = ope.mul(ope).scale(4.0).div(d.mul(d));
            let sig = e.div(ope);
            return t.add(sig.mul(one_minus_t2).mul_f(x)).hi;
        }
        let (t, one_minus_t2) = ex::mish_t(x);
        t + x * ex::sigmoid(x) * one_minus_t2
    }

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
