//! Layer 4: the GPU runtime: device and adapter, the pipeline cache, error scopes, readback,
//! tensors, prepared dispatches and every shader source. It knows no kernel family.

pub(crate) mod binding;
pub(crate) mod context;
pub(crate) mod prepared;
pub(crate) mod source;
pub(crate) mod tensor;
pub(crate) mod uniform;
pub(crate) mod wait;
