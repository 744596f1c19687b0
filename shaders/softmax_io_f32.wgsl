// softmax.wgsl's tensors (its IO token) as f32 arrays, with their element accessors; the quad
// accessors are softmax_io_quads.wgsl's.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
const PACKED: bool = false;
fn ld_src(i: u32) -> f32 { return src[i]; }
fn ld_grad(i: u32) -> f32 { return grad[i]; }
fn st_dst(i: u32, v: f32) { dst[i] = v; }
fn ld_src_pair(i: u32) -> vec2<f32> { return vec2<f32>(src[i], src[i + 1u]); }
fn ld_grad_pair(i: u32) -> vec2<f32> { return vec2<f32>(grad[i], grad[i + 1u]); }
fn st_word(w: u32, lo: f32, hi: f32) { dst[2u * w] = lo; dst[2u * w + 1u] = hi; }
