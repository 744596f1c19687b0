// prelu's gradient with respect to its slopes: d a_c = Σ over the elements of channel c with
// x ≤ 0 of x·dy, for an [N, C, inner] layout. Two passes: `partials` gives each (part, channel)
// workgroup a contiguous share of the channel's elements, accumulated with Kahan compensation and
// combined by a tree in workgroup memory; `combine` sums a channel's partials the same way.

{{PARAMS}}
@group(0) @binding(0) var<uniform> prm: PreluParams;
@group(0) @binding(1) var<storage, read> xs: array<f32>;
@group(0) @binding(2) var<storage, read> dys: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<storage, read_write> result: array<f32>;

const WG: u32 = {{WG}}u;
var<workgroup> sums: array<f32, WG>;

fn tree_sum(li: u32, v: f32) -> f32 {
    sums[li] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
        if (li < stride) {
            sums[li] = sums[li] + sums[li + stride];
        }
        workgroupBarrier();
    }
    return sums[0];
}

@compute @workgroup_size(WG)
fn partials(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let linear = wg.y * prm.grid_x + wg.x;
    let c = linear / prm.parts;
    let part = linear % prm.parts;
    if (c >= prm.channels) {
        return;
    }
    let share = (prm.per_channel + prm.parts - 1u) / prm.parts;
    let start = part * share;
    let end = min(start + share, prm.per_channel);
    var s = 0.0;
    var comp = 0.0;
    for (var k = start + li; k < end; k = k + WG) {
        let i = (k / prm.inner) * prm.channels * prm.inner + c * prm.inner + k % prm.inner;
        let x = xs[prm.off_x + i];
        // A bit test: flushing drivers see a positive subnormal x as 0 in `x <= 0.0`.
        let term = select(0.0, x * dys[prm.off_dy + i], bitcast<i32>(x) <= 0);
        // Kahan: `* prm.one` stops the compiler from simplifying the compensation away.
        let yk = term - comp;
        let t = (s + yk) * prm.one;
        comp = (t - s) - yk;
        s = t;
    }
    let total = tree_sum(li, s);
    if (li == 0u) {
        partial[prm.partial_base + c * prm.parts + part] = total;
    }
}

@compute @workgroup_size(WG)
fn combine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let c = wg.y * prm.grid_x + wg.x;
    if (c >= prm.channels) {
        return;
    }
    // Partials are laid out chunk by chunk: chunk j holds channels × parts values.
    var s = 0.0;
    for (var k = li; k < prm.total_parts; k = k + WG) {
        let j = k / prm.parts;
        let part = k % prm.parts;
        s = s + partial[j * prm.channels * prm.parts + c * prm.parts + part];
    }
    let total = tree_sum(li, s);
    if (li == 0u) {
        result[prm.off_out + c] = total;
    }
}
