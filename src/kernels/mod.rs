//! Layer 5: the GPU kernel families. Each records into a caller's encoder (`record_*`) or builds
//! a reusable dispatch (`prepare_*`); none submits, polls or reads back.

pub(crate) mod elementwise;
pub(crate) mod prelu;
pub(crate) mod softmax;
