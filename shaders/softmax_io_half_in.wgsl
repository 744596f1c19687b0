// softmax.wgsl's input tensors (the first part of its IO token) as 16-bit floats (f16 or bf16)
// packed in u32 words, with their element accessors; `half_to_f32` is the dtype's widening (see
// `gpu::source::half_codec`). The `_pair` loads read elements i and i + 1 (one word when i is
// even). The output's file follows (softmax_io_half_out.wgsl or softmax_io_f32_out.wgsl).

@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> grad: array<u32>;
fn ld_src(i: u32) -> f32 { return half_to_f32(h16_half(src[i >> 1u], i)); }
fn ld_grad(i: u32) -> f32 { return half_to_f32(h16_half(grad[i >> 1u], i)); }
fn h16_pair(a: u32, b: u32, i: u32) -> vec2<f32> {
    let w = select(a, (a >> 16u) | (b << 16u), (i & 1u) != 0u);
    return vec2<f32>(half_to_f32(w & 0xffffu), half_to_f32(w >> 16u));
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
