//! The small pieces every launcher shares: explicit bind-group layout entries and buffer
//! bindings at aligned offsets.

/// A compute-visible uniform block of `size` bytes at binding 0.
pub(crate) fn uniform_entry(size: usize) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: wgpu::BufferSize::new(size as u64),
        },
        count: None,
    }
}

/// A compute-visible storage buffer at `binding`.
pub(crate) fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// `size` bytes of `buffer` from `offset`, at `binding`.
pub(crate) fn buffer_range(
    binding: u32,
    buffer: &wgpu::Buffer,
    offset: u64,
    size: u64,
) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer,
            offset,
            size: wgpu::BufferSize::new(size),
        }),
    }
}

/// Where `count` elements of `t` from element `start` are bound: the byte offset aligned down to
/// `align`, the binding's size in whole 4-byte words (16-bit words are bound whole), and the
/// slack before the first element, counted in array items of `item_elems` elements (1, or 4 for
/// vec4 arrays), which the kernel skips.
pub(crate) fn aligned_range(
    t: &crate::gpu::tensor::Tensor,
    start: usize,
    count: usize,
    align: u64,
    item_elems: u64,
) -> (u64, u64, u32) {
    let es = t.dtype.size();
    let byte = t.offset + start as u64 * es;
    let aligned = byte / align * align;
    (
        aligned,
        (byte - aligned + count as u64 * es).next_multiple_of(4),
        ((byte - aligned) / (es * item_elems)) as u32,
    )
}
