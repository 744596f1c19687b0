// Element-wise kernel binding layout: separate input and output (see elementwise.wgsl).

@group(0) @binding(1) var<storage, read> src_a: array<TplElem>;
@group(0) @binding(3) var<storage, read_write> dst: array<TplElem>;

// The output's offset, in array elements, inside its bound range.
fn tpl_out_off() -> u32 {
    return tpl.off_out;
}

fn tpl_out_ld(w: u32) -> TplElem {
    return dst[w];
}

fn tpl_out_st(w: u32, v: TplElem) {
    dst[w] = v;
}
