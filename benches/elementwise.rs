//! Criterion benches: every activation's forward and backward on the GPU and on the fast CPU
//! path, beside the device's own buffer copy and an all-core host memcpy of the same bytes.
//! Throughput is bytes moved (read + written), in GB/s (10^9, as the `bench` command prints it;
//! `Throughput::Bytes` would print GiB/s, 7% less for the same time). GPU work is submitted and
//! waited for before the clock stops; pipelines are compiled in the warm-up.
//!
//! `WGPU_ACTIVATIONS_BENCH_QUICK=1` shrinks the run to tiny sizes and three ops (a smoke test);
//! `WGPU_ACTIVATIONS_BENCH_OPS=relu,gelu` picks ops.
//!
//! `elementwise_f16/OP/forward`: the same forward on f32 and on f16 tensors, side by side, each
//! with its own bytes (8 and 4 per element): the f16 kernel's bytes per second against f32's
//! (relu and gelu, or the ops picked).

use std::time::Duration;

mod common;

use common::{copy_kernel, gpu_time, host_memcpy, quick};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wgpu_activations::half::f16;
use wgpu_activations::wgpu;
use wgpu_activations::{cpu, harness, Activation, Context, OpKind, Tensor};

fn sizes() -> Vec<usize> {
    if quick() {
        vec![1 << 10]
    } else {
        vec![1 << 20, 1 << 24]
    }
}

fn ops() -> Vec<OpKind> {
    if let Ok(list) = std::env::var("WGPU_ACTIVATIONS_BENCH_OPS") {
        return list
            .split(',')
            .filter_map(|n| OpKind::from_name(n.trim()).ok())
            .collect();
    }
    if quick() {
        return vec![OpKind::Relu, OpKind::Gelu, OpKind::Sigmoid];
    }
    OpKind::ALL.to_vec()
}

fn storage(ctx: &Context, data: &[f32]) -> wgpu::Buffer {
    ctx.upload(data).expect("upload")
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
    for n in sizes() {
        let x = harness::random_inputs(1, n)
            .into_iter()
            .map(|v| v.clamp(-30.0, 30.0))
            .collect::<Vec<_>>();
        let dy = harness::gradients(n);
        let xb = storage(&ctx, &x);
        let dyb = storage(&ctx, &dy);
        let out = ctx.create_tensor::<f32>(n).expect("buffer");
        let mut host_out = vec![0f32; n];

        let mut g = c.benchmark_group(format!("copy/{n}"));
        g.throughput(Throughput::BytesDecimal(8 * n as u64));
        g.bench_function("device_copy", |b| {
            b.iter_custom(|iters| {
                gpu_time(&ctx, iters, |enc| {
                    enc.copy_buffer_to_buffer(&xb, 0, &out, 0, 4 * n as u64)
                })
            })
        });
        let (pipeline, group) = copy_kernel(&ctx, &xb, &out);
        g.bench_function("copy_kernel", |b| {
            b.iter_custom(|iters| {
                gpu_time(&ctx, iters, |enc| {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&pipeline);
                    pass.set_bind_group(0, &group, &[]);
                    pass.dispatch_workgroups(4096.min((n as u32 / 4).div_ceil(256)), 1, 1);
                })
            })
        });
        g.bench_function("host_memcpy", |b| b.iter(|| host_memcpy(&x, &mut host_out)));
        g.finish();

        for op in ops() {
            let act = Activation::new(op);
            for backward in [false, true] {
                let mode = if backward { "backward" } else { "forward" };
                let mut g = c.benchmark_group(format!("elementwise/{}/{mode}", op.name()));
                g.throughput(Throughput::BytesDecimal(
                    if backward { 12 } else { 8 } * n as u64,
                ));
                g.sample_size(10)
                    .warm_up_time(Duration::from_millis(300))
                    .measurement_time(Duration::from_secs(1));
                g.bench_with_input(BenchmarkId::new("gpu", n), &n, |b, &n| {
                    b.iter_custom(|iters| {
                        gpu_time(&ctx, iters, |enc| {
                            let r = if backward {
                                ctx.record_backward(
                                    enc,
                                    &act,
                                    Tensor::new(&xb, 0, n),
                                    Tensor::new(&dyb, 0, n),
                                    Tensor::new(&out, 0, n),
                                )
                            } else {
                                ctx.record_forward(
                                    enc,
                                    &act,
                                    Tensor::new(&xb, 0, n),
                                    Tensor::new(&out, 0, n),
                                )
                            };
                            r.expect("record");
                        })
                    })
                });
                g.bench_with_input(BenchmarkId::new("cpu", n), &n, |b, _| {
                    b.iter(|| {
                        if backward {
                            cpu::backward_into(&act, &x, &dy, &mut host_out).expect("cpu");
                        } else {
                            cpu::forward_into(&act, &x, &mut host_out).expect("cpu");
                        }
                    })
                });
                g.finish();
            }
        }

        let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
        let xhb = ctx.upload(&xh).expect("upload");
        let outh = ctx.create_tensor::<f16>(n).expect("buffer");
        let f16_ops = if std::env::var("WGPU_ACTIVATIONS_BENCH_OPS").is_ok() {
            ops()
        } else {
            vec![OpKind::Relu, OpKind::Gelu]
        };
        for op in f16_ops {
            let act = Activation::new(op);
            let mut g = c.benchmark_group(format!("elementwise_f16/{}/forward", op.name()));
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(2));
            for half in [false, true] {
                let (xt, yt, bytes) = if half {
                    (Tensor::f16(&xhb, 0, n), Tensor::f16(&outh, 0, n), 4)
                } else {
                    (Tensor::new(&xb, 0, n), Tensor::new(&out, 0, n), 8)
                };
                g.throughput(Throughput::BytesDecimal(bytes * n as u64));
                let name = if half { "gpu_f16" } else { "gpu_f32" };
                g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                    b.iter_custom(|iters| {
                        gpu_time(&ctx, iters, |enc| {
                            ctx.record_forward(enc, &act, xt, yt).expect("record");
                        })
                    })
                });
            }
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
