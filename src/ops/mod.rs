//! The one description of every activation: its name, parameters and PyTorch defaults, formula,
//! which saved tensor its backward pass reads, the derivative's value at each kink and the roots
//! of the derivative. The WGSL function names, the CPU paths, the CLI's op list, the tests and the
//! README table are all generated from [`OpKind::ALL`] and [`OpKind::spec`].

use crate::base::error::{Error, Result};

pub mod activation;
pub mod softmax;

/// Which tensor the fused backward pass reads besides the incoming gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Saved {
    /// The forward input `x` (most activations).
    Input,
    /// The forward output `y` (sigmoid and tanh, as PyTorch saves them).
    Output,
}

/// What a kernel computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `y = f(x)`.
    Forward,
    /// `f'(x)`, always from the input `x`.
    Derivative,
    /// `dx = dy · f'(·)`, reading the tensor named by [`Spec::saved`].
    Backward,
}

impl Mode {
    /// Every mode, in a fixed order.
    pub const ALL: [Mode; 3] = [Mode::Forward, Mode::Derivative, Mode::Backward];
    /// Lower-case name (`forward`, `derivative`, `backward`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Forward => "forward",
            Mode::Derivative => "derivative",
            Mode::Backward => "backward",
        }
    }
}

/// A named scalar parameter with PyTorch's default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// Name as PyTorch and the CLI spell it.
    pub name: &'static str,
    /// Default value.
    pub default: f32,
}

/// The static description of one activation.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Name as the CLI and the WGSL functions spell it (`gelu_tanh`).
    pub name: &'static str,
    /// Scalar parameters, in the order they occupy the parameter vector.
    pub params: &'static [ParamSpec],
    /// The formula, for the docs.
    pub formula: &'static str,
    /// The derivative, for the docs.
    pub derivative: &'static str,
    /// Which saved tensor the backward pass reads.
    pub saved: Saved,
    /// The derivative's value at each kink, as PyTorch's backward kernels define it.
    pub kinks: &'static str,
    /// Points where the derivative crosses zero (an absolute error of `8·2^-24` is allowed
    /// within 0.05 of them, where a relative error bound is meaningless). For parameterised ops
    /// these are for the default parameters.
    pub derivative_roots: &'static [f64],
    /// Piecewise-linear: results are exact (correctly rounded).
    pub piecewise_linear: bool,
}

const fn p(name: &'static str, default: f32) -> ParamSpec {
    ParamSpec { name, default }
}

/// The SELU constants, as in PyTorch.
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_284_817_042_991_671_7;
/// The SELU scale, as in PyTorch.
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_493_419_334_985_294_6;
/// quick_gelu's constant: `x·σ(1.702·x)`.
pub const QUICK_GELU_C: f64 = 1.702;

macro_rules! ops {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// Every activation, without parameter values: the pipeline-cache key's op.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpKind { $(
            #[doc = concat!("`", $name, "`")]
            $variant
        ),* }
        impl OpKind {
            /// Every activation, in README order.
            pub const ALL: &'static [OpKind] = &[$(OpKind::$variant),*];
            /// The name as the CLI and WGSL spell it.
            pub fn name(self) -> &'static str { match self { $(OpKind::$variant => $name),* } }
        }
    };
}

ops! {
    Relu = "relu", Relu6 = "relu6", LeakyRelu = "leaky_relu", Rrelu = "rrelu", Prelu = "prelu",
    Elu = "elu", Selu = "selu", Celu = "celu", Gelu = "gelu", GeluTanh = "gelu_tanh",
    Sigmoid = "sigmoid", LogSigmoid = "logsigmoid", HardSigmoid = "hardsigmoid", Tanh = "tanh",
    HardTanh = "hardtanh", Softsign = "softsign", Softplus = "softplus", Silu = "silu",
    Mish = "mish", HardSwish = "hardswish", TanhShrink = "tanhshrink", HardShrink = "hardshrink",
    SoftShrink = "softshrink", Threshold = "threshold", QuickGelu = "quick_gelu",
    Swish = "swish", SquaredRelu = "squared_relu",
}

impl OpKind {
    /// Look an op up by its name.
    pub fn from_name(name: &str) -> Result<OpKind> {
        OpKind::ALL
            .iter()
            .copied()
            .find(|o| o.name() == name)
            .ok_or_else(|| Error::UnknownOp(name.to_string()))
    }

    /// The static description.
    pub fn spec(self) -> Spec {
        use OpKind::*;
        let s = |params, formula, derivative, saved, kinks, roots, pl| Spec {
            name: self.name(),
            params,
            formula,
            derivative,
            saved,
            kinks,
            derivative_roots: roots,
            piecewise_linear: pl,
        };
        const I: Saved = Saved::Input;
        const O: Saved = Saved::Output;
        match self {
            Relu => s(&[], "max(0, x)", "x > 0 ? 1 : 0", I, "f'(0) = 0", &[], true),
            Relu6 => s(&[], "min(max(0, x), 6)", "0 < x < 6 ? 1 : 0", I, "f'(0) = 0, f'(6) = 0", &[], true),
            LeakyRelu => s({ const P: &[ParamSpec] = &[p("negative_slope", 0.01)]; P }, "x > 0 ? x : negative_slope·x", "x > 0 ? 1 : negative_slope", I, "f'(0) = negative_slope", &[], true),
            Rrelu => s({ const P: &[ParamSpec] = &[p("lower", 1.0 / 8.0), p("upper", 1.0 / 3.0)]; P }, "x ≥ 0 ? x : a·x; eval a = (lower+upper)/2, training a ~ U(lower, upper) per element (Philox4x32-10 keyed by seed and index)", "x > 0 ? 1 : a", I, "f'(0) = a", &[], true),
            Prelu => s(&[], "x > 0 ? x : a_c·x (one slope, or one per channel of [N, C, ...])", "x > 0 ? 1 : a_c; ∂/∂a_c = Σ x ≤ 0 ? x·dy : 0", I, "f'(0) = a_c", &[], true),
            Elu => s({ const P: &[ParamSpec] = &[p("alpha", 1.0)]; P }, "x > 0 ? x : alpha·(exp(x) − 1)", "x > 0 ? 1 : alpha·exp(x)", I, "f'(0) = alpha", &[], false),
            Selu => s(&[], "scale·(x > 0 ? x : α·(exp(x) − 1)), α ≈ 1.6733, scale ≈ 1.0507", "scale·(x > 0 ? 1 : α·exp(x))", I, "f'(0) = scale·α", &[], false),
            Celu => s({ const P: &[ParamSpec] = &[p("alpha", 1.0)]; P }, "max(0, x) + min(0, alpha·(exp(x/alpha) − 1))", "x > 0 ? 1 : exp(x/alpha)", I, "f'(0) = 1", &[], false),
            Gelu => s(&[], "x·Φ(x) = x/2·erfc(−x/√2)", "Φ(x) + x·φ(x)", I, "smooth", &[-0.751_791_524_693_564_5], false),
            GeluTanh => s(&[], "x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))", "exact derivative of the tanh form", I, "smooth", &[-0.752_461_422_071_016_3], false),
            Sigmoid => s(&[], "1/(1 + exp(−x))", "y·(1 − y)", O, "smooth", &[], false),
            LogSigmoid => s(&[], "−softplus(−x) = min(x, 0) − log1p(exp(−|x|))", "σ(−x)", I, "smooth", &[], false),
            HardSigmoid => s(&[], "x ≤ −3 ? 0 : x ≥ 3 ? 1 : x/6 + 1/2", "−3 < x < 3 ? 1/6 : 0", I, "f'(±3) = 0", &[], true),
            Tanh => s(&[], "tanh(x)", "1 − y²", O, "smooth", &[], false),
            HardTanh => s({ const P: &[ParamSpec] = &[p("min_val", -1.0), p("max_val", 1.0)]; P }, "min(max(x, min_val), max_val)", "min_val < x < max_val ? 1 : 0", I, "f'(min_val) = f'(max_val) = 0", &[], true),
            Softsign => s(&[], "x/(1 + |x|)", "1/(1 + |x|)²", I, "smooth (f'(0) = 1)", &[], false),
            Softplus => s({ const P: &[ParamSpec] = &[p("beta", 1.0), p("threshold", 20.0)]; P }, "beta·x > threshold ? x : log1p(exp(beta·x))/beta", "beta·x > threshold ? 1 : σ(beta·x)", I, "at beta·x = threshold: σ(threshold)", &[], false),
            Silu => s(&[], "x·σ(x)", "σ(x)·(1 + x·(1 − σ(x)))", I, "smooth", &[-1.278_464_542_761_074], false),
            Mish => s(&[], "x·tanh(softplus(x))", "t + x·σ(x)·(1 − t²), t = tanh(softplus(x))", I, "smooth", &[-1.192_379_902_662_759_3], false),
            HardSwish => s(&[], "x ≤ −3 ? 0 : x ≥ 3 ? x : x·(x + 3)/6", "x < −3 ? 0 : x ≤ 3 ? x/3 + 1/2 : 1", I, "f'(−3) = −1/2, f'(3) = 3/2", &[-1.5], false),
            TanhShrink => s(&[], "x − tanh(x)", "tanh²(x)", I, "smooth", &[], false),
            HardShrink => s({ const P: &[ParamSpec] = &[p("lambd", 0.5)]; P }, "|x| > lambd ? x : 0", "|x| > lambd ? 1 : 0", I, "f'(±lambd) = 0", &[], true),
            SoftShrink => s({ const P: &[ParamSpec] = &[p("lambd", 0.5)]; P }, "x > lambd ? x − lambd : x < −lambd ? x + lambd : 0", "|x| > lambd ? 1 : 0", I, "f'(±lambd) = 0", &[], true),
            Threshold => s({ const P: &[ParamSpec] = &[p("threshold", 0.0), p("value", 0.0)]; P }, "x > threshold ? x : value", "x > threshold ? 1 : 0", I, "f'(threshold) = 0", &[], true),
            QuickGelu => s(&[], "x·σ(1.702·x)", "σ(1.702x)·(1 + 1.702x·(1 − σ(1.702x)))", I, "smooth", &[-0.751_154_255_441_289], false),
            Swish => s({ const P: &[ParamSpec] = &[p("beta", 1.0)]; P }, "x·σ(beta·x)", "σ(beta·x)·(1 + beta·x·(1 − σ(beta·x)))", I, "smooth", &[-1.278_464_542_761_074], false),
            SquaredRelu => s(&[], "max(0, x)²", "2·max(0, x)", I, "f'(0) = 0", &[], false),
        }
    }
}
