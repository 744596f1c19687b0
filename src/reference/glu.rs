//! The exact reference of the GLU family (see [`crate::Glu`]): each output is the exact product
//! of the exact activation value (the element-wise ops' f64 references) and the other factors
//! (products of f32 values are exact in f64), rounded once to f32.

use crate::base::error::Result;
use crate::ops::activation::Activation;
use crate::ops::glu::{
    check_pair, checked_geometry, round_f32_above, special_product, Glu, GluGeometry,
};
use crate::ops::softmax::Axis;
use crate::reference::{derivative_exact, forward_exact};

fn params(g: &Glu) -> [f32; 4] {
    Activation::new(g.activation()).params()
}

/// The exact forward value `f(gate)·value` in f64 (see [`crate::Glu`] for which half is the gate).
/// Where an input is not finite: the IEEE product of `f(gate)` rounded to f32 and `value`.
///
/// ```
/// # use wgpu_activations::*;
/// // glu = a·σ(b): gate b = 0, value a = 3.
/// assert_eq!(reference::glu_forward_exact(&Glu::glu(), 0.0, 3.0), 1.5);
/// ```
pub fn glu_forward_exact(g: &Glu, gate: f32, value: f32) -> f64 {
    let f = forward_exact(g.activation(), params(g), gate);
    if gate.is_finite() && value.is_finite() {
        f * value as f64
    } else {
        special_product(&[round_f32_above(f) as f64, value as f64])
    }
}

/// The exact gradients `(d gate, d value) = (dy·value·f'(gate), dy·f(gate))` in f64. Where an
/// input is not finite: the IEEE products with `f'(gate)`, `f(gate)` rounded to f32.
pub fn glu_backward_exact(g: &Glu, gate: f32, value: f32, dy: f32) -> (f64, f64) {
    let d = derivative_exact(g.activation(), params(g), gate);
    let dg = if gate.is_finite() && value.is_finite() && dy.is_finite() {
        (dy as f64 * value as f64) * d
    } else {
        special_product(&[d as f32 as f64, dy as f64, value as f64])
    };
    (dg, glu_forward_exact(g, gate, dy))
}

/// The reference one-tensor forward: `x` of `shape` split along `axis`, each output rounded once.
pub fn glu(g: &Glu, x: &[f32], shape: &[usize], axis: impl Into<Axis>) -> Result<Vec<f32>> {
    let geo = checked_geometry(g, shape, axis.into(), x.len(), None)?;
    Ok(forward_geo(g, &geo, x, x))
}

fn forward_geo(g: &Glu, geo: &GluGeometry, gate: &[f32], value: &[f32]) -> Vec<f32> {
    (0..geo.n_out)
        .map(|i| {
            let (a, b) = geo.source(g, i);
            glu_forward_exact(g, gate[a], value[b]) as f32
        })
        .collect()
}

/// The reference one-tensor backward: `dx` (the shape of `x`) from `x` and `dy` (the output's
/// shape).
pub fn glu_backward(
    g: &Glu,
    x: &[f32],
    dy: &[f32],
    shape: &[usize],
    axis: impl Into<Axis>,
) -> Result<Vec<f32>> {
    let geo = checked_geometry(g, shape, axis.into(), x.len(), Some(dy.len()))?;
    let mut dx = vec![0.0; geo.n_in];
    for (i, &d) in dy.iter().enumerate() {
        let (a, b) = geo.source(g, i);
        let (dg, dv) = glu_backward_exact(g, x[a], x[b], d);
        dx[a] = dg as f32;
        dx[b] = dv as f32;
    }
    Ok(dx)
}

/// The reference two-input forward `f(gate) ⊗ value`.
pub fn glu_pair(g: &Glu, gate: &[f32], value: &[f32]) -> Result<Vec<f32>> {
    check_pair(gate.len(), value.len(), None)?;
    Ok(forward_geo(g, &GluGeometry::pair(gate.len()), gate, value))
}

/// The reference two-input backward: `(d gate, d value)`.
pub fn glu_pair_backward(
    g: &Glu,
    gate: &[f32],
    value: &[f32],
    dy: &[f32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    check_pair(gate.len(), value.len(), Some(dy.len()))?;
    Ok(gate
        .iter()
        .zip(value)
        .zip(dy)
        .map(|((&a, &b), &d)| {
            let (dg, dv) = glu_backward_exact(g, a, b, d);
            (dg as f32, dv as f32)
        })
        .unzip())
}
