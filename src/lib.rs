//! bprwire writes the Thrift binary encoding of a twml
//! `BatchPredictionResponse` straight from a model's output slices: no
//! generated structs, no per-element allocation, the exact size known
//! before a byte is written.
//!
//! ```
//! use bprwire::{BatchPrediction, Tensor};
//!
//! let keys = [1_i64, 2, 3];
//! let scores = [0.1_f32, 0.2, 0.3, 0.4, 0.5, 0.6]; // batch 2 x 3 keys
//! let emb = [1.0_f32; 8];                           // batch 2 x 4
//! let tensors = [Tensor::new(&emb, &[2, 4])];
//! let enc = BatchPrediction::new()
//!     .continuous(&keys, &scores, &[2, 3])
//!     .dense(&[100], &tensors)
//!     .encoder()?;                                  // every check, exact size
//! let mut buf = vec![0u8; enc.encoded_len()];
//! enc.encode_into(&mut buf)?;                       // no allocation
//! # Ok::<(), bprwire::Error>(())
//! ```
//!
//! The wire format (every struct and field id, twml's rules, where
//! bprwire differs from twml) is `docs/wire-format.md` in the repository;
//! `docs/architecture.md` shows how data flows through the modules.
//!
//! Only little-endian targets are supported: raw tensors are written as
//! their in-memory bytes, as twml does.

#![deny(unsafe_code)] // allowed only in kernels::x86 (module-wide there; each block has a SAFETY comment)
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!(
    "bprwire supports little-endian targets only: raw tensor content is written as memory holds it"
);

#[cfg(any(feature = "ndarray", feature = "npy"))]
mod adapters;
pub mod decode;
mod dtype;
mod encode;
pub mod features;
// The benchmark workloads, for benches, tests and the CLI's `bench`.
#[cfg(feature = "internals")]
pub mod internals;
/// The benchmark workloads' old path (feature `internals`).
#[cfg(feature = "internals")]
#[deprecated(since = "0.1.0", note = "moved to `bprwire::internals::workloads` (issue 23)")]
pub mod workloads {
    pub use crate::internals::workloads::*;
}
// Per-CPU kernels: public only with the `internals` feature (tests,
// benches, the CLI's `bench`), as simdutf8 fences its per-CPU functions;
// `Level` and `MaxLevel` are re-exported below.
#[cfg(feature = "internals")]
pub mod kernels;
#[cfg(not(feature = "internals"))]
#[allow(dead_code)]
pub(crate) mod kernels;
pub mod service;
pub mod sink;
mod wire;

#[cfg(feature = "npy")]
pub use adapters::npy;
pub use dtype::DataType;
pub use encode::encoder::Encoder;
pub use encode::error::{Error, Input, KeyMap, Size};
pub use encode::input::{
    BatchPrediction, Continuous, Dense, Shape, StringKind, Tensor, TensorData, TensorEncoding, Values,
};
pub use encode::signature::{Element, Signature, SignatureBuilder};
pub use features::feature_id::{feature_id, feature_id_bytes, FeatureNameError};
pub use kernels::{Level, MaxLevel};
