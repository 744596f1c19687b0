//! The exact f64 reference (`src/reference.rs`) against 50-digit mpmath values.
//!
//! `tests/fixtures/reference_mpmath.tsv` (written by `scripts/gen_fixtures.py`) holds, for every op
//! with default and a few non-default parameters, the exact forward value, derivative and (sigmoid,
//! tanh) backward factor at hard f32 inputs: signed zeros, subnormals, the edges of the exp range,
//! huge values, the kinks and the derivative roots with their f32 neighbours. Every value must
//! match to a relative error of 1e-13 (an absolute 1e-310 below 1e-300), zeros exactly. One test per
//! op, so one failure does not hide another; each collects all its failures before asserting.
//! Plus hand-checked tests: NaN propagation, the limits at ±inf, the slice functions' errors,
//! prelu's slope gradient and per-channel parameters.

use wgpu_activations::reference::{
    backward, backward_factor_exact, derivative, derivative_exact, forward, forward_exact,
    params_at, prelu_slope_grad,
};
use wgpu_activations::{Activation, Error, OpKind};

const FIXTURES: &str = include_str!("fixtures/reference_mpmath.tsv");

/// Relative tolerance against mpmath.
const REL_TOL: f64 = 1e-13;
/// Below this magnitude the exact value may not be representable in f64: absolute tolerance.
const TINY: f64 = 1e-300;
const ABS_TOL: f64 = 1e-310;

/// Parse a hexadecimal float as Python's `float.hex()` writes it (`-0x1.8000000000000p-3`).
fn parse_hex(s: &str) -> f64 {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let rest = rest
        .strip_prefix("0x")
        .unwrap_or_else(|| panic!("not a hex float: {s}"));
    let (mant, exp) = rest
        .split_once('p')
        .unwrap_or_else(|| panic!("not a hex float: {s}"));
    let exp: i32 = exp.parse().unwrap();
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    let mut m: u64 = u64::from_str_radix(int_part, 16).unwrap();
    for c in frac_part.chars() {
        m = m * 16 + c.to_digit(16).unwrap() as u64;
    }
    // m·2^(exp − 4·len(frac)); m < 2^53 so both steps are exact for the values written here.
    let v = m as f64 * 2f64.powi(exp - 4 * frac_part.len() as i32);
    if neg {
        -v
    } else {
        v
    }
}

struct Row<'a> {
    line: usize,
    op: &'a str,
    params: [f32; 4],
    mode: &'a str,
    x: f32,
    want: &'a str,
}

fn rows() -> impl Iterator<Item = Row<'static>> {
    FIXTURES
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 5, "line {}: {l}", i + 1);
            let mut params = [0f32; 4];
            for (slot, s) in params.iter_mut().zip(cols[1].split(',')) {
                // The script writes the shortest decimal that rounds via f64 to the f32.
                *slot = s.parse::<f64>().unwrap() as f32;
            }
            let xv = parse_hex(cols[3]);
            let x = xv as f32;
            assert!(
                x as f64 == xv || xv.is_nan(),
                "line {}: x = {} is not an f32",
                i + 1,
                cols[3]
            );
            Row {
                line: i + 1,
                op: cols[0],
                params,
                mode: cols[2],
                x,
                want: cols[4],
            }
        })
}

/// `None` if `got` matches `want`, else the relative (or absolute) error.
fn mismatch(got: f64, want: &str) -> Option<f64> {
    match want {
        "nan" => return (!got.is_nan()).then_some(f64::INFINITY),
        "inf" => return (got != f64::INFINITY).then_some(f64::INFINITY),
        "-inf" => return (got != f64::NEG_INFINITY).then_some(f64::INFINITY),
        "0" => return (got != 0.0).then_some(got.abs()),
        _ => {}
    }
    let w: f64 = want.parse().unwrap();
    if !got.is_finite() {
        return Some(f64::INFINITY);
    }
    if w.abs() >= TINY {
        let rel = (got - w).abs() / w.abs();
        (rel > REL_TOL).then_some(rel)
    } else {
        let abs = (got - w).abs();
        (abs > ABS_TOL).then_some(abs)
    }
}

fn relative_error(got: f64, want: &str) -> f64 {
    match want.parse::<f64>() {
        Ok(w) if w.abs() >= TINY && w.is_finite() && got.is_finite() => (got - w).abs() / w.abs(),
        _ => 0.0,
    }
}

fn check_op(name: &str) {
    let op = OpKind::from_name(name).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    let mut worst = (0.0f64, String::new());
    for r in rows().filter(|r| r.op == name) {
        count += 1;
        let got = match r.mode {
            "forward" => forward_exact(op, r.params, r.x),
            "derivative" => derivative_exact(op, r.params, r.x),
            "backward" => backward_factor_exact(op, r.params, r.x),
            m => panic!("line {}: unknown mode {m}", r.line),
        };
        let rel = relative_error(got, r.want);
        if rel > worst.0 {
            worst = (rel, format!("{} x = {:e}", r.mode, r.x));
        }
        if let Some(err) = mismatch(got, r.want) {
            failures.push(format!(
                "  line {}: {name} p = {:?} {} x = {:e} ({:#010x}): got {got:e}, want {} (error {err:e})",
                r.line,
                r.params,
                r.mode,
                r.x,
                r.x.to_bits(),
                r.want
            ));
        }
    }
    assert!(count > 0, "no fixtures for {name}");
    eprintln!(
        "{name}: {count} fixtures, max relative error {:.3e} ({})",
        worst.0, worst.1
    );
    assert!(
        failures.is_empty(),
        "{} of {count} fixtures of {name} fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

macro_rules! fixture_tests {
    ($($name:ident: $op:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_op(stringify!($name));
            }
        )*
    };
}

wgpu_activations::for_each_op!(fixture_tests);

#[test]
fn nan_gives_nan_in_every_mode() {
    for &op in OpKind::ALL {
        let p = params_at(&Activation::new(op), 0);
        for x in [f32::NAN, -f32::NAN] {
            assert!(forward_exact(op, p, x).is_nan(), "{} forward", op.name());
            assert!(
                derivative_exact(op, p, x).is_nan(),
                "{} derivative",
                op.name()
            );
            assert!(
                backward_factor_exact(op, p, x).is_nan(),
                "{} backward",
                op.name()
            );
        }
        let act = Activation::new(op);
        assert!(forward(&act, &[f32::NAN])[0].is_nan());
        assert!(derivative(&act, &[f32::NAN])[0].is_nan());
        assert!(backward(&act, &[f32::NAN], &[1.0]).unwrap()[0].is_nan());
    }
}

#[test]
fn limits_at_infinity() {
    use OpKind::*;
    const INF: f64 = f64::INFINITY;
    let selu_neg = -1.050_700_987_355_480_5 * 1.673_263_242_354_377_3;
    let rrelu_slope = ((0.125f32 + 1.0f32 / 3.0) * 0.5) as f64;
    // (op, f(+inf), f(−inf), f'(+inf), f'(−inf)) with default parameters.
    let table: &[(OpKind, f64, f64, f64, f64)] = &[
        (Relu, INF, 0.0, 1.0, 0.0),
        (Relu6, 6.0, 0.0, 0.0, 0.0),
        (LeakyRelu, INF, -INF, 1.0, 0.01f32 as f64),
        (Rrelu, INF, -INF, 1.0, rrelu_slope),
        (Prelu, INF, -INF, 1.0, 0.25),
        (Elu, INF, -1.0, 1.0, 0.0),
        (Selu, INF, selu_neg, 1.050_700_987_355_480_5, 0.0),
        (Celu, INF, -1.0, 1.0, 0.0),
        (Gelu, INF, 0.0, 1.0, 0.0),
        (GeluTanh, INF, 0.0, 1.0, 0.0),
        (Sigmoid, 1.0, 0.0, 0.0, 0.0),
        (LogSigmoid, 0.0, -INF, 0.0, 1.0),
        (HardSigmoid, 1.0, 0.0, 0.0, 0.0),
        (Tanh, 1.0, -1.0, 0.0, 0.0),
        (HardTanh, 1.0, -1.0, 0.0, 0.0),
        (Softsign, 1.0, -1.0, 0.0, 0.0),
        (Softplus, INF, 0.0, 1.0, 0.0),
        (Silu, INF, 0.0, 1.0, 0.0),
        (Mish, INF, 0.0, 1.0, 0.0),
        (HardSwish, INF, 0.0, 1.0, 0.0),
        (TanhShrink, INF, -INF, 1.0, 1.0),
        (HardShrink, INF, -INF, 1.0, 1.0),
        (SoftShrink, INF, -INF, 1.0, 1.0),
        (Threshold, INF, 0.0, 1.0, 0.0),
        (QuickGelu, INF, 0.0, 1.0, 0.0),
        (Swish, INF, 0.0, 1.0, 0.0),
        (SquaredRelu, INF, 0.0, INF, 0.0),
    ];
    assert_eq!(table.len(), OpKind::ALL.len());
    let close = |got: f64, want: f64| got == want || (got - want).abs() <= 1e-15 * want.abs();
    let mut failures = Vec::new();
    for &(op, fp, fm, dp, dm) in table {
        let p = params_at(&Activation::new(op), 0);
        let checks = [
            ("f(+inf)", forward_exact(op, p, f32::INFINITY), fp),
            ("f(-inf)", forward_exact(op, p, f32::NEG_INFINITY), fm),
            ("f'(+inf)", derivative_exact(op, p, f32::INFINITY), dp),
            ("f'(-inf)", derivative_exact(op, p, f32::NEG_INFINITY), dm),
        ];
        for (what, got, want) in checks {
            if !close(got, want) {
                failures.push(format!("{} {what}: got {got}, want {want}", op.name()));
            }
        }
    }
    // Non-default parameters whose limits differ.
    let checks = [
        (
            "swish beta=-1 f(+inf)",
            forward_exact(Swish, [-1.0, 0.0, 0.0, 0.0], f32::INFINITY),
            0.0,
        ),
        (
            "swish beta=-1 f(-inf)",
            forward_exact(Swish, [-1.0, 0.0, 0.0, 0.0], f32::NEG_INFINITY),
            -INF,
        ),
        (
            "swish beta=-1 f'(+inf)",
            derivative_exact(Swish, [-1.0, 0.0, 0.0, 0.0], f32::INFINITY),
            0.0,
        ),
        (
            "leaky slope=0 f(-inf)",
            forward_exact(LeakyRelu, [0.0; 4], f32::NEG_INFINITY),
            0.0,
        ),
        (
            "hardtanh -2,3 f(+inf)",
            forward_exact(HardTanh, [-2.0, 3.0, 0.0, 0.0], f32::INFINITY),
            3.0,
        ),
        (
            "threshold 0.5,-2 f(-inf)",
            forward_exact(Threshold, [0.5, -2.0, 0.0, 0.0], f32::NEG_INFINITY),
            -2.0,
        ),
        (
            "elu alpha=0.5 f(-inf)",
            forward_exact(Elu, [0.5, 0.0, 0.0, 0.0], f32::NEG_INFINITY),
            -0.5,
        ),
        (
            "celu alpha=2 f(-inf)",
            forward_exact(Celu, [2.0, 0.0, 0.0, 0.0], f32::NEG_INFINITY),
            -2.0,
        ),
    ];
    for (what, got, want) in checks {
        if !close(got, want) {
            failures.push(format!("{what}: got {got}, want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn backward_checks_lengths_and_multiplies_in_f64() {
    let relu = Activation::new(OpKind::Relu);
    match backward(&relu, &[1.0, 2.0], &[1.0]) {
        Err(Error::LengthMismatch {
            got: 1,
            expected: 2,
            ..
        }) => {}
        other => panic!("expected a length mismatch, got {other:?}"),
    }
    assert_eq!(
        backward(&relu, &[1.0, -1.0, 0.0], &[3.0, 3.0, 3.0]).unwrap(),
        vec![3.0, 0.0, 0.0]
    );
    // sigmoid and tanh read the saved output y: y(1 − y) and 1 − y².
    let sig = Activation::new(OpKind::Sigmoid);
    assert_eq!(
        backward(&sig, &[0.5, 0.25], &[2.0, 1.0]).unwrap(),
        vec![0.5, 0.1875]
    );
    let tanh = Activation::new(OpKind::Tanh);
    assert_eq!(
        backward(&tanh, &[0.5, -1.0], &[4.0, 1.0]).unwrap(),
        vec![3.0, 0.0]
    );
    // The product is taken in f64 before the one rounding: 1 − (1 − 2^-24)² ≈ 2^-23 exactly.
    let y = 1.0 - 2f32.powi(-24);
    let want = ((1.0 - y as f64) * (1.0 + y as f64) * 3.0) as f32;
    assert_eq!(backward(&tanh, &[y], &[3.0]).unwrap(), vec![want]);
}

#[test]
fn prelu_slope_gradient_by_hand() {
    // [N = 2, C = 3, inner = 2]: element i belongs to channel (i / 2) % 3.
    let act = Activation::new(OpKind::Prelu).with_slopes(vec![0.1, 0.2, 0.3], 2);
    let x = [
        -1.0, 2.0, -3.0, -0.5, 4.0, 0.0, -2.0, 1.0, -1.0, -1.0, 0.5, -4.0,
    ];
    let dy = [1.0, 5.0, 2.0, 4.0, 3.0, 7.0, 0.5, 9.0, -1.0, 2.0, 6.0, 0.25];
    // channel 0: elements 0, 1, 6, 7 → (−1)(1) + (−2)(0.5) = −2 (x > 0 contributes nothing)
    // channel 1: elements 2, 3, 8, 9 → (−3)(2) + (−0.5)(4) + (−1)(−1) + (−1)(2) = −9
    // channel 2: elements 4, 5, 10, 11 → 0·7 + (−4)(0.25) = −1
    assert_eq!(
        prelu_slope_grad(&act, &x, &dy).unwrap(),
        vec![-2.0, -9.0, -1.0]
    );

    // One slope: compensated summation keeps the −1 that naive f64 summation loses.
    let one = Activation::new(OpKind::Prelu);
    let got = prelu_slope_grad(&one, &[-1.0, -1.0, -1.0], &[1e30, 1.0, -1e30]).unwrap();
    assert_eq!(got, vec![-1.0]);

    assert!(matches!(
        prelu_slope_grad(&act, &x, &dy[..5]),
        Err(Error::LengthMismatch {
            got: 5,
            expected: 12,
            ..
        })
    ));
    assert!(prelu_slope_grad(&Activation::new(OpKind::Relu), &x, &dy).is_err());
}

#[test]
fn params_at_indexes_prelu_channels() {
    let act = Activation::new(OpKind::Prelu).with_slopes(vec![0.1, 0.2, 0.3], 2);
    let want = [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3];
    for (i, &w) in want.iter().enumerate() {
        assert_eq!(params_at(&act, i), [w, 0.0, 0.0, 0.0], "element {i}");
    }
    let y = forward(&act, &[-1.0; 12]);
    assert_eq!(y, want.iter().map(|w| -w).collect::<Vec<f32>>());
    assert_eq!(derivative(&act, &[-1.0; 12]), want.to_vec());

    // One slope applies everywhere; leaky_relu and rrelu carry their slope in p[0].
    let one = Activation::new(OpKind::Prelu);
    assert_eq!(params_at(&one, 7)[0], 0.25);
    let leaky = Activation::new(OpKind::LeakyRelu)
        .with("negative_slope", 0.2)
        .unwrap();
    assert_eq!(params_at(&leaky, 3), [0.2, 0.0, 0.0, 0.0]);
    let rrelu = Activation::new(OpKind::Rrelu);
    assert_eq!(params_at(&rrelu, 5)[0], (0.125f32 + 1.0 / 3.0) * 0.5);
    assert_eq!(params_at(&rrelu, 5)[1], 1.0 / 3.0);
    // Other ops get their parameters unchanged.
    let sp = Activation::new(OpKind::Softplus).with("beta", 2.0).unwrap();
    assert_eq!(params_at(&sp, 9), [2.0, 20.0, 0.0, 0.0]);
}
