// The context's one-invocation probe (math.wgsl is prepended): out[0] = 1 where WGSL's `fma` is
// fused on this device, out[1] = 1 where it flushes subnormals (`one.w`, 2^-127, read from memory
// as a tensor's value would be: a constant operand is folded differently by some compilers).

@group(0) @binding(0) var<uniform> one: vec4<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
var<private> math_one: f32;

@compute @workgroup_size(1)
fn main() {
    math_one = one.x;
    out[0] = select(0.0, 1.0, math_fma_probe(one.x));
    out[1] = select(0.0, 1.0, bitcast<u32>(one.w * one.x) == 0u);
}
