// bf16 storage for the element-wise and softmax kernels, packed two to a u32 word as f16 is
// (f16.wgsl's `h16_half` picks the half). bf16 is the top half of an f32: widening is a shift,
// exact for every pattern (subnormals are f32 subnormals; NaN payloads kept).
fn bf16_to_f32(h: u32) -> f32 {
    return bitcast<f32>(h << 16u);
}

// f32 → bf16 bits, rounded to nearest, ties to even, on the integer: adding 0x7fff plus the lowest
// kept bit carries into the kept bits exactly when the dropped half is above one half, or equal to
// it with the kept bits odd; a carry out of the fraction bumps the exponent (up to infinity from
// (2 − 2^-8) · 2^127). Subnormals round alike (bf16 has f32's exponent range). NaN keeps its sign
// and the top of its payload and is made quiet (the carry could otherwise reach the exponent or
// clear a payload that lives only in the low bits).
fn bf16_from_f32(v: f32) -> u32 {
    let x = bitcast<u32>(v);
    let rounded = (x + 0x7fffu + ((x >> 16u) & 1u)) >> 16u;
    return select(rounded, (x >> 16u) | 0x40u, (x & 0x7fffffffu) > 0x7f800000u);
}
