//! The GLU family on the fast CPU path (see [`crate::Glu`]): each output from the activation's
//! value or derivative in f64 (the `fastmath64` numerics of the element-wise ops: relative error
//! below 2^-33) times the other factors in f64, rounded once — no f32 intermediate, so no
//! product over- or underflows early. Rows are spread over every core with rayon.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::base::dtype::Element;
use crate::base::error::Result;
use crate::base::fastmath64::{gelu_der_tail, gelu_tail, sigmoid_pair, GELU_U_MAX};
use crate::ops::glu::{
    check_pair, checked_geometry, round_f32_above, special_product, Glu, GluGeometry, GluKind,
};
use crate::ops::softmax::Axis;

/// Output elements per rayon task.
const TASK: usize = 1 << 14;

/// 2·√(2/π) and 2·√(2/π)·0.044715 (gelu_tanh's `z = x·(K1 + K3·x²)`).
const K1: f64 = 1.595_769_121_605_730_7;
const K3: f64 = K1 * 0.044_715;

/// `(h, f')` with `f(t) = h` (glu) or `t·h` (the others): the activation's factor and its
/// derivative at a finite `t`, in f64.
#[inline(always)]
fn parts(g: &Glu, t: f32) -> (f64, f64) {
    let x = t as f64;
    match (g.kind, g.tanh) {
        (GluKind::Glu, _) => {
            let (s, c) = sigmoid_pair::<true>(x);
            (s, s * c)
        }
        (GluKind::SwiGlu, _) => {
            let (s, c) = sigmoid_pair::<true>(x);
            (s, s * x.mul_add(c, 1.0))
        }
        (GluKind::GeGlu, false) => {
            let u = x.abs().min(GELU_U_MAX);
            let q = gelu_tail(u);
            let v = gelu_der_tail(u);
            if x < 0.0 {
                (q, v)
            } else {
                (1.0 - q, 1.0 - v)
            }
        }
        (GluKind::GeGlu, true) => {
            let xc = x.clamp(-1.0e4, 1.0e4);
            let x2 = xc * xc;
            let z = xc * K3.mul_add(x2, K1);
            let gz = xc * (3.0 * K3).mul_add(x2, K1);
            let (s, c) = sigmoid_pair::<true>(z);
            (s, s * gz.mul_add(c, 1.0))
        }
        (GluKind::ReGlu, _) => {
            let on = if x > 0.0 { 1.0 } else { 0.0 };
            (on, on)
        }
    }
}

/// `f(t)` in f64 (finite `t`).
#[inline(always)]
fn act(g: &Glu, t: f32, h: f64) -> f64 {
    match g.kind {
        GluKind::Glu => h,
        GluKind::ReGlu => (t as f64).max(0.0),
        _ => t as f64 * h,
    }
}

/// `f(t)` and `f'(t)` at `t = ±∞`, and at every `t` for the special products (rounded to f32 by
/// the caller): the element-wise ops' limits.
fn limits(g: &Glu, t: f32) -> (f64, f64) {
    if t.is_nan() {
        return (f64::NAN, f64::NAN);
    }
    if t.is_infinite() {
        let pos = t > 0.0;
        let f = match g.kind {
            GluKind::Glu => {
                if pos {
                    1.0
                } else {
                    0.0
                }
            }
            _ if pos => f64::INFINITY,
            GluKind::ReGlu => 0.0,
            _ => -0.0,
        };
        let d = if pos && g.kind != GluKind::Glu {
            1.0
        } else {
            0.0
        };
        return (f, d);
    }
    let (h, d) = parts(g, t);
    (act(g, t, h), d)
}

/// `f(gate)·value` rounded once.
#[inline(always)]
fn forward1(g: &Glu, gate: f32, value: f32) -> f32 {
    if gate.is_finite() && value.is_finite() {
        let (h, _) = parts(g, gate);
        (act(g, gate, h) * value as f64) as f32
    } else {
        let (f, _) = limits(g, gate);
        special_product(&[round_f32_above(f) as f64, value as f64]) as f32
    }
}

/// `(dy·value·f'(gate), dy·f(gate))`, each rounded once.
#[inline(always)]
fn backward1(g: &Glu, gate: f32, value: f32, dy: f32) -> (f32, f32) {
    if gate.is_finite() && value.is_finite() && dy.is_finite() {
        let (h, d) = parts(g, gate);
        let dg = (dy as f64 * value as f64) * d;
        let dv = act(g, gate, h) * dy as f64;
        (dg as f32, dv as f32)
    } else {
        let (_, d) = limits(g, gate);
        let dg = special_product(&[d as f32 as f64, dy as f64, value as f64]);
        (dg as f32, forward1(g, gate, dy))
    }
}

/// One run of the backward: `(dg[j], dv[j]) = backward1(gate[j], value[j], dy[j])`.
#[inline(always)]
fn backward_run(g: &Glu, gate: &[f32], value: &[f32], dy: &[f32], dg: &mut [f32], dv: &mut [f32]) {
    for j in 0..dg.len() {
        (dg[j], dv[j]) = backward1(g, gate[j], value[j], dy[j]);
    }
}

#[inline(always)]
fn backward_run_body(
    g: &Glu,
    gate: &[f32],
    value: &[f32],
    dy: &[f32],
    dg: &mut [f32],
    dv: &mut [f32],
) {
    match (g.kind, g.tanh) {
        (GluKind::Glu, _) => backward_run(&Glu::glu(), gate, value, dy, dg, dv),
        (GluKind::SwiGlu, _) => backward_run(&Glu::swiglu(), gate, value, dy, dg, dv),
        (GluKind::GeGlu, false) => backward_run(&Glu::geglu(), gate, value, dy, dg, dv),
        (GluKind::GeGlu, true) => backward_run(&Glu::geglu_tanh(), gate, value, dy, dg, dv),
        (GluKind::ReGlu, _) => backward_run(&Glu::reglu(), gate, value, dy, dg, dv),
    }
}

/// The loops compiled for AVX2 + FMA and for AVX-512 and picked at run time, as the element-wise
/// loops are (`cpu/mod.rs`): the f64 numerics lean on fused multiply-add, a slow library call
/// without hardware FMA.
macro_rules! multiversion {
    ($name:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features the function was compiled for (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features the function was compiled for (checked above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

multiversion!(forward_run_dispatch, forward_run_body, (g: &Glu, gate: &[f32], value: &[f32], out: &mut [f32]));
multiversion!(
    backward_run_dispatch,
    backward_run_body,
    (g: &Glu, gate: &[f32], value: &[f32], dy: &[f32], dg: &mut [f32], dv: &mut [f32])
);

fn widen<T: Element>(v: &[T]) -> Cow<'_, [f32]> {
    match T::as_f32(v) {
        Some(s) => Cow::Borrowed(s),
        None => {
            let mut out = vec![0.0; v.len()];
            T::load(v, &mut out);
            Cow::Owned(out)
        }
    }
}

fn narrow<T: Element>(v: Vec<f32>) -> Vec<T> {
    let mut out = vec![T::zeroed(); v.len()];
    T::store(&v, &mut out);
    out
}

/// `f(t)` of a finite `t` in f64, for the forward loops (the value only: gelu's derivative
/// tail is not evaluated).
#[inline(always)]
fn value_of(g: &Glu, t: f32) -> f64 {
    let x = t as f64;
    match (g.kind, g.tanh) {
        (GluKind::Glu, _) => sigmoid_pair::<true>(x).0,
        (GluKind::SwiGlu, _) => x * sigmoid_pair::<true>(x).0,
        (GluKind::GeGlu, false) => {
            let q = gelu_tail(x.abs().min(GELU_U_MAX));
            x * if x < 0.0 { q } else { 1.0 - q }
        }
        (GluKind::ReGlu, _) => x.max(0.0),
        (GluKind::GeGlu, true) => act(g, t, parts(g, t).0),
    }
}

/// One row (or run) of the forward: `out[j] = f(gate[j])·value[j]`. Inlined into a loop per op,
/// so the op's branch is taken once per run, not per element.
#[inline(always)]
fn forward_run(g: &Glu, gate: &[f32], value: &[f32], out: &mut [f32]) {
    for ((y, &t), &v) in out.iter_mut().zip(gate).zip(value) {
        *y = if t.is_finite() && v.is_finite() {
            (value_of(g, t) * v as f64) as f32
        } else {
            forward1(g, t, v)
        };
    }
}

#[inline(always)]
fn forward_run_body(g: &Glu, gate: &[f32], value: &[f32], out: &mut [f32]) {
    // A constant op per call of forward_run, so that each arm is compiled for its op alone.
    match (g.kind, g.tanh) {
        (GluKind::Glu, _) => forward_run(&Glu::glu(), gate, value, out),
        (GluKind::SwiGlu, _) => forward_run(&Glu::swiglu(), gate, value, out),
        (GluKind::GeGlu, false) => forward_run(&Glu::geglu(), gate, value, out),
        (GluKind::GeGlu, true) => forward_run(&Glu::geglu_tanh(), gate, value, out),
        (GluKind::ReGlu, _) => forward_run(&Glu::reglu(), gate, value, out),
    }
}

fn forward_geo(g: &Glu, geo: &GluGeometry, gate: &[f32], value: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; geo.n_out];
    if geo.n_in == geo.n_out {
        // The two-input form: runs of TASK elements.
        out.par_chunks_mut(TASK).enumerate().for_each(|(k, o)| {
            let r = k * TASK..k * TASK + o.len();
            forward_run_dispatch(g, &gate[r.clone()], &value[r], o);
        });
        return out;
    }
    let row = geo.half * geo.inner;
    if row == 0 {
        return out;
    }
    let (sg, sv) = geo.shifts(g);
    let rows = (TASK / row).max(1);
    out.par_chunks_mut(rows * row)
        .enumerate()
        .for_each(|(k, o)| {
            for (q, orow) in o.chunks_mut(row).enumerate() {
                let base = 2 * row * (k * rows + q);
                forward_run_dispatch(
                    g,
                    &gate[base + sg..base + sg + row],
                    &value[base + sv..base + sv + row],
                    orow,
                );
            }
        });
    out
}

/// The one-tensor forward: `x` of `shape` (f32 or f16) split along `axis` into the halves `a`,
/// `b` (see [`Glu`] for which is the gate); the output has `shape` with `axis` halved.
///
/// ```
/// use wgpu_activations::{cpu, Glu};
/// // PyTorch's F.glu(x, -1) = a·σ(b): [[1, 2 | 0, 0]] → [[0.5, 1]].
/// let y = cpu::glu(&Glu::glu(), &[1.0f32, 2.0, 0.0, 0.0], &[1, 4], -1)?;
/// assert_eq!(y, [0.5, 1.0]);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
pub fn glu<T: Element>(g: &Glu, x: &[T], shape: &[usize], axis: impl Into<Axis>) -> Result<Vec<T>> {
    let geo = checked_geometry(g, shape, axis.into(), x.len(), None)?;
    let x = widen(x);
    Ok(narrow(forward_geo(g, &geo, &x, &x)))
}

/// The one-tensor backward: `dx` (the shape of `x`: the gate's and the value's gradients in
/// their halves) from `x` and `dy` (the output's shape).
pub fn glu_backward<T: Element>(
    g: &Glu,
    x: &[T],
    dy: &[T],
    shape: &[usize],
    axis: impl Into<Axis>,
) -> Result<Vec<T>> {
    let geo = checked_geometry(g, shape, axis.into(), x.len(), Some(dy.len()))?;
    let (x, dy) = (widen(x), widen(dy));
    let row = geo.half * geo.inner;
    let mut dx = vec![0.0f32; geo.n_in];
    if row == 0 {
        return Ok(narrow(dx));
    }
    let (sg, sv) = geo.shifts(g);
    let rows = (TASK / row).max(1);
    dx.par_chunks_mut(2 * row * rows)
        .enumerate()
        .for_each(|(k, d)| {
            for (q, drow) in d.chunks_mut(2 * row).enumerate() {
                let o = k * rows + q;
                let xr = &x[2 * row * o..2 * row * (o + 1)];
                let dyr = &dy[row * o..row * (o + 1)];
                let (first, second) = drow.split_at_mut(row);
                let (dg, dv) = if sg == 0 {
                    (first, second)
                } else {
                    (second, first)
                };
                backward_run_dispatch(g, &xr[sg..sg + row], &xr[sv..sv + row], dyr, dg, dv);
            }
        });
    Ok(narrow(dx))
}

/// The two-input forward `f(gate) ⊗ value` (same lengths; any shape).
pub fn glu_pair<T: Element>(g: &Glu, gate: &[T], value: &[T]) -> Result<Vec<T>> {
    check_pair(gate.len(), value.len(), None)?;
    let (a, b) = (widen(gate), widen(value));
    Ok(narrow(forward_geo(g, &GluGeometry::pair(a.len()), &a, &b)))
}

/// The two-input backward: `(d gate, d value) = (dy·value·f'(gate), dy·f(gate))`.
pub fn glu_pair_backward<T: Element>(
    g: &Glu,
    gate: &[T],
    value: &[T],
    dy: &[T],
) -> Result<(Vec<T>, Vec<T>)> {
    check_pair(gate.len(), value.len(), Some(dy.len()))?;
    let (a, b, d) = (widen(gate), widen(value), widen(dy));
    let mut dg = vec![0.0f32; a.len()];
    let mut dv = vec![0.0f32; a.len()];
    dg.par_chunks_mut(TASK)
        .zip(dv.par_chunks_mut(TASK))
        .enumerate()
        .for_each(|(k, (og, ov))| {
            let r = k * TASK..k * TASK + og.len();
            backward_run_dispatch(g, &a[r.clone()], &b[r.clone()], &d[r], og, ov);
        });
    Ok((narrow(dg), narrow(dv)))
}
