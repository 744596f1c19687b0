// softmax.wgsl's output tensor as an f32 array: the output of f32 inputs, and of 16-bit inputs
// whose output is f32 (PyTorch's `softmax(x, dim, dtype=torch.float32)`).

@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
const PACKED: bool = false;
fn st_dst(i: u32, v: f32) { dst[i] = v; }
fn st_word(w: u32, lo: f32, hi: f32) { dst[2u * w] = lo; dst[2u * w + 1u] = hi; }
