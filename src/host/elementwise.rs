//! Element-wise ops on host slices: upload, run and read back through the streaming ring. Each
//! call is a future (`*_async`) that never blocks a thread; the blocking call runs it with
//! `pollster`.

use crate::base::dtype::Element;
use crate::base::error::Result;
use crate::gpu::context::Context;
use crate::gpu::tensor::Tensor;
use crate::host::stream::{no_progress, HostIo, StreamOptions};
use crate::ops::activation::Activation;
use crate::ops::Mode;

impl Context {
    /// `mode` over host slices through the streaming ring (default options: chunks of at most
    /// 16 MiB, three in flight, overlapping upload, kernel and readback). `b` is dy for backward.
    async fn run_host<T: Element>(
        &self,
        act: &Activation,
        mode: Mode,
        io: HostIo<'_, T>,
        b: Option<&[T]>,
    ) -> Result<()> {
        self.stream_elementwise(act, mode, io, b, &StreamOptions::default(), no_progress)
            .await
    }

    /// `f(x)` of a host slice of f32 or f16 values on the GPU (f16 computed in f32 and rounded
    /// once).
    ///
    /// ```no_run
    /// use wgpu_activations::{Activation, Context};
    /// let ctx = Context::new()?;
    /// let y = ctx.forward(&Activation::by_name("silu")?, &[-1.0f32, 0.0, 1.0])?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward<T: Element>(&self, act: &Activation, x: &[T]) -> Result<Vec<T>> {
        pollster::block_on(self.forward_async(act, x))
    }

    /// [`Context::forward`] as a future that never blocks a thread: usable from any executor
    /// (tokio's included, without `spawn_blocking`) and on wasm32.
    ///
    /// ```no_run
    /// # async fn demo() -> wgpu_activations::Result<()> {
    /// use wgpu_activations::{Activation, Context};
    /// let ctx = Context::new_async().await?;
    /// let y = ctx.forward_async(&Activation::by_name("silu")?, &[-1.0f32, 0.0, 1.0]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn forward_async<T: Element>(&self, act: &Activation, x: &[T]) -> Result<Vec<T>> {
        let mut out = vec![T::zeroed(); x.len()];
        self.run_host(act, Mode::Forward, HostIo::Separate(x, &mut out), None)
            .await?;
        Ok(out)
    }

    /// `x = f(x)` of a host slice on the GPU.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let mut x = vec![-2.0f32, 0.5, 3.0];
    /// ctx.forward_in_place(&Activation::by_name("relu")?, &mut x)?;
    /// assert_eq!(x, [0.0, 0.5, 3.0]);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_in_place<T: Element>(&self, act: &Activation, x: &mut [T]) -> Result<()> {
        pollster::block_on(self.forward_in_place_async(act, x))
    }

    /// [`Context::forward_in_place`] as a future that never blocks a thread.
    pub async fn forward_in_place_async<T: Element>(
        &self,
        act: &Activation,
        x: &mut [T],
    ) -> Result<()> {
        self.run_host(act, Mode::Forward, HostIo::InPlace(x), None)
            .await
    }

    /// `f'(x)` of a host slice on the GPU.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let d = ctx.derivative(&Activation::by_name("tanh")?, &[0.0f32])?;
    /// assert_eq!(d, [1.0]);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn derivative<T: Element>(&self, act: &Activation, x: &[T]) -> Result<Vec<T>> {
        pollster::block_on(self.derivative_async(act, x))
    }

    /// [`Context::derivative`] as a future that never blocks a thread.
    pub async fn derivative_async<T: Element>(&self, act: &Activation, x: &[T]) -> Result<Vec<T>> {
        let mut out = vec![T::zeroed(); x.len()];
        self.run_host(act, Mode::Derivative, HostIo::Separate(x, &mut out), None)
            .await?;
        Ok(out)
    }

    /// The fused backward `dx = dy · f'(·)` of host slices on the GPU; `saved` is `x`, or `y`
    /// where [`Spec::saved`](crate::Spec::saved) says so.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let sigmoid = Activation::by_name("sigmoid")?; // its backward reads the saved output y
    /// let y = ctx.forward(&sigmoid, &[0.0f32, 2.0])?;
    /// let dx = ctx.backward(&sigmoid, &y, &[1.0, 1.0])?;
    /// assert_eq!(dx[0], 0.25);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn backward<T: Element>(&self, act: &Activation, saved: &[T], dy: &[T]) -> Result<Vec<T>> {
        pollster::block_on(self.backward_async(act, saved, dy))
    }

    /// [`Context::backward`] as a future that never blocks a thread.
    pub async fn backward_async<T: Element>(
        &self,
        act: &Activation,
        saved: &[T],
        dy: &[T],
    ) -> Result<Vec<T>> {
        let mut out = vec![T::zeroed(); saved.len()];
        let io = HostIo::Separate(saved, &mut out);
        self.run_host(act, Mode::Backward, io, Some(dy)).await?;
        Ok(out)
    }

    /// `f(x)` of a caller's buffer range into a new buffer (STORAGE, COPY_SRC, COPY_DST), submitted.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let x = ctx.upload(&[1.0f32, -1.0])?;
    /// let y = ctx.forward_to_new_buffer(&Activation::by_name("silu")?, Tensor::whole(&x))?;
    /// let y: Vec<f32> = ctx.read(&y, 0, 2)?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn forward_to_new_buffer(&self, act: &Activation, x: Tensor) -> Result<wgpu::Buffer> {
        pollster::block_on(self.forward_to_new_buffer_async(act, x))
    }

    /// [`Context::forward_to_new_buffer`] as a future that never blocks a thread.
    pub async fn forward_to_new_buffer_async(
        &self,
        act: &Activation,
        x: Tensor<'_>,
    ) -> Result<wgpu::Buffer> {
        let (out, done) = self
            .scoped_async("submit", || {
                let out = self.create_tensor_of(x.len, x.dtype)?;
                let mut encoder =
                    self.device()
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("wgpu-activations"),
                        });
                self.record_forward(&mut encoder, act, x, Tensor::of(&out, 0, x.len, x.dtype))?;
                let done = self.submit(encoder)?;
                Ok((out, done))
            })
            .await?;
        done.await?;
        self.check_alive()?;
        Ok(out)
    }
}
