//! A caller-owned device and frame loop with a prepared dispatch in the middle.
//!
//! The caller creates its own instance, adapter, device and queue through wgpu, hands clones to
//! [`Context::from_device`], and runs its own compute kernels: each frame writes fresh input,
//! doubles it (its own pass), applies gelu through a [`wgpu_activations::Prepared`] built once
//! before the loop, then adds one (its own pass). Even frames record the prepared gelu as a pass
//! of its own between the caller's two passes; odd frames record all three into one open compute
//! pass. Every frame is read back and checked against the exact reference, `gelu(2x) + 1`; any
//! value outside the documented bound makes the program exit non-zero.
//!
//! `cargo run --release --example pipeline -- [FRAMES]` (default 8).

use std::error::Error;

use wgpu_activations::ulp::ulp_f32;
use wgpu_activations::wgpu;
use wgpu_activations::{harness, reference, Activation, Context, Mode, Tensor};

/// Elements per frame.
pub const N: usize = 10_000;
/// Where the caller keeps the data inside its larger buffers: its own bind groups need offsets
/// aligned to `min_storage_buffer_offset_alignment` (256 at most); the crate needs only 4 bytes.
const WORK_OFFSET: u64 = 256;
const OUT_OFFSET: u64 = 512;

/// The caller's own kernels.
const OWN_WGSL: &str = r#"
@group(0) @binding(0) var<storage, read_write> data: array<f32>;

@compute @workgroup_size(64)
fn double(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < arrayLength(&data)) { data[id.x] = 2.0 * data[id.x]; }
}

@compute @workgroup_size(64)
fn add_one(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < arrayLength(&data)) { data[id.x] = data[id.x] + 1.0; }
}
"#;

/// What a run found.
#[derive(Debug)]
pub struct Report {
    /// Frames run.
    pub frames: usize,
    /// Values checked.
    pub values: usize,
    /// The largest error as a fraction of its allowance (at most 1 when every value passed).
    pub worst: f64,
    /// Values outside the allowance.
    pub failures: usize,
    /// The adapter it ran on.
    pub adapter: String,
}

/// Frame `frame`'s input: values over ±6, different every frame.
fn input(frame: usize) -> Vec<f32> {
    (0..N)
        .map(|i| {
            let k = (i * 7919 + frame * 104_729) % N;
            -6.0 + 12.0 * k as f32 / N as f32
        })
        .collect()
}

/// Run `frames` frames on a device of our own; check every frame.
pub fn run(frames: usize) -> Result<Report, Box<dyn Error>> {
    // The caller's device, created through wgpu directly.
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        apply_limit_buckets: false,
    }))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("caller device"),
        ..Default::default()
    }))?;
    let ctx = Context::from_device(device.clone(), queue.clone());

    // The caller's buffers: larger than the data, with usages of their own (VERTEX, COPY_*).
    let bytes = (N * 4) as u64;
    let work = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("caller work"),
        size: WORK_OFFSET + bytes + 64,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::VERTEX
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let out = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("caller output"),
        size: OUT_OFFSET + bytes,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::VERTEX
            | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });

    // The caller's pipelines and bind groups, built once.
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("caller kernels"),
        source: wgpu::ShaderSource::Wgsl(OWN_WGSL.into()),
    });
    let pipeline = |entry: &str| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        })
    };
    let (double, add_one) = (pipeline("double"), pipeline("add_one"));
    let bind = |p: &wgpu::ComputePipeline, buffer: &wgpu::Buffer, offset: u64| {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &p.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset,
                    size: wgpu::BufferSize::new(bytes),
                }),
            }],
        })
    };
    let double_group = bind(&double, &work, WORK_OFFSET);
    let add_group = bind(&add_one, &out, OUT_OFFSET);
    let groups = N.div_ceil(64) as u32;

    // The crate's part, prepared once: gelu from `work` into `out`.
    let gelu = Activation::by_name("gelu")?;
    let prepared = ctx.prepare_forward(
        &gelu,
        Tensor::new(&work, WORK_OFFSET, N),
        Tensor::new(&out, OUT_OFFSET, N),
    )?;

    let bound = harness::bound(&gelu, Mode::Forward);
    let mut report = Report {
        frames,
        values: 0,
        worst: 0.0,
        failures: 0,
        adapter: adapter.get_info().name,
    };
    for frame in 0..frames {
        let x = input(frame);
        queue.write_buffer(&work, WORK_OFFSET, bytemuck::cast_slice(&x));
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("frame"),
        });
        if frame % 2 == 0 {
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&double);
                pass.set_bind_group(0, &double_group, &[]);
                pass.dispatch_workgroups(groups, 1, 1);
            }
            prepared.record(&mut encoder)?;
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&add_one);
            pass.set_bind_group(0, &add_group, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        } else {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&double);
            pass.set_bind_group(0, &double_group, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
            prepared.record_in_pass(&mut pass)?;
            // The prepared op left its own pipeline and bind group set.
            pass.set_pipeline(&add_one);
            pass.set_bind_group(0, &add_group, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        }
        queue.submit([encoder.finish()]);
        let got = ctx.read::<f32>(&out, OUT_OFFSET, N)?;

        // gelu within `bound` ULP of exact, then one correctly rounded addition.
        for (i, (&xi, &g)) in x.iter().zip(&got).enumerate() {
            let e = reference::forward_exact(gelu.op(), reference::params_at(&gelu, i), 2.0 * xi);
            let want = e + 1.0;
            let allowed = bound * ulp_f32(e) + 0.5 * ulp_f32(want).max(ulp_f32(g as f64));
            let off = (g as f64 - want).abs() / allowed;
            if off.is_nan() || off > 1.0 {
                if report.failures < 10 {
                    eprintln!(
                        "frame {frame} [{i}]: x = {xi:e}, got {g:e}, want {want:e} (allowed ±{allowed:e})"
                    );
                }
                report.failures += 1;
            }
            report.worst = report.worst.max(off);
        }
        report.values += N;
    }
    Ok(report)
}

fn main() -> Result<(), Box<dyn Error>> {
    let frames: usize = std::env::args().nth(1).map_or(Ok(8), |s| s.parse())?;
    let r = run(frames)?;
    println!(
        "{} frames of {N} values on {}: worst error {:.3} of the allowance ({} ULP of gelu, then \
         half an ULP for the correctly rounded +1), {} outside it",
        r.frames,
        r.adapter,
        r.worst,
        harness::bound(&Activation::by_name("gelu")?, Mode::Forward),
        r.failures
    );
    if r.failures > 0 {
        return Err(format!("{} values differ from the reference", r.failures).into());
    }
    Ok(())
}
