//! The GLU family (glu, swiglu, geglu in both forms, reglu) on the GPU and the fast CPU path,
//! against the exact f64 reference in ULPs: forward within 4 ULP, both backward gradients within
//! 8 ULP (with the element-wise ops' allowance near the roots of f'), on every pair of hard
//! inputs (gate × value, each dy from a list of hard gradients), seeded random pairs over
//! symmetric ranges and the whole f32 range, and gates near the derivatives' roots. One test per
//! op, mode and path (`swiglu::gpu_backward`). Then layouts (axes, odd lengths, offsets), the
//! two-input form, f16, errors and special values.

mod common;

use half::f16;
use wgpu_activations::harness::{gradients, hard_inputs, random_inputs, ROOT_ABS};
use wgpu_activations::ulp::{ulp_error, ulp_error_f16, ulp_error_of};
use wgpu_activations::{cpu, reference, Element, Error, Glu, Spec};

/// Output elements per row of the test tensors: odd, not a multiple of 4 or of the workgroup.
const HALF: usize = 37;

/// (gate, value, dy) triples: every hard gate × every hard value with a dy from a hard list,
/// seeded random triples (half of them log-uniform across the f32 range), gates near the roots.
fn triples(g: &Glu, n_random: usize) -> Vec<(f32, f32, f32)> {
    let hard = hard_inputs();
    let dys: Vec<f32> = [
        1.0, -1.0, 0.5, -3.0, 1e30, -1e-30, 3.0e38, -1.4e-45, 2e7, -1e-10, 0.0, 1e-40, -7.5,
    ]
    .into();
    let mut v = Vec::new();
    let mut k = 0;
    for &a in &hard {
        for &b in &hard {
            v.push((a, b, dys[k % dys.len()]));
            k += 1;
        }
    }
    // The deep tails of the activations meet huge values and gradients: products far outside
    // the f32 range whose results are not.
    let gates = [
        -8.0, -10.0, -12.5, -15.0, -18.0, -18.5, -19.0, -19.5, -20.0, -22.0, -40.5, -60.0, -87.0,
        -100.0, -120.0, -150.0, -174.0, -180.0, -185.0, -189.0, -200.0, 40.5, 60.0, 100.0, 150.0,
        180.0, 189.0,
    ];
    let big = [f32::MAX, -3e38, 1e38, 1.3e30, 1e-30, 1e-45];
    for &a in &gates {
        for &b in &big {
            for &d in &[f32::MAX, 1e38, -3e38, 1.0] {
                v.push((a, b, d));
            }
        }
    }
    let spec: Spec = g.activation().spec();
    for &r in spec.derivative_roots {
        let mut t = r as f32;
        for _ in 0..200 {
            t = t.next_down();
        }
        for _ in 0..400 {
            v.push((t, 1.5, -0.75));
            t = t.next_up();
        }
    }
    let seed = wgpu_activations::harness::op_seed(g.activation()) ^ 0x61u64;
    let a = random_inputs(seed, n_random);
    let b = random_inputs(seed + 1, n_random);
    let d = gradients(n_random);
    v.extend((0..n_random).map(|i| (a[i], b[i], d[i])));
    v
}

/// The one-tensor layout `[rows, 2·HALF]` split along the last axis: row `r` holds triples
/// `r·HALF..`, gate and value in the op's halves (zero padding at the end).
fn layout(g: &Glu, t: &[(f32, f32, f32)]) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let rows = t.len().div_ceil(HALF);
    let mut x = vec![0.0f32; rows * 2 * HALF];
    let mut dy = vec![0.0f32; rows * HALF];
    let (sg, sv) = if g.gate_first() { (0, HALF) } else { (HALF, 0) };
    for (i, &(a, b, d)) in t.iter().enumerate() {
        let (r, c) = (i / HALF, i % HALF);
        x[r * 2 * HALF + sg + c] = a;
        x[r * 2 * HALF + sv + c] = b;
        dy[i] = d;
    }
    (x, dy, vec![rows, 2 * HALF])
}

fn near_root(g: &Glu, t: f32) -> bool {
    g.activation()
        .spec()
        .derivative_roots
        .iter()
        .any(|r| (t as f64 - r).abs() < 0.05)
}

/// `ulp_error`, except at the overflow threshold: where the exact value lies within `bound` ULP of
/// the largest finite f32 (above or below), ±f32::MAX and ±inf are both within the bound (the
/// metric would count a result one rounding short of infinity as infinitely wrong).
fn ulps(got: f32, exact: f64, bound: f64) -> f64 {
    let edge = f32::MAX as f64 * (1.0 - bound * f64::powi(2.0, -24));
    let top = f32::MAX as f64 * (1.0 + bound * f64::powi(2.0, -24));
    let a = exact.abs();
    if a >= edge
        && a <= top
        && (got.abs() == f32::MAX || got.is_infinite())
        && (got as f64).signum() == exact.signum()
    {
        return (f32::MAX as f64 - a).abs() / f64::powi(2.0, 104);
    }
    ulp_error(got, exact)
}

/// On a device that flushes subnormals (`ftz`), a factor `f(gate)` (`f'(gate)`) that rounds to a
/// subnormal is 0 there, so its product with an infinite value or dy is NaN instead of ±inf.
fn flushed(ftz: bool, factor: f64, got: f32, exact: f64) -> bool {
    ftz && got.is_nan()
        && exact.is_infinite()
        && factor != 0.0
        && (factor as f32).abs() < f32::MIN_POSITIVE
}

/// Judge every output; panics with the worst offenders.
fn judge(what: &str, g: &Glu, t: &[(f32, f32, f32)], got: &[(f32, Option<f32>)], ftz: bool) {
    let mut bad = Vec::new();
    let mut worst = [0.0f64; 2];
    for (i, (&(a, b, d), &(y, dv))) in t.iter().zip(got).enumerate() {
        match dv {
            None => {
                let e = reference::glu_forward_exact(g, a, b);
                let f = reference::glu_forward_exact(g, a, 1.0);
                let u = if flushed(ftz, f, y, e) {
                    0.0
                } else {
                    ulps(y, e, 4.0)
                };
                if u.is_finite() {
                    worst[0] = worst[0].max(u);
                }
                if u > 4.0 {
                    bad.push((
                        u,
                        format!("[{i}] gate {a:e} value {b:e}: got {y:e} want {e:e}: {u:.2} ULP"),
                    ));
                }
            }
            Some(dv) => {
                let (eg, ev) = reference::glu_backward_exact(g, a, b, d);
                let (fd, f) = reference::glu_backward_exact(g, a, 1.0, 1.0);
                let ug = if flushed(ftz, fd, y, eg) {
                    0.0
                } else {
                    ulps(y, eg, 8.0)
                };
                let uv = if flushed(ftz, f, dv, ev) {
                    0.0
                } else {
                    ulps(dv, ev, 8.0)
                };
                let root_ok = near_root(g, a)
                    && ((y as f64 - eg).abs() <= ROOT_ABS * (d as f64 * b as f64).abs());
                if ug.is_finite() && !root_ok {
                    worst[0] = worst[0].max(ug);
                }
                if uv.is_finite() {
                    worst[1] = worst[1].max(uv);
                }
                if ug > 8.0 && !root_ok {
                    bad.push((ug, format!("[{i}] d gate: gate {a:e} value {b:e} dy {d:e}: got {y:e} want {eg:e}: {ug:.2} ULP")));
                }
                if uv > 8.0 {
                    bad.push((uv, format!("[{i}] d value: gate {a:e} dy {d:e}: got {dv:e} want {ev:e}: {uv:.2} ULP")));
                }
            }
        }
    }
    if !bad.is_empty() {
        bad.sort_by(|x, y| y.0.total_cmp(&x.0));
        let lines: Vec<&str> = bad.iter().take(12).map(|b| b.1.as_str()).collect();
        panic!(
            "{what}: {} of {} values out of bounds; worst:\n{}",
            bad.len(),
            t.len(),
            lines.join("\n")
        );
    }
    eprintln!(
        "{what}: max {:.3} ULP (d value: {:.3}) over {} values",
        worst[0],
        worst[1],
        t.len()
    );
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Gpu,
    Cpu,
}

fn accuracy(g: Glu, path: Path, backward: bool) {
    let ctx = match path {
        Path::Gpu => match common::gpu() {
            Some(c) => Some(c),
            None => return,
        },
        Path::Cpu => None,
    };
    let t = triples(&g, if path == Path::Gpu { 1 << 15 } else { 1 << 17 });
    let (x, dy, shape) = layout(&g, &t);
    let what = format!(
        "{} {} {}",
        if ctx.is_some() { "gpu" } else { "cpu" },
        g.name(),
        if backward { "backward" } else { "forward" }
    );
    let got: Vec<(f32, Option<f32>)> = if backward {
        let dx = match ctx {
            Some(c) => c.glu_backward(&g, &x, &dy, &shape, -1),
            None => cpu::glu_backward(&g, &x, &dy, &shape, -1),
        }
        .unwrap(); // ok: test
        let (sg, sv) = if g.gate_first() { (0, HALF) } else { (HALF, 0) };
        (0..t.len())
            .map(|i| {
                let (r, c) = (i / HALF, i % HALF);
                (dx[r * 2 * HALF + sg + c], Some(dx[r * 2 * HALF + sv + c]))
            })
            .collect()
    } else {
        let y = match ctx {
            Some(c) => c.glu(&g, &x, &shape, -1),
            None => cpu::glu(&g, &x, &shape, -1),
        }
        .unwrap(); // ok: test
        y[..t.len()].iter().map(|&v| (v, None)).collect()
    };
    judge(
        &what,
        &g,
        &t,
        &got,
        ctx.is_some_and(|c| c.flushes_subnormals()),
    );
}

macro_rules! accuracy_tests {
    ($($name:ident: $g:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[test]
            fn gpu_forward() { accuracy($g, Path::Gpu, false) }
            #[test]
            fn gpu_backward() { accuracy($g, Path::Gpu, true) }
            #[test]
            fn cpu_forward() { accuracy($g, Path::Cpu, false) }
            #[test]
            fn cpu_backward() { accuracy($g, Path::Cpu, true) }
        }
    )*};
}

accuracy_tests! {
    glu: Glu::glu(),
    swiglu: Glu::swiglu(),
    geglu: Glu::geglu(),
    geglu_tanh: Glu::geglu_tanh(),
    reglu: Glu::reglu(),
}

/// Random values in ±10, deterministic.
fn values(seed: u64, n: usize) -> Vec<f32> {
    random_inputs(seed, 4 * n)
        .into_iter()
        .filter(|v| v.abs() <= 100.0)
        .take(n)
        .collect()
}

/// Every op along axis 0, a middle axis and the last, forward and backward, GPU and CPU, within
/// the bounds of the exact reference (rounded, so the bound is one ULP more).
#[test]
fn axes_match_reference() {
    let shape = [4usize, 6, 10];
    let n: usize = shape.iter().product();
    let x = values(7, n);
    for g in Glu::ALL {
        for axis in [0i64, 1, -1] {
            let mut out_shape = shape.to_vec();
            let i = if axis < 0 { 2 } else { axis as usize };
            out_shape[i] /= 2;
            let dy = values(8, n / 2);
            let want = reference::glu(&g, &x, &shape, axis).unwrap(); // ok: test
            let want_dx = reference::glu_backward(&g, &x, &dy, &shape, axis).unwrap(); // ok: test
            let mut runs = vec![(
                "cpu",
                cpu::glu(&g, &x, &shape, axis).unwrap(), // ok: test
                cpu::glu_backward(&g, &x, &dy, &shape, axis).unwrap(), // ok: test
            )];
            if let Some(ctx) = common::gpu() {
                runs.push((
                    "gpu",
                    ctx.glu(&g, &x, &shape, axis).unwrap(), // ok: test
                    ctx.glu_backward(&g, &x, &dy, &shape, axis).unwrap(), // ok: test
                ));
            }
            for (path, y, dx) in runs {
                assert_eq!(y.len(), n / 2);
                for (k, (&a, &b)) in y.iter().zip(&want).enumerate() {
                    let u = ulp_error(a, b as f64);
                    assert!(
                        u <= 5.0,
                        "{path} {} axis {axis} [{k}]: {a} vs {b} ({u} ULP)",
                        g.name()
                    );
                }
                for (k, (&a, &b)) in dx.iter().zip(&want_dx).enumerate() {
                    let u = ulp_error(a, b as f64);
                    let ok = u <= 9.0 || (a - b).abs() <= 1e-6;
                    assert!(
                        ok,
                        "{path} {} backward axis {axis} [{k}]: {a} vs {b} ({u} ULP)",
                        g.name()
                    );
                }
            }
            assert_eq!(
                wgpu_activations::glu_output_shape(&g, &shape, axis).unwrap(), // ok: test
                out_shape
            );
        }
    }
}

/// PyTorch's F.glu convention, by hand: a is the first half, glu = a·σ(b); swiglu = silu(a)·b.
#[test]
fn halves_follow_pytorch() {
    // [[a0, a1 | b0, b1]]: glu → [a0·σ(b0), a1·σ(b1)].
    let x = [3.0f32, -2.0, 0.0, 100.0];
    let mut paths = vec![cpu::glu(&Glu::glu(), &x, &[1, 4], -1).unwrap()]; // ok: test
    if let Some(ctx) = common::gpu() {
        paths.push(ctx.glu(&Glu::glu(), &x, &[1, 4], -1).unwrap()); // ok: test
    }
    for y in paths {
        assert_eq!(y, [1.5, -2.0]);
    }
    // swiglu: silu(a)·b with a = [1], b = [2]: 2·σ(1)·1.
    let y = cpu::glu(&Glu::swiglu(), &[1.0f32, 2.0], &[2], 0).unwrap(); // ok: test
    assert!((y[0] as f64 - 2.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-6);
    // reglu: relu(a)·b.
    let y = cpu::glu(&Glu::reglu(), &[-1.0f32, 4.0, 5.0, 0.5], &[4], 0).unwrap(); // ok: test
    assert_eq!(y, [-0.0, 2.0]);
}

/// The two-input form: against the reference, and equal to the one-tensor form on the halves.
#[test]
fn pair_form() {
    let n = 1001;
    let t = triples(&Glu::swiglu(), 0);
    for g in Glu::ALL {
        let gate: Vec<f32> = t.iter().map(|v| v.0).take(n).chain(values(3, n)).collect();
        let value: Vec<f32> = t.iter().map(|v| v.1).take(n).chain(values(4, n)).collect();
        let dy: Vec<f32> = t.iter().map(|v| v.2).take(n).chain(values(5, n)).collect();
        let trip: Vec<(f32, f32, f32)> = (0..gate.len())
            .map(|i| (gate[i], value[i], dy[i]))
            .collect();
        type Run<'a> = (&'a str, Vec<f32>, (Vec<f32>, Vec<f32>));
        let mut runs: Vec<Run> = vec![(
            "cpu",
            cpu::glu_pair(&g, &gate, &value).unwrap(), // ok: test
            cpu::glu_pair_backward(&g, &gate, &value, &dy).unwrap(), // ok: test
        )];
        let ctx = common::gpu();
        if let Some(ctx) = ctx {
            runs.push((
                "gpu",
                ctx.glu_pair(&g, &gate, &value).unwrap(), // ok: test
                ctx.glu_pair_backward(&g, &gate, &value, &dy).unwrap(), // ok: test
            ));
        }
        let ftz = ctx.is_some_and(|c| c.flushes_subnormals());
        for (path, y, (dg, dv)) in runs {
            let f: Vec<(f32, Option<f32>)> = y.iter().map(|&v| (v, None)).collect();
            judge(
                &format!("{path} {} pair forward", g.name()),
                &g,
                &trip,
                &f,
                ftz,
            );
            let b: Vec<(f32, Option<f32>)> =
                dg.iter().zip(&dv).map(|(&a, &b)| (a, Some(b))).collect();
            judge(
                &format!("{path} {} pair backward", g.name()),
                &g,
                &trip,
                &b,
                ftz,
            );
        }
        // The one-tensor form on [gate | value] rows (glu: [value | gate]) gives the same bits.
        if let Some(ctx) = ctx {
            let k = values(11, 64);
            let (a, b) = (&k[..32], &k[32..]);
            let x: Vec<f32> = if g.gate_first() {
                k.clone()
            } else {
                [b, a].concat()
            };
            let one = ctx.glu(&g, &x, &[64], 0).unwrap(); // ok: test
            let two = ctx.glu_pair(&g, a, b).unwrap(); // ok: test
            assert_eq!(
                one.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                two.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{}",
                g.name()
            );
        }
    }
}

/// Tensors at offsets inside larger buffers (4-byte aligned, not 16), recorded into a caller's
/// encoder; both gradients of the two-input form in one buffer, at separate ranges. Nothing
/// outside the output ranges is written.
#[test]
fn offsets_and_shared_gradient_buffer() {
    let Some(ctx) = common::gpu() else { return };
    let g = Glu::geglu();
    let n = 777; // output elements
    let shape = [n * 2];
    let x = values(21, 2 * n);
    let dy = values(22, n);
    let mut big_x = vec![9.0f32; 3];
    big_x.extend(&x);
    let xb = ctx.upload(&big_x).unwrap(); // ok: test
    let yb = ctx.upload(&vec![7.0f32; n + 5]).unwrap(); // ok: test
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    ctx.record_glu(
        &mut enc,
        &g,
        wgpu_activations::Tensor::new(&xb, 12, 2 * n),
        wgpu_activations::Tensor::new(&yb, 8, n),
        &shape,
        0,
    )
    .unwrap(); // ok: test
    ctx.queue().submit([enc.finish()]);
    let y: Vec<f32> = ctx.read(&yb, 0, n + 5).unwrap(); // ok: test
    assert_eq!(&y[..2], &[7.0, 7.0]);
    assert_eq!(&y[n + 2..], &[7.0, 7.0, 7.0]);
    let want = reference::glu(&g, &x, &shape, 0).unwrap(); // ok: test
    for i in 0..n {
        assert!(
            ulp_error(y[2 + i], want[i] as f64) <= 5.0,
            "y [{i}]: {} vs {}",
            y[2 + i],
            want[i]
        );
    }

    // Two-input backward, d gate and d value in one buffer.
    let (gate, value) = (&x[..n], &x[n..]);
    let gb = ctx.upload(gate).unwrap(); // ok: test
    let vb = ctx.upload(value).unwrap(); // ok: test
    let db = ctx.upload(&dy).unwrap(); // ok: test
    let ob = ctx.upload(&vec![5.0f32; 2 * n + 3]).unwrap(); // ok: test
    let t = |b, off, len| wgpu_activations::Tensor::new(b, off, len);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    ctx.record_glu_pair_backward(
        &mut enc,
        &g,
        t(&gb, 0, n),
        t(&vb, 0, n),
        t(&db, 0, n),
        t(&ob, 4, n),
        t(&ob, 4 * (n as u64 + 2), n),
    )
    .unwrap(); // ok: test
    ctx.queue().submit([enc.finish()]);
    let o: Vec<f32> = ctx.read(&ob, 0, 2 * n + 3).unwrap(); // ok: test
    let (dg, dv) = reference::glu_pair_backward(&g, gate, value, &dy).unwrap(); // ok: test
    assert_eq!(o[0], 5.0);
    assert_eq!(o[n + 1], 5.0);
    for i in 0..n {
        assert!(ulp_error(o[1 + i], dg[i] as f64) <= 9.0, "d gate [{i}]");
        assert!(
            ulp_error(o[n + 2 + i], dv[i] as f64) <= 9.0,
            "d value [{i}]"
        );
    }
}

/// 16-bit tensors, f16 and bf16 (computed in f32, rounded once): within one ULP of the type of
/// the exact value, on the GPU and the CPU, forward and backward, with odd lengths (words shared
/// by neighbours).
fn half_within_one_ulp<H: Element>() {
    let ctx = common::gpu();
    let name = H::DTYPE.name();
    let shape = [3usize, 2 * 45];
    let n: usize = shape.iter().product();
    let x: Vec<H> = values(31, n).into_iter().map(H::from_f32).collect();
    let dy: Vec<H> = values(32, n / 2).into_iter().map(H::from_f32).collect();
    let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
    let dyf: Vec<f32> = dy.iter().map(|v| v.to_f32()).collect();
    for g in Glu::ALL {
        let mut runs = vec![(
            "cpu",
            cpu::glu(&g, &x, &shape, -1).unwrap(), // ok: test
            cpu::glu_backward(&g, &x, &dy, &shape, -1).unwrap(), // ok: test
        )];
        if let Some(ctx) = ctx {
            runs.push((
                "gpu",
                ctx.glu(&g, &x, &shape, -1).unwrap(), // ok: test
                ctx.glu_backward(&g, &x, &dy, &shape, -1).unwrap(), // ok: test
            ));
        }
        let half = 45;
        let (sg, sv) = if g.gate_first() { (0, half) } else { (half, 0) };
        for (path, y, dx) in runs {
            for i in 0..n / 2 {
                let (r, c) = (i / half, i % half);
                let (ia, ib) = (r * 2 * half + sg + c, r * 2 * half + sv + c);
                let e = reference::glu_forward_exact(&g, xf[ia], xf[ib]);
                let u = ulp_error_of(y[i], e);
                assert!(
                    u <= 1.0,
                    "{path} {name} {} [{i}]: {} vs {e}: {u} ULP",
                    g.name(),
                    y[i].to_f32()
                );
                let (eg, ev) = reference::glu_backward_exact(&g, xf[ia], xf[ib], dyf[i]);
                let ug = ulp_error_of(dx[ia], eg);
                let uv = ulp_error_of(dx[ib], ev);
                assert!(
                    ug <= 1.0 && uv <= 1.0,
                    "{path} {name} {} backward [{i}]: {ug} {uv} ULP",
                    g.name()
                );
            }
        }
    }
}

#[test]
fn f16_within_one_ulp() {
    half_within_one_ulp::<f16>();
}

#[test]
fn bf16_within_one_ulp() {
    half_within_one_ulp::<half::bf16>();
}

/// Typed errors, never a panic: odd axis length, lengths that do not match the shape, a bad
/// axis, mismatched two-input lengths, unknown names and parameters, aliasing and dtype mixes.
#[test]
fn errors_are_typed() {
    let g = Glu::swiglu();
    let x = vec![1.0f32; 12];
    let odd = cpu::glu(&g, &x, &[4, 3], -1);
    assert!(matches!(odd, Err(Error::ShapeMismatch(_))), "{odd:?}");
    assert!(matches!(
        cpu::glu(&g, &x, &[4, 4], -1),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        cpu::glu(&g, &x, &[3, 4], 2),
        Err(Error::BadParameter { .. })
    ));
    assert!(matches!(
        cpu::glu(&g, &x, &[3, 4], -3),
        Err(Error::BadParameter { .. })
    ));
    assert!(matches!(
        cpu::glu_backward(&g, &x, &[1.0; 5], &[3, 4], -1),
        Err(Error::LengthMismatch { what: "dy", .. })
    ));
    assert!(matches!(
        cpu::glu_pair(&g, &x, &x[..11]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        cpu::glu_pair_backward(&g, &x, &x, &x[..3]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        reference::glu(&g, &x, &[12, 1], 1),
        Err(Error::ShapeMismatch(_))
    ));
    assert!(matches!(Glu::by_name("gleu"), Err(Error::UnknownOp(_))));
    assert!(matches!(
        Glu::reglu().with_param("approximate", "tanh"),
        Err(Error::BadParameter { .. })
    ));
    let Some(ctx) = common::gpu() else { return };
    assert!(matches!(
        ctx.glu(&g, &x, &[4, 3], -1),
        Err(Error::ShapeMismatch(_))
    ));
    assert!(matches!(
        ctx.glu(&g, &x, &[2, 4], 0),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        ctx.glu(&g, &x, &[3, 4], 5),
        Err(Error::BadParameter { .. })
    ));
    assert!(matches!(
        ctx.glu_pair(&g, &x, &x[..2]),
        Err(Error::LengthMismatch { .. })
    ));
    let b = ctx.upload(&x).unwrap(); // ok: test
    let h = ctx.upload(&[f16::ZERO; 6]).unwrap(); // ok: test
    let t = |off, len| wgpu_activations::Tensor::new(&b, off, len);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    let alias = ctx.record_glu(&mut enc, &g, t(0, 8), t(32, 4), &[8], 0);
    assert!(matches!(alias, Err(Error::Aliasing(_))), "{alias:?}");
    let mixed = ctx.record_glu(
        &mut enc,
        &g,
        t(0, 12),
        wgpu_activations::Tensor::f16(&h, 0, 6),
        &[12],
        0,
    );
    assert!(matches!(mixed, Err(Error::DTypeMismatch(_))), "{mixed:?}");
    let o = ctx.upload(&x).unwrap(); // ok: test
    let overlap = ctx.record_glu_pair_backward(
        &mut enc,
        &g,
        t(0, 4),
        t(16, 4),
        t(32, 4),
        wgpu_activations::Tensor::new(&o, 0, 4),
        wgpu_activations::Tensor::new(&o, 8, 4),
    );
    assert!(matches!(overlap, Err(Error::Aliasing(_))), "{overlap:?}");
    let short = ctx.record_glu(
        &mut enc,
        &g,
        t(8, 8),
        wgpu_activations::Tensor::new(&o, 40, 4),
        &[8],
        0,
    );
    assert!(
        matches!(short, Err(Error::BufferTooSmall { .. })),
        "{short:?}"
    );
}

/// NaN, ±∞ and signed zeros, by bits on both paths: the IEEE products of the f32 factors.
#[test]
fn special_values() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    // (op, gate, value, dy, forward, d gate, d value); NaN compared as NaN.
    let cases: &[(Glu, f32, f32, f32, f32, f32, f32)] = &[
        (Glu::glu(), inf, 2.0, 1.0, 2.0, 0.0, 1.0),
        (Glu::glu(), -inf, 2.0, -1.0, 0.0, -0.0, -0.0),
        (Glu::glu(), 0.0, inf, 1.0, inf, inf, 0.5),
        (Glu::glu(), 0.0, 0.0, inf, 0.0, nan, inf),
        (Glu::glu(), -inf, inf, 1.0, nan, nan, 0.0),
        (Glu::swiglu(), -inf, 1.0, 1.0, -0.0, 0.0, -0.0),
        (Glu::swiglu(), inf, -2.0, 1.0, -inf, -2.0, inf),
        (Glu::swiglu(), 0.0, inf, 1.0, nan, inf, 0.0),
        (Glu::swiglu(), -0.0, 3.0, -0.0, -0.0, -0.0, 0.0),
        (Glu::swiglu(), nan, 1.0, 1.0, nan, nan, nan),
        (Glu::swiglu(), 1.0, nan, 1.0, nan, nan, 0.731_058_6),
        (Glu::swiglu(), 1.0, 1.0, nan, 0.731_058_6, nan, nan),
        (Glu::geglu(), -inf, 5.0, 1.0, -0.0, 0.0, -0.0),
        (Glu::geglu_tanh(), inf, 5.0, -1.0, inf, -5.0, -inf),
        (Glu::reglu(), -1.0, inf, 1.0, nan, nan, 0.0),
        (Glu::reglu(), 2.0, -inf, 1.0, -inf, -inf, 2.0),
        (Glu::reglu(), 2.0, 3.0, -inf, 6.0, -inf, -inf),
        (Glu::reglu(), -2.0, 3.0, -inf, 0.0, nan, nan),
    ];
    let same = |a: f32, b: f32| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
    for &(g, a, b, d, y, dg, dv) in cases {
        // swiglu's gate first: pass [gate, value] in the op's order.
        let x = if g.gate_first() { [a, b] } else { [b, a] };
        let mut runs = vec![(
            "cpu",
            cpu::glu(&g, &x, &[2], 0).unwrap(), // ok: test
            cpu::glu_backward(&g, &x, &[d], &[2], 0).unwrap(), // ok: test
        )];
        if let Some(ctx) = common::gpu() {
            runs.push((
                "gpu",
                ctx.glu(&g, &x, &[2], 0).unwrap(), // ok: test
                ctx.glu_backward(&g, &x, &[d], &[2], 0).unwrap(), // ok: test
            ));
        }
        let want_ref = reference::glu_forward_exact(&g, a, b) as f32;
        assert!(
            same(want_ref, y),
            "reference {} ({a}, {b}): {want_ref} vs {y}",
            g.name()
        );
        let (rg, rv) = reference::glu_backward_exact(&g, a, b, d);
        assert!(
            same(rg as f32, dg) && same(rv as f32, dv),
            "reference {} backward ({a}, {b}, {d}): {rg} {rv}",
            g.name()
        );
        for (path, out, dx) in runs {
            let (ig, iv) = if g.gate_first() { (0, 1) } else { (1, 0) };
            assert!(
                same(out[0], y),
                "{path} {} ({a}, {b}): got {} want {y}",
                g.name(),
                out[0]
            );
            assert!(
                same(dx[ig], dg),
                "{path} {} d gate ({a}, {b}, {d}): got {} want {dg}",
                g.name(),
                dx[ig]
            );
            assert!(
                same(dx[iv], dv),
                "{path} {} d value ({a}, {b}, {d}): got {} want {dv}",
                g.name(),
                dx[iv]
            );
        }
    }
}

/// A hexadecimal float as Python's `float.hex()` writes it (`-0x1.8000000000000p-3`).
fn parse_hex(s: &str) -> f32 {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let body = body.strip_prefix("0x").expect("hex float"); // ok: test
    let (mant, exp) = body.split_once('p').expect("hex exponent"); // ok: test
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut m = u64::from_str_radix(int, 16).expect("hex digits") as f64; // ok: test
    for (k, c) in frac.chars().enumerate() {
        m += c.to_digit(16).expect("hex digit") as f64 * 16f64.powi(-(k as i32 + 1));
        // ok: test
    }
    let v = m * 2f64.powi(exp.parse::<i32>().expect("exponent")); // ok: test
    (if neg { -v } else { v }) as f32
}

/// The exact reference against values computed once in mpmath at 60 digits by
/// `scripts/gen_glu_fixtures.py` (written independently of the Rust), within 1e-13 relative; and
/// the GPU and CPU paths within their ULP bounds of those values.
#[test]
fn mpmath_fixtures() {
    let text = include_str!("fixtures/glu_mpmath.tsv");
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        let g = Glu::by_name(c[0]).unwrap(); // ok: test
        let (a, b, d) = (parse_hex(c[1]), parse_hex(c[2]), parse_hex(c[3]));
        let want: Vec<f64> = c[4..7].iter().map(|v| v.parse().unwrap()).collect(); // ok: test
        rows.push((g, a, b, d, want));
    }
    assert!(rows.len() > 1000, "{} fixture rows", rows.len());
    for (g, a, b, d, w) in &rows {
        let (f, (dg, dv)) = (
            reference::glu_forward_exact(g, *a, *b),
            reference::glu_backward_exact(g, *a, *b, *d),
        );
        for (name, got, want) in [
            ("forward", f, w[0]),
            ("d gate", dg, w[1]),
            ("d value", dv, w[2]),
        ] {
            let err = (got - want).abs();
            assert!(
                err <= 1e-13 * want.abs() || err < 1e-300,
                "reference {} {name} ({a:e}, {b:e}, {d:e}): {got:e} vs mpmath {want:e}",
                g.name()
            );
        }
    }
    // Both paths, through the two-input form, in ULPs of the mpmath values.
    for g in Glu::ALL {
        let mine: Vec<_> = rows.iter().filter(|r| r.0 == g).collect();
        let gate: Vec<f32> = mine.iter().map(|r| r.1).collect();
        let value: Vec<f32> = mine.iter().map(|r| r.2).collect();
        let dy: Vec<f32> = mine.iter().map(|r| r.3).collect();
        let mut runs = vec![(
            "cpu",
            cpu::glu_pair(&g, &gate, &value).unwrap(), // ok: test
            cpu::glu_pair_backward(&g, &gate, &value, &dy).unwrap(), // ok: test
        )];
        if let Some(ctx) = common::gpu() {
            runs.push((
                "gpu",
                ctx.glu_pair(&g, &gate, &value).unwrap(), // ok: test
                ctx.glu_pair_backward(&g, &gate, &value, &dy).unwrap(), // ok: test
            ));
        }
        for (path, y, (dg, dv)) in runs {
            for (i, r) in mine.iter().enumerate() {
                let w = &r.4;
                let root_ok = near_root(&g, r.1)
                    && (dg[i] as f64 - w[1]).abs() <= ROOT_ABS * (r.3 as f64 * r.2 as f64).abs();
                let (u0, u1, u2) = (
                    ulps(y[i], w[0], 4.0),
                    ulps(dg[i], w[1], 8.0),
                    ulps(dv[i], w[2], 8.0),
                );
                assert!(
                    u0 <= 4.0 && (u1 <= 8.0 || root_ok) && u2 <= 8.0,
                    "{path} {} ({:e}, {:e}, {:e}): {u0:.2} / {u1:.2} / {u2:.2} ULP",
                    g.name(),
                    r.1,
                    r.2,
                    r.3
                );
            }
        }
    }
}

/// Streaming along the last axis in many small chunks (f32 and f16, forward and backward) gives
/// the one-piece results bit for bit; progress counts whole chunks and cancelling stops with
/// the outputs before `done` written and none after.
#[test]
fn streaming_by_rows() {
    let Some(ctx) = common::gpu() else { return };
    let (rows, row_len) = (67, 2 * 33);
    let x = values(41, rows * row_len);
    let dy = values(42, rows * row_len / 2);
    let opts = wgpu_activations::StreamOptions::default().with_chunk_bytes(5 * row_len as u64 * 4);
    let none = wgpu_activations::stream::no_progress;
    for g in Glu::ALL {
        let mut y = vec![0.0f32; x.len() / 2];
        ctx.stream_glu(&g, &x, &mut y, row_len, &opts, none)
            .unwrap(); // ok: test
                       // The one-piece path: the same rows as a [rows, 2, 33] tensor split along axis 1.
        let want = ctx.glu(&g, &x, &[rows, 2, row_len / 2], 1).unwrap(); // ok: test
        assert_eq!(y, want, "{}", g.name());
        let mut dx = vec![0.0f32; x.len()];
        ctx.stream_glu_backward(&g, &x, &dy, &mut dx, row_len, &opts, none)
            .unwrap(); // ok: test
        let want = ctx
            .glu_backward(&g, &x, &dy, &[rows, 2, row_len / 2], 1)
            .unwrap(); // ok: test
        assert_eq!(dx, want, "{} backward", g.name());
        // f16, an odd number of dy elements per chunk.
        let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
        let dyh: Vec<f16> = dy.iter().map(|&v| f16::from_f32(v)).collect();
        let mut dxh = vec![f16::ZERO; x.len()];
        ctx.stream_glu_backward(&g, &xh, &dyh, &mut dxh, row_len, &opts, none)
            .unwrap(); // ok: test
        let want = cpu::glu_backward(&g, &xh, &dyh, &[rows, row_len], -1).unwrap(); // ok: test
        for (i, (a, b)) in dxh.iter().zip(&want).enumerate() {
            let e = b.to_f32() as f64;
            assert!(
                ulp_error_f16(*a, e) <= 1.0,
                "{} f16 [{i}]: {a} vs {b}",
                g.name()
            );
        }
    }
    // Cancel after the second chunk.
    let g = Glu::swiglu();
    let mut y = vec![-7.0f32; x.len() / 2];
    let mut calls = Vec::new();
    let r = ctx.stream_glu(&g, &x, &mut y, row_len, &opts, |done, total| {
        calls.push((done, total));
        if calls.len() == 2 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    let done = 2 * 5 * row_len / 2;
    assert!(
        matches!(r, Err(Error::Cancelled { processed_elements }) if processed_elements == done),
        "{r:?}"
    );
    assert_eq!(calls, [(done / 2, x.len() / 2), (done, x.len() / 2)]);
    assert!(y[..done].iter().all(|&v| v != -7.0));
    assert!(y[done..].iter().all(|&v| v == -7.0));
    assert!(matches!(
        ctx.stream_glu(&g, &x, &mut y, 7, &opts, none),
        Err(Error::ShapeMismatch(_))
    ));
    assert!(matches!(
        ctx.stream_glu(&g, &x, &mut y[1..], row_len, &opts, none),
        Err(Error::LengthMismatch { .. })
    ));
}

/// A GLU call for the split tests: the one-tensor form of `shape` along `axis`, or the two-input
/// form over `n` elements.
#[derive(Clone, Debug)]
enum Call {
    One(Vec<usize>, i64),
    Pair(usize),
}

impl Call {
    /// (gate, value) input indices of each output element, and the input length.
    fn sources(&self, g: &Glu) -> (Vec<(usize, usize)>, usize) {
        match self {
            Call::Pair(n) => ((0..*n).map(|i| (i, i)).collect(), *n),
            Call::One(shape, axis) => {
                let ax = if *axis < 0 {
                    shape.len() - 1
                } else {
                    *axis as usize
                };
                let outer: usize = shape[..ax].iter().product();
                let inner: usize = shape[ax + 1..].iter().product();
                let row = shape[ax] / 2 * inner;
                let (sg, sv) = if g.gate_first() { (0, row) } else { (row, 0) };
                let src = (0..outer * row)
                    .map(|i| {
                        let (o, r) = (i / row, i % row);
                        (2 * row * o + sg + r, 2 * row * o + sv + r)
                    })
                    .collect();
                (src, 2 * outer * row)
            }
        }
    }
}

/// Run `call` through `prepare_*` on tensors at `off` elements into their buffers (sentinels
/// before and after; the two-input backward's gradients in one buffer, three apart): the outputs
/// (forward: y; backward: dx, or d gate then d value) and the dispatch count. Panics if a
/// sentinel changed.
fn run_at<H: Element>(
    ctx: &wgpu_activations::Context,
    g: &Glu,
    call: &Call,
    ins: &[Vec<H>],
    dy: Option<&[H]>,
    off: usize,
) -> wgpu_activations::Result<(Vec<H>, usize)> {
    use wgpu_activations::Tensor;
    let s = H::from_f32(-7.25);
    let es = H::DTYPE.size();
    let pad = |v: &[H]| {
        let mut p = vec![s; off];
        p.extend_from_slice(v);
        p.extend([s; 3]);
        p
    };
    let t = |b, at: usize, len| Tensor::of(b, (at * es as usize) as u64, len, H::DTYPE);
    let bufs = ins
        .iter()
        .map(|v| ctx.upload(&pad(v)))
        .collect::<wgpu_activations::Result<Vec<_>>>()?;
    let db = dy.map(|d| ctx.upload(&pad(d))).transpose()?;
    let n_in = ins[0].len();
    let n_out = match (call, dy) {
        (Call::Pair(n), _) => *n,
        (Call::One(..), Some(_)) => n_in,
        (Call::One(..), None) => n_in / 2,
    };
    let pair_bwd = matches!(call, Call::Pair(_)) && dy.is_some();
    let out_len = if pair_bwd {
        off + 2 * n_out + 6
    } else {
        off + n_out + 3
    };
    let ob = ctx.upload(&vec![s; out_len])?;
    let p = match (call, &bufs[..], &db) {
        (Call::One(shape, axis), [x], None) => {
            ctx.prepare_glu(g, t(x, off, n_in), t(&ob, off, n_out), shape, *axis)?
        }
        (Call::One(shape, axis), [x], Some(d)) => ctx.prepare_glu_backward(
            g,
            t(x, off, n_in),
            t(d, off, n_in / 2),
            t(&ob, off, n_out),
            shape,
            *axis,
        )?,
        (Call::Pair(n), [a, b], None) => {
            ctx.prepare_glu_pair(g, t(a, off, *n), t(b, off, *n), t(&ob, off, *n))?
        }
        (Call::Pair(n), [a, b], Some(d)) => ctx.prepare_glu_pair_backward(
            g,
            t(a, off, *n),
            t(b, off, *n),
            t(d, off, *n),
            t(&ob, off, *n),
            t(&ob, off + n + 3, *n),
        )?,
        _ => unreachable!("run_at: one input for Call::One, two for Call::Pair"),
    };
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    p.record(&mut enc)?;
    ctx.queue().submit([enc.finish()]);
    let all: Vec<H> = ctx.read(&ob, 0, out_len)?;
    // (first, count) of each output range.
    let ranges = if pair_bwd {
        vec![(off, n_out), (off + n_out + 3, n_out)]
    } else {
        vec![(off, n_out)]
    };
    let mut got = Vec::new();
    for &(at, len) in &ranges {
        got.extend_from_slice(&all[at..at + len]);
    }
    let outside =
        (0..out_len).filter(|&i| !ranges.iter().any(|&(at, len)| (at..at + len).contains(&i)));
    for i in outside {
        assert!(
            all[i] == s,
            "{call:?}: element {i} outside the outputs written"
        );
    }
    Ok((got, p.dispatches()))
}

/// A binding cap of 4096 bytes (a context of its own, so that the other tests keep the device's
/// limit): runs of whole rows (axis -1 with short rows, a middle axis), rows whose halves exceed
/// the cap (axis -1 with long rows, axis 0, a middle axis with a long inner), the two-input form,
/// forward and backward, at unaligned offsets (odd for 16-bit). Each gives the unsplit call's
/// bits, in more than one dispatch, and lies within the reference's bounds.
fn splits_match_unsplit<H: Element>(ops: &[Glu], off: usize) {
    let Some(_) = common::gpu() else { return };
    let ctx = wgpu_activations::Context::new().unwrap(); // ok: test
    const CAP: u64 = 4096;
    let per = |bytes: u64| (bytes / H::DTYPE.size()) as usize;
    // Longer than the cap in elements of this dtype: 3/2 of it, odd.
    let long = (per(CAP) * 3 / 2) | 1;
    // (call, fewest dispatches under the cap): the last one-tensor call has halves that each fit
    // the cap but not together, so it binds the gate and the value separately in one dispatch.
    let calls = [
        (Call::One(vec![61, 2 * 37], -1), 2),
        (Call::One(vec![3, 2 * long], -1), 2),
        (Call::One(vec![10, (long / 4) | 1], 0), 2),
        (Call::One(vec![7, 6, (per(CAP) / 23) | 1], 1), 2),
        (Call::One(vec![3, 4, (long / 2) | 1], 1), 2),
        (Call::One(vec![2 * (per(CAP) * 2 / 3)], 0), 1),
        (Call::Pair(2 * long + 1), 2),
    ];
    let ftz = ctx.flushes_subnormals();
    for g in ops {
        for (call, fewest) in &calls {
            let (src, n_in) = call.sources(g);
            let n_out = src.len();
            let pair = matches!(call, Call::Pair(_));
            let seed = n_in as u64;
            let mk = |seed, n| -> Vec<H> { values(seed, n).into_iter().map(H::from_f32).collect() };
            let ins = if pair {
                vec![mk(seed, n_in), mk(seed + 1, n_in)]
            } else {
                vec![mk(seed, n_in)]
            };
            let dy = mk(seed + 2, n_out);
            for backward in [false, true] {
                let what = format!(
                    "{} {} {call:?} {}{}",
                    H::DTYPE.name(),
                    g.name(),
                    if backward { "backward" } else { "forward" },
                    if off > 0 {
                        format!(" at +{off}")
                    } else {
                        String::new()
                    }
                );
                let d = backward.then_some(&dy[..]);
                ctx.set_max_binding_bytes(0);
                let (whole, one) = run_at(&ctx, g, call, &ins, d, off).unwrap(); // ok: test
                ctx.set_max_binding_bytes(CAP);
                let got = run_at(&ctx, g, call, &ins, d, off);
                ctx.set_max_binding_bytes(0);
                let (split, many) = got.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(one, 1, "{what}: unsplit dispatches");
                assert!(
                    many >= *fewest,
                    "{what}: {many} dispatch(es) under a cap of {CAP} B"
                );
                let bits = |v: &[H]| v.iter().map(|x| x.to_f32().to_bits()).collect::<Vec<_>>();
                assert!(bits(&whole) == bits(&split), "{what}: split bits differ");
                // The split results against the exact reference.
                let inf = |k: usize, i: usize| ins[k.min(ins.len() - 1)][i].to_f32();
                let (gi, vi) = if pair { (0, 1) } else { (0, 0) };
                let trip: Vec<(f32, f32, f32)> = src
                    .iter()
                    .enumerate()
                    .map(|(i, &(a, b))| (inf(gi, a), inf(vi, b), dy[i].to_f32()))
                    .collect();
                let outs: Vec<(f32, Option<f32>)> = src
                    .iter()
                    .enumerate()
                    .map(|(i, &(a, b))| match (backward, pair) {
                        (false, _) => (split[i].to_f32(), None),
                        (true, true) => (split[i].to_f32(), Some(split[n_out + i].to_f32())),
                        (true, false) => (split[a].to_f32(), Some(split[b].to_f32())),
                    })
                    .collect();
                if H::DTYPE == wgpu_activations::DType::F32 {
                    judge(&what, g, &trip, &outs, ftz);
                } else {
                    for (i, (&(a, b, d), &(y, dv))) in trip.iter().zip(&outs).enumerate() {
                        let (e, ev) = match dv {
                            None => (reference::glu_forward_exact(g, a, b), 0.0),
                            Some(_) => reference::glu_backward_exact(g, a, b, d),
                        };
                        let u = ulp_error_of(H::from_f32(y), e);
                        let uv = dv.map_or(0.0, |v| ulp_error_of(H::from_f32(v), ev));
                        assert!(u <= 1.0 && uv <= 1.0, "{what} [{i}]: {u} / {uv} ULP");
                    }
                }
            }
        }
    }
}

#[test]
fn f32_splits_above_the_binding_limit() {
    splits_match_unsplit::<f32>(&Glu::ALL, 3);
}

#[test]
fn f16_splits_above_the_binding_limit() {
    splits_match_unsplit::<f16>(&[Glu::glu(), Glu::swiglu()], 1);
}

#[test]
fn bf16_splits_above_the_binding_limit() {
    splits_match_unsplit::<half::bf16>(&[Glu::geglu()], 5);
}
