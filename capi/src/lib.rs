//! bprwire's C ABI (`include/bprwire.h`, `libbprwire_c.a` / `.so`): the
//! encoder's prepared signatures and one-shot writers, and the request
//! side's layout and scatter, for C and C++ callers (libtwml's place, and
//! the TensorFlow ops of `tfop/`).
//!
//! Conventions, every function:
//! - returns a status (`BPRWIRE_OK` or a `BPRWIRE_ERR_*` code) and sets
//!   the thread's message ([`bprwire_last_error`]) on a refusal;
//! - never lets a panic out (a bug becomes `BPRWIRE_ERR_PANIC`);
//! - takes element data as packed little-endian bytes of a twml `DataType`
//!   (`BPRWIRE_FLOAT` ... `BPRWIRE_BOOL`) with no alignment requirement, or
//!   strings as `bprwire_str` (pointer, length) pairs; a pointer may be
//!   NULL only where its count is 0;
//! - writes nothing past `capacity` and nothing at all when it refuses
//!   (`BPRWIRE_ERR_BUFFER_TOO_SMALL` for a short buffer).

#![warn(missing_docs)]

mod error;

use std::ffi::c_void;

use bprwire::features::{Column, FeatureLayout, Outputs};
use bprwire::{BatchPrediction, DataType, Element, Signature, Tensor, TensorData, Values};

pub use error::{
    bprwire_last_error, BPRWIRE_ERR_ALLOC, BPRWIRE_ERR_BUFFER_TOO_SMALL, BPRWIRE_ERR_DECODE,
    BPRWIRE_ERR_INVALID, BPRWIRE_ERR_NULL, BPRWIRE_ERR_PANIC, BPRWIRE_OK,
};
use error::{guard, Fail};

/// twml `DataType` FLOAT: `float`, 4 bytes.
pub const BPRWIRE_FLOAT: i32 = 0;
/// twml `DataType` DOUBLE: `double`, 8 bytes.
pub const BPRWIRE_DOUBLE: i32 = 1;
/// twml `DataType` INT32: `int32_t`.
pub const BPRWIRE_INT32: i32 = 2;
/// twml `DataType` INT64: `int64_t`.
pub const BPRWIRE_INT64: i32 = 3;
/// twml `DataType` UINT8: `uint8_t`.
pub const BPRWIRE_UINT8: i32 = 4;
/// twml `DataType` STRING: elements are `bprwire_str`, UTF-8 checked.
pub const BPRWIRE_STRING: i32 = 5;
/// twml `DataType` BOOL: one byte each, non-zero is true.
pub const BPRWIRE_BOOL: i32 = 7;

/// Request side: the continuous features' output.
pub const BPRWIRE_CONTINUOUS: i32 = 0;
/// Request side: the binary features' output.
pub const BPRWIRE_BINARY: i32 = 1;
/// Request side: the discrete features' output.
pub const BPRWIRE_DISCRETE: i32 = 2;
/// Request side: a tensor feature's output (`tensor_id` names it).
pub const BPRWIRE_TENSOR: i32 = 3;

/// A string: `len` bytes at `ptr` (no terminator needed; `ptr` may be
/// NULL when `len` is 0).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bprwire_str {
    /// The bytes.
    pub ptr: *const u8,
    /// How many.
    pub len: usize,
}

/// A dense tensor: `count` elements of `dtype` at `data` (packed
/// little-endian, or `bprwire_str`s for `BPRWIRE_STRING`), shaped
/// `shape[0..rank]`, row-major, dim 0 the batch.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bprwire_tensor {
    /// A `BPRWIRE_*` element type.
    pub dtype: i32,
    /// The elements.
    pub data: *const c_void,
    /// Number of elements.
    pub count: usize,
    /// The dims.
    pub shape: *const usize,
    /// Number of dims (at least 1).
    pub rank: usize,
}

/// One tensor output of a prepared signature: its key, element type and
/// the shape of one row (the dims after the batch).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bprwire_tensor_spec {
    /// The key in `DataRecord.tensors`.
    pub key: i64,
    /// A `BPRWIRE_*` element type.
    pub dtype: i32,
    /// One row's dims.
    pub row_shape: *const usize,
    /// Number of row dims (0 for one element per row).
    pub row_rank: usize,
}

/// One batch's data for a prepared signature's tensor: `count` elements
/// of `dtype` (the signature's) at `data`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bprwire_data {
    /// A `BPRWIRE_*` element type.
    pub dtype: i32,
    /// The elements.
    pub data: *const c_void,
    /// Number of elements.
    pub count: usize,
}

/// One of the caller's dense arrays for [`bprwire_layout_scatter`]: the
/// output `kind` (`BPRWIRE_CONTINUOUS` ... `BPRWIRE_TENSOR`, with
/// `tensor_id`), its element type (`BPRWIRE_FLOAT`, `BPRWIRE_DOUBLE`,
/// `BPRWIRE_INT64` or `BPRWIRE_UINT8`, as the layout says), and room for
/// `count` elements at `data`, aligned for the type.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bprwire_output {
    /// `BPRWIRE_CONTINUOUS`, `BPRWIRE_BINARY`, `BPRWIRE_DISCRETE` or `BPRWIRE_TENSOR`.
    pub kind: i32,
    /// The tensor feature's id (for `BPRWIRE_TENSOR`).
    pub tensor_id: i64,
    /// The element type.
    pub dtype: i32,
    /// The array.
    pub data: *mut c_void,
    /// Its room, in elements.
    pub count: usize,
}

/// One of a layout's dense arrays, as [`bprwire_layout_arrays`] lists
/// them: its `kind` (and `tensor_id`), element type and width (elements
/// per record); what a caller needs to make the `bprwire_output`s of
/// [`bprwire_layout_scatter`].
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct bprwire_array {
    /// `BPRWIRE_CONTINUOUS`, `BPRWIRE_BINARY`, `BPRWIRE_DISCRETE` or `BPRWIRE_TENSOR`.
    pub kind: i32,
    /// The tensor feature's id (for `BPRWIRE_TENSOR`; 0 otherwise).
    pub tensor_id: i64,
    /// The element type: `BPRWIRE_FLOAT`, `BPRWIRE_DOUBLE`, `BPRWIRE_INT64` or `BPRWIRE_UINT8`.
    pub dtype: i32,
    /// Elements per record.
    pub width: usize,
}

/// A prepared signature (opaque): a model's outputs checked and laid out
/// once. Thread-safe to share: encoding does not change it.
#[allow(non_camel_case_types)]
pub struct bprwire_signature(Signature);

/// A feature layout (opaque). Thread-safe to share.
#[allow(non_camel_case_types)]
pub struct bprwire_layout(FeatureLayout);

// ---- input conversion ----

/// Which argument an error is about (`tensors[2].shape`, `tensors[0]
/// string 3`): written out only when an error happens, so a call that
/// succeeds builds no text.
#[derive(Clone, Copy, Debug)]
struct What<'a> {
    base: &'a str,
    index: Option<usize>,
    field: &'a str,
    sub: Option<usize>,
}

impl<'a> What<'a> {
    const fn name(base: &'a str) -> What<'a> {
        What {
            base,
            index: None,
            field: "",
            sub: None,
        }
    }

    const fn at(base: &'a str, index: usize) -> What<'a> {
        What {
            index: Some(index),
            ..What::name(base)
        }
    }

    const fn field(self, field: &'a str) -> What<'a> {
        What { field, ..self }
    }

    const fn string(self, i: usize) -> What<'a> {
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
trait Describe<'a>: Copy {
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
unsafe fn slice<'a, 'w, T>(ptr: *const T, len: usize, what: impl Describe<'w>) -> Result<&'a [T], Fail> {
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
fn aligned<T>(ptr: *const T) -> bool {
    (ptr as usize).is_multiple_of(std::mem::align_of::<T>())
}

/// Why [`slice`] refused its pointer.
#[cold]
#[inline(never)]
fn refused(null: bool, fits: bool, len: usize, what: What<'_>) -> Fail {
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
unsafe fn slice_mut<'a, 'w, T>(
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

fn dtype(code: i32, what: What<'_>) -> Result<DataType, Fail> {
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
unsafe fn strings<'a>(data: *const c_void, count: usize, what: What<'_>) -> Result<Vec<&'a [u8]>, Fail> {
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
type PerTensor<T> = smallvec::SmallVec<[T; 4]>;

/// The strings of each `BPRWIRE_STRING` input (`(dtype, data, count)`),
/// in order, empty for the others: what [`tensor_data`] borrows.
///
/// # Safety
///
/// As [`strings`], for each string input.
unsafe fn held_strings<'a>(
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
unsafe fn raw<'a, 'w>(
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
unsafe fn tensor_data<'a>(
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

/// Writes `len` through `out`.
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[inline(always)]
unsafe fn put<T>(out: *mut T, value: T, what: &'static str) -> Result<(), Fail> {
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
unsafe fn put_new<T>(out: *mut *mut T, value: T, what: &'static str) -> Result<(), Fail> {
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
unsafe fn buffer<'a>(buf: *mut u8, capacity: usize) -> Result<&'a mut [u8], Fail> {
    // SAFETY: passed on.
    unsafe { slice_mut(buf, capacity, "buf") }
}

// ---- prepared signatures ----

/// Makes a prepared signature: `n_continuous` continuous keys (values of
/// `continuous_dtype`, `BPRWIRE_FLOAT` or `BPRWIRE_DOUBLE`; ignored when
/// there are none) and `n_tensors` tensor outputs. `*out` is set on
/// success; free it with [`bprwire_signature_free`].
///
/// # Safety
///
/// The pointers must be valid for their counts; `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_signature_new(
    continuous_keys: *const i64,
    n_continuous: usize,
    continuous_dtype: i32,
    tensors: *const bprwire_tensor_spec,
    n_tensors: usize,
    out: *mut *mut bprwire_signature,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's promises, passed on.
        let keys = unsafe { slice(continuous_keys, n_continuous, "continuous_keys")? };
        // SAFETY: the caller's promise for these pointers, passed on.
        let specs = unsafe { slice(tensors, n_tensors, "tensors")? };
        let mut b = Signature::builder();
        if !keys.is_empty() {
            let element = match continuous_dtype {
                BPRWIRE_FLOAT => Element::F32,
                BPRWIRE_DOUBLE => Element::F64,
                other => {
                    return Err(Fail::new(
                        BPRWIRE_ERR_INVALID,
                        format!(
                            "continuous_dtype {other}: continuous values are BPRWIRE_FLOAT or BPRWIRE_DOUBLE"
                        ),
                    ))
                }
            };
            b = b.continuous(keys, element);
        }
        for (i, s) in specs.iter().enumerate() {
            let what = What::at("tensors", i);
            // The library's own mapping of a raw type to its element.
            let element = match dtype(s.dtype, what)? {
                DataType::String => Element::Str,
                d => Element::of(&TensorData::Raw { dtype: d, bytes: &[] }).expect("a numeric type"),
            };
            // SAFETY: the caller's promise for row_shape.
            let row = unsafe { slice(s.row_shape, s.row_rank, what.field(".row_shape"))? };
            b = b.tensor(s.key, element, row);
        }
        let sig = b.build()?;
        // SAFETY: `out` is the caller's pointer, checked for NULL by `put_new`.
        unsafe { put_new(out, bprwire_signature(sig), "out") }
    })
}

/// Frees a signature (NULL is ignored).
///
/// # Safety
///
/// `sig` must come from [`bprwire_signature_new`] and not be used again.
#[no_mangle]
pub unsafe extern "C" fn bprwire_signature_free(sig: *mut bprwire_signature) {
    if !sig.is_null() {
        // SAFETY: made by Box::into_raw in bprwire_signature_new; the caller
        // gives it back once.
        drop(unsafe { Box::from_raw(sig) });
    }
}

/// Checks `sig` and one batch's pointers and runs `f` on the signature, the
/// continuous values and the tensors' data.
///
/// # Safety
///
/// The pointers must be valid for their counts.
unsafe fn with_batch(
    sig: *const bprwire_signature,
    continuous: *const c_void,
    continuous_count: usize,
    tensors: *const bprwire_data,
    n_tensors: usize,
    f: impl FnOnce(&Signature, Option<Values<'_>>, &[TensorData<'_>]) -> Result<(), Fail>,
) -> Result<(), Fail> {
    if sig.is_null() {
        return Err(Fail::new(BPRWIRE_ERR_NULL, "sig is NULL"));
    }
    // SAFETY: non-null, made by bprwire_signature_new (caller).
    let sig = unsafe { &(*sig).0 };
    // SAFETY: the caller's promises, passed on.
    let data = unsafe { slice(tensors, n_tensors, "tensors")? };
    // SAFETY: passed on.
    let held = unsafe { held_strings(data.iter().map(|d| (d.dtype, d.data, d.count)))? };
    let mut bound = PerTensor::with_capacity(data.len());
    for (i, (d, h)) in data.iter().zip(&held).enumerate() {
        // SAFETY: passed on.
        bound.push(unsafe { tensor_data(d.dtype, d.data, d.count, h, What::at("tensors", i))? });
    }
    let values = if sig.continuous_keys().is_empty() && continuous.is_null() && continuous_count == 0 {
        None
    } else {
        let element = if continuous_count == 0 {
            DataType::Float
        } else {
            continuous_dtype(sig)
        };
        // SAFETY: passed on.
        let bytes = unsafe { raw(element, continuous, continuous_count, "continuous")? };
        Some(Values::Raw {
            dtype: element,
            bytes,
        })
    };
    f(sig, values, &bound)
}

/// The continuous values' type a signature was made with (FLOAT if none).
fn continuous_dtype(sig: &Signature) -> DataType {
    match sig.continuous_element() {
        Some(Element::F64) => DataType::Double,
        _ => DataType::Float,
    }
}

/// The exact length of the response [`bprwire_signature_encode`] writes
/// for this batch: `batch` records, `continuous_count` continuous values
/// (`batch × keys`, of the signature's type; NULL and 0 when it has no
/// continuous keys), one `bprwire_data` per tensor output in order.
///
/// # Safety
///
/// The pointers must be valid for their counts; `len` for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_signature_encoded_len(
    sig: *const bprwire_signature,
    batch: usize,
    continuous: *const c_void,
    continuous_count: usize,
    tensors: *const bprwire_data,
    n_tensors: usize,
    len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_batch(
                sig,
                continuous,
                continuous_count,
                tensors,
                n_tensors,
                |s, values, data| put(len, s.encoder(batch, values, data)?.encoded_len(), "len"),
            )
        }
    })
}

/// Encodes one batch (as [`bprwire_signature_encoded_len`]) into the first
/// bytes of `buf` and sets `*written`. `BPRWIRE_ERR_BUFFER_TOO_SMALL`
/// (nothing written) if `capacity` is short.
///
/// # Safety
///
/// As [`bprwire_signature_encoded_len`]; `buf` writable for `capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn bprwire_signature_encode(
    sig: *const bprwire_signature,
    batch: usize,
    continuous: *const c_void,
    continuous_count: usize,
    tensors: *const bprwire_data,
    n_tensors: usize,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_batch(
                sig,
                continuous,
                continuous_count,
                tensors,
                n_tensors,
                |s, values, data| {
                    // Straight into the buffer: the signature's own
                    // `encode_into` keeps its templates (no Encoder).
                    let n = s.encode_into(batch, values, data, buffer(buf, capacity)?)?;
                    put(written, n, "written")
                },
            )
        }
    })
}

// ---- one-shot writers (twml's two ops) ----

/// Allocates the output of an `_encode_alloc` writer: called once, with
/// the exact encoded length, before anything is written; returns a buffer
/// of at least `len` writable bytes (owned by the caller), or NULL to
/// refuse (the writer then returns `BPRWIRE_ERR_ALLOC`). It must not
/// unwind (throw a C++ exception) into bprwire.
#[allow(non_camel_case_types)]
pub type bprwire_alloc_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, len: usize) -> *mut u8>;

/// Sizes `bp`, asks `alloc` for exactly that many bytes, writes them and
/// reports the count: one plan for both (the `_encoded_len` + `_encode`
/// pair plans twice).
///
/// # Safety
///
/// `alloc` must behave as [`bprwire_alloc_fn`] says; `written` NULL or
/// valid for a write.
#[inline(always)]
unsafe fn encode_alloc(
    bp: &BatchPrediction<'_>,
    alloc: bprwire_alloc_fn,
    ctx: *mut c_void,
    written: *mut usize,
) -> Result<(), Fail> {
    let Some(alloc) = alloc else {
        return Err(Fail::new(BPRWIRE_ERR_NULL, "alloc is NULL"));
    };
    if written.is_null() {
        return Err(Fail::new(BPRWIRE_ERR_NULL, "written is NULL"));
    }
    let encoder = bp.encoder()?;
    let len = encoder.encoded_len();
    // SAFETY: the caller's promise for `alloc`.
    let buf = unsafe { alloc(ctx, len) };
    if buf.is_null() {
        return Err(Fail::new(BPRWIRE_ERR_ALLOC, format!("alloc refused {len} bytes")));
    }
    // SAFETY: `alloc` promises `len` writable bytes at `buf`.
    let n = encoder.encode_into(unsafe { slice_mut(buf, len, "the allocated buffer")? })?;
    // SAFETY: checked non-null above; the caller promises it is writable.
    unsafe { put(written, n, "written") }
}

/// Runs `f` on the encoder of continuous predictions: `n_keys` keys and
/// values of `dtype` shaped `shape[0..rank]` (`[batch]` or `[batch, n_keys]`).
///
/// # Safety
///
/// The pointers must be valid for their counts (values: the shape's product).
#[inline(always)]
unsafe fn with_continuous(
    keys: *const i64,
    n_keys: usize,
    dtype_code: i32,
    values: *const c_void,
    shape: *const usize,
    rank: usize,
    f: impl FnOnce(&BatchPrediction<'_>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    // SAFETY: passed on.
    let keys = unsafe { slice(keys, n_keys, "keys")? };
    // SAFETY: the caller's promise for these pointers, passed on.
    let shape = unsafe { slice(shape, rank, "shape")? };
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| Fail::new(BPRWIRE_ERR_INVALID, format!("shape {shape:?} overflows")))?;
    let d = match dtype_code {
        BPRWIRE_FLOAT => DataType::Float,
        BPRWIRE_DOUBLE => DataType::Double,
        other => {
            return Err(Fail::new(
                BPRWIRE_ERR_INVALID,
                format!("dtype {other}: continuous values are BPRWIRE_FLOAT or BPRWIRE_DOUBLE"),
            ))
        }
    };
    let what = "values";
    // Aligned values (what C and TensorFlow hand over) as typed slices, the
    // Rust API's own path; unaligned ones as raw bytes, which need none.
    let values = match d {
        DataType::Float if aligned(values as *const f32) => {
            // SAFETY: aligned (checked); the caller promises `count` elements of this type.
            Values::F32(unsafe { slice(values.cast(), count, what)? })
        }
        DataType::Double if aligned(values as *const f64) => {
            // SAFETY: aligned (checked); the caller promises `count` elements of this type.
            Values::F64(unsafe { slice(values.cast(), count, what)? })
        }
        _ => Values::Raw {
            dtype: d,
            // SAFETY: the caller promises `count` elements of `d` (bytes need no alignment).
            bytes: unsafe { raw(d, values, count, what)? },
        },
    };
    // The builder, not an encoder: its `encode_into` plans and writes in
    // one go (an `Encoder` would be built and copied first).
    f(&BatchPrediction::new().continuous(keys, values, shape))
}

/// The exact length of twml's `BatchPredictionResponseWriter` output:
/// keys `[n_keys]`, values of `dtype` (`BPRWIRE_FLOAT`/`BPRWIRE_DOUBLE`)
/// shaped `[batch]` (one key) or `[batch, n_keys]`.
///
/// # Safety
///
/// The pointers must be valid for their counts; `len` for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_continuous_encoded_len(
    keys: *const i64,
    n_keys: usize,
    dtype: i32,
    values: *const c_void,
    shape: *const usize,
    rank: usize,
    len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_continuous(keys, n_keys, dtype, values, shape, rank, |e| {
                put(len, e.encoded_len()?, "len")
            })
        }
    })
}

/// Writes what [`bprwire_continuous_encoded_len`] measures into `buf`.
///
/// # Safety
///
/// As [`bprwire_continuous_encoded_len`]; `buf` writable for `capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn bprwire_continuous_encode(
    keys: *const i64,
    n_keys: usize,
    dtype: i32,
    values: *const c_void,
    shape: *const usize,
    rank: usize,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_continuous(keys, n_keys, dtype, values, shape, rank, |e| {
                let n = e.encode_into(buffer(buf, capacity)?)?;
                put(written, n, "written")
            })
        }
    })
}

/// [`bprwire_continuous_encode`] into a buffer that `alloc(ctx, len)`
/// provides once the exact length is known (a framework's output tensor,
/// an arena): one call, one plan. `*written` is the length on success.
///
/// # Safety
///
/// As [`bprwire_continuous_encoded_len`]; `alloc` as [`bprwire_alloc_fn`]
/// says; `written` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_continuous_encode_alloc(
    keys: *const i64,
    n_keys: usize,
    dtype: i32,
    values: *const c_void,
    shape: *const usize,
    rank: usize,
    alloc: bprwire_alloc_fn,
    ctx: *mut c_void,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_continuous(keys, n_keys, dtype, values, shape, rank, |e| {
                encode_alloc(e, alloc, ctx, written)
            })
        }
    })
}

/// Runs `f` on the encoder of dense tensors: one per key.
///
/// # Safety
///
/// The pointers must be valid for their counts.
#[inline(always)]
unsafe fn with_dense(
    keys: *const i64,
    n: usize,
    tensors: *const bprwire_tensor,
    f: impl FnOnce(&BatchPrediction<'_>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    // SAFETY: passed on.
    let keys = unsafe { slice(keys, n, "keys")? };
    // SAFETY: the caller's promise for these pointers, passed on.
    let ts = unsafe { slice(tensors, n, "tensors")? };
    // SAFETY: passed on.
    let held = unsafe { held_strings(ts.iter().map(|t| (t.dtype, t.data, t.count)))? };
    let mut built = PerTensor::with_capacity(ts.len());
    for (i, (t, h)) in ts.iter().zip(&held).enumerate() {
        let what = What::at("tensors", i);
        // SAFETY: passed on.
        let shape = unsafe { slice(t.shape, t.rank, what.field(".shape"))? };
        // SAFETY: the caller's promise for these pointers, passed on.
        let data = unsafe { tensor_data(t.dtype, t.data, t.count, h, what)? };
        built.push(Tensor::new(data, shape));
    }
    f(&BatchPrediction::new().dense(keys, &built))
}

/// The exact length of twml's `BatchPredictionTensorResponseWriter`
/// output: `n` keys, one tensor each (any rank ≥ 1, dim 0 the batch).
///
/// # Safety
///
/// The pointers must be valid for their counts; `len` for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_dense_encoded_len(
    keys: *const i64,
    n: usize,
    tensors: *const bprwire_tensor,
    len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe { with_dense(keys, n, tensors, |e| put(len, e.encoded_len()?, "len")) }
    })
}

/// Writes what [`bprwire_dense_encoded_len`] measures into `buf`.
///
/// # Safety
///
/// As [`bprwire_dense_encoded_len`]; `buf` writable for `capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn bprwire_dense_encode(
    keys: *const i64,
    n: usize,
    tensors: *const bprwire_tensor,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe {
            with_dense(keys, n, tensors, |e| {
                let n = e.encode_into(buffer(buf, capacity)?)?;
                put(written, n, "written")
            })
        }
    })
}

/// [`bprwire_dense_encode`] into a buffer that `alloc(ctx, len)` provides
/// once the exact length is known: one call, one plan.
///
/// # Safety
///
/// As [`bprwire_dense_encoded_len`]; `alloc` as [`bprwire_alloc_fn`] says;
/// `written` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_dense_encode_alloc(
    keys: *const i64,
    n: usize,
    tensors: *const bprwire_tensor,
    alloc: bprwire_alloc_fn,
    ctx: *mut c_void,
    written: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        unsafe { with_dense(keys, n, tensors, |e| encode_alloc(e, alloc, ctx, written)) }
    })
}

// ---- the request side ----

/// Reads a feature layout from its JSON description (`docs/features.md`;
/// `len` bytes, no terminator needed). `*out` is set on success; free it
/// with [`bprwire_layout_free`].
///
/// # Safety
///
/// `json` valid for `len` bytes; `out` for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_layout_from_json(
    json: *const u8,
    len: usize,
    out: *mut *mut bprwire_layout,
) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        let text = unsafe { slice(json, len, "json")? };
        let layout =
            FeatureLayout::from_json(text).map_err(|e| Fail::new(BPRWIRE_ERR_INVALID, e.to_string()))?;
        // SAFETY: checked for NULL by `put_new`.
        unsafe { put_new(out, bprwire_layout(layout), "out") }
    })
}

/// Frees a layout (NULL is ignored).
///
/// # Safety
///
/// `layout` must come from [`bprwire_layout_from_json`] and not be used again.
#[no_mangle]
pub unsafe extern "C" fn bprwire_layout_free(layout: *mut bprwire_layout) {
    if !layout.is_null() {
        // SAFETY: made by Box::into_raw; given back once (caller).
        drop(unsafe { Box::from_raw(layout) });
    }
}

/// The dense arrays the layout fills, in the order every bprwire binding
/// uses (continuous, binary, discrete, then each tensor as added): sets
/// `*n` to their number and, when `capacity` is not 0, writes them to
/// `arrays[0..*n]`. `capacity` 0 (`arrays` may then be NULL) asks for the
/// number alone; a `capacity` under it is `BPRWIRE_ERR_BUFFER_TOO_SMALL`
/// (nothing written but `*n`).
///
/// # Safety
///
/// `arrays` writable for `capacity` entries; `n` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_layout_arrays(
    layout: *const bprwire_layout,
    arrays: *mut bprwire_array,
    capacity: usize,
    n: *mut usize,
) -> i32 {
    guard(|| {
        if layout.is_null() {
            return Err(Fail::new(BPRWIRE_ERR_NULL, "layout is NULL"));
        }
        // SAFETY: non-null, from bprwire_layout_from_json (caller).
        let layout = unsafe { &(*layout).0 };
        let list = layout_arrays(layout);
        // SAFETY: checked for NULL by `put`.
        unsafe { put(n, list.len(), "n")? };
        if capacity == 0 {
            return Ok(());
        }
        if capacity < list.len() {
            return Err(Fail::new(
                BPRWIRE_ERR_BUFFER_TOO_SMALL,
                format!("arrays: room for {capacity}, the layout has {}", list.len()),
            ));
        }
        // SAFETY: the caller's promise for `arrays`, passed on.
        let out = unsafe { slice_mut(arrays, list.len(), "arrays")? };
        out.copy_from_slice(&list);
        Ok(())
    })
}

/// What [`bprwire_layout_arrays`] lists.
fn layout_arrays(layout: &FeatureLayout) -> Vec<bprwire_array> {
    use bprwire::features::FeatureKind;
    let code = |t: bprwire::features::OutputType| match t {
        bprwire::features::OutputType::F32 => BPRWIRE_FLOAT,
        bprwire::features::OutputType::F64 => BPRWIRE_DOUBLE,
        bprwire::features::OutputType::I64 => BPRWIRE_INT64,
        bprwire::features::OutputType::U8 => BPRWIRE_UINT8,
    };
    let mut out = Vec::new();
    for (kind, k, width) in [
        (
            FeatureKind::Continuous,
            BPRWIRE_CONTINUOUS,
            layout.continuous_ids().len(),
        ),
        (FeatureKind::Binary, BPRWIRE_BINARY, layout.binary_ids().len()),
        (
            FeatureKind::Discrete,
            BPRWIRE_DISCRETE,
            layout.discrete_ids().len(),
        ),
    ] {
        if let Some(t) = layout.output_type(kind) {
            out.push(bprwire_array {
                kind: k,
                tensor_id: 0,
                dtype: code(t),
                width,
            });
        }
    }
    out.extend(layout.tensors().iter().map(|t| bprwire_array {
        kind: BPRWIRE_TENSOR,
        tensor_id: t.id,
        dtype: code(t.dtype),
        width: t.width,
    }));
    out
}

/// Sets `*records` to the number of records the `BatchPredictionRequest`
/// in `request[0..len]` declares, read without decoding them (cheap
/// whatever the request's size): to size the arrays of
/// [`bprwire_layout_scatter`] before scattering. `BPRWIRE_ERR_DECODE` for
/// bytes that are not a request's start; the scatter still checks
/// everything.
///
/// # Safety
///
/// `request` valid for `len` bytes; `records` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_request_records(request: *const u8, len: usize, records: *mut usize) -> i32 {
    guard(|| {
        // SAFETY: passed on.
        let bytes = unsafe { slice(request, len, "request")? };
        let n = bprwire::decode::request_records(bytes)
            .map_err(|e| Fail::new(BPRWIRE_ERR_DECODE, e.to_string()))?;
        // SAFETY: checked for NULL by `put`.
        unsafe { put(records, n, "records") }
    })
}

/// Decodes the `BatchPredictionRequest` in `request[0..len]` and scatters
/// it into the caller's arrays (one `bprwire_output` per output the
/// layout has, each with room for `rows × n` elements); sets `*rows` to
/// the request's record count. `BPRWIRE_ERR_DECODE` for bytes that are
/// not a request (arrays untouched), `BPRWIRE_ERR_INVALID` for arrays that
/// do not match the layout or lack room (untouched) or for a request the
/// layout refuses (then the arrays hold a partial result).
///
/// # Safety
///
/// `request` valid for `len` bytes; each output's `data` writable for
/// `count` elements of its type, aligned, not overlapping another;
/// `rows` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn bprwire_layout_scatter(
    layout: *const bprwire_layout,
    request: *const u8,
    len: usize,
    outputs: *const bprwire_output,
    n_outputs: usize,
    rows: *mut usize,
) -> i32 {
    guard(|| {
        if layout.is_null() {
            return Err(Fail::new(BPRWIRE_ERR_NULL, "layout is NULL"));
        }
        // SAFETY: non-null, from bprwire_layout_from_json (caller).
        let layout = unsafe { &(*layout).0 };
        // SAFETY: passed on.
        let bytes = unsafe { slice(request, len, "request")? };
        // SAFETY: the caller's promise for these pointers, passed on.
        let outs = unsafe { slice(outputs, n_outputs, "outputs")? };
        let mut o = Outputs::new();
        for (i, out) in outs.iter().enumerate() {
            let what = What::at("outputs", i);
            // SAFETY: the caller's promise for each array, passed on.
            let column: Column<'_> = unsafe {
                match out.dtype {
                    BPRWIRE_FLOAT => Column::F32(slice_mut(out.data as *mut f32, out.count, what)?),
                    BPRWIRE_DOUBLE => Column::F64(slice_mut(out.data as *mut f64, out.count, what)?),
                    BPRWIRE_INT64 => Column::I64(slice_mut(out.data as *mut i64, out.count, what)?),
                    BPRWIRE_UINT8 => Column::U8(slice_mut(out.data as *mut u8, out.count, what)?),
                    other => {
                        return Err(Fail::new(
                            BPRWIRE_ERR_INVALID,
                            format!(
                                "{what}: dtype {other} is not an output type (FLOAT, DOUBLE, INT64, UINT8)"
                            ),
                        ))
                    }
                }
            };
            o = match (out.kind, column) {
                (BPRWIRE_CONTINUOUS, c) => o.continuous(c),
                (BPRWIRE_BINARY, c) => o.binary(c),
                (BPRWIRE_DISCRETE, Column::I64(c)) => o.discrete(c),
                (BPRWIRE_DISCRETE, _) => {
                    return Err(Fail::new(
                        BPRWIRE_ERR_INVALID,
                        format!("{what}: discrete outputs are BPRWIRE_INT64"),
                    ))
                }
                (BPRWIRE_TENSOR, c) => o.tensor(out.tensor_id, c),
                (other, _) => {
                    return Err(Fail::new(
                        BPRWIRE_ERR_INVALID,
                        format!("{what}: kind {other} is not an output kind"),
                    ))
                }
            };
        }
        let done = layout.scatter_bytes(bytes, &mut o).map_err(|e| {
            let code = match e {
                bprwire::features::FeatureError::Decode(_) => BPRWIRE_ERR_DECODE,
                _ => BPRWIRE_ERR_INVALID,
            };
            Fail::new(code, e.to_string())
        })?;
        // SAFETY: checked for NULL by `put`.
        unsafe { put(rows, done.rows, "rows") }
    })
}
