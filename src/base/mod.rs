//! Layer 1: the error type and the numerics every other layer builds on.

pub mod dtype;
pub mod error;
pub(crate) mod exact;
pub(crate) mod fastmath;
pub(crate) mod fastmath64;
pub mod philox;
pub mod ulp;
