// Piecewise-linear ops: one rounding at most, so correctly rounded: the WGSL bodies NAME_fwd, NAME_der, NAME_bwd and NAME_bwd_dy of each op
// of src/ops/piecewise.rs (the contract is in elementwise.wgsl's header).

fn relu_fwd(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, x, gt0(x));
}
fn relu_der(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, 1.0, gt0(x));
}
fn relu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return relu_der(s, p);
}
fn relu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * relu_bwd(s, p);
}

fn relu6_fwd(x: f32, p: vec4<f32>) -> f32 {
    let y = select(0.0, x, gt0(x));
    return select(6.0, y, x < 6.0);
}
fn relu6_der(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, 1.0, gt0(x) && x < 6.0);
}
fn relu6_bwd(s: f32, p: vec4<f32>) -> f32 {
    return relu6_der(s, p);
}
fn relu6_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * relu6_bwd(s, p);
}

// x > 0 ? x : p0*x (leaky_relu, prelu, rrelu); p0*(-inf) is selected as -+inf (0 for p0 = 0).
fn slope_fwd(x: f32, p0: f32) -> f32 {
    let y = p0 * finite(x);
    let sinf = bitcast<f32>(0x7f800000u | ((bitcast<u32>(p0) ^ bitcast<u32>(x)) & 0x80000000u));
    let yi = select(y, select(sinf, 0.0, p0 == 0.0), is_inf(x));
    return select(yi, x, gt0(x));
}
fn slope_der(x: f32, p0: f32) -> f32 {
    return select(p0, 1.0, gt0(x));
}

fn leaky_relu_fwd(x: f32, p: vec4<f32>) -> f32 {
    return slope_fwd(x, p.x);
}
fn leaky_relu_der(x: f32, p: vec4<f32>) -> f32 {
    return slope_der(x, p.x);
}
fn leaky_relu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return slope_der(s, p.x);
}
fn leaky_relu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * leaky_relu_bwd(s, p);
}

fn prelu_fwd(x: f32, p: vec4<f32>) -> f32 {
    return slope_fwd(x, p.x);
}
fn prelu_der(x: f32, p: vec4<f32>) -> f32 {
    return slope_der(x, p.x);
}
fn prelu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return slope_der(s, p.x);
}
fn prelu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * prelu_bwd(s, p);
}

// x >= 0 ? x : a*x (equal in value to x > 0 ? ...: both give 0 at 0).
fn rrelu_fwd(x: f32, p: vec4<f32>) -> f32 {
    return slope_fwd(x, p.x);
}
fn rrelu_der(x: f32, p: vec4<f32>) -> f32 {
    return slope_der(x, p.x);
}
fn rrelu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return slope_der(s, p.x);
}
fn rrelu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * rrelu_bwd(s, p);
}

fn hardtanh_fwd(x: f32, p: vec4<f32>) -> f32 {
    let y = select(x, p.x, x < p.x);
    return select(y, p.y, x > p.y);
}
fn hardtanh_der(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, 1.0, gt_t(x, p.x) && x < p.y);
}
fn hardtanh_bwd(s: f32, p: vec4<f32>) -> f32 {
    return hardtanh_der(s, p);
}
fn hardtanh_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * hardtanh_bwd(s, p);
}

fn hardshrink_fwd(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, x, x > p.x || x < -p.x);
}
fn hardshrink_der(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, 1.0, x > p.x || x < -p.x);
}
fn hardshrink_bwd(s: f32, p: vec4<f32>) -> f32 {
    return hardshrink_der(s, p);
}
fn hardshrink_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * hardshrink_bwd(s, p);
}

fn softshrink_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let y = select(0.0, xs + p.x, xs < -p.x);
    let y2 = select(y, xs - p.x, xs > p.x);
    return select(y2, x, is_inf(x));
}
fn softshrink_der(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, 1.0, x > p.x || x < -p.x);
}
fn softshrink_bwd(s: f32, p: vec4<f32>) -> f32 {
    return softshrink_der(s, p);
}
fn softshrink_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * softshrink_bwd(s, p);
}

fn threshold_fwd(x: f32, p: vec4<f32>) -> f32 {
    return select(p.y, x, gt_t(x, p.x));
}
fn threshold_der(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, 1.0, gt_t(x, p.x));
}
fn threshold_bwd(s: f32, p: vec4<f32>) -> f32 {
    return threshold_der(s, p);
}
fn threshold_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * threshold_bwd(s, p);
}

// (h + l)/6 correctly rounded (ties to even) for a TwoSum pair: quotient, exact residual
// (two_prod), the correction r/6 itself correctly rounded without a division, one final addition.
fn div6(h: f32, l: f32) -> f32 {
    let q = opaque(h * INV6);
    let p = two_prod(q, 6.0);
    let r = opaque(opaque(h - p.x) - p.y) + l;
    let c = opaque(r * INV6);
    let p2 = two_prod(c, 6.0);
    let c2 = opaque(fma(opaque(r - p2.x) - p2.y, INV6, c));
    return q + c2;
}

// (x + 3)/6 on (-3, 3), correctly rounded.
fn hardsigmoid_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let hl = two_sum(xs, 3.0);
    let y = select(div6(hl.x, hl.y), 0.0, xs <= -3.0);
    return select(y, 1.0, xs >= 3.0);
}
fn hardsigmoid_der(x: f32, p: vec4<f32>) -> f32 {
    return select(0.0, INV6, x > -3.0 && x < 3.0);
}
fn hardsigmoid_bwd(s: f32, p: vec4<f32>) -> f32 {
    return hardsigmoid_der(s, p);
}
fn hardsigmoid_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * hardsigmoid_bwd(s, p);
}

// x (x + 3)/6 on (-3, 3) from the exact pair x + 3 and an exact product.
fn hardswish_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let xc = clamp(xs, -3.0, 3.0);
    let s = two_sum(xc, 3.0);
    let pp = two_prod(xc, s.x);
    let y = select(div6(pp.x, fma(xc, s.y, pp.y)), 0.0, xs <= -3.0);
    return select(y, x, xs >= 3.0);
}
// (2x + 3)/6 on [-3, 3].
fn hardswish_der(x: f32, p: vec4<f32>) -> f32 {
    let xc = clamp(finite(x), -3.0, 3.0);
    let hl = two_sum(2.0 * xc, 3.0);
    let y = select(div6(hl.x, hl.y), 0.0, x < -3.0);
    return select(y, 1.0, x > 3.0);
}
fn hardswish_bwd(s: f32, p: vec4<f32>) -> f32 {
    return hardswish_der(s, p);
}
fn hardswish_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return dy * hardswish_bwd(s, p);
}

// x^2 (one rounding); +inf from 2^64 on.
fn squared_relu_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let y = select(0.0, xs * xs, gt0(xs));
    return select(y, inf(), xs >= TWO64);
}
// 2x; +inf from 2^127 on.
fn squared_relu_der(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let y = select(0.0, 2.0 * xs, gt0(xs));
    return select(y, inf(), xs >= 0x1p127f);
}
fn squared_relu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return squared_relu_der(s, p);
}
// The fused backward dy * 2 max(s, 0) as 2 (dy s): dy * bwd overflows where 2s does although the
// product may not.
fn squared_relu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    let xs = finite(s);
    // opaque: a compiler that reassociates to (2·dy)·x would overflow for |dy| near FLT_MAX.
    let y = select(0.0, 2.0 * opaque(dy * xs), gt0(xs));
    return select(y, dy * s, is_inf(s) && gt0(s));
}
