use std::time::Instant;
use wgpu_activations::{Activation, Baseline, Context, Mode, Tensor};
fn main() {
    let ctx = Context::new().unwrap();
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1 << 24);
    let x = ctx.upload(&vec![0.5f32; n]).unwrap();
    let y = ctx.create_tensor::<f32>(n).unwrap();
    let time = |p: &wgpu_activations::Prepared| {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let mut enc = ctx.device().create_command_encoder(&Default::default());
            for _ in 0..4 {
                p.record(&mut enc).unwrap();
            }
            let t = Instant::now();
            ctx.queue().submit([enc.finish()]);
            ctx.device()
                .poll(wgpu::PollType::wait_indefinitely())
                .unwrap();
            best = best.min(t.elapsed().as_secs_f64() / 4.0);
        }
        8.0 * n as f64 / best / 1e9
    };
    for cap in [None, Some(u32::MAX), Some(1024), Some(16384), Some(256)] {
        let c = ctx
            .prepare_baseline(
                Baseline::Copy,
                &Activation::relu(),
                Mode::Forward,
                Tensor::whole(&x),
                None,
                Tensor::whole(&y),
                cap,
            )
            .unwrap();
        println!("copy cap {cap:?}: {:.2} GB/s", time(&c));
    }
    for name in [
        "relu", "sigmoid", "tanh", "silu", "elu", "gelu", "mish", "softplus",
    ] {
        let a = Activation::by_name(name).unwrap();
        let p = ctx
            .prepare_forward(&a, Tensor::whole(&x), Tensor::whole(&y))
            .unwrap();
        let acc = time(&p);
        let nv = if Baseline::has_naive(a.op()) {
            let q = ctx
                .prepare_baseline(
                    Baseline::Naive,
                    &a,
                    Mode::Forward,
                    Tensor::whole(&x),
                    None,
                    Tensor::whole(&y),
                    None,
                )
                .unwrap();
            time(&q)
        } else {
            f64::NAN
        };
        println!(
            "{name}: {acc:.2} GB/s, naive {nv:.2} GB/s ({:.0}%)",
            100.0 * acc / nv
        );
    }
}
