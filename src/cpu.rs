//! The fast CPU path, run over slices on every core with rayon, in loops the compiler
//! vectorizes. The piecewise ops run the same f32 algorithms as the WGSL kernels; the
//! transcendental ones (exponential, logistic, hyperbolic and Gaussian families) are evaluated in
//! f64 and rounded once (`cpu_ops`, `fastmath64`), which is both faster and more accurate than
//! the GPU's f32 double-float algorithms on a CPU. On x86-64 the loops are compiled twice more and
//! picked at run time: for AVX2 + FMA (the algorithms lean on fused multiply-add, which without
//! hardware FMA is a slow library call) and for AVX-512 (eight f64 lanes per instruction: about
//! twice the throughput of the AVX2 build for the f64 ops).
//!
//! Accuracy: see the README table; [`crate::reference`] is the exact oracle.

use rayon::prelude::*;

use crate::activation::{Activation, Mode, OpKind};
use crate::cpu_ops::dispatch_op;
use crate::error::{Error, Result};
/// The softmax family on the CPU: see [`crate::softmax::cpu`].
pub use crate::softmax::cpu::{
    softmax, softmax_backward, softmax_backward_f16, softmax_backward_into,
    softmax_backward_into_f16, softmax_f16, softmax_into, softmax_into_f16,
};
use half::f16;
use half::slice::HalfFloatSliceExt;

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
    })
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

/// An element type of host slices: f32, or f16 computed in f32 (widened exactly, rounded once
/// back with `half`'s conversion: to nearest even, F16C instructions where the CPU has them).
trait Elem: Copy + Send + Sync {
    /// The slice as f32 (then computed straight from and into memory), or `None`.
    fn as_f32(v: &[Self]) -> Option<&[f32]>;
    fn as_f32_mut(v: &mut [Self]) -> Option<&mut [f32]>;
    fn load(src: &[Self], dst: &mut [f32]);
    fn store(src: &[f32], dst: &mut [Self]);
}

impl Elem for f32 {
    fn as_f32(v: &[f32]) -> Option<&[f32]> {
        Some(v)
    }
    fn as_f32_mut(v: &mut [f32]) -> Option<&mut [f32]> {
        Some(v)
    }
    fn load(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    fn store(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}

impl Elem for f16 {
    fn as_f32(_: &[f16]) -> Option<&[f32]> {
        None
    }
    fn as_f32_mut(_: &mut [f16]) -> Option<&mut [f32]> {
        None
    }
    fn load(src: &[f16], dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has the features the function was compiled for (checked above).
            return unsafe { f16c::widen(src, dst) };
        }
        src.convert_to_f32_slice(dst);
    }
    fn store(src: &[f32], dst: &mut [f16]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx") {
            // SAFETY: as above.
            return unsafe { f16c::narrow(src, dst) };
        }
        dst.convert_from_f32_slice(src);
    }
}

/// f16 ↔ f32 eight at a time with the F16C instructions (`half` converts through 8-element
/// arrays and a call per group, about ten times slower on a block). Rounding to nearest even,
/// NaN kept quiet, as `half`'s: the tail of a block goes through `half`.
#[cfg(target_arch = "x86_64")]
mod f16c {
    use super::*;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn widen(src: &[f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let whole = n / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 <= n for both slices; unaligned loads and stores.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        src[whole..n].convert_to_f32_slice(&mut dst[whole..n]);
    }

    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn narrow(src: &[f32], dst: &mut [f16]) {
        let n = src.len().min(dst.len());
        let whole = n / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: as in `widen`.
            unsafe {
                let f = _mm256_loadu_ps(src.as_ptr().add(i));
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(f);
                _mm_storeu_si128(dst.as_mut_ptr().add(i).cast(), h);
            }
        }
        dst[whole..n].convert_from_f32_slice(&src[whole..n]);
    }
}

/// In place, and for f16: each block is converted to f32 on the stack first, so the vectorized
/// body reads and writes different memory; the copies stay in L1.
const BLOCK: usize = 1024;

fn run<T: Elem>(
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

/// `f(x)` into `out` (same length).
pub fn forward_into(act: &Activation, x: &[f32], out: &mut [f32]) -> Result<()> {
    run(act, Mode::Forward, Src::Slice(x), None, out)
}

/// `f(x)`.
pub fn forward(act: &Activation, x: &[f32]) -> Result<Vec<f32>> {
    let mut out = vec![0.0; x.len()];
    forward_into(act, x, &mut out)?;
    Ok(out)
}

/// `x = f(x)`.
pub fn forward_in_place(act: &Activation, x: &mut [f32]) -> Result<()> {
    run(act, Mode::Forward, Src::InPlace, None, x)
}

/// `f'(x)`.
pub fn derivative(act: &Activation, x: &[f32]) -> Result<Vec<f32>> {
    let mut out = vec![0.0; x.len()];
    derivative_into(act, x, &mut out)?;
    Ok(out)
}

/// `f'(x)` into `out` (same length).
pub fn derivative_into(act: &Activation, x: &[f32], out: &mut [f32]) -> Result<()> {
    run(act, Mode::Derivative, Src::Slice(x), None, out)
}

/// The fused backward `dx = dy · f'(·)`; `saved` is `x`, or `y` where
/// [`Spec::saved`](crate::Spec::saved) says so.
pub fn backward(act: &Activation, saved: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    let mut out = vec![0.0; saved.len()];
    run(act, Mode::Backward, Src::Slice(saved), Some(dy), &mut out)?;
    Ok(out)
}

/// The fused backward into `dx` (same length).
pub fn backward_into(act: &Activation, saved: &[f32], dy: &[f32], dx: &mut [f32]) -> Result<()> {
    run(act, Mode::Backward, Src::Slice(saved), Some(dy), dx)
}

// f16 slices: each block widened to f32 (exact), run through the f32 path, rounded once to f16
// (half's conversion: to nearest, ties to even, overflow to infinity).

pub(crate) fn widen(x: &[f16]) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK))
        .for_each(|(o, i)| i.convert_to_f32_slice(o));
    out
}

pub(crate) fn narrow_into(x: &[f32], out: &mut [f16]) {
    out.par_chunks_mut(TASK)
        .zip(x.par_chunks(TASK))
        .for_each(|(o, i)| o.convert_from_f32_slice(i));
}

/// `f(x)` of f16 values: computed as in [`forward`], rounded once to f16.
pub fn forward_f16(act: &Activation, x: &[f16]) -> Result<Vec<f16>> {
    let mut out = vec![f16::ZERO; x.len()];
    forward_into_f16(act, x, &mut out)?;
    Ok(out)
}

/// `f(x)` of f16 values into `out` (same length).
pub fn forward_into_f16(act: &Activation, x: &[f16], out: &mut [f16]) -> Result<()> {
    run(act, Mode::Forward, Src::Slice(x), None, out)
}

/// `x = f(x)` of f16 values.
pub fn forward_in_place_f16(act: &Activation, x: &mut [f16]) -> Result<()> {
    run(act, Mode::Forward, Src::InPlace, None, x)
}

/// `f'(x)` of f16 values.
pub fn derivative_f16(act: &Activation, x: &[f16]) -> Result<Vec<f16>> {
    let mut out = vec![f16::ZERO; x.len()];
    derivative_into_f16(act, x, &mut out)?;
    Ok(out)
}

/// `f'(x)` of f16 values into `out` (same length).
pub fn derivative_into_f16(act: &Activation, x: &[f16], out: &mut [f16]) -> Result<()> {
    run(act, Mode::Derivative, Src::Slice(x), None, out)
}

/// The fused backward of f16 values (see [`backward`]).
pub fn backward_f16(act: &Activation, saved: &[f16], dy: &[f16]) -> Result<Vec<f16>> {
    let mut out = vec![f16::ZERO; saved.len()];
    backward_into_f16(act, saved, dy, &mut out)?;
    Ok(out)
}

/// The fused backward of f16 values into `dx` (same length).
pub fn backward_into_f16(
    act: &Activation,
    saved: &[f16],
    dy: &[f16],
    dx: &mut [f16],
) -> Result<()> {
    run(act, Mode::Backward, Src::Slice(saved), Some(dy), dx)
}

/// prelu's gradient with respect to its slopes: `Σ_{x ≤ 0 in channel c} x·dy`, one value per slope.
pub fn prelu_slope_grad(act: &Activation, x: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    crate::prelu::slope_grad_cpu(act, x, dy)
}
