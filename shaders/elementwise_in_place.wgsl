// Element-wise kernel binding layout: the output overwrites the input (see elementwise.wgsl).

@group(0) @binding(1) var<storage, read_write> src_a: array<TplElem>;

// The output's offset, in array elements, inside its bound range: the input's.
fn tpl_out_off() -> u32 {
    return tpl.off_a;
}

fn tpl_out_ld(w: u32) -> TplElem {
    return src_a[w];
}

fn tpl_out_st(w: u32, v: TplElem) {
    src_a[w] = v;
}
