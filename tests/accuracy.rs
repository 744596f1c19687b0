//! Every activation, every mode, on the GPU and on the fast CPU path, against the exact f64
//! reference in ULPs: seeded symmetric random inputs, the hard-input list and the op's kinks.
//! One test per op, mode and device (`gelu::gpu_backward`), so one failure hides no other.

#[macro_use]
mod common;

use common::Device;
use wgpu_activations::{cpu, Activation, Mode, OpKind};

fn run(device: Device, op: OpKind, mode: Mode) {
    let act = Activation::new(op);
    let (name, n_random) = match device {
        Device::Gpu => ("gpu", 1 << 16),
        Device::Cpu => ("cpu", 1 << 18),
    };
    let ctx = match device {
        Device::Gpu => match common::gpu() {
            Some(ctx) => Some(ctx),
            None => return,
        },
        Device::Cpu => None,
    };
    let x = common::inputs(&act, n_random);
    let what = format!("{name} {} {}", op.name(), mode.name());
    match mode {
        Mode::Forward => {
            let y = match ctx {
                Some(ctx) => ctx.forward(&act, &x),
                None => cpu::forward(&act, &x),
            };
            common::check(&what, &act, mode, &x, None, &y.unwrap());
        }
        Mode::Derivative => {
            let d = match ctx {
                Some(ctx) => ctx.derivative(&act, &x),
                None => cpu::derivative(&act, &x),
            };
            common::check(&what, &act, mode, &x, None, &d.unwrap());
        }
        Mode::Backward => {
            let s = common::saved_tensor(&act, &x);
            let dy = common::gradients(s.len());
            let dx = match ctx {
                Some(ctx) => ctx.backward(&act, &s, &dy),
                None => cpu::backward(&act, &s, &dy),
            };
            common::check(&what, &act, mode, &s, Some(&dy), &dx.unwrap());
        }
    }
}

wgpu_activations::for_each_op!(op_tests);

/// All modes on both devices for one op with non-default parameters.
fn run_with(name: &str, settings: &[(&str, f32)]) {
    let settings: Vec<(String, f32)> = settings.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let act = Activation::parse(name, &settings).unwrap();
    let x = common::inputs(&act, 1 << 14);
    let s = common::saved_tensor(&act, &x);
    let dy = common::gradients(x.len());
    let what = |dev: &str, mode: &str| format!("{dev} {name} {settings:?} {mode}");
    common::check(
        &what("cpu", "forward"),
        &act,
        Mode::Forward,
        &x,
        None,
        &cpu::forward(&act, &x).unwrap(),
    );
    common::check(
        &what("cpu", "derivative"),
        &act,
        Mode::Derivative,
        &x,
        None,
        &cpu::derivative(&act, &x).unwrap(),
    );
    common::check(
        &what("cpu", "backward"),
        &act,
        Mode::Backward,
        &s,
        Some(&dy),
        &cpu::backward(&act, &s, &dy).unwrap(),
    );
    let Some(ctx) = common::gpu() else { return };
    common::check(
        &what("gpu", "forward"),
        &act,
        Mode::Forward,
        &x,
        None,
        &ctx.forward(&act, &x).unwrap(),
    );
    common::check(
        &what("gpu", "derivative"),
        &act,
        Mode::Derivative,
        &x,
        None,
        &ctx.derivative(&act, &x).unwrap(),
    );
    common::check(
        &what("gpu", "backward"),
        &act,
        Mode::Backward,
        &s,
        Some(&dy),
        &ctx.backward(&act, &s, &dy).unwrap(),
    );
}

mod parameters {
    use super::run_with;
    #[test]
    fn leaky_relu_slopes() {
        run_with("leaky_relu", &[("negative_slope", 0.2)]);
        run_with("leaky_relu", &[("negative_slope", -0.5)]);
    }
    #[test]
    fn rrelu_bounds() {
        run_with("rrelu", &[("lower", 0.05), ("upper", 0.5)]);
    }
    #[test]
    fn elu_alpha() {
        run_with("elu", &[("alpha", 0.5)]);
        run_with("elu", &[("alpha", 2.0)]);
    }
    #[test]
    fn celu_alpha() {
        run_with("celu", &[("alpha", 0.5)]);
        run_with("celu", &[("alpha", 2.0)]);
    }
    #[test]
    fn softplus_beta_threshold() {
        run_with("softplus", &[("beta", 2.0)]);
        run_with("softplus", &[("beta", 0.5), ("threshold", 10.0)]);
    }
    #[test]
    fn swish_beta() {
        run_with("swish", &[("beta", 0.5)]);
        run_with("swish", &[("beta", 1.702)]);
    }
    #[test]
    fn hardtanh_bounds() {
        run_with("hardtanh", &[("min_val", -2.0), ("max_val", 3.0)]);
    }
    #[test]
    fn shrink_lambda() {
        run_with("hardshrink", &[("lambd", 1.5)]);
        run_with("softshrink", &[("lambd", 1.5)]);
    }
    #[test]
    fn threshold_value() {
        run_with("threshold", &[("threshold", 0.5), ("value", -1.0)]);
    }
}
