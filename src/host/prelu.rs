//! prelu's full backward (input and slope gradients) on host slices.

use crate::base::error::Result;
use crate::gpu::context::Context;
use crate::gpu::tensor::Tensor;
use crate::ops::activation::Activation;

impl Context {
    /// prelu's full backward on host slices: `(dx, d slopes)`.
    pub fn prelu_backward(
        &self,
        act: &Activation,
        x: &[f32],
        dy: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let (c, _) = act.prelu_layout(x.len())?;
        let dx = self.backward(act, x, dy)?;
        let xb = self.upload(x)?;
        let dyb = self.upload(dy)?;
        let out = self.create_tensor::<f32>(c)?;
        let mut encoder = self
            .device()
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
        self.scoped("prelu_backward", || self.submit_and_wait(encoder))?;
        Ok((dx, self.read(&out, 0, c)?))
    }
}
