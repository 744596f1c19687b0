//! The softmax family on the GPU (`shaders/softmax.wgsl`): launch plans and kernels.
//!
//! The tensor is seen as `[outer, len, inner]` with the reduced axis in the middle. One kernel
//! family covers every shape, picked by the host from the shape and the device's limits:
//!
//! - **rows kernel** (`inner == 1`, rows up to [`Tuning`]'s `rows_max_len`: 1024 on a GPU, any
//!   unsplit length on a software rasterizer): a group of lanes per row, on its own — a subgroup
//!   where the device has `SUBGROUP` (subgroup reductions, no barriers, any subgroup size from 4
//!   to 128), else `TJ` lanes with reductions in workgroup memory (`set_subgroups`, feature `testing`,
//!   forces this fallback). Probabilities at temperature 1 into f32 (softmax, softmin) take two
//!   reads: the sum of `e^(x − c)` around an integer shift `c` (so that `x − c` is exact; a second
//!   sum pass only where the row spans more than 64 above `c`), with an f32 exp accurate to ~0.5
//!   ULP and Kahan-compensated sums, then `p = e^(x − c)/S` recomputed and rounded once (within
//!   2.6 ULP measured; a software rasterizer spends its time in arithmetic, and this path does
//!   about a third of the double-float path's). Otherwise (log_softmax, other temperatures, f16)
//!   the row's maximum comes first (no exp), then the sum relative to it (one exp per element, no
//!   rescaling), then the output; a row of up to `CACHE` elements per lane is read once and keeps
//!   its `e^d` in private memory for the output.
//! - **rows, fused** (`inner == 1`, longer rows): a workgroup of `WG` invocations
//!   ([`WORKGROUP_SIZE`], 256) handles `WG / TJ` rows with `TJ` invocations each (`TJ` ≈
//!   `len / 16` on a GPU, `len / 64` on a software rasterizer, from 1 up to `WG`): one
//!   invocation per row for short rows, one workgroup per row for long ones. An online (max, sum) pass, a two-level reduction in workgroup memory (two barriers),
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

use crate::base::dtype::DType;
use crate::base::error::{Error, Result};
use crate::gpu::binding::{
    aligned_range, buffer_range as buffer_entry, storage_entry, uniform_entry,
};
use crate::gpu::context::{Context, KernelSource};
use crate::gpu::prepared::{Prepared, Step};
use crate::gpu::source::{self, WORKGROUP_SIZE};
use crate::gpu::tensor::{check_range_of, grid, Tensor};
use crate::gpu::uniform::{uniform, Pad, Uniform};
use crate::ops::softmax::{check_len, geometry, Axis, Consts, Geometry, Softmax};

// ---------------------------------------------------------------------------------------------
// GPU: kernels and launch plans.

/// The softmax pipeline-cache key: log-probabilities (`log`) or probabilities, forward or
/// `backward`, temperature 1 (`unit`) or not, the stage, the dtypes, and whether tensors are bound
/// as vec4 arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SoftmaxKey {
    log: bool,
    backward: bool,
    unit: bool,
    stage: u8,
    dtype: Dtypes,
    vec4: bool,
}

/// The dtypes of one softmax call: its inputs' (x, or the saved y and dy) and its output's. They
/// are equal but for a forward with 16-bit input and f32 output (PyTorch's
/// `softmax(x, dim, dtype=torch.float32)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Dtypes {
    pub(super) input: DType,
    pub(super) output: DType,
}

impl From<DType> for Dtypes {
    fn from(d: DType) -> Dtypes {
        Dtypes {
            input: d,
            output: d,
        }
    }
}

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
const WG: usize = WORKGROUP_SIZE as usize;
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

uniform! {
    /// The uniform block of `softmax.wgsl` (`SmParams`), one per dispatch.
    #[derive(Default)]
    pub(super) struct SmParams {
        /// The dispatch's view: `rows` rows of `len` elements, row r = o * inner + i, element j
        /// of it at o * s_o + j * s_j + i * s_i.
        rows: u32,
        len: u32,
        inner: u32,
        s_o: u32,
        s_j: u32,
        s_i: u32,
        /// Offsets inside the bound ranges (bindings start at aligned offsets).
        off_src: u32,
        off_dy: u32,
        off_dst: u32,
        /// Lanes across rows and along a row, and how far apart they are in the local index.
        ti: u32,
        tj: u32,
        ti_stride: u32,
        tj_stride: u32,
        /// Workgroups: ceil(rows / ti) blocks of rows, times `chunks` chunks of `chunk` elements.
        i_blocks: u32,
        chunk: u32,
        chunks: u32,
        groups: u32,
        grid_x: u32,
        /// Split rows: the global index of the dispatch's first row, its first chunk, chunks per
        /// row.
        row_base: u32,
        part_base: u32,
        part_total: u32,
        /// 0x80000000 for softmin (x -> -x, a sign flip), else 0.
        flip: u32,
        /// 1: a fully masked row gives 0 (log_softmax: -inf, backward: 0) instead of NaN.
        safe: u32,
        /// 1.0: the shader compiler cannot see through it (see math.wgsl's `opaque`).
        one: f32,
        /// 2/T, as a double-float: (x - m)/T = ((x - m)/2) * (2/T).
        g_hi: f32,
        g_lo: f32,
        /// Backward's factor: 1/T, or -1/T for softmin, as a double-float.
        b_hi: f32,
        b_lo: f32,
        /// Largest |(x - m)/2| whose product with g_hi stays finite; beyond it e^d = 0 and
        /// log p = -inf.
        lim_a: f32,
        pad: Pad<3>,
    }
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

/// The tensors' bindings and accessors of softmax.wgsl (its `{{IO}}`); `vec4`: f32 tensors bound
/// as vec4 arrays (every bound range 16-byte aligned, a multiple of 16 bytes long).
fn io_wgsl(dtype: Dtypes, vec4: bool) -> String {
    if vec4 {
        return source::SOFTMAX_IO_VEC4.to_string();
    }
    let part =
        |d: DType, f32: &'static str, half: &'static str| if d.is_half() { half } else { f32 };
    format!(
        "{}\n{}\n{}",
        part(
            dtype.input,
            source::SOFTMAX_IO_F32_IN,
            source::SOFTMAX_IO_HALF_IN
        ),
        part(
            dtype.output,
            source::SOFTMAX_IO_F32_OUT,
            source::SOFTMAX_IO_HALF_OUT
        ),
        source::SOFTMAX_IO_QUADS
    )
}

pub(super) fn build(
    log: bool,
    backward: bool,
    unit: bool,
    stage: u8,
    cache: usize,
    dtype: Dtypes,
    vec4: bool,
) -> Result<KernelSource> {
    let dir = if backward { "bwd" } else { "fwd" };
    let label = format!(
        "softmax/{}/{dir}{}/{}{}{}",
        if log { "log" } else { "prob" },
        if unit { "" } else { "/temperature" },
        stage_name(stage),
        dtypes_label(dtype),
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
            ("PARAMS", &SmParams::wgsl()),
            ("WG", &WORKGROUP_SIZE.to_string()),
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
    let codec = source::half_codec(dtype.input);
    let wgsl = format!("{}\n{}\n{}\n{}", source::MATH, codec, template, lanes);
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

/// `""` for f32, `"/f16"`, `"/bf16"`, `"/f16->f32"`, ...
fn dtypes_label(d: Dtypes) -> String {
    match (d.input, d.output) {
        (DType::F32, DType::F32) => String::new(),
        (i, o) if i == o => format!("/{}", i.name()),
        (i, o) => format!("/{}->{}", i.name(), o.name()),
    }
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
    /// tensor records nothing. `y` has `x`'s dtype, or is f32 for an f16 or bf16 `x` (PyTorch's
    /// `softmax(x, dim, dtype=torch.float32)`: the same f32 result, not rounded to 16 bits).
    #[allow(clippy::too_many_arguments)]
    pub fn record_softmax(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        sm: &Softmax,
        x: Tensor,
        y: Tensor,
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<()> {
        let axis = axis.into().index(sm.kind.name(), shape)?;
        self.prepare_softmax(sm, x, y, shape, axis)?.record(encoder)
    }

    /// Prepare `y = f(x)` along `axis` once for these buffer ranges (arguments as
    /// [`Context::record_softmax`]), to record any number of times (see [`Prepared`](crate::Prepared)).
    /// Split rows get scratch buffers of their own, owned by the prepared op.
    pub fn prepare_softmax(
        &self,
        sm: &Softmax,
        x: Tensor,
        y: Tensor,
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Prepared> {
        let axis = axis.into().index(sm.kind.name(), shape)?;
        sm.validate()?;
        let g = geometry(sm.kind.name(), shape, axis)?;
        check_tensor("x", &x, shape, &g)?;
        check_tensor("y", &y, shape, &g)?;
        if !(x.dtype.is_half() && y.dtype == DType::F32) {
            same_dtype(&[x, y])?;
        }
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
        axis: impl Into<Axis>,
    ) -> Result<()> {
        let axis = axis.into().index(sm.kind.name(), shape)?;
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
        axis: impl Into<Axis>,
    ) -> Result<Prepared> {
        let axis = axis.into().index(sm.kind.name(), shape)?;
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
        let dtype = Dtypes {
            input: io.src.dtype,
            output: io.dst.dtype,
        };
        let es = dtype.input.size().max(dtype.output.size());
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
        let aligned16 = dtype == DType::F32.into()
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
                SoftmaxKey {
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

        // Scratch for split rows: partials per (row, chunk) and statistics per row, 16 bytes
        // each; log_softmax's backward keeps its large gradients' sum apart, in a second entry.
        let rows_total = g.outer * g.inner;
        let entry = if log && backward { 32 } else { 16 };
        let scratch = match plan.split {
            Some((_, parts)) => {
                let part_bytes = (rows_total as u64)
                    .saturating_mul(parts as u64)
                    .saturating_mul(entry);
                let stat_bytes = rows_total as u64 * entry;
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
            let bind =
                |t: &Tensor, start: usize, count: usize| aligned_range(t, start, count, align, 1);
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
}

/// Every softmax kernel the key space allows: each stage × forward/backward × log/probabilities
/// × unit temperature or not × dtype × vec4 (f32 only), at both tunings' `CACHE`.
#[cfg(test)]
pub(super) fn every_kernel() -> impl Iterator<Item = Result<KernelSource>> {
    let mut out = Vec::new();
    for stage in [
        STAGE_FUSED,
        STAGE_PARTIALS,
        STAGE_COMBINE,
        STAGE_WRITE,
        STAGE_ROWS,
        STAGE_ROWS_SUBGROUP,
        STAGE_PARTIALS_SUBGROUP,
    ] {
        for backward in [false, true] {
            for log in [false, true] {
                for unit in [false, true] {
                    let mixed = |output| Dtypes {
                        input: DType::F16,
                        output,
                    };
                    for (dtype, vec4) in [
                        (DType::F32.into(), false),
                        (DType::F32.into(), true),
                        (DType::F16.into(), false),
                        (DType::BF16.into(), false),
                        (mixed(DType::F32), false),
                        (
                            Dtypes {
                                input: DType::BF16,
                                output: DType::F32,
                            },
                            false,
                        ),
                    ] {
                        for cache in [GPU_TUNING.cache, SOFTWARE_TUNING.cache] {
                            out.push((log, backward, unit, stage, cache, dtype, vec4));
                        }
                    }
                }
            }
        }
    }
    out.into_iter()
        .map(|(log, backward, unit, stage, cache, dtype, vec4)| {
            build(log, backward, unit, stage, cache, dtype, vec4)
        })
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
        assert_eq!((p.ti, p.tj, p.split, p.pieces.len()), (WG, 1, None, 1));
        let p = plan_gpu(&g(4096, 1024, 1), 1 << 30).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj, p.split), (4, 64, None));
        let p = plan_gpu(&g(10, 5000, 1), 1 << 30).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj, p.split), (1, WG, None));
        // A single long row is split.
        let p = plan_gpu(&g(1, 1 << 20, 1), 1 << 30).unwrap(); // ok: unit test
        assert_eq!((p.ti, p.tj), (1, WG));
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
        assert_eq!((p.ti, p.tj, p.split), (WG, 1, None));
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
}
