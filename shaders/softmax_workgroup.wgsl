// The rows kernel of softmax.wgsl without subgroup operations: a row's lanes are TJ (`prm.tj`)
// adjacent invocations of the workgroup, TI = WG / TJ rows per workgroup, and the reductions go
// through workgroup memory (two barriers each, in uniform control flow: every invocation takes
// part, with or without a row).

fn row_max(li: u32, lane: u32, v: f32) -> f32 {
    return tree_max(li, lane, v);
}

fn row_sum(li: u32, lane: u32, v: vec2<f32>, f: u32) -> SumFlags {
    return tree_sum(li, lane, v, f);
}

// Between two reductions of the same kind: every lane has read the last one's slots.
fn row_sync() {
    workgroupBarrier();
}

// Element j of a row whose element 0 is dst element g0 (f16 halves through `st_dst`'s atomics:
// neighbouring lanes exchange nothing here).
fn row_store(g0: u32, j: u32, ok: bool, v: f32, lane: u32, lanes: u32, carry: ptr<function, f32>) {
    if (ok) {
        st_dst(g0 + j, v);
    }
}

@compute @workgroup_size(WG)
fn fwd_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    let slot = li / prm.tj;
    let r = w * prm.ti + slot;
    fwd_row(slot < prm.ti && r < prm.rows, r * prm.s_i, li % prm.tj, prm.tj, li);
}

@compute @workgroup_size(WG)
fn bwd_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    let slot = li / prm.tj;
    let r = w * prm.ti + slot;
    bwd_row(slot < prm.ti && r < prm.rows, r * prm.s_i, li % prm.tj, prm.tj, li);
}
