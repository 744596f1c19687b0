// Exponential family: the WGSL bodies NAME_fwd, NAME_der, NAME_bwd and NAME_bwd_dy of each op
// of src/ops/exponential.rs (the contract is in elementwise.wgsl's header).

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
    let yinf = select(copysign(inf(), dy), f32_from_bits(0x7fc00000u), dy == 0.0);
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
