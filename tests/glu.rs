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
use wgpu_activations::ulp::{ulp_error, ulp_error_f16};
use wgpu_activations::{cpu, reference, Error, Glu, OpKind, Spec};

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
    if a >= edge && a <= top && (got.abs() == f32::MAX || got.is_infinite()) && (got as f64).signum() == exact.signum() {
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
                let u = if flushed(ftz, f, y, e) { 0.0 } else { ulps(y, e, 4.0) };
                if u.is_finite() {
                    worst[0] = worst[0].max(u);
                }
                if u > 4.0 {
                    bad.push((u, format!("[{i}] gate {a:e} value {b:e}: got {y:e} want {e:e}: {u:.2} ULP")));
                }
            }
            Some(dv) => {
                let (eg, ev) = reference::glu_backward_exact(g, a, b, d);
                let (fd, f) = reference::glu_backward_exact(g, a, 1.0, 1.0);
                let ug = if flushed(ftz, fd, y, eg) { 0.0 } else { ulps(y, eg, 8.0) };
                let uv = if flushed(ftz, f, dv, ev) { 0.0 } else { ulps(dv, ev, 8.0) };
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
        panic!("{what}: {} of {} values out of bounds; worst:\n{}", bad.len(), t.len(), lines.join("\n"));
    }
    eprintln!("{what}: max {:.3} ULP (d value: {:.3}) over {} values", worst[0], worst[1], t.len());
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
    judge(&what, &g, &t, &got, ctx.is_some_and(|c| c.flushes_subnormals()));
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
