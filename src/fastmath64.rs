//! f64 math for the fast CPU path's transcendental activations: each op widens its f32 input to
//! f64, evaluates the function in f64 and rounds once to f32 at the end.
//!
//! Why f64: an f32 result within ~0.5 ULP needs about 30 correct bits before the final rounding.
//! In f32 that takes double-float arithmetic (error-free transformations, as in
//! [`crate::fastmath`] and the WGSL), several times the work; f64 has them for free, and its
//! range holds every f32 subnormal result and every product like `dy·x·e^−z` as a normal number,
//! so no scaled products are needed either. AVX2 does four f64 lanes per instruction, and the
//! code below is branch-free (clamps and selects, bit casts, integer shifts), so the loops in
//! `cpu.rs` vectorize it; the results are `f(x)·(1 + δ)` with `|δ| ≲ 2^-36` before the final
//! rounding, i.e. within ~0.51 ULP wherever the function is well conditioned.
//!
//! Inputs are finite or clamped: the op bodies clamp (f64 `clamp` maps ±∞ to the bounds) and
//! select their limits for infinite inputs; NaN is the caller's (bit tests in `cpu.rs`).

/// log2(e).
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO.
const LN2_HI: f64 = std::f64::consts::LN_2;
const LN2_LO: f64 = 2.319_046_813_846_299_6e-17;
/// 1.5·2^52: adding it rounds an f64 of magnitude below 2^51 to an integer, which then sits in
/// the low bits of the sum's mantissa.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// Where [`exp_split`] clamps its argument: `e^±700` is normal in f64 (so `2^k` is built from
/// bits), and far beyond every f32 result (`e^−700·f32::MAX ≈ 3e-266`).
pub(crate) const EXP_ARG_MAX: f64 = 700.0;

/// `(s, p)` with `e^x = s·(1 + p)`, `s = 2^k` and `p = e^r − 1` for the reduced
/// `r = x − k·ln2 ∈ [−ln2/2, ln2/2]`; `x` is clamped to ±[`EXP_ARG_MAX`]. `p` is the Taylor
/// polynomial of degree 10 (truncation below `r^11/11! ≤ 2^-42`, relative to `p` below
/// `2^-40`), with `p`'s leading `r` added last so that `p` keeps its relative accuracy near 0.
#[inline(always)]
fn exp_split(x: f64) -> (f64, f64) {
    let x = x.clamp(-EXP_ARG_MAX, EXP_ARG_MAX);
    let v = x.mul_add(LOG2E, ROUND_MAGIC);
    let kf = v - ROUND_MAGIC;
    let r = (-kf).mul_add(LN2_HI, x);
    let r = (-kf).mul_add(LN2_LO, r);
    let q = (1.0 / 3_628_800.0f64)
        .mul_add(r, 1.0 / 362_880.0)
        .mul_add(r, 1.0 / 40_320.0)
        .mul_add(r, 1.0 / 5_040.0)
        .mul_add(r, 1.0 / 720.0)
        .mul_add(r, 1.0 / 120.0)
        .mul_add(r, 1.0 / 24.0)
        .mul_add(r, 1.0 / 6.0)
        .mul_add(r, 0.5);
    let p = (r * r).mul_add(q, r);
    // k sits in the low bits of v's mantissa (two's complement over ROUND_MAGIC's).
    let k = v.to_bits().wrapping_sub(ROUND_MAGIC.to_bits()) as i64;
    let s = f64::from_bits(((k + 1023) << 52) as u64);
    (s, p)
}

/// `e^x` (relative error below 2^-40) for `x` clamped to ±700.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    let (s, p) = exp_split(x);
    s.mul_add(p, s)
}

/// `e^x − 1` (relative error below 2^-40 also near 0: for `|x| ≤ ln2/2` it is `p` itself, else
/// `2^k − 1` is exact and the sum does not cancel) for `x` clamped to ±700.
#[inline(always)]
pub(crate) fn expm1(x: f64) -> f64 {
    let (s, p) = exp_split(x);
    s.mul_add(p, s - 1.0)
}

/// `ln(1 + u)` for `0 ≤ u ≤ 1` (relative error below 2^-42): `2·atanh(w)`, `w = u/(2 + u) ≤ 1/3`,
/// by its series in `w²` to `w^23/23` (truncation below `(1/9)^12/25 < 2^-42`). Taken from `u`
/// itself, so it keeps its relative accuracy for the tiniest `u`.
#[inline(always)]
pub(crate) fn log1p_unit(u: f64) -> f64 {
    let w = u / (2.0 + u);
    let w2 = w * w;
    let l = (1.0 / 23.0f64)
        .mul_add(w2, 1.0 / 21.0)
        .mul_add(w2, 1.0 / 19.0)
        .mul_add(w2, 1.0 / 17.0)
        .mul_add(w2, 1.0 / 15.0)
        .mul_add(w2, 1.0 / 13.0)
        .mul_add(w2, 1.0 / 11.0)
        .mul_add(w2, 1.0 / 9.0)
        .mul_add(w2, 1.0 / 7.0)
        .mul_add(w2, 1.0 / 5.0)
        .mul_add(w2, 1.0 / 3.0);
    let w2w = w2 * w;
    2.0 * w2w.mul_add(l, w)
}

/// `(σ(z), σ(−z))` for `z` clamped to ±700, both from `e = e^−|z|` (no cancellation, no
/// overflow): `1/(1 + e)` and `e/(1 + e)`.
#[inline(always)]
pub(crate) fn sigmoid_pair(z: f64) -> (f64, f64) {
    let e = exp(-z.abs());
    let r = 1.0 / (1.0 + e);
    let er = e * r;
    if z >= 0.0 {
        (r, er)
    } else {
        (er, r)
    }
}

/// `erfcx(a) = e^(a²)·erfc(a)` for `0 ≤ a ≤ 13.5`: the Shepherd–Laframboise form of
/// [`crate::fastmath::erfcx`] (same coefficients, evaluated in f64, so only the fit's own error
/// remains).
#[inline(always)]
pub(crate) fn erfcx(a: f64) -> f64 {
    use crate::fastmath::{
        ERFC_P0, ERFC_P1, ERFC_P10, ERFC_P2, ERFC_P3, ERFC_P4, ERFC_P5, ERFC_P6, ERFC_P7, ERFC_P8,
        ERFC_P9,
    };
    let v = (2.0 * a) / (a + 3.0);
    let q = v - 1.0;
    let p = (ERFC_P10 as f64)
        .mul_add(q, ERFC_P9 as f64)
        .mul_add(q, ERFC_P8 as f64)
        .mul_add(q, ERFC_P7 as f64)
        .mul_add(q, ERFC_P6 as f64)
        .mul_add(q, ERFC_P5 as f64)
        .mul_add(q, ERFC_P4 as f64)
        .mul_add(q, ERFC_P3 as f64)
        .mul_add(q, ERFC_P2 as f64)
        .mul_add(q, ERFC_P1 as f64)
        .mul_add(q, ERFC_P0 as f64);
    v.mul_add(p, 1.0) / 2.0f64.mul_add(a, 1.0)
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
        let mut worst = (0.0f64, 0.0f64);
        for i in -69_900..=69_900 {
            let x = i as f64 * 0.01 + 0.000_123;
            worst.0 = worst.0.max(rel(exp(x), x.exp()));
            if x.abs() < 50.0 {
                worst.1 = worst.1.max(rel(expm1(x), x.exp_m1()));
            }
        }
        for x in [1e-300, 1e-20, 1e-8, -1e-8, 0.3, -0.3466] {
            worst.1 = worst.1.max(rel(expm1(x), f64::exp_m1(x)));
        }
        assert!(
            worst.0 < 2f64.powi(-40) && worst.1 < 2f64.powi(-40),
            "{worst:?}"
        );
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
        assert!(worst < 2f64.powi(-42), "{worst:e}");
    }
}
