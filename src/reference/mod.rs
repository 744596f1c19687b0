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
use crate::ops::{dispatch_op, OpKind};

mod glu;
mod softmax;

pub use glu::{
    glu, glu_backward, glu_backward_exact, glu_forward_exact, glu_pair, glu_pair_backward,
};
pub use softmax::{softmax_backward_exact, softmax_exact};

/// The exact forward value `f(x)` of `op` with parameter vector `p` (in
/// [`Spec::params`](crate::Spec::params) order; for `leaky_relu`, `prelu` and `rrelu` `p[0]` is the
/// element's slope), to a relative error far below one `f32` ULP.
pub fn forward_exact(op: OpKind, p: [f32; 4], x: f32) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    dispatch_op!(op, m => m::exact_fwd(x as f64, p[0] as f64, p[1] as f64))
}

/// The exact derivative `f'(x)` of `op` (always from the input `x`), with the values at the kinks
/// that [`Spec::kinks`](crate::Spec::kinks) lists.
pub fn derivative_exact(op: OpKind, p: [f32; 4], x: f32) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    dispatch_op!(op, m => m::exact_der(x as f64, p[0] as f64, p[1] as f64))
}

/// The factor the fused backward multiplies `dy` by, from the saved tensor `s`: `s = x` for
/// [`Saved::Input`](crate::Saved::Input) ops (then equal to [`derivative_exact`]), `s = y`, the forward output, for
/// [`Saved::Output`](crate::Saved::Output) ops (sigmoid: `y·(1 − y)`, tanh: `1 − y²`).
pub fn backward_factor_exact(op: OpKind, p: [f32; 4], s: f32) -> f64 {
    if s.is_nan() {
        return f64::NAN;
    }
    dispatch_op!(op, m => m::exact_bwd(s as f64, p[0] as f64, p[1] as f64))
}

/// The exact fused backward value `dy·factor` ([`backward_factor_exact`]) in `f64`. A factor
/// beyond the `f64` range at a finite saved value (celu's `e^(x/α)` for a negative `α`) is still
/// a finite real, so `dy = 0` gives a signed 0, not `0·∞ = NaN`.
///
/// An infinite `dy` is no real number, so there the backward is defined as the IEEE product of
/// `dy` and the factor rounded to `f32` (the precision the kernels compute in), with the factor at
/// `s = ±∞` the limit of `f'` (see each op's `exact_der`): `±∞` where the factor is not zero,
/// NaN where it is 0 (the limit at `−∞` of gelu's, silu's, elu's, softsign's derivative…). The
/// GPU kernels and the CPU path give exactly this.
pub fn backward_exact(op: OpKind, p: [f32; 4], s: f32, dy: f32) -> f64 {
    let f = backward_factor_exact(op, p, s);
    if dy.is_infinite() {
        let f = f as f32;
        return if f == 0.0 || f.is_nan() {
            f64::NAN
        } else {
            dy as f64 * f as f64
        };
    }
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
///
/// ```
/// # use wgpu_activations::*;
/// let gelu = Activation::by_name("gelu")?;
/// let exact = reference::forward(&gelu, &[1.0]);
/// assert_eq!(exact[0], 0.841_344_75); // x·Φ(x), rounded once
/// let e = reference::forward_exact(OpKind::Gelu, gelu.params(), 1.0); // the f64 value
/// assert!((e - 0.841_344_746_068_543).abs() < 1e-15);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
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
            op: act.op().name(),
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
    use crate::base::exact::{erf_dd, exp_dd, sigmoid, Dd, SELU_ALPHA, SELU_SCALE};

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
