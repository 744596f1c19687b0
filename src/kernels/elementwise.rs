//! Launching the element-wise kernels (`shaders/elementwise.wgsl`).
//!
//! `record_*` records into a caller's [`wgpu::CommandEncoder`] on caller-owned buffers and never
//! submits, polls or reads back; `prepare_*` builds the same dispatches once for recording many
//! times.
//!
//! Each call splits the tensor into dispatches no larger than the device's storage-binding limit;
//! every binding starts at an offset aligned to `min_storage_buffer_offset_alignment` and the
//! kernel skips the few elements of slack. More than 65,535 workgroups fold into a 2-D grid.

use crate::base::dtype::DType;
use crate::base::error::{Error, Result};
use crate::gpu::binding::{aligned_range, buffer_range, storage_entry, uniform_entry};
use crate::gpu::context::{Context, KernelSource};
use crate::gpu::prepared::{Prepared, Step};
use crate::gpu::source::{self, WORKGROUP_SIZE};
use crate::gpu::tensor::{check_tensor, grid, Tensor};
use crate::gpu::uniform::{uniform, Pad, Uniform};
use crate::ops::activation::Activation;
use crate::ops::{Mode, OpKind, Saved};

/// How an element-wise kernel binds its tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Layout {
    /// Separate input and output.
    OutOfPlace,
    /// The output overwrites the input.
    InPlace,
}

/// Which body an element-wise kernel runs: the op's accurate one, or a bench baseline of the
/// same dispatch (see [`Baseline`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "baselines"), allow(dead_code))]
pub(crate) enum Body {
    /// The op (`NAME_fwd`, ... in shaders/ops/).
    Accurate,
    /// The op's textbook formula with WGSL's builtins (`naive_NAME_fwd`, ... in baselines.wgsl).
    Naive,
    /// A copy (`copy_fwd`, ...): the roofline of this dispatch shape.
    Copy,
}

/// A baseline kernel for the benchmarks (feature `baselines`): the same dispatch as an op's
/// kernel (workgroups, elements per invocation, vec4, binding splits) with another body, so
/// that the op's speed can be read as a fraction of what this dispatch shape reaches on the
/// device ([`Baseline::Copy`]) and the price of its accuracy as a fraction of the textbook
/// formula ([`Baseline::Naive`]).
#[cfg(feature = "baselines")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Baseline {
    /// The op's textbook formula with WGSL's builtins (`exp`, `tanh`, `log`; gelu as its tanh
    /// form, WGSL having no `erf`): fast, and neither accurate nor safe at the extremes. Only the
    /// transcendental ops have one ([`Baseline::has_naive`]).
    Naive,
    /// `y = x` (forward, derivative: `1`), `dx = dy` (backward): the memory traffic of the op's
    /// kernel with no arithmetic.
    Copy,
}

#[cfg(feature = "baselines")]
impl Baseline {
    /// Whether `op` has a naive baseline: the transcendental ops.
    pub fn has_naive(op: OpKind) -> bool {
        !op.spec().piecewise_linear && !matches!(op, OpKind::HardSwish | OpKind::SquaredRelu)
    }
}

/// The element-wise pipeline-cache key. `training` selects rrelu's Philox slopes, `channels`
/// prelu's per-channel slopes (a storage binding; one slope is a parameter like any other);
/// `vec4` reads and writes four elements at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ElementwiseKey {
    body: Body,
    op: OpKind,
    mode: Mode,
    layout: Layout,
    training: bool,
    channels: bool,
    vec4: bool,
    dtype: DType,
}

uniform! {
    /// The uniform block of `elementwise.wgsl` (`TplParams`), one per dispatch.
    pub(super) struct TplParams {
        p: [f32; 4],
        /// Array elements (`TplElem`: f32, vec4<f32>, or u32 words of f16 or bf16) in this
        /// dispatch.
        n: u32,
        /// Offsets, in array elements, inside the bound ranges: bindings start at aligned offsets,
        /// a caller's offset need only be a multiple of 4 bytes.
        off_a: u32,
        off_b: u32,
        off_out: u32,
        /// Index of this dispatch's first element in the whole tensor (rrelu's counter, prelu's
        /// channel).
        base: u32,
        seed_lo: u32,
        seed_hi: u32,
        /// prelu: number of slopes, and elements per channel block.
        channels: u32,
        inner: u32,
        row_stride: u32,
        /// 1.0, from the host: the shader compiler cannot see through it, so `v * one` keeps an
        /// error-free transformation from being simplified away (see math.wgsl).
        one: f32,
        /// Invocations in the whole grid: the grid-stride loop's step.
        stride: u32,
        /// 16-bit word kernel: elements in this dispatch (`n` counts the words that hold them).
        count: u32,
        pad: Pad<3>,
    }
}

/// The generated WGSL and bind-group layout of one element-wise kernel: the template filled
/// with the op, mode and slope source, then the files of the element layout, the binding layout
/// and the second operand (see shaders/elementwise.wgsl).
fn build_elementwise(key: ElementwiseKey) -> Result<KernelSource> {
    let ElementwiseKey {
        body,
        op,
        mode,
        layout,
        training,
        channels,
        vec4,
        dtype,
    } = key;
    let name = match body {
        Body::Accurate => op.name().to_string(),
        Body::Naive => format!("naive_{}", op.name()),
        Body::Copy => "copy".to_string(),
    };
    let label = format!(
        "elementwise/{name}/{}{}{}{}{}{}{}",
        mode.name(),
        if layout == Layout::InPlace {
            "/in_place"
        } else {
            ""
        },
        if training { "/training" } else { "" },
        if channels { "/channels" } else { "" },
        if vec4 { "/vec4" } else { "" },
        if dtype == DType::F32 { "" } else { "/" },
        if dtype == DType::F32 {
            ""
        } else {
            dtype.name()
        },
    );
    let half = dtype.is_half();
    let in_place = layout == Layout::InPlace;
    let backward = mode == Mode::Backward;
    let mut entries = vec![
        uniform_entry(std::mem::size_of::<TplParams>()),
        storage_entry(1, !in_place),
    ];
    if backward {
        entries.push(storage_entry(2, true));
    }
    if !in_place {
        entries.push(storage_entry(3, false));
    }
    let slope = match op {
        OpKind::Prelu if channels => {
            entries.push(storage_entry(4, true));
            "tpl_slope_prelu"
        }
        OpKind::Rrelu if training => "tpl_slope_rrelu",
        _ => "tpl_slope_param",
    };
    let mode_fn = match mode {
        Mode::Forward => "forward",
        Mode::Derivative => "derivative",
        Mode::Backward => "backward",
    };
    let template = source::fill(
        &label,
        source::ELEMENTWISE,
        &[
            ("PARAMS", &TplParams::wgsl()),
            ("WG", &WORKGROUP_SIZE.to_string()),
            ("OP", &name),
            ("MODE", mode_fn),
            ("SLOPE", slope),
        ],
    )?;
    let elements = match (half, vec4) {
        (false, false) => source::ELEMENTWISE_F32,
        (false, true) => source::ELEMENTWISE_F32_VEC4,
        (true, false) => source::ELEMENTWISE_F16,
        (true, true) => source::ELEMENTWISE_F16_VEC4,
    };
    let bindings = if in_place {
        source::ELEMENTWISE_IN_PLACE
    } else {
        source::ELEMENTWISE_OUT_OF_PLACE
    };
    let grad = if backward {
        source::ELEMENTWISE_GRAD
    } else {
        source::ELEMENTWISE_NO_GRAD
    };
    let codec = source::half_codec(dtype);
    let baselines = if body == Body::Accurate {
        ""
    } else {
        source::BASELINES
    };
    let wgsl = source::with_ops(&[
        baselines,
        codec.as_str(),
        template.as_str(),
        elements,
        bindings,
        grad,
    ]);
    Ok(KernelSource {
        label,
        wgsl,
        entries,
        entry_point: "main",
    })
}

impl Context {
    /// Record `y = f(x)` into `encoder`. `x` and `y` must be the same length and lie in
    /// different buffers (use [`Context::record_forward_in_place`] to overwrite `x`).
    pub fn record_forward(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        act: &Activation,
        x: Tensor,
        y: Tensor,
    ) -> Result<()> {
        self.prepare_forward(act, x, y)?.record(encoder)
    }

    /// Record `x = f(x)` into `encoder`.
    pub fn record_forward_in_place(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        act: &Activation,
        x: Tensor,
    ) -> Result<()> {
        self.prepare_forward_in_place(act, x)?.record(encoder)
    }

    /// Record `out = f'(x)` into `encoder`.
    pub fn record_derivative(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        act: &Activation,
        x: Tensor,
        out: Tensor,
    ) -> Result<()> {
        self.prepare_derivative(act, x, out)?.record(encoder)
    }

    /// Record the fused backward `dx = dy · f'(·)` into `encoder`. `saved` is the forward input
    /// `x`, or the forward output `y` for ops whose [`Spec::saved`](crate::Spec::saved) is
    /// [`Saved::Output`] (sigmoid, tanh).
    pub fn record_backward(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        act: &Activation,
        saved: Tensor,
        dy: Tensor,
        dx: Tensor,
    ) -> Result<()> {
        self.prepare_backward(act, saved, dy, dx)?.record(encoder)
    }

    /// Prepare `y = f(x)` once for these buffer ranges, to record any number of times with
    /// [`Prepared::record`] or [`Prepared::record_in_pass`] (see [`Prepared`](crate::Prepared)).
    pub fn prepare_forward(&self, act: &Activation, x: Tensor, y: Tensor) -> Result<Prepared> {
        self.prepare_elementwise(act, Mode::Forward, x, None, Some(y), 0)
    }

    /// Prepare `x = f(x)` once for this buffer range.
    pub fn prepare_forward_in_place(&self, act: &Activation, x: Tensor) -> Result<Prepared> {
        self.prepare_elementwise(act, Mode::Forward, x, None, None, 0)
    }

    /// Prepare `out = f'(x)` once for these buffer ranges.
    pub fn prepare_derivative(&self, act: &Activation, x: Tensor, out: Tensor) -> Result<Prepared> {
        self.prepare_elementwise(act, Mode::Derivative, x, None, Some(out), 0)
    }

    /// Prepare the fused backward `dx = dy · f'(·)` once for these buffer ranges (`saved` as in
    /// [`Context::record_backward`]).
    pub fn prepare_backward(
        &self,
        act: &Activation,
        saved: Tensor,
        dy: Tensor,
        dx: Tensor,
    ) -> Result<Prepared> {
        self.prepare_elementwise(act, Mode::Backward, saved, Some(dy), Some(dx), 0)
    }

    /// Prepare a [`Baseline`] kernel in `act`'s place (feature `baselines`, for benchmarks):
    /// `mode` over `a` (and `b` = dy for backward) into `out`, with exactly the dispatch of
    /// [`Context::prepare_forward`] and its siblings, except that `max_groups` (when given) caps
    /// the workgroups of each dispatch instead of the device's default; a cap of at least
    /// `len / (256 · elements per invocation)` is a one-shot grid, without the grid-stride loop.
    #[cfg(feature = "baselines")]
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_baseline(
        &self,
        baseline: Baseline,
        act: &Activation,
        mode: Mode,
        a: Tensor,
        b: Option<Tensor>,
        out: Tensor,
        max_groups: Option<u32>,
    ) -> Result<Prepared> {
        let body = match baseline {
            Baseline::Naive if !Baseline::has_naive(act.op()) => {
                return Err(Error::BadParameter {
                    op: act.op().name(),
                    message: "no naive baseline for a piecewise op".into(),
                })
            }
            Baseline::Naive => Body::Naive,
            Baseline::Copy => Body::Copy,
        };
        let b = if mode == Mode::Backward { b } else { None };
        self.prepare_elementwise_with(act, mode, a, b, Some(out), 0, body, max_groups)
    }

    /// The general preparer. `out = None` means in place over `a`. `base` is the index of `a`'s
    /// first element in the whole tensor (rrelu's counter and prelu's channel depend on it).
    pub(crate) fn prepare_elementwise(
        &self,
        act: &Activation,
        mode: Mode,
        a: Tensor,
        b: Option<Tensor>,
        out: Option<Tensor>,
        base: u32,
    ) -> Result<Prepared> {
        self.prepare_elementwise_with(act, mode, a, b, out, base, Body::Accurate, None)
    }

    /// [`Context::prepare_elementwise`] with another body, and the workgroup cap of each dispatch
    /// (`None`: the device's default).
    #[allow(clippy::too_many_arguments)]
    fn prepare_elementwise_with(
        &self,
        act: &Activation,
        mode: Mode,
        a: Tensor,
        b: Option<Tensor>,
        out: Option<Tensor>,
        base: u32,
        body: Body,
        max_groups: Option<u32>,
    ) -> Result<Prepared> {
        act.validate()?;
        let n = a.len;
        let a_name = match mode {
            Mode::Backward if act.op().spec().saved == Saved::Output => "saved output y",
            Mode::Backward => "saved input x",
            _ => "x",
        };
        check_tensor(a_name, &a, n)?;
        if let Some(b) = &b {
            check_tensor("dy", b, n)?;
        }
        if let Some(o) = &out {
            check_tensor("output", o, n)?;
            if o.buffer == a.buffer || b.is_some_and(|b| b.buffer == o.buffer) {
                return Err(Error::Aliasing(
                    "the output lies in the same buffer as an input; use the in-place call or a separate buffer".into(),
                ));
            }
        }
        let dtype = a.dtype;
        if [b, out].iter().flatten().any(|t| t.dtype != dtype) {
            return Err(Error::DTypeMismatch(format!(
                "every tensor of one call must have the same dtype (x is {})",
                dtype.name()
            )));
        }
        if mode == Mode::Backward && out.is_none() {
            return Err(Error::Aliasing(
                "backward needs a separate output buffer".into(),
            ));
        }
        if n > u32::MAX as usize || base as usize + n > u32::MAX as usize {
            return Err(Error::TooLarge {
                elements: n,
                bytes: n as u64 * dtype.size(),
                max: u32::MAX as u64 * dtype.size(),
            });
        }
        let (channels, inner) = (act.slopes().len(), act.inner());
        if act.op() == OpKind::Prelu
            && channels > 1
            && !(base as usize + n).is_multiple_of(channels * inner)
        {
            return Err(Error::ShapeMismatch(format!(
                "prelu with {channels} slopes and {inner} elements per channel needs a multiple of {} elements, got {n}",
                channels * inner
            )));
        }
        let label = match body {
            Body::Accurate => format!("elementwise/{}/{}", act.op().name(), mode.name()),
            Body::Naive => format!("elementwise/naive_{}/{}", act.op().name(), mode.name()),
            Body::Copy => format!("elementwise/copy/{}", mode.name()),
        };
        if n == 0 {
            return Ok(Prepared::empty(self, label));
        }
        let layout = if out.is_some() {
            Layout::OutOfPlace
        } else {
            Layout::InPlace
        };
        let training = act.op() == OpKind::Rrelu && act.seed().is_some();
        // prelu with one slope per channel reads them from a buffer; one slope is in `p`.
        let per_channel = act.op() == OpKind::Prelu && channels > 1;
        // vec4 loads and stores where every tensor starts on a 16-byte boundary; the scalar kernel
        // takes the remaining 1-3 elements (1-7 for f16), and every tensor that is only 4-byte
        // (2-byte) aligned.
        let vec4 = [Some(a), b, out]
            .iter()
            .flatten()
            .all(|t| t.offset % 16 == 0);
        let op = act.op();
        let kernel = |vec4| {
            let key = ElementwiseKey {
                body,
                op,
                mode,
                layout,
                training,
                channels: per_channel,
                vec4,
                dtype,
            };
            self.kernel(key, || build_elementwise(key))
        };
        let scalar_kernel = kernel(false)?;
        let vec4_kernel = if vec4 { Some(kernel(true)?) } else { None };

        let limits = self.limits();
        // Bindings start at multiples of the device's alignment and of 16 bytes (for vec4).
        let align = (limits.min_storage_buffer_offset_alignment as u64).max(16);
        // Each dispatch binds at most the binding limit, slack included; a multiple of `lanes`
        // elements (16 bytes) keeps every chunk's start 16-byte aligned.
        let es = dtype.size();
        let lanes = (16 / es) as usize;
        let chunk = ((self.max_binding_bytes().saturating_sub(align) / es) as usize / lanes
            * lanes)
            .max(lanes);
        let seed = act.seed().unwrap_or(0);
        let max_groups = max_groups
            .unwrap_or_else(|| self.max_elementwise_groups())
            .max(1);
        let p = act.kernel_params();
        let ubo_stride = (std::mem::size_of::<TplParams>() as u64)
            .next_multiple_of(limits.min_uniform_buffer_offset_alignment as u64);

        // The dispatches: (first element, elements, vec4?).
        let mut plan = Vec::new();
        for start in (0..n).step_by(chunk) {
            let count = chunk.min(n - start);
            let wide = if vec4 { count / lanes * lanes } else { 0 };
            if wide > 0 {
                plan.push((start, wide, true));
            }
            if count > wide {
                plan.push((start + wide, count - wide, false));
            }
        }

        self.scoped(&label, || {
            // Binding offsets aligned down; the kernel skips `off_*` array elements of slack.
            // (binding offset, binding size, offset in array items); f16 words are bound whole.
            let bind = |t: &Tensor, start: usize, count: usize, width: u64| {
                aligned_range(t, start, count, align, width)
            };
            let mut ubo = vec![0u8; (ubo_stride * plan.len() as u64) as usize];
            let mut dispatches = Vec::with_capacity(plan.len());
            for (k, &(start, count, wide)) in plan.iter().enumerate() {
                let width = if wide { lanes as u64 } else { 1 };
                let ba = bind(&a, start, count, width);
                let bb = b.map(|t| bind(&t, start, count, width));
                let bo = out.map(|t| bind(&t, start, count, width));
                let items = if dtype.is_half() && !wide {
                    // Words of the output (of `a` in place) that hold this dispatch's elements.
                    let off = bo.map_or(ba.2, |x| x.2) as usize;
                    ((off + count).div_ceil(2) - off / 2) as u32
                } else {
                    (count / width as usize) as u32
                };
                let groups = items.div_ceil(WORKGROUP_SIZE).min(max_groups);
                let (gx, gy) = grid(groups, limits.max_compute_workgroups_per_dimension);
                let params = TplParams {
                    p,
                    n: items,
                    off_a: ba.2,
                    off_b: bb.map_or(0, |x| x.2),
                    off_out: bo.map_or(0, |x| x.2),
                    base: base + start as u32,
                    seed_lo: seed as u32,
                    seed_hi: (seed >> 32) as u32,
                    channels: channels.max(1) as u32,
                    inner: inner.max(1) as u32,
                    row_stride: gx * WORKGROUP_SIZE,
                    one: 1.0,
                    stride: gx * gy * WORKGROUP_SIZE,
                    count: count as u32,
                    pad: Pad::ZERO,
                };
                let at = k * ubo_stride as usize;
                ubo[at..at + std::mem::size_of::<TplParams>()]
                    .copy_from_slice(bytemuck::bytes_of(&params));
                dispatches.push((ba, bb, bo, gx, gy, wide));
            }
            let device = self.device();
            // One buffer per prepared op, as for every op: prelu's per-channel slopes follow the
            // uniform blocks in it, at a storage-aligned offset.
            let slopes_at = per_channel.then(|| {
                let at = (ubo.len() as u64).next_multiple_of(align);
                ubo.resize(at as usize, 0);
                ubo.extend_from_slice(bytemuck::cast_slice(act.slopes()));
                (at, (act.slopes().len() * 4) as u64)
            });
            let ubo = wgpu::util::DeviceExt::create_buffer_init(
                device,
                &wgpu::util::BufferInitDescriptor {
                    label: Some(&label),
                    contents: &ubo,
                    usage: if per_channel {
                        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::STORAGE
                    } else {
                        wgpu::BufferUsages::UNIFORM
                    },
                },
            );
            let buf = |binding, buffer, (offset, size, _): (u64, u64, u32)| {
                buffer_range(binding, buffer, offset, size)
            };
            let steps: Vec<_> = dispatches
                .iter()
                .enumerate()
                .map(|(k, (ba, bb, bo, gx, gy, wide))| {
                    let kernel = if *wide {
                        vec4_kernel.as_ref().unwrap_or(&scalar_kernel)
                    } else {
                        &scalar_kernel
                    };
                    let mut entries = vec![
                        buf(
                            0,
                            &ubo,
                            (
                                k as u64 * ubo_stride,
                                std::mem::size_of::<TplParams>() as u64,
                                0,
                            ),
                        ),
                        buf(1, a.buffer, *ba),
                    ];
                    if let (Some(t), Some(r)) = (&b, bb) {
                        entries.push(buf(2, t.buffer, *r));
                    }
                    if let (Some(t), Some(r)) = (&out, bo) {
                        entries.push(buf(3, t.buffer, *r));
                    }
                    if let Some((at, size)) = slopes_at {
                        entries.push(buffer_range(4, &ubo, at, size));
                    }
                    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some(&label),
                        layout: &kernel.layout,
                        entries: &entries,
                    });
                    Step {
                        pipeline: kernel.pipeline.clone(),
                        group,
                        grid: (*gx, *gy),
                    }
                })
                .collect();
            Ok(Prepared::new(self, label.clone(), steps, vec![ubo]))
        })
    }
}

/// Every element-wise kernel the key space allows: each op × mode × binding layout (backward
/// only out of place) × rrelu's training flag × vec4 × dtype.
#[cfg(test)]
pub(super) fn every_kernel() -> impl Iterator<Item = Result<KernelSource>> {
    let mut keys = Vec::new();
    for &op in OpKind::ALL {
        for mode in Mode::ALL {
            for layout in [Layout::OutOfPlace, Layout::InPlace] {
                if mode == Mode::Backward && layout == Layout::InPlace {
                    continue;
                }
                // rrelu's training flag, prelu's per-channel slopes.
                let slopes: &[(bool, bool)] = match op {
                    OpKind::Rrelu => &[(false, false), (true, false)],
                    OpKind::Prelu => &[(false, false), (false, true)],
                    _ => &[(false, false)],
                };
                for &(training, channels) in slopes {
                    for vec4 in [false, true] {
                        for dtype in DType::ALL {
                            keys.push(ElementwiseKey {
                                body: Body::Accurate,
                                op,
                                mode,
                                layout,
                                training,
                                channels,
                                vec4,
                                dtype,
                            });
                        }
                    }
                }
            }
        }
    }
    // The bench baselines: naive bodies of the transcendental ops, and the copy, out of place.
    let baselines: Vec<ElementwiseKey> = keys
        .iter()
        .filter(|k| k.layout == Layout::OutOfPlace && !k.training)
        .flat_map(|&k| {
            let naive = !k.op.spec().piecewise_linear
                && !matches!(k.op, OpKind::HardSwish | OpKind::SquaredRelu);
            let copy = k.op == OpKind::Relu;
            [
                naive.then_some(ElementwiseKey {
                    body: Body::Naive,
                    ..k
                }),
                copy.then_some(ElementwiseKey {
                    body: Body::Copy,
                    ..k
                }),
            ]
        })
        .flatten()
        .collect();
    keys.into_iter().chain(baselines).map(build_elementwise)
}
