//! bf16 tensors: every activation and mode on the GPU and the CPU path against the exact f64
//! reference of the bf16 inputs, bounded by 1 ULP of bf16 (0.5 for the forward of
//! piecewise-linear ops); the softmax family, with 16-bit or f32 output; offsets, odd lengths, in
//! place and split dispatches; a device without `SHADER_F16`; the typed errors (all from
//! `half/shared.rs`, shared with f16); and the f32 → bf16 rounding: on the CPU over all 2^32 f32
//! patterns against `half`'s `bf16::from_f32`, on the GPU over every bf16 pattern with five
//! low halves each (ties, either side of them, zero, all ones) and a million random patterns,
//! through the kernels' own `shaders/bf16.wgsl`.

#[macro_use]
mod common;

/// The element type under test.
type H = wgpu_activations::half::bf16;

include!("half/shared.rs");

use wgpu_activations::half::bf16;
use wgpu_activations::wgpu;

/// The crate's CPU rounding (`Element::store`, what the CPU path and the host conversions use)
/// equals `half`'s `bf16::from_f32`, an independent implementation, for every f32 bit pattern:
/// ties to even, the carry into the exponent up to infinity, subnormals, NaN kept quiet with its
/// sign and top payload. Widening is exact for every bf16 pattern.
#[test]
fn cpu_bf16_rounding_is_exact_for_every_f32_pattern() {
    const BLOCK: u64 = 1 << 16;
    let mismatches = std::sync::atomic::AtomicU64::new(0);
    let first = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (mismatches, first) = (&mismatches, &first);
            s.spawn(move || {
                let mut src = vec![0f32; BLOCK as usize];
                let mut dst = vec![bf16::ZERO; BLOCK as usize];
                for b in (t..(1u64 << 32) / BLOCK).step_by(2) {
                    for (k, v) in src.iter_mut().enumerate() {
                        *v = f32::from_bits((b * BLOCK) as u32 + k as u32);
                    }
                    <bf16 as Element>::store(&src, &mut dst);
                    for (v, h) in src.iter().zip(&dst) {
                        if h.to_bits() != bf16::from_f32(*v).to_bits() {
                            mismatches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            first.lock().unwrap().get_or_insert(v.to_bits());
                        }
                    }
                }
            });
        }
    });
    let n = mismatches.into_inner();
    assert_eq!(
        n,
        0,
        "{n} mismatches, first at f32 bits {:#010x}",
        first.into_inner().unwrap().unwrap_or(0)
    );
    for b in 0..=u16::MAX {
        let h = bf16::from_bits(b);
        let w = <bf16 as Element>::to_f32(h);
        let mut one = [0f32];
        <bf16 as Element>::load(&[h], &mut one);
        assert_eq!(w.to_bits(), one[0].to_bits());
        assert_eq!(w.to_bits(), (b as u32) << 16, "{b:#06x}");
        if !h.is_nan() {
            assert_eq!(w.to_bits(), h.to_f32().to_bits(), "{b:#06x}");
        }
    }
}

/// The f32 patterns the GPU check covers: every bf16 pattern (every sign, exponent and kept
/// fraction, infinities and NaNs) with the low halves 0, 0x7fff, 0x8000 (the tie), 0x8001 and
/// 0xffff, then a million seeded random patterns.
fn gpu_patterns() -> Vec<u32> {
    let mut v = Vec::with_capacity(5 << 16 | 1 << 20);
    for hi in 0..=u16::MAX as u32 {
        for lo in [0u32, 0x7fff, 0x8000, 0x8001, 0xffff] {
            v.push(hi << 16 | lo);
        }
    }
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..1 << 20 {
        // SplitMix64.
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        v.push((z ^ (z >> 31)) as u32);
    }
    v
}

/// The kernels' f32 → bf16 rounding (`bf16_from_f32` in `shaders/bf16.wgsl`, the file every bf16
/// kernel includes) equals `half`'s `bf16::from_f32` bit for bit on the GPU over
/// [`gpu_patterns`], and the widening `bf16_to_f32` returns the pattern's top half as f32 bits.
#[test]
fn gpu_bf16_rounding_is_exact_on_edge_patterns() {
    let Some(ctx) = common::gpu() else { return };
    let wgsl = format!(
        "{}\n{}",
        include_str!("../shaders/bf16.wgsl"),
        r#"
@group(0) @binding(0) var<storage, read> xs: array<u32>;
@group(0) @binding(1) var<storage, read_write> ys: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
    let i = g.y * n.x * 256u + g.x;
    if (i >= arrayLength(&xs)) {
        return;
    }
    let x = xs[i];
    ys[2u * i] = bf16_from_f32(bitcast<f32>(x));
    ys[2u * i + 1u] = bitcast<u32>(bf16_to_f32(x >> 16u));
}
"#
    );
    let xs = gpu_patterns();
    let device = ctx.device();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("bf16 rounding"),
        source: wgpu::ShaderSource::Wgsl(wgsl.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("bf16 rounding"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let xf: Vec<f32> = xs.iter().map(|&b| f32::from_bits(b)).collect();
    let xb = ctx.upload(&xf).unwrap();
    let yb = ctx.create_tensor::<f32>(2 * xs.len()).unwrap();
    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: xb.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: yb.as_entire_binding(),
            },
        ],
    });
    let groups = (xs.len() as u32).div_ceil(256);
    let (gx, gy) = (groups.min(32768), groups.div_ceil(32768));
    let mut enc = device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }
    ctx.queue().submit([enc.finish()]);
    let ys = ctx.read::<f32>(&yb, 0, 2 * xs.len()).unwrap();
    let mut bad = Vec::new();
    for (i, &x) in xs.iter().enumerate() {
        let want = bf16::from_f32(f32::from_bits(x)).to_bits() as u32;
        let got = ys[2 * i].to_bits();
        let wide = ys[2 * i + 1].to_bits();
        if got != want || wide != x & 0xffff_0000 {
            bad.push(format!(
                "{x:#010x}: rounded {got:#06x} want {want:#06x}, widened {wide:#010x}"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} patterns wrong:\n{}",
        bad.len(),
        xs.len(),
        bad[..bad.len().min(12)].join("\n")
    );
}

/// Every bf16 pattern through the kernels, end to end: relu reads each back exactly (NaN stays
/// NaN), and squared_relu's x², exact in f32 for every bf16 x (16 significant bits; a device
/// that flushes f32 subnormals may give 0 where x² is one), rounds to `half`'s `bf16::from_f32`
/// bit for bit, ties, overflow to infinity and bf16 subnormals included.
#[test]
fn gpu_bf16_kernels_round_every_pattern() {
    let Some(ctx) = common::gpu() else { return };
    let x: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
    let sq = ctx
        .forward(&Activation::new(OpKind::SquaredRelu), &x)
        .unwrap();
    let relu = ctx.forward(&Activation::new(OpKind::Relu), &x).unwrap();
    let flushes = ctx.flushes_subnormals();
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
        let s = if f > 0.0 { f * f } else { 0.0 };
        let want_sq = bf16::from_f32(s);
        let flushed = flushes && s != 0.0 && s < f32::MIN_POSITIVE && sq[i].to_f32() == 0.0;
        assert!(
            sq[i].to_bits() == want_sq.to_bits() || flushed,
            "squared_relu({f:e} = {:#06x}): got {:#06x} want {:#06x}",
            v.to_bits(),
            sq[i].to_bits(),
            want_sq.to_bits()
        );
        if f > 0.0 {
            let flushed = flushes && f < f32::MIN_POSITIVE && relu[i].to_f32() == 0.0;
            assert!(relu[i].to_bits() == v.to_bits() || flushed, "relu({f:e})");
        } else {
            assert_eq!(relu[i].to_f32(), 0.0, "relu({f:e})");
        }
    }
}
