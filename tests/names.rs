//! Names and constructors as a PyTorch user writes them: `torch.nn` class names in any case,
//! `F.gelu(x, approximate='tanh')`, and one typed constructor per op with PyTorch's defaults.
//! No GPU needed.

use wgpu_activations::{Activation, Error, OpKind, Softmax, SoftmaxKind};

/// Every `torch.nn` activation class this crate implements, by its class name.
const TORCH_NAMES: [(&str, OpKind); 24] = [
    ("ReLU", OpKind::Relu),
    ("ReLU6", OpKind::Relu6),
    ("LeakyReLU", OpKind::LeakyRelu),
    ("RReLU", OpKind::Rrelu),
    ("PReLU", OpKind::Prelu),
    ("ELU", OpKind::Elu),
    ("SELU", OpKind::Selu),
    ("CELU", OpKind::Celu),
    ("GELU", OpKind::Gelu),
    ("Sigmoid", OpKind::Sigmoid),
    ("LogSigmoid", OpKind::LogSigmoid),
    ("Hardsigmoid", OpKind::HardSigmoid),
    ("Tanh", OpKind::Tanh),
    ("Hardtanh", OpKind::HardTanh),
    ("Softsign", OpKind::Softsign),
    ("Softplus", OpKind::Softplus),
    ("SiLU", OpKind::Silu),
    ("Mish", OpKind::Mish),
    ("Hardswish", OpKind::HardSwish),
    ("Tanhshrink", OpKind::TanhShrink),
    ("Hardshrink", OpKind::HardShrink),
    ("Softshrink", OpKind::SoftShrink),
    ("Threshold", OpKind::Threshold),
    ("GELU_tanh", OpKind::GeluTanh),
];

#[test]
fn torch_class_names_in_any_case() {
    for (name, op) in TORCH_NAMES {
        assert_eq!(OpKind::from_name(name).unwrap(), op, "{name}");
        assert_eq!(
            OpKind::from_name(&name.to_lowercase()).unwrap(),
            op,
            "{name}"
        );
        assert_eq!(
            OpKind::from_name(&name.to_uppercase()).unwrap(),
            op,
            "{name}"
        );
    }
    for op in OpKind::ALL {
        assert_eq!(OpKind::from_name(op.name()).unwrap(), *op);
    }
    assert_eq!(OpKind::from_name("hard_swish").unwrap(), OpKind::HardSwish);
    assert_eq!(OpKind::from_name("QuickGELU").unwrap(), OpKind::QuickGelu);
    assert_eq!(
        SoftmaxKind::from_name("LogSoftmax").unwrap(),
        SoftmaxKind::LogSoftmax
    );
    match OpKind::from_name("gelux") {
        Err(e @ Error::UnknownOp(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("gelux"), "{msg}");
            assert!(
                !msg.contains("wgpu-activations "),
                "a library error names a CLI command: {msg}"
            );
        }
        other => panic!("gelux: {other:?}"),
    }
}

#[test]
fn gelu_approximate_option() {
    let tanh = Activation::parse_text("GELU", &[("approximate", "tanh")]).unwrap();
    assert_eq!(tanh, Activation::gelu_tanh());
    let exact = Activation::parse_text("gelu", &[("approximate", "'none'")]).unwrap();
    assert_eq!(exact, Activation::gelu());
    assert!(matches!(
        Activation::parse_text("gelu", &[("approximate", "sigmoid")]),
        Err(Error::BadParameter { .. })
    ));
    assert!(matches!(
        Activation::parse_text("relu", &[("approximate", "tanh")]),
        Err(Error::BadParameter { .. })
    ));
}

#[test]
fn typed_constructors_with_torch_defaults_equal_the_named_ones() {
    let named = |n: &str| Activation::by_name(n).unwrap();
    assert_eq!(Activation::relu(), named("relu"));
    assert_eq!(Activation::leaky_relu(0.01), named("leaky_relu"));
    assert_eq!(Activation::rrelu(1.0 / 8.0, 1.0 / 3.0), named("rrelu"));
    assert_eq!(Activation::prelu(vec![0.25], 1), named("prelu"));
    assert_eq!(Activation::elu(1.0), named("elu"));
    assert_eq!(Activation::celu(1.0), named("celu"));
    assert_eq!(Activation::selu(), named("selu"));
    assert_eq!(Activation::gelu(), named("gelu"));
    assert_eq!(Activation::hardtanh(-1.0, 1.0), named("hardtanh"));
    assert_eq!(Activation::softplus(1.0, 20.0), named("softplus"));
    assert_eq!(Activation::hardshrink(0.5), named("hardshrink"));
    assert_eq!(Activation::softshrink(0.5), named("softshrink"));
    assert_eq!(Activation::threshold(0.0, 0.0), named("threshold"));
    assert_eq!(Activation::swish(1.0), named("swish"));
    assert_eq!(Activation::squared_relu(), named("squared_relu"));
    let leaky = Activation::leaky_relu(0.2);
    assert_eq!(leaky.param("negative_slope"), Some(0.2));
    assert_eq!(
        leaky,
        named("LeakyReLU").with("negative_slope", 0.2).unwrap()
    );
    // Typed constructors do not validate; every call does.
    assert!(Activation::softplus(0.0, 20.0).validate().is_err());
    assert_eq!(
        Softmax::new(SoftmaxKind::from_name("softmin").unwrap()),
        Softmax::softmin()
    );
}
