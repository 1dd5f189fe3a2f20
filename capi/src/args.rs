//! The one place pointers from C become Rust references: every argument
//! check (NULL, alignment, a size that fits, a known type code) and every
//! conversion of a C description (`bprwire_tensor`, `bprwire_str`) into
//! the core's inputs, each helper's safety stated once.

use std::ffi::c_void;

use bprwire::{DataType, TensorData};

use crate::error::{Fail, BPRWIRE_ERR_ALLOC, BPRWIRE_ERR_INVALID, BPRWIRE_ERR_NULL};
use crate::types::{bprwire_str, BPRWIRE_STRING};

/// Which argument an error is about (`tensors[2].shape`, `tensors[0]
/// string 3`): written out only when an error happens, so a call that
/// succeeds builds no text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct What<'a> {
    base: &'a str,
    index: Option<usize>,
    field: &'a str,
    sub: Option<usize>,
}

impl<'a> What<'a> {
    pub(crate) const fn name(base: &'a str) -> What<'a> {
        What {
            base,
            index: None,
            field: "",
            sub: None,
        }
    }

    pub(crate) const fn at(base: &'a str, index: usize) -> What<'a> {
        What {
            index: Some(index),
            ..What::name(base)
        }
    }

    pub(crate) const fn field(self, field: &'a str) -> What<'a> {
        What { field, ..self }
    }

    pub(crate) const fn string(self, i: usize) -> What<'a> {
        What {
            field: " string",
            sub: Some(i),
            ..self
        }
    }
}

/// What an argument check names in its error: an argument's name (a
/// `&str`, two registers, on the path every call takes) or a [`What`]
/// (for elements of arrays); turned into text only on an error.
pub(crate) trait Describe<'a>: Copy {
    fn what(self) -> What<'a>;
}

impl<'a> Describe<'a> for &'a str {
    #[inline(always)]
    fn what(self) -> What<'a> {
        What::name(self)
    }
}

impl<'a> Describe<'a> for What<'a> {
    #[inline(always)]
    fn what(self) -> What<'a> {
        self
    }
}

impl std::fmt::Display for What<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.base)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        f.write_str(self.field)?;
        if let Some(i) = self.sub {
            write!(f, " {i}")?;
        }
        Ok(())
    }
}

/// `len` `T`s at `ptr` as a slice: empty for 0 whatever `ptr` is; NULL,
/// misaligned or oversized otherwise refused.
///
/// # Safety
///
/// `ptr` must point to `len` valid `T`s for `'a` when `len > 0`.
#[inline(always)]
pub(crate) unsafe fn slice<'a, 'w, T>(
    ptr: *const T,
    len: usize,
    what: impl Describe<'w>,
) -> Result<&'a [T], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    // One test for the three refusals on the path every call takes; which
    // one it was is worked out by `refused`, out of line.
    let fits = len <= isize::MAX as usize / std::mem::size_of::<T>().max(1);
    if ptr.is_null() || !aligned(ptr) || !fits {
        return Err(refused(ptr.is_null(), fits, len, what.what()));
    }
    // SAFETY: non-null, aligned, size within isize::MAX; the caller
    // promises `len` valid elements that outlive 'a.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Whether `ptr` is aligned for `T`.
#[inline(always)]
pub(crate) fn aligned<T>(ptr: *const T) -> bool {
    (ptr as usize).is_multiple_of(std::mem::align_of::<T>())
}

/// Why [`slice`] refused its pointer.
#[cold]
#[inline(never)]
pub(crate) fn refused(null: bool, fits: bool, len: usize, what: What<'_>) -> Fail {
    if null {
        Fail::new(BPRWIRE_ERR_NULL, format!("{what} is NULL with {len} elements"))
    } else if !fits {
        Fail::new(
            BPRWIRE_ERR_INVALID,
            format!("{what}: {len} elements are more than memory holds"),
        )
    } else {
        Fail::new(BPRWIRE_ERR_INVALID, format!("{what} is not aligned for its type"))
    }
}

/// [`slice`] for the caller's output arrays.
///
/// # Safety
///
/// `ptr` must point to `len` writable `T`s for `'a`, not aliased.
#[inline(always)]
pub(crate) unsafe fn slice_mut<'a, 'w, T>(
    ptr: *mut T,
    len: usize,
    what: impl Describe<'w>,
) -> Result<&'a mut [T], Fail> {
    // SAFETY: the same checks and promise as `slice`, for writing.
    let checked = unsafe { slice(ptr as *const T, len, what)? };
    if checked.is_empty() {
        return Ok(&mut []);
    }
    // SAFETY: `slice` checked the pointer; the caller promises exclusive access.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

pub(crate) fn dtype(code: i32, what: What<'_>) -> Result<DataType, Fail> {
    let known = DataType::from_code(code);
    match known {
        Some(
            d @ (DataType::Float
            | DataType::Double
            | DataType::Int32
            | DataType::Int64
            | DataType::Uint8
            | DataType::Bool
            | DataType::String),
        ) => Ok(d),
        _ => Err(Fail::new(
            BPRWIRE_ERR_INVALID,
            format!("{what}: element type {code} is not one bprwire writes (BPRWIRE_FLOAT ... BPRWIRE_BOOL)"),
        )),
    }
}

/// The strings of a `BPRWIRE_STRING` input, as byte slices.
///
/// # Safety
///
/// `data` must point to `count` `bprwire_str`s, each valid for its length.
pub(crate) unsafe fn strings<'a>(
    data: *const c_void,
    count: usize,
    what: What<'_>,
) -> Result<Vec<&'a [u8]>, Fail> {
    // SAFETY: the caller's promise, passed on.
    let strs = unsafe { slice(data as *const bprwire_str, count, what)? };
    let mut out = Vec::new();
    out.try_reserve_exact(strs.len())
        .map_err(|_| Fail::new(BPRWIRE_ERR_ALLOC, format!("{what}: {count} strings")))?;
    for (i, s) in strs.iter().enumerate() {
        // SAFETY: each string's pointer is valid for its length (caller).
        out.push(unsafe { slice(s.ptr, s.len, what.string(i))? });
    }
    Ok(out)
}

/// One item per tensor of a call: on the stack for the few tensors a
/// model has, so that a call allocates nothing for them.
pub(crate) type PerTensor<T> = smallvec::SmallVec<[T; 4]>;

/// The strings of each `BPRWIRE_STRING` input (`(dtype, data, count)`),
/// in order, empty for the others: what [`tensor_data`] borrows.
///
/// # Safety
///
/// As [`strings`], for each string input.
pub(crate) unsafe fn held_strings<'a>(
    inputs: impl Iterator<Item = (i32, *const c_void, usize)>,
) -> Result<PerTensor<Vec<&'a [u8]>>, Fail> {
    let mut held = PerTensor::new();
    for (i, (dtype, data, count)) in inputs.enumerate() {
        held.push(match dtype {
            // SAFETY: passed on.
            BPRWIRE_STRING => unsafe { strings(data, count, What::at("tensors", i))? },
            _ => Vec::new(),
        });
    }
    Ok(held)
}

/// A numeric input as raw little-endian bytes of `dtype`.
///
/// # Safety
///
/// `data` must point to `count` elements of `dtype`.
#[inline(always)]
pub(crate) unsafe fn raw<'a, 'w>(
    dtype: DataType,
    data: *const c_void,
    count: usize,
    what: impl Describe<'w>,
) -> Result<&'a [u8], Fail> {
    let size = dtype.fixed_size().expect("a numeric type");
    let bytes = count.checked_mul(size).ok_or_else(|| {
        Fail::new(
            BPRWIRE_ERR_INVALID,
            format!("{}: {count} elements overflow", what.what()),
        )
    })?;
    // SAFETY: the caller's promise of `count` elements of `size` bytes.
    unsafe { slice(data as *const u8, bytes, what) }
}

/// One input's data: strings borrowed through `holder`, numbers as raw bytes.
///
/// # Safety
///
/// As [`raw`] and [`strings`].
#[inline(always)]
pub(crate) unsafe fn tensor_data<'a>(
    code: i32,
    data: *const c_void,
    count: usize,
    holder: &'a [&'a [u8]],
    what: What<'_>,
) -> Result<TensorData<'a>, Fail> {
    // Aligned numbers (what C and TensorFlow hand over) as typed slices,
    // the Rust API's own path; unaligned ones (and bools, whose bytes are
    // checked to be 0 or 1 there) as raw bytes.
    Ok(match dtype(code, what)? {
        DataType::String => TensorData::Bytes(holder),
        DataType::Float if aligned(data as *const f32) => {
            // SAFETY: aligned (checked); the caller promises `count` elements of this type.
            TensorData::F32(unsafe { slice(data.cast(), count, what)? })
        }
        DataType::Double if aligned(data as *const f64) => {
            // SAFETY: aligned (checked); the caller promises `count` elements of this type.
            TensorData::F64(unsafe { slice(data.cast(), count, what)? })
        }
        DataType::Int32 if aligned(data as *const i32) => {
            // SAFETY: aligned (checked); the caller promises `count` elements of this type.
            TensorData::I32(unsafe { slice(data.cast(), count, what)? })
        }
        DataType::Int64 if aligned(data as *const i64) => {
            // SAFETY: aligned (checked); the caller promises `count` elements of this type.
            TensorData::I64(unsafe { slice(data.cast(), count, what)? })
        }
        // SAFETY: u8 needs no alignment; the caller promises `count` bytes.
        DataType::Uint8 => TensorData::U8(unsafe { slice(data.cast(), count, what)? }),
        d => TensorData::Raw {
            dtype: d,
            // SAFETY: the caller promises `count` elements of `d` (bytes need no alignment).
            bytes: unsafe { raw(d, data, count, what)? },
        },
    })
}

/// The object behind a handle the ABI made (`bprwire_signature *`,
/// `bprwire_layout *`): NULL refused, naming `what`.
///
/// # Safety
///
/// `handle` is NULL or a live handle of its type, made by its `_new` (or
/// `_from_json`) and not yet freed, for `'a`.
#[inline(always)]
pub(crate) unsafe fn handle<'a, T>(handle: *const T, what: &'static str) -> Result<&'a T, Fail> {
    if handle.is_null() {
        return Err(Fail::new(BPRWIRE_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-null; the caller promises a live handle.
    Ok(unsafe { &*handle })
}

/// Writes `len` through `out`.
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[inline(always)]
pub(crate) unsafe fn put<T>(out: *mut T, value: T, what: &'static str) -> Result<(), Fail> {
    if out.is_null() {
        return Err(Fail::new(BPRWIRE_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-null; the caller promises it is writable.
    unsafe { out.write(value) };
    Ok(())
}

/// Boxes `value` into `*out`; `out` NULL is refused before anything is
/// allocated (`value` is dropped).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
pub(crate) unsafe fn put_new<T>(out: *mut *mut T, value: T, what: &'static str) -> Result<(), Fail> {
    if out.is_null() {
        return Err(Fail::new(BPRWIRE_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-null; the caller promises it is writable.
    unsafe { out.write(Box::into_raw(Box::new(value))) };
    Ok(())
}

/// The caller's output buffer.
///
/// # Safety
///
/// `buf` must be writable for `capacity` bytes.
#[inline(always)]
pub(crate) unsafe fn buffer<'a>(buf: *mut u8, capacity: usize) -> Result<&'a mut [u8], Fail> {
    // SAFETY: passed on.
    unsafe { slice_mut(buf, capacity, "buf") }
}
