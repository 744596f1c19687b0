//! The exact softmax family (f64, compensated sums): the oracle of the GPU and CPU paths.

use crate::base::error::Result;
use crate::ops::softmax::{check_len, geometry, Axis, Geometry, Softmax, SoftmaxKind};

/// The exact `f(x)` along `axis` (f64, before rounding to f32): the function of the f32 inputs
/// divided by the temperature in real arithmetic, with a compensated sum; the special rows as
/// the module documentation says.
///
/// ```
/// # use wgpu_activations::*;
/// let p = reference::softmax_exact(&Softmax::softmax(), &[0.0, 0.0], &[2], 0)?;
/// assert_eq!(p, [0.5, 0.5]);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
pub fn softmax_exact(
    sm: &Softmax,
    x: &[f32],
    shape: &[usize],
    axis: impl Into<Axis>,
) -> Result<Vec<f64>> {
    let axis = axis.into().index(sm.kind.name(), shape)?;
    sm.validate()?;
    let g = geometry(sm.kind.name(), shape, axis)?;
    check_len(shape, &g, "x", x.len())?;
    let t = sm.temperature as f64;
    let log = sm.log();
    let sign = if sm.kind == SoftmaxKind::Softmin {
        -1.0
    } else {
        1.0
    };
    let zero = if log { f64::NEG_INFINITY } else { 0.0 };
    let mut out = vec![0.0f64; g.n];
    for_each_row(&g, |idx| {
        let v: Vec<f64> = idx.iter().map(|&k| sign * x[k] as f64).collect();
        let bad = v.iter().any(|v| v.is_nan() || *v == f64::INFINITY);
        let finite: Vec<f64> = v.iter().copied().filter(|v| v.is_finite()).collect();
        if bad || finite.is_empty() {
            let fill = if !bad && sm.safe { zero } else { f64::NAN };
            idx.iter().for_each(|&k| out[k] = fill);
            return;
        }
        let m = finite.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let s = neumaier(finite.iter().map(|&v| ((v - m) / t).exp()));
        let ls = s.ln();
        for (&k, &vk) in idx.iter().zip(&v) {
            out[k] = if !vk.is_finite() {
                zero
            } else if log {
                (vk - m) / t - ls
            } else {
                ((vk - m) / t).exp() / s
            };
        }
    });
    Ok(out)
}

/// The exact backward (f64) from the f32 saved output `y` and `dy`: softmax
/// `y ⊙ (dy − Σ dy ⊙ y) / T`, log_softmax `(dy − e^y ⊙ Σ dy) / T`, softmin −1 times the softmax
/// formula, sums compensated; special rows as the module documentation says.
pub fn softmax_backward_exact(
    sm: &Softmax,
    y: &[f32],
    dy: &[f32],
    shape: &[usize],
    axis: impl Into<Axis>,
) -> Result<Vec<f64>> {
    let axis = axis.into().index(sm.kind.name(), shape)?;
    sm.validate()?;
    let g = geometry(sm.kind.name(), shape, axis)?;
    check_len(shape, &g, "saved output y", y.len())?;
    check_len(shape, &g, "dy", dy.len())?;
    let log = sm.log();
    let b = if sm.kind == SoftmaxKind::Softmin {
        -1.0
    } else {
        1.0
    } / sm.temperature as f64;
    let mut out = vec![0.0f64; g.n];
    for_each_row(&g, |idx| {
        let bad = idx.iter().any(|&k| {
            let (yv, dv) = (y[k], dy[k]);
            !dv.is_finite()
                || if log {
                    yv.is_nan() || yv == f32::INFINITY
                } else {
                    !yv.is_finite()
                }
        });
        if bad {
            idx.iter().for_each(|&k| out[k] = f64::NAN);
            return;
        }
        if log {
            if sm.safe && idx.iter().all(|&k| y[k] == f32::NEG_INFINITY) {
                idx.iter().for_each(|&k| out[k] = 0.0);
                return;
            }
            let s = neumaier(idx.iter().map(|&k| dy[k] as f64));
            for &k in idx {
                out[k] = (dy[k] as f64 - (y[k] as f64).exp() * s) * b;
            }
        } else {
            let s = neumaier(idx.iter().map(|&k| dy[k] as f64 * y[k] as f64));
            for &k in idx {
                out[k] = y[k] as f64 * (dy[k] as f64 - s) * b;
            }
        }
    });
    Ok(out)
}

/// Neumaier's compensated sum.
fn neumaier(values: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut comp) = (0.0f64, 0.0f64);
    for v in values {
        let t = s + v;
        comp += if s.abs() >= v.abs() {
            (s - t) + v
        } else {
            (v - t) + s
        };
        s = t;
    }
    s + comp
}

/// Call `f(row)` with the element indices of every row of `g`.
fn for_each_row(g: &Geometry, mut f: impl FnMut(&[usize])) {
    let mut idx = Vec::with_capacity(g.len);
    for o in 0..g.outer {
        for i in 0..g.inner {
            idx.clear();
            idx.extend((0..g.len).map(|j| (o * g.len + j) * g.inner + i));
            f(&idx);
        }
    }
}
