//! The CLI's signal dispositions, set once at start ([`init`]):
//!
//! - SIGXFSZ is ignored, so that writing past a file-size limit (`ulimit
//!   -f`) is an EFBIG error the output code handles (old file kept,
//!   temporary file removed) instead of a signal that kills the process
//!   mid-write;
//! - SIGINT, SIGTERM and SIGHUP remove the temporary output file that is
//!   being written, if any ([`remove_on_signal`]), then end the process as
//!   the signal would have, so that interrupting a long encode leaves no
//!   stray temporary file (the previous output is intact either way).
//!
//! The CLI is single-threaded, so the handler runs on the thread it
//! interrupts, between two of its instructions: it only swaps an atomic
//! pointer and calls async-signal-safe functions (`unlink`, `signal`,
//! `raise`).

use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The NUL-terminated path of the temporary file to remove, or null.
static TEMP: AtomicPtr<c_char> = AtomicPtr::new(ptr::null_mut());

const CLEANUP_SIGNALS: [c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Sets the dispositions above. Call first thing in `main`.
pub fn init() {
    for sig in CLEANUP_SIGNALS {
        // SAFETY: `on_signal` is an `extern "C" fn(c_int)`, the handler
        // type `signal` expects, and does only async-signal-safe work.
        unsafe {
            libc::signal(sig, on_signal as extern "C" fn(c_int) as libc::sighandler_t);
        }
    }
    // SAFETY: SIG_IGN is a valid disposition for SIGXFSZ.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

extern "C" fn on_signal(sig: c_int) {
    let path = TEMP.swap(ptr::null_mut(), Ordering::SeqCst);
    if !path.is_null() {
        // SAFETY: a non-null `TEMP` is a live NUL-terminated string: the
        // guard frees it only after swapping it out, and this handler runs
        // on the one thread, so not in the middle of that.
        unsafe {
            libc::unlink(path);
        }
    }
    // SAFETY: SIG_DFL is a valid disposition; raising the signal again ends
    // the process as the signal would have (status 128 + sig in a shell).
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Keeps `path` registered for removal on a signal until dropped.
pub struct Registered(*mut c_char);

/// Registers `path` (a temporary file just created) to be removed if a
/// signal ends the process before the guard is dropped. A path that holds
/// a NUL byte cannot be registered (no file has such a path).
pub fn remove_on_signal(path: &Path) -> Registered {
    let raw = CString::new(path.as_os_str().as_bytes()).map_or(ptr::null_mut(), CString::into_raw);
    TEMP.store(raw, Ordering::SeqCst);
    Registered(raw)
}

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = TEMP.compare_exchange(self.0, ptr::null_mut(), Ordering::SeqCst, Ordering::SeqCst);
        if !self.0.is_null() {
            // SAFETY: made by `CString::into_raw` in `remove_on_signal`, and
            // no longer reachable through `TEMP`.
            drop(unsafe { CString::from_raw(self.0) });
        }
    }
}
