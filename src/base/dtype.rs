//! Element types: f32, and f16 stored as f16 and computed in f32.

use half::f16;
use half::slice::HalfFloatSliceExt;

/// The element type of a tensor or host slice.
///
/// f16 tensors are read as f16, computed in f32 inside the kernel (the same op bodies as f32) and
/// rounded once to f16 (to nearest, ties to even, by bits; see `shaders/f16.wgsl`). They are
/// packed two to a 32-bit word, so they need no `SHADER_F16` and work on every adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE binary32.
    #[default]
    F32,
    /// IEEE binary16 ([`half::f16`] on the host).
    F16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
        }
    }
    /// `"f32"` or `"f16"`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}

/// A host element type: `f32` or [`half::f16`]. Every API that takes host slices or typed
/// buffers is generic over it; f16 values are widened to f32 exactly, computed in f32 and
/// rounded once back (to nearest even, as `half` and the GPU's bit conversions do).
pub trait Element: bytemuck::Pod + Send + Sync + sealed::Sealed {
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
