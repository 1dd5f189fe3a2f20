//! When a call releases the GIL: for work of [`RELEASE_GIL_FROM`] bytes
//! or more ([`released`]), unless an input forbids it ([`Gil`]).

use pyo3::prelude::*;

/// Outputs (and inputs to decode) at least this long are handled with the
/// GIL released. Below it the work takes about a microsecond or less, and
/// the GIL is kept, as numpy does for small arrays: releasing it costs
/// only ~30 ns alone, but when other threads wait for it, taking it back
/// can wait for their switch interval (5 ms by default), a convoy far
/// longer than the work.
pub(crate) const RELEASE_GIL_FROM: usize = 16 * 1024;

/// Runs `f` with the GIL released when `work` (bytes to write or read) is
/// at least [`RELEASE_GIL_FROM`], holding it otherwise.
pub(crate) fn released<T, F>(py: Python<'_>, work: usize, f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if work >= RELEASE_GIL_FROM {
        py.detach(f)
    } else {
        f()
    }
}

/// Whether the GIL may be released while an encoder reads its inputs.
/// Not when an input is read in place with a size that depends on its
/// content (a numpy `S` array's trailing NULs): another thread could
/// change the content between the sizing and the writing pass, which the
/// encoder trusts to agree. Holding the GIL keeps every Python thread out.
#[derive(Clone, Copy)]
pub(crate) enum Gil {
    /// Release it for large outputs ([`RELEASE_GIL_FROM`]).
    MayRelease,
    /// Keep it for the whole call.
    Hold,
}

impl Gil {
    /// The work to pass to [`released`]: none when the GIL must be held.
    pub(crate) fn work(self, len: usize) -> usize {
        match self {
            Gil::MayRelease => len,
            Gil::Hold => 0,
        }
    }
}
