//! Helpers shared by the criterion benches: the quick-mode switch, GPU timing that waits for
//! the work, the copy-kernel ceiling and an all-core host memcpy.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use rayon::prelude::*;
use wgpu_activations::wgpu;
use wgpu_activations::Context;

/// `WGPU_ACTIVATIONS_BENCH_QUICK=1`: tiny sizes, a smoke test.
pub fn quick() -> bool {
    std::env::var("WGPU_ACTIVATIONS_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Time `iters` repetitions of `record` in one submission.
pub fn gpu_time(
    ctx: &Context,
    iters: u64,
    mut record: impl FnMut(&mut wgpu::CommandEncoder),
) -> Duration {
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    for _ in 0..iters {
        record(&mut enc);
    }
    let start = Instant::now();
    let index = ctx.queue().submit([enc.finish()]);
    ctx.device()
        .poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: None,
        })
        .expect("poll");
    start.elapsed()
}

/// The simplest compute kernel there is, `y[i] = x[i]` with vec4 loads in a grid-stride loop: the
/// ceiling for any element-wise kernel on the device (on a software rasterizer far below the
/// device's own buffer copy).
pub fn copy_kernel(
    ctx: &Context,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
) -> (wgpu::ComputePipeline, wgpu::BindGroup) {
    let src = "@group(0) @binding(0) var<storage, read> xs: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> ys: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    for (var i = g.x; i < arrayLength(&ys); i = i + nw.x * 256u) { ys[i] = xs[i]; }
}";
    let d = ctx.device();
    let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("copy kernel"),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let pipeline = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("copy kernel"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let group = d.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("copy kernel"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: x.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: y.as_entire_binding(),
            },
        ],
    });
    (pipeline, group)
}

/// A parallel copy over every core: the host's roofline.
pub fn host_memcpy(src: &[f32], dst: &mut [f32]) {
    dst.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| d.copy_from_slice(s));
}
