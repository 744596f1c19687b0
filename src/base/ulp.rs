//! The accuracy metric of the crate: `|got − exact| / max(ulp_f32(exact), 2^-123)`, where `exact`
//! is the reference's unrounded f64 value. The floor lets results far below the normal range
//! flush to zero.
//!
//! For f16 results: `|got − exact| / ulp_f16(exact)`, with the f16 spacing `2^(e − 10)` in the
//! binade `[2^e, 2^(e+1))` and the subnormal spacing `2^-24` below `2^-14`. No floor is needed:
//! the kernels compute in f32, whose range reaches far below f16's smallest subnormal.
//!
//! For bf16 results: `|got − exact| / max(ulp_bf16(exact), 2^-123)`, with the bf16 spacing
//! `2^(e − 7)` (`2^-133` below `2^-126`) and f32's floor, since bf16 shares f32's exponent range
//! and a device may flush f32 subnormals in the arithmetic.

/// The spacing of f32 values in the binade holding `|v|` (subnormal spacing below the normals).
pub fn ulp_f32(v: f64) -> f64 {
    let a = v.abs();
    if a < f32::MIN_POSITIVE as f64 {
        return 2f64.powi(-149);
    }
    let e = a.log2().floor() as i32;
    // log2 can round up to the next integer just below a power of two; correct for it.
    let e = if 2f64.powi(e) > a { e - 1 } else { e };
    2f64.powi(e.min(127) - 23)
}

/// The error of `got` against the exact value, in ULPs of f32 (with the 2^-123 floor). Matching
/// NaNs, and infinities that the exact value rounds to, count as 0; a NaN or an infinity where the
/// exact value says otherwise counts as infinite.
pub fn ulp_error(got: f32, exact: f64) -> f64 {
    if exact.is_nan() || got.is_nan() {
        return if exact.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    // The value the exact result rounds to in f32 decides whether an infinity is right.
    let rounded = exact as f32;
    if got.is_infinite() || rounded.is_infinite() {
        return if got == rounded { 0.0 } else { f64::INFINITY };
    }
    let diff = (got as f64 - exact).abs();
    diff / ulp_f32(exact).max(2f64.powi(-123))
}

/// The spacing of f16 values in the binade holding `|v|` (`2^-24` below the normals, `2^5` from
/// 65504 up).
pub fn ulp_f16(v: f64) -> f64 {
    let a = v.abs();
    if a < 2f64.powi(-14) {
        return 2f64.powi(-24);
    }
    let e = a.log2().floor() as i32;
    let e = if 2f64.powi(e) > a { e - 1 } else { e };
    2f64.powi(e.min(15) - 10)
}

/// The error of an f16 result against the exact value, in ULPs of f16; NaNs and infinities as in
/// [`ulp_error`] (an infinity is right where the exact value rounds to it in f16, from 65520 up).
pub fn ulp_error_f16(got: half::f16, exact: f64) -> f64 {
    if exact.is_nan() || got.is_nan() {
        return if exact.is_nan() && got.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let rounded = half::f16::from_f64(exact);
    if got.is_infinite() || rounded.is_infinite() {
        return if got == rounded { 0.0 } else { f64::INFINITY };
    }
    (got.to_f64() - exact).abs() / ulp_f16(exact)
}

/// The spacing of bf16 values in the binade holding `|v|` (`2^-133` below the normals, `2^120`
/// from the largest finite value up).
pub fn ulp_bf16(v: f64) -> f64 {
    ulp_of(crate::DType::BF16, v)
}

/// The spacing of `dtype`'s values in the binade holding `|v|` (its subnormal spacing below the
/// normals, the top binade's above the largest finite value).
pub fn ulp_of(dtype: crate::DType, v: f64) -> f64 {
    let (p, emin, emax) = (dtype.fraction_bits(), dtype.min_exp(), dtype.max_exp());
    let a = v.abs();
    if a < 2f64.powi(emin) {
        return 2f64.powi(emin - p);
    }
    let e = a.log2().floor() as i32;
    let e = if 2f64.powi(e) > a { e - 1 } else { e };
    2f64.powi(e.min(emax) - p)
}

/// The error of a result of any element type against the exact value, in ULPs of that type:
/// [`ulp_error`] for f32, [`ulp_error_f16`] for f16; for bf16 `|got − exact| /
/// max(ulp_bf16(exact), 2^-123)`, NaNs and infinities as in [`ulp_error`] (an infinity is right
/// where the exact value rounds to it in bf16).
pub fn ulp_error_of<T: crate::Element>(got: T, exact: f64) -> f64 {
    let dtype = T::DTYPE;
    let g = got.to_f64();
    if dtype == crate::DType::F32 {
        return ulp_error(got.to_f32(), exact);
    }
    if exact.is_nan() || g.is_nan() {
        return if exact.is_nan() && g.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let rounded = T::from_f64(exact).to_f64();
    if g.is_infinite() || rounded.is_infinite() {
        return if g == rounded { 0.0 } else { f64::INFINITY };
    }
    let floor = if dtype == crate::DType::BF16 {
        2f64.powi(-123)
    } else {
        0.0
    };
    (g - exact).abs() / ulp_of(dtype, exact).max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_of_powers_and_subnormals() {
        assert_eq!(ulp_f32(1.0), 2f64.powi(-23));
        assert_eq!(ulp_f32(1.999_999), 2f64.powi(-23));
        assert_eq!(ulp_f32(2.0), 2f64.powi(-22));
        assert_eq!(ulp_f32(-0.75), 2f64.powi(-24));
        assert_eq!(ulp_f32(1e-40), 2f64.powi(-149));
        assert_eq!(ulp_f32(0.0), 2f64.powi(-149));
    }

    #[test]
    fn f16_ulps() {
        use half::f16;
        assert_eq!(ulp_f16(1.0), 2f64.powi(-10));
        assert_eq!(ulp_f16(65504.0), 32.0);
        assert_eq!(ulp_f16(1e-6), 2f64.powi(-24));
        assert_eq!(ulp_f16(2f64.powi(-14)), 2f64.powi(-24));
        assert_eq!(ulp_error_f16(f16::ONE, 1.0), 0.0);
        assert_eq!(ulp_error_f16(f16::from_bits(0x3c01), 1.0), 1.0);
        assert_eq!(ulp_error_f16(f16::INFINITY, 65520.0), 0.0);
        assert_eq!(ulp_error_f16(f16::MAX, 65520.0), f64::INFINITY);
        assert_eq!(ulp_error_f16(f16::MAX, 65519.0), 0.5 - 1.0 / 32.0);
        assert_eq!(ulp_error_f16(f16::NAN, f64::NAN), 0.0);
        assert_eq!(ulp_error_f16(f16::ZERO, 2f64.powi(-24)), 1.0);
        for v in [1.0, 65504.0, 1e-6, 2f64.powi(-14), 3.0e-5, 1e6] {
            assert_eq!(ulp_of(crate::DType::F16, v), ulp_f16(v), "{v}");
            assert_eq!(ulp_of(crate::DType::F32, v), ulp_f32(v), "{v}");
        }
    }

    #[test]
    fn bf16_ulps() {
        use half::bf16;
        assert_eq!(ulp_bf16(1.0), 2f64.powi(-7));
        assert_eq!(ulp_bf16(255.0), 1.0);
        assert_eq!(ulp_bf16(1e-39), 2f64.powi(-133));
        assert_eq!(ulp_bf16(3.0e38), 2f64.powi(120));
        assert_eq!(ulp_error_of(bf16::ONE, 1.0), 0.0);
        assert_eq!(ulp_error_of(bf16::from_bits(0x3f81), 1.0), 1.0);
        assert_eq!(
            ulp_error_of(bf16::from_bits(0x3f81), 1.0 + 2f64.powi(-8)),
            0.5
        );
        // bf16::MAX = (2 - 2^-7) 2^127; from (2 - 2^-8) 2^127 up the exact value rounds to inf.
        let tie = (2.0 - 2f64.powi(-8)) * 2f64.powi(127);
        assert_eq!(ulp_error_of(bf16::INFINITY, tie), 0.0);
        assert_eq!(ulp_error_of(bf16::MAX, tie), f64::INFINITY);
        let below = ulp_error_of(bf16::MAX, tie * (1.0 - 1e-12));
        assert!(below < 0.5 && below > 0.49, "{below}");
        assert_eq!(ulp_error_of(bf16::NAN, f64::NAN), 0.0);
        // The floor: a flushed result far below the normals.
        assert_eq!(ulp_error_of(bf16::ZERO, 2f64.powi(-133)), 2f64.powi(-10));
    }

    #[test]
    fn errors() {
        assert_eq!(ulp_error(1.0, 1.0), 0.0);
        assert_eq!(ulp_error(1.0 + f32::EPSILON, 1.0), 1.0);
        assert_eq!(ulp_error(f32::NAN, f64::NAN), 0.0);
        assert_eq!(ulp_error(0.0, f64::NAN), f64::INFINITY);
        assert_eq!(ulp_error(f32::NAN, 0.0), f64::INFINITY);
        assert_eq!(ulp_error(f32::INFINITY, 1e300), 0.0);
        assert_eq!(ulp_error(f32::INFINITY, 1.0), f64::INFINITY);
        assert_eq!(ulp_error(f32::MAX, 1e300), f64::INFINITY);
        // Far below the normal range the floor 2^-123 applies: flushing 1e-40 to 0 is 1e-40/2^-123.
        assert!(ulp_error(0.0, 1e-40) < 1e-2);
        assert!(ulp_error(0.0, 1e-30) > 1e6);
    }
}
