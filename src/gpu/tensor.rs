//! Tensors: a typed range of a caller's buffer.

use crate::base::dtype::DType;
use crate::base::error::{Error, Result};

/// A range of values inside a caller's buffer: `len` elements of `dtype` from byte `offset`.
///
/// ```no_run
/// # use wgpu_activations::*;
/// let ctx = Context::new()?;
/// let (x, y) = (ctx.create_tensor::<f32>(1000)?, ctx.create_tensor::<f32>(500)?);
/// let tail = Tensor::new(&x, 2000, 500); // bytes 2000.., elements 500..1000 of x
/// let mut encoder = ctx.device().create_command_encoder(&Default::default());
/// ctx.record_forward(&mut encoder, &Activation::by_name("tanh")?, tail, Tensor::whole(&y))?;
/// ctx.queue().submit([encoder.finish()]);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    /// The buffer (needs `STORAGE`).
    pub buffer: &'a wgpu::Buffer,
    /// Byte offset of the first element; a multiple of the element size.
    pub offset: u64,
    /// Number of elements.
    pub len: usize,
    /// The element type (f32 unless made with [`Tensor::f16`], [`Tensor::bf16`] or
    /// [`Tensor::of`]).
    pub dtype: DType,
}

impl<'a> Tensor<'a> {
    /// `len` f32 elements from byte `offset`.
    pub fn new(buffer: &'a wgpu::Buffer, offset: u64, len: usize) -> Tensor<'a> {
        Tensor {
            buffer,
            offset,
            len,
            dtype: DType::F32,
        }
    }
    /// `len` f16 elements from byte `offset` (a multiple of 2). f16 tensors are read and written
    /// in 4-byte words, so the word holding the last element must lie inside the buffer (buffers
    /// from [`Context::create_tensor`](crate::Context::create_tensor) and [`Context::upload`](crate::Context::upload) are padded so).
    pub fn f16(buffer: &'a wgpu::Buffer, offset: u64, len: usize) -> Tensor<'a> {
        Tensor {
            buffer,
            offset,
            len,
            dtype: DType::F16,
        }
    }
    /// The whole buffer as f32s.
    pub fn whole(buffer: &'a wgpu::Buffer) -> Tensor<'a> {
        Tensor::new(buffer, 0, (buffer.size() / 4) as usize)
    }
    /// The whole buffer as f16s.
    pub fn whole_f16(buffer: &'a wgpu::Buffer) -> Tensor<'a> {
        Tensor::f16(buffer, 0, (buffer.size() / 2) as usize)
    }
    /// `len` bf16 elements from byte `offset` (a multiple of 2; read and written in 4-byte words,
    /// as [`Tensor::f16`]).
    pub fn bf16(buffer: &'a wgpu::Buffer, offset: u64, len: usize) -> Tensor<'a> {
        Tensor::of(buffer, offset, len, DType::BF16)
    }
    /// The whole buffer as bf16s.
    pub fn whole_bf16(buffer: &'a wgpu::Buffer) -> Tensor<'a> {
        Tensor::bf16(buffer, 0, (buffer.size() / 2) as usize)
    }
}

/// Check that `len` elements of `dtype` from byte `offset` lie inside `buffer`. 16-bit tensors are
/// accessed in whole 4-byte words, so the range is rounded out to words.
pub(crate) fn check_range_of(
    what: &'static str,
    buffer: &wgpu::Buffer,
    offset: u64,
    len: usize,
    dtype: DType,
) -> Result<()> {
    let es = dtype.size();
    if !offset.is_multiple_of(es) {
        return Err(Error::Misaligned {
            what,
            offset,
            align: es,
        });
    }
    let end = (len as u64)
        .checked_mul(es)
        .and_then(|b| offset.checked_add(b))
        .ok_or(Error::BufferTooSmall {
            what,
            offset,
            end: u64::MAX,
            size: buffer.size(),
        })?;
    let end = if dtype.is_half() && len > 0 {
        end.next_multiple_of(4)
    } else {
        end
    };
    if end > buffer.size() {
        return Err(Error::BufferTooSmall {
            what,
            offset,
            end,
            size: buffer.size(),
        });
    }
    Ok(())
}

pub(crate) fn check_tensor(what: &'static str, t: &Tensor, expected: usize) -> Result<()> {
    if t.len != expected {
        return Err(Error::LengthMismatch {
            what,
            got: t.len,
            expected,
        });
    }
    check_range_of(what, t.buffer, t.offset, t.len, t.dtype)?;
    if !t.buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
        return Err(Error::MissingUsage {
            what,
            usage: "STORAGE",
        });
    }
    Ok(())
}

/// The workgroup grid for `groups` workgroups: `(x, y)` with `x` at most the device's
/// per-dimension limit.
pub(crate) fn grid(groups: u32, max_per_dim: u32) -> (u32, u32) {
    if groups <= max_per_dim {
        (groups.max(1), 1)
    } else {
        (max_per_dim, groups.div_ceil(max_per_dim))
    }
}

impl<'a> Tensor<'a> {
    /// `len` elements of `dtype` from byte `offset`.
    pub fn of(buffer: &'a wgpu::Buffer, offset: u64, len: usize, dtype: DType) -> Tensor<'a> {
        Tensor {
            buffer,
            offset,
            len,
            dtype,
        }
    }
}
