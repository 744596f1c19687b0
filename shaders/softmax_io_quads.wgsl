// The quad accessors of softmax.wgsl where the tensors are not bound as vec4 arrays (after
// the softmax_io_*_in and _out files): four element accesses (the kernels take them only
// where `VEC4` holds).

const VEC4: bool = false;
fn ld_src4(q: u32) -> vec4<f32> {
    let i = 4u * q;
    return vec4<f32>(ld_src(i), ld_src(i + 1u), ld_src(i + 2u), ld_src(i + 3u));
}
fn ld_grad4(q: u32) -> vec4<f32> {
    let i = 4u * q;
    return vec4<f32>(ld_grad(i), ld_grad(i + 1u), ld_grad(i + 2u), ld_grad(i + 3u));
}
fn st_dst4(q: u32, v: vec4<f32>) {
    let i = 4u * q;
    st_dst(i, v.x);
    st_dst(i + 1u, v.y);
    st_dst(i + 2u, v.z);
    st_dst(i + 3u, v.w);
}
