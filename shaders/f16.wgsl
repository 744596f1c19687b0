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

// f16 bits → f32, exact: normals by re-biasing the exponent, subnormals as m · 2^-24 (exact in f32,
// and a normal f32, so a device that flushes f32 subnormals keeps them), infinities and NaN
// (payload kept) by bits.
fn h16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let e = (h >> 10u) & 0x1fu;
    let m = h & 0x3ffu;
    if (e == 0x1fu) {
        return bitcast<f32>(sign | 0x7f800000u | (m << 13u));
    }
    if (e == 0u) {
        return bitcast<f32>(sign | bitcast<u32>(f32(m) * bitcast<f32>(0x33800000u)));
    }
    return bitcast<f32>(sign | (((h & 0x7fffu) << 13u) + 0x38000000u));
}

// f32 → f16 bits, rounded to nearest, ties to even: overflow (|v| ≥ 65520) to ±infinity, f16
// subnormals rounded on the integer significand, NaN kept quiet with the top of its payload.
fn h16_from_f32(v: f32) -> u32 {
    let x = bitcast<u32>(v);
    let sign = (x >> 16u) & 0x8000u;
    let a = x & 0x7fffffffu;
    if (a > 0x7f800000u) {
        return sign | 0x7e00u | ((a >> 13u) & 0x3ffu);
    }
    if (a >= 0x477ff000u) {
        return sign | 0x7c00u;
    }
    if (a >= 0x38800000u) {
        // Normal: re-bias the exponent (127 → 15) and round away the low 13 bits.
        let r = a - 0x38000000u;
        return sign | ((r + 0xfffu + ((r >> 13u) & 1u)) >> 13u);
    }
    // Below 2^-14: round |v| · 2^24 to an integer (1024 is the smallest normal, encoded alike).
    let e = a >> 23u;
    if (e < 102u) {
        // Below 2^-25 (f32 subnormals included): rounds to zero.
        return sign;
    }
    let mant = (a & 0x7fffffu) | 0x800000u;
    let s = 126u - e;
    let q = mant >> s;
    let rem = mant & ((1u << s) - 1u);
    let half = 1u << (s - 1u);
    let up = rem > half || (rem == half && (q & 1u) == 1u);
    return sign | (q + select(0u, 1u, up));
}
