//! prelu's gradient with respect to its slopes, a per-channel reduction
//! (`shaders/prelu_grad.wgsl`): `d a_c = Σ_{i in channel c, x_i ≤ 0} x_i·dy_i`, as PyTorch's
//! prelu backward defines it. Pass 1 gives each (part, channel) workgroup a contiguous share of a
//! channel's elements (Kahan-compensated, then a tree in workgroup memory); pass 2 combines a
//! channel's partials. Tensors above the storage-binding limit are reduced chunk by chunk, each
//! chunk a whole number of `[C, inner]` blocks, and pass 2 sums over every chunk's partials.

use crate::base::error::{Error, Result};
use crate::gpu::binding::{buffer_range as entry, storage_entry, uniform_entry};
use crate::gpu::context::{Context, KernelSource};
use crate::gpu::source::{self, WORKGROUP_SIZE};
use crate::gpu::tensor::{check_tensor, grid, Tensor};
use crate::gpu::uniform::{uniform, Pad, Uniform};
use crate::ops::activation::Activation;

/// Elements one pass-1 workgroup should cover at least, before another part is worth starting.
const PER_PART: usize = 16 * WORKGROUP_SIZE as usize;
/// Upper bound of parts per channel.
const MAX_PARTS: usize = 64;

uniform! {
    /// The uniform block of `prelu_grad.wgsl`, one per chunk (pass 1) and one for pass 2.
    pub(super) struct PreluParams {
        /// Elements of one channel in this chunk (N·inner), and the layout.
        per_channel: u32,
        channels: u32,
        inner: u32,
        /// Workgroups per channel in pass 1, and partials per channel in pass 2.
        parts: u32,
        /// Element offsets inside the bound ranges (binding alignment slack).
        off_x: u32,
        off_dy: u32,
        /// Where this chunk's partials start, and the grid width of the (folded) dispatch.
        partial_base: u32,
        grid_x: u32,
        /// Partials per channel over all chunks (pass 2).
        total_parts: u32,
        one: f32,
        /// Element offset of the result inside its binding.
        off_out: u32,
        pad: Pad<1>,
    }
}

/// The slope-gradient pipeline-cache key: pass 1 (partial sums) or 2 (combine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PreluKey {
    pass: u8,
}

/// The WGSL and bind-group layout of pass 1 (`partials`) or 2 (`combine`).
pub(super) fn build(pass: u8) -> Result<KernelSource> {
    let (label, entries, entry_point) = if pass == 1 {
        (
            "prelu_slope_grad/partials",
            vec![
                uniform_entry(std::mem::size_of::<PreluParams>()),
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, false),
            ],
            "partials",
        )
    } else {
        (
            "prelu_slope_grad/combine",
            vec![
                uniform_entry(std::mem::size_of::<PreluParams>()),
                storage_entry(3, false),
                storage_entry(4, false),
            ],
            "combine",
        )
    };
    let wgsl = source::fill(
        label,
        source::PRELU_GRAD,
        &[
            ("PARAMS", &PreluParams::wgsl()),
            ("WG", &WORKGROUP_SIZE.to_string()),
        ],
    )?;
    Ok(KernelSource {
        label: label.into(),
        wgsl,
        entries,
        entry_point,
    })
}

impl Context {
    /// Record prelu's slope gradient into `encoder`: `out[c] = Σ_{x ≤ 0 in channel c} x·dy`, one
    /// value per slope of `act`. Creates one scratch buffer for the partial sums; no submit.
    pub fn record_prelu_slope_grad(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        act: &Activation,
        x: Tensor,
        dy: Tensor,
        out: Tensor,
    ) -> Result<()> {
        let n = x.len;
        let (c, inner) = act.prelu_layout(n)?;
        if [x, dy, out].iter().any(|t| t.dtype != crate::DType::F32) {
            return Err(Error::DTypeMismatch(
                "prelu's slope gradient takes f32 tensors only".into(),
            ));
        }
        check_tensor("saved input x", &x, n)?;
        check_tensor("dy", &dy, n)?;
        check_tensor("slope gradient", &out, c)?;
        if out.buffer == x.buffer || out.buffer == dy.buffer {
            return Err(Error::Aliasing(
                "the slope gradient lies in the same buffer as an input".into(),
            ));
        }
        let limits = self.limits();
        let align = limits.min_storage_buffer_offset_alignment.max(4) as u64;
        let block = c * inner;
        let chunk = ((self.max_binding_bytes() - align) / 4) as usize / block * block;
        if chunk == 0 {
            return Err(Error::TooLarge {
                elements: block,
                bytes: block as u64 * 4,
                max: self.max_binding_bytes(),
            });
        }
        let first = chunk.min(n);
        let parts = (first / c).div_ceil(PER_PART).clamp(1, MAX_PARTS);
        let chunks = n.div_ceil(chunk);
        let total_parts = chunks * parts;
        let p1 = self.kernel(PreluKey { pass: 1 }, || build(1))?;
        let p2 = self.kernel(PreluKey { pass: 2 }, || build(2))?;
        let stride = (std::mem::size_of::<PreluParams>() as u64)
            .next_multiple_of(limits.min_uniform_buffer_offset_alignment as u64);
        let max_dim = limits.max_compute_workgroups_per_dimension;

        self.scoped("prelu_slope_grad", || {
            let device = self.device();
            let partial = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("prelu_slope_grad partials"),
                size: (c * total_parts).max(1) as u64 * 4,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            let bind = |t: &Tensor, start: usize, count: usize| {
                let byte = t.offset + start as u64 * 4;
                let aligned = byte / align * align;
                (
                    aligned,
                    (byte - aligned + count as u64 * 4).max(4),
                    ((byte - aligned) / 4) as u32,
                )
            };
            let (gx1, gy1) = grid((c * parts) as u32, max_dim);
            let (gx2, gy2) = grid(c as u32, max_dim);
            let out_bind = bind(&out, 0, c);
            let mut params = Vec::new();
            let starts: Vec<usize> = (0..n).step_by(chunk).collect();
            for (j, &start) in starts.iter().enumerate() {
                let len = chunk.min(n - start);
                params.push(PreluParams {
                    per_channel: (len / c) as u32,
                    channels: c as u32,
                    inner: inner as u32,
                    parts: parts as u32,
                    off_x: bind(&x, start, len).2,
                    off_dy: bind(&dy, start, len).2,
                    partial_base: (j * c * parts) as u32,
                    grid_x: gx1,
                    total_parts: total_parts as u32,
                    one: 1.0,
                    off_out: 0,
                    pad: Pad::ZERO,
                });
            }
            params.push(PreluParams {
                per_channel: 0,
                channels: c as u32,
                inner: inner as u32,
                parts: parts as u32,
                off_x: 0,
                off_dy: 0,
                partial_base: 0,
                grid_x: gx2,
                total_parts: if n == 0 { 0 } else { total_parts as u32 },
                one: 1.0,
                off_out: out_bind.2,
                pad: Pad::ZERO,
            });
            let mut bytes = vec![0u8; stride as usize * params.len()];
            for (k, prm) in params.iter().enumerate() {
                let at = k * stride as usize;
                bytes[at..at + std::mem::size_of::<PreluParams>()]
                    .copy_from_slice(bytemuck::bytes_of(prm));
            }
            let ubo = wgpu::util::DeviceExt::create_buffer_init(
                device,
                &wgpu::util::BufferInitDescriptor {
                    label: Some("prelu_slope_grad"),
                    contents: &bytes,
                    usage: wgpu::BufferUsages::UNIFORM,
                },
            );
            let psize = std::mem::size_of::<PreluParams>() as u64;
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("prelu_slope_grad"),
                timestamp_writes: None,
            });
            if n > 0 {
                pass.set_pipeline(&p1.pipeline);
                for (j, &start) in starts.iter().enumerate() {
                    let len = chunk.min(n - start);
                    let (xo, xs, _) = bind(&x, start, len);
                    let (dyo, dys, _) = bind(&dy, start, len);
                    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("prelu_slope_grad/partials"),
                        layout: &p1.layout,
                        entries: &[
                            entry(0, &ubo, j as u64 * stride, psize),
                            entry(1, x.buffer, xo, xs),
                            entry(2, dy.buffer, dyo, dys),
                            wgpu::BindGroupEntry {
                                binding: 3,
                                resource: partial.as_entire_binding(),
                            },
                        ],
                    });
                    pass.set_bind_group(0, &group, &[]);
                    pass.dispatch_workgroups(gx1, gy1, 1);
                }
            }
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("prelu_slope_grad/combine"),
                layout: &p2.layout,
                entries: &[
                    entry(0, &ubo, starts.len() as u64 * stride, psize),
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: partial.as_entire_binding(),
                    },
                    entry(4, out.buffer, out_bind.0, out_bind.1),
                ],
            });
            pass.set_pipeline(&p2.pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(gx2, gy2, 1);
            Ok(())
        })
    }
}

/// Both passes.
#[cfg(test)]
pub(super) fn every_kernel() -> impl Iterator<Item = Result<KernelSource>> {
    [1, 2].into_iter().map(build)
}
