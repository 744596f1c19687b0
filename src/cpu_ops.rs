//! The f32 bodies of every activation for the fast CPU path: one module per op, named as
//! [`OpKind::name`](crate::OpKind::name), each with
//! - `fwd(x, p)`: `f(x)`;
//! - `der(x, p)`: `f'(x)`;
//! - `bwd(s, p)`: the factor the fused backward multiplies `dy` by, from the saved tensor `s`
//!   (`x`, or `y` for ops whose [`Saved`](crate::Saved) is `Output`).
//!
//! `p` is the parameter vector in [`Spec::params`](crate::Spec::params) order; for `leaky_relu`,
//! `prelu` and `rrelu` the caller puts the element's slope in `p[0]`. NaN inputs are handled by
//! the caller (bit tests), so these need not propagate NaN. The same algorithms, in the same
//! order of operations, are in `shaders/activations.wgsl`.

/// Expands `$body` once per op with `$m` naming that op's module.
macro_rules! dispatch_op {
    ($op:expr, $m:ident => $body:expr) => {{
        use $crate::activation::OpKind as K;
        match $op {
            K::Relu => { use $crate::cpu_ops::relu as $m; $body }
            K::Relu6 => { use $crate::cpu_ops::relu6 as $m; $body }
            K::LeakyRelu => { use $crate::cpu_ops::leaky_relu as $m; $body }
            K::Rrelu => { use $crate::cpu_ops::rrelu as $m; $body }
            K::Prelu => { use $crate::cpu_ops::prelu as $m; $body }
            K::Elu => { use $crate::cpu_ops::elu as $m; $body }
            K::Selu => { use $crate::cpu_ops::selu as $m; $body }
            K::Celu => { use $crate::cpu_ops::celu as $m; $body }
            K::Gelu => { use $crate::cpu_ops::gelu as $m; $body }
            K::GeluTanh => { use $crate::cpu_ops::gelu_tanh as $m; $body }
            K::Sigmoid => { use $crate::cpu_ops::sigmoid as $m; $body }
            K::LogSigmoid => { use $crate::cpu_ops::logsigmoid as $m; $body }
            K::HardSigmoid => { use $crate::cpu_ops::hardsigmoid as $m; $body }
            K::Tanh => { use $crate::cpu_ops::tanh as $m; $body }
            K::HardTanh => { use $crate::cpu_ops::hardtanh as $m; $body }
            K::Softsign => { use $crate::cpu_ops::softsign as $m; $body }
            K::Softplus => { use $crate::cpu_ops::softplus as $m; $body }
            K::Silu => { use $crate::cpu_ops::silu as $m; $body }
            K::Mish => { use $crate::cpu_ops::mish as $m; $body }
            K::HardSwish => { use $crate::cpu_ops::hardswish as $m; $body }
            K::TanhShrink => { use $crate::cpu_ops::tanhshrink as $m; $body }
            K::HardShrink => { use $crate::cpu_ops::hardshrink as $m; $body }
            K::SoftShrink => { use $crate::cpu_ops::softshrink as $m; $body }
            K::Threshold => { use $crate::cpu_ops::threshold as $m; $body }
            K::QuickGelu => { use $crate::cpu_ops::quick_gelu as $m; $body }
            K::Swish => { use $crate::cpu_ops::swish as $m; $body }
            K::SquaredRelu => { use $crate::cpu_ops::squared_relu as $m; $body }
        }
    }};
}
pub(crate) use dispatch_op;

pub mod relu {
    #[inline(always)]
    pub fn fwd(x: f32, _p: [f32; 4]) -> f32 {
        if x > 0.0 { x } else { 0.0 }
    }
    #[inline(always)]
    pub fn der(x: f32, _p: [f32; 4]) -> f32 {
        if x > 0.0 { 1.0 } else { 0.0 }
    }
    #[inline(always)]
    pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
        der(s, p)
    }
}

// PLACEHOLDER (lead): naive bodies so the crate compiles while the numerics are written; the
// numerics helper replaces everything below.
macro_rules! naive {
    ($name:ident, |$x:ident, $p:ident| $f:expr, |$dx:ident, $dp:ident| $d:expr) => {
        pub mod $name {
            #[allow(unused_variables)]
            #[inline(always)]
            pub fn fwd($x: f32, $p: [f32; 4]) -> f32 { $f }
            #[allow(unused_variables)]
            #[inline(always)]
            pub fn der($dx: f32, $dp: [f32; 4]) -> f32 { $d }
            #[inline(always)]
            pub fn bwd(s: f32, p: [f32; 4]) -> f32 { der(s, p) }
        }
    };
}
naive!(relu6, |x, p| x.clamp(0.0, 6.0), |x, p| if x > 0.0 && x < 6.0 { 1.0 } else { 0.0 });
naive!(leaky_relu, |x, p| if x > 0.0 { x } else { p[0] * x }, |x, p| if x > 0.0 { 1.0 } else { p[0] });
naive!(rrelu, |x, p| if x >= 0.0 { x } else { p[0] * x }, |x, p| if x > 0.0 { 1.0 } else { p[0] });
naive!(prelu, |x, p| if x > 0.0 { x } else { p[0] * x }, |x, p| if x > 0.0 { 1.0 } else { p[0] });
naive!(elu, |x, p| if x > 0.0 { x } else { p[0] * x.exp_m1() }, |x, p| if x > 0.0 { 1.0 } else { p[0] * x.exp() });
naive!(selu, |x, p| 1.050_701 * if x > 0.0 { x } else { 1.673_263_2 * x.exp_m1() }, |x, p| 1.050_701 * if x > 0.0 { 1.0 } else { 1.673_263_2 * x.exp() });
naive!(celu, |x, p| if x > 0.0 { x } else { p[0] * (x / p[0]).exp_m1() }, |x, p| if x > 0.0 { 1.0 } else { (x / p[0]).exp() });
naive!(gelu, |x, p| x * 0.5 * (1.0 + (x as f64 / 2f64.sqrt()).tanh() as f32), |x, p| 0.5);
naive!(gelu_tanh, |x, p| 0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044715 * x * x * x)).tanh()), |x, p| 0.5);
naive!(sigmoid, |x, p| 1.0 / (1.0 + (-x).exp()), |x, p| { let s = 1.0 / (1.0 + (-x).exp()); s * (1.0 - s) });
naive!(logsigmoid, |x, p| -((-x).exp().ln_1p()), |x, p| 1.0 / (1.0 + x.exp()));
naive!(hardsigmoid, |x, p| (x / 6.0 + 0.5).clamp(0.0, 1.0), |x, p| if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 });
naive!(tanh, |x, p| x.tanh(), |x, p| 1.0 - x.tanh() * x.tanh());
naive!(hardtanh, |x, p| x.clamp(p[0], p[1]), |x, p| if x > p[0] && x < p[1] { 1.0 } else { 0.0 });
naive!(softsign, |x, p| x / (1.0 + x.abs()), |x, p| 1.0 / ((1.0 + x.abs()) * (1.0 + x.abs())));
naive!(softplus, |x, p| if x * p[0] > p[1] { x } else { (x * p[0]).exp().ln_1p() / p[0] }, |x, p| 1.0 / (1.0 + (-x * p[0]).exp()));
naive!(silu, |x, p| x / (1.0 + (-x).exp()), |x, p| 0.5);
naive!(mish, |x, p| x * x.exp().ln_1p().tanh(), |x, p| 0.5);
naive!(hardswish, |x, p| x * (x + 3.0).clamp(0.0, 6.0) / 6.0, |x, p| if x < -3.0 { 0.0 } else if x <= 3.0 { x / 3.0 + 0.5 } else { 1.0 });
naive!(tanhshrink, |x, p| x - x.tanh(), |x, p| x.tanh() * x.tanh());
naive!(hardshrink, |x, p| if x.abs() > p[0] { x } else { 0.0 }, |x, p| if x.abs() > p[0] { 1.0 } else { 0.0 });
naive!(softshrink, |x, p| if x > p[0] { x - p[0] } else if x < -p[0] { x + p[0] } else { 0.0 }, |x, p| if x.abs() > p[0] { 1.0 } else { 0.0 });
naive!(threshold, |x, p| if x > p[0] { x } else { p[1] }, |x, p| if x > p[0] { 1.0 } else { 0.0 });
naive!(quick_gelu, |x, p| x / (1.0 + (-1.702 * x).exp()), |x, p| 0.5);
naive!(swish, |x, p| x / (1.0 + (-p[0] * x).exp()), |x, p| 0.5);
naive!(squared_relu, |x, p| if x > 0.0 { x * x } else { 0.0 }, |x, p| if x > 0.0 { 2.0 * x } else { 0.0 });
