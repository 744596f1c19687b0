//! `wgpu-activations apply glu|swiglu|geglu|reglu`: the GLU family on a .npy file, split along
//! `--axis` (default the last), forward or fused backward.

use std::path::PathBuf;

use wgpu_activations::{cpu, glu_output_shape, reference, Context, Glu};

use crate::output::Output;
use crate::{
    narrow, read_npy, same_dtype, shape_text, usage, widen, with_half, write_npy, Device, Failure,
};

/// The `apply` options a GLU op uses.
pub(crate) struct GluRun<'a> {
    pub(crate) op: &'a str,
    pub(crate) input: &'a PathBuf,
    pub(crate) output: &'a PathBuf,
    pub(crate) backward: bool,
    pub(crate) grad: Option<&'a PathBuf>,
    pub(crate) params: &'a [String],
    pub(crate) axis: i64,
    pub(crate) device: Device,
}

/// The GLU ops' help lines under `apply --help` and `ops`.
pub(crate) const GLU_NOTES: &str = "\
GLU family (x split along --axis, default -1, into halves a | b; output: that axis halved):
  glu           a·σ(b)                 (PyTorch's F.glu: gate b, the second half)
  swiglu        silu(a)·b              (gate a, the first half; LLaMA, Mistral)
  geglu         gelu(a)·b              approximate=none | tanh (T5, Gemma)
  reglu         relu(a)·b
  --backward: dx (x's shape: both halves' gradients) from --input x and --grad dy (the output's
  shape).
";

pub(crate) fn run(r: &GluRun) -> Result<(), Failure> {
    let mut g = Glu::by_name(r.op)?;
    for p in r.params {
        let (name, value) = p
            .split_once('=')
            .ok_or_else(|| usage(format!("--param `{p}` is not NAME=VALUE")))?;
        g = g.with_param(name.trim(), value.trim())?;
    }
    let output = Output::check(r.output, "--output", true)?.open()?;
    let x = read_npy(r.input)?;
    let shape: Vec<usize> = x.shape.iter().map(|&d| d as usize).collect();
    let out_shape = glu_output_shape(&g, &shape, r.axis)?;
    let (data, out_dims) = if r.backward {
        let path = r
            .grad
            .ok_or_else(|| usage("--backward needs --grad DY.npy"))?;
        let dy = read_npy(path)?;
        same_dtype(&x, &dy, "--grad")?;
        let dy_shape: Vec<usize> = dy.shape.iter().map(|&d| d as usize).collect();
        if dy_shape != out_shape {
            return Err(usage(format!(
                "shape mismatch: --grad {} has shape {} but {}'s output (dy) has shape {:?}",
                path.display(),
                shape_text(&dy.shape),
                g.name(),
                out_shape
            )));
        }
        let dx = match r.device {
            Device::Gpu if x.dtype.is_half() => with_half!(x.dtype, H => widen(
                &Context::new()?.glu_backward(
                    &g,
                    &narrow::<H>(&x.data),
                    &narrow::<H>(&dy.data),
                    &shape,
                    r.axis,
                )?
            )),
            Device::Gpu => Context::new()?.glu_backward(&g, &x.data, &dy.data, &shape, r.axis)?,
            Device::Cpu => cpu::glu_backward(&g, &x.data, &dy.data, &shape, r.axis)?,
            Device::Reference => reference::glu_backward(&g, &x.data, &dy.data, &shape, r.axis)?,
        };
        (dx, x.shape.clone())
    } else {
        let y = match r.device {
            Device::Gpu if x.dtype.is_half() => with_half!(x.dtype, H => widen(
                &Context::new()?.glu(&g, &narrow::<H>(&x.data), &shape, r.axis)?
            )),
            Device::Gpu => Context::new()?.glu(&g, &x.data, &shape, r.axis)?,
            Device::Cpu => cpu::glu(&g, &x.data, &shape, r.axis)?,
            Device::Reference => reference::glu(&g, &x.data, &shape, r.axis)?,
        };
        (y, out_shape.iter().map(|&d| d as u64).collect())
    };
    output.commit(|w| write_npy(w, &out_dims, &data, x.dtype))
}
