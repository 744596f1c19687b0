//! The exponential family: elu, selu, celu (`expm1` below 0).
//!
//! Each op's module holds its whole description: `SPEC` (docs, parameters, what the backward
//! reads), the exact f64 reference (`exact_fwd`, `exact_der`, `exact_bwd`) and the fast CPU
//! body (`fwd`, `der`, `bwd`, `bwd_dy`). The WGSL bodies are in `shaders/ops/exponential.wgsl`.

#[allow(unused_imports)]
use crate::base::fastmath::*;

/// This family's entries in the op registry (see `ops/mod.rs`): `module = Variant`.
macro_rules! exponential_ops {
    ($next:ident $d:tt [$($done:tt)*] $($rest:tt)*) => {
        $next! { $d [$($done)*
            exponential::elu = Elu,
            exponential::selu = Selu,
            exponential::celu = Celu,
        ] $($rest)* }
    };
}

/// `elu`
pub mod elu {
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("alpha", 1.0)],
        formula: "x > 0 ? x : alpha·(exp(x) − 1)",
        derivative: "x > 0 ? 1 : alpha·exp(x)",
        saved: Saved::Input,
        kinks: "f'(0) = alpha",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `elu` (PyTorch's `torch.nn.ELU`). PyTorch's defaults: `alpha` = 1.0.
        pub fn elu(alpha: f32) -> Activation {
            Activation::new(OpKind::Elu).with_values(&[alpha])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            x
        } else {
            a * libm::expm1(x)
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            1.0
        } else {
            a * x.exp()
        }
    }

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

/// `selu`
pub mod selu {
    use crate::base::exact as ex;
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "scale·(x > 0 ? x : α·(exp(x) − 1)), α ≈ 1.6733, scale ≈ 1.0507",
        derivative: "scale·(x > 0 ? 1 : α·exp(x))",
        saved: Saved::Input,
        kinks: "f'(0) = scale·α",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `selu` (PyTorch's `torch.nn.SELU`).
        pub fn selu() -> Activation {
            Activation::new(OpKind::Selu)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            ex::SELU_SCALE * x
        } else {
            ex::SELU_SCALE * (ex::SELU_ALPHA * libm::expm1(x))
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            ex::SELU_SCALE
        } else {
            ex::SELU_SCALE * (ex::SELU_ALPHA * x.exp())
        }
    }

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

/// `celu`
pub mod celu {
    use crate::base::exact as ex;
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, ParamRule, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("alpha", 1.0).with_rule(ParamRule::NonZero)],
        formula: "max(0, x) + min(0, alpha·(exp(x/alpha) − 1))",
        derivative: "x > 0 ? 1 : exp(x/alpha)",
        saved: Saved::Input,
        kinks: "f'(0) = 1",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `celu` (PyTorch's `torch.nn.CELU`). PyTorch's defaults: `alpha` = 1.0.
        pub fn celu(alpha: f32) -> Activation {
            Activation::new(OpKind::Celu).with_values(&[alpha])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            x
        } else {
            a * ex::expm1_corr(ex::div_dd(x, a))
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            1.0
        } else {
            ex::exp_corr(ex::div_dd(x, a))
        }
    }

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
