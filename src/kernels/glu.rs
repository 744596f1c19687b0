//! Launching the GLU family's kernel (`shaders/glu.wgsl`; the op is described in
//! [`crate::Glu`]).
//!
//! One kernel per variant × mode × form (one tensor or two) × dtype. The tensors' bindings and
//! accessors are generated here from the dtype's storage ([`storage`]): f32 arrays, or 16-bit
//! floats packed two to a u32 word with the dtype's WGSL conversions (f16: `shaders/f16.wgsl`);
//! a packed store sets only its own half with two atomics, so neighbouring elements written by
//! different invocations (or lying outside the tensor) are kept. A new 16-bit dtype is one arm of
//! [`storage`].
//!
//! A call is split, as the element-wise and softmax kernels split theirs, into dispatches whose
//! bindings each stay within the device's storage-binding limit, every binding at an offset
//! aligned to `min_storage_buffer_offset_alignment` (the kernel skips the few elements of slack)
//! and every dispatch with its own uniform block ([`plan`]): runs of whole `outer` rows of the
//! one-tensor form (`[outer, 2·half, inner]`) where one row's input, `2·half·inner` elements,
//! fits a binding (the whole call in one dispatch where everything fits); else each row's halves
//! cut into even pieces along `half·inner`, which the two-input kernel runs with the gate and the
//! value (d gate and d value) bound as two ranges of the one buffer. The two-input form is one
//! row: pieces of its tensors. Every element goes through the same arithmetic whatever the split,
//! so the results are the same bits. Workgroups fold into a 2-D grid past 65,535.
//!
//! A binding holds fewer than 2^31 elements, so every index inside a dispatch fits a u32 and
//! nothing is refused for its size except a call needing more uniform blocks than one buffer
//! holds (`max_buffer_size` / the uniform offset alignment: a million dispatches at wgpu's
//! smallest limits), an [`Error::TooLarge`] that only the `testing` feature's binding cap of a
//! few hundred bytes can reach.

use std::sync::Arc;

use crate::base::dtype::DType;
use crate::base::error::{Error, Result};
use crate::gpu::binding::{aligned_range, buffer_range, storage_entry, uniform_entry};
use crate::gpu::context::{CachedKernel, Context, KernelSource};
use crate::gpu::prepared::{Prepared, Step};
use crate::gpu::source::{self, WORKGROUP_SIZE};
use crate::gpu::tensor::{check_tensor, grid, Tensor};
use crate::gpu::uniform::{uniform, Pad, Uniform};
use crate::ops::glu::{glu_geometry, Glu, GluGeometry};
use crate::ops::softmax::Axis;

uniform! {
    /// The uniform block of `glu.wgsl`.
    pub(super) struct GluParams {
        /// Output elements (forward) or dy elements (backward).
        n: u32,
        /// Output elements per outer row (half · inner), and input elements per row.
        row: u32,
        row_in: u32,
        /// Where the gate and the value start in an input row.
        shift_gate: u32,
        shift_value: u32,
        /// Offsets, in elements, inside the bound ranges (bindings start at aligned offsets).
        off_gate: u32,
        off_value: u32,
        off_dy: u32,
        off_out: u32,
        off_dvalue: u32,
        /// Grid width × workgroup size, and invocations in the whole grid.
        row_stride: u32,
        stride: u32,
        /// 1.0 from the host (math.wgsl's `math_one`).
        one: f32,
        pad: Pad<3>,
    }
}

/// The GLU pipeline-cache key: the op, backward or not, two inputs or one, the dtype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct GluKey {
    glu: Glu,
    backward: bool,
    pair: bool,
    dtype: DType,
}

/// How a dtype lies in a storage buffer, for the generated accessors.
enum Storage {
    /// One f32 per array element.
    F32,
    /// Two 16-bit floats (f16 or bf16) per u32 word (element 2k in the low half), converted by
    /// the dtype's codec (`source::half_codec`: `half_to_f32`, `half_from_f32`).
    Packed16 { codec: String },
}

fn storage(dtype: DType) -> Storage {
    match dtype {
        DType::F32 => Storage::F32,
        DType::F16 | DType::BF16 => Storage::Packed16 {
            codec: source::half_codec(dtype),
        },
    }
}

/// A read-only tensor at `binding`, read by `ld_NAME(i)`.
fn io_read(st: &Storage, name: &str, binding: u32) -> String {
    match st {
        Storage::F32 => format!(
            "@group(0) @binding({binding}) var<storage, read> t_{name}: array<f32>;\n\
             fn ld_{name}(i: u32) -> f32 {{ return t_{name}[i]; }}\n"
        ),
        Storage::Packed16 { .. } => format!(
            "@group(0) @binding({binding}) var<storage, read> t_{name}: array<u32>;\n\
             fn ld_{name}(i: u32) -> f32 {{ return half_to_f32((t_{name}[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu); }}\n"
        ),
    }
}

/// A written tensor at `binding`, written by `st_NAME(i, v)`.
fn io_write(st: &Storage, name: &str, binding: u32) -> String {
    match st {
        Storage::F32 => format!(
            "@group(0) @binding({binding}) var<storage, read_write> t_{name}: array<f32>;\n\
             fn st_{name}(i: u32, v: f32) {{ t_{name}[i] = v; }}\n"
        ),
        Storage::Packed16 { .. } => format!(
            "@group(0) @binding({binding}) var<storage, read_write> t_{name}: array<atomic<u32>>;\n\
             fn st_{name}(i: u32, v: f32) {{\n\
             \x20   let sh = (i & 1u) * 16u;\n\
             \x20   atomicAnd(&t_{name}[i >> 1u], ~(0xffffu << sh));\n\
             \x20   atomicOr(&t_{name}[i >> 1u], half_from_f32(v) << sh);\n\
             }}\n"
        ),
    }
}

/// The kernel's WGSL and layout. Bindings: 1 gate (the one-tensor form: x, both halves), 2 value
/// (two inputs only), 3 dy (backward), 4 the output (forward) or d gate (backward; the one-tensor
/// form: dx, both halves), 5 d value (two-input backward only).
fn build(key: GluKey) -> Result<KernelSource> {
    let GluKey {
        glu,
        backward,
        pair,
        dtype,
    } = key;
    let label = format!(
        "glu/{}/{}{}{}",
        glu.name(),
        if backward { "backward" } else { "forward" },
        if pair { "/pair" } else { "" },
        if dtype == DType::F32 {
            String::new()
        } else {
            format!("/{}", dtype.name())
        },
    );
    let st = storage(dtype);
    let mut entries = vec![uniform_entry(std::mem::size_of::<GluParams>())];
    let mut io = io_read(&st, "gate", 1);
    entries.push(storage_entry(1, true));
    if pair {
        io += &io_read(&st, "value", 2);
        entries.push(storage_entry(2, true));
    } else {
        io += "fn ld_value(i: u32) -> f32 { return ld_gate(i); }\n";
    }
    if backward {
        io += &io_read(&st, "dy", 3);
        entries.push(storage_entry(3, true));
    } else {
        io += "fn ld_dy(i: u32) -> f32 { return 0.0; }\n";
    }
    io += &io_write(&st, "out", 4);
    entries.push(storage_entry(4, false));
    if backward && pair {
        io += &io_write(&st, "dvalue", 5);
        entries.push(storage_entry(5, false));
    } else {
        io += "fn st_dvalue(i: u32, v: f32) { st_out(i, v); }\n";
    }
    let body = source::fill(
        &label,
        source::GLU,
        &[
            ("PARAMS", &GluParams::wgsl()),
            ("WG", &WORKGROUP_SIZE.to_string()),
            ("V", glu.name()),
            ("MODE", if backward { "backward" } else { "forward" }),
            ("IO", &io),
        ],
    )?;
    let prelude = match &st {
        Storage::F32 => "",
        Storage::Packed16 { codec } => codec.as_str(),
    };
    let wgsl = source::with_ops(&[prelude, body.as_str()]);
    Ok(KernelSource {
        label,
        wgsl,
        entries,
        entry_point: "main",
    })
}

/// The tensors of one call.
struct Io<'a> {
    gate: Tensor<'a>,
    value: Option<Tensor<'a>>,
    dy: Option<Tensor<'a>>,
    out: Tensor<'a>,
    dvalue: Option<Tensor<'a>>,
}

impl Context {
    /// Record the one-tensor forward into `encoder`: `y` (`shape` with `axis` halved) from `x`
    /// (`shape`), split along `axis` into the halves `a`, `b` (see [`Glu`] for which is the gate).
    #[allow(clippy::too_many_arguments)]
    pub fn record_glu(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        glu: &Glu,
        x: Tensor,
        y: Tensor,
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<()> {
        self.prepare_glu(glu, x, y, shape, axis)?.record(encoder)
    }

    /// Prepare the one-tensor forward once, to record any number of times.
    pub fn prepare_glu(
        &self,
        glu: &Glu,
        x: Tensor,
        y: Tensor,
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Prepared> {
        let geo = glu_geometry(glu, shape, axis.into())?;
        check_tensor("x", &x, geo.n_in)?;
        check_tensor("y", &y, geo.n_out)?;
        let io = Io {
            gate: x,
            value: None,
            dy: None,
            out: y,
            dvalue: None,
        };
        self.prepare_glu_io(glu, &geo, io)
    }

    /// Record the one-tensor backward into `encoder`: `dx` (the shape of `x`: d gate and
    /// d value in their halves) from the saved input `x` and `dy` (the output's shape).
    #[allow(clippy::too_many_arguments)]
    pub fn record_glu_backward(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        glu: &Glu,
        x: Tensor,
        dy: Tensor,
        dx: Tensor,
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<()> {
        self.prepare_glu_backward(glu, x, dy, dx, shape, axis)?
            .record(encoder)
    }

    /// Prepare the one-tensor backward once.
    pub fn prepare_glu_backward(
        &self,
        glu: &Glu,
        x: Tensor,
        dy: Tensor,
        dx: Tensor,
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Prepared> {
        let geo = glu_geometry(glu, shape, axis.into())?;
        check_tensor("saved input x", &x, geo.n_in)?;
        check_tensor("dy", &dy, geo.n_out)?;
        check_tensor("dx", &dx, geo.n_in)?;
        let io = Io {
            gate: x,
            value: None,
            dy: Some(dy),
            out: dx,
            dvalue: None,
        };
        self.prepare_glu_io(glu, &geo, io)
    }

    /// Record the two-input forward `y = f(gate) ⊗ value` into `encoder` (three tensors of one
    /// length).
    pub fn record_glu_pair(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        glu: &Glu,
        gate: Tensor,
        value: Tensor,
        y: Tensor,
    ) -> Result<()> {
        self.prepare_glu_pair(glu, gate, value, y)?.record(encoder)
    }

    /// Prepare the two-input forward once.
    pub fn prepare_glu_pair(
        &self,
        glu: &Glu,
        gate: Tensor,
        value: Tensor,
        y: Tensor,
    ) -> Result<Prepared> {
        let geo = GluGeometry::pair(gate.len);
        check_tensor("gate", &gate, geo.n_in)?;
        check_tensor("value", &value, geo.n_in)?;
        check_tensor("y", &y, geo.n_out)?;
        let io = Io {
            gate,
            value: Some(value),
            dy: None,
            out: y,
            dvalue: None,
        };
        self.prepare_glu_io(glu, &geo, io)
    }

    /// Record the two-input backward into `encoder`: `d gate = dy·value·f'(gate)` and
    /// `d value = dy·f(gate)` (five tensors of one length; the two gradients may share a buffer
    /// at separate ranges, not with an input).
    #[allow(clippy::too_many_arguments)]
    pub fn record_glu_pair_backward(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        glu: &Glu,
        gate: Tensor,
        value: Tensor,
        dy: Tensor,
        dgate: Tensor,
        dvalue: Tensor,
    ) -> Result<()> {
        self.prepare_glu_pair_backward(glu, gate, value, dy, dgate, dvalue)?
            .record(encoder)
    }

    /// Prepare the two-input backward once.
    pub fn prepare_glu_pair_backward(
        &self,
        glu: &Glu,
        gate: Tensor,
        value: Tensor,
        dy: Tensor,
        dgate: Tensor,
        dvalue: Tensor,
    ) -> Result<Prepared> {
        let geo = GluGeometry::pair(gate.len);
        check_tensor("gate", &gate, geo.n_in)?;
        check_tensor("value", &value, geo.n_in)?;
        check_tensor("dy", &dy, geo.n_in)?;
        check_tensor("d gate", &dgate, geo.n_in)?;
        check_tensor("d value", &dvalue, geo.n_in)?;
        let io = Io {
            gate,
            value: Some(value),
            dy: Some(dy),
            out: dgate,
            dvalue: Some(dvalue),
        };
        self.prepare_glu_io(glu, &geo, io)
    }

    fn prepare_glu_io(&self, glu: &Glu, geo: &GluGeometry, io: Io) -> Result<Prepared> {
        let backward = io.dy.is_some();
        let pair = io.value.is_some();
        let label = format!(
            "glu/{}/{}",
            glu.name(),
            if backward { "backward" } else { "forward" }
        );
        let inputs: Vec<&Tensor> = [Some(&io.gate), io.value.as_ref(), io.dy.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        let outputs: Vec<&Tensor> = [Some(&io.out), io.dvalue.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        let dtype = io.gate.dtype;
        if inputs.iter().chain(&outputs).any(|t| t.dtype != dtype) {
            return Err(Error::DTypeMismatch(format!(
                "every tensor of one {} call must have the same dtype (the gate is {})",
                glu.name(),
                dtype.name()
            )));
        }
        if outputs
            .iter()
            .any(|o| inputs.iter().any(|i| i.buffer == o.buffer))
        {
            return Err(Error::Aliasing(format!(
                "an output of {} lies in the same buffer as an input",
                glu.name()
            )));
        }
        if let Some(dv) = &io.dvalue {
            let es = dtype.size();
            let (a0, a1) = (io.out.offset, io.out.offset + io.out.len as u64 * es);
            let (b0, b1) = (dv.offset, dv.offset + dv.len as u64 * es);
            // Packed 16-bit elements are written by halves of words: sharing a word is fine.
            if io.out.buffer == dv.buffer && a0 < b1 && b0 < a1 {
                return Err(Error::Aliasing(
                    "d gate and d value overlap in one buffer".into(),
                ));
            }
        }
        if geo.n_out == 0 {
            return Ok(Prepared::empty(self, label));
        }
        let limits = self.limits();
        let align = (limits.min_storage_buffer_offset_alignment as u64).max(4);
        let es = dtype.size();
        // Elements one binding may hold: the limit less the slack before an aligned offset and a
        // 16-bit range's rounding out to whole words (softmax's rule), and below 2^31, so that
        // every index inside a dispatch (slack included) fits a u32 and the grid-stride loop's
        // `i + stride` cannot wrap.
        let elems = ((self.max_binding_bytes().saturating_sub(align + 4) / es) as usize)
            .clamp(1, i32::MAX as usize);
        let pieces = plan(geo, pair, elems);
        let psize = std::mem::size_of::<GluParams>() as u64;
        let ubo_stride = psize.next_multiple_of(limits.min_uniform_buffer_offset_alignment as u64);
        // One uniform block per dispatch, in one buffer: more dispatches than it holds (a million
        // at wgpu's smallest limits) need a binding cap of a few hundred bytes (`testing` only).
        let ubo_bytes = ubo_stride.saturating_mul(pieces.len() as u64);
        if ubo_bytes > limits.max_buffer_size {
            return Err(Error::TooLarge {
                elements: geo.n_in,
                bytes: ubo_bytes,
                max: limits.max_buffer_size,
            });
        }
        let kernel = |pair| {
            let key = GluKey {
                glu: *glu,
                backward,
                pair,
                dtype,
            };
            self.kernel(key, || build(key))
        };
        // The one-tensor kernel for runs of whole rows, the two-input kernel for halves (built
        // on first use).
        let mut kernels: [Option<Arc<CachedKernel>>; 2] = [None, None];
        let row = geo.half * geo.inner;
        let row_in = if pair { row } else { 2 * row };
        let (sg, sv) = if pair { (0, 0) } else { geo.shifts(glu) };
        let max_groups = self.max_elementwise_groups().max(1);
        // The one-tensor form's value and d value lie in x and dx (their own bindings only when a
        // row is split into halves).
        let value = io.value.as_ref().unwrap_or(&io.gate);
        let dvalue = io.dvalue.as_ref().unwrap_or(&io.out);
        // (binding offset, binding size, offset in elements inside the binding) of `count`
        // elements of `t` from element `start`; 16-bit words are bound whole.
        let bind =
            |t: &Tensor, start: usize, count: usize| aligned_range(t, start, count, align, 1);
        // Per dispatch: its kernel, its bindings (index, buffer, range) and grid; and its
        // uniform block.
        type Binding<'b> = (u32, &'b wgpu::Buffer, (u64, u64, u32));
        type Dispatch<'b> = (Arc<CachedKernel>, Vec<Binding<'b>>, (u32, u32));
        let mut ubo = vec![0u8; ubo_bytes as usize];
        let mut dispatches: Vec<Dispatch> = Vec::with_capacity(pieces.len());
        for (k, piece) in pieces.iter().enumerate() {
            // The kernel's form, output elements, row and input row lengths, shifts, where the
            // gate and the value start in their tensors, input elements of each, and where the
            // output (forward) or dy starts.
            let (halves, n, prow, prow_in, (psg, psv), gate_at, value_at, count_in, out_at) =
                match *piece {
                    Piece::Rows { o0, rows } => (
                        false,
                        rows * row,
                        row,
                        row_in,
                        (sg, sv),
                        o0 * row_in,
                        o0 * row_in,
                        rows * row_in,
                        o0 * row,
                    ),
                    Piece::Halves { o, r0, len } => (
                        true,
                        len,
                        len,
                        len,
                        (0, 0),
                        o * row_in + sg + r0,
                        o * row_in + sv + r0,
                        len,
                        o * row + r0,
                    ),
                };
            let bg = bind(&io.gate, gate_at, count_in);
            let mut b = vec![(1, io.gate.buffer, bg)];
            let bv = halves.then(|| bind(value, value_at, count_in));
            if let Some(r) = bv {
                b.push((2, value.buffer, r));
            }
            let bd = io.dy.as_ref().map(|t| bind(t, out_at, n));
            if let (Some(t), Some(r)) = (&io.dy, bd) {
                b.push((3, t.buffer, r));
            }
            let bo = match backward {
                true => bind(&io.out, gate_at, count_in),
                false => bind(&io.out, out_at, n),
            };
            b.push((4, io.out.buffer, bo));
            let bdv = (backward && halves).then(|| bind(dvalue, value_at, count_in));
            if let Some(r) = bdv {
                b.push((5, dvalue.buffer, r));
            }
            let groups = (n as u32).div_ceil(WORKGROUP_SIZE).min(max_groups);
            let (gx, gy) = grid(groups, limits.max_compute_workgroups_per_dimension);
            let params = GluParams {
                n: n as u32,
                row: prow as u32,
                row_in: prow_in as u32,
                shift_gate: psg as u32,
                shift_value: psv as u32,
                off_gate: bg.2,
                off_value: bv.map_or(bg.2, |r| r.2),
                off_dy: bd.map_or(0, |r| r.2),
                off_out: bo.2,
                off_dvalue: bdv.map_or(bo.2, |r| r.2),
                row_stride: gx * WORKGROUP_SIZE,
                stride: gx * gy * WORKGROUP_SIZE,
                one: 1.0,
                pad: Pad::ZERO,
            };
            let at = k * ubo_stride as usize;
            ubo[at..at + psize as usize].copy_from_slice(bytemuck::bytes_of(&params));
            let kernel = match &kernels[halves as usize] {
                Some(k) => k.clone(),
                None => {
                    let k = kernel(halves)?;
                    kernels[halves as usize] = Some(k.clone());
                    k
                }
            };
            dispatches.push((kernel, b, (gx, gy)));
        }
        self.scoped(&label, || {
            let device = self.device();
            let ubo = wgpu::util::DeviceExt::create_buffer_init(
                device,
                &wgpu::util::BufferInitDescriptor {
                    label: Some(&label),
                    contents: &ubo,
                    usage: wgpu::BufferUsages::UNIFORM,
                },
            );
            let mut steps = Vec::with_capacity(dispatches.len());
            for (k, (kernel, b, grid)) in dispatches.iter().enumerate() {
                let mut entries = vec![buffer_range(0, &ubo, k as u64 * ubo_stride, psize)];
                entries.extend(
                    b.iter()
                        .map(|&(i, buffer, (at, size, _))| buffer_range(i, buffer, at, size)),
                );
                let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&label),
                    layout: &kernel.layout,
                    entries: &entries,
                });
                steps.push(Step {
                    pipeline: kernel.pipeline.clone(),
                    group,
                    grid: *grid,
                });
            }
            Ok(Prepared::new(self, label.clone(), steps, vec![ubo]))
        })
    }
}

/// One dispatch of a GLU call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// Whole rows `o0..o0 + rows` of the one-tensor form, through its kernel (x and dx bound as
    /// one range each, both halves of every row inside it).
    Rows { o0: usize, rows: usize },
    /// Elements `r0..r0 + len` of row `o`'s halves (the two-input form: of its one row), through
    /// the two-input kernel: the gate and the value ranges (d gate and d value) are separate
    /// bindings, of one buffer in the one-tensor form.
    Halves { o: usize, r0: usize, len: usize },
}

/// The dispatches of a call over `geo` (`pair`: the two-input form) when one binding holds at
/// most `elems` elements: runs of whole rows where a row of the input fits (as many as fit, spread
/// evenly), else each row's halves cut into even pieces of at most `elems`. Each output element
/// lies in exactly one piece, in order.
fn plan(geo: &GluGeometry, pair: bool, elems: usize) -> Vec<Piece> {
    let row = geo.half * geo.inner;
    if geo.n_out == 0 {
        return Vec::new();
    }
    let elems = elems.max(1);
    if !pair && 2 * row <= elems {
        let dispatches = geo.outer.div_ceil(elems / (2 * row));
        let per = geo.outer.div_ceil(dispatches);
        return (0..geo.outer)
            .step_by(per)
            .map(|o0| Piece::Rows {
                o0,
                rows: per.min(geo.outer - o0),
            })
            .collect();
    }
    let step = row.div_ceil(row.div_ceil(elems));
    (0..geo.outer)
        .flat_map(|o| {
            (0..row).step_by(step).map(move |r0| Piece::Halves {
                o,
                r0,
                len: step.min(row - r0),
            })
        })
        .collect()
}

/// Every GLU kernel: each op × mode × form × dtype.
#[cfg(test)]
pub(super) fn every_kernel() -> impl Iterator<Item = Result<KernelSource>> {
    let mut keys = Vec::new();
    for glu in Glu::ALL {
        for backward in [false, true] {
            for pair in [false, true] {
                for dtype in DType::ALL {
                    keys.push(GluKey {
                        glu,
                        backward,
                        pair,
                        dtype,
                    });
                }
            }
        }
    }
    keys.into_iter().map(build)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(outer: usize, half: usize, inner: usize) -> GluGeometry {
        GluGeometry {
            outer,
            half,
            inner,
            n_in: 2 * outer * half * inner,
            n_out: outer * half * inner,
        }
    }

    /// Every output element in exactly one piece, in order; every binding within `elems`; whole
    /// rows where a row fits, else even pieces of the halves.
    #[test]
    fn plans_cover_every_element_within_the_limit() {
        let cases = [
            (geo(1, 3, 1), false, 100),
            (geo(60, 37, 1), false, 200),
            (geo(60, 37, 1), false, 74),
            (geo(60, 37, 1), false, 73),
            (geo(3, 1500, 1), false, 959),
            (geo(7, 3, 45), false, 959),
            (geo(3, 2, 500), false, 959),
            (geo(1, 5, 301), false, 959),
            (geo(5, 1999, 1), false, 1918),
            (geo(4, 7, 1), false, 1),
            (GluGeometry::pair(3001), true, 959),
            (GluGeometry::pair(959), true, 959),
            (GluGeometry::pair(0), true, 959),
        ];
        for (g, pair, elems) in cases {
            let row = g.half * g.inner;
            let pieces = plan(&g, pair, elems);
            let mut next = 0;
            for p in &pieces {
                let (first, count, bound) = match *p {
                    Piece::Rows { o0, rows } => {
                        assert!(!pair);
                        (o0 * row, rows * row, 2 * rows * row)
                    }
                    Piece::Halves { o, r0, len } => {
                        assert!(r0 + len <= row);
                        (o * row + r0, len, len)
                    }
                };
                assert_eq!(first, next, "{g:?} {elems}: {pieces:?}");
                assert!(count > 0 && bound <= elems, "{g:?} {elems}: {p:?}");
                next += count;
            }
            assert_eq!(next, g.n_out, "{g:?} {elems}");
            let fits = if pair { row <= elems } else { 2 * row <= elems };
            assert_eq!(
                pieces.iter().any(|p| matches!(p, Piece::Rows { .. })),
                !pair && fits && g.n_out > 0,
                "{g:?} {elems}"
            );
            if 2 * g.n_out <= elems || (pair && g.n_out <= elems) {
                assert!(pieces.len() <= 1, "{g:?} {elems}: {pieces:?}");
            }
        }
        // Even pieces: a row of 960 under a limit of 959 is two of 480, not 959 and 1.
        assert_eq!(
            plan(&GluGeometry::pair(960), true, 959),
            [
                Piece::Halves {
                    o: 0,
                    r0: 0,
                    len: 480
                },
                Piece::Halves {
                    o: 0,
                    r0: 480,
                    len: 480
                }
            ]
        );
        assert_eq!(plan(&geo(60, 37, 1), false, 200).len(), 30);
    }
}
