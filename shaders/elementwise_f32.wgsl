// Element-wise kernel tensors as f32 arrays: one element per invocation (see elementwise.wgsl).

alias TplElem = f32;

fn tpl_step(i: u32) {
    tpl_out_st(tpl_out_off() + i, tpl_apply(src_a[tpl.off_a + i], tpl_ld_b(tpl.off_b + i), tpl.base + i));
}
