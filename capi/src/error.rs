//! Status codes, the thread's last error message, and the guard every
//! entry point runs in: no panic crosses the boundary.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Success.
pub const BPRWIRE_OK: i32 = 0;
/// An input that bprwire refuses (a shape, a count, a key, a type, a
/// string that is not UTF-8...): the message says which.
pub const BPRWIRE_ERR_INVALID: i32 = 1;
/// The output buffer is shorter than the encoding (nothing was written).
pub const BPRWIRE_ERR_BUFFER_TOO_SMALL: i32 = 2;
/// Bytes that are not a valid `BatchPredictionRequest`.
pub const BPRWIRE_ERR_DECODE: i32 = 3;
/// A NULL pointer where data was required.
pub const BPRWIRE_ERR_NULL: i32 = 4;
/// Memory could not be allocated.
pub const BPRWIRE_ERR_ALLOC: i32 = 5;
/// A bug in bprwire (a Rust panic, caught at the boundary).
pub const BPRWIRE_ERR_PANIC: i32 = 6;

thread_local! {
    static LAST: RefCell<Option<CString>> = const { RefCell::new(None) };
    /// Whether `LAST` holds a message: a success checks this (a plain
    /// thread-local load) and touches `LAST` only when there is one to clear.
    static HAS: Cell<bool> = const { Cell::new(false) };
}

/// A refusal: a status code and its message, boxed so that a `Result`
/// carrying it is one pointer wide (an entry point's success path moves
/// nothing else), and made only out of line, where an error happens.
pub(crate) struct Fail(Box<(i32, String)>);

impl Fail {
    #[cold]
    #[inline(never)]
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Fail {
        Fail(Box::new((code, message.into())))
    }
}

impl From<bprwire::Error> for Fail {
    #[cold]
    #[inline(never)]
    fn from(e: bprwire::Error) -> Fail {
        let code = match e {
            bprwire::Error::BufferTooSmall { .. } => BPRWIRE_ERR_BUFFER_TOO_SMALL,
            _ => BPRWIRE_ERR_INVALID,
        };
        Fail::new(code, e.to_string())
    }
}

/// Runs an entry point: its status, with the thread's message set on a
/// refusal (or cleared on success), and a panic turned into
/// `BPRWIRE_ERR_PANIC`.
#[inline(always)]
pub(crate) fn guard(f: impl FnOnce() -> Result<(), Fail>) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(panicked);
    match result {
        Ok(()) => {
            set_last(None);
            BPRWIRE_OK
        }
        Err(Fail(fail)) => {
            let (code, message) = *fail;
            set_last(Some(message));
            code
        }
    }
}

/// A panic caught at the boundary, as a refusal with its text.
#[cold]
#[inline(never)]
fn panicked(panic: Box<dyn std::any::Any + Send>) -> Result<(), Fail> {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    Err(Fail::new(
        BPRWIRE_ERR_PANIC,
        format!("internal error (a bug in bprwire): {what}"),
    ))
}

#[inline(always)]
fn set_last(message: Option<String>) {
    if message.is_none() && !HAS.with(Cell::get) {
        return; // nothing to clear: the common case
    }
    store_last(message);
}

#[inline(never)]
fn store_last(message: Option<String>) {
    HAS.with(|h| h.set(message.is_some()));
    // A message with a NUL in it (from a key's text, say) is cut there.
    let c = message.map(|m| {
        let m = m.split('\0').next().unwrap_or("").to_string();
        CString::new(m).expect("no NUL left")
    });
    let _ = LAST.try_with(|l| *l.borrow_mut() = c);
}

/// The message of the last call on this thread that failed, or NULL if
/// the last call succeeded (or none was made). NUL-terminated UTF-8, owned
/// by bprwire, valid until the next bprwire call on this thread. Each
/// thread has its own.
#[no_mangle]
pub extern "C" fn bprwire_last_error() -> *const c_char {
    LAST.try_with(|l| l.borrow().as_ref().map_or(std::ptr::null(), |c| c.as_ptr()))
        .unwrap_or(std::ptr::null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_an_entry_point_is_a_status_and_a_message() {
        let code = guard(|| panic!("boom {}", 1));
        assert_eq!(code, BPRWIRE_ERR_PANIC);
        // SAFETY: our own NUL-terminated message.
        let msg = unsafe { std::ffi::CStr::from_ptr(bprwire_last_error()) }
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(msg, "internal error (a bug in bprwire): boom 1");
        assert_eq!(guard(|| Ok(())), BPRWIRE_OK);
        assert!(bprwire_last_error().is_null());
        // A message with a NUL is cut there, not dropped.
        assert_eq!(
            guard(|| Err(Fail::new(BPRWIRE_ERR_INVALID, "key \"a\0b\""))),
            BPRWIRE_ERR_INVALID
        );
        // SAFETY: as above.
        let message = unsafe { std::ffi::CStr::from_ptr(bprwire_last_error()) };
        assert_eq!(message.to_str().unwrap(), "key \"a");
    }
}
