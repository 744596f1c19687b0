// Baseline bodies for the bench (feature `baselines`), in the element-wise template's shape, so
// that they run with exactly the accurate kernels' dispatch: `copy` (y = x, dx = dy: the roofline
// of this dispatch shape) and `naive_NAME`, the textbook formula of each transcendental op with
// WGSL's builtins. Builtins are only as accurate as the implementation makes them (exp is allowed
// 3 + 2|x| ULP, tanh overflows to NaN near |x| = 44 on some drivers), and these formulas cancel
// and overflow where the accurate bodies do not: they measure the price of accuracy, nothing else.
// WGSL has no erf, so the naive gelu is the tanh form that textbook GPU kernels use.

fn copy_fwd(x: f32, p: vec4<f32>) -> f32 { return x; }
fn copy_der(x: f32, p: vec4<f32>) -> f32 { return 1.0; }
fn copy_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 { return dy; }

fn naive_sig(z: f32) -> f32 { return 1.0 / (1.0 + exp(-z)); }

fn naive_sigmoid_fwd(x: f32, p: vec4<f32>) -> f32 { return naive_sig(x); }
fn naive_sigmoid_der(x: f32, p: vec4<f32>) -> f32 { let s = naive_sig(x); return s * (1.0 - s); }
fn naive_sigmoid_bwd_dy(y: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * y * (1.0 - y); }

fn naive_tanh_fwd(x: f32, p: vec4<f32>) -> f32 { return tanh(x); }
fn naive_tanh_der(x: f32, p: vec4<f32>) -> f32 { let t = tanh(x); return 1.0 - t * t; }
fn naive_tanh_bwd_dy(y: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * (1.0 - y * y); }

fn naive_logsigmoid_fwd(x: f32, p: vec4<f32>) -> f32 { return -log(1.0 + exp(-x)); }
fn naive_logsigmoid_der(x: f32, p: vec4<f32>) -> f32 { return naive_sig(-x); }
fn naive_logsigmoid_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_sig(-x); }

fn naive_softplus_fwd(x: f32, p: vec4<f32>) -> f32 {
    return select(log(1.0 + exp(p.x * x)) / p.x, x, p.x * x > p.y);
}
fn naive_softplus_der(x: f32, p: vec4<f32>) -> f32 {
    return select(naive_sig(p.x * x), 1.0, p.x * x > p.y);
}
fn naive_softplus_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_softplus_der(x, p); }

fn naive_swish_fwd(x: f32, p: vec4<f32>) -> f32 { return x * naive_sig(p.x * x); }
fn naive_swish_der(x: f32, p: vec4<f32>) -> f32 {
    let s = naive_sig(p.x * x);
    return s * (1.0 + p.x * x * (1.0 - s));
}
fn naive_swish_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_swish_der(x, p); }

fn naive_silu_fwd(x: f32, p: vec4<f32>) -> f32 { return x * naive_sig(x); }
fn naive_silu_der(x: f32, p: vec4<f32>) -> f32 { return naive_swish_der(x, vec4<f32>(1.0)); }
fn naive_silu_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_silu_der(x, p); }

fn naive_quick_gelu_fwd(x: f32, p: vec4<f32>) -> f32 { return x * naive_sig(1.702 * x); }
fn naive_quick_gelu_der(x: f32, p: vec4<f32>) -> f32 { return naive_swish_der(x, vec4<f32>(1.702)); }
fn naive_quick_gelu_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_quick_gelu_der(x, p); }

fn naive_mish_fwd(x: f32, p: vec4<f32>) -> f32 { return x * tanh(log(1.0 + exp(x))); }
fn naive_mish_der(x: f32, p: vec4<f32>) -> f32 {
    let t = tanh(log(1.0 + exp(x)));
    return t + x * naive_sig(x) * (1.0 - t * t);
}
fn naive_mish_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_mish_der(x, p); }

fn naive_elu_fwd(x: f32, p: vec4<f32>) -> f32 { return select(p.x * (exp(x) - 1.0), x, x > 0.0); }
fn naive_elu_der(x: f32, p: vec4<f32>) -> f32 { return select(p.x * exp(x), 1.0, x > 0.0); }
fn naive_elu_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_elu_der(x, p); }

const NAIVE_SELU_ALPHA: f32 = 1.6732632;
const NAIVE_SELU_SCALE: f32 = 1.0507010;
fn naive_selu_fwd(x: f32, p: vec4<f32>) -> f32 {
    return NAIVE_SELU_SCALE * select(NAIVE_SELU_ALPHA * (exp(x) - 1.0), x, x > 0.0);
}
fn naive_selu_der(x: f32, p: vec4<f32>) -> f32 {
    return NAIVE_SELU_SCALE * select(NAIVE_SELU_ALPHA * exp(x), 1.0, x > 0.0);
}
fn naive_selu_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_selu_der(x, p); }

fn naive_celu_fwd(x: f32, p: vec4<f32>) -> f32 { return max(0.0, x) + min(0.0, p.x * (exp(x / p.x) - 1.0)); }
fn naive_celu_der(x: f32, p: vec4<f32>) -> f32 { return select(exp(x / p.x), 1.0, x > 0.0); }
fn naive_celu_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_celu_der(x, p); }

fn naive_gelu_tanh_fwd(x: f32, p: vec4<f32>) -> f32 {
    return 0.5 * x * (1.0 + tanh(0.7978846 * (x + 0.044715 * x * x * x)));
}
fn naive_gelu_tanh_der(x: f32, p: vec4<f32>) -> f32 {
    let t = tanh(0.7978846 * (x + 0.044715 * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978846 * (1.0 + 0.134145 * x * x);
}
fn naive_gelu_tanh_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_gelu_tanh_der(x, p); }

fn naive_gelu_fwd(x: f32, p: vec4<f32>) -> f32 { return naive_gelu_tanh_fwd(x, p); }
fn naive_gelu_der(x: f32, p: vec4<f32>) -> f32 { return naive_gelu_tanh_der(x, p); }
fn naive_gelu_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_gelu_der(x, p); }

fn naive_tanhshrink_fwd(x: f32, p: vec4<f32>) -> f32 { return x - tanh(x); }
fn naive_tanhshrink_der(x: f32, p: vec4<f32>) -> f32 { let t = tanh(x); return t * t; }
fn naive_tanhshrink_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_tanhshrink_der(x, p); }

fn naive_softsign_fwd(x: f32, p: vec4<f32>) -> f32 { return x / (1.0 + abs(x)); }
fn naive_softsign_der(x: f32, p: vec4<f32>) -> f32 { let d = 1.0 + abs(x); return 1.0 / (d * d); }
fn naive_softsign_bwd_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 { return dy * naive_softsign_der(x, p); }

// The backward factor alone (the template takes it where dy is infinite).
fn copy_bwd(s: f32, p: vec4<f32>) -> f32 { return 1.0; }
fn naive_sigmoid_bwd(y: f32, p: vec4<f32>) -> f32 { return y * (1.0 - y); }
fn naive_tanh_bwd(y: f32, p: vec4<f32>) -> f32 { return 1.0 - y * y; }
fn naive_logsigmoid_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_logsigmoid_der(x, p); }
fn naive_softplus_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_softplus_der(x, p); }
fn naive_swish_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_swish_der(x, p); }
fn naive_silu_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_silu_der(x, p); }
fn naive_quick_gelu_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_quick_gelu_der(x, p); }
fn naive_mish_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_mish_der(x, p); }
fn naive_elu_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_elu_der(x, p); }
fn naive_selu_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_selu_der(x, p); }
fn naive_celu_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_celu_der(x, p); }
fn naive_gelu_tanh_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_gelu_tanh_der(x, p); }
fn naive_gelu_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_gelu_der(x, p); }
fn naive_tanhshrink_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_tanhshrink_der(x, p); }
fn naive_softsign_bwd(x: f32, p: vec4<f32>) -> f32 { return naive_softsign_der(x, p); }
