//! Every activation, every mode, on the GPU against the exact f64 reference, in ULPs: seeded
//! symmetric random inputs, the hard-input list and the op's kinks. One test per op and mode.

mod common;

use wgpu_activations::{Activation, Mode, OpKind};

const N_RANDOM: usize = 1 << 16;

fn run(op: OpKind, mode: Mode) {
    let Some(ctx) = common::gpu() else { return };
    let act = Activation::new(op);
    let x = common::inputs(&act, N_RANDOM);
    let what = format!("gpu {} {}", op.name(), mode.name());
    match mode {
        Mode::Forward => {
            let y = ctx.forward(&act, &x).unwrap();
            common::check(&what, &act, mode, &x, None, &y);
        }
        Mode::Derivative => {
            let d = ctx.derivative(&act, &x).unwrap();
            common::check(&what, &act, mode, &x, None, &d);
        }
        Mode::Backward => {
            let s = common::saved_tensor(&act, &x);
            let dy = common::gradients(s.len());
            let dx = ctx.backward(&act, &s, &dy).unwrap();
            common::check(&what, &act, mode, &s, Some(&dy), &dx);
        }
    }
}

macro_rules! op_tests {
    ($($m:ident: $op:ident),* $(,)?) => {$(
        mod $m {
            use super::*;
            #[test]
            fn forward_matches_reference() { run(OpKind::$op, Mode::Forward) }
            #[test]
            fn derivative_matches_reference() { run(OpKind::$op, Mode::Derivative) }
            #[test]
            fn backward_matches_reference() { run(OpKind::$op, Mode::Backward) }
        }
    )*};
}

op_tests! {
    relu: Relu, relu6: Relu6, leaky_relu: LeakyRelu, rrelu: Rrelu, prelu: Prelu, elu: Elu, selu: Selu,
    celu: Celu, gelu: Gelu, gelu_tanh: GeluTanh, sigmoid: Sigmoid, logsigmoid: LogSigmoid,
    hardsigmoid: HardSigmoid, tanh: Tanh, hardtanh: HardTanh, softsign: Softsign, softplus: Softplus,
    silu: Silu, mish: Mish, hardswish: HardSwish, tanhshrink: TanhShrink, hardshrink: HardShrink,
    softshrink: SoftShrink, threshold: Threshold, quick_gelu: QuickGelu, swish: Swish,
    squared_relu: SquaredRelu,
}

#[test]
fn every_op_has_a_test() {
    // The macro above lists ops by hand; this keeps it honest when an op is added.
    assert_eq!(OpKind::ALL.len(), 27);
}
