//! f64 math for the fast CPU path's transcendental activations: each op widens its f32 input to
//! f64, evaluates the function in f64 and rounds once to f32 at the end.
//!
//! Why f64: an f32 result within ~0.5 ULP needs about 30 correct bits before the final rounding.
//! In f32 that takes double-float arithmetic (error-free transformations, as in
//! `base::fastmath` and the WGSL), several times the work; f64 has them for free, and its
//! range holds every f32 subnormal result and every product like `dy·x·e^−z` as a normal number,
//! so no scaled products are needed either. AVX2 does four f64 lanes per instruction, and the
//! code below is branch-free (clamps and selects, bit casts, integer shifts), so the loops in
//! `cpu.rs` vectorize it; the results are `f(x)·(1 + δ)` with `|δ| ≲ 2^-35` (2^-33 through
//! gelu's rationals) before the final rounding, i.e. within 0.5 + 2^-9 ULP wherever the function is
//! well conditioned.
//!
//! Speed: the loops are bound by arithmetic throughput (8 f64 lanes per AVX-512 instruction, or
//! 4 with AVX2), so the polynomials are near-minimax fits of the lowest degree that keeps that
//! bound (scripts/fit_fastmath64.py), and each op divides at most once per element (gelu: one
//! rational of degrees (5, 6) or (5, 5) in `u = |x|` times `e^(−u²/2)` in every mode, its
//! derivative's root factored out so that no second approximation is needed near it). The
//! derivatives that cancel near a root (silu-like, mish) use a longer `e^x` (2^-48 there), since
//! its relative error becomes the result's absolute error.
//!
//! Inputs are finite or clamped: the op bodies clamp (f64 `clamp` maps ±∞ to the bounds) and
//! select their limits for infinite inputs; NaN is the caller's (bit tests in `cpu.rs`).

/// log2(e).
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 rounded to f64: `k·ln2` is off by `k·2.3e-17 ≤ 2^-45` for `|k| ≤ 1010`, far below the
/// polynomial's error, so no low part is carried (and for `k = 0`, where `expm1` needs relative
/// accuracy, there is no error at all).
const LN2: f64 = std::f64::consts::LN_2;
/// 1.5·2^52: adding it rounds an f64 of magnitude below 2^51 to an integer, which then sits in
/// the low bits of the sum's mantissa.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// Where [`exp_split`] clamps its argument: `e^±700` is normal in f64 (so `2^k` is built from
/// bits), and far beyond every f32 result (`e^−700·f32::MAX ≈ 3e-266`).
pub(crate) const EXP_ARG_MAX: f64 = 700.0;

// Near-minimax polynomials fitted by scripts/fit_fastmath64.py (highest degree first).

/// `(e^r − 1 − r)/r²` on `|r| ≤ ln2/2`, degree 6: `e^r − 1` within a relative 2^-36.5.
const EXP_Q6: [f64; 7] = [
    2.487618275288076e-05,
    0.00019899287616791353,
    0.0013888824134774204,
    0.00833329846673514,
    0.04166666685371625,
    0.16666666719038148,
    0.499999999999101,
];

/// The same, degree 8: `e^r − 1` within a relative 2^-48 (so `e^x` within 2^-45 with the rounding
/// of [`LN2`], 2^-48 for `|x| ≤ 8`), for the derivatives that cancel near their roots (where the
/// error of `e^x` becomes an absolute error of the small result).
const EXP_Q8: [f64; 9] = [
    2.762637428116169e-07,
    2.762511689464502e-06,
    2.4801506192785728e-05,
    0.0001984120872977012,
    0.0013888888928553895,
    0.008333333353731058,
    0.04166666666659688,
    0.16666666666648286,
    0.5000000000000002,
];

/// `e^r = 1 + r·Q(r)` on `|r| ≤ ln2/2`, `Q = (e^r − 1)/r` of degree 6 fitted with relative error
/// (highest degree first, the final 1 included): `e^r` within a relative 2^-33.2, exact at 0 (so
/// that a row's maximum contributes exactly 1 to its sum). The softmax family's [`ExpScaled`] for
/// log_softmax, whose `ln S` turns the sum's relative error into an absolute one, and for
/// backward.
pub(crate) const EXP_E7: [f64; 8] = [
    0.00019841251452944888,
    0.0013941015336447866,
    0.00833340292601128,
    0.04166635432511416,
    0.16666666249373854,
    0.5000000046680025,
    1.0000000000312217,
    1.0,
];

/// `e^r` on `|r| ≤ ln2/2`, degree 6, fitted with relative error (highest degree first): within a
/// relative 2^-29.0 (`P(0) = 1 + 5.5e-10`). The softmax family's forward [`ExpScaled`] for
/// softmax and softmin, whose probabilities `e/S` only see the spread of the relative error
/// (≤ 2^-28, below 2^-4 ULP of f32): one multiply-add fewer than [`EXP_E7`], 9% faster there.
pub(crate) const EXP_E6: [f64; 7] = [
    0.0013836835742475305,
    0.008374824050589383,
    0.04166822618929449,
    0.16666420072125315,
    0.4999999207508873,
    1.000000036344721,
    1.0000000005546077,
];

/// `ln(1 + u)/u ≈ P(u)/S(u)` on `0 ≤ u ≤ 1`, degrees (4, 4) with `S(0) = 1`: `ln(1 + u)` within
/// a relative 2^-39 (all coefficients positive: no cancellation in Horner's rule).
const LOG1P_P: [f64; 5] = [
    0.0006316416980409109,
    0.07970860631844652,
    0.6713333876982662,
    1.5305323049503676,
    0.9999999999982679,
];
const LOG1P_S: [f64; 5] = [
    0.02192630831260914,
    0.3294973993607703,
    1.353266221538283,
    2.0305323045515027,
    1.0,
];

/// gelu's `u0`, the root of `gelu'(−u)` (`gelu'(−0.7518…) = 0`), as `hi + lo`.
pub(crate) const GELU_U0_HI: f64 = 0.7517915246935645;
/// The low part of [`GELU_U0_HI`].
pub(crate) const GELU_U0_LO: f64 = -1.4956759177009883e-17;

/// `RF(u) = Φ(−u)·e^(u²/2) = erfcx(u/√2)/2 ≈ P(u)/S(u)` on `0 ≤ u ≤ 15`, degrees (5, 6): relative
/// error 2^-33.4.
const GELU_RF_P: [f64; 6] = [
    0.0008970183879698924,
    0.011714870480571064,
    0.07162537875767537,
    0.2513180873367836,
    0.5083735275345969,
    0.49999999995538047,
];
const GELU_RF_S: [f64; 7] = [
    0.0022484942474283124,
    0.02936464876817987,
    0.18179204849895478,
    0.6592295192033601,
    1.4505028483565139,
    1.8146316073545619,
    1.0,
];

/// `RD(u) = (RF(u) − u/√(2π))/(u0 − u) ≈ P(u)/S(u)` on `0 ≤ u ≤ 15` (smooth and positive through
/// `u0`, tending to `1/√(2π)`), degrees (5, 5): relative error 2^-33.1.
const GELU_RD_P: [f64; 6] = [
    0.002496266755747258,
    0.03058056354924331,
    0.168265951054165,
    0.5123176128934318,
    0.8633412208955461,
    0.6650779952026449,
];
const GELU_RD_S: [f64; 6] = [
    0.006257215949933845,
    0.07194979186209774,
    0.3704148077173102,
    1.038962983566015,
    1.5637183661068845,
    1.0,
];

/// `c[0]·t^n + … + c[n]` by Horner's rule with fused multiply-adds (unrolled: `N` is constant).
#[inline(always)]
fn horner<const N: usize>(c: &[f64; N], t: f64) -> f64 {
    let mut acc = c[0];
    for &v in &c[1..] {
        acc = acc.mul_add(t, v);
    }
    acc
}

/// `(s, p)` with `e^x = s·(1 + p)`, `s = 2^k` and `p = e^r − 1` for the reduced
/// `r = x − k·ln2 ∈ [−ln2/2, ln2/2]`, for `x` already within ±[`EXP_ARG_MAX`]. `p = r + r²·Q(r)`
/// with `Q` = [`EXP_Q6`] (relative error below 2^-36) or [`EXP_Q8`] (2^-48), `p`'s leading `r`
/// added last so that `p` keeps its relative accuracy near 0.
#[inline(always)]
fn exp_split_in_range<const N: usize>(x: f64, q: &[f64; N]) -> (f64, f64) {
    let v = x.mul_add(LOG2E, ROUND_MAGIC);
    let kf = v - ROUND_MAGIC;
    let r = (-kf).mul_add(LN2, x);
    let p = (r * r).mul_add(horner(q, r), r);
    // k sits in the low bits of v's mantissa (two's complement over ROUND_MAGIC's).
    let k = v.to_bits().wrapping_sub(ROUND_MAGIC.to_bits()) as i64;
    let s = f64::from_bits(((k + 1023) << 52) as u64);
    (s, p)
}

/// `e^x` (relative error below 2^-36) for `x` clamped to ±700.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    let (s, p) = exp_split_in_range(x.clamp(-EXP_ARG_MAX, EXP_ARG_MAX), &EXP_Q6);
    s.mul_add(p, s)
}

/// `e^x` (relative error below 2^-45, 2^-48 for `|x| ≤ 8`) for `x` clamped to ±700.
#[inline(always)]
pub(crate) fn exp_precise(x: f64) -> f64 {
    let (s, p) = exp_split_in_range(x.clamp(-EXP_ARG_MAX, EXP_ARG_MAX), &EXP_Q8);
    s.mul_add(p, s)
}

/// `e^(u·g)` for a loop-invariant scale `g` (the softmax family's `±1/T`, `|g|` within
/// `[1e-30, 1e30]`), with a polynomial `P ≈ e^r` of `N` coefficients ([`EXP_E7`] or [`EXP_E6`]),
/// the scale folded into the constants: no multiplication by `g` per element, and one or two
/// multiply-adds fewer than [`exp`]. See [`exp_scaled`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExpScaled<const N: usize> {
    /// `g·log2(e)`: `k = round(u·g·log2 e)`.
    log2e_g: f64,
    /// `ln2/g`: `r = u − k·ln2/g`, the reduced argument in units of `u`.
    ln2_g: f64,
    /// `P`'s coefficient of `r^i` times `g^i` (highest degree first), so that it runs on `r` as
    /// it is (the constant term unchanged: a 1 stays exactly 1).
    p: [f64; N],
    /// `±EXP_ARG_MAX/|g|`: the clamp of `u` ([`exp_scaled`] with `CLAMP`).
    lo: f64,
    hi: f64,
}

impl<const N: usize> ExpScaled<N> {
    /// `g`.
    pub(crate) fn scale(&self) -> f64 {
        self.log2e_g / LOG2E
    }

    pub(crate) fn new(g: f64, poly: [f64; N]) -> ExpScaled<N> {
        let mut p = poly;
        for (i, c) in p.iter_mut().enumerate() {
            *c *= g.powi((N - 1 - i) as i32);
        }
        let lim = EXP_ARG_MAX / g.abs();
        ExpScaled {
            log2e_g: g * LOG2E,
            ln2_g: LN2 / g,
            p,
            lo: -lim,
            hi: lim,
        }
    }
}

/// `e^(u·g)` (relative error below 2^-33 with [`EXP_E7`], 2^-29 with [`EXP_E6`]) for
/// `|u·g| ≤ 700`, or with `CLAMP` for any `u`, clamped there (±∞ included; NaN is the caller's).
/// `k` is the integer nearest `u·g/ln2`, `r = u − k·(ln2/g)` is formed with one fused multiply-add
/// (the product exact; `ln2/g` rounded to f64 shifts `u·g` by at most `|k|·ln2·2^-53 ≤ 2^-43`),
/// `e^(r·g) = P(r)` with the coefficients scaled by `g`'s powers, and `2^k` is added to its
/// exponent bits (it stays a normal f64: `|k| ≤ 1010`).
#[inline(always)]
pub(crate) fn exp_scaled<const N: usize, const CLAMP: bool>(u: f64, e: &ExpScaled<N>) -> f64 {
    let u = if CLAMP {
        at_most(at_least(u, e.lo), e.hi)
    } else {
        u
    };
    let v = u.mul_add(e.log2e_g, ROUND_MAGIC);
    let kf = v - ROUND_MAGIC;
    let r = (-kf).mul_add(e.ln2_g, u);
    let p = horner(&e.p, r);
    // k sits in the low bits of v's mantissa; ROUND_MAGIC's low 12 bits are zero, so v's bits
    // shifted by 52 are k's.
    f64::from_bits(p.to_bits().wrapping_add(v.to_bits() << 52))
}

/// `x < lo ? lo : x`: one `max` instruction (`f64::max` also has to return `lo` for a NaN `x`,
/// which costs a compare and a blend; the callers' NaN is handled by the caller anyway).
#[inline(always)]
pub(crate) fn at_least(x: f64, lo: f64) -> f64 {
    if x < lo {
        lo
    } else {
        x
    }
}

/// `x > hi ? hi : x`: one `min` instruction (see [`at_least`]).
#[inline(always)]
pub(crate) fn at_most(x: f64, hi: f64) -> f64 {
    if x > hi {
        hi
    } else {
        x
    }
}

/// `e^x` for `x ≤ 0` (clamped below at −700 only; one comparison fewer than [`exp`]).
#[inline(always)]
pub(crate) fn exp_nonpos(x: f64) -> f64 {
    let (s, p) = exp_split_in_range(at_least(x, -EXP_ARG_MAX), &EXP_Q6);
    s.mul_add(p, s)
}

/// [`exp_precise`] for `x ≤ 0` (clamped below only).
#[inline(always)]
pub(crate) fn exp_nonpos_precise(x: f64) -> f64 {
    let (s, p) = exp_split_in_range(at_least(x, -EXP_ARG_MAX), &EXP_Q8);
    s.mul_add(p, s)
}

/// `e^x − 1` for `x ≤ 0`, clamped below at −700 (relative error below 2^-36 also near 0: for
/// `|x| ≤ ln2/2` it is `p` itself, else `2^k − 1` is exact and the sum does not cancel).
#[inline(always)]
pub(crate) fn expm1_nonpos(x: f64) -> f64 {
    let (s, p) = exp_split_in_range(at_least(x, -EXP_ARG_MAX), &EXP_Q6);
    s.mul_add(p, s - 1.0)
}

/// `e^x − 1` for `x` clamped to ±700 (relative error below 2^-36, also near 0, as
/// [`expm1_nonpos`]; for `x > 0`, `2^k − 1` and `2^k·p` have the same sign, so nothing cancels).
#[inline(always)]
pub(crate) fn expm1(x: f64) -> f64 {
    let (s, p) = exp_split_in_range(x.clamp(-EXP_ARG_MAX, EXP_ARG_MAX), &EXP_Q6);
    s.mul_add(p, s - 1.0)
}

/// `k·ln(1 + u)` for `0 ≤ u ≤ 1` (relative error below 2^-38): `u·(k·P(u))/S(u)` with
/// [`LOG1P_P`], [`LOG1P_S`], `S` divided through by its leading coefficient (monic: its first
/// Horner step is an addition) and that factor moved into `k·P`. With `k` loop-invariant, the
/// scaled coefficients are hoisted out of the callers' loops, so a scale such as softplus's `1/β`
/// costs nothing per element: 4 + 3 multiply-adds, one multiplication and one division (the
/// `atanh` form, `w = u/(2 + u)` and an odd polynomial in `w`, needs one multiply-add more and two
/// more additions for the same accuracy). Taken from `u` itself, so it keeps its relative accuracy
/// for the tiniest `u`.
#[inline(always)]
pub(crate) fn log1p_unit_scaled(u: f64, k: f64) -> f64 {
    let ks = k / LOG1P_S[0];
    let mut p = LOG1P_P[0] * ks;
    for &v in &LOG1P_P[1..] {
        p = p.mul_add(u, v * ks);
    }
    let mut s = u + LOG1P_S[1] / LOG1P_S[0];
    for &v in &LOG1P_S[2..] {
        s = s.mul_add(u, v / LOG1P_S[0]);
    }
    (u * p) / s
}

/// `ln(1 + u)` for `0 ≤ u ≤ 1` ([`log1p_unit_scaled`] with `k = 1`).
#[inline(always)]
pub(crate) fn log1p_unit(u: f64) -> f64 {
    log1p_unit_scaled(u, 1.0)
}

/// `(σ(z), σ(−z))` for `z` clamped to ±700, both from `e = e^−|z|` (no cancellation, no
/// overflow): `1/(1 + e)` and `e/(1 + e)`; with `e^x` from [`exp_nonpos_precise`] when
/// `PRECISE`.
#[inline(always)]
pub(crate) fn sigmoid_pair<const PRECISE: bool>(z: f64) -> (f64, f64) {
    let e = if PRECISE {
        exp_nonpos_precise(-z.abs())
    } else {
        exp_nonpos(-z.abs())
    };
    let r = 1.0 / (1.0 + e);
    let er = e * r;
    if z >= 0.0 {
        (r, er)
    } else {
        (er, r)
    }
}

/// Where gelu clamps `u = |x|`: `e^(−u²/2)` stays a normal f64 without a clamp in `e^x`
/// (`37²/2 = 684.5 < 700`), and `gelu(−37)`, `gelu'(±37)` are far below f32's smallest subnormal.
pub(crate) const GELU_U_MAX: f64 = 37.0;

/// `e^(−u²/2)` for `0 ≤ u ≤` [`GELU_U_MAX`] (relative error below 2^-36).
#[inline(always)]
pub(crate) fn gelu_gauss(u: f64) -> f64 {
    let (s, p) = exp_split_in_range((-0.5 * u) * u, &EXP_Q6);
    s.mul_add(p, s)
}

/// `Φ(−u) = e^(−u²/2)·RF(u)` for `0 ≤ u ≤` [`GELU_U_MAX`] (relative error below 2^-33; the fit
/// holds to `u = 15`, and beyond, `e^(−u²/2) < 2^-162` times a positive rational of positive
/// coefficients leaves f32 nothing).
#[inline(always)]
pub(crate) fn gelu_tail(u: f64) -> f64 {
    let p = horner(&GELU_RF_P, u);
    let s = horner(&GELU_RF_S, u);
    gelu_gauss(u) * (p / s)
}

/// `Φ(−u) − u·φ(u) = e^(−u²/2)·(u0 − u)·RD(u)` for `0 ≤ u ≤` [`GELU_U_MAX`] (relative error
/// below 2^-33, through the root `u0`: `u0 − u` is formed from [`GELU_U0_HI`] `− u`, exact near
/// the root, plus [`GELU_U0_LO`]).
#[inline(always)]
pub(crate) fn gelu_der_tail(u: f64) -> f64 {
    let d = (GELU_U0_HI - u) + GELU_U0_LO;
    let p = horner(&GELU_RD_P, u);
    let s = horner(&GELU_RD_S, u);
    (gelu_gauss(u) * d) * (p / s)
}

/// `x` with ±∞ replaced by ±`f32::MAX`, widened.
#[inline(always)]
pub(crate) fn finite64(x: f32) -> f64 {
    (x as f64).clamp(-(f32::MAX as f64), f32::MAX as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(got: f64, want: f64) -> f64 {
        ((got - want) / want).abs()
    }

    #[test]
    fn exp_and_expm1_match_std() {
        let mut worst = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for i in -69_900..=69_900 {
            let x = i as f64 * 0.01 + 0.000_123;
            worst.0 = worst.0.max(rel(exp(x), x.exp()));
            worst.2 = worst.2.max(rel(exp_precise(x), x.exp()));
            if x.abs() <= 8.0 {
                worst.3 = worst.3.max(rel(exp_precise(x), x.exp()));
            }
            if x <= 0.0 {
                worst.0 = worst.0.max(rel(exp_nonpos(x), x.exp()));
                worst.2 = worst.2.max(rel(exp_nonpos_precise(x), x.exp()));
                worst.1 = worst.1.max(rel(expm1_nonpos(x), x.exp_m1()));
            }
        }
        for x in [-1e-300, -1e-20, -1e-8, -0.3, -0.3466, -0.3467, -0.7] {
            worst.1 = worst.1.max(rel(expm1_nonpos(x), f64::exp_m1(x)));
        }
        assert!(
            worst.0 < 2f64.powi(-36)
                && worst.1 < 2f64.powi(-36)
                && worst.2 < 2f64.powi(-45)
                && worst.3 < 2f64.powi(-48),
            "{worst:?}"
        );
    }

    #[test]
    fn exp_scaled_matches_std() {
        fn check<const N: usize>(poly: [f64; N], bound: f64) {
            for g in [1.0, -1.0, 1e-30, -1e30, 1e30, 0.37, -2.5, 1.0 / 0.75] {
                let e = ExpScaled::new(g, poly);
                let mut worst = 0.0f64;
                for i in -20_000..=139_900 {
                    let d = if i == 0 {
                        0.0
                    } else {
                        -(i as f64) * 0.005 - 0.000_123
                    };
                    let u = d / g;
                    let want = (u * g).exp();
                    worst = worst.max(rel(exp_scaled::<N, false>(u, &e), want));
                    worst = worst.max(rel(exp_scaled::<N, true>(u, &e), want));
                }
                assert!(worst < bound, "g = {g}: {worst:e}");
                // Clamped: ±∞ and far arguments give e^∓700.
                let far = if g > 0.0 {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                };
                let tiny = exp_scaled::<N, true>(far, &e);
                assert!(tiny > 0.0 && tiny < 1e-300, "g = {g}: {tiny:e}");
                let huge = exp_scaled::<N, true>(-far, &e);
                assert!(huge > 1e300 && huge.is_finite(), "g = {g}: {huge:e}");
            }
        }
        check(EXP_E7, 2f64.powi(-33));
        check(EXP_E6, 2f64.powf(-28.9));
        // Exact at 0: a row's maximum contributes exactly 1.
        let e = ExpScaled::new(0.37, EXP_E7);
        assert_eq!(exp_scaled::<8, false>(0.0, &e), 1.0);
    }

    #[test]
    fn log1p_unit_matches_std() {
        let mut worst = 0.0f64;
        for i in 0..=100_000 {
            let u = i as f64 / 100_000.0;
            if u > 0.0 {
                worst = worst.max(rel(log1p_unit(u), u.ln_1p()));
            }
        }
        for u in [1e-300, 1e-40, 1e-10, 0.5] {
            worst = worst.max(rel(log1p_unit(u), f64::ln_1p(u)));
        }
        assert!(worst < 2f64.powi(-38), "{worst:e}");
        // The scaled form: k·ln(1 + u) for scales like softplus's 1/β.
        for k in [1e-30, 0.37, 1.0, 3.0, 1e30] {
            for i in 1..=10_000 {
                let u = i as f64 / 10_000.0;
                let w = rel(log1p_unit_scaled(u, k), k * u.ln_1p());
                assert!(w < 2f64.powi(-38), "{k} {u} {w:e}");
            }
        }
    }

    /// Against libm's `erfc` (within an ULP or two; `u/√2` adds a relative `u²·2^-53`): the
    /// rationals' 2^-33.4 and 2^-33.1, plus `e^x`'s 2^-36.5 and a few roundings.
    #[test]
    fn gelu_tails_match_erfc() {
        let sqrt_2pi = (2.0 * std::f64::consts::PI).sqrt();
        let (mut fwd, mut der) = (0.0f64, 0.0f64);
        for i in 0..=150_000 {
            let u = i as f64 * 1e-4 + 1.234_567e-6;
            let q = 0.5 * libm::erfc(u * std::f64::consts::FRAC_1_SQRT_2);
            fwd = fwd.max(rel(gelu_tail(u), q));
            // Away from the root, where the libm difference cancels.
            if (u - GELU_U0_HI).abs() > 0.05 && u < 10.0 {
                let v = q - u * (-0.5 * u * u).exp() / sqrt_2pi;
                der = der.max(rel(gelu_der_tail(u), v));
            }
        }
        assert!(
            fwd < 2f64.powi(-32) && der < 2f64.powi(-32),
            "{fwd:e} {der:e}"
        );
        // The sign change at the root, and the limits.
        assert!(gelu_der_tail(GELU_U0_HI - 1e-12) > 0.0 && gelu_der_tail(GELU_U0_HI + 1e-12) < 0.0);
        assert!((gelu_tail(0.0) - 0.5).abs() < 1e-10 && gelu_tail(GELU_U_MAX) < 1e-290);
        assert!(gelu_der_tail(GELU_U_MAX) < 0.0 && gelu_der_tail(GELU_U_MAX) > -1e-290);
    }
}
