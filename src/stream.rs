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
//! (`PollType::Wait` on that submission, which sleeps instead of spinning the cores the copies
//! need) for the oldest slot, copies its result into the host slice, and reuses it. Upload and
//! readback of different chunks thus overlap each other and the kernels, on the host and, where
//! the device has copy engines, on the device.
//!
//! With [`Upload::WriteBuffer`] step 1 is `Queue::write_buffer` into the device buffer instead
//! (wgpu stages the bytes itself); the bench `streaming` compares the two.
//!
//! # Chunks
//!
//! A chunk holds at most [`StreamOptions::chunk_bytes`], and never more than one storage binding
//! ([`Context::set_max_binding_bytes`] lowers that limit for tests) so that each chunk is one
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
use std::sync::mpsc;

use rayon::prelude::*;

use crate::activation::{Activation, Mode, OpKind};
use crate::context::Context;
use crate::elementwise::{DType, Tensor};
use crate::error::{Error, Result};
use crate::softmax::Softmax;

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

/// An element type a host slice can be streamed in: `f32`, or [`half::f16`] (computed in f32 on
/// the device and rounded once to f16, like [`Tensor::f16`] tensors).
pub trait StreamElement: bytemuck::Pod + sealed::Sealed {
    /// The device tensors' element type.
    const DTYPE: DType;
}

impl StreamElement for f32 {
    const DTYPE: DType = DType::F32;
}

impl StreamElement for half::f16 {
    const DTYPE: DType = DType::F16;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
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
    /// Pending re-map of `upload` for writing, with the submission it waits for; `None` while
    /// it is mapped (or there is no upload buffer).
    upload_map: Option<(MapResult, wgpu::SubmissionIndex)>,
    /// The chunk in flight: first element, length, submission, readback map result.
    flight: Option<Flight>,
}

struct Flight {
    start: usize,
    len: usize,
    index: wgpu::SubmissionIndex,
    mapped: MapResult,
}

type MapResult = mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>;

/// Pieces of a parallel readback copy; copies under four pieces stay on one core.
const PIECE: usize = 1 << 20;

/// Copy `src` to `dst`, on all cores when it is large enough to pay for it.
fn copy(dst: &mut [u8], src: &[u8]) {
    if src.len() >= 4 * PIECE {
        dst.par_chunks_mut(PIECE)
            .zip(src.par_chunks(PIECE))
            .for_each(|(d, s)| d.copy_from_slice(s));
    } else {
        dst.copy_from_slice(src);
    }
}

fn map_channel(slice: wgpu::BufferSlice<'_>, mode: wgpu::MapMode) -> MapResult {
    let (tx, rx) = mpsc::sync_channel(1);
    // map_async calls back from inside a poll, once the submissions using the buffer are done.
    slice.map_async(mode, move |r| {
        let _ = tx.send(r);
    });
    rx
}

impl Context {
    /// Wait for a map requested with [`map_channel`]: its callback runs inside a poll that finds
    /// the buffer's submissions complete.
    fn wait_map(&self, rx: &MapResult, index: wgpu::SubmissionIndex) -> Result<()> {
        let mut index = Some(index);
        // The callback may be running in another thread's poll right now (threads may share the
        // device), so after our own wait keep polling and waiting a moment until it arrives.
        for _ in 0..1000 {
            if let Ok(r) = rx.try_recv() {
                return r.map_err(|e| Error::Map(e.to_string()));
            }
            self.device()
                .poll(wgpu::PollType::Wait {
                    submission_index: index.take(),
                    timeout: None,
                })
                .map_err(|e| Error::DeviceLost(e.to_string()))?;
            match rx.recv_timeout(std::time::Duration::from_millis(10)) {
                Ok(r) => return r.map_err(|e| Error::Map(e.to_string())),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.check_alive()?;
        Err(Error::Map("the map callback never ran".into()))
    }

    /// `x = f(x)` over a host slice of any length, streamed through the device in chunks (see
    /// the [module documentation](crate::stream)). `progress(done, total)` runs after each chunk
    /// is written back; [`ControlFlow::Break`] cancels with [`Error::Cancelled`].
    ///
    /// `T` is `f32` or [`half::f16`].
    pub fn stream_forward<T: StreamElement>(
        &self,
        act: &Activation,
        data: &mut [T],
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        self.stream_elementwise(act, Mode::Forward, data, opts, progress)
    }

    /// `x = f'(x)` over a host slice of any length, streamed like [`Context::stream_forward`].
    pub fn stream_derivative<T: StreamElement>(
        &self,
        act: &Activation,
        data: &mut [T],
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        self.stream_elementwise(act, Mode::Derivative, data, opts, progress)
    }

    fn stream_elementwise<T: StreamElement>(
        &self,
        act: &Activation,
        mode: Mode,
        data: &mut [T],
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        act.validate()?;
        let n = data.len();
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
        let chunk = self.stream_chunk(opts, n, period, T::DTYPE)?;
        self.run_stream(
            data,
            chunk,
            false,
            opts,
            progress,
            &format!("stream/{}/{}", act.op().name(), mode.name()),
            |encoder, dev, _, start, len| {
                let base = if training { start as u32 } else { 0 };
                let x = Tensor::of(dev, 0, len, T::DTYPE);
                self.prepare_elementwise(act, mode, x, None, None, base)?
                    .record(encoder)
            },
        )
    }

    /// `f(x)` along the last axis of a host tensor stored as rows of `row_len`, in place, streamed
    /// through the device in chunks of whole rows (see the [module documentation](crate::stream)).
    ///
    /// `T` is `f32` or [`half::f16`] (reductions in f32 on the device).
    pub fn stream_softmax<T: StreamElement>(
        &self,
        sm: &Softmax,
        data: &mut [T],
        row_len: usize,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        sm.validate()?;
        let n = data.len();
        if n == 0 {
            return Ok(());
        }
        if row_len == 0 || !n.is_multiple_of(row_len) {
            return Err(Error::ShapeMismatch(format!(
                "{n} elements are not whole rows of {row_len}"
            )));
        }
        let chunk = self.stream_chunk(opts, n, row_len, T::DTYPE)?;
        self.run_stream(
            data,
            chunk,
            true,
            opts,
            progress,
            &format!("stream/{}", sm.kind.name()),
            |encoder, x, y, _, len| {
                let y = y.ok_or_else(|| Error::Wgpu {
                    label: "stream".into(),
                    message: "softmax slot without an output buffer".into(),
                })?;
                self.record_softmax(
                    encoder,
                    sm,
                    Tensor::of(x, 0, len, T::DTYPE),
                    Tensor::of(y, 0, len, T::DTYPE),
                    &[len / row_len, row_len],
                    1,
                )
            },
        )
    }

    /// Elements per chunk: the option, capped by one storage binding, rounded down to a multiple
    /// of `unit` (rows, prelu periods) but at least one unit, which must fit one buffer.
    fn stream_chunk(
        &self,
        opts: &StreamOptions,
        n: usize,
        unit: usize,
        dtype: DType,
    ) -> Result<usize> {
        if opts.depth == 0 {
            return Err(Error::BadParameter {
                op: "stream",
                message: "the ring needs at least one slot (depth ≥ 1)".into(),
            });
        }
        let quarter = (n as u64 * dtype.size() / 4).max(MIN_CHUNK_BYTES);
        let bytes = opts.chunk_bytes.min(quarter).min(self.max_binding_bytes());
        let cap = (bytes / dtype.size()).max(1);
        let cap = usize::try_from(cap)
            .unwrap_or(usize::MAX)
            .min(u32::MAX as usize);
        let chunk = (cap / unit).max(1) * unit;
        self.checked_bytes_of(chunk, dtype)?;
        Ok(chunk)
    }

    /// The ring (see the module documentation). `record` encodes the kernel of one chunk of
    /// `len` elements starting at host element `start`, over the slot's device buffer (and
    /// output buffer when `two_buffers`); the result must end in the output buffer if there is
    /// one, else in the device buffer.
    #[allow(clippy::too_many_arguments)]
    fn run_stream<T: StreamElement>(
        &self,
        data: &mut [T],
        chunk: usize,
        two_buffers: bool,
        opts: &StreamOptions,
        mut progress: impl FnMut(usize, usize) -> ControlFlow<()>,
        label: &str,
        mut record: impl FnMut(
            &mut wgpu::CommandEncoder,
            &wgpu::Buffer,
            Option<&wgpu::Buffer>,
            usize,
            usize,
        ) -> Result<()>,
    ) -> Result<()> {
        let n = data.len();
        if n == 0 {
            return Ok(());
        }
        let chunks = n.div_ceil(chunk);
        let depth = opts.depth.clamp(1, chunks);
        // Copies move whole 4-byte words: an odd count of f16s is padded by one.
        let padded = |len: usize| (len as u64 * T::DTYPE.size()).next_multiple_of(4);
        let bytes = padded(chunk.min(n));
        let mapped = opts.upload == Upload::Mapped;
        let device = self.device();
        let mut slots = self.scoped(label, || {
            let buffer = |what: &str, usage, at_creation| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("{label} {what}")),
                    size: bytes,
                    usage,
                    mapped_at_creation: at_creation,
                })
            };
            use wgpu::BufferUsages as U;
            Ok((0..depth)
                .map(|_| Slot {
                    upload: mapped.then(|| buffer("upload", U::MAP_WRITE | U::COPY_SRC, true)),
                    device: buffer("device", U::STORAGE | U::COPY_DST | U::COPY_SRC, false),
                    output: two_buffers
                        .then(|| buffer("output", U::STORAGE | U::COPY_DST | U::COPY_SRC, false)),
                    readback: buffer("readback", U::MAP_READ | U::COPY_DST, false),
                    upload_map: None,
                    flight: None,
                })
                .collect::<Vec<_>>())
        })?;

        let (mut submitted, mut retired) = (0usize, 0usize);
        while retired < chunks {
            // Fill every free slot: the device works on the earlier ones meanwhile.
            while submitted < chunks && submitted - retired < depth {
                let slot = &mut slots[submitted % depth];
                let start = submitted * chunk;
                let len = chunk.min(n - start);
                let size = padded(len);
                let host = bytemuck::cast_slice::<T, u8>(&data[start..start + len]);
                self.scoped(label, || {
                    if let Some(up) = &slot.upload {
                        if let Some((rx, index)) = slot.upload_map.take() {
                            self.wait_map(&rx, index)?;
                        }
                        {
                            let mut view = up
                                .slice(..size)
                                .get_mapped_range_mut()
                                .map_err(|e| Error::Map(e.to_string()))?;
                            // Write-only (possibly write-combining) memory: one sequential copy.
                            view.slice(..host.len()).copy_from_slice(host);
                        } // the view must be dropped before unmap
                        up.unmap();
                    } else {
                        let queue = self.queue();
                        let whole = host.len() & !3;
                        queue.write_buffer(&slot.device, 0, &host[..whole]);
                        if whole < host.len() {
                            // The odd f16 at the end, in a word of its own.
                            let mut last = [0u8; 4];
                            last[..host.len() - whole].copy_from_slice(&host[whole..]);
                            queue.write_buffer(&slot.device, whole as u64, &last);
                        }
                    }
                    let mut encoder =
                        device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some(label),
                        });
                    if let Some(up) = &slot.upload {
                        encoder.copy_buffer_to_buffer(up, 0, &slot.device, 0, size);
                    }
                    record(&mut encoder, &slot.device, slot.output.as_ref(), start, len)?;
                    let result = slot.output.as_ref().unwrap_or(&slot.device);
                    encoder.copy_buffer_to_buffer(result, 0, &slot.readback, 0, size);
                    let index = self.queue().submit([encoder.finish()]);
                    let mapped = map_channel(slot.readback.slice(..size), wgpu::MapMode::Read);
                    if let Some(up) = &slot.upload {
                        let rx = map_channel(up.slice(..), wgpu::MapMode::Write);
                        slot.upload_map = Some((rx, index.clone()));
                    }
                    slot.flight = Some(Flight {
                        start,
                        len,
                        index,
                        mapped,
                    });
                    Ok(())
                })?;
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
            self.wait_map(&f.mapped, f.index)?;
            {
                let view = slot
                    .readback
                    .slice(..padded(f.len))
                    .get_mapped_range()
                    .map_err(|e| Error::Map(e.to_string()))?;
                let host = bytemuck::cast_slice_mut::<T, u8>(&mut data[f.start..f.start + f.len]);
                let len = host.len();
                copy(host, &view[..len]);
            }
            slot.readback.unmap();
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
}
