//! `bench`: sweep the activations and the softmax family over tensor sizes on the GPU and the fast CPU path, and say how close each comes to its memory roofline and where
//! offloading to the GPU starts to pay.
//!
//! For every point (op, mode, shape) it measures, in the same run:
//!
//! - the GPU kernel time: GPU timestamp queries around a batch of dispatches when the adapter has
//!   `TIMESTAMP_QUERY`, otherwise the host clock around one submission of many dispatches, minus
//!   the time of an empty submission;
//! - the GPU end-to-end time of the convenient layer (`Context::forward` …): upload, dispatch,
//!   readback into a new host vector;
//! - the fast CPU path's time, into a preallocated output;
//! - for the transcendental ops, the op's naive baseline: its textbook WGSL formula with builtins
//!   in exactly the same dispatch (`Context::prepare_baseline`), so that the price of accuracy
//!   shows (`of naive`);
//! - and, once per size, the device's own `copy_buffer_to_buffer`, the best copy kernel of the
//!   element-wise dispatch shape (vec4; the default grid-stride grid, a one-shot grid and 1024
//!   workgroups tried) and an all-core host memcpy of the input's bytes: the rooflines. A GPU point
//!   is reported as a fraction of the better of the device copy and the copy kernel (`of
//!   roofline`), and of the copy kernel alone (`of copy kernel`: a software rasterizer's device
//!   copy is a host memcpy that no kernel can approach).
//!
//! Each figure is the median of `--trials` trials after a warm-up; a trial repeats a quick
//! operation until it lasts `--min-trial-ms`. Throughput is bytes moved per second: a forward or
//! derivative pass reads and writes 4 bytes per element (8n), a backward pass reads two tensors
//! and writes one (12n), a copy of 4n bytes moves 8n.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use wgpu_activations::half::{bf16, f16};
use wgpu_activations::{
    cpu, harness, wgpu, Activation, Baseline, Context, DType, Element, Glu, Mode, OpKind, Softmax,
    SoftmaxKind, Tensor,
};

use super::output::{self, Output};
use super::{print_stdout, runtime, usage, Failure};

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// The ops of the default (quick) sweep.
const QUICK_OPS: &[OpKind] = &[
    OpKind::Relu,
    OpKind::Gelu,
    OpKind::Sigmoid,
    OpKind::Silu,
    OpKind::Tanh,
];

/// Dispatches (or copies) recorded into one timed submission at most.
const MAX_GPU_REPS: u32 = 256;
/// Host repetitions within one trial at most.
const MAX_HOST_REPS: u32 = 100_000;
/// A measurement whose single repetition takes longer than this runs at most 3 trials.
const SLOW_REP_S: f64 = 1.0;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// The full sweep: every activation and the softmax family, 2^10 to 2^26 elements in steps
    /// of 4x. Slow on a software device; --ops and --sizes still narrow it.
    #[arg(long)]
    full: bool,

    /// Ops to sweep, comma-separated: activations (see `wgpu-activations ops`), softmax,
    /// log_softmax, softmin, or `all`. Default: relu, gelu, sigmoid, silu, tanh and softmax;
    /// every op with --full.
    #[arg(long, value_delimiter = ',', value_name = "OP,...")]
    ops: Vec<String>,

    /// Sizes in elements, comma-separated: 4096, 2^20, 64K, 16M (K and M are 1024 and 1024²).
    /// Default: 2^10, 2^14, 2^18, 2^22; 2^10 to 2^26 in steps of 4x with --full.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    sizes: Vec<String>,

    /// Shapes, comma-separated, dimensions joined by `x` (e.g. 512x1024). Element-wise ops see
    /// only the element count; the softmax family reduces over the last dimension. Measured in
    /// addition to --sizes (instead of the default sizes when --sizes is not given).
    #[arg(long, value_delimiter = ',', value_name = "AxB,...")]
    shapes: Vec<String>,

    /// Modes, comma-separated. Default: forward,backward.
    #[arg(long, value_delimiter = ',', value_enum, value_name = "MODE,...")]
    modes: Vec<ModeArg>,

    /// Element types, comma-separated (f32, f16, bf16). 16-bit tensors move 2 bytes per element
    /// instead of 4; their fraction of the device copy is taken against the same copy (of the f32
    /// tensor's 4 bytes per element) as f32's.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        value_name = "DTYPE,...",
        default_value = "f32"
    )]
    dtypes: Vec<DTypeArg>,

    /// Timed trials per measurement (the median is reported), after a warm-up. Measurements
    /// whose single repetition takes over a second run at most 3.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    trials: u32,

    /// A trial repeats a quick operation until it lasts at least this many milliseconds.
    #[arg(long, default_value_t = 10.0, value_name = "MS")]
    min_trial_ms: f64,

    /// How the GPU kernel time is measured: `timestamps` (GPU timestamp queries; needs the
    /// adapter's TIMESTAMP_QUERY), `host` (host clock around one submission of many dispatches,
    /// minus an empty submission's time), or `auto` (timestamps where available).
    #[arg(long, value_enum, default_value_t = Timing::Auto)]
    kernel_timing: Timing,

    /// Measure the CPU path and host memcpy only (no GPU adapter needed).
    #[arg(long)]
    cpu_only: bool,

    /// Write every point, the adapter and the host as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Draw throughput against size (GPU kernel, GPU end-to-end, CPU, with the device-copy and
    /// host-memcpy rooflines) as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Forward,
    Derivative,
    Backward,
}

impl ModeArg {
    fn mode(self) -> Mode {
        match self {
            ModeArg::Forward => Mode::Forward,
            ModeArg::Derivative => Mode::Derivative,
            ModeArg::Backward => Mode::Backward,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DTypeArg {
    F32,
    F16,
    Bf16,
}

impl DTypeArg {
    fn dtype(self) -> DType {
        match self {
            DTypeArg::F32 => DType::F32,
            DTypeArg::F16 => DType::F16,
            DTypeArg::Bf16 => DType::BF16,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Timing {
    Auto,
    Timestamps,
    Host,
}

/// What one point runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BenchOp {
    /// An element-wise activation with PyTorch's default parameters.
    Act(OpKind),
    /// A softmax-family function (temperature 1) over the last dimension of the point's shape;
    /// a 1-D size `n` is seen as `[n / 1024, 1024]` (`[1, n]` when 1024 does not divide it).
    Softmax(SoftmaxKind),
    /// A GLU-family op split along the last dimension (shaped as the softmax family's points):
    /// the output is half the input.
    Glu(Glu),
}

impl BenchOp {
    fn name(self) -> &'static str {
        match self {
            BenchOp::Act(op) => op.name(),
            BenchOp::Softmax(kind) => kind.name(),
            BenchOp::Glu(g) => g.name(),
        }
    }
    fn family(self) -> &'static str {
        match self {
            BenchOp::Act(_) => "elementwise",
            BenchOp::Softmax(_) => "softmax",
            BenchOp::Glu(_) => "glu",
        }
    }
    /// Whether the op has `mode` (the softmax and GLU families have no separate derivative).
    fn has(self, mode: Mode) -> bool {
        !matches!(
            (self, mode),
            (BenchOp::Softmax(_) | BenchOp::Glu(_), Mode::Derivative)
        )
    }
    /// The shape the op runs on for a sweep shape.
    fn shape(self, shape: &[u64]) -> Vec<u64> {
        match self {
            BenchOp::Act(_) => shape.to_vec(),
            BenchOp::Softmax(_) | BenchOp::Glu(_) if shape.len() >= 2 => shape.to_vec(),
            BenchOp::Softmax(_) | BenchOp::Glu(_) => {
                let n = elements(shape);
                let cols = if n >= 1024 && n.is_multiple_of(1024) {
                    1024
                } else {
                    n
                };
                vec![n / cols, cols]
            }
        }
    }
    /// Bytes a pass moves over `n` elements of `dtype`.
    fn bytes(self, mode: Mode, n: usize, dtype: DType) -> u64 {
        if let BenchOp::Glu(_) = self {
            // Forward: x in, half out; backward: x and dy (half) in, dx out.
            let halves = if mode == Mode::Backward { 5 } else { 3 };
            return halves * dtype.size() * n as u64 / 2;
        }
        let tensors = match mode {
            Mode::Forward | Mode::Derivative => 2,
            Mode::Backward => 3,
        };
        tensors * dtype.size() * n as u64
    }
}

/// The sweep, resolved from the arguments.
struct Plan {
    ops: Vec<BenchOp>,
    shapes: Vec<Vec<u64>>,
    modes: Vec<Mode>,
    dtypes: Vec<DType>,
    trials: u32,
    min_trial_s: f64,
}

fn parse_ops(args: &BenchArgs) -> Result<Vec<BenchOp>, Failure> {
    let names: Vec<&str> = args
        .ops
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        let ops = if args.full { OpKind::ALL } else { QUICK_OPS };
        let mut ops: Vec<BenchOp> = ops.iter().map(|&op| BenchOp::Act(op)).collect();
        if args.full {
            ops.extend(SoftmaxKind::ALL.iter().map(|&k| BenchOp::Softmax(k)));
            ops.extend(Glu::ALL.iter().map(|&g| BenchOp::Glu(g)));
        } else {
            ops.push(BenchOp::Softmax(SoftmaxKind::Softmax));
        }
        return Ok(ops);
    }
    let mut ops = Vec::new();
    for name in names {
        if name == "all" {
            ops.extend(OpKind::ALL.iter().map(|&op| BenchOp::Act(op)));
            ops.extend(SoftmaxKind::ALL.iter().map(|&k| BenchOp::Softmax(k)));
            ops.extend(Glu::ALL.iter().map(|&g| BenchOp::Glu(g)));
            continue;
        }
        if let Ok(g) = Glu::by_name(name) {
            ops.push(BenchOp::Glu(g));
            continue;
        }
        if let Ok(kind) = SoftmaxKind::from_name(name) {
            ops.push(BenchOp::Softmax(kind));
            continue;
        }
        let op = OpKind::from_name(name).map_err(|_| {
            usage(format!(
                "--ops: unknown op `{name}` (see `wgpu-activations ops`; also softmax, log_softmax, softmin, or `all`)"
            ))
        })?;
        ops.push(BenchOp::Act(op));
    }
    let mut seen = Vec::new();
    ops.retain(|op| {
        let new = !seen.contains(op);
        seen.push(*op);
        new
    });
    Ok(ops)
}

/// `4096`, `2^20`, `64K`, `16M`.
fn parse_size(s: &str) -> Result<u64, Failure> {
    let t = s.trim();
    let bad = || {
        usage(format!(
            "--sizes: `{t}` is not a size (examples: 4096, 2^20, 64K, 16M)"
        ))
    };
    let n = if let Some((b, e)) = t.split_once('^') {
        let b: u64 = b.trim().parse().map_err(|_| bad())?;
        let e: u32 = e.trim().parse().map_err(|_| bad())?;
        b.checked_pow(e).ok_or_else(bad)?
    } else if let Some(k) = t.strip_suffix(['K', 'k']) {
        k.trim()
            .parse::<u64>()
            .map_err(|_| bad())?
            .checked_mul(1 << 10)
            .ok_or_else(bad)?
    } else if let Some(m) = t.strip_suffix(['M', 'm']) {
        m.trim()
            .parse::<u64>()
            .map_err(|_| bad())?
            .checked_mul(1 << 20)
            .ok_or_else(bad)?
    } else {
        t.parse().map_err(|_| bad())?
    };
    check_elements(n, t)?;
    Ok(n)
}

fn check_elements(n: u64, shown: &str) -> Result<(), Failure> {
    if n == 0 {
        return Err(usage(format!("size `{shown}` holds no elements")));
    }
    if n > u32::MAX as u64 {
        return Err(usage(format!(
            "size `{shown}` is {n} elements; at most {} are supported",
            u32::MAX
        )));
    }
    Ok(())
}

/// `512x1024`.
fn parse_shape(s: &str) -> Result<Vec<u64>, Failure> {
    let t = s.trim();
    let dims = t
        .split(['x', 'X'])
        .map(|d| d.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            usage(format!(
                "--shapes: `{t}` is not a shape (example: 512x1024)"
            ))
        })?;
    let n = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .unwrap_or(u64::MAX);
    check_elements(n, t)?;
    Ok(dims)
}

fn plan(args: &BenchArgs) -> Result<Plan, Failure> {
    let ops = parse_ops(args)?;
    let mut shapes: Vec<Vec<u64>> = Vec::new();
    for s in args.sizes.iter().filter(|s| !s.trim().is_empty()) {
        shapes.push(vec![parse_size(s)?]);
    }
    for s in args.shapes.iter().filter(|s| !s.trim().is_empty()) {
        shapes.push(parse_shape(s)?);
    }
    if args.sizes.is_empty() && args.shapes.is_empty() {
        let exps: Vec<u32> = if args.full {
            (10..=26).step_by(2).collect()
        } else {
            vec![10, 14, 18, 22]
        };
        shapes = exps.into_iter().map(|e| vec![1u64 << e]).collect();
    }
    if shapes.is_empty() {
        return Err(usage(
            "no sizes to measure: give --sizes or --shapes values",
        ));
    }
    shapes.sort_by_key(|s| (elements(s), s.clone()));
    shapes.dedup();
    let mut modes: Vec<Mode> = args.modes.iter().map(|m| m.mode()).collect();
    if modes.is_empty() {
        modes = vec![Mode::Forward, Mode::Backward];
    }
    modes.sort_by_key(|m| Mode::ALL.iter().position(|a| a == m));
    modes.dedup();
    let mut dtypes: Vec<DType> = args.dtypes.iter().map(|d| d.dtype()).collect();
    dtypes.dedup();
    if dtypes.is_empty() {
        dtypes.push(DType::F32);
    }
    if !(args.min_trial_ms.is_finite() && args.min_trial_ms >= 0.0) {
        return Err(usage("--min-trial-ms must be a non-negative number"));
    }
    Ok(Plan {
        ops,
        shapes,
        modes,
        dtypes,
        trials: args.trials,
        min_trial_s: args.min_trial_ms / 1e3,
    })
}

fn elements(shape: &[u64]) -> u64 {
    shape.iter().product()
}

/// The --json and --plot outputs, checked (and their temporary files created) before measuring.
fn open_outputs(
    args: &BenchArgs,
) -> Result<(Option<output::Pending>, Option<output::Pending>), Failure> {
    let json = args
        .json
        .as_ref()
        .map(|p| Output::check(p, "--json", false))
        .transpose()?;
    let plot = args
        .plot
        .as_ref()
        .map(|p| Output::check(p, "--plot", false))
        .transpose()?;
    if let (Some(j), Some(p)) = (&json, &plot) {
        if j.same_as(p) {
            return Err(usage(format!(
                "{} and {} name the same file; give each its own",
                j.describe(),
                p.describe()
            )));
        }
    }
    Ok((
        json.map(Output::open).transpose()?,
        plot.map(Output::open).transpose()?,
    ))
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct Report {
    tool: String,
    adapter: Option<AdapterJson>,
    host: HostJson,
    /// "timestamps" or "host"; null with --cpu-only.
    kernel_timing: Option<&'static str>,
    /// The empty submission's time subtracted from host-timed batches (seconds).
    submit_overhead_s: Option<f64>,
    trials: u32,
    min_trial_ms: f64,
    bytes_moved: &'static str,
    points: Vec<Point>,
    offload: Vec<Offload>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct AdapterJson {
    name: String,
    backend: String,
    device_type: String,
    driver: String,
    driver_info: String,
    software: bool,
}

#[derive(Serialize)]
struct HostJson {
    cpu_model: String,
    threads: usize,
    os: &'static str,
    arch: &'static str,
}

#[derive(Serialize, Clone)]
struct Point {
    op: &'static str,
    family: &'static str,
    mode: &'static str,
    dtype: &'static str,
    shape: Vec<u64>,
    elements: u64,
    bytes_moved: u64,
    gpu_kernel_s: Option<f64>,
    gpu_e2e_s: Option<f64>,
    cpu_s: f64,
    device_copy_s: Option<f64>,
    host_memcpy_s: f64,
    gpu_kernel_gbps: Option<f64>,
    gpu_e2e_gbps: Option<f64>,
    cpu_gbps: f64,
    device_copy_gbps: Option<f64>,
    host_memcpy_gbps: f64,
    gpu_fraction_of_copy: Option<f64>,
    /// The best copy kernel of the element-wise kernels' dispatch shape (workgroup caps tried:
    /// the default grid-stride grid, a one-shot grid, 1024 groups), 8 bytes per element.
    copy_kernel_gbps: Option<f64>,
    /// The better of the device copy and the best copy kernel: the GPU's roofline.
    roofline_gbps: Option<f64>,
    gpu_fraction_of_roofline: Option<f64>,
    /// Against the best copy kernel alone (where the device copy is a host memcpy, as on a
    /// software rasterizer, the roofline above is out of any kernel's reach).
    gpu_fraction_of_copy_kernel: Option<f64>,
    /// The op's textbook formula with WGSL builtins in the same dispatch (transcendental ops).
    naive_kernel_gbps: Option<f64>,
    gpu_fraction_of_naive: Option<f64>,
    cpu_fraction_of_memcpy: f64,
    /// Dispatches per timed submission.
    gpu_kernel_reps: Option<u32>,
}

#[derive(Serialize)]
struct Offload {
    op: &'static str,
    mode: &'static str,
    dtype: &'static str,
    /// The smallest measured size from which the GPU end to end (upload, kernel, readback) beats
    /// the CPU path at that and every larger measured size; null where it never does.
    gpu_e2e_beats_cpu_from: Option<u64>,
}

fn gbps(bytes: u64, s: f64) -> f64 {
    bytes as f64 / s / 1e9
}

fn host_json() -> HostJson {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH));
    HostJson {
        cpu_model: model,
        threads: rayon::current_num_threads(),
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    }
}

// ---------------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Seconds per call of `f`: one warm-up call, one timed call to choose the repetitions per trial,
/// then the median of the trials.
fn time_host(plan: &Plan, mut f: impl FnMut() -> Result<(), Failure>) -> Result<f64, Failure> {
    f()?;
    let t = Instant::now();
    f()?;
    let one = t.elapsed().as_secs_f64();
    let reps = reps_for(one, plan.min_trial_s, MAX_HOST_REPS);
    let trials = if one > SLOW_REP_S {
        plan.trials.min(3)
    } else {
        plan.trials
    };
    let mut samples = Vec::with_capacity(trials as usize);
    for _ in 0..trials {
        let t = Instant::now();
        for _ in 0..reps {
            f()?;
        }
        samples.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(median(samples))
}

fn reps_for(one: f64, min_trial_s: f64, max: u32) -> u32 {
    if one <= 0.0 {
        return max;
    }
    ((min_trial_s / one).ceil() as u32).clamp(1, max)
}

/// GPU timestamp queries: two slots, resolved and read back after each batch.
struct Timestamps {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    /// Nanoseconds per timestamp tick.
    period_ns: f64,
}

/// Times batches of GPU work recorded by a closure.
struct GpuTimer<'a> {
    ctx: &'a Context,
    ts: Option<Timestamps>,
    /// Seconds of an empty submit-and-wait, subtracted from host-timed batches.
    overhead_s: f64,
}

type Recorder<'r> = dyn FnMut(&mut wgpu::CommandEncoder) -> Result<(), Failure> + 'r;

impl<'a> GpuTimer<'a> {
    fn new(ctx: &'a Context, timing: Timing) -> Result<GpuTimer<'a>, Failure> {
        // A zero period would make every kernel look instantaneous: treat it as no timestamps.
        let has = ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY)
            && ctx.queue().get_timestamp_period() > 0.0;
        let use_ts = match timing {
            Timing::Host => false,
            Timing::Auto => has,
            Timing::Timestamps if has => true,
            Timing::Timestamps => return Err(runtime(
                "--kernel-timing timestamps: the adapter lacks TIMESTAMP_QUERY (use host or auto)",
            )),
        };
        let device = ctx.device();
        let ts = use_ts.then(|| Timestamps {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("bench timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("bench timestamps resolve"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            period_ns: ctx.queue().get_timestamp_period() as f64,
        });
        let mut timer = GpuTimer {
            ctx,
            ts,
            overhead_s: 0.0,
        };
        // The empty submission's cost (only subtracted when timing on the host).
        let mut samples = Vec::new();
        for _ in 0..15 {
            let enc = device.create_command_encoder(&Default::default());
            let t = Instant::now();
            timer.submit_wait(enc)?;
            samples.push(t.elapsed().as_secs_f64());
        }
        timer.overhead_s = median(samples[3..].to_vec());
        Ok(timer)
    }

    fn method(&self) -> &'static str {
        if self.ts.is_some() {
            "timestamps"
        } else {
            "host"
        }
    }

    fn submit_wait(&self, enc: wgpu::CommandEncoder) -> Result<(), Failure> {
        let index = self.ctx.queue().submit([enc.finish()]);
        self.ctx
            .device()
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| runtime(format!("GPU wait failed: {e}")))?;
        Ok(())
    }

    /// Seconds `reps` recordings take on the GPU, all in one submission.
    fn batch(&self, reps: u32, record: &mut Recorder) -> Result<f64, Failure> {
        let device = self.ctx.device();
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = self.batch_inner(reps, record);
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = v.or(o) {
            return Err(runtime(format!("GPU error while timing: {e}")));
        }
        result
    }

    fn batch_inner(&self, reps: u32, record: &mut Recorder) -> Result<f64, Failure> {
        let device = self.ctx.device();
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("bench"),
        });
        let Some(ts) = &self.ts else {
            for _ in 0..reps {
                record(&mut enc)?;
            }
            let t = Instant::now();
            self.submit_wait(enc)?;
            return Ok((t.elapsed().as_secs_f64() - self.overhead_s).max(1e-9));
        };
        // Empty passes whose timestamps bracket the work (the library's recorders open their
        // own passes, so the timestamps cannot go on those).
        let mark = |enc: &mut wgpu::CommandEncoder, begin: Option<u32>, end: Option<u32>| {
            let _ = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bench timestamp"),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &ts.set,
                    beginning_of_pass_write_index: begin,
                    end_of_pass_write_index: end,
                }),
            });
        };
        mark(&mut enc, Some(0), None);
        for _ in 0..reps {
            record(&mut enc)?;
        }
        mark(&mut enc, None, Some(1));
        enc.resolve_query_set(&ts.set, 0..2, &ts.resolve, 0);
        self.submit_wait(enc)?;
        // The two u64 ticks, read back as four 32-bit words (bits only: no float arithmetic).
        let w: Vec<u64> = self
            .ctx
            .read::<f32>(&ts.resolve, 0, 4)
            .map_err(|e| runtime(format!("cannot read the GPU timestamps: {e}")))?
            .iter()
            .map(|v| u64::from(v.to_bits()))
            .collect();
        let ticks = (w[3] << 32 | w[2]).saturating_sub(w[1] << 32 | w[0]);
        Ok((ticks as f64 * ts.period_ns * 1e-9).max(1e-9))
    }

    /// Seconds per recording: a warm-up batch (compiles the pipelines), one batch to choose the
    /// repetitions, then the median of the trials. Returns the repetitions too.
    fn measure(&self, plan: &Plan, record: &mut Recorder) -> Result<(f64, u32), Failure> {
        self.batch(1, record)?;
        let one = self.batch(1, record)?;
        let reps = reps_for(one, plan.min_trial_s, MAX_GPU_REPS);
        let trials = if one > SLOW_REP_S {
            plan.trials.min(3)
        } else {
            plan.trials
        };
        let mut samples = Vec::with_capacity(trials as usize);
        for _ in 0..trials {
            samples.push(self.batch(reps, record)? / reps as f64);
        }
        Ok((median(samples), reps))
    }
}

// ---------------------------------------------------------------------------------------------
// The operations measured
// ---------------------------------------------------------------------------------------------

/// The data of one size: host inputs and output, and (with a GPU) their device buffers.
struct Buffers {
    x: Vec<f32>,
    dy: Vec<f32>,
    out: Vec<f32>,
    /// `x` and `dy` rounded to f16 (empty unless f16 is swept).
    xh: Vec<f16>,
    dyh: Vec<f16>,
    outh: Vec<f16>,
    /// `x` and `dy` rounded to bf16 (empty unless bf16 is swept).
    xb: Vec<bf16>,
    dyb: Vec<bf16>,
    outb: Vec<bf16>,
    gpu: Option<GpuBuffers>,
}

/// Device tensors of one dtype.
struct GpuTensors {
    x: wgpu::Buffer,
    dy: wgpu::Buffer,
    out: wgpu::Buffer,
}

struct GpuBuffers {
    f32: GpuTensors,
    f16: Option<GpuTensors>,
    bf16: Option<GpuTensors>,
    /// The device copy's destination (f32).
    copy: wgpu::Buffer,
}

fn record_op(
    ctx: &Context,
    enc: &mut wgpu::CommandEncoder,
    op: BenchOp,
    mode: Mode,
    g: &GpuTensors,
    shape: &[usize],
    dtype: DType,
) -> Result<(), Failure> {
    let n = shape.iter().product();
    let t = |b| Tensor::of(b, 0, n, dtype);
    match op {
        BenchOp::Softmax(kind) => {
            let sm = Softmax::new(kind);
            let axis = shape.len() - 1;
            match mode {
                Mode::Backward => ctx.record_softmax_backward(
                    enc,
                    &sm,
                    t(&g.x),
                    t(&g.dy),
                    t(&g.out),
                    shape,
                    axis,
                )?,
                _ => ctx.record_softmax(enc, &sm, t(&g.x), t(&g.out), shape, axis)?,
            }
        }
        BenchOp::Glu(glu) => {
            let half = |b| Tensor::of(b, 0, n / 2, dtype);
            match mode {
                Mode::Backward => {
                    ctx.record_glu_backward(enc, &glu, t(&g.x), half(&g.dy), t(&g.out), shape, -1)?
                }
                _ => ctx.record_glu(enc, &glu, t(&g.x), half(&g.out), shape, -1)?,
            }
        }
        BenchOp::Act(kind) => {
            let act = Activation::new(kind);
            match mode {
                Mode::Forward => ctx.record_forward(enc, &act, t(&g.x), t(&g.out))?,
                Mode::Derivative => ctx.record_derivative(enc, &act, t(&g.x), t(&g.out))?,
                Mode::Backward => ctx.record_backward(enc, &act, t(&g.x), t(&g.dy), t(&g.out))?,
            }
        }
    }
    Ok(())
}

fn e2e_op(
    ctx: &Context,
    op: BenchOp,
    mode: Mode,
    b: &Buffers,
    shape: &[usize],
    dtype: DType,
) -> Result<(), Failure> {
    match dtype {
        DType::F16 => return e2e_half(ctx, op, mode, &b.xh, &b.dyh, shape),
        DType::BF16 => return e2e_half(ctx, op, mode, &b.xb, &b.dyb, shape),
        DType::F32 => {}
    }
    let out = match op {
        BenchOp::Softmax(kind) => {
            let sm = Softmax::new(kind);
            let axis = shape.len() - 1;
            match mode {
                Mode::Backward => ctx.softmax_backward(&sm, &b.x, &b.dy, shape, axis)?,
                _ => ctx.softmax(&sm, &b.x, shape, axis)?,
            }
        }
        BenchOp::Glu(g) => match mode {
            Mode::Backward => ctx.glu_backward(&g, &b.x, &b.dy[..b.x.len() / 2], shape, -1)?,
            _ => ctx.glu(&g, &b.x, shape, -1)?,
        },
        BenchOp::Act(kind) => {
            let act = Activation::new(kind);
            match mode {
                Mode::Forward => ctx.forward(&act, &b.x)?,
                Mode::Derivative => ctx.derivative(&act, &b.x)?,
                Mode::Backward => ctx.backward(&act, &b.x, &b.dy)?,
            }
        }
    };
    std::hint::black_box(out);
    Ok(())
}

/// The convenient layer on 16-bit host slices.
fn e2e_half<T: Element>(
    ctx: &Context,
    op: BenchOp,
    mode: Mode,
    x: &[T],
    dy: &[T],
    shape: &[usize],
) -> Result<(), Failure> {
    let out = match op {
        BenchOp::Softmax(kind) => {
            let sm = Softmax::new(kind);
            let axis = shape.len() - 1;
            match mode {
                Mode::Backward => ctx.softmax_backward(&sm, x, dy, shape, axis)?,
                _ => ctx.softmax(&sm, x, shape, axis)?,
            }
        }
        BenchOp::Glu(g) => match mode {
            Mode::Backward => ctx.glu_backward(&g, x, &dy[..x.len() / 2], shape, -1)?,
            _ => ctx.glu(&g, x, shape, -1)?,
        },
        BenchOp::Act(kind) => {
            let act = Activation::new(kind);
            match mode {
                Mode::Forward => ctx.forward(&act, x)?,
                Mode::Derivative => ctx.derivative(&act, x)?,
                Mode::Backward => ctx.backward(&act, x, dy)?,
            }
        }
    };
    std::hint::black_box(out);
    Ok(())
}

/// The CPU path on 16-bit slices, into a preallocated output.
fn cpu_op_half<T: Element>(
    op: BenchOp,
    mode: Mode,
    shape: &[usize],
    x: &[T],
    dy: &[T],
    out: &mut [T],
) -> Result<(), Failure> {
    match op {
        BenchOp::Softmax(kind) => {
            let sm = Softmax::new(kind);
            let axis = shape.len() - 1;
            match mode {
                Mode::Backward => cpu::softmax_backward_into(&sm, x, dy, shape, axis, out)?,
                _ => cpu::softmax_into(&sm, x, shape, axis, out)?,
            }
        }
        // The CPU GLU calls allocate their result (no `_into` form yet).
        BenchOp::Glu(g) => {
            let r = match mode {
                Mode::Backward => cpu::glu_backward(&g, x, &dy[..x.len() / 2], shape, -1)?,
                _ => cpu::glu(&g, x, shape, -1)?,
            };
            out[..r.len()].copy_from_slice(&r);
        }
        BenchOp::Act(kind) => {
            let act = Activation::new(kind);
            match mode {
                Mode::Forward => cpu::forward_into(&act, x, out)?,
                Mode::Derivative => cpu::derivative_into(&act, x, out)?,
                Mode::Backward => cpu::backward_into(&act, x, dy, out)?,
            }
        }
    }
    std::hint::black_box(out);
    Ok(())
}

fn cpu_op(
    op: BenchOp,
    mode: Mode,
    shape: &[usize],
    x: &[f32],
    dy: &[f32],
    out: &mut [f32],
) -> Result<(), Failure> {
    match op {
        BenchOp::Softmax(kind) => {
            let sm = Softmax::new(kind);
            let axis = shape.len() - 1;
            match mode {
                Mode::Backward => cpu::softmax_backward_into(&sm, x, dy, shape, axis, out)?,
                _ => cpu::softmax_into(&sm, x, shape, axis, out)?,
            }
        }
        // The CPU GLU calls allocate their result (no `_into` form yet).
        BenchOp::Glu(g) => {
            let r = match mode {
                Mode::Backward => cpu::glu_backward(&g, x, &dy[..x.len() / 2], shape, -1)?,
                _ => cpu::glu(&g, x, shape, -1)?,
            };
            out[..r.len()].copy_from_slice(&r);
        }
        BenchOp::Act(kind) => {
            let act = Activation::new(kind);
            match mode {
                Mode::Forward => cpu::forward_into(&act, x, out)?,
                Mode::Derivative => cpu::derivative_into(&act, x, out)?,
                Mode::Backward => cpu::backward_into(&act, x, dy, out)?,
            }
        }
    }
    std::hint::black_box(out);
    Ok(())
}

fn host_memcpy(src: &[f32], dst: &mut [f32]) {
    dst.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

pub(crate) fn bench(args: &BenchArgs) -> Result<(), Failure> {
    let plan = plan(args)?;
    let (json_out, plot_out) = open_outputs(args)?;
    let ctx = if args.cpu_only {
        None
    } else {
        Some(Context::new()?)
    };
    if let Some(ctx) = &ctx {
        let max = ctx.limits().max_buffer_size;
        if let Some(big) = plan.shapes.iter().find(|s| elements(s) * 4 > max) {
            return Err(usage(format!(
                "size {} ({} bytes) exceeds the adapter's max_buffer_size ({max} bytes)",
                size_label(big),
                elements(big) * 4
            )));
        }
    }
    let timer = ctx
        .as_ref()
        .map(|c| GpuTimer::new(c, args.kernel_timing))
        .transpose()?;
    let adapter = ctx
        .as_ref()
        .and_then(|c| c.adapter_info())
        .map(|i| AdapterJson {
            name: i.name.clone(),
            backend: format!("{:?}", i.backend),
            device_type: format!("{:?}", i.device_type),
            driver: i.driver.clone(),
            driver_info: i.driver_info.clone(),
            software: i.device_type == wgpu::DeviceType::Cpu,
        });
    let host = host_json();
    let mut notes = Vec::new();
    if let Some(a) = adapter.as_ref().filter(|a| a.software) {
        notes.push(format!(
            "{} is a software rasterizer: the \"GPU\" is emulated on this machine's CPU, sharing its cores and memory with the CPU path; its figures are not a GPU's",
            a.name
        ));
    }
    let header = header_text(&adapter, &host, timer.as_ref(), &plan, &notes);
    let _ = print_stdout(&header);

    let per_size = 1 + plan.dtypes.len()
        * plan
            .ops
            .iter()
            .map(|op| plan.modes.iter().filter(|&&m| op.has(m)).count())
            .sum::<usize>();
    let pb = ProgressBar::with_draw_target(
        Some((plan.shapes.len() * per_size) as u64),
        ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:32} {pos}/{len} {msg}")
    {
        pb.set_style(style);
    }
    let started = Instant::now();
    let result = sweep(&plan, ctx.as_ref(), timer.as_ref(), &pb);
    pb.finish_and_clear();
    let points = result?;
    let elapsed = started.elapsed().as_secs_f64();

    let offload = offload(&plan, &points, ctx.is_some());
    let mut out = table_text(&points, ctx.is_some());
    out.push_str(&rooflines_text(&points, ctx.is_some()));
    out.push_str(&summary_text(&points, &offload, ctx.is_some()));
    let _ = writeln!(out, "\n{} points in {elapsed:.1} s.", points.len());
    for n in &notes {
        let _ = writeln!(out, "warning: {n}.");
    }

    let report = Report {
        tool: format!("wgpu-activations {}", env!("CARGO_PKG_VERSION")),
        adapter,
        host,
        kernel_timing: timer.as_ref().map(GpuTimer::method),
        submit_overhead_s: timer.as_ref().map(|t| t.overhead_s),
        trials: plan.trials,
        min_trial_ms: plan.min_trial_s * 1e3,
        bytes_moved: "forward and derivative 8 bytes per element (read x, write y), backward 12 (read saved and dy, write dx); device copy and host memcpy copy 4 bytes per element (8 moved)",
        points,
        offload,
        notes,
    };
    if let (Some(path), Some(pending)) = (&args.json, json_out) {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| runtime(format!("cannot encode the JSON report: {e}")))?;
        pending.commit(|w| w.write_all((text + "\n").as_bytes()))?;
        let _ = writeln!(out, "wrote {}", path.display());
    }
    if let (Some(path), Some(pending)) = (&args.plot, plot_out) {
        let svg = plot_svg(&report, &plan)?;
        pending.commit(|w| w.write_all(svg.as_bytes()))?;
        let _ = writeln!(out, "wrote {}", path.display());
    }
    print_stdout(&out)
}

fn sweep(
    plan: &Plan,
    ctx: Option<&Context>,
    timer: Option<&GpuTimer>,
    pb: &ProgressBar,
) -> Result<Vec<Point>, Failure> {
    let mut points = Vec::new();
    for shape in &plan.shapes {
        let n = elements(shape) as usize;
        let label = size_label(shape);
        pb.set_message(format!("{label}: inputs and rooflines"));
        let x: Vec<f32> = harness::random_inputs(1, n)
            .into_iter()
            .map(|v| v.clamp(-30.0, 30.0))
            .collect();
        let dy = harness::gradients(n);
        let half = plan.dtypes.contains(&DType::F16);
        let brain = plan.dtypes.contains(&DType::BF16);
        fn narrow<T: Element>(on: bool, v: &[f32]) -> Vec<T> {
            if on {
                v.iter().map(|&x| T::from_f32(x)).collect()
            } else {
                Vec::new()
            }
        }
        let (xh, dyh) = (narrow::<f16>(half, &x), narrow::<f16>(half, &dy));
        let (xb, dyb) = (narrow::<bf16>(brain, &x), narrow::<bf16>(brain, &dy));
        let gpu = match ctx {
            Some(ctx) => Some(GpuBuffers {
                f32: GpuTensors {
                    x: ctx.upload(&x)?,
                    dy: ctx.upload(&dy)?,
                    out: ctx.create_tensor::<f32>(n)?,
                },
                f16: if half {
                    Some(GpuTensors {
                        x: ctx.upload(&xh)?,
                        dy: ctx.upload(&dyh)?,
                        out: ctx.create_tensor::<f16>(n)?,
                    })
                } else {
                    None
                },
                bf16: if brain {
                    Some(GpuTensors {
                        x: ctx.upload(&xb)?,
                        dy: ctx.upload(&dyb)?,
                        out: ctx.create_tensor::<bf16>(n)?,
                    })
                } else {
                    None
                },
                copy: ctx.create_tensor::<f32>(n)?,
            }),
            None => None,
        };
        let mut b = Buffers {
            x,
            dy,
            out: vec![0.0; n],
            outh: vec![f16::ZERO; if half { n } else { 0 }],
            xh,
            dyh,
            outb: vec![bf16::ZERO; if brain { n } else { 0 }],
            xb,
            dyb,
            gpu,
        };

        // The rooflines: the device's own copy and an all-core host memcpy of 4n bytes.
        let device_copy_s = match (timer, &b.gpu) {
            (Some(timer), Some(g)) => Some(
                timer
                    .measure(plan, &mut |enc: &mut wgpu::CommandEncoder| {
                        enc.copy_buffer_to_buffer(&g.f32.x, 0, &g.copy, 0, 4 * n as u64);
                        Ok(())
                    })?
                    .0,
            ),
            _ => None,
        };
        // The best copy kernel of the element-wise dispatch shape: the same template, vec4, with a
        // few workgroup caps (the device's default grid-stride grid, a one-shot grid, and 1024).
        let copy_kernel_s = match (ctx, timer, &b.gpu) {
            (Some(ctx), Some(timer), Some(g)) => {
                let mut best = f64::INFINITY;
                for cap in [None, Some(u32::MAX), Some(1024)] {
                    let copy = ctx.prepare_baseline(
                        Baseline::Copy,
                        &Activation::relu(),
                        Mode::Forward,
                        Tensor::whole(&g.f32.x),
                        None,
                        Tensor::whole(&g.f32.out),
                        cap,
                    )?;
                    let (s, _) = timer.measure(plan, &mut |enc: &mut wgpu::CommandEncoder| {
                        Ok(copy.record(enc)?)
                    })?;
                    best = best.min(s);
                }
                Some(best)
            }
            _ => None,
        };
        let host_memcpy_s = {
            let (x, out) = (&b.x, &mut b.out);
            time_host(plan, || {
                host_memcpy(x, out);
                std::hint::black_box(&*out);
                Ok(())
            })?
        };
        pb.inc(1);

        for &op in &plan.ops {
            let op_shape = op.shape(shape);
            let dims: Vec<usize> = op_shape.iter().map(|&d| d as usize).collect();
            for &mode in plan.modes.iter().filter(|&&m| op.has(m)) {
                for &dtype in &plan.dtypes {
                    let dname = if dtype == DType::F32 {
                        String::new()
                    } else {
                        format!(" {}", dtype.name())
                    };
                    pb.set_message(format!("{label}: {} {}{dname}", op.name(), mode.name()));
                    let tensors = b.gpu.as_ref().and_then(|g| match dtype {
                        DType::F32 => Some(&g.f32),
                        DType::F16 => g.f16.as_ref(),
                        DType::BF16 => g.bf16.as_ref(),
                    });
                    // The naive baseline of a transcendental op, in the same dispatch.
                    let naive_s = match (ctx, timer, tensors, op) {
                        (Some(ctx), Some(timer), Some(g), BenchOp::Act(kind))
                            if Baseline::has_naive(kind) =>
                        {
                            let t = |b| Tensor::of(b, 0, n, dtype);
                            let naive = ctx.prepare_baseline(
                                Baseline::Naive,
                                &Activation::new(kind),
                                mode,
                                t(&g.x),
                                Some(t(&g.dy)),
                                t(&g.out),
                                None,
                            )?;
                            let (s, _) = timer
                                .measure(plan, &mut |enc: &mut wgpu::CommandEncoder| {
                                    Ok(naive.record(enc)?)
                                })?;
                            Some(s)
                        }
                        _ => None,
                    };
                    let (gpu_kernel, gpu_e2e) = match (ctx, timer, tensors) {
                        (Some(ctx), Some(timer), Some(g)) => {
                            let (k, reps) =
                                timer.measure(plan, &mut |enc: &mut wgpu::CommandEncoder| {
                                    record_op(ctx, enc, op, mode, g, &dims, dtype)
                                })?;
                            let e = time_host(plan, || e2e_op(ctx, op, mode, &b, &dims, dtype))?;
                            (Some((k, reps)), Some(e))
                        }
                        _ => (None, None),
                    };
                    let cpu_s = {
                        let (x, dy, out) = (&b.x, &b.dy, &mut b.out);
                        let (xh, dyh, outh) = (&b.xh, &b.dyh, &mut b.outh);
                        let (xb, dyb, outb) = (&b.xb, &b.dyb, &mut b.outb);
                        time_host(plan, || match dtype {
                            DType::F32 => cpu_op(op, mode, &dims, x, dy, out),
                            DType::F16 => cpu_op_half(op, mode, &dims, xh, dyh, outh),
                            DType::BF16 => cpu_op_half(op, mode, &dims, xb, dyb, outb),
                        })?
                    };
                    let bytes = op.bytes(mode, n, dtype);
                    let kernel_gbps = gpu_kernel.map(|(k, _)| gbps(bytes, k));
                    let copy_gbps = device_copy_s.map(|s| gbps(8 * n as u64, s));
                    let copy_kernel_gbps = copy_kernel_s.map(|s| gbps(8 * n as u64, s));
                    let roofline_gbps = match (copy_gbps, copy_kernel_gbps) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    let naive_gbps = naive_s.map(|s| gbps(bytes, s));
                    let cpu_gbps = gbps(bytes, cpu_s);
                    let memcpy_gbps = gbps(8 * n as u64, host_memcpy_s);
                    points.push(Point {
                        op: op.name(),
                        family: op.family(),
                        mode: mode.name(),
                        dtype: dtype.name(),
                        shape: op_shape.clone(),
                        elements: n as u64,
                        bytes_moved: bytes,
                        gpu_kernel_s: gpu_kernel.map(|(k, _)| k),
                        gpu_e2e_s: gpu_e2e,
                        cpu_s,
                        device_copy_s,
                        host_memcpy_s,
                        gpu_kernel_gbps: kernel_gbps,
                        gpu_e2e_gbps: gpu_e2e.map(|s| gbps(bytes, s)),
                        cpu_gbps,
                        device_copy_gbps: copy_gbps,
                        host_memcpy_gbps: memcpy_gbps,
                        gpu_fraction_of_copy: kernel_gbps.zip(copy_gbps).map(|(k, c)| k / c),
                        copy_kernel_gbps,
                        roofline_gbps,
                        gpu_fraction_of_roofline: kernel_gbps
                            .zip(roofline_gbps)
                            .map(|(k, r)| k / r),
                        gpu_fraction_of_copy_kernel: kernel_gbps
                            .zip(copy_kernel_gbps)
                            .map(|(k, c)| k / c),
                        naive_kernel_gbps: naive_gbps,
                        gpu_fraction_of_naive: kernel_gbps.zip(naive_gbps).map(|(k, v)| k / v),
                        cpu_fraction_of_memcpy: cpu_gbps / memcpy_gbps,
                        gpu_kernel_reps: gpu_kernel.map(|(_, r)| r),
                    });
                    if pb.is_hidden() {
                        // No terminal for the bar (a log, a CI job): one line per point as it lands,
                        // so a run cut short still shows what it measured.
                        let show = |v: Option<f64>| v.map_or("-".into(), |g| format!("{g:.3}"));
                        eprintln!(
                        "[{}/{}] {label} {} {}{dname}: GPU kernel {} GB/s, e2e {} GB/s, CPU {cpu_gbps:.3} GB/s ({:.1} s elapsed)",
                        pb.position() + 1,
                        pb.length().unwrap_or(0),
                        op.name(),
                        mode.name(),
                        show(kernel_gbps),
                        show(gpu_e2e.map(|s| gbps(bytes, s))),
                        pb.elapsed().as_secs_f64()
                    );
                    }
                    pb.inc(1);
                }
            }
        }
    }
    Ok(points)
}

/// Per (op, mode): the smallest size from which the GPU end to end beats the CPU path at every
/// larger measured size.
fn offload(plan: &Plan, points: &[Point], gpu: bool) -> Vec<Offload> {
    if !gpu {
        return Vec::new();
    }
    let mut v = Vec::new();
    for &op in &plan.ops {
        for (&mode, &dtype) in plan
            .modes
            .iter()
            .filter(|&&m| op.has(m))
            .flat_map(|m| plan.dtypes.iter().map(move |d| (m, d)))
        {
            let mut pts: Vec<&Point> = points
                .iter()
                .filter(|p| p.op == op.name() && p.mode == mode.name() && p.dtype == dtype.name())
                .collect();
            pts.sort_by_key(|p| p.elements);
            let mut from = None;
            for p in pts.iter().rev() {
                match p.gpu_e2e_s {
                    Some(e) if e < p.cpu_s => from = Some(p.elements),
                    _ => break,
                }
            }
            v.push(Offload {
                op: op.name(),
                mode: mode.name(),
                dtype: dtype.name(),
                gpu_e2e_beats_cpu_from: from,
            });
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

fn size_label(shape: &[u64]) -> String {
    let n = elements(shape);
    let count = if n.is_power_of_two() {
        format!("2^{}", n.trailing_zeros())
    } else {
        n.to_string()
    };
    if shape.len() > 1 {
        let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
        format!("{} ({count})", dims.join("x"))
    } else {
        count
    }
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), num)
}

fn pct(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "-".into(), |v| format!("{:.0}%", 100.0 * v))
}

fn header_text(
    adapter: &Option<AdapterJson>,
    host: &HostJson,
    timer: Option<&GpuTimer>,
    plan: &Plan,
    notes: &[String],
) -> String {
    let mut s = String::new();
    match adapter {
        Some(a) => {
            let _ = writeln!(
                s,
                "adapter: {} ({}, {}; driver {}, {}){}",
                a.name,
                a.backend,
                a.device_type,
                a.driver,
                a.driver_info,
                if a.software {
                    " - SOFTWARE RASTERIZER, NOT A GPU"
                } else {
                    ""
                }
            );
        }
        None => {
            let _ = writeln!(s, "adapter: none (--cpu-only)");
        }
    }
    let _ = writeln!(
        s,
        "host:    {}, {} threads ({} {})",
        host.cpu_model, host.threads, host.os, host.arch
    );
    if let Some(t) = timer {
        let how = if t.ts.is_some() {
            "GPU timestamp queries around a batch of dispatches".to_string()
        } else {
            format!(
                "host clock around one submission of many dispatches, minus an empty submission ({:.1} us)",
                t.overhead_s * 1e6
            )
        };
        let _ = writeln!(s, "kernel timing: {how}");
    }
    let _ = writeln!(
        s,
        "sweep:   {} ops x {} modes x {} sizes x {}; median of {} trials (each at least {} ms) after a warm-up",
        plan.ops.len(),
        plan.modes.len(),
        plan.shapes.len(),
        plan.dtypes.iter().map(|d| d.name()).collect::<Vec<_>>().join(", "),
        plan.trials,
        plan.min_trial_s * 1e3
    );
    let _ = writeln!(
        s,
        "GB/s = bytes moved per second: forward/derivative 8 B/element (f16, bf16: 4), backward 12 (f16, bf16: 6); copies 8."
    );
    for n in notes {
        let _ = writeln!(s, "warning: {n}.");
    }
    s.push('\n');
    s
}

/// Whether any point is not f32: the tables then get a dtype column.
fn mixed(points: &[Point]) -> bool {
    points.iter().any(|p| p.dtype != "f32")
}

/// The leading cells of a row: op, mode, (dtype,) size.
fn lead(p: &Point, dtype: bool) -> Vec<String> {
    let mut r = vec![p.op.to_string(), p.mode.to_string()];
    if dtype {
        r.push(p.dtype.to_string());
    }
    r.push(size_label(&p.shape));
    r
}

/// Header cells: op, mode, (dtype,) size, the measurements, then `last` (GPU runs only).
fn head(dtype: bool, gpu: bool, last: &str) -> Vec<String> {
    let mut r = vec!["op", "mode"];
    if dtype {
        r.push("dtype");
    }
    r.push("size");
    if gpu {
        r.extend([
            "GPU kernel GB/s",
            "of roofline",
            "of copy kernel",
            "of naive",
            "GPU e2e GB/s",
            "CPU GB/s",
            "of host memcpy",
            last,
        ]);
    } else {
        r.extend(["CPU GB/s", "of host memcpy"]);
    }
    r.into_iter().map(String::from).collect()
}

/// A row: op, mode, (dtype,) size, the measurements, then `last` (GPU runs only).
fn row(p: &Point, dtype: bool, gpu: bool, last: impl FnOnce() -> String) -> Vec<String> {
    let mut r = lead(p, dtype);
    if gpu {
        r.extend([
            opt(p.gpu_kernel_gbps),
            pct(p.gpu_fraction_of_roofline),
            pct(p.gpu_fraction_of_copy_kernel),
            pct(p.gpu_fraction_of_naive),
            opt(p.gpu_e2e_gbps),
            num(p.cpu_gbps),
            pct(Some(p.cpu_fraction_of_memcpy)),
            last(),
        ]);
    } else {
        r.extend([num(p.cpu_gbps), pct(Some(p.cpu_fraction_of_memcpy))]);
    }
    r
}

/// The Markdown table of every point.
fn table_text(points: &[Point], gpu: bool) -> String {
    let dt = mixed(points);
    let mut rows = vec![head(dt, gpu, "e2e winner")];
    for p in points {
        rows.push(row(p, dt, gpu, || {
            match p.gpu_e2e_s {
                Some(e) if e < p.cpu_s => "GPU",
                Some(_) => "CPU",
                None => "-",
            }
            .to_string()
        }));
    }
    markdown(&rows, 3 + dt as usize)
}

/// The rooflines measured at each size.
fn rooflines_text(points: &[Point], gpu: bool) -> String {
    let mut rows: Vec<Vec<String>> = vec![if gpu {
        vec![
            "size".into(),
            "device copy GB/s".into(),
            "copy kernel GB/s".into(),
            "host memcpy GB/s".into(),
        ]
    } else {
        vec!["size".into(), "host memcpy GB/s".into()]
    }];
    let mut seen: Vec<u64> = Vec::new();
    for p in points {
        if seen.contains(&p.elements) {
            continue;
        }
        seen.push(p.elements);
        let mut r = vec![size_label(&[p.elements])];
        if gpu {
            r.push(opt(p.device_copy_gbps));
            r.push(opt(p.copy_kernel_gbps));
        }
        r.push(num(p.host_memcpy_gbps));
        rows.push(r);
    }
    format!(
        "\nRooflines (copies of 4 bytes per element, 8 moved; the GPU's roofline is the better of the\ndevice copy and the best copy kernel of the element-wise dispatch shape):\n\n{}",
        markdown(&rows, 1)
    )
}

/// One row per (op, mode) at its largest measured size, with where offloading starts to pay.
fn summary_text(points: &[Point], offload: &[Offload], gpu: bool) -> String {
    let dt = mixed(points);
    let mut rows = vec![head(dt, gpu, "GPU e2e beats CPU from")];
    let mut seen: Vec<(&str, &str, &str)> = Vec::new();
    for p in points {
        if seen.contains(&(p.op, p.mode, p.dtype)) {
            continue;
        }
        seen.push((p.op, p.mode, p.dtype));
        let Some(p) = points
            .iter()
            .filter(|q| q.op == p.op && q.mode == p.mode && q.dtype == p.dtype)
            .max_by_key(|q| q.elements)
        else {
            continue;
        };
        rows.push(row(p, dt, gpu, || {
            offload
                .iter()
                .find(|o| o.op == p.op && o.mode == p.mode && o.dtype == p.dtype)
                .and_then(|o| o.gpu_e2e_beats_cpu_from)
                .map_or_else(|| "never".to_string(), |n| size_label(&[n]))
        }));
    }
    let mut s = String::from("\nSummary: each op at its largest size");
    if gpu {
        s.push_str(
            "; the last column is the smallest size from which the GPU end to end (upload and \
             readback included) beats the CPU path at every larger size measured",
        );
    }
    s.push_str(":\n\n");
    s.push_str(&markdown(&rows, 3 + dt as usize));
    s
}

/// A Markdown table with padded columns; the first `left` columns are left-aligned.
fn markdown(rows: &[Vec<String>], left: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
                .max(3)
        })
        .collect();
    let mut s = String::new();
    for (k, r) in rows.iter().enumerate() {
        s.push('|');
        for (c, w) in width.iter().enumerate() {
            let cell = r.get(c).map_or("", String::as_str);
            if c < left {
                let _ = write!(s, " {cell:<w$} |");
            } else {
                let _ = write!(s, " {cell:>w$} |");
            }
        }
        s.push('\n');
        if k == 0 {
            s.push('|');
            for (c, w) in width.iter().enumerate() {
                if c < left {
                    let _ = write!(s, " {} |", "-".repeat(*w));
                } else {
                    let _ = write!(s, " {}: |", "-".repeat(w - 1));
                }
            }
            s.push('\n');
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The plot
// ---------------------------------------------------------------------------------------------

fn plot_svg(report: &Report, plan: &Plan) -> Result<String, Failure> {
    use plotters::prelude::*;
    let fail = |e: &dyn std::fmt::Display| runtime(format!("cannot draw the plot: {e}"));
    const KERNEL: RGBColor = RGBColor(31, 119, 180);
    const E2E: RGBColor = RGBColor(255, 127, 14);
    const CPU: RGBColor = RGBColor(44, 160, 44);
    const COPY: RGBColor = RGBColor(20, 60, 140);
    const MEMCPY: RGBColor = RGBColor(20, 100, 20);

    let (w, h) = (1000u32, 520u32);
    let panels: Vec<Mode> = plan.modes.clone();
    let adapter = report.adapter.as_ref().map_or_else(
        || "no GPU (--cpu-only)".to_string(),
        |a| {
            format!(
                "{}{}",
                a.name,
                if a.software {
                    " (software rasterizer, not a GPU)"
                } else {
                    ""
                }
            )
        },
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h * panels.len().max(1) as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (area, mode) in areas.iter().zip(&panels) {
            let pts: Vec<&Point> = report
                .points
                .iter()
                .filter(|p| p.mode == mode.name())
                .collect();
            if pts.is_empty() {
                continue;
            }
            let xs = pts.iter().map(|p| p.elements as f64);
            let (x0, x1) = xs.fold((f64::MAX, 0f64), |(a, b), v| (a.min(v), b.max(v)));
            let ys: Vec<f64> = pts
                .iter()
                .flat_map(|p| {
                    [
                        p.gpu_kernel_gbps,
                        p.gpu_e2e_gbps,
                        Some(p.cpu_gbps),
                        p.device_copy_gbps,
                        Some(p.host_memcpy_gbps),
                    ]
                })
                .flatten()
                .filter(|v| v.is_finite() && *v > 0.0)
                .collect();
            let y0 = ys.iter().copied().fold(f64::MAX, f64::min).min(1.0);
            let y1 = ys.iter().copied().fold(0f64, f64::max).max(1.0);
            let caption = format!(
                "{}: throughput against size – {adapter}; {} CPU threads",
                mode.name(),
                report.host.threads
            );
            let mut chart = ChartBuilder::on(area)
                .caption(caption, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(64)
                // Headroom above the data for the legend.
                .build_cartesian_2d(
                    (x0 / 1.5..x1 * 1.5).log_scale(),
                    (y0 / 2.0..y1 * 20.0).log_scale(),
                )
                .map_err(|e| fail(&e))?;
            chart
                .configure_mesh()
                .x_desc("elements (f32)")
                .y_desc("GB/s moved")
                .x_label_formatter(&|v: &f64| {
                    let e = v.log2().round();
                    if (v - e.exp2()).abs() < 1e-6 * v {
                        format!("2^{e}")
                    } else {
                        format!("{v:.0e}")
                    }
                })
                .y_label_formatter(&|v: &f64| num(*v))
                .draw()
                .map_err(|e| fail(&e))?;

            // The rooflines, one value per size.
            let mut sizes: Vec<&Point> = Vec::new();
            for p in &pts {
                if !sizes.iter().any(|q| q.elements == p.elements) {
                    sizes.push(p);
                }
            }
            sizes.sort_by_key(|p| p.elements);
            let roof = |f: &dyn Fn(&Point) -> Option<f64>| -> Vec<(f64, f64)> {
                sizes
                    .iter()
                    .filter_map(|p| f(p).map(|v| (p.elements as f64, v)))
                    .collect()
            };
            let copy = roof(&|p| p.device_copy_gbps);
            if !copy.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(copy, 10, 6, COPY.stroke_width(2)))
                    .map_err(|e| fail(&e))?
                    .label("device copy (roofline)")
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], COPY.stroke_width(2))
                    });
            }
            chart
                .draw_series(DashedLineSeries::new(
                    roof(&|p| Some(p.host_memcpy_gbps)),
                    4,
                    4,
                    MEMCPY.stroke_width(2),
                ))
                .map_err(|e| fail(&e))?
                .label("host memcpy, all cores (roofline)")
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], MEMCPY.stroke_width(2))
                });

            // One thin line per op for each of the three measurements.
            type Get = fn(&Point) -> Option<f64>;
            let series: [(&str, RGBColor, Get); 3] = [
                ("GPU kernel", KERNEL, |p| p.gpu_kernel_gbps),
                ("GPU end to end", E2E, |p| p.gpu_e2e_gbps),
                ("CPU path", CPU, |p| Some(p.cpu_gbps)),
            ];
            let panel_ops = plan
                .ops
                .iter()
                .filter(|op| pts.iter().any(|p| p.op == op.name()))
                .count();
            for (name, color, get) in series {
                let mut labelled = false;
                for (op, dtype) in plan
                    .ops
                    .iter()
                    .flat_map(|op| plan.dtypes.iter().map(move |d| (op, d)))
                {
                    let mut line: Vec<(f64, f64)> = pts
                        .iter()
                        .filter(|p| p.op == op.name() && p.dtype == dtype.name())
                        .filter_map(|p| get(p).map(|v| (p.elements as f64, v)))
                        .collect();
                    if line.is_empty() {
                        continue;
                    }
                    line.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let drawn = chart
                        .draw_series(LineSeries::new(line.clone(), color.stroke_width(1)))
                        .map_err(|e| fail(&e))?;
                    if !labelled {
                        drawn
                            .label(format!("{name} ({panel_ops} ops)"))
                            .legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                            });
                        labelled = true;
                    }
                    chart
                        .draw_series(line.iter().map(|&p| Circle::new(p, 2, color.filled())))
                        .map_err(|e| fail(&e))?;
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(|e| fail(&e))?;
        }
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096").ok(), Some(4096));
        assert_eq!(parse_size("2^20").ok(), Some(1 << 20));
        assert_eq!(parse_size("64K").ok(), Some(65536));
        assert_eq!(parse_size("16M").ok(), Some(16 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("2^40").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_shape("512x1024").ok(), Some(vec![512, 1024]));
        assert!(parse_shape("512xx").is_err());
    }

    #[test]
    fn medians_and_labels() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(size_label(&[1 << 22]), "2^22");
        assert_eq!(size_label(&[512, 1024]), "512x1024 (2^19)");
        assert_eq!(size_label(&[1000]), "1000");
    }
}
