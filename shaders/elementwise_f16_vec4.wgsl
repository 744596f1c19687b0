// Element-wise kernel tensors of f16 packed in vec4<u32> (every tensor 16-byte aligned): eight
// elements per invocation (see elementwise.wgsl).

alias TplElem = vec4<u32>;

// Two elements of one word: half 0 of `wa` (and `wb`) is element k.
fn tpl_pair16(wa: u32, wb: u32, k: u32) -> u32 {
    let lo = half_from_f32(tpl_apply(half_to_f32(wa & 0xffffu), half_to_f32(wb & 0xffffu), k));
    let hi = half_from_f32(tpl_apply(half_to_f32(wa >> 16u), half_to_f32(wb >> 16u), k + 1u));
    return lo | (hi << 16u);
}

fn tpl_step(i: u32) {
    let a = src_a[tpl.off_a + i];
    let b = tpl_ld_b(tpl.off_b + i);
    let k = tpl.base + 8u * i;
    tpl_out_st(tpl_out_off() + i, vec4<u32>(tpl_pair16(a.x, b.x, k), tpl_pair16(a.y, b.y, k + 2u), tpl_pair16(a.z, b.z, k + 4u), tpl_pair16(a.w, b.w, k + 6u)));
}
