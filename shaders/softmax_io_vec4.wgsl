// softmax.wgsl's tensors (its IO token) as vec4<f32> arrays (f32 tensors, every bound range
// 16-byte aligned and a multiple of 16 bytes long): the quad accessors are single 16-byte
// accesses.

@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<f32>>;
const PACKED: bool = false;
const VEC4: bool = true;
fn ld_src(i: u32) -> f32 { return src[i >> 2u][i & 3u]; }
fn ld_grad(i: u32) -> f32 { return grad[i >> 2u][i & 3u]; }
fn st_dst(i: u32, v: f32) { dst[i >> 2u][i & 3u] = v; }
fn ld_src_pair(i: u32) -> vec2<f32> { return vec2<f32>(ld_src(i), ld_src(i + 1u)); }
fn ld_grad_pair(i: u32) -> vec2<f32> { return vec2<f32>(ld_grad(i), ld_grad(i + 1u)); }
fn st_word(w: u32, lo: f32, hi: f32) { st_dst(2u * w, lo); st_dst(2u * w + 1u, hi); }
fn ld_src4(q: u32) -> vec4<f32> { return src[q]; }
fn ld_grad4(q: u32) -> vec4<f32> { return grad[q]; }
fn st_dst4(q: u32, v: vec4<f32>) { dst[q] = v; }
