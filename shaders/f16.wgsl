// f16 storage for the element-wise and softmax kernels: tensors are bound as `array<u32>` (two
// halves per word, element 2k in the low 16 bits, as in memory on a little-endian host) and
// converted by integer bit operations. Why not `enable f16;` and `array<f16>`: WGSL leaves the
// rounding direction of an f32 → f16 conversion to the implementation, lets a value just past
// 65504 become either 65504 or infinity, and says nothing firm about NaN; and naga cannot
// `bitcast` between one f16 and a u32 (bitcasts keep the scalar width), so the bits of an
// `array<f16>` element cannot be reached. Bits in u32 words give correctly rounded results on every
// adapter, with or without `SHADER_F16`.

// Half number `idx & 1` of `word`, as the f16's 16 bits.
fn h16_half(word: u32, idx: u32) -> u32 {
    return (word >> ((idx & 1u) * 16u)) & 0xffffu;
}

// f16 bits → f32, exact and branch-free (after F. Giesen's half_to_float): normals by
// re-biasing the exponent, infinities and NaN (payload kept) by bits, subnormals as
// (2^-14 + m · 2^-24) − 2^-14, an exact subtraction whose result is a normal f32 (so a device that
// flushes f32 subnormals keeps them).
fn h16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let em = (h & 0x7fffu) << 13u;
    let e = em & 0x0f800000u;
    let normal = em + 0x38000000u;
    let special = em + 0x70000000u;
    let sub = bitcast<u32>(bitcast<f32>(em + 0x38800000u) - bitcast<f32>(0x38800000u));
    let o = select(select(normal, special, e == 0x0f800000u), sub, e == 0u);
    return bitcast<f32>(sign | o);
}

// f32 → f16 bits, rounded to nearest, ties to even, branch-free (after F. Giesen's
// float_to_half_fast3_rtne): normals by re-biasing and rounding away the low 13 bits on the
// integer; below 2^-14 by the correctly rounded addition |v| + 0.5, whose ULP is 2^-24, the f16
// subnormal spacing (1024 · 2^-24, the smallest normal, comes out encoded alike); |v| ≥ 65520 to
// infinity; NaN kept quiet with the top of its payload.
fn h16_from_f32(v: f32) -> u32 {
    let x = bitcast<u32>(v);
    let sign = (x >> 16u) & 0x8000u;
    let a = x & 0x7fffffffu;
    // Wraps for small `a`, which the subnormal branch replaces.
    let r = a - 0x38000000u;
    let normal = (r + 0xfffu + ((r >> 13u) & 1u)) >> 13u;
    let sub = bitcast<u32>(bitcast<f32>(a) + 0.5) - 0x3f000000u;
    var o = select(normal, sub, a < 0x38800000u);
    o = select(o, 0x7c00u, a >= 0x477ff000u);
    o = select(o, 0x7e00u | ((a >> 13u) & 0x3ffu), a > 0x7f800000u);
    return sign | o;
}
