//! Streaming offload: an activation, or softmax along the last axis, applied in place to a host
//! slice of any length — longer than the device's largest buffer, larger than its memory — in
//! chunks through a ring of staging buffers.
//!
//! # The ring
//!
//! Each of the `depth` slots owns an upload buffer (`MAP_WRITE | COPY_SRC`), a device buffer
//! (`STORAGE | COPY_DST | COPY_SRC`; softmax adds a second one for its output, the kernel being
//! out of place) and a readback buffer (`MAP_READ | COPY_DST`). One chunk through a slot:
//!
//! 1. the host copies the chunk into the mapped upload buffer and unmaps it;
//! 2. one submission copies it to the device buffer, runs the kernel (the crate's core layer,
//!    [`Context::record_forward_in_place`] or [`Context::record_softmax`]) and copies the result
//!    to the readback buffer;
//! 3. right after the submit, the readback buffer is asked to map for reading and the upload
//!    buffer to map again for writing; both complete when the submission does.
//!
//! While the device works on a slot the host fills the next ones; when the ring is full it waits
//! for the oldest slot's readback map, copies its result into the host slice, and reuses it.
//! Upload and readback of different chunks thus overlap each other and the kernels, on the host
//! and, where the device has copy engines, on the device.
//!
//! The ring is a future (`stream_*_async`): its waits are awaits on the maps, completed by the
//! context's poller thread on native backends (see [`Context::checked`] and the crate's async
//! notes) and by the browser on WebGPU, so it never blocks the thread that polls it. The blocking
//! `stream_*` calls run that future with `pollster`.
//!
//! With [`Upload::WriteBuffer`] step 1 is `Queue::write_buffer` into the device buffer instead
//! (wgpu stages the bytes itself); the bench `streaming` compares the two.
//!
//! # Chunks
//!
//! A chunk holds at most [`StreamOptions::chunk_bytes`], and never more than one storage binding
//! (tests lower that limit) so that each chunk is one
//! dispatch. An array under four chunks is cut into quarters (of at least [`MIN_CHUNK_BYTES`]) so
//! that its chunks still overlap. Softmax chunks hold whole rows; a row longer than a chunk gets a chunk of its own,
//! which the split-row kernel handles as long as it fits one buffer (else [`Error::TooLarge`]
//! before anything runs). prelu with per-channel slopes gets chunks of whole channel periods.
//!
//! # Cancellation and errors
//!
//! Chunks complete in order. After each one is written back, the progress callback receives
//! `(elements done, total)`; returning [`ControlFlow::Break`] cancels: every element before
//! `done` holds its result, every later one is untouched (chunks already in flight are discarded,
//! never written back), and the call returns [`Error::Cancelled`] with that count. On any other
//! error the slice likewise holds results up to some chunk boundary and inputs after it, but the
//! boundary is not reported.

use std::ops::ControlFlow;

use crate::base::dtype::{DType, Element};
use crate::base::error::{Error, Result};
use crate::gpu::context::{Context, GlDrop};
use crate::gpu::tensor::Tensor;
use crate::gpu::wait::Wait;
use crate::ops::activation::Activation;
use crate::ops::softmax::Softmax;
use crate::ops::{Mode, OpKind};

/// How a chunk reaches the device buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Upload {
    /// Copy into a mapped `MAP_WRITE` staging buffer of the ring, then a buffer-to-buffer copy.
    #[default]
    Mapped,
    /// `Queue::write_buffer` into the device buffer (wgpu's own staging).
    WriteBuffer,
}

/// The smallest chunk the ring cuts a small array into (1 MiB): below it, the per-chunk cost
/// (a submission, two map requests) outweighs the overlap gained.
pub const MIN_CHUNK_BYTES: u64 = 1 << 20;

/// How a stream is cut and pipelined.
///
/// ```
/// # use wgpu_activations::*;
/// let opts = StreamOptions::default()
///     .with_chunk_bytes(4 << 20)
///     .with_depth(4)
///     .with_upload(stream::Upload::Mapped);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// Bytes of one chunk (at most; rounded down to whole elements, whole softmax rows). Capped
    /// by the device's storage-binding and buffer limits, and for arrays under four times this
    /// size, by a quarter of the array (but not below [`MIN_CHUNK_BYTES`]), so that a small
    /// array still goes through several chunks whose upload, kernel and readback overlap.
    pub chunk_bytes: u64,
    /// Slots in the ring: chunks in flight at once (at least 1; 2 or 3 overlap).
    pub depth: usize,
    /// How chunks are uploaded.
    pub upload: Upload,
}

impl Default for StreamOptions {
    fn default() -> StreamOptions {
        StreamOptions {
            chunk_bytes: 16 << 20,
            depth: 3,
            upload: Upload::Mapped,
        }
    }
}

impl StreamOptions {
    /// Options with chunks of `bytes`.
    pub fn with_chunk_bytes(mut self, bytes: u64) -> StreamOptions {
        self.chunk_bytes = bytes;
        self
    }
    /// Options with a ring of `depth` slots.
    pub fn with_depth(mut self, depth: usize) -> StreamOptions {
        self.depth = depth;
        self
    }
    /// Options with the given upload path.
    pub fn with_upload(mut self, upload: Upload) -> StreamOptions {
        self.upload = upload;
        self
    }
}

/// A progress callback that never cancels.
pub fn no_progress(_done: usize, _total: usize) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// One slot of the ring.
struct Slot {
    upload: Option<wgpu::Buffer>,
    device: wgpu::Buffer,
    /// Softmax's output (its kernel is out of place).
    output: Option<wgpu::Buffer>,
    readback: wgpu::Buffer,
    /// Pending re-map of `upload` for writing; `None` while it is mapped (or there is no upload
    /// buffer).
    upload_map: Option<Wait>,
    /// The chunk in flight: first element, length, submission, readback map result.
    flight: Option<Flight>,
}

struct Flight {
    start: usize,
    len: usize,
    mapped: Wait,
}

/// Pieces of a parallel readback copy; copies under four pieces stay on one core.
#[cfg(not(target_arch = "wasm32"))]
const PIECE: usize = 1 << 20;

/// Copy `src` to `dst`, on all cores when it is large enough to pay for it (one thread on wasm32).
fn copy(dst: &mut [u8], src: &[u8]) {
    #[cfg(not(target_arch = "wasm32"))]
    if src.len() >= 4 * PIECE {
        use rayon::prelude::*;
        dst.par_chunks_mut(PIECE)
            .zip(src.par_chunks(PIECE))
            .for_each(|(d, s)| d.copy_from_slice(s));
        return;
    }
    dst.copy_from_slice(src);
}

impl Context {
    /// `x = f(x)` over a host slice of any length, streamed through the device in chunks (see
    /// the [module documentation](crate::host::stream)). `progress(done, total)` runs after each chunk
    /// is written back; [`ControlFlow::Break`] cancels with [`Error::Cancelled`].
    ///
    /// `T` is `f32` or [`half::f16`].
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// use std::ops::ControlFlow;
    /// let ctx = Context::new()?;
    /// let mut data = vec![0.5f32; 1 << 20]; // any length: larger than the GPU's memory works too
    /// let opts = StreamOptions::default().with_chunk_bytes(1 << 20);
    /// ctx.stream_forward(&Activation::by_name("gelu")?, &mut data, &opts, |done, total| {
    ///     eprintln!("{done}/{total}");
    ///     ControlFlow::Continue(())
    /// })?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn stream_forward<T: Element>(
        &self,
        act: &Activation,
        data: &mut [T],
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        pollster::block_on(self.stream_forward_async(act, data, opts, progress))
    }

    /// [`Context::stream_forward`] as a future that never blocks a thread (see the
    /// [module documentation](crate::host::stream)).
    ///
    /// ```no_run
    /// # async fn demo() -> wgpu_activations::Result<()> {
    /// # use wgpu_activations::*;
    /// let ctx = Context::new_async().await?;
    /// let mut data = vec![0.5f32; 1 << 20];
    /// let opts = StreamOptions::default();
    /// ctx.stream_forward_async(&Activation::by_name("gelu")?, &mut data, &opts, stream::no_progress)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn stream_forward_async<T: Element>(
        &self,
        act: &Activation,
        data: &mut [T],
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let io = HostIo::InPlace(data);
        self.stream_elementwise(act, Mode::Forward, io, None, opts, progress)
            .await
    }

    /// `x = f'(x)` over a host slice of any length, streamed like [`Context::stream_forward`].
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let mut data = vec![0.0f32; 4096];
    /// ctx.stream_derivative(&Activation::by_name("mish")?, &mut data, &StreamOptions::default(), stream::no_progress)?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn stream_derivative<T: Element>(
        &self,
        act: &Activation,
        data: &mut [T],
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        pollster::block_on(self.stream_derivative_async(act, data, opts, progress))
    }

    /// [`Context::stream_derivative`] as a future that never blocks a thread.
    pub async fn stream_derivative_async<T: Element>(
        &self,
        act: &Activation,
        data: &mut [T],
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let io = HostIo::InPlace(data);
        self.stream_elementwise(act, Mode::Derivative, io, None, opts, progress)
            .await
    }

    /// `mode` of `act` over host slices through the ring; `dy` is backward's second input. The
    /// convenient layer (`Context::forward`, ...) is this with default options.
    pub(crate) async fn stream_elementwise<T: Element>(
        &self,
        act: &Activation,
        mode: Mode,
        io: HostIo<'_, T>,
        dy: Option<&[T]>,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        act.validate()?;
        let n = io.len();
        // The element index reaches the kernel as a u32: rrelu's training slopes depend on it.
        let training = act.op() == OpKind::Rrelu && act.seed().is_some();
        if training && n > u32::MAX as usize {
            return Err(Error::TooLarge {
                elements: n,
                bytes: n as u64 * T::DTYPE.size(),
                max: u32::MAX as u64 * T::DTYPE.size(),
            });
        }
        // prelu's channel is (index / inner) % channels: chunks of whole periods see it from 0.
        let period = if act.op() == OpKind::Prelu && act.slopes().len() > 1 {
            act.slopes().len() * act.inner()
        } else {
            1
        };
        if !n.is_multiple_of(period) {
            return Err(Error::ShapeMismatch(format!(
                "prelu with {} slopes and {} elements per channel needs a multiple of {period} elements, got {n}",
                act.slopes().len(),
                act.inner()
            )));
        }
        let label = format!("stream/{}/{}", act.op().name(), mode.name());
        self.run_stream(
            io,
            dy,
            period,
            dy.is_some(),
            opts,
            progress,
            &label,
            |encoder, c| {
                let base = if training { c.start as u32 } else { 0 };
                self.prepare_elementwise(act, mode, c.x, c.second, c.out, base)?
                    .record(encoder)
            },
        )
        .await
    }

    /// `f(x)` along the last axis of a host tensor stored as rows of `row_len`, in place, streamed
    /// through the device in chunks of whole rows (see the [module documentation](crate::host::stream)).
    ///
    /// `T` is `f32` or [`half::f16`] (reductions in f32 on the device).
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let mut logits = vec![0.0f32; 8 * 50_257]; // 8 rows of a vocabulary
    /// ctx.stream_softmax(&Softmax::softmax(), &mut logits, 50_257, &StreamOptions::default(), stream::no_progress)?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn stream_softmax<T: Element>(
        &self,
        sm: &Softmax,
        data: &mut [T],
        row_len: usize,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        pollster::block_on(self.stream_softmax_async(sm, data, row_len, opts, progress))
    }

    /// [`Context::stream_softmax`] as a future that never blocks a thread.
    pub async fn stream_softmax_async<T: Element>(
        &self,
        sm: &Softmax,
        data: &mut [T],
        row_len: usize,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let io = HostIo::InPlace(data);
        self.stream_softmax_io(sm, io, None, row_len, opts, progress)
            .await
    }

    /// The softmax family along rows of `row_len` through the ring: forward, or backward with the
    /// saved output in `io`'s input and `dy` as the second input. The convenient layer's
    /// last-axis calls are this with default options.
    pub(crate) async fn stream_softmax_io<T: Element>(
        &self,
        sm: &Softmax,
        io: HostIo<'_, T>,
        dy: Option<&[T]>,
        row_len: usize,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        sm.validate()?;
        let n = io.len();
        if n == 0 {
            return Ok(());
        }
        if row_len == 0 || !n.is_multiple_of(row_len) {
            return Err(Error::ShapeMismatch(format!(
                "{n} elements are not whole rows of {row_len}"
            )));
        }
        let label = format!("stream/{}", sm.kind.name());
        self.run_stream(
            io,
            dy,
            row_len,
            true,
            opts,
            progress,
            &label,
            |encoder, c| {
                let out = c.out.ok_or_else(|| Error::Wgpu {
                    label: "stream".into(),
                    message: "softmax slot without an output buffer".into(),
                })?;
                let shape = [c.x.len / row_len, row_len];
                match c.second {
                    Some(dy) => self.record_softmax_backward(encoder, sm, c.x, dy, out, &shape, 1),
                    None => self.record_softmax(encoder, sm, c.x, out, &shape, 1),
                }
            },
        )
        .await
    }

    /// Elements per chunk: the option, capped by one storage binding and (for small arrays) a
    /// quarter of the array, rounded down to a multiple of `unit` (rows, prelu periods) but at
    /// least one unit; `inputs` chunks of it (one per input, each at an aligned offset) must fit
    /// one buffer. Returns the chunk and the byte stride between the inputs.
    fn stream_chunk(
        &self,
        opts: &StreamOptions,
        n: usize,
        unit: usize,
        inputs: u64,
        dtype: DType,
    ) -> Result<(usize, u64)> {
        if opts.depth == 0 {
            return Err(Error::BadParameter {
                op: "stream",
                message: "the ring needs at least one slot (depth ≥ 1)".into(),
            });
        }
        let align = u64::from(self.limits().min_storage_buffer_offset_alignment).max(4);
        let max_buffer = self.limits().max_buffer_size;
        let quarter = (n as u64 * dtype.size() / 4).max(MIN_CHUNK_BYTES);
        let bytes = opts
            .chunk_bytes
            .min(quarter)
            .min(self.max_binding_bytes())
            .min(max_buffer / inputs / align * align);
        let cap = (bytes / dtype.size()).max(1);
        let cap = usize::try_from(cap)
            .unwrap_or(usize::MAX)
            .min(u32::MAX as usize);
        let chunk = (cap / unit).max(1) * unit;
        let bytes = self.checked_bytes_of(chunk, dtype)?.next_multiple_of(4);
        let stride = if inputs > 1 {
            bytes.next_multiple_of(align)
        } else {
            bytes
        };
        if stride * (inputs - 1) + bytes > max_buffer {
            return Err(Error::TooLarge {
                elements: chunk,
                bytes: stride * (inputs - 1) + bytes,
                max: max_buffer,
            });
        }
        Ok((chunk, stride))
    }

    /// The ring (see the module documentation): `io`'s input (and `second`, when given) go up a
    /// chunk of whole `unit`s at a time, `record` encodes the kernel of one chunk, the result
    /// comes back into `io`'s output. The kernel writes into the slot's output buffer when
    /// `out_buffer` (softmax; any op with a second input), else in place.
    #[allow(clippy::too_many_arguments)]
    async fn run_stream<T: Element>(
        &self,
        mut io: HostIo<'_, T>,
        second: Option<&[T]>,
        unit: usize,
        out_buffer: bool,
        opts: &StreamOptions,
        mut progress: impl FnMut(usize, usize) -> ControlFlow<()>,
        label: &str,
        mut record: impl FnMut(&mut wgpu::CommandEncoder, ChunkTensors) -> Result<()>,
    ) -> Result<()> {
        let n = io.len();
        if let Some(dy) = second {
            if dy.len() != n {
                return Err(Error::LengthMismatch {
                    what: "dy",
                    got: dy.len(),
                    expected: n,
                });
            }
        }
        if n == 0 {
            return Ok(());
        }
        let inputs = 1 + second.is_some() as u64;
        let (chunk, stride) = self.stream_chunk(opts, n, unit, inputs, T::DTYPE)?;
        let out_buffer = out_buffer || second.is_some();
        let chunks = n.div_ceil(chunk);
        let depth = opts.depth.clamp(1, chunks);
        // Copies move whole 4-byte words: an odd count of f16s is padded by one.
        let padded = |len: usize| (len as u64 * T::DTYPE.size()).next_multiple_of(4);
        let bytes = padded(chunk.min(n));
        let in_bytes = stride * (inputs - 1) + bytes;
        let mapped = opts.upload == Upload::Mapped;
        let device = self.device();
        let slots = self
            .scoped_async(label, || {
                let buffer = |what: &str, size, usage, at_creation| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(&format!("{label} {what}")),
                        size,
                        usage,
                        mapped_at_creation: at_creation,
                    })
                };
                use wgpu::BufferUsages as U;
                let storage = U::STORAGE | U::COPY_DST | U::COPY_SRC;
                Ok((0..depth)
                    .map(|_| Slot {
                        upload: mapped
                            .then(|| buffer("upload", in_bytes, U::MAP_WRITE | U::COPY_SRC, true)),
                        device: buffer("device", in_bytes, storage, false),
                        output: out_buffer.then(|| buffer("output", bytes, storage, false)),
                        readback: buffer("readback", bytes, U::MAP_READ | U::COPY_DST, false),
                        upload_map: None,
                        flight: None,
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        // On GL the ring's buffers are dropped under the crate's GL lock, on every return path.
        let mut slots = GlDrop::new(slots, self.is_gl());

        let (mut submitted, mut retired) = (0usize, 0usize);
        while retired < chunks {
            // Fill every free slot: the device works on the earlier ones meanwhile.
            while submitted < chunks && submitted - retired < depth {
                let slot = &mut slots[submitted % depth];
                let start = submitted * chunk;
                let len = chunk.min(n - start);
                let size = padded(len);
                let hosts = [
                    Some(bytemuck::cast_slice::<T, u8>(io.input(start..start + len))),
                    second.map(|s| bytemuck::cast_slice::<T, u8>(&s[start..start + len])),
                ];
                if let Some(remapped) = slot.upload_map.take() {
                    remapped.await?;
                }
                self.scoped_async(label, || {
                    if let Some(up) = &slot.upload {
                        {
                            let mut view = up
                                .slice(..)
                                .get_mapped_range_mut()
                                .map_err(|e| Error::Map(e.to_string()))?;
                            // Write-only (possibly write-combining) memory: sequential copies.
                            for (k, host) in hosts.iter().enumerate() {
                                if let Some(host) = host {
                                    let at = k * stride as usize;
                                    view.slice(at..at + host.len()).copy_from_slice(host);
                                }
                            }
                        } // the view must be dropped before unmap
                        up.unmap();
                    } else {
                        for (k, host) in hosts.iter().enumerate() {
                            if let Some(host) = host {
                                self.write_words(&slot.device, k as u64 * stride, host);
                            }
                        }
                    }
                    let mut encoder =
                        device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some(label),
                        });
                    if let Some(up) = &slot.upload {
                        encoder.copy_buffer_to_buffer(
                            up,
                            0,
                            &slot.device,
                            0,
                            stride * (inputs - 1) + size,
                        );
                    }
                    let tensor = |b, at| Tensor::of(b, at, len, T::DTYPE);
                    record(
                        &mut encoder,
                        ChunkTensors {
                            x: tensor(&slot.device, 0),
                            second: second.map(|_| tensor(&slot.device, stride)),
                            out: slot.output.as_ref().map(|o| tensor(o, 0)),
                            start,
                        },
                    )?;
                    let result = slot.output.as_ref().unwrap_or(&slot.device);
                    encoder.copy_buffer_to_buffer(result, 0, &slot.readback, 0, size);
                    let index = self.queue().submit([encoder.finish()]);
                    // Both maps complete when the submission does.
                    let read = wgpu::MapMode::Read;
                    let mapped = self.map_wait(slot.readback.slice(..size), read, index.clone())?;
                    if let Some(up) = &slot.upload {
                        let write = wgpu::MapMode::Write;
                        slot.upload_map = Some(self.map_wait(up.slice(..), write, index)?);
                    }
                    slot.flight = Some(Flight { start, len, mapped });
                    Ok(())
                })
                .await?;
                submitted += 1;
            }

            // Retire the oldest chunk: wait for it, write it back, report.
            let slot = &mut slots[retired % depth];
            let Some(f) = slot.flight.take() else {
                return Err(Error::Wgpu {
                    label: label.into(),
                    message: "a ring slot lost its chunk".into(),
                });
            };
            f.mapped.await?;
            self.check_alive()?;
            {
                let view = slot
                    .readback
                    .slice(..padded(f.len))
                    .get_mapped_range()
                    .map_err(|e| Error::Map(e.to_string()))?;
                let host = bytemuck::cast_slice_mut::<T, u8>(io.output(f.start..f.start + f.len));
                let len = host.len();
                copy(host, &view[..len]);
            }
            {
                // Not held over the copy above, which may run on rayon's threads.
                let _gl = self.gl_guard();
                slot.readback.unmap();
            }
            self.check_alive()?;
            retired += 1;
            let done = f.start + f.len;
            if progress(done, n).is_break() {
                // Chunks in flight finish on the device but are never written back; their
                // buffers are dropped with the ring.
                return Err(Error::Cancelled {
                    processed_elements: done,
                });
            }
        }
        Ok(())
    }

    /// `Queue::write_buffer` of `host` at `offset`, an odd trailing f16 in a word of its own.
    fn write_words(&self, buffer: &wgpu::Buffer, offset: u64, host: &[u8]) {
        let queue = self.queue();
        let whole = host.len() & !3;
        queue.write_buffer(buffer, offset, &host[..whole]);
        if whole < host.len() {
            let mut last = [0u8; 4];
            last[..host.len() - whole].copy_from_slice(&host[whole..]);
            queue.write_buffer(buffer, offset + whole as u64, &last);
        }
    }
}

/// The host side of a ring run: a slice transformed in place, or an input read and an output
/// written (the same length).
pub(crate) enum HostIo<'a, T> {
    InPlace(&'a mut [T]),
    Separate(&'a [T], &'a mut [T]),
}

impl<T> HostIo<'_, T> {
    fn len(&self) -> usize {
        match self {
            HostIo::InPlace(a) => a.len(),
            HostIo::Separate(a, _) => a.len(),
        }
    }
    fn input(&self, r: std::ops::Range<usize>) -> &[T] {
        match self {
            HostIo::InPlace(a) => &a[r],
            HostIo::Separate(a, _) => &a[r],
        }
    }
    fn output(&mut self, r: std::ops::Range<usize>) -> &mut [T] {
        match self {
            HostIo::InPlace(a) => &mut a[r],
            HostIo::Separate(_, o) => &mut o[r],
        }
    }
}

/// One chunk on the device, for the recorder: its input (and second input) in the slot's device
/// buffer, the output buffer when the ring has one, and the chunk's first element in the host
/// array.
pub(crate) struct ChunkTensors<'a> {
    x: Tensor<'a>,
    second: Option<Tensor<'a>>,
    out: Option<Tensor<'a>>,
    start: usize,
}
