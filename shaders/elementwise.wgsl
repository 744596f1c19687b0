// Element-wise activation kernel template. `kernels/elementwise.rs` prepends math.wgsl and every
// op family's file under ops/, which define for each op NAME
//   fn NAME_fwd(x, p) -> f(x)
//   fn NAME_der(x, p) -> f'(x)
//   fn NAME_bwd(s, p) -> the factor dy is multiplied by, from the saved tensor s (x, or y for
//                        sigmoid and tanh)
//   fn NAME_bwd_dy(s, dy, p) -> the fused backward: dy * NAME_bwd(s, p), except squared_relu's
//                        2 (dy s), which does not overflow where 2s alone would
// with p the parameter vector in Spec order (leaky_relu, prelu, rrelu: p.x is the element's
// slope); the piecewise ops run the same algorithms, in the same order of operations, as their
// CPU bodies in src/ops/. NaN inputs are handled here, by bit tests. It prepends f16.wgsl for
// f16, appends the tensors' files (below), and fills the
// double-braced tokens: the uniform block (generated from the Rust struct), the workgroup size,
// the op's name, the mode and the slope source; a token left over is an error.
//
// The tensors' files: one per element layout, which declares `TplElem` (the arrays' element type)
// and `tpl_step(i)`, the work of one invocation on array element i: elementwise_f32.wgsl (f32),
// elementwise_f32_vec4.wgsl (vec4<f32>, where every tensor is 16-byte aligned),
// elementwise_f16.wgsl (f16 packed in u32 words, one word, two elements, per invocation) and
// elementwise_f16_vec4.wgsl (a vec4<u32>, eight elements); one per binding layout, which binds x
// and the output and defines `tpl_out_*` (elementwise_out_of_place.wgsl, elementwise_in_place.wgsl:
// the output overwrites x); and one for the second operand `tpl_ld_b` (elementwise_grad.wgsl: dy
// in backward; elementwise_no_grad.wgsl: zero, never used by the op). A grid of more than 65,535
// workgroups folds into 2-D, and `row_stride` (grid width × workgroup size) turns it back into an
// index.

{{PARAMS}}
@group(0) @binding(0) var<uniform> tpl: TplParams;
var<private> math_one: f32;
// prelu's slopes, one per channel (bound only for prelu with several slopes, `tpl_slope_prelu`: a
// range of the dispatch's uniform buffer, after its uniform blocks).
@group(0) @binding(4) var<storage, read> slopes: array<f32>;

const WG: u32 = {{WG}}u;

fn tpl_is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// 32 × 32 → 64-bit product as (hi, lo) from 16-bit halves: WGSL has no 64-bit integers.
fn tpl_mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    let lo = (mid << 16u) | (ll & 0xffffu);
    return vec2<u32>(hi, lo);
}

// Philox4x32-10, first output word; the same function as src/philox.rs.
fn tpl_philox_word(counter: vec4<u32>, key: vec2<u32>) -> u32 {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if (round > 0u) {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let m0 = tpl_mulhilo(0xD2511F53u, c.x);
        let m1 = tpl_mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(m1.x ^ c.y ^ k.x, m1.y, m0.x ^ c.w ^ k.y, m0.y);
    }
    return c.x;
}

fn tpl_rrelu_slope(index: u32) -> f32 {
    let word = tpl_philox_word(vec4<u32>(index, 0u, 0u, 0u), vec2<u32>(tpl.seed_lo, tpl.seed_hi));
    let u = f32(word >> 8u) * (1.0 / 16777216.0);
    // Two roundings, as in src/philox.rs. `* math_one` keeps a driver from fusing the product into
    // the sum (fma is fused on some GPUs and not on others), so every device rounds the same way.
    // Where upper - lower overflows, the halved range (exact there), doubled, as src/philox.rs.
    let d = tpl.p.y - tpl.p.x;
    let dh = ((0.5 * tpl.p.y - 0.5 * tpl.p.x) * u) * math_one;
    return select((dh + 0.5 * tpl.p.x) * 2.0, (d * u) * math_one + tpl.p.x, !is_inf(d));
}

// Where p.x, the op's first parameter, comes from: the uniform (`tpl_slope_param`; prelu's one
// slope too), prelu's slope of the element's channel, or rrelu's Philox slope in training.
fn tpl_slope_param(s: f32, index: u32) -> f32 {
    return s;
}

// prelu with one slope per channel (one slope arrives in p.x through `tpl_slope_param`, a kernel
// of its own). No branch on a uniform value: some drivers (lavapipe's uniform inlining) compile a
// shader variant for the values of the uniforms that control flow depends on, at every bind.
fn tpl_slope_prelu(s: f32, index: u32) -> f32 {
    return slopes[(index / tpl.inner) % tpl.channels];
}

fn tpl_slope_rrelu(s: f32, index: u32) -> f32 {
    return tpl_rrelu_slope(index);
}

// The op in each mode, with NaN propagated by bit tests (implementations may assume NaN never
// occurs, so `x != x` is not enough). `b` is dy in backward.
fn tpl_forward(a: f32, b: f32, p: vec4<f32>) -> f32 {
    return select({{OP}}_fwd(a, p), a, tpl_is_nan(a));
}

fn tpl_derivative(a: f32, b: f32, p: vec4<f32>) -> f32 {
    return select({{OP}}_der(a, p), a, tpl_is_nan(a));
}

// dy = +-inf: the IEEE product dy f'(s) with f'(s) as the op computes it for dy = 1 (its limit
// at s = +-inf), formed by bits, since a driver may treat infinities loosely: NaN where f'(s) is
// 0 (or NaN), +-inf with the product's sign elsewhere. The fused bodies, which scale and split dy,
// would turn an infinite dy into NaN or lose the zero test.
fn tpl_inf_times(dy: f32, d: f32) -> f32 {
    let db = bitcast<u32>(d);
    let inf = bitcast<f32>(0x7f800000u | ((bitcast<u32>(dy) ^ db) & 0x80000000u));
    return select(inf, f32_from_bits(0x7fc00000u), (db & 0x7fffffffu) == 0u || tpl_is_nan(d));
}

fn tpl_backward(a: f32, b: f32, p: vec4<f32>) -> f32 {
    var r = {{OP}}_bwd_dy(a, b, p);
    // Rare and data-dependent: a branch, not a select that would evaluate the op twice.
    if (is_inf(b)) {
        r = tpl_inf_times(b, {{OP}}_bwd(a, p));
    }
    r = select(r, a, tpl_is_nan(a));
    return select(r, b, tpl_is_nan(b));
}

// One element: `index` is its position in the whole tensor (rrelu's counter, prelu's channel).
fn tpl_apply(a: f32, b: f32, index: u32) -> f32 {
    var p = tpl.p;
    p.x = {{SLOPE}}(p.x, index);
    return tpl_{{MODE}}(a, b, p);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = tpl.one;
    // A grid-stride loop: the grid is sized to the device, not to the tensor, so per-workgroup
    // overhead is paid a bounded number of times. `n` and the offsets count array elements
    // (`TplElem`).
    for (var i = wg.y * tpl.row_stride + wg.x * WG + li; i < tpl.n; i = i + tpl.stride) {
        tpl_step(i);
    }
}
