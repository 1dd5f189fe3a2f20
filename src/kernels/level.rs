//! The instruction-set levels ([`Level`]): which this CPU has, which the
//! environment caps them at ([`MaxLevel`]), the best one (detected once).

use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

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
    /// (Asked of the CPU each time: [`Level::best`] caches its answer.)
    pub fn cpu_has(self) -> bool {
        match self {
            Level::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Level::Ssse3 => std::arch::is_x86_feature_detected!("ssse3"),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            // The AVX-512 kernels hand their tails to the AVX2 code.
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx2")
            }
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

/// What [`Kernels::for_level`](super::Kernels::for_level) returns for a level this CPU lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable(pub Level);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} kernels are not available here", self.0)
    }
}

impl std::error::Error for Unavailable {}
