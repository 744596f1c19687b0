// Element-wise kernel's second operand in backward: dy (see elementwise.wgsl).

@group(0) @binding(2) var<storage, read> src_b: array<TplElem>;

fn tpl_ld_b(w: u32) -> TplElem {
    return src_b[w];
}
