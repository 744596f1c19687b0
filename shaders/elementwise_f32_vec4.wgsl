// Element-wise kernel tensors as vec4<f32> arrays (every tensor 16-byte aligned): four elements
// per invocation (see elementwise.wgsl).

alias TplElem = vec4<f32>;

fn tpl_step(i: u32) {
    let a = src_a[tpl.off_a + i];
    let b = tpl_ld_b(tpl.off_b + i);
    let k = tpl.base + 4u * i;
    tpl_out_st(tpl_out_off() + i, vec4<f32>(tpl_apply(a.x, b.x, k), tpl_apply(a.y, b.y, k + 1u), tpl_apply(a.z, b.z, k + 2u), tpl_apply(a.w, b.w, k + 3u)));
}
