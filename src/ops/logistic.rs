//! The logistic family: sigmoid and the ops built on `σ` and `log1p(e^x)`.
//!
//! Each op's module holds its whole description: `SPEC` (docs, parameters, what the backward
//! reads), the exact f64 reference (`exact_fwd`, `exact_der`, `exact_bwd`) and the fast CPU
//! body (`fwd`, `der`, `bwd`, `bwd_dy`). The WGSL bodies are in `shaders/ops/logistic.wgsl`.

#[allow(unused_imports)]
use crate::base::fastmath::*;

/// This family's entries in the op registry (see `ops/mod.rs`): `module = Variant`.
macro_rules! logistic_ops {
    ($next:ident $d:tt [$($done:tt)*] $($rest:tt)*) => {
        $next! { $d [$($done)*
            logistic::sigmoid = Sigmoid,
            logistic::logsigmoid = LogSigmoid,
            logistic::softplus = Softplus,
            logistic::silu = Silu,
            logistic::swish = Swish,
            logistic::quick_gelu = QuickGelu,
        ] $($rest)* }
    };
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
pub(crate) fn x_sigmoid(x: f32, z: f64) -> f32 {
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
pub(crate) fn x_sigmoid_der(z: f64, g: f64, dy: f32) -> f32 {
    let (s, c) = crate::base::fastmath64::sigmoid_pair::<true>(z);
    (dy as f64 * (s * g.mul_add(c, 1.0))) as f32
}

/// `sigmoid`
pub mod sigmoid {
    use crate::base::exact as ex;
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "1/(1 + exp(−x))",
        derivative: "y·(1 − y)",
        saved: Saved::Output,
        kinks: "smooth",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `sigmoid` (PyTorch's `torch.nn.Sigmoid`).
        pub fn sigmoid() -> Activation {
            Activation::new(OpKind::Sigmoid)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        ex::sigmoid(x)
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        ex::sigmoid_prod(x)
    }
    /// The exact backward factor from the saved output `y`: `y·(1 − y)`.
    pub fn exact_bwd(y: f64, _a: f64, _b: f64) -> f64 {
        y * (1.0 - y)
    }

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

/// `logsigmoid`
pub mod logsigmoid {
    use crate::base::exact as ex;
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "−softplus(−x) = min(x, 0) − log1p(exp(−|x|))",
        derivative: "σ(−x)",
        saved: Saved::Input,
        kinks: "smooth",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `logsigmoid` (PyTorch's `torch.nn.LogSigmoid`).
        pub fn logsigmoid() -> Activation {
            Activation::new(OpKind::LogSigmoid)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        if x >= 0.0 {
            -libm::log1p((-x).exp())
        } else {
            x - libm::log1p(x.exp())
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        ex::sigmoid(-x)
    }

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

/// `softplus`
pub mod softplus {
    use crate::base::exact as ex;
    use crate::base::fastmath64::*;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, ParamRule, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[
            param("beta", 1.0).with_rule(ParamRule::NonZero),
            param("threshold", 20.0),
        ],
        formula: "beta·x > threshold ? x : log1p(exp(beta·x))/beta",
        derivative: "beta·x > threshold ? 1 : σ(beta·x)",
        saved: Saved::Input,
        kinks: "at beta·x = threshold: σ(threshold)",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::Ratio(1, 0)],
        params_ordered: false,
    };

    impl Activation {
        /// `softplus` (PyTorch's `torch.nn.Softplus`). PyTorch's defaults: `beta` = 1.0, `threshold` = 20.0.
        pub fn softplus(beta: f32, threshold: f32) -> Activation {
            Activation::new(OpKind::Softplus).with_values(&[beta, threshold])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, b: f64) -> f64 {
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
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, b: f64) -> f64 {
        let z = a * x;
        if (a as f32 * x as f32) as f64 > b {
            1.0
        } else {
            ex::sigmoid(z)
        }
    }

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

/// `silu`
pub mod silu {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x·σ(x)",
        derivative: "σ(x)·(1 + x·(1 − σ(x)))",
        saved: Saved::Input,
        kinks: "smooth",
        derivative_roots: &[-1.278_464_542_761_074],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `silu` (PyTorch's `torch.nn.SiLU`).
        pub fn silu() -> Activation {
            Activation::new(OpKind::Silu)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return if x > 0.0 { x } else { -0.0 };
        }
        x * ex::sigmoid(x)
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        ex::silu_der(x)
    }

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

/// `swish`
pub mod swish {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, ParamRule, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("beta", 1.0).with_rule(ParamRule::NonZero)],
        formula: "x·σ(beta·x)",
        derivative: "σ(beta·x)·(1 + beta·x·(1 − σ(beta·x)))",
        saved: Saved::Input,
        kinks: "smooth",
        derivative_roots: &[-1.278_464_542_761_074],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `swish` (not in `torch.nn`). PyTorch's defaults: `beta` = 1.0.
        pub fn swish(beta: f32) -> Activation {
            Activation::new(OpKind::Swish).with_values(&[beta])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if a == 0.0 {
            return 0.5 * x;
        }
        let z = a * x; // exact
        let s = ex::sigmoid(z);
        if inf && s == 0.0 {
            return 0.0 * x.signum();
        }
        x * s
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        if a == 0.0 {
            return 0.5;
        }
        ex::silu_der(a * x)
    }

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

/// `quick_gelu`
pub mod quick_gelu {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x·σ(1.702·x)",
        derivative: "σ(1.702x)·(1 + 1.702x·(1 − σ(1.702x)))",
        saved: Saved::Input,
        kinks: "smooth",
        derivative_roots: &[-0.751_154_255_441_289],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `quick_gelu` (not in `torch.nn`).
        pub fn quick_gelu() -> Activation {
            Activation::new(OpKind::QuickGelu)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return if x > 0.0 { x } else { -0.0 };
        }
        x * ex::sigmoid_corr(ex::mul_const(ex::QUICK_GELU, x))
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return ex::step(x > 0.0);
        }
        ex::silu_der_corr(ex::mul_const(ex::QUICK_GELU, x))
    }

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
