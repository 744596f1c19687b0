//! The softmax family on host tensors: along the last axis through the streaming ring, along
//! another axis in one piece. Each call is a future (`*_async`) that never blocks a thread; the
//! blocking call runs it with `pollster`.

use crate::base::dtype::Element;
use crate::base::error::Result;
use crate::gpu::context::{Context, GlDrop};
use crate::gpu::tensor::Tensor;
use crate::host::stream::{no_progress, HostIo, StreamOptions};
use crate::ops::softmax::{check_len, geometry, Axis, Softmax};

impl Context {
    /// `f(x)` along `axis` of a host tensor of `shape` (f32, or f16 or bf16 with every reduction in
    /// f32 and the output rounded once), on the GPU (upload, run, read back).
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let logits = [1.0f32, 2.0, 3.0, 1.0, 1.0, 1.0];
    /// let p = ctx.softmax(&Softmax::softmax().with_temperature(0.7), &logits, &[2, 3], 1)?;
    /// assert!((p[3] - 1.0 / 3.0).abs() < 1e-7);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn softmax<T: Element>(
        &self,
        sm: &Softmax,
        x: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        pollster::block_on(self.softmax_async(sm, x, shape, axis))
    }

    /// [`Context::softmax`] as a future that never blocks a thread.
    ///
    /// ```no_run
    /// # async fn demo() -> wgpu_activations::Result<()> {
    /// # use wgpu_activations::*;
    /// let ctx = Context::new_async().await?;
    /// let p = ctx.softmax_async(&Softmax::softmax(), &[1.0f32, 2.0, 3.0], &[3], 0).await?;
    /// # Ok(()) }
    /// ```
    pub async fn softmax_async<T: Element>(
        &self,
        sm: &Softmax,
        x: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        let axis = axis.into().index(sm.kind.name(), shape)?;
        self.softmax_host(sm, x, None, shape, axis).await
    }

    /// `f(x)` along `axis` with an f32 output whatever the input's type, as PyTorch's
    /// `F.softmax(x, dim, dtype=torch.float32)`: an f16 or bf16 `x` is widened exactly and the f32
    /// result is not rounded to 16 bits (a 50,257-wide f16 row's probabilities sum to 1 within a
    /// few f32 ULPs, where rounding each to f16 leaves the sum off by up to 2^-11 · n/2).
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// use wgpu_activations::half::f16;
    /// let ctx = Context::new()?;
    /// let logits = vec![f16::from_f32(0.5); 50_257];
    /// let p: Vec<f32> = ctx.softmax_to_f32(&Softmax::softmax(), &logits, &[1, 50_257], -1)?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn softmax_to_f32<T: Element>(
        &self,
        sm: &Softmax,
        x: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<f32>> {
        pollster::block_on(self.softmax_to_f32_async(sm, x, shape, axis))
    }

    /// [`Context::softmax_to_f32`] as a future that never blocks a thread.
    pub async fn softmax_to_f32_async<T: Element>(
        &self,
        sm: &Softmax,
        x: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<f32>> {
        let axis = axis.into().index(sm.kind.name(), shape)?;
        self.softmax_host(sm, x, None, shape, axis).await
    }

    /// The forward (`dy` absent) or the backward (`x` is the saved output `y`) of host tensors:
    /// along the last axis through the streaming ring, along another in one piece.
    /// The output's type `O` is `T`, or f32 for a forward (streamed only where it is `T`).
    async fn softmax_host<T: Element, O: Element>(
        &self,
        sm: &Softmax,
        x: &[T],
        dy: Option<&[T]>,
        shape: &[usize],
        axis: usize,
    ) -> Result<Vec<O>> {
        sm.validate()?;
        let g = geometry(sm.kind.name(), shape, axis)?;
        let what = if dy.is_some() { "saved output y" } else { "x" };
        check_len(shape, &g, what, x.len())?;
        if let Some(dy) = dy {
            check_len(shape, &g, "dy", dy.len())?;
        }
        if g.n == 0 {
            return Ok(Vec::new());
        }
        let mut out = vec![O::zeroed(); g.n];
        if axis + 1 == shape.len() && O::DTYPE == T::DTYPE {
            // Same dtype, so the same type (the element types are sealed, one per dtype).
            let io = HostIo::Separate(x, bytemuck::cast_slice_mut::<O, T>(&mut out));
            let opts = StreamOptions::default();
            self.stream_softmax_io(sm, io, dy, shape[axis], &opts, no_progress)
                .await?;
            return Ok(out);
        }
        let dtype = T::DTYPE;
        let label = if dy.is_some() {
            "softmax_backward"
        } else {
            "softmax"
        };
        // On GL the buffers are dropped under the crate's GL lock (never held across an await).
        let (buffers, done) = self
            .scoped_async("submit", || {
                let xb = self.upload(x)?;
                let dyb = dy.map(|d| self.upload(d)).transpose()?;
                let ob = self.create_tensor_of(g.n, O::DTYPE)?;
                let mut encoder = self
                    .device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
                let t = |b| Tensor::of(b, 0, g.n, dtype);
                match &dyb {
                    Some(d) => self.record_softmax_backward(
                        &mut encoder,
                        sm,
                        t(&xb),
                        t(d),
                        t(&ob),
                        shape,
                        axis,
                    )?,
                    None => {
                        let y = Tensor::of(&ob, 0, g.n, O::DTYPE);
                        self.record_softmax(&mut encoder, sm, t(&xb), y, shape, axis)?
                    }
                }
                let done = self.submit(encoder)?;
                Ok((GlDrop::new((xb, dyb, ob), self.is_gl()), done))
            })
            .await?;
        done.await?;
        self.check_alive()?;
        self.read_async(&buffers.2, 0, g.n).await
    }

    /// The backward `dx` of `f` along `axis` from host tensors (the saved output `y` and `dy`),
    /// on the GPU.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let sm = Softmax::log_softmax();
    /// let y = ctx.softmax(&sm, &[0.5f32, -0.5], &[2], 0)?;
    /// let dx = ctx.softmax_backward(&sm, &y, &[1.0, 0.0], &[2], 0)?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn softmax_backward<T: Element>(
        &self,
        sm: &Softmax,
        y: &[T],
        dy: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        pollster::block_on(self.softmax_backward_async(sm, y, dy, shape, axis))
    }

    /// [`Context::softmax_backward`] as a future that never blocks a thread.
    pub async fn softmax_backward_async<T: Element>(
        &self,
        sm: &Softmax,
        y: &[T],
        dy: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        let axis = axis.into().index(sm.kind.name(), shape)?;
        self.softmax_host(sm, y, Some(dy), shape, axis).await
    }
}
