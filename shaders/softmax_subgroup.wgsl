// The rows kernel of softmax.wgsl with subgroup operations (the device's SUBGROUP feature; Naga 30
// refuses WGSL's `enable subgroups;` and needs none): one subgroup per row, no workgroup memory and no barriers. Nothing assumes
// a subgroup size: lanes stride by `subgroup_size`, and a workgroup's TI rows are shared out among
// however many subgroups it has. The double-float sum is a butterfly of `subgroupShuffleXor`
// (subgroup sizes are powers of two): each step adds two partial sums, and since dd_add is
// commutative bit for bit, every lane ends with the same sum in the same order. It needs full
// subgroups, which a workgroup of WG (256) invocations has on every device with subgroups of 4 to 128.

var<private> sg_size: u32;

fn row_max(li: u32, lane: u32, v: f32) -> f32 {
    return subgroupMax(v);
}

fn row_sum(li: u32, lane: u32, v: vec2<f32>, f: u32) -> SumFlags {
    var s = v;
    for (var o = 1u; o < sg_size; o = o << 1u) {
        s = dd_add(s, vec2<f32>(subgroupShuffleXor(s.x, o), subgroupShuffleXor(s.y, o)));
    }
    return SumFlags(s, subgroupOr(f));
}

// Subgroup reductions keep nothing in memory between calls.
fn row_sync() {}

// Element j = lane + k * lanes of a row of f16 (its element 0 at dst element g0), in step k of a
// loop that every lane of the subgroup runs: the lane holding a word's high half writes the word
// whole, with the low half from lane - 1 (for lane 0, the last lane's value of the step before,
// which that lane keeps in `carry`): one shuffle per step. Only a half whose neighbour lies outside
// the row (its first element at an odd position, its last at an even one) goes through `st_dst`'s
// atomics.
fn row_store(g0: u32, j: u32, ok: bool, v: f32, lane: u32, lanes: u32, carry: ptr<function, f32>) {
    let low = subgroupShuffle(select(v, *carry, lane + 1u == lanes), (lane + lanes - 1u) % lanes);
    *carry = v;
    if (!ok) {
        return;
    }
    let g = g0 + j;
    if ((g & 1u) == 0u) {
        if (j + 1u >= prm.len) {
            st_dst(g, v);
        }
    } else if (j == 0u) {
        st_dst(g, v);
    } else {
        st_word(g >> 1u, low, v);
    }
}

@compute @workgroup_size(WG)
fn fwd_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
    @builtin(subgroup_id) sid: u32,
    @builtin(num_subgroups) count: u32,
) {
    math_one = prm.one;
    sg_size = size;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    for (var k = sid; k < prm.ti; k = k + count) {
        let r = w * prm.ti + k;
        fwd_row(r < prm.rows, r * prm.s_i, lane, size, 0u);
    }
}

@compute @workgroup_size(WG)
fn bwd_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
    @builtin(subgroup_id) sid: u32,
    @builtin(num_subgroups) count: u32,
) {
    math_one = prm.one;
    sg_size = size;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    for (var k = sid; k < prm.ti; k = k + count) {
        let r = w * prm.ti + k;
        bwd_row(r < prm.rows, r * prm.s_i, lane, size, 0u);
    }
}

// Split rows' partials with a subgroup per chunk (fwd_chunk, bwd_chunk): the launch is the
// `partials` one (a workgroup per chunk, ti = 1), whose first subgroup does the work while the
// others return at once; only for a software rasterizer, where an idle subgroup costs next to
// nothing and barriers (the `partials` kernels' tree reductions) cost most.
@compute @workgroup_size(WG)
fn fwd_partials_sg(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
    @builtin(subgroup_id) sid: u32,
) {
    math_one = prm.one;
    sg_size = size;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups || sid != 0u) {
        return;
    }
    let t = sm_task(w, 0u);
    let r = fwd_chunk(t, lane, size);
    if (t.valid && lane == 0u) {
        parts[t.row * prm.part_total + prm.part_base + t.c] = sm_pack(r.m, r.s, r.f);
    }
}

@compute @workgroup_size(WG)
fn bwd_partials_sg(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
    @builtin(subgroup_id) sid: u32,
) {
    math_one = prm.one;
    sg_size = size;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups || sid != 0u) {
        return;
    }
    let t = sm_task(w, 0u);
    let r = bwd_chunk(t, lane, size);
    if (t.valid && lane == 0u) {
        bwd_store_partial(t.row * prm.part_total + prm.part_base + t.c, r);
    }
}
