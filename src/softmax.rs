//! The softmax family — softmax, log_softmax and softmin (PyTorch semantics), forward and
//! backward, for f32 tensors of any shape along any axis, with an optional temperature
//! (the function of `x / T`) — on the GPU (`shaders/softmax.wgsl`), on the fast CPU path
//! ([`cpu`]) and as an exact f64 reference ([`reference_forward_exact`],
//! [`reference_backward_exact`]).
//!
//! The row statistics follow Milakov & Gimelshein, *Online normalizer calculation for softmax*
//! (arXiv 1805.02867): a running (max, sum) per invocation, merged as
//! `M = max mₖ, S = Σ Sₖ·e^((mₖ − M)/T)`. To stay within a few ULP of the exact softmax of the f32
//! inputs, `(x − M)/T` is carried as a double-float with its rounding error, `e^d` comes from the
//! crate's accurate `exp_core`, and the sums are double-floats (see the WGSL header).
//!
//! # Kernels
//!
//! The tensor is seen as `[outer, len, inner]` with the reduced axis in the middle. One kernel
//! family covers every shape, picked by the host from the shape and the device's limits:
//!
//! - **rows kernel** (`inner == 1`, rows up to [`Tuning`]'s `rows_max_len`: 1024 on a GPU, any
//!   unsplit length on a software rasterizer): a group of lanes per row, on its own — a subgroup
//!   where the device has `SUBGROUP` (subgroup reductions, no barriers, any subgroup size from 4
//!   to 128), else `TJ` lanes with reductions in workgroup memory ([`Context::set_subgroups`]
//!   forces this fallback). The row's maximum comes first (no exp), then the sum relative to it
//!   (one exp per element, no rescaling), then the output; a row of up to `CACHE` elements per
//!   lane is read once and keeps its `e^d` in private memory for the output.
//! - **rows, fused** (`inner == 1`, longer rows): a workgroup of 256 invocations handles `256 / TJ` rows with
//!   `TJ` invocations each (`TJ` ≈ `len / 16` on a GPU, `len / 64` on a software rasterizer,
//!   from 1 up to 256): one invocation per row for short rows, one workgroup per row for long
//!   ones. An online (max, sum) pass, a two-level reduction in workgroup memory (two barriers),
//!   then the output pass: two reads and one write, one dispatch.
//! - **columns, fused** (`inner > 1`, a non-last axis): lanes across `inner` are adjacent, so
//!   reads stay coalesced without a transpose; lanes left over go along the row, or to further
//!   rows when the row is short.
//! - **split** (few rows of great length, or a row slice above the storage-binding limit): each
//!   row is cut into chunks, a workgroup per chunk writes a partial (max, sum), a `combine` pass
//!   merges a row's partials, and a `write` pass normalises each chunk: two reads, one write.
//!   On a software rasterizer with subgroups, a chunk's partial comes from one subgroup without
//!   barriers (the rows kernel's max-then-sum), since barriers turn its shaders into coroutines.
//!
//! Contiguous f32 rows whose length is a multiple of 4, with every tensor at a 16-byte aligned
//! offset, are bound as `vec4` arrays (rows, fused and split kernels): a lane moves four elements
//! per access, a quarter of the memory instructions (a software rasterizer's gathers and scatters
//! included). Other shapes, offsets and f16 keep element accesses. Each element's arithmetic is
//! unchanged; only the order in which a lane adds its terms differs, so results agree with the
//! element kernels to within the last double-float bits of the sums (the same error bounds).
//! More than 65,535 workgroups fold into a 2-D grid; tensors above the storage-binding limit are
//! split at aligned offsets (whole rows, or pieces of a split row). Only the rows kernel uses
//! subgroup operations; the other reductions go through workgroup memory.
//!
//! # Accuracy
//!
//! Against the exact function of the f32 inputs ([`reference_forward_exact`]; the temperature
//! divides in real arithmetic, `x / T` is never rounded): probabilities within 1 ULP (0.7 measured
//! on the GPU and the CPU path), log-probabilities within ~1 ULP or 2^-22 absolute near 0. The
//! backward is within 4 ULP of the f64 formula applied to the f32 `y` and `dy`, except where
//! `dy − Σ` cancels: there the error stays below 2^-36 (softmax, softmin) or 2^-28 (log_softmax,
//! through `e^y`) of the magnitudes that cancel.
//!
//! # Semantics
//!
//! As PyTorch: a row holding NaN or +∞ gives a NaN row (softmin: NaN or −∞); a row that is
//! entirely −∞ gives NaN; a −∞ entry gives probability 0 (log-probability −∞); a row of length 1
//! gives 1. With [`Softmax::safe`], a fully masked row gives probabilities 0 (log_softmax: −∞, the
//! log of those zeros) and a zero gradient. Backward reads the saved forward output `y` (as
//! PyTorch does): a row whose `y` or `dy` holds NaN or ±∞ gives a NaN row, except log_softmax's
//! −∞ log-probabilities, whose `e^y` is 0.

use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use crate::binding::{buffer_range as buffer_entry, storage_entry, uniform_entry};
use crate::context::{Context, KernelKey, KernelSource};
use crate::elementwise::{check_range_of, grid, DType, Element, Tensor};
use crate::error::{Error, Result};
use crate::fastmath::{exp_core, fast_two_sum, log1p_dd, mul_dd, scale2, two_prod, two_sum};
use crate::prepared::{Prepared, Step};
use crate::source;
use crate::stream::{no_progress, HostIo, StreamOptions};

/// Which function of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SoftmaxKind {
    /// `e^(x/T) / Σ e^(x/T)`.
    Softmax,
    /// `log softmax(x)`, computed directly (no cancellation, no underflow to −∞ for finite
    /// inputs whose log-probability is finite).
    LogSoftmax,
    /// `softmax(−x)`.
    Softmin,
}

impl SoftmaxKind {
    /// The PyTorch name: `softmax`, `log_softmax`, `softmin`.
    pub fn name(self) -> &'static str {
        match self {
            SoftmaxKind::Softmax => "softmax",
            SoftmaxKind::LogSoftmax => "log_softmax",
            SoftmaxKind::Softmin => "softmin",
        }
    }

    /// The kind with that PyTorch name.
    pub fn from_name(name: &str) -> Result<SoftmaxKind> {
        match name {
            "softmax" => Ok(SoftmaxKind::Softmax),
            "log_softmax" => Ok(SoftmaxKind::LogSoftmax),
            "softmin" => Ok(SoftmaxKind::Softmin),
            _ => Err(Error::UnknownOp(name.to_string())),
        }
    }

    /// Every kind.
    pub const ALL: [SoftmaxKind; 3] = [
        SoftmaxKind::Softmax,
        SoftmaxKind::LogSoftmax,
        SoftmaxKind::Softmin,
    ];
}

/// A softmax-family function: its kind, temperature and masking behaviour.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    /// softmax, log_softmax or softmin.
    pub kind: SoftmaxKind,
    /// The function is applied to `x / temperature`; 1.0 by default. Must be positive, between
    /// 1e-30 and 1e30.
    pub temperature: f32,
    /// A fully masked row (every entry −∞; softmin: +∞) gives zeros (log_softmax: −∞) and a zero
    /// gradient instead of NaN, as attention code wants.
    pub safe: bool,
}

impl Default for Softmax {
    fn default() -> Self {
        Softmax::new(SoftmaxKind::Softmax)
    }
}

/// Smallest and largest temperatures accepted.
const MIN_TEMPERATURE: f32 = 1e-30;
const MAX_TEMPERATURE: f32 = 1e30;

impl Softmax {
    /// `kind` at temperature 1, not safe.
    pub fn new(kind: SoftmaxKind) -> Softmax {
        Softmax {
            kind,
            temperature: 1.0,
            safe: false,
        }
    }
    /// softmax.
    #[allow(clippy::self_named_constructors)]
    pub fn softmax() -> Softmax {
        Softmax::new(SoftmaxKind::Softmax)
    }
    /// log_softmax.
    pub fn log_softmax() -> Softmax {
        Softmax::new(SoftmaxKind::LogSoftmax)
    }
    /// softmin.
    pub fn softmin() -> Softmax {
        Softmax::new(SoftmaxKind::Softmin)
    }
    /// With temperature `t` (the function of `x / t`).
    pub fn with_temperature(mut self, t: f32) -> Softmax {
        self.temperature = t;
        self
    }
    /// With the safe treatment of fully masked rows.
    pub fn with_safe(mut self, safe: bool) -> Softmax {
        self.safe = safe;
        self
    }

    /// Check the temperature: [`Error::BadParameter`] unless it is a number in
    /// `[1e-30, 1e30]` (zero, negative, NaN and infinite temperatures are refused).
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        if !(MIN_TEMPERATURE..=MAX_TEMPERATURE).contains(&t) {
            let why = if t == 0.0 {
                "zero temperature".to_string()
            } else {
                format!("temperature {t} (it must be a positive number between 1e-30 and 1e30)")
            };
            return Err(Error::BadParameter {
                op: self.kind.name(),
                message: why,
            });
        }
        Ok(())
    }

    fn log(&self) -> bool {
        self.kind == SoftmaxKind::LogSoftmax
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes and constants shared by every path.

/// A tensor seen as `[outer, len, inner]`, the reduced axis in the middle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    outer: usize,
    len: usize,
    inner: usize,
    n: usize,
}

fn geometry(op: &'static str, shape: &[usize], axis: usize) -> Result<Geometry> {
    if axis >= shape.len() {
        return Err(Error::BadParameter {
            op,
            message: format!(
                "axis {axis} is out of range for the {}-D shape {shape:?}",
                shape.len()
            ),
        });
    }
    let prod = |dims: &[usize]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let too_big = || {
        Error::ShapeMismatch(format!(
            "the shape {shape:?} has more elements than a usize can count"
        ))
    };
    let outer = prod(&shape[..axis]).ok_or_else(too_big)?;
    let inner = prod(&shape[axis + 1..]).ok_or_else(too_big)?;
    let len = shape[axis];
    let n = prod(shape).ok_or_else(too_big)?;
    Ok(Geometry {
        outer,
        len,
        inner,
        n,
    })
}

fn check_len(shape: &[usize], g: &Geometry, what: &str, len: usize) -> Result<()> {
    if len != g.n {
        return Err(Error::ShapeMismatch(format!(
            "the shape {shape:?} holds {} elements but {what} has {len}",
            g.n
        )));
    }
    Ok(())
}

/// The per-call constants of the kernels and the CPU path.
#[derive(Clone, Copy, Debug)]
struct Consts {
    /// 0x8000_0000 for softmin (x → −x), else 0.
    flip: u32,
    /// 2/T as a double-float.
    g_hi: f32,
    g_lo: f32,
    /// Backward's factor ±1/T as a double-float.
    b_hi: f32,
    b_lo: f32,
    /// Largest |(x − m)/2| whose product with `g_hi` stays finite.
    lim_a: f32,
    safe: bool,
    log: bool,
}

fn split_f64(v: f64) -> (f32, f32) {
    let hi = v as f32;
    (hi, (v - hi as f64) as f32)
}

impl Consts {
    fn new(sm: &Softmax) -> Consts {
        let t = sm.temperature as f64;
        let (g_hi, g_lo) = split_f64(2.0 / t);
        let sign = if sm.kind == SoftmaxKind::Softmin {
            -1.0
        } else {
            1.0
        };
        let (b_hi, b_lo) = split_f64(sign / t);
        let lim = (f32::MAX as f64 / g_hi as f64).min(f32::MAX as f64);
        let mut lim_a = lim as f32;
        if lim_a as f64 > lim {
            lim_a = lim_a.next_down();
        }
        Consts {
            flip: if sm.kind == SoftmaxKind::Softmin {
                0x8000_0000
            } else {
                0
            },
            g_hi,
            g_lo,
            b_hi,
            b_lo,
            lim_a,
            safe: sm.safe,
            log: sm.log(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GPU: kernels and launch plans.

/// Stages of the kernel family (the WGSL entry points `fwd_*` / `bwd_*`).
const STAGE_FUSED: u8 = 0;
const STAGE_PARTIALS: u8 = 1;
const STAGE_COMBINE: u8 = 2;
const STAGE_WRITE: u8 = 3;
/// The rows kernel, its lanes in workgroup memory or a subgroup.
const STAGE_ROWS: u8 = 4;
const STAGE_ROWS_SUBGROUP: u8 = 5;
/// Split rows' partials with a subgroup per chunk (a software rasterizer).
const STAGE_PARTIALS_SUBGROUP: u8 = 6;

/// Invocations per workgroup (`WG` in the WGSL).
const WG: usize = 256;
/// Rows longer than this may be split into chunks (see [`Tuning`]).
const SPLIT_MIN_LEN: usize = 8192;
/// The smallest chunk of a split row.
const MIN_CHUNK: usize = 2048;

/// How a launch is shaped for the device: a GPU wants many workgroups in flight, a software
/// rasterizer (lavapipe, WARP, SwiftShader) pays tens of microseconds per workgroup and has only
/// the host's cores to fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tuning {
    /// Elements per invocation a row aims for (sets TJ ≈ len / this).
    per_lane: usize,
    /// Rows longer than [`SPLIT_MIN_LEN`] are split when the fused kernel would start fewer
    /// workgroups than this.
    split_below: usize,
    /// Workgroups a split launch aims for.
    split_target: usize,
    /// Contiguous rows up to this length take the rows kernel (a subgroup, or a few lanes, per
    /// row); longer ones a workgroup each.
    rows_max_len: usize,
    /// Elements per lane the rows kernel keeps in private memory (`CACHE` in the WGSL; fixed
    /// per context, so not part of the kernel key): rows up to this many per lane are read once.
    cache: usize,
    /// Split contiguous rows: partials by one subgroup per chunk, without barriers, where the
    /// device has subgroups (a software rasterizer runs a shader with barriers as coroutines).
    split_subgroup: bool,
}

const GPU_TUNING: Tuning = Tuning {
    per_lane: 16,
    split_below: 512,
    split_target: 2048,
    rows_max_len: 1024,
    cache: 8,
    split_subgroup: false,
};
// A software rasterizer runs a subgroup as one SIMD loop on one core: a row per subgroup, with no
// barriers, is its best shape at any length short of a split.
const SOFTWARE_TUNING: Tuning = Tuning {
    per_lane: 64,
    split_below: 16,
    split_target: 64,
    rows_max_len: usize::MAX,
    cache: 128,
    split_subgroup: true,
};

/// The uniform block of `softmax.wgsl` (`SmParams`), one per dispatch.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct SmParams {
    rows: u32,
    len: u32,
    inner: u32,
    s_o: u32,
    s_j: u32,
    s_i: u32,
    off_src: u32,
    off_dy: u32,
    off_dst: u32,
    ti: u32,
    tj: u32,
    ti_stride: u32,
    tj_stride: u32,
    i_blocks: u32,
    chunk: u32,
    chunks: u32,
    groups: u32,
    grid_x: u32,
    row_base: u32,
    part_base: u32,
    part_total: u32,
    flip: u32,
    safe: u32,
    one: f32,
    g_hi: f32,
    g_lo: f32,
    b_hi: f32,
    b_lo: f32,
    lim_a: f32,
    pad: [u32; 3],
}

fn stage_name(stage: u8) -> &'static str {
    match stage {
        STAGE_FUSED => "fused",
        STAGE_PARTIALS => "partials",
        STAGE_COMBINE => "combine",
        STAGE_WRITE => "write",
        STAGE_ROWS => "rows",
        STAGE_PARTIALS_SUBGROUP => "partials_subgroup",
        _ => "rows_subgroup",
    }
}

/// The quad accessors of softmax.wgsl where the tensors are not bound as vec4 arrays: four
/// element accesses (the kernels take them only where `VEC4` holds).
const IO_QUADS_SCALAR: &str = "const VEC4: bool = false;
fn ld_src4(q: u32) -> vec4<f32> {
    let i = 4u * q;
    return vec4<f32>(ld_src(i), ld_src(i + 1u), ld_src(i + 2u), ld_src(i + 3u));
}
fn ld_grad4(q: u32) -> vec4<f32> {
    let i = 4u * q;
    return vec4<f32>(ld_grad(i), ld_grad(i + 1u), ld_grad(i + 2u), ld_grad(i + 3u));
}
fn st_dst4(q: u32, v: vec4<f32>) {
    let i = 4u * q;
    st_dst(i, v.x);
    st_dst(i + 1u, v.y);
    st_dst(i + 2u, v.z);
    st_dst(i + 3u, v.w);
}
";

/// The tensors' bindings and accessors of softmax.wgsl (its `{{IO}}`); `vec4`: f32 tensors bound
/// as vec4 arrays (every bound range 16-byte aligned, a multiple of 16 bytes long).
fn io_wgsl(dtype: DType, vec4: bool) -> String {
    if dtype == DType::F32 && vec4 {
        return "@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<f32>>;
const PACKED: bool = false;
const VEC4: bool = true;
fn ld_src(i: u32) -> f32 { return src[i >> 2u][i & 3u]; }
fn ld_grad(i: u32) -> f32 { return grad[i >> 2u][i & 3u]; }
fn st_dst(i: u32, v: f32) { dst[i >> 2u][i & 3u] = v; }
fn ld_src_pair(i: u32) -> vec2<f32> { return vec2<f32>(ld_src(i), ld_src(i + 1u)); }
fn ld_grad_pair(i: u32) -> vec2<f32> { return vec2<f32>(ld_grad(i), ld_grad(i + 1u)); }
fn st_word(w: u32, lo: f32, hi: f32) { st_dst(2u * w, lo); st_dst(2u * w + 1u, hi); }
fn ld_src4(q: u32) -> vec4<f32> { return src[q]; }
fn ld_grad4(q: u32) -> vec4<f32> { return grad[q]; }
fn st_dst4(q: u32, v: vec4<f32>) { dst[q] = v; }
"
        .to_string();
    }
    let io = match dtype {
        DType::F32 => {
            "@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
const PACKED: bool = false;
fn ld_src(i: u32) -> f32 { return src[i]; }
fn ld_grad(i: u32) -> f32 { return grad[i]; }
fn st_dst(i: u32, v: f32) { dst[i] = v; }
fn ld_src_pair(i: u32) -> vec2<f32> { return vec2<f32>(src[i], src[i + 1u]); }
fn ld_grad_pair(i: u32) -> vec2<f32> { return vec2<f32>(grad[i], grad[i + 1u]); }
fn st_word(w: u32, lo: f32, hi: f32) { dst[2u * w] = lo; dst[2u * w + 1u] = hi; }
"
        }
        // `st_dst` clears and sets only its own half, so the two atomics of neighbouring elements
        // commute; `st_word` writes a whole word (both halves in one invocation's hands) plainly.
        // The `_pair` loads read elements i and i + 1 (one word when i is even).
        DType::F16 => {
            "@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> grad: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<atomic<u32>>;
const PACKED: bool = true;
fn ld_src(i: u32) -> f32 { return h16_to_f32(h16_half(src[i >> 1u], i)); }
fn ld_grad(i: u32) -> f32 { return h16_to_f32(h16_half(grad[i >> 1u], i)); }
fn st_dst(i: u32, v: f32) {
    let sh = (i & 1u) * 16u;
    atomicAnd(&dst[i >> 1u], ~(0xffffu << sh));
    atomicOr(&dst[i >> 1u], h16_from_f32(v) << sh);
}
fn h16_pair(a: u32, b: u32, i: u32) -> vec2<f32> {
    let w = select(a, (a >> 16u) | (b << 16u), (i & 1u) != 0u);
    return vec2<f32>(h16_to_f32(w & 0xffffu), h16_to_f32(w >> 16u));
}
fn ld_src_pair(i: u32) -> vec2<f32> {
    var b = 0u;
    if ((i & 1u) != 0u) {
        b = src[(i >> 1u) + 1u];
    }
    return h16_pair(src[i >> 1u], b, i);
}
fn ld_grad_pair(i: u32) -> vec2<f32> {
    var b = 0u;
    if ((i & 1u) != 0u) {
        b = grad[(i >> 1u) + 1u];
    }
    return h16_pair(grad[i >> 1u], b, i);
}
fn st_word(w: u32, lo: f32, hi: f32) {
    atomicStore(&dst[w], h16_from_f32(lo) | (h16_from_f32(hi) << 16u));
}
"
        }
    };
    format!("{io}{IO_QUADS_SCALAR}")
}

fn build(
    log: bool,
    backward: bool,
    unit: bool,
    stage: u8,
    cache: usize,
    dtype: DType,
    vec4: bool,
) -> Result<KernelSource> {
    let dir = if backward { "bwd" } else { "fwd" };
    let label = format!(
        "softmax/{}/{dir}{}/{}{}{}",
        if log { "log" } else { "prob" },
        if unit { "" } else { "/temperature" },
        stage_name(stage),
        if dtype == DType::F16 { "/f16" } else { "" },
        if vec4 { "/vec4" } else { "" },
    );
    let mut entries = vec![uniform_entry(std::mem::size_of::<SmParams>())];
    let tensors = |entries: &mut Vec<wgpu::BindGroupLayoutEntry>| {
        entries.push(storage_entry(1, true));
        if backward {
            entries.push(storage_entry(2, true));
        }
    };
    match stage {
        STAGE_FUSED | STAGE_ROWS | STAGE_ROWS_SUBGROUP => {
            tensors(&mut entries);
            entries.push(storage_entry(3, false));
        }
        STAGE_PARTIALS | STAGE_PARTIALS_SUBGROUP => {
            tensors(&mut entries);
            entries.push(storage_entry(4, false));
        }
        STAGE_COMBINE => {
            entries.push(storage_entry(4, false));
            entries.push(storage_entry(5, false));
        }
        _ => {
            tensors(&mut entries);
            entries.push(storage_entry(3, false));
            entries.push(storage_entry(5, false));
        }
    }
    let bool_str = |b: bool| if b { "true" } else { "false" };
    let template = source::fill(
        &label,
        source::SOFTMAX,
        &[
            ("LOG", bool_str(log)),
            ("UNIT", bool_str(unit)),
            ("CACHE", &cache.to_string()),
            ("IO", &io_wgsl(dtype, vec4)),
        ],
    )?;
    // The lanes' file defines the rows kernel's reductions and entry points (the workgroup one is
    // harmless to the other stages). Naga 30 takes subgroup operations without WGSL's
    // `enable subgroups;` (it refuses the directive); the device feature is what it checks.
    let lanes = if stage == STAGE_ROWS_SUBGROUP || stage == STAGE_PARTIALS_SUBGROUP {
        source::SOFTMAX_SUBGROUP
    } else {
        source::SOFTMAX_WORKGROUP
    };
    let f16 = if dtype == DType::F16 { source::F16 } else { "" };
    let wgsl = format!("{}\n{}\n{}\n{}", source::MATH, f16, template, lanes);
    let entry_point = match (backward, stage) {
        (false, STAGE_ROWS | STAGE_ROWS_SUBGROUP) => "fwd_rows",
        (true, STAGE_ROWS | STAGE_ROWS_SUBGROUP) => "bwd_rows",
        (false, STAGE_FUSED) => "fwd_fused",
        (false, STAGE_PARTIALS) => "fwd_partials",
        (false, STAGE_PARTIALS_SUBGROUP) => "fwd_partials_sg",
        (false, STAGE_COMBINE) => "fwd_combine",
        (false, _) => "fwd_write",
        (true, STAGE_FUSED) => "bwd_fused",
        (true, STAGE_PARTIALS) => "bwd_partials",
        (true, STAGE_PARTIALS_SUBGROUP) => "bwd_partials_sg",
        (true, STAGE_COMBINE) => "bwd_combine",
        (true, _) => "bwd_write",
    };
    Ok(KernelSource {
        label,
        wgsl,
        entries,
        entry_point,
    })
}

/// A range of outer slices (`o0 .. o0 + o_count`) and of the reduced axis (`j0 .. j0 + j_count`)
/// that one dispatch binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    o0: usize,
    o_count: usize,
    j0: usize,
    j_count: usize,
}

/// How a call is launched.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    /// `inner == 1`: rows are contiguous; the dispatch's rows are its `inner` lanes.
    rows_view: bool,
    ti: usize,
    tj: usize,
    /// Split rows: elements per chunk, and chunks per row.
    split: Option<(usize, usize)>,
    /// The rows kernel (`ti` rows per workgroup): `Some(true)` with a subgroup per row,
    /// `Some(false)` with `tj` lanes of the workgroup per row.
    rows: Option<bool>,
    /// The tensors are bound as vec4 arrays (`VEC4` in the WGSL): contiguous f32 rows whose
    /// length is a multiple of 4, every tensor 16-byte aligned; chunks of split rows are then
    /// multiples of 4 too.
    vec4: bool,
    /// Split rows whose partials take the subgroup kernel ([`Tuning`]'s `split_subgroup`).
    split_subgroup: bool,
    pieces: Vec<Piece>,
}

/// The launch plan for `g` when one binding holds at most `elems` elements; `subgroup` is the
/// device's smallest subgroup size where kernels may use subgroup operations; `aligned16`: f32
/// tensors whose byte offsets are all multiples of 16 (contiguous rows of a length that is a
/// multiple of 4 then take the vec4 kernels).
fn plan(
    g: &Geometry,
    elems: usize,
    tuning: &Tuning,
    subgroup: Option<usize>,
    aligned16: bool,
) -> Result<Plan> {
    let rows_view = g.inner == 1;
    let vec4 = aligned16 && rows_view && g.len.is_multiple_of(4);
    let slice = g.len * g.inner;
    // Elements of the reduced axis that fit in one binding for one outer slice.
    let max_j = if rows_view { elems } else { elems / g.inner };
    if max_j == 0 {
        return Err(Error::TooLarge {
            elements: g.inner,
            bytes: g.inner as u64 * 4,
            max: elems as u64 * 4,
        });
    }
    // Lanes along a row: about len / per_lane, so that short rows pack many to a workgroup.
    let tj_len = g
        .len
        .div_ceil(tuning.per_lane)
        .next_power_of_two()
        .clamp(1, WG);
    // Columns: lanes across `inner` first (coalesced reads).
    let ti_cols = g.inner.next_power_of_two().min(WG);
    let tj = if rows_view {
        tj_len
    } else {
        (WG / ti_cols).min(tj_len)
    };
    let ti = WG / tj;
    let fused_groups = (g.outer * g.inner).div_ceil(ti);
    let split = g.len > max_j || (g.len > SPLIT_MIN_LEN && fused_groups < tuning.split_below);
    let mut pieces = Vec::new();
    if !split {
        let per = (elems / slice.max(1)).max(1);
        for o0 in (0..g.outer).step_by(per) {
            pieces.push(Piece {
                o0,
                o_count: per.min(g.outer - o0),
                j0: 0,
                j_count: g.len,
            });
        }
        // The rows kernel: with subgroups, as many rows per workgroup as it has subgroups at the
        // smallest size (larger subgroups take several rows each); without, TJ lanes per row.
        let rows = (rows_view && g.len <= tuning.rows_max_len).then_some(subgroup.is_some());
        let (ti, tj) = match (rows, subgroup) {
            (Some(true), Some(sg)) => ((WG / sg.clamp(1, WG)).max(1), sg.clamp(1, WG)),
            _ => (ti, tj),
        };
        // Few long rows: fewer of them per workgroup (the rest of its lanes idle), so that they
        // spread over up to `split_below` workgroups, as long as a workgroup keeps
        // SPLIT_MIN_LEN elements (a software rasterizer runs a workgroup on one core: 16 rows of
        // 262,144 were one workgroup).
        let ti = match rows {
            Some(_) => ti.min(
                (g.outer * g.inner)
                    .div_ceil(tuning.split_below)
                    .max(SPLIT_MIN_LEN / g.len.max(1))
                    .max(1),
            ),
            None => ti,
        };
        return Ok(Plan {
            rows_view,
            ti,
            tj,
            split: None,
            rows,
            vec4,
            split_subgroup: false,
            pieces,
        });
    }
    let (ti, tj) = if rows_view {
        (1, WG)
    } else {
        (ti_cols, WG / ti_cols)
    };
    let want = tuning.split_target.div_ceil(fused_groups.max(1));
    let mut chunk = g.len.div_ceil(want).max(MIN_CHUNK).min(max_j).min(g.len);
    if vec4 {
        // Whole quads per chunk (len is a multiple of 4, so the last chunk is too).
        chunk = (chunk / 4 * 4).max(4);
    }
    let parts = g.len.div_ceil(chunk);
    if slice <= elems {
        let per = (elems / slice).max(1);
        for o0 in (0..g.outer).step_by(per) {
            pieces.push(Piece {
                o0,
                o_count: per.min(g.outer - o0),
                j0: 0,
                j_count: g.len,
            });
        }
    } else {
        let step = max_j / chunk * chunk;
        for o0 in 0..g.outer {
            for j0 in (0..g.len).step_by(step) {
                pieces.push(Piece {
                    o0,
                    o_count: 1,
                    j0,
                    j_count: step.min(g.len - j0),
                });
            }
        }
    }
    Ok(Plan {
        rows_view,
        ti,
        tj,
        split: Some((chunk, parts)),
        rows: None,
        vec4,
        split_subgroup: rows_view && tuning.split_subgroup && subgroup.is_some(),
        pieces,
    })
}

impl Plan {
    /// The elements a piece binds: first element and count.
    fn span(&self, g: &Geometry, p: &Piece) -> (usize, usize) {
        if self.rows_view {
            (p.o0 * g.len + p.j0, (p.o_count - 1) * g.len + p.j_count)
        } else {
            (
                (p.o0 * g.len + p.j0) * g.inner,
                ((p.o_count - 1) * g.len + p.j_count) * g.inner,
            )
        }
    }

    /// The uniform block of a piece's dispatch (offsets and grid filled in by the caller).
    fn params(&self, g: &Geometry, p: &Piece, c: &Consts) -> SmParams {
        let (outer, inner, s_o, s_j, s_i, row_base) = if self.rows_view {
            (1, p.o_count, 0, 1, g.len, p.o0)
        } else {
            (
                p.o_count,
                g.inner,
                g.len * g.inner,
                g.inner,
                1,
                p.o0 * g.inner,
            )
        };
        let (chunk, chunks, part_base, part_total) = match self.split {
            Some((chunk, parts)) => (chunk, p.j_count.div_ceil(chunk), p.j0 / chunk, parts),
            None => (p.j_count, 1, 0, 1),
        };
        let i_blocks = (outer * inner).div_ceil(self.ti);
        let (ti_stride, tj_stride) = if self.rows_view {
            (self.tj, 1)
        } else {
            (1, self.ti)
        };
        SmParams {
            rows: (outer * inner) as u32,
            len: p.j_count as u32,
            inner: inner as u32,
            s_o: s_o as u32,
            s_j: s_j as u32,
            s_i: s_i as u32,
            ti: self.ti as u32,
            tj: self.tj as u32,
            ti_stride: ti_stride as u32,
            tj_stride: tj_stride as u32,
            i_blocks: i_blocks as u32,
            chunk: chunk as u32,
            chunks: chunks as u32,
            groups: (i_blocks * chunks) as u32,
            row_base: row_base as u32,
            part_base: part_base as u32,
            part_total: part_total as u32,
            ..c.params()
        }
    }
}

impl Consts {
    fn params(&self) -> SmParams {
        SmParams {
            flip: self.flip,
            safe: self.safe as u32,
            one: 1.0,
            g_hi: self.g_hi,
            g_lo: self.g_lo,
            b_hi: self.b_hi,
            b_lo: self.b_lo,
            lim_a: self.lim_a,
            ..SmParams::default()
        }
    }
}

fn uniform_bytes(params: &[SmParams], stride: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; stride as usize * params.len().max(1)];
    for (k, p) in params.iter().enumerate() {
        let at = k * stride as usize;
        bytes[at..at + std::mem::size_of::<SmParams>()].copy_from_slice(bytemuck::bytes_of(p));
    }
    bytes
}

/// The tensors of one launch: the input (x, or the saved y), dy for backward, the output.
struct Io<'a> {
    src: Tensor<'a>,
    dy: Option<Tensor<'a>>,
    dst: Tensor<'a>,
}

fn check_tensor(what: &'static str, t: &Tensor, shape: &[usize], g: &Geometry) -> Result<()> {
    check_len(shape, g, what, t.len)?;
    check_range_of(what, t.buffer, t.offset, t.len, t.dtype)?;
    if !t.buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
        return Err(Error::MissingUsage {
            what,
            usage: "STORAGE",
        });
    }
    Ok(())
}

fn same_dtype(ts: &[Tensor]) -> Result<()> {
    if ts.iter().any(|t| t.dtype != ts[0].dtype) {
        return Err(Error::DTypeMismatch(
            "every tensor of one softmax call must have the same dtype".into(),
        ));
    }
    Ok(())
}

impl Context {
    /// Record `y = f(x)` along `axis` of a tensor of `shape` into `encoder` (no submit). `x` and
    /// `y` hold the tensor in row-major order and must lie in different buffers. An empty
    /// tensor records nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn record_softmax(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        sm: &Softmax,
        x: Tensor,
        y: Tensor,
        shape: &[usize],
        axis: usize,
    ) -> Result<()> {
        self.prepare_softmax(sm, x, y, shape, axis)?.record(encoder)
    }

    /// Prepare `y = f(x)` along `axis` once for these buffer ranges (arguments as
    /// [`Context::record_softmax`]), to record any number of times (see [`crate::prepared`]).
    /// Split rows get scratch buffers of their own, owned by the prepared op.
    pub fn prepare_softmax(
        &self,
        sm: &Softmax,
        x: Tensor,
        y: Tensor,
        shape: &[usize],
        axis: usize,
    ) -> Result<Prepared> {
        sm.validate()?;
        let g = geometry(sm.kind.name(), shape, axis)?;
        check_tensor("x", &x, shape, &g)?;
        check_tensor("y", &y, shape, &g)?;
        same_dtype(&[x, y])?;
        if x.buffer == y.buffer {
            return Err(Error::Aliasing(
                "y lies in the same buffer as x; use a separate buffer".into(),
            ));
        }
        self.prepare_family(
            sm,
            false,
            &g,
            Io {
                src: x,
                dy: None,
                dst: y,
            },
        )
    }

    /// Record the fused backward `dx` of `f` along `axis` into `encoder`, from the saved
    /// forward output `y` and the gradient `dy`: softmax `dx = y ⊙ (dy − Σ dy ⊙ y) / T`,
    /// log_softmax `dx = (dy − e^y ⊙ Σ dy) / T`, softmin the softmax formula times −1. `dx` must
    /// lie in a buffer of its own.
    #[allow(clippy::too_many_arguments)]
    pub fn record_softmax_backward(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        sm: &Softmax,
        y: Tensor,
        dy: Tensor,
        dx: Tensor,
        shape: &[usize],
        axis: usize,
    ) -> Result<()> {
        self.prepare_softmax_backward(sm, y, dy, dx, shape, axis)?
            .record(encoder)
    }

    /// Prepare the backward `dx` along `axis` once for these buffer ranges (arguments as
    /// [`Context::record_softmax_backward`]).
    pub fn prepare_softmax_backward(
        &self,
        sm: &Softmax,
        y: Tensor,
        dy: Tensor,
        dx: Tensor,
        shape: &[usize],
        axis: usize,
    ) -> Result<Prepared> {
        sm.validate()?;
        let g = geometry(sm.kind.name(), shape, axis)?;
        check_tensor("saved output y", &y, shape, &g)?;
        check_tensor("dy", &dy, shape, &g)?;
        check_tensor("dx", &dx, shape, &g)?;
        same_dtype(&[y, dy, dx])?;
        if dx.buffer == y.buffer || dx.buffer == dy.buffer {
            return Err(Error::Aliasing(
                "dx lies in the same buffer as y or dy; use a separate buffer".into(),
            ));
        }
        self.prepare_family(
            sm,
            true,
            &g,
            Io {
                src: y,
                dy: Some(dy),
                dst: dx,
            },
        )
    }

    fn prepare_family(
        &self,
        sm: &Softmax,
        backward: bool,
        g: &Geometry,
        io: Io,
    ) -> Result<Prepared> {
        let label = format!(
            "softmax/{}/{}",
            sm.kind.name(),
            if backward { "backward" } else { "forward" }
        );
        if g.n == 0 {
            return Ok(Prepared::empty(self, label));
        }
        let dtype = io.src.dtype;
        let es = dtype.size();
        if g.n > u32::MAX as usize {
            return Err(Error::TooLarge {
                elements: g.n,
                bytes: g.n as u64 * es,
                max: u32::MAX as u64 * es,
            });
        }
        let limits = self.limits();
        let align = (limits.min_storage_buffer_offset_alignment as u64).max(4);
        let max_bind = self.max_binding_bytes();
        // Less 4 bytes: f16 bindings are rounded out to whole words.
        let elems = (max_bind.saturating_sub(align + 4) / es) as usize;
        let tuning = if self.is_software() {
            SOFTWARE_TUNING
        } else {
            GPU_TUNING
        };
        let subgroup = self.subgroups().then(|| self.subgroup_min_size() as usize);
        // Vec4 bindings need every bound range to start 16-byte aligned: the tensors' offsets and
        // the binding alignment both multiples of 16.
        let aligned16 = dtype == DType::F32
            && align.is_multiple_of(16)
            && [Some(&io.src), io.dy.as_ref(), Some(&io.dst)]
                .into_iter()
                .flatten()
                .all(|t| t.offset.is_multiple_of(16));
        let plan = plan(g, elems, &tuning, subgroup, aligned16)?;
        let vec4 = plan.vec4;
        let log = sm.log();
        let consts = Consts::new(sm);
        let unit = sm.temperature == 1.0;
        let kernel = |stage| {
            self.kernel(
                KernelKey::Softmax {
                    log,
                    backward,
                    unit,
                    stage,
                    dtype,
                    vec4,
                },
                || build(log, backward, unit, stage, tuning.cache, dtype, vec4),
            )
        };
        let max_dim = limits.max_compute_workgroups_per_dimension;

        // Scratch for split rows: partials per (row, chunk) and statistics per row.
        let rows_total = g.outer * g.inner;
        let scratch = match plan.split {
            Some((_, parts)) => {
                let part_bytes = (rows_total as u64)
                    .saturating_mul(parts as u64)
                    .saturating_mul(16);
                let stat_bytes = rows_total as u64 * 16;
                let cap = max_bind.min(limits.max_buffer_size);
                if part_bytes > cap || stat_bytes > cap {
                    return Err(Error::TooLarge {
                        elements: g.n,
                        bytes: part_bytes.max(stat_bytes),
                        max: cap,
                    });
                }
                Some((part_bytes, stat_bytes, parts))
            }
            None => None,
        };
        let first = kernel(match (plan.split, plan.rows) {
            (Some(_), _) if plan.split_subgroup => STAGE_PARTIALS_SUBGROUP,
            (Some(_), _) => STAGE_PARTIALS,
            (None, Some(true)) => STAGE_ROWS_SUBGROUP,
            (None, Some(false)) => STAGE_ROWS,
            (None, None) => STAGE_FUSED,
        })?;
        let split_kernels = match plan.split {
            Some(_) => Some((kernel(STAGE_COMBINE)?, kernel(STAGE_WRITE)?)),
            None => None,
        };

        self.scoped(&label, || {
            let device = self.device();
            // (binding offset, size, offset in elements); f16 words are bound whole.
            let bind = |t: &Tensor, start: usize, count: usize| -> (u64, u64, u32) {
                let byte = t.offset + start as u64 * es;
                let aligned = byte / align * align;
                (
                    aligned,
                    (byte - aligned + count as u64 * es).next_multiple_of(4),
                    ((byte - aligned) / es) as u32,
                )
            };
            // One uniform block per piece (the partials and write stages share it), then combine.
            let mut params = Vec::with_capacity(plan.pieces.len() + 1);
            let mut binds = Vec::with_capacity(plan.pieces.len());
            for piece in &plan.pieces {
                let (start, count) = plan.span(g, piece);
                let bs = bind(&io.src, start, count);
                let bd = io.dy.as_ref().map(|t| bind(t, start, count));
                let bo = bind(&io.dst, start, count);
                let mut p = plan.params(g, piece, &consts);
                let (gx, gy) = grid(p.groups, max_dim);
                p.grid_x = gx;
                p.off_src = bs.2;
                p.off_dy = bd.map_or(0, |b| b.2);
                p.off_dst = bo.2;
                params.push(p);
                binds.push((bs, bd, bo, gx, gy));
            }
            let combine_grid = grid(rows_total as u32, max_dim);
            if let Some((_, _, parts)) = scratch {
                params.push(SmParams {
                    ti: 1,
                    tj: WG as u32,
                    ti_stride: WG as u32,
                    tj_stride: 1,
                    groups: rows_total as u32,
                    grid_x: combine_grid.0,
                    part_total: parts as u32,
                    ..consts.params()
                });
            }
            let psize = std::mem::size_of::<SmParams>() as u64;
            let stride = psize.next_multiple_of(limits.min_uniform_buffer_offset_alignment as u64);
            let ubo = wgpu::util::DeviceExt::create_buffer_init(
                device,
                &wgpu::util::BufferInitDescriptor {
                    label: Some(&label),
                    contents: &uniform_bytes(&params, stride),
                    usage: wgpu::BufferUsages::UNIFORM,
                },
            );
            let scratch_buffers = scratch.map(|(part_bytes, stat_bytes, _)| {
                let make = |what: &str, size: u64| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(what),
                        size: size.max(16),
                        usage: wgpu::BufferUsages::STORAGE,
                        mapped_at_creation: false,
                    })
                };
                (
                    make("softmax partials", part_bytes),
                    make("softmax row statistics", stat_bytes),
                )
            });
            let tensor_entries = |k: usize| {
                let (bs, bd, bo, _, _) = binds[k];
                let mut e = vec![
                    buffer_entry(0, &ubo, k as u64 * stride, psize),
                    buffer_entry(1, io.src.buffer, bs.0, bs.1),
                ];
                if let (Some(t), Some(b)) = (&io.dy, bd) {
                    e.push(buffer_entry(2, t.buffer, b.0, b.1));
                }
                (e, bo)
            };
            let mut groups = Vec::new();
            for (k, b) in binds.iter().enumerate() {
                let (mut e, bo) = tensor_entries(k);
                match &scratch_buffers {
                    None => e.push(buffer_entry(3, io.dst.buffer, bo.0, bo.1)),
                    Some((parts, _)) => e.push(wgpu::BindGroupEntry {
                        binding: 4,
                        resource: parts.as_entire_binding(),
                    }),
                }
                let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&label),
                    layout: &first.layout,
                    entries: &e,
                });
                groups.push((group, &first.pipeline, b.3, b.4));
            }
            if let (Some((combine, write)), Some((parts, stats))) =
                (&split_kernels, &scratch_buffers)
            {
                let k = plan.pieces.len();
                let e = [
                    buffer_entry(0, &ubo, k as u64 * stride, psize),
                    wgpu::BindGroupEntry {
                        binding: 4,
                        resource: parts.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 5,
                        resource: stats.as_entire_binding(),
                    },
                ];
                let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&label),
                    layout: &combine.layout,
                    entries: &e,
                });
                groups.push((group, &combine.pipeline, combine_grid.0, combine_grid.1));
                for (k, b) in binds.iter().enumerate() {
                    let (mut e, bo) = tensor_entries(k);
                    e.push(buffer_entry(3, io.dst.buffer, bo.0, bo.1));
                    e.push(wgpu::BindGroupEntry {
                        binding: 5,
                        resource: stats.as_entire_binding(),
                    });
                    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some(&label),
                        layout: &write.layout,
                        entries: &e,
                    });
                    groups.push((group, &write.pipeline, b.3, b.4));
                }
            }
            let steps = groups
                .into_iter()
                .map(|(group, pipeline, gx, gy)| Step {
                    pipeline: pipeline.clone(),
                    group,
                    grid: (gx, gy),
                })
                .collect();
            let owned = std::iter::once(ubo)
                .chain(scratch_buffers.into_iter().flat_map(|(p, s)| [p, s]))
                .collect();
            Ok(Prepared::new(self, label.clone(), steps, owned))
        })
    }

    /// `f(x)` along `axis` of a host tensor of `shape`, on the GPU (upload, run, read back).
    pub fn softmax(
        &self,
        sm: &Softmax,
        x: &[f32],
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<f32>> {
        self.softmax_host(sm, x, None, shape, axis)
    }

    /// `f(x)` of an f16 host tensor on the GPU: read as f16, every reduction in f32, the output
    /// rounded once to f16.
    pub fn softmax_f16(
        &self,
        sm: &Softmax,
        x: &[half::f16],
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<half::f16>> {
        self.softmax_host(sm, x, None, shape, axis)
    }

    /// The forward (`dy` absent) or the backward (`x` is the saved output `y`) of host tensors:
    /// along the last axis through the streaming ring, along another in one piece.
    fn softmax_host<T: Element>(
        &self,
        sm: &Softmax,
        x: &[T],
        dy: Option<&[T]>,
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<T>> {
        sm.validate()?;
        let g = geometry(sm.kind.name(), shape, axis)?;
        let what = if dy.is_some() { "saved output y" } else { "x" };
        check_len(shape, &g, what, x.len())?;
        if let Some(dy) = dy {
            check_len(shape, &g, "dy", dy.len())?;
        }
        if g.n == 0 {
            return Ok(Vec::new());
        }
        let mut out = vec![T::zeroed(); g.n];
        if axis + 1 == shape.len() {
            let io = HostIo::Separate(x, &mut out);
            let opts = StreamOptions::default();
            self.stream_softmax_io(sm, io, dy, shape[axis], &opts, no_progress)?;
            return Ok(out);
        }
        let dtype = T::DTYPE;
        let xb = self.upload_of(x)?;
        let dyb = dy.map(|d| self.upload_of(d)).transpose()?;
        let ob = self.create_tensor_of(g.n, dtype)?;
        let mut encoder = self
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(if dy.is_some() {
                    "softmax_backward"
                } else {
                    "softmax"
                }),
            });
        let t = |b| Tensor::of(b, 0, g.n, dtype);
        match &dyb {
            Some(d) => {
                self.record_softmax_backward(&mut encoder, sm, t(&xb), t(d), t(&ob), shape, axis)?
            }
            None => self.record_softmax(&mut encoder, sm, t(&xb), t(&ob), shape, axis)?,
        }
        self.scoped("submit", || self.submit_and_wait(encoder))?;
        self.read_of(&ob, g.n)
    }

    /// The backward `dx` of `f` along `axis` from host tensors (the saved output `y` and `dy`),
    /// on the GPU.
    pub fn softmax_backward(
        &self,
        sm: &Softmax,
        y: &[f32],
        dy: &[f32],
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<f32>> {
        self.softmax_host(sm, y, Some(dy), shape, axis)
    }

    /// The backward `dx` of f16 host tensors on the GPU (reductions in f32, `dx` rounded once).
    pub fn softmax_backward_f16(
        &self,
        sm: &Softmax,
        y: &[half::f16],
        dy: &[half::f16],
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<half::f16>> {
        self.softmax_host(sm, y, Some(dy), shape, axis)
    }
}

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

/// The fast CPU path of the softmax family: the GPU's algorithm in f32 on every core (rayon),
/// compiled for AVX2 + FMA where the CPU has them. Accuracy is the GPU's; the exact oracle is
/// [`reference_forward_exact`].
pub mod cpu {
    use super::*;

    /// `f(x)` along `axis` of a tensor of `shape`.
    pub fn softmax(sm: &Softmax, x: &[f32], shape: &[usize], axis: usize) -> Result<Vec<f32>> {
        let mut out = vec![0.0; x.len()];
        softmax_into(sm, x, shape, axis, &mut out)?;
        Ok(out)
    }

    /// `f(x)` into `out` (same length as `x`).
    pub fn softmax_into(
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

    /// `p` widened to f32 (exact).
    fn widened(p: &[half::f16]) -> Vec<f32> {
        let mut v = vec![0.0; p.len()];
        p.convert_to_f32_slice(&mut v);
        v
    }

    /// `f(x)` of f16 values: computed as in [`softmax`], rounded once to f16.
    pub fn softmax_f16(
        sm: &Softmax,
        x: &[half::f16],
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<half::f16>> {
        let mut out = vec![half::f16::ZERO; x.len()];
        softmax_into_f16(sm, x, shape, axis, &mut out)?;
        Ok(out)
    }

    /// `f(x)` of f16 values into `out` (same length as `x`): the bits of [`softmax_f16`].
    /// Contiguous rows (the last axis) go through f32 copies of a few rows at a time on every
    /// core; another axis goes through f32 copies of the whole tensor.
    pub fn softmax_into_f16(
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
            let y = softmax(sm, &crate::cpu::widen(x), shape, axis)?;
            crate::cpu::narrow_into(&y, out);
            return Ok(());
        }
        let c = Consts::new(sm);
        if g.len >= LONG_ROW && g.outer < FEW_ROWS {
            // The statistics over the same pieces, reduced alike, as `softmax_into`'s.
            for (row, orow) in x.chunks_exact(g.len).zip(out.chunks_exact_mut(g.len)) {
                let (m, f) = row
                    .par_chunks(TASK)
                    .map(|p| slice_max(&widened(p), &c))
                    .reduce(|| (-FMAX, 0), |a, b| (a.0.max(b.0), a.1 | b.1));
                let s = row
                    .par_chunks(TASK)
                    .map(|p| slice_sum(&widened(p), m, &c))
                    .reduce(|| (0.0, 0.0), dd_add);
                let st = row_stats(m, s, f);
                orow.par_chunks_mut(TASK)
                    .zip(row.par_chunks(TASK))
                    .for_each(|(o, p)| {
                        let mut y = vec![0.0; p.len()];
                        rows_write_part(&widened(p), &mut y, &st, &c);
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

    /// The backward of f16 values (see [`softmax_backward`]), rounded once to f16.
    pub fn softmax_backward_f16(
        sm: &Softmax,
        y: &[half::f16],
        dy: &[half::f16],
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<half::f16>> {
        let mut dx = vec![half::f16::ZERO; y.len()];
        softmax_backward_into_f16(sm, y, dy, shape, axis, &mut dx)?;
        Ok(dx)
    }

    /// The backward of f16 values into `dx` (same length as `y`): the bits of
    /// [`softmax_backward_f16`], through f32 copies of a few rows at a time as
    /// [`softmax_into_f16`].
    pub fn softmax_backward_into_f16(
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
            let r = softmax_backward(
                sm,
                &crate::cpu::widen(y),
                &crate::cpu::widen(dy),
                shape,
                axis,
            )?;
            crate::cpu::narrow_into(&r, dx);
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
                    .map(|(a, b)| bwd_slice(&widened(a), &widened(b), &c))
                    .reduce(|| ((0.0, 0.0), 0), |a, b| (dd_add(a.0, b.0), a.1 | b.1));
                xr.par_chunks_mut(TASK)
                    .zip(yr.par_chunks(TASK))
                    .zip(dr.par_chunks(TASK))
                    .for_each(|((o, a), b)| {
                        let mut t = vec![0.0; o.len()];
                        bwd_write(&widened(a), &widened(b), &mut t, s, f, &c);
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

    /// The backward `dx` of `f` from the saved output `y` and `dy`.
    pub fn softmax_backward(
        sm: &Softmax,
        y: &[f32],
        dy: &[f32],
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<f32>> {
        let mut dx = vec![0.0; y.len()];
        softmax_backward_into(sm, y, dy, shape, axis, &mut dx)?;
        Ok(dx)
    }

    /// The backward into `dx` (same length as `y`).
    pub fn softmax_backward_into(
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
            .for_each(|(k, ((o, a), b))| {
                bwd_cols_write(a, b, o, k * per, g.len, g.inner, &sums, &c)
            });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The exact f64 reference.

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

/// The exact `f(x)` along `axis` (f64, before rounding to f32): the function of the f32 inputs
/// divided by the temperature in real arithmetic, with a compensated sum; the special rows as
/// the module documentation says.
pub fn reference_forward_exact(
    sm: &Softmax,
    x: &[f32],
    shape: &[usize],
    axis: usize,
) -> Result<Vec<f64>> {
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
pub fn reference_backward_exact(
    sm: &Softmax,
    y: &[f32],
    dy: &[f32],
    shape: &[usize],
    axis: usize,
) -> Result<Vec<f64>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_gpu(g: &Geometry, elems: usize) -> Result<Plan> {
        plan(g, elems, &GPU_TUNING, None, false)
    }

    #[test]
    fn plans() {
        let g = |outer, len, inner| Geometry {
            outer,
            len,
            inner,
            n: outer * len * inner,
        };
        // Short rows: many per workgroup; long rows: one workgroup each.
        let p = plan_gpu(&g(100, 7, 1), 1 << 20).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj, p.split, p.pieces.len()), (256, 1, None, 1));
        let p = plan_gpu(&g(4096, 1024, 1), 1 << 30).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj, p.split), (4, 64, None));
        let p = plan_gpu(&g(10, 5000, 1), 1 << 30).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj, p.split), (1, 256, None));
        // A single long row is split.
        let p = plan_gpu(&g(1, 1 << 20, 1), 1 << 30).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj), (1, 256));
        let (chunk, parts) = p.split.unwrap(); // ok: unit test
        assert!(chunk >= MIN_CHUNK && parts * chunk >= 1 << 20);
        // A row above the binding limit is cut into pieces that are whole chunks.
        let p = plan_gpu(&g(2, 10_000, 1), 3000).unwrap(); // ok: unit test
        let (chunk, _) = p.split.unwrap(); // ok: unit test
        assert!(p
            .pieces
            .iter()
            .all(|q| q.j0 % chunk == 0 && q.j_count <= 3000));
        assert_eq!(p.pieces.iter().map(|q| q.j_count).sum::<usize>(), 20_000);
        // Columns: lanes across inner.
        let p = plan_gpu(&g(3, 500, 8), 1 << 20).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj, p.split), (8, 32, None));
        // Short columns: lanes go to further rows.
        let p = plan_gpu(&g(70_000, 2, 2), 1 << 30).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj, p.split), (256, 1, None));
        // The rows kernel: short contiguous rows, a subgroup each (workgroups hold as many rows
        // as subgroups of the smallest size), or TJ lanes each without subgroups.
        let p = plan_gpu(&g(100, 7, 1), 1 << 20).unwrap(); // ok: unit test
        assert_eq!(p.rows, Some(false));
        let p = plan(&g(100, 7, 1), 1 << 20, &GPU_TUNING, Some(32), false).unwrap(); // ok: unit test
        assert_eq!((p.rows, p.ti, p.split), (Some(true), 8, None));
        let p = plan(&g(4096, 100, 1), 1 << 20, &GPU_TUNING, Some(32), false).unwrap(); // ok: unit test
        assert_eq!((p.rows, p.ti, p.split), (Some(true), 8, None));
        // Few long rows on a software rasterizer: a workgroup each.
        let p = plan(
            &g(16, 262_144, 1),
            1 << 30,
            &SOFTWARE_TUNING,
            Some(8),
            false,
        )
        .unwrap(); // ok: unit test
        assert_eq!((p.rows, p.ti, p.split), (Some(true), 1, None));
        let p = plan(&g(4096, 1024, 1), 1 << 30, &SOFTWARE_TUNING, Some(8), false).unwrap(); // ok: unit test
        assert_eq!((p.rows, p.ti), (Some(true), 32));
        // Longer rows, columns and split rows do not take it.
        let rows =
            |g: &Geometry, elems, tuning, sub| plan(g, elems, tuning, sub, false).unwrap().rows; // ok: unit test
        assert_eq!(rows(&g(10, 5000, 1), 1 << 30, &GPU_TUNING, Some(32)), None);
        assert_eq!(rows(&g(3, 500, 8), 1 << 20, &GPU_TUNING, Some(32)), None);
        assert_eq!(
            rows(&g(1, 1 << 20, 1), 1 << 30, &SOFTWARE_TUNING, Some(8)),
            None
        );
        // Split rows' partials by a subgroup per chunk: a software rasterizer with subgroups,
        // contiguous rows.
        let sp = |g: &Geometry, tuning, sub| plan(g, 1 << 30, tuning, sub, false).unwrap(); // ok: unit test
        assert!(sp(&g(1, 1 << 20, 1), &SOFTWARE_TUNING, Some(8)).split_subgroup);
        assert!(!sp(&g(1, 1 << 20, 1), &SOFTWARE_TUNING, None).split_subgroup);
        assert!(!sp(&g(1, 1 << 20, 1), &GPU_TUNING, Some(32)).split_subgroup);
        assert!(!sp(&g(2, 1 << 20, 3), &SOFTWARE_TUNING, Some(8)).split_subgroup);
        // Nothing fits: a typed error.
        assert!(plan_gpu(&g(1, 4, 1000), 500).is_err());
        // Vec4: contiguous aligned rows of a multiple of 4; split chunks stay whole quads.
        let v = |g: &Geometry, elems, aligned| plan(g, elems, &GPU_TUNING, None, aligned).unwrap(); // ok: unit test
        assert!(v(&g(4096, 1024, 1), 1 << 30, true).vec4);
        assert!(!v(&g(4096, 1024, 1), 1 << 30, false).vec4);
        assert!(!v(&g(4096, 1022, 1), 1 << 30, true).vec4);
        assert!(!v(&g(3, 500, 8), 1 << 20, true).vec4);
        let p = v(&g(2, 10_000, 1), 3001, true);
        let (chunk, _) = p.split.unwrap(); // ok: unit test
        assert!(p.vec4 && chunk.is_multiple_of(4));
        assert!(p
            .pieces
            .iter()
            .all(|q| q.j0.is_multiple_of(4) && q.j_count.is_multiple_of(4)));
    }

    #[test]
    fn temperature_checks() {
        assert!(Softmax::softmax().with_temperature(0.0).validate().is_err());
        assert!(Softmax::softmax()
            .with_temperature(f32::NAN)
            .validate()
            .is_err());
        assert!(Softmax::softmax()
            .with_temperature(-1.0)
            .validate()
            .is_err());
        assert!(Softmax::softmax().with_temperature(0.5).validate().is_ok());
    }
}
