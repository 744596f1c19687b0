//! The softmax family (softmax, log_softmax, softmin), forward and backward, on the GPU and on
//! the fast CPU path, against the exact f64 reference: each probability within 4 ULP, each
//! log-probability within 4 ULP or 2^-22, rows summing to 1 within 1e-6, the special rows exactly,
//! and the backward within 4 ULP of the f64 formula (with an allowance for the cancellation in
//! `dy − Σ`, scaled by the magnitudes it cancels). Row lengths 1 … 2^20+7, more than 65,535 rows,
//! axis 0, a middle axis and the last axis of a 4-D tensor, temperatures, masked rows, the
//! stability rows of the issue, tensors split across bindings, caller buffers at offsets, and
//! every error path.

mod common;

use wgpu_activations::cpu;
use wgpu_activations::reference::{
    softmax_backward_exact as reference_backward_exact, softmax_exact as reference_forward_exact,
};
use wgpu_activations::ulp::ulp_error;
use wgpu_activations::wgpu;
use wgpu_activations::{Context, Error, Softmax, SoftmaxKind, Tensor};

const MAX_ULP: f64 = 4.0;
const LOG_ABS: f64 = 1.0 / (1u64 << 22) as f64;
/// Backward: besides 4 ULP, an error up to 2^-36 (softmax, softmin) or 2^-28 (log_softmax, whose
/// `e^y` is accurate to ~2^-29 relative) times the magnitudes that `dy − Σ` cancels.
const BWD_REL: f64 = 1.0 / (1u64 << 36) as f64;
const BWD_REL_LOG: f64 = 1.0 / (1u64 << 28) as f64;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        (lo as f64 + (hi as f64 - lo as f64) * ((self.next() >> 40) as f64 / 16_777_216.0)) as f32
    }
}

/// Logits: a mix of scales (±1, ±10, ±30) so that rows have dominant entries and long tails.
fn logits(seed: u64, n: usize) -> Vec<f32> {
    let mut r = SplitMix(seed);
    (0..n)
        .map(|i| match i % 3 {
            0 => r.uniform(-1.0, 1.0),
            1 => r.uniform(-10.0, 10.0),
            _ => r.uniform(-30.0, 30.0),
        })
        .collect()
}

fn grads(seed: u64, n: usize) -> Vec<f32> {
    let mut r = SplitMix(seed ^ 0x5555);
    (0..n)
        .map(|i| {
            if i % 7 == 0 {
                r.uniform(-100.0, 100.0)
            } else {
                r.uniform(-1.0, 1.0)
            }
        })
        .collect()
}

/// Gradients up to f32::MAX (`grads` times 3.4e36), and in every other row of `shape` along
/// `axis` (of more than 2 elements) f32::MAX in its first element and −f32::MAX in its last,
/// which cancel exactly, and 1e-30 in its second.
fn huge_grads(seed: u64, shape: &[usize], axis: usize) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let mut dy: Vec<f32> = grads(seed, n).iter().map(|v| v * 3.4e36).collect();
    for (k, row) in rows(shape, axis).iter().enumerate() {
        if k % 2 == 0 && row.len() > 2 {
            dy[row[0]] = f32::MAX;
            dy[row[row.len() - 1]] = -f32::MAX;
            dy[row[1]] = 1e-30;
        }
    }
    dy
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Gpu,
    Cpu,
}

fn ctx_for(path: Path) -> Option<Option<&'static Context>> {
    match path {
        Path::Cpu => Some(None),
        Path::Gpu => common::gpu().map(Some),
    }
}

fn forward(
    ctx: Option<&Context>,
    sm: &Softmax,
    x: &[f32],
    shape: &[usize],
    axis: usize,
) -> Vec<f32> {
    match ctx {
        Some(c) => c.softmax(sm, x, shape, axis).unwrap(),
        None => cpu::softmax(sm, x, shape, axis).unwrap(),
    }
}

fn backward(
    ctx: Option<&Context>,
    sm: &Softmax,
    y: &[f32],
    dy: &[f32],
    shape: &[usize],
    axis: usize,
) -> Vec<f32> {
    match ctx {
        Some(c) => c.softmax_backward(sm, y, dy, shape, axis).unwrap(),
        None => cpu::softmax_backward(sm, y, dy, shape, axis).unwrap(),
    }
}

/// The element indices of every row of `shape` along `axis`.
fn rows(shape: &[usize], axis: usize) -> Vec<Vec<usize>> {
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            out.push((0..len).map(|j| (o * len + j) * inner + i).collect());
        }
    }
    out
}

/// The worst errors of a run: the largest ULP error of a finite value (leaving out those above
/// 4 ULP but within the absolute (log_softmax) or cancellation (backward) allowance), and how
/// many those were.
#[derive(Default)]
struct Worst {
    ulp: f64,
    rescued: usize,
    /// The largest error as a fraction of its allowance, among the rescued.
    of_allowance: f64,
    /// Where the largest ULP error is.
    at: String,
    /// The largest ULP error where no allowance can apply: log-probabilities below −2^-10, and
    /// gradients at least 1/16 of the magnitudes that cancel in them.
    ulp_clear: f64,
}

impl Worst {
    fn merge(&mut self, o: Worst) {
        if o.ulp > self.ulp {
            self.at = o.at;
        }
        self.ulp = self.ulp.max(o.ulp);
        self.ulp_clear = self.ulp_clear.max(o.ulp_clear);
        self.rescued += o.rescued;
        self.of_allowance = self.of_allowance.max(o.of_allowance);
    }
}

/// The worst error seen, per (path, kind, direction), for the summary lines.
fn report(what: &str, w: &Worst, n: usize) {
    eprintln!(
        "{what}: max {:.3} ULP over {n} values, {:.3} where no allowance applies ({}); {} above 4 ULP within \
         the allowance (at most {:.3} of it)",
        w.ulp, w.ulp_clear, w.at, w.rescued, w.of_allowance
    );
}

/// Judge a forward result; returns its worst errors.
fn judge_forward(
    what: &str,
    sm: &Softmax,
    x: &[f32],
    shape: &[usize],
    axis: usize,
    got: &[f32],
) -> Worst {
    let exact = reference_forward_exact(sm, x, shape, axis).unwrap();
    assert_eq!(got.len(), exact.len(), "{what}: length");
    let log = sm.kind == SoftmaxKind::LogSoftmax;
    let mut worst = Worst::default();
    let mut bad = Vec::new();
    for (k, (&g, &e)) in got.iter().zip(&exact).enumerate() {
        let u = ulp_error(g, e);
        let abs = (g as f64 - e).abs();
        let rescued = u > MAX_ULP && log && e.is_finite() && g.is_finite() && abs <= LOG_ABS;
        if e.is_finite() && u.is_finite() && !rescued && u > worst.ulp {
            worst.at = format!("{what} [{k}]: got {g:e}, want {e:e}");
            worst.ulp = u;
        }
        if rescued {
            worst.rescued += 1;
            worst.of_allowance = worst.of_allowance.max(abs / LOG_ABS);
        }
        if e.is_finite() && (!log || e.abs() >= 1.0 / 1024.0) {
            worst.ulp_clear = worst.ulp_clear.max(u);
        }
        // A probability above 1 (or a log-probability above 0) is wrong at any ULP count.
        let above = if log { g > 0.0 } else { g > 1.0 };
        if (u > MAX_ULP && !rescued) || above {
            bad.push((u, k, g, e));
        }
    }
    if !bad.is_empty() {
        bad.sort_by(|a, b| b.0.total_cmp(&a.0));
        let lines: Vec<String> = bad
            .iter()
            .take(10)
            .map(|(u, k, g, e)| format!("  [{k}] x = {:e} got {g:e} want {e:e}: {u:.2} ULP", x[*k]))
            .collect();
        panic!(
            "{what}: {} of {} values off; worst:\n{}",
            bad.len(),
            got.len(),
            lines.join("\n")
        );
    }
    // Rows sum to 1 (the probabilities, or e^log-probabilities) within 1e-6.
    for row in rows(shape, axis) {
        if row
            .iter()
            .any(|&k| !exact[k].is_finite() && (!log || exact[k] != f64::NEG_INFINITY))
        {
            continue;
        }
        if row
            .iter()
            .all(|&k| exact[k] == if log { f64::NEG_INFINITY } else { 0.0 })
        {
            continue; // a fully masked row in safe mode
        }
        let s: f64 = row
            .iter()
            .map(|&k| {
                if log {
                    (got[k] as f64).exp()
                } else {
                    got[k] as f64
                }
            })
            .sum();
        assert!(
            (s - 1.0).abs() <= 1e-6,
            "{what}: a row sums to {s} (row starting at element {})",
            row[0]
        );
    }
    worst
}

/// Judge a backward result against the f64 formula.
#[allow(clippy::too_many_arguments)]
fn judge_backward(
    what: &str,
    sm: &Softmax,
    y: &[f32],
    dy: &[f32],
    shape: &[usize],
    axis: usize,
    got: &[f32],
) -> Worst {
    let exact = reference_backward_exact(sm, y, dy, shape, axis).unwrap();
    let log = sm.kind == SoftmaxKind::LogSoftmax;
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
    let mut worst = Worst::default();
    let mut bad = Vec::new();
    for (k, (&g, &e)) in got.iter().zip(&exact).enumerate() {
        let u = ulp_error(g, e);
        let abs = (g as f64 - e).abs();
        let rescued = u > MAX_ULP && e.is_finite() && abs <= rel * scale[k];
        if e.is_finite() && u.is_finite() && !rescued && u > worst.ulp {
            worst.at = format!("{what} [{k}]: got {g:e}, want {e:e}");
            worst.ulp = u;
        }
        if rescued {
            worst.rescued += 1;
            worst.of_allowance = worst.of_allowance.max(abs / (rel * scale[k]));
        }
        if e.is_finite() && e.abs() >= scale[k] / 16.0 {
            worst.ulp_clear = worst.ulp_clear.max(u);
        }
        if u > MAX_ULP && !rescued {
            bad.push((u, k, g, e));
        }
    }
    if !bad.is_empty() {
        bad.sort_by(|a, b| b.0.total_cmp(&a.0));
        let lines: Vec<String> = bad
            .iter()
            .take(10)
            .map(|(u, k, g, e)| {
                format!(
                    "  [{k}] y = {:e} dy = {:e} got {g:e} want {e:e}: {u:.2} ULP",
                    y[*k], dy[*k]
                )
            })
            .collect();
        panic!(
            "{what}: {} of {} values off; worst:\n{}",
            bad.len(),
            got.len(),
            lines.join("\n")
        );
    }
    worst
}

/// A case: input, shape, axis.
struct Case {
    name: String,
    x: Vec<f32>,
    shape: Vec<usize>,
    axis: usize,
}

fn case(name: impl Into<String>, x: Vec<f32>, shape: &[usize], axis: usize) -> Case {
    Case {
        name: name.into(),
        x,
        shape: shape.to_vec(),
        axis,
    }
}

/// Every row length of the issue (2-D, last axis), the 4-D axes, more than 65,535 rows.
fn shape_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (k, &len) in [
        1usize,
        2,
        7,
        31,
        32,
        33,
        255,
        256,
        1000,
        4097,
        100_003,
        (1 << 20) + 7,
    ]
    .iter()
    .enumerate()
    {
        let rows = (60_000 / len).clamp(1, 64);
        cases.push(case(
            format!("{rows}x{len}"),
            logits(k as u64 + 1, rows * len),
            &[rows, len],
            1,
        ));
    }
    let shape = [6, 5, 7, 11];
    for axis in 0..4 {
        cases.push(case(
            format!("{shape:?} axis {axis}"),
            logits(100 + axis as u64, 6 * 5 * 7 * 11),
            &shape,
            axis,
        ));
    }
    cases.push(case("70000x3", logits(200, 70_000 * 3), &[70_000, 3], 1));
    // 6.2 MB along the last axis: the convenient layer's ring cuts it into four chunks of whole
    // rows (odd row bytes, so backward's second input sits at a padded, aligned offset).
    cases.push(case(
        "1500x1031",
        logits(201, 1500 * 1031),
        &[1500, 1031],
        1,
    ));
    // 70,000 workgroups (one per (outer, column block)): a 2-D grid.
    cases.push(case(
        "[70000, 2, 2] axis 1",
        logits(202, 70_000 * 4),
        &[70_000, 2, 2],
        1,
    ));
    // A long non-last axis over few columns (split columns).
    cases.push(case(
        "[2, 20000, 3] axis 1",
        logits(201, 2 * 20_000 * 3),
        &[2, 20_000, 3],
        1,
    ));
    cases
}

/// The special rows of the issue (NaN, ±inf, fully masked, partly masked, length 1).
fn special_cases() -> Vec<Case> {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let rows: Vec<[f32; 5]> = vec![
        [1.0, 2.0, nan, 3.0, 4.0],
        [1.0, inf, 2.0, 3.0, 4.0],
        [1.0, -inf, 2.0, 3.0, 4.0],
        [-inf, -inf, -inf, -inf, -inf],
        [inf, inf, inf, inf, inf],
        [-inf, 1.0, -inf, -inf, -inf],
        [-inf, 5.0, 5.0, -inf, -3e38],
        [inf, -inf, 0.0, 1.0, 2.0],
        [nan, -inf, -inf, -inf, -inf],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [-f32::MAX, -f32::MAX, -f32::MAX, -inf, -f32::MAX],
    ];
    let x: Vec<f32> = rows.iter().flatten().copied().collect();
    let n = rows.len();
    vec![
        case("special rows", x.clone(), &[n, 5], 1),
        // The same rows along a non-last axis.
        case("special rows, axis 0", transpose(&x, n, 5), &[5, n], 0),
        case(
            "length-1 rows",
            vec![3.0, -inf, inf, nan, -7.0, 0.0, f32::MAX, -f32::MAX],
            &[8, 1],
            1,
        ),
        long_special_rows(),
    ]
}

/// Long rows (split into chunks on a GPU) with a NaN, an infinity, fully and partly masked.
fn long_special_rows() -> Case {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let len = 20_000;
    let mut x = logits(600, 5 * len);
    x[1234] = nan;
    x[len + 19_999] = inf;
    x[2 * len..3 * len].fill(-inf);
    x[3 * len..3 * len + 15_000].fill(-inf);
    x[4 * len..5 * len].fill(inf);
    x[4 * len + 7] = 2.0;
    case("long special rows", x, &[5, len], 1)
}

fn transpose(x: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = x[i * c + j];
        }
    }
    t
}

/// The stability rows of the issue.
fn stability_cases() -> Vec<Case> {
    let mut r = SplitMix(77);
    let n = 1000;
    let near = |c: f32, r: &mut SplitMix| {
        (0..n)
            .map(|_| c + r.uniform(-10.0, 10.0))
            .collect::<Vec<_>>()
    };
    let mut x = near(3e4, &mut r);
    x.extend(near(-3e4, &mut r));
    x.extend((0..n).map(|_| r.uniform(-1e4, 1e4)));
    let mut big = vec![0.0f32; n];
    big[0] = -3e38;
    big[1] = 3.4e38;
    big[2] = 3.4e38;
    big[3] = 3.0e38;
    for v in big.iter_mut().skip(4) {
        *v = r.uniform(-3e38, 3.4e38);
    }
    x.extend(big);
    let mut dominant: Vec<f32> = (0..n).map(|_| r.uniform(-100.0, -30.0)).collect();
    dominant[n / 2] = 80.0;
    x.extend(dominant);
    // Values 1 ULP apart around a large magnitude: differences of a few ULP of 3e4.
    x.extend((0..n).map(|i| f32::from_bits(3e4f32.to_bits() + (i as u32 % 64))));
    vec![case("stability rows", x, &[6, n], 1)]
}

/// Temperatures on moderate inputs.
fn temperature_cases() -> Vec<(f32, Case)> {
    let mut out = Vec::new();
    for (k, t) in [0.5f32, 2.5, 1e-3, 300.0].into_iter().enumerate() {
        out.push((
            t,
            case(
                format!("T = {t}, 40x77"),
                logits(300 + k as u64, 40 * 77),
                &[40, 77],
                1,
            ),
        ));
        out.push((
            t,
            case(
                format!("T = {t}, [4, 50, 6] axis 1"),
                logits(310 + k as u64, 1200),
                &[4, 50, 6],
                1,
            ),
        ));
    }
    // The extreme temperatures accepted, on inputs of their scale (x / T within ±30), and a
    // long row (split) at a temperature.
    for (k, t) in [1e-30f32, 1e30].into_iter().enumerate() {
        let x = logits(320 + k as u64, 20 * 33)
            .iter()
            .map(|v| v * t)
            .collect();
        out.push((t, case(format!("T = {t:e}, 20x33"), x, &[20, 33], 1)));
    }
    out.push((
        0.75,
        case("T = 0.75, 1x50000", logits(330, 50_000), &[1, 50_000], 1),
    ));
    out
}

fn run_forward(path: Path, kind: SoftmaxKind) {
    let Some(ctx) = ctx_for(path) else { return };
    let tag = format!("{path:?} {} forward", kind.name()).to_lowercase();
    let mut worst = Worst::default();
    let mut count = 0;
    let mut check = |sm: &Softmax, c: &Case| {
        let got = forward(ctx, sm, &c.x, &c.shape, c.axis);
        let what = format!("{tag}, {}{}", c.name, if sm.safe { ", safe" } else { "" });
        worst.merge(judge_forward(&what, sm, &c.x, &c.shape, c.axis, &got));
        count += got.len();
    };
    let sm = Softmax::new(kind);
    for c in shape_cases().iter().chain(&stability_cases()) {
        check(&sm, c);
    }
    for c in &special_cases() {
        check(&sm, c);
        check(&sm.with_safe(true), c);
    }
    for (t, c) in &temperature_cases() {
        check(&sm.with_temperature(*t), c);
    }
    report(&tag, &worst, count);
}

fn run_backward(path: Path, kind: SoftmaxKind) {
    let Some(ctx) = ctx_for(path) else { return };
    let tag = format!("{path:?} {} backward", kind.name()).to_lowercase();
    let mut worst = Worst::default();
    let mut count = 0;
    // The saved output: the exact forward rounded to f32 — and, on a device that flushes
    // subnormals (Context::flushes_subnormals), with subnormals flushed to zero as that device's
    // own forward would give them (subnormal inputs act as zero there).
    let ftz = ctx.is_some_and(|c| c.flushes_subnormals());
    let saved = move |v: f64| {
        let y = v as f32;
        if ftz && y.abs() < f32::MIN_POSITIVE {
            0.0f32.copysign(y)
        } else {
            y
        }
    };
    let mut check = |sm: &Softmax, c: &Case| {
        let y: Vec<f32> = reference_forward_exact(sm, &c.x, &c.shape, c.axis)
            .unwrap()
            .iter()
            .map(|&v| saved(v))
            .collect();
        let dy = grads(c.x.len() as u64, c.x.len());
        let got = backward(ctx, sm, &y, &dy, &c.shape, c.axis);
        let what = format!("{tag}, {}{}", c.name, if sm.safe { ", safe" } else { "" });
        worst.merge(judge_backward(&what, sm, &y, &dy, &c.shape, c.axis, &got));
        count += got.len();
    };
    let sm = Softmax::new(kind);
    for c in shape_cases().iter().chain(&stability_cases()) {
        check(&sm, c);
    }
    for c in &special_cases() {
        check(&sm, c);
        check(&sm.with_safe(true), c);
    }
    for (t, c) in &temperature_cases() {
        check(&sm.with_temperature(*t), c);
    }
    // Huge gradients (TwoProd's operands above 2^100 on the GPU).
    let x = logits(11, 30 * 40);
    let y: Vec<f32> = reference_forward_exact(&sm, &x, &[30, 40], 1)
        .unwrap()
        .iter()
        .map(|&v| saved(v))
        .collect();
    let dy: Vec<f32> = grads(11, x.len()).iter().map(|v| v * 1e35).collect();
    let got = backward(ctx, &sm, &y, &dy, &[30, 40], 1);
    worst.merge(judge_backward(
        &format!("{tag}, dy ~ 1e37"),
        &sm,
        &y,
        &dy,
        &[30, 40],
        1,
        &got,
    ));
    // Gradients up to f32::MAX: differences dy − Σ beyond the f32 range while each result is
    // finite, and log_softmax's Σ dy beyond it too (the GPU keeps the gradients of 2^64 and
    // above in a second sum). Every reduction path: rows (vec4 and scalar), columns, split rows.
    // In each row ±f32::MAX cancel exactly, one in the row's first element and one in its last
    // (another chunk where the row is split), with a small gradient beside them.
    for (shape, axis) in [
        (vec![30, 40], 1),
        (vec![30, 41], 1),
        (vec![6, 40, 5], 1),
        (vec![2, (1 << 20) + 7], 1),
    ] {
        let n: usize = shape.iter().product();
        let x = logits(13, n);
        let y: Vec<f32> = reference_forward_exact(&sm, &x, &shape, axis)
            .unwrap()
            .iter()
            .map(|&v| saved(v))
            .collect();
        let dy = huge_grads(12, &shape, axis);
        let got = backward(ctx, &sm, &y, &dy, &shape, axis);
        worst.merge(judge_backward(
            &format!("{tag}, dy up to f32::MAX, {shape:?} axis {axis}"),
            &sm,
            &y,
            &dy,
            &shape,
            axis,
            &got,
        ));
    }
    // Non-finite gradients give NaN rows.
    let mut dy = grads(9, 12);
    dy[5] = f32::INFINITY;
    dy[8] = f32::NAN;
    let y: Vec<f32> = reference_forward_exact(&sm, &logits(9, 12), &[3, 4], 1)
        .unwrap()
        .iter()
        .map(|&v| v as f32)
        .collect();
    let got = backward(ctx, &sm, &y, &dy, &[3, 4], 1);
    judge_backward(
        &format!("{tag}, non-finite dy"),
        &sm,
        &y,
        &dy,
        &[3, 4],
        1,
        &got,
    );
    assert!(
        got[..4].iter().all(|v| v.is_finite()) && got[4..].iter().all(|v| v.is_nan()),
        "{tag}: {got:?}"
    );
    report(&tag, &worst, count);
}

macro_rules! family_tests {
    ($($name:ident: $path:ident $kind:ident $dir:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            $dir(Path::$path, SoftmaxKind::$kind)
        }
    )*};
}

family_tests! {
    gpu_softmax_forward: Gpu Softmax run_forward,
    gpu_softmax_backward: Gpu Softmax run_backward,
    gpu_log_softmax_forward: Gpu LogSoftmax run_forward,
    gpu_log_softmax_backward: Gpu LogSoftmax run_backward,
    gpu_softmin_forward: Gpu Softmin run_forward,
    gpu_softmin_backward: Gpu Softmin run_backward,
    cpu_softmax_forward: Cpu Softmax run_forward,
    cpu_softmax_backward: Cpu Softmax run_backward,
    cpu_log_softmax_forward: Cpu LogSoftmax run_forward,
    cpu_log_softmax_backward: Cpu LogSoftmax run_backward,
    cpu_softmin_forward: Cpu Softmin run_forward,
    cpu_softmin_backward: Cpu Softmin run_backward,
}

#[test]
fn special_row_semantics_are_exact() {
    // Spelled out, besides the reference comparison above.
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let x = [
        1.0, nan, 2.0, 1.0, inf, 2.0, -inf, -inf, -inf, 0.0, -inf, 0.0, 5.0, -inf, -inf,
    ];
    let shape = [5, 3];
    let check = |y: &[f32], safe: bool, log: bool| {
        assert!(
            y[..6].iter().all(|v| v.is_nan()),
            "NaN and +inf rows: {y:?}"
        );
        if safe {
            let z = if log { f32::NEG_INFINITY } else { 0.0 };
            assert!(
                y[6..9].iter().all(|&v| v == z),
                "a fully masked safe row: {y:?}"
            );
        } else {
            assert!(
                y[6..9].iter().all(|v| v.is_nan()),
                "a fully masked row: {y:?}"
            );
        }
        if log {
            assert_eq!(y[10], f32::NEG_INFINITY);
            assert_eq!(&y[12..], &[0.0, f32::NEG_INFINITY, f32::NEG_INFINITY]);
        } else {
            assert_eq!((y[9], y[10], y[11]), (0.5, 0.0, 0.5));
            assert_eq!(&y[12..], &[1.0, 0.0, 0.0]);
        }
    };
    for safe in [false, true] {
        for kind in [SoftmaxKind::Softmax, SoftmaxKind::LogSoftmax] {
            let sm = Softmax::new(kind).with_safe(safe);
            let log = kind == SoftmaxKind::LogSoftmax;
            check(&cpu::softmax(&sm, &x, &shape, 1).unwrap(), safe, log);
            if let Some(ctx) = common::gpu() {
                check(&ctx.softmax(&sm, &x, &shape, 1).unwrap(), safe, log);
            }
        }
    }
    // A row of length 1 gives 1 (log: 0).
    let ones = cpu::softmax(&Softmax::softmax(), &[-5.0, 7.0, 3e38], &[3, 1], 1).unwrap();
    assert_eq!(ones, vec![1.0; 3]);
    if let Some(ctx) = common::gpu() {
        assert_eq!(
            ctx.softmax(&Softmax::softmax(), &[-5.0, 7.0, 3e38], &[3, 1], 1)
                .unwrap(),
            vec![1.0; 3]
        );
        assert_eq!(
            ctx.softmax(&Softmax::log_softmax(), &[-5.0, 7.0, 3e38], &[3, 1], 1)
                .unwrap(),
            vec![0.0; 3]
        );
    }
}

/// The rows kernel (contiguous rows that are not split) both ways on one adapter: with a subgroup
/// per row where the adapter has `SUBGROUP`, and with its workgroup-memory fallback, forced by
/// `Context::set_subgroups(false)`. Row lengths around subgroup sizes, rows held in private memory
/// and rows too long for it, special rows, more than 65,535 rows; forward and backward.
#[test]
fn gpu_rows_kernel_with_and_without_subgroups() {
    let Some(_) = common::gpu() else { return };
    let ctx = Context::new().unwrap();
    let has_subgroups = ctx.features().contains(wgpu::Features::SUBGROUP);
    assert_eq!(ctx.subgroups(), has_subgroups);
    ctx.set_subgroups(false);
    assert!(
        !ctx.subgroups(),
        "set_subgroups(false) must force the fallback"
    );
    if !has_subgroups {
        eprintln!("the adapter has no SUBGROUP: only the workgroup-memory fallback is tested");
    }
    let mut cases = Vec::new();
    // Lengths that are multiples of 4 (4, 12, 32, 36, 256, 1000, 4096) take the vec4 kernels.
    for (k, &len) in [
        1usize, 2, 4, 7, 12, 31, 32, 33, 36, 255, 256, 1000, 4096, 4097,
    ]
    .iter()
    .enumerate()
    {
        let rows = (40_000 / len).clamp(3, 64);
        cases.push(case(
            format!("{rows}x{len}"),
            logits(700 + k as u64, rows * len),
            &[rows, len],
            1,
        ));
    }
    cases.push(case("70000x3", logits(720, 70_000 * 3), &[70_000, 3], 1));
    cases.push(case("66000x33", logits(721, 66_000 * 33), &[66_000, 33], 1));
    cases.extend(special_cases().into_iter().filter(|c| c.axis == 1));
    for use_subgroups in [true, false] {
        if use_subgroups && !has_subgroups {
            continue;
        }
        ctx.set_subgroups(use_subgroups);
        assert_eq!(ctx.subgroups(), use_subgroups);
        let path = if use_subgroups {
            "subgroup"
        } else {
            "workgroup memory"
        };
        for kind in SoftmaxKind::ALL {
            for safe in [false, true] {
                let sm = Softmax::new(kind).with_safe(safe);
                let tag = format!(
                    "rows kernel ({path}), {}{}",
                    kind.name(),
                    if safe { ", safe" } else { "" }
                );
                let mut worst = Worst::default();
                let mut count = 0;
                for c in &cases {
                    let got = ctx.softmax(&sm, &c.x, &c.shape, c.axis).unwrap();
                    let what = format!("{tag} forward, {}", c.name);
                    worst.merge(judge_forward(&what, &sm, &c.x, &c.shape, c.axis, &got));
                    let y: Vec<f32> = reference_forward_exact(&sm, &c.x, &c.shape, c.axis)
                        .unwrap()
                        .iter()
                        .map(|&v| v as f32)
                        .collect();
                    let dy = grads(c.x.len() as u64 + 3, c.x.len());
                    let got = ctx
                        .softmax_backward(&sm, &y, &dy, &c.shape, c.axis)
                        .unwrap();
                    let what = format!("{tag} backward, {}", c.name);
                    judge_backward(&what, &sm, &y, &dy, &c.shape, c.axis, &got);
                    // Gradients up to f32::MAX (log_softmax: Σ dy beyond f32's range).
                    let dy = huge_grads(c.x.len() as u64, &c.shape, c.axis);
                    let got = ctx
                        .softmax_backward(&sm, &y, &dy, &c.shape, c.axis)
                        .unwrap();
                    let what = format!("{tag} backward, dy up to f32::MAX, {}", c.name);
                    judge_backward(&what, &sm, &y, &dy, &c.shape, c.axis, &got);
                    count += got.len();
                }
                report(&format!("{tag} forward"), &worst, count);
            }
        }
    }
}

#[test]
fn gpu_splits_tensors_above_the_binding_limit() {
    let Some(_) = common::gpu() else { return };
    let ctx = Context::new().unwrap();
    ctx.set_max_binding_bytes(4096);
    let cases = [
        case(
            "3x5000 (rows split across bindings)",
            logits(400, 15_000),
            &[3, 5000],
            1,
        ),
        case(
            "[2, 300, 8] axis 1 (columns split)",
            logits(401, 4800),
            &[2, 300, 8],
            1,
        ),
        case(
            "37x300 (several rows per binding)",
            logits(402, 11_100),
            &[37, 300],
            1,
        ),
        case("[5, 7, 9] axis 0", logits(403, 315), &[5, 7, 9], 0),
    ];
    for kind in SoftmaxKind::ALL {
        let sm = Softmax::new(kind);
        for c in &cases {
            let what = format!("gpu {} forward, cap 4096 B, {}", kind.name(), c.name);
            let y = ctx.softmax(&sm, &c.x, &c.shape, c.axis).unwrap();
            judge_forward(&what, &sm, &c.x, &c.shape, c.axis, &y);
            let dy = grads(7, c.x.len());
            let dx = ctx
                .softmax_backward(&sm, &y, &dy, &c.shape, c.axis)
                .unwrap();
            judge_backward(
                &what.replace("forward", "backward"),
                &sm,
                &y,
                &dy,
                &c.shape,
                c.axis,
                &dx,
            );
        }
    }
}

#[test]
fn gpu_records_into_a_caller_encoder_at_offsets() {
    let Some(ctx) = common::gpu() else { return };
    let shape = [9, 130];
    let n = 9 * 130;
    let x = logits(500, n);
    let mut padded = vec![7.0f32; 3];
    padded.extend(&x);
    padded.extend([7.0; 5]);
    let xb = ctx.upload(&padded).unwrap();
    let yb = ctx.create_tensor::<f32>(n + 10).unwrap();
    let sm = Softmax::log_softmax().with_temperature(1.5);
    let mut enc = ctx
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    ctx.record_softmax(
        &mut enc,
        &sm,
        Tensor::new(&xb, 12, n),
        Tensor::new(&yb, 20, n),
        &shape,
        1,
    )
    .unwrap();
    ctx.queue().submit([enc.finish()]);
    let y = ctx.read::<f32>(&yb, 20, n).unwrap();
    judge_forward("gpu log_softmax at offsets", &sm, &x, &shape, 1, &y);

    let dy = grads(3, n);
    let dyb = ctx.upload(&dy).unwrap();
    let dxb = ctx.create_tensor::<f32>(n + 3).unwrap();
    let mut enc = ctx
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    ctx.record_softmax_backward(
        &mut enc,
        &sm,
        Tensor::new(&yb, 20, n),
        Tensor::new(&dyb, 0, n),
        Tensor::new(&dxb, 4, n),
        &shape,
        1,
    )
    .unwrap();
    ctx.queue().submit([enc.finish()]);
    let dx = ctx.read::<f32>(&dxb, 4, n).unwrap();
    judge_backward(
        "gpu log_softmax backward at offsets",
        &sm,
        &y,
        &dy,
        &shape,
        1,
        &dx,
    );
}

/// The vec4 kernels (f32 rows whose length is a multiple of 4, every tensor at a 16-byte aligned
/// offset) against the scalar ones: each tensor at aligned and unaligned byte offsets, row lengths
/// with and without a multiple of 4, rows held in private memory, longer rows and split rows;
/// forward and backward, both through the rows kernel's subgroup path and its fallback.
#[test]
fn gpu_vec4_rows_at_aligned_and_unaligned_offsets() {
    let Some(_) = common::gpu() else { return };
    let ctx = Context::new().unwrap();
    let has_subgroups = ctx.features().contains(wgpu::Features::SUBGROUP);
    let shapes: [[usize; 2]; 5] = [[9, 128], [5, 1000], [3, 130], [4, 4100], [2, 20_000]];
    // Byte offsets of (x or y, dy, output): all aligned, then one tensor off by 4 or 8 bytes.
    let offsets = [
        (16u64, 32u64, 48u64),
        (4, 32, 16),
        (16, 8, 32),
        (32, 16, 20),
    ];
    let pad = 16usize;
    for use_subgroups in [true, false] {
        if use_subgroups && !has_subgroups {
            continue;
        }
        ctx.set_subgroups(use_subgroups);
        for kind in [SoftmaxKind::Softmax, SoftmaxKind::LogSoftmax] {
            let sm = Softmax::new(kind);
            for (k, shape) in shapes.iter().enumerate() {
                let n = shape[0] * shape[1];
                let x = logits(900 + k as u64, n);
                for &(ox, og, oo) in &offsets {
                    let tag = format!(
                        "{} {shape:?}, offsets {ox}/{og}/{oo} B, subgroups {use_subgroups}",
                        kind.name()
                    );
                    let at = |v: &[f32], off: u64| {
                        let mut b = vec![3.0f32; off as usize / 4];
                        b.extend(v);
                        b.extend(vec![3.0f32; pad]);
                        ctx.upload(&b).unwrap()
                    };
                    let xb = at(&x, ox);
                    let yb = ctx.create_tensor::<f32>(n + pad).unwrap();
                    let mut enc = ctx
                        .device()
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
                    ctx.record_softmax(
                        &mut enc,
                        &sm,
                        Tensor::new(&xb, ox, n),
                        Tensor::new(&yb, oo, n),
                        shape,
                        1,
                    )
                    .unwrap();
                    ctx.queue().submit([enc.finish()]);
                    let y = ctx.read::<f32>(&yb, oo, n).unwrap();
                    judge_forward(&format!("{tag} forward"), &sm, &x, shape, 1, &y);

                    let y: Vec<f32> = reference_forward_exact(&sm, &x, shape, 1)
                        .unwrap()
                        .iter()
                        .map(|&v| v as f32)
                        .collect();
                    let dy = grads(950 + k as u64, n);
                    let ybuf = at(&y, ox);
                    let dyb = at(&dy, og);
                    let dxb = ctx.create_tensor::<f32>(n + pad).unwrap();
                    let mut enc = ctx
                        .device()
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
                    ctx.record_softmax_backward(
                        &mut enc,
                        &sm,
                        Tensor::new(&ybuf, ox, n),
                        Tensor::new(&dyb, og, n),
                        Tensor::new(&dxb, oo, n),
                        shape,
                        1,
                    )
                    .unwrap();
                    ctx.queue().submit([enc.finish()]);
                    let dx = ctx.read::<f32>(&dxb, oo, n).unwrap();
                    judge_backward(&format!("{tag} backward"), &sm, &y, &dy, shape, 1, &dx);
                }
            }
        }
    }
}

#[test]
fn errors_are_typed() {
    let sm = Softmax::softmax();
    let x = [1.0f32; 6];
    let bad_param = |r: Result<Vec<f32>, Error>| matches!(r, Err(Error::BadParameter { .. }));
    let shape_err = |r: Result<Vec<f32>, Error>| matches!(r, Err(Error::ShapeMismatch(_)));
    assert!(
        bad_param(cpu::softmax(&sm, &x, &[2, 3], 2)),
        "axis out of range"
    );
    assert!(
        shape_err(cpu::softmax(&sm, &x, &[2, 4], 1)),
        "shape mismatch"
    );
    assert!(
        bad_param(cpu::softmax(&sm.with_temperature(0.0), &x, &[2, 3], 1)),
        "zero temperature"
    );
    assert!(
        bad_param(cpu::softmax(&sm.with_temperature(f32::NAN), &x, &[2, 3], 1)),
        "NaN temperature"
    );
    assert!(
        shape_err(cpu::softmax_backward(&sm, &x, &x[..5], &[2, 3], 1)),
        "dy length"
    );
    assert_eq!(
        cpu::softmax::<f32>(&sm, &[], &[0, 3], 1).unwrap(),
        Vec::<f32>::new()
    );
    assert_eq!(
        cpu::softmax_backward::<f32>(&sm, &[], &[], &[4, 0], 0).unwrap(),
        Vec::<f32>::new()
    );
    let Some(ctx) = common::gpu() else { return };
    assert!(
        bad_param(ctx.softmax(&sm, &x, &[6], 1)),
        "axis out of range"
    );
    assert!(
        bad_param(ctx.softmax(&sm, &x, &[], 0)),
        "a 0-D shape has no axis"
    );
    assert!(shape_err(ctx.softmax(&sm, &x, &[7], 0)), "shape mismatch");
    assert!(
        bad_param(ctx.softmax(&sm.with_temperature(0.0), &x, &[6], 0)),
        "zero temperature"
    );
    assert!(
        bad_param(ctx.softmax(&sm.with_temperature(-2.0), &x, &[6], 0)),
        "negative temperature"
    );
    assert!(
        shape_err(ctx.softmax_backward(&sm, &x, &x[..5], &[6], 0)),
        "dy length"
    );
    assert_eq!(
        ctx.softmax::<f32>(&sm, &[], &[3, 0, 2], 2).unwrap(),
        Vec::<f32>::new()
    );
    assert_eq!(
        ctx.softmax_backward::<f32>(&sm, &[], &[], &[0], 0).unwrap(),
        Vec::<f32>::new()
    );

    let xb = ctx.upload(&x).unwrap();
    let yb = ctx.create_tensor::<f32>(6).unwrap();
    let small = ctx.create_tensor::<f32>(4).unwrap();
    let mut enc = ctx
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    let r = ctx.record_softmax(
        &mut enc,
        &sm,
        Tensor::new(&xb, 0, 6),
        Tensor::new(&xb, 0, 6),
        &[6],
        0,
    );
    assert!(matches!(r, Err(Error::Aliasing(_))), "{r:?}");
    let r = ctx.record_softmax(
        &mut enc,
        &sm,
        Tensor::new(&xb, 0, 6),
        Tensor::new(&small, 0, 6),
        &[6],
        0,
    );
    assert!(matches!(r, Err(Error::BufferTooSmall { .. })), "{r:?}");
    let r = ctx.record_softmax(
        &mut enc,
        &sm,
        Tensor::new(&xb, 2, 6),
        Tensor::new(&yb, 0, 6),
        &[6],
        0,
    );
    assert!(matches!(r, Err(Error::Misaligned { .. })), "{r:?}");
    let r = ctx.record_softmax(
        &mut enc,
        &sm,
        Tensor::new(&xb, 0, 6),
        Tensor::new(&yb, 0, 5),
        &[6],
        0,
    );
    assert!(matches!(r, Err(Error::ShapeMismatch(_))), "{r:?}");
    let r = ctx.record_softmax_backward(
        &mut enc,
        &sm,
        Tensor::new(&xb, 0, 6),
        Tensor::new(&yb, 0, 6),
        Tensor::new(&yb, 0, 6),
        &[6],
        0,
    );
    assert!(matches!(r, Err(Error::Aliasing(_))), "{r:?}");
    let e = ctx.softmax(&sm, &x, &[6], 3).unwrap_err().to_string();
    assert!(e.contains("axis 3") && e.contains("out of range"), "{e}");
}

/// Axes counted from the end (PyTorch's `dim=-1`) name the same axis as their index, on every
/// path; out of range either way is a `BadParameter`.
#[test]
fn signed_axes_are_counted_from_the_end() {
    let shape = [3usize, 4, 5];
    let x: Vec<f32> = (0..60)
        .map(|i| ((i * 37) % 17) as f32 * 0.25 - 2.0)
        .collect();
    let sm = Softmax::log_softmax();
    let ctx = common::gpu();
    for (signed, index) in [(-1i32, 2usize), (-2, 1), (-3, 0)] {
        assert_eq!(
            cpu::softmax(&sm, &x, &shape, signed).unwrap(),
            cpu::softmax(&sm, &x, &shape, index).unwrap()
        );
        assert_eq!(
            reference_forward_exact(&sm, &x, &shape, signed).unwrap(),
            reference_forward_exact(&sm, &x, &shape, index).unwrap()
        );
        if let Some(ctx) = ctx {
            let y = ctx.softmax(&sm, &x, &shape, signed).unwrap();
            assert_eq!(y, ctx.softmax(&sm, &x, &shape, index).unwrap());
            let dy = vec![0.5f32; 60];
            assert_eq!(
                ctx.softmax_backward(&sm, &y, &dy, &shape, signed).unwrap(),
                ctx.softmax_backward(&sm, &y, &dy, &shape, index).unwrap()
            );
        }
    }
    for bad in [-4i32, 3] {
        assert!(matches!(
            cpu::softmax(&sm, &x, &shape, bad),
            Err(Error::BadParameter { .. })
        ));
        if let Some(ctx) = ctx {
            assert!(matches!(
                ctx.softmax(&sm, &x, &shape, bad),
                Err(Error::BadParameter { .. })
            ));
        }
    }
}
