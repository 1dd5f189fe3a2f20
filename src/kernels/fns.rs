//! One level's kernel functions ([`Fns`]): what the scalar twins and each
//! x86 level provide, and [`Kernels`](super::Kernels) hands out.

use super::records::Records;

/// Turns little-endian elements into their wire bytes (`src`, `dst`).
pub(crate) type Convert = fn(&[u8], &mut [u8]);
/// Writes whole records of continuous entries (`records`, `values`, `dst`).
pub(crate) type Continuous = fn(&Records<'_>, &[u8], &mut [u8]);

/// One level's functions, as safe function pointers.
#[derive(Clone, Copy)]
pub(crate) struct Fns {
    pub swap8: Convert,
    pub swap4: Convert,
    pub f32_to_f64_be: Convert,
    pub f64_be_to_f32: Convert,
    pub bool_to_thrift: Convert,
    pub continuous_f32: Continuous,
    pub continuous_f64: Continuous,
}
