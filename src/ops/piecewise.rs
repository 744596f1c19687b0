//! Piecewise ops: linear pieces (one rounding at most, so correctly rounded), hardsigmoid's and
//! hardswish's thirds and sixths, and squared_relu.
//!
//! Each op's module holds its whole description: `SPEC` (docs, parameters, what the backward
//! reads), the exact f64 reference (`exact_fwd`, `exact_der`, `exact_bwd`) and the fast CPU
//! body (`fwd`, `der`, `bwd`, `bwd_dy`). The WGSL bodies are in `shaders/ops/piecewise.wgsl`.

#[allow(unused_imports)]
use crate::base::fastmath::*;

/// This family's entries in the op registry (see `ops/mod.rs`): `module = Variant`.
macro_rules! piecewise_ops {
    ($next:ident $d:tt [$($done:tt)*] $($rest:tt)*) => {
        $next! { $d [$($done)*
            piecewise::relu = Relu,
            piecewise::relu6 = Relu6,
            piecewise::leaky_relu = LeakyRelu,
            piecewise::prelu = Prelu,
            piecewise::rrelu = Rrelu,
            piecewise::hardtanh = HardTanh,
            piecewise::hardshrink = HardShrink,
            piecewise::softshrink = SoftShrink,
            piecewise::threshold = Threshold,
            piecewise::hardsigmoid = HardSigmoid,
            piecewise::hardswish = HardSwish,
            piecewise::squared_relu = SquaredRelu,
        ] $($rest)* }
    };
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

/// `relu`
pub mod relu {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "max(0, x)",
        derivative: "x > 0 ? 1 : 0",
        saved: Saved::Input,
        kinks: "f'(0) = 0",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `relu` (PyTorch's `torch.nn.ReLU`).
        pub fn relu() -> Activation {
            Activation::new(OpKind::Relu)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            x
        } else {
            0.0
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        ex::step(x > 0.0)
    }

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

/// `relu6`
pub mod relu6 {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "min(max(0, x), 6)",
        derivative: "0 < x < 6 ? 1 : 0",
        saved: Saved::Input,
        kinks: "f'(0) = 0, f'(6) = 0",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::At(0.0), Kink::At(6.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `relu6` (PyTorch's `torch.nn.ReLU6`).
        pub fn relu6() -> Activation {
            Activation::new(OpKind::Relu6)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        x.clamp(0.0, 6.0)
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        ex::step(x > 0.0 && x < 6.0)
    }

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

/// `leaky_relu`
pub mod leaky_relu {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("negative_slope", 0.01)],
        formula: "x > 0 ? x : negative_slope·x",
        derivative: "x > 0 ? 1 : negative_slope",
        saved: Saved::Input,
        kinks: "f'(0) = negative_slope",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `leaky_relu` (PyTorch's `torch.nn.LeakyReLU`). PyTorch's defaults: `negative_slope` = 0.01.
        pub fn leaky_relu(negative_slope: f32) -> Activation {
            Activation::new(OpKind::LeakyRelu).with_values(&[negative_slope])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            x
        } else {
            ex::slope_mul(a, x)
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            1.0
        } else {
            a
        }
    }

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

/// `prelu`
pub mod prelu {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x > 0 ? x : a_c·x (one slope, or one per channel of [N, C, ...])",
        derivative: "x > 0 ? 1 : a_c; ∂/∂a_c = Σ x ≤ 0 ? x·dy : 0",
        saved: Saved::Input,
        kinks: "f'(0) = a_c",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `prelu` (PyTorch's `torch.nn.PReLU`) with one slope, or one per channel `C` of an `[N, C, inner...]`
        /// layout where `inner` is the number of elements after the channel dimension.
        pub fn prelu(slopes: Vec<f32>, inner: usize) -> Activation {
            Activation::new(OpKind::Prelu).with_slopes(slopes, inner)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            x
        } else {
            ex::slope_mul(a, x)
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            1.0
        } else {
            a
        }
    }

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

/// `rrelu`
pub mod rrelu {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("lower", 1.0 / 8.0), param("upper", 1.0 / 3.0)],
        formula: "x ≥ 0 ? x : a·x; eval a = (lower+upper)/2, training a ~ U(lower, upper) per element (Philox4x32-10 keyed by seed and index)",
        derivative: "x > 0 ? 1 : a",
        saved: Saved::Input,
        kinks: "f'(0) = a",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::At(0.0)],
        params_ordered: true,
    };

    impl Activation {
        /// `rrelu` (PyTorch's `torch.nn.RReLU`). PyTorch's defaults: `lower` = 1.0 / 8.0, `upper` = 1.0 / 3.0.
        pub fn rrelu(lower: f32, upper: f32) -> Activation {
            Activation::new(OpKind::Rrelu).with_values(&[lower, upper])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, _b: f64) -> f64 {
        if x >= 0.0 {
            x
        } else {
            ex::slope_mul(a, x)
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            1.0
        } else {
            a
        }
    }

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

/// `hardtanh`
pub mod hardtanh {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("min_val", -1.0), param("max_val", 1.0)],
        formula: "min(max(x, min_val), max_val)",
        derivative: "min_val < x < max_val ? 1 : 0",
        saved: Saved::Input,
        kinks: "f'(min_val) = f'(max_val) = 0",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::Param(0), Kink::Param(1)],
        params_ordered: true,
    };

    impl Activation {
        /// `hardtanh` (PyTorch's `torch.nn.Hardtanh`). PyTorch's defaults: `min_val` = -1.0, `max_val` = 1.0.
        pub fn hardtanh(min_val: f32, max_val: f32) -> Activation {
            Activation::new(OpKind::HardTanh).with_values(&[min_val, max_val])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, b: f64) -> f64 {
        // PyTorch's clamp: min(max(x, min_val), max_val).
        if x <= a {
            a.min(b)
        } else if x >= b {
            b
        } else {
            x
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, b: f64) -> f64 {
        ex::step(x > a && x < b)
    }

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

/// `hardshrink`
pub mod hardshrink {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, ParamRule, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("lambd", 0.5).with_rule(ParamRule::NonNegative)],
        formula: "|x| > lambd ? x : 0",
        derivative: "|x| > lambd ? 1 : 0",
        saved: Saved::Input,
        kinks: "f'(±lambd) = 0",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::NegParam(0), Kink::Param(0)],
        params_ordered: false,
    };

    impl Activation {
        /// `hardshrink` (PyTorch's `torch.nn.Hardshrink`). PyTorch's defaults: `lambd` = 0.5.
        pub fn hardshrink(lambd: f32) -> Activation {
            Activation::new(OpKind::HardShrink).with_values(&[lambd])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, _b: f64) -> f64 {
        if x.abs() > a {
            x
        } else {
            0.0
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        ex::step(x.abs() > a)
    }

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

/// `softshrink`
pub mod softshrink {
    use crate::base::exact as ex;
    use crate::base::fastmath::*;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, ParamRule, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("lambd", 0.5).with_rule(ParamRule::NonNegative)],
        formula: "x > lambd ? x − lambd : x < −lambd ? x + lambd : 0",
        derivative: "|x| > lambd ? 1 : 0",
        saved: Saved::Input,
        kinks: "f'(±lambd) = 0",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::NegParam(0), Kink::Param(0)],
        params_ordered: false,
    };

    impl Activation {
        /// `softshrink` (PyTorch's `torch.nn.Softshrink`). PyTorch's defaults: `lambd` = 0.5.
        pub fn softshrink(lambd: f32) -> Activation {
            Activation::new(OpKind::SoftShrink).with_values(&[lambd])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, _b: f64) -> f64 {
        if x > a {
            x - a
        } else if x < -a {
            x + a
        } else {
            0.0
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        ex::step(x.abs() > a)
    }

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

/// `threshold`
pub mod threshold {
    use crate::base::exact as ex;
    use crate::ops::activation::Activation;
    use crate::ops::{param, Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[param("threshold", 0.0), param("value", 0.0)],
        formula: "x > threshold ? x : value",
        derivative: "x > threshold ? 1 : 0",
        saved: Saved::Input,
        kinks: "f'(threshold) = 0",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::Param(0)],
        params_ordered: false,
    };

    impl Activation {
        /// `threshold` (PyTorch's `torch.nn.Threshold`). PyTorch's defaults: `threshold` = 0.0, `value` = 0.0.
        pub fn threshold(threshold: f32, value: f32) -> Activation {
            Activation::new(OpKind::Threshold).with_values(&[threshold, value])
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, a: f64, b: f64) -> f64 {
        if x > a {
            x
        } else {
            b
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, a: f64, _b: f64) -> f64 {
        ex::step(x > a)
    }

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

/// `hardsigmoid`
pub mod hardsigmoid {
    use crate::base::fastmath::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x ≤ −3 ? 0 : x ≥ 3 ? 1 : x/6 + 1/2",
        derivative: "−3 < x < 3 ? 1/6 : 0",
        saved: Saved::Input,
        kinks: "f'(±3) = 0",
        derivative_roots: &[],
        piecewise_linear: true,
        kink_points: &[Kink::At(-3.0), Kink::At(3.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `hardsigmoid` (PyTorch's `torch.nn.Hardsigmoid`).
        pub fn hardsigmoid() -> Activation {
            Activation::new(OpKind::HardSigmoid)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        if x <= -3.0 {
            0.0
        } else if x >= 3.0 {
            1.0
        } else {
            (x + 3.0) / 6.0
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        if x > -3.0 && x < 3.0 {
            1.0 / 6.0
        } else {
            0.0
        }
    }

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

/// `hardswish`
pub mod hardswish {
    use crate::base::fastmath::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "x ≤ −3 ? 0 : x ≥ 3 ? x : x·(x + 3)/6",
        derivative: "x < −3 ? 0 : x ≤ 3 ? x/3 + 1/2 : 1",
        saved: Saved::Input,
        kinks: "f'(−3) = −1/2, f'(3) = 3/2",
        derivative_roots: &[-1.5],
        piecewise_linear: false,
        kink_points: &[Kink::At(-3.0), Kink::At(3.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `hardswish` (PyTorch's `torch.nn.Hardswish`).
        pub fn hardswish() -> Activation {
            Activation::new(OpKind::HardSwish)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        if x <= -3.0 {
            0.0
        } else if x >= 3.0 {
            x
        } else {
            x * (x + 3.0) / 6.0
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        if x < -3.0 {
            0.0
        } else if x <= 3.0 {
            (2.0 * x + 3.0) / 6.0
        } else {
            1.0
        }
    }

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

/// `squared_relu`
pub mod squared_relu {
    use crate::base::fastmath::*;
    use crate::ops::activation::Activation;
    use crate::ops::{Kink, OpKind, Saved, Spec};

    pub const SPEC: Spec = Spec {
        params: &[],
        formula: "max(0, x)²",
        derivative: "2·max(0, x)",
        saved: Saved::Input,
        kinks: "f'(0) = 0",
        derivative_roots: &[],
        piecewise_linear: false,
        kink_points: &[Kink::At(0.0)],
        params_ordered: false,
    };

    impl Activation {
        /// `squared_relu` (not in `torch.nn`).
        pub fn squared_relu() -> Activation {
            Activation::new(OpKind::SquaredRelu)
        }
    }

    /// The exact `f(x)` (`x` not NaN; `a`, `b` the first two parameters).
    pub fn exact_fwd(x: f64, _a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            x * x
        } else {
            0.0
        }
    }
    /// The exact `f'(x)`, with the values at the kinks that `SPEC.kinks` lists.
    pub fn exact_der(x: f64, _a: f64, _b: f64) -> f64 {
        if x > 0.0 {
            2.0 * x
        } else {
            0.0
        }
    }
    /// The exact backward factor: `f'(x)`.
    pub fn exact_bwd(s: f64, a: f64, b: f64) -> f64 {
        exact_der(s, a, b)
    }

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
