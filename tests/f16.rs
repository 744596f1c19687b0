//! f16 tensors: every activation and mode on the GPU and the CPU path against the exact f64
//! reference of the f16 inputs, bounded by 1 ULP of f16 (0.5 for the forward of piecewise-linear
//! ops); the softmax family; the f32 → f16 rounding exhaustively; offsets, odd lengths, in place
//! and split dispatches; a device without `SHADER_F16`; and the typed errors.

mod common;

use wgpu_activations::half::f16;
use wgpu_activations::harness::{
    bound_f16, gradients_f16, inputs_f16, judge_f16, saved_tensor_f16,
};
use wgpu_activations::{cpu, Activation, Context, DType, Error, Mode, OpKind, Softmax, Tensor};

/// Check `got` against the exact values in ULPs of f16; panics listing the worst offenders.
fn check(what: &str, act: &Activation, mode: Mode, x: &[f16], dy: Option<&[f16]>, got: &[f16]) {
    assert_eq!(got.len(), x.len(), "{what}: output length");
    let mut bad = Vec::new();
    let mut worst = 0.0f64;
    for i in 0..x.len() {
        let v = judge_f16(act, mode, i, x[i], dy.map(|d| d[i]), got[i]);
        if !v.root_allowance && v.ulps.is_finite() {
            worst = worst.max(v.ulps);
        }
        if !v.ok {
            bad.push((v.ulps, i, v.exact));
        }
    }
    if !bad.is_empty() {
        bad.sort_by(|a, b| b.0.total_cmp(&a.0));
        let lines: Vec<String> = bad
            .iter()
            .take(12)
            .map(|(err, i, exact)| {
                format!(
                    "  [{i}] x = {:e} ({:#06x}){} got {:e} ({:#06x}) want {:e}: {err:.2} ULP",
                    x[*i].to_f32(),
                    x[*i].to_bits(),
                    dy.map_or(String::new(), |d| format!(" dy = {:e}", d[*i].to_f32())),
                    got[*i].to_f32(),
                    got[*i].to_bits(),
                    exact
                )
            })
            .collect();
        panic!(
            "{what}: {} of {} values above {} ULP of f16; worst:\n{}",
            bad.len(),
            x.len(),
            bound_f16(act, mode),
            lines.join("\n")
        );
    }
    eprintln!("{what}: max {worst:.3} ULP of f16 over {} values", x.len());
}

#[derive(Clone, Copy)]
enum Device {
    Gpu,
    Cpu,
}

fn run(device: Device, op: OpKind, mode: Mode) {
    let act = Activation::new(op);
    let ctx = match device {
        Device::Gpu => match common::gpu() {
            Some(ctx) => Some(ctx),
            None => return,
        },
        Device::Cpu => None,
    };
    let x = inputs_f16(&act, 1 << 15);
    let what = format!(
        "{} {} {} f16",
        if ctx.is_some() { "gpu" } else { "cpu" },
        op.name(),
        mode.name()
    );
    match mode {
        Mode::Forward => {
            let y = match ctx {
                Some(ctx) => ctx.forward(&act, &x),
                None => cpu::forward(&act, &x),
            };
            check(&what, &act, mode, &x, None, &y.unwrap());
        }
        Mode::Derivative => {
            let d = match ctx {
                Some(ctx) => ctx.derivative(&act, &x),
                None => cpu::derivative(&act, &x),
            };
            check(&what, &act, mode, &x, None, &d.unwrap());
        }
        Mode::Backward => {
            let s = saved_tensor_f16(&act, &x);
            let dy = gradients_f16(s.len());
            let dx = match ctx {
                Some(ctx) => ctx.backward(&act, &s, &dy),
                None => cpu::backward(&act, &s, &dy),
            };
            check(&what, &act, mode, &s, Some(&dy), &dx.unwrap());
        }
    }
}

macro_rules! op_tests {
    ($($m:ident: $op:ident),* $(,)?) => {
        $(
            mod $m {
                use super::*;
                #[test]
                fn gpu_forward() { run(Device::Gpu, OpKind::$op, Mode::Forward) }
                #[test]
                fn gpu_derivative() { run(Device::Gpu, OpKind::$op, Mode::Derivative) }
                #[test]
                fn gpu_backward() { run(Device::Gpu, OpKind::$op, Mode::Backward) }
                #[test]
                fn cpu_forward() { run(Device::Cpu, OpKind::$op, Mode::Forward) }
                #[test]
                fn cpu_derivative() { run(Device::Cpu, OpKind::$op, Mode::Derivative) }
                #[test]
                fn cpu_backward() { run(Device::Cpu, OpKind::$op, Mode::Backward) }
            }
        )*
    };
}

wgpu_activations::for_each_op!(op_tests);

/// Every f16 bit pattern.
fn all_f16() -> Vec<f16> {
    (0..=u16::MAX).map(f16::from_bits).collect()
}

/// squared_relu's x² is exact in f32 for every f16 x (22 significant bits), so the only rounding
/// is the kernel's f32 → f16 one: it must be half's correctly rounded conversion bit for bit,
/// through ties, f16 subnormals, the overflow to infinity and NaN. relu checks that every pattern
/// is read back exactly.
#[test]
fn gpu_f16_rounding_is_exact_for_every_pattern() {
    let Some(ctx) = common::gpu() else { return };
    let x = all_f16();
    let sq = ctx
        .forward(&Activation::new(OpKind::SquaredRelu), &x)
        .unwrap();
    let relu = ctx.forward(&Activation::new(OpKind::Relu), &x).unwrap();
    for (i, &v) in x.iter().enumerate() {
        let f = v.to_f32();
        if v.is_nan() {
            assert!(
                sq[i].is_nan() && relu[i].is_nan(),
                "{:#06x}: NaN lost",
                v.to_bits()
            );
            continue;
        }
        let want_sq = f16::from_f32(if f > 0.0 { f * f } else { 0.0 });
        assert_eq!(
            sq[i].to_bits(),
            want_sq.to_bits(),
            "squared_relu({f:e} = {:#06x})",
            v.to_bits()
        );
        if f > 0.0 {
            assert_eq!(relu[i].to_bits(), v.to_bits(), "relu({f:e})");
        } else {
            assert_eq!(relu[i].to_f32(), 0.0, "relu({f:e})");
        }
    }
}

/// The CPU path rounds alike.
#[test]
fn cpu_f16_rounding_is_exact_for_every_pattern() {
    let x = all_f16();
    let sq = cpu::forward(&Activation::new(OpKind::SquaredRelu), &x).unwrap();
    for (i, &v) in x.iter().enumerate() {
        let f = v.to_f32();
        if v.is_nan() {
            assert!(sq[i].is_nan());
            continue;
        }
        let want = f16::from_f32(if f > 0.0 { f * f } else { 0.0 });
        assert_eq!(sq[i].to_bits(), want.to_bits(), "squared_relu({f:e})");
    }
}

/// The CPU path's f16 entry points agree bit for bit with its f32 path rounded once to f16, over
/// lengths across its task (32,768) and block (1,024) boundaries, for ops that depend on the
/// element's index (rrelu's training slopes, prelu's channels) too; in place and into a slice.
#[test]
fn cpu_f16_blocks_in_place_and_index_dependent_ops() {
    let prelu = Activation::new(OpKind::Prelu).with_slopes(vec![0.25, -0.5, 3.0], 1001);
    for act in [
        Activation::new(OpKind::Gelu),
        Activation::new(OpKind::Rrelu).training(5),
        prelu,
    ] {
        let n = 3 * 1001 * 23; // 69,069: three tasks, partial blocks, whole prelu periods
        let x: Vec<f16> = wgpu_activations::harness::random_inputs_f16(9, n);
        let dy = gradients_f16(n);
        let wide = |v: &[f16]| v.iter().map(|h| h.to_f32()).collect::<Vec<f32>>();
        let narrow = |v: Vec<f32>| v.into_iter().map(f16::from_f32).collect::<Vec<f16>>();
        let want_f = narrow(cpu::forward(&act, &wide(&x)).unwrap());
        let want_b = narrow(cpu::backward(&act, &wide(&x), &wide(&dy)).unwrap());
        let bits = |v: &[f16]| v.iter().map(|h| h.to_bits()).collect::<Vec<u16>>();
        let name = act.op().name();
        assert_eq!(
            bits(&cpu::forward(&act, &x).unwrap()),
            bits(&want_f),
            "{name} forward"
        );
        let mut into = vec![f16::ZERO; n];
        cpu::forward_into(&act, &x, &mut into).unwrap();
        assert_eq!(bits(&into), bits(&want_f), "{name} forward_into");
        let mut inplace = x.clone();
        cpu::forward_in_place(&act, &mut inplace).unwrap();
        assert_eq!(bits(&inplace), bits(&want_f), "{name} in place");
        assert_eq!(
            bits(&cpu::backward(&act, &x, &dy).unwrap()),
            bits(&want_b),
            "{name} backward"
        );
        assert!(cpu::forward_into(&act, &x, &mut into[1..]).is_err());
    }
}

/// Tensors at every 2-byte offset, odd lengths, in place and out of place with different word
/// parities, split into many dispatches: each result equals the convenient layer's, and the
/// neighbouring halves are untouched.
#[test]
fn gpu_f16_offsets_lengths_and_splits() {
    let Some(ctx) = common::gpu() else { return };
    let act = Activation::new(OpKind::Gelu);
    let x = inputs_f16(&act, 3000);
    let want = ctx.forward(&act, &x).unwrap();
    let sentinel = f16::from_f32(-7.25);
    for cap in [0u64, 1024] {
        ctx.set_max_binding_bytes(cap);
        for (xo, yo) in [
            (0usize, 0usize),
            (1, 0),
            (0, 1),
            (1, 1),
            (3, 6),
            (8, 5),
            (2, 9),
        ] {
            for n in [1usize, 2, 7, 8, 9, 1001, x.len() - 12] {
                let mut host = vec![sentinel; xo + n + 3];
                host[xo..xo + n].copy_from_slice(&x[..n]);
                let xb = ctx.upload(&host).unwrap();
                let yb = ctx.upload(&vec![sentinel; yo + n + 3]).unwrap();
                let mut enc = ctx.device().create_command_encoder(&Default::default());
                ctx.record_forward(
                    &mut enc,
                    &act,
                    Tensor::f16(&xb, 2 * xo as u64, n),
                    Tensor::f16(&yb, 2 * yo as u64, n),
                )
                .unwrap();
                ctx.record_forward_in_place(&mut enc, &act, Tensor::f16(&xb, 2 * xo as u64, n))
                    .unwrap();
                ctx.queue().submit([enc.finish()]);
                let y = ctx.read::<f16>(&yb, 0, yo + n + 3).unwrap();
                let xi = ctx.read::<f16>(&xb, 0, xo + n + 3).unwrap();
                let what = format!("cap {cap} x at {xo} y at {yo} n {n}");
                for (out, off) in [(&y, yo), (&xi, xo)] {
                    assert!(out[..off].iter().all(|v| *v == sentinel), "{what}: before");
                    assert!(
                        out[off + n..].iter().all(|v| *v == sentinel),
                        "{what}: after"
                    );
                    for k in 0..n {
                        assert_eq!(out[off + k].to_bits(), want[k].to_bits(), "{what}: [{k}]");
                    }
                }
            }
        }
    }
    ctx.set_max_binding_bytes(0);
}

/// The softmax family in f16 (forward and backward, last and middle axes, short and long rows)
/// against the exact reference of the f16 inputs, within 1 ULP of f16.
fn softmax_case(gpu: bool, sm: Softmax, shape: &[usize], axis: usize) {
    let ctx = if gpu {
        match common::gpu() {
            Some(c) => Some(c),
            None => return,
        }
    } else {
        None
    };
    let n: usize = shape.iter().product();
    let x: Vec<f16> = wgpu_activations::harness::random_inputs(7 + n as u64, n)
        .into_iter()
        .map(|v| f16::from_f32(v.clamp(-30.0, 30.0)))
        .collect();
    let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
    let y = match ctx {
        Some(c) => c.softmax(&sm, &x, shape, axis).unwrap(),
        None => cpu::softmax(&sm, &x, shape, axis).unwrap(),
    };
    let exact = wgpu_activations::reference::softmax_exact(&sm, &xf, shape, axis).unwrap();
    let what = format!(
        "{} {} {shape:?} axis {axis} f16",
        if gpu { "gpu" } else { "cpu" },
        sm.kind.name()
    );
    let worst = (0..n)
        .map(|i| wgpu_activations::ulp::ulp_error_f16(y[i], exact[i]))
        .fold(0.0, f64::max);
    assert!(worst <= 1.0, "{what} forward: {worst:.3} ULP of f16");
    // Backward from the saved output rounded to f16.
    let ys: Vec<f16> = exact.iter().map(|&v| f16::from_f64(v)).collect();
    let ysf: Vec<f32> = ys.iter().map(|v| v.to_f32()).collect();
    let dy: Vec<f16> = gradients_f16(n);
    let dyf: Vec<f32> = dy.iter().map(|v| v.to_f32()).collect();
    let dx = match ctx {
        Some(c) => c.softmax_backward(&sm, &ys, &dy, shape, axis).unwrap(),
        None => cpu::softmax_backward(&sm, &ys, &dy, shape, axis).unwrap(),
    };
    let exact =
        wgpu_activations::reference::softmax_backward_exact(&sm, &ysf, &dyf, shape, axis).unwrap();
    let worst = (0..n)
        .map(|i| wgpu_activations::ulp::ulp_error_f16(dx[i], exact[i]))
        .fold(0.0, f64::max);
    assert!(worst <= 1.0, "{what} backward: {worst:.3} ULP of f16");
    eprintln!("{what}: ok");
}

fn softmax_all(gpu: bool) {
    for sm in [
        Softmax::softmax(),
        Softmax::log_softmax(),
        Softmax::softmin(),
    ] {
        for (shape, axis) in [
            (&[3usize, 7][..], 1usize),
            (&[64, 1000][..], 1),
            (&[2, 20000][..], 1),
            (&[4, 33, 5][..], 1),
            (&[1, 5, 3][..], 0),
        ] {
            softmax_case(gpu, sm, shape, axis);
        }
    }
    softmax_case(gpu, Softmax::softmax().with_temperature(0.7), &[16, 300], 1);
}

#[test]
fn gpu_softmax_family_f16() {
    softmax_all(true);
}

#[test]
fn cpu_softmax_family_f16() {
    softmax_all(false);
}

/// f16 needs no `SHADER_F16` (the tensors are packed words, converted by bits): a device created
/// without any optional feature computes f16 alike.
#[test]
fn gpu_f16_without_shader_f16_feature() {
    let Some(ctx) = common::gpu() else { return };
    let (device, queue) = pollster::block_on(async {
        let instance = wgpu_activations::wgpu::Instance::new(
            wgpu_activations::wgpu::InstanceDescriptor::new_without_display_handle_from_env(),
        );
        let adapter = instance
            .request_adapter(&wgpu_activations::wgpu::RequestAdapterOptions::default())
            .await
            .expect("adapter");
        adapter
            .request_device(&wgpu_activations::wgpu::DeviceDescriptor::default())
            .await
            .expect("device")
    });
    let bare = Context::from_device(device, queue);
    assert!(!bare
        .features()
        .contains(wgpu_activations::wgpu::Features::SHADER_F16));
    let act = Activation::new(OpKind::Silu);
    let x = inputs_f16(&act, 4096);
    let a = bare.forward(&act, &x).unwrap();
    let b = ctx.forward(&act, &x).unwrap();
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    let sm = Softmax::softmax();
    let y = bare.softmax(&sm, &x[..4000], &[40, 100], 1).unwrap();
    assert_eq!(y.len(), 4000);
}

/// Mixed dtypes, misaligned f16 offsets and an f16 range whose last word leaves the buffer are
/// typed errors.
#[test]
fn gpu_f16_errors_are_typed() {
    let Some(ctx) = common::gpu() else { return };
    let act = Activation::new(OpKind::Relu);
    let a = ctx.create_tensor::<f16>(16).unwrap();
    let b = ctx.create_tensor::<f32>(16).unwrap();
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    let mixed = ctx.record_forward(
        &mut enc,
        &act,
        Tensor::f16(&a, 0, 16),
        Tensor::new(&b, 0, 16),
    );
    assert!(matches!(mixed, Err(Error::DTypeMismatch(_))), "{mixed:?}");
    let odd = ctx.record_forward(&mut enc, &act, Tensor::f16(&a, 1, 4), Tensor::f16(&b, 0, 4));
    assert!(
        matches!(odd, Err(Error::Misaligned { align: 2, .. })),
        "{odd:?}"
    );
    let c = ctx.create_tensor::<f16>(16).unwrap(); // 32 bytes
    let over = ctx.record_forward(
        &mut enc,
        &act,
        Tensor::f16(&a, 0, 17),
        Tensor::f16(&c, 0, 17),
    );
    assert!(
        matches!(over, Err(Error::BufferTooSmall { .. })),
        "{over:?}"
    );
    let sm = ctx.record_softmax(
        &mut enc,
        &Softmax::softmax(),
        Tensor::f16(&a, 0, 16),
        Tensor::new(&b, 0, 16),
        &[16],
        0,
    );
    assert!(matches!(sm, Err(Error::DTypeMismatch(_))), "{sm:?}");
    assert_eq!(Tensor::whole_f16(&a).dtype, DType::F16);
    assert_eq!(Tensor::whole_f16(&a).len, 16);
}

/// Softmax over f16 tensors split across many bindings (rows above the binding cap, odd element
/// offsets inside words) gives the same bits as in one binding.
#[test]
fn gpu_softmax_f16_split_bindings() {
    let Some(ctx) = common::gpu() else { return };
    let x: Vec<f16> = wgpu_activations::harness::random_inputs(11, 3 * 5001)
        .into_iter()
        .map(|v| f16::from_f32(v.clamp(-20.0, 20.0)))
        .collect();
    for (shape, axis) in [(&[3usize, 5001][..], 1usize), (&[3, 1667, 3][..], 1)] {
        for sm in [Softmax::softmax(), Softmax::log_softmax()] {
            let whole = ctx.softmax(&sm, &x, shape, axis).unwrap();
            ctx.set_max_binding_bytes(4096);
            let split = ctx.softmax(&sm, &x, shape, axis);
            ctx.set_max_binding_bytes(0);
            let split = split.unwrap();
            assert_eq!(
                whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                split.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{shape:?} axis {axis}"
            );
        }
    }
}

/// One f16 softmax-family call recorded at element offsets `xo` (x, or the saved y and dy) and
/// `yo` (the output) inside buffers padded with a sentinel: returns the output and checks that
/// the halves before and after it are untouched.
#[allow(clippy::too_many_arguments)]
fn softmax_f16_at(
    ctx: &Context,
    sm: &Softmax,
    x: &[f16],
    dy: Option<&[f16]>,
    shape: &[usize],
    axis: usize,
    (xo, yo): (usize, usize),
    what: &str,
) -> Vec<f16> {
    let n = x.len();
    let sentinel = f16::from_f32(-7.25);
    let put = |v: &[f16], off: usize| {
        let mut host = vec![sentinel; off + n + 3];
        host[off..off + n].copy_from_slice(v);
        ctx.upload(&host).unwrap()
    };
    let xb = put(x, xo);
    let yb = put(&vec![sentinel; n], yo);
    let at = |b, off: usize| Tensor::f16(b, 2 * off as u64, n);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    match dy {
        None => ctx
            .record_softmax(&mut enc, sm, at(&xb, xo), at(&yb, yo), shape, axis)
            .unwrap(),
        Some(dy) => {
            // dy one half further on than y: the two inputs' words differ in parity.
            let db = put(dy, xo + 1);
            ctx.record_softmax_backward(
                &mut enc,
                sm,
                at(&xb, xo),
                at(&db, xo + 1),
                at(&yb, yo),
                shape,
                axis,
            )
            .unwrap()
        }
    }
    ctx.queue().submit([enc.finish()]);
    let out = ctx.read::<f16>(&yb, 0, yo + n + 3).unwrap();
    assert!(out[..yo].iter().all(|v| *v == sentinel), "{what}: before");
    assert!(
        out[yo + n..].iter().all(|v| *v == sentinel),
        "{what}: after"
    );
    out[yo..yo + n].to_vec()
}

fn f16_bits(v: &[f16]) -> Vec<u16> {
    v.iter().map(|h| h.to_bits()).collect()
}

/// f16 softmax computes in f32 and rounds once, whichever way the kernels write the halves (whole
/// words where one invocation holds both, atomics at the edges): forward and backward equal the
/// f32 kernels' results rounded to f16, bit for bit, at every element offset of the tensors, on
/// every kernel (the rows kernel with a subgroup per row, held in private memory or not, and its
/// workgroup-memory fallback; split rows; columns), and the neighbouring halves are untouched.
/// Tensors split across bindings equal the same call at offset 0.
#[test]
fn gpu_softmax_f16_equals_f32_rounded_at_every_offset() {
    let Some(_) = common::gpu() else { return };
    let ctx = Context::new().unwrap();
    let has_subgroups = ctx.subgroups();
    let offsets = [(0usize, 0usize), (1, 0), (0, 1), (1, 1), (3, 2)];
    let cases: [(&[usize], usize); 7] = [
        (&[5, 7], 1),
        (&[64, 3], 1),
        (&[6, 1000], 1),
        (&[3, 1501], 1),
        (&[2, 20001], 1),
        (&[4, 33, 5], 1),
        (&[3, 1], 1),
    ];
    let round = |v: Vec<f32>| -> Vec<f16> { v.into_iter().map(f16::from_f32).collect() };
    for subgroups in [true, false] {
        if subgroups && !has_subgroups {
            continue;
        }
        ctx.set_subgroups(subgroups);
        for sm in [
            Softmax::softmax(),
            Softmax::log_softmax(),
            Softmax::softmin().with_temperature(0.7),
        ] {
            for &(shape, axis) in &cases {
                let n: usize = shape.iter().product();
                let x: Vec<f16> = wgpu_activations::harness::random_inputs(29 + n as u64, n)
                    .into_iter()
                    .map(|v| f16::from_f32(v.clamp(-30.0, 30.0)))
                    .collect();
                let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
                let want = round(ctx.softmax(&sm, &xf, shape, axis).unwrap());
                let dy = gradients_f16(n);
                let yf: Vec<f32> = want.iter().map(|v| v.to_f32()).collect();
                let dyf: Vec<f32> = dy.iter().map(|v| v.to_f32()).collect();
                let want_b = round(ctx.softmax_backward(&sm, &yf, &dyf, shape, axis).unwrap());
                for off in offsets {
                    let what = format!(
                        "{} {shape:?} axis {axis}, subgroups {subgroups}, offsets {off:?}",
                        sm.kind.name()
                    );
                    let y = softmax_f16_at(&ctx, &sm, &x, None, shape, axis, off, &what);
                    assert_eq!(f16_bits(&y), f16_bits(&want), "{what} forward");
                    let dx = softmax_f16_at(&ctx, &sm, &want, Some(&dy), shape, axis, off, &what);
                    assert_eq!(f16_bits(&dx), f16_bits(&want_b), "{what} backward");
                }
            }
        }
    }
    ctx.set_subgroups(true);
    ctx.set_max_binding_bytes(4096);
    let sm = Softmax::softmax();
    for (shape, axis) in [(&[3usize, 5001][..], 1usize), (&[37, 301][..], 1)] {
        let n: usize = shape.iter().product();
        let x: Vec<f16> = wgpu_activations::harness::random_inputs(31, n)
            .into_iter()
            .map(|v| f16::from_f32(v.clamp(-20.0, 20.0)))
            .collect();
        let dy = gradients_f16(n);
        let what = format!("cap 4096 B, {shape:?}");
        let want = softmax_f16_at(&ctx, &sm, &x, None, shape, axis, (0, 0), &what);
        let want_b = softmax_f16_at(&ctx, &sm, &want, Some(&dy), shape, axis, (0, 0), &what);
        for off in offsets {
            let what = format!("{what}, offsets {off:?}");
            let y = softmax_f16_at(&ctx, &sm, &x, None, shape, axis, off, &what);
            assert_eq!(f16_bits(&y), f16_bits(&want), "{what} forward");
            let dx = softmax_f16_at(&ctx, &sm, &want, Some(&dy), shape, axis, off, &what);
            assert_eq!(f16_bits(&dx), f16_bits(&want_b), "{what} backward");
        }
    }
}

/// The CPU path's f16 softmax (f32 copies of a few rows at a time; long rows in pieces; other
/// axes through whole-tensor copies) equals the f32 path's results rounded to f16, bit for bit;
/// the `_into` forms write the same bits and refuse outputs of the wrong length.
#[test]
fn cpu_softmax_f16_equals_f32_rounded() {
    let round = |v: Vec<f32>| -> Vec<f16> { v.into_iter().map(f16::from_f32).collect() };
    for sm in [
        Softmax::softmax(),
        Softmax::log_softmax(),
        Softmax::softmin(),
    ] {
        for (shape, axis) in [
            (&[3usize, 7][..], 1usize),
            (&[70, 1000][..], 1),
            (&[5, 4097][..], 1),
            (&[2, 70_001][..], 1),
            (&[4, 33, 5][..], 1),
            (&[6, 5][..], 0),
        ] {
            let n: usize = shape.iter().product();
            let x: Vec<f16> = wgpu_activations::harness::random_inputs(41 + n as u64, n)
                .into_iter()
                .map(|v| f16::from_f32(v.clamp(-30.0, 30.0)))
                .collect();
            let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
            let what = format!("cpu {} {shape:?} axis {axis}", sm.kind.name());
            let want = round(cpu_softmax(&sm, &xf, shape, axis));
            let y = cpu::softmax(&sm, &x, shape, axis).unwrap();
            assert_eq!(f16_bits(&y), f16_bits(&want), "{what} forward");
            let mut into = vec![f16::ZERO; n];
            cpu::softmax_into(&sm, &x, shape, axis, &mut into).unwrap();
            assert_eq!(f16_bits(&into), f16_bits(&want), "{what} forward into");
            let dy = gradients_f16(n);
            let yf: Vec<f32> = want.iter().map(|v| v.to_f32()).collect();
            let dyf: Vec<f32> = dy.iter().map(|v| v.to_f32()).collect();
            let want_b = round(cpu::softmax_backward(&sm, &yf, &dyf, shape, axis).unwrap());
            let dx = cpu::softmax_backward(&sm, &want, &dy, shape, axis).unwrap();
            assert_eq!(f16_bits(&dx), f16_bits(&want_b), "{what} backward");
            cpu::softmax_backward_into(&sm, &want, &dy, shape, axis, &mut into).unwrap();
            assert_eq!(f16_bits(&into), f16_bits(&want_b), "{what} backward into");
        }
    }
    let sm = Softmax::softmax();
    let x = vec![f16::ONE; 6];
    let mut short = vec![f16::ZERO; 5];
    let r = cpu::softmax_into(&sm, &x, &[2, 3], 1, &mut short);
    assert!(matches!(r, Err(Error::ShapeMismatch(_))), "{r:?}");
    let r = cpu::softmax_backward_into(&sm, &x, &x[..5], &[2, 3], 1, &mut short);
    assert!(matches!(r, Err(Error::ShapeMismatch(_))), "{r:?}");
}

fn cpu_softmax(sm: &Softmax, x: &[f32], shape: &[usize], axis: usize) -> Vec<f32> {
    cpu::softmax(sm, x, shape, axis).unwrap()
}
