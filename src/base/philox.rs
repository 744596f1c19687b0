//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
//! counter-based generator behind `rrelu`'s training-mode slopes. Keyed by the seed and counted by
//! the element index, so every element's slope is a pure function of (seed, index): the GPU and
//! the CPU agree bit for bit whatever the dispatch geometry, and backward regenerates the slopes
//! instead of storing them. `shaders/elementwise.wgsl` holds the same function.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds.
#[inline]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let (hi0, lo0) = mulhilo(M0, c0);
        let (hi1, lo1) = mulhilo(M1, c2);
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
    }
    [c0, c1, c2, c3]
}

/// A uniform draw in `[0, 1)` with 24 random bits, for element `index` under `seed`.
#[inline]
pub fn uniform(seed: u64, index: u64) -> f32 {
    let r = philox4x32_10(
        [index as u32, (index >> 32) as u32, 0, 0],
        [seed as u32, (seed >> 32) as u32],
    );
    (r[0] >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// rrelu's training-mode slope for element `index`: `lower + (upper − lower)·u`, rounded after
/// the product and after the sum exactly as the WGSL does (which keeps drivers from fusing the
/// two), so both sides give the same bits. Where `upper − lower` overflows (bounds of opposite
/// signs near `f32::MAX`) everything is halved first and the sum doubled (exact at those
/// magnitudes), so the slope stays in `[lower, upper]` instead of becoming ±∞ or NaN.
#[inline]
pub fn rrelu_slope(seed: u64, index: u64, lower: f32, upper: f32) -> f32 {
    let u = uniform(seed, index);
    let d = upper - lower;
    if d.is_finite() {
        d * u + lower
    } else {
        ((0.5 * upper - 0.5 * lower) * u + 0.5 * lower) * 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vectors from Random123's kat_vectors file.
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn slopes_lie_in_range() {
        for i in 0..10_000 {
            let s = rrelu_slope(7, i, 0.125, 1.0 / 3.0);
            assert!((0.125..=1.0 / 3.0).contains(&s), "{s}");
            let s = rrelu_slope(7, i, -f32::MAX, f32::MAX);
            assert!(s.is_finite(), "{s}");
        }
    }
}
