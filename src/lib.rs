#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
//!
//! # Layers
//!
//! The crate is built bottom up (see `docs/ARCHITECTURE.md`); no module imports from a layer
//! above its own:
//!
//! 1. `base`: [`Error`], ULP metrics ([`ulp`]), Philox ([`philox`]), the f32 and f64 numerics.
//! 2. `ops`: the op table: [`OpKind`] and its registry, [`Spec`], [`Activation`], [`Softmax`].
//! 3. [`reference`](mod@reference) (exact f64) and [`cpu`] (the fast CPU path).
//! 4. `gpu`: the runtime: [`Context`], the pipeline cache, [`Tensor`], [`Prepared`], shader sources.
//! 5. `kernels`: the GPU kernel families (element-wise, softmax, prelu): `record_*` / `prepare_*`.
//! 6. `host`: upload, run and read back host slices; [`stream`]ing.
//! 7. [`harness`]: the inputs, bounds and judging rule of the tests, benches and the CLI.

mod base;
pub mod cpu;
mod gpu;
pub mod harness;
mod host;
mod kernels;
mod ops;
pub mod reference;

pub use base::dtype::{DType, Element};
pub use base::error::{Error, Result};
pub use base::{philox, ulp};
pub use gpu::context::Context;
pub use gpu::prepared::{Chain, Prepared};
pub use gpu::tensor::Tensor;
pub use half;
pub use host::stream;
pub use host::stream::StreamOptions;
#[cfg(feature = "baselines")]
pub use kernels::elementwise::Baseline;
pub use ops::activation::Activation;
pub use ops::glu::{glu_output_shape, Glu, GluKind};
pub use ops::softmax::{Axis, Softmax, SoftmaxKind};
pub use ops::{Kink, Mode, OpKind, ParamRule, ParamSpec, Saved, Spec};
pub use wgpu;
