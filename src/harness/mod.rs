//! How the crate's accuracy is measured, shared by the tests, the README table
//! (`wgpu-activations accuracy`) and anyone who wants to check a device: the input sets (a fixed
//! list of hard values, each op's kinks, and seeded random values over symmetric ranges), the
//! bound each mode is held to, and a measurement of the worst error against
//! [`crate::reference`].

use crate::base::dtype::{DType, Element};
use crate::base::ulp::{ulp_error, ulp_error_of, ulp_of};
use crate::ops::activation::Activation;
use crate::ops::{Mode, OpKind, Saved};
use crate::reference;
use half::f16;

/// Values every op is tested on: signed zeros, subnormals, tiny values, the usual kinks and
/// derivative roots, the ranges where exp, tanh and erfc overflow or underflow, huge values,
/// infinities and NaN.
pub fn hard_inputs() -> Vec<f32> {
    let mags: [f32; 41] = [
        0.0,
        1.4e-45,
        1e-40,
        1.175_494_4e-38,
        1e-30,
        1e-10,
        1e-7,
        1e-6,
        1e-4,
        1e-3,
        1e-2,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        1.192_38,
        1.278_464_5,
        1.5,
        2.0,
        3.0,
        5.0,
        6.0,
        8.0,
        10.0,
        15.0,
        20.0,
        25.0,
        30.0,
        43.0,
        44.0,
        45.0,
        50.0,
        88.0,
        88.7,
        89.0,
        100.0,
        1e4,
        2e7,
        1e30,
        f32::MAX,
    ];
    let mut v = Vec::new();
    for m in mags {
        v.push(m);
        v.push(-m);
    }
    v.extend([
        0.751_791_5,
        -0.751_791_5,
        -0.752_461_4,
        -0.751_154_3,
        104.0,
        -104.0,
        150.0,
        -150.0,
    ]);
    v.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
    v
}

/// The kinks of `act` (for its parameter values), each with its neighbours one ULP away.
pub fn kink_inputs(act: &Activation) -> Vec<f32> {
    let p = act.params();
    let kinks: Vec<f32> = act
        .op()
        .spec()
        .kink_points
        .iter()
        .map(|k| k.at(p))
        .collect();
    kinks
        .into_iter()
        .flat_map(|k| [k, k.next_up(), k.next_down()])
        .collect()
}

/// SplitMix64: a tiny, well-known generator, so the library needs no random-number crate.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn symmetric(&mut self) -> f32 {
        (self.next() >> 40) as f32 * (2.0 / 16_777_216.0) - 1.0
    }
}

/// The seed of an op's random inputs: FNV-1a of its name, so that adding an op (or reordering
/// the registry) changes no other op's inputs.
pub fn op_seed(op: OpKind) -> u64 {
    op.name().bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `n` seeded values over symmetric ranges, in turn: uniform in ±1, ±10 and ±100, and
/// log-uniform magnitudes across the whole f32 range (subnormals to the largest finite value)
/// with random signs.
pub fn random_inputs(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|i| match i % 4 {
            0 => rng.symmetric(),
            1 => 10.0 * rng.symmetric(),
            2 => 100.0 * rng.symmetric(),
            _ => {
                let bits = (rng.next() >> 33) as u32; // 31 random bits: any finite magnitude
                let m = f32::from_bits(bits.min(f32::MAX.to_bits()));
                if rng.next() & 1 == 1 {
                    m
                } else {
                    -m
                }
            }
        })
        .collect()
}

/// The input set for `act`: hard values, kinks, then `n_random` seeded random values.
pub fn inputs(act: &Activation, n_random: usize) -> Vec<f32> {
    let mut v = hard_inputs();
    v.extend(kink_inputs(act));
    v.extend(random_inputs(op_seed(act.op()) + 1, n_random));
    v
}

/// Upstream gradients for backward: seeded uniform in ±4, every eighth one (from index 5) a
/// log-uniform magnitude across the whole finite f32 range with a random sign (so huge dy meets
/// tiny derivatives and the reverse), with ±0, ±1, 1e-30 and 1e30 at the end.
pub fn gradients(n: usize) -> Vec<f32> {
    let mut v = moderate_gradients(n);
    let wide = random_inputs(98, 4 * n.div_ceil(8));
    for (i, w) in (5..n).step_by(8).zip(wide.iter().skip(3).step_by(4)) {
        v[i] = *w;
    }
    v
}

/// Seeded uniform in ±4, with ±0, ±1, 1e-30 and 1e30 at the end.
fn moderate_gradients(n: usize) -> Vec<f32> {
    let mut rng = SplitMix64(99);
    let mut v: Vec<f32> = (0..n).map(|_| 4.0 * rng.symmetric()).collect();
    for (k, s) in [0.0, -0.0, 1.0, -1.0, 1e-30, 1e30].iter().enumerate() {
        if n > k + 1 {
            v[n - 1 - k] = *s;
        }
    }
    v
}

/// The saved tensor a backward pass reads for inputs `x`: `x`, or `y = f(x)` (correctly
/// rounded) where [`Spec::saved`](crate::Spec::saved) is [`Saved::Output`].
pub fn saved_tensor(act: &Activation, x: &[f32]) -> Vec<f32> {
    match act.op().spec().saved {
        Saved::Input => x.to_vec(),
        Saved::Output => reference::forward(act, x),
    }
}

/// The bound in ULPs `mode` is held to: forward 4 (piecewise-linear ops 0.5: correctly
/// rounded), derivative and backward 8.
pub fn bound(act: &Activation, mode: Mode) -> f64 {
    match mode {
        Mode::Forward if act.op().spec().piecewise_linear => 0.5,
        Mode::Forward => 4.0,
        _ => 8.0,
    }
}

/// The absolute error accepted within 0.05 of a root of the derivative (times |dy| in backward).
pub const ROOT_ABS: f64 = 8.0 / 16_777_216.0;

/// One value's verdict.
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    /// The exact value.
    pub exact: f64,
    /// The error in ULPs.
    pub ulps: f64,
    /// Whether the root allowance applied (and was met), so `ulps` does not count.
    pub root_allowance: bool,
    /// Whether the value is within bounds.
    pub ok: bool,
}

/// Judge `got[i]` for input `x[i]` (the saved tensor in backward, with `dy`).
pub fn judge(act: &Activation, mode: Mode, i: usize, x: f32, dy: Option<f32>, got: f32) -> Verdict {
    let p = reference::params_at(act, i);
    let exact = match mode {
        Mode::Forward => reference::forward_exact(act.op(), p, x),
        Mode::Derivative => reference::derivative_exact(act.op(), p, x),
        Mode::Backward => reference::backward_exact(act.op(), p, x, dy.unwrap_or(1.0)),
    };
    let ulps = ulp_error(got, exact);
    let near_root = mode != Mode::Forward
        && act.op().spec().saved == Saved::Input
        && act
            .op()
            .spec()
            .derivative_roots
            .iter()
            .any(|r| (x as f64 - r).abs() < 0.05);
    let scale = dy.map_or(1.0, |d| (d as f64).abs());
    let in_bound = ulps <= bound(act, mode);
    let root_ok = near_root && !in_bound && (got as f64 - exact).abs() <= ROOT_ABS * scale;
    Verdict {
        exact,
        ulps,
        root_allowance: root_ok,
        ok: in_bound || root_ok,
    }
}

/// The worst error of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// Values judged.
    pub count: usize,
    /// Largest error in ULPs outside the root allowance.
    pub max_ulps: f64,
    /// Values out of bounds.
    pub failures: usize,
}

/// Judge a whole output.
pub fn summarize(
    act: &Activation,
    mode: Mode,
    x: &[f32],
    dy: Option<&[f32]>,
    got: &[f32],
) -> Summary {
    let mut s = Summary {
        count: x.len(),
        ..Default::default()
    };
    for i in 0..x.len() {
        let v = judge(act, mode, i, x[i], dy.map(|d| d[i]), got[i]);
        if !v.ok {
            s.failures += 1;
        }
        if !v.root_allowance {
            s.max_ulps = s.max_ulps.max(v.ulps);
        }
    }
    s
}

/// Measured worst errors of one op: `[forward, derivative, backward]` for the GPU (when a
/// context is given) and the fast CPU path.
#[derive(Clone, Debug)]
pub struct OpAccuracy {
    /// The op, with default parameters.
    pub op: OpKind,
    /// GPU summaries per mode, if measured.
    pub gpu: Option<[Summary; 3]>,
    /// CPU summaries per mode.
    pub cpu: [Summary; 3],
}

/// Run every mode of `act` on the GPU (if `ctx`) and the CPU over [`inputs`] with `n_random`
/// random values, and judge the results (blocking: not on wasm32).
#[cfg(not(target_arch = "wasm32"))]
pub fn measure(
    ctx: Option<&crate::Context>,
    act: &Activation,
    n_random: usize,
) -> crate::Result<OpAccuracy> {
    let x = inputs(act, n_random);
    let s = saved_tensor(act, &x);
    let dy = gradients(x.len());
    let judge_all = |f: [Vec<f32>; 3]| -> [Summary; 3] {
        [
            summarize(act, Mode::Forward, &x, None, &f[0]),
            summarize(act, Mode::Derivative, &x, None, &f[1]),
            summarize(act, Mode::Backward, &s, Some(&dy), &f[2]),
        ]
    };
    let gpu = match ctx {
        Some(ctx) => Some(judge_all([
            ctx.forward(act, &x)?,
            ctx.derivative(act, &x)?,
            ctx.backward(act, &s, &dy)?,
        ])),
        None => None,
    };
    let cpu = judge_all([
        crate::cpu::forward(act, &x)?,
        crate::cpu::derivative(act, &x)?,
        crate::cpu::backward(act, &s, &dy)?,
    ]);
    Ok(OpAccuracy {
        op: act.op(),
        gpu,
        cpu,
    })
}

// ---------------------------------------------------------------------------------------------
// 16-bit dtypes (f16, bf16): inputs representable in the type, and the bound of 1 ULP of it.

/// The extremes of a 16-bit type, as bits: the largest finite, the smallest normal, the largest
/// and smallest subnormals, the neighbours of 1, the largest finite less one ULP, and a value
/// just below 256.
fn half_extremes(dtype: DType) -> [u32; 8] {
    match dtype {
        DType::BF16 => [
            0x7f7f, 0x0080, 0x007f, 0x0001, 0x3f7f, 0x3f81, 0x7f7e, 0x437f,
        ],
        _ => [
            0x7bff, 0x0400, 0x03ff, 0x0001, 0x3bff, 0x3c01, 0x7bfe, 0x5bff,
        ],
    }
}

/// The hard inputs rounded to `T` (f16 or bf16), with `T`'s own extremes: the largest finite
/// value, the smallest normal, the largest and smallest subnormals, and the neighbours of 1.
pub fn hard_inputs_of<T: Element>() -> Vec<T> {
    let mut v: Vec<T> = hard_inputs().into_iter().map(T::from_f32).collect();
    for bits in half_extremes(T::DTYPE) {
        v.push(T::from_bits(bits));
        v.push(T::from_bits(bits | 0x8000));
    }
    v
}

/// The hard inputs rounded to f16, with f16's own extremes: ±65504, the smallest normal, the
/// largest and smallest subnormals, and the neighbours of 1.
pub fn hard_inputs_f16() -> Vec<f16> {
    hard_inputs_of()
}

/// `n` seeded values of `T` (f16 or bf16): uniform in ±1, ±10 and ±100 (rounded to `T`), and any
/// finite bit pattern of `T` (subnormals to the largest finite) with random signs.
pub fn random_inputs_of<T: Element>(seed: u64, n: usize) -> Vec<T> {
    let max = half_extremes(T::DTYPE)[0];
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|i| match i % 4 {
            0 => T::from_f32(rng.symmetric()),
            1 => T::from_f32(10.0 * rng.symmetric()),
            2 => T::from_f32(100.0 * rng.symmetric()),
            _ => {
                let bits = ((rng.next() >> 48) as u32 & 0x7fff).min(max);
                let sign = if rng.next() & 1 == 1 { 0 } else { 0x8000 };
                T::from_bits(bits | sign)
            }
        })
        .collect()
}

/// `n` seeded f16 values: uniform in ±1, ±10 and ±100 (rounded to f16), and any finite f16 bit
/// pattern (subnormals to 65504) with random signs.
pub fn random_inputs_f16(seed: u64, n: usize) -> Vec<f16> {
    random_inputs_of(seed, n)
}

/// The input set of `T` (f16 or bf16) for `act`: hard values, kinks (rounded to `T`, with their
/// neighbours in `T`), then `n_random` seeded values.
pub fn inputs_of<T: Element>(act: &Activation, n_random: usize) -> Vec<T> {
    let mut v = hard_inputs_of::<T>();
    for k in kink_inputs(act) {
        let h = T::from_f32(k);
        let b = h.to_bits();
        v.push(h);
        if h.to_f32().is_finite() {
            // One ULP either side (towards and away from zero).
            v.push(T::from_bits(b.wrapping_add(1)));
            if b & 0x7fff != 0 {
                v.push(T::from_bits(b - 1));
            }
        }
    }
    // bf16 draws its own stream (its inputs differ from f16's anyway).
    let salt = if T::DTYPE == DType::BF16 { 5 } else { 3 };
    v.extend(random_inputs_of::<T>(op_seed(act.op()) + salt, n_random));
    v
}

/// The f16 input set for `act`: hard values, kinks (rounded to f16, with their f16 neighbours),
/// then `n_random` seeded values.
pub fn inputs_f16(act: &Activation, n_random: usize) -> Vec<f16> {
    inputs_of(act, n_random)
}

/// Upstream gradients of `T` (f16 or bf16) for backward: seeded uniform in ±4, with ±0, ±1, the
/// smallest subnormal and the largest finite value at the end.
pub fn gradients_of<T: Element>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = moderate_gradients(n).into_iter().map(T::from_f32).collect();
    let ends = [
        T::from_f32(0.0),
        T::from_f32(-0.0),
        T::from_f32(1.0),
        T::from_f32(-1.0),
        T::from_bits(1),
        T::from_bits(half_extremes(T::DTYPE)[0]),
    ];
    for (k, s) in ends.into_iter().enumerate() {
        if n > k + 1 {
            v[n - 1 - k] = s;
        }
    }
    v
}

/// Upstream gradients for f16 backward: seeded uniform in ±4, with ±0, ±1, 2^-24 and 65504 at the
/// end.
pub fn gradients_f16(n: usize) -> Vec<f16> {
    gradients_of(n)
}

/// The saved tensor of a 16-bit backward: `x`, or `y = f(x)` correctly rounded to `T`.
pub fn saved_tensor_of<T: Element>(act: &Activation, x: &[T]) -> Vec<T> {
    match act.op().spec().saved {
        Saved::Input => x.to_vec(),
        Saved::Output => x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let p = reference::params_at(act, i);
                T::from_f64(reference::forward_exact(act.op(), p, v.to_f32()))
            })
            .collect(),
    }
}

/// The saved tensor of an f16 backward: `x`, or `y = f(x)` correctly rounded to f16.
pub fn saved_tensor_f16(act: &Activation, x: &[f16]) -> Vec<f16> {
    saved_tensor_of(act, x)
}

/// The bound in ULPs of a 16-bit `dtype`: 1 (the f32 result, itself within a few f32 ULPs,
/// rounded once to 16 bits); for the forward of piecewise-linear ops, whose f32 result is
/// correctly rounded, 0.5 plus twice the worst of the double rounding f64 → f32 → 16 bits (half
/// an f32 ULP: 2^-13 ULP of f16, 2^-16 of bf16).
pub fn bound_of(dtype: DType, act: &Activation, mode: Mode) -> f64 {
    match mode {
        Mode::Forward if act.op().spec().piecewise_linear => {
            0.5 + 2f64.powi(dtype.fraction_bits() - 22)
        }
        _ => 1.0,
    }
}

/// The bound in ULPs of f16: 1 (the f32 result, itself within a few f32 ULPs, rounded once to
/// f16); for the forward of piecewise-linear ops, whose f32 result is correctly rounded,
/// 0.5 + 2^-12 (correct rounding but for the double rounding f64 → f32 → f16, worth at most
/// 2^-13 ULP of f16).
pub fn bound_f16(act: &Activation, mode: Mode) -> f64 {
    bound_of(DType::F16, act, mode)
}

/// Judge a 16-bit result (f16 or bf16) as [`judge`] does an f32 one, in ULPs of its type. Near a
/// root of the derivative the absolute allowance is [`ROOT_ABS`] (times |dy|) plus one ULP of
/// the type.
pub fn judge_of<T: Element>(
    act: &Activation,
    mode: Mode,
    i: usize,
    x: T,
    dy: Option<T>,
    got: T,
) -> Verdict {
    let p = reference::params_at(act, i);
    let xf = x.to_f32();
    let exact = match mode {
        Mode::Forward => reference::forward_exact(act.op(), p, xf),
        Mode::Derivative => reference::derivative_exact(act.op(), p, xf),
        Mode::Backward => {
            dy.map_or(1.0, |d| d.to_f64()) * reference::backward_factor_exact(act.op(), p, xf)
        }
    };
    let ulps = ulp_error_of(got, exact);
    let near_root = mode != Mode::Forward
        && act.op().spec().saved == Saved::Input
        && act
            .op()
            .spec()
            .derivative_roots
            .iter()
            .any(|r| (xf as f64 - r).abs() < 0.05);
    let scale = dy.map_or(1.0, |d| d.to_f64().abs());
    let in_bound = ulps <= bound_of(T::DTYPE, act, mode);
    let root_ok = near_root
        && !in_bound
        && (got.to_f64() - exact).abs() <= ROOT_ABS * scale + ulp_of(T::DTYPE, exact);
    Verdict {
        exact,
        ulps,
        root_allowance: root_ok,
        ok: in_bound || root_ok,
    }
}

/// Judge an f16 result as [`judge`] does an f32 one, in ULPs of f16. Near a root of the
/// derivative the absolute allowance is [`ROOT_ABS`] (times |dy|) plus one ULP of f16.
pub fn judge_f16(
    act: &Activation,
    mode: Mode,
    i: usize,
    x: f16,
    dy: Option<f16>,
    got: f16,
) -> Verdict {
    judge_of(act, mode, i, x, dy, got)
}
