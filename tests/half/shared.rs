// The tests every 16-bit dtype shares, included by tests/f16.rs and tests/bf16.rs after each
// defines `H` (the host element type: `half::f16` or `half::bf16`). Results are judged in ULPs of
// `H` against the exact f64 reference of the `H` inputs.

use wgpu_activations::harness::{
    bound_of, gradients_of, inputs_of, judge_of, random_inputs, random_inputs_of, saved_tensor_of,
};
use common::Device;
use wgpu_activations::ulp::ulp_error_of;
use wgpu_activations::{
    cpu, Activation, Context, DType, Element, Error, Mode, OpKind, Softmax, Tensor,
};

/// The dtype under test.
const DT: DType = <H as Element>::DTYPE;

/// `v` correctly rounded to `H` (the crate's conversion: `half`'s `bf16::from_f64` rounds twice).
fn r64(v: f64) -> H {
    <H as Element>::from_f64(v)
}

fn r32(v: f32) -> H {
    <H as Element>::from_f32(v)
}

fn bits(v: &[H]) -> Vec<u16> {
    v.iter().map(|h| h.to_bits()).collect()
}

fn round(v: Vec<f32>) -> Vec<H> {
    v.into_iter().map(r32).collect()
}

fn wide(v: &[H]) -> Vec<f32> {
    v.iter().map(|h| h.to_f32()).collect()
}

/// Seeded logits in ±30 (±20 for `lim` 20), rounded to `H`.
fn logits(seed: u64, n: usize, lim: f32) -> Vec<H> {
    random_inputs(seed, n)
        .into_iter()
        .map(|v| r32(v.clamp(-lim, lim)))
        .collect()
}

/// Check `got` against the exact values in ULPs of `H`; panics listing the worst offenders.
fn check(what: &str, act: &Activation, mode: Mode, x: &[H], dy: Option<&[H]>, got: &[H]) {
    assert_eq!(got.len(), x.len(), "{what}: output length");
    common::check_verdicts(
        what,
        &format!("{} ULP of {}", bound_of(DT, act, mode), DT.name()),
        x.len(),
        |i| judge_of(act, mode, i, x[i], dy.map(|d| d[i]), got[i]),
        |i| {
            format!(
                "x = {:e} ({:#06x}){} got {:e} ({:#06x})",
                x[i].to_f32(),
                x[i].to_bits(),
                dy.map_or(String::new(), |d| format!(" dy = {:e}", d[i].to_f32())),
                got[i].to_f32(),
                got[i].to_bits(),
            )
        },
    );
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
    let x = inputs_of::<H>(&act, 1 << 15);
    let what = format!(
        "{} {} {} {}",
        if ctx.is_some() { "gpu" } else { "cpu" },
        op.name(),
        mode.name(),
        DT.name()
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
            let s = saved_tensor_of(&act, &x);
            let dy = gradients_of::<H>(s.len());
            let dx = match ctx {
                Some(ctx) => ctx.backward(&act, &s, &dy),
                None => cpu::backward(&act, &s, &dy),
            };
            check(&what, &act, mode, &s, Some(&dy), &dx.unwrap());
        }
    }
}

wgpu_activations::for_each_op!(op_tests);

/// prelu with per-channel slopes on the GPU, 16-bit tensors: the same bits as the f32 kernel's
/// result rounded once.
#[test]
fn gpu_prelu_channels() {
    let Some(ctx) = common::gpu() else { return };
    let act = Activation::new(OpKind::Prelu).with_slopes(vec![0.25, -0.5, 3.0], 37);
    let n = 3 * 37 * 5;
    let x: Vec<H> = random_inputs_of(13, n);
    let dy: Vec<H> = gradients_of(n);
    let want = round(ctx.forward(&act, &wide(&x)).unwrap());
    assert_eq!(bits(&ctx.forward(&act, &x).unwrap()), bits(&want));
    let want_b = round(ctx.backward(&act, &wide(&x), &wide(&dy)).unwrap());
    assert_eq!(bits(&ctx.backward(&act, &x, &dy).unwrap()), bits(&want_b));
}

/// The CPU path's 16-bit entry points agree bit for bit with its f32 path rounded once, over
/// lengths across its task (32,768) and block (1,024) boundaries, for ops that depend on the
/// element's index (rrelu's training slopes, prelu's channels) too; in place and into a slice.
#[test]
fn cpu_blocks_in_place_and_index_dependent_ops() {
    let prelu = Activation::new(OpKind::Prelu).with_slopes(vec![0.25, -0.5, 3.0], 1001);
    for act in [
        Activation::new(OpKind::Gelu),
        Activation::new(OpKind::Rrelu).training(5),
        prelu,
    ] {
        let n = 3 * 1001 * 23; // 69,069: three tasks, partial blocks, whole prelu periods
        let x: Vec<H> = random_inputs_of(9, n);
        let dy: Vec<H> = gradients_of(n);
        let want_f = round(cpu::forward(&act, &wide(&x)).unwrap());
        let want_b = round(cpu::backward(&act, &wide(&x), &wide(&dy)).unwrap());
        let name = act.op().name();
        assert_eq!(
            bits(&cpu::forward(&act, &x).unwrap()),
            bits(&want_f),
            "{name} forward"
        );
        let mut into = vec![H::ZERO; n];
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
fn gpu_offsets_lengths_and_splits() {
    let Some(ctx) = common::gpu() else { return };
    let act = Activation::new(OpKind::Gelu);
    let x = inputs_of::<H>(&act, 3000);
    let want = ctx.forward(&act, &x).unwrap();
    let sentinel = r32(-7.25);
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
                let at = |b, off: usize| Tensor::of(b, 2 * off as u64, n, DT);
                let mut enc = ctx.device().create_command_encoder(&Default::default());
                ctx.record_forward(&mut enc, &act, at(&xb, xo), at(&yb, yo))
                    .unwrap();
                ctx.record_forward_in_place(&mut enc, &act, at(&xb, xo))
                    .unwrap();
                ctx.queue().submit([enc.finish()]);
                let y = ctx.read::<H>(&yb, 0, yo + n + 3).unwrap();
                let xi = ctx.read::<H>(&xb, 0, xo + n + 3).unwrap();
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

/// The softmax family in 16 bits (forward and backward, last and middle axes, short and long
/// rows) against the exact reference of the 16-bit inputs, within 1 ULP of the type.
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
    let x = logits(7 + n as u64, n, 30.0);
    let xf = wide(&x);
    let y = match ctx {
        Some(c) => c.softmax(&sm, &x, shape, axis).unwrap(),
        None => cpu::softmax(&sm, &x, shape, axis).unwrap(),
    };
    let exact = wgpu_activations::reference::softmax_exact(&sm, &xf, shape, axis).unwrap();
    let what = format!(
        "{} {} {shape:?} axis {axis} {}",
        if gpu { "gpu" } else { "cpu" },
        sm.kind.name(),
        DT.name()
    );
    let worst = (0..n)
        .map(|i| ulp_error_of(y[i], exact[i]))
        .fold(0.0, f64::max);
    assert!(worst <= 1.0, "{what} forward: {worst:.3} ULP");
    // Backward from the saved output rounded to H.
    let ys: Vec<H> = exact.iter().map(|&v| r64(v)).collect();
    let dy: Vec<H> = gradients_of::<H>(n);
    let dx = match ctx {
        Some(c) => c.softmax_backward(&sm, &ys, &dy, shape, axis).unwrap(),
        None => cpu::softmax_backward(&sm, &ys, &dy, shape, axis).unwrap(),
    };
    let exact_b =
        wgpu_activations::reference::softmax_backward_exact(&sm, &wide(&ys), &wide(&dy), shape, axis)
            .unwrap();
    let worst_b = (0..n)
        .map(|i| ulp_error_of(dx[i], exact_b[i]))
        .fold(0.0, f64::max);
    assert!(worst_b <= 1.0, "{what} backward: {worst_b:.3} ULP");
    eprintln!("{what}: forward {worst:.3}, backward {worst_b:.3} ULP");
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
fn gpu_softmax_family() {
    softmax_all(true);
}

#[test]
fn cpu_softmax_family() {
    softmax_all(false);
}

/// 16-bit tensors need no `SHADER_F16` (the tensors are packed words, converted by bits): a
/// device created without any optional feature computes alike.
#[test]
fn gpu_without_shader_f16_feature() {
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
    let x = inputs_of::<H>(&act, 4096);
    let a = bare.forward(&act, &x).unwrap();
    let b = ctx.forward(&act, &x).unwrap();
    assert_eq!(bits(&a), bits(&b));
    let sm = Softmax::softmax();
    let y = bare.softmax(&sm, &x[..4000], &[40, 100], 1).unwrap();
    assert_eq!(bits(&y), bits(&ctx.softmax(&sm, &x[..4000], &[40, 100], 1).unwrap()));
}

/// Mixed dtypes (but a 16-bit softmax input with an f32 output), misaligned offsets and a range
/// whose last word leaves the buffer are typed errors.
#[test]
fn gpu_errors_are_typed() {
    let Some(ctx) = common::gpu() else { return };
    let act = Activation::new(OpKind::Relu);
    let a = ctx.create_tensor::<H>(16).unwrap();
    let b = ctx.create_tensor::<f32>(16).unwrap();
    let t = |buf, off, n| Tensor::of(buf, off, n, DT);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    let mixed = ctx.record_forward(&mut enc, &act, t(&a, 0, 16), Tensor::new(&b, 0, 16));
    assert!(matches!(mixed, Err(Error::DTypeMismatch(_))), "{mixed:?}");
    let odd = ctx.record_forward(&mut enc, &act, t(&a, 1, 4), t(&b, 0, 4));
    assert!(
        matches!(odd, Err(Error::Misaligned { align: 2, .. })),
        "{odd:?}"
    );
    let c = ctx.create_tensor::<H>(16).unwrap(); // 32 bytes
    let over = ctx.record_forward(&mut enc, &act, t(&a, 0, 17), t(&c, 0, 17));
    assert!(
        matches!(over, Err(Error::BufferTooSmall { .. })),
        "{over:?}"
    );
    let sm = Softmax::softmax();
    // f32 in, 16 bits out: refused (only widening the output is a PyTorch `dtype=`).
    let narrow = ctx.record_softmax(&mut enc, &sm, Tensor::new(&b, 0, 16), t(&a, 0, 16), &[16], 0);
    assert!(matches!(narrow, Err(Error::DTypeMismatch(_))), "{narrow:?}");
    // The other 16-bit type as output.
    let other = if DT == DType::F16 { DType::BF16 } else { DType::F16 };
    let cross = ctx.record_softmax(
        &mut enc,
        &sm,
        t(&a, 0, 16),
        Tensor::of(&c, 0, 16, other),
        &[16],
        0,
    );
    assert!(matches!(cross, Err(Error::DTypeMismatch(_))), "{cross:?}");
    // Backward keeps one dtype (an f32 dx from 16-bit y and dy is refused).
    let bwd = ctx.record_softmax_backward(
        &mut enc,
        &sm,
        t(&a, 0, 16),
        t(&c, 0, 16),
        Tensor::new(&b, 0, 16),
        &[16],
        0,
    );
    assert!(matches!(bwd, Err(Error::DTypeMismatch(_))), "{bwd:?}");
    // 16 bits in, f32 out: accepted.
    ctx.record_softmax(&mut enc, &sm, t(&a, 0, 16), Tensor::new(&b, 0, 16), &[16], 0)
        .unwrap();
    let whole = Tensor::of(&a, 0, (a.size() / 2) as usize, DT);
    assert_eq!(whole.len, 16);
}

/// Softmax over 16-bit tensors split across many bindings (rows above the binding cap, odd
/// element offsets inside words) gives the same bits as in one binding.
#[test]
fn gpu_softmax_split_bindings() {
    let Some(ctx) = common::gpu() else { return };
    let x = logits(11, 3 * 5001, 20.0);
    for (shape, axis) in [(&[3usize, 5001][..], 1usize), (&[3, 1667, 3][..], 1)] {
        for sm in [Softmax::softmax(), Softmax::log_softmax()] {
            let whole = ctx.softmax(&sm, &x, shape, axis).unwrap();
            ctx.set_max_binding_bytes(4096);
            let split = ctx.softmax(&sm, &x, shape, axis);
            // The f32 output equals the f32 kernels' on the widened input split alike (split rows
            // add their partial sums in another order, so the last f32 bit may differ from one
            // binding's; rounded to 16 bits, it does not here).
            let split32 = ctx.softmax_to_f32(&sm, &x, shape, axis);
            let want32 = ctx.softmax(&sm, &wide(&x), shape, axis);
            ctx.set_max_binding_bytes(0);
            assert_eq!(bits(&whole), bits(&split.unwrap()), "{shape:?} axis {axis}");
            let b32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                b32(&want32.unwrap()),
                b32(&split32.unwrap()),
                "{shape:?} axis {axis} f32 out"
            );
        }
    }
}

/// The output of one softmax call: 16 bits, or f32 (`to_f32`).
#[derive(Debug, PartialEq)]
enum Out {
    Half(Vec<u16>),
    F32(Vec<u32>),
}

/// One 16-bit softmax-family call recorded at element offsets `xo` (x, or the saved y and dy) and
/// `yo` (the output) inside buffers padded with a sentinel: returns the output's bits and checks
/// that the elements before and after it are untouched.
#[allow(clippy::too_many_arguments)]
fn softmax_at(
    ctx: &Context,
    sm: &Softmax,
    x: &[H],
    dy: Option<&[H]>,
    shape: &[usize],
    axis: usize,
    (xo, yo): (usize, usize),
    to_f32: bool,
    what: &str,
) -> Out {
    let n = x.len();
    let sentinel = r32(-7.25);
    let put = |v: &[H], off: usize| {
        let mut host = vec![sentinel; off + n + 3];
        host[off..off + n].copy_from_slice(v);
        ctx.upload(&host).unwrap()
    };
    let xb = put(x, xo);
    let at = |b, off: usize| Tensor::of(b, 2 * off as u64, n, DT);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    if to_f32 {
        let yb = ctx.upload(&vec![-7.25f32; yo + n + 3]).unwrap();
        let y = Tensor::new(&yb, 4 * yo as u64, n);
        ctx.record_softmax(&mut enc, sm, at(&xb, xo), y, shape, axis)
            .unwrap();
        ctx.queue().submit([enc.finish()]);
        let out = ctx.read::<f32>(&yb, 0, yo + n + 3).unwrap();
        assert!(out[..yo].iter().all(|v| *v == -7.25), "{what}: before");
        assert!(out[yo + n..].iter().all(|v| *v == -7.25), "{what}: after");
        return Out::F32(out[yo..yo + n].iter().map(|v| v.to_bits()).collect());
    }
    let yb = put(&vec![sentinel; n], yo);
    match dy {
        None => ctx
            .record_softmax(&mut enc, sm, at(&xb, xo), at(&yb, yo), shape, axis)
            .unwrap(),
        Some(dy) => {
            // dy one element further on than y: the two inputs' words differ in parity.
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
    let out = ctx.read::<H>(&yb, 0, yo + n + 3).unwrap();
    assert!(out[..yo].iter().all(|v| *v == sentinel), "{what}: before");
    assert!(
        out[yo + n..].iter().all(|v| *v == sentinel),
        "{what}: after"
    );
    Out::Half(bits(&out[yo..yo + n]))
}

/// 16-bit softmax computes in f32 and rounds once, whichever way the kernels write the halves
/// (whole words where one invocation holds both, atomics at the edges): forward and backward
/// equal the f32 kernels' results rounded, bit for bit, at every element offset of the tensors,
/// on every kernel (the rows kernel with a subgroup per row, held in private memory or not, and
/// its workgroup-memory fallback; split rows; columns), and the neighbouring elements are
/// untouched. The f32 output of a 16-bit input (PyTorch's `dtype=torch.float32`) equals the f32
/// kernels' result on the widened input, bit for bit, at every offset. Tensors split across
/// bindings equal the same call at offset 0.
#[test]
fn gpu_softmax_equals_f32_rounded_at_every_offset() {
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
    let f32_bits = |v: Vec<f32>| Out::F32(v.iter().map(|x| x.to_bits()).collect());
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
                let x = logits(29 + n as u64, n, 30.0);
                let xf = wide(&x);
                let want32 = ctx.softmax(&sm, &xf, shape, axis).unwrap();
                let want = round(want32.clone());
                let dy: Vec<H> = gradients_of::<H>(n);
                let want_b = round(
                    ctx.softmax_backward(&sm, &wide(&want), &wide(&dy), shape, axis)
                        .unwrap(),
                );
                let want32 = f32_bits(want32);
                for off in offsets {
                    let what = format!(
                        "{} {shape:?} axis {axis}, subgroups {subgroups}, offsets {off:?}",
                        sm.kind.name()
                    );
                    let at = |x: &[H], dy, to_f32| {
                        softmax_at(&ctx, &sm, x, dy, shape, axis, off, to_f32, &what)
                    };
                    assert_eq!(at(&x, None, false), Out::Half(bits(&want)), "{what} forward");
                    assert_eq!(at(&x, None, true), want32, "{what} forward, f32 out");
                    assert_eq!(
                        at(&want, Some(&dy), false),
                        Out::Half(bits(&want_b)),
                        "{what} backward"
                    );
                }
            }
        }
    }
    ctx.set_subgroups(true);
    ctx.set_max_binding_bytes(4096);
    let sm = Softmax::softmax();
    for (shape, axis) in [(&[3usize, 5001][..], 1usize), (&[37, 301][..], 1)] {
        let n: usize = shape.iter().product();
        let x = logits(31, n, 20.0);
        let dy: Vec<H> = gradients_of::<H>(n);
        let what = format!("cap 4096 B, {shape:?}");
        let at = |x: &[H], dy, off, to_f32| {
            softmax_at(&ctx, &sm, x, dy, shape, axis, off, to_f32, &what)
        };
        let want = at(&x, None, (0, 0), false);
        let want32 = at(&x, None, (0, 0), true);
        let Out::Half(want_bits) = &want else {
            unreachable!()
        };
        let y: Vec<H> = want_bits.iter().map(|&b| H::from_bits(b)).collect();
        let want_b = at(&y, Some(&dy), (0, 0), false);
        for off in offsets {
            assert_eq!(at(&x, None, off, false), want, "{what} {off:?} forward");
            assert_eq!(at(&x, None, off, true), want32, "{what} {off:?} forward, f32 out");
            assert_eq!(at(&y, Some(&dy), off, false), want_b, "{what} {off:?} backward");
        }
    }
    ctx.set_max_binding_bytes(0);
}

/// The CPU path's 16-bit softmax (f32 copies of a few rows at a time; long rows in pieces; other
/// axes through whole-tensor copies) equals the f32 path's results rounded, bit for bit; its f32
/// output equals the f32 path's on the widened input; the `_into` forms write the same bits and
/// refuse outputs of the wrong length.
#[test]
fn cpu_softmax_equals_f32_rounded() {
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
            let x = logits(41 + n as u64, n, 30.0);
            let xf = wide(&x);
            let what = format!("cpu {} {shape:?} axis {axis}", sm.kind.name());
            let want32 = cpu::softmax(&sm, &xf, shape, axis).unwrap();
            let want = round(want32.clone());
            let y = cpu::softmax(&sm, &x, shape, axis).unwrap();
            assert_eq!(bits(&y), bits(&want), "{what} forward");
            let y32 = cpu::softmax_to_f32(&sm, &x, shape, axis).unwrap();
            assert!(
                y32.iter().zip(&want32).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{what} forward, f32 out"
            );
            let mut into = vec![H::ZERO; n];
            cpu::softmax_into(&sm, &x, shape, axis, &mut into).unwrap();
            assert_eq!(bits(&into), bits(&want), "{what} forward into");
            let dy: Vec<H> = gradients_of::<H>(n);
            let want_b = round(
                cpu::softmax_backward(&sm, &wide(&want), &wide(&dy), shape, axis).unwrap(),
            );
            let dx = cpu::softmax_backward(&sm, &want, &dy, shape, axis).unwrap();
            assert_eq!(bits(&dx), bits(&want_b), "{what} backward");
            cpu::softmax_backward_into(&sm, &want, &dy, shape, axis, &mut into).unwrap();
            assert_eq!(bits(&into), bits(&want_b), "{what} backward into");
        }
    }
    let sm = Softmax::softmax();
    let x = vec![H::ONE; 6];
    let mut short = vec![H::ZERO; 5];
    let r = cpu::softmax_into(&sm, &x, &[2, 3], 1, &mut short);
    assert!(matches!(r, Err(Error::ShapeMismatch(_))), "{r:?}");
    let r = cpu::softmax_backward_into(&sm, &x, &x[..5], &[2, 3], 1, &mut short);
    assert!(matches!(r, Err(Error::ShapeMismatch(_))), "{r:?}");
    let r = cpu::softmax_to_f32(&sm, &x[..5], &[2, 3], 1);
    assert!(matches!(r, Err(Error::ShapeMismatch(_))), "{r:?}");
}

/// A GPT-2-wide row (50,257 logits) in 16 bits: with an f32 output (PyTorch's
/// `dtype=torch.float32`) each probability is within 1 ULP of f32 of the exact softmax of the
/// 16-bit inputs and the row sums to 1 within a few f32 ULPs · n; rounded to 16 bits each is
/// within 1 ULP of the type, and their sum drifts far further (the reason for the f32 output).
fn vocabulary_row(gpu: bool) {
    let ctx = match gpu {
        true => match common::gpu() {
            Some(c) => Some(c),
            None => return,
        },
        false => None,
    };
    let n = 50_257;
    // Logits of a trained model's spread: most mass on a few hundred tokens.
    let x = logits(50_257, n, 12.0);
    let sm = Softmax::softmax();
    let shape = [2usize, n];
    let x2: Vec<H> = x.iter().chain(x.iter().rev()).copied().collect();
    let (p, p16) = match ctx {
        Some(c) => (
            c.softmax_to_f32(&sm, &x2, &shape, -1).unwrap(),
            c.softmax(&sm, &x2, &shape, -1).unwrap(),
        ),
        None => (
            cpu::softmax_to_f32(&sm, &x2, &shape, -1).unwrap(),
            cpu::softmax(&sm, &x2, &shape, -1).unwrap(),
        ),
    };
    let exact = wgpu_activations::reference::softmax_exact(&sm, &wide(&x2), &shape, 1).unwrap();
    let worst = p
        .iter()
        .zip(&exact)
        .map(|(&g, &e)| wgpu_activations::ulp::ulp_error(g, e))
        .fold(0.0, f64::max);
    let worst16 = p16
        .iter()
        .zip(&exact)
        .map(|(&g, &e)| ulp_error_of(g, e))
        .fold(0.0, f64::max);
    let what = format!("{} {} [2, 50257]", if gpu { "gpu" } else { "cpu" }, DT.name());
    assert!(worst <= 1.0, "{what}: f32 out {worst:.3} ULP of f32");
    assert!(worst16 <= 1.0, "{what}: {worst16:.3} ULP of {}", DT.name());
    for r in 0..2 {
        let row = &p[r * n..(r + 1) * n];
        // The sum of the f32 outputs in f64: each term within 1 ULP of f32 (≤ 2^-23 · p), so
        // |Σ − 1| ≤ 2^-23 · Σ p ≈ 2^-23, far inside "a few ULPs · n".
        let sum: f64 = row.iter().map(|&v| v as f64).sum();
        let sum16: f64 = p16[r * n..(r + 1) * n].iter().map(|v| v.to_f64()).sum();
        eprintln!(
            "{what} row {r}: f32 out max {worst:.3} ULP, sum − 1 = {:.3e}; {} out max \
             {worst16:.3} ULP, sum − 1 = {:.3e}",
            sum - 1.0,
            DT.name(),
            sum16 - 1.0
        );
        assert!((sum - 1.0).abs() <= 2.0 * f32::EPSILON as f64, "{what}: sum {sum}");
    }
}

#[test]
fn gpu_vocabulary_row_to_f32() {
    vocabulary_row(true);
}

#[test]
fn cpu_vocabulary_row_to_f32() {
    vocabulary_row(false);
}

/// Softmax2d (`nn.Softmax2d`: softmax over the channels of [N, C, H, W] or [C, H, W]) on 16-bit
/// tensors: the named entry and its axis, against the exact reference.
#[test]
fn softmax2d_by_name() {
    let (sm, axis) = Softmax::by_name("Softmax2d").unwrap();
    assert_eq!(axis, Some(wgpu_activations::Axis(-3)));
    for shape in [&[2usize, 5, 3, 7][..], &[5, 3, 7]] {
        let n: usize = shape.iter().product();
        let x = logits(77, n, 30.0);
        let a = Softmax::softmax2d_axis(shape).unwrap();
        let exact = wgpu_activations::reference::softmax_exact(&sm, &wide(&x), shape, a).unwrap();
        let mut outs = vec![("cpu", cpu::softmax(&sm, &x, shape, a).unwrap())];
        if let Some(ctx) = common::gpu() {
            outs.push(("gpu", ctx.softmax(&sm, &x, shape, -3).unwrap()));
        }
        for (dev, y) in outs {
            let worst = (0..n)
                .map(|i| ulp_error_of(y[i], exact[i]))
                .fold(0.0, f64::max);
            assert!(worst <= 1.0, "{dev} {shape:?}: {worst} ULP");
        }
    }
}
