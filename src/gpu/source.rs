//! Every WGSL source the crate compiles, and the one place that fills the kernel templates.
//! Shader text is compiled into the crate with `include_str!`.

use crate::base::dtype::DType;
use crate::base::error::{Error, Result};

/// Shared numerics: range-reduced exp, expm1, log1p, erf, erfc, tanh and double-float helpers.
pub const MATH: &str = include_str!("../../shaders/math.wgsl");
/// Every activation's `NAME_fwd`, `NAME_der`, `NAME_bwd` and `NAME_bwd_dy`, one file per family
/// (the families of `src/ops/`).
pub const OPS: [&str; 5] = [
    include_str!("../../shaders/ops/piecewise.wgsl"),
    include_str!("../../shaders/ops/exponential.wgsl"),
    include_str!("../../shaders/ops/logistic.wgsl"),
    include_str!("../../shaders/ops/hyperbolic.wgsl"),
    include_str!("../../shaders/ops/gaussian.wgsl"),
];
/// A kernel's WGSL from math.wgsl, every op family's bodies (`OPS`) and then `parts`, in order.
pub fn with_ops(parts: &[&str]) -> String {
    [MATH]
        .iter()
        .chain(&OPS)
        .chain(parts)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}
/// The bench's baseline bodies of the element-wise template: `copy` and the textbook
/// `naive_NAME` of each transcendental op.
pub const BASELINES: &str = include_str!("../../shaders/baselines.wgsl");
/// prelu's slope-gradient reduction.
pub const PRELU_GRAD: &str = include_str!("../../shaders/prelu_grad.wgsl");
/// The softmax family (softmax, log_softmax, softmin; forward and backward).
pub const SOFTMAX: &str = include_str!("../../shaders/softmax.wgsl");
/// The softmax rows kernel's lanes and reductions with subgroup operations.
pub const SOFTMAX_SUBGROUP: &str = include_str!("../../shaders/softmax_subgroup.wgsl");
/// The same through workgroup memory (no subgroups), and the other kernels' companion.
pub const SOFTMAX_WORKGROUP: &str = include_str!("../../shaders/softmax_workgroup.wgsl");
/// The GLU family (glu, swiglu, geglu, reglu; forward and backward).
pub const GLU: &str = include_str!("../../shaders/glu.wgsl");
/// f16 storage: bit conversions between f16 halves of u32 words and f32.
pub const F16: &str = include_str!("../../shaders/f16.wgsl");
/// bf16 storage: bit conversions between bf16 halves of u32 words and f32.
pub const BF16: &str = include_str!("../../shaders/bf16.wgsl");
/// The element-wise kernel template (the op, its mode and slope; the tensors' files below).
pub const ELEMENTWISE: &str = include_str!("../../shaders/elementwise.wgsl");
/// Element-wise tensors as f32 arrays.
pub const ELEMENTWISE_F32: &str = include_str!("../../shaders/elementwise_f32.wgsl");
/// Element-wise tensors as vec4<f32> arrays.
pub const ELEMENTWISE_F32_VEC4: &str = include_str!("../../shaders/elementwise_f32_vec4.wgsl");
/// Element-wise 16-bit tensors (f16, bf16: [`half_codec`]), a u32 word (two elements) per
/// invocation.
pub const ELEMENTWISE_F16: &str = include_str!("../../shaders/elementwise_f16.wgsl");
/// Element-wise 16-bit tensors, a vec4<u32> (eight elements) per invocation.
pub const ELEMENTWISE_F16_VEC4: &str = include_str!("../../shaders/elementwise_f16_vec4.wgsl");
/// Element-wise bindings: separate input and output.
pub const ELEMENTWISE_OUT_OF_PLACE: &str =
    include_str!("../../shaders/elementwise_out_of_place.wgsl");
/// Element-wise bindings: the output overwrites the input.
pub const ELEMENTWISE_IN_PLACE: &str = include_str!("../../shaders/elementwise_in_place.wgsl");
/// Element-wise second operand: dy (backward).
pub const ELEMENTWISE_GRAD: &str = include_str!("../../shaders/elementwise_grad.wgsl");
/// Element-wise second operand: none (forward, derivative).
pub const ELEMENTWISE_NO_GRAD: &str = include_str!("../../shaders/elementwise_no_grad.wgsl");
/// The softmax input tensors as f32 arrays (softmax.wgsl's `{{IO}}`: an input file, an output
/// file, the quads).
pub const SOFTMAX_IO_F32_IN: &str = include_str!("../../shaders/softmax_io_f32_in.wgsl");
/// The softmax output tensor as an f32 array.
pub const SOFTMAX_IO_F32_OUT: &str = include_str!("../../shaders/softmax_io_f32_out.wgsl");
/// The softmax tensors as vec4<f32> arrays (inputs and output).
pub const SOFTMAX_IO_VEC4: &str = include_str!("../../shaders/softmax_io_vec4.wgsl");
/// The softmax input tensors as 16-bit floats packed in u32 words ([`half_codec`]).
pub const SOFTMAX_IO_HALF_IN: &str = include_str!("../../shaders/softmax_io_half_in.wgsl");
/// The softmax output tensor as 16-bit floats packed in u32 words.
pub const SOFTMAX_IO_HALF_OUT: &str = include_str!("../../shaders/softmax_io_half_out.wgsl");
/// The softmax quad accessors as four element accesses (f32 and 16-bit arrays).
pub const SOFTMAX_IO_QUADS: &str = include_str!("../../shaders/softmax_io_quads.wgsl");
/// The context's one-invocation probe of fused fma and subnormal flushing.
pub const PROBE: &str = include_str!("../../shaders/probe.wgsl");

/// The WGSL a kernel with tensors of `dtype` needs ahead of its own text: nothing for f32; for a
/// 16-bit dtype the word helpers (`h16_half`), its bit conversions, and the codec every packed
/// kernel file calls, `half_to_f32(bits: u32) -> f32` (exact) and `half_from_f32(v: f32) -> u32`
/// (rounded to nearest even, NaN kept quiet). A kernel family written against the codec takes
/// every 16-bit dtype alike.
pub fn half_codec(dtype: DType) -> String {
    let (conv, to, from) = match dtype {
        DType::F32 => return String::new(),
        DType::F16 => ("", "h16_to_f32", "h16_from_f32"),
        DType::BF16 => (BF16, "bf16_to_f32", "bf16_from_f32"),
    };
    format!(
        "{F16}\n{conv}\nfn half_to_f32(h: u32) -> f32 {{ return {to}(h); }}\n\
         fn half_from_f32(v: f32) -> u32 {{ return {from}(v); }}\n"
    )
}

/// Invocations per workgroup of every kernel: substituted into each shader as `{{WG}}` (its
/// `const WG`), and used by every launch computation that depends on it.
pub const WORKGROUP_SIZE: u32 = 256;

/// Replace each `{{TOKEN}}` of `template` and check that none is left.
pub fn fill(label: &str, template: &str, tokens: &[(&str, &str)]) -> Result<String> {
    let mut out = template.to_string();
    for (token, value) in tokens {
        out = out.replace(&format!("{{{{{token}}}}}"), value);
    }
    if let Some(at) = out.find("{{") {
        let end = out[at..].find("}}").map_or(out.len(), |e| at + e + 2);
        return Err(Error::ShaderCompile {
            label: label.to_string(),
            message: format!("template token {} left unfilled", &out[at..end]),
            source_text: out,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// The context's probe kernel parses and validates (the kernel families' WGSL is checked in
    /// `kernels::tests`).
    #[test]
    fn probe_wgsl_validates() {
        let wgsl = format!("{}\n{}", super::MATH, super::PROBE);
        let module = naga::front::wgsl::parse_str(&wgsl)
            .unwrap_or_else(|e| panic!("probe: {}", e.emit_to_string(&wgsl))); // ok: unit test
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("probe: {}", e.emit_to_string(&wgsl))); // ok: unit test
    }

    /// A token left unfilled is an error that names it.
    #[test]
    fn fill_reports_unfilled_tokens() {
        let e = super::fill("t", "a {{X}} b {{Y}}", &[("X", "1")]).unwrap_err(); // ok: unit test
        assert!(e.to_string().contains("{{Y}}"), "{e}");
        let filled = super::fill("t", "{{X}}{{X}}", &[("X", "1")]).unwrap(); // ok: unit test
        assert_eq!(filled, "11");
    }
}
