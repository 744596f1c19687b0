//! The softmax family — softmax, log_softmax and softmin (PyTorch semantics), forward and
//! backward, for f32 tensors of any shape along any axis, with an optional temperature
//! (the function of `x / T`) — on the GPU (`kernels::softmax`), on the fast CPU path
//! (`cpu::softmax`) and as an exact f64 reference (`reference::softmax_exact`).
//!
//! The row statistics follow Milakov & Gimelshein, *Online normalizer calculation for softmax*
//! (arXiv 1805.02867): a running (max, sum) per invocation, merged as
//! `M = max mₖ, S = Σ Sₖ·e^((mₖ − M)/T)`. To stay within a few ULP of the exact softmax of the f32
//! inputs, `(x − M)/T` is carried as a double-float with its rounding error, `e^d` comes from the
//! crate's accurate `exp_core`, and the sums are double-floats (see the WGSL header).
//!
//! # Accuracy
//!
//! Against the exact function of the f32 inputs ([`reference_forward_exact`]; the temperature
//! divides in real arithmetic, `x / T` is never rounded): probabilities within 1 ULP (0.7 measured
//! on the GPU, 0.56 on the CPU path, which computes in f64), log-probabilities within ~1 ULP or
//! 2^-22 absolute near 0 (CPU path: 0.5 ULP, within 2^-33 absolute near 0). The
//! backward is within 4 ULP of the f64 formula applied to the f32 `y` and `dy`, except where
//! `dy − Σ` cancels: there the error stays below 2^-36 (softmax, softmin) or 2^-28 (log_softmax,
//! through `e^y`) of the magnitudes that cancel.
//!
//! # Semantics
//!
//! As PyTorch: a row holding NaN or +∞ gives a NaN row (softmin: NaN or −∞); a row that is
//! entirely −∞ gives NaN; a −∞ entry gives probability 0 (log-probability −∞); a row of length 1
//! gives 1. With [`Softmax::safe`], a fully masked row gives probabilities 0 (log_softmax: −∞, the
//! log of those zeros) and a zero gradient. Backward reads the saved forward output `y` (as
//! PyTorch does): a row whose `y` or `dy` holds NaN or ±∞ gives a NaN row, except log_softmax's
//! −∞ log-probabilities, whose `e^y` is 0.

use crate::base::error::{Error, Result};

/// Which function of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SoftmaxKind {
    /// `e^(x/T) / Σ e^(x/T)`.
    Softmax,
    /// `log softmax(x)`, computed directly (no cancellation, no underflow to −∞ for finite
    /// inputs whose log-probability is finite).
    LogSoftmax,
    /// `softmax(−x)`.
    Softmin,
}

impl SoftmaxKind {
    /// The PyTorch name: `softmax`, `log_softmax`, `softmin`.
    pub fn name(self) -> &'static str {
        match self {
            SoftmaxKind::Softmax => "softmax",
            SoftmaxKind::LogSoftmax => "log_softmax",
            SoftmaxKind::Softmin => "softmin",
        }
    }

    /// The kind with that PyTorch name, in any case, with or without underscores
    /// (`log_softmax`, `LogSoftmax`).
    pub fn from_name(name: &str) -> Result<SoftmaxKind> {
        let key = super::normalized(name);
        SoftmaxKind::ALL
            .into_iter()
            .find(|k| super::normalized(k.name()) == key)
            .ok_or_else(|| Error::UnknownOp(name.to_string()))
    }

    /// Every kind.
    pub const ALL: [SoftmaxKind; 3] = [
        SoftmaxKind::Softmax,
        SoftmaxKind::LogSoftmax,
        SoftmaxKind::Softmin,
    ];
}

/// A softmax-family function: its kind, temperature and masking behaviour.
///
/// ```
/// # use wgpu_activations::*;
/// let sm = Softmax::log_softmax().with_temperature(0.5);
/// let masked = Softmax::softmax().with_safe(true); // an all −∞ row gives zeros, not NaN
/// assert_eq!(Softmax::new(SoftmaxKind::from_name("softmin")?), Softmax::softmin());
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Softmax {
    /// softmax, log_softmax or softmin.
    pub kind: SoftmaxKind,
    /// The function is applied to `x / temperature`; 1.0 by default. Must be positive, between
    /// 1e-30 and 1e30.
    pub temperature: f32,
    /// A fully masked row (every entry −∞; softmin: +∞) gives zeros (log_softmax: −∞) and a zero
    /// gradient instead of NaN, as attention code wants.
    pub safe: bool,
}

impl Default for Softmax {
    fn default() -> Self {
        Softmax::new(SoftmaxKind::Softmax)
    }
}

/// The name of PyTorch's `nn.Softmax2d` (softmax over channels) for [`Softmax::by_name`].
const SOFTMAX2D: &str = "Softmax2d";

/// Smallest and largest temperatures accepted.
const MIN_TEMPERATURE: f32 = 1e-30;
const MAX_TEMPERATURE: f32 = 1e30;

impl Softmax {
    /// `kind` at temperature 1, not safe.
    pub fn new(kind: SoftmaxKind) -> Softmax {
        Softmax {
            kind,
            temperature: 1.0,
            safe: false,
        }
    }
    /// softmax.
    #[allow(clippy::self_named_constructors)]
    pub fn softmax() -> Softmax {
        Softmax::new(SoftmaxKind::Softmax)
    }
    /// log_softmax.
    pub fn log_softmax() -> Softmax {
        Softmax::new(SoftmaxKind::LogSoftmax)
    }
    /// softmin.
    pub fn softmin() -> Softmax {
        Softmax::new(SoftmaxKind::Softmin)
    }
    /// With temperature `t` (the function of `x / t`).
    pub fn with_temperature(mut self, t: f32) -> Softmax {
        self.temperature = t;
        self
    }
    /// With the safe treatment of fully masked rows.
    pub fn with_safe(mut self, safe: bool) -> Softmax {
        self.safe = safe;
        self
    }

    /// Check the temperature: [`Error::BadParameter`] unless it is a number in
    /// `[1e-30, 1e30]` (zero, negative, NaN and infinite temperatures are refused).
    pub fn validate(&self) -> Result<()> {
        let t = self.temperature;
        if !(MIN_TEMPERATURE..=MAX_TEMPERATURE).contains(&t) {
            let why = if t == 0.0 {
                "zero temperature".to_string()
            } else {
                format!("temperature {t} (it must be a positive number between 1e-30 and 1e30)")
            };
            return Err(Error::BadParameter {
                op: self.kind.name(),
                message: why,
            });
        }
        Ok(())
    }

    /// The function a PyTorch name stands for, and the axis the name fixes if it fixes one. The
    /// family's names (functional or module spelling, any case: `log_softmax`, `LogSoftmax`)
    /// leave the axis to the caller (`None`); `Softmax2d` (`nn.Softmax2d`) is softmax over the
    /// channels of an `[N, C, H, W]` or `[C, H, W]` tensor, axis −3 (`Some(Axis(-3))`; see
    /// [`Softmax::softmax2d_axis`] for the rank check).
    ///
    /// ```
    /// # use wgpu_activations::*;
    /// let (sm, axis) = Softmax::by_name("Softmax2d")?;
    /// assert_eq!((sm, axis), (Softmax::softmax(), Some(Axis(-3))));
    /// let x = vec![0.5f32; 2 * 3 * 4 * 5];
    /// let shape = [2, 3, 4, 5];
    /// let p = cpu::softmax(&sm, &x, &shape, Softmax::softmax2d_axis(&shape)?)?;
    /// assert!((p[0] - 1.0 / 3.0).abs() < 1e-7);
    /// assert_eq!(Softmax::by_name("log_softmax")?, (Softmax::log_softmax(), None));
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    pub fn by_name(name: &str) -> Result<(Softmax, Option<Axis>)> {
        if super::normalized(name) == super::normalized(SOFTMAX2D) {
            return Ok((Softmax::softmax(), Some(Axis(-3))));
        }
        Ok((Softmax::new(SoftmaxKind::from_name(name)?), None))
    }

    /// The axis `nn.Softmax2d` normalises over in a tensor of `shape`: the channels, axis
    /// `rank − 3`, of `[N, C, H, W]` or `[C, H, W]`; [`Error::ShapeMismatch`] for any other rank
    /// (PyTorch refuses them too).
    pub fn softmax2d_axis(shape: &[usize]) -> Result<usize> {
        match shape.len() {
            3 | 4 => Ok(shape.len() - 3),
            r => Err(Error::ShapeMismatch(format!(
                "Softmax2d takes a 3-D [C, H, W] or 4-D [N, C, H, W] tensor, not the {r}-D shape \
                 {shape:?}"
            ))),
        }
    }

    pub(crate) fn log(&self) -> bool {
        self.kind == SoftmaxKind::LogSoftmax
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes and constants shared by every path.

/// A tensor seen as `[outer, len, inner]`, the reduced axis in the middle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) outer: usize,
    pub(crate) len: usize,
    pub(crate) inner: usize,
    pub(crate) n: usize,
}

/// A tensor axis: `0..rank`, or counted from the end as PyTorch's `dim=-1` (`-1` is the last).
/// Every call that takes an axis takes `impl Into<Axis>`: an unsigned index or a signed one.
///
/// ```
/// use wgpu_activations::{cpu, Softmax};
/// let x = [1.0f32, 2.0, 3.0, 4.0];
/// let last = cpu::softmax(&Softmax::softmax(), &x, &[2, 2], -1)?;
/// assert_eq!(last, cpu::softmax(&Softmax::softmax(), &x, &[2, 2], 1usize)?);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Axis(pub i64);

impl Axis {
    /// The axis as an index into `shape`; [`Error::BadParameter`] (naming `op`) when out of range.
    pub fn index(self, op: &'static str, shape: &[usize]) -> Result<usize> {
        let rank = shape.len() as i64;
        let i = if self.0 < 0 { self.0 + rank } else { self.0 };
        if i < 0 || i >= rank {
            return Err(Error::BadParameter {
                op,
                message: format!(
                    "axis {} is out of range for the {}-D shape {shape:?}",
                    self.0,
                    shape.len()
                ),
            });
        }
        Ok(i as usize)
    }
}

macro_rules! axis_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Axis {
            fn from(v: $t) -> Axis {
                Axis(v as i64)
            }
        }
    )*};
}
axis_from!(i32, i64, isize, u32, usize);

pub(crate) fn geometry(op: &'static str, shape: &[usize], axis: usize) -> Result<Geometry> {
    let axis = Axis::from(axis).index(op, shape)?;
    let prod = |dims: &[usize]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let too_big = || {
        Error::ShapeMismatch(format!(
            "the shape {shape:?} has more elements than a usize can count"
        ))
    };
    let outer = prod(&shape[..axis]).ok_or_else(too_big)?;
    let inner = prod(&shape[axis + 1..]).ok_or_else(too_big)?;
    let len = shape[axis];
    let n = prod(shape).ok_or_else(too_big)?;
    Ok(Geometry {
        outer,
        len,
        inner,
        n,
    })
}

pub(crate) fn check_len(shape: &[usize], g: &Geometry, what: &str, len: usize) -> Result<()> {
    if len != g.n {
        return Err(Error::ShapeMismatch(format!(
            "the shape {shape:?} holds {} elements but {what} has {len}",
            g.n
        )));
    }
    Ok(())
}

/// The per-call constants of the kernels and the CPU path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Consts {
    /// 0x8000_0000 for softmin (x → −x), else 0.
    pub(crate) flip: u32,
    /// 2/T as a double-float.
    pub(crate) g_hi: f32,
    pub(crate) g_lo: f32,
    /// Backward's factor ±1/T as a double-float.
    pub(crate) b_hi: f32,
    pub(crate) b_lo: f32,
    /// Largest |(x − m)/2| whose product with `g_hi` stays finite.
    pub(crate) lim_a: f32,
    pub(crate) safe: bool,
}

fn split_f64(v: f64) -> (f32, f32) {
    let hi = v as f32;
    (hi, (v - hi as f64) as f32)
}

impl Consts {
    pub(crate) fn new(sm: &Softmax) -> Consts {
        let t = sm.temperature as f64;
        let (g_hi, g_lo) = split_f64(2.0 / t);
        let sign = if sm.kind == SoftmaxKind::Softmin {
            -1.0
        } else {
            1.0
        };
        let (b_hi, b_lo) = split_f64(sign / t);
        let lim = (f32::MAX as f64 / g_hi as f64).min(f32::MAX as f64);
        let mut lim_a = lim as f32;
        if lim_a as f64 > lim {
            lim_a = lim_a.next_down();
        }
        Consts {
            flip: if sm.kind == SoftmaxKind::Softmin {
                0x8000_0000
            } else {
                0
            },
            g_hi,
            g_lo,
            b_hi,
            b_lo,
            lim_a,
            safe: sm.safe,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_checks() {
        assert!(Softmax::softmax().with_temperature(0.0).validate().is_err());
        assert!(Softmax::softmax()
            .with_temperature(f32::NAN)
            .validate()
            .is_err());
        assert!(Softmax::softmax()
            .with_temperature(-1.0)
            .validate()
            .is_err());
        assert!(Softmax::softmax().with_temperature(0.5).validate().is_ok());
    }

    #[test]
    fn names_and_softmax2d_axis() {
        for name in ["Softmax2d", "softmax2d", "softmax_2d", "SOFTMAX2D"] {
            let (sm, axis) = Softmax::by_name(name).unwrap(); // ok: unit test
            assert_eq!((sm, axis), (Softmax::softmax(), Some(Axis(-3))), "{name}");
        }
        assert_eq!(
            Softmax::by_name("LogSoftmax").unwrap(), // ok: unit test
            (Softmax::log_softmax(), None)
        );
        assert!(matches!(
            Softmax::by_name("softmax3d"),
            Err(Error::UnknownOp(_))
        ));
        assert_eq!(Softmax::softmax2d_axis(&[2, 3, 4, 5]).unwrap(), 1); // ok: unit test
        assert_eq!(Softmax::softmax2d_axis(&[3, 4, 5]).unwrap(), 0); // ok: unit test
        for bad in [&[3usize, 4][..], &[1, 2, 3, 4, 5], &[]] {
            assert!(matches!(
                Softmax::softmax2d_axis(bad),
                Err(Error::ShapeMismatch(_))
            ));
        }
    }
}
