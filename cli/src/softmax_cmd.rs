//! `wgpu-activations softmax`: the softmax family on a .npy file.

use std::path::PathBuf;

use clap::Args;
use clap::ValueEnum;
use wgpu_activations::{cpu, reference, Context, DType, Softmax, SoftmaxKind};

use crate::output::Output;
use crate::{
    narrow, read_npy, same_dtype, shape_text, usage, widen, with_half, write_npy, Device, Failure,
};

/// The output dtype of the forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutDType {
    /// The input's dtype (float16 in, float16 out).
    Input,
    /// float32 whatever the input (PyTorch's `F.softmax(x, dim, dtype=torch.float32)`): a
    /// float16 or bfloat16 input is widened exactly and the f32 result is not rounded to 16 bits.
    F32,
}

#[derive(Args, Debug)]
pub(crate) struct SoftmaxArgs {
    /// Input x: a float32, float16 or bfloat16 (ml_dtypes' `<V2`) .npy in C order, any shape
    /// (forward).
    #[arg(
        short,
        long,
        value_name = "X.npy",
        required_unless_present = "backward",
        conflicts_with = "backward"
    )]
    input: Option<PathBuf>,

    /// Output: the probabilities (or log-probabilities), or dx with --backward; .npy of the
    /// input's shape and dtype (16 bits in, 16 bits out: reductions in f32, rounded once; see
    /// --out-dtype), or `-` for standard output. Written as `apply --output` is: a regular file only, atomically.
    #[arg(short, long, value_name = "Y.npy", allow_hyphen_values = true)]
    output: PathBuf,

    /// The axis to normalise along; negative counts from the end (default: the last).
    #[arg(long, allow_negative_numbers = true)]
    axis: Option<i64>,

    /// PyTorch's nn.Softmax2d: softmax over the channels of a [N, C, H, W] or [C, H, W] input
    /// (axis -3; other ranks are refused).
    #[arg(long, conflicts_with_all = ["axis", "log", "softmin"])]
    softmax2d: bool,

    /// The forward's output dtype: `input` (default) or `f32` (PyTorch's `dtype=torch.float32`:
    /// a float16 or bfloat16 input gives float32 probabilities, not rounded to 16 bits).
    #[arg(long, value_enum, default_value_t = OutDType::Input, conflicts_with = "backward")]
    out_dtype: OutDType,

    /// log_softmax instead of softmax.
    #[arg(long, conflicts_with = "softmin")]
    log: bool,

    /// softmin (softmax of −x) instead of softmax.
    #[arg(long)]
    softmin: bool,

    /// Divide the logits by T first (x / T); T > 0.
    #[arg(long, value_name = "T", default_value_t = 1.0)]
    temperature: f32,

    /// A row that is entirely −inf (fully masked) gives zeros instead of NaN, as attention code
    /// wants (log_softmax: −inf, so that its backward gives a zero gradient).
    #[arg(long)]
    safe: bool,

    /// The fused backward: dx from the saved forward output (--saved-output) and dy (--grad).
    #[arg(long, requires_all = ["grad", "saved_output"])]
    backward: bool,

    /// dy for --backward: float32 .npy of the same shape.
    #[arg(long, value_name = "DY.npy", requires = "backward")]
    grad: Option<PathBuf>,

    /// The saved forward output y for --backward (as PyTorch's backward reads it).
    #[arg(long, value_name = "Y.npy", requires = "backward")]
    saved_output: Option<PathBuf>,

    /// Where to compute.
    #[arg(long, value_enum, default_value_t = Device::Gpu)]
    device: Device,
}

pub(crate) fn run(args: &SoftmaxArgs) -> Result<(), Failure> {
    let kind = if args.log {
        SoftmaxKind::LogSoftmax
    } else if args.softmin {
        SoftmaxKind::Softmin
    } else {
        SoftmaxKind::Softmax
    };
    let sm = Softmax::new(kind)
        .with_temperature(args.temperature)
        .with_safe(args.safe);
    sm.validate()?;
    // The output: checked, and its temporary file created, before any input is read.
    let output = Output::check(&args.output, "--output", true)?.open()?;

    // The tensor whose shape rules: x forward, y backward.
    let main_path = if args.backward {
        args.saved_output.as_ref()
    } else {
        args.input.as_ref()
    };
    let main_path = main_path.ok_or_else(|| {
        usage("--input X.npy is needed (or --backward with --saved-output and --grad)")
    })?;
    let mut main = read_npy(main_path)?;
    let shape: Vec<usize> = main.shape.iter().map(|&d| d as usize).collect();
    let rank = shape.len() as i64;
    let axis = if args.softmax2d {
        Softmax::softmax2d_axis(&shape).map_err(|_| {
            usage(format!(
                "--softmax2d takes a 3-D [C, H, W] or 4-D [N, C, H, W] input, not the {rank}-D shape {}",
                shape_text(&main.shape)
            ))
        })? as i64
    } else {
        let a = args.axis.unwrap_or(-1);
        let axis = if a < 0 { a + rank } else { a };
        if rank == 0 || axis < 0 || axis >= rank {
            return Err(usage(format!(
                "axis {a} is out of range for the {}-D shape {}",
                rank,
                shape_text(&main.shape)
            )));
        }
        axis
    };
    let axis = axis as usize;
    let out_dtype = match args.out_dtype {
        OutDType::F32 => DType::F32,
        OutDType::Input => main.dtype,
    };

    let out = if args.backward {
        let grad_path = args
            .grad
            .as_ref()
            .ok_or_else(|| usage("--backward needs --grad DY.npy"))?;
        let dy = read_npy(grad_path)?;
        same_dtype(&main, &dy, "--grad")?;
        if dy.shape != main.shape {
            return Err(usage(format!(
                "shape mismatch: --grad {} has shape {} but --saved-output has shape {}",
                grad_path.display(),
                shape_text(&dy.shape),
                shape_text(&main.shape)
            )));
        }
        match args.device {
            Device::Gpu if main.dtype.is_half() => {
                let ctx = Context::new()?;
                with_half!(main.dtype, H => widen(&ctx.softmax_backward(
                    &sm,
                    &narrow::<H>(&main.data),
                    &narrow::<H>(&dy.data),
                    &shape,
                    axis,
                )?))
            }
            Device::Gpu => {
                Context::new()?.softmax_backward(&sm, &main.data, &dy.data, &shape, axis)?
            }
            Device::Cpu => cpu::softmax_backward(&sm, &main.data, &dy.data, &shape, axis)?,
            Device::Reference => {
                reference::softmax_backward_exact(&sm, &main.data, &dy.data, &shape, axis)?
                    .into_iter()
                    .map(|v| v as f32)
                    .collect()
            }
        }
    } else if args.device == Device::Gpu && main.dtype.is_half() && out_dtype == DType::F32 {
        // 16 bits in, f32 out: 16-bit input and f32 output in device memory, in one piece.
        let ctx = Context::new()?;
        with_half!(main.dtype, H => {
            ctx.softmax_to_f32(&sm, &narrow::<H>(&main.data), &shape, axis)?
        })
    } else if args.device == Device::Gpu && axis + 1 == shape.len() {
        // Along the last axis the GPU streams whole rows through the device in place: a file
        // larger than the GPU's memory works and is held in host memory once (16-bit files: as
        // such, beside their f32 widening).
        let ctx = Context::new()?;
        let opts = wgpu_activations::StreamOptions::default();
        let progress = wgpu_activations::stream::no_progress;
        if main.dtype.is_half() {
            with_half!(main.dtype, H => {
                let mut xh = narrow::<H>(&main.data);
                ctx.stream_softmax(&sm, &mut xh, shape[axis], &opts, progress)?;
                widen(&xh)
            })
        } else {
            ctx.stream_softmax(&sm, &mut main.data, shape[axis], &opts, progress)?;
            std::mem::take(&mut main.data)
        }
    } else if args.device == Device::Gpu && main.dtype.is_half() {
        // 16 bits along another axis: 16-bit tensors in device memory, in one piece (not
        // streamed).
        let ctx = Context::new()?;
        with_half!(main.dtype, H => {
            widen(&ctx.softmax(&sm, &narrow::<H>(&main.data), &shape, axis)?)
        })
    } else {
        match args.device {
            Device::Gpu => Context::new()?.softmax(&sm, &main.data, &shape, axis)?,
            Device::Cpu => cpu::softmax(&sm, &main.data, &shape, axis)?,
            Device::Reference => reference::softmax_exact(&sm, &main.data, &shape, axis)?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
        }
    };
    // 16-bit input: 16-bit output (the CPU's and the reference's f32 results rounded once), or
    // f32 with --out-dtype f32 (the CPU's and the reference's f32 results as they are: the CPU
    // path computes a 16-bit input as its exact f32 widening).
    output.commit(|w| write_npy(w, &main.shape, &out, out_dtype))
}
