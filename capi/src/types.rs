//! The ABI's constants and the C structs its functions take and fill.

use std::ffi::c_void;

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
