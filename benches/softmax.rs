//! Criterion benches of the softmax family on the GPU and on the fast CPU path, beside the
//! device's own buffer copy of the same tensor. Throughput is bytes moved: a forward pass reads
//! and writes 4 bytes per element (8n), a backward pass reads y and dy and writes dx (12n). GPU
//! work is recorded into an encoder, submitted and waited for before the clock stops; pipelines
//! are compiled in the warm-up.
//!
//! Shapes: 4096×1024, 256×32768, 16×262144 and 1×4194304 along the last axis, and 64×256×256
//! along the middle axis. `WGPU_ACTIVATIONS_BENCH_QUICK=1` shrinks them (a smoke test).

use std::time::Duration;

mod common;

use common::{gpu_time, quick};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wgpu_activations::cpu;
use wgpu_activations::{Context, Softmax, Tensor};

/// (name, shape, axis).
fn shapes() -> Vec<(&'static str, Vec<usize>, usize)> {
    if quick() {
        return vec![
            ("64x256", vec![64, 256], 1),
            ("4x16x64/axis1", vec![4, 16, 64], 1),
        ];
    }
    vec![
        ("4096x1024", vec![4096, 1024], 1),
        ("256x32768", vec![256, 32768], 1),
        ("16x262144", vec![16, 262_144], 1),
        ("1x4194304", vec![1, 4_194_304], 1),
        ("64x256x256/axis1", vec![64, 256, 256], 1),
    ]
}

/// Seeded values in ±`scale` (the test suite's generator).
fn data(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    wgpu_activations::harness::random_inputs(seed, n)
        .iter()
        .map(|v| (v % 1.0) * scale)
        .collect()
}

fn bench(c: &mut Criterion) {
    let ctx = Context::new().expect("a GPU adapter (lavapipe works)");
    if let Some(info) = ctx.adapter_info() {
        eprintln!(
            "adapter: {} ({:?}, {:?}){}",
            info.name,
            info.backend,
            info.device_type,
            if ctx.is_software() {
                " — a software rasterizer: its figures are not a GPU's"
            } else {
                ""
            }
        );
    }
    let variants = [
        ("softmax", Softmax::softmax()),
        ("log_softmax", Softmax::log_softmax()),
    ];
    for (name, shape, axis) in shapes() {
        let n: usize = shape.iter().product();
        let x = data(1, n, 30.0);
        let dy = data(2, n, 1.0);
        let xb = ctx.upload(&x).expect("upload");
        let dyb = ctx.upload(&dy).expect("upload");
        let yb = ctx.create_tensor::<f32>(n).expect("buffer");
        let dxb = ctx.create_tensor::<f32>(n).expect("buffer");
        let mut host = vec![0f32; n];

        let mut g = c.benchmark_group(format!("softmax_copy/{name}"));
        g.throughput(Throughput::BytesDecimal(8 * n as u64));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        g.bench_function("device_copy", |b| {
            b.iter_custom(|iters| {
                gpu_time(&ctx, iters, |enc| {
                    enc.copy_buffer_to_buffer(&xb, 0, &yb, 0, 4 * n as u64)
                })
            })
        });
        g.finish();

        for (vname, sm) in &variants {
            let mut g = c.benchmark_group(format!("{vname}/forward/{name}"));
            g.throughput(Throughput::BytesDecimal(8 * n as u64));
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(2));
            g.bench_with_input(BenchmarkId::new("gpu", n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    gpu_time(&ctx, iters, |enc| {
                        ctx.record_softmax(
                            enc,
                            sm,
                            Tensor::new(&xb, 0, n),
                            Tensor::new(&yb, 0, n),
                            &shape,
                            axis,
                        )
                        .expect("record");
                    })
                })
            });
            g.bench_with_input(BenchmarkId::new("cpu", n), &n, |b, _| {
                b.iter(|| cpu::softmax_into(sm, &x, &shape, axis, &mut host).expect("cpu"))
            });
            g.finish();
        }

        // Backward from the saved output.
        let sm = Softmax::softmax();
        let y = cpu::softmax(&sm, &x, &shape, axis).expect("cpu");
        let ysb = ctx.upload(&y).expect("upload");
        let mut g = c.benchmark_group(format!("softmax/backward/{name}"));
        g.throughput(Throughput::BytesDecimal(12 * n as u64));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        g.bench_with_input(BenchmarkId::new("gpu", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                gpu_time(&ctx, iters, |enc| {
                    ctx.record_softmax_backward(
                        enc,
                        &sm,
                        Tensor::new(&ysb, 0, n),
                        Tensor::new(&dyb, 0, n),
                        Tensor::new(&dxb, 0, n),
                        &shape,
                        axis,
                    )
                    .expect("record");
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("cpu", n), &n, |b, _| {
            b.iter(|| {
                cpu::softmax_backward_into(&sm, &y, &dy, &shape, axis, &mut host).expect("cpu")
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
