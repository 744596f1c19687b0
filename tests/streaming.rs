//! Streaming offload (`Context::stream_forward`, `stream_derivative`, `stream_softmax`) against the
//! exact f64 references: lengths just above the storage-binding limit (forced down to 64 KiB, so
//! that the tests stay small), odd chunk remainders, every ring depth and both upload paths,
//! softmax rows that do not divide the chunk and rows longer than it, element-index-dependent
//! ops (prelu's channels, rrelu's training slopes) across chunk boundaries, cancellation, the
//! progress reports, the error paths, and f16 slices (odd chunks, odd lengths, rows) against the
//! one-piece f16 path, which `tests/f16.rs` judges against the exact reference.

mod common;

use std::ops::ControlFlow;

use wgpu_activations::half::f16;
use wgpu_activations::harness::{hard_inputs, random_inputs};
use wgpu_activations::reference::softmax_exact as reference_forward_exact;
use wgpu_activations::stream::{no_progress, Upload};
use wgpu_activations::ulp::ulp_error;
use wgpu_activations::{Activation, Context, Error, Mode, OpKind, Softmax, StreamOptions};

/// The binding limit every test in this binary runs under: 16,384 f32s.
const CAP_BYTES: u64 = 64 << 10;
const CAP: usize = (CAP_BYTES / 4) as usize;

/// The shared context with its binding limit forced down (each test binary is its own process,
/// and every test here wants the same limit).
fn ctx() -> Option<&'static Context> {
    let ctx = common::gpu()?;
    ctx.set_max_binding_bytes(CAP_BYTES);
    Some(ctx)
}

/// `n` inputs: the hard list first, then seeded random values over the whole f32 range.
fn data(seed: u64, n: usize) -> Vec<f32> {
    let mut v = hard_inputs();
    v.extend(random_inputs(seed, n));
    v.truncate(n);
    v
}

/// Logits for softmax rows: scales ±1, ±10 and ±30 in turn.
fn logits(seed: u64, n: usize) -> Vec<f32> {
    random_inputs(seed, n)
        .iter()
        .enumerate()
        .map(|(i, v)| (v % 1.0) * [1.0, 10.0, 30.0][i % 3])
        .collect()
}

fn same_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}: [{i}] got {g:e}, want {w:e}"
        );
    }
}

/// Every softmax probability within 4 ULP of the exact value.
fn judge_softmax(what: &str, sm: &Softmax, x: &[f32], row_len: usize, got: &[f32]) {
    let shape = [x.len() / row_len, row_len];
    let exact = reference_forward_exact(sm, x, &shape, 1).unwrap();
    let mut worst = (0.0f64, 0usize);
    for (i, (&g, &e)) in got.iter().zip(&exact).enumerate() {
        let u = ulp_error(g, e);
        assert!(
            u <= 4.0,
            "{what}: [{i}] x = {:e} got {g:e} want {e:e}: {u:.2} ULP",
            x[i]
        );
        if u > worst.0 {
            worst = (u, i);
        }
    }
    eprintln!("{what}: max {:.3} ULP over {} values", worst.0, x.len());
}

#[test]
fn forward_just_above_the_binding_limit() {
    let Some(ctx) = ctx() else { return };
    for op in [OpKind::Gelu, OpKind::Relu, OpKind::Tanh] {
        let act = Activation::new(op);
        // One element over the limit: a full chunk and a chunk of one element.
        let x = data(op as u64, CAP + 1);
        let mut y = x.clone();
        let mut calls = Vec::new();
        ctx.stream_forward(&act, &mut y, &StreamOptions::default(), |done, total| {
            calls.push((done, total));
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(calls, [(CAP, CAP + 1), (CAP + 1, CAP + 1)], "two chunks");
        common::check(
            &format!("stream {} forward, {} elements", op.name(), x.len()),
            &act,
            Mode::Forward,
            &x,
            None,
            &y,
        );
        // The same kernel as the convenient path, so the same bits.
        same_bits(
            &format!("stream {} vs forward", op.name()),
            &y,
            &ctx.forward(&act, &x).unwrap(),
        );
    }
}

#[test]
fn odd_remainders_every_depth_both_uploads() {
    let Some(ctx) = ctx() else { return };
    let act = Activation::new(OpKind::Silu);
    let x = data(11, 7 * 1000 + 13);
    for upload in [Upload::Mapped, Upload::WriteBuffer] {
        for depth in [1, 2, 3, 5, 100] {
            // Chunks of 1000 elements (a byte count that is not a whole f32 rounds down).
            let opts = StreamOptions::default()
                .with_chunk_bytes(4003)
                .with_depth(depth)
                .with_upload(upload);
            let mut y = x.clone();
            let mut calls = Vec::new();
            ctx.stream_forward(&act, &mut y, &opts, |done, total| {
                calls.push((done, total));
                ControlFlow::Continue(())
            })
            .unwrap();
            let what = format!("stream silu, {upload:?}, depth {depth}");
            common::check(&what, &act, Mode::Forward, &x, None, &y);
            let want: Vec<_> = (1..=8)
                .map(|k| ((k * 1000).min(x.len()), x.len()))
                .collect();
            assert_eq!(calls, want, "{what}: progress");
        }
    }
}

#[test]
fn derivative_streams() {
    let Some(ctx) = ctx() else { return };
    let act = Activation::new(OpKind::Elu);
    let x = data(12, 3 * CAP + 5);
    let mut d = x.clone();
    ctx.stream_derivative(&act, &mut d, &StreamOptions::default(), no_progress)
        .unwrap();
    common::check(
        "stream elu derivative",
        &act,
        Mode::Derivative,
        &x,
        None,
        &d,
    );
}

#[test]
fn index_dependent_ops_across_chunks() {
    let Some(ctx) = ctx() else { return };
    // prelu over [N, C=3, 7]: chunks of whole periods of 21 even when the option asks for 1000.
    let act = Activation::new(OpKind::Prelu).with_slopes(vec![0.25, -0.5, 2.0], 7);
    let x = data(13, 21 * 300);
    let mut y = x.clone();
    let opts = StreamOptions::default().with_chunk_bytes(4000);
    ctx.stream_forward(&act, &mut y, &opts, no_progress)
        .unwrap();
    common::check(
        "stream prelu, 3 channels",
        &act,
        Mode::Forward,
        &x,
        None,
        &y,
    );
    same_bits(
        "stream prelu vs forward",
        &y,
        &ctx.forward(&act, &x).unwrap(),
    );

    // rrelu's training slopes follow the element's index, across chunks too.
    let act = Activation::new(OpKind::Rrelu).training(42);
    let x = data(14, 2 * CAP + 77);
    let mut y = x.clone();
    ctx.stream_forward(&act, &mut y, &opts, no_progress)
        .unwrap();
    common::check("stream rrelu training", &act, Mode::Forward, &x, None, &y);
    same_bits(
        "stream rrelu vs forward",
        &y,
        &ctx.forward(&act, &x).unwrap(),
    );
}

#[test]
fn softmax_rows_across_chunks() {
    let Some(ctx) = ctx() else { return };
    for sm in [Softmax::softmax(), Softmax::softmin().with_temperature(0.5)] {
        // 3 rows of 100 per chunk: 84 chunks, the last holding one row.
        let x = logits(21, 250 * 100);
        let mut y = x.clone();
        let opts = StreamOptions::default()
            .with_chunk_bytes(4 * 350)
            .with_depth(2);
        let mut calls = 0;
        ctx.stream_softmax(&sm, &mut y, 100, &opts, |done, total| {
            calls += 1;
            assert_eq!(done % 100, 0, "chunks hold whole rows");
            assert_eq!(total, x.len());
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(calls, 84);
        judge_softmax(
            &format!("stream {} rows of 100", sm.kind.name()),
            &sm,
            &x,
            100,
            &y,
        );

        // Rows just above the binding limit (and the chunk): a row per chunk, split on the device.
        let row = CAP + 3;
        let x = logits(22, 3 * row);
        let mut y = x.clone();
        ctx.stream_softmax(&sm, &mut y, row, &StreamOptions::default(), no_progress)
            .unwrap();
        judge_softmax(
            &format!("stream {} rows of {row}", sm.kind.name()),
            &sm,
            &x,
            row,
            &y,
        );
    }
}

/// The convenient layer goes through the same ring: backward, whose second input (dy) shares
/// each chunk's device buffer at an aligned offset, over many chunks under the 64 KiB limit.
#[test]
fn convenient_backward_through_the_ring() {
    let Some(ctx) = ctx() else { return };
    for act in [
        Activation::new(OpKind::Gelu),
        Activation::new(OpKind::Rrelu).training(3),
        Activation::new(OpKind::Prelu).with_slopes(vec![0.25, -2.0, 0.5], 7),
    ] {
        // Whole prelu periods (21), three chunks and an odd remainder.
        let n = 21 * (3 * CAP / 21 + 5);
        let x = data(51, n);
        let dy = random_inputs(52, n);
        let dx = ctx.backward(&act, &x, &dy).unwrap();
        common::check(
            &format!("ring backward {}", act.op().name()),
            &act,
            Mode::Backward,
            &x,
            Some(&dy),
            &dx,
        );
        let xh = to_f16(&x);
        let dyh = to_f16(&dy.iter().map(|v| v % 100.0).collect::<Vec<_>>());
        // f16 with odd chunk lengths: against the f32 kernel's result of the f16 inputs, rounded.
        let dxh = ctx.backward(&act, &xh, &dyh).unwrap();
        let wide = |v: &[f16]| v.iter().map(|h| h.to_f32()).collect::<Vec<f32>>();
        let want = to_f16(&ctx.backward(&act, &wide(&xh), &wide(&dyh)).unwrap());
        same_bits_f16(
            &format!("ring backward f16 {}", act.op().name()),
            &dxh,
            &want,
        );
    }
}

fn to_f16(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

fn same_bits_f16(what: &str, got: &[f16], want: &[f16]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: [{i}] got {g}, want {w}");
    }
}

#[test]
fn f16_odd_chunks_every_upload() {
    let Some(ctx) = ctx() else { return };
    // f16 inputs spread over f16's range, the hard list (rounded to f16) first.
    let x = to_f16(
        &data(31, 2 * CAP + 1001)
            .iter()
            .map(|v| v % 70000.0)
            .collect::<Vec<_>>(),
    );
    for act in [
        Activation::new(OpKind::Gelu),
        Activation::new(OpKind::Relu),
        Activation::new(OpKind::Rrelu).training(7),
    ] {
        let want = ctx.forward(&act, &x).unwrap();
        for upload in [Upload::Mapped, Upload::WriteBuffer] {
            // Chunks of 1001 f16s: odd lengths, every other chunk starting inside a word; and
            // the default chunk, capped by the binding limit (32,768 f16s), with a remainder of
            // 1001.
            for chunk_bytes in [2002, 16 << 20] {
                let opts = StreamOptions::default()
                    .with_chunk_bytes(chunk_bytes)
                    .with_upload(upload);
                let mut y = x.clone();
                let mut last = 0;
                ctx.stream_forward(&act, &mut y, &opts, |done, total| {
                    assert_eq!(total, x.len());
                    assert!(done > last);
                    last = done;
                    ControlFlow::Continue(())
                })
                .unwrap();
                assert_eq!(last, x.len());
                same_bits_f16(
                    &format!(
                        "stream f16 {} {upload:?} chunks of {chunk_bytes} B",
                        act.op().name()
                    ),
                    &y,
                    &want,
                );
            }
        }
    }
    let act = Activation::new(OpKind::Tanh);
    let mut y = x.clone();
    let opts = StreamOptions::default().with_chunk_bytes(2002);
    ctx.stream_derivative(&act, &mut y, &opts, no_progress)
        .unwrap();
    same_bits_f16(
        "stream f16 tanh derivative",
        &y,
        &ctx.derivative(&act, &x).unwrap(),
    );
}

#[test]
fn f16_softmax_rows_across_chunks() {
    let Some(ctx) = ctx() else { return };
    for (rows, row_len) in [(301, 37), (3, CAP / 2 + 5)] {
        let x = to_f16(&logits(41, rows * row_len));
        for sm in [Softmax::softmax(), Softmax::log_softmax()] {
            let want = ctx.softmax(&sm, &x, &[rows, row_len], 1).unwrap();
            let mut y = x.clone();
            // Chunks of 5 rows of 37 (odd lengths), or one row longer than the binding limit
            // per chunk (split on the device).
            let opts = StreamOptions::default().with_chunk_bytes(2 * 37 * 5 + 1);
            ctx.stream_softmax(&sm, &mut y, row_len, &opts, no_progress)
                .unwrap();
            same_bits_f16(
                &format!("stream f16 {} {rows}x{row_len}", sm.kind.name()),
                &y,
                &want,
            );
        }
    }
}

/// bf16 slices stream alike: odd chunk lengths (chunks starting inside a word), element-wise and
/// softmax rows across chunks, equal to the f32 kernels' results of the bf16 inputs rounded once
/// to bf16 (which is what `tests/bf16.rs` judges against the exact reference).
#[test]
fn bf16_odd_chunks_and_softmax_rows() {
    use wgpu_activations::half::bf16;
    let Some(ctx) = ctx() else { return };
    let to_bf16 = |v: &[f32]| v.iter().map(|&x| bf16::from_f32(x)).collect::<Vec<_>>();
    let wide = |v: &[bf16]| v.iter().map(|h| h.to_f32()).collect::<Vec<f32>>();
    let bits = |v: &[bf16]| v.iter().map(|h| h.to_bits()).collect::<Vec<u16>>();
    let x = to_bf16(&data(37, 2 * CAP + 1001));
    for act in [
        Activation::new(OpKind::Gelu),
        Activation::new(OpKind::Rrelu).training(7),
    ] {
        let want = to_bf16(&ctx.forward(&act, &wide(&x)).unwrap());
        for upload in [Upload::Mapped, Upload::WriteBuffer] {
            let opts = StreamOptions::default()
                .with_chunk_bytes(2002)
                .with_upload(upload);
            let mut y = x.clone();
            ctx.stream_forward(&act, &mut y, &opts, no_progress)
                .unwrap();
            assert_eq!(bits(&y), bits(&want), "{} {upload:?}", act.op().name());
        }
    }
    for (rows, row_len) in [(301, 37), (3, CAP / 2 + 5)] {
        let x = to_bf16(&logits(43, rows * row_len));
        let sm = Softmax::softmax();
        let want = to_bf16(&ctx.softmax(&sm, &wide(&x), &[rows, row_len], 1).unwrap());
        let mut y = x.clone();
        let opts = StreamOptions::default().with_chunk_bytes(2 * 37 * 5 + 1);
        ctx.stream_softmax(&sm, &mut y, row_len, &opts, no_progress)
            .unwrap();
        assert_eq!(bits(&y), bits(&want), "softmax {rows}x{row_len}");
    }
}

#[test]
fn cancellation_keeps_whole_chunks() {
    let Some(ctx) = ctx() else { return };
    let act = Activation::new(OpKind::Sigmoid);
    let x = data(31, 10 * 1000 + 1);
    let want = ctx.forward(&act, &x).unwrap();
    let opts = StreamOptions::default()
        .with_chunk_bytes(4000)
        .with_depth(3);
    for stop_after in [1usize, 4, 10] {
        let mut y = x.clone();
        let mut calls = 0;
        let err = ctx
            .stream_forward(&act, &mut y, &opts, |_, _| {
                calls += 1;
                if calls == stop_after {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap_err();
        let done = stop_after * 1000;
        match err {
            Error::Cancelled { processed_elements } => assert_eq!(processed_elements, done),
            e => panic!("expected Cancelled, got {e}"),
        }
        same_bits(
            &format!("cancelled after {stop_after}: processed part"),
            &y[..done],
            &want[..done],
        );
        same_bits(
            &format!("cancelled after {stop_after}: untouched part"),
            &y[done..],
            &x[done..],
        );
    }

    // Softmax too: whole rows before the cancel point, inputs after it.
    let sm = Softmax::log_softmax();
    let x = logits(32, 40 * 64);
    let want = ctx.softmax(&sm, &x, &[40, 64], 1).unwrap();
    let mut y = x.clone();
    let err = ctx
        .stream_softmax(
            &sm,
            &mut y,
            64,
            &StreamOptions::default().with_chunk_bytes(4 * 64 * 6),
            |done, _| {
                if done >= 2 * 6 * 64 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { processed_elements } if processed_elements == 768));
    let ulps = y[..768]
        .iter()
        .zip(&want[..768])
        .map(|(g, w)| ulp_error(*g, *w as f64))
        .fold(0.0, f64::max);
    assert!(
        ulps <= 4.0,
        "log_softmax before the cancel: {ulps} ULP from the GPU's"
    );
    same_bits("log_softmax after the cancel", &y[768..], &x[768..]);
}

#[test]
fn errors_are_typed_and_leave_the_input_untouched() {
    let Some(ctx) = ctx() else { return };
    let x = data(41, 1000);
    let mut y = x.clone();
    let act = Activation::new(OpKind::Relu);
    let zero = StreamOptions::default().with_depth(0);
    assert!(matches!(
        ctx.stream_forward(&act, &mut y, &zero, no_progress),
        Err(Error::BadParameter { .. })
    ));
    let sm = Softmax::softmax();
    assert!(matches!(
        ctx.stream_softmax(&sm, &mut y, 7, &StreamOptions::default(), no_progress),
        Err(Error::ShapeMismatch(_))
    ));
    assert!(matches!(
        ctx.stream_softmax(&sm, &mut y, 0, &StreamOptions::default(), no_progress),
        Err(Error::ShapeMismatch(_))
    ));
    let prelu = Activation::new(OpKind::Prelu).with_slopes(vec![0.1, 0.2, 0.3], 7);
    assert!(matches!(
        ctx.stream_forward(&prelu, &mut y, &StreamOptions::default(), no_progress),
        Err(Error::ShapeMismatch(_))
    ));
    let bad = Activation::new(OpKind::Elu)
        .with("alpha", f32::NAN)
        .unwrap();
    assert!(matches!(
        ctx.stream_forward(&bad, &mut y, &StreamOptions::default(), no_progress),
        Err(Error::BadParameter { .. })
    ));
    same_bits("after the errors", &y, &x);

    // Empty: nothing to do, no progress report.
    let mut calls = 0;
    ctx.stream_forward(
        &act,
        &mut [] as &mut [f32],
        &StreamOptions::default(),
        |_, _| {
            calls += 1;
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    ctx.stream_softmax(
        &sm,
        &mut [] as &mut [f32],
        5,
        &StreamOptions::default(),
        no_progress,
    )
    .unwrap();
    assert_eq!(calls, 0);
}
