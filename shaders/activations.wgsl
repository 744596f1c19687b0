// Every activation's forward value, derivative and fused-backward factor: for each op NAME,
//   fn NAME_fwd(x, p) -> f(x)
//   fn NAME_der(x, p) -> f'(x)
//   fn NAME_bwd(s, p) -> the factor dy is multiplied by, from the saved tensor s (x, or y for
//                        sigmoid and tanh)
//   fn NAME_bwd_dy(s, dy, p) -> the fused backward: dy * NAME_bwd(s, p), except squared_relu's
//                        2 (dy s), which does not overflow where 2s alone would
// with p the parameter vector in Spec order (leaky_relu, prelu, rrelu: p.x is the element's
// slope). The same algorithms, in the same order of operations, as src/cpu_ops.rs; the math is in
// math.wgsl. NaN inputs are handled by the caller.

const TWO64: f32 = 0x1p64f;

// ---------------------------------------------------------------------------------------------
// Piecewise-linear ops: one rounding at most, so correctly rounded.

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

// ---------------------------------------------------------------------------------------------
// Exponential family.

fn elu_fwd(x: f32, p: vec4<f32>) -> f32 {
    let e = expm1_dd(min(finite(x), 0.0), 0.0);
    let y = mul_dd(p.x, 0.0, e.x, e.y);
    return select(y, x, gt0(x));
}
// dy f'(x): dy or dy alpha e^x (scaled product, alpha's exponent folded into e^x's, so a
// subnormal or huge alpha neither underflows nor overflows before the result does).
fn elu_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    // Down to e^-300: alpha dy up to 2^256 makes e^-190 visible.
    let e = exp_core_in(min(finite(x), 0.0), 0.0, -300.0, 89.0);
    let a = split_pow2(p.x);
    let y = scale_mul_dd_dy(e.s, e.t, e.k + a.e, a.m, 0.0, dy);
    return select(y, dy, gt0(x));
}
fn elu_der(x: f32, p: vec4<f32>) -> f32 {
    return elu_der_dy(x, 1.0, p);
}
fn elu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return elu_der(s, p);
}
fn elu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return elu_der_dy(s, dy, p);
}

// scale*x or scale*alpha*expm1(x), the constants as double-floats (one rounding).
fn selu_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let e = expm1_dd(min(xs, 0.0), 0.0);
    let neg = mul_dd(SELU_SA_HI, SELU_SA_LO, e.x, e.y);
    let big = xs > TWO64;
    let pos = mul_dd(SELU_SCALE_HI, SELU_SCALE_LO, xs * select(1.0, 0x1p-32f, big), 0.0) * select(1.0, 0x1p32f, big);
    let y = select(neg, pos, gt0(xs));
    return select(y, inf(), xs >= SELU_OVERFLOW);
}
// dy f'(x): dy scale or dy scale alpha e^x (constants as double-floats, scaled product).
fn selu_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let e = exp_core(min(finite(x), 0.0), 0.0);
    let neg = scale_mul_dd_dy(e.s, e.t, e.k, SELU_SA_HI, SELU_SA_LO, dy);
    return select(neg, mul_dd(dy, 0.0, SELU_SCALE_HI, SELU_SCALE_LO), gt0(x));
}
fn selu_der(x: f32, p: vec4<f32>) -> f32 {
    return selu_der_dy(x, 1.0, p);
}
fn selu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return selu_der(s, p);
}
fn selu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return selu_der_dy(s, dy, p);
}

// q = x/alpha as a double-float for x <= 0 and either sign of alpha, within [-1e4, 200] (e^q has
// vanished below, and alpha e^q has overflowed above, for every alpha): x is clamped to
// |alpha| 1e4 first so the quotient cannot overflow, and a tiny alpha is scaled by 2^64 with x so
// that the residual x - q alpha stays exact. x = -inf gives the limit, q = -+inf.
fn celu_q(x: f32, alpha: f32) -> vec2<f32> {
    let aa = abs(alpha);
    let lim = select(aa * 1.0e4, 0x1.fffffep127f, aa > 1.0e34);
    let tiny = aa < 0x1p-60f;
    let sc = select(1.0, 0x1p64f, tiny);
    let xn = max(min(finite(x), 0.0), -lim) * sc;
    let a = alpha * sc;
    let q = clamp(div(xn, a), -1.0e4, 200.0);
    let pe = two_prod(q, a);
    let ql = (opaque(xn - pe.x) - pe.y) / a;
    let qinf = select(-1.0e4, 200.0, lt0(alpha));
    return select(vec2<f32>(q, ql), vec2<f32>(qinf, 0.0), is_inf(x));
}
// alpha*expm1(x/alpha) for x <= 0: x itself where |x/alpha| < 2^-30 (x/alpha may be subnormal
// while alpha x/alpha is not); alpha e^q as a scaled product from q = 20 on (alpha < 0: e^q may
// overflow while alpha e^q does not).
fn celu_fwd(x: f32, p: vec4<f32>) -> f32 {
    let q = celu_q(x, p.x);
    let e = expm1_dd(q.x, q.y);
    var y = mul_dd(p.x, 0.0, e.x, e.y);
    // q > 0 only for alpha < 0 (a branch on the uniform parameter, not per element).
    if (lt0(p.x)) {
        let a = split_pow2(p.x);
        let ew = exp_core_in(q.x, q.y, -190.0, 200.0);
        y = select(y, scale_mul_dd(ew.s, ew.t, ew.k + a.e, a.m, 0.0), q.x > 20.0);
    }
    y = select(y, x, abs(q.x) < 0x1p-30f && !is_inf(x));
    return select(y, x, gt0(x));
}
// dy e^(x/alpha) for x <= 0 (scaled product).
fn celu_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let q = celu_q(x, p.x);
    let e = exp_core_in(q.x, q.y, -190.0, 200.0);
    let y = scale_mul_dd_dy(e.s, e.t, e.k, 1.0, 0.0, dy);
    // x = -inf with alpha < 0: the factor is +inf, so dy inf (NaN for dy = 0, as PyTorch), by bits.
    let yinf = select(copysign(inf(), dy), bitcast<f32>(0x7fc00000u), dy == 0.0);
    let y2 = select(y, yinf, is_inf(x) && lt0(p.x));
    return select(y2, dy, gt0(x));
}
fn celu_der(x: f32, p: vec4<f32>) -> f32 {
    return celu_der_dy(x, 1.0, p);
}
fn celu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return celu_der(s, p);
}
fn celu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return celu_der_dy(s, dy, p);
}

// ---------------------------------------------------------------------------------------------
// Logistic family.

fn sigmoid_fwd(x: f32, p: vec4<f32>) -> f32 {
    let g = sig_parts(abs(finite(x)), 0.0);
    return select(g.q, g.p, ge0(x));
}
// sigma(x) sigma(-x) from the double-float pieces.
fn sigmoid_der(x: f32, p: vec4<f32>) -> f32 {
    let g = sig_parts(abs(finite(x)), 0.0);
    return mul_dd(g.p, g.pl, g.q, g.ql);
}
// From the output: y (1 - y) = y - y^2 with y^2 exact (two_prod): one rounding for y >= 1/2;
// -inf where y^2 overflows.
fn sigmoid_bwd(s: f32, p: vec4<f32>) -> f32 {
    let ys = finite(s);
    let yc = clamp(ys, -0x1.fffffep63f, 0x1.fffffep63f);
    let pe = two_prod(yc, yc);
    let r = opaque(yc - pe.x) - pe.y;
    return select(r, -inf(), abs(ys) >= TWO64);
}
// For |y| >= 2^32 (not a sigmoid output, but possible) as (dy y)(1 - y), which cannot overflow early.
fn sigmoid_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    let ys = finite(s);
    return select(dy * sigmoid_bwd(s, p), (dy * ys) * (1.0 - ys), abs(ys) >= 0x1p32f);
}

// min(x, 0) - log1p(e^-|x|).
fn logsigmoid_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let e = exp_core(-abs(xs), 0.0);
    let mm = fast_two_sum(e.s, e.t);
    let l = log1p_dd(scale2(mm.x, e.k), scale2(mm.y, e.k));
    let y = select(-l, xs - l, lt0(xs));
    return select(y, x, is_inf(x) && lt0(x));
}
// dy sigma(-x): dy u p for x >= 0 (u = e^-x, scaled product), dy p below.
fn logsigmoid_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let g = sig_parts(abs(finite(x)), 0.0);
    let pos = scale_mul_dd_dy(g.m, g.ml, g.k, g.p, g.pl, dy);
    return select(mul_dd(dy, 0.0, g.p, g.pl), pos, ge0(x));
}
fn logsigmoid_der(x: f32, p: vec4<f32>) -> f32 {
    return logsigmoid_der_dy(x, 1.0, p);
}
fn logsigmoid_bwd(s: f32, p: vec4<f32>) -> f32 {
    return logsigmoid_der(s, p);
}
fn logsigmoid_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return logsigmoid_der_dy(s, dy, p);
}

// beta*x as a double-float, exact where |beta x| < 2^62 by the exponents (then below 2^64: no
// overflow in two_prod), else, and for infinite x, +-2^64 with the product's sign (every result
// has saturated long before). Clamping x instead would be wrong for a tiny beta.
fn beta_x(x: f32, beta: f32) -> vec2<f32> {
    let eb = i32((bitcast<u32>(beta) >> 23u) & 0xffu);
    let ex = i32((bitcast<u32>(x) >> 23u) & 0xffu);
    let sat = is_inf(x) || eb + ex >= 254 + 62;
    let z = two_prod(beta, select(x, 1.0, sat));
    let zs = copysign(TWO64, bitcast<f32>(bitcast<u32>(beta) ^ bitcast<u32>(x)));
    return select(z, vec2<f32>(zs, 0.0), sat);
}

// PyTorch's softplus branch: the f32 product beta*x above the threshold (+-inf for infinite x).
fn softplus_linear(x: f32, p: vec4<f32>) -> bool {
    let same_sign = ((bitcast<u32>(p.x) ^ bitcast<u32>(x)) & 0x80000000u) == 0u;
    return select(p.x * x > p.y, same_sign, is_inf(x));
}

// z > threshold ? x : log1p(e^z)/beta, z = beta*x; for z > 0 the result is
// x + log1p(e^-|z|)/beta (z/beta = x exactly).
fn softplus_fwd(x: f32, p: vec4<f32>) -> f32 {
    let z = beta_x(x, p.x);
    let al = select(z.y, -z.y, lt0(z.x));
    let e = exp_core_in(-abs(z.x), -al, -300.0, 89.0);
    let mm = fast_two_sum(e.s, e.t);
    let l = div(log1p_dd(scale2(mm.x, e.k), scale2(mm.y, e.k)), p.x);
    var y = select(l, finite(x) + l, gt0(z.x));
    // |beta| < 1 (a branch on the uniform parameter, not per element): below z = -17,
    // log1p(u) = u to f32 precision and u/beta is formed from u's parts and beta's exponent: u
    // alone is subnormal from z = -87 on although u/beta is not. For |beta| >= 1, u/beta <= u.
    if (abs(p.x) < 1.0) {
        let b = split_pow2(p.x);
        let ls = scale2(div_dd(mm.x, mm.y, b.m, 0.0), e.k - b.e);
        y = select(y, ls, z.x < -17.0);
    }
    return select(y, x, softplus_linear(x, p) || (is_inf(x) && gt0(z.x)));
}
// dy (z > threshold ? 1 : sigma(z)); sigma(z) = u p for z < 0 (scaled product).
fn softplus_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let z = beta_x(x, p.x);
    let g = sig_parts(abs(z.x), select(z.y, -z.y, lt0(z.x)));
    let neg = scale_mul_dd_dy(g.m, g.ml, g.k, g.p, g.pl, dy);
    let y = select(neg, mul_dd(dy, 0.0, g.p, g.pl), ge0(z.x));
    return select(y, dy, softplus_linear(x, p));
}
fn softplus_der(x: f32, p: vec4<f32>) -> f32 {
    return softplus_der_dy(x, 1.0, p);
}
fn softplus_bwd(s: f32, p: vec4<f32>) -> f32 {
    return softplus_der(s, p);
}
fn softplus_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return softplus_der_dy(s, dy, p);
}

// sigma(z) and sigma(-z) as double-floats (s, sl, c, cl).
fn sig_pm(zh: f32, g: Sig) -> vec4<f32> {
    let pos = ge0(zh);
    return vec4<f32>(select(g.q, g.p, pos), select(g.ql, g.pl, pos), select(g.p, g.q, pos), select(g.pl, g.ql, pos));
}

// x sigma(z) for z = zh + zl (silu, swish, quick_gelu, gelu_tanh); below z = -64 the product is
// formed by scale_mul_dd so it survives where e^z alone would be subnormal.
fn x_sigmoid(x: f32, zh: f32, zl: f32) -> f32 {
    let xs = finite(x);
    let a = abs(zh);
    let g = sig_parts(a, select(zl, -zl, lt0(zh)));
    let sc = sig_pm(zh, g);
    let y = select(mul_dd(clamp(xs, -TWO64, TWO64), 0.0, sc.x, sc.y), xs * sc.x, abs(xs) > TWO64);
    let y2 = select(y, scale_mul_dd(g.m, g.ml, g.k, xs, 0.0), zh < -64.0);
    return select(y2, x, is_inf(x) && gt0(zh));
}

// dy sigma(z) (1 + g sigma(-z)), dy times the derivative of x sigma(z(x)) with g = x z'
// (double-float); dy e^z (1 + g) as a scaled product below z = -64.
fn x_sigmoid_der(zh: f32, zl: f32, gh: f32, gl: f32, dy: f32) -> f32 {
    let a = abs(zh);
    let g = sig_parts(a, select(zl, -zl, lt0(zh)));
    let sc = sig_pm(zh, g);
    let pe = two_prod(gh, sc.z);
    let b = two_sum(1.0, pe.x);
    let bl = b.y + (pe.y + fma(gh, sc.w, gl * sc.z));
    let y = dy * mul_dd(sc.x, sc.y, b.x, bl);
    let v = two_sum(1.0, gh);
    return select(y, scale_mul_dd_dy(g.m, g.ml, g.k, v.x, v.y + gl, dy), zh < -64.0);
}

// dy sigma(z) (1 + z sigma(-z)) in z = beta x (silu, swish, quick_gelu): the root polynomial
// within 1/2 of its zero z0 ~ -1.2785, x_sigmoid_der elsewhere.
fn swish_der_z(zh: f32, zl: f32, dy: f32) -> f32 {
    let dh = zh - SWISH_ROOT_HI;
    let dl = zl - SWISH_ROOT_LO;
    let dc = clamp(dh, -1.0, 1.0);
    var r = fma(SWISH_ROOT_Q8, dc, SWISH_ROOT_Q7);
    r = fma(r, dc, SWISH_ROOT_Q6);
    r = fma(r, dc, SWISH_ROOT_Q5);
    r = fma(r, dc, SWISH_ROOT_Q4);
    r = fma(r, dc, SWISH_ROOT_Q3);
    r = fma(r, dc, SWISH_ROOT_Q2);
    let near = root_eval(dc, dl, SWISH_ROOT_Q0_HI, SWISH_ROOT_Q0_LO, SWISH_ROOT_Q1_HI, SWISH_ROOT_Q1_LO, r);
    let far = x_sigmoid_der(zh, zl, zh, zl, dy);
    return select(far, dy * near, abs(dh) <= 0.5);
}

// 1.702 x as a double-float (1.702 is the real constant).
fn quick_gelu_z(x: f32) -> vec2<f32> {
    let xc = clamp(finite(x), -TWO64, TWO64);
    let hl = two_prod(xc, QUICK_GELU_C_HI);
    return vec2<f32>(hl.x, fma(xc, QUICK_GELU_C_LO, hl.y));
}

fn silu_fwd(x: f32, p: vec4<f32>) -> f32 {
    let z = beta_x(x, 1.0);
    return x_sigmoid(x, z.x, z.y);
}
fn silu_der(x: f32, p: vec4<f32>) -> f32 {
    let z = beta_x(x, 1.0);
    return swish_der_z(z.x, z.y, 1.0);
}
fn silu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return silu_der(s, p);
}
fn silu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    let z = beta_x(s, 1.0);
    return swish_der_z(z.x, z.y, dy);
}

fn swish_fwd(x: f32, p: vec4<f32>) -> f32 {
    let z = beta_x(x, p.x);
    return x_sigmoid(x, z.x, z.y);
}
fn swish_der(x: f32, p: vec4<f32>) -> f32 {
    let z = beta_x(x, p.x);
    return swish_der_z(z.x, z.y, 1.0);
}
fn swish_bwd(s: f32, p: vec4<f32>) -> f32 {
    return swish_der(s, p);
}
fn swish_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    let z = beta_x(s, p.x);
    return swish_der_z(z.x, z.y, dy);
}

fn quick_gelu_fwd(x: f32, p: vec4<f32>) -> f32 {
    let z = quick_gelu_z(x);
    return x_sigmoid(x, z.x, z.y);
}
fn quick_gelu_der(x: f32, p: vec4<f32>) -> f32 {
    let z = quick_gelu_z(x);
    return swish_der_z(z.x, z.y, 1.0);
}
fn quick_gelu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return quick_gelu_der(s, p);
}
fn quick_gelu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    let z = quick_gelu_z(s);
    return swish_der_z(z.x, z.y, dy);
}

// ---------------------------------------------------------------------------------------------
// Hyperbolic family.

fn tanh_fwd(x: f32, p: vec4<f32>) -> f32 {
    return tanh(x);
}
// 1 - tanh^2: 1 - t^2 by fma below 1/2, 4pq from u = e^-2|x| above (no cancellation).
fn tanh_der(x: f32, p: vec4<f32>) -> f32 {
    let t = tanh_dd(min(abs(finite(x)), 64.0));
    let small = fma(-t.th, t.th, 1.0) - 2.0 * t.th * t.tl;
    let big = 4.0 * mul_dd(t.g.p, t.g.pl, t.g.q, t.g.ql);
    return select(big, small, t.th < 0.5);
}
// From the output: (1 - y)(1 + y) = 1 - y^2 with y^2 exact (two_prod).
fn tanh_bwd(s: f32, p: vec4<f32>) -> f32 {
    let ys = finite(s);
    let yc = clamp(ys, -0x1.fffffep63f, 0x1.fffffep63f);
    let pe = two_prod(yc, yc);
    let r = opaque(1.0 - pe.x) - pe.y;
    return select(r, -inf(), abs(ys) >= TWO64);
}
// For |y| >= 2^32 (not a tanh output, but possible) as (dy (1 - y))(1 + y).
fn tanh_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    let ys = finite(s);
    return select(dy * tanh_bwd(s, p), (dy * (1.0 - ys)) * (1.0 + ys), abs(ys) >= 0x1p32f);
}

// x^3 P(x^2) below 1 (the last two Horner steps and x^3 in double-float), (|x| - 1) + 2u/(1 + u)
// above (|x| - 1 exact, u = e^-2|x|).
fn tanhshrink_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let a = min(abs(xs), 64.0);
    let s = two_prod(a, a);
    var r = fma(TANHSHRINK_P7, s.x, TANHSHRINK_P6);
    r = fma(r, s.x, TANHSHRINK_P5);
    r = fma(r, s.x, TANHSHRINK_P4);
    r = fma(r, s.x, TANHSHRINK_P3);
    r = fma(r, s.x, TANHSHRINK_P2);
    let t = fast_two_sum(TANHSHRINK_P1_HI, s.x * r);
    let tl = t.y + TANHSHRINK_P1_LO;
    let u = two_prod(s.x, t.x);
    let ul = u.y + fma(s.x, tl, s.y * t.x);
    let pp = fast_two_sum(TANHSHRINK_P0_HI, u.x);
    let pl = pp.y + (ul + TANHSHRINK_P0_LO);
    let c = two_prod(a, s.x);
    let cl = fma(a, s.y, c.y);
    let small = mul_dd(c.x, cl, pp.x, pl);
    let g = sig_parts(2.0 * a, 0.0);
    let b = two_sum(a - 1.0, 2.0 * g.q);
    let big = b.x + fma(2.0, g.ql, b.y);
    let y = copysign(select(big, small, a < 1.0), xs);
    let y2 = select(y, xs - copysign(1.0, xs), abs(xs) > 64.0);
    return select(y2, x, is_inf(x));
}
// dy tanh^2(x) from the double-float tanh, formed as (dy t) t.
fn tanhshrink_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let t = tanh_dd(min(abs(finite(x)), 64.0));
    let w = two_prod(dy, t.th);
    return mul_dd(w.x, fma(dy, t.tl, w.y), t.th, t.tl);
}
fn tanhshrink_der(x: f32, p: vec4<f32>) -> f32 {
    return tanhshrink_der_dy(x, 1.0, p);
}
fn tanhshrink_bwd(s: f32, p: vec4<f32>) -> f32 {
    return tanhshrink_der(s, p);
}
fn tanhshrink_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return tanhshrink_der_dy(s, dy, p);
}

// x/(1 + |x|) with the denominator exact as a TwoSum pair and the quotient refined (x clamped to
// +-2^50, where the result is +-1 already).
fn softsign_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = clamp(finite(x), -0x1p50f, 0x1p50f);
    let d = two_sum(1.0, abs(xs));
    return div_dd(xs, 0.0, d.x, d.y);
}
// dy r^2 with r = 1/(1 + |x|) a double-float from the exact denominator, formed as (dy r) r;
// above 2^60 the denominator is scaled by 2^-60 (and the result by 2^-120), so r never leaves the
// normal range. (2^-60, not 2^-64: a compiler may fold `* f * f` into one factor, and 2^-128 is
// subnormal, which flushing drivers turn into 0.)
fn softsign_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let a = abs(finite(x));
    let big = a > 0x1p60f;
    let f = select(1.0, 0x1p-60f, big);
    let d = two_sum(1.0, a);
    let dh = d.x * f;
    let dl = d.y * f;
    let r0 = 1.0 / dh;
    let pe = two_prod(r0, dh);
    let e = (opaque(1.0 - pe.x) - pe.y) - r0 * dl;
    let r = fast_two_sum(r0, r0 * e);
    let w = two_prod(dy, r.x);
    return mul_dd(w.x, fma(dy, r.y, w.y), r.x, r.y) * f * f;
}
fn softsign_der(x: f32, p: vec4<f32>) -> f32 {
    return softsign_der_dy(x, 1.0, p);
}
fn softsign_bwd(s: f32, p: vec4<f32>) -> f32 {
    return softsign_der(s, p);
}
fn softsign_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return softsign_der_dy(s, dy, p);
}

// t = tanh(softplus(x)) from u = e^-|x| (double-float), 1 - t without cancellation, and the Sig of
// |x|. x >= 0: t = (1 + 2u)/(1 + 2u + 2u^2), 1 - t = 2u^2/(...); x < 0, n = u^2 + 2u:
// t = n/(n + 2), 1 - t = 2/(n + 2).
struct MishParts {
    t: f32,
    omt: f32,
    g: Sig,
}

fn mish_parts(xs: f32) -> MishParts {
    let g = sig_parts(abs(xs), 0.0);
    let uh = g.u;
    let ul = g.ul;
    let u2 = two_prod(uh, uh);
    let u2l = fma(2.0 * uh, ul, u2.y);
    // x >= 0
    let n = fast_two_sum(1.0, 2.0 * uh);
    let nl = fma(2.0, ul, n.y);
    let d = fast_two_sum(n.x, 2.0 * u2.x);
    let dl = d.y + fma(2.0, u2l, nl);
    let tp = div_dd(n.x, nl, d.x, dl);
    let omtp = div_dd(2.0 * u2.x, 2.0 * u2l, d.x, dl);
    // x < 0
    let n2 = fast_two_sum(2.0 * uh, u2.x);
    let nl2 = n2.y + fma(2.0, ul, u2l);
    let d2 = two_sum(n2.x, 2.0);
    let dl2 = d2.y + nl2;
    let tn = div_dd(n2.x, nl2, d2.x, dl2);
    let omtn = div_dd(2.0, 0.0, d2.x, dl2);
    let pos = ge0(xs);
    return MishParts(select(tn, tp, pos), select(omtn, omtp, pos), g);
}

fn mish_fwd(x: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let m = mish_parts(xs);
    let y = select(xs * m.t, scale_mul_dd(m.g.m, m.g.ml, m.g.k, xs, 0.0), xs < -64.0);
    return select(y, x, is_inf(x) && gt0(x));
}
// t + x sigma(x) (1 - t)(1 + t) for x >= x0 (all terms positive right of the window); below,
// u W/D^2 with W = 4(1 + x) + u((6 + 4x) + u(4 + u)), D = 2 + u(2 + u); the root polynomial on
// [x0 - 1/2, x0 + 0.8].
fn mish_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let xs = finite(x);
    let m = mish_parts(xs);
    let sg = select(m.g.q, m.g.p, ge0(xs));
    let pos = fma(xs * sg, m.omt * (1.0 + m.t), m.t);
    let xn = clamp(xs, -1.0e30, 0.0);
    let u = m.g.u;
    let w = fma(u, fma(u, 4.0 + u, fma(4.0, xn, 6.0)), 4.0 * (1.0 + xn));
    let d = two_sum(2.0, u * (2.0 + u));
    let d2 = two_prod(d.x, d.x);
    let v = div_dd(w, 0.0, d2.x, fma(2.0 * d.x, d.y, d2.y));
    let neg = scale_mul_dd_dy(m.g.m, m.g.ml, m.g.k, v, 0.0, dy);
    let y = select(neg, dy * pos, xs >= MISH_ROOT_HI);
    let dh = xs - MISH_ROOT_HI;
    let dc = clamp(dh, -1.0, 1.0);
    var r = fma(MISH_ROOT_Q10, dc, MISH_ROOT_Q9);
    r = fma(r, dc, MISH_ROOT_Q8);
    r = fma(r, dc, MISH_ROOT_Q7);
    r = fma(r, dc, MISH_ROOT_Q6);
    r = fma(r, dc, MISH_ROOT_Q5);
    r = fma(r, dc, MISH_ROOT_Q4);
    r = fma(r, dc, MISH_ROOT_Q3);
    r = fma(r, dc, MISH_ROOT_Q2);
    let near = root_eval(dc, -MISH_ROOT_LO, MISH_ROOT_Q0_HI, MISH_ROOT_Q0_LO, MISH_ROOT_Q1_HI, MISH_ROOT_Q1_LO, r);
    return select(y, dy * near, dh >= -0.5 && dh <= 0.8);
}
fn mish_der(x: f32, p: vec4<f32>) -> f32 {
    return mish_der_dy(x, 1.0, p);
}
fn mish_bwd(s: f32, p: vec4<f32>) -> f32 {
    return mish_der(s, p);
}
fn mish_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return mish_der_dy(s, dy, p);
}

// ---------------------------------------------------------------------------------------------
// Gaussian family.

// x, erfcx(a) and the exp parts of e^-a^2 for a = |x|/sqrt(2) as a double-float, clamped at 13.5
// (beyond, e^-a^2 < 2^-262: nothing survives, even times a huge dy).
struct GeluParts {
    xs: f32,
    r: f32,
    e: ExpCore,
}

fn gelu_parts(x: f32) -> GeluParts {
    let xs = finite(x);
    let xc = clamp(xs, -TWO64, TWO64);
    let t = two_prod(xc, FRAC_1_SQRT2_HI);
    let tl = fma(xc, FRAC_1_SQRT2_LO, t.y);
    let a0 = abs(t.x);
    let big = a0 > 13.5;
    let al = select(select(tl, -tl, lt0(t.x)), 0.0, big);
    let a = min(a0, 13.5);
    let r = erfcx(a, al);
    let e = exp_neg_sq(a, al);
    return GeluParts(xs, r, ExpCore(select(e.k, -300, big), e.s, e.t));
}
// x/2 erfc(-x/sqrt(2)): (x/2) erfc(a) for x < 0, x - (x/2) erfc(a) for x >= 0.
fn gelu_fwd(x: f32, p: vec4<f32>) -> f32 {
    let g = gelu_parts(x);
    let hx = 0.5 * g.xs;
    let v = two_prod(0.5 * clamp(g.xs, -TWO64, TWO64), g.r);
    let neg = scale_mul_dd(g.e.s, g.e.t, g.e.k, v.x, v.y);
    let ec = scale_mul_dd(g.e.s, g.e.t, g.e.k, g.r, 0.0);
    let y = select(fma(-hx, ec, g.xs), neg, lt0(g.xs));
    return select(y, x, is_inf(x) && gt0(x));
}
// Phi(x) + x phi(x): e^-a^2 (erfcx(a)/2 + x/sqrt(2 pi)) for x < 0,
// 1 + e^-a^2 (x/sqrt(2 pi) - erfcx(a)/2) for x >= 0; the root polynomial within 1/2 of the zero.
fn gelu_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let g = gelu_parts(x);
    let e = scale2(g.e.s + g.e.t, g.e.k);
    let xc = clamp(g.xs, -TWO64, TWO64);
    let c = two_prod(xc, FRAC_1_SQRT_2PI_HI);
    let cl = fma(xc, FRAC_1_SQRT_2PI_LO, c.y);
    let hr = 0.5 * g.r;
    let b = two_sum(hr, c.x);
    let neg = scale_mul_dd_dy(g.e.s, g.e.t, g.e.k, b.x, b.y + cl, dy);
    let y = select(dy * fma(e, c.x - hr, 1.0), neg, lt0(g.xs));
    let dh = g.xs - GELU_ROOT_HI;
    let dc = clamp(dh, -1.0, 1.0);
    var q = fma(GELU_ROOT_Q9, dc, GELU_ROOT_Q8);
    q = fma(q, dc, GELU_ROOT_Q7);
    q = fma(q, dc, GELU_ROOT_Q6);
    q = fma(q, dc, GELU_ROOT_Q5);
    q = fma(q, dc, GELU_ROOT_Q4);
    q = fma(q, dc, GELU_ROOT_Q3);
    q = fma(q, dc, GELU_ROOT_Q2);
    let near = root_eval(dc, -GELU_ROOT_LO, GELU_ROOT_Q0_HI, GELU_ROOT_Q0_LO, GELU_ROOT_Q1_HI, GELU_ROOT_Q1_LO, q);
    return select(y, dy * near, abs(dh) <= 0.5);
}
fn gelu_der(x: f32, p: vec4<f32>) -> f32 {
    return gelu_der_dy(x, 1.0, p);
}
fn gelu_bwd(s: f32, p: vec4<f32>) -> f32 {
    return gelu_der(s, p);
}
fn gelu_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return gelu_der_dy(s, dy, p);
}

// z = 2 sqrt(2/pi) (x + 0.044715 x^3) = x (K1 + K3 x^2) and g = x z' = x (K1 + 3 K3 x^2) as
// double-floats (zh, zl, gh, gl), x clamped to +-20.
fn gelu_tanh_z(x: f32) -> vec4<f32> {
    let xc = clamp(finite(x), -20.0, 20.0);
    let x2 = two_prod(xc, xc);
    let a = two_prod(GELU_TANH_K3_HI, x2.x);
    let al = fma(GELU_TANH_K3_HI, x2.y, fma(GELU_TANH_K3_LO, x2.x, a.y));
    let b = two_sum(GELU_TANH_K1_HI, a.x);
    let bl = b.y + (al + GELU_TANH_K1_LO);
    let z = two_prod(xc, b.x);
    let zl = fma(xc, bl, z.y);
    let c = two_sum(b.x, 2.0 * a.x);
    let cl = c.y + fma(2.0, al, bl);
    let g = two_prod(xc, c.x);
    let gl = fma(xc, cl, g.y);
    return vec4<f32>(z.x, zl, g.x, gl);
}
// x/2 (1 + tanh(z/2)) = x sigma(z).
fn gelu_tanh_fwd(x: f32, p: vec4<f32>) -> f32 {
    let z = gelu_tanh_z(x);
    return x_sigmoid(x, z.x, z.y);
}
// sigma(z) (1 + x z' sigma(-z)); the root polynomial within 1/2 of the zero.
fn gelu_tanh_der_dy(x: f32, dy: f32, p: vec4<f32>) -> f32 {
    let z = gelu_tanh_z(x);
    let far = x_sigmoid_der(z.x, z.y, z.z, z.w, dy);
    let dh = finite(x) - GELU_TANH_ROOT_HI;
    let dc = clamp(dh, -1.0, 1.0);
    var q = fma(GELU_TANH_ROOT_Q9, dc, GELU_TANH_ROOT_Q8);
    q = fma(q, dc, GELU_TANH_ROOT_Q7);
    q = fma(q, dc, GELU_TANH_ROOT_Q6);
    q = fma(q, dc, GELU_TANH_ROOT_Q5);
    q = fma(q, dc, GELU_TANH_ROOT_Q4);
    q = fma(q, dc, GELU_TANH_ROOT_Q3);
    q = fma(q, dc, GELU_TANH_ROOT_Q2);
    let near = root_eval(dc, -GELU_TANH_ROOT_LO, GELU_TANH_ROOT_Q0_HI, GELU_TANH_ROOT_Q0_LO, GELU_TANH_ROOT_Q1_HI, GELU_TANH_ROOT_Q1_LO, q);
    return select(far, dy * near, abs(dh) <= 0.5);
}
fn gelu_tanh_der(x: f32, p: vec4<f32>) -> f32 {
    return gelu_tanh_der_dy(x, 1.0, p);
}
fn gelu_tanh_bwd(s: f32, p: vec4<f32>) -> f32 {
    return gelu_tanh_der(s, p);
}
fn gelu_tanh_bwd_dy(s: f32, dy: f32, p: vec4<f32>) -> f32 {
    return gelu_tanh_der_dy(s, dy, p);
}
