//! Shared test support: the one GPU-acquisition helper and the comparison that reports the worst
//! offenders. Inputs, bounds and the judging rule come from `wgpu_activations::harness`, which
//! the README's accuracy table uses too.
#![allow(dead_code)]

use std::sync::OnceLock;

use wgpu_activations::harness::{bound, judge, Verdict};
#[allow(unused_imports)]
pub use wgpu_activations::harness::{gradients, hard_inputs, inputs, random_inputs, saved_tensor};
use wgpu_activations::{Activation, Context, Mode};

/// Where a test runs: the GPU context of [`gpu`] or the fast CPU path.
#[derive(Clone, Copy)]
pub enum Device {
    Gpu,
    Cpu,
}

/// One test per op and mode on each device, `$m::{gpu,cpu}_{forward,derivative,backward}`, each
/// calling the including file's `run(Device, OpKind, Mode)`; invoked as
/// `wgpu_activations::for_each_op!(op_tests)`.
#[allow(unused_macros)]
macro_rules! op_tests {
    ($($m:ident: $op:ident),* $(,)?) => {
        $(
            mod $m {
                use super::*;
                #[test]
                fn gpu_forward() { run(Device::Gpu, OpKind::$op, Mode::Forward) }
                #[test]
                fn gpu_derivative() { run(Device::Gpu, OpKind::$op, Mode::Derivative) }
                #[test]
                fn gpu_backward() { run(Device::Gpu, OpKind::$op, Mode::Backward) }
                #[test]
                fn cpu_forward() { run(Device::Cpu, OpKind::$op, Mode::Forward) }
                #[test]
                fn cpu_derivative() { run(Device::Cpu, OpKind::$op, Mode::Derivative) }
                #[test]
                fn cpu_backward() { run(Device::Cpu, OpKind::$op, Mode::Backward) }
            }
        )*
    };
}

/// The GPU context for tests. Honours `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`; prints the adapter
/// once. Without an adapter the test fails, listing the adapters, unless the person running the
/// tests opts out with `WGPU_ACTIVATIONS_SKIP_GPU=1` (then GPU tests print that they skipped).
pub fn gpu() -> Option<&'static Context> {
    static CTX: OnceLock<Option<Context>> = OnceLock::new();
    CTX.get_or_init(|| {
        if std::env::var("WGPU_ACTIVATIONS_SKIP_GPU").is_ok_and(|v| v == "1") {
            eprintln!("GPU tests SKIPPED: WGPU_ACTIVATIONS_SKIP_GPU=1");
            return None;
        }
        match Context::new() {
            Ok(ctx) => {
                if let Some(i) = ctx.adapter_info() {
                    eprintln!("GPU adapter: {} ({:?}, {:?}, {} {})", i.name, i.backend, i.device_type, i.driver, i.driver_info);
                }
                Some(ctx)
            }
            Err(e) => panic!("no GPU for the GPU tests: {e}\n(set WGPU_ACTIVATIONS_SKIP_GPU=1 to skip them explicitly)"),
        }
    })
    .as_ref()
}

/// Check `got` against the exact values (see `harness::judge`); panics listing the worst
/// offenders with index, input, dy, got, want and ULP distance.
pub fn check(what: &str, act: &Activation, mode: Mode, x: &[f32], dy: Option<&[f32]>, got: &[f32]) {
    assert_eq!(got.len(), x.len(), "{what}: output length");
    check_verdicts(
        what,
        &format!("{} ULP", bound(act, mode)),
        x.len(),
        |i| judge(act, mode, i, x[i], dy.map(|d| d[i]), got[i]),
        |i| {
            format!(
                "x = {:e} ({:#010x}){} got {:e}",
                x[i],
                x[i].to_bits(),
                dy.map_or(String::new(), |d| format!(" dy = {:e}", d[i])),
                got[i]
            )
        },
    );
}

/// The comparison loop of the checks, for any element type: `judge(i)` is element i's verdict,
/// `show(i)` its input and output for the report, `bound` the bound's wording. Panics listing
/// the 12 worst offenders; else prints the worst error outside the root allowance.
pub fn check_verdicts(
    what: &str,
    bound: &str,
    n: usize,
    judge: impl Fn(usize) -> Verdict,
    show: impl Fn(usize) -> String,
) {
    let mut bad = Vec::new();
    let mut worst = 0.0f64;
    for i in 0..n {
        let v = judge(i);
        if !v.root_allowance && v.ulps.is_finite() {
            worst = worst.max(v.ulps);
        }
        if !v.ok {
            bad.push((v.ulps, i, v.exact));
        }
    }
    if !bad.is_empty() {
        bad.sort_by(|a, b| b.0.total_cmp(&a.0));
        let lines: Vec<String> = bad
            .iter()
            .take(12)
            .map(|(err, i, exact)| format!("  [{i}] {} want {exact:e}: {err:.2} ULP", show(*i)))
            .collect();
        panic!(
            "{what}: {} of {n} values above {bound}; worst:\n{}",
            bad.len(),
            lines.join("\n")
        );
    }
    eprintln!("{what}: max {worst:.3} ULP over {n} values");
}

/// Bit patterns of `v`, with subnormals replaced by signed zeros when `ftz` (a device that
/// flushes subnormals, see `Context::flushes_subnormals`): for bit-exact comparisons of a GPU
/// result with the CPU's.
pub fn bits_ftz(v: &[f32], ftz: bool) -> Vec<u32> {
    v.iter()
        .map(|&y| {
            if ftz && y != 0.0 && y.abs() < f32::MIN_POSITIVE {
                0.0f32.copysign(y).to_bits()
            } else {
                y.to_bits()
            }
        })
        .collect()
}
