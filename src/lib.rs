//! # wgpu-activations
//!
//! Neural-network activation functions on the GPU through wgpu: forward, derivative and fused
//! backward for every element-wise activation of PyTorch's `torch.nn` (and a few modern extras),
//! written in WGSL with range-reduced, stable numerics, plus an exact f64 CPU reference and a
//! fast multi-threaded f32 CPU path of the same accuracy.
#![warn(missing_docs)]

pub mod accuracy;
pub mod activation;
mod binding;
mod context;
pub mod cpu;
mod cpu_ops;
pub mod elementwise;
pub mod error;
mod fastmath;
mod fastmath64;
pub mod philox;
mod prelu;
pub mod prepared;
pub mod reference;
pub mod softmax;
mod source;
pub mod stream;
pub mod ulp;

pub use activation::{Activation, Mode, OpKind, Saved, Spec};
pub use context::Context;
pub use elementwise::{DType, Element, Tensor};
pub use error::{Error, Result};
pub use half;
pub use prepared::{Chain, Prepared};
pub use softmax::{Softmax, SoftmaxKind};
pub use stream::StreamOptions;
pub use wgpu;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
