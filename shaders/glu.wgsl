// The GLU family's kernel (kernels/glu.rs): out = f(gate) * value (forward) or
// (d gate, d value) = (dy value f'(gate), dy f(gate)) (backward), one output element per
// iteration of a grid-stride loop. kernels/glu.rs prepends math.wgsl, every op family's file
// under ops/ (the activations' bodies: sigmoid, silu, gelu, gelu_tanh, relu) and the dtype's
// conversions (f16.wgsl for f16), and fills the tokens: the uniform block, the workgroup size, the
// variant (token V: glu, swiglu, geglu, geglu_tanh, reglu), the mode (token MODE) and the tensors'
// bindings and accessors (token IO: ld_gate, ld_value, ld_dy, st_out, st_dvalue, generated per
// dtype; the one-tensor form reads both halves from one binding and writes both gradients into
// one).
//
// Element i of the output is (o, r) = (i / row, i % row) of [outer, row]; its gate and value are
// at o * row_in + r + shift_gate (shift_value) of the input(s): row_in = 2 row and the shifts
// 0 and row (in the op's order) for the one-tensor form, row_in = row and no shifts for the
// two-input form.
//
// Accuracy: every result is M * g(t) with M = m 2^E a product of two f32 inputs (value, or
// t * value where f(t) = t h(t), or dy * value), formed exactly from their mantissas and
// exponents (split_pow2, two_prod: no overflow, no underflow), and g the activation's factor at
// the gate t. The op bodies of ops/ compute m 2^j * g(t) for j = E clamped to [-126, 125] (they
// keep tiny g in range themselves), and the remaining 2^(E - j) is applied after, so M may lie
// far outside the f32 range. Where g(t) itself is below ~2^-58 (the deep negative tails of sigma,
// Phi and their derivatives; glu's sigma' on both sides), g(t) = h e^(arg) is formed here from
// exp_core over [-340, 89] (the bodies clamp e^x at e^-190, too soon once M reaches 2^256), and
// the product is scaled once. Inputs that are not finite, or a zero factor of M, take the IEEE
// product of the f32 factors (glu_special).

{{PARAMS}}
@group(0) @binding(0) var<uniform> tpl: GluParams;
var<private> math_one: f32;

const WG: u32 = {{WG}}u;
const GLU_P0: vec4<f32> = vec4<f32>(0.0, 0.0, 0.0, 0.0);
// softplus's parameters for its derivative dy sigma(x): beta 1, a threshold never reached.
const GLU_SP: vec4<f32> = vec4<f32>(1.0, 0x1.fffffep127f, 0.0, 0.0);
const GLU_FRAC_1_SQRT_PI: f32 = 0x1.20dd76p-1f;

{{IO}}

fn glu_bits(v: f32) -> u32 {
    return bitcast<u32>(v) & 0x7fffffffu;
}
fn glu_nan(v: f32) -> bool {
    return glu_bits(v) > 0x7f800000u;
}
fn glu_infinite(v: f32) -> bool {
    return glu_bits(v) == 0x7f800000u;
}
fn glu_zero(v: f32) -> bool {
    return glu_bits(v) == 0u;
}
fn glu_finite(v: f32) -> bool {
    return glu_bits(v) < 0x7f800000u;
}

// The IEEE product a b c, by bits: NaN where a factor is NaN or an infinite one meets a zero,
// +-inf where one is infinite, +-0 where one is zero (the product's sign), else a b c (reached
// only with exact factors: relu's, and the limits 1 of f and f' at +inf).
fn glu_special(a: f32, b: f32, c: f32) -> f32 {
    let sign = (bitcast<u32>(a) ^ bitcast<u32>(b) ^ bitcast<u32>(c)) & 0x80000000u;
    let any_inf = glu_infinite(a) || glu_infinite(b) || glu_infinite(c);
    let any_zero = glu_zero(a) || glu_zero(b) || glu_zero(c);
    if (glu_nan(a) || glu_nan(b) || glu_nan(c) || (any_inf && any_zero)) {
        return f32_from_bits(0x7fc00000u);
    }
    if (any_inf) {
        return bitcast<f32>(0x7f800000u | sign);
    }
    if (any_zero) {
        return bitcast<f32>(sign);
    }
    return (a * b) * c;
}

// A tail factor h e^(eh + el).
struct GluTail {
    tail: bool,
    h: f32,
    eh: f32,
    el: f32,
}

// erfcx(a) for a >= 0 (double-float a + al): math.wgsl's fit up to 13.5, beyond it the
// asymptotic series 1/(a sqrt(pi)) (1 - 1/(2a^2) + 3/(4a^4) - 15/(8a^6) + 105/(16a^8)), whose
// next term is below 2^-30 there.
fn glu_erfcx(a: f32, al: f32) -> f32 {
    let inv0 = div(1.0, a);
    let inv = inv0 - inv0 * inv0 * al;
    let w = inv * inv;
    let s = fma(w, fma(w, fma(w, fma(w, 6.5625, -1.875), 0.75), -0.5), 1.0);
    let asym = (GLU_FRAC_1_SQRT_PI * inv) * s;
    return select(erfcx(min(a, 13.5), al), asym, a > 13.5);
}

// For gelu's tails (t < -12): a = -t/sqrt(2) (double-float), e^-a^2's argument, erfcx(a) / 2.
fn glu_gelu_tail(t: f32, der: bool) -> GluTail {
    let tc = max(t, -40.0);
    let a = two_prod(-tc, FRAC_1_SQRT2_HI);
    let al = fma(-tc, FRAC_1_SQRT2_LO, a.y);
    let s = two_prod(a.x, a.x);
    let half_r = 0.5 * glu_erfcx(a.x, al);
    let h = select(half_r, half_r + tc * FRAC_1_SQRT_2PI_HI, der);
    return GluTail(t < -12.0, h, -s.x, -fma(2.0 * a.x, al, s.y));
}

// ---------------------------------------------------------------------------------------------
// The variants. Each defines
//   V_f(t), V_d(t): f(t) and f'(t) as f32 (the element-wise bodies; for the special products),
//   V_x(): whether f(t) = t h(t) (the gate joins M in forward) rather than h(t) (glu),
//   V_hm(t, m), V_dm(t, m): m h(t) and m f'(t) for an f32 m (|m| < 2^127),
//   V_is_tail(t, der): whether h(t) (der: f'(t)) is tiny there (a cheap test),
//   V_tail(t, der): then h(t) (f'(t)) as h e^arg,
//   V_exact(): whether every result is an exact product rounded once (reglu).

fn glu_f(t: f32) -> f32 { return sigmoid_fwd(t, GLU_P0); }
fn glu_d(t: f32) -> f32 { return sigmoid_der(t, GLU_P0); }
fn glu_x() -> bool { return false; }
fn glu_exact() -> bool { return false; }
fn glu_is_tail(t: f32, der: bool) -> bool { return select(t, -abs(t), der) < -40.0; }
fn glu_hm(t: f32, m: f32) -> f32 { return softplus_der_dy(t, m, GLU_SP); }
// m sigma(|t|) sigma(-|t|): the first product lies in [m/2, m], the second is scaled.
fn glu_dm(t: f32, m: f32) -> f32 {
    let g = sig_parts(abs(t), 0.0);
    return softplus_der_dy(-abs(t), mul_dd(m, 0.0, g.p, g.pl), GLU_SP);
}
// sigma(t) = e^t (1 - e^t ...) below -40, sigma'(t) = e^-|t| (1 - 2 e^-|t| ...) beyond +-40.
fn glu_tail(t: f32, der: bool) -> GluTail {
    let e = select(t, -abs(t), der);
    return GluTail(e < -40.0, 1.0, e, 0.0);
}

fn swiglu_f(t: f32) -> f32 { return silu_fwd(t, GLU_P0); }
fn swiglu_d(t: f32) -> f32 { return silu_der(t, GLU_P0); }
fn swiglu_x() -> bool { return true; }
fn swiglu_exact() -> bool { return false; }
fn swiglu_is_tail(t: f32, der: bool) -> bool { return t < -40.0; }
fn swiglu_hm(t: f32, m: f32) -> f32 { return x_sigmoid(m, t, 0.0); }
fn swiglu_dm(t: f32, m: f32) -> f32 { return silu_bwd_dy(t, m, GLU_P0); }
// sigma(t) = e^t and silu'(t) = e^t (1 + t) to far below an ULP, below -40.
// (t clamped at -400: e^t is then long gone, and 1 + t stays finite.)
fn swiglu_tail(t: f32, der: bool) -> GluTail {
    let tc = max(t, -400.0);
    return GluTail(t < -40.0, select(1.0, 1.0 + tc, der), tc, 0.0);
}

fn geglu_f(t: f32) -> f32 { return gelu_fwd(t, GLU_P0); }
fn geglu_d(t: f32) -> f32 { return gelu_der(t, GLU_P0); }
fn geglu_x() -> bool { return true; }
fn geglu_exact() -> bool { return false; }
// m Phi(t) as gelu_fwd forms x Phi(x): (m/2) erfc(a) for t < 0, m - (m/2) erfc(a) above.
fn geglu_hm(t: f32, m: f32) -> f32 {
    let g = gelu_parts(t);
    let v = two_prod(0.5 * m, g.r);
    let neg = scale_mul_dd(g.e.s, g.e.t, g.e.k, v.x, v.y);
    let ec = scale_mul_dd(g.e.s, g.e.t, g.e.k, g.r, 0.0);
    return select(fma(-0.5 * m, ec, m), neg, lt0(t));
}
fn geglu_is_tail(t: f32, der: bool) -> bool { return t < -12.0; }
fn geglu_dm(t: f32, m: f32) -> f32 { return gelu_der_dy(t, m, GLU_P0); }
// Phi(t) = e^-a^2 erfcx(a)/2, gelu'(t) = e^-a^2 (erfcx(a)/2 + t/sqrt(2 pi)), below -12.
fn geglu_tail(t: f32, der: bool) -> GluTail {
    return glu_gelu_tail(t, der);
}

fn geglu_tanh_f(t: f32) -> f32 { return gelu_tanh_fwd(t, GLU_P0); }
fn geglu_tanh_d(t: f32) -> f32 { return gelu_tanh_der(t, GLU_P0); }
fn geglu_tanh_x() -> bool { return true; }
fn geglu_tanh_exact() -> bool { return false; }
fn geglu_tanh_is_tail(t: f32, der: bool) -> bool { return t < -6.0 && gelu_tanh_z(t).x < -40.0; }
fn geglu_tanh_hm(t: f32, m: f32) -> f32 {
    let z = gelu_tanh_z(t);
    return x_sigmoid(m, z.x, z.y);
}
fn geglu_tanh_dm(t: f32, m: f32) -> f32 { return gelu_tanh_der_dy(t, m, GLU_P0); }
// sigma(z) = e^z, f'(t) = e^z (1 + t z') below z = -40.
fn geglu_tanh_tail(t: f32, der: bool) -> GluTail {
    let z = gelu_tanh_z(t);
    let g = two_sum(1.0, z.z);
    return GluTail(z.x < -40.0, select(1.0, g.x + (g.y + z.w), der), z.x, z.y);
}

fn reglu_f(t: f32) -> f32 { return select(0.0, t, gt0(t) || glu_nan(t)); }
fn reglu_d(t: f32) -> f32 { return select(0.0, 1.0, gt0(t)); }
fn reglu_x() -> bool { return false; }
fn reglu_exact() -> bool { return true; }
fn reglu_is_tail(t: f32, der: bool) -> bool { return false; }
fn reglu_hm(t: f32, m: f32) -> f32 { return m; }
fn reglu_dm(t: f32, m: f32) -> f32 { return m; }
fn reglu_tail(t: f32, der: bool) -> GluTail {
    return GluTail(false, 1.0, 0.0, 0.0);
}

// ---------------------------------------------------------------------------------------------

// x y g(t) rounded once, g = h (der false) or f' (der true), for finite nonzero x, y.
fn glu_scaled(t: f32, x: f32, y: f32, der: bool) -> f32 {
    let sx = split_pow2(x);
    let sy = split_pow2(y);
    let mm = two_prod(sx.m, sy.m);
    let e = sx.e + sy.e;
    if ({{V}}_is_tail(t, der)) {
        let tl = {{V}}_tail(t, der);
        let c = exp_core_in(tl.eh, tl.el, -340.0, 89.0);
        let q = tl.h * c.s + tl.h * c.t;
        return scale2(mul_dd(mm.x, mm.y, q, 0.0), e + c.k);
    }
    let j = clamp(e, -126, 125);
    let m = scale2(mm.x, j);
    var r: f32;
    if (der) {
        r = {{V}}_dm(t, m);
    } else {
        r = {{V}}_hm(t, m);
    }
    return scale2(r, e - j);
}

// f(t) v.
fn glu_forward(t: f32, v: f32) -> f32 {
    let x = select(v, t, {{V}}_x());
    let y = select(1.0, v, {{V}}_x());
    if ({{V}}_exact() || !glu_finite(t) || !glu_finite(v) || glu_zero(x) || glu_zero(y)) {
        // f(t) = t/2 + (a positive t^2 term) for silu, gelu, gelu_tanh: at the smallest positive
        // subnormal it lies just above the tie that f32 arithmetic rounds to 0; its rounding is t.
        let tiny = {{V}}_x() && bitcast<u32>(t) == 1u;
        return glu_special(select(select({{V}}_f(t), t, glu_nan(t)), t, tiny && !{{V}}_exact()), v, 1.0);
    }
    return glu_scaled(t, x, y, false);
}

// dy v f'(t).
fn glu_gate_grad(t: f32, v: f32, dy: f32) -> f32 {
    if ({{V}}_exact() || !glu_finite(t) || !glu_finite(v) || !glu_finite(dy) || glu_zero(v) || glu_zero(dy)) {
        return glu_special(select({{V}}_d(t), t, glu_nan(t)), dy, v);
    }
    return glu_scaled(t, dy, v, true);
}

fn glu_step_forward(i: u32, ig: u32, iv: u32, src: u32) {
    st_out(tpl.off_out + i, glu_forward(ld_gate(ig), ld_value(iv)));
}

fn glu_step_backward(i: u32, ig: u32, iv: u32, src: u32) {
    let t = ld_gate(ig);
    let v = ld_value(iv);
    let dy = ld_dy(tpl.off_dy + i);
    st_out(tpl.off_out + src + tpl.shift_gate, glu_gate_grad(t, v, dy));
    st_dvalue(tpl.off_dvalue + src + tpl.shift_value, glu_forward(t, dy));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = tpl.one;
    for (var i = wg.y * tpl.row_stride + wg.x * WG + li; i < tpl.n; i = i + tpl.stride) {
        let o = i / tpl.row;
        let src = o * tpl.row_in + (i - o * tpl.row);
        glu_step_{{MODE}}(i, tpl.off_gate + src + tpl.shift_gate, tpl.off_value + src + tpl.shift_value, src);
    }
}
