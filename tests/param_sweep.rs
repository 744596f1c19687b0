//! Non-default parameters, adversarially: every parameterised op over parameter values across
//! their valid range (tiny, subnormal, zero, negative, huge, kinks made to coincide), on the GPU
//! and the fast CPU path, forward, derivative and backward with wide `dy`, judged against the exact
//! reference with the bounds of `tests/accuracy.rs`.
//!
//! The `sweep` test (ignored; run it with `cargo test --release --test param_sweep -- --ignored
//! --nocapture`) walks a large grid and reports every failing parameter set; the other tests pin
//! a fixed list of parameter sets per op, small enough for CI.

mod common;

use wgpu_activations::harness::{self, judge};
use wgpu_activations::{cpu, Activation, Context, Mode, OpKind};

/// One parameter set: named values, rrelu's training seed, prelu's slopes.
#[derive(Clone, Debug)]
struct Case {
    op: &'static str,
    settings: Vec<(&'static str, f32)>,
    seed: Option<u64>,
    slopes: Option<(Vec<f32>, usize)>,
}

impl Case {
    fn new(op: &'static str, settings: &[(&'static str, f32)]) -> Case {
        Case {
            op,
            settings: settings.to_vec(),
            seed: None,
            slopes: None,
        }
    }
    fn activation(&self) -> Result<Activation, String> {
        let settings: Vec<(String, f32)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let mut a = Activation::parse(self.op, &settings).map_err(|e| e.to_string())?;
        if let Some(seed) = self.seed {
            a = a.training(seed);
        }
        if let Some((s, inner)) = &self.slopes {
            a = a.with_slopes(s.clone(), *inner);
        }
        a.validate().map_err(|e| e.to_string())?;
        Ok(a)
    }
    fn label(&self) -> String {
        let mut s = format!("{} {:?}", self.op, self.settings);
        if let Some(seed) = self.seed {
            s += &format!(" training({seed})");
        }
        if let Some((sl, inner)) = &self.slopes {
            s += &format!(" slopes {sl:?} inner {inner}");
        }
        s
    }
}

/// Inputs for one parameter set: the usual hard values, kinks and random values, plus values
/// placed relative to the parameters (hard values and random values divided by each non-zero
/// parameter, so `β·x` or `x/α` sweeps its own hard range; each parameter and its neighbours;
/// the moved derivative roots of swish).
fn inputs(act: &Activation, n_random: usize) -> Vec<f32> {
    let mut x = harness::inputs(act, n_random);
    let n = act.op().spec().params.len();
    let hard = harness::hard_inputs();
    let rnd = harness::random_inputs(act.op() as u64 * 31 + 7, n_random / 4);
    let mut scales: Vec<f32> = act.params()[..n].to_vec();
    if act.op() == OpKind::Prelu {
        scales.extend(act.slopes().iter().copied());
    }
    for p in scales {
        for v in [p, -p, 2.0 * p, 0.5 * p] {
            if v.is_finite() {
                x.extend([v, v.next_up(), v.next_down()]);
            }
        }
        if p != 0.0 && p.is_finite() {
            x.extend(hard.iter().map(|h| h / p));
            x.extend(rnd.iter().map(|r| r / p));
        }
    }
    if act.op() == OpKind::Swish {
        // swish'(x) = silu'(βx) vanishes at βx ≈ -1.2785.
        let r = (-1.278_464_5f32) / act.params()[0];
        let mut v = r;
        for _ in 0..8 {
            x.push(v);
            v = v.next_up();
        }
    }
    // prelu with C slopes of `inner` elements each needs a multiple of C·inner elements.
    let block = act.slopes().len() * act.inner();
    if act.op() == OpKind::Prelu && block > 1 {
        let mut i = 0;
        while !x.len().is_multiple_of(block) {
            x.push(x[i]);
            i += 1;
        }
    }
    x
}

/// The worst error and the failures of one run.
struct Outcome {
    worst: f64,
    failures: Vec<String>,
    count: usize,
}

fn judge_all(act: &Activation, mode: Mode, x: &[f32], dy: Option<&[f32]>, got: &[f32]) -> Outcome {
    let mut worst = 0.0f64;
    let mut bad: Vec<(f64, String)> = Vec::new();
    let mut count = 0;
    for i in 0..x.len() {
        let v = judge(act, mode, i, x[i], dy.map(|d| d[i]), got[i]);
        if !v.root_allowance && v.ulps.is_finite() {
            worst = worst.max(v.ulps);
        }
        if !v.ok {
            count += 1;
            bad.push((
                if v.ulps.is_nan() {
                    f64::INFINITY
                } else {
                    v.ulps
                },
                format!(
                    "x = {:e}{} got {:e} want {:e}: {:.2} ULP",
                    x[i],
                    dy.map_or(String::new(), |d| format!(" dy = {:e}", d[i])),
                    got[i],
                    v.exact,
                    v.ulps
                ),
            ));
        }
    }
    if count > 0 {
        worst = f64::INFINITY.min(bad.iter().map(|b| b.0).fold(worst, f64::max));
    }
    bad.sort_by(|a, b| b.0.total_cmp(&a.0));
    Outcome {
        worst,
        failures: bad.into_iter().take(4).map(|b| b.1).collect(),
        count,
    }
}

/// Forward, derivative and backward of `act` on the CPU path and (with `ctx`) the GPU:
/// `(device, mode, outcome)` for each.
fn run_case(
    ctx: Option<&Context>,
    act: &Activation,
    n_random: usize,
) -> Vec<(&'static str, Mode, Outcome)> {
    let x = inputs(act, n_random);
    let s = common::saved_tensor(act, &x);
    let dy = common::gradients(x.len());
    let mut out = Vec::new();
    let mut one =
        |dev: &'static str, mode: Mode, got: Result<Vec<f32>, wgpu_activations::Error>| {
            let o = match got {
                Ok(got) => match mode {
                    Mode::Backward => judge_all(act, mode, &s, Some(&dy), &got),
                    _ => judge_all(act, mode, &x, None, &got),
                },
                Err(e) => Outcome {
                    worst: f64::INFINITY,
                    failures: vec![format!("error: {e}")],
                    count: 1,
                },
            };
            out.push((dev, mode, o));
        };
    one("cpu", Mode::Forward, cpu::forward(act, &x));
    one("cpu", Mode::Derivative, cpu::derivative(act, &x));
    one("cpu", Mode::Backward, cpu::backward(act, &s, &dy));
    if let Some(ctx) = ctx {
        one("gpu", Mode::Forward, ctx.forward(act, &x));
        one("gpu", Mode::Derivative, ctx.derivative(act, &x));
        one("gpu", Mode::Backward, ctx.backward(act, &s, &dy));
    }
    out
}

/// Run every case and panic listing each failing (case, device, mode) with its worst values;
/// print the worst ULPs per op, device and mode.
fn check_cases(cases: &[Case], n_random: usize) {
    let ctx = common::gpu();
    let mut failures = Vec::new();
    let mut worst: std::collections::BTreeMap<(String, &str, &str), f64> = Default::default();
    for case in cases {
        let act = case
            .activation()
            .unwrap_or_else(|e| panic!("{}: {e}", case.label()));
        for (dev, mode, o) in run_case(ctx, &act, n_random) {
            let w = worst
                .entry((case.op.to_string(), dev, mode.name()))
                .or_insert(0.0);
            *w = w.max(o.worst);
            if o.count > 0 {
                failures.push(format!(
                    "{} {dev} {}: {} values above {} ULP:\n    {}",
                    case.label(),
                    mode.name(),
                    o.count,
                    harness::bound(&act, mode),
                    o.failures.join("\n    ")
                ));
            }
        }
    }
    for ((op, dev, mode), w) in &worst {
        eprintln!("{op} {dev} {mode}: max {w:.3} ULP");
    }
    assert!(
        failures.is_empty(),
        "{} failing runs:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The grid.

/// Magnitudes across the f32 range: zero, subnormals, tiny, ordinary, kinks, huge.
const MAGS: [f32; 18] = [
    0.0,
    1.4e-45,
    1e-40,
    1e-30,
    1e-6,
    0.01,
    0.5,
    1.0,
    1.5,
    2.0,
    3.0,
    10.0,
    20.0,
    88.0,
    1e3,
    1e10,
    1e30,
    f32::MAX,
];

fn signed() -> Vec<f32> {
    let mut v = Vec::new();
    for m in MAGS {
        v.push(m);
        if m != 0.0 {
            v.push(-m);
        }
    }
    v
}

/// Every parameterised op of the registry over the grid: each parameter over `signed()`, pairs of
/// parameters over half of `signed()²` (every other first value, and the diagonal); combinations
/// the op rejects (`lower > upper`, `beta = 0`, ...) are left out. prelu's slopes (one, and one
/// per channel) and rrelu's training draws, which are not scalar parameters, are swept too.
fn grid() -> Vec<Case> {
    let s = signed();
    let mut cases = Vec::new();
    for &op in OpKind::ALL {
        let name = op.name();
        match op.spec().params {
            [] => {}
            [p] => cases.extend(s.iter().map(|&a| Case::new(name, &[(p.name, a)]))),
            [p, q] => {
                for (i, &a) in s.iter().enumerate() {
                    for &b in &s {
                        if i % 2 == 0 || a == b {
                            cases.push(Case::new(name, &[(p.name, a), (q.name, b)]));
                        }
                    }
                }
            }
            more => panic!("{name}: no sweep for {} parameters", more.len()),
        }
    }
    for &a in &s {
        let mut c = Case::new("prelu", &[]);
        c.slopes = Some((vec![a], 1));
        cases.push(c);
    }
    let mut c = Case::new("prelu", &[]);
    c.slopes = Some((s.clone(), 3));
    cases.push(c);
    let training: Vec<Case> = cases
        .iter()
        .filter(|c| c.op == "rrelu")
        .map(|c| Case {
            seed: Some(5),
            ..c.clone()
        })
        .collect();
    cases.extend(training);
    cases.retain(|c| c.activation().is_ok());
    cases
}

/// The whole grid, one op at a time (`SWEEP_OP=name` to pick one), without stopping at the first
/// failure.
#[test]
#[ignore]
fn sweep() {
    let only = std::env::var("SWEEP_OP").ok();
    let n_random: usize = std::env::var("SWEEP_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let ctx = if std::env::var("SWEEP_CPU_ONLY").is_ok() {
        None
    } else {
        common::gpu()
    };
    let mut n_fail = 0;
    let mut worst: std::collections::BTreeMap<(String, &str, &str), f64> = Default::default();
    for case in grid() {
        if only.as_deref().is_some_and(|o| o != case.op) {
            continue;
        }
        let act = case.activation().expect("the grid holds only valid cases");
        for (dev, mode, o) in run_case(ctx, &act, n_random) {
            let w = worst
                .entry((case.op.to_string(), dev, mode.name()))
                .or_insert(0.0);
            *w = w.max(o.worst);
            if o.count > 0 {
                n_fail += 1;
                eprintln!(
                    "FAIL {} {dev} {}: {} values:\n    {}",
                    case.label(),
                    mode.name(),
                    o.count,
                    o.failures.join("\n    ")
                );
            }
        }
    }
    for ((op, dev, mode), w) in &worst {
        eprintln!("WORST {op} {dev} {mode}: {w:.3} ULP");
    }
    assert_eq!(n_fail, 0, "{n_fail} failing runs");
}

// ---------------------------------------------------------------------------------------------
// The fixed parameter sets CI runs: the sweep's failures (before their fixes) and the extremes of
// each parameter's range.

const MAX: f32 = f32::MAX;
/// Random inputs per parameter set (on top of the hard, kink and parameter-relative ones).
const N: usize = 512;

fn one(op: &'static str, name: &'static str, values: &[f32]) -> Vec<Case> {
    values
        .iter()
        .map(|&v| Case::new(op, &[(name, v)]))
        .collect()
}

fn two(op: &'static str, names: [&'static str; 2], values: &[(f32, f32)]) -> Vec<Case> {
    values
        .iter()
        .map(|&(a, b)| Case::new(op, &[(names[0], a), (names[1], b)]))
        .collect()
}

#[test]
fn leaky_relu_slopes() {
    let v = [0.0, -0.5, 1e-40, -1.4e-45, 1e30, MAX, -MAX];
    check_cases(&one("leaky_relu", "negative_slope", &v), N);
}

#[test]
fn rrelu_bounds() {
    // (MAX, MAX) and (-MAX, -MAX): the evaluation slope (lower + upper)/2 overflowed in f32 (NaN
    // at x = 0); (-MAX, MAX) in training: upper - lower overflowed (slopes of inf and NaN).
    let pairs = [
        (0.0, 0.0),
        (-MAX, MAX),
        (MAX, MAX),
        (-MAX, -MAX),
        (1.4e-45, 1e-40),
        (-1.0, 2.0),
    ];
    let mut cases = two("rrelu", ["lower", "upper"], &pairs);
    for (l, u) in [(-MAX, MAX), (1e-40, 1e30), (0.05, 0.5), (-3.0, -1e-30)] {
        let mut c = Case::new("rrelu", &[("lower", l), ("upper", u)]);
        c.seed = Some(11);
        cases.push(c);
    }
    check_cases(&cases, N);
}

#[test]
fn prelu_slopes() {
    let mut cases = Vec::new();
    for s in [0.0, -1.4e-45, 1e30, MAX, -MAX] {
        let mut c = Case::new("prelu", &[]);
        c.slopes = Some((vec![s], 1));
        cases.push(c);
    }
    let mut c = Case::new("prelu", &[]);
    c.slopes = Some((vec![0.0, -2.0, 1e-40, 1e30, -MAX], 3));
    cases.push(c);
    check_cases(&cases, N);
}

#[test]
fn elu_alpha() {
    // GPU backward: a subnormal alpha underflowed in the scaled product, a huge one overflowed
    // it (NaN), and e^x clamped at e^-190 let alpha dy revive a vanished value.
    let v = [0.0, -1.5, 1.4e-45, -1e-40, 1e10, 1e30, -1e30, MAX, -MAX];
    check_cases(&one("elu", "alpha", &v), N);
}

#[test]
fn celu_alpha() {
    // A negative alpha was wrong everywhere (x/alpha > 0 fed to e^x for x <= 0); a huge alpha
    // on the GPU clamped x instead of x/alpha, and lost x/alpha to subnormals.
    let v = [
        -1.0, -0.01, -1e-30, -1.4e-45, 1e-40, 1e10, 1e30, MAX, -MAX, 3.0,
    ];
    check_cases(&one("celu", "alpha", &v), N);
}

#[test]
fn softplus_beta_threshold() {
    // A tiny beta: beta·x was formed from x clamped to ±2^64 (GPU) or ±f32::MAX (both, for
    // x = ±inf), and e^z/beta from a subnormal e^z (GPU); a negative threshold compared the
    // clamped product.
    let pairs = [
        (1.4e-45, 20.0),
        (-1e-40, 20.0),
        (1e-30, 20.0),
        (-1e-30, 0.0),
        (1.0, -1e30),
        (-1.0, 20.0),
        (1e30, 20.0),
        (MAX, 1.0),
        (-MAX, MAX),
        (2.0, 1e-30),
        (0.5, -20.0),
    ];
    check_cases(&two("softplus", ["beta", "threshold"], &pairs), N);
}

#[test]
fn swish_beta() {
    // A tiny beta: x clamped before forming beta·x (x·σ(βx) at x = -inf gave -FLT_MAX/2); a huge
    // one: beta·x overflowed two_prod (GPU NaN).
    let v = [1.4e-45, -1e-40, 1e-30, -1e-30, 1e30, -MAX, MAX, -1.5, 3.0];
    check_cases(&one("swish", "beta", &v), N);
}

#[test]
fn hardtanh_bounds() {
    let pairs = [
        (-MAX, MAX),
        (0.0, 0.0),
        (1.4e-45, 1e-40),
        (-1e30, -1e-30),
        (2.0, 2.0),
    ];
    check_cases(&two("hardtanh", ["min_val", "max_val"], &pairs), N);
}

#[test]
fn shrink_lambda() {
    let v = [0.0, 1.4e-45, 1e-40, 1e30, MAX];
    let mut cases = one("hardshrink", "lambd", &v);
    cases.extend(one("softshrink", "lambd", &v));
    check_cases(&cases, N);
}

#[test]
fn threshold_value() {
    let pairs = [
        (0.0, -1e30),
        (-MAX, MAX),
        (1.4e-45, 1.0),
        (MAX, -1.0),
        (-1e-40, 0.5),
    ];
    check_cases(&two("threshold", ["threshold", "value"], &pairs), N);
}
