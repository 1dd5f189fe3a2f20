//! bprwire's C ABI (`include/bprwire.h`, `libbprwire_c.a` / `.so`): the
//! encoder's prepared signatures and one-shot writers, and the request
//! side's layout and scatter, for C and C++ callers (libtwml's place, and
//! the TensorFlow ops of `tfop/`).
//!
//! One module per exported object, as rustls-ffi keeps them: `types`
//! (constants and C structs), `args` (every pointer check and conversion,
//! in one place), `signature`, `oneshot` (twml's two writers), `layout`
//! (the request side), `error` (status codes and the thread's last
//! message); everything public is re-exported here.
//!
//! Conventions, every function:
//! - returns a status (`BPRWIRE_OK` or a `BPRWIRE_ERR_*` code) and sets
//!   the thread's message ([`bprwire_last_error`]) on a refusal;
//! - never lets a panic out (a bug becomes `BPRWIRE_ERR_PANIC`);
//! - takes element data as packed little-endian bytes of a twml `DataType`
//!   (`BPRWIRE_FLOAT` ... `BPRWIRE_BOOL`) with no alignment requirement, or
//!   strings as `bprwire_str` (pointer, length) pairs; a pointer may be
//!   NULL only where its count is 0;
//! - writes nothing past `capacity` and nothing at all when it refuses
//!   (`BPRWIRE_ERR_BUFFER_TOO_SMALL` for a short buffer).

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

// In the header's order (cbindgen reads the modules as declared).
mod types;

mod signature;

mod oneshot;

mod layout;

mod error;

mod args;

pub use error::{
    bprwire_last_error, BPRWIRE_ERR_ALLOC, BPRWIRE_ERR_BUFFER_TOO_SMALL, BPRWIRE_ERR_DECODE,
    BPRWIRE_ERR_INVALID, BPRWIRE_ERR_NULL, BPRWIRE_ERR_PANIC, BPRWIRE_OK,
};
pub use layout::*;
pub use oneshot::*;
pub use signature::*;
pub use types::*;
