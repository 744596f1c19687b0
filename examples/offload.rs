//! Offload one activation of a large host array to the GPU, run the fast CPU path on the same
//! data, and report both against the exact reference.
//!
//! `cargo run --release --example offload -- [OP] [ELEMENTS]` (default: gelu, 4,194,304).

use std::time::Instant;

use wgpu_activations::{cpu, harness, Activation, Context, Mode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_else(|| "gelu".to_string());
    let n: usize = args.next().map_or(Ok(1 << 22), |s| s.parse())?;
    let act = Activation::by_name(&op)?;
    let x = harness::random_inputs(42, n);

    let ctx = Context::new()?;
    if let Some(info) = ctx.adapter_info() {
        println!("adapter: {} ({:?})", info.name, info.backend);
    }
    let t = Instant::now();
    let y_gpu = ctx.forward(&act, &x)?;
    let gpu = t.elapsed();
    let t = Instant::now();
    let y_cpu = cpu::forward(&act, &x)?;
    let cpu_time = t.elapsed();

    let g = harness::summarize(&act, Mode::Forward, &x, None, &y_gpu);
    let c = harness::summarize(&act, Mode::Forward, &x, None, &y_cpu);
    println!("{op} on {n} elements");
    println!(
        "  GPU end to end {gpu:?}: max {:.2} ULP, {} out of bound",
        g.max_ulps, g.failures
    );
    println!(
        "  CPU            {cpu_time:?}: max {:.2} ULP, {} out of bound",
        c.max_ulps, c.failures
    );
    Ok(())
}
