//! The GLU family on host slices: upload, run, read back, in one piece.

use crate::base::dtype::Element;
use crate::base::error::Result;
use crate::gpu::context::Context;
use crate::gpu::tensor::Tensor;
use crate::ops::glu::{check_len, glu_geometry, Glu, GluGeometry};
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
    pub fn glu<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        let axis = axis.into();
        let geo = glu_geometry(glu, shape, axis)?;
        check_len("x", x.len(), geo.n_in)?;
        self.glu_run(glu, &geo, &[x], None, shape, axis, 1)
            .map(|mut v| v.remove(0))
    }

    /// The one-tensor backward on the GPU: `dx` (the shape of `x`) from the saved input `x` and
    /// `dy` (the output's shape).
    pub fn glu_backward<T: Element>(
        &self,
        glu: &Glu,
        x: &[T],
        dy: &[T],
        shape: &[usize],
        axis: impl Into<Axis>,
    ) -> Result<Vec<T>> {
        let axis = axis.into();
        let geo = glu_geometry(glu, shape, axis)?;
        check_len("x", x.len(), geo.n_in)?;
        check_len("dy", dy.len(), geo.n_out)?;
        self.glu_run(glu, &geo, &[x], Some(dy), shape, axis, 1)
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
    pub fn glu_pair<T: Element>(&self, glu: &Glu, gate: &[T], value: &[T]) -> Result<Vec<T>> {
        check_len("value", value.len(), gate.len())?;
        let geo = GluGeometry::pair(gate.len());
        self.glu_run(glu, &geo, &[gate, value], None, &[], Axis(0), 1)
            .map(|mut v| v.remove(0))
    }

    /// The two-input backward on the GPU: `(d gate, d value) = (dy·value·f'(gate), dy·f(gate))`.
    pub fn glu_pair_backward<T: Element>(
        &self,
        glu: &Glu,
        gate: &[T],
        value: &[T],
        dy: &[T],
    ) -> Result<(Vec<T>, Vec<T>)> {
        check_len("value", value.len(), gate.len())?;
        check_len("dy", dy.len(), gate.len())?;
        let geo = GluGeometry::pair(gate.len());
        let mut v = self.glu_run(glu, &geo, &[gate, value], Some(dy), &[], Axis(0), 2)?;
        let dv = v.pop().unwrap_or_default();
        let dg = v.pop().unwrap_or_default();
        Ok((dg, dv))
    }

    /// Upload `inputs` (and `dy`), run, read back `outputs` results.
    #[allow(clippy::too_many_arguments)]
    fn glu_run<T: Element>(
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
        // On GL, held until the buffers below are dropped (declared first, dropped last).
        let _gl = self.gl_guard();
        let dtype = T::DTYPE;
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
        self.scoped("submit", || self.submit_and_wait(encoder))?;
        outs.iter().map(|b| self.read(b, 0, out_len)).collect()
    }
}
