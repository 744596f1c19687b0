//! The fast CPU path of the softmax family: the GPU's algorithm in f32 on every core (rayon),
//! compiled for AVX2 + FMA where the CPU has them. Accuracy is the GPU's; the exact oracle is
//! [`reference_forward_exact`].

use bytemuck::{cast_slice, cast_slice_mut};
use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use crate::base::dtype::{widen, DType, Element};
use crate::base::error::Result;
use crate::base::fastmath::{exp_core, fast_two_sum, log1p_dd, mul_dd, scale2, two_prod, two_sum};
use crate::ops::softmax::{check_len, geometry, Consts, Geometry, Softmax};

// ---------------------------------------------------------------------------------------------
// The per-element numerics of the CPU path: the WGSL's functions, in f32 with fused
// multiply-adds (so TwoProd is exact at every magnitude).

const FMAX: f32 = f32::MAX;
const F_BAD: u32 = 1;
const F_ANY: u32 = 2;

#[inline(always)]
fn is_finite_bits(v: f32) -> bool {
    (v.to_bits() & 0x7fff_ffff) < 0x7f80_0000
}

#[inline(always)]
fn is_neg_inf(v: f32) -> bool {
    v.to_bits() == 0xff80_0000
}

#[inline(always)]
fn flip(v: f32, c: &Consts) -> f32 {
    f32::from_bits(v.to_bits() ^ c.flip)
}

/// `(x − m)/T` as a double-float and whether it overflows (see `sm_diff` in the WGSL).
#[inline(always)]
fn diff(x: f32, m: f32, c: &Consts) -> (f32, f32, bool) {
    let (ah, al) = two_sum(0.5 * x, -0.5 * m);
    let ac = ah.clamp(-c.lim_a, c.lim_a);
    let (ph, pl) = two_prod(ac, c.g_hi);
    (ph, pl + ac.mul_add(c.g_lo, al * c.g_hi), ah.abs() > c.lim_a)
}

/// `e^(hi + lo) = 2^k (h + l)` with `(h, l)` a normalized double-float (`exp_core`'s `t` is the
/// whole higher-order part of `e^r`, not a rounding error).
#[inline(always)]
fn exp_dd(hi: f32, lo: f32) -> (i32, f32, f32) {
    let (k, s, t) = exp_core(hi, lo);
    let (h, l) = fast_two_sum(s, t);
    (k, h, l)
}

/// `e^((v − m)/T)` as a double-float.
#[inline(always)]
fn term(v: f32, m: f32, c: &Consts) -> (f32, f32) {
    let (dh, dl, _) = diff(v, m, c);
    let (k, h, l) = exp_dd(dh, dl);
    (scale2(h, k), scale2(l, k))
}

#[inline(always)]
fn dd_add(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    let (s, e) = two_sum(a.0, b.0);
    fast_two_sum(s, e + (a.1 + b.1))
}

/// A row's forward statistics: max, 1/S and log S, flags.
#[derive(Clone, Copy, Debug, Default)]
struct RowStats {
    m: f32,
    ih: f32,
    il: f32,
    lg: f32,
    f: u32,
}

#[inline(always)]
fn row_stats(m: f32, s: (f32, f32), f: u32) -> RowStats {
    let any = f & F_ANY != 0;
    let (nh, nl) = fast_two_sum(if any { s.0 } else { 1.0 }, if any { s.1 } else { 0.0 });
    let i0 = 1.0 / nh;
    let (ph, pl) = two_prod(i0, nh);
    let res = ((1.0 - ph) - pl) - i0 * nl;
    let (ih, il) = fast_two_sum(i0, i0 * res);
    let (qh, ql) = two_sum(nh, -1.0);
    RowStats {
        m,
        ih,
        il,
        lg: log1p_dd(qh.max(0.0), ql + nl),
        f,
    }
}

/// The output for `v` (already flipped for softmin) in a row with statistics `rs`. Branch-free,
/// so that the loops vectorize: the value is computed on a sanitized input and the special cases
/// are selected afterwards. `log` is `c.log`, passed as a constant by the callers.
#[inline(always)]
fn fwd_out(v: f32, rs: &RowStats, c: &Consts, log: bool) -> f32 {
    let fin = is_finite_bits(v);
    let (dh, dl, over) = diff(if fin { v } else { rs.m }, rs.m, c);
    let zero = if log { f32::NEG_INFINITY } else { 0.0 };
    let r = if log {
        let (yh, yl) = two_sum(dh, -rs.lg);
        if over {
            f32::NEG_INFINITY
        } else {
            yh + (yl + dl)
        }
    } else {
        let (k, h, l) = exp_dd(dh, dl);
        scale2(mul_dd(h, l, rs.ih, rs.il), k)
    };
    // A NaN or +inf in the row, or no finite entry (NaN, or zeros when safe).
    let special = if rs.f & F_BAD != 0 || !c.safe {
        f32::NAN
    } else {
        zero
    };
    if rs.f != F_ANY {
        special
    } else if fin {
        r
    } else {
        zero
    }
}

/// Backward per-element pieces: the summand and its flags.
#[inline(always)]
fn bwd_term(y: f32, dy: f32, c: &Consts) -> ((f32, f32), u32) {
    let fy = is_finite_bits(y);
    let mut f = 0;
    let bad = !is_finite_bits(dy) || if c.log { !fy && !is_neg_inf(y) } else { !fy };
    if c.log && fy {
        f |= F_ANY;
    }
    if bad {
        return ((0.0, 0.0), f | F_BAD);
    }
    if c.log {
        ((dy, 0.0), f)
    } else {
        (two_prod(dy, y), f)
    }
}

#[inline(always)]
fn bwd_out(y: f32, dy: f32, s: (f32, f32), f: u32, c: &Consts) -> f32 {
    if f & F_BAD != 0 {
        return f32::NAN;
    }
    let (sh, sl) = fast_two_sum(s.0, s.1);
    if c.log {
        if f & F_ANY == 0 && c.safe {
            return 0.0;
        }
        if !is_finite_bits(y) {
            return mul_dd(dy, 0.0, c.b_hi, c.b_lo);
        }
        let (k, es, et) = exp_dd(y, 0.0);
        let (ph, pl) = two_prod(sh, es);
        let pl = pl + sh.mul_add(et, sl * es);
        let (ch, cl) = two_sum(dy, -scale2(ph, k));
        return mul_dd(ch, cl - scale2(pl, k), c.b_hi, c.b_lo);
    }
    let (ch, cl) = two_sum(dy, -sh);
    let (uh, ul) = two_prod(ch, y);
    mul_dd(uh, ul + (cl - sl) * y, c.b_hi, c.b_lo)
}

/// Lanes of the CPU's independent accumulators (one AVX2 register of f32).
const LANES: usize = 8;

/// Define `$name` twice: as written, and compiled for AVX2 + FMA where the CPU has them (picked
/// at run time: the numerics lean on fused multiply-adds, a slow library call without hardware
/// FMA).
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
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
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

#[inline(always)]
fn slice_max_body(xs: &[f32], c: &Consts) -> (f32, u32) {
    let mut mx = [-FMAX; LANES];
    let mut fl = [0u32; LANES];
    let mut it = xs.chunks_exact(LANES);
    for ch in &mut it {
        for q in 0..LANES {
            let v = flip(ch[q], c);
            let fin = is_finite_bits(v);
            let bad = !fin && !is_neg_inf(v);
            mx[q] = if fin { mx[q].max(v) } else { mx[q] };
            fl[q] |= ((fin as u32) << 1) | bad as u32;
        }
    }
    for &x in it.remainder() {
        let v = flip(x, c);
        let fin = is_finite_bits(v);
        mx[0] = if fin { mx[0].max(v) } else { mx[0] };
        fl[0] |= ((fin as u32) << 1) | (!fin && !is_neg_inf(v)) as u32;
    }
    (
        mx.iter().fold(-FMAX, |a, &b| a.max(b)),
        fl.iter().fold(0, |a, &b| a | b),
    )
}

#[inline(always)]
fn slice_sum_body(xs: &[f32], m: f32, c: &Consts) -> (f32, f32) {
    let mut h = [0f32; LANES];
    let mut l = [0f32; LANES];
    let mut it = xs.chunks_exact(LANES);
    for ch in &mut it {
        for q in 0..LANES {
            let v = flip(ch[q], c);
            let fin = is_finite_bits(v);
            let (eh, el) = term(if fin { v } else { m }, m, c);
            let (s, e) = two_sum(h[q], if fin { eh } else { 0.0 });
            h[q] = s;
            l[q] += e + if fin { el } else { 0.0 };
        }
    }
    for &x in it.remainder() {
        let v = flip(x, c);
        if is_finite_bits(v) {
            let (eh, el) = term(v, m, c);
            let (s, e) = two_sum(h[0], eh);
            h[0] = s;
            l[0] += e + el;
        }
    }
    (0..LANES).fold((0.0, 0.0), |a, q| dd_add(a, (h[q], l[q])))
}

simd_fn! {
    /// The maximum and flags of a slice of a row.
    fn slice_max(xs: &[f32], c: &Consts) -> (f32, u32) {
        slice_max_body(xs, c)
    }
}

simd_fn! {
    /// `Σ e^((x − m)/T)` over a slice of a row, as a double-float.
    fn slice_sum(xs: &[f32], m: f32, c: &Consts) -> (f32, f32) {
        slice_sum_body(xs, m, c)
    }
}

simd_fn! {
    /// Statistics of consecutive rows of `len` elements.
    fn rows_stats(x: &[f32], len: usize, c: &Consts, out: &mut [RowStats]) {
        for (row, st) in x.chunks_exact(len).zip(out.iter_mut()) {
            let (m, f) = slice_max_body(row, c);
            let s = slice_sum_body(row, m, c);
            *st = row_stats(m, s, f);
        }
    }
}

simd_fn! {
    /// The output of consecutive rows of `len` elements.
    fn rows_write(x: &[f32], out: &mut [f32], len: usize, stats: &[RowStats], c: &Consts) {
        for ((row, o), st) in x.chunks_exact(len).zip(out.chunks_exact_mut(len)).zip(stats) {
            if c.log {
                for (o, &v) in o.iter_mut().zip(row) {
                    *o = fwd_out(flip(v, c), st, c, true);
                }
            } else {
                for (o, &v) in o.iter_mut().zip(row) {
                    *o = fwd_out(flip(v, c), st, c, false);
                }
            }
        }
    }
}

/// Columns of a non-last axis handled together by one CPU task.
const COL_BLOCK: usize = 64;

simd_fn! {
    /// Statistics of columns `i0 .. i0 + out.len()` of one outer slice (`len` rows of `inner`).
    fn cols_stats(slice: &[f32], len: usize, inner: usize, i0: usize, c: &Consts, out: &mut [RowStats]) {
        let b = out.len();
        let mut mx = [-FMAX; COL_BLOCK];
        let mut fl = [0u32; COL_BLOCK];
        for j in 0..len {
            let row = &slice[j * inner + i0..j * inner + i0 + b];
            for q in 0..b {
                let v = flip(row[q], c);
                let fin = is_finite_bits(v);
                mx[q] = if fin { mx[q].max(v) } else { mx[q] };
                fl[q] |= ((fin as u32) << 1) | (!fin && !is_neg_inf(v)) as u32;
            }
        }
        let mut h = [0f32; COL_BLOCK];
        let mut l = [0f32; COL_BLOCK];
        for j in 0..len {
            let row = &slice[j * inner + i0..j * inner + i0 + b];
            for q in 0..b {
                let v = flip(row[q], c);
                let fin = is_finite_bits(v);
                let (eh, el) = term(if fin { v } else { mx[q] }, mx[q], c);
                let (s, e) = two_sum(h[q], if fin { eh } else { 0.0 });
                h[q] = s;
                l[q] += e + if fin { el } else { 0.0 };
            }
        }
        for q in 0..b {
            out[q] = row_stats(mx[q], (h[q], l[q]), fl[q]);
        }
    }
}

simd_fn! {
    /// The output of consecutive rows of `inner` elements (each one index of the reduced axis),
    /// the first being row `first` of the tensor seen as `[outer·len, inner]`.
    fn cols_write(x: &[f32], out: &mut [f32], first: usize, len: usize, inner: usize, stats: &[RowStats], c: &Consts) {
        for (k, (xr, or)) in x.chunks_exact(inner).zip(out.chunks_exact_mut(inner)).enumerate() {
            let o = (first + k) / len;
            let st = &stats[o * inner..(o + 1) * inner];
            if c.log {
                for ((o, &v), s) in or.iter_mut().zip(xr).zip(st) {
                    *o = fwd_out(flip(v, c), s, c, true);
                }
            } else {
                for ((o, &v), s) in or.iter_mut().zip(xr).zip(st) {
                    *o = fwd_out(flip(v, c), s, c, false);
                }
            }
        }
    }
}

#[inline(always)]
fn bwd_slice_body(ys: &[f32], dys: &[f32], c: &Consts) -> ((f32, f32), u32) {
    let mut h = [0f32; LANES];
    let mut l = [0f32; LANES];
    let mut fl = [0u32; LANES];
    let mut it = ys.chunks_exact(LANES).zip(dys.chunks_exact(LANES));
    for (yc, dc) in &mut it {
        for q in 0..LANES {
            let ((th, tl), f) = bwd_term(yc[q], dc[q], c);
            let (s, e) = two_sum(h[q], th);
            h[q] = s;
            l[q] += e + tl;
            fl[q] |= f;
        }
    }
    let done = ys.len() / LANES * LANES;
    for (&y, &dy) in ys[done..].iter().zip(&dys[done..]) {
        let ((th, tl), f) = bwd_term(y, dy, c);
        let (s, e) = two_sum(h[0], th);
        h[0] = s;
        l[0] += e + tl;
        fl[0] |= f;
    }
    let s = (0..LANES).fold((0.0, 0.0), |a, q| dd_add(a, (h[q], l[q])));
    (s, fl.iter().fold(0, |a, &b| a | b))
}

simd_fn! {
    /// Backward's sum and flags over a slice of a row.
    fn bwd_slice(ys: &[f32], dys: &[f32], c: &Consts) -> ((f32, f32), u32) {
        bwd_slice_body(ys, dys, c)
    }
}

simd_fn! {
    /// Backward over consecutive whole rows of `len` elements.
    fn bwd_rows(ys: &[f32], dys: &[f32], dx: &mut [f32], len: usize, c: &Consts) {
        for ((yr, dr), xr) in ys.chunks_exact(len).zip(dys.chunks_exact(len)).zip(dx.chunks_exact_mut(len)) {
            let (s, f) = bwd_slice_body(yr, dr, c);
            for ((o, &y), &dy) in xr.iter_mut().zip(yr).zip(dr) {
                *o = bwd_out(y, dy, s, f, c);
            }
        }
    }
}

simd_fn! {
    /// Backward's output over a slice of one row with known sum and flags.
    fn bwd_write(ys: &[f32], dys: &[f32], dx: &mut [f32], s: (f32, f32), f: u32, c: &Consts) {
        for ((o, &y), &dy) in dx.iter_mut().zip(ys).zip(dys) {
            *o = bwd_out(y, dy, s, f, c);
        }
    }
}

simd_fn! {
    /// Backward's sums of columns `i0 .. i0 + out.len()` of one outer slice.
    fn bwd_cols_sums(ys: &[f32], dys: &[f32], len: usize, inner: usize, i0: usize, c: &Consts, out: &mut [((f32, f32), u32)]) {
        let b = out.len();
        let mut h = [0f32; COL_BLOCK];
        let mut l = [0f32; COL_BLOCK];
        let mut fl = [0u32; COL_BLOCK];
        for j in 0..len {
            let at = j * inner + i0;
            let (yr, dr) = (&ys[at..at + b], &dys[at..at + b]);
            for q in 0..b {
                let ((th, tl), f) = bwd_term(yr[q], dr[q], c);
                let (s, e) = two_sum(h[q], th);
                h[q] = s;
                l[q] += e + tl;
                fl[q] |= f;
            }
        }
        for q in 0..b {
            out[q] = ((h[q], l[q]), fl[q]);
        }
    }
}

simd_fn! {
    /// Backward's output over consecutive rows of `inner` elements, the first being row `first`
    /// of the tensor seen as `[outer·len, inner]`.
    fn bwd_cols_write(ys: &[f32], dys: &[f32], dx: &mut [f32], first: usize, len: usize, inner: usize, sums: &[((f32, f32), u32)], c: &Consts) {
        for (k, ((yr, dr), xr)) in ys.chunks_exact(inner).zip(dys.chunks_exact(inner)).zip(dx.chunks_exact_mut(inner)).enumerate() {
            let o = (first + k) / len;
            let st = &sums[o * inner..(o + 1) * inner];
            for (((o, &y), &dy), &(s, f)) in xr.iter_mut().zip(yr).zip(dr).zip(st) {
                *o = bwd_out(y, dy, s, f, c);
            }
        }
    }
}

/// Elements per rayon task.
const TASK: usize = 1 << 15;
/// Rows at least this long, and fewer than [`FEW_ROWS`] of them, are cut into parallel pieces.
const LONG_ROW: usize = 1 << 16;
const FEW_ROWS: usize = 64;

/// Rows per task for rows of `len` elements.
fn rows_per_task(len: usize) -> usize {
    (TASK / len.max(1)).max(1)
}

/// `f(x)` into `out` (same length as `x`).
fn forward_f32(
    sm: &Softmax,
    x: &[f32],
    shape: &[usize],
    axis: usize,
    out: &mut [f32],
) -> Result<()> {
    sm.validate()?;
    let g = geometry(sm.kind.name(), shape, axis)?;
    check_len(shape, &g, "x", x.len())?;
    check_len(shape, &g, "the output", out.len())?;
    if g.n == 0 {
        return Ok(());
    }
    let c = Consts::new(sm);
    let stats = forward_stats(&g, x, &c);
    if g.inner == 1 {
        let per = if g.len >= LONG_ROW {
            1
        } else {
            rows_per_task(g.len)
        };
        let piece = if g.len >= LONG_ROW { TASK } else { per * g.len };
        x.par_chunks(piece)
            .zip(out.par_chunks_mut(piece))
            .enumerate()
            .for_each(|(k, (xs, os))| {
                if g.len >= LONG_ROW {
                    let row = k * piece / g.len;
                    let start = (k * piece) % g.len;
                    // A piece may straddle two rows.
                    let first = (g.len - start).min(xs.len());
                    rows_write_part(&xs[..first], &mut os[..first], &stats[row], &c);
                    if first < xs.len() {
                        rows_write_part(&xs[first..], &mut os[first..], &stats[row + 1], &c);
                    }
                } else {
                    rows_write(xs, os, g.len, &stats[k * per..], &c);
                }
            });
    } else {
        let per = rows_per_task(g.inner);
        x.par_chunks(per * g.inner)
            .zip(out.par_chunks_mut(per * g.inner))
            .enumerate()
            .for_each(|(k, (xs, os))| cols_write(xs, os, k * per, g.len, g.inner, &stats, &c));
    }
    Ok(())
}

fn rows_write_part(xs: &[f32], os: &mut [f32], st: &RowStats, c: &Consts) {
    rows_write(xs, os, xs.len(), std::slice::from_ref(st), c)
}

/// Every row's statistics, indexed `o·inner + i`.
fn forward_stats(g: &Geometry, x: &[f32], c: &Consts) -> Vec<RowStats> {
    let mut stats = vec![RowStats::default(); g.outer * g.inner];
    if g.inner == 1 {
        if g.len >= LONG_ROW && g.outer < FEW_ROWS {
            for (row, st) in x.chunks_exact(g.len).zip(stats.iter_mut()) {
                let (m, f) = row
                    .par_chunks(TASK)
                    .map(|p| slice_max(p, c))
                    .reduce(|| (-FMAX, 0), |a, b| (a.0.max(b.0), a.1 | b.1));
                let s = row
                    .par_chunks(TASK)
                    .map(|p| slice_sum(p, m, c))
                    .reduce(|| (0.0, 0.0), dd_add);
                *st = row_stats(m, s, f);
            }
        } else {
            let per = rows_per_task(g.len);
            x.par_chunks(per * g.len)
                .zip(stats.par_chunks_mut(per))
                .for_each(|(xs, st)| rows_stats(xs, g.len, c, st));
        }
    } else {
        let blocks = g.inner.div_ceil(COL_BLOCK);
        // Tasks are (outer slice, block of columns) pairs.
        let tasks: Vec<(usize, usize)> = (0..g.outer)
            .flat_map(|o| (0..blocks).map(move |b| (o, b)))
            .collect();
        let results: Vec<Vec<RowStats>> = tasks
            .par_iter()
            .map(|&(o, b)| {
                let i0 = b * COL_BLOCK;
                let width = COL_BLOCK.min(g.inner - i0);
                let mut st = vec![RowStats::default(); width];
                cols_stats(
                    &x[o * g.len * g.inner..(o + 1) * g.len * g.inner],
                    g.len,
                    g.inner,
                    i0,
                    c,
                    &mut st,
                );
                st
            })
            .collect();
        for (&(o, b), st) in tasks.iter().zip(results) {
            let at = o * g.inner + b * COL_BLOCK;
            stats[at..at + st.len()].copy_from_slice(&st);
        }
    }
    stats
}

/// f16 rows are converted to f32 this many elements at a time (whole rows, at least one):
/// the copies stay in the core's cache, and nothing the size of the tensor is allocated.
const F16_BLOCK: usize = 4096;

/// `f(x)` of f16 values into `out` (same length as `x`).
/// Contiguous rows (the last axis) go through f32 copies of a few rows at a time on every
/// core; another axis goes through f32 copies of the whole tensor.
fn forward_f16(
    sm: &Softmax,
    x: &[half::f16],
    shape: &[usize],
    axis: usize,
    out: &mut [half::f16],
) -> Result<()> {
    sm.validate()?;
    let g = geometry(sm.kind.name(), shape, axis)?;
    check_len(shape, &g, "x", x.len())?;
    check_len(shape, &g, "the output", out.len())?;
    if g.n == 0 {
        return Ok(());
    }
    if g.inner != 1 {
        let y = {
            let mut y = vec![0.0; x.len()];
            forward_f32(sm, &widen(x), shape, axis, &mut y)?;
            y
        };
        f16::store(&y, out);
        return Ok(());
    }
    let c = Consts::new(sm);
    if g.len >= LONG_ROW && g.outer < FEW_ROWS {
        // The statistics over the same pieces, reduced alike, as `softmax_into`'s.
        for (row, orow) in x.chunks_exact(g.len).zip(out.chunks_exact_mut(g.len)) {
            let (m, f) = row
                .par_chunks(TASK)
                .map(|p| slice_max(&widen(p), &c))
                .reduce(|| (-FMAX, 0), |a, b| (a.0.max(b.0), a.1 | b.1));
            let s = row
                .par_chunks(TASK)
                .map(|p| slice_sum(&widen(p), m, &c))
                .reduce(|| (0.0, 0.0), dd_add);
            let st = row_stats(m, s, f);
            orow.par_chunks_mut(TASK)
                .zip(row.par_chunks(TASK))
                .for_each(|(o, p)| {
                    let mut y = vec![0.0; p.len()];
                    rows_write_part(&widen(p), &mut y, &st, &c);
                    o.convert_from_f32_slice(&y);
                });
        }
        return Ok(());
    }
    let len = g.len;
    let piece = rows_per_task(len) * len;
    let block = (F16_BLOCK / len).max(1) * len;
    x.par_chunks(piece)
        .zip(out.par_chunks_mut(piece))
        .for_each(|(xs, os)| {
            let size = block.min(xs.len());
            let (mut a, mut b) = (vec![0.0; size], vec![0.0; size]);
            let mut st = vec![RowStats::default(); size / len];
            for (xb, ob) in xs.chunks(block).zip(os.chunks_mut(block)) {
                let (n, r) = (xb.len(), xb.len() / len);
                xb.convert_to_f32_slice(&mut a[..n]);
                rows_stats(&a[..n], len, &c, &mut st[..r]);
                rows_write(&a[..n], &mut b[..n], len, &st[..r], &c);
                ob.convert_from_f32_slice(&b[..n]);
            }
        });
    Ok(())
}

/// The backward of f16 values into `dx` (same length as `y`), through f32 copies of a few rows
/// at a time as `forward_f16`.
fn backward_f16(
    sm: &Softmax,
    y: &[half::f16],
    dy: &[half::f16],
    shape: &[usize],
    axis: usize,
    dx: &mut [half::f16],
) -> Result<()> {
    sm.validate()?;
    let g = geometry(sm.kind.name(), shape, axis)?;
    check_len(shape, &g, "saved output y", y.len())?;
    check_len(shape, &g, "dy", dy.len())?;
    check_len(shape, &g, "dx", dx.len())?;
    if g.n == 0 {
        return Ok(());
    }
    if g.inner != 1 {
        let r = softmax_backward(sm, &widen(y), &widen(dy), shape, axis)?;
        f16::store(&r, dx);
        return Ok(());
    }
    let c = Consts::new(sm);
    if g.len >= LONG_ROW && g.outer < FEW_ROWS {
        for ((yr, dr), xr) in y
            .chunks_exact(g.len)
            .zip(dy.chunks_exact(g.len))
            .zip(dx.chunks_exact_mut(g.len))
        {
            let (s, f) = yr
                .par_chunks(TASK)
                .zip(dr.par_chunks(TASK))
                .map(|(a, b)| bwd_slice(&widen(a), &widen(b), &c))
                .reduce(|| ((0.0, 0.0), 0), |a, b| (dd_add(a.0, b.0), a.1 | b.1));
            xr.par_chunks_mut(TASK)
                .zip(yr.par_chunks(TASK))
                .zip(dr.par_chunks(TASK))
                .for_each(|((o, a), b)| {
                    let mut t = vec![0.0; o.len()];
                    bwd_write(&widen(a), &widen(b), &mut t, s, f, &c);
                    o.convert_from_f32_slice(&t);
                });
        }
        return Ok(());
    }
    let len = g.len;
    let piece = rows_per_task(len) * len;
    let block = (F16_BLOCK / len).max(1) * len;
    dx.par_chunks_mut(piece)
        .zip(y.par_chunks(piece))
        .zip(dy.par_chunks(piece))
        .for_each(|((os, ys), ds)| {
            let size = block.min(ys.len());
            let (mut a, mut b, mut o) = (vec![0.0; size], vec![0.0; size], vec![0.0; size]);
            for ((yb, db), ob) in ys
                .chunks(block)
                .zip(ds.chunks(block))
                .zip(os.chunks_mut(block))
            {
                let n = yb.len();
                yb.convert_to_f32_slice(&mut a[..n]);
                db.convert_to_f32_slice(&mut b[..n]);
                bwd_rows(&a[..n], &b[..n], &mut o[..n], len, &c);
                ob.convert_from_f32_slice(&o[..n]);
            }
        });
    Ok(())
}

/// The backward into `dx` (same length as `y`).
fn backward_f32(
    sm: &Softmax,
    y: &[f32],
    dy: &[f32],
    shape: &[usize],
    axis: usize,
    dx: &mut [f32],
) -> Result<()> {
    sm.validate()?;
    let g = geometry(sm.kind.name(), shape, axis)?;
    check_len(shape, &g, "saved output y", y.len())?;
    check_len(shape, &g, "dy", dy.len())?;
    check_len(shape, &g, "dx", dx.len())?;
    if g.n == 0 {
        return Ok(());
    }
    let c = Consts::new(sm);
    if g.inner == 1 {
        if g.len >= LONG_ROW && g.outer < FEW_ROWS {
            for ((yr, dr), xr) in y
                .chunks_exact(g.len)
                .zip(dy.chunks_exact(g.len))
                .zip(dx.chunks_exact_mut(g.len))
            {
                let (s, f) = yr
                    .par_chunks(TASK)
                    .zip(dr.par_chunks(TASK))
                    .map(|(a, b)| bwd_slice(a, b, &c))
                    .reduce(|| ((0.0, 0.0), 0), |a, b| (dd_add(a.0, b.0), a.1 | b.1));
                xr.par_chunks_mut(TASK)
                    .zip(yr.par_chunks(TASK))
                    .zip(dr.par_chunks(TASK))
                    .for_each(|((o, a), b)| bwd_write(a, b, o, s, f, &c));
            }
        } else {
            let piece = rows_per_task(g.len) * g.len;
            dx.par_chunks_mut(piece)
                .zip(y.par_chunks(piece))
                .zip(dy.par_chunks(piece))
                .for_each(|((o, a), b)| bwd_rows(a, b, o, g.len, &c));
        }
        return Ok(());
    }
    let blocks = g.inner.div_ceil(COL_BLOCK);
    let tasks: Vec<(usize, usize)> = (0..g.outer)
        .flat_map(|o| (0..blocks).map(move |b| (o, b)))
        .collect();
    let slice = g.len * g.inner;
    let results: Vec<Vec<((f32, f32), u32)>> = tasks
        .par_iter()
        .map(|&(o, b)| {
            let i0 = b * COL_BLOCK;
            let mut st = vec![((0.0, 0.0), 0); COL_BLOCK.min(g.inner - i0)];
            let range = o * slice..(o + 1) * slice;
            bwd_cols_sums(
                &y[range.clone()],
                &dy[range],
                g.len,
                g.inner,
                i0,
                &c,
                &mut st,
            );
            st
        })
        .collect();
    let mut sums = vec![((0.0, 0.0), 0); g.outer * g.inner];
    for (&(o, b), st) in tasks.iter().zip(results) {
        let at = o * g.inner + b * COL_BLOCK;
        sums[at..at + st.len()].copy_from_slice(&st);
    }
    let per = rows_per_task(g.inner);
    dx.par_chunks_mut(per * g.inner)
        .zip(y.par_chunks(per * g.inner))
        .zip(dy.par_chunks(per * g.inner))
        .enumerate()
        .for_each(|(k, ((o, a), b))| bwd_cols_write(a, b, o, k * per, g.len, g.inner, &sums, &c));
    Ok(())
}
/// `f(x)` along `axis` of a tensor of `shape` (f32, or f16 with every reduction in f32 and the
/// output rounded once).
///
/// ```
/// use wgpu_activations::{cpu, Softmax};
/// let p = cpu::softmax(&Softmax::softmax(), &[1.0f32, 2.0, 3.0, 4.0], &[2, 2], 1)?;
/// assert!((p[0] + p[1] - 1.0).abs() < 1e-6);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
pub fn softmax<T: Element>(sm: &Softmax, x: &[T], shape: &[usize], axis: usize) -> Result<Vec<T>> {
    let mut out = vec![T::zeroed(); x.len()];
    softmax_into(sm, x, shape, axis, &mut out)?;
    Ok(out)
}

/// `f(x)` into `out` (same length as `x`).
pub fn softmax_into<T: Element>(
    sm: &Softmax,
    x: &[T],
    shape: &[usize],
    axis: usize,
    out: &mut [T],
) -> Result<()> {
    match T::DTYPE {
        DType::F32 => forward_f32(sm, cast_slice(x), shape, axis, cast_slice_mut(out)),
        DType::F16 => forward_f16(sm, cast_slice(x), shape, axis, cast_slice_mut(out)),
    }
}

/// The backward `dx` of `f` along `axis` from the saved output `y` and `dy`.
pub fn softmax_backward<T: Element>(
    sm: &Softmax,
    y: &[T],
    dy: &[T],
    shape: &[usize],
    axis: usize,
) -> Result<Vec<T>> {
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
    axis: usize,
    dx: &mut [T],
) -> Result<()> {
    match T::DTYPE {
        DType::F32 => backward_f32(
            sm,
            cast_slice(y),
            cast_slice(dy),
            shape,
            axis,
            cast_slice_mut(dx),
        ),
        DType::F16 => backward_f16(
            sm,
            cast_slice(y),
            cast_slice(dy),
            shape,
            axis,
            cast_slice_mut(dx),
        ),
    }
}
