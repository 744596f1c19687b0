// softmax.wgsl's output tensor as 16-bit floats (f16 or bf16) packed in u32 words; `half_from_f32`
// is the dtype's rounding. `st_dst` clears and sets only its own half, so the two atomics of
// neighbouring elements commute; `st_word` writes a whole word (both halves in one invocation's
// hands) plainly.

@group(0) @binding(3) var<storage, read_write> dst: array<atomic<u32>>;
const PACKED: bool = true;
fn st_dst(i: u32, v: f32) {
    let sh = (i & 1u) * 16u;
    atomicAnd(&dst[i >> 1u], ~(0xffffu << sh));
    atomicOr(&dst[i >> 1u], half_from_f32(v) << sh);
}
fn st_word(w: u32, lo: f32, hi: f32) {
    atomicStore(&dst[w], half_from_f32(lo) | (half_from_f32(hi) << 16u));
}
