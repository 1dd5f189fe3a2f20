//! Bulk kernels: the loops that move element data into the output, at
//! every instruction-set level this CPU offers.
//!
//! The encoder's layout code calls only these functions for element data.
//! Every kernel reads its source as packed little-endian element bytes (no
//! alignment needed) and fills a destination slice of exactly the size it
//! produces; the one exception, [`Kernels::f64_be_to_f32`], goes the other
//! way (big-endian wire doubles in, native `f32` out). [`scalar`] defines
//! the result; every other level must write the same bytes, which the
//! tests check for every length and alignment.
//!
//! A [`Kernels`] table holds one level's functions. It is only handed out
//! for a level the CPU has ([`Kernels::for_level`]), which is what makes
//! calling the `#[target_feature]` code behind it sound; the best level is
//! detected once per process and cached ([`Level::best`]).
//!
//! ```
//! use bprwire::kernels::{Kernels, Level};
//!
//! let k = Kernels::best();
//! let src = 1.5f32.to_le_bytes();
//! let mut dst = [0u8; 8];
//! k.f32_to_f64_be(&src, &mut dst);
//! assert_eq!(dst, 1.5f64.to_be_bytes());
//! assert!(Kernels::for_level(Level::Scalar).is_ok()); // always there
//! ```

use core::fmt;

mod fns;
mod level;
mod records;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
mod x86;

use fns::{Continuous, Convert, Fns};
pub use level::{Level, MaxLevel, Unavailable};
pub use records::Records;

/// One level's kernels. Obtained only through [`Kernels::for_level`] or
/// [`Kernels::best`], so the CPU is known to run them.
pub struct Kernels {
    level: Level,
    fns: Fns,
}

static SCALAR: Kernels = Kernels {
    level: Level::Scalar,
    fns: Fns {
        swap8: scalar::swap8,
        swap4: scalar::swap4,
        f32_to_f64_be: scalar::f32_to_f64_be,
        f64_be_to_f32: scalar::f64_be_to_f32,
        bool_to_thrift: scalar::bool_to_thrift,
        continuous_f32: scalar::continuous_f32,
        continuous_f64: scalar::continuous_f64,
    },
};

// The x86 levels' tables: handed out (by `table`) only for a level that
// `Level::is_available` confirmed, the invariant the `unsafe` calls
// wrapped in `x86`'s functions rely on.
#[cfg(target_arch = "x86_64")]
static SSSE3: Kernels = Kernels {
    level: Level::Ssse3,
    fns: x86::SSSE3,
};
#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = Kernels {
    level: Level::Avx2,
    fns: x86::AVX2,
};
#[cfg(target_arch = "x86_64")]
static AVX512: Kernels = Kernels {
    level: Level::Avx512,
    fns: x86::AVX512,
};

/// The table of `level`, which the caller checked is available.
#[cfg(target_arch = "x86_64")]
fn table(level: Level) -> &'static Kernels {
    debug_assert!(level.is_available());
    match level {
        Level::Scalar => &SCALAR,
        Level::Ssse3 => &SSSE3,
        Level::Avx2 => &AVX2,
        Level::Avx512 => &AVX512,
    }
}

impl Kernels {
    /// The kernels of `level`.
    ///
    /// # Errors
    ///
    /// [`Unavailable`] if this CPU lacks `level`, or `BPRWIRE_MAX_LEVEL`
    /// caps it out ([`Level::is_available`]).
    pub fn for_level(level: Level) -> Result<&'static Kernels, Unavailable> {
        if level == Level::Scalar {
            return Ok(&SCALAR);
        }
        if !level.is_available() {
            return Err(Unavailable(level));
        }
        #[cfg(target_arch = "x86_64")]
        {
            Ok(table(level))
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("no SIMD level is available off x86-64")
    }

    /// The kernels of [`Level::best`]: one cached atomic load, no CPU query.
    #[inline]
    pub fn best() -> &'static Kernels {
        match Level::best() {
            Level::Scalar => &SCALAR,
            // `Level::best` only returns a level that `is_available`.
            #[cfg(target_arch = "x86_64")]
            level => table(level),
            #[cfg(not(target_arch = "x86_64"))]
            _ => &SCALAR,
        }
    }

    /// The kernels of `level` if one is forced, else the best ones: the
    /// one choice of kernels behind the encoder, the signatures and the
    /// scatter.
    ///
    /// # Errors
    ///
    /// As [`for_level`](Self::for_level).
    #[inline]
    pub fn select(level: Option<Level>) -> Result<&'static Kernels, Unavailable> {
        match level {
            None => Ok(Kernels::best()),
            Some(level) => Kernels::for_level(level),
        }
    }

    /// The level of these kernels.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Reverses every 8-byte element: little-endian `i64`/`f64` to
    /// big-endian. `dst.len() == src.len()`, a multiple of 8.
    #[inline]
    pub fn swap8(&self, src: &[u8], dst: &mut [u8]) {
        (self.fns.swap8)(src, dst)
    }

    /// Reverses every 4-byte element: little-endian `i32` to big-endian.
    /// `dst.len() == src.len()`, a multiple of 4.
    #[inline]
    pub fn swap4(&self, src: &[u8], dst: &mut [u8]) {
        (self.fns.swap4)(src, dst)
    }

    /// Widens little-endian `f32` to big-endian `f64`.
    /// `dst.len() == 2 * src.len()`, `src.len()` a multiple of 4.
    #[inline]
    pub fn f32_to_f64_be(&self, src: &[u8], dst: &mut [u8]) {
        (self.fns.f32_to_f64_be)(src, dst)
    }

    /// Narrows big-endian `f64` (a Thrift `list<double>`'s elements, as
    /// they sit in the message) to little-endian `f32`, each exactly as
    /// `f64 as f32` does: rounded to nearest, ties to even, out of range to
    /// an infinity or a signed zero, a NaN quiet with its sign and the top
    /// bits of its payload (see [`scalar::f64_be_to_f32`]).
    /// `src.len() == 2 * dst.len()`, `dst.len()` a multiple of 4.
    ///
    /// Big-endian `f64` to native `f64`, with no narrowing, needs no kernel
    /// of its own: it is [`swap8`](Self::swap8), since reversing the bytes
    /// is its own inverse.
    ///
    /// # Panics
    ///
    /// If `dst.len()` is not a multiple of 4 or `src.len()` is not twice it.
    #[inline]
    pub fn f64_be_to_f32(&self, src: &[u8], dst: &mut [u8]) {
        (self.fns.f64_be_to_f32)(src, dst)
    }

    /// Thrift bools: any non-zero byte becomes 1. `dst.len() == src.len()`.
    #[inline]
    pub fn bool_to_thrift(&self, src: &[u8], dst: &mut [u8]) {
        (self.fns.bool_to_thrift)(src, dst)
    }

    /// Whole records of continuous entries from little-endian `f32` values
    /// (`values` is `rows × keys` elements, `dst` is `rows ×
    /// record_len()` bytes): per record the head, `key | value` as two
    /// big-endian 8-byte words per key (the value widened to `f64`), and the
    /// STOP if asked for.
    #[inline]
    pub fn continuous_f32(&self, records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
        (self.fns.continuous_f32)(records, values, dst)
    }

    /// As [`continuous_f32`](Self::continuous_f32), for little-endian `f64` values.
    #[inline]
    pub fn continuous_f64(&self, records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
        (self.fns.continuous_f64)(records, values, dst)
    }

    pub(crate) fn convert(&self, which: Conversion) -> Convert {
        match which {
            Conversion::Swap8 => self.fns.swap8,
            Conversion::Swap4 => self.fns.swap4,
            Conversion::F32ToF64 => self.fns.f32_to_f64_be,
            Conversion::Bool => self.fns.bool_to_thrift,
        }
    }

    pub(crate) fn continuous(&self, wide: bool) -> Continuous {
        if wide {
            self.fns.continuous_f64
        } else {
            self.fns.continuous_f32
        }
    }
}

impl fmt::Debug for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernels").field("level", &self.level).finish()
    }
}

/// Which conversion a typed tensor row needs (the planner's choice, turned
/// into a function of the chosen level by [`Kernels::convert`]; raw rows
/// are a plain copy at every level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conversion {
    Swap8,
    Swap4,
    F32ToF64,
    Bool,
}

impl Conversion {
    /// Bytes of one element in and out: a row can be converted in pieces
    /// cut at multiples of these.
    pub(crate) fn units(self) -> (usize, usize) {
        match self {
            Conversion::Swap8 => (8, 8),
            Conversion::Swap4 => (4, 4),
            Conversion::F32ToF64 => (4, 8),
            Conversion::Bool => (1, 1),
        }
    }
}

/// Writes records of continuous entries (see [`Kernels::continuous_f32`]).
pub(crate) type RowKernel = fn(&Records<'_>, &[u8], &mut [u8]);

/// Turns one row of little-endian elements into its wire bytes.
pub(crate) type Kernel = fn(&[u8], &mut [u8]);
