//! f16 tensors: every activation and mode on the GPU and the CPU path against the exact f64
//! reference of the f16 inputs, bounded by 1 ULP of f16 (0.5 for the forward of piecewise-linear
//! ops); the softmax family, with 16-bit or f32 output; offsets, odd lengths, in place and split
//! dispatches; a device without `SHADER_F16`; the typed errors (all from `half/shared.rs`, shared
//! with bf16); and the f32 → f16 rounding exhaustively.

#[macro_use]
mod common;

/// The element type under test.
type H = wgpu_activations::half::f16;

include!("half/shared.rs");

use wgpu_activations::half::f16;

/// Every f16 bit pattern.
fn all_f16() -> Vec<f16> {
    (0..=u16::MAX).map(f16::from_bits).collect()
}

/// squared_relu's x² is exact in f32 for every f16 x (22 significant bits), so the only rounding
/// is the kernel's f32 → f16 one: it must be half's correctly rounded conversion bit for bit,
/// through ties, f16 subnormals, the overflow to infinity and NaN. relu checks that every pattern
/// is read back exactly.
#[test]
fn gpu_f16_rounding_is_exact_for_every_pattern() {
    let Some(ctx) = common::gpu() else { return };
    let x = all_f16();
    let sq = ctx
        .forward(&Activation::new(OpKind::SquaredRelu), &x)
        .unwrap();
    let relu = ctx.forward(&Activation::new(OpKind::Relu), &x).unwrap();
    for (i, &v) in x.iter().enumerate() {
        let f = v.to_f32();
        if v.is_nan() {
            assert!(
                sq[i].is_nan() && relu[i].is_nan(),
                "{:#06x}: NaN lost",
                v.to_bits()
            );
            continue;
        }
        let want_sq = f16::from_f32(if f > 0.0 { f * f } else { 0.0 });
        assert_eq!(
            sq[i].to_bits(),
            want_sq.to_bits(),
            "squared_relu({f:e} = {:#06x})",
            v.to_bits()
        );
        if f > 0.0 {
            assert_eq!(relu[i].to_bits(), v.to_bits(), "relu({f:e})");
        } else {
            assert_eq!(relu[i].to_f32(), 0.0, "relu({f:e})");
        }
    }
}

/// The CPU path rounds alike.
#[test]
fn cpu_f16_rounding_is_exact_for_every_pattern() {
    let x = all_f16();
    let sq = cpu::forward(&Activation::new(OpKind::SquaredRelu), &x).unwrap();
    for (i, &v) in x.iter().enumerate() {
        let f = v.to_f32();
        if v.is_nan() {
            assert!(sq[i].is_nan());
            continue;
        }
        let want = f16::from_f32(if f > 0.0 { f * f } else { 0.0 });
        assert_eq!(sq[i].to_bits(), want.to_bits(), "squared_relu({f:e})");
    }
}
