// Element-wise kernel's second operand in forward and derivative: none; zero, which the op never
// reads (see elementwise.wgsl).

fn tpl_ld_b(w: u32) -> TplElem {
    return TplElem();
}
