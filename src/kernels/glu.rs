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
//! Each tensor is bound whole (from an aligned offset; the kernel skips the slack), in one
//! dispatch whose workgroups fold into a 2-D grid past 65,535; a tensor above the device's
//! storage-binding limit is an [`Error::TooLarge`].

use crate::base::dtype::DType;
use crate::base::error::{Error, Result};
use crate::gpu::binding::{buffer_range, storage_entry, uniform_entry};
use crate::gpu::context::{Context, KernelSource};
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
    let wgsl = [source::MATH]
        .iter()
        .chain(&source::OPS)
        .chain(&[prelude, body.as_str()])
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
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
        if geo.n_in > u32::MAX as usize {
            return Err(Error::TooLarge {
                elements: geo.n_in,
                bytes: geo.n_in as u64 * dtype.size(),
                max: u32::MAX as u64 * dtype.size(),
            });
        }
        if geo.n_out == 0 {
            return Ok(Prepared::empty(self, label));
        }
        let key = GluKey {
            glu: *glu,
            backward,
            pair,
            dtype,
        };
        let kernel = self.kernel(key, || build(key))?;
        let limits = self.limits();
        let align = (limits.min_storage_buffer_offset_alignment as u64).max(4);
        let es = dtype.size();
        let max_bind = self.max_binding_bytes();
        // (binding offset, binding size, offset in elements inside the binding).
        let bind = |t: &Tensor| -> Result<(u64, u64, u32)> {
            let aligned = t.offset / align * align;
            let size = (t.offset - aligned + t.len as u64 * es).next_multiple_of(4);
            if size > max_bind {
                return Err(Error::TooLarge {
                    elements: t.len,
                    bytes: size,
                    max: max_bind,
                });
            }
            Ok((aligned, size, ((t.offset - aligned) / es) as u32))
        };
        let bg = bind(&io.gate)?;
        let bv = io.value.as_ref().map(bind).transpose()?;
        let bd = io.dy.as_ref().map(bind).transpose()?;
        let bo = bind(&io.out)?;
        let bdv = io.dvalue.as_ref().map(bind).transpose()?;
        let (sg, sv) = if pair { (0, 0) } else { geo.shifts(glu) };
        let row = geo.half * geo.inner;
        let n = geo.n_out as u32;
        let groups = n
            .div_ceil(WORKGROUP_SIZE)
            .min(self.max_elementwise_groups().max(1));
        let (gx, gy) = grid(groups, limits.max_compute_workgroups_per_dimension);
        let params = GluParams {
            n,
            row: row as u32,
            row_in: if pair { row as u32 } else { 2 * row as u32 },
            shift_gate: sg as u32,
            shift_value: sv as u32,
            off_gate: bg.2,
            off_value: bv.map_or(bg.2, |b| b.2),
            off_dy: bd.map_or(0, |b| b.2),
            off_out: bo.2,
            off_dvalue: bdv.map_or(bo.2, |b| b.2),
            row_stride: gx * WORKGROUP_SIZE,
            stride: gx * gy * WORKGROUP_SIZE,
            one: 1.0,
            pad: Pad::ZERO,
        };
        self.scoped(&label, || {
            let device = self.device();
            let ubo = wgpu::util::DeviceExt::create_buffer_init(
                device,
                &wgpu::util::BufferInitDescriptor {
                    label: Some(&label),
                    contents: bytemuck::bytes_of(&params),
                    usage: wgpu::BufferUsages::UNIFORM,
                },
            );
            let mut entries = vec![
                buffer_range(0, &ubo, 0, std::mem::size_of::<GluParams>() as u64),
                buffer_range(1, io.gate.buffer, bg.0, bg.1),
            ];
            if let (Some(t), Some(b)) = (&io.value, bv) {
                entries.push(buffer_range(2, t.buffer, b.0, b.1));
            }
            if let (Some(t), Some(b)) = (&io.dy, bd) {
                entries.push(buffer_range(3, t.buffer, b.0, b.1));
            }
            entries.push(buffer_range(4, io.out.buffer, bo.0, bo.1));
            if let (Some(t), Some(b)) = (&io.dvalue, bdv) {
                entries.push(buffer_range(5, t.buffer, b.0, b.1));
            }
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&label),
                layout: &kernel.layout,
                entries: &entries,
            });
            let step = Step {
                pipeline: kernel.pipeline.clone(),
                group,
                grid: (gx, gy),
            };
            Ok(Prepared::new(self, label.clone(), vec![step], vec![ubo]))
        })
    }
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
