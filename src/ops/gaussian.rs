//! The Gaussian family: gelu (`Φ` through `erfc`) and its tanh approximation.
//!
//! Each op's module holds its whole description: `SPEC` (docs, parameters, what the backward
//! reads), the exact f64 reference (`exact_fwd`, `exact_der`, `exact_bwd`) and the fast CPU
//! body (`fwd`, `der`, `bwd`, `bwd_dy`). The WGSL bodies are in `shaders/ops/gaussian.wgsl`.

#[allow(unused_imports)]
use crate::base::fastmath::*;

/// This family's entries in the op registry (see `ops/mod.rs`): `module = Variant`.
macro_rules! gaussian_ops {
    ($next:ident $d:tt [$($done:tt)*] $($rest:tt)*) => {
        $next! { $d [$($done)*
            gaussian::gelu = Gelu,
            gaussian::gelu_tanh = GeluTanh,
        ] $($rest)* }
    };
}

/// `gelu`
pub mod gelu {
    use crate::base::exact as ex;
    use crate::base::fastmath64::{at_least, at_most, gelu_der_tail, gelu_tail, GELU_U_MAX};
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x·Φ(x) = x/2·erfc(−x/√2)",
        derivative: "Φ(x) + x·φ(x)",
        saved: Saved::Input,
        kinks: "smooth",
        derivative_roots: &[-0.751_791_524_693_564_5],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `gelu` (PyTorch's `torch.nn.GELU`).
        pub fn gelu() -> Activation {
            Activation::new(OpKind::Gelu)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return if x > 0.0 { x } else { -0.0 };
        }
        x * ex::phi_cdf(x)
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return ex::step(x > 0.0);
        }
        if (x - ex::GELU_ROOT).abs() < ex::ROOT_WINDOW {
            // Φ(x) + x·φ(x) in double-double (|x/√2| < 0.9: the erf series converges fast).
            let t = ex::FRAC_1_SQRT_2.mul_f(x);
            let cdf = ex::erf_dd(t).add_f(1.0).scale(0.5);
            let pdf = ex::exp_dd(ex::Dd::from(x * x).scale(-0.5)).mul(ex::INV_SQRT_2PI);
            return cdf.add(pdf.mul_f(x)).hi;
        }
        ex::phi_cdf(x) + x * ex::phi_pdf(x)
    }

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

/// `gelu_tanh`
pub mod gelu_tanh {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))",
        derivative: "exact derivative of the tanh form",
        saved: Saved::Input,
        kinks: "smooth",
        derivative_roots: &[-0.752_461_422_071_016_3],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `gelu_tanh` (PyTorch's `torch.nn.GELU(approximate='tanh')`).
        pub fn gelu_tanh() -> Activation {
            Activation::new(OpKind::GeluTanh)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return if x > 0.0 { x } else { -0.0 };
        }
        x * ex::sigmoid_corr(ex::gelu_tanh_w(x))
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        let inf = x.is_infinite();
        if inf {
            return ex::step(x > 0.0);
        }
        let k3 = 1.0 + 3.0 * ex::GELU_TANH_C.hi * (x * x); // 1 + 3c·x²
        let w = ex::gelu_tanh_w(x);
        if (x - ex::GELU_TANH_ROOT).abs() < ex::ROOT_WINDOW {
            // σ(w)·(1 + 2x·σ(−w)·k·(1 + 3c·x²)) in double-double.
            let s = ex::sigmoid_dd(w);
            let s_neg = ex::Dd::from(1.0).sub(s);
            let k3 = ex::GELU_TANH_C.mul_f(3.0 * x * x).add_f(1.0);
            let inner = s_neg
                .mul(ex::SQRT_2_OVER_PI)
                .mul(k3)
                .mul_f(2.0 * x)
                .add_f(1.0);
            return s.mul(inner).hi;
        }
        let s = ex::sigmoid_corr(w);
        let s_neg = ex::sigmoid_corr(w.neg());
        if s == 0.0 {
            return 0.0;
        }
        s * (1.0 + 2.0 * x * s_neg * ex::SQRT_2_OVER_PI.hi * k3)
    }

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
        crate::ops::logistic::x_sigmoid(x, z(x).0)
    }
    /// `σ(z)·(1 + x·z'·σ(−z))`.
    #[inline(always)]
    fn der_dy(x: f32, dy: f32, _p: [f32; 4]) -> f32 {
        let (z, g) = z(x);
        crate::ops::logistic::x_sigmoid_der(z, g, dy)
    }
    from_der_dy!();
}
