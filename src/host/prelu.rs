//! prelu's full backward (input and slope gradients) on host slices.

use crate::base::error::Result;
use crate::gpu::context::{Context, GlDrop};
use crate::gpu::tensor::Tensor;
use crate::ops::activation::Activation;

impl Context {
    /// prelu's full backward on host slices: `(dx, d slopes)`.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// // [N = 1, C = 2, 2 elements per channel], one slope per channel.
    /// let prelu = Activation::by_name("prelu")?.with_slopes(vec![0.25, 0.5], 2);
    /// let (dx, da) = ctx.prelu_backward(&prelu, &[-1.0, 2.0, -4.0, 1.0], &[1.0; 4])?;
    /// assert_eq!(dx, [0.25, 1.0, 0.5, 1.0]);
    /// assert_eq!(da, [-1.0, -4.0]);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn prelu_backward(
        &self,
        act: &Activation,
        x: &[f32],
        dy: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        pollster::block_on(self.prelu_backward_async(act, x, dy))
    }

    /// [`Context::prelu_backward`] as a future that never blocks a thread.
    pub async fn prelu_backward_async(
        &self,
        act: &Activation,
        x: &[f32],
        dy: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let (c, _) = act.prelu_layout(x.len())?;
        let dx = self.backward_async(act, x, dy).await?;
        // On GL the buffers are dropped under the crate's GL lock (never held across an await).
        let (buffers, done) = self
            .scoped_async("prelu_backward", || {
                let xb = self.upload(x)?;
                let dyb = self.upload(dy)?;
                let out = self.create_tensor::<f32>(c)?;
                let mut encoder =
                    self.device()
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("prelu_backward"),
                        });
                self.record_prelu_slope_grad(
                    &mut encoder,
                    act,
                    Tensor::new(&xb, 0, x.len()),
                    Tensor::new(&dyb, 0, dy.len()),
                    Tensor::new(&out, 0, c),
                )?;
                let done = self.submit(encoder)?;
                Ok((GlDrop::new((xb, dyb, out), self.is_gl()), done))
            })
            .await?;
        done.await?;
        self.check_alive()?;
        Ok((dx, self.read_async(&buffers.2, 0, c).await?))
    }
}
