//! Input adapters: other libraries' and formats' arrays as encoder input,
//! borrowed as they are.

#[cfg(feature = "ndarray")]
mod ndarray;
#[cfg(feature = "npy")]
pub mod npy;
