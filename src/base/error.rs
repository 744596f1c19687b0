//! The crate's one error type. Every public function returns [`Result`]; nothing a caller passes
//! in can make the crate panic.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter matched the request (the message lists the adapters that exist).
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// An environment variable the adapter choice honours (`WGPU_BACKEND`, `WGPU_POWER_PREF`)
    /// holds a value it does not understand.
    #[error("environment variable {name}={value:?} is not valid: expected {expected}")]
    BadEnvironment {
        /// The variable.
        name: &'static str,
        /// Its value (lossily decoded).
        value: String,
        /// What it may hold.
        expected: &'static str,
    },
    /// Requesting the device failed.
    #[error("could not create a device: {0}")]
    RequestDevice(String),
    /// The adapter lacks a feature the call needs.
    #[error("the adapter lacks the feature {0}")]
    UnsupportedFeature(&'static str),
    /// Tensors of one call with different element types, or a dtype the call does not take.
    #[error("dtype: {0}")]
    DTypeMismatch(String),
    /// An op name that does not exist.
    #[error("unknown activation `{0}`")]
    UnknownOp(String),
    /// A parameter that makes no sense for the op.
    #[error("bad parameter for {op}: {message}")]
    BadParameter {
        /// The op.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Two tensors that must have the same length do not.
    #[error("length mismatch: {what} has {got} elements, expected {expected}")]
    LengthMismatch {
        /// Which tensor.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length it should have.
        expected: usize,
    },
    /// A shape that does not fit the op (for example prelu's channel layout).
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// A caller buffer is smaller than the range the call names.
    #[error(
        "buffer `{what}` too small: the call needs bytes {offset}..{end}, the buffer has {size}"
    )]
    BufferTooSmall {
        /// Which buffer.
        what: &'static str,
        /// Start of the range in bytes.
        offset: u64,
        /// End of the range in bytes.
        end: u64,
        /// The buffer's size in bytes.
        size: u64,
    },
    /// A caller buffer lacks a usage the call needs.
    #[error("buffer `{what}` lacks the usage {usage}")]
    MissingUsage {
        /// Which buffer.
        what: &'static str,
        /// The missing usage.
        usage: &'static str,
    },
    /// A byte offset that is not a multiple of 4 (an f32).
    #[error("buffer `{what}`: offset {offset} is not a multiple of {align} bytes")]
    Misaligned {
        /// Which buffer.
        what: &'static str,
        /// The offset given.
        offset: u64,
        /// The alignment required.
        align: u64,
    },
    /// A tensor larger than the device can hold in one buffer.
    #[error("{elements} elements need {bytes} bytes, above the device's maximum buffer size of {max} bytes")]
    TooLarge {
        /// Elements asked for.
        elements: usize,
        /// Bytes they need.
        bytes: u64,
        /// The device's limit.
        max: u64,
    },
    /// wgpu reported a validation or out-of-memory error (caught in an error scope).
    #[error("wgpu error in {label}: {message}")]
    Wgpu {
        /// The kernel or operation it came from.
        label: String,
        /// wgpu's message.
        message: String,
    },
    /// A WGSL kernel failed to compile; carries the generated source.
    #[error("kernel {label} failed to compile: {message}\n--- WGSL ---\n{source_text}")]
    ShaderCompile {
        /// The kernel.
        label: String,
        /// The compiler's message.
        message: String,
        /// The full generated WGSL.
        source_text: String,
    },
    /// Mapping a buffer for readback failed.
    #[error("buffer mapping failed: {0}")]
    Map(String),
    /// An output that overlaps an input buffer where the kernel cannot alias them.
    #[error("aliasing: {0}")]
    Aliasing(String),
    /// A stream was cancelled by its progress callback: the first `processed_elements` elements
    /// hold results, the rest are untouched (see the `stream` module).
    #[error("cancelled after {processed_elements} elements")]
    Cancelled {
        /// Elements written back before the cancel.
        processed_elements: usize,
    },
    /// The device was lost.
    #[error("device lost: {0}")]
    DeviceLost(String),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
