//! The fast CPU path of the softmax family: f32 values reduced and evaluated in f64 lanes, every
//! result rounded once, on every core (rayon), in loops compiled for AVX-512 and for AVX2 + FMA
//! and picked at run time. The exact oracle is [`crate::reference::softmax_exact`].
//!
//! Forward, per row (softmin is softmax of `−x`: its "maximum" is the minimum, `g` negative):
//!
//! 1. one pass for the maximum `c`, the minimum and whether the row holds a NaN (vectorized,
//!    branch-free); a NaN or `+∞` gives a NaN row, a row without a finite entry NaN (with
//!    `safe`, zeros or −∞);
//! 2. one pass for `s = Σ e^d`, `d = (x − c)·g`, `g = ±1/T`, with `fastmath64::exp_scaled` (the
//!    temperature folded into its constants; a degree-6 polynomial, relative error 2^-29, for
//!    softmax and softmin, degree 7 and exact at 0, 2^-33, for log_softmax, whose `ln s` turns the
//!    sum's error into an absolute one), summed in f64, the `e` kept in an f64 scratch row when the
//!    row is short enough to stay in the core's cache. Its argument is clamped to `±700` only in
//!    rows that need it (a span beyond `700/|g|`, or a −∞ entry, whose `e^−700` no f32 result can
//!    see);
//! 3. one pass writing `y = e·(1/s)` (log_softmax: `d − ln s`, one fused multiply-add), rounded
//!    once to f32.
//!
//! softmax and softmin first try each row in one pass instead, centred on its first entry `x₀`
//! (`e^((x − x₀)·g)` summed and kept, the raw extremes tracked): the result is the same function
//! (shift invariance) with the same relative error per term, valid when every `|x − x₀|·|g|` is at
//! most 600 and the sum is finite (a NaN or an infinity makes it NaN). A row that fails takes the
//! three passes, and so do the rest of its task's rows. Large tensors prefetch the next row's input
//! and output (up to 32 KiB each) while a row is computed.
//!
//! `x − c` is exact in f64 for all but the most distant pairs of f32 values, the temperature
//! divides through `1/T` rounded to f64 (a relative 2^-53), and f64's range holds every
//! `(x − c)/T` of the accepted temperatures, so no double-float arithmetic and no overflow
//! checks are needed: probabilities come out within 0.5 + 2^-4 ULP (0.555 measured),
//! log-probabilities within 0.5 ULP plus an absolute ~2^-33 (from `ln s`; 0.501 ULP measured
//! wherever that allowance does not apply).
//!
//! Rows are spread over the threads, many short rows to a task; fewer than [`FEW_ROWS`] rows of
//! at least [`LONG_ROW`] elements are cut into chunks of [`CHUNK`] elements, each chunk's
//! maximum and its sum relative to that maximum computed in one task (the chunk stays in cache
//! between the two passes), merged as `S = Σ sₖ·e^((cₖ − c)·g)`, and the output pass runs over
//! the chunks again (recomputing `e`: the whole row's scratch would not fit in cache). A non-last
//! axis (`inner > 1`) is processed in blocks of up to [`COLS`] adjacent columns, vectorized
//! across the columns.
//!
//! Backward reads the saved output `y`: `Σ = Σ y·dy` (log_softmax: `Σ dy`) in f64, then
//! `dx = y·(dy − Σ)·(±1/T)` (log_softmax: `(dy − e^y·Σ)·(±1/T)`), rounded once. A row whose `y` or
//! `dy` holds a NaN or an infinity gives a NaN row (log_softmax's −∞ log-probabilities excepted:
//! their `e^y` is 0); with `safe`, a log_softmax row of −∞ gives zeros. For softmax and softmin
//! no flags are needed: `Σ y·dy` is finite exactly when every `y` and `dy` is (a product of two
//! f32 values cannot overflow f64, and a non-finite term keeps the sum non-finite).
//!
//! f16 goes through the same code on f32 copies of blocks of whole rows, chunks or column blocks
//! ([`Element::load`] / [`Element::store`]), rounded once more to f16 at the end.

use rayon::prelude::*;

use crate::base::dtype::{widen, Element};
use crate::base::error::Result;
use crate::base::fastmath64::{exp_scaled, ExpScaled, EXP_ARG_MAX, EXP_E6, EXP_E7};
use crate::ops::softmax::{check_len, geometry, Axis, Geometry, Softmax, SoftmaxKind};

/// The per-call constants of the CPU path.
#[derive(Clone, Copy, Debug)]
struct K {
    /// 0x8000_0000 for softmin (its maximum is taken over `−x`), else 0.
    flip: u32,
    /// `±1/T` (− for softmin): `d = (x − c)·g`, and backward's factor.
    g: f64,
    /// `e^(u·g)` for softmax and softmin (forward).
    e: ExpScaled<7>,
    /// `e^(u·g)` for log_softmax: exact at 0 and closer (its `ln S` turns the sum's relative
    /// error into an absolute one of the result).
    e_log: ExpScaled<8>,
    /// `e^y` (log_softmax's backward).
    e1: ExpScaled<8>,
    safe: bool,
    log: bool,
    /// Whether the forward rows pass prefetches the next row (tensors too large to stay in cache
    /// between calls; in cache the prefetches cost more than they bring).
    ahead: bool,
}

impl K {
    fn new(sm: &Softmax) -> K {
        let softmin = sm.kind == SoftmaxKind::Softmin;
        let g = if softmin { -1.0 } else { 1.0 } / sm.temperature as f64;
        K {
            flip: if softmin { 0x8000_0000 } else { 0 },
            g,
            e: ExpScaled::new(g, EXP_E6),
            e_log: ExpScaled::new(g, EXP_E7),
            e1: ExpScaled::new(1.0, EXP_E7),
            safe: sm.safe,
            log: sm.log(),
            ahead: false,
        }
    }

    /// What a masked entry or a fully masked safe row gives: 0, or −∞ for log_softmax.
    fn zero(&self) -> f32 {
        if self.log {
            f32::NEG_INFINITY
        } else {
            0.0
        }
    }

    /// The fill of a row whose (flipped) maximum is `m`, `nan` whether it holds a NaN: `None` for
    /// an ordinary row (a finite maximum).
    #[inline(always)]
    fn special(&self, m: f32, nan: bool) -> Option<f32> {
        if nan || m == f32::INFINITY {
            Some(f32::NAN)
        } else if m == f32::NEG_INFINITY {
            Some(if self.safe { self.zero() } else { f32::NAN })
        } else {
            None
        }
    }

    /// The centre `c` of `d = (x − c)·g` from the flipped maximum `m`.
    #[inline(always)]
    fn centre(&self, m: f32) -> f64 {
        f32::from_bits(m.to_bits() ^ self.flip) as f64
    }

    /// Whether `e^d` needs its argument clamped in a row whose (flipped) values span
    /// `[lo, hi]` (`hi` finite): when some `d` may lie below −700 (a −∞ entry included).
    #[inline(always)]
    fn needs_clamp(&self, lo: f32, hi: f32) -> bool {
        let span = (hi as f64 - lo as f64) * self.g.abs();
        span.is_nan() || span > EXP_ARG_MAX
    }
}

// ---------------------------------------------------------------------------------------------
// Loop bodies, inlined into the target-feature functions below (branch-free inner loops over
// fixed-width groups, so that LLVM keeps the accumulators in vector registers).

/// f32 lanes of the max pass (two AVX-512 registers).
const L32: usize = 32;
/// f64 lanes of the sum passes (two AVX-512 registers).
const L64: usize = 16;

/// Elements of the next row prefetched by the forward rows pass, in its input and its output
/// (the whole row up to 32 KiB of f32: the hardware prefetchers stop at 4 KiB page boundaries).
/// Measured on one thread: 4096×1024 forward 0.44 → 0.36 ns per element (the input's first page
/// alone: 0.56 → 0.50 before the one-pass rows; two rows ahead: 0.40); 2048×4096 and 4096×2048,
/// which spill to memory, 10 → 14 and 14 → 16 GB/s with the whole row instead of its first page.
/// Backward, with two input streams, got slower (0.27 → 0.33), and long rows prefetched a page
/// ahead within the passes gained nothing, so only this one is kept.
const PF_ROW: usize = 8192;

/// Tensors of at least this many elements prefetch (`K::ahead`): 2 × 4 MiB of f32 or more
/// seldom stays in the cache between calls.
const AHEAD_MIN: usize = 1 << 20;

/// Ask for the cache lines of the `n` elements at `p` (a prefetch only hints: it reads nothing
/// and cannot fault, so `p` need not be borrowed; it points into a live slice anyway).
#[inline(always)]
fn prefetch(p: *const f32, n: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut i = 0;
        while i < n {
            // SAFETY: a prefetch has no effect on the program's memory.
            #[allow(unused_unsafe)]
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(i).cast())
            };
            i += 16;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, n);
}

/// The flipped values' maximum and minimum, and whether any is a NaN.
#[inline(always)]
fn max_body(xs: &[f32], flip: u32) -> (f32, f32, bool) {
    let mut mx = [f32::NEG_INFINITY; L32];
    let mut mn = [f32::INFINITY; L32];
    let mut nan = [0u32; L32];
    let mut it = xs.chunks_exact(L32);
    for ch in &mut it {
        for q in 0..L32 {
            let v = f32::from_bits(ch[q].to_bits() ^ flip);
            mx[q] = if v > mx[q] { v } else { mx[q] };
            mn[q] = if v < mn[q] { v } else { mn[q] };
            nan[q] |= v.is_nan() as u32;
        }
    }
    for (q, &x) in it.remainder().iter().enumerate() {
        let v = f32::from_bits(x.to_bits() ^ flip);
        mx[q] = if v > mx[q] { v } else { mx[q] };
        mn[q] = if v < mn[q] { v } else { mn[q] };
        nan[q] |= v.is_nan() as u32;
    }
    let m = mx
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    let n = mn
        .iter()
        .fold(f32::INFINITY, |a, &b| if b < a { b } else { a });
    (m, n, nan.iter().fold(0, |a, &b| a | b) != 0)
}

/// `e^((x − c)·g)`.
#[inline(always)]
fn term<const N: usize, const CLAMP: bool>(x: f32, c: f64, e: &ExpScaled<N>) -> f64 {
    exp_scaled::<N, CLAMP>(x as f64 - c, e)
}

/// `Σ e^((x − c)·g)` in f64.
#[inline(always)]
fn sum_body<const N: usize, const CLAMP: bool>(xs: &[f32], c: f64, e: &ExpScaled<N>) -> f64 {
    let mut acc = [0f64; L64];
    let mut it = xs.chunks_exact(L64);
    for ch in &mut it {
        for q in 0..L64 {
            acc[q] += term::<N, CLAMP>(ch[q], c, e);
        }
    }
    for (q, &x) in it.remainder().iter().enumerate() {
        acc[q] += term::<N, CLAMP>(x, c, e);
    }
    acc.iter().sum()
}

/// Rows whose entries all lie within this many units of `d` of the first one are computed in one
/// pass centred there (`e^±600` and their sums stay far inside f64's range).
const DIRECT_SPAN: f64 = 600.0;

/// softmax's one-pass attempt: `Σ e^((x − x₀)·g)` keeping each `e` in `es`, `x₀` the first entry,
/// or `None` if some `|x − x₀|·|g|` exceeds [`DIRECT_SPAN`] or an entry is not finite (then `e`
/// may be anything: the row takes the three passes). Shift-invariance makes the result that of
/// the row's maximum, with the same relative accuracy per term; only the extremes of the raw
/// entries are tracked besides (a NaN or an infinity makes the sum NaN).
#[inline(always)]
fn sum_direct_body(xs: &[f32], e: &ExpScaled<7>, es: &mut [f64]) -> Option<f64> {
    let x0 = *xs.first()?;
    let c = x0 as f64;
    let mut acc = [0f64; L64];
    let mut mx = [x0; L64];
    let mut mn = [x0; L64];
    let mut it = xs.chunks_exact(L64).zip(es.chunks_exact_mut(L64));
    for (ch, eo) in &mut it {
        for q in 0..L64 {
            let x = ch[q];
            mx[q] = if x > mx[q] { x } else { mx[q] };
            mn[q] = if x < mn[q] { x } else { mn[q] };
            let v = term::<7, false>(x, c, e);
            eo[q] = v;
            acc[q] += v;
        }
    }
    let done = xs.len() / L64 * L64;
    for (q, (&x, eo)) in xs[done..].iter().zip(&mut es[done..]).enumerate() {
        mx[q] = if x > mx[q] { x } else { mx[q] };
        mn[q] = if x < mn[q] { x } else { mn[q] };
        let v = term::<7, false>(x, c, e);
        *eo = v;
        acc[q] += v;
    }
    let s: f64 = acc.iter().sum();
    let hi = mx.iter().fold(x0, |a, &b| if b > a { b } else { a });
    let lo = mn.iter().fold(x0, |a, &b| if b < a { b } else { a });
    let span = (hi as f64 - c).max(c - lo as f64) * e.scale().abs();
    (s.is_finite() && span <= DIRECT_SPAN).then_some(s)
}

/// [`sum_body`], keeping each `e` in `es` (same length as `xs`).
#[inline(always)]
fn sum_keep_body<const N: usize, const CLAMP: bool>(
    xs: &[f32],
    c: f64,
    e: &ExpScaled<N>,
    es: &mut [f64],
) -> f64 {
    let mut acc = [0f64; L64];
    let mut it = xs.chunks_exact(L64).zip(es.chunks_exact_mut(L64));
    for (ch, eo) in &mut it {
        for q in 0..L64 {
            let v = term::<N, CLAMP>(ch[q], c, e);
            eo[q] = v;
            acc[q] += v;
        }
    }
    let done = xs.len() / L64 * L64;
    for (q, (&x, eo)) in xs[done..].iter().zip(&mut es[done..]).enumerate() {
        let v = term::<N, CLAMP>(x, c, e);
        *eo = v;
        acc[q] += v;
    }
    acc.iter().sum()
}

/// `y = e·inv` from kept `e`.
#[inline(always)]
fn scale_body(es: &[f64], inv: f64, out: &mut [f32]) {
    for (o, &e) in out.iter_mut().zip(es) {
        *o = (e * inv) as f32;
    }
}

/// `y = e^((x − c)·g)·inv`, recomputing `e`.
#[inline(always)]
fn exp_scale_body<const N: usize, const CLAMP: bool>(
    xs: &[f32],
    c: f64,
    e: &ExpScaled<N>,
    inv: f64,
    out: &mut [f32],
) {
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = (term::<N, CLAMP>(x, c, e) * inv) as f32;
    }
}

/// `y = (x − c)·g − l` (one fused multiply-add; −∞ entries give −∞).
#[inline(always)]
fn log_body(xs: &[f32], c: f64, g: f64, l: f64, out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(xs) {
        *o = (x as f64 - c).mul_add(g, -l) as f32;
    }
}

/// Rows at most this long keep their `e` in an f64 scratch row (8 bytes each) between the sum
/// and the output pass; longer ones recompute it.
const KEEP_MAX: usize = 1 << 13;

#[inline(always)]
fn rows_fwd_body(x: &[f32], out: &mut [f32], len: usize, k: &K, es: &mut [f64]) {
    // softmax and softmin try each row in one pass centred on its first entry, while that works.
    let mut direct = !k.log && es.len() >= len;
    let optr = out.as_ptr();
    for (r, (row, o)) in x
        .chunks_exact(len)
        .zip(out.chunks_exact_mut(len))
        .enumerate()
    {
        // The next row's input and output (up to `PF_ROW`), fetched while this one is computed
        // (the output's, so that its stores find their lines).
        let at = (r + 1) * len;
        if k.ahead && at < x.len() {
            let n = len.min(PF_ROW);
            prefetch(x[at..].as_ptr(), n);
            prefetch(optr.wrapping_add(at), n);
        }
        if direct {
            let es = &mut es[..len];
            if let Some(s) = sum_direct_body(row, &k.e, es) {
                scale_body(es, 1.0 / s, o);
                continue;
            }
            direct = false;
        }
        let (m, mn, nan) = max_body(row, k.flip);
        if let Some(f) = k.special(m, nan) {
            o.fill(f);
            continue;
        }
        let c = k.centre(m);
        if k.needs_clamp(mn, m) {
            row_fwd_body::<true>(row, o, c, k, es);
        } else {
            row_fwd_body::<false>(row, o, c, k, es);
        }
    }
}

/// An ordinary row's passes 2 and 3 with centre `c`.
#[inline(always)]
fn row_fwd_body<const CLAMP: bool>(row: &[f32], o: &mut [f32], c: f64, k: &K, es: &mut [f64]) {
    let len = row.len();
    if k.log {
        let s = sum_body::<8, CLAMP>(row, c, &k.e_log);
        log_body(row, c, k.g, s.ln(), o);
    } else if es.len() >= len {
        let es = &mut es[..len];
        let s = sum_keep_body::<7, CLAMP>(row, c, &k.e, es);
        scale_body(es, 1.0 / s, o);
    } else {
        let s = sum_body::<7, CLAMP>(row, c, &k.e);
        exp_scale_body::<7, CLAMP>(row, c, &k.e, 1.0 / s, o);
    }
}

/// A chunk of a long row's statistics.
#[derive(Clone, Copy, Debug)]
struct ChunkStats {
    /// The (flipped) maximum and minimum.
    m: f32,
    mn: f32,
    nan: bool,
    /// `Σ e^((x − cₖ)·g)` relative to the chunk's own centre (0 if the chunk has no finite entry,
    /// or holds a NaN or +∞).
    s: f64,
}

#[inline(always)]
fn chunk_fwd_body(xs: &[f32], k: &K) -> ChunkStats {
    let (m, mn, nan) = max_body(xs, k.flip);
    let s = if nan || !m.is_finite() {
        0.0
    } else {
        let (c, clamp) = (k.centre(m), k.needs_clamp(mn, m));
        match (k.log, clamp) {
            (true, true) => sum_body::<8, true>(xs, c, &k.e_log),
            (true, false) => sum_body::<8, false>(xs, c, &k.e_log),
            (false, true) => sum_body::<7, true>(xs, c, &k.e),
            (false, false) => sum_body::<7, false>(xs, c, &k.e),
        }
    };
    ChunkStats { m, mn, nan, s }
}

/// Columns processed together on a non-last axis.
const COLS: usize = 64;

/// Where a block of columns writes its `len` output rows of `w` elements.
trait BlockOut {
    /// Output row `j`.
    fn row(&mut self, j: usize) -> &mut [f32];
}

/// A contiguous `len × w` buffer.
struct Buf<'a> {
    out: &'a mut [f32],
    w: usize,
}

impl BlockOut for Buf<'_> {
    #[inline(always)]
    fn row(&mut self, j: usize) -> &mut [f32] {
        &mut self.out[j * self.w..(j + 1) * self.w]
    }
}

/// Straight into an f32 tensor: row `j` at `base + j·inner`.
struct Direct<'a> {
    dst: &'a Dst<f32>,
    base: usize,
    inner: usize,
    w: usize,
}

impl BlockOut for Direct<'_> {
    #[inline(always)]
    fn row(&mut self, j: usize) -> &mut [f32] {
        // SAFETY: `forward` and `backward` build a `Direct` only for a column block of their
        // output that is this task's alone, `len` rows within the tensor.
        unsafe { self.dst.segment(self.base + j * self.inner, self.w) }
    }
}

/// Forward over a block of `w ≤ COLS` adjacent columns: element `(j, q)` at `x[j·stride + q]`,
/// `j < len`, written to row `j` of `out`. `es` (empty, or `len·w` long) keeps the `e`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cols_fwd_body(
    x: &[f32],
    stride: usize,
    len: usize,
    w: usize,
    out: &mut impl BlockOut,
    k: &K,
    es: &mut [f64],
) {
    let row = |j: usize| &x[j * stride..j * stride + w];
    let mut mx = [f32::NEG_INFINITY; COLS];
    let mut mn = [f32::INFINITY; COLS];
    let mut nan = [0u32; COLS];
    let (mx, mn, nan) = (&mut mx[..w], &mut mn[..w], &mut nan[..w]);
    for j in 0..len {
        for (((m, n), a), &x) in mx
            .iter_mut()
            .zip(mn.iter_mut())
            .zip(nan.iter_mut())
            .zip(row(j))
        {
            let v = f32::from_bits(x.to_bits() ^ k.flip);
            *m = if v > *m { v } else { *m };
            *n = if v < *n { v } else { *n };
            *a |= v.is_nan() as u32;
        }
    }
    let mut c = [0f64; COLS];
    let mut fill = [None; COLS];
    let (c, fill) = (&mut c[..w], &mut fill[..w]);
    let mut clamp = false;
    for q in 0..w {
        fill[q] = k.special(mx[q], nan[q] != 0);
        // Special columns are computed on a harmless centre and overwritten at the end.
        c[q] = if fill[q].is_some() {
            0.0
        } else {
            clamp |= k.needs_clamp(mn[q], mx[q]);
            k.centre(mx[q])
        };
    }
    if clamp {
        cols_fwd_pass::<true>(x, stride, len, w, out, k, es, c);
    } else {
        cols_fwd_pass::<false>(x, stride, len, w, out, k, es, c);
    }
    for (q, f) in fill.iter().enumerate() {
        if let Some(f) = *f {
            for j in 0..len {
                out.row(j)[q] = f;
            }
        }
    }
}

/// [`cols_fwd_body`]'s passes 2 and 3, with the columns' centres `c` (special columns hold a
/// harmless centre: their `e` are whatever and their output is overwritten).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cols_fwd_pass<const CLAMP: bool>(
    x: &[f32],
    stride: usize,
    len: usize,
    w: usize,
    out: &mut impl BlockOut,
    k: &K,
    es: &mut [f64],
    c: &[f64],
) {
    let row = |j: usize| &x[j * stride..j * stride + w];
    let mut s = [0f64; COLS];
    let s = &mut s[..w];
    let keep = es.len() >= len * w;
    for j in 0..len {
        if keep {
            let e = &mut es[j * w..j * w + w];
            for (((s, e), &c), &x) in s.iter_mut().zip(e).zip(c).zip(row(j)) {
                let v = term::<7, CLAMP>(x, c, &k.e);
                *e = v;
                *s += v;
            }
        } else if k.log {
            for ((s, &c), &x) in s.iter_mut().zip(c).zip(row(j)) {
                *s += term::<8, CLAMP>(x, c, &k.e_log);
            }
        } else {
            for ((s, &c), &x) in s.iter_mut().zip(c).zip(row(j)) {
                *s += term::<7, CLAMP>(x, c, &k.e);
            }
        }
    }
    // 1/s, or ln s for log_softmax.
    let mut v = [0f64; COLS];
    let v = &mut v[..w];
    for (v, &s) in v.iter_mut().zip(s.iter()) {
        *v = if k.log { s.ln() } else { 1.0 / s };
    }
    let g = k.g;
    for j in 0..len {
        let o = &mut out.row(j)[..w];
        if k.log {
            for (((o, &c), &v), &x) in o.iter_mut().zip(c).zip(v.iter()).zip(row(j)) {
                *o = (x as f64 - c).mul_add(g, -v) as f32;
            }
        } else if keep {
            let e = &es[j * w..j * w + w];
            for ((o, &e), &v) in o.iter_mut().zip(e).zip(v.iter()) {
                *o = (e * v) as f32;
            }
        } else {
            for (((o, &c), &v), &x) in o.iter_mut().zip(c).zip(v.iter()).zip(row(j)) {
                *o = (term::<7, CLAMP>(x, c, &k.e) * v) as f32;
            }
        }
    }
}

/// Backward statistics of a row, or of a slice of one.
#[derive(Clone, Copy, Debug)]
struct BwdStats {
    /// `Σ y·dy` (log_softmax: `Σ dy`).
    s: f64,
    /// log_softmax only (else 0): the maximum and minimum of `y`, and whether a `y` is NaN.
    m: f32,
    mn: f32,
    nan: bool,
}

impl BwdStats {
    fn merge(self, o: BwdStats) -> BwdStats {
        BwdStats {
            s: self.s + o.s,
            m: if o.m > self.m { o.m } else { self.m },
            mn: if o.mn < self.mn { o.mn } else { self.mn },
            nan: self.nan || o.nan,
        }
    }

    /// The fill of a row with these statistics, or `None` for an ordinary row (a non-finite
    /// `dy`, or for softmax and softmin a non-finite `y`, makes `s` non-finite).
    #[inline(always)]
    fn special(&self, k: &K) -> Option<f32> {
        if !self.s.is_finite() || self.nan || self.m == f32::INFINITY {
            Some(f32::NAN)
        } else if k.log && k.safe && self.m == f32::NEG_INFINITY {
            Some(0.0)
        } else {
            None
        }
    }

    /// Whether log_softmax's `e^y` needs its argument clamped (some `y` beyond ±700, or −∞).
    #[inline(always)]
    fn clamp(&self) -> bool {
        !(self.mn as f64 >= -EXP_ARG_MAX && self.m as f64 <= EXP_ARG_MAX)
    }
}

/// Backward statistics of a slice of a row.
#[inline(always)]
fn bwd_sum_body(ys: &[f32], dys: &[f32], log: bool) -> BwdStats {
    let mut acc = [0f64; L64];
    let done = ys.len() / L64 * L64;
    if log {
        let mut mx = [f32::NEG_INFINITY; L64];
        let mut mn = [f32::INFINITY; L64];
        let mut nan = [0u32; L64];
        for (yc, dc) in ys.chunks_exact(L64).zip(dys.chunks_exact(L64)) {
            for q in 0..L64 {
                acc[q] += dc[q] as f64;
                mx[q] = if yc[q] > mx[q] { yc[q] } else { mx[q] };
                mn[q] = if yc[q] < mn[q] { yc[q] } else { mn[q] };
                nan[q] |= yc[q].is_nan() as u32;
            }
        }
        for (q, (&y, &dy)) in ys[done..].iter().zip(&dys[done..]).enumerate() {
            acc[q] += dy as f64;
            mx[q] = if y > mx[q] { y } else { mx[q] };
            mn[q] = if y < mn[q] { y } else { mn[q] };
            nan[q] |= y.is_nan() as u32;
        }
        BwdStats {
            s: acc.iter().sum(),
            m: mx
                .iter()
                .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a }),
            mn: mn
                .iter()
                .fold(f32::INFINITY, |a, &b| if b < a { b } else { a }),
            nan: nan.iter().fold(0, |a, &b| a | b) != 0,
        }
    } else {
        for (yc, dc) in ys.chunks_exact(L64).zip(dys.chunks_exact(L64)) {
            for q in 0..L64 {
                acc[q] = (yc[q] as f64).mul_add(dc[q] as f64, acc[q]);
            }
        }
        for (q, (&y, &dy)) in ys[done..].iter().zip(&dys[done..]).enumerate() {
            acc[q] = (y as f64).mul_add(dy as f64, acc[q]);
        }
        BwdStats {
            s: acc.iter().sum(),
            m: 0.0,
            mn: 0.0,
            nan: false,
        }
    }
}

/// `e^y`, exactly 0 for `y = −∞` (with `CLAMP`; without, `|y| ≤ 700`).
#[inline(always)]
fn exp_y<const CLAMP: bool>(y: f32, k: &K) -> f64 {
    let e = exp_scaled::<8, CLAMP>(y as f64, &k.e1);
    if CLAMP && y == f32::NEG_INFINITY {
        0.0
    } else {
        e
    }
}

/// Backward's output over a slice of a row with sum `s` (log_softmax's `e^y` clamped if
/// `clamp`).
#[inline(always)]
fn bwd_out_body(ys: &[f32], dys: &[f32], dx: &mut [f32], s: f64, clamp: bool, k: &K) {
    let b = k.g;
    if k.log && clamp {
        for ((o, &y), &dy) in dx.iter_mut().zip(ys).zip(dys) {
            *o = ((-exp_y::<true>(y, k)).mul_add(s, dy as f64) * b) as f32;
        }
    } else if k.log {
        for ((o, &y), &dy) in dx.iter_mut().zip(ys).zip(dys) {
            *o = ((-exp_y::<false>(y, k)).mul_add(s, dy as f64) * b) as f32;
        }
    } else {
        for ((o, &y), &dy) in dx.iter_mut().zip(ys).zip(dys) {
            *o = ((dy as f64 - s) * y as f64 * b) as f32;
        }
    }
}

#[inline(always)]
fn rows_bwd_body(ys: &[f32], dys: &[f32], dx: &mut [f32], len: usize, k: &K) {
    for ((yr, dr), xr) in ys
        .chunks_exact(len)
        .zip(dys.chunks_exact(len))
        .zip(dx.chunks_exact_mut(len))
    {
        let st = bwd_sum_body(yr, dr, k.log);
        match st.special(k) {
            Some(f) => xr.fill(f),
            None => bwd_out_body(yr, dr, xr, st.s, st.clamp(), k),
        }
    }
}

/// Backward over a block of `w ≤ COLS` adjacent columns (layout as [`cols_fwd_body`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cols_bwd_body(
    ys: &[f32],
    dys: &[f32],
    stride: usize,
    len: usize,
    w: usize,
    dx: &mut impl BlockOut,
    k: &K,
) {
    let mut s = [0f64; COLS];
    let mut mx = [f32::NEG_INFINITY; COLS];
    let mut mn = [f32::INFINITY; COLS];
    let mut nan = [0u32; COLS];
    let (s, mx, mn, nan) = (&mut s[..w], &mut mx[..w], &mut mn[..w], &mut nan[..w]);
    for j in 0..len {
        let at = j * stride;
        let (y, d) = (&ys[at..at + w], &dys[at..at + w]);
        if k.log {
            for (((((s, m), n), a), &y), &d) in s
                .iter_mut()
                .zip(mx.iter_mut())
                .zip(mn.iter_mut())
                .zip(nan.iter_mut())
                .zip(y)
                .zip(d)
            {
                *s += d as f64;
                *m = if y > *m { y } else { *m };
                *n = if y < *n { y } else { *n };
                *a |= y.is_nan() as u32;
            }
        } else {
            for ((s, &y), &d) in s.iter_mut().zip(y).zip(d) {
                *s = (y as f64).mul_add(d as f64, *s);
            }
        }
    }
    let mut special = [None; COLS];
    let special = &mut special[..w];
    let mut clamp = false;
    for q in 0..w {
        let st = BwdStats {
            s: s[q],
            m: if k.log { mx[q] } else { 0.0 },
            mn: if k.log { mn[q] } else { 0.0 },
            nan: nan[q] != 0,
        };
        special[q] = st.special(k);
        clamp |= special[q].is_none() && st.clamp();
    }
    let b = k.g;
    for j in 0..len {
        let at = j * stride;
        let (y, d) = (&ys[at..at + w], &dys[at..at + w]);
        let o = &mut dx.row(j)[..w];
        if k.log && clamp {
            for (((o, &s), &y), &d) in o.iter_mut().zip(s.iter()).zip(y).zip(d) {
                *o = ((-exp_y::<true>(y, k)).mul_add(s, d as f64) * b) as f32;
            }
        } else if k.log {
            for (((o, &s), &y), &d) in o.iter_mut().zip(s.iter()).zip(y).zip(d) {
                *o = ((-exp_y::<false>(y, k)).mul_add(s, d as f64) * b) as f32;
            }
        } else {
            for (((o, &s), &y), &d) in o.iter_mut().zip(s.iter()).zip(y).zip(d) {
                *o = ((d as f64 - s) * y as f64 * b) as f32;
            }
        }
    }
    for (q, f) in special.iter().enumerate() {
        if let Some(f) = *f {
            for j in 0..len {
                dx.row(j)[q] = f;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The bodies compiled for the CPU's vector extensions.

/// Define `$name` three times: as written, compiled for AVX2 + FMA, and for AVX-512 (eight f64
/// lanes per instruction), the best the CPU has picked at run time (the numerics lean on fused
/// multiply-adds, a slow library call without hardware FMA).
macro_rules! simd_fn {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `wide` was compiled for (checked above).
                    return unsafe { wide($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features `fast` was compiled for (checked above).
                    return unsafe { fast($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

simd_fn! {
    /// Forward over consecutive whole rows of `len` elements.
    fn rows_fwd(x: &[f32], out: &mut [f32], len: usize, k: &K, es: &mut [f64]) {
        rows_fwd_body(x, out, len, k, es)
    }
}

simd_fn! {
    /// A long row's chunk: maximum, NaN flag and sum relative to its own maximum.
    fn chunk_fwd(xs: &[f32], k: &K) -> ChunkStats {
        chunk_fwd_body(xs, k)
    }
}

simd_fn! {
    /// A long row's chunk of output, given the row's centre `c` and `v` = 1/S (log: ln S).
    fn chunk_fwd_out(xs: &[f32], out: &mut [f32], c: f64, v: f64, clamp: bool, k: &K) {
        if k.log {
            log_body(xs, c, k.g, v, out)
        } else if clamp {
            exp_scale_body::<7, true>(xs, c, &k.e, v, out)
        } else {
            exp_scale_body::<7, false>(xs, c, &k.e, v, out)
        }
    }
}

simd_fn! {
    /// Forward over a block of columns into a contiguous buffer (see [`cols_fwd_body`]).
    fn cols_fwd_buf(x: &[f32], stride: usize, len: usize, w: usize, out: &mut [f32], k: &K, es: &mut [f64]) {
        cols_fwd_body(x, stride, len, w, &mut Buf { out, w }, k, es)
    }
}

simd_fn! {
    /// Forward over a block of columns straight into the f32 output (see [`cols_fwd_body`]).
    fn cols_fwd_direct(x: &[f32], stride: usize, len: usize, w: usize, out: &mut Direct, k: &K, es: &mut [f64]) {
        cols_fwd_body(x, stride, len, w, out, k, es)
    }
}

simd_fn! {
    /// Backward over consecutive whole rows of `len` elements.
    fn rows_bwd(ys: &[f32], dys: &[f32], dx: &mut [f32], len: usize, k: &K) {
        rows_bwd_body(ys, dys, dx, len, k)
    }
}

simd_fn! {
    /// Backward statistics of a long row's chunk.
    fn chunk_bwd(ys: &[f32], dys: &[f32], log: bool) -> BwdStats {
        bwd_sum_body(ys, dys, log)
    }
}

simd_fn! {
    /// Backward output of a long row's chunk with the row's sum `s`.
    fn chunk_bwd_out(ys: &[f32], dys: &[f32], dx: &mut [f32], s: f64, clamp: bool, k: &K) {
        bwd_out_body(ys, dys, dx, s, clamp, k)
    }
}

simd_fn! {
    /// Backward over a block of columns into a contiguous buffer (see [`cols_bwd_body`]).
    fn cols_bwd_buf(ys: &[f32], dys: &[f32], stride: usize, len: usize, w: usize, dx: &mut [f32], k: &K) {
        cols_bwd_body(ys, dys, stride, len, w, &mut Buf { out: dx, w }, k)
    }
}

simd_fn! {
    /// Backward over a block of columns straight into the f32 output (see [`cols_bwd_body`]).
    fn cols_bwd_direct(ys: &[f32], dys: &[f32], stride: usize, len: usize, w: usize, dx: &mut Direct, k: &K) {
        cols_bwd_body(ys, dys, stride, len, w, dx, k)
    }
}

// ---------------------------------------------------------------------------------------------
// Drivers: f32 slices directly, f16 through f32 blocks.

/// Elements per rayon task.
const TASK: usize = 1 << 15;
/// Rows at least this long, and fewer than [`FEW_ROWS`] of them, are cut into chunks.
const LONG_ROW: usize = 1 << 16;
const FEW_ROWS: usize = 64;
/// Elements per chunk of a long row (128 KiB of f32: in the core's L2 between its two passes).
const CHUNK: usize = 1 << 15;
/// f16 values are converted to f32 this many elements at a time (whole rows, at least one).
const F16_BLOCK: usize = 4096;

/// Rows per task for rows of `len` elements.
fn rows_per_task(len: usize) -> usize {
    (TASK / len.max(1)).max(1)
}

/// `f(x)` on an f32 view of `x`: the slice itself, or an f32 copy.
fn with_f32<T: Element, R>(x: &[T], f: impl FnOnce(&[f32]) -> R) -> R {
    match T::as_f32(x) {
        Some(a) => f(a),
        None => f(&widen(x)),
    }
}

/// `f(a, b, out)` on f32 views of `a`, `b` (empty, or as long as `out`) and `out`: the slices
/// themselves, or f32 copies of `block` elements at a time (`block` a multiple of whatever `f`
/// needs whole).
fn map_f32<T: Element>(
    a: &[T],
    b: &[T],
    out: &mut [T],
    block: usize,
    mut f: impl FnMut(&[f32], &[f32], &mut [f32]),
) {
    if let (Some(a32), Some(b32)) = (T::as_f32(a), T::as_f32(b)) {
        if let Some(o32) = T::as_f32_mut(out) {
            return f(a32, b32, o32);
        }
    }
    let size = block.min(out.len());
    let (mut ta, mut tb, mut to) = (vec![0f32; size], vec![0f32; size], vec![0f32; size]);
    for (k, ob) in out.chunks_mut(block).enumerate() {
        let n = ob.len();
        let at = k * block;
        T::load(&a[at..at + n], &mut ta[..n]);
        let tb = if b.is_empty() {
            &[][..]
        } else {
            T::load(&b[at..at + n], &mut tb[..n]);
            &tb[..n]
        };
        f(&ta[..n], tb, &mut to[..n]);
        T::store(&to[..n], ob);
    }
}

/// Each task writes whole column blocks of one tensor, disjoint from every other task's.
#[derive(Clone, Copy)]
struct Dst<T>(*mut T);

// SAFETY: the pointer is only used to write ranges that no other task writes (`Dst::segment`).
unsafe impl<T: Send> Send for Dst<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Dst<T> {}

impl<T> Dst<T> {
    /// The `w` elements at `at`.
    ///
    /// # Safety
    /// `at + w` is within the tensor, and no other live reference covers the range.
    #[allow(clippy::mut_from_ref)]
    unsafe fn segment(&self, at: usize, w: usize) -> &mut [T] {
        // SAFETY: the caller's.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(at), w) }
    }
}

/// `(outer slice, column block)` pairs of a non-last axis, grouped into tasks of about
/// [`TASK`] elements: `f(first pair, pairs)` on every core.
fn for_column_blocks(g: &Geometry, f: impl Fn(usize, usize) + Sync) {
    let blocks = g.inner.div_ceil(COLS);
    let pairs = g.outer * blocks;
    let per = (TASK / (g.len * COLS.min(g.inner)).max(1)).max(1);
    (0..pairs.div_ceil(per))
        .into_par_iter()
        .for_each(|t| f(t * per, per.min(pairs - t * per)));
}

/// The column block of pair `p`: the offset of its first element and its width.
fn column_block(g: &Geometry, p: usize) -> (usize, usize) {
    let blocks = g.inner.div_ceil(COLS);
    let (o, b) = (p / blocks, p % blocks);
    let i0 = b * COLS;
    (o * g.len * g.inner + i0, COLS.min(g.inner - i0))
}

/// Load the column block at `base` (`len` rows of `w`, stride `inner`) into `buf` (`len·w`).
fn load_block<T: Element>(x: &[T], base: usize, g: &Geometry, w: usize, buf: &mut [f32]) {
    for j in 0..g.len {
        let at = base + j * g.inner;
        T::load(&x[at..at + w], &mut buf[j * w..j * w + w]);
    }
}

/// Store `buf` (`len` rows of `w`) into the column block at `base` of the tensor behind `dst`.
///
/// # Safety
/// The block is this task's alone, within the tensor of geometry `g`.
unsafe fn store_block<T: Element>(dst: &Dst<T>, base: usize, g: &Geometry, w: usize, buf: &[f32]) {
    for j in 0..g.len {
        // SAFETY: the caller's.
        let seg = unsafe { dst.segment(base + j * g.inner, w) };
        T::store(&buf[j * w..j * w + w], seg);
    }
}

/// Column blocks at most this large (elements) keep their `e` in an f64 scratch.
const KEEP_BLOCK_MAX: usize = 1 << 14;

fn forward<T: Element>(
    sm: &Softmax,
    x: &[T],
    shape: &[usize],
    axis: usize,
    out: &mut [T],
) -> Result<()> {
    sm.validate()?;
    let g = geometry(sm.kind.name(), shape, axis)?;
    check_len(shape, &g, "x", x.len())?;
    check_len(shape, &g, "the output", out.len())?;
    if g.n == 0 {
        return Ok(());
    }
    let k = K {
        ahead: g.n >= AHEAD_MIN,
        ..K::new(sm)
    };
    if g.inner == 1 && g.len >= LONG_ROW && g.outer < FEW_ROWS {
        for (row, orow) in x.chunks_exact(g.len).zip(out.chunks_exact_mut(g.len)) {
            forward_long_row(row, orow, &k);
        }
    } else if g.inner == 1 {
        let len = g.len;
        let piece = rows_per_task(len) * len;
        let block = (F16_BLOCK / len).max(1) * len;
        x.par_chunks(piece)
            .zip(out.par_chunks_mut(piece))
            .for_each(|(xs, os)| {
                let keep = if k.log || len > KEEP_MAX { 0 } else { len };
                let mut es = vec![0f64; keep];
                // `map_f32` hands out whole rows, a block at a time.
                map_f32(xs, &[], os, block, |a, _, o| {
                    rows_fwd(a, o, len, &k, &mut es)
                })
            });
    } else {
        let dst = Dst(out.as_mut_ptr());
        let dst32 = Dst(out.as_mut_ptr().cast::<f32>());
        let bw = COLS.min(g.inner) * g.len;
        for_column_blocks(&g, |first, count| {
            // f32 is read and written in place, f16 through f32 copies of each block.
            let f32_in = T::as_f32(x);
            let size = if f32_in.is_some() { 0 } else { bw };
            let (mut xb, mut ob) = (vec![0f32; size], vec![0f32; size]);
            let keep = !k.log && bw <= KEEP_BLOCK_MAX;
            let mut es = vec![0f64; if keep { bw } else { 0 }];
            for p in first..first + count {
                let (base, w) = column_block(&g, p);
                let n = g.len * w;
                let es = if keep { &mut es[..n] } else { &mut es[..0] };
                match f32_in {
                    Some(a) => {
                        let mut o = Direct {
                            dst: &dst32,
                            base,
                            inner: g.inner,
                            w,
                        };
                        cols_fwd_direct(&a[base..], g.inner, g.len, w, &mut o, &k, es);
                    }
                    None => {
                        load_block(x, base, &g, w, &mut xb[..n]);
                        cols_fwd_buf(&xb[..n], w, g.len, w, &mut ob[..n], &k, es);
                        // SAFETY: pair `p`'s column block is this task's alone.
                        unsafe { store_block(&dst, base, &g, w, &ob[..n]) };
                    }
                }
            }
        });
    }
    Ok(())
}

/// One long row, cut into chunks over the cores.
fn forward_long_row<T: Element>(row: &[T], out: &mut [T], k: &K) {
    let parts: Vec<ChunkStats> = row
        .par_chunks(CHUNK)
        .map(|p| with_f32(p, |a| chunk_fwd(a, k)))
        .collect();
    let m = parts
        .iter()
        .fold(f32::NEG_INFINITY, |a, p| if p.m > a { p.m } else { a });
    let mn = parts
        .iter()
        .fold(f32::INFINITY, |a, p| if p.mn < a { p.mn } else { a });
    let fill = k.special(m, parts.iter().any(|p| p.nan));
    let c = k.centre(m);
    let clamp = k.needs_clamp(mn, m);
    let mut s = 0.0;
    if fill.is_none() {
        for p in &parts {
            if p.m != f32::NEG_INFINITY {
                s += p.s * ((k.centre(p.m) - c) * k.g).exp();
            }
        }
    }
    let v = if k.log { s.ln() } else { 1.0 / s };
    out.par_chunks_mut(CHUNK)
        .zip(row.par_chunks(CHUNK))
        .for_each(|(o, p)| {
            map_f32(p, &[], o, F16_BLOCK, |a, _, o| match fill {
                Some(f) => o.fill(f),
                None => chunk_fwd_out(a, o, c, v, clamp, k),
            })
        });
}

fn backward<T: Element>(
    sm: &Softmax,
    y: &[T],
    dy: &[T],
    shape: &[usize],
    axis: usize,
    dx: &mut [T],
) -> Result<()> {
    sm.validate()?;
    let g = geometry(sm.kind.name(), shape, axis)?;
    check_len(shape, &g, "saved output y", y.len())?;
    check_len(shape, &g, "dy", dy.len())?;
    check_len(shape, &g, "dx", dx.len())?;
    if g.n == 0 {
        return Ok(());
    }
    let k = K {
        ahead: g.n >= AHEAD_MIN,
        ..K::new(sm)
    };
    if g.inner == 1 && g.len >= LONG_ROW && g.outer < FEW_ROWS {
        for ((yr, dr), xr) in y
            .chunks_exact(g.len)
            .zip(dy.chunks_exact(g.len))
            .zip(dx.chunks_exact_mut(g.len))
        {
            backward_long_row(yr, dr, xr, &k);
        }
    } else if g.inner == 1 {
        let len = g.len;
        let piece = rows_per_task(len) * len;
        let block = (F16_BLOCK / len).max(1) * len;
        dx.par_chunks_mut(piece)
            .zip(y.par_chunks(piece))
            .zip(dy.par_chunks(piece))
            .for_each(|((os, ys), ds)| {
                map_f32(ys, ds, os, block, |a, b, o| rows_bwd(a, b, o, len, &k))
            });
    } else {
        let dst = Dst(dx.as_mut_ptr());
        let dst32 = Dst(dx.as_mut_ptr().cast::<f32>());
        let bw = COLS.min(g.inner) * g.len;
        for_column_blocks(&g, |first, count| {
            let f32_in = T::as_f32(y).zip(T::as_f32(dy));
            let size = if f32_in.is_some() { 0 } else { bw };
            let (mut yb, mut db, mut ob) = (vec![0f32; size], vec![0f32; size], vec![0f32; size]);
            for p in first..first + count {
                let (base, w) = column_block(&g, p);
                let n = g.len * w;
                match f32_in {
                    Some((a, b)) => {
                        let mut o = Direct {
                            dst: &dst32,
                            base,
                            inner: g.inner,
                            w,
                        };
                        cols_bwd_direct(&a[base..], &b[base..], g.inner, g.len, w, &mut o, &k);
                    }
                    None => {
                        load_block(y, base, &g, w, &mut yb[..n]);
                        load_block(dy, base, &g, w, &mut db[..n]);
                        cols_bwd_buf(&yb[..n], &db[..n], w, g.len, w, &mut ob[..n], &k);
                        // SAFETY: pair `p`'s column block is this task's alone.
                        unsafe { store_block(&dst, base, &g, w, &ob[..n]) };
                    }
                }
            }
        });
    }
    Ok(())
}

/// One long row's backward, cut into chunks over the cores.
fn backward_long_row<T: Element>(y: &[T], dy: &[T], dx: &mut [T], k: &K) {
    let parts: Vec<BwdStats> = y
        .par_chunks(CHUNK)
        .zip(dy.par_chunks(CHUNK))
        .map(|(a, b)| with_f32(a, |a| with_f32(b, |b| chunk_bwd(a, b, k.log))))
        .collect();
    // Merged in order: the same sum on every run.
    let st = parts[1..].iter().fold(parts[0], |a, &b| a.merge(b));
    let (fill, s, clamp) = (st.special(k), st.s, st.clamp());
    dx.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK))
        .zip(dy.par_chunks(CHUNK))
        .for_each(|((o, a), b)| {
            map_f32(a, b, o, F16_BLOCK, |a, b, o| match fill {
                Some(f) => o.fill(f),
                None => chunk_bwd_out(a, b, o, s, clamp, k),
            })
        });
}

/// `f(x)` along `axis` of a tensor of `shape` (f32, or f16 or bf16 computed in f32 and f64 and
/// rounded once more to 16 bits).
///
/// ```
/// use wgpu_activations::{cpu, Softmax};
/// let p = cpu::softmax(&Softmax::softmax(), &[1.0f32, 2.0, 3.0, 4.0], &[2, 2], 1)?;
/// assert!((p[0] + p[1] - 1.0).abs() < 1e-6);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
pub fn softmax<T: Element>(
    sm: &Softmax,
    x: &[T],
    shape: &[usize],
    axis: impl Into<Axis>,
) -> Result<Vec<T>> {
    let axis = axis.into().index(sm.kind.name(), shape)?;
    let mut out = vec![T::zeroed(); x.len()];
    softmax_into(sm, x, shape, axis, &mut out)?;
    Ok(out)
}

/// `f(x)` into `out` (same length as `x`).
pub fn softmax_into<T: Element>(
    sm: &Softmax,
    x: &[T],
    shape: &[usize],
    axis: impl Into<Axis>,
    out: &mut [T],
) -> Result<()> {
    let axis = axis.into().index(sm.kind.name(), shape)?;
    forward(sm, x, shape, axis, out)
}

/// `f(x)` with an f32 output whatever the input's type (PyTorch's
/// `F.softmax(x, dim, dtype=torch.float32)`): an f16 or bf16 `x` is widened exactly and the
/// result is the f32 path's, not rounded to 16 bits.
///
/// ```
/// use wgpu_activations::{cpu, half::bf16, Softmax};
/// let x = [bf16::from_f32(1.0), bf16::from_f32(2.0)];
/// let p: Vec<f32> = cpu::softmax_to_f32(&Softmax::softmax(), &x, &[2], 0)?;
/// assert!((p[0] + p[1] - 1.0).abs() < 1e-7);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
pub fn softmax_to_f32<T: Element>(
    sm: &Softmax,
    x: &[T],
    shape: &[usize],
    axis: impl Into<Axis>,
) -> Result<Vec<f32>> {
    let axis = axis.into().index(sm.kind.name(), shape)?;
    match T::as_f32(x) {
        Some(x) => softmax(sm, x, shape, axis),
        None => softmax(sm, &widen(x), shape, axis),
    }
}

/// The backward `dx` of `f` along `axis` from the saved output `y` and `dy`.
pub fn softmax_backward<T: Element>(
    sm: &Softmax,
    y: &[T],
    dy: &[T],
    shape: &[usize],
    axis: impl Into<Axis>,
) -> Result<Vec<T>> {
    let axis = axis.into().index(sm.kind.name(), shape)?;
    let mut dx = vec![T::zeroed(); y.len()];
    softmax_backward_into(sm, y, dy, shape, axis, &mut dx)?;
    Ok(dx)
}

/// The backward into `dx` (same length as `y`).
pub fn softmax_backward_into<T: Element>(
    sm: &Softmax,
    y: &[T],
    dy: &[T],
    shape: &[usize],
    axis: impl Into<Axis>,
    dx: &mut [T],
) -> Result<()> {
    let axis = axis.into().index(sm.kind.name(), shape)?;
    backward(sm, y, dy, shape, axis, dx)
}
