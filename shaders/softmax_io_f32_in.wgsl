// softmax.wgsl's input tensors (the first part of its IO token) as f32 arrays, with their element
// accessors. The output's file follows (softmax_io_f32_out.wgsl).

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
fn ld_src(i: u32) -> f32 { return src[i]; }
fn ld_grad(i: u32) -> f32 { return grad[i]; }
fn ld_src_pair(i: u32) -> vec2<f32> { return vec2<f32>(src[i], src[i + 1u]); }
fn ld_grad_pair(i: u32) -> vec2<f32> { return vec2<f32>(grad[i], grad[i + 1u]); }
