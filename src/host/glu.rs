//! The GLU family on host slices: along the last axis streamed through the device by rows,
//! along another axis (and the two-input form) uploaded, run and read back in one piece.

use std::ops::ControlFlow;

use crate::base::dtype::Element;
use crate::base::error::{Error, Result};
use crate::gpu::context::{Context, GlDrop};
use crate::gpu::tensor::Tensor;
use crate::host::stream::{no_progress, StreamOptions};
use crate::ops::glu::{check_len, check_pair, checked_geometry, glu_geometry, Glu, GluGeometry};
use crate::ops::softmax::Axis;

impl Context {
    /// The one-tensor forward of a host tensor `x` of `shape` (f32 or f16), split along `axis`
    /// into the halves `a`, `b` (see [`Glu`] for which is the gate), on the GPU. The result has
    /// `shape` with `axis` halved.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// // A SwiGLU MLP's activation step: h = x·W_in is [tokens, 2·hidden], gate first.
    /// let h = vec![0.5f32; 4 * 2 * 8];
    /// let act = ctx.glu(&Glu::swiglu(), &h, &[4, 16], -1)?; // silu(gate) ⊗ up: [4, 8]
    /// assert_eq!(act.len(), 32);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn glu<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        pollster::block_on(self.glu_async(glu, x, shape, axis))
    }

    /// [`Context::glu`] as a future that never blocks a thread.
    pub async fn glu_async<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        let axis = axis.into();
        let geo = checked_geometry(glu, shape, axis, x.len(), None)?;
        if geo.inner == 1 && geo.n_in > 0 {
            // The last axis (or one followed by ones): streamed through the device by rows.
            let mut out = vec![T::zeroed(); geo.n_out];
            let opts = StreamOptions::default();
            self.stream_glu_async(glu, x, &mut out, 2 * geo.half, &opts, no_progress)
                .await?;
            return Ok(out);
        }
        self.glu_run(glu, &geo, &[x], None, shape, axis, 1)
            .await
            .map(|mut v| v.remove(0))
    }

    /// The one-tensor backward on the GPU: `dx` (the shape of `x`) from the saved input `x` and
    /// `dy` (the output's shape).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn glu_backward<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        dy: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        pollster::block_on(self.glu_backward_async(glu, x, dy, shape, axis))
    }

    /// [`Context::glu_backward`] as a future that never blocks a thread.
    pub async fn glu_backward_async<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        dy: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        let axis = axis.into();
        let geo = checked_geometry(glu, shape, axis, x.len(), Some(dy.len()))?;
        if geo.inner == 1 && geo.n_in > 0 {
            let mut dx = vec![T::zeroed(); geo.n_in];
            let opts = StreamOptions::default();
            self.stream_glu_backward_async(glu, x, dy, &mut dx, 2 * geo.half, &opts, no_progress)
                .await?;
            return Ok(dx);
        }
        self.glu_run(glu, &geo, &[x], Some(dy), shape, axis, 1)
            .await
            .map(|mut v| v.remove(0))
    }

    /// The two-input forward `f(gate) ⊗ value` on the GPU (slices of one length).
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let y = ctx.glu_pair(&Glu::geglu(), &[1.0f32, -1.0], &[2.0, 2.0])?; // gelu(gate)·value
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn glu_pair<T: Element>(&self, glu: &Glu, gate: &[T], value: &[T]) -> Result<Vec<T>> {
        pollster::block_on(self.glu_pair_async(glu, gate, value))
    }

    /// [`Context::glu_pair`] as a future that never blocks a thread.
    pub async fn glu_pair_async<T: Element>(
        &self,
        glu: &Glu,
        gate: &[T],
        value: &[T],
    ) -> Result<Vec<T>> {
        check_pair(gate.len(), value.len(), None)?;
        let geo = GluGeometry::pair(gate.len());
        self.glu_run(glu, &geo, &[gate, value], None, &[], Axis(0), 1)
            .await
            .map(|mut v| v.remove(0))
    }

    /// The two-input backward on the GPU: `(d gate, d value) = (dy·value·f'(gate), dy·f(gate))`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn glu_pair_backward<T: Element>(
        &self,
        glu: &Glu,
        gate: &[T],
        value: &[T],
        dy: &[T],
    ) -> Result<(Vec<T>, Vec<T>)> {
        pollster::block_on(self.glu_pair_backward_async(glu, gate, value, dy))
    }

    /// [`Context::glu_pair_backward`] as a future that never blocks a thread.
    pub async fn glu_pair_backward_async<T: Element>(
        &self,
        glu: &Glu,
        gate: &[T],
        value: &[T],
        dy: &[T],
    ) -> Result<(Vec<T>, Vec<T>)> {
        check_pair(gate.len(), value.len(), Some(dy.len()))?;
        let geo = GluGeometry::pair(gate.len());
        let mut v = self
            .glu_run(glu, &geo, &[gate, value], Some(dy), &[], Axis(0), 2)
            .await?;
        let dv = v.pop().unwrap_or_default();
        let dg = v.pop().unwrap_or_default();
        Ok((dg, dv))
    }

    /// The one-tensor forward along the last axis, rows of `row_len` (even) streamed through the
    /// device a chunk of whole rows at a time (about `opts.chunk_bytes` of input, capped by the
    /// storage-binding limit), so that `x` may be larger than the device's memory: `out` (half of
    /// `x`'s length) receives the results. Chunks run one after another (`opts.depth` and
    /// `opts.upload` are not used: no overlap of transfers and kernels yet). `progress(done,
    /// total)` runs after each chunk (in output elements); [`ControlFlow::Break`] cancels with
    /// [`Error::Cancelled`], every output before `done` written, none after.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let x = vec![1.0f32; 8 * 4096];
    /// let mut y = vec![0.0f32; 8 * 2048];
    /// let opts = StreamOptions::default();
    /// ctx.stream_glu(&Glu::swiglu(), &x, &mut y, 4096, &opts, stream::no_progress)?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn stream_glu<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        out: &mut [T],
        row_len: usize,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        pollster::block_on(self.stream_glu_async(glu, x, out, row_len, opts, progress))
    }

    /// [`Context::stream_glu`] as a future that never blocks a thread.
    pub async fn stream_glu_async<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        out: &mut [T],
        row_len: usize,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        self.stream_glu_io(glu, x, None, out, row_len, opts, progress)
            .await
    }

    /// The one-tensor backward along the last axis, streamed as [`Context::stream_glu`]: `dx`
    /// (`x`'s length) from `x` and `dy` (half of it); progress counts elements of `dx`.
    #[cfg(not(target_arch = "wasm32"))]
    #[allow(clippy::too_many_arguments)]
    pub fn stream_glu_backward<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        dy: &[T],
        dx: &mut [T],
        row_len: usize,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        pollster::block_on(self.stream_glu_backward_async(glu, x, dy, dx, row_len, opts, progress))
    }

    /// [`Context::stream_glu_backward`] as a future that never blocks a thread.
    #[allow(clippy::too_many_arguments)]
    pub async fn stream_glu_backward_async<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        dy: &[T],
        dx: &mut [T],
        row_len: usize,
        opts: &StreamOptions,
        progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        self.stream_glu_io(glu, x, Some(dy), dx, row_len, opts, progress)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn stream_glu_io<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        dy: Option<&[T]>,
        out: &mut [T],
        row_len: usize,
        opts: &StreamOptions,
        mut progress: impl FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<()> {
        let n = x.len();
        if row_len == 0 || !n.is_multiple_of(row_len) {
            return Err(Error::ShapeMismatch(format!(
                "{n} elements are not whole rows of {row_len}"
            )));
        }
        let rows = n / row_len;
        let shape = [rows, row_len];
        let geo = glu_geometry(glu, &shape, Axis(-1))?;
        if let Some(dy) = dy {
            check_len("dy", dy.len(), geo.n_out)?;
        }
        let out_per_row = if dy.is_some() { row_len } else { row_len / 2 };
        check_len("output", out.len(), rows * out_per_row)?;
        if n == 0 {
            return Ok(());
        }
        let es = T::DTYPE.size();
        let row_bytes = row_len as u64 * es;
        let cap = opts.chunk_bytes.min(self.max_binding_bytes()) / row_bytes;
        let chunk_rows = (cap as usize).clamp(1, rows);
        let dtype = T::DTYPE;
        // On GL the buffers are created and dropped under the crate's GL lock (never held across
        // an await).
        let bufs = {
            let _gl = self.gl_guard();
            GlDrop::new(
                (
                    self.create_tensor_of(chunk_rows * row_len, dtype)?,
                    self.create_tensor_of(chunk_rows * row_len / 2, dtype)?,
                    self.create_tensor_of(chunk_rows * out_per_row, dtype)?,
                ),
                self.is_gl(),
            )
        };
        let (xb, dyb, ob) = (&bufs.0, &bufs.1, &bufs.2);
        // Uploads move whole 4-byte words: an odd count of f16s is padded by one.
        let write = |buffer: &wgpu::Buffer, data: &[T]| {
            let bytes: &[u8] = bytemuck::cast_slice(data);
            let mut padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4), 0);
            self.queue().write_buffer(buffer, 0, &padded);
        };
        let total = out.len();
        for first in (0..rows).step_by(chunk_rows) {
            let r = chunk_rows.min(rows - first);
            let (xi, hi) = (
                first * row_len..(first + r) * row_len,
                first * row_len / 2..(first + r) * row_len / 2,
            );
            let oi = first * out_per_row..(first + r) * out_per_row;
            let done = self
                .scoped_async("submit", || {
                    write(xb, &x[xi]);
                    let mut encoder =
                        self.device()
                            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                                label: Some("stream/glu"),
                            });
                    let t = |b, len| Tensor::of(b, 0, len, dtype);
                    let cshape = [r, row_len];
                    match dy {
                        Some(dy) => {
                            write(dyb, &dy[hi.clone()]);
                            self.record_glu_backward(
                                &mut encoder,
                                glu,
                                t(xb, r * row_len),
                                t(dyb, hi.len()),
                                t(ob, oi.len()),
                                &cshape,
                                -1,
                            )?
                        }
                        None => self.record_glu(
                            &mut encoder,
                            glu,
                            t(xb, r * row_len),
                            t(ob, oi.len()),
                            &cshape,
                            -1,
                        )?,
                    }
                    self.submit(encoder)
                })
                .await?;
            done.await?;
            self.check_alive()?;
            let got: Vec<T> = self.read_async(ob, 0, oi.len()).await?;
            out[oi.clone()].copy_from_slice(&got);
            if progress(oi.end, total).is_break() {
                return Err(Error::Cancelled {
                    processed_elements: oi.end,
                });
            }
        }
        Ok(())
    }

    /// Upload `inputs` (and `dy`), run, read back `outputs` results.
    #[allow(clippy::too_many_arguments)]
    async fn glu_run<T: Element>(
        &self,
        glu: &Glu,
        geo: &GluGeometry,
        inputs: &[&[T]],
        dy: Option<&[T]>,
        shape: &[usize],
        axis: Axis,
        outputs: usize,
    ) -> Result<Vec<Vec<T>>> {
        let out_len = if dy.is_some() { geo.n_in } else { geo.n_out };
        if geo.n_out == 0 {
            return Ok(vec![vec![T::zeroed(); out_len]; outputs]);
        }
        let dtype = T::DTYPE;
        // On GL the buffers are dropped under the crate's GL lock (never held across an await).
        let (bufs, done) = self
            .scoped_async("submit", || {
                let ins = inputs
                    .iter()
                    .map(|s| self.upload(s))
                    .collect::<Result<Vec<_>>>()?;
                let dyb = dy.map(|d| self.upload(d)).transpose()?;
                let outs = (0..outputs)
                    .map(|_| self.create_tensor_of(out_len, dtype))
                    .collect::<Result<Vec<_>>>()?;
                let mut encoder = self
                    .device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("glu") });
                let t = |b, n| Tensor::of(b, 0, n, dtype);
                let (n_in, n_out) = (geo.n_in, geo.n_out);
                match (&ins[..], &dyb, &outs[..]) {
                    ([x], None, [y]) => {
                        self.record_glu(&mut encoder, glu, t(x, n_in), t(y, n_out), shape, axis)?
                    }
                    ([x], Some(d), [dx]) => self.record_glu_backward(
                        &mut encoder,
                        glu,
                        t(x, n_in),
                        t(d, n_out),
                        t(dx, n_in),
                        shape,
                        axis,
                    )?,
                    ([a, b], None, [y]) => {
                        self.record_glu_pair(&mut encoder, glu, t(a, n_in), t(b, n_in), t(y, n_in))?
                    }
                    ([a, b], Some(d), [dg, dv]) => self.record_glu_pair_backward(
                        &mut encoder,
                        glu,
                        t(a, n_in),
                        t(b, n_in),
                        t(d, n_in),
                        t(dg, n_in),
                        t(dv, n_in),
                    )?,
                    _ => unreachable!("glu_run's callers pass one or two inputs"), // ok: private, every caller above
                }
                let done = self.submit(encoder)?;
                Ok((GlDrop::new((ins, dyb, outs), self.is_gl()), done))
            })
            .await?;
        done.await?;
        self.check_alive()?;
        let mut res = Vec::with_capacity(outputs);
        for b in &bufs.2 {
            res.push(self.read_async(b, 0, out_len).await?);
        }
        Ok(res)
    }
}
