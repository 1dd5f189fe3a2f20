//! The planner: every check of the inputs, the exact encoded size, and the
//! per-tensor row templates, all computed from shapes (and, for string
//! tensors, string lengths) without touching element data.

use crate::error::{Error, Input, KeyMap, Size};
use crate::input::{BatchPrediction, StringKind, TensorData, TensorEncoding, Values};
use crate::kernels::{Conversion, Kernels, Records};
use crate::wire::{
    self, field, ttype, PutHeader, Template, CONTINUOUS_ENTRY, FIELD_HEADER, LIST_HEADER, MAP_HEADER,
    MAX_SIZE, STOP,
};
use crate::DataType;
use core::convert::Infallible;
use smallvec::SmallVec;

/// Continuous predictions, checked; present only when `n > 0` (twml writes
/// no continuous map for an empty key list).
pub(crate) struct ContinuousPlan<'a> {
    /// `0D 00 02 0A 04 <n>` and the keys (the kernel swaps them).
    pub records: Records<'a>,
    /// The whole batch of values as little-endian bytes.
    pub values: &'a [u8],
    /// Bytes of `values` per record (`n` times 4 or 8).
    pub row_bytes: usize,
    /// Writes records' entries; chosen once per call by value type and level.
    pub kernel: RowKernel,
}

/// Writes records of continuous entries (see [`Kernels::continuous_f32`]).
pub(crate) type RowKernel = fn(&Records<'_>, &[u8], &mut [u8]);

/// Turns one row of little-endian elements into its wire bytes.
pub(crate) type Kernel = fn(&[u8], &mut [u8]);

/// The element source of a dense tensor.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Fixed-size elements as little-endian bytes, turned into their wire
    /// bytes by `kernel` (chosen once per call by the conversion and the
    /// level). A sink may convert a row in pieces cut at multiples of
    /// `conversion.units()`.
    Converted {
        bytes: &'a [u8],
        kernel: Kernel,
        conversion: Conversion,
    },
    /// Fixed-size elements whose little-endian bytes are their wire bytes
    /// (a `rawTypedTensor`'s content, or `uint8`): copied as they are, or
    /// borrowed by a sink.
    Raw(&'a [u8]),
    /// Strings (for a `StringTensor` or a `binaryTensor`: the row template
    /// says which).
    Strings(Strings<'a>),
}

impl<'a> Source<'a> {
    /// This source with `conversion` applied: fixed-size elements become
    /// [`Source::Converted`] by that conversion's kernel at `kernels`'
    /// level; without a conversion, or for strings, it is unchanged.
    pub(crate) fn converted(self, conversion: Option<Conversion>, kernels: &Kernels) -> Source<'a> {
        match (self, conversion) {
            (Source::Raw(bytes), Some(conversion)) => Source::Converted {
                bytes,
                kernel: kernels.convert(conversion),
                conversion,
            },
            (source, _) => source,
        }
    }

    /// Whether the elements are fixed-size (raw or converted).
    pub(crate) fn is_fixed(&self) -> bool {
        !matches!(self, Source::Strings(_))
    }
}

/// The strings of a tensor, however the caller holds them. Every layout
/// and sizing loop reaches them through [`Strings::try_for_each`], so each
/// way of holding them is written once.
#[derive(Clone, Copy)]
pub(crate) enum Strings<'a> {
    /// `&str`s (UTF-8 by type).
    Str(&'a [&'a str]),
    /// Byte slices.
    Bytes(&'a [&'a [u8]]),
    /// Fixed-width, NUL-padded elements (checked: a whole number of
    /// `width`-byte elements, none at all for width 0).
    Padded { bytes: &'a [u8], width: usize },
}

impl<'a> Strings<'a> {
    /// Calls `f` with the bytes of each string in `elements` (flat indices,
    /// which the planner checked against the shape), in order; stops at the
    /// first error. Matches on the representation once per call, so that
    /// each loop is monomorphic.
    #[inline(always)]
    pub(crate) fn try_for_each<E>(
        self,
        elements: core::ops::Range<usize>,
        mut f: impl FnMut(&'a [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Strings::Str(v) => v[elements].iter().try_for_each(|s| f(s.as_bytes())),
            Strings::Bytes(v) => v[elements].iter().try_for_each(|s| f(s)),
            Strings::Padded { width: 0, .. } => elements.into_iter().try_for_each(|_| f(&[])),
            Strings::Padded { bytes, width } => bytes[elements.start * width..elements.end * width]
                .chunks_exact(width)
                .try_for_each(|s| f(trim_nuls(s))),
        }
    }

    /// The number of strings, given the shape's element count (which is
    /// the only count a width-0 `Padded` has).
    fn count(self, expected: usize) -> usize {
        match self {
            Strings::Str(v) => v.len(),
            Strings::Bytes(v) => v.len(),
            Strings::Padded { width: 0, .. } => expected,
            Strings::Padded { bytes, width } => bytes.len() / width,
        }
    }
}

/// A fixed-width string without its trailing NUL bytes (as numpy reads an
/// `S` element).
///
/// Scans back a word at a time (both the sizing and the writing pass trim
/// each element): W6's strings as 40-byte padded text, iai
/// `bprwire_strings` `w6_padded`, took 78,226 instructions with the
/// byte-at-a-time `rposition`, 44,037 with this.
#[inline(always)]
fn trim_nuls(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while let Some(word) = end.checked_sub(8).map(|start| &s[start..end]) {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        if w != 0 {
            // The last byte in memory is the most significant: its zero
            // bytes are the word's leading zeros.
            return &s[..end - (w.leading_zeros() / 8) as usize];
        }
        end -= 8;
    }
    while end > 0 && s[end - 1] == 0 {
        end -= 1;
    }
    &s[..end]
}

/// One dense tensor, checked, with the bytes that surround every row's data
/// (they are the same for every row, so they are built once per call).
pub(crate) struct TensorPlan<'a> {
    pub source: Source<'a>,
    /// Input per row: bytes for fixed-size elements, strings for strings.
    pub row_in: usize,
    /// Output bytes of a fixed-size row (0 for strings: they vary).
    pub row_out: usize,
    /// Map key, union field, and the tensor struct up to the row's data
    /// (built for this call, or copied from a prepared signature: a short
    /// template is a 64-byte block, and borrowing it instead cost the
    /// one-shot API a branch per row, 4-5% on W5-W7).
    pub prefix: Template,
    /// The shape field and the two STOPs (tensor struct, union).
    pub suffix: Template,
}

/// A checked [`BatchPrediction`]: what [`Encoder`](crate::Encoder) encodes.
pub(crate) struct Plan<'a> {
    pub kernels: &'static Kernels,
    pub batch: usize,
    pub len: usize,
    /// Bytes of one record apart from its string tensors' elements (all of
    /// it when there are none): the chunked sinks size runs of records.
    pub record_fixed: usize,
    /// Whether some tensor holds strings (then records differ in size);
    /// kept so that sizing a run of records skips the tensor scan.
    pub has_strings: bool,
    pub continuous: Option<ContinuousPlan<'a>>,
    /// `0D 00 08 0A 0C <k>` when there is at least one tensor.
    pub tensors_head: [u8; FIELD_HEADER + MAP_HEADER],
    pub tensors: SmallVec<[TensorPlan<'a>; 2]>,
}

fn too_large(input: Option<Input>, what: Size, size: usize, limit: usize) -> Error {
    Error::TooLarge {
        input,
        what,
        size: size as u64,
        limit: limit as u64,
    }
}

pub(crate) fn check_size(input: Option<Input>, what: Size, size: usize) -> Result<(), Error> {
    if size > MAX_SIZE {
        Err(too_large(input, what, size, MAX_SIZE))
    } else {
        Ok(())
    }
}

/// Product of `dims` (all of `shape`, or its tail), refusing overflow; a
/// zero anywhere makes it zero, even when the other dimensions alone would
/// overflow. The error names the whole `shape`.
fn product(input: Input, shape: &[usize], dims: &[usize]) -> Result<usize, Error> {
    if dims.contains(&0) {
        return Ok(0);
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::ShapeOverflow {
            input,
            shape: shape.into(),
        })
}

/// The first repeated key: the smallest `second` position whose key
/// appeared before, with that key's first position.
pub(crate) fn find_duplicate(keys: &[i64]) -> Option<(usize, usize)> {
    const QUADRATIC_UP_TO: usize = 24;
    // Keys in ascending order (how models usually list them) repeat none:
    // one pass, n - 1 comparisons (W1's 8 keys: 28 comparisons, about 250
    // instructions, before this test).
    if keys.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    if keys.len() <= QUADRATIC_UP_TO {
        for (j, kj) in keys.iter().enumerate() {
            if let Some(i) = keys[..j].iter().position(|ki| ki == kj) {
                return Some((i, j));
            }
        }
        return None;
    }
    let mut sorted: SmallVec<[(i64, usize); 64]> = keys.iter().copied().zip(0..).collect();
    sorted.sort_unstable();
    sorted
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| (w[0].1, w[1].1))
        .min_by_key(|&(_, second)| second)
}

pub(crate) fn check_keys(map: KeyMap, keys: &[i64]) -> Result<(), Error> {
    check_size(None, Size::MapEntries(map), keys.len())?;
    match find_duplicate(keys) {
        Some((first, second)) => Err(Error::DuplicateKey {
            map,
            key: keys[first],
            first,
            second,
        }),
        None => Ok(()),
    }
}

/// Little-endian bytes of a fixed-size slice. bprwire builds only for
/// little-endian targets (see lib.rs), where this is the memory as it is.
pub(crate) fn le_bytes<T: bytemuck::NoUninit>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// Checks a `Raw { dtype, bytes }` source: `dtype` must be one of `allowed`
/// and `bytes` whole elements. Returns the element count.
pub(crate) fn raw_elements(
    input: Input,
    dtype: DataType,
    bytes: &[u8],
    allowed: &[DataType],
) -> Result<usize, Error> {
    let size = match dtype.fixed_size() {
        Some(size) if allowed.contains(&dtype) => size,
        _ => return Err(Error::UnsupportedDataType { input, dtype }),
    };
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::RawByteLength {
            input,
            dtype,
            bytes: bytes.len(),
        });
    }
    Ok(bytes.len() / size)
}

const RAW_TENSOR_TYPES: [DataType; 6] = [
    DataType::Float,
    DataType::Double,
    DataType::Int32,
    DataType::Int64,
    DataType::Uint8,
    DataType::Bool,
];

/// Adds to a running total, refusing overflow of the response size.
pub(crate) fn add(total: usize, more: usize) -> Result<usize, Error> {
    total
        .checked_add(more)
        .ok_or(too_large(None, Size::Response, usize::MAX, usize::MAX))
}

pub(crate) fn mul(a: usize, b: usize) -> Result<usize, Error> {
    a.checked_mul(b)
        .ok_or(too_large(None, Size::Response, usize::MAX, usize::MAX))
}

/// Field header and map header: `0D 00 <id> <key> <value> <n as i32 BE>`.
pub(crate) fn map_head(id: i16, value: u8, n: usize) -> [u8; FIELD_HEADER + MAP_HEADER] {
    let [i0, i1] = id.to_be_bytes();
    let [n0, n1, n2, n3] = wire::to_i32(n).to_be_bytes();
    [ttype::MAP, i0, i1, ttype::I64, value, n0, n1, n2, n3]
}

impl<'a> Plan<'a> {
    pub(crate) fn new(bp: &BatchPrediction<'a>) -> Result<Self, Error> {
        let dense = bp.dense.as_ref();
        let has_tensors = dense.is_some_and(|d| !d.keys.is_empty() || !d.tensors.is_empty());
        let kernels = match bp.level {
            None => Kernels::best(),
            Some(level) => Kernels::for_level(level).map_err(|_| Error::LevelUnavailable { level })?,
        };
        if bp.continuous.is_none() && !has_tensors {
            return Err(Error::NoPredictions);
        }
        if let Some(d) = dense {
            if d.keys.len() != d.tensors.len() {
                return Err(Error::TensorCountMismatch {
                    keys: d.keys.len(),
                    tensors: d.tensors.len(),
                });
            }
        }

        // Bytes of one record, apart from string contents (which differ per row).
        let mut record = STOP;
        let mut batch = None;
        let mut continuous = None;

        if let Some(c) = &bp.continuous {
            let input = Input::Continuous;
            let (rows, n) = match c.shape[..] {
                [rows] => (rows, 1),
                [rows, n] => (rows, n),
                _ => return Err(Error::ContinuousRank { rank: c.shape.len() }),
            };
            if c.keys.len() != n {
                return Err(Error::KeyCountMismatch {
                    keys: c.keys.len(),
                    last_dim: n,
                });
            }
            let (values, dtype, found) = match c.values {
                Values::F32(v) => (le_bytes(v), DataType::Float, v.len()),
                Values::F64(v) => (le_bytes(v), DataType::Double, v.len()),
                Values::Raw { dtype, bytes } => {
                    let found = raw_elements(input, dtype, bytes, &[DataType::Float, DataType::Double])?;
                    (bytes, dtype, found)
                }
            };
            let expected = product(input, &c.shape, &c.shape)?;
            if found != expected {
                return Err(Error::ElementCountMismatch {
                    input,
                    shape: c.shape[..].into(),
                    expected,
                    found,
                });
            }
            check_keys(KeyMap::Continuous, c.keys)?;
            batch = Some(rows);
            if n > 0 {
                record = add(record, add(FIELD_HEADER + MAP_HEADER, mul(CONTINUOUS_ENTRY, n)?)?)?;
                let wide = dtype == DataType::Double;
                continuous = Some(ContinuousPlan {
                    records: Records {
                        head: map_head(field::CONTINUOUS, ttype::DOUBLE, n),
                        keys: c.keys,
                        stop: true, // until tensors follow (set below)
                    },
                    values,
                    // n * 4 or n * 8: no more than the values' length.
                    row_bytes: n * if wide { 8 } else { 4 },
                    kernel: kernels.continuous(wide),
                });
            }
        }

        let mut tensors = SmallVec::new();
        let mut string_bytes = 0usize;
        if let Some(d) = dense.filter(|d| !d.keys.is_empty()) {
            record += FIELD_HEADER + MAP_HEADER;
            for (index, (&key, t)) in d.keys.iter().zip(d.tensors).enumerate() {
                let input = Input::Tensor { index, key };
                if let Some(strides) = t.strides_if_strided() {
                    return Err(Error::NotContiguous {
                        input,
                        shape: t.shape().into(),
                        strides: strides.into(),
                    });
                }
                let (plan, strings) = plan_tensor(input, key, t.data(), t.shape(), bp.encoding, kernels)?;
                let rows = t.shape()[0];
                match batch {
                    None => batch = Some(rows),
                    Some(b) if b != rows => {
                        return Err(Error::BatchSizeMismatch {
                            input,
                            batch: b,
                            found: rows,
                        })
                    }
                    Some(_) => {}
                }
                record = add(record, plan.prefix.len() + plan.suffix.len())?;
                record = add(record, plan.row_out)?;
                string_bytes = add(string_bytes, strings)?;
                tensors.push(plan);
            }
            check_keys(KeyMap::Tensors, d.keys)?;
        }

        if let Some(c) = &mut continuous {
            // Without tensors, the STOP that ends a record follows its entries.
            c.records.stop = tensors.is_empty();
        }
        let batch = batch.unwrap_or(0);
        check_size(None, Size::Batch, batch)?;
        let head = FIELD_HEADER + LIST_HEADER;
        let len = add(add(head + STOP, mul(batch, record)?)?, string_bytes)?;
        let has_strings = tensors.iter().any(|t: &TensorPlan<'_>| !t.source.is_fixed());
        Ok(Plan {
            kernels,
            batch,
            len,
            record_fixed: record,
            has_strings,
            continuous,
            tensors_head: map_head(field::TENSORS, ttype::STRUCT, tensors.len()),
            tensors,
        })
    }
}

/// The element source of `data` ([`Source::Raw`] for fixed-size elements,
/// until [`Source::converted`] applies a layout's conversion) and its
/// element count: `None` for width-0 fixed-width
/// strings, which only the shape counts. Checks what the data alone
/// decides: raw bytes of a supported type and whole elements, padded
/// bytes a whole number of elements.
pub(crate) fn source_of<'a>(
    input: Input,
    data: &TensorData<'a>,
) -> Result<(Source<'a>, Option<usize>), Error> {
    let strings = |s: Strings<'a>| (Source::Strings(s), Some(s.count(0)));
    Ok(match *data {
        TensorData::F32(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::F64(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::I32(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::I64(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::U8(v) => (Source::Raw(v), Some(v.len())),
        TensorData::Bool(v) => (Source::Raw(le_bytes(v)), Some(v.len())),
        TensorData::Str(v) => strings(Strings::Str(v)),
        TensorData::Bytes(v) | TensorData::Binary(v) => strings(Strings::Bytes(v)),
        TensorData::Padded { bytes, width, .. } => {
            let whole = bytes
                .len()
                .checked_rem(width)
                .map_or(bytes.is_empty(), |r| r == 0);
            if !whole {
                return Err(Error::PaddedLength {
                    input,
                    width,
                    bytes: bytes.len(),
                });
            }
            let (source, found) = strings(Strings::Padded { bytes, width });
            (source, found.filter(|_| width > 0))
        }
        TensorData::Raw { dtype, bytes } => (
            Source::Raw(bytes),
            Some(raw_elements(input, dtype, bytes, &RAW_TENSOR_TYPES)?),
        ),
    })
}

/// Checks one dense tensor and builds its row templates. Returns the plan
/// and the total bytes its strings take on the wire (length prefixes
/// included; 0 for other types).
fn plan_tensor<'a>(
    input: Input,
    key: i64,
    data: &TensorData<'a>,
    shape: &[usize],
    encoding: TensorEncoding,
    kernels: &'static Kernels,
) -> Result<(TensorPlan<'a>, usize), Error> {
    if shape.is_empty() {
        return Err(Error::ScalarTensor { input });
    }
    let (source, found) = source_of(input, data)?;
    let dtype = data.dtype();
    let expected = product(input, shape, shape)?;
    let found = found.unwrap_or(expected);
    if found != expected {
        return Err(Error::ElementCountMismatch {
            input,
            shape: shape.into(),
            expected,
            found,
        });
    }
    let row_shape = &shape[1..];

    // Strings: the arm, and whether they must be checked for UTF-8 (a
    // StringTensor holds Thrift strings; `&str`s are UTF-8 by type).
    let (string_arm, check_utf8) = match *data {
        TensorData::Binary(_)
        | TensorData::Padded {
            kind: StringKind::Binary,
            ..
        } => (field::BINARY_TENSOR, false),
        TensorData::Bytes(_)
        | TensorData::Padded {
            kind: StringKind::Text,
            ..
        } => (field::STRING_TENSOR, true),
        _ => (field::STRING_TENSOR, false),
    };
    let raw = matches!(data, TensorData::Raw { .. });
    let layout = RowLayout::new(input, key, dtype, string_arm, raw, shape, row_shape, encoding)?;
    let source = source.converted(layout.conversion, kernels);
    let (prefix, suffix, row_out, in_size, row_elems) = (
        layout.prefix,
        layout.suffix,
        layout.row_out,
        layout.in_size,
        layout.row_elems,
    );

    let (strings, row_in) = match source {
        // One loop per case, so that `&str`s carry no UTF-8 check's code.
        Source::Strings(v) if check_utf8 => (string_bytes::<true>(input, v, found, row_elems)?, row_elems),
        Source::Strings(v) => (string_bytes::<false>(input, v, found, row_elems)?, row_elems),
        // Never more than row_out, which was checked above: no overflow.
        Source::Raw(_) | Source::Converted { .. } => (0, row_elems * in_size),
    };
    debug_assert!(!source.is_fixed() || row_in <= row_out);
    Ok((
        TensorPlan {
            source,
            row_in,
            row_out,
            prefix,
            suffix,
        },
        strings,
    ))
}

/// What every row of one tensor looks like on the wire: fixed by its key,
/// element type, string arm, row shape and encoding, not by its data or
/// the batch (so a prepared [`Signature`](crate::Signature) builds it once,
/// and the one-shot planner once per call).
#[derive(Clone, Debug)]
pub(crate) struct RowLayout {
    /// Map key, union field, and the tensor struct up to the row's data.
    pub prefix: Template,
    /// The shape field and the two STOPs (tensor struct, union).
    pub suffix: Template,
    /// What a fixed-size row's kernel does (`None`: a raw copy).
    pub conversion: Option<Conversion>,
    /// Output bytes of a fixed-size row (0 for strings).
    pub row_out: usize,
    /// Input bytes per element (1 for strings: one string each).
    pub in_size: usize,
    /// Elements per row.
    pub row_elems: usize,
}

impl RowLayout {
    /// The layout of a tensor of `dtype` under `key`. `string_arm` is the
    /// union arm of string elements; `raw` says the elements come as
    /// untyped bytes (then BOOL is normalised); `shape` is only named in
    /// errors, `row_shape` is the shape after the batch.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        input: Input,
        key: i64,
        dtype: DataType,
        string_arm: i16,
        raw: bool,
        shape: &[usize],
        row_shape: &[usize],
        encoding: TensorEncoding,
    ) -> Result<RowLayout, Error> {
        let row_elems = product(input, shape, row_shape)?;
        for (axis, &dim) in row_shape.iter().enumerate() {
            if dim > i64::MAX as usize {
                return Err(too_large(
                    Some(input),
                    Size::Dimension { axis: axis + 1 },
                    dim,
                    i64::MAX as usize,
                ));
            }
        }
        let typed = encoding == TensorEncoding::Typed;
        // (union arm, element list type, output bytes per element, conversion);
        // without a conversion a fixed-size row is a raw copy.
        let (arm, list, out_size, conversion) = match dtype {
            DataType::String => (string_arm, Some(ttype::STRING), 0, None),
            DataType::Float if typed => (
                field::FLOAT_TENSOR,
                Some(ttype::DOUBLE),
                8,
                Some(Conversion::F32ToF64),
            ),
            DataType::Double if typed => (
                field::DOUBLE_TENSOR,
                Some(ttype::DOUBLE),
                8,
                Some(Conversion::Swap8),
            ),
            DataType::Int32 if typed => (field::INT32_TENSOR, Some(ttype::I32), 4, Some(Conversion::Swap4)),
            DataType::Int64 if typed => (field::INT64_TENSOR, Some(ttype::I64), 8, Some(Conversion::Swap8)),
            DataType::Bool if typed => (field::BOOL_TENSOR, Some(ttype::BOOL), 1, Some(Conversion::Bool)),
            // Untyped bytes may hold any value where a bool is 0 or 1: a raw
            // BOOL tensor from them is normalised as a typed one is (`&[bool]`
            // is 0 or 1 by type, and stays a plain copy).
            DataType::Bool if raw => (field::RAW_TYPED_TENSOR, None, 1, Some(Conversion::Bool)),
            _ => match dtype.fixed_size() {
                Some(size) => (field::RAW_TYPED_TENSOR, None, size, None),
                None => return Err(Error::UnsupportedDataType { input, dtype }),
            },
        };
        let in_size = dtype.fixed_size().unwrap_or(1);
        let row_out = row_elems.checked_mul(out_size).ok_or(too_large(
            Some(input),
            Size::RowBytes,
            usize::MAX,
            MAX_SIZE,
        ))?;

        let mut prefix: SmallVec<[u8; 32]> = SmallVec::new();
        prefix.i64(key);
        prefix.field(ttype::STRUCT, arm);
        let shape_field = match list {
            Some(elem) => {
                check_size(Some(input), Size::RowElements, row_elems)?;
                prefix.field(ttype::LIST, field::TYPED_VALUES);
                prefix.list(elem, row_elems);
                field::TYPED_SHAPE
            }
            None => {
                check_size(Some(input), Size::RowBytes, row_out)?;
                prefix.field(ttype::I32, field::RAW_DATA_TYPE);
                prefix.i32(dtype.code());
                prefix.field(ttype::STRING, field::RAW_CONTENT);
                prefix.i32(wire::to_i32(row_out));
                field::RAW_SHAPE
            }
        };
        let mut suffix: SmallVec<[u8; 64]> = SmallVec::new();
        suffix.field(ttype::LIST, shape_field);
        suffix.list(ttype::I64, row_shape.len());
        for &dim in row_shape {
            suffix.i64(dim as i64);
        }
        suffix.push(ttype::STOP); // end of the tensor struct
        suffix.push(ttype::STOP); // end of the GeneralTensor union
        Ok(RowLayout {
            prefix: Template::new(&prefix),
            suffix: Template::new(&suffix),
            conversion,
            row_out,
            in_size,
            row_elems,
        })
    }
}

impl Plan<'_> {
    /// Whether some piece a sink may borrow (a raw row, a string) is at
    /// least `min` bytes long.
    pub(crate) fn borrows_any(&self, min: usize) -> bool {
        let min = min.max(1);
        self.tensors.iter().any(|t| match t.source {
            Source::Raw(_) => t.row_in >= min,
            Source::Converted { .. } => false,
            // No fixed-width string is longer than its width: no scan needed
            // (nor one over 2^31 empty strings).
            Source::Strings(Strings::Padded { width, .. }) if width < min => false,
            Source::Strings(v) => v
                .try_for_each(0..self.batch * t.row_in, |s| {
                    if s.len() >= min {
                        Err(())
                    } else {
                        Ok(())
                    }
                })
                .is_err(),
        })
    }

    /// Bytes of record `row` on the wire.
    pub(crate) fn record_len(&self, row: usize) -> usize {
        if !self.has_strings {
            return self.record_fixed;
        }
        let mut len = self.record_fixed;
        for t in &self.tensors {
            if let Source::Strings(v) = t.source {
                let _ = v.try_for_each(row * t.row_in..(row + 1) * t.row_in, |s| {
                    len += 4 + s.len();
                    Ok::<(), Infallible>(())
                });
            }
        }
        len
    }
}

/// Wire bytes of all `count` strings of a tensor (a 4-byte length and the
/// bytes each), checking each one's length and, if `UTF8`, its encoding.
pub(crate) fn string_bytes<const UTF8: bool>(
    input: Input,
    strings: Strings<'_>,
    count: usize,
    row_elems: usize,
) -> Result<usize, Error> {
    if let Strings::Padded { width: 0, .. } = strings {
        // Every string is empty: no loop, whatever the count (a header
        // can claim 2^31 of them in a few bytes).
        return mul(count, 4);
    }
    let mut total = 0usize;
    let mut element = 0usize;
    strings.try_for_each(0..count, |s| {
        check_size(Some(input), Size::StringBytes { element }, s.len())?;
        if UTF8 && !wire::is_utf8(s) {
            return Err(not_utf8(input, s, element, row_elems));
        }
        total = add(total, 4 + s.len())?;
        element += 1;
        Ok(())
    })?;
    Ok(total)
}

/// The error for string number `element` (flat), built only when one is
/// found: where it is, and how far it is valid.
#[cold]
fn not_utf8(input: Input, s: &[u8], element: usize, row_elems: usize) -> Error {
    Error::InvalidUtf8 {
        input,
        // A string exists, so rows hold at least one.
        row: element / row_elems,
        element: element % row_elems,
        valid_up_to: core::str::from_utf8(s).err().map_or(s.len(), |e| e.valid_up_to()),
    }
}

#[cfg(test)]
mod tests {
    use super::find_duplicate;

    /// The plain definition `find_duplicate` must match on both of its paths.
    fn naive(keys: &[i64]) -> Option<(usize, usize)> {
        (0..keys.len()).find_map(|j| (0..j).find(|&i| keys[i] == keys[j]).map(|i| (i, j)))
    }

    #[test]
    fn trim_nuls_matches_rposition_at_every_length_and_position() {
        let naive = |s: &[u8]| match s.iter().rposition(|&b| b != 0) {
            Some(last) => s[..=last].to_vec(),
            None => Vec::new(),
        };
        for len in 0..40 {
            for ones in 0..=len {
                for gap in 0..=ones {
                    // Non-zero bytes up to `ones`, with a zero at `gap`
                    // (inner NULs stay: only trailing ones are padding).
                    let mut s = vec![0u8; len];
                    s[..ones].fill(0x41);
                    if gap < ones {
                        s[gap] = 0;
                    }
                    assert_eq!(super::trim_nuls(&s), &naive(&s)[..], "{s:?}");
                }
            }
        }
    }

    #[test]
    fn find_duplicate_matches_naive_on_both_paths() {
        // A small deterministic generator: lengths across the quadratic/sorted
        // threshold, keys from a narrow range so repeats are common.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..80usize {
            for range in [3i64, 40, 1000, i64::MAX] {
                let keys: Vec<i64> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x as i64).rem_euclid(range)
                    })
                    .collect();
                assert_eq!(find_duplicate(&keys), naive(&keys), "{keys:?}");
            }
        }
    }
}
