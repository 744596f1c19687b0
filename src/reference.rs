//! STUB — being written (f64 exact reference). See the helper's brief.
use crate::activation::OpKind;
/// Exact forward value.
pub fn forward_exact(_op: OpKind, _p: [f32; 4], _x: f32) -> f64 { f64::NAN }
/// Exact derivative.
pub fn derivative_exact(_op: OpKind, _p: [f32; 4], _x: f32) -> f64 { f64::NAN }
/// Exact backward factor from the saved tensor.
pub fn backward_factor_exact(_op: OpKind, _p: [f32; 4], _s: f32) -> f64 { f64::NAN }
/// stub
pub fn params_at(act: &crate::Activation, i: usize) -> [f32; 4] { let mut p = act.params(); if matches!(act.op(), OpKind::LeakyRelu | OpKind::Prelu | OpKind::Rrelu) { p[0] = act.slope_at(i as u64); } p }
/// stub
pub fn forward(act: &crate::Activation, x: &[f32]) -> Vec<f32> { crate::cpu::forward(act, x).unwrap_or_default() }
