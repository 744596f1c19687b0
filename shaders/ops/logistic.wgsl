// Logistic family: the WGSL bodies NAME_fwd, NAME_der, NAME_bwd and NAME_bwd_dy of each op
// of src/ops/logistic.rs (the contract is in elementwise.wgsl's header).

// sigma(|x|) = 1/(1 + u) and sigma(-|x|) = u/(1 + u) with u = e^-|x| in (0, 1]: neither
// cancels, so plain f32 arithmetic stays within about 1.5 ULP (2.5 more where a device's division
// is as loose as WGSL allows), and u's subnormal tail is the result's own.
fn sigmoid_fwd(x: f32, p: vec4<f32>) -> f32 {
    let e = exp_core(-abs(finite(x)), 0.0);
    let u = scale2(e.s + e.t, e.k);
    let d = 1.0 + u;
    return select(u / d, 1.0 / d, ge0(x));
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

// x sigma(z) for z = zh + zl (silu, swish, quick_gelu, gelu_tanh), from u = e^-|z| = 2^k m in
// (0, 1]: x/(1 + u) for z >= 0, x m/(1 + u) scaled by 2^k for z < 0, so the product survives where
// u alone is subnormal (above 2^64, where a tiny beta keeps z small, half of x, exactly, so that
// x m cannot overflow early). Nothing cancels: f32 arithmetic, about 2 ULP (see sigmoid_fwd).
fn x_sigmoid(x: f32, zh: f32, zl: f32) -> f32 {
    let xs = finite(x);
    let e = exp_core(-abs(zh), select(-zl, zl, lt0(zh)));
    let m = e.s + e.t;
    let d = 1.0 + scale2(m, e.k);
    let big = abs(xs) > TWO64;
    let h = select(1.0, 0.5, big);
    let neg = scale2((h * xs) * m / d, e.k + select(0, 1, big));
    let y = select(neg, xs / d, ge0(zh));
    // x sigma(z) has the sign of x, -0 included where it underflows (and at -0): set by bits.
    return copysign(select(y, x, is_inf(x) && gt0(zh)), x);
}

// dy sigma(z) (1 + g sigma(-z)), dy times the derivative of x sigma(z(x)) with g = x z'
// (double-float); dy e^z (1 + g) as a scaled product below z = -64.
fn x_sigmoid_der(zh: f32, zl: f32, gh: f32, glo: f32, dy: f32) -> f32 {
    let a = abs(zh);
    let g = sig_parts(a, select(zl, -zl, lt0(zh)));
    let sc = sig_pm(zh, g);
    let pe = two_prod(gh, sc.z);
    let b = two_sum(1.0, pe.x);
    let bl = b.y + (pe.y + fma(gh, sc.w, glo * sc.z));
    let y = dy * mul_dd(sc.x, sc.y, b.x, bl);
    let v = two_sum(1.0, gh);
    return select(y, scale_mul_dd_dy(g.m, g.ml, g.k, v.x, v.y + glo, dy), zh < -64.0);
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
    return x_sigmoid(x, x, 0.0);
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
