//! The fast CPU path, run over slices on every core with rayon, in loops the compiler
//! vectorizes. The piecewise ops run the same f32 algorithms as the WGSL kernels; the
//! transcendental ones (exponential, logistic, hyperbolic and Gaussian families) are evaluated in
//! f64 and rounded once (each op's module in `ops`, on `fastmath64`), which is both faster and more accurate than
//! the GPU's f32 double-float algorithms on a CPU. On x86-64 the loops are compiled twice more and
//! picked at run time: for AVX2 + FMA (the algorithms lean on fused multiply-add, which without
//! hardware FMA is a slow library call) and for AVX-512 (eight f64 lanes per instruction: about
//! twice the throughput of the AVX2 build for the f64 ops).
//!
//! Accuracy: see the README table; [`crate::reference`] is the exact oracle.

use rayon::prelude::*;

use crate::base::dtype::Element;
use crate::base::error::{Error, Result};
use crate::ops::activation::Activation;
use crate::ops::{dispatch_op, Mode, OpKind};

mod glu;
mod prelu;
mod softmax;

pub use glu::{glu, glu_backward, glu_pair, glu_pair_backward};
pub use prelu::prelu_slope_grad;
pub use softmax::{softmax, softmax_backward, softmax_backward_into, softmax_into, softmax_to_f32};

/// Elements per rayon task: large enough to amortise scheduling, small enough to balance.
const TASK: usize = 1 << 15;

#[inline(always)]
fn is_nan(v: f32) -> bool {
    (v.to_bits() & 0x7fff_ffff) > 0x7f80_0000
}

/// True when per-element slopes (prelu, rrelu) are needed.
/// True when every element needs its own slope: prelu with one slope per channel, rrelu in
/// training. (One prelu slope, and rrelu's evaluation slope, travel in `p[0]`.)
fn per_element(act: &Activation) -> bool {
    match act.op() {
        OpKind::Prelu => act.slopes().len() > 1,
        OpKind::Rrelu => act.seed().is_some(),
        _ => false,
    }
}

/// One chunk of `mode` over `a` (and `b` = dy for backward) into `out`; `base` is the index of
/// the chunk's first element in the whole tensor.
#[inline(always)]
fn chunk_body(act: &Activation, mode: Mode, base: usize, a: &[f32], b: &[f32], out: &mut [f32]) {
    let p = act.kernel_params();
    let slopes = per_element(act);
    dispatch_op!(act.op(), m => {
        match (mode, slopes) {
            (Mode::Forward, false) => {
                for (o, &x) in out.iter_mut().zip(a) {
                    let r = m::fwd(x, p);
                    *o = if is_nan(x) { x } else { r };
                }
            }
            (Mode::Derivative, false) => {
                for (o, &x) in out.iter_mut().zip(a) {
                    let r = m::der(x, p);
                    *o = if is_nan(x) { x } else { r };
                }
            }
            (Mode::Backward, false) => {
                for ((o, &s), &dy) in out.iter_mut().zip(a).zip(b) {
                    let r = m::bwd_dy(s, dy, p);
                    let r = if is_nan(s) { s } else { r };
                    *o = if is_nan(dy) { dy } else { r };
                }
            }
            (mode, true) => {
                for (k, o) in out.iter_mut().enumerate() {
                    let mut q = p;
                    q[0] = act.slope_at((base + k) as u64);
                    let x = a[k];
                    let r = match mode {
                        Mode::Forward => m::fwd(x, q),
                        Mode::Derivative => m::der(x, q),
                        Mode::Backward => m::bwd_dy(x, b[k], q),
                    };
                    let r = if is_nan(x) { x } else { r };
                    *o = if mode == Mode::Backward && is_nan(b[k]) { b[k] } else { r };
                }
            }
        }
        // dy = ±inf (rare: a pass of its own keeps the loops above branch-free): the IEEE product
        // dy·f'(s) with f'(s) as computed for dy = 1, its limit at s = ±inf. The fused bodies
        // would scale an infinite dy into NaN, or select 0 where the product is NaN.
        if mode == Mode::Backward && b.iter().any(|d| d.is_infinite()) {
            for (k, o) in out.iter_mut().enumerate() {
                let (s, dy) = (a[k], b[k]);
                if dy.is_infinite() && !is_nan(s) {
                    let mut q = p;
                    if slopes {
                        q[0] = act.slope_at((base + k) as u64);
                    }
                    *o = inf_times(dy, m::bwd(s, q));
                }
            }
        }
    })
}

/// `dy·d` for an infinite `dy`: NaN where `d` is 0 or NaN, ±inf with the product's sign elsewhere.
#[inline(always)]
fn inf_times(dy: f32, d: f32) -> f32 {
    if d == 0.0 || is_nan(d) {
        f32::NAN
    } else {
        dy * d
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_avx2(
    act: &Activation,
    mode: Mode,
    base: usize,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    chunk_body(act, mode, base, a, b, out)
}

/// The same loops with AVX-512: eight f64 lanes per instruction for the ops computed in f64.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn chunk_avx512(
    act: &Activation,
    mode: Mode,
    base: usize,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    chunk_body(act, mode, base, a, b, out)
}

fn chunk(act: &Activation, mode: Mode, base: usize, a: &[f32], b: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features the function was compiled for (checked above).
            return unsafe { chunk_avx512(act, mode, base, a, b, out) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features the function was compiled for (checked above).
            return unsafe { chunk_avx2(act, mode, base, a, b, out) };
        }
    }
    chunk_body(act, mode, base, a, b, out)
}

/// Where the input comes from: a separate slice, or the output itself (in place).
#[derive(Clone, Copy)]
enum Src<'a, T> {
    Slice(&'a [T]),
    InPlace,
}

/// In place, and for f16: each block is converted to f32 on the stack first, so the vectorized
/// body reads and writes different memory; the copies stay in L1.
const BLOCK: usize = 1024;

fn run<T: Element>(
    act: &Activation,
    mode: Mode,
    a: Src<T>,
    b: Option<&[T]>,
    out: &mut [T],
) -> Result<()> {
    act.validate()?;
    let n = out.len();
    if let Src::Slice(a) = a {
        if a.len() != n {
            return Err(Error::LengthMismatch {
                what: "output",
                got: n,
                expected: a.len(),
            });
        }
    }
    if let Some(b) = b {
        if b.len() != n {
            return Err(Error::LengthMismatch {
                what: "dy",
                got: b.len(),
                expected: n,
            });
        }
    }
    if act.op() == OpKind::Prelu {
        let block = act.slopes().len() * act.inner();
        if act.slopes().len() > 1 && !n.is_multiple_of(block) {
            return Err(Error::ShapeMismatch(format!(
                "prelu with {} slopes and {} elements per channel needs a multiple of {block} elements, got {n}",
                act.slopes().len(),
                act.inner(),
            )));
        }
    }
    let b = b.unwrap_or(&[]);
    let task = |k: usize, o: &mut [T]| {
        let s = k * TASK;
        let e = s + o.len();
        let b = if b.is_empty() { b } else { &b[s..e] };
        // f32 from and to memory directly.
        if let (Src::Slice(a), Some(b32)) = (a, T::as_f32(b)) {
            if let (Some(a32), Some(o32)) = (T::as_f32(&a[s..e]), T::as_f32_mut(o)) {
                return chunk(act, mode, s, a32, b32, o32);
            }
        }
        // Through f32 blocks on the stack.
        let (mut ta, mut tb, mut to) = ([0f32; BLOCK], [0f32; BLOCK], [0f32; BLOCK]);
        for (j, o) in o.chunks_mut(BLOCK).enumerate() {
            let (lo, hi, l) = (j * BLOCK, j * BLOCK + o.len(), o.len());
            match a {
                Src::Slice(a) => T::load(&a[s + lo..s + hi], &mut ta[..l]),
                Src::InPlace => T::load(o, &mut ta[..l]),
            }
            let tb = if b.is_empty() {
                &[][..]
            } else {
                T::load(&b[lo..hi], &mut tb[..l]);
                &tb[..l]
            };
            match T::as_f32_mut(o) {
                Some(o32) => chunk(act, mode, s + lo, &ta[..l], tb, o32),
                None => {
                    chunk(act, mode, s + lo, &ta[..l], tb, &mut to[..l]);
                    T::store(&to[..l], o);
                }
            }
        }
    };
    if n <= TASK {
        task(0, out);
    } else {
        out.par_chunks_mut(TASK)
            .enumerate()
            .for_each(|(k, o)| task(k, o));
    }
    Ok(())
}

/// `f(x)` into `out` (same length as `x`).
pub fn forward_into<T: Element>(act: &Activation, x: &[T], out: &mut [T]) -> Result<()> {
    run(act, Mode::Forward, Src::Slice(x), None, out)
}

/// `f(x)` of a slice of f32 or f16 values (f16 computed in f32 and rounded once).
///
/// ```
/// use wgpu_activations::{cpu, Activation};
/// let y = cpu::forward(&Activation::by_name("gelu")?, &[-1.0f32, 0.0, 1.0])?;
/// assert_eq!(y[1], 0.0);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
pub fn forward<T: Element>(act: &Activation, x: &[T]) -> Result<Vec<T>> {
    let mut out = vec![T::zeroed(); x.len()];
    forward_into(act, x, &mut out)?;
    Ok(out)
}

/// `x = f(x)` in place.
pub fn forward_in_place<T: Element>(act: &Activation, x: &mut [T]) -> Result<()> {
    run(act, Mode::Forward, Src::InPlace, None, x)
}

/// `f'(x)`.
pub fn derivative<T: Element>(act: &Activation, x: &[T]) -> Result<Vec<T>> {
    let mut out = vec![T::zeroed(); x.len()];
    derivative_into(act, x, &mut out)?;
    Ok(out)
}

/// `f'(x)` into `out` (same length as `x`).
pub fn derivative_into<T: Element>(act: &Activation, x: &[T], out: &mut [T]) -> Result<()> {
    run(act, Mode::Derivative, Src::Slice(x), None, out)
}

/// The fused backward `dx = dy · f'(·)`; `saved` is `x`, or `y` where
/// [`Spec::saved`](crate::Spec::saved) says so.
pub fn backward<T: Element>(act: &Activation, saved: &[T], dy: &[T]) -> Result<Vec<T>> {
    let mut out = vec![T::zeroed(); saved.len()];
    backward_into(act, saved, dy, &mut out)?;
    Ok(out)
}

/// The fused backward into `dx` (same length).
pub fn backward_into<T: Element>(
    act: &Activation,
    saved: &[T],
    dy: &[T],
    dx: &mut [T],
) -> Result<()> {
    run(act, Mode::Backward, Src::Slice(saved), Some(dy), dx)
}
