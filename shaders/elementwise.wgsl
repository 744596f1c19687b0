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
// CPU bodies in src/ops/. NaN inputs are handled here, by bit tests. The template then fills the
// double-braced tokens (workgroup size, bindings, slope, body, loop); a token left over is an
// error. Tensors are read as f32 or, where every tensor is 16-byte aligned, as vec4<f32>; f16
// tensors as packed u32 words (f16.wgsl is prepended), one word (two elements) per invocation or,
// 16-byte aligned, a vec4<u32> (eight elements). A grid of more than 65,535 workgroups folds into
// 2-D, and `row_stride` (grid width × workgroup size) turns it back into an index.

struct TplParams {
    p: vec4<f32>,
    // Array elements (f32 or vec4<f32>) in this dispatch.
    n: u32,
    // Offsets, in array elements, inside the bound ranges: bindings start at aligned offsets, a
    // caller's offset need only be a multiple of 4 bytes.
    off_a: u32,
    off_b: u32,
    off_out: u32,
    // Index of this dispatch's first element in the whole tensor (rrelu's counter, prelu's channel).
    base: u32,
    seed_lo: u32,
    seed_hi: u32,
    // prelu: number of slopes, and elements per channel block.
    channels: u32,
    inner: u32,
    row_stride: u32,
    // 1.0, from the host: the shader compiler cannot see through it, so `v * one` keeps an
    // error-free transformation from being simplified away (see math.wgsl).
    one: f32,
    // Invocations in the whole grid: the grid-stride loop's step.
    stride: u32,
    // f16 word kernel: elements in this dispatch (`n` counts the words that hold them).
    count: u32,
}

@group(0) @binding(0) var<uniform> tpl: TplParams;
var<private> math_one: f32;
{{BINDINGS}}

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

// One element: the op's body with NaN propagated by bit tests (implementations may assume NaN
// never occurs, so `x != x` is not enough). `b` is dy in backward; `index` is the element's
// position in the whole tensor (rrelu's counter, prelu's channel).
fn tpl_apply(a: f32, b: f32, index: u32) -> f32 {
    var p = tpl.p;
    {{SLOPE}}
    {{BODY}}
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = tpl.one;
    // A grid-stride loop: the grid is sized to the device, not to the tensor, so per-workgroup
    // overhead is paid a bounded number of times. `n` and the offsets count array elements
    // (f32 or vec4<f32>).
    for (var i = wg.y * tpl.row_stride + wg.x * {{WG}}u + li; i < tpl.n; i = i + tpl.stride) {
        {{LOOP}}
    }
}
