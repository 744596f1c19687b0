//! The GPU runtime: lengths that are not multiples of the workgroup, dispatches folded into a
//! 2-D grid, tensors split across bindings, caller buffers at offsets, in-place forward, rrelu's
//! bit-identical slopes, prelu's channels, and every error path.

mod common;

use wgpu_activations::wgpu;
use wgpu_activations::{cpu, reference, Activation, Context, Error, Mode, Tensor};

fn act(name: &str) -> Activation {
    Activation::by_name(name).unwrap()
}

fn check_all_modes(ctx: &Context, a: &Activation, x: &[f32]) {
    let what = |m: &str| format!("gpu {} {m} n={}", a.op().name(), x.len());
    common::check(
        &what("forward"),
        a,
        Mode::Forward,
        x,
        None,
        &ctx.forward(a, x).unwrap(),
    );
    common::check(
        &what("derivative"),
        a,
        Mode::Derivative,
        x,
        None,
        &ctx.derivative(a, x).unwrap(),
    );
    let s = common::saved_tensor(a, x);
    let dy = common::gradients(x.len());
    common::check(
        &what("backward"),
        a,
        Mode::Backward,
        &s,
        Some(&dy),
        &ctx.backward(a, &s, &dy).unwrap(),
    );
}

#[test]
fn odd_lengths() {
    let Some(ctx) = common::gpu() else { return };
    for n in [0usize, 1, 3, 4, 5, 255, 257, 1757] {
        let x = common::random_inputs(n as u64, n);
        for name in ["relu", "gelu", "sigmoid", "prelu"] {
            check_all_modes(ctx, &act(name), &x);
        }
    }
}

#[test]
fn more_than_65535_workgroups_fold_into_a_2d_grid() {
    let Some(_) = common::gpu() else { return };
    // The grid is normally sized to the device (a few thousand workgroups, each looping); lift the
    // cap so that one workgroup per 256 elements is asked for and the grid must fold into 2-D.
    let ctx = Context::new().unwrap();
    ctx.set_max_elementwise_groups(u32::MAX);
    let n = 65_535 * 256 + 1_001;
    let x = common::random_inputs(5, n);
    let a = act("silu");
    // Offset by one float: the scalar kernel, one element per invocation.
    let buf = storage(&ctx, n + 1, RW);
    ctx.queue().write_buffer(&buf, 4, bytemuck::cast_slice(&x));
    let out = ctx
        .forward_to_new_buffer(&a, Tensor::new(&buf, 4, n))
        .unwrap();
    let y = ctx.read::<f32>(&out, 0, n).unwrap();
    common::check(
        "gpu silu forward, 2-D grid (scalar)",
        &a,
        Mode::Forward,
        &x,
        None,
        &y,
    );
    // From offset 0: the vec4 kernel, (n / 4) / 256 > 65,535 workgroups as well.
    let n4 = 4 * (65_535 * 256 + 77) + 3;
    let x4 = common::random_inputs(6, n4);
    let y4 = ctx.forward(&a, &x4).unwrap();
    common::check(
        "gpu silu forward, 2-D grid (vec4)",
        &a,
        Mode::Forward,
        &x4,
        None,
        &y4,
    );
}

#[test]
fn device_lost_is_a_typed_error() {
    let Some(_) = common::gpu() else { return };
    let ctx = Context::new().unwrap();
    ctx.device().destroy();
    let got = ctx.forward(&act("relu"), &[1.0, -1.0]);
    assert!(matches!(got, Err(Error::DeviceLost(_))), "{got:?}");
}

#[test]
fn tensors_split_across_bindings() {
    let Some(_) = common::gpu() else { return };
    // A context of its own, so the cap does not slow the other tests.
    let ctx = Context::new().unwrap();
    ctx.set_max_binding_bytes(4096);
    let x = common::random_inputs(6, 10_007);
    for name in ["leaky_relu", "tanh", "prelu"] {
        check_all_modes(&ctx, &act(name), &x);
    }
    let a = act("rrelu").training(11);
    let ftz = ctx.flushes_subnormals();
    assert_eq!(
        common::bits_ftz(&ctx.forward(&a, &x).unwrap(), ftz),
        common::bits_ftz(&cpu::forward(&a, &x).unwrap(), ftz)
    );
}

fn storage(ctx: &Context, words: usize, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("test"),
        size: words as u64 * 4,
        usage,
        mapped_at_creation: false,
    })
}

const RW: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::VERTEX);

#[test]
fn caller_buffers_at_offsets() {
    let Some(ctx) = common::gpu() else { return };
    let n = 1000;
    let x = common::random_inputs(8, n);
    let dy = common::gradients(n);
    // Offsets of 3, 65 and 17 floats: none aligned to the storage offset alignment.
    let big = storage(ctx, 4096, RW);
    ctx.queue().write_buffer(&big, 12, bytemuck::cast_slice(&x));
    ctx.queue()
        .write_buffer(&big, 4 * 2000, bytemuck::cast_slice(&dy));
    let out = storage(ctx, 2048, RW);
    for (mode, a) in [
        (Mode::Forward, act("gelu")),
        (Mode::Derivative, act("elu")),
        (Mode::Backward, act("mish")),
    ] {
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        let xt = Tensor::new(&big, 12, n);
        let ot = Tensor::new(&out, 65 * 4, n);
        match mode {
            Mode::Forward => ctx.record_forward(&mut enc, &a, xt, ot).unwrap(),
            Mode::Derivative => ctx.record_derivative(&mut enc, &a, xt, ot).unwrap(),
            Mode::Backward => ctx
                .record_backward(&mut enc, &a, xt, Tensor::new(&big, 4 * 2000, n), ot)
                .unwrap(),
        }
        ctx.queue().submit([enc.finish()]);
        let got = ctx.read::<f32>(&out, 65 * 4, n).unwrap();
        common::check(
            &format!("offsets {}", mode.name()),
            &a,
            mode,
            &x,
            (mode == Mode::Backward).then_some(&dy[..]),
            &got,
        );
    }
    // In place at an offset leaves the neighbours alone.
    let buf = storage(ctx, 2000, RW);
    let fill = vec![-7.0f32; 2000];
    ctx.queue()
        .write_buffer(&buf, 0, bytemuck::cast_slice(&fill));
    ctx.queue()
        .write_buffer(&buf, 17 * 4, bytemuck::cast_slice(&x));
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    ctx.record_forward_in_place(&mut enc, &act("relu"), Tensor::new(&buf, 17 * 4, n))
        .unwrap();
    ctx.queue().submit([enc.finish()]);
    let got = ctx.read::<f32>(&buf, 0, 2000).unwrap();
    assert!(
        got[..17].iter().chain(&got[17 + n..]).all(|&v| v == -7.0),
        "in-place wrote outside its range"
    );
    assert_eq!(&got[17..17 + n], &reference::forward(&act("relu"), &x)[..]);
}

#[test]
fn forward_in_place_host_slice() {
    let Some(ctx) = common::gpu() else { return };
    let x = common::inputs(&act("softplus"), 5000);
    let mut y = x.clone();
    ctx.forward_in_place(&act("softplus"), &mut y).unwrap();
    common::check(
        "gpu softplus in place",
        &act("softplus"),
        Mode::Forward,
        &x,
        None,
        &y,
    );
    let mut z = x.clone();
    cpu::forward_in_place(&act("softplus"), &mut z).unwrap();
    common::check(
        "cpu softplus in place",
        &act("softplus"),
        Mode::Forward,
        &x,
        None,
        &z,
    );
}

#[test]
fn rrelu_training_is_bit_identical_between_gpu_and_cpu() {
    let Some(ctx) = common::gpu() else { return };
    let x = common::random_inputs(12, 100_003);
    let dy = common::gradients(x.len());
    for seed in [0u64, 1, 0xdead_beef_cafe_f00d] {
        let a = act("rrelu").training(seed);
        // On a device that flushes subnormals (see Context::flushes_subnormals), results below
        // 2^-126 are compared as signed zeros on both sides; every other bit must match.
        let bits = |v: Vec<f32>| common::bits_ftz(&v, ctx.flushes_subnormals());
        assert_eq!(
            bits(ctx.forward(&a, &x).unwrap()),
            bits(cpu::forward(&a, &x).unwrap()),
            "forward, seed {seed}"
        );
        assert_eq!(
            bits(ctx.backward(&a, &x, &dy).unwrap()),
            bits(cpu::backward(&a, &x, &dy).unwrap()),
            "backward, seed {seed}"
        );
        assert_eq!(
            bits(ctx.forward(&a, &x).unwrap()),
            bits(reference::forward(&a, &x)),
            "reference, seed {seed}"
        );
        // Slopes really are random per element and within [lower, upper].
        let slopes: Vec<f32> = (0..1000).map(|i| a.slope_at(i)).collect();
        assert!(slopes.iter().all(|s| (0.125..=1.0 / 3.0).contains(s)));
        assert!(slopes.windows(2).filter(|w| w[0] != w[1]).count() > 990);
    }
    // Different seeds give different slopes.
    assert_ne!(
        act("rrelu").training(1).slope_at(0),
        act("rrelu").training(2).slope_at(0)
    );
}

#[test]
fn prelu_per_channel() {
    let Some(ctx) = common::gpu() else { return };
    // [N=3, C=4, H*W=5]
    let slopes = vec![0.25, -0.5, 2.0, 0.0];
    let a = act("prelu").with_slopes(slopes.clone(), 5);
    let x = common::random_inputs(13, 60);
    let y = ctx.forward(&a, &x).unwrap();
    for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
        let c = (i / 5) % 4;
        let want = if xi > 0.0 { xi } else { slopes[c] * xi };
        assert_eq!(yi, want, "element {i}");
    }
    check_all_modes(ctx, &a, &x);
    // A length that is not a whole number of channel blocks is a shape error.
    assert!(matches!(
        ctx.forward(&a, &x[..59]),
        Err(Error::ShapeMismatch(_))
    ));
}

#[test]
fn errors_are_typed_and_leave_the_context_usable() {
    let Some(ctx) = common::gpu() else { return };
    let x = vec![1.0f32; 64];
    let relu = act("relu");
    assert!(matches!(
        ctx.backward(&relu, &x, &x[..10]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        cpu::backward(&relu, &x, &x[..10]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        Activation::by_name("relu7"),
        Err(Error::UnknownOp(_))
    ));
    assert!(matches!(
        act("leaky_relu")
            .with("negative_slope", f32::NAN)
            .unwrap()
            .validate(),
        Err(Error::BadParameter { .. })
    ));
    assert!(matches!(
        act("leaky_relu").with("alpha", 1.0),
        Err(Error::BadParameter { .. })
    ));
    let bad_rrelu = act("rrelu")
        .with("lower", 0.5)
        .unwrap()
        .with("upper", 0.25)
        .unwrap();
    assert!(matches!(
        ctx.forward(&bad_rrelu, &x),
        Err(Error::BadParameter { .. })
    ));
    assert!(matches!(
        cpu::forward(&bad_rrelu, &x),
        Err(Error::BadParameter { .. })
    ));
    let zero_beta = act("softplus").with("beta", 0.0).unwrap();
    assert!(matches!(
        ctx.forward(&zero_beta, &x),
        Err(Error::BadParameter { .. })
    ));
    assert!(matches!(
        act("swish").with("beta", 0.0).unwrap().validate(),
        Err(Error::BadParameter { .. })
    ));
    assert!(matches!(
        act("celu").with("alpha", 0.0).unwrap().validate(),
        Err(Error::BadParameter { .. })
    ));

    let buf = storage(ctx, 64, RW);
    let other = storage(ctx, 64, RW);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    let too_small = ctx.record_forward(
        &mut enc,
        &relu,
        Tensor::new(&buf, 0, 65),
        Tensor::new(&other, 0, 65),
    );
    assert!(
        matches!(too_small, Err(Error::BufferTooSmall { .. })),
        "{too_small:?}"
    );
    let offset_past = ctx.record_forward(
        &mut enc,
        &relu,
        Tensor::new(&buf, 8, 63),
        Tensor::new(&other, 0, 63),
    );
    assert!(
        matches!(offset_past, Err(Error::BufferTooSmall { .. })),
        "{offset_past:?}"
    );
    let misaligned = ctx.record_forward(
        &mut enc,
        &relu,
        Tensor::new(&buf, 2, 10),
        Tensor::new(&other, 0, 10),
    );
    assert!(
        matches!(misaligned, Err(Error::Misaligned { .. })),
        "{misaligned:?}"
    );
    let mismatch = ctx.record_forward(
        &mut enc,
        &relu,
        Tensor::new(&buf, 0, 10),
        Tensor::new(&other, 0, 11),
    );
    assert!(
        matches!(mismatch, Err(Error::LengthMismatch { .. })),
        "{mismatch:?}"
    );
    let aliased = ctx.record_forward(
        &mut enc,
        &relu,
        Tensor::new(&buf, 0, 10),
        Tensor::new(&buf, 128, 10),
    );
    assert!(matches!(aliased, Err(Error::Aliasing(_))), "{aliased:?}");
    let no_storage = storage(
        ctx,
        64,
        wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
    );
    let missing = ctx.record_forward(
        &mut enc,
        &relu,
        Tensor::new(&no_storage, 0, 10),
        Tensor::new(&other, 0, 10),
    );
    assert!(
        matches!(
            missing,
            Err(Error::MissingUsage {
                usage: "STORAGE",
                ..
            })
        ),
        "{missing:?}"
    );
    let unreadable = storage(ctx, 64, wgpu::BufferUsages::STORAGE);
    assert!(matches!(
        ctx.read::<f32>(&unreadable, 0, 4),
        Err(Error::MissingUsage {
            usage: "COPY_SRC",
            ..
        })
    ));
    assert!(matches!(
        ctx.read::<f32>(&buf, 0, 65),
        Err(Error::BufferTooSmall { .. })
    ));
    // Nothing was recorded by the failed calls: the encoder is still valid and the context works.
    ctx.queue().submit([enc.finish()]);
    assert_eq!(ctx.forward(&relu, &[-1.0, 2.0]).unwrap(), vec![0.0, 2.0]);
    // An empty tensor is a no-op, on the host and in the core layer.
    assert_eq!(ctx.forward::<f32>(&relu, &[]).unwrap(), Vec::<f32>::new());
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    ctx.record_forward(
        &mut enc,
        &relu,
        Tensor::new(&buf, 0, 0),
        Tensor::new(&other, 0, 0),
    )
    .unwrap();
}

/// The exact slope gradient in f64 and the sum of |terms| that bounds a float sum's error.
fn exact_slope_grad(slopes: usize, inner: usize, x: &[f32], dy: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let mut sum = vec![0f64; slopes];
    let mut abs = vec![0f64; slopes];
    for (i, (&xi, &dyi)) in x.iter().zip(dy).enumerate() {
        if xi <= 0.0 {
            let c = (i / inner) % slopes;
            let t = xi as f64 * dyi as f64;
            sum[c] += t;
            abs[c] += t.abs();
        }
    }
    (sum, abs)
}

fn check_slope_grad(what: &str, got: &[f32], want: &(Vec<f64>, Vec<f64>)) {
    assert_eq!(got.len(), want.0.len(), "{what}");
    for (c, ((&g, &w), &mag)) in got.iter().zip(&want.0).zip(&want.1).enumerate() {
        let err = (g as f64 - w).abs();
        // A compensated f32 sum: a few ULPs of the magnitude of the terms.
        assert!(
            err <= 4.0 * f32::EPSILON as f64 * mag + 1e-30,
            "{what}: channel {c}: got {g} want {w}"
        );
    }
}

#[test]
fn prelu_slope_gradient() {
    let Some(ctx) = common::gpu() else { return };
    for (slopes, inner, n) in [
        (1usize, 1usize, 1_000_003usize),
        (3, 7, 3 * 7 * 5),
        (4, 1000, 4 * 1000 * 9),
        (70_000, 1, 140_000),
    ] {
        let a =
            act("prelu").with_slopes((0..slopes).map(|k| 0.1 + k as f32 * 1e-3).collect(), inner);
        let x: Vec<f32> = common::random_inputs(21, n)
            .iter()
            .map(|v| v.clamp(-1e3, 1e3))
            .collect();
        // Magnitudes capped so that no term x·dy (nor the sum) overflows f32: the slope
        // gradient is a plain f32 sum (compensated), not a scaled one.
        let dy: Vec<f32> = common::gradients(n)
            .iter()
            .map(|v| v.clamp(-1e25, 1e25))
            .collect();
        let want = exact_slope_grad(slopes, inner, &x, &dy);
        let (dx, ds) = ctx.prelu_backward(&a, &x, &dy).unwrap();
        check_slope_grad(&format!("gpu C={slopes} inner={inner}"), &ds, &want);
        check_slope_grad(
            &format!("cpu C={slopes} inner={inner}"),
            &cpu::prelu_slope_grad(&a, &x, &dy).unwrap(),
            &want,
        );
        common::check("prelu dx", &a, Mode::Backward, &x, Some(&dy), &dx);
    }
    // Split across bindings: a context whose bindings hold 1024 floats.
    let small = Context::new().unwrap();
    small.set_max_binding_bytes(4096);
    let a = act("prelu").with_slopes(vec![0.2, 0.3, 0.4], 10);
    let x: Vec<f32> = common::random_inputs(22, 30 * 1001)
        .iter()
        .map(|v| v.clamp(-1e3, 1e3))
        .collect();
    let dy: Vec<f32> = common::gradients(x.len())
        .iter()
        .map(|v| v.clamp(-1e25, 1e25))
        .collect();
    check_slope_grad(
        "gpu split",
        &small.prelu_backward(&a, &x, &dy).unwrap().1,
        &exact_slope_grad(3, 10, &x, &dy),
    );
    // Empty tensor: zero gradient. Non-prelu op: typed error.
    assert_eq!(ctx.prelu_backward(&a, &[], &[]).unwrap().1, vec![0.0; 3]);
    assert!(matches!(
        ctx.prelu_backward(&act("relu"), &x, &dy),
        Err(Error::BadParameter { .. })
    ));
}

/// Many threads at once, each building kernels no other thread builds, on a context of their own
/// (empty pipeline cache): element-wise ops in all three modes, prepared dispatches dropped
/// again, and the softmax family forward and backward through the fused, rows and split
/// kernels. On GL every pipeline's first dispatch compiles it for seconds while holding wgpu's GL
/// context, and threads that waited over six seconds for it used to panic inside wgpu-hal
/// ("Could not lock adapter context"); the crate serialises its GL work, so every thread finishes
/// with correct results on every backend.
#[test]
fn many_threads_build_different_kernels() {
    use wgpu_activations::reference::softmax_exact;
    use wgpu_activations::Softmax;
    let Some(_) = common::gpu() else { return };
    let ctx = Context::new().unwrap();
    let ops = [
        "mish",
        "softplus",
        "elu",
        "selu",
        "celu",
        "tanh",
        "hardswish",
        "logsigmoid",
        "gelu_tanh",
        "softsign",
        "tanhshrink",
        "hardsigmoid",
    ];
    // (softmax, shape): short rows (the rows kernel), long rows split across workgroups, and a
    // middle axis (the fused kernel).
    let softmaxes = [
        (Softmax::softmax(), vec![64usize, 33]),
        (Softmax::softmax(), vec![2, 70_001]),
        (
            Softmax::log_softmax().with_temperature(0.5),
            vec![3, 70_001],
        ),
        (Softmax::softmin(), vec![2, 70_001]),
        (Softmax::softmin(), vec![4, 9, 5]),
        (Softmax::log_softmax(), vec![2, 5, 3]),
    ];
    std::thread::scope(|s| {
        for (t, name) in ops.iter().enumerate() {
            let ctx = &ctx;
            s.spawn(move || {
                let a = act(name);
                let x = common::random_inputs(100 + t as u64, 1000 + 37 * t);
                check_all_modes(ctx, &a, &x);
                // Prepared out of place (a kernel the host calls do not use), dropped here; then
                // the f16 kernels.
                let xb = ctx.upload(&x).unwrap();
                let yb = ctx.create_tensor::<f32>(x.len()).unwrap();
                let (xt, yt) = (Tensor::new(&xb, 0, x.len()), Tensor::new(&yb, 0, x.len()));
                drop(ctx.prepare_forward(&a, xt, yt).unwrap());
                let h: Vec<_> = x
                    .iter()
                    .map(|&v| wgpu_activations::half::f16::from_f32(v))
                    .collect();
                let got = ctx.derivative(&a, &h).unwrap();
                assert_eq!(got.len(), h.len(), "{name} f16 derivative");
            });
        }
        for (t, (sm, shape)) in softmaxes.iter().enumerate() {
            let ctx = &ctx;
            s.spawn(move || {
                let n: usize = shape.iter().product();
                // The last axis of the 2-D shapes (the streaming ring), the middle of the 3-D.
                let axis = 1;
                let log = sm.kind == wgpu_activations::SoftmaxKind::LogSoftmax;
                // Logits in [-10, 10] and gradients in [-1, 1], deterministic.
                let x: Vec<f32> = (0..n)
                    .map(|i| ((i * 7919 + t * 13) % 2001) as f32 / 100.0 - 10.0)
                    .collect();
                let dy: Vec<f32> = (0..n)
                    .map(|i| ((i * 37 + t) % 101) as f32 / 50.0 - 1.0)
                    .collect();
                let y = ctx.softmax(sm, &x, shape, axis).unwrap();
                let want = softmax_exact(sm, &x, shape, axis).unwrap();
                for (i, (&g, &w)) in y.iter().zip(&want).enumerate() {
                    let tol = if log {
                        1e-5 * w.abs().max(1.0)
                    } else {
                        1e-5 * w.abs()
                    };
                    let what = format!("{:?} {shape:?} [{i}]", sm.kind);
                    assert!((g as f64 - w).abs() <= tol, "{what}: got {g}, want {w}");
                }
                let dx = ctx.softmax_backward(sm, &y, &dy, shape, axis).unwrap();
                let cpu = cpu::softmax_backward(sm, &y, &dy, shape, axis).unwrap();
                for (i, (&g, &c)) in dx.iter().zip(&cpu).enumerate() {
                    let what = format!("{:?} {shape:?} backward [{i}]", sm.kind);
                    let tol = 1e-5 * (1.0 + c.abs() as f64);
                    assert!(
                        (g as f64 - c as f64).abs() <= tol,
                        "{what}: got {g}, cpu {c}"
                    );
                }
            });
        }
    });
}

/// A shader the backend's compiler rejects is an `Error::ShaderCompile` from the call that built
/// it, caught in the crate's error scopes, and never reaches the device's uncaptured-error
/// handler (wgpu reports GL's GLSL compile errors as internal errors, which a validation scope
/// alone does not catch). The context stays usable.
#[test]
fn compile_errors_are_returned_not_uncaptured() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let Some(_) = common::gpu() else { return };
    let ctx = Context::new().unwrap();
    let uncaptured = Arc::new(AtomicUsize::new(0));
    let count = uncaptured.clone();
    ctx.device().on_uncaptured_error(Arc::new(move |e| {
        eprintln!("uncaptured: {e}");
        count.fetch_add(1, Ordering::SeqCst);
    }));
    let gl = ctx
        .adapter_info()
        .is_some_and(|i| i.backend == wgpu::Backend::Gl);
    // Valid WGSL, but naga names the second `gl` `gl_1` in GLSL, a name GLSL reserves: GL's
    // compiler (Mesa's) rejects it, the other backends' accept it.
    let reserved = "var<private> acc: f32;
fn a(gl: f32) -> f32 { acc = acc + gl; return acc; }
fn b(x: f32) -> f32 { let gl = x * acc; acc = gl; return gl; }
@compute @workgroup_size(1) fn main() { acc = a(acc) + b(acc); }";
    let r = ctx.compile_wgsl("reserved_glsl_name", reserved);
    if gl {
        assert!(matches!(r, Err(Error::ShaderCompile { .. })), "{r:?}");
    } else {
        r.unwrap();
    }
    // WGSL that does not parse fails on every backend.
    let r = ctx.compile_wgsl("bad_wgsl", "@compute @workgroup_size(1) fn main( {");
    assert!(matches!(r, Err(Error::ShaderCompile { .. })), "{r:?}");
    assert_eq!(uncaptured.load(Ordering::SeqCst), 0, "uncaptured errors");
    let x = common::random_inputs(7, 300);
    check_all_modes(&ctx, &act("gelu_tanh"), &x);
    assert_eq!(uncaptured.load(Ordering::SeqCst), 0, "uncaptured errors");
}
