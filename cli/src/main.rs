//! `wgpu-activations`: the command-line tool of the crate.
//!
//! - `info`: the GPU adapter, its limits and features.
//! - `ops`: every activation with its parameters and PyTorch defaults.
//! - `apply`: forward, derivative or fused backward of one activation over `.npy` files, on the
//!   GPU, the fast CPU path or the exact f64 reference.
//! - `accuracy`: every activation's worst error in ULPs, as the README's table.
//! - `bench`: throughput sweep on the GPU and the CPU path against the copy rooflines
//!   (`bench_cmd.rs`).
//!
//! Every failure is one line on stderr starting with `error:` (control characters escaped, cut at
//! 600 characters); the exit code is 2 for usage and input errors and 1 for runtime (GPU, I/O
//! while writing) errors. Outputs (`output.rs`) are checked before any input is read: only a
//! regular file (or a symbolic link to one, written through) is written, atomically, through a
//! temporary file that no failure or signal leaves behind; `-o -` writes to standard output.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod accuracy_table;
mod bench_cmd;
mod glu_cmd;
mod output;
mod softmax_cmd;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use output::Output;
use wgpu_activations::{cpu, reference, Activation, Context, DType, Element, Mode, OpKind, Saved};

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[derive(Parser, Debug)]
#[command(
    name = "wgpu-activations",
    version,
    about = "Neural-network activation functions on the GPU (wgpu), with a fast CPU path and an exact f64 reference",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Describe the GPU adapter the tool would use: name, backend, driver, limits and features.
    ///
    /// The adapter is chosen as by the library: `WGPU_BACKEND` (vulkan, metal, dx12, gl),
    /// `WGPU_ADAPTER_NAME` (a case-insensitive substring of the adapter's name) and
    /// `WGPU_POWER_PREF` (low, high) are honoured.
    Info,
    /// List every activation with its parameters and their (PyTorch) defaults.
    Ops,
    /// Apply an activation (forward, derivative or fused backward) to a .npy file.
    #[command(after_help = op_list_help(), long_about = apply_long_about())]
    Apply(ApplyArgs),
    /// softmax, log_softmax or softmin along an axis of a .npy file, forward or fused backward.
    Softmax(softmax_cmd::SoftmaxArgs),
    /// Measure every activation's worst error in ULPs against the exact reference, on the GPU and
    /// the CPU path, over the test suite's inputs (hard values, kinks, seeded random values), and
    /// print the README's Markdown table.
    Accuracy(AccuracyArgs),
    /// Sweep the activations over tensor sizes on the GPU and the fast CPU path: kernel,
    /// end-to-end and CPU throughput against the device's copy and a host memcpy, and where
    /// offloading to the GPU starts to pay. Table on stdout; --json and --plot write files.
    #[command(long_about = BENCH_LONG_ABOUT)]
    Bench(bench_cmd::BenchArgs),
}

const BENCH_LONG_ABOUT: &str = "\
Sweep the activations and the softmax family (forward and backward by default) over tensor
sizes, on the GPU and on the fast CPU path, and report for each point:

  GPU kernel    GB/s of the kernel alone (GPU timestamp queries where the adapter has
                TIMESTAMP_QUERY, else the host clock around many dispatches in one submission)
  of copy       that as a fraction of the device's own buffer copy, measured at the same size
  GPU e2e       GB/s of the whole call from host memory: upload, kernel, readback
  CPU           GB/s of the multi-threaded CPU path, and its fraction of an all-core memcpy

and, per op, the smallest size from which the GPU end to end beats the CPU. GB/s counts bytes
moved: 8 per element forward, 12 backward (two reads, one write). Each figure is the median of
--trials trials after a warm-up.

The default sweep (relu, gelu, sigmoid, silu, tanh and softmax; 2^10, 2^14, 2^18 and 2^22
elements) takes under a minute on a 2-core software device; --full sweeps every activation and
the softmax family (softmax over rows of 1024) from 2^10 to 2^26 in steps of 4x. On a software
rasterizer (lavapipe) the GPU figures are the CPU's, emulated: the tool says so.";

#[derive(Args, Debug)]
struct AccuracyArgs {
    /// Seeded random inputs per op, on top of the hard values and kinks (at most 2^24).
    #[arg(long, default_value_t = 1 << 16)]
    random: usize,
    /// Measure the CPU path only (no GPU needed).
    #[arg(long)]
    cpu_only: bool,
}

/// Where `apply` computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Device {
    /// The WGSL kernels on the GPU adapter (see `wgpu-activations info`).
    Gpu,
    /// The fast multi-threaded f32 CPU path (same algorithms and accuracy as the GPU).
    Cpu,
    /// The exact f64 reference, correctly rounded to f32 (slow; the accuracy oracle).
    Reference,
}

#[derive(Args, Debug)]
struct ApplyArgs {
    /// The activation (see the list below, or `wgpu-activations ops`).
    #[arg(value_name = "OP")]
    op: String,

    /// Input: a little-endian float32 (`<f4`), float16 (`<f2`) or bfloat16 (as `ml_dtypes` saves
    /// it: `<V2`) .npy file in C order, any shape
    /// (0-d and empty included). With --backward it is the saved tensor: the forward input x, or the forward
    /// output y for ops that save their output (`ops` lists them as `reads y`).
    #[arg(short, long, value_name = "X.npy")]
    input: PathBuf,

    /// Output .npy (C order, the input's shape and dtype: float16 in, float16 out; bfloat16 in,
    /// bfloat16 out, written as `np.save` writes an `ml_dtypes.bfloat16` array), or `-` for
    /// standard output. A regular file (a symbolic link is written through to its target),
    /// replaced atomically only on success and keeping its permissions; a directory, device,
    /// FIFO, socket or read-only file is refused before anything is computed.
    #[arg(short, long, value_name = "Y.npy", allow_hyphen_values = true)]
    output: PathBuf,

    /// Compute the derivative f'(x) instead of f(x).
    #[arg(long, conflicts_with = "backward")]
    derivative: bool,

    /// Compute the fused backward dx = dy · f'(·); needs --grad. --input is then the saved
    /// tensor (x, or y for the ops `ops` lists as `reads y`).
    #[arg(long, requires = "grad")]
    backward: bool,

    /// The incoming gradient dy for --backward: .npy of exactly the input's shape and dtype.
    #[arg(long, value_name = "DY.npy", requires = "backward")]
    grad: Option<PathBuf>,

    /// Set a parameter, e.g. `--param negative_slope=0.2`; repeat for several. Unset parameters
    /// keep PyTorch's defaults (see `wgpu-activations ops`).
    #[arg(short, long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,

    /// prelu: one slope for every element (default 0.25).
    #[arg(
        long,
        value_name = "A",
        allow_negative_numbers = true,
        conflicts_with = "slopes"
    )]
    slope: Option<f32>,

    /// prelu: the slopes from a float32 .npy with C values (1-D, or 0-d for one slope). With
    /// C > 1 the input needs at least 2 dimensions and shape[1] == C (the channel axis is
    /// dimension 1, as in PyTorch).
    #[arg(long, value_name = "S.npy")]
    slopes: Option<PathBuf>,

    /// rrelu: training mode, one random slope per element drawn from U(lower, upper) by
    /// Philox4x32-10 keyed by --seed and the element's index (identical on GPU and CPU). Needs
    /// --seed. Without it rrelu runs in evaluation mode (slope (lower + upper) / 2).
    #[arg(long, requires = "seed")]
    training: bool,

    /// rrelu --training: the generator's seed. Use the same seed for the forward and the backward
    /// pass to get the same slopes.
    #[arg(long, value_name = "N", requires = "training")]
    seed: Option<u64>,

    /// prelu --backward: also write the gradient with respect to the slopes (one value per
    /// slope: the sum over each channel of x·dy where x ≤ 0) to this float32 .npy (written as
    /// --output is; it must be another file).
    #[arg(
        long,
        value_name = "DA.npy",
        requires = "backward",
        allow_hyphen_values = true
    )]
    slope_grad: Option<PathBuf>,

    /// Where to compute.
    #[arg(long, value_enum, default_value_t = Device::Gpu)]
    device: Device,

    /// GLU family only (glu, swiglu, geglu, reglu): the axis split into halves; negative counts
    /// from the end (default -1, the last, as PyTorch's dim=-1).
    #[arg(long, allow_negative_numbers = true, value_name = "AXIS")]
    axis: Option<i64>,
}

/// `apply --long-help`'s description; the ops that save their output come from the specs.
fn apply_long_about() -> String {
    let saves_y: Vec<&str> = OpKind::ALL
        .iter()
        .filter(|op| op.spec().saved == Saved::Output)
        .map(|op| op.name())
        .collect();
    format!(
        "\
Apply an activation (forward, derivative or fused backward) to a .npy file.

  forward:       y = f(x)
  --derivative:  d = f'(x)
  --backward:   dx = dy · f'(·)   (--input is the saved tensor, --grad is dy)

For --backward the saved tensor is the forward input x, except for the ops that (as in
PyTorch) save their output y: {}. Pass y = f(x) as --input for those.

Inputs must be little-endian float32 ('<f4'), float16 ('<f2') or bfloat16 .npy files in C order;
convert with np.ascontiguousarray(a, dtype='<f4'). bfloat16 files are those np.save writes for an
ml_dtypes.bfloat16 array (descr '<V2': read them back with np.load(f).view(ml_dtypes.bfloat16)).
The output has the input's shape and dtype. float16 and bfloat16 are computed in f32 and rounded
once. On the GPU, forward and derivative stream the file
through the device in chunks (so it may be larger than the GPU's memory); backward runs in one
piece.

Errors are one line on stderr starting with 'error:'. Exit codes: 0 success, 2 usage or input
error, 1 runtime error (no GPU, GPU failure, cannot write the output).",
        saves_y.join(" and ")
    )
}

/// The op list shown under `apply --help`, generated from [`OpKind::ALL`].
fn op_list_help() -> String {
    let mut s = String::from("Activations (name, parameters with PyTorch's defaults):\n");
    for &op in OpKind::ALL {
        let _ = writeln!(s, "  {:<13} {}", op.name(), params_text(op));
    }
    s.push('\n');
    s.push_str(OP_NOTES);
    s.push('\n');
    s.push_str(glu_cmd::GLU_NOTES);
    s.push_str("\nSee `wgpu-activations ops` for formulas and which tensor --backward reads.");
    s
}

/// prelu's and rrelu's options, which are not scalar parameters.
const OP_NOTES: &str = "\
prelu: one slope for every element (default 0.25, or --slope A), or one per channel with
       --slopes S.npy (channels are dimension 1 of the input, as in PyTorch).
rrelu: evaluation mode (slope (lower + upper) / 2) unless --training --seed N, which draws one
       slope per element from U(lower, upper), identically on every device.
";

/// `name=default` for each parameter of `op`.
fn params_text(op: OpKind) -> String {
    let mut parts: Vec<String> = op
        .spec()
        .params
        .iter()
        .map(|p| format!("{}={}", p.name, p.default))
        .collect();
    if op == OpKind::Prelu {
        parts.push("slope=0.25 (--slope, --slopes)".into());
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A failure: a one-line message and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

/// Usage or input error (exit code 2).
pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

/// Runtime error (exit code 1).
fn runtime(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
    }
}

impl From<wgpu_activations::Error> for Failure {
    fn from(e: wgpu_activations::Error) -> Failure {
        use wgpu_activations::Error as E;
        let message = match &e {
            // The generated WGSL is useful in a debugger, not on a terminal line.
            E::ShaderCompile { label, message, .. } => {
                format!("kernel {label} failed to compile: {message}")
            }
            E::UnknownOp(name) => {
                format!("unknown activation `{name}` (`wgpu-activations ops` lists them)")
            }
            other => other.to_string(),
        };
        // Input errors (exit 2): what the user asked for cannot be done on any device. `TooLarge`
        // is an input limit (the tensor exceeds what one buffer or one kernel index can hold).
        let code = match e {
            E::UnknownOp(_)
            | E::BadParameter { .. }
            | E::LengthMismatch { .. }
            | E::ShapeMismatch(_)
            | E::TooLarge { .. }
            | E::BadEnvironment { .. } => 2,
            _ => 1,
        };
        Failure { code, message }
    }
}

/// Collapse a message onto one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The longest error line printed, in characters: beyond, the message is cut (a hostile file's
/// header can make a parser's message arbitrarily long).
const MAX_MESSAGE_CHARS: usize = 600;

/// A message made safe for a terminal: control characters (escape sequences, carriage returns,
/// bells) and the invisible bidirectional-override characters that could reorder what is shown
/// are written as `\u{..}` escapes, and the whole is cut at [`MAX_MESSAGE_CHARS`].
pub(crate) fn terminal_safe(s: &str) -> String {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    let mut out = String::new();
    let total = s.chars().count();
    for (k, c) in s.chars().enumerate() {
        if k >= MAX_MESSAGE_CHARS {
            let _ = write!(out, "... ({} more characters)", total - k);
            break;
        }
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// Set while a panic is expected and caught (parsing a hostile .npy header).
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Even a bug is reported as one `error:` line (exit code 101, Rust's panic code).
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if QUIET_PANICS.with(|q| q.get()) {
            return;
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {}{at}", one_line(&message));
    }));
}

/// Run `f`, turning a panic into `None` without printing anything.
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    QUIET_PANICS.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET_PANICS.with(|q| q.set(false));
    r
}

fn main() -> ExitCode {
    install_panic_hook();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_failure(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_failure(e),
    };
    let result = match cli.command {
        Command::Info => info(),
        Command::Ops => {
            ops();
            Ok(())
        }
        Command::Apply(args) => apply(&args),
        Command::Softmax(args) => softmax_cmd::run(&args),
        Command::Accuracy(args) => accuracy(&args),
        Command::Bench(args) => bench_cmd::bench(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", terminal_safe(&one_line(&f.message)));
            ExitCode::from(f.code)
        }
    }
}

/// Help and version go out as clap prints them; real errors become one line (exit code 2).
fn clap_failure(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(e.exit_code().clamp(0, 255) as u8)
        }
        _ => {
            let text = e.render().to_string();
            // Everything before clap's usage block: the error and its tips.
            let head = text.split("\nUsage:").next().unwrap_or(&text);
            // clap's tips go on their own lines; keep them, after a semicolon.
            let line = one_line(&head.replace("\n  tip:", "\n; tip:")).replace(" ; tip:", "; tip:");
            let line = line.strip_prefix("error:").map(str::trim).unwrap_or(&line);
            eprintln!("error: {} (see --help)", terminal_safe(line));
            ExitCode::from(2)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// info and ops
// ---------------------------------------------------------------------------------------------

fn info() -> Result<(), Failure> {
    let ctx = Context::new()?;
    let mut out = String::new();
    match ctx.adapter_info() {
        Some(i) => {
            let _ = writeln!(out, "adapter:      {}", i.name);
            let _ = writeln!(out, "backend:      {:?}", i.backend);
            let _ = writeln!(out, "device type:  {:?}", i.device_type);
            let _ = writeln!(out, "driver:       {}", i.driver);
            let _ = writeln!(out, "driver info:  {}", i.driver_info);
            let _ = writeln!(out, "vendor/device id: {:#06x}/{:#06x}", i.vendor, i.device);
        }
        None => {
            let _ = writeln!(out, "adapter:      (unknown)");
        }
    }
    let l = ctx.limits();
    let f = ctx.features();
    let _ = writeln!(out, "limits:");
    let _ = writeln!(
        out,
        "  max_buffer_size:                      {}",
        l.max_buffer_size
    );
    let _ = writeln!(
        out,
        "  max_storage_buffer_binding_size:      {}",
        l.max_storage_buffer_binding_size
    );
    let _ = writeln!(
        out,
        "  max_compute_workgroups_per_dimension: {}",
        l.max_compute_workgroups_per_dimension
    );
    let _ = writeln!(
        out,
        "  max_compute_invocations_per_workgroup: {}",
        l.max_compute_invocations_per_workgroup
    );
    let _ = writeln!(
        out,
        "  max_compute_workgroup_storage_size:   {}",
        l.max_compute_workgroup_storage_size
    );
    let _ = writeln!(
        out,
        "  min_storage_buffer_offset_alignment:  {}",
        l.min_storage_buffer_offset_alignment
    );
    match ctx.adapter_info() {
        Some(i) if f.contains(wgpu_activations::wgpu::Features::SUBGROUP) => {
            let _ = writeln!(
                out,
                "  subgroup sizes:                       {}..={}",
                i.subgroup_min_size, i.subgroup_max_size
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  subgroup sizes:                       n/a (SUBGROUP not enabled)"
            );
        }
    }
    let _ = writeln!(out, "features:");
    for (name, flag) in [
        ("SHADER_F16", wgpu_activations::wgpu::Features::SHADER_F16),
        ("SUBGROUP", wgpu_activations::wgpu::Features::SUBGROUP),
        (
            "TIMESTAMP_QUERY",
            wgpu_activations::wgpu::Features::TIMESTAMP_QUERY,
        ),
    ] {
        let _ = writeln!(
            out,
            "  {name:<16} {}",
            if f.contains(flag) { "yes" } else { "no" }
        );
    }
    let _ = writeln!(
        out,
        "  fused fma        {} (probed; without it the kernels build exact products by Dekker's splitting)",
        if ctx.fused_fma() { "yes" } else { "no" }
    );
    let _ = writeln!(
        out,
        "  flushes subnormals {} (probed; results below 2^-126 then come back as 0)",
        if ctx.flushes_subnormals() {
            "yes"
        } else {
            "no"
        }
    );
    if ctx.is_software() {
        let _ = writeln!(
            out,
            "note: this device is a software rasterizer (CPU-emulated); its timings say nothing about a GPU's."
        );
    }
    print_stdout(&out)
}

fn ops() {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<13} {:<32} {:<9} formula",
        "name", "parameters (defaults)", "backward"
    );
    for &op in OpKind::ALL {
        let spec = op.spec();
        let saved = match spec.saved {
            Saved::Input => "reads x",
            Saved::Output => "reads y",
        };
        let _ = writeln!(
            out,
            "{:<13} {:<32} {:<9} {}",
            op.name(),
            params_text(op),
            saved,
            spec.formula
        );
    }
    out.push('\n');
    out.push_str(OP_NOTES);
    out.push('\n');
    out.push_str(glu_cmd::GLU_NOTES);
    let _ = print_stdout(&out);
}

/// Print to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn print_stdout(s: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(s.as_bytes()).and_then(|_| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(runtime(format!("cannot write to stdout: {e}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// apply
// ---------------------------------------------------------------------------------------------

/// Forward or derivative of a host slice in place, streamed through the GPU.
fn stream_elementwise<T: wgpu_activations::Element>(
    ctx: &Context,
    act: &Activation,
    mode: Mode,
    data: &mut [T],
) -> wgpu_activations::Result<()> {
    let opts = wgpu_activations::StreamOptions::default();
    let progress = wgpu_activations::stream::no_progress;
    if mode == Mode::Derivative {
        ctx.stream_derivative(act, data, &opts, progress)
    } else {
        ctx.stream_forward(act, data, &opts, progress)
    }
}

/// A float32, float16 or bfloat16 array read from a .npy file; 16-bit values are held widened to
/// f32 (exact).
pub(crate) struct Array {
    pub(crate) shape: Vec<u64>,
    pub(crate) data: Vec<f32>,
    /// The file's dtype: results are written in it too.
    pub(crate) dtype: DType,
}

/// `$body` with the type alias `$t` naming the host type of the 16-bit `$dtype` (f16 or bf16).
macro_rules! with_half {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            wgpu_activations::DType::BF16 => {
                type $t = wgpu_activations::half::bf16;
                $body
            }
            _ => {
                type $t = wgpu_activations::half::f16;
                $body
            }
        }
    };
}
pub(crate) use with_half;

/// f32 values that are values of `T` (widened) back to `T`, exactly.
pub(crate) fn narrow<T: Element>(v: &[f32]) -> Vec<T> {
    v.iter().map(|&x| T::from_f32(x)).collect()
}

/// Values of `T` widened to f32 (exact).
pub(crate) fn widen<T: Element>(v: &[T]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

/// The numpy name of a dtype.
pub(crate) fn numpy_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
    }
}

/// A second input (dy) must have the dtype of the first.
pub(crate) fn same_dtype(main: &Array, other: &Array, what: &str) -> Result<(), Failure> {
    if main.dtype != other.dtype {
        return Err(usage(format!(
            "dtype mismatch: {what} is {} but the input is {}; they must match",
            numpy_name(other.dtype),
            numpy_name(main.dtype)
        )));
    }
    Ok(())
}

/// Parse `NAME=VALUE`: a number, or one of PyTorch's string options (`approximate=tanh`).
fn parse_param(s: &str) -> Result<(String, String), Failure> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| usage(format!("--param `{s}` is not NAME=VALUE")))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(usage(format!("--param `{s}` has no parameter name")));
    }
    if name != "approximate" && value.trim().parse::<f32>().is_err() {
        return Err(usage(format!(
            "--param {name}: `{}` is not a number",
            value.trim()
        )));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

fn apply(args: &ApplyArgs) -> Result<(), Failure> {
    let mode = if args.backward {
        Mode::Backward
    } else if args.derivative {
        Mode::Derivative
    } else {
        Mode::Forward
    };

    // The GLU family: its own shapes (an axis halved) and gradients.
    if wgpu_activations::Glu::by_name(&args.op).is_ok() {
        if args.derivative
            || args.training
            || args.slope.is_some()
            || args.slopes.is_some()
            || args.slope_grad.is_some()
        {
            return Err(usage(format!(
                "{}: --derivative, --training, --slope, --slopes and --slope-grad do not apply (it takes --axis, --backward --grad, --param approximate for geglu)",
                args.op
            )));
        }
        return glu_cmd::run(&glu_cmd::GluRun {
            op: &args.op,
            input: &args.input,
            output: &args.output,
            backward: args.backward,
            grad: args.grad.as_ref(),
            params: &args.params,
            axis: args.axis.unwrap_or(-1),
            device: args.device,
        });
    }
    if args.axis.is_some() {
        return Err(usage(format!(
            "--axis applies only to the GLU family (glu, swiglu, geglu, reglu), not {}",
            args.op
        )));
    }
    // 1. The activation and its options: all checked before any file is read or GPU touched.
    let op = OpKind::from_name(&args.op)?;
    let settings = args
        .params
        .iter()
        .map(|s| parse_param(s))
        .collect::<Result<Vec<_>, _>>()?;
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut act = Activation::parse_text(op.name(), &settings)?;
    let op = act.op(); // `approximate=tanh` turns gelu into gelu_tanh
    if args.training {
        if op != OpKind::Rrelu {
            return Err(usage(format!(
                "--training applies only to rrelu, not {}",
                op.name()
            )));
        }
        let seed = args
            .seed
            .ok_or_else(|| usage("--training needs --seed N"))?;
        act = act.training(seed);
    }
    if op != OpKind::Prelu && (args.slope.is_some() || args.slopes.is_some()) {
        return Err(usage(format!(
            "--slope and --slopes apply only to prelu, not {}",
            op.name()
        )));
    }
    if mode == Mode::Backward && args.grad.is_none() {
        return Err(usage("--backward needs --grad DY.npy"));
    }
    if op != OpKind::Prelu && args.slope_grad.is_some() {
        return Err(usage(format!(
            "--slope-grad applies only to prelu, not {}",
            op.name()
        )));
    }
    // The outputs: checked, and their temporary files created, before any input is read.
    let output = Output::check(&args.output, "--output", true)?;
    let slope_output = match &args.slope_grad {
        Some(path) => {
            let o = Output::check(path, "--slope-grad", true)?;
            if o.same_as(&output) {
                return Err(usage(format!(
                    "{} and {} name the same file; give each its own",
                    o.describe(),
                    output.describe()
                )));
            }
            Some(o)
        }
        None => None,
    };
    let output = output.open()?;
    let slope_output = slope_output.map(Output::open).transpose()?;

    // 2. The inputs.
    let mut x = read_npy(&args.input)?;
    let dy = match (&args.grad, mode) {
        (Some(path), Mode::Backward) => {
            let dy = read_npy(path)?;
            same_dtype(&x, &dy, "--grad")?;
            if dy.shape != x.shape {
                let saved = match op.spec().saved {
                    Saved::Input => format!("the forward input x of {}", op.name()),
                    Saved::Output => format!("the forward output y of {}", op.name()),
                };
                return Err(usage(format!(
                    "shape mismatch: --grad {} has shape {} but --input {} ({saved}) has shape {}; they must match exactly",
                    path.display(),
                    shape_text(&dy.shape),
                    args.input.display(),
                    shape_text(&x.shape),
                )));
            }
            Some(dy.data)
        }
        _ => None,
    };
    if op == OpKind::Prelu {
        act = prelu_slopes(act, args, &x.shape)?;
    }
    act.validate()?;

    // 3. The computation. Forward and derivative on the GPU stream the data through the device in
    // place, so a file larger than the GPU's memory (or its largest buffer) works and is held in
    // host memory once (16-bit files: as such, beside their f32 widening).
    let out = if args.device == Device::Gpu && mode != Mode::Backward {
        let ctx = Context::new()?;
        if x.dtype.is_half() {
            with_half!(x.dtype, H => {
                let mut xh = narrow::<H>(&x.data);
                stream_elementwise(&ctx, &act, mode, &mut xh)?;
                Some(widen(&xh))
            })
        } else {
            stream_elementwise(&ctx, &act, mode, &mut x.data)?;
            None
        }
    } else if args.device == Device::Gpu && x.dtype.is_half() {
        // 16-bit backward on the GPU: 16-bit tensors in device memory, in one piece (not
        // streamed).
        let dy = dy
            .as_deref()
            .ok_or_else(|| usage("--backward needs --grad DY.npy"))?;
        let ctx = Context::new()?;
        with_half!(x.dtype, H => {
            Some(widen(&ctx.backward(&act, &narrow::<H>(&x.data), &narrow::<H>(dy))?))
        })
    } else {
        let out = compute(args.device, &act, mode, &x.data, dy.as_deref())?;
        if out.len() != x.data.len() {
            return Err(runtime(format!(
                "internal error: {} produced {} values for {} inputs",
                op.name(),
                out.len(),
                x.data.len()
            )));
        }
        Some(out)
    };
    let slope_grad = match (&args.slope_grad, dy.as_deref()) {
        (Some(_), Some(dy)) => Some(match args.device {
            Device::Gpu => Context::new()?.prelu_backward(&act, &x.data, dy)?.1,
            Device::Cpu => cpu::prelu_slope_grad(&act, &x.data, dy)?,
            Device::Reference => reference::prelu_slope_grad(&act, &x.data, dy)?,
        }),
        _ => None,
    };

    // 4. The outputs, atomically.
    if let (Some(pending), Some(grad)) = (slope_output, &slope_grad) {
        pending.commit(|w| write_npy(w, &[grad.len() as u64], grad, DType::F32))?;
    }
    // 16-bit results: the f32 results (CPU, reference) rounded once; the GPU's are 16-bit already.
    let data = out.as_deref().unwrap_or(&x.data);
    output.commit(|w| write_npy(w, &x.shape, data, x.dtype))
}

/// The most seeded random inputs `accuracy` takes per op (some 40 bytes of host memory each).
const MAX_RANDOM: usize = 1 << 24;

fn accuracy(args: &AccuracyArgs) -> Result<(), Failure> {
    if args.random > MAX_RANDOM {
        return Err(usage(format!(
            "--random {}: at most {MAX_RANDOM} random inputs per op",
            args.random
        )));
    }
    let ctx = if args.cpu_only {
        None
    } else {
        Some(Context::new()?)
    };
    if let Some(info) = ctx.as_ref().and_then(|c| c.adapter_info()) {
        println!(
            "GPU: {} ({:?}, {}), CPU: {} threads; {} random inputs per op plus the hard list.\n",
            info.name,
            info.backend,
            info.driver_info,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            args.random
        );
    }
    let mut rows = Vec::new();
    for &op in OpKind::ALL {
        rows.push(wgpu_activations::harness::measure(
            ctx.as_ref(),
            &Activation::new(op),
            args.random,
        )?);
    }
    print!("{}", accuracy_table::markdown_table(&rows));
    Ok(())
}

/// prelu's slopes from --slope or --slopes, checked against the input's shape.
fn prelu_slopes(act: Activation, args: &ApplyArgs, shape: &[u64]) -> Result<Activation, Failure> {
    if let Some(a) = args.slope {
        return Ok(act.with_slopes(vec![a], 1));
    }
    let Some(path) = &args.slopes else {
        return Ok(act);
    };
    let s = read_npy(path)?;
    if s.shape.len() > 1 {
        return Err(usage(format!(
            "--slopes {} has shape {}; it must be 1-D (one slope per channel)",
            path.display(),
            shape_text(&s.shape)
        )));
    }
    let c = s.data.len();
    if c == 0 {
        return Err(usage(format!(
            "--slopes {} holds no values",
            path.display()
        )));
    }
    if c == 1 {
        return Ok(act.with_slopes(s.data, 1));
    }
    if shape.len() < 2 {
        return Err(usage(format!(
            "prelu with {c} slopes needs an input of at least 2 dimensions with the channels in dimension 1, got shape {}",
            shape_text(shape)
        )));
    }
    if shape[1] != c as u64 {
        return Err(usage(format!(
            "prelu has {c} slopes but the input's dimension 1 (channels) is {} (shape {})",
            shape[1],
            shape_text(shape)
        )));
    }
    let inner: u64 = shape[2..].iter().product();
    let inner = usize::try_from(inner.max(1))
        .map_err(|_| usage("the input is too large for this machine"))?;
    Ok(act.with_slopes(s.data, inner))
}

/// Run `mode` on the chosen device.
fn compute(
    device: Device,
    act: &Activation,
    mode: Mode,
    x: &[f32],
    dy: Option<&[f32]>,
) -> Result<Vec<f32>, Failure> {
    let grad = || dy.ok_or_else(|| usage("--backward needs --grad DY.npy"));
    Ok(match device {
        Device::Gpu => {
            let ctx = Context::new()?;
            match mode {
                Mode::Forward => ctx.forward(act, x)?,
                Mode::Derivative => ctx.derivative(act, x)?,
                Mode::Backward => ctx.backward(act, x, grad()?)?,
            }
        }
        Device::Cpu => match mode {
            Mode::Forward => cpu::forward(act, x)?,
            Mode::Derivative => cpu::derivative(act, x)?,
            Mode::Backward => cpu::backward(act, x, grad()?)?,
        },
        Device::Reference => match mode {
            Mode::Forward => reference::forward(act, x),
            Mode::Derivative => reference::derivative(act, x),
            Mode::Backward => reference::backward(act, x, grad()?)?,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// .npy input and output
// ---------------------------------------------------------------------------------------------

pub(crate) fn shape_text(shape: &[u64]) -> String {
    format!(
        "[{}]",
        shape
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The longest .npy header read (the largest a version 1.0 file can have; numpy's own reader
/// stops at 10,000 bytes).
const MAX_HEADER_BYTES: u64 = 65_535;

/// How deeply brackets may nest in a header: a plain dtype in a dict with a shape tuple needs 2.
const MAX_HEADER_DEPTH: usize = 8;

/// Bound what the .npy parser will see: a header of at most [`MAX_HEADER_BYTES`] whose brackets
/// nest at most [`MAX_HEADER_DEPTH`] deep (outside quoted strings). A file that does not start
/// like an .npy is left for the parser to reject.
fn check_header(reader: &mut impl std::io::Read) -> Result<(), String> {
    use std::io::Read as _;
    let mut lead = [0u8; 8];
    if reader.read_exact(&mut lead).is_err() || &lead[..6] != b"\x93NUMPY" {
        return Ok(());
    }
    let len = match lead[6] {
        1 => {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b).map_err(|e| e.to_string())?;
            u16::from_le_bytes(b) as u64
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            reader.read_exact(&mut b).map_err(|e| e.to_string())?;
            u32::from_le_bytes(b) as u64
        }
        _ => return Ok(()),
    };
    if len > MAX_HEADER_BYTES {
        return Err(format!(
            "its header declares {len} bytes (at most {MAX_HEADER_BYTES} are read)"
        ));
    }
    let mut header = Vec::new();
    std::io::Read::read_to_end(&mut reader.take(len), &mut header).map_err(|e| e.to_string())?;
    let (mut depth, mut quote) = (0usize, None);
    for &b in &header {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'[' | b'(' | b'{') => {
                depth += 1;
                if depth > MAX_HEADER_DEPTH {
                    return Err(format!(
                        "its header nests brackets more than {MAX_HEADER_DEPTH} levels deep"
                    ));
                }
            }
            (None, b']' | b')' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Read a little-endian float32, float16 or bfloat16 C-order .npy file. Strict: the data must be
/// exactly as long as the header says. bfloat16 is what `np.save` writes for an
/// `ml_dtypes.bfloat16` array: numpy knows no bfloat16, so the header says `'<V2'` (two raw
/// bytes per element; `|V2` accepted too) and the data are the little-endian bf16 bits.
pub(crate) fn read_npy(path: &Path) -> Result<Array, Failure> {
    use std::io::{Read as _, Seek as _};
    let shown = path.display();
    let cannot = |e: std::io::Error| usage(format!("cannot read {shown}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let file_len = file.metadata().map_err(cannot)?.len();
    let mut reader = std::io::BufReader::new(file);
    // npyz's header parser backtracks exponentially in the nesting depth (24 levels take minutes)
    // and reads a header of any declared length: both are bounded first.
    check_header(&mut reader)
        .map_err(|why| usage(format!("{shown} is not a valid .npy file: {why}")))?;
    reader.seek(std::io::SeekFrom::Start(0)).map_err(cannot)?;
    // npyz multiplies the shape's dimensions unchecked; a hostile header must not crash us.
    let header = quietly(|| npyz::NpyHeader::from_reader(&mut reader))
        .ok_or_else(|| {
            usage(format!(
                "{shown} is not a valid .npy file: its shape overflows"
            ))
        })?
        .map_err(|e| {
            // The parser quotes the header; a hostile one can be arbitrarily long.
            let e = e.to_string();
            let e = match e.char_indices().nth(200) {
                Some((at, _)) => format!("{}...", &e[..at]),
                None => e,
            };
            usage(format!("{shown} is not a valid .npy file: {e}"))
        })?;
    let dtype = header.dtype();
    let float_le = |size| {
        matches!(
            &dtype,
            npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float
                && t.size_field() == size
                && t.endianness() == npyz::Endianness::Little
        )
    };
    let bf16 = matches!(
        &dtype,
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::RawData && t.size_field() == 2
    );
    let dt = if float_le(4) {
        DType::F32
    } else if float_le(2) {
        DType::F16
    } else if bf16 {
        DType::BF16
    } else {
        return Err(usage(format!(
            "{shown} has dtype {}; only little-endian float32 ('<f4'), float16 ('<f2') and bfloat16 (ml_dtypes' '<V2') are supported (convert with a.astype('<f4'))",
            dtype.descr()
        )));
    };
    let half = dt.is_half();
    let es = dt.size();
    let shape = header.shape().to_vec();
    if header.order() == npyz::Order::Fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(usage(format!(
            "{shown} is in Fortran order; only C order is supported (convert with np.ascontiguousarray(a))"
        )));
    }
    let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let data_bytes = elements.and_then(|n| n.checked_mul(es));
    let start = reader.stream_position().map_err(cannot)?;
    let have = file_len.saturating_sub(start);
    match data_bytes {
        Some(want) if want == have => {}
        Some(want) => {
            return Err(usage(format!(
                "{shown} is {}: its shape {} needs {want} bytes of {} data, the file holds {have}",
                if have < want {
                    "truncated"
                } else {
                    "malformed"
                },
                shape_text(&shape),
                numpy_name(dt)
            )))
        }
        None => {
            return Err(usage(format!(
                "{shown} declares an impossibly large shape {}",
                shape_text(&shape)
            )))
        }
    }
    if half {
        let n = usize::try_from(have / 2)
            .map_err(|_| usage(format!("{shown} is too large for this machine")))?;
        let mut bits = Vec::new();
        bits.try_reserve_exact(n).map_err(|_| {
            usage(format!(
                "{shown}: not enough memory for {n} {} values",
                numpy_name(dt)
            ))
        })?;
        bits.resize(n, 0u16);
        reader
            .read_exact(bytemuck::cast_slice_mut(&mut bits[..]))
            .map_err(cannot)?;
        let mut data = Vec::new();
        data.try_reserve_exact(n)
            .map_err(|_| usage(format!("{shown}: not enough memory for {n} float32 values")))?;
        data.extend(bits.iter().map(|&b| {
            let b = u16::from_le(b);
            match dt {
                DType::BF16 => f32::from_bits((b as u32) << 16),
                _ => wgpu_activations::half::f16::from_bits(b).to_f32(),
            }
        }));
        return Ok(Array {
            shape,
            data,
            dtype: dt,
        });
    }
    // Read straight into the floats: a file as large as the host's memory allows is held once.
    let n = usize::try_from(have / 4)
        .map_err(|_| usage(format!("{shown} is too large for this machine")))?;
    let mut data = Vec::new();
    data.try_reserve_exact(n)
        .map_err(|_| usage(format!("{shown}: not enough memory for {n} float32 values")))?;
    data.resize(n, 0.0f32);
    reader
        .read_exact(bytemuck::cast_slice_mut(&mut data[..]))
        .map_err(cannot)?;
    if cfg!(target_endian = "big") {
        for v in &mut data {
            *v = f32::from_bits(u32::from_le(v.to_bits()));
        }
    }
    Ok(Array {
        shape,
        data,
        dtype: dt,
    })
}

/// Write `data` with `shape` as a C-order .npy of `dtype`: float32, or float16 or bfloat16 with
/// each value rounded to nearest even. bfloat16 is written byte for byte as `np.save` writes an
/// `ml_dtypes.bfloat16` array (version 1.0, descr `'<V2'`, the header padded with spaces to a
/// multiple of 64 bytes), so `np.load(f).view(ml_dtypes.bfloat16)` reads it.
pub(crate) fn write_npy(
    out: &mut dyn std::io::Write,
    shape: &[u64],
    data: &[f32],
    dtype: DType,
) -> std::io::Result<()> {
    use npyz::WriterBuilder;
    if dtype == DType::BF16 {
        let dims = match shape {
            [d] => format!("({d},)"),
            _ => format!(
                "({})",
                shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!("{{'descr': '<V2', 'fortran_order': False, 'shape': {dims}, }}");
        // Magic (6), version (2), length (2), the dict, spaces, and a newline: a multiple of 64.
        let total = (10 + header.len() + 1).next_multiple_of(64);
        header.push_str(&" ".repeat(total - 10 - header.len() - 1));
        header.push('\n');
        let len = u16::try_from(header.len()).map_err(std::io::Error::other)?;
        let mut w = std::io::BufWriter::new(out);
        w.write_all(b"\x93NUMPY\x01\x00")?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        let mut bits = vec![wgpu_activations::half::bf16::ZERO; data.len().min(1 << 16)];
        for chunk in data.chunks(1 << 16) {
            let bits = &mut bits[..chunk.len()];
            <wgpu_activations::half::bf16 as Element>::store(chunk, bits);
            for b in bits.iter() {
                w.write_all(&b.to_bits().to_le_bytes())?;
            }
        }
        return w.flush();
    }
    if dtype == DType::F16 {
        let mut writer = npyz::WriteOptions::<wgpu_activations::half::f16>::new()
            .default_dtype()
            .shape(shape)
            .writer(out)
            .begin_nd()?;
        writer.extend(
            data.iter()
                .map(|&v| wgpu_activations::half::f16::from_f32(v)),
        )?;
        writer.finish()
    } else {
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(shape)
            .writer(out)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tensor too large for the device is an input limit: exit code 2, like a bad shape.
    #[test]
    fn too_large_is_an_input_error() {
        let f = Failure::from(wgpu_activations::Error::TooLarge {
            elements: 1 << 40,
            bytes: 1 << 42,
            max: 1 << 31,
        });
        assert_eq!(f.code, 2, "{}", f.message);
        let f = Failure::from(wgpu_activations::Error::NoAdapter("none".into()));
        assert_eq!(f.code, 1, "a missing GPU stays a runtime error");
    }

    /// Control and bidirectional-override characters are escaped; long messages are cut.
    #[test]
    fn messages_are_terminal_safe() {
        assert_eq!(
            terminal_safe("a\u{1b}[31mb\u{7}\u{202e}c"),
            "a\\u{1b}[31mb\\u{7}\\u{202e}c"
        );
        let long = "x".repeat(10_000);
        let cut = terminal_safe(&long);
        assert!(cut.len() < MAX_MESSAGE_CHARS + 40, "{}", cut.len());
        assert!(cut.ends_with("(9400 more characters)"), "{cut}");
    }
}
