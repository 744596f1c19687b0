// The softmax family: softmax, log_softmax and softmin (softmax of -x), forward and backward,
// along any axis of an f32 or f16 tensor (f16 computed in f32), with a temperature T (the function of x / T). `softmax.rs`
// prepends math.wgsl (and f16.wgsl for f16) and fills the PARAMS token (the uniform block,
// generated from the Rust struct), WG (the workgroup size), {{LOG}} (true: log-probabilities out,
// or log_softmax's backward), {{UNIT}} (true: T = 1) and the IO token (the tensors' bindings:
// softmax_io_*.wgsl).
//
// The tensor is seen as [outer, len, inner] with the reduced axis in the middle; a row is the `len`
// elements of one (outer, inner) pair, `s_j` apart. A workgroup of WG (256) invocations is TI lanes
// across rows times TJ lanes along a row (both powers of two, TJ about len / 16): lanes along a
// row are adjacent (`tj_stride` 1) where rows are contiguous, lanes across rows are adjacent
// (`ti_stride` 1) where the axis is not the last, so that reads stay coalesced without a
// transpose. Short rows pack many to a workgroup (a software rasterizer pays tens of microseconds
// per workgroup); long rows get a workgroup each. A workgroup handles one chunk of `chunk`
// elements of TI rows: the whole row (`fused` entry points: statistics, then the output, one
// dispatch), or one of `chunks` pieces (`partials` -> `combine` -> `write`, for a few very long
// rows, or rows above the storage-binding limit).
//
// Row statistics follow Milakov & Gimelshein, "Online normalizer calculation for softmax"
// (arXiv 1805.02867): every invocation keeps a running shift m and S = sum e^((x - m)/T) in one
// pass, and the partial (m, S) pairs are merged as M = max m, S = sum S_k e^((m_k - M)/T). To
// keep the rounding of those rescalings out of the result, an invocation moves its shift only when
// an element exceeds it by more than RESCALE (a rescale then shrinks what came before by e^-32 or
// more), its S is re-expressed relative to its own maximum at the end (that element's term
// exactly 1), and every partial sum is rescaled once, in one double-float multiplication, so the
// partial that holds the row's maximum is not rescaled at all.
//
// Accuracy: d = (x - m)/T is formed exactly as a double-float (the halves' difference by TwoSum,
// then the product with 2/T = g_hi + g_lo by TwoProd), e^d comes from exp_core with the low part
// folded in, the sums are double-floats, 1/S and log S are formed from the double-float S, and
// p = (s + t) * (1/S) * 2^k is rounded once. No -inf or NaN is ever produced by arithmetic: special
// values are classified by bit tests and selected as bit patterns.

const WG: u32 = {{WG}}u;
const LOG_OUT: bool = {{LOG}};
// T = 1: (x - m)/T = 2 * ((x - m)/2), exact without TwoProd.
const UNIT_T: bool = {{UNIT}};
// The largest finite f32: the starting value of running maxima.
const FMAX: f32 = 0x1.fffffep127f;
// Beyond this magnitude, TwoProd's operands are scaled by 2^-64 first (Dekker's splitting needs
// operands below 2^115).
const BIG: f32 = 0x1p100f;
// An invocation's shift moves only when an element exceeds it by more than this (in units of T).
const RESCALE: f32 = 32.0;
// Row flags: a NaN or +inf (forward; in backward any non-finite value but log_softmax's -inf
// log-probabilities), and at least one finite element (forward: else the row is fully masked).
const F_BAD: u32 = 1u;
const F_ANY: u32 = 2u;

{{PARAMS}}
@group(0) @binding(0) var<uniform> prm: SmParams;
// x (forward) or the saved output y (backward), dy, and the output, with their accessors
// `ld_src(i)`, `ld_grad(i)` and `st_dst(i, v)`: f32 arrays, or (PACKED) f16 packed in u32 words
// (f16.wgsl). An f16 `st_dst` writes its half with atomic and/or, since the neighbouring element of
// the word may belong to another invocation; where one invocation holds both halves of a word
// (`fwd_store_range`, `row_store`), `st_word` writes it whole with one plain store, and
// `ld_src_pair`/`ld_grad_pair` read the two elements at once. `ld_src4(q)`, `ld_grad4(q)` and
// `st_dst4(q, v)` move elements 4q .. 4q + 3; where VEC4 holds (f32 rows whose offsets are
// 16-byte aligned and whose length is a multiple of 4, checked by softmax.rs) the tensors are bound
// as vec4 arrays and these are single 16-byte accesses: a GPU then issues a quarter of the memory
// instructions, and a software rasterizer, which turns every per-lane access into a gather or a
// scatter, a quarter of those. Elsewhere they are four element accesses and are not used.
{{IO}}
// Per-chunk partials (split rows) and per-row statistics, as f32 bits: (M, S_hi, S_lo, flags).
// log_softmax's backward keeps two entries each (`bwd_slot`): (0, S_hi, S_lo, flags) and
// (0, G_hi, G_lo, 0), the sum of its large gradients apart (BAcc).
@group(0) @binding(4) var<storage, read_write> parts: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec4<u32>>;
var<private> math_one: f32;

var<workgroup> w_m: array<f32, WG>;
var<workgroup> w_s: array<vec2<f32>, WG>;
var<workgroup> w_f: array<u32, WG>;

fn sm_nan() -> f32 {
    return f32_from_bits(0x7fc00000u);
}

fn sm_neg_inf() -> f32 {
    return f32_from_bits(0xff800000u);
}

// 0: finite, 1: -inf, 2: NaN or +inf (bit tests).
fn sm_class(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    if ((b & 0x7fffffffu) < 0x7f800000u) {
        return 0u;
    }
    return select(2u, 1u, b == 0xff800000u);
}

// ---------------------------------------------------------------------------------------------
// Double-float pieces.

struct Diff {
    hi: f32,
    lo: f32,
    // (x - m)/T is beyond the f32 range (only possible for x < m).
    over: bool,
}

// a * b = p + e exactly for finite a, b whose product is finite: TwoProd, with an operand above
// BIG scaled by 2^-64 first and the result scaled back (exact powers of two).
fn two_prod_big(a: f32, b: f32) -> vec2<f32> {
    let ba = abs(a) > BIG;
    let bb = abs(b) > BIG;
    let p = two_prod(select(a, a * 0x1p-64f, ba), select(b, b * 0x1p-64f, bb));
    // One factor at a time (2^128 is not an f32); `opaque` keeps the two apart.
    let fa = select(1.0, 0x1p64f, ba);
    let fb = select(1.0, 0x1p64f, bb);
    return vec2<f32>(opaque(p.x * fa) * fb, opaque(p.y * fa) * fb);
}

// (x - m)/T as a double-float, for finite x and m. The halves' difference is exact and cannot
// overflow; its product with 2/T is exact (TwoProd), the halves' difference clamped to +-lim_a
// so that it stays finite.
fn sm_diff(x: f32, m: f32) -> Diff {
    let a = two_sum(0.5 * x, -0.5 * m);
    let ac = clamp(a.x, -prm.lim_a, prm.lim_a);
    if (UNIT_T) {
        return Diff(2.0 * ac, 2.0 * a.y, abs(a.x) > prm.lim_a);
    }
    let p = two_prod_big(ac, prm.g_hi);
    return Diff(p.x, p.y + fma(ac, prm.g_lo, a.y * prm.g_hi), abs(a.x) > prm.lim_a);
}

// v * 2^k in one multiplication for -127 <= k <= 127: exact unless the result is below 2^-126,
// where it may flush (far below what a probability or a sum needs).
fn sm_scale(v: f32, k: i32) -> f32 {
    return v * pow2(clamp(k, -127, 127));
}

// a + b for double-floats.
fn dd_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let s = two_sum(a.x, b.x);
    return fast_two_sum(s.x, s.y + (a.y + b.y));
}

// An exp_core result with (s, t) normalized: exp_core's t is the whole higher-order part of
// e^r, not a rounding error, so it must not be accumulated apart from s.
fn exp_dd(hi: f32, lo: f32) -> ExpCore {
    let e = exp_core(hi, lo);
    let n = fast_two_sum(e.s, e.t);
    return ExpCore(e.k, n.x, n.y);
}

// v * 2^k (s + t), a normalized exp_dd result, as a double-float (|v.x| < 2^100).
fn dd_scale(v: vec2<f32>, e: ExpCore) -> vec2<f32> {
    let p = two_prod(v.x, e.s);
    let lo = p.y + fma(v.x, e.t, v.y * e.s);
    let r = fast_two_sum(p.x, lo);
    return vec2<f32>(scale2(r.x, e.k), scale2(r.y, e.k));
}

// a * b as a double-float for finite a, b.
fn prod_dd(a: f32, b: f32) -> vec2<f32> {
    return two_prod_big(a, b);
}

// (ah + al) * (bh + bl) rounded once (al * bl dropped), at any finite magnitude.
fn mul_dd_big(ah: f32, al: f32, bh: f32, bl: f32) -> f32 {
    let p = two_prod_big(ah, bh);
    return p.x + opaque(p.y + fma(ah, bl, al * bh));
}

// ---------------------------------------------------------------------------------------------
// Work decomposition and workgroup trees.

struct Task {
    valid: bool,
    // Element offset of the row's first element inside the dispatch's view.
    base: u32,
    j0: u32,
    j1: u32,
    tj: u32,
    // Global row index (partials, statistics) and chunk.
    row: u32,
    c: u32,
}

fn sm_task(w: u32, li: u32) -> Task {
    let ti = (li / prm.ti_stride) % prm.ti;
    let tj = (li / prm.tj_stride) % prm.tj;
    let c = w % prm.chunks;
    let r = (w / prm.chunks) * prm.ti + ti;
    let o = r / prm.inner;
    let i = r % prm.inner;
    let j0 = c * prm.chunk;
    let j1 = min(j0 + prm.chunk, prm.len);
    return Task(r < prm.rows, o * prm.s_o + i * prm.s_i, j0, j1, tj, prm.row_base + r, c);
}

// The local index of lane (ti, 0), where a tree's result lands.
fn tree_root(li: u32, tj: u32) -> u32 {
    return li - tj * prm.tj_stride;
}

// Reductions over the TJ lanes of a row in two levels and two barriers (barriers are what a
// software rasterizer pays for most): the first TREE_G lanes fold the rest of the row's slots
// into their own, then every lane folds those TREE_G slots, in the same order, itself.
const TREE_G: u32 = 16u;

// Max over the TJ lanes of a row.
fn tree_max(li: u32, tj: u32, v: f32) -> f32 {
    w_m[li] = v;
    workgroupBarrier();
    let g = min(prm.tj, TREE_G);
    let root = tree_root(li, tj);
    if (tj < g) {
        var m = v;
        for (var k = tj + g; k < prm.tj; k = k + g) {
            m = max(m, w_m[root + k * prm.tj_stride]);
        }
        w_m[li] = m;
    }
    workgroupBarrier();
    var r = w_m[root];
    for (var k = 1u; k < g; k = k + 1u) {
        r = max(r, w_m[root + k * prm.tj_stride]);
    }
    return r;
}

struct SumFlags {
    s: vec2<f32>,
    f: u32,
}

// Double-float sum and flag union over the TJ lanes of a row.
fn tree_sum(li: u32, tj: u32, v: vec2<f32>, f: u32) -> SumFlags {
    w_s[li] = v;
    w_f[li] = f;
    workgroupBarrier();
    let g = min(prm.tj, TREE_G);
    let root = tree_root(li, tj);
    if (tj < g) {
        var s = v;
        var fl = f;
        for (var k = tj + g; k < prm.tj; k = k + g) {
            let o = root + k * prm.tj_stride;
            s = dd_add(s, w_s[o]);
            fl = fl | w_f[o];
        }
        w_s[li] = s;
        w_f[li] = fl;
    }
    workgroupBarrier();
    var s = w_s[root];
    var fl = w_f[root];
    for (var k = 1u; k < g; k = k + 1u) {
        let o = root + k * prm.tj_stride;
        s = dd_add(s, w_s[o]);
        fl = fl | w_f[o];
    }
    return SumFlags(s, fl);
}

fn sm_pack(m: f32, s: vec2<f32>, f: u32) -> vec4<u32> {
    return vec4<u32>(bitcast<u32>(m), bitcast<u32>(s.x), bitcast<u32>(s.y), f);
}

// ---------------------------------------------------------------------------------------------
// Forward.

// An invocation's online state: shift m, maximum mx, S = sum e^((x - m)/T), flags.
struct Acc {
    m: f32,
    mx: f32,
    s: vec2<f32>,
    f: u32,
}

// x as the forward kernels see it: -x for softmin (a sign flip, exact for every value).
fn fwd_flip(v: f32) -> f32 {
    return bitcast<f32>(bitcast<u32>(v) ^ prm.flip);
}

fn fwd_load(k: u32) -> f32 {
    return fwd_flip(ld_src(prm.off_src + k));
}

fn acc_push(a: ptr<function, Acc>, v: f32) {
    let c = sm_class(v);
    if (c != 0u) {
        if (c == 2u) {
            (*a).f = (*a).f | F_BAD;
        }
        return;
    }
    (*a).f = (*a).f | F_ANY;
    (*a).mx = max((*a).mx, v);
    var d = sm_diff(v, (*a).m);
    if (d.hi > RESCALE) {
        let r = sm_diff((*a).m, v);
        (*a).s = dd_scale((*a).s, exp_dd(r.hi, r.lo));
        (*a).m = v;
        d = Diff(0.0, 0.0, false);
    }
    let e = exp_dd(d.hi, d.lo);
    let t = two_sum((*a).s.x, sm_scale(e.s, e.k));
    (*a).s = vec2<f32>(t.x, (*a).s.y + (t.y + sm_scale(e.t, e.k)));
}

// The invocation's S relative to its own maximum: S = (S - e^((mx - m)/T)) e^((m - mx)/T) + 1,
// so that the maximum's own term is exactly 1 and the rescaling's rounding touches only the
// rest (a log-probability near 0 is log(1 + rest), and stays accurate).
fn acc_finish(a: Acc) -> vec2<f32> {
    if (a.m == a.mx) {
        return a.s;
    }
    let d = sm_diff(a.mx, a.m);
    let e = exp_dd(d.hi, d.lo);
    let r = two_sum(a.s.x, -scale2(e.s, e.k));
    let rest = fast_two_sum(r.x, r.y + (a.s.y - scale2(e.t, e.k)));
    let back = sm_diff(a.m, a.mx);
    return dd_add(dd_scale(rest, exp_dd(back.hi, back.lo)), vec2<f32>(1.0, 0.0));
}

struct RowAcc {
    m: f32,
    s: vec2<f32>,
    f: u32,
}

// Merge the lanes of a row: M = max, each lane's S (relative to its own maximum) rescaled once
// to M, then summed. The lane holding M contributes its S exactly.
fn fwd_reduce(li: u32, tj: u32, a: Acc) -> RowAcc {
    let m = tree_max(li, tj, a.mx);
    let r = sm_diff(a.mx, m);
    let s = dd_scale(acc_finish(a), exp_dd(r.hi, r.lo));
    let sf = tree_sum(li, tj, s, a.f);
    return RowAcc(m, sf.s, sf.f);
}

// What the output needs of a row: its maximum, 1/S and log S (S as a double-float).
struct RowStats {
    m: f32,
    ih: f32,
    il: f32,
    lg: f32,
    f: u32,
}

fn row_stats(r: RowAcc) -> RowStats {
    let any = (r.f & F_ANY) != 0u;
    let n = fast_two_sum(select(1.0, r.s.x, any), select(0.0, r.s.y, any));
    let i0 = 1.0 / n.x;
    let pr = two_prod(i0, n.x);
    let res = (opaque(1.0 - pr.x) - pr.y) - i0 * n.y;
    let inv = fast_two_sum(i0, i0 * res);
    let q = two_sum(n.x, -1.0);
    let lg = log1p_dd(max(q.x, 0.0), q.y + n.y);
    return RowStats(r.m, inv.x, inv.y, lg, r.f);
}

fn fwd_out(v: f32, rs: RowStats) -> f32 {
    if ((rs.f & F_BAD) != 0u) {
        return sm_nan();
    }
    let zero = select(0.0, sm_neg_inf(), LOG_OUT);
    if ((rs.f & F_ANY) == 0u) {
        return select(sm_nan(), zero, prm.safe != 0u);
    }
    if (sm_class(v) != 0u) {
        return zero;
    }
    let d = sm_diff(v, rs.m);
    if (LOG_OUT) {
        // d <= 0 and log S >= 0: no cancellation.
        let y = two_sum(d.hi, -rs.lg);
        return select(y.x + (y.y + d.lo), sm_neg_inf(), d.over);
    }
    let e = exp_dd(d.hi, d.lo);
    return sm_scale(mul_dd(e.s, e.t, rs.ih, rs.il), e.k);
}

fn fwd_pass1(t: Task) -> Acc {
    var a = Acc(-FMAX, -FMAX, vec2<f32>(0.0, 0.0), 0u);
    if (VEC4) {
        // Contiguous rows, chunks of whole quads: the lane's quads in order, each element in order.
        if (t.valid) {
            let q0 = (prm.off_src + t.base + t.j0) / 4u;
            let nq = (t.j1 - t.j0) / 4u;
            for (var q = t.tj; q < nq; q = q + prm.tj) {
                let v = fwd_load4(q0 + q);
                acc_push(&a, v.x);
                acc_push(&a, v.y);
                acc_push(&a, v.z);
                acc_push(&a, v.w);
            }
        }
        return a;
    }
    if (t.valid) {
        for (var j = t.j0 + t.tj; j < t.j1; j = j + prm.tj) {
            acc_push(&a, fwd_load(t.base + j * prm.s_j));
        }
    }
    return a;
}

// The f16 output of view elements k0 .. k1 (consecutive, s_j = 1) with a word of dst per lane
// instead of an element: a word whose halves both lie in the range is written whole, a half whose
// neighbour lies outside it (another row, chunk or tensor) through `st_dst`'s atomics. Every
// element gets the value the element-per-lane loops give it (the output of an element depends on
// nothing but the element and its row's statistics).
fn fwd_store_range(k0: u32, k1: u32, lane: u32, lanes: u32, rs: RowStats) {
    let g0 = prm.off_dst + k0;
    let g1 = prm.off_dst + k1;
    for (var w = (g0 >> 1u) + lane; 2u * w < g1; w = w + lanes) {
        let g = 2u * w;
        if (g >= g0 && g + 1u < g1) {
            let v = ld_src_pair(prm.off_src + g - prm.off_dst);
            st_word(w, fwd_out(fwd_flip(v.x), rs), fwd_out(fwd_flip(v.y), rs));
        } else {
            let h = select(g + 1u, g, g >= g0);
            st_dst(h, fwd_out(fwd_load(h - prm.off_dst), rs));
        }
    }
}

fn fwd_pass2(t: Task, rs: RowStats) {
    if (VEC4) {
        if (t.valid) {
            let q0 = (t.base + t.j0) / 4u;
            let nq = (t.j1 - t.j0) / 4u;
            for (var q = t.tj; q < nq; q = q + prm.tj) {
                let v = fwd_load4(prm.off_src / 4u + q0 + q);
                st_dst4(prm.off_dst / 4u + q0 + q, fwd_out4(v, rs));
            }
        }
        return;
    }
    if (t.valid && PACKED && prm.s_j == 1u) {
        fwd_store_range(t.base + t.j0, t.base + t.j1, t.tj, prm.tj, rs);
        return;
    }
    if (t.valid) {
        for (var j = t.j0 + t.tj; j < t.j1; j = j + prm.tj) {
            let k = t.base + j * prm.s_j;
            st_dst(prm.off_dst + k, fwd_out(fwd_load(k), rs));
        }
    }
}

fn sm_unpack(q: vec4<u32>) -> RowAcc {
    return RowAcc(bitcast<f32>(q.x), vec2<f32>(bitcast<f32>(q.y), bitcast<f32>(q.z)), q.w);
}

@compute @workgroup_size(WG)
fn fwd_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    let t = sm_task(w, li);
    let r = fwd_reduce(li, t.tj, fwd_pass1(t));
    fwd_pass2(t, row_stats(r));
}

@compute @workgroup_size(WG)
fn fwd_partials(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    let t = sm_task(w, li);
    let r = fwd_reduce(li, t.tj, fwd_pass1(t));
    if (t.valid && t.tj == 0u) {
        parts[t.row * prm.part_total + prm.part_base + t.c] = sm_pack(r.m, r.s, r.f);
    }
}

// One workgroup per row (tj = WG lanes, tj_stride 1): M = max of the chunks' maxima, then every
// chunk's S rescaled once to M and summed.
@compute @workgroup_size(WG)
fn fwd_combine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let row = wg.y * prm.grid_x + wg.x;
    if (row >= prm.groups) {
        return;
    }
    let base = row * prm.part_total;
    var mx = -FMAX;
    for (var p = li; p < prm.part_total; p = p + WG) {
        let q = sm_unpack(parts[base + p]);
        if ((q.f & F_ANY) != 0u) {
            mx = max(mx, q.m);
        }
    }
    let m = tree_max(li, li, mx);
    var s = vec2<f32>(0.0, 0.0);
    var f = 0u;
    for (var p = li; p < prm.part_total; p = p + WG) {
        let q = sm_unpack(parts[base + p]);
        f = f | q.f;
        if ((q.f & F_ANY) != 0u) {
            let r = sm_diff(q.m, m);
            s = dd_add(s, dd_scale(q.s, exp_dd(r.hi, r.lo)));
        }
    }
    let sf = tree_sum(li, li, s, f);
    if (li == 0u) {
        stats[row] = sm_pack(m, sf.s, sf.f);
    }
}

@compute @workgroup_size(WG)
fn fwd_write(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    let t = sm_task(w, li);
    if (t.valid) {
        fwd_pass2(t, row_stats(sm_unpack(stats[t.row])));
    }
}

// ---------------------------------------------------------------------------------------------
// Backward, from the saved output y: softmax dx = b y (dy - sum dy y), log_softmax
// dx = b (dy - e^y sum dy), b = 1/T (softmin: -1/T).
//
// log_softmax's sum of dy may pass f32's range (gradients near f32::MAX) while every dx is
// finite, so it is kept in two double-floats: s, the terms below 2^64, and g, those of 2^64 and
// above times 2^-64 (exact). Neither can overflow (at most 2^32 terms), and neither loses a small
// term to a scaling. The row's sum is then S = T 2^K: T = s, K = 0 where g is 0, else
// T = g + s 2^-64, K = 64 (`bwd_sum`).

struct BAcc {
    s: vec2<f32>,
    g: vec2<f32>,
    f: u32,
}

fn bacc() -> BAcc {
    return BAcc(vec2<f32>(0.0, 0.0), vec2<f32>(0.0, 0.0), 0u);
}

// A row's backward statistics: its sum as T 2^K (K is 0 but for log_softmax's large sums) and
// its flags.
struct BSum {
    s: vec2<f32>,
    k: i32,
    f: u32,
}

// The row's sum from its two parts (see BAcc), normalized.
fn bwd_sum(s: vec2<f32>, g: vec2<f32>, f: u32) -> BSum {
    let t = fast_two_sum(s.x, s.y);
    if (!LOG_OUT || g.x == 0.0) {
        return BSum(t, 0, f);
    }
    let gg = fast_two_sum(g.x, g.y);
    return BSum(dd_add(gg, vec2<f32>(t.x * 0x1p-64f, t.y * 0x1p-64f)), 64, f);
}

// Where a row's or chunk's partial lies in `parts`/`stats` for backward: log_softmax's take two
// entries (s, then g).
fn bwd_slot(i: u32) -> u32 {
    return select(i, 2u * i, LOG_OUT);
}

fn bwd_store_partial(i: u32, a: BAcc) {
    parts[bwd_slot(i)] = sm_pack(0.0, a.s, a.f);
    if (LOG_OUT) {
        parts[bwd_slot(i) + 1u] = sm_pack(0.0, a.g, 0u);
    }
}

// The workgroup tree's reduction of the TJ lanes' BAcc (both parts for log_softmax), as BAcc.
fn bwd_tree(li: u32, tj: u32, a: BAcc) -> BAcc {
    let r = tree_sum(li, tj, a.s, a.f);
    var g = vec2<f32>(0.0, 0.0);
    if (LOG_OUT) {
        workgroupBarrier();
        g = tree_sum(li, tj, a.g, 0u).s;
    }
    return BAcc(r.s, g, r.f);
}

// The rows kernels' reduction of a row's lanes (row_sum: workgroup or subgroup), as BSum.
fn bwd_row_sum(li: u32, lane: u32, a: BAcc) -> BSum {
    let r = row_sum(li, lane, a.s, a.f);
    var g = vec2<f32>(0.0, 0.0);
    if (LOG_OUT) {
        row_sync();
        g = row_sum(li, lane, a.g, 0u).s;
    }
    return bwd_sum(r.s, g, r.f);
}

fn bwd_push(a: ptr<function, BAcc>, y: f32, dy: f32) {
    let cy = sm_class(y);
    var bad = sm_class(dy) != 0u;
    if (LOG_OUT) {
        bad = bad || cy == 2u;
        if (cy == 0u) {
            (*a).f = (*a).f | F_ANY;
        }
    } else {
        bad = bad || cy != 0u;
    }
    if (bad) {
        (*a).f = (*a).f | F_BAD;
        return;
    }
    if (LOG_OUT) {
        if (abs(dy) >= 0x1p64f) {
            let t = two_sum((*a).g.x, dy * 0x1p-64f);
            (*a).g = vec2<f32>(t.x, (*a).g.y + t.y);
        } else {
            let t = two_sum((*a).s.x, dy);
            (*a).s = vec2<f32>(t.x, (*a).s.y + t.y);
        }
        return;
    }
    let term = prod_dd(dy, y);
    let t = two_sum((*a).s.x, term.x);
    (*a).s = vec2<f32>(t.x, (*a).s.y + (t.y + term.y));
}

fn bwd_out(y: f32, dy: f32, r: BSum) -> f32 {
    if ((r.f & F_BAD) != 0u) {
        return sm_nan();
    }
    let s = r.s;
    if (LOG_OUT) {
        if ((r.f & F_ANY) == 0u && prm.safe != 0u) {
            return 0.0;
        }
        if (sm_class(y) != 0u) {
            // e^-inf = 0.
            return mul_dd_big(dy, 0.0, prm.b_hi, prm.b_lo);
        }
        let e = exp_dd(y, 0.0);
        let p = prod_dd(s.x, e.s);
        let pl = p.y + fma(s.x, e.t, s.y * e.s);
        // q = e^y S = (p + pl) 2^kq, which may pass f32's range, as may dy - q, while
        // dx = b (dy - q) does not (b < 1, or dy cancelling q): at such magnitudes the
        // difference is taken times 2^-64 (dy's scaling is exact where it matters: a dy below
        // 2^-62 is far below q's last place) and the product scaled back.
        let kq = e.k + r.k;
        // |q| >= 2^126 read off p's exponent (p is finite; a subnormal or zero p reads as 2^-127).
        let ep = i32((bitcast<u32>(p.x) >> 23u) & 0xffu) - 127;
        let big = abs(dy) >= 0x1p126f || ep + kq >= 126;
        let kh = kq - select(0, 64, big);
        let c = two_sum(dy * select(1.0, 0x1p-64f, big), -scale2(p.x, kh));
        let d = mul_dd_big(c.x, c.y - scale2(pl, kh), prm.b_hi, prm.b_lo);
        return d * select(1.0, 0x1p64f, big);
    }
    // Likewise dy - sum (|sum| <= max |dy|, but the difference may double it).
    // (r.k is 0 here.)
    let h = select(1.0, 0.5, max(abs(dy), abs(s.x)) >= 0x1p126f);
    let c = two_sum(dy * h, -s.x * h);
    let u = prod_dd(c.x, y);
    return mul_dd_big(u.x, u.y + (c.y - s.y * h) * y, prm.b_hi, prm.b_lo) / h;
}

fn bwd_pass1(t: Task) -> BAcc {
    var a = bacc();
    if (VEC4) {
        if (t.valid) {
            let q0 = (t.base + t.j0) / 4u;
            let nq = (t.j1 - t.j0) / 4u;
            for (var q = t.tj; q < nq; q = q + prm.tj) {
                let y = ld_src4(prm.off_src / 4u + q0 + q);
                let dy = ld_grad4(prm.off_dy / 4u + q0 + q);
                bwd_push(&a, y.x, dy.x);
                bwd_push(&a, y.y, dy.y);
                bwd_push(&a, y.z, dy.z);
                bwd_push(&a, y.w, dy.w);
            }
        }
        return a;
    }
    if (t.valid) {
        for (var j = t.j0 + t.tj; j < t.j1; j = j + prm.tj) {
            let k = t.base + j * prm.s_j;
            bwd_push(&a, ld_src(prm.off_src + k), ld_grad(prm.off_dy + k));
        }
    }
    return a;
}

// Backward's f16 output of view elements k0 .. k1, a word per lane (see fwd_store_range).
fn bwd_store_range(k0: u32, k1: u32, lane: u32, lanes: u32, r: BSum) {
    let g0 = prm.off_dst + k0;
    let g1 = prm.off_dst + k1;
    for (var w = (g0 >> 1u) + lane; 2u * w < g1; w = w + lanes) {
        let g = 2u * w;
        if (g >= g0 && g + 1u < g1) {
            let k = g - prm.off_dst;
            let y = ld_src_pair(prm.off_src + k);
            let dy = ld_grad_pair(prm.off_dy + k);
            st_word(w, bwd_out(y.x, dy.x, r), bwd_out(y.y, dy.y, r));
        } else {
            let h = select(g + 1u, g, g >= g0);
            let k = h - prm.off_dst;
            st_dst(h, bwd_out(ld_src(prm.off_src + k), ld_grad(prm.off_dy + k), r));
        }
    }
}

fn bwd_pass2(t: Task, r: BSum) {
    if (VEC4) {
        if (t.valid) {
            let q0 = (t.base + t.j0) / 4u;
            let nq = (t.j1 - t.j0) / 4u;
            for (var q = t.tj; q < nq; q = q + prm.tj) {
                let y = ld_src4(prm.off_src / 4u + q0 + q);
                let dy = ld_grad4(prm.off_dy / 4u + q0 + q);
                st_dst4(prm.off_dst / 4u + q0 + q, bwd_out4(y, dy, r));
            }
        }
        return;
    }
    if (t.valid && PACKED && prm.s_j == 1u) {
        bwd_store_range(t.base + t.j0, t.base + t.j1, t.tj, prm.tj, r);
        return;
    }
    if (t.valid) {
        for (var j = t.j0 + t.tj; j < t.j1; j = j + prm.tj) {
            let k = t.base + j * prm.s_j;
            st_dst(prm.off_dst + k, bwd_out(ld_src(prm.off_src + k), ld_grad(prm.off_dy + k), r));
        }
    }
}

@compute @workgroup_size(WG)
fn bwd_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    let t = sm_task(w, li);
    let r = bwd_tree(li, t.tj, bwd_pass1(t));
    bwd_pass2(t, bwd_sum(r.s, r.g, r.f));
}

@compute @workgroup_size(WG)
fn bwd_partials(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    let t = sm_task(w, li);
    let r = bwd_tree(li, t.tj, bwd_pass1(t));
    if (t.valid && t.tj == 0u) {
        bwd_store_partial(t.row * prm.part_total + prm.part_base + t.c, r);
    }
}

@compute @workgroup_size(WG)
fn bwd_combine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let row = wg.y * prm.grid_x + wg.x;
    if (row >= prm.groups) {
        return;
    }
    let base = row * prm.part_total;
    var a = bacc();
    for (var p = li; p < prm.part_total; p = p + WG) {
        let q = sm_unpack(parts[bwd_slot(base + p)]);
        a.f = a.f | q.f;
        a.s = dd_add(a.s, q.s);
        if (LOG_OUT) {
            a.g = dd_add(a.g, sm_unpack(parts[bwd_slot(base + p) + 1u]).s);
        }
    }
    let r = bwd_tree(li, li, a);
    if (li == 0u) {
        stats[bwd_slot(row)] = sm_pack(0.0, r.s, r.f);
        if (LOG_OUT) {
            stats[bwd_slot(row) + 1u] = sm_pack(0.0, r.g, 0u);
        }
    }
}

@compute @workgroup_size(WG)
fn bwd_write(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    math_one = prm.one;
    let w = wg.y * prm.grid_x + wg.x;
    if (w >= prm.groups) {
        return;
    }
    let t = sm_task(w, li);
    if (t.valid) {
        let q = sm_unpack(stats[bwd_slot(t.row)]);
        var g = vec2<f32>(0.0, 0.0);
        if (LOG_OUT) {
            g = sm_unpack(stats[bwd_slot(t.row) + 1u]).s;
        }
        bwd_pass2(t, bwd_sum(q.s, g, q.f));
    }
}

// ---------------------------------------------------------------------------------------------
// Rows kernel (`rows` entry points; contiguous rows, not split): a row is handled by a group of
// lanes on its own — a subgroup (softmax_subgroup.wgsl: subgroup reductions, no barriers) or, as
// the fallback, TJ lanes of the workgroup (softmax_workgroup.wgsl: reductions in workgroup memory).
// Whichever file is appended defines `row_max`, `row_sum` and `row_sync` over the row's lanes and
// the entry points. Probabilities at temperature 1 into f32 (softmax, softmin: `fwd_row_q`, below)
// take two reads with single-f32 exps around an integer shift. Elsewhere (log_softmax, other
// temperatures, f16) the row's maximum comes first, in a pass of its own (no exp): the sum is then
// formed relative to the true maximum, with one exp per element and no rescaling, and the maximum's
// own term is exactly 1. Three reads of the row (it is short: the later ones hit the cache), one
// write.

// Elements per lane the rows kernel keeps in private memory: a row of up to CACHE * lanes elements
// is read once, and its e^d are computed once (filled in by softmax.rs from the device's tuning).
const CACHE: u32 = {{CACHE}}u;
// The same in quads, for the VEC4 rows kernel.
const CACHE4: u32 = max(CACHE / 4u, 1u);

// A row of at most CACHE elements per lane, read once. The loops run over k, the same in every
// lane, so that the private arrays are indexed uniformly (a software rasterizer then keeps them in
// vector registers or plain stack slots instead of gathering).
fn fwd_row_cached(valid: bool, base: u32, lane: u32, lanes: u32, li: u32, nk: u32) {
    var xs: array<f32, CACHE>;
    var es: array<vec2<f32>, CACHE>;
    var m = -FMAX;
    var f = 0u;
    for (var k = 0u; k < nk; k = k + 1u) {
        let j = lane + k * lanes;
        var v = -FMAX;
        if (valid && j < prm.len) {
            v = fwd_load(base + j);
            let c = sm_class(v);
            f = f | select(select(0u, F_BAD, c == 2u), F_ANY, c == 0u);
            m = max(m, select(-FMAX, v, c == 0u));
        }
        xs[k] = v;
    }
    let mx = row_max(li, lane, m);
    var s = vec2<f32>(0.0, 0.0);
    for (var k = 0u; k < nk; k = k + 1u) {
        let v = xs[k];
        let fin = sm_class(v) == 0u && lane + k * lanes < prm.len;
        let d = sm_diff(select(mx, v, fin), mx);
        let e = exp_dd(d.hi, d.lo);
        // e^d = eh + el, scaled: eh >= 2^-126 wherever the probability is normal (S >= 1), and el,
        // below half an ULP of eh, may lose bits there (under one more ULP in p).
        let eh = select(0.0, sm_scale(e.s, e.k), fin);
        let el = select(0.0, sm_scale(e.t, e.k), fin);
        es[k] = vec2<f32>(eh, el);
        let t = two_sum(s.x, eh);
        s = vec2<f32>(t.x, s.y + (t.y + el));
    }
    let sf = row_sum(li, lane, s, f);
    let rs = row_stats(RowAcc(mx, sf.s, sf.f));
    if (PACKED) {
        // Every lane runs every step: `row_store` may exchange values between lanes.
        var carry = 0.0;
        for (var k = 0u; k < nk; k = k + 1u) {
            let j = lane + k * lanes;
            let v = fwd_out_cached(xs[k], es[k], rs);
            row_store(prm.off_dst + base, j, valid && j < prm.len, v, lane, lanes, &carry);
        }
        return;
    }
    for (var k = 0u; k < nk; k = k + 1u) {
        let j = lane + k * lanes;
        if (valid && j < prm.len) {
            st_dst(prm.off_dst + base + j, fwd_out_cached(xs[k], es[k], rs));
        }
    }
}

// fwd_out with e^d at hand: selects only (a software rasterizer runs both sides of a branch).
fn fwd_out_cached(v: f32, e: vec2<f32>, rs: RowStats) -> f32 {
    if (LOG_OUT) {
        // No exp to save.
        return fwd_out(v, rs);
    }
    let p = select(mul_dd(e.x, e.y, rs.ih, rs.il), 0.0, sm_class(v) != 0u);
    let q = select(select(sm_nan(), 0.0, prm.safe != 0u), p, (rs.f & F_ANY) != 0u);
    return select(q, sm_nan(), (rs.f & F_BAD) != 0u);
}

// ---------------------------------------------------------------------------------------------
// The rows kernel's forward at temperature 1 for probabilities (softmax, softmin; f32 outputs):
// two reads and one write, one exp per element and read, about 40 operations each (a software
// rasterizer spends most of its time in arithmetic; the double-float path above costs ~150).
//
// The sum is taken relative to an integer shift c (shift invariance: any c gives the same p), so
// that d = x - c is exact as an integer part I = round(x) - c (|I| <= 2^24, or d is far out
// of range and clamped) plus x's own fraction F = x - round(x) (exact). Then e^d = 2^k e^r with
// k = round(d log2 e), r = (I - k C1) + F (I - k C1 exact, one rounding, |r| <= 0.35), and
// e^(r - k C2) = (1 + r) + r^2 P(r) - k C2 e^r with 1 + r exact (FastTwoSum) and P of degree 4
// (relative 2^-28), rounded once. The first pass takes c = round(max of the lanes' first quads) and sums e^(x - c) in
// f32 with Kahan compensation per lane and component (relative 2u at worst), the lanes' sums
// merged as double-floats; it tracks the row's maximum and flags on the way. d is clamped to
// [-128, SPAN + 1]: below, e^d is under 2^-184 (every p it feeds would flush); above, the row's
// span from c exceeds SPAN and the sum is taken again relative to c = round(max) (a second pass
// only for such rows, in uniform control flow: its loop is empty elsewhere). SPAN = 64 keeps
// every e^d and the sum (up to 2^32 terms of e^65) finite. The output pass recomputes e^d and
// multiplies it by 1/S (a double-float), one rounding: within ~2 ULP in all (probabilities below
// 2^-126 may flush, as above). Special rows (NaN, +inf, nothing finite) are selected by flags.
// Non-finite inputs never reach the arithmetic as such: -inf, NaN, +inf are clamped to +-FLT_MAX
// first (a -inf then gives e^d = 0 by a select; the others make the row special).

const Q_C2: f32 = 0x1.fffffcp-2f;
const Q_C3: f32 = 0x1.555492p-3f;
const Q_C4: f32 = 0x1.5558f2p-5f;
const Q_C5: f32 = 0x1.1239d4p-7f;
const Q_C6: f32 = 0x1.6a244cp-10f;
const SPAN: f32 = 64.0;

fn opaque4(v: vec4<f32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) ^ vec4<u32>(bitcast<u32>(math_one) ^ 0x3f800000u));
}

// e^(x - c) for an integer c (|c| <= 2^24), four elements at a time, as 2^k (s + t): s = 1 + r
// exactly, t the rest (|t| <= 0.07), and the power of two 2^k.
struct QExp {
    s: vec4<f32>,
    t: vec4<f32>,
    scale: vec4<f32>,
}

fn qexp_parts(v: vec4<f32>, c: f32) -> QExp {
    let x = clamp(v, vec4<f32>(-FMAX), vec4<f32>(FMAX));
    let xi = round(x);
    let f = x - xi;
    // -inf: e^d = 0 even where c is -FLT_MAX.
    let ii = select(clamp(xi - c, vec4<f32>(-128.0), vec4<f32>(SPAN + 1.0)), vec4<f32>(-128.0),
        v < vec4<f32>(-FMAX));
    let kf = round((ii + f) * LOG2E);
    let r = (ii - kf * LN2_C1) + f;
    let rl = kf * -LN2_C2;
    let p = Q_C2 + r * (Q_C3 + r * (Q_C4 + r * (Q_C5 + r * Q_C6)));
    let pa = r + (r * r) * p;
    let s = opaque4(1.0 + r);
    let t = (r - opaque4(s - 1.0)) + ((r * r) * p + rl * (1.0 + pa));
    let k = max(vec4<i32>(kf), vec4<i32>(-127));
    return QExp(s, t, bitcast<vec4<f32>>(vec4<u32>(k + 127) << vec4<u32>(23u)));
}

// e^(x - c), rounded once.
fn qexp4(v: vec4<f32>, c: f32) -> vec4<f32> {
    let e = qexp_parts(v, c);
    return (e.s + e.t) * e.scale;
}

// e^(x - c) (ih + il): s ih rounded, the rest added to it, and the power of two last.
fn qprob4(v: vec4<f32>, c: f32, ih: f32, il: f32) -> vec4<f32> {
    let e = qexp_parts(v, c);
    // A probability is at most 1; the rounding errors of e^d and 1/S may not say so.
    return min((e.s * ih + opaque4(e.t * ih + e.s * il)) * e.scale, vec4<f32>(1.0));
}

// A lane's running state: Kahan sums (s - c) per component, and the flags and maximum: the
// smallest and largest |x| bits (a finite entry; a NaN), the largest signed bits (+inf).
struct QAcc {
    s: vec4<f32>,
    c: vec4<f32>,
    amin: vec4<u32>,
    amax: vec4<u32>,
    imax: vec4<i32>,
    m: vec4<f32>,
}

fn qacc_new() -> QAcc {
    return QAcc(vec4<f32>(0.0), vec4<f32>(0.0), vec4<u32>(0xffffffffu), vec4<u32>(0u),
        vec4<i32>(bitcast<i32>(0x80000000u)), vec4<f32>(-FMAX));
}

fn qacc_sum(a: ptr<function, QAcc>, e: vec4<f32>) {
    let y = e - (*a).c;
    let t = opaque4((*a).s + y);
    (*a).c = (t - (*a).s) - y;
    (*a).s = t;
}

// Four elements (x as the kernel sees it; -inf pads a short quad: it changes nothing).
fn qacc_push(a: ptr<function, QAcc>, v: vec4<f32>, c: f32) {
    let b = bitcast<vec4<u32>>(v);
    let ab = b & vec4<u32>(0x7fffffffu);
    (*a).amin = min((*a).amin, ab);
    (*a).amax = max((*a).amax, ab);
    (*a).imax = max((*a).imax, bitcast<vec4<i32>>(b));
    (*a).m = max((*a).m, clamp(v, vec4<f32>(-FMAX), vec4<f32>(FMAX)));
    qacc_sum(a, qexp4(v, c));
}

fn qacc_flags(a: QAcc) -> u32 {
    let amin = min(min(a.amin.x, a.amin.y), min(a.amin.z, a.amin.w));
    let amax = max(max(a.amax.x, a.amax.y), max(a.amax.z, a.amax.w));
    let imax = max(max(a.imax.x, a.imax.y), max(a.imax.z, a.imax.w));
    let bad = amax > 0x7f800000u || imax >= 0x7f800000;
    return select(0u, F_ANY, amin < 0x7f800000u) | select(0u, F_BAD, bad);
}

// The lane's sum as a double-float.
fn qacc_dd(a: QAcc) -> vec2<f32> {
    let x = dd_add(fast_two_sum(a.s.x, -a.c.x), fast_two_sum(a.s.y, -a.c.y));
    return dd_add(x, dd_add(fast_two_sum(a.s.z, -a.c.z), fast_two_sum(a.s.w, -a.c.w)));
}

// A row's shift, sum and output mode for the output pass.
struct QRow {
    c: f32,
    ih: f32,
    il: f32,
    // Special rows: the value every element gets (NaN, or 0 for a fully masked row with `safe`).
    special: bool,
    sv: f32,
}

// Quad k of a lane's elements: quads of the row (VEC4) or four elements lanes apart.
fn q_load(qs: u32, base: u32, lane: u32, lanes: u32, k: u32, n: u32) -> vec4<f32> {
    if (VEC4) {
        return fwd_load4(qs + lane + k * lanes);
    }
    let j = lane + 4u * k * lanes;
    var v = vec4<f32>(sm_neg_inf());
    if (j < n) {
        v.x = fwd_load(base + j);
    }
    if (j + lanes < n) {
        v.y = fwd_load(base + j + lanes);
    }
    if (j + 2u * lanes < n) {
        v.z = fwd_load(base + j + 2u * lanes);
    }
    if (j + 3u * lanes < n) {
        v.w = fwd_load(base + j + 3u * lanes);
    }
    return v;
}

fn q_store(qd: u32, base: u32, lane: u32, lanes: u32, k: u32, n: u32, p: vec4<f32>) {
    if (VEC4) {
        st_dst4(qd + lane + k * lanes, p);
        return;
    }
    let j = lane + 4u * k * lanes;
    let g = prm.off_dst + base + j;
    if (j < n) {
        st_dst(g, p.x);
    }
    if (j + lanes < n) {
        st_dst(g + lanes, p.y);
    }
    if (j + 2u * lanes < n) {
        st_dst(g + 2u * lanes, p.z);
    }
    if (j + 3u * lanes < n) {
        st_dst(g + 3u * lanes, p.w);
    }
}

// The row's statistics for the output pass (every lane of the row calls this, in uniform control
// flow: it reduces over them).
fn q_stats(valid: bool, base: u32, lane: u32, lanes: u32, li: u32) -> QRow {
    let n = prm.len;
    let qs = (prm.off_src + base) / 4u;
    // Quads per lane: the row's quads (VEC4) or groups of four elements.
    let nk = select((n + 4u * lanes - 1u) / (4u * lanes), (n / 4u + lanes - 1u) / lanes, VEC4);
    let nq = select(n, n / 4u, VEC4);
    var first = -FMAX;
    if (valid && lane < nq) {
        let v = clamp(q_load(qs, base, lane, lanes, 0u, n), vec4<f32>(-FMAX), vec4<f32>(FMAX));
        first = max(max(v.x, v.y), max(v.z, v.w));
    }
    let c0 = round(row_max(li, lane, first));
    // The lanes' reduction slots are reused below.
    row_sync();
    var a = qacc_new();
    if (valid) {
        for (var k = 0u; k < nk; k = k + 1u) {
            if (VEC4 && lane + k * lanes >= nq) {
                break;
            }
            qacc_push(&a, q_load(qs, base, lane, lanes, k, n), c0);
        }
    }
    let f = qacc_flags(a);
    let mx = row_max(li, lane, max(max(a.m.x, a.m.y), max(a.m.z, a.m.w)));
    let s0 = row_sum(li, lane, qacc_dd(a), f);
    row_sync();
    // Beyond the span: the sum again, relative to the maximum (an empty loop elsewhere).
    let again = mx - c0 > SPAN;
    let c1 = select(c0, round(mx), again);
    var b = qacc_new();
    if (valid && again) {
        for (var k = 0u; k < nk; k = k + 1u) {
            if (VEC4 && lane + k * lanes >= nq) {
                break;
            }
            qacc_sum(&b, qexp4(q_load(qs, base, lane, lanes, k, n), c1));
        }
    }
    let s1 = row_sum(li, lane, qacc_dd(b), 0u);
    let s = select(s0.s, s1.s, again);
    let fl = s0.f;
    let any = (fl & F_ANY) != 0u;
    let bad = (fl & F_BAD) != 0u;
    let sn = fast_two_sum(select(1.0, s.x, any && !bad), select(0.0, s.y, any && !bad));
    let i0 = 1.0 / sn.x;
    let pr = two_prod(i0, sn.x);
    let res = (opaque(1.0 - pr.x) - pr.y) - i0 * sn.y;
    let inv = fast_two_sum(i0, i0 * res);
    let sv = select(select(sm_nan(), 0.0, prm.safe != 0u), sm_nan(), bad);
    return QRow(c1, inv.x, inv.y, bad || !any, sv);
}

fn fwd_row_q(valid: bool, base: u32, lane: u32, lanes: u32, li: u32) {
    let rs = q_stats(valid, base, lane, lanes, li);
    if (!valid) {
        return;
    }
    let n = prm.len;
    let qs = (prm.off_src + base) / 4u;
    let qd = (prm.off_dst + base) / 4u;
    let nk = select((n + 4u * lanes - 1u) / (4u * lanes), (n / 4u + lanes - 1u) / lanes, VEC4);
    let nq = select(n, n / 4u, VEC4);
    for (var k = 0u; k < nk; k = k + 1u) {
        if (VEC4 && lane + k * lanes >= nq) {
            break;
        }
        let p = qprob4(q_load(qs, base, lane, lanes, k, n), rs.c, rs.ih, rs.il);
        q_store(qd, base, lane, lanes, k, n, select(p, vec4<f32>(rs.sv), rs.special));
    }
}

fn fwd_row(valid: bool, base: u32, lane: u32, lanes: u32, li: u32) {
    if (UNIT_T && !LOG_OUT && !PACKED) {
        fwd_row_q(valid, base, lane, lanes, li);
        return;
    }
    if (VEC4) {
        fwd_row4(valid, base, lane, lanes, li);
        return;
    }
    let nk = (prm.len + lanes - 1u) / lanes;
    if (nk <= CACHE) {
        fwd_row_cached(valid, base, lane, lanes, li, nk);
        return;
    }
    var m = -FMAX;
    var f = 0u;
    if (valid) {
        for (var j = lane; j < prm.len; j = j + lanes) {
            let v = fwd_load(base + j);
            let c = sm_class(v);
            f = f | select(select(0u, F_BAD, c == 2u), F_ANY, c == 0u);
            m = max(m, select(-FMAX, v, c == 0u));
        }
    }
    let mx = row_max(li, lane, m);
    var s = vec2<f32>(0.0, 0.0);
    if (valid) {
        for (var j = lane; j < prm.len; j = j + lanes) {
            let v = fwd_load(base + j);
            // Non-finite entries contribute nothing (their flags are already set).
            let fin = sm_class(v) == 0u;
            let d = sm_diff(select(mx, v, fin), mx);
            let e = exp_dd(d.hi, d.lo);
            let t = two_sum(s.x, select(0.0, sm_scale(e.s, e.k), fin));
            s = vec2<f32>(t.x, s.y + (t.y + select(0.0, sm_scale(e.t, e.k), fin)));
        }
    }
    let sf = row_sum(li, lane, s, f);
    let rs = row_stats(RowAcc(mx, sf.s, sf.f));
    if (valid && PACKED) {
        fwd_store_range(base, base + prm.len, lane, lanes, rs);
        return;
    }
    if (valid) {
        for (var j = lane; j < prm.len; j = j + lanes) {
            let k = base + j;
            st_dst(prm.off_dst + k, fwd_out(fwd_load(k), rs));
        }
    }
}

fn bwd_row(valid: bool, base: u32, lane: u32, lanes: u32, li: u32) {
    if (VEC4) {
        bwd_row4(valid, base, lane, lanes, li);
        return;
    }
    var a = bacc();
    if (valid) {
        for (var j = lane; j < prm.len; j = j + lanes) {
            let k = base + j;
            bwd_push(&a, ld_src(prm.off_src + k), ld_grad(prm.off_dy + k));
        }
    }
    let r = bwd_row_sum(li, lane, a);
    if (valid && PACKED) {
        bwd_store_range(base, base + prm.len, lane, lanes, r);
        return;
    }
    if (valid) {
        for (var j = lane; j < prm.len; j = j + lanes) {
            let k = base + j;
            st_dst(prm.off_dst + k, bwd_out(ld_src(prm.off_src + k), ld_grad(prm.off_dy + k), r));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The rows kernel four elements at a time (VEC4: the row's first element and its length are
// multiples of 4): lane `lane` takes quads lane, lane + lanes, ... of the row. Every element goes
// through the same per-element steps as in fwd_row and bwd_row; only the order in which a lane
// adds its terms differs (a quad's four, then the next quad's), so sums may differ in their last
// double-float bits and an output by at most an ULP's rounding.

// Four elements are written out one by one (x, y, z, w), not looped over: a dynamic component
// index may cost a shader compiler that does not unroll the loop a select chain per access.

// The row's maximum and flags, four elements at a time (`m` from the elements before).
fn max1(m: f32, f: ptr<function, u32>, v: f32) -> f32 {
    let cl = sm_class(v);
    *f = *f | select(select(0u, F_BAD, cl == 2u), F_ANY, cl == 0u);
    return max(m, select(-FMAX, v, cl == 0u));
}

fn max4(m: f32, f: ptr<function, u32>, v: vec4<f32>) -> f32 {
    return max1(max1(max1(max1(m, f, v.x), f, v.y), f, v.z), f, v.w);
}

// e^((x - mx)/T), scaled, as (hi, lo) (0 where x is not finite or `ok` is false), added to `s`.
fn sum1(s: ptr<function, vec2<f32>>, v: f32, ok: bool, mx: f32) -> vec2<f32> {
    let fin = ok && sm_class(v) == 0u;
    let d = sm_diff(select(mx, v, fin), mx);
    let e = exp_dd(d.hi, d.lo);
    let h = select(0.0, sm_scale(e.s, e.k), fin);
    let l = select(0.0, sm_scale(e.t, e.k), fin);
    let t = two_sum((*s).x, h);
    *s = vec2<f32>(t.x, (*s).y + (t.y + l));
    return vec2<f32>(h, l);
}

// The same for four elements, in order: their his and los.
struct Exp4 {
    h: vec4<f32>,
    l: vec4<f32>,
}

fn sum4(s: ptr<function, vec2<f32>>, v: vec4<f32>, ok: bool, mx: f32) -> Exp4 {
    let a = sum1(s, v.x, ok, mx);
    let b = sum1(s, v.y, ok, mx);
    let c = sum1(s, v.z, ok, mx);
    let d = sum1(s, v.w, ok, mx);
    return Exp4(vec4<f32>(a.x, b.x, c.x, d.x), vec4<f32>(a.y, b.y, c.y, d.y));
}

fn fwd_out4(v: vec4<f32>, rs: RowStats) -> vec4<f32> {
    return vec4<f32>(fwd_out(v.x, rs), fwd_out(v.y, rs), fwd_out(v.z, rs), fwd_out(v.w, rs));
}

fn fwd_out_cached4(v: vec4<f32>, h: vec4<f32>, l: vec4<f32>, rs: RowStats) -> vec4<f32> {
    return vec4<f32>(
        fwd_out_cached(v.x, vec2<f32>(h.x, l.x), rs),
        fwd_out_cached(v.y, vec2<f32>(h.y, l.y), rs),
        fwd_out_cached(v.z, vec2<f32>(h.z, l.z), rs),
        fwd_out_cached(v.w, vec2<f32>(h.w, l.w), rs),
    );
}

fn bwd_out4(y: vec4<f32>, dy: vec4<f32>, r: BSum) -> vec4<f32> {
    return vec4<f32>(
        bwd_out(y.x, dy.x, r),
        bwd_out(y.y, dy.y, r),
        bwd_out(y.z, dy.z, r),
        bwd_out(y.w, dy.w, r),
    );
}

fn fwd_load4(q: u32) -> vec4<f32> {
    let v = bitcast<vec4<u32>>(ld_src4(q)) ^ vec4<u32>(prm.flip);
    return bitcast<vec4<f32>>(v);
}

fn fwd_row4(valid: bool, base: u32, lane: u32, lanes: u32, li: u32) {
    let nq = prm.len / 4u;
    let qs = (prm.off_src + base) / 4u;
    let qd = (prm.off_dst + base) / 4u;
    let nk = (nq + lanes - 1u) / lanes;
    var m = -FMAX;
    var f = 0u;
    if (4u * nk <= CACHE) {
        // Read once; e^d kept for the output (see fwd_row_cached).
        var xs: array<vec4<f32>, CACHE4>;
        var eh: array<vec4<f32>, CACHE4>;
        var el: array<vec4<f32>, CACHE4>;
        for (var k = 0u; k < nk; k = k + 1u) {
            let q = lane + k * lanes;
            var v = vec4<f32>(-FMAX);
            if (valid && q < nq) {
                v = fwd_load4(qs + q);
                m = max4(m, &f, v);
            }
            xs[k] = v;
        }
        let mx = row_max(li, lane, m);
        var s = vec2<f32>(0.0, 0.0);
        for (var k = 0u; k < nk; k = k + 1u) {
            let e = sum4(&s, xs[k], lane + k * lanes < nq, mx);
            eh[k] = e.h;
            el[k] = e.l;
        }
        let sf = row_sum(li, lane, s, f);
        let rs = row_stats(RowAcc(mx, sf.s, sf.f));
        for (var k = 0u; k < nk; k = k + 1u) {
            let q = lane + k * lanes;
            if (valid && q < nq) {
                st_dst4(qd + q, fwd_out_cached4(xs[k], eh[k], el[k], rs));
            }
        }
        return;
    }
    if (valid) {
        for (var q = lane; q < nq; q = q + lanes) {
            m = max4(m, &f, fwd_load4(qs + q));
        }
    }
    let mx = row_max(li, lane, m);
    var s = vec2<f32>(0.0, 0.0);
    if (valid) {
        for (var q = lane; q < nq; q = q + lanes) {
            sum4(&s, fwd_load4(qs + q), true, mx);
        }
    }
    let sf = row_sum(li, lane, s, f);
    let rs = row_stats(RowAcc(mx, sf.s, sf.f));
    if (valid) {
        for (var q = lane; q < nq; q = q + lanes) {
            st_dst4(qd + q, fwd_out4(fwd_load4(qs + q), rs));
        }
    }
}

fn bwd_row4(valid: bool, base: u32, lane: u32, lanes: u32, li: u32) {
    let nq = prm.len / 4u;
    let qs = (prm.off_src + base) / 4u;
    let qg = (prm.off_dy + base) / 4u;
    let qd = (prm.off_dst + base) / 4u;
    var a = bacc();
    if (valid) {
        for (var q = lane; q < nq; q = q + lanes) {
            let y = ld_src4(qs + q);
            let dy = ld_grad4(qg + q);
            bwd_push(&a, y.x, dy.x);
            bwd_push(&a, y.y, dy.y);
            bwd_push(&a, y.z, dy.z);
            bwd_push(&a, y.w, dy.w);
        }
    }
    let r = bwd_row_sum(li, lane, a);
    if (valid) {
        for (var q = lane; q < nq; q = q + lanes) {
            st_dst4(qd + q, bwd_out4(ld_src4(qs + q), ld_grad4(qg + q), r));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A split row's chunk by `lanes` lanes on their own (a subgroup: no barriers), the rows kernel's
// way: the chunk's maximum first (no exp), then its sum relative to it (one exp per element, no
// rescaling). The partial is what `fwd_partials` writes: (M, S relative to M, flags). Contiguous
// rows only (s_j = 1). For a software rasterizer, which runs a shader with barriers as
// coroutines: `partials_subgroup` kernels (softmax_subgroup.wgsl).
fn fwd_chunk(t: Task, lane: u32, lanes: u32) -> RowAcc {
    var m = -FMAX;
    var f = 0u;
    let q0 = (prm.off_src + t.base + t.j0) / 4u;
    let nq = (t.j1 - t.j0) / 4u;
    if (t.valid) {
        if (VEC4) {
            for (var q = lane; q < nq; q = q + lanes) {
                m = max4(m, &f, fwd_load4(q0 + q));
            }
        } else {
            for (var j = t.j0 + lane; j < t.j1; j = j + lanes) {
                m = max1(m, &f, fwd_load(t.base + j));
            }
        }
    }
    let mx = row_max(0u, lane, m);
    var s = vec2<f32>(0.0, 0.0);
    if (t.valid) {
        if (VEC4) {
            for (var q = lane; q < nq; q = q + lanes) {
                sum4(&s, fwd_load4(q0 + q), true, mx);
            }
        } else {
            for (var j = t.j0 + lane; j < t.j1; j = j + lanes) {
                sum1(&s, fwd_load(t.base + j), true, mx);
            }
        }
    }
    let sf = row_sum(0u, lane, s, f);
    return RowAcc(mx, sf.s, sf.f);
}

// Backward's partial sums of a chunk by `lanes` lanes on their own (see fwd_chunk).
fn bwd_chunk(t: Task, lane: u32, lanes: u32) -> BAcc {
    var a = bacc();
    if (t.valid) {
        if (VEC4) {
            let q0 = (t.base + t.j0) / 4u;
            let nq = (t.j1 - t.j0) / 4u;
            for (var q = lane; q < nq; q = q + lanes) {
                let y = ld_src4(prm.off_src / 4u + q0 + q);
                let dy = ld_grad4(prm.off_dy / 4u + q0 + q);
                bwd_push(&a, y.x, dy.x);
                bwd_push(&a, y.y, dy.y);
                bwd_push(&a, y.z, dy.z);
                bwd_push(&a, y.w, dy.w);
            }
        } else {
            for (var j = t.j0 + lane; j < t.j1; j = j + lanes) {
                let k = t.base + j;
                bwd_push(&a, ld_src(prm.off_src + k), ld_grad(prm.off_dy + k));
            }
        }
    }
    let r = row_sum(0u, lane, a.s, a.f);
    var g = vec2<f32>(0.0, 0.0);
    if (LOG_OUT) {
        g = row_sum(0u, lane, a.g, 0u).s;
    }
    return BAcc(r.s, g, r.f);
}
