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
use core::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

pub mod scalar;

#[cfg(target_arch = "x86_64")]
mod x86;

/// An instruction-set level of the kernels, from plain to widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Portable Rust, no SIMD intrinsics: the definition of every result.
    Scalar,
    /// x86-64 SSSE3 (128-bit `pshufb`).
    Ssse3,
    /// x86-64 AVX2 (256-bit).
    Avx2,
    /// x86-64 AVX-512 F + BW (512-bit).
    Avx512,
}

impl Level {
    /// Every level, plainest first.
    pub const ALL: [Level; 4] = [Level::Scalar, Level::Ssse3, Level::Avx2, Level::Avx512];

    /// The lower-case name used by the CLI and the benches (`avx2`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Ssse3 => "ssse3",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// The level named `name`, as [`Level::name`] spells it, in any case
    /// (`avx2`, `AVX2`, `Avx2`).
    pub fn from_name(name: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name))
    }

    /// Whether this process can run the level: the CPU has it and it is not
    /// above the cap set by the environment variable `BPRWIRE_MAX_LEVEL`
    /// (see [`Level::cap`]).
    pub fn is_available(self) -> bool {
        self <= Level::cap() && self.cpu_has()
    }

    /// Whether the CPU has the instructions the level uses.
    pub fn cpu_has(self) -> bool {
        match self {
            Level::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            _ => x86::has(self),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The highest level this process may use, from the environment
    /// variable `BPRWIRE_MAX_LEVEL`, read once (see [`MaxLevel`] for the
    /// rule, and [`MaxLevel::from_env`] for what was read and why). Use it
    /// to keep a service off AVX-512, or to test what a smaller CPU would do.
    pub fn cap() -> Level {
        MaxLevel::from_env().cap()
    }

    /// The levels this CPU can run, plainest first.
    pub fn available() -> impl Iterator<Item = Level> {
        Level::ALL.into_iter().filter(|l| l.is_available())
    }

    /// The widest level this CPU can run: detected on first use, then read
    /// from a cache (one relaxed atomic load).
    #[inline]
    pub fn best() -> Level {
        static BEST: AtomicU8 = AtomicU8::new(u8::MAX);
        match BEST.load(Ordering::Relaxed) {
            u8::MAX => {
                let best = Level::available().last().unwrap_or(Level::Scalar);
                BEST.store(best as u8, Ordering::Relaxed);
                best
            }
            n => Level::ALL[n as usize],
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the environment variable [`MaxLevel::VAR`] (`BPRWIRE_MAX_LEVEL`)
/// says, read once per process by [`MaxLevel::from_env`].
///
/// The rule: unset, empty or only white space means no cap; a level name
/// ([`Level::name`]) in any case, with white space around it, caps at that
/// level; anything else (a typo such as `avx3`, a value that is not UTF-8)
/// names no level and caps at [`Level::Scalar`], the level that is always
/// right. That last case is never silent for a program that asks:
/// [`MaxLevel::warning`] says what was read and what it means (the
/// `bprwire` CLI prints it on every run), so a typo cannot quietly change
/// the speed of a service.
///
/// ```
/// use bprwire::kernels::{Level, MaxLevel};
/// use std::ffi::OsStr;
///
/// assert_eq!(MaxLevel::parse(None), MaxLevel::Unset);
/// assert_eq!(MaxLevel::parse(Some(OsStr::new(" AVX2 "))), MaxLevel::Named(Level::Avx2));
/// let typo = MaxLevel::parse(Some(OsStr::new("avx3")));
/// assert_eq!(typo.cap(), Level::Scalar);
/// assert!(typo.warning().unwrap().contains("\"avx3\" names no level"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaxLevel {
    /// Unset, empty or only white space: no cap.
    Unset,
    /// A level's name: the cap is that level.
    Named(Level),
    /// A value that names no level (shown lossily if it is not UTF-8): the
    /// cap is [`Level::Scalar`].
    Invalid(String),
}

impl MaxLevel {
    /// The environment variable's name.
    pub const VAR: &'static str = "BPRWIRE_MAX_LEVEL";

    /// Reads a value of the variable (`None`: unset) by the rule above.
    pub fn parse(value: Option<&std::ffi::OsStr>) -> MaxLevel {
        let Some(value) = value else {
            return MaxLevel::Unset;
        };
        match value.to_str().map(str::trim) {
            Some("") => MaxLevel::Unset,
            Some(name) => {
                Level::from_name(name).map_or_else(|| MaxLevel::Invalid(name.into()), MaxLevel::Named)
            }
            None => MaxLevel::Invalid(value.to_string_lossy().into_owned()),
        }
    }

    /// What this process read from the environment: parsed on first use,
    /// then cached for the life of the process.
    pub fn from_env() -> &'static MaxLevel {
        static READ: OnceLock<MaxLevel> = OnceLock::new();
        READ.get_or_init(|| MaxLevel::parse(std::env::var_os(MaxLevel::VAR).as_deref()))
    }

    /// The cap it sets.
    pub fn cap(&self) -> Level {
        match self {
            MaxLevel::Unset => Level::Avx512,
            MaxLevel::Named(level) => *level,
            MaxLevel::Invalid(_) => Level::Scalar,
        }
    }

    /// For a value that names no level, a sentence that says what was read
    /// and what it means; `None` otherwise.
    pub fn warning(&self) -> Option<String> {
        let MaxLevel::Invalid(value) = self else {
            return None;
        };
        let names: Vec<&str> = Level::ALL.iter().map(|l| l.name()).collect();
        Some(format!(
            "{}={value:?} names no level (one of {}, in any case; unset or empty for no cap): \
             every kernel is capped at scalar, the slowest level",
            MaxLevel::VAR,
            names.join(", ")
        ))
    }
}

/// What [`Kernels::for_level`] returns for a level this CPU lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable(pub Level);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} kernels are not available here", self.0)
    }
}

impl std::error::Error for Unavailable {}

/// What surrounds each record's continuous entries, for
/// [`Kernels::continuous_f32`] and [`Kernels::continuous_f64`]. The
/// kernels write whole records: a caller that needs a record in pieces
/// (the staging sink, for a record larger than its buffer) makes each
/// piece a record of its own.
#[derive(Clone, Copy, Debug)]
pub struct Records<'k> {
    /// Written before each record's entries: the `continuousFeatures` field
    /// header and the map header (`0D 00 02 0A 04 <n>`).
    pub head: [u8; Records::HEAD],
    /// The map keys in native order; the kernel writes them big-endian.
    pub keys: &'k [i64],
    /// Whether a STOP byte (the end of the `DataRecord`) follows each
    /// record's entries.
    pub stop: bool,
}

impl Records<'_> {
    /// Bytes of a record's head: a field header and a map header.
    pub const HEAD: usize = crate::wire::FIELD_HEADER + crate::wire::MAP_HEADER;
    /// Bytes of one entry: the `i64` key and the `f64` value.
    pub const ENTRY: usize = crate::wire::CONTINUOUS_ENTRY;

    /// Output bytes of one record: head, [`Records::ENTRY`] per key, and
    /// the STOP if any.
    #[inline]
    pub fn record_len(&self) -> usize {
        Records::HEAD + Records::ENTRY * self.keys.len() + self.stop as usize
    }

    /// The number of records a destination of `dst_len` bytes holds, checking
    /// that `values_len` bytes hold exactly their values (`elem` bytes each).
    /// Panics otherwise: the planner computes both, so a mismatch is a bug.
    #[inline]
    pub(crate) fn rows(&self, values_len: usize, dst_len: usize, elem: usize) -> usize {
        let rows = dst_len / self.record_len();
        assert!(
            dst_len == rows * self.record_len() && values_len == rows * self.keys.len() * elem,
            "continuous kernel: bad lengths"
        );
        rows
    }
}

/// Turns little-endian elements into their wire bytes (`src`, `dst`).
type Convert = fn(&[u8], &mut [u8]);
/// Writes whole records of continuous entries (`records`, `values`, `dst`).
type Continuous = fn(&Records<'_>, &[u8], &mut [u8]);

/// One level's kernels. Obtained only through [`Kernels::for_level`] or
/// [`Kernels::best`], so the CPU is known to run them.
pub struct Kernels {
    level: Level,
    swap8: Convert,
    swap4: Convert,
    f32_to_f64_be: Convert,
    f64_be_to_f32: Convert,
    bool_to_thrift: Convert,
    continuous_f32: Continuous,
    continuous_f64: Continuous,
}

static SCALAR: Kernels = Kernels {
    level: Level::Scalar,
    swap8: scalar::swap8,
    swap4: scalar::swap4,
    f32_to_f64_be: scalar::f32_to_f64_be,
    f64_be_to_f32: scalar::f64_be_to_f32,
    bool_to_thrift: scalar::bool_to_thrift,
    continuous_f32: scalar::continuous_f32,
    continuous_f64: scalar::continuous_f64,
};

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
            Ok(x86::table(level))
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
            level => x86::table(level),
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
        (self.swap8)(src, dst)
    }

    /// Reverses every 4-byte element: little-endian `i32` to big-endian.
    /// `dst.len() == src.len()`, a multiple of 4.
    #[inline]
    pub fn swap4(&self, src: &[u8], dst: &mut [u8]) {
        (self.swap4)(src, dst)
    }

    /// Widens little-endian `f32` to big-endian `f64`.
    /// `dst.len() == 2 * src.len()`, `src.len()` a multiple of 4.
    #[inline]
    pub fn f32_to_f64_be(&self, src: &[u8], dst: &mut [u8]) {
        (self.f32_to_f64_be)(src, dst)
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
        (self.f64_be_to_f32)(src, dst)
    }

    /// Thrift bools: any non-zero byte becomes 1. `dst.len() == src.len()`.
    #[inline]
    pub fn bool_to_thrift(&self, src: &[u8], dst: &mut [u8]) {
        (self.bool_to_thrift)(src, dst)
    }

    /// Whole records of continuous entries from little-endian `f32` values
    /// (`values` is `rows × keys` elements, `dst` is `rows ×
    /// record_len()` bytes): per record the head, `key | value` as two
    /// big-endian 8-byte words per key (the value widened to `f64`), and the
    /// STOP if asked for.
    #[inline]
    pub fn continuous_f32(&self, records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
        (self.continuous_f32)(records, values, dst)
    }

    /// As [`continuous_f32`](Self::continuous_f32), for little-endian `f64` values.
    #[inline]
    pub fn continuous_f64(&self, records: &Records<'_>, values: &[u8], dst: &mut [u8]) {
        (self.continuous_f64)(records, values, dst)
    }

    pub(crate) fn convert(&self, which: Conversion) -> Convert {
        match which {
            Conversion::Swap8 => self.swap8,
            Conversion::Swap4 => self.swap4,
            Conversion::F32ToF64 => self.f32_to_f64_be,
            Conversion::Bool => self.bool_to_thrift,
        }
    }

    pub(crate) fn continuous(&self, wide: bool) -> Continuous {
        if wide {
            self.continuous_f64
        } else {
            self.continuous_f32
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
