//! Layer 2: the op table. Every element-wise activation is one module in its family's file
//! (`piecewise`, `exponential`, `logistic`, `hyperbolic`, `gaussian`), holding everything about
//! it that is not WGSL: its [`Spec`] (parameters and PyTorch defaults, formula, which saved tensor
//! its backward reads, the derivative at each kink, the roots of the derivative), its exact f64
//! reference and its fast CPU body. Each family file also lists its ops for the registry below,
//! from which the [`OpKind`] enum, its names, the spec lookup, the reference and CPU dispatch
//! and the test lists ([`for_each_op!`](crate::for_each_op)) are generated: adding an op touches
//! its family file, its WGSL fragment in `shaders/ops/`, and its independent mpmath formula in
//! `scripts/gen_fixtures.py`. The softmax family's description is [`softmax`].

use crate::base::error::{Error, Result};

pub mod activation;
pub mod glu;
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
    /// The values it may take, besides being finite.
    pub rule: ParamRule,
}

/// What values a parameter may take, besides being finite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRule {
    /// Any finite value.
    Any,
    /// Not 0 (the op divides by it).
    NonZero,
    /// At least 0.
    NonNegative,
}

/// Where an op has a kink (a point its tests probe with both neighbours), given its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kink {
    /// At a fixed point.
    At(f32),
    /// At parameter `i`.
    Param(usize),
    /// At minus parameter `i`.
    NegParam(usize),
    /// At parameter `i` divided by parameter `j` (softplus: `threshold / beta`).
    Ratio(usize, usize),
}

impl Kink {
    /// The point, for the parameter vector `p`.
    pub fn at(self, p: [f32; 4]) -> f32 {
        match self {
            Kink::At(v) => v,
            Kink::Param(i) => p[i],
            Kink::NegParam(i) => -p[i],
            Kink::Ratio(i, j) => p[i] / p[j],
        }
    }
}

/// The static description of one activation.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
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
    /// The points the tests probe with both neighbours: the kinks, or 0 for a smooth op.
    pub kink_points: &'static [Kink],
    /// The first parameter may not exceed the second (`lower ≤ upper`).
    pub params_ordered: bool,
}

/// A parameter with PyTorch's default, for a [`Spec`].
pub(crate) const fn param(name: &'static str, default: f32) -> ParamSpec {
    ParamSpec {
        name,
        default,
        rule: ParamRule::Any,
    }
}

impl ParamSpec {
    /// The same parameter, restricted by `rule`.
    pub(crate) const fn with_rule(self, rule: ParamRule) -> ParamSpec {
        ParamSpec { rule, ..self }
    }
}

// The shared shapes of an op module's CPU backward (each family file uses them).
/// `bwd` = `der` (the backward reads `x`), `bwd_dy` = `dy·bwd` and `exact_bwd` = `exact_der`:
/// the common case.
macro_rules! backward_from_derivative {
    () => {
        /// The exact backward factor: `f'(x)`.
        pub fn exact_bwd(s: f64, a: f64, b: f64) -> f64 {
            exact_der(s, a, b)
        }
        #[inline(always)]
        pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
            der(s, p)
        }
        /// The fused backward `dy·bwd(s)`.
        #[inline(always)]
        pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
            dy * bwd(s, p)
        }
    };
}

/// `der`, `bwd` (= `der`, the backward reads `x`) and `bwd_dy` from a module's `der_dy`, and
/// `exact_bwd` = `exact_der`.
macro_rules! from_der_dy {
    () => {
        /// The exact backward factor: `f'(x)`.
        pub fn exact_bwd(s: f64, a: f64, b: f64) -> f64 {
            exact_der(s, a, b)
        }
        #[inline(always)]
        pub fn der(x: f32, p: [f32; 4]) -> f32 {
            der_dy(x, 1.0, p)
        }
        #[allow(dead_code)] // callers use `bwd_dy`
        #[inline(always)]
        pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
            der(s, p)
        }
        /// The fused backward `dy·f'(s)`, rounded once.
        #[inline(always)]
        pub fn bwd_dy(s: f32, dy: f32, p: [f32; 4]) -> f32 {
            der_dy(s, dy, p)
        }
    };
}

/// `bwd` from a module's `bwd_dy` (ops whose backward reads `y`).
macro_rules! bwd_from_bwd_dy {
    () => {
        #[allow(dead_code)] // callers use `bwd_dy`
        #[inline(always)]
        pub fn bwd(s: f32, p: [f32; 4]) -> f32 {
            bwd_dy(s, 1.0, p)
        }
    };
}

#[macro_use]
pub(crate) mod piecewise;
#[macro_use]
pub(crate) mod exponential;
#[macro_use]
pub(crate) mod logistic;
#[macro_use]
pub(crate) mod hyperbolic;
#[macro_use]
pub(crate) mod gaussian;

/// Collects every family's registry entries (each family file's `FAMILY_ops!` appends its own)
/// and hands them to [`registry!`]. `$d` carries a `$` token through, for the macros `registry!`
/// defines.
macro_rules! gather {
    ($d:tt [$($done:tt)*]) => { registry! { $d $($done)* } };
    ($d:tt [$($done:tt)*] $family:ident $($rest:ident)*) => {
        $family! { gather $d [$($done)*] $($rest)* }
    };
}

/// The registry: from `family::module = Variant` entries, the [`OpKind`] enum, its names and
/// specs, `dispatch_op!` (the CPU and reference bodies of an op, by its module) and
/// [`for_each_op!`](crate::for_each_op) (the per-op test lists).
macro_rules! registry {
    ($d:tt $($family:ident :: $module:ident = $variant:ident,)*) => {
        /// Every element-wise activation, without parameter values: the pipeline-cache key's op.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpKind {
            $(
                #[doc = concat!("`", stringify!($module), "`")]
                $variant,
            )*
        }

        impl OpKind {
            /// Every activation, family by family.
            pub const ALL: &'static [OpKind] = &[$(OpKind::$variant),*];

            /// The name as PyTorch (lower case), the CLI and the WGSL functions spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $(OpKind::$variant => stringify!($module),)*
                }
            }

            /// The static description.
            pub fn spec(self) -> Spec {
                match self {
                    $(OpKind::$variant => $family::$module::SPEC,)*
                }
            }
        }

        /// Expands `$body` once per op with `$m` naming that op's module (its `fwd`, `der`,
        /// `bwd_dy`, `exact_fwd`, ...), so that each op's loop is compiled for it alone.
        macro_rules! dispatch_op {
            ($d op:expr, $d m:ident => $d body:expr) => {{
                match $d op {
                    $($crate::ops::OpKind::$variant => {
                        use $crate::ops::$family::$module as $d m;
                        $d body
                    })*
                }
            }};
        }
        pub(crate) use dispatch_op;

        /// Calls `$callback! { module: Variant, ... }` with every element-wise op, for generating
        /// one test (or bench) per op: `for_each_op!(op_tests)` with `op_tests` matching
        /// `($($m:ident: $op:ident),* $(,)?)`.
        #[macro_export]
        macro_rules! for_each_op {
            ($d callback:ident) => {
                $d callback! { $($module: $variant,)* }
            };
        }
    };
}

gather!($ [] piecewise_ops exponential_ops logistic_ops hyperbolic_ops gaussian_ops);

impl OpKind {
    /// Look an op up by its name: PyTorch's, in any case, with or without underscores and
    /// hyphens (`relu`, `ReLU`, `LeakyReLU`, `leaky_relu`, `SiLU`, `Hardswish`, `hard_swish`,
    /// `LogSigmoid`, `QuickGELU`).
    ///
    /// ```
    /// use wgpu_activations::OpKind;
    /// assert_eq!(OpKind::from_name("LeakyReLU")?, OpKind::LeakyRelu);
    /// assert_eq!(OpKind::from_name("gelu_tanh")?, OpKind::GeluTanh);
    /// assert!(OpKind::from_name("gelux").is_err());
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    pub fn from_name(name: &str) -> Result<OpKind> {
        let key = normalized(name);
        OpKind::ALL
            .iter()
            .copied()
            .find(|o| normalized(o.name()) == key)
            .ok_or_else(|| Error::UnknownOp(name.to_string()))
    }
}

/// A name folded for lookup: lower case, without `_`, `-` and spaces.
pub(crate) fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}
