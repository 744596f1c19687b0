//! The GLU family — `glu`, `swiglu`, `geglu` (erf and tanh forms) and `reglu` — the gated linear
//! units of Dauphin et al. (arXiv 1612.08083) and Shazeer's variants (arXiv 2002.05202), as in
//! PyTorch's `F.glu(x, dim)` and the gated MLPs of LLaMA/Mistral (SwiGLU) and T5/Gemma (GeGLU).
//!
//! # Which half is which
//!
//! The one-tensor form splits `x` along `axis` into two halves, `a, b = x.chunk(2, dim)` (a the
//! first half, b the second), and returns a tensor of half the length along that axis:
//!
//! | op | output | gate | value |
//! |---|---|---|---|
//! | `glu` | `a ⊗ σ(b)` (PyTorch's `F.glu`) | `b` (second half) | `a` (first half) |
//! | `swiglu` | `silu(a) ⊗ b` | `a` (first half) | `b` (second half) |
//! | `geglu` | `gelu(a) ⊗ b` (`approximate=tanh`: gelu's tanh form) | `a` | `b` |
//! | `reglu` | `relu(a) ⊗ b` | `a` | `b` |
//!
//! The two-input form takes the gate and the value as separate tensors of one shape (as fused MLP
//! kernels do: `gate = x·W_gate`, `value = x·W_up`) and returns `f(gate) ⊗ value`, with `f` the
//! op's activation (`glu`: σ) — no convention on halves to get wrong. Code written with the
//! other order (`b ⊗ silu(a)` with `a` the second half) passes its tensors as gate and value.
//!
//! # Accuracy and special values
//!
//! Every output is measured against the exact product of the exact values (the f64 reference,
//! `reference::glu_*`): forward within 4 ULP, both backward gradients within 8 ULP, also where an
//! intermediate product (`dy·value`, `gate·value`) is outside the f32 range but the result is
//! not. `d gate = dy·value·f'(gate)` and `d value = dy·f(gate)`. Where any input is ±∞ or NaN, the
//! result is the IEEE product of the factors with `f(gate)` (`f'(gate)`) rounded to f32, the
//! limits of `f` at ±∞ as the element-wise ops define them: NaN where a factor is NaN or an
//! infinite factor meets a zero one, else ±∞ with the product's sign (the element-wise backward's
//! infinite-dy rule, extended to three factors).

use crate::base::error::{Error, Result};
use crate::ops::softmax::{geometry, Axis};
use crate::ops::OpKind;

/// Which gated unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GluKind {
    /// `a ⊗ σ(b)`: gate `b`, the second half (PyTorch's `F.glu`).
    Glu,
    /// `silu(a) ⊗ b`.
    SwiGlu,
    /// `gelu(a) ⊗ b` (erf form, or tanh form with [`Glu::tanh`]).
    GeGlu,
    /// `relu(a) ⊗ b`.
    ReGlu,
}

impl GluKind {
    /// `glu`, `swiglu`, `geglu`, `reglu`.
    pub fn name(self) -> &'static str {
        match self {
            GluKind::Glu => "glu",
            GluKind::SwiGlu => "swiglu",
            GluKind::GeGlu => "geglu",
            GluKind::ReGlu => "reglu",
        }
    }
    /// Every kind.
    pub const ALL: [GluKind; 4] = [
        GluKind::Glu,
        GluKind::SwiGlu,
        GluKind::GeGlu,
        GluKind::ReGlu,
    ];
}

/// A GLU-family op: its kind and, for `geglu`, which gelu.
///
/// ```
/// # use wgpu_activations::*;
/// let g = Glu::by_name("geglu")?.with_param("approximate", "tanh")?;
/// assert_eq!(g, Glu::geglu_tanh());
/// assert_eq!(g.name(), "geglu_tanh");
/// // swiglu's gate is the first half: silu(a) ⊗ b.
/// let y = cpu::glu(&Glu::swiglu(), &[1.0f32, 2.0], &[2], -1)?;
/// assert!((y[0] - 2.0 * 0.731_058_6).abs() < 1e-6);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Glu {
    /// glu, swiglu, geglu or reglu.
    pub kind: GluKind,
    /// geglu only: gelu's tanh approximation (PyTorch's `approximate='tanh'`).
    pub tanh: bool,
}

impl Glu {
    /// `kind` (geglu in its erf form).
    pub fn new(kind: GluKind) -> Glu {
        Glu { kind, tanh: false }
    }
    /// `a ⊗ σ(b)`.
    #[allow(clippy::self_named_constructors)]
    pub fn glu() -> Glu {
        Glu::new(GluKind::Glu)
    }
    /// `silu(a) ⊗ b`.
    pub fn swiglu() -> Glu {
        Glu::new(GluKind::SwiGlu)
    }
    /// `gelu(a) ⊗ b`, gelu with erf.
    pub fn geglu() -> Glu {
        Glu::new(GluKind::GeGlu)
    }
    /// `gelu_tanh(a) ⊗ b`.
    pub fn geglu_tanh() -> Glu {
        Glu {
            kind: GluKind::GeGlu,
            tanh: true,
        }
    }
    /// `relu(a) ⊗ b`.
    pub fn reglu() -> Glu {
        Glu::new(GluKind::ReGlu)
    }
    /// Every op of the family (geglu in both forms).
    pub const ALL: [Glu; 5] = [
        Glu {
            kind: GluKind::Glu,
            tanh: false,
        },
        Glu {
            kind: GluKind::SwiGlu,
            tanh: false,
        },
        Glu {
            kind: GluKind::GeGlu,
            tanh: false,
        },
        Glu {
            kind: GluKind::GeGlu,
            tanh: true,
        },
        Glu {
            kind: GluKind::ReGlu,
            tanh: false,
        },
    ];

    /// The op of that name, in any case, with or without underscores: `glu`, `swiglu`, `geglu`,
    /// `geglu_tanh`, `reglu`.
    pub fn by_name(name: &str) -> Result<Glu> {
        let key = super::normalized(name);
        Glu::ALL
            .into_iter()
            .find(|g| super::normalized(g.name()) == key)
            .ok_or_else(|| Error::UnknownOp(name.to_string()))
    }

    /// With a parameter set from text: `approximate` = `none` or `tanh` (geglu only, as
    /// PyTorch's gelu).
    pub fn with_param(self, name: &str, value: &str) -> Result<Glu> {
        let bad = |message: String| Error::BadParameter {
            op: self.kind.name(),
            message,
        };
        if super::normalized(name) != "approximate" {
            return Err(bad(format!(
                "no parameter `{name}` (only geglu has one: approximate = none | tanh)"
            )));
        }
        if self.kind != GluKind::GeGlu {
            return Err(bad("only geglu takes `approximate`".into()));
        }
        match value.to_ascii_lowercase().as_str() {
            "none" | "erf" => Ok(Glu::geglu()),
            "tanh" => Ok(Glu::geglu_tanh()),
            _ => Err(bad(format!(
                "approximate = {value:?} (expected none or tanh)"
            ))),
        }
    }

    /// `glu`, `swiglu`, `geglu`, `geglu_tanh` or `reglu`.
    pub fn name(&self) -> &'static str {
        if self.kind == GluKind::GeGlu && self.tanh {
            "geglu_tanh"
        } else {
            self.kind.name()
        }
    }

    /// The activation applied to the gate: sigmoid, silu, gelu, gelu_tanh or relu.
    pub fn activation(&self) -> OpKind {
        match self.kind {
            GluKind::Glu => OpKind::Sigmoid,
            GluKind::SwiGlu => OpKind::Silu,
            GluKind::GeGlu if self.tanh => OpKind::GeluTanh,
            GluKind::GeGlu => OpKind::Gelu,
            GluKind::ReGlu => OpKind::Relu,
        }
    }

    /// Whether the gate is the first half of the one-tensor form (`false` for `glu`, whose gate
    /// is the second half, as PyTorch's `F.glu`).
    pub fn gate_first(&self) -> bool {
        self.kind != GluKind::Glu
    }
}

/// A one-tensor GLU input seen as `[outer, 2·half, inner]` (the split axis in the middle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GluGeometry {
    pub(crate) outer: usize,
    pub(crate) half: usize,
    pub(crate) inner: usize,
    /// Elements of the input (and of its gradient), and of the output.
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
}

impl GluGeometry {
    /// The two-input form over `n` elements: one row, no halves.
    pub(crate) fn pair(n: usize) -> GluGeometry {
        GluGeometry {
            outer: 1,
            half: n,
            inner: 1,
            n_in: n,
            n_out: n,
        }
    }
    /// Offsets (in elements, from the start of a row of the input) of the gate and the value.
    pub(crate) fn shifts(&self, g: &Glu) -> (usize, usize) {
        let h = self.half * self.inner;
        if g.gate_first() {
            (0, h)
        } else {
            (h, 0)
        }
    }
    /// The input indices (gate, value) of output element `i` (the two-input form: `(i, i)`).
    pub(crate) fn source(&self, g: &Glu, i: usize) -> (usize, usize) {
        let row = self.half * self.inner;
        if self.n_in == self.n_out {
            return (i, i);
        }
        let (o, r) = (i / row, i % row);
        let (sg, sv) = self.shifts(g);
        (2 * row * o + sg + r, 2 * row * o + sv + r)
    }
}

/// The geometry of a one-tensor input of `shape` split along `axis`: the axis must have an even
/// length ([`Error::ShapeMismatch`] otherwise, as PyTorch refuses an odd one).
pub(crate) fn glu_geometry(g: &Glu, shape: &[usize], axis: Axis) -> Result<GluGeometry> {
    let axis = axis.index(g.name(), shape)?;
    let geo = geometry(g.name(), shape, axis)?;
    if geo.len % 2 != 0 {
        return Err(Error::ShapeMismatch(format!(
            "{} halves axis {axis} of the shape {shape:?}, whose length {} is odd",
            g.name(),
            geo.len
        )));
    }
    Ok(GluGeometry {
        outer: geo.outer,
        half: geo.len / 2,
        inner: geo.inner,
        n_in: geo.n,
        n_out: geo.n / 2,
    })
}

/// The output shape of the one-tensor form: `shape` with `axis` halved.
pub fn glu_output_shape(g: &Glu, shape: &[usize], axis: impl Into<Axis>) -> Result<Vec<usize>> {
    let axis = axis.into();
    glu_geometry(g, shape, axis)?;
    let i = axis.index(g.name(), shape)?;
    let mut out = shape.to_vec();
    out[i] /= 2;
    Ok(out)
}

/// The IEEE product of `factors` as the GLU family defines it where an input is not finite: NaN
/// where a factor is NaN or an infinite factor meets a zero, else the f64 product (±∞ where a
/// factor is infinite).
pub(crate) fn special_product(factors: &[f64]) -> f64 {
    if factors.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    if factors.iter().any(|v| v.is_infinite()) && factors.contains(&0.0) {
        return f64::NAN;
    }
    factors.iter().product()
}

/// `f` rounded to f32 for the special products, where `f` is the f64 value of an odd function
/// `f(t) = c·t + (a positive second-order term)` at a tiny `t` (silu, gelu, gelu_tanh: `f(t) =
/// t/2 + O(t²)`): an f64 value exactly halfway between two f32s is then the rounding of the
/// leading term alone, and the true value lies just above it.
pub(crate) fn round_f32_above(f: f64) -> f32 {
    let r = f as f32;
    let other = if (r as f64) < f {
        r.next_up()
    } else {
        r.next_down()
    };
    let tie = (r as f64 - f).abs() == (other as f64 - f).abs() && r != other;
    if tie {
        f.next_up() as f32
    } else {
        r
    }
}

/// The geometry of a one-tensor call, with its tensors' lengths checked against it: `x` (the
/// input's) and, for backward, `dy` (the output gradient's).
pub(crate) fn checked_geometry(
    g: &Glu,
    shape: &[usize],
    axis: Axis,
    x: usize,
    dy: Option<usize>,
) -> Result<GluGeometry> {
    let geo = glu_geometry(g, shape, axis)?;
    check_len("x", x, geo.n_in)?;
    if let Some(dy) = dy {
        check_len("dy", dy, geo.n_out)?;
    }
    Ok(geo)
}

/// The two-input form's lengths: `value` and, for backward, `dy` as long as `gate`.
pub(crate) fn check_pair(gate: usize, value: usize, dy: Option<usize>) -> Result<()> {
    check_len("value", value, gate)?;
    if let Some(dy) = dy {
        check_len("dy", dy, gate)?;
    }
    Ok(())
}

/// The length check of a host slice against its shape.
pub(crate) fn check_len(what: &'static str, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        return Err(Error::LengthMismatch {
            what,
            got,
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_params() {
        for g in Glu::ALL {
            assert_eq!(Glu::by_name(g.name()).ok(), Some(g));
        }
        assert_eq!(Glu::by_name("SwiGLU").ok(), Some(Glu::swiglu()));
        assert!(Glu::by_name("gelu").is_err());
        assert!(Glu::swiglu().with_param("approximate", "tanh").is_err());
        assert!(Glu::geglu().with_param("approximate", "cubic").is_err());
        assert_eq!(
            Glu::geglu().with_param("approximate", "tanh").ok(),
            Some(Glu::geglu_tanh())
        );
    }

    #[test]
    fn geometry_rules() {
        let g = Glu::glu();
        let geo = glu_geometry(&g, &[2, 4, 3], Axis(1)).unwrap(); // ok: unit test
        assert_eq!((geo.outer, geo.half, geo.inner, geo.n_out), (2, 2, 3, 12));
        assert!(matches!(
            glu_geometry(&g, &[2, 3], Axis(-1)),
            Err(Error::ShapeMismatch(_))
        ));
        assert!(matches!(
            glu_geometry(&g, &[2, 4], Axis(2)),
            Err(Error::BadParameter { .. })
        ));
        assert_eq!(glu_output_shape(&g, &[2, 4], -1).unwrap(), vec![2, 2]); // ok: unit test
    }
}
