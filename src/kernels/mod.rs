//! Bulk kernels: the loops that move element data into the output.
//!
//! The encoder's layout code calls only these functions for element data,
//! so faster versions can replace them without touching the layout. Every
//! kernel reads its source as packed little-endian element bytes (no
//! alignment needed) and fills a destination slice of exactly the size it
//! produces; [`scalar`] defines the result every other version must match.

pub mod scalar;

pub use scalar::{bool_to_thrift, continuous_row_f32, continuous_row_f64, copy, f32_to_f64_be, swap4, swap8};
