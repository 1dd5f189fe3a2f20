//! What every row of a tensor looks like on the wire: [`RowLayout`], fixed
//! by the tensor's key, element type, row shape and encoding, and the
//! [`Template`]s of bytes around each row's data.

use crate::encode::error::{Error, Input, Size};
use crate::encode::input::TensorEncoding;
use crate::encode::size::{check_size, product, too_large};
use crate::kernels::Conversion;
use crate::wire::{self, field, ttype, PutHeader, MAX_SIZE};
use crate::DataType;

/// Bytes of a short template, copied as one block.
pub(crate) const TEMPLATE_BLOCK: usize = 64;

/// Bytes written around every row of a tensor (built once per call).
/// A template's block, aligned so that its load never splits a cache
/// line. Measured side by side (criterion, two alternating runs each): the
/// one-shot W1 52.5-53.0 ns aligned against 61.5-62.2 ns not, the others
/// within noise; callgrind counts W1 one-shot 1,133 -> 1,235 instructions
/// (the plan it moves grows from 520 to 768 bytes) and W5/W7 prepared 1.5%
/// fewer.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
pub(crate) struct Block(pub(crate) [u8; TEMPLATE_BLOCK]);

#[derive(Clone, Debug)]
pub(crate) enum Template {
    /// Up to 64 bytes, zero-padded to a full block.
    Short { bytes: Block, len: u8 },
    /// Longer (a shape of rank 8 or more).
    Long(Vec<u8>),
}

impl Template {
    /// An empty template, written into through [`PutHeader`].
    pub(crate) fn empty() -> Self {
        Template::Short {
            bytes: Block([0u8; TEMPLATE_BLOCK]),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Template::Short { len, .. } => usize::from(*len),
            Template::Long(b) => b.len(),
        }
    }

    /// The template's bytes, without the padding.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Template::Short { bytes, len } => &bytes.0[..usize::from(*len)],
            Template::Long(b) => b,
        }
    }
}

/// A template is written in place, header by header: a short one as
/// fixed-size copies into its block; past 64 bytes it becomes a `Long`
/// one. Built in a `SmallVec` and copied over, each header was an
/// `extend_from_slice` that called out to `reserve` and `memcpy`: W6's
/// `Plan::new` (two tensors) took 4,262 instructions that way, 3,399 this
/// way (iai).
impl PutHeader for Template {
    #[inline]
    fn put_bytes(&mut self, b: &[u8]) {
        match self {
            Template::Short { bytes, len } => {
                let at = usize::from(*len);
                match bytes.0.get_mut(at..at + b.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(b);
                        // At most TEMPLATE_BLOCK (64): fits a u8.
                        *len = (at + b.len()) as u8;
                    }
                    None => self.spill(b),
                }
            }
            Template::Long(v) => v.extend_from_slice(b),
        }
    }
}

impl Template {
    /// A short template that `b` would overflow becomes a long one.
    #[cold]
    #[inline(never)]
    fn spill(&mut self, b: &[u8]) {
        let mut long = self.bytes().to_vec();
        long.extend_from_slice(b);
        *self = Template::Long(long);
    }
}

/// The union arm strings go to: a `binaryTensor` (any bytes, which twml's
/// readers do not read) or a `stringTensor` (Thrift strings).
#[inline]
pub(crate) fn string_arm(binary: bool) -> i16 {
    if binary {
        field::BINARY_TENSOR
    } else {
        field::STRING_TENSOR
    }
}

/// The bytes of a tensor row's templates: what surrounds its data in
/// every record.
#[inline]
pub(crate) fn templates_len(prefix: &Template, suffix: &Template) -> usize {
    prefix.len() + suffix.len()
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

/// How one element type goes on the wire: the union arm, the element
/// type of its typed list (`None`: a `rawTypedTensor`'s bytes), output
/// bytes per element, and the conversion of a fixed-size row (`None`: a
/// raw copy).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arm {
    pub(crate) arm: i16,
    pub(crate) list: Option<u8>,
    pub(crate) out_size: usize,
    pub(crate) conversion: Option<Conversion>,
}

/// The typed-list arm of `dtype` (`floatTensor` of doubles from `f32`,
/// `doubleTensor`, `int32Tensor`, `int64Tensor`, `boolTensor`), or `None`
/// for a type without one (`uint8`, strings): the one table of typed arms,
/// for the typed encoding and for the request writer.
#[inline]
pub(crate) fn typed_arm(dtype: DataType) -> Option<Arm> {
    let (arm, list, out_size, conversion) = match dtype {
        DataType::Float => (field::FLOAT_TENSOR, ttype::DOUBLE, 8, Conversion::F32ToF64),
        DataType::Double => (field::DOUBLE_TENSOR, ttype::DOUBLE, 8, Conversion::Swap8),
        DataType::Int32 => (field::INT32_TENSOR, ttype::I32, 4, Conversion::Swap4),
        DataType::Int64 => (field::INT64_TENSOR, ttype::I64, 8, Conversion::Swap8),
        DataType::Bool => (field::BOOL_TENSOR, ttype::BOOL, 1, Conversion::Bool),
        _ => return None,
    };
    Some(Arm {
        arm,
        list: Some(list),
        out_size,
        conversion: Some(conversion),
    })
}

impl Arm {
    /// The arm of `dtype` in `encoding`; `string_arm` for strings; `raw`:
    /// the elements come as untyped bytes (then a raw BOOL is normalised,
    /// as a typed one is: `&[bool]` is 0 or 1 by type, and stays a copy).
    #[inline(always)]
    fn of(dtype: DataType, string_arm: i16, raw: bool, encoding: TensorEncoding) -> Option<Arm> {
        let raw_arm = |out_size, conversion| Arm {
            arm: field::RAW_TYPED_TENSOR,
            list: None,
            out_size,
            conversion,
        };
        match dtype {
            DataType::String => Some(Arm {
                arm: string_arm,
                list: Some(ttype::STRING),
                out_size: 0,
                conversion: None,
            }),
            _ => match typed_arm(dtype).filter(|_| encoding == TensorEncoding::Typed) {
                Some(typed) => Some(typed),
                None if dtype == DataType::Bool && raw => Some(raw_arm(1, Some(Conversion::Bool))),
                None => dtype.fixed_size().map(|size| raw_arm(size, None)),
            },
        }
    }
}

impl RowLayout {
    /// The layout of a tensor of `dtype` under `key`. `string_arm` is the
    /// union arm of string elements; `raw` says the elements come as
    /// untyped bytes (then BOOL is normalised); `shape` is only named in
    /// errors, `row_shape` is the shape after the batch.
    // Inlinable into the planners, as it was when it lived in plan.rs.
    #[allow(clippy::too_many_arguments)]
    #[inline]
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
        let arm =
            Arm::of(dtype, string_arm, raw, encoding).ok_or(Error::UnsupportedDataType { input, dtype })?;
        let row_out = row_elems.checked_mul(arm.out_size).ok_or(too_large(
            Some(input),
            Size::RowBytes,
            usize::MAX,
            MAX_SIZE,
        ))?;
        let (prefix, shape_field) = prefix(input, key, dtype, arm, row_elems, row_out)?;
        Ok(RowLayout {
            prefix,
            suffix: suffix(shape_field, row_shape),
            conversion: arm.conversion,
            row_out,
            in_size: dtype.fixed_size().unwrap_or(1),
            row_elems,
        })
    }
}

/// The bytes before a row's data: the map key, the union arm, and the
/// tensor struct up to its elements (a typed list's header, or a raw
/// tensor's data type and content length); and the shape's field id.
// Inlined (as `suffix`, `Arm::of`, `typed_arm`), as the code was before
// it was split; measured, inlining them changed no iai count.
#[inline(always)]
fn prefix(
    input: Input,
    key: i64,
    dtype: DataType,
    arm: Arm,
    row_elems: usize,
    row_out: usize,
) -> Result<(Template, i16), Error> {
    let mut prefix = Template::empty();
    prefix.i64(key);
    prefix.field(ttype::STRUCT, arm.arm);
    let shape_field = match arm.list {
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
    Ok((prefix, shape_field))
}

/// The bytes after a row's data: the shape (`row_shape`) under
/// `shape_field`, and the STOPs of the tensor struct and the union.
#[inline(always)]
fn suffix(shape_field: i16, row_shape: &[usize]) -> Template {
    let mut suffix = Template::empty();
    suffix.field(ttype::LIST, shape_field);
    suffix.list(ttype::I64, row_shape.len());
    for &dim in row_shape {
        suffix.i64(dim as i64);
    }
    suffix.stop(); // end of the tensor struct
    suffix.stop(); // end of the GeneralTensor union
    suffix
}
