// softmax.wgsl's tensors (its IO token) as f16 packed in u32 words (f16.wgsl), with their element
// accessors; the quad accessors are softmax_io_quads.wgsl's. `st_dst` clears and sets only its own
// half, so the two atomics of neighbouring elements commute; `st_word` writes a whole word (both
// halves in one invocation's hands) plainly. The `_pair` loads read elements i and i + 1 (one word
// when i is even).

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> grad: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<atomic<u32>>;
const PACKED: bool = true;
fn ld_src(i: u32) -> f32 { return h16_to_f32(h16_half(src[i >> 1u], i)); }
fn ld_grad(i: u32) -> f32 { return h16_to_f32(h16_half(grad[i >> 1u], i)); }
fn st_dst(i: u32, v: f32) {
    let sh = (i & 1u) * 16u;
    atomicAnd(&dst[i >> 1u], ~(0xffffu << sh));
    atomicOr(&dst[i >> 1u], h16_from_f32(v) << sh);
}
fn h16_pair(a: u32, b: u32, i: u32) -> vec2<f32> {
    let w = select(a, (a >> 16u) | (b << 16u), (i & 1u) != 0u);
    return vec2<f32>(h16_to_f32(w & 0xffffu), h16_to_f32(w >> 16u));
}
fn ld_src_pair(i: u32) -> vec2<f32> {
    var b = 0u;
    if ((i & 1u) != 0u) {
        b = src[(i >> 1u) + 1u];
    }
    return h16_pair(src[i >> 1u], b, i);
}
fn ld_grad_pair(i: u32) -> vec2<f32> {
    var b = 0u;
    if ((i & 1u) != 0u) {
        b = grad[(i >> 1u) + 1u];
    }
    return h16_pair(grad[i >> 1u], b, i);
}
fn st_word(w: u32, lo: f32, hi: f32) {
    atomicStore(&dst[w], h16_from_f32(lo) | (h16_from_f32(hi) << 16u));
}
