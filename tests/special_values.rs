//! IEEE special values, bit for bit on all three paths (the GPU kernels, the fast CPU path and
//! the exact reference), f32 and f16:
//!
//! - a zero forward result carries the sign of the exact value: `x·Φ(x)` and its kin underflow to
//!   −0 at large negative `x` (and give −0 at −0), which the ULP metric cannot see;
//! - the backward with an infinite `dy` is the IEEE product `dy·f'(s)`, with `f'(±∞)` the limit of
//!   `f'`: ±∞ where `f'(s)` is not zero, NaN where it is (see `reference::backward_exact`).

mod common;

use wgpu_activations::half::f16;
use wgpu_activations::harness::{hard_inputs, random_inputs};
use wgpu_activations::{cpu, reference, Activation, OpKind, Saved};

/// The ops whose forward is `x` times a non-negative factor (or `x/(1 + |x|)`): the sign of the
/// result is the sign of `x`, zeros included.
const SIGN_OF_X: [OpKind; 7] = [
    OpKind::Gelu,
    OpKind::GeluTanh,
    OpKind::Silu,
    OpKind::Swish,
    OpKind::Mish,
    OpKind::QuickGelu,
    OpKind::Softsign,
];

/// Inputs where those ops' results underflow: signed zeros, subnormals, every power of two from
/// −2^127 to −2^-149, a dense sweep of [−200, −5], the hard values and seeded random ones.
fn zero_inputs() -> Vec<f32> {
    let mut v = vec![0.0f32, -0.0, f32::NEG_INFINITY, -f32::MAX];
    v.extend((-149..=127).map(|e| -(2f32.powi(e))));
    v.extend((0..4000).map(|i| -5.0 - i as f32 * 0.04875));
    v.extend(hard_inputs());
    v.extend(random_inputs(12, 1 << 14));
    v
}

fn sign(v: f64) -> &'static str {
    if v.is_sign_negative() {
        "-"
    } else {
        "+"
    }
}

/// Every zero result of `got` has the sign of the exact value.
fn check_zero_signs(what: &str, op: OpKind, x: &[f32], got: &[f64]) {
    let act = Activation::new(op);
    let mut bad = Vec::new();
    for (i, (&xv, &g)) in x.iter().zip(got).enumerate() {
        let exact = reference::forward_exact(op, reference::params_at(&act, i), xv);
        if g == 0.0 && !exact.is_nan() && g.is_sign_negative() != exact.is_sign_negative() {
            bad.push(format!("x = {xv:e}: got {}0, exact {exact:e}", sign(g)));
        }
    }
    assert!(
        bad.is_empty(),
        "{what} {}: {} zero results with the wrong sign, e.g.\n{}",
        op.name(),
        bad.len(),
        bad[..bad.len().min(8)].join("\n")
    );
}

#[test]
fn zero_results_carry_the_exact_sign_f32() {
    let x = zero_inputs();
    let gpu = common::gpu();
    for op in SIGN_OF_X {
        let act = Activation::new(op);
        let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
        check_zero_signs("cpu", op, &x, &widen(cpu::forward(&act, &x).unwrap()));
        check_zero_signs("reference", op, &x, &widen(reference::forward(&act, &x)));
        if let Some(ctx) = gpu {
            check_zero_signs("gpu", op, &x, &widen(ctx.forward(&act, &x).unwrap()));
        }
    }
}

#[test]
fn zero_results_carry_the_exact_sign_f16() {
    let x: Vec<f16> = zero_inputs().into_iter().map(f16::from_f32).collect();
    let xf: Vec<f32> = x.iter().map(|h| h.to_f32()).collect();
    let gpu = common::gpu();
    for op in SIGN_OF_X {
        let act = Activation::new(op);
        let widen = |v: Vec<f16>| v.into_iter().map(f16::to_f64).collect::<Vec<_>>();
        check_zero_signs("cpu f16", op, &xf, &widen(cpu::forward(&act, &x).unwrap()));
        // The reference rounded as the kernels round: to f32, then once to f16.
        let r: Vec<f64> = reference::forward(&act, &xf)
            .into_iter()
            .map(|v| f16::from_f32(v).to_f64())
            .collect();
        check_zero_signs("reference f16", op, &xf, &r);
        if let Some(ctx) = gpu {
            check_zero_signs("gpu f16", op, &xf, &widen(ctx.forward(&act, &x).unwrap()));
        }
    }
}

/// The activations of the infinite-dy test: every op with its defaults and a few other
/// parameter values that change a limit (celu and elu with a negative alpha, swish with a
/// negative beta, softplus with a small beta).
fn activations() -> Vec<Activation> {
    let mut acts: Vec<Activation> = OpKind::ALL.iter().map(|&op| Activation::new(op)).collect();
    for (name, settings) in [
        ("celu", [("alpha", -0.5)]),
        ("elu", [("alpha", -2.0)]),
        ("swish", [("beta", -1.0)]),
        ("softplus", [("beta", 0.25)]),
        ("leaky_relu", [("negative_slope", 0.0)]),
    ] {
        let settings: Vec<(String, f32)> =
            settings.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        acts.push(Activation::parse(name, &settings).unwrap());
    }
    acts.push(Activation::new(OpKind::Rrelu).training(3));
    acts
}

/// (saved, dy, x) triples: x ∈ {±∞} and a few finite values where f' is a normal number or 0,
/// each with dy = ±∞; the saved tensor is x, or y = f(x) where the backward reads y.
fn infinite_dy_cases(act: &Activation) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let xs = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        0.0,
        -0.0,
    ];
    let mut x = Vec::new();
    let mut dy = Vec::new();
    for v in xs {
        for d in [f32::INFINITY, f32::NEG_INFINITY] {
            x.push(v);
            dy.push(d);
        }
    }
    let s = match act.op().spec().saved {
        Saved::Input => x.clone(),
        Saved::Output => reference::forward(act, &x),
    };
    (s, dy, x)
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn describe(act: &Activation) -> String {
    format!(
        "{} {:?}{}",
        act.op().name(),
        &act.params()[..act.op().spec().params.len()],
        if act.seed().is_some() {
            " training"
        } else {
            ""
        }
    )
}

#[test]
fn backward_with_infinite_dy_is_the_ieee_product_f32() {
    let gpu = common::gpu();
    let mut bad = Vec::new();
    for act in activations() {
        let (s, dy, x) = infinite_dy_cases(&act);
        let want = reference::backward(&act, &s, &dy).unwrap();
        // The rule itself: ±inf, or NaN where the factor (f32) is 0.
        for i in 0..s.len() {
            let f = reference::backward_factor_exact(act.op(), reference::params_at(&act, i), s[i])
                as f32;
            let rule = if f == 0.0 || f.is_nan() {
                f32::NAN
            } else {
                dy[i] * f
            };
            if !same(want[i], rule) {
                bad.push(format!(
                    "{} reference x = {:e} dy = {:e}: {:e}, the rule says {rule:e}",
                    describe(&act),
                    x[i],
                    dy[i],
                    want[i]
                ));
            }
        }
        let mut paths = vec![("cpu", cpu::backward(&act, &s, &dy).unwrap())];
        if let Some(ctx) = gpu {
            paths.push(("gpu", ctx.backward(&act, &s, &dy).unwrap()));
        }
        for (name, got) in paths {
            for i in 0..s.len() {
                if !same(got[i], want[i]) {
                    bad.push(format!(
                        "{} {name} x = {:e} (saved {:e}) dy = {:e}: got {:e}, reference {:e}",
                        describe(&act),
                        x[i],
                        s[i],
                        dy[i],
                        got[i],
                        want[i]
                    ));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn backward_with_infinite_dy_is_the_ieee_product_f16() {
    let gpu = common::gpu();
    let mut bad = Vec::new();
    for act in activations() {
        let (s, dy, x) = infinite_dy_cases(&act);
        let h = |v: &[f32]| v.iter().map(|&a| f16::from_f32(a)).collect::<Vec<_>>();
        let (sh, dyh) = (h(&s), h(&dy));
        let sf: Vec<f32> = sh.iter().map(|v| v.to_f32()).collect();
        let want: Vec<f16> = reference::backward(&act, &sf, &dy)
            .unwrap()
            .into_iter()
            .map(f16::from_f32)
            .collect();
        let mut paths = vec![("cpu", cpu::backward(&act, &sh, &dyh).unwrap())];
        if let Some(ctx) = gpu {
            paths.push(("gpu", ctx.backward(&act, &sh, &dyh).unwrap()));
        }
        for (name, got) in paths {
            for i in 0..s.len() {
                if !(got[i].to_bits() == want[i].to_bits() || (got[i].is_nan() && want[i].is_nan()))
                {
                    bad.push(format!(
                        "{} {name} f16 x = {:e} dy = {:e}: got {:e}, reference {:e}",
                        describe(&act),
                        x[i],
                        dy[i],
                        got[i].to_f32(),
                        want[i].to_f32()
                    ));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} disagreements:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
