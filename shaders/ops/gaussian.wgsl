// Gaussian family: the WGSL bodies NAME_fwd, NAME_der, NAME_bwd and NAME_bwd_dy of each op
// of src/ops/gaussian.rs (the contract is in elementwise.wgsl's header).

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
    // x Phi(x) has the sign of x, -0 included where it underflows (and at -0): set by bits.
    return copysign(select(y, x, is_inf(x) && gt0(x)), x);
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
// double-floats (zh, zl, gh, glo), x clamped to +-20.
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
    let glo = fma(xc, cl, g.y);
    return vec4<f32>(z.x, zl, g.x, glo);
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
