//! An activation with its parameter values: what a user asks for.

use super::{OpKind, ParamRule};
use crate::base::error::{Error, Result};

/// An activation with its parameter values: what a user asks for.
///
/// Build one with [`Activation::new`] (PyTorch's defaults) and [`Activation::with`], or parse
/// `name` plus `NAME=VALUE` pairs with [`Activation::parse`]. `prelu`'s slopes and `rrelu`'s
/// training seed live here too.
///
/// ```
/// # use wgpu_activations::*;
/// let leaky = Activation::by_name("leaky_relu")?.with("negative_slope", 0.2)?;
/// assert_eq!(leaky.param("negative_slope"), Some(0.2));
/// let softplus = Activation::parse("softplus", &[("beta".into(), 2.0)])?;
/// let rrelu = Activation::new(OpKind::Rrelu).training(42); // Philox slopes keyed by (42, index)
/// let prelu = Activation::new(OpKind::Prelu).with_slopes(vec![0.1, 0.2, 0.3], 16); // [N, 3, 16]
/// assert!(Activation::by_name("softplus")?.with("beta", 0.0)?.validate().is_err());
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
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

    /// By name with default parameters. Names are PyTorch's, in any case, with or without
    /// underscores (`gelu`, `GELU`, `LeakyReLU`, `leaky_relu`, `SiLU`); see [`OpKind::from_name`].
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

    /// Parse a name and `NAME=VALUE` settings given as text: numbers for the scalar parameters,
    /// and PyTorch's string options (`gelu`'s `approximate` = `none` or `tanh`), as
    /// `F.gelu(x, approximate='tanh')` spells them.
    ///
    /// ```
    /// use wgpu_activations::{Activation, OpKind};
    /// let g = Activation::parse_text("GELU", &[("approximate", "tanh")])?;
    /// assert_eq!(g.op(), OpKind::GeluTanh);
    /// let s = Activation::parse_text("Softplus", &[("beta", "2"), ("threshold", "10")])?;
    /// assert_eq!(s, Activation::softplus(2.0, 10.0));
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    pub fn parse_text(name: &str, settings: &[(&str, &str)]) -> Result<Activation> {
        let mut a = Activation::by_name(name)?;
        for &(k, v) in settings {
            a = a.set(k, v)?;
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
                op: self.op.name(),
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

    /// Set one setting given as text: a scalar parameter (`"0.2"`), or one of PyTorch's string
    /// options: `approximate` (`"none"` or `"tanh"`) for `gelu`, which picks the exact or the
    /// tanh form.
    pub fn set(self, name: &str, value: &str) -> Result<Activation> {
        if name == "approximate" && matches!(self.op, OpKind::Gelu | OpKind::GeluTanh) {
            return match value.trim().trim_matches(|c| c == '\'' || c == '"') {
                "none" => Ok(Activation::new(OpKind::Gelu)),
                "tanh" => Ok(Activation::new(OpKind::GeluTanh)),
                other => Err(Error::BadParameter {
                    op: self.op.name(),
                    message: format!("approximate = `{other}` is neither `none` nor `tanh`"),
                }),
            };
        }
        match value.trim().parse::<f32>() {
            Ok(v) => self.with(name, v),
            Err(_) => Err(Error::BadParameter {
                op: self.op.name(),
                message: format!("{name} = `{}` is not a number", value.trim()),
            }),
        }
    }

    /// The scalar parameters in [`Spec::params`](crate::Spec::params) order (the typed
    /// constructors' arguments).
    pub(crate) fn with_values(mut self, values: &[f32]) -> Activation {
        self.params[..values.len()].copy_from_slice(values);
        self
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
    /// The scalar parameters in [`Spec::params`](crate::Spec::params) order, padded with zeros.
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
                op: self.op.name(),
                message,
            })
        };
        for (ps, v) in spec.params.iter().zip(self.params) {
            if !v.is_finite() {
                return bad(format!("{} = {v} is not finite", ps.name));
            }
        }
        for (ps, v) in spec.params.iter().zip(self.params) {
            match ps.rule {
                ParamRule::NonZero if v == 0.0 => {
                    return bad(format!("{} = 0 divides by zero", ps.name))
                }
                ParamRule::NonNegative if v < 0.0 => {
                    return bad(format!("{} = {v} is negative", ps.name))
                }
                _ => {}
            }
        }
        if let ([lo, hi, ..], [a, b, ..]) = (spec.params, self.params) {
            if spec.params_ordered && a > b {
                return bad(format!("{} = {a} is above {} = {b}", lo.name, hi.name));
            }
        }
        if self.op == OpKind::Prelu {
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
                    crate::base::philox::rrelu_slope(seed, index, self.params[0], self.params[1])
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

impl Activation {
    /// prelu's layout over `n` elements: (channels, elements per channel block); an error for
    /// another op or a length that is not a whole number of `[C, inner]` blocks.
    pub(crate) fn prelu_layout(&self, n: usize) -> Result<(usize, usize)> {
        let act = self;
        if act.op() != OpKind::Prelu {
            return Err(Error::BadParameter {
                op: act.op().name(),
                message: "slope gradients exist only for prelu".into(),
            });
        }
        act.validate()?;
        let c = act.slopes().len();
        let inner = if c == 1 { 1 } else { act.inner() };
        if !n.is_multiple_of(c * inner) {
            return Err(Error::ShapeMismatch(format!(
            "prelu with {c} slopes and {inner} elements per channel needs a multiple of {} elements, got {n}",
            c * inner
        )));
        }
        Ok((c, inner))
    }
}
