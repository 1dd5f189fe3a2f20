//! The CLI's signal dispositions, set once at start ([`init`]):
//!
//! - SIGXFSZ is ignored, so that writing past a file-size limit (`ulimit
//!   -f`) is an EFBIG error the output code handles (old file kept,
//!   temporary file removed) instead of a signal that kills the process
//!   mid-write;
//! - SIGINT, SIGTERM and SIGHUP remove the temporary output files that
//!   are being written, if any ([`remove_on_signal`], or
//!   [`remove_all_on_signal`] for the several files of `scatter`), then the
//!   folders the run made for them ([`remove_dirs_on_signal`]: `scatter`'s
//!   OUTDIR and its missing parents, deepest first, each only if empty),
//!   then end the process as the signal would have, so that interrupting a
//!   long encode leaves no stray temporary file or folder (the previous
//!   output is intact either way).
//!
//! [`block`] holds the three signals back for a short critical section
//! (`scatter` renaming its finished files into place), so that one arriving
//! then takes effect after it, not halfway through.
//!
//! The CLI is single-threaded, so the handler runs on the thread it
//! interrupts, between two of its instructions: it only swaps atomic
//! pointers and calls async-signal-safe functions (`unlink`, `rmdir`,
//! `signal`, `raise`).
//!
//! This is the one module of the binary with `unsafe` code (the crate
//! denies it elsewhere): each function that needs it allows it with a
//! reason, and each block says why it is sound.

use std::ffi::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The temporary files to remove, or null: NUL-terminated paths one after
/// the other, ended by an empty one (a second NUL).
static TEMP: AtomicPtr<c_char> = AtomicPtr::new(ptr::null_mut());

/// The folders to remove (if empty) after the files, deepest first, in
/// the same form as [`TEMP`].
static DIRS: AtomicPtr<c_char> = AtomicPtr::new(ptr::null_mut());

const CLEANUP_SIGNALS: [c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Sets the dispositions above. Call first thing in `main`.
#[allow(unsafe_code, reason = "libc::signal, to set the dispositions")]
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

#[allow(
    unsafe_code,
    reason = "a signal handler: walks the registered C strings, calls unlink, rmdir, signal and raise"
)]
extern "C" fn on_signal(sig: c_int) {
    for (list, remove) in [
        (
            &TEMP,
            libc::unlink as unsafe extern "C" fn(*const c_char) -> c_int,
        ),
        (&DIRS, libc::rmdir),
    ] {
        let mut path = list.swap(ptr::null_mut(), Ordering::SeqCst);
        if path.is_null() {
            continue;
        }
        // SAFETY: a non-null `TEMP` or `DIRS` is a live list of
        // NUL-terminated strings ended by an empty one: the guard frees it
        // only after swapping it out, and this handler runs on the one
        // thread, so not in the middle of that. The walk stops at the empty
        // string, within the list; `unlink` and `rmdir` only read the
        // NUL-terminated string they are given.
        unsafe {
            while *path != 0 {
                remove(path);
                while *path != 0 {
                    path = path.add(1);
                }
                path = path.add(1);
            }
        }
    }
    // SAFETY: SIG_DFL is a valid disposition; raising the signal again ends
    // the process as the signal would have (status 128 + sig in a shell).
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Keeps a list of paths registered for removal on a signal until dropped.
pub struct Registered {
    slot: &'static AtomicPtr<c_char>,
    list: *mut c_char,
    len: usize,
}

/// Registers `path` (a temporary file just created) to be removed if a
/// signal ends the process before the guard is dropped. A path that holds
/// a NUL byte cannot be registered (no file has such a path).
pub fn remove_on_signal(path: &Path) -> Registered {
    remove_all_on_signal(&[path])
}

/// Registers every one of `paths` (temporary files) to be removed if a
/// signal ends the process before the guard is dropped, in place of what
/// was registered before (keep the previous guard until this one is made,
/// so that no moment goes without). Paths that hold a NUL byte are left
/// out (no file has such a path).
pub fn remove_all_on_signal(paths: &[&Path]) -> Registered {
    register(&TEMP, paths)
}

/// Registers `dirs` (folders this run made, deepest first) to be removed,
/// each if empty, after the temporary files, if a signal ends the process
/// before the guard is dropped; in place of the folders registered before.
pub fn remove_dirs_on_signal(dirs: &[&Path]) -> Registered {
    register(&DIRS, dirs)
}

fn register(slot: &'static AtomicPtr<c_char>, paths: &[&Path]) -> Registered {
    let mut list: Vec<u8> = Vec::new();
    for p in paths {
        let bytes = p.as_os_str().as_bytes();
        if !bytes.is_empty() && !bytes.contains(&0) {
            list.extend_from_slice(bytes);
            list.push(0);
        }
    }
    list.push(0);
    let len = list.len();
    let list = Box::into_raw(list.into_boxed_slice()).cast::<c_char>();
    slot.store(list, Ordering::SeqCst);
    Registered { slot, list, len }
}

impl Drop for Registered {
    #[allow(unsafe_code, reason = "Box::from_raw, to free the list registered")]
    fn drop(&mut self) {
        let _ = self
            .slot
            .compare_exchange(self.list, ptr::null_mut(), Ordering::SeqCst, Ordering::SeqCst);
        // SAFETY: made by `Box::into_raw` of a boxed `[u8]` of `len` bytes
        // in `register`, and no longer reachable through its slot.
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(self.list.cast::<u8>(), self.len)) });
    }
}

/// SIGINT, SIGTERM and SIGHUP held back until dropped (then the mask is
/// restored, and one that came meanwhile takes effect).
pub struct Blocked(libc::sigset_t);

/// Holds the cleanup signals back until the guard is dropped.
#[allow(unsafe_code, reason = "sigset_t set-up and pthread_sigmask")]
pub fn block() -> Blocked {
    // SAFETY: the sets are initialised by `sigemptyset` before use, and
    // `pthread_sigmask` only reads `set` and writes `old`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigemptyset(&mut old);
        for sig in CLEANUP_SIGNALS {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        Blocked(old)
    }
}

impl Drop for Blocked {
    #[allow(unsafe_code, reason = "pthread_sigmask, to restore the mask")]
    fn drop(&mut self) {
        // SAFETY: restores the mask `block` saved.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, ptr::null_mut());
        }
    }
}
