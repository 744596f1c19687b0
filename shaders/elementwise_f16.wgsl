// Element-wise kernel tensors of f16 packed in u32 words (f16.wgsl): one word, two elements, per
// invocation (see elementwise.wgsl).

alias TplElem = u32;

// One element of the tensor (index j of this dispatch), from f16 bits to f16 bits.
fn tpl_elem16(j: u32) -> u32 {
    let ia = tpl.off_a + j;
    let ib = tpl.off_b + j;
    return half_from_f32(tpl_apply(half_to_f32(h16_half(src_a[ia >> 1u], ia)), half_to_f32(h16_half(tpl_ld_b(ib >> 1u), ib)), tpl.base + j));
}

// Word w holds binding elements 2w and 2w + 1; this dispatch's elements start at `tpl_out_off()`
// and number `count`. A word shared with a neighbour keeps the neighbour's half (the kernel is the
// only writer of that word during the dispatch).
fn tpl_step(i: u32) {
    let off = tpl_out_off();
    let w = (off >> 1u) + i;
    let lo = 2u * w;
    let in_lo = lo >= off && lo - off < tpl.count;
    let in_hi = lo + 1u - off < tpl.count;
    var word = 0u;
    if (!(in_lo && in_hi)) { word = tpl_out_ld(w); }
    if (in_lo) { word = (word & 0xffff0000u) | tpl_elem16(lo - off); }
    if (in_hi) { word = (word & 0xffffu) | (tpl_elem16(lo + 1u - off) << 16u); }
    tpl_out_st(w, word);
}
