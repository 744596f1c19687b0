//! The one description of every activation: its name, parameters and PyTorch defaults, formula,
//! which saved tensor its backward pass reads, the derivative's value at each kink and the roots
//! of the derivative. The WGSL function names, the CPU paths, the CLI's op list, the tests and the
//! README table are all generated from [`OpKind::ALL`] and [`OpKind::spec`].

use crate::error::{Error, Result};

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

/// An activation with its parameter values: what a user asks for.
///
/// Build one with [`Activation::new`] (PyTorch's defaults) and [`Activation::with`], or parse
/// `name` plus `NAME=VALUE` pairs with [`Activation::parse`]. `prelu`'s slopes and `rrelu`'s
/// training seed live here too.
#[derive(Clone, Debug, PartialEq)]
pub struct Activation {
    op: OpKind,
    params: [f32; 4],
    /// `rrelu` training mode: the generator's seed; `None` is evaluation mode.
    seed: Option<u64>,
    /// `prelu`: one slope, or one per channel.
    slopes: Vec<f32>,
    /// `prelu`: elements per channel block (the product of the dimensions after C).
    inner: usize,
}

impl Activation {
    /// The activation with PyTorch's default parameters (`prelu`: one slope of 0.25).
    pub fn new(op: OpKind) -> Activation {
        let mut params = [0.0; 4];
        for (slot, ps) in params.iter_mut().zip(op.spec().params) {
            *slot = ps.default;
        }
        Activation {
            op,
            params,
            seed: None,
            slopes: vec![0.25],
            inner: 1,
        }
    }

    /// By name with default parameters.
    pub fn by_name(name: &str) -> Result<Activation> {
        Ok(Activation::new(OpKind::from_name(name)?))
    }

    /// Parse a name and `NAME=VALUE` parameter settings.
    pub fn parse(name: &str, settings: &[(String, f32)]) -> Result<Activation> {
        let mut a = Activation::by_name(name)?;
        for (k, v) in settings {
            a = a.with(k, *v)?;
        }
        a.validate()?;
        Ok(a)
    }

    /// Set one named scalar parameter.
    pub fn with(mut self, name: &str, value: f32) -> Result<Activation> {
        let spec = self.op.spec();
        let i = spec
            .params
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| Error::BadParameter {
                op: spec.name,
                message: format!(
                    "unknown parameter `{name}` (known: {})",
                    if spec.params.is_empty() {
                        "none".to_string()
                    } else {
                        spec.params
                            .iter()
                            .map(|p| p.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            })?;
        self.params[i] = value;
        Ok(self)
    }

    /// `rrelu` in training mode with this seed (per-element slopes drawn from Philox4x32-10).
    pub fn training(mut self, seed: u64) -> Activation {
        self.seed = Some(seed);
        self
    }

    /// `prelu` slopes: one, or one per channel `C` of an `[N, C, inner...]` layout where `inner`
    /// is the number of elements after the channel dimension (1 for `[N, C]`).
    pub fn with_slopes(mut self, slopes: Vec<f32>, inner: usize) -> Activation {
        self.slopes = slopes;
        self.inner = inner;
        self
    }

    /// The op.
    pub fn op(&self) -> OpKind {
        self.op
    }
    /// The scalar parameters in [`Spec::params`] order, padded with zeros.
    pub fn params(&self) -> [f32; 4] {
        self.params
    }
    /// A named parameter's value.
    pub fn param(&self, name: &str) -> Option<f32> {
        self.op
            .spec()
            .params
            .iter()
            .position(|p| p.name == name)
            .map(|i| self.params[i])
    }
    /// The parameter vector the kernels read: [`Activation::params`], with rrelu's evaluation
    /// slope in place of `lower` when not training, and prelu's slope when there is one.
    pub(crate) fn kernel_params(&self) -> [f32; 4] {
        let mut p = self.params;
        if self.op == OpKind::Rrelu && self.seed.is_none() {
            p[0] = rrelu_eval_slope(p[0], p[1]);
        }
        if self.op == OpKind::Prelu && self.slopes.len() == 1 {
            p[0] = self.slopes[0];
        }
        p
    }
    /// `rrelu`'s training seed.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }
    /// `prelu`'s slopes.
    pub fn slopes(&self) -> &[f32] {
        &self.slopes
    }
    /// `prelu`'s elements per channel block.
    pub fn inner(&self) -> usize {
        self.inner
    }

    /// Check that the parameters make sense (finite, ordered, non-zero where divided by).
    pub fn validate(&self) -> Result<()> {
        let spec = self.op.spec();
        let bad = |message: String| {
            Err(Error::BadParameter {
                op: spec.name,
                message,
            })
        };
        for (ps, v) in spec.params.iter().zip(self.params) {
            if !v.is_finite() {
                return bad(format!("{} = {v} is not finite", ps.name));
            }
        }
        let [a, b, _, _] = self.params;
        match self.op {
            OpKind::Rrelu if a > b => return bad(format!("lower = {a} is above upper = {b}")),
            OpKind::HardTanh if a > b => {
                return bad(format!("min_val = {a} is above max_val = {b}"))
            }
            OpKind::Elu | OpKind::Celu if self.op == OpKind::Celu && a == 0.0 => {
                return bad("alpha = 0 divides by zero".into())
            }
            OpKind::Softplus | OpKind::Swish if a == 0.0 => {
                return bad("beta = 0 divides by zero".into())
            }
            OpKind::HardShrink | OpKind::SoftShrink if a < 0.0 => {
                return bad(format!("lambd = {a} is negative"))
            }
            OpKind::Prelu => {
                if self.slopes.is_empty() {
                    return bad("no slopes given".into());
                }
                if self.inner == 0 {
                    return bad("inner size 0".into());
                }
                if let Some(s) = self.slopes.iter().find(|s| !s.is_finite()) {
                    return bad(format!("slope {s} is not finite"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The slope applied to element `index` for `prelu` and `rrelu`, and `params()[0]` otherwise
    /// (`leaky_relu`'s slope). `rrelu` training draws it from Philox4x32-10 keyed by
    /// (seed, index), bit-identical to the GPU.
    pub fn slope_at(&self, index: u64) -> f32 {
        match self.op {
            OpKind::Prelu => match self.slopes.len() {
                // `validate` rejects these; a NaN slope makes an unvalidated misuse visible
                // without a panic.
                0 => f32::NAN,
                1 => self.slopes[0],
                c => self.slopes[(index as usize / self.inner.max(1)) % c],
            },
            OpKind::Rrelu => match self.seed {
                None => rrelu_eval_slope(self.params[0], self.params[1]),
                Some(seed) => {
                    crate::philox::rrelu_slope(seed, index, self.params[0], self.params[1])
                }
            },
            _ => self.params[0],
        }
    }
}

/// rrelu's evaluation-mode slope, `(lower + upper) / 2`, computed identically on CPU and GPU:
/// in f64 (exact) and rounded once, as PyTorch computes it in double, so it neither overflows
/// for bounds near `f32::MAX` (an infinite slope would turn `x = 0` into `∞·0 = NaN`) nor
/// double-rounds.
pub fn rrelu_eval_slope(lower: f32, upper: f32) -> f32 {
    ((lower as f64 + upper as f64) * 0.5) as f32
}
