//! Shared test support: the one GPU-acquisition helper, the input sets (seeded symmetric random
//! values and the fixed hard-input list) and the ULP comparison that reports the worst offenders.
#![allow(dead_code)]

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::reference;
use wgpu_activations::ulp::ulp_error;
use wgpu_activations::{Activation, Context, Mode, OpKind, Saved};

/// The GPU context for tests. Honours `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`; prints the adapter
/// once. Without an adapter the test fails, listing the adapters, unless the person running the
/// tests opts out with `WGPU_ACTIVATIONS_SKIP_GPU=1` (then GPU tests print that they skipped).
pub fn gpu() -> Option<&'static Context> {
    static CTX: OnceLock<Option<Context>> = OnceLock::new();
    CTX.get_or_init(|| {
        if std::env::var("WGPU_ACTIVATIONS_SKIP_GPU").is_ok_and(|v| v == "1") {
            eprintln!("GPU tests SKIPPED: WGPU_ACTIVATIONS_SKIP_GPU=1");
            return None;
        }
        match Context::new() {
            Ok(ctx) => {
                let i = ctx.adapter_info().expect("context picked the adapter");
                eprintln!("GPU adapter: {} ({:?}, {:?}, driver {} {})", i.name, i.backend, i.device_type, i.driver, i.driver_info);
                Some(ctx)
            }
            Err(e) => panic!("no GPU for the GPU tests: {e}\n(set WGPU_ACTIVATIONS_SKIP_GPU=1 to skip them explicitly)"),
        }
    })
    .as_ref()
}

/// Values every op is tested on: signed zeros, subnormals, tiny values, the usual kinks, the
/// ranges where exp, tanh and erfc overflow or underflow, huge values, infinities and NaN.
pub fn hard_inputs() -> Vec<f32> {
    let mags: [f32; 40] = [
        0.0, 1.4e-45, 1e-40, 1.175_494_4e-38, 1e-30, 1e-10, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.25, 0.5, 0.75,
        1.0, 1.192_379_9, 1.278_464_5, 1.5, 2.0, 3.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 25.0, 30.0, 43.0,
        44.0, 45.0, 50.0, 88.0, 88.7, 89.0, 100.0, 1e4, 2e7, 1e30, f32::MAX,
    ];
    let mut v = Vec::new();
    for m in mags {
        v.push(m);
        v.push(-m);
    }
    v.extend([0.751_791_5, 0.752_458_7, 0.751_156_6, 104.0, -104.0, 150.0, -150.0]);
    v.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
    v
}

/// The kinks of `act`'s default parameters, each with its neighbours one ULP away.
pub fn kink_inputs(act: &Activation) -> Vec<f32> {
    let p = act.params();
    let kinks: Vec<f32> = match act.op() {
        OpKind::Relu6 => vec![0.0, 6.0],
        OpKind::HardSigmoid | OpKind::HardSwish => vec![-3.0, 3.0],
        OpKind::HardTanh => vec![p[0], p[1]],
        OpKind::HardShrink | OpKind::SoftShrink => vec![-p[0], p[0]],
        OpKind::Threshold => vec![p[0]],
        OpKind::Softplus => vec![p[1] / p[0]],
        _ => vec![0.0],
    };
    let mut v = Vec::new();
    for k in kinks {
        v.extend([k, k.next_up(), k.next_down()]);
    }
    v
}

/// `n` seeded values over symmetric ranges: uniform in ±1, ±10 and ±100, and log-uniform
/// magnitudes across the whole f32 range with random signs.
pub fn random_inputs(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| match i % 4 {
            0 => rng.gen_range(-1.0f32..1.0),
            1 => rng.gen_range(-10.0f32..10.0),
            2 => rng.gen_range(-100.0f32..100.0),
            _ => {
                let e: f32 = rng.gen_range(-149.0f32..128.0);
                let m = 2f32.powf(e).min(f32::MAX);
                if rng.gen() { m } else { -m }
            }
        })
        .collect()
}

/// The full input set for `act`: hard values, kinks and seeded random values.
pub fn inputs(act: &Activation, n_random: usize) -> Vec<f32> {
    let mut v = hard_inputs();
    v.extend(kink_inputs(act));
    v.extend(random_inputs(act.op() as u64 * 7919 + 1, n_random));
    v
}

/// Upstream gradients for backward tests: seeded, symmetric, with the hard values ±0, ±inf, NaN
/// at the front.
pub fn gradients(n: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut v: Vec<f32> = (0..n).map(|_| rng.gen_range(-4.0f32..4.0)).collect();
    // The hard gradients sit at the end, where the random inputs are.
    let special = [0.0, -0.0, 1.0, -1.0, 1e-30, 1e30];
    for (k, s) in special.iter().enumerate() {
        if n > k + 1 {
            v[n - 1 - k] = *s;
        }
    }
    v
}

/// The saved tensor a backward test feeds in: `x`, or `y` rounded from the exact forward value.
pub fn saved_tensor(act: &Activation, x: &[f32]) -> Vec<f32> {
    match act.op().spec().saved {
        Saved::Input => x.to_vec(),
        Saved::Output => reference::forward(act, x),
    }
}

/// The bound in ULPs a mode is held to.
pub fn bound(act: &Activation, mode: Mode) -> f64 {
    match mode {
        Mode::Forward if act.op().spec().piecewise_linear => 0.5,
        Mode::Forward => 4.0,
        _ => 8.0,
    }
}

/// Check `got` against the exact values; within 0.05 of a derivative root (derivative and
/// backward modes) an absolute error of `8·2^-24` (times |dy|) is accepted instead. Panics with
/// the worst offenders.
pub fn check(what: &str, act: &Activation, mode: Mode, x: &[f32], dy: Option<&[f32]>, got: &[f32]) {
    assert_eq!(got.len(), x.len(), "{what}: output length");
    let limit = bound(act, mode);
    let roots = act.op().spec().derivative_roots;
    let mut bad: Vec<(f64, usize, f64)> = Vec::new();
    let mut worst = 0.0f64;
    for i in 0..x.len() {
        let p = reference::params_at(act, i);
        let exact = match mode {
            Mode::Forward => reference::forward_exact(act.op(), p, x[i]),
            Mode::Derivative => reference::derivative_exact(act.op(), p, x[i]),
            Mode::Backward => dy.expect("backward needs dy")[i] as f64 * reference::backward_factor_exact(act.op(), p, x[i]),
        };
        let err = ulp_error(got[i], exact);
        let near_root = mode != Mode::Forward
            && act.op().spec().saved == Saved::Input
            && roots.iter().any(|r| (x[i] as f64 - r).abs() < 0.05);
        let scale = dy.map_or(1.0, |d| (d[i] as f64).abs());
        let ok = err <= limit || (near_root && (got[i] as f64 - exact).abs() <= 8.0 * 2f64.powi(-24) * scale);
        if err.is_finite() {
            worst = worst.max(if near_root { err.min(limit) } else { err });
        }
        if !ok {
            bad.push((err, i, exact));
        }
    }
    if !bad.is_empty() {
        bad.sort_by(|a, b| b.0.total_cmp(&a.0));
        let lines: Vec<String> = bad
            .iter()
            .take(12)
            .map(|(err, i, exact)| {
                format!(
                    "  [{i}] x = {:e} ({:#010x}){} got {:e} want {:e}: {err:.2} ULP",
                    x[*i],
                    x[*i].to_bits(),
                    dy.map_or(String::new(), |d| format!(" dy = {:e}", d[*i])),
                    got[*i],
                    exact
                )
            })
            .collect();
        panic!("{what}: {} of {} values above {limit} ULP; worst:\n{}", bad.len(), x.len(), lines.join("\n"));
    }
    eprintln!("{what}: max {worst:.3} ULP over {} values", x.len());
}
