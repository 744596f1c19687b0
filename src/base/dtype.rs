//! Element types: f32, and the 16-bit f16 and bf16, stored as such and computed in f32.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

/// The element type of a tensor or host slice.
///
/// f16 and bf16 tensors are read as stored, computed in f32 inside the kernel (the same op bodies
/// as f32) and rounded once back (to nearest, ties to even, by bits; see `shaders/f16.wgsl` and
/// `shaders/bf16.wgsl`). They are packed two to a 32-bit word, so they need no `SHADER_F16` and
/// work on every adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE binary32.
    #[default]
    F32,
    /// IEEE binary16 ([`half::f16`] on the host).
    F16,
    /// bfloat16: f32's sign and 8-bit exponent with 7 fraction bits ([`half::bf16`] on the
    /// host), the top half of an f32.
    BF16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }
    /// `"f32"`, `"f16"` or `"bf16"`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
        }
    }
    /// Every dtype, f32 first.
    pub const ALL: [DType; 3] = [DType::F32, DType::F16, DType::BF16];
    /// The dtype named `name` (`"f32"`, `"f16"`, `"bf16"`).
    pub fn by_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }
    /// A 16-bit dtype, stored two to a 32-bit word on the GPU.
    pub fn is_half(self) -> bool {
        self.size() == 2
    }
    /// Stored fraction bits: 23, 10 or 7.
    pub fn fraction_bits(self) -> i32 {
        match self {
            DType::F32 => 23,
            DType::F16 => 10,
            DType::BF16 => 7,
        }
    }
    /// The exponent of the smallest normal number: −126, −14 or −126.
    pub fn min_exp(self) -> i32 {
        match self {
            DType::F16 => -14,
            DType::F32 | DType::BF16 => -126,
        }
    }
    /// The exponent of the largest finite number: 127, 15 or 127.
    pub fn max_exp(self) -> i32 {
        match self {
            DType::F16 => 15,
            DType::F32 | DType::BF16 => 127,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// A host element type: `f32`, [`half::f16`] or [`half::bf16`]. Every API that takes host slices
/// or typed buffers is generic over it; 16-bit values are widened to f32 exactly, computed in f32
/// and rounded once back (to nearest even, as `half` and the GPU's bit conversions do).
pub trait Element:
    bytemuck::Pod + Send + Sync + PartialEq + std::fmt::Debug + sealed::Sealed
{
    /// The matching dtype.
    const DTYPE: DType;
    /// The slice as f32 (then computed straight from and into memory), or `None`.
    #[doc(hidden)]
    fn as_f32(v: &[Self]) -> Option<&[f32]>;
    #[doc(hidden)]
    fn as_f32_mut(v: &mut [Self]) -> Option<&mut [f32]>;
    /// Widen `src` into `dst` (same length; exact).
    #[doc(hidden)]
    fn load(src: &[Self], dst: &mut [f32]);
    /// Round `src` into `dst` (same length; once, to nearest even).
    #[doc(hidden)]
    fn store(src: &[f32], dst: &mut [Self]);
    /// One value widened to f32 (exact).
    #[doc(hidden)]
    fn to_f32(self) -> f32;
    /// One value widened to f64 (exact).
    #[doc(hidden)]
    fn to_f64(self) -> f64 {
        self.to_f32() as f64
    }
    /// `v` rounded once to this type (to nearest even; NaN stays NaN).
    #[doc(hidden)]
    fn from_f32(v: f32) -> Self;
    /// `v` rounded once to this type (to nearest even, from the f64 directly: no double rounding).
    #[doc(hidden)]
    fn from_f64(v: f64) -> Self;
    /// The value's bits.
    #[doc(hidden)]
    fn to_bits(self) -> u32;
    /// The value with these bits (the low 16 for the 16-bit types).
    #[doc(hidden)]
    fn from_bits(b: u32) -> Self;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn as_f32(v: &[f32]) -> Option<&[f32]> {
        Some(v)
    }
    fn as_f32_mut(v: &mut [f32]) -> Option<&mut [f32]> {
        Some(v)
    }
    fn load(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    fn store(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> f32 {
        v
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_bits(self) -> u32 {
        f32::to_bits(self)
    }
    fn from_bits(b: u32) -> f32 {
        f32::from_bits(b)
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    fn as_f32(_: &[f16]) -> Option<&[f32]> {
        None
    }
    fn as_f32_mut(_: &mut [f16]) -> Option<&mut [f32]> {
        None
    }
    fn load(src: &[f16], dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has the features the function was compiled for (checked above).
            return unsafe { f16c::widen(src, dst) };
        }
        src.convert_to_f32_slice(dst);
    }
    fn store(src: &[f32], dst: &mut [f16]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx") {
            // SAFETY: as above.
            return unsafe { f16c::narrow(src, dst) };
        }
        dst.convert_from_f32_slice(src);
    }
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn to_f64(self) -> f64 {
        f16::to_f64(self)
    }
    fn from_f32(v: f32) -> f16 {
        f16::from_f32(v)
    }
    fn from_f64(v: f64) -> f16 {
        f16::from_f64(v)
    }
    fn to_bits(self) -> u32 {
        f16::to_bits(self) as u32
    }
    fn from_bits(b: u32) -> f16 {
        f16::from_bits(b as u16)
    }
}

/// bf16 is the top half of an f32: widening is a shift, rounding (to nearest even by bits, NaN
/// kept quiet with the top of its payload, overflow to infinity where the rounding carries into
/// the exponent, subnormals kept) adds `0x7fff` plus the lowest kept bit and shifts. Both
/// vectorize as written; `half`'s slice conversions go element by element.
impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
    fn as_f32(_: &[bf16]) -> Option<&[f32]> {
        None
    }
    fn as_f32_mut(_: &mut [bf16]) -> Option<&mut [f32]> {
        None
    }
    fn load(src: &[bf16], dst: &mut [f32]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f32::from_bits((s.to_bits() as u32) << 16);
        }
    }
    fn store(src: &[f32], dst: &mut [bf16]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = bf16::from_bits(bf16_bits(*s));
        }
    }
    fn to_f32(self) -> f32 {
        f32::from_bits((bf16::to_bits(self) as u32) << 16)
    }
    fn from_f32(v: f32) -> bf16 {
        bf16::from_bits(bf16_bits(v))
    }
    fn from_f64(v: f64) -> bf16 {
        bf16_from_f64(v)
    }
    fn to_bits(self) -> u32 {
        bf16::to_bits(self) as u32
    }
    fn from_bits(b: u32) -> bf16 {
        bf16::from_bits(b as u16)
    }
}

/// `v` rounded to bf16 bits: to nearest, ties to even, on the integer (a carry out of the
/// fraction bumps the exponent, up to infinity); NaN keeps its sign and top payload and is made
/// quiet. The same steps as `bf16_from_f32` in `shaders/bf16.wgsl`.
#[inline]
pub(crate) fn bf16_bits(v: f32) -> u16 {
    let x = v.to_bits();
    let rounded = (x.wrapping_add(0x7fff + ((x >> 16) & 1)) >> 16) as u16;
    let nan = ((x >> 16) | 0x40) as u16;
    if x & 0x7fff_ffff > 0x7f80_0000 {
        nan
    } else {
        rounded
    }
}

/// `v` correctly rounded to bf16 (to nearest even): through f32 rounded to odd, which keeps
/// enough bits that the second rounding is exact (`half`'s `bf16::from_f64` drops the low 32 bits
/// of the f64 first, so a value just above a tie can round down).
pub(crate) fn bf16_from_f64(v: f64) -> bf16 {
    let f = v as f32;
    let mut bits = f.to_bits();
    if f.is_finite() && f as f64 != v {
        // Truncate towards zero, then mark inexact in the lowest bit (round to odd).
        if (f as f64).abs() > v.abs() {
            bits -= 1;
        }
        bits |= 1;
    }
    bf16::from_bits(bf16_bits(f32::from_bits(bits)))
}

/// `x` widened to a new f32 vector.
pub(crate) fn widen<T: Element>(x: &[T]) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    T::load(x, &mut out);
    out
}

/// f16 ↔ f32 eight at a time with the F16C instructions (`half` converts through 8-element
/// arrays and a call per group, about ten times slower on a block). Rounding to nearest even,
/// NaN kept quiet, as `half`'s: the tail of a block goes through `half`.
#[cfg(target_arch = "x86_64")]
mod f16c {
    use half::f16;
    use half::slice::HalfFloatSliceExt;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn widen(src: &[f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let whole = n / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 <= n for both slices; unaligned loads and stores.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        src[whole..n].convert_to_f32_slice(&mut dst[whole..n]);
    }

    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn narrow(src: &[f32], dst: &mut [f16]) {
        let n = src.len().min(dst.len());
        let whole = n / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: as in `widen`.
            unsafe {
                let f = _mm256_loadu_ps(src.as_ptr().add(i));
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(f);
                _mm_storeu_si128(dst.as_mut_ptr().add(i).cast(), h);
            }
        }
        dst[whole..n].convert_from_f32_slice(&src[whole..n]);
    }
}
