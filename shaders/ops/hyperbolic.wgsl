// Hyperbolic family: the WGSL bodies NAME_fwd, NAME_der, NAME_bwd and NAME_bwd_dy of each op
// of src/ops/hyperbolic.rs (the contract is in elementwise.wgsl's header).

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
    // The sign of x by bits, -0 included (a driver may lose the sign of a zero quotient).
    return copysign(div_dd(xs, 0.0, d.x, d.y), x);
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
    // x tanh(softplus(x)) has the sign of x, -0 included where it underflows: set by bits.
    return copysign(select(y, x, is_inf(x) && gt0(x)), x);
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
