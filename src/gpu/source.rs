//! Every WGSL source the crate compiles, and the one place that fills the kernel templates.
//! Shader text is compiled into the crate with `include_str!`.

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
/// prelu's slope-gradient reduction.
pub const PRELU_GRAD: &str = include_str!("../../shaders/prelu_grad.wgsl");
/// The softmax family (softmax, log_softmax, softmin; forward and backward).
pub const SOFTMAX: &str = include_str!("../../shaders/softmax.wgsl");
/// The softmax rows kernel's lanes and reductions with subgroup operations.
pub const SOFTMAX_SUBGROUP: &str = include_str!("../../shaders/softmax_subgroup.wgsl");
/// The same through workgroup memory (no subgroups), and the other kernels' companion.
pub const SOFTMAX_WORKGROUP: &str = include_str!("../../shaders/softmax_workgroup.wgsl");
/// f16 storage: bit conversions between f16 halves of u32 words and f32.
pub const F16: &str = include_str!("../../shaders/f16.wgsl");
/// The element-wise kernel template.
pub const ELEMENTWISE: &str = include_str!("../../shaders/elementwise.wgsl");

/// Invocations per workgroup of the element-wise kernels; substituted into the WGSL as `{{WG}}`,
/// so Rust and WGSL share the one value.
pub const ELEMENTWISE_WG: u32 = 256;

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
