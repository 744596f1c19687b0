//! Criterion benches of prepared dispatches against the `record_*` calls that build their bind
//! groups and uniforms each time: host time to record one op into an open encoder
//! (`record/…`), and
//! a whole frame — record, submit, wait — for a small and a large tensor (`frame/…`), beside the
//! device's copy kernel over the same bytes in the same run.
//!
//! `WGPU_ACTIVATIONS_BENCH_QUICK=1` shrinks the sizes (a smoke test).

use std::time::{Duration, Instant};

mod common;

use common::{copy_kernel, quick};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wgpu_activations::wgpu;
use wgpu_activations::{harness, Activation, Chain, Context, Softmax, Tensor};

fn sizes() -> Vec<usize> {
    if quick() {
        vec![1 << 10]
    } else {
        vec![1 << 12, 1 << 20]
    }
}

/// Host time of `iters` records alone, 256 to an encoder (creating and finishing the encoders
/// is left off the clock).
fn record_time(
    ctx: &Context,
    iters: u64,
    mut record: impl FnMut(&mut wgpu::CommandEncoder),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(256);
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        let start = Instant::now();
        for _ in 0..batch {
            record(&mut enc);
        }
        total += start.elapsed();
        drop(enc.finish());
        left -= batch;
    }
    total
}

/// `iters` frames: record into a fresh encoder, submit, wait (the clock covers the recording).
fn frame_time(ctx: &Context, iters: u64, record: &dyn Fn(&mut wgpu::CommandEncoder)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        record(&mut enc);
        let index = ctx.queue().submit([enc.finish()]);
        ctx.device()
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .expect("poll");
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let ctx = Context::new().expect("a GPU adapter (lavapipe works)");
    if let Some(info) = ctx.adapter_info() {
        eprintln!(
            "adapter: {} ({:?}, {:?})",
            info.name, info.backend, info.device_type
        );
    }
    let gelu = Activation::by_name("gelu").expect("gelu");
    let sm = Softmax::softmax();
    for n in sizes() {
        let x: Vec<f32> = harness::random_inputs(1, n)
            .into_iter()
            .map(|v| v.clamp(-30.0, 30.0))
            .collect();
        let xb = ctx.upload(&x).expect("upload");
        let yb = ctx.create_tensor::<f32>(n).expect("buffer");
        let zb = ctx.create_tensor::<f32>(n).expect("buffer");
        let t = |b| Tensor::new(b, 0, n);
        let prepared = ctx.prepare_forward(&gelu, t(&xb), t(&yb)).expect("prepare");
        let shape = [n / 256, 256];
        let mut chain = Chain::new("gelu then softmax");
        let h = chain.scratch(&ctx, n).expect("scratch");
        chain.push(ctx.prepare_forward(&gelu, t(&xb), t(&h)).expect("prepare"));
        chain.push(
            ctx.prepare_softmax(&sm, t(&h), t(&zb), &shape, 1)
                .expect("prepare"),
        );

        let mut g = c.benchmark_group(format!("prepared/record/gelu/{n}"));
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        g.bench_function("record_forward", |b| {
            b.iter_custom(|iters| {
                record_time(&ctx, iters, |enc| {
                    ctx.record_forward(enc, &gelu, t(&xb), t(&yb))
                        .expect("record")
                })
            })
        });
        g.bench_function("prepared", |b| {
            b.iter_custom(|iters| {
                record_time(&ctx, iters, |enc| prepared.record(enc).expect("record"))
            })
        });
        g.bench_function("prepared_in_pass", |b| {
            b.iter_custom(|iters| {
                let mut enc = ctx.device().create_command_encoder(&Default::default());
                let mut pass = enc.begin_compute_pass(&Default::default());
                let start = Instant::now();
                for _ in 0..iters {
                    prepared.record_in_pass(&mut pass).expect("record");
                }
                let t = start.elapsed();
                drop(pass);
                drop(enc.finish());
                t
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("prepared/frame/{n}"));
        g.throughput(Throughput::Bytes(8 * n as u64));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        let (pipeline, group) = copy_kernel(&ctx, &xb, &yb);
        let copy = |enc: &mut wgpu::CommandEncoder| {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.dispatch_workgroups(4096.min((n as u32 / 4).div_ceil(256)), 1, 1);
        };
        g.bench_with_input(BenchmarkId::new("copy_kernel", n), &n, |b, _| {
            b.iter_custom(|iters| frame_time(&ctx, iters, &copy))
        });
        let unprepared = |enc: &mut wgpu::CommandEncoder| {
            ctx.record_forward(enc, &gelu, t(&xb), t(&yb))
                .expect("record")
        };
        g.bench_with_input(BenchmarkId::new("gelu_record_forward", n), &n, |b, _| {
            b.iter_custom(|iters| frame_time(&ctx, iters, &unprepared))
        });
        let prep = |enc: &mut wgpu::CommandEncoder| prepared.record(enc).expect("record");
        g.bench_with_input(BenchmarkId::new("gelu_prepared", n), &n, |b, _| {
            b.iter_custom(|iters| frame_time(&ctx, iters, &prep))
        });
        let ch = |enc: &mut wgpu::CommandEncoder| chain.record(enc).expect("record");
        g.bench_with_input(BenchmarkId::new("gelu_softmax_chain", n), &n, |b, _| {
            b.iter_custom(|iters| frame_time(&ctx, iters, &ch))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
