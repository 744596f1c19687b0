//! Layer 6: host slices in and out: upload, run, read back, through the streaming ring.

mod elementwise;
mod glu;
mod prelu;
mod softmax;
pub mod stream;
