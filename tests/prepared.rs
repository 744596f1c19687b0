//! Prepared dispatches and chains: recording a prepared op 10,000 times creates no wgpu object
//! (counted by the device's internal counters), chains run in one submission and match the
//! exact references stage by stage and bit for bit the same ops run one at a time, caller buffers
//! with extra usages work at 4-byte offsets inside larger buffers without touching their
//! neighbours, the errors name the missing usage or alignment, and the two examples
//! (`pipeline`, `render_curves`) run their code paths here.

mod common;

use wgpu_activations::reference::{
    softmax_backward_exact as reference_backward_exact, softmax_exact as reference_forward_exact,
};
use wgpu_activations::ulp::ulp_error;
use wgpu_activations::wgpu;
use wgpu_activations::{reference, Activation, Chain, Context, Error, Mode, Softmax, Tensor};

#[allow(dead_code)]
#[path = "../examples/pipeline.rs"]
mod pipeline_example;

#[allow(dead_code)]
#[path = "../examples/render_curves.rs"]
mod render_curves;

fn act(name: &str) -> Activation {
    Activation::by_name(name).unwrap()
}

/// The wgpu objects the device holds, by kind (wgpu-hal's counters; the dev-dependency on wgpu
/// enables its `counters` feature).
fn objects(ctx: &Context) -> Vec<(&'static str, isize)> {
    let c = ctx.device().get_internal_counters().hal;
    vec![
        ("buffers", c.buffers.read()),
        ("buffer_memory", c.buffer_memory.read()),
        ("textures", c.textures.read()),
        ("texture_views", c.texture_views.read()),
        ("bind_groups", c.bind_groups.read()),
        ("bind_group_layouts", c.bind_group_layouts.read()),
        ("pipeline_layouts", c.pipeline_layouts.read()),
        ("compute_pipelines", c.compute_pipelines.read()),
        ("render_pipelines", c.render_pipelines.read()),
        ("shader_modules", c.shader_modules.read()),
        ("samplers", c.samplers.read()),
        ("query_sets", c.query_sets.read()),
        ("command_encoders", c.command_encoders.read()),
        ("memory_allocations", c.memory_allocations.read()),
    ]
}

fn count(objects: &[(&str, isize)], kind: &str) -> isize {
    objects.iter().find(|(k, _)| *k == kind).map_or(0, |o| o.1)
}

/// Uniform in [lo, hi), seeded.
fn uniform(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            lo + (hi - lo) * ((s >> 40) as f32 / 16_777_216.0)
        })
        .collect()
}

fn encoder(ctx: &Context) -> wgpu::CommandEncoder {
    ctx.device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
}

const REPEATS: usize = 10_000;

#[test]
fn prepared_dispatch_records_10000_times_without_creating_objects() {
    let Some(_) = common::gpu() else { return };
    // A device of its own, so that no other test's objects move its counters.
    let ctx = Context::new().unwrap();
    let n = 4099; // a vec4 body and a scalar tail: two dispatches
    let x = uniform(1, n, -6.0, 6.0);
    let (xb, yb) = (
        ctx.upload(&x).unwrap(),
        ctx.create_tensor::<f32>(n).unwrap(),
    );
    let (xt, yt) = (Tensor::new(&xb, 0, n), Tensor::new(&yb, 0, n));
    let gelu = act("gelu");

    // The counters are live and would catch it: recording without preparing creates a uniform
    // buffer and a bind group per dispatch, every time.
    let mut enc = encoder(&ctx);
    let before = objects(&ctx);
    for _ in 0..3 {
        ctx.record_forward(&mut enc, &gelu, xt, yt).unwrap();
    }
    let after = objects(&ctx);
    assert!(
        count(&after, "bind_groups") >= count(&before, "bind_groups") + 6
            && count(&after, "buffers") >= count(&before, "buffers") + 3,
        "the counters did not see three unprepared records: {before:?} -> {after:?}"
    );
    drop(enc);

    // Prepared: the first record may set things up; the next 9,999 create nothing.
    let prepared = ctx.prepare_forward(&gelu, xt, yt).unwrap();
    assert_eq!(prepared.dispatches(), 2, "{prepared:?}");
    let mut enc = encoder(&ctx);
    prepared.record(&mut enc).unwrap();
    let first = objects(&ctx);
    for _ in 1..REPEATS {
        prepared.record(&mut enc).unwrap();
    }
    assert_eq!(
        objects(&ctx),
        first,
        "recording a prepared dispatch created wgpu objects"
    );
    ctx.queue().submit([enc.finish()]);
    let y = ctx.read::<f32>(&yb, 0, n).unwrap();
    common::check("prepared gelu x10000", &gelu, Mode::Forward, &x, None, &y);

    // Into one open pass: a prepared softmax backward, 10,000 times.
    let shape = [8, 64];
    let m = 8 * 64;
    let sm = Softmax::softmax();
    let logits = uniform(2, m, -5.0, 5.0);
    let probs = ctx.softmax(&sm, &logits, &shape, 1).unwrap();
    let dy = uniform(3, m, -1.0, 1.0);
    let (pb, dyb, dxb) = (
        ctx.upload(&probs).unwrap(),
        ctx.upload(&dy).unwrap(),
        ctx.create_tensor::<f32>(m).unwrap(),
    );
    let prepared = ctx
        .prepare_softmax_backward(
            &sm,
            Tensor::new(&pb, 0, m),
            Tensor::new(&dyb, 0, m),
            Tensor::new(&dxb, 0, m),
            &shape,
            1,
        )
        .unwrap();
    let mut enc = encoder(&ctx);
    {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        prepared.record_in_pass(&mut pass).unwrap();
        let first = objects(&ctx);
        for _ in 1..REPEATS {
            prepared.record_in_pass(&mut pass).unwrap();
        }
        assert_eq!(
            objects(&ctx),
            first,
            "recording a prepared dispatch into an open pass created wgpu objects"
        );
    }
    ctx.queue().submit([enc.finish()]);
    let dx = ctx.read::<f32>(&dxb, 0, m).unwrap();
    assert_eq!(
        dx,
        ctx.softmax_backward(&sm, &probs, &dy, &shape, 1).unwrap()
    );

    // A chain with a scratch buffer of its own: gelu, then softmax.
    let mut chain = Chain::new("gelu then softmax");
    let h = chain.scratch(&ctx, m).unwrap();
    let zb = ctx.create_tensor::<f32>(m).unwrap();
    let lb = ctx.upload(&logits).unwrap();
    chain.push(
        ctx.prepare_forward(&gelu, Tensor::new(&lb, 0, m), Tensor::new(&h, 0, m))
            .unwrap(),
    );
    chain.push(
        ctx.prepare_softmax(
            &sm,
            Tensor::new(&h, 0, m),
            Tensor::new(&zb, 0, m),
            &shape,
            1,
        )
        .unwrap(),
    );
    let mut enc = encoder(&ctx);
    chain.record(&mut enc).unwrap();
    let first = objects(&ctx);
    for _ in 1..REPEATS {
        chain.record(&mut enc).unwrap();
    }
    assert_eq!(
        objects(&ctx),
        first,
        "recording a chain created wgpu objects"
    );
    ctx.queue().submit([enc.finish()]);
    let z = ctx.read::<f32>(&zb, 0, m).unwrap();
    let want = ctx
        .softmax(&sm, &ctx.forward(&gelu, &logits).unwrap(), &shape, 1)
        .unwrap();
    assert_eq!(
        z, want,
        "the chain differs from the same ops run one at a time"
    );
}

const MAX_ULP: f64 = 4.0;
const LOG_ABS: f64 = 1.0 / (1u64 << 22) as f64;
const BWD_REL: f64 = 1.0 / (1u64 << 36) as f64;
const BWD_REL_LOG: f64 = 1.0 / (1u64 << 28) as f64;

/// Rows of a `[outer, len, inner]` view along `axis`: the indices of each.
fn rows(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = Vec::new();
    for o in 0..outer {
        for i in 0..inner {
            out.push((0..len).map(|j| (o * len + j) * inner + i).collect());
        }
    }
    out
}

/// The softmax family's forward within 4 ULP (log-probabilities: or 2^-22) of the exact function
/// of the f32 input the stage actually read.
fn judge_softmax(what: &str, sm: &Softmax, x: &[f32], shape: &[usize], axis: usize, got: &[f32]) {
    let exact = reference_forward_exact(sm, x, shape, axis).unwrap();
    let log = sm.kind == wgpu_activations::SoftmaxKind::LogSoftmax;
    let mut worst = 0.0f64;
    for (k, (&g, &e)) in got.iter().zip(&exact).enumerate() {
        let u = ulp_error(g, e);
        let ok = u <= MAX_ULP || (log && (g as f64 - e).abs() <= LOG_ABS);
        assert!(
            ok,
            "{what} [{k}]: x = {:e}, got {g:e}, want {e:e}: {u:.2} ULP",
            x[k]
        );
        if u.is_finite() {
            worst = worst.max(u);
        }
    }
    eprintln!("{what}: max {worst:.3} ULP over {} values", got.len());
}

/// The backward within 4 ULP of the f64 formula on the stage's own inputs, or within the
/// cancellation allowance of `dy − Σ` (as tests/softmax.rs).
#[allow(clippy::too_many_arguments)]
fn judge_softmax_backward(
    what: &str,
    sm: &Softmax,
    y: &[f32],
    dy: &[f32],
    shape: &[usize],
    axis: usize,
    got: &[f32],
) {
    let exact = reference_backward_exact(sm, y, dy, shape, axis).unwrap();
    let log = sm.kind == wgpu_activations::SoftmaxKind::LogSoftmax;
    let t = sm.temperature as f64;
    let mut scale = vec![0.0f64; y.len()];
    for row in rows(shape, axis) {
        if log {
            let s: f64 = row.iter().map(|&k| (dy[k] as f64).abs()).sum();
            for &k in &row {
                scale[k] = ((dy[k] as f64).abs() + (y[k] as f64).exp() * s) / t;
            }
        } else {
            let s: f64 = row
                .iter()
                .map(|&k| (dy[k] as f64 * y[k] as f64).abs())
                .sum();
            for &k in &row {
                scale[k] = (y[k] as f64).abs() * ((dy[k] as f64).abs() + s) / t;
            }
        }
    }
    let rel = if log { BWD_REL_LOG } else { BWD_REL };
    for (k, (&g, &e)) in got.iter().zip(&exact).enumerate() {
        let u = ulp_error(g, e);
        let ok = u <= MAX_ULP || (g as f64 - e).abs() <= rel * scale[k];
        assert!(
            ok,
            "{what} [{k}]: y = {:e} dy = {:e}, got {g:e}, want {e:e}: {u:.2} ULP",
            y[k], dy[k]
        );
    }
}

#[test]
fn chain_gelu_then_softmax_matches_reference() {
    let Some(ctx) = common::gpu() else { return };
    let gelu = act("gelu");
    // Rows (last axis) and columns (a middle axis): the two fused kernel layouts.
    for (shape, axis) in [(vec![33, 257], 1), (vec![6, 40, 9], 1)] {
        let n: usize = shape.iter().product();
        let x = uniform(10 + axis as u64, n, -6.0, 6.0);
        let sm = Softmax::softmax().with_temperature(0.7);
        let xb = ctx.upload(&x).unwrap();
        let yb = ctx.create_tensor::<f32>(n).unwrap();
        let mut chain = Chain::new("gelu then softmax");
        let h = chain.scratch(ctx, n).unwrap();
        chain
            .push(
                ctx.prepare_forward(&gelu, Tensor::new(&xb, 0, n), Tensor::new(&h, 0, n))
                    .unwrap(),
            )
            .push(
                ctx.prepare_softmax(
                    &sm,
                    Tensor::new(&h, 0, n),
                    Tensor::new(&yb, 0, n),
                    &shape,
                    axis,
                )
                .unwrap(),
            );
        assert_eq!(chain.links().len(), 2);
        // One encoder, one submission; nothing read back until it is done.
        let mut enc = encoder(ctx);
        chain.record(&mut enc).unwrap();
        ctx.queue().submit([enc.finish()]);
        let hv = ctx.read::<f32>(&h, 0, n).unwrap();
        let y = ctx.read::<f32>(&yb, 0, n).unwrap();
        let what = format!("chain {shape:?} axis {axis}");
        common::check(
            &format!("{what}: gelu"),
            &gelu,
            Mode::Forward,
            &x,
            None,
            &hv,
        );
        judge_softmax(&format!("{what}: softmax"), &sm, &hv, &shape, axis, &y);
        // The same kernels one call at a time give the same bits.
        let separate = ctx
            .softmax(&sm, &ctx.forward(&gelu, &x).unwrap(), &shape, axis)
            .unwrap();
        assert_eq!(
            y, separate,
            "{what}: differs from the ops run one at a time"
        );
    }
}

#[test]
fn backward_chain_matches_reference() {
    let Some(ctx) = common::gpu() else { return };
    let silu = act("silu");
    let sm = Softmax::log_softmax().with_temperature(1.3);
    let shape = [17, 300];
    let n = 17 * 300;
    let x = uniform(20, n, -8.0, 8.0);
    let dy = uniform(21, n, -1.0, 1.0);
    let xb = ctx.upload(&x).unwrap();
    let dyb = ctx.upload(&dy).unwrap();
    let yb = ctx.create_tensor::<f32>(n).unwrap();
    let dxb = ctx.create_tensor::<f32>(n).unwrap();
    let t = |b| Tensor::new(b, 0, n);

    // Forward h = silu(x), y = log_softmax(h); backward dh from (y, dy), dx = silu'(x)·dh: four
    // links, intermediates in the chain's own buffers, y and dx in the caller's.
    let mut chain = Chain::new("forward and backward");
    let h = chain.scratch(ctx, n).unwrap();
    let dh = chain.scratch(ctx, n).unwrap();
    chain.push(ctx.prepare_forward(&silu, t(&xb), t(&h)).unwrap());
    chain.push(ctx.prepare_softmax(&sm, t(&h), t(&yb), &shape, 1).unwrap());
    chain.push(
        ctx.prepare_softmax_backward(&sm, t(&yb), t(&dyb), t(&dh), &shape, 1)
            .unwrap(),
    );
    chain.push(
        ctx.prepare_backward(&silu, t(&xb), t(&dh), t(&dxb))
            .unwrap(),
    );
    let mut enc = encoder(ctx);
    chain.record(&mut enc).unwrap();
    ctx.queue().submit([enc.finish()]);

    let hv = ctx.read::<f32>(&h, 0, n).unwrap();
    let y = ctx.read::<f32>(&yb, 0, n).unwrap();
    let dhv = ctx.read::<f32>(&dh, 0, n).unwrap();
    let dx = ctx.read::<f32>(&dxb, 0, n).unwrap();
    common::check("backward chain: silu", &silu, Mode::Forward, &x, None, &hv);
    judge_softmax("backward chain: log_softmax", &sm, &hv, &shape, 1, &y);
    judge_softmax_backward(
        "backward chain: log_softmax backward",
        &sm,
        &y,
        &dy,
        &shape,
        1,
        &dhv,
    );
    common::check(
        "backward chain: silu backward",
        &silu,
        Mode::Backward,
        &x,
        Some(&dhv),
        &dx,
    );
    assert_eq!(dhv, ctx.softmax_backward(&sm, &y, &dy, &shape, 1).unwrap());
    assert_eq!(dx, ctx.backward(&silu, &x, &dhv).unwrap());

    // Recorded again (same buffers, new input), the chain gives the new answer.
    let x2 = uniform(22, n, -3.0, 3.0);
    ctx.queue().write_buffer(&xb, 0, bytemuck::cast_slice(&x2));
    let mut enc = encoder(ctx);
    chain.record(&mut enc).unwrap();
    ctx.queue().submit([enc.finish()]);
    let y2 = ctx.read::<f32>(&yb, 0, n).unwrap();
    let want = ctx
        .softmax(&sm, &ctx.forward(&silu, &x2).unwrap(), &shape, 1)
        .unwrap();
    assert_eq!(y2, want, "a re-recorded chain did not see the new input");
}

#[test]
fn prepared_split_softmax_reuses_its_scratch() {
    let Some(ctx) = common::gpu() else { return };
    // Two long rows: split into chunks (partials, combine, write), with scratch the prepared op
    // owns and reuses on every record.
    let shape = [2, 200_000];
    let n = 400_000;
    let sm = Softmax::softmax();
    let x = uniform(30, n, -20.0, 20.0);
    let xb = ctx.upload(&x).unwrap();
    let yb = ctx.create_tensor::<f32>(n).unwrap();
    let p = ctx
        .prepare_softmax(
            &sm,
            Tensor::new(&xb, 0, n),
            Tensor::new(&yb, 0, n),
            &shape,
            1,
        )
        .unwrap();
    assert!(p.dispatches() >= 3, "expected a split plan: {p:?}");
    let mut first = None;
    for round in 0..3 {
        let mut enc = encoder(ctx);
        p.record(&mut enc).unwrap();
        ctx.queue().submit([enc.finish()]);
        let y = ctx.read::<f32>(&yb, 0, n).unwrap();
        match &first {
            None => {
                judge_softmax("prepared split softmax", &sm, &x, &shape, 1, &y);
                first = Some(y);
            }
            Some(f) => assert!(f == &y, "round {round} differs from the first"),
        }
    }
}

const EXTRA: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::VERTEX)
    .union(wgpu::BufferUsages::INDEX)
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

fn buffer(ctx: &Context, words: usize, usage: wgpu::BufferUsages, fill: f32) -> wgpu::Buffer {
    let b = ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("caller"),
        size: words as u64 * 4,
        usage,
        mapped_at_creation: false,
    });
    if usage.contains(wgpu::BufferUsages::COPY_DST) {
        ctx.queue()
            .write_buffer(&b, 0, bytemuck::cast_slice(&vec![fill; words]));
    }
    b
}

/// The words of `got` outside `[at, at + n)` still hold `fill`.
fn untouched(what: &str, got: &[f32], at: usize, n: usize, fill: f32) {
    let outside = got[..at].iter().chain(&got[at + n..]);
    assert!(
        outside.clone().all(|&v| v == fill),
        "{what}: wrote outside its range"
    );
}

#[test]
fn caller_buffers_with_extra_usages_and_offsets() {
    let Some(ctx) = common::gpu() else { return };
    let align = ctx.limits().min_storage_buffer_offset_alignment as u64;
    let n = 1003;
    let words = 4 * 1024;
    let x = uniform(40, n, -7.0, 7.0);
    let dy = uniform(41, n, -2.0, 2.0);
    // Byte offsets: 4-byte only, 16-byte (vec4), the device's storage alignment, and one float
    // either side of it.
    let offsets = [4, 48, align, align - 4, align + 4, 3 * align + 12];
    let fill = -7.5f32;
    for (k, &xo) in offsets.iter().enumerate() {
        let oo = offsets[(k + 2) % offsets.len()];
        let dyo = offsets[(k + 4) % offsets.len()];
        let xin = buffer(ctx, words, EXTRA, fill);
        ctx.queue().write_buffer(&xin, xo, bytemuck::cast_slice(&x));
        let dyin = buffer(ctx, words, EXTRA | wgpu::BufferUsages::UNIFORM, fill);
        ctx.queue()
            .write_buffer(&dyin, dyo, bytemuck::cast_slice(&dy));
        for (mode, a) in [
            (Mode::Forward, act("gelu")),
            (Mode::Derivative, act("tanh")),
            (Mode::Backward, act("mish")),
        ] {
            let out = buffer(ctx, words, EXTRA, fill);
            let xt = Tensor::new(&xin, xo, n);
            let ot = Tensor::new(&out, oo, n);
            let p = match mode {
                Mode::Forward => ctx.prepare_forward(&a, xt, ot),
                Mode::Derivative => ctx.prepare_derivative(&a, xt, ot),
                Mode::Backward => ctx.prepare_backward(&a, xt, Tensor::new(&dyin, dyo, n), ot),
            }
            .unwrap();
            let mut enc = encoder(ctx);
            p.record(&mut enc).unwrap();
            ctx.queue().submit([enc.finish()]);
            let got = ctx.read::<f32>(&out, 0, words).unwrap();
            let at = (oo / 4) as usize;
            let what = format!("{} x@{xo} out@{oo}", mode.name());
            untouched(&what, &got, at, n, fill);
            let dy_arg = (mode == Mode::Backward).then_some(&dy[..]);
            common::check(&what, &a, mode, &x, dy_arg, &got[at..at + n]);
        }
        // In place, at the offset, inside the larger buffer.
        let buf = buffer(ctx, words, EXTRA, fill);
        ctx.queue().write_buffer(&buf, xo, bytemuck::cast_slice(&x));
        let p = ctx
            .prepare_forward_in_place(&act("leaky_relu"), Tensor::new(&buf, xo, n))
            .unwrap();
        let mut enc = encoder(ctx);
        p.record(&mut enc).unwrap();
        ctx.queue().submit([enc.finish()]);
        let got = ctx.read::<f32>(&buf, 0, words).unwrap();
        let at = (xo / 4) as usize;
        untouched("in place", &got, at, n, fill);
        assert_eq!(
            &got[at..at + n],
            &reference::forward(&act("leaky_relu"), &x)[..]
        );

        // Softmax forward and backward at the offsets.
        let shape = [17, 59];
        let sm = Softmax::softmax();
        let yb = buffer(ctx, words, EXTRA, fill);
        let p = ctx
            .prepare_softmax(
                &sm,
                Tensor::new(&xin, xo, n),
                Tensor::new(&yb, oo, n),
                &shape,
                1,
            )
            .unwrap();
        let mut enc = encoder(ctx);
        p.record(&mut enc).unwrap();
        ctx.queue().submit([enc.finish()]);
        let got = ctx.read::<f32>(&yb, 0, words).unwrap();
        let at = (oo / 4) as usize;
        untouched("softmax", &got, at, n, fill);
        let y = got[at..at + n].to_vec();
        judge_softmax(&format!("softmax x@{xo} y@{oo}"), &sm, &x, &shape, 1, &y);
        let dxb = buffer(ctx, words, EXTRA, fill);
        let p = ctx
            .prepare_softmax_backward(
                &sm,
                Tensor::new(&yb, oo, n),
                Tensor::new(&dyin, dyo, n),
                Tensor::new(&dxb, xo, n),
                &shape,
                1,
            )
            .unwrap();
        let mut enc = encoder(ctx);
        p.record(&mut enc).unwrap();
        ctx.queue().submit([enc.finish()]);
        let got = ctx.read::<f32>(&dxb, 0, words).unwrap();
        let at = (xo / 4) as usize;
        untouched("softmax backward", &got, at, n, fill);
        judge_softmax_backward(
            &format!("softmax backward y@{oo} dy@{dyo} dx@{xo}"),
            &sm,
            &y,
            &dy,
            &shape,
            1,
            &got[at..at + n],
        );
    }
}

#[test]
fn usage_and_alignment_errors_name_what_is_missing() {
    let Some(ctx) = common::gpu() else { return };
    let n = 64;
    let gelu = act("gelu");
    let sm = Softmax::softmax();
    let good = buffer(ctx, 256, EXTRA, 0.0);
    let out = buffer(ctx, 256, EXTRA, 0.0);
    // Everything but STORAGE.
    let no_storage = buffer(ctx, 256, EXTRA.difference(wgpu::BufferUsages::STORAGE), 0.0);
    let storage_only = buffer(ctx, 256, wgpu::BufferUsages::STORAGE, 0.0);

    let missing = |r: Result<wgpu_activations::Prepared, Error>, what: &str, usage: &str| match r {
        Err(e @ Error::MissingUsage { .. }) => {
            let m = e.to_string();
            assert!(m.contains(usage) && m.contains(what), "{m}");
        }
        other => panic!("expected a missing {usage} on {what}, got {other:?}"),
    };
    let t = |b, off| Tensor::new(b, off, n);
    missing(
        ctx.prepare_forward(&gelu, t(&no_storage, 0), t(&out, 0)),
        "x",
        "STORAGE",
    );
    missing(
        ctx.prepare_forward(&gelu, t(&good, 0), t(&no_storage, 0)),
        "output",
        "STORAGE",
    );
    missing(
        ctx.prepare_backward(&gelu, t(&good, 0), t(&no_storage, 16), t(&out, 0)),
        "dy",
        "STORAGE",
    );
    missing(
        ctx.prepare_softmax(&sm, t(&no_storage, 0), t(&out, 0), &[8, 8], 1),
        "x",
        "STORAGE",
    );
    missing(
        ctx.prepare_softmax_backward(&sm, t(&good, 0), t(&no_storage, 0), t(&out, 0), &[8, 8], 1),
        "dy",
        "STORAGE",
    );
    // Reading back needs COPY_SRC.
    match ctx.read::<f32>(&storage_only, 0, 4) {
        Err(
            e @ Error::MissingUsage {
                usage: "COPY_SRC", ..
            },
        ) => {
            assert!(e.to_string().contains("COPY_SRC"), "{e}")
        }
        other => panic!("expected a missing COPY_SRC, got {other:?}"),
    }

    // Offsets must be multiples of 4 bytes (an f32); nothing else is required of them.
    for off in [1u64, 2, 6, 258] {
        let check = |r: Result<wgpu_activations::Prepared, Error>, what: &str| match r {
            Err(e @ Error::Misaligned { align: 4, .. }) => {
                let m = e.to_string();
                assert!(
                    m.contains(&format!("offset {off}"))
                        && m.contains("multiple of 4")
                        && m.contains(what),
                    "{m}"
                );
            }
            other => panic!("expected a misaligned {what} at {off}, got {other:?}"),
        };
        check(ctx.prepare_forward(&gelu, t(&good, off), t(&out, 0)), "x");
        check(
            ctx.prepare_derivative(&gelu, t(&good, 0), t(&out, off)),
            "output",
        );
        check(ctx.prepare_forward_in_place(&gelu, t(&good, off)), "x");
        check(
            ctx.prepare_softmax(&sm, t(&good, 0), t(&out, off), &[8, 8], 1),
            "y",
        );
        // record_* check the same way (they prepare, then record).
        let mut enc = encoder(ctx);
        assert!(matches!(
            ctx.record_forward(&mut enc, &gelu, t(&good, off), t(&out, 0)),
            Err(Error::Misaligned { align: 4, .. })
        ));
    }
    // A range past the end of the buffer names its bytes.
    match ctx.prepare_forward(&gelu, Tensor::new(&good, 1000, 64), t(&out, 0)) {
        Err(e @ Error::BufferTooSmall { .. }) => {
            assert!(e.to_string().contains("1000..1256"), "{e}")
        }
        other => panic!("expected buffer too small, got {other:?}"),
    }
    // The output in an input's buffer, even at a disjoint range, is refused.
    assert!(matches!(
        ctx.prepare_forward(&gelu, t(&good, 0), t(&good, 512)),
        Err(Error::Aliasing(_))
    ));
    // And the context still works.
    let x = uniform(50, n, -1.0, 1.0);
    common::check(
        "after errors",
        &gelu,
        Mode::Forward,
        &x,
        None,
        &ctx.forward(&gelu, &x).unwrap(),
    );
}

#[test]
fn empty_tensor_prepares_to_nothing() {
    let Some(ctx) = common::gpu() else { return };
    let b = ctx.create_tensor::<f32>(4).unwrap();
    let out = ctx.create_tensor::<f32>(4).unwrap();
    let p = ctx
        .prepare_forward(&act("relu"), Tensor::new(&b, 0, 0), Tensor::new(&out, 0, 0))
        .unwrap();
    assert_eq!(p.dispatches(), 0);
    let s = ctx
        .prepare_softmax(
            &Softmax::softmax(),
            Tensor::new(&b, 0, 0),
            Tensor::new(&out, 0, 0),
            &[0, 5],
            1,
        )
        .unwrap();
    assert_eq!(s.dispatches(), 0);
    let mut chain = Chain::new("empty");
    chain.push(p).push(s);
    let mut enc = encoder(ctx);
    chain.record(&mut enc).unwrap();
    ctx.queue().submit([enc.finish()]);
}

#[test]
fn pipeline_example_frame_loop_matches_reference() {
    let Some(_) = common::gpu() else { return };
    let r = pipeline_example::run(4).unwrap();
    eprintln!("{r:?}");
    assert_eq!(r.values, 4 * pipeline_example::N);
    assert_eq!(r.failures, 0, "{r:?}");
    assert!(r.worst <= 1.0, "{r:?}");
}

#[test]
fn render_curves_example_draws_the_computed_curves() {
    let Some(ctx) = common::gpu() else { return };
    let fig = render_curves::render(ctx, 1200, 800).unwrap();
    // The compute pass: every curve against the reference.
    let acts = render_curves::activations().unwrap();
    let n = render_curves::SAMPLES;
    assert_eq!(fig.curves.len(), 2 * acts.len() * n);
    for (k, a) in acts.iter().enumerate() {
        let fwd = &fig.curves[k * n..(k + 1) * n];
        let der = &fig.curves[(acts.len() + k) * n..(acts.len() + k + 1) * n];
        common::check(
            &format!("curve {}", a.op().name()),
            a,
            Mode::Forward,
            &fig.xs,
            None,
            fwd,
        );
        common::check(
            &format!("curve {}'", a.op().name()),
            a,
            Mode::Derivative,
            &fig.xs,
            None,
            der,
        );
    }
    // The drawing: white background, and each activation's colour in both halves (forward left,
    // derivative right), in more pixels than the legend's swatch (144).
    let (w, h) = (fig.width as usize, fig.height as usize);
    assert_eq!(fig.rgba.len(), w * h * 4);
    assert_eq!(&fig.rgba[..4], &[255, 255, 255, 255]);
    for (k, c) in render_curves::COLORS.iter().enumerate() {
        let mut halves = [0usize; 2];
        for (i, px) in fig.rgba.chunks_exact(4).enumerate() {
            if px[..3] == c[..] {
                halves[usize::from(i % w >= w / 2)] += 1;
            }
        }
        let name = render_curves::CURVES[k].0;
        eprintln!("{name}: {halves:?} pixels of its colour");
        assert!(halves[0] > 200 && halves[1] > 150, "{name}: {halves:?}");
    }
    // The PNG holds the same pixels.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("curves.png");
    render_curves::write_png(&path, &fig).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (fig.width, fig.height));
    assert_eq!(info.color_type, png::ColorType::Rgba);
    assert_eq!(&buf[..info.buffer_size()], &fig.rgba[..]);
}
