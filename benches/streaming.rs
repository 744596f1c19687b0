//! Streaming offload against upload-everything-then-compute, beside the device's own upload and
//! readback bandwidth, measured in the same run.
//!
//! Every figure is host-array bytes (4 per f32, counted once) over wall time, the median of a few
//! runs:
//!
//! - **upload**: host slice → device buffer, the better of `Queue::write_buffer` and a mapped
//!   `MAP_WRITE` staging buffer + buffer copy (pieces of at most 256 MiB, one wait at the end);
//! - **readback**: device buffer → `MAP_READ` staging copy → map → copy into a host slice;
//! - **upload-all**: [`Context::forward_in_place`] — upload the whole array, compute, read back;
//! - **stream**: [`Context::stream_forward`] in place, with the mapped ring (default options) and
//!   with `write_buffer` uploads.
//!
//! A stream moves each byte up and down, so its ideal, with upload, compute and readback fully
//! overlapped, is the slower of the two directions: the table reports `stream / min(upload,
//! readback)` for the better of the two upload paths, and the same ratio with the kernel's own
//! rate (relu in place on the device buffer, timed alone) in the minimum, which on a software
//! rasterizer is the real ceiling: there the "device" computes on the host's cores. The op is relu, whose kernel is far faster than the copies; a softmax row (1024
//! wide) is streamed at the largest size as well.
//!
//! Sizes: 2^20 … 2^26 f32s by default; `WGPU_ACTIVATIONS_BENCH_FULL=1` adds 2^28 (1 GiB of host
//! data; about 5 GiB of memory for the upload-all path); `WGPU_ACTIVATIONS_BENCH_QUICK=1`
//! shrinks them to a smoke test.

use std::time::{Duration, Instant};

mod common;

use common::{gpu_time, quick};
use wgpu_activations::stream::{no_progress, Upload};
use wgpu_activations::wgpu;
use wgpu_activations::{Activation, Context, OpKind, Softmax, StreamOptions, Tensor};

const PIECE: usize = 64 << 20; // f32s of one upload / readback piece: 256 MiB

fn median(mut f: impl FnMut() -> Duration, reps: usize) -> Duration {
    let mut t: Vec<_> = (0..reps).map(|_| f()).collect();
    t.sort();
    t[t.len() / 2]
}

fn wait(ctx: &Context, index: wgpu::SubmissionIndex) {
    ctx.device()
        .poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: None,
        })
        .expect("poll");
}

/// Host → device with `Queue::write_buffer`.
fn upload_write_buffer(ctx: &Context, host: &[f32], dev: &wgpu::Buffer) -> Duration {
    let start = Instant::now();
    for piece in host.chunks(PIECE) {
        ctx.queue()
            .write_buffer(dev, 0, bytemuck::cast_slice(piece));
    }
    wait(ctx, ctx.queue().submit([]));
    start.elapsed()
}

/// Host → device through a mapped staging buffer and a buffer copy. The staging buffer is
/// created mapped, as the upload-all path does; its creation is timed.
fn upload_mapped(ctx: &Context, host: &[f32], dev: &wgpu::Buffer) -> Duration {
    let start = Instant::now();
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    let mut staging = Vec::new();
    for piece in host.chunks(PIECE) {
        let bytes = piece.len() as u64 * 4;
        let s = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench upload"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        s.slice(..)
            .get_mapped_range_mut()
            .expect("map")
            .copy_from_slice(bytemuck::cast_slice(piece));
        s.unmap();
        enc.copy_buffer_to_buffer(&s, 0, dev, 0, bytes);
        staging.push(s);
    }
    wait(ctx, ctx.queue().submit([enc.finish()]));
    start.elapsed()
}

/// Device → host: copy to a `MAP_READ` buffer, map, copy out.
fn readback(ctx: &Context, dev: &wgpu::Buffer, host: &mut [f32]) -> Duration {
    let start = Instant::now();
    for piece in host.chunks_mut(PIECE) {
        let bytes = piece.len() as u64 * 4;
        let s = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(dev, 0, &s, 0, bytes);
        let index = ctx.queue().submit([enc.finish()]);
        s.slice(..)
            .map_async(wgpu::MapMode::Read, |r| r.expect("map"));
        wait(ctx, index);
        piece.copy_from_slice(bytemuck::cast_slice(
            &s.slice(..).get_mapped_range().expect("view"),
        ));
        s.unmap();
    }
    start.elapsed()
}

fn gbs(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e9
}

fn main() {
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
    let full = std::env::var("WGPU_ACTIVATIONS_BENCH_FULL").is_ok_and(|v| v == "1");
    let logs: Vec<u32> = if quick() {
        vec![16, 18]
    } else if full {
        vec![20, 22, 24, 26, 28]
    } else {
        vec![20, 22, 24, 26]
    };
    let reps = 3;
    let act = Activation::new(OpKind::Relu);
    let mapped = StreamOptions::default();
    let written = StreamOptions::default().with_upload(Upload::WriteBuffer);

    println!(
        "| f32s | MiB | upload GB/s | readback GB/s | relu kernel GB/s | upload-all GB/s | stream GB/s | stream (write_buffer) GB/s | stream / min(up, down) | stream / min(up, down, kernel) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &log in &logs {
        let n = 1usize << log;
        let bytes = 4 * n;
        let x: Vec<f32> = wgpu_activations::harness::random_inputs(1, n);
        let mut host = x.clone();
        let dev = ctx
            .create_tensor::<f32>(n.min(PIECE))
            .expect("device buffer");
        // Warm up: every path's kernels compiled.
        let w = n.min(1 << 16);
        ctx.stream_forward(&act, &mut host[..w], &mapped, no_progress)
            .expect("warm-up");
        ctx.forward_in_place(&act, &mut host[..w]).expect("warm-up");

        let up_w = median(|| upload_write_buffer(&ctx, &x, &dev), reps);
        let up_m = median(|| upload_mapped(&ctx, &x, &dev), reps);
        let up = up_w.min(up_m);
        let down = median(|| readback(&ctx, &dev, &mut host), reps);
        // The kernel alone, in place on the device buffer (pieces of one buffer at most).
        let kernel = median(
            || {
                (0..n.div_ceil(PIECE))
                    .map(|k| {
                        let len = PIECE.min(n - k * PIECE);
                        gpu_time(&ctx, 1, |enc| {
                            ctx.record_forward_in_place(enc, &act, Tensor::new(&dev, 0, len))
                                .expect("record")
                        })
                    })
                    .sum()
            },
            reps,
        );
        let all = median(
            || {
                host.copy_from_slice(&x);
                let t = Instant::now();
                ctx.forward_in_place(&act, &mut host).expect("forward");
                t.elapsed()
            },
            reps,
        );
        let stream = |opts: &StreamOptions, host: &mut Vec<f32>| {
            median(
                || {
                    host.copy_from_slice(&x);
                    let t = Instant::now();
                    ctx.stream_forward(&act, host, opts, no_progress)
                        .expect("stream");
                    t.elapsed()
                },
                reps,
            )
        };
        let s_m = stream(&mapped, &mut host);
        let s_w = stream(&written, &mut host);
        let floor = gbs(bytes, up).min(gbs(bytes, down));
        let best = gbs(bytes, s_m.min(s_w));
        println!(
            "| 2^{log} | {} | {:.2} (write_buffer {:.2}, mapped {:.2}) | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0}% | {:.0}% |",
            bytes >> 20,
            gbs(bytes, up),
            gbs(bytes, up_w),
            gbs(bytes, up_m),
            gbs(bytes, down),
            gbs(bytes, kernel),
            gbs(bytes, all),
            gbs(bytes, s_m),
            gbs(bytes, s_w),
            100.0 * best / floor,
            100.0 * best / floor.min(gbs(bytes, kernel)),
        );
    }

    // The ring's shape at the largest size: chunk bytes and depth.
    let n = 1usize << logs[logs.len() - 1];
    let bytes = 4 * n;
    let x: Vec<f32> = wgpu_activations::harness::random_inputs(2, n);
    let mut host = x.clone();
    println!("\nrelu, 2^{} f32s, mapped ring:\n", logs[logs.len() - 1]);
    println!("| chunk | depth | stream GB/s |");
    println!("|---|---|---|");
    let chunks: &[u64] = if quick() {
        &[64 << 10]
    } else {
        &[4 << 20, 16 << 20, 64 << 20]
    };
    for &chunk in chunks {
        for depth in [2, 3, 4] {
            let opts = StreamOptions::default()
                .with_chunk_bytes(chunk)
                .with_depth(depth);
            let t = median(
                || {
                    host.copy_from_slice(&x);
                    let t = Instant::now();
                    ctx.stream_forward(&act, &mut host, &opts, no_progress)
                        .expect("stream");
                    t.elapsed()
                },
                reps,
            );
            println!("| {} MiB | {depth} | {:.2} |", chunk >> 20, gbs(bytes, t));
        }
    }

    // Softmax rows of 1024, streamed and upload-all.
    let sm = Softmax::softmax();
    let shape = [n / 1024, 1024];
    let x: Vec<f32> = x.iter().map(|v| v % 30.0).collect();
    ctx.softmax(&sm, &x[..1 << 16], &[64, 1024], 1)
        .expect("warm-up");
    ctx.stream_softmax(&sm, &mut host[..1 << 16], 1024, &mapped, no_progress)
        .expect("warm-up");
    let all = median(
        || {
            let t = Instant::now();
            let y = ctx.softmax(&sm, &x, &shape, 1).expect("softmax");
            host.copy_from_slice(&y);
            t.elapsed()
        },
        reps,
    );
    let s = median(
        || {
            host.copy_from_slice(&x);
            let t = Instant::now();
            ctx.stream_softmax(&sm, &mut host, 1024, &mapped, no_progress)
                .expect("stream softmax");
            t.elapsed()
        },
        reps,
    );
    println!(
        "\nsoftmax, rows of 1024, 2^{} f32s: upload-all {:.2} GB/s, stream {:.2} GB/s",
        logs[logs.len() - 1],
        gbs(bytes, all),
        gbs(bytes, s)
    );
}
