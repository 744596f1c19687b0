//! Prepared dispatches and chains: everything an op needs — pipelines, bind groups, uniform
//! blocks, scratch buffers — built once for given buffers and sizes, then recorded every frame
//! into a caller's [`wgpu::CommandEncoder`] or an already-open [`wgpu::ComputePass`] without
//! creating a single wgpu object.
//!
//! Build one with [`Context::prepare_forward`], [`Context::prepare_forward_in_place`],
//! [`Context::prepare_derivative`], [`Context::prepare_backward`],
//! [`Context::prepare_softmax`] or [`Context::prepare_softmax_backward`]; they take the same
//! arguments as the `record_*` calls and check them the same way (the `record_*` calls are
//! themselves a prepare followed by one record).
//!
//! # What fits in an open compute pass
//!
//! Every prepared op is a list of compute dispatches and nothing else: element-wise ops use one or
//! two dispatches per binding-sized piece of the tensor (a vec4 body and a scalar tail), the
//! softmax family one fused dispatch per piece, or, for rows split across workgroups, partials,
//! combine and write dispatches. No op needs a buffer copy, a clear or a pass boundary — wgpu
//! orders the dispatches of one pass that write and read the same buffer with barriers — so every
//! op fits in a caller's open pass ([`Prepared::record_in_pass`]). (prelu's slope gradient,
//! [`Context::record_prelu_slope_grad`], is not preparable.)
//!
//! # Lifetime and replay
//!
//! The bind groups keep the caller's buffers alive, so a prepared op borrows nothing; it binds
//! exactly the byte ranges given at prepare time, and replays exactly the same computation each
//! time (rrelu in training mode draws the same slopes every time: prepare again with a new seed
//! for fresh noise). Recording on a lost device returns [`Error::DeviceLost`]; any other wgpu
//! error surfaces where wgpu reports encoder errors, at `finish()` in the caller's error scopes.
//!
//! A [`Chain`] records several prepared ops into one compute pass (so one encoder and one
//! submission), on intermediate buffers the caller owns or that the chain owns
//! ([`Chain::scratch`]); nothing is read back between the links.

use std::sync::{Arc, Mutex};

use crate::base::error::{Error, Result};
use crate::gpu::context::{Context, GlDrop};

/// One dispatch: its pipeline, its bind group 0 and its workgroup grid.
pub(crate) struct Step {
    pub pipeline: wgpu::ComputePipeline,
    pub group: wgpu::BindGroup,
    pub grid: (u32, u32),
}

/// An op ready to record: built once by a `Context::prepare_*` call, recorded any number of times
/// with no allocation and no pipeline, bind-group or buffer creation.
///
/// ```no_run
/// # use wgpu_activations::*;
/// let ctx = Context::new()?;
/// let (x, y) = (ctx.create_tensor::<f32>(4096)?, ctx.create_tensor::<f32>(4096)?);
/// // Built once: pipeline, bind groups, uniforms.
/// let gelu = ctx.prepare_forward(&Activation::by_name("gelu")?, Tensor::whole(&x), Tensor::whole(&y))?;
/// for _frame in 0..3 {
///     let mut encoder = ctx.device().create_command_encoder(&Default::default());
///     gelu.record(&mut encoder)?; // records only: no new wgpu object
///     ctx.queue().submit([encoder.finish()]);
/// }
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
pub struct Prepared {
    label: String,
    /// The dispatches and the buffers the op owns (its uniform blocks, prelu's slopes, softmax's
    /// scratch: the bind groups keep them alive too; holding them here says whose they are),
    /// dropped under the crate's GL lock on GL.
    steps: GlDrop<(Vec<Step>, Vec<wgpu::Buffer>)>,
    lost: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("label", &self.label)
            .field("dispatches", &self.steps.0.len())
            .finish_non_exhaustive()
    }
}

fn check_alive(lost: &Mutex<Option<String>>) -> Result<()> {
    match lost.lock().ok().and_then(|g| g.clone()) {
        Some(m) => Err(Error::DeviceLost(m)),
        None => Ok(()),
    }
}

impl Prepared {
    pub(crate) fn new(
        ctx: &Context,
        label: String,
        steps: Vec<Step>,
        owned: Vec<wgpu::Buffer>,
    ) -> Prepared {
        Prepared {
            label,
            steps: GlDrop::new((steps, owned), ctx.is_gl()),
            lost: ctx.lost_flag(),
        }
    }

    /// Nothing to do (an empty tensor).
    pub(crate) fn empty(ctx: &Context, label: String) -> Prepared {
        Prepared::new(ctx, label, Vec::new(), Vec::new())
    }

    /// Record the op into `encoder` as one compute pass labelled with the op's name. An empty op
    /// records nothing.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        check_alive(&self.lost)?;
        if self.steps.0.is_empty() {
            return Ok(());
        }
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&self.label),
            timestamp_writes: None,
        });
        self.encode(&mut pass);
        Ok(())
    }

    /// Record the op into a compute pass the caller has open: sets the pipeline and bind group 0
    /// and dispatches, once per step. Afterwards the pass's pipeline and bind group 0 are the
    /// op's: set your own again before your next dispatch.
    pub fn record_in_pass(&self, pass: &mut wgpu::ComputePass<'_>) -> Result<()> {
        check_alive(&self.lost)?;
        self.encode(pass);
        Ok(())
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        for step in &self.steps.0 {
            pass.set_pipeline(&step.pipeline);
            pass.set_bind_group(0, &step.group, &[]);
            pass.dispatch_workgroups(step.grid.0, step.grid.1, 1);
        }
    }

    /// The op's label (`elementwise/gelu/forward`, `softmax/softmax/backward`, …).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// How many dispatches one record makes (0 for an empty tensor).
    pub fn dispatches(&self) -> usize {
        self.steps.0.len()
    }
}

/// Several prepared ops recorded as one compute pass — one encoder, one submission, no readback
/// between them — with the intermediate buffers it owns.
///
/// ```no_run
/// # fn main() -> wgpu_activations::Result<()> {
/// use wgpu_activations::{Activation, Chain, Context, Softmax, Tensor};
/// let ctx = Context::new()?;
/// let (rows, len) = (64, 128);
/// let x = ctx.upload(&vec![0.5f32; rows * len])?;
/// let y = ctx.create_tensor::<f32>(rows * len)?;
/// let mut chain = Chain::new("gelu then softmax");
/// let h = chain.scratch(&ctx, rows * len)?; // owned by the chain, reused by every record
/// let n = rows * len;
/// chain.push(ctx.prepare_forward(&Activation::by_name("gelu")?, Tensor::new(&x, 0, n), Tensor::new(&h, 0, n))?);
/// chain.push(ctx.prepare_softmax(&Softmax::softmax(), Tensor::new(&h, 0, n), Tensor::new(&y, 0, n), &[rows, len], 1)?);
/// let mut encoder = ctx.device().create_command_encoder(&Default::default());
/// chain.record(&mut encoder)?;
/// ctx.queue().submit([encoder.finish()]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Chain {
    label: String,
    links: Vec<Prepared>,
    /// Dropped under the crate's GL lock once a scratch buffer came from a GL context.
    scratch: GlDrop<Vec<wgpu::Buffer>>,
}

impl Chain {
    /// An empty chain; `label` names its compute pass.
    pub fn new(label: &str) -> Chain {
        Chain {
            label: label.to_string(),
            links: Vec::new(),
            scratch: GlDrop::new(Vec::new(), false),
        }
    }

    /// A new intermediate buffer of `len` f32s (usages STORAGE, COPY_SRC, COPY_DST) that the
    /// chain owns and every record reuses. The returned handle refers to the same buffer: bind it
    /// in the links that write and read it, or read it back after a submission.
    pub fn scratch(&mut self, ctx: &Context, len: usize) -> Result<wgpu::Buffer> {
        let buffer = ctx.create_tensor::<f32>(len)?;
        self.scratch.set_gl(ctx.is_gl());
        self.scratch.push(buffer.clone());
        Ok(buffer)
    }

    /// Append a prepared op; it runs after the ones before it.
    pub fn push(&mut self, link: Prepared) -> &mut Chain {
        self.links.push(link);
        self
    }

    /// The prepared ops, in order.
    pub fn links(&self) -> &[Prepared] {
        &self.links
    }

    /// How many dispatches one record makes.
    pub fn dispatches(&self) -> usize {
        self.links.iter().map(Prepared::dispatches).sum()
    }

    /// Record every link into `encoder` as one compute pass. An empty chain records nothing.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        for link in &self.links {
            check_alive(&link.lost)?;
        }
        if self.dispatches() == 0 {
            return Ok(());
        }
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&self.label),
            timestamp_writes: None,
        });
        for link in &self.links {
            link.encode(&mut pass);
        }
        Ok(())
    }

    /// Record every link into a compute pass the caller has open (see
    /// [`Prepared::record_in_pass`]).
    pub fn record_in_pass(&self, pass: &mut wgpu::ComputePass<'_>) -> Result<()> {
        for link in &self.links {
            check_alive(&link.lost)?;
        }
        for link in &self.links {
            link.encode(pass);
        }
        Ok(())
    }
}
