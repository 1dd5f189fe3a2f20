//! Views of the schema's structs: `DataRecord`, `GeneralTensor` and its
//! arms, `SparseTensor`. Each is read (and checked) field by field, and
//! written back in ascending field order.

use super::element::sealed::Wire;
use core::fmt;

use super::element::{put_binary, Element, List, Map, Set};
use super::error::{DecodeErrorKind, Item};
use super::reader::{Reader, Result};
use crate::wire::{field, ttype, PutHeader};
use crate::DataType;

fn put_opt<'a, T: Wire<'a>>(out: &mut Vec<u8>, id: i16, v: &Option<T>) {
    if let Some(v) = v {
        out.field(T::TTYPE, id);
        v.write(out);
    }
}

/// One `DataRecord`: each of its nine optional fields, borrowed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Record<'a> {
    /// 1: `set<i64> binaryFeatures`.
    pub binary_features: Option<Set<'a, i64>>,
    /// 2: `map<i64, double> continuousFeatures` (what bprwire writes for
    /// continuous predictions).
    pub continuous_features: Option<Map<'a, i64, f64>>,
    /// 3: `map<i64, i64> discreteFeatures`.
    pub discrete_features: Option<Map<'a, i64, i64>>,
    /// 4: `map<i64, string> stringFeatures`.
    pub string_features: Option<Map<'a, i64, &'a str>>,
    /// 5: `map<i64, set<string>> sparseBinaryFeatures`.
    pub sparse_binary_features: Option<Map<'a, i64, Set<'a, &'a str>>>,
    /// 6: `map<i64, map<string, double>> sparseContinuousFeatures`.
    pub sparse_continuous_features: Option<Map<'a, i64, Map<'a, &'a str, f64>>>,
    /// 7: `map<i64, binary> blobFeatures`.
    pub blob_features: Option<Map<'a, i64, &'a [u8]>>,
    /// 8: `map<i64, GeneralTensor> tensors` (what bprwire writes for dense
    /// tensors).
    pub tensors: Option<Map<'a, i64, GeneralTensor<'a>>>,
    /// 9: `map<i64, SparseTensor> sparseTensors`.
    pub sparse_tensors: Option<Map<'a, i64, SparseTensor<'a>>>,
}

const RECORD: &[(i16, u8, Item)] = &[
    (field::BINARY, ttype::SET, Item::BinaryFeatures),
    (field::CONTINUOUS, ttype::MAP, Item::ContinuousFeatures),
    (field::DISCRETE, ttype::MAP, Item::DiscreteFeatures),
    (field::STRING, ttype::MAP, Item::StringFeatures),
    (field::SPARSE_BINARY, ttype::MAP, Item::SparseBinaryFeatures),
    (
        field::SPARSE_CONTINUOUS,
        ttype::MAP,
        Item::SparseContinuousFeatures,
    ),
    (field::BLOB, ttype::MAP, Item::BlobFeatures),
    (field::TENSORS, ttype::MAP, Item::Tensors),
    (field::SPARSE_TENSORS, ttype::MAP, Item::SparseTensors),
];

impl<'a> Wire<'a> for Record<'a> {
    const TTYPE: u8 = ttype::STRUCT;
    const MIN: usize = 1;
    #[inline]
    fn read_checked(r: &mut Reader<'a>) -> Option<Self> {
        r.fast_record().or_else(|| Self::read(r).ok())
    }
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        if let Some(rec) = r.fast_record() {
            return Ok(rec);
        }
        let mut rec = Record::default();
        r.fields(RECORD, |r, id| {
            match id {
                field::BINARY => rec.binary_features = Some(Wire::read(r)?),
                field::CONTINUOUS => rec.continuous_features = Some(Wire::read(r)?),
                field::DISCRETE => rec.discrete_features = Some(Wire::read(r)?),
                field::STRING => rec.string_features = Some(Wire::read(r)?),
                field::SPARSE_BINARY => rec.sparse_binary_features = Some(Wire::read(r)?),
                field::SPARSE_CONTINUOUS => rec.sparse_continuous_features = Some(Wire::read(r)?),
                field::BLOB => rec.blob_features = Some(Wire::read(r)?),
                field::TENSORS => rec.tensors = Some(Wire::read(r)?),
                _ => rec.sparse_tensors = Some(Wire::read(r)?),
            }
            Ok(())
        })?;
        Ok(rec)
    }
    fn write(&self, out: &mut Vec<u8>) {
        put_opt(out, field::BINARY, &self.binary_features);
        put_opt(out, field::CONTINUOUS, &self.continuous_features);
        put_opt(out, field::DISCRETE, &self.discrete_features);
        put_opt(out, field::STRING, &self.string_features);
        put_opt(out, field::SPARSE_BINARY, &self.sparse_binary_features);
        put_opt(out, field::SPARSE_CONTINUOUS, &self.sparse_continuous_features);
        put_opt(out, field::BLOB, &self.blob_features);
        put_opt(out, field::TENSORS, &self.tensors);
        put_opt(out, field::SPARSE_TENSORS, &self.sparse_tensors);
        out.stop();
    }
}

/// A `GeneralTensor`: the one arm of the union that is set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GeneralTensor<'a> {
    /// 1: `RawTypedTensor`, the elements' little-endian bytes (what
    /// bprwire writes for numeric tensors by default).
    Raw(RawTensor<'a>),
    /// 2: `StringTensor`.
    String(TypedTensor<'a, &'a str>),
    /// 3: `Int32Tensor`.
    Int32(TypedTensor<'a, i32>),
    /// 4: `Int64Tensor`.
    Int64(TypedTensor<'a, i64>),
    /// 5: `FloatTensor` (f32 widened to double on the wire).
    Float(TypedTensor<'a, f64>),
    /// 6: `DoubleTensor`.
    Double(TypedTensor<'a, f64>),
    /// 7: `BoolTensor`.
    Bool(TypedTensor<'a, bool>),
    /// 8: `BinaryTensor`.
    Binary(TypedTensor<'a, &'a [u8]>),
}

impl<'a> GeneralTensor<'a> {
    /// The shape, if the tensor has one.
    pub fn shape(&self) -> Option<List<'a, i64>> {
        match self {
            GeneralTensor::Raw(t) => t.shape,
            GeneralTensor::String(t) => t.shape,
            GeneralTensor::Int32(t) => t.shape,
            GeneralTensor::Int64(t) => t.shape,
            GeneralTensor::Float(t) => t.shape,
            GeneralTensor::Double(t) => t.shape,
            GeneralTensor::Bool(t) => t.shape,
            GeneralTensor::Binary(t) => t.shape,
        }
    }

    /// The schema's name of the arm (`rawTypedTensor`, `stringTensor`, ...).
    pub fn arm_name(&self) -> &'static str {
        match self {
            GeneralTensor::Raw(_) => "rawTypedTensor",
            GeneralTensor::String(_) => "stringTensor",
            GeneralTensor::Int32(_) => "int32Tensor",
            GeneralTensor::Int64(_) => "int64Tensor",
            GeneralTensor::Float(_) => "floatTensor",
            GeneralTensor::Double(_) => "doubleTensor",
            GeneralTensor::Bool(_) => "boolTensor",
            GeneralTensor::Binary(_) => "binaryTensor",
        }
    }

    /// Number of elements (for a raw tensor of a fixed-size type, its
    /// content's bytes over the element size; `None` if the type is not
    /// fixed-size or the content is not a whole number of elements).
    pub fn element_count(&self) -> Option<usize> {
        Some(match self {
            GeneralTensor::Raw(t) => {
                let size = t.dtype()?.fixed_size()?;
                if !t.content.len().is_multiple_of(size) {
                    return None;
                }
                t.content.len() / size
            }
            GeneralTensor::String(t) => t.values.len(),
            GeneralTensor::Int32(t) => t.values.len(),
            GeneralTensor::Int64(t) => t.values.len(),
            GeneralTensor::Float(t) | GeneralTensor::Double(t) => t.values.len(),
            GeneralTensor::Bool(t) => t.values.len(),
            GeneralTensor::Binary(t) => t.values.len(),
        })
    }
}

const GENERAL_TENSOR: &[(i16, u8, Item)] = &[
    (field::RAW_TYPED_TENSOR, ttype::STRUCT, Item::RawTypedTensorArm),
    (field::STRING_TENSOR, ttype::STRUCT, Item::StringTensorArm),
    (field::INT32_TENSOR, ttype::STRUCT, Item::Int32TensorArm),
    (field::INT64_TENSOR, ttype::STRUCT, Item::Int64TensorArm),
    (field::FLOAT_TENSOR, ttype::STRUCT, Item::FloatTensorArm),
    (field::DOUBLE_TENSOR, ttype::STRUCT, Item::DoubleTensorArm),
    (field::BOOL_TENSOR, ttype::STRUCT, Item::BoolTensorArm),
    (field::BINARY_TENSOR, ttype::STRUCT, Item::BinaryTensorArm),
];

/// Reads a union (`item`, with the fields of `schema`): exactly one known
/// field must be set. Also the service's result struct.
pub(crate) fn union<'a, T>(
    r: &mut Reader<'a>,
    item: Item,
    schema: &[(i16, u8, Item)],
    mut arm: impl FnMut(&mut Reader<'a>, i16) -> Result<T>,
) -> Result<T> {
    let at = r.pos();
    let mut value = None;
    let mut count = 0;
    r.fields(schema, |r, id| {
        value = Some(arm(r, id)?);
        count += 1;
        Ok(())
    })
    .map_err(|e| e.within(item))?;
    match value {
        Some(v) if count == 1 => Ok(v),
        _ => Err(r.err_at(at, DecodeErrorKind::UnionFields { count }).within(item)),
    }
}

impl<'a> Wire<'a> for GeneralTensor<'a> {
    const TTYPE: u8 = ttype::STRUCT;
    const MIN: usize = 1;
    #[inline]
    fn read_checked(r: &mut Reader<'a>) -> Option<Self> {
        r.fast_tensor().or_else(|| Self::read(r).ok())
    }
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        if let Some(t) = r.fast_tensor() {
            return Ok(t);
        }
        use Item::{
            BinaryTensorBinaries, BinaryTensorShape, BoolTensorBooleans, BoolTensorShape,
            DoubleTensorDoubles, DoubleTensorShape, FloatTensorFloats, FloatTensorShape, Int32TensorInts,
            Int32TensorShape, Int64TensorLongs, Int64TensorShape, StringTensorShape, StringTensorStrings,
        };
        union(r, Item::GeneralTensor, GENERAL_TENSOR, |r, id| {
            Ok(match id {
                field::RAW_TYPED_TENSOR => GeneralTensor::Raw(Wire::read(r)?),
                field::STRING_TENSOR => {
                    GeneralTensor::String(TypedTensor::read_as(r, StringTensorStrings, StringTensorShape)?)
                }
                field::INT32_TENSOR => {
                    GeneralTensor::Int32(TypedTensor::read_as(r, Int32TensorInts, Int32TensorShape)?)
                }
                field::INT64_TENSOR => {
                    GeneralTensor::Int64(TypedTensor::read_as(r, Int64TensorLongs, Int64TensorShape)?)
                }
                field::FLOAT_TENSOR => {
                    GeneralTensor::Float(TypedTensor::read_as(r, FloatTensorFloats, FloatTensorShape)?)
                }
                field::DOUBLE_TENSOR => {
                    GeneralTensor::Double(TypedTensor::read_as(r, DoubleTensorDoubles, DoubleTensorShape)?)
                }
                field::BOOL_TENSOR => {
                    GeneralTensor::Bool(TypedTensor::read_as(r, BoolTensorBooleans, BoolTensorShape)?)
                }
                _ => GeneralTensor::Binary(TypedTensor::read_as(r, BinaryTensorBinaries, BinaryTensorShape)?),
            })
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        let id = match self {
            GeneralTensor::Raw(_) => field::RAW_TYPED_TENSOR,
            GeneralTensor::String(_) => field::STRING_TENSOR,
            GeneralTensor::Int32(_) => field::INT32_TENSOR,
            GeneralTensor::Int64(_) => field::INT64_TENSOR,
            GeneralTensor::Float(_) => field::FLOAT_TENSOR,
            GeneralTensor::Double(_) => field::DOUBLE_TENSOR,
            GeneralTensor::Bool(_) => field::BOOL_TENSOR,
            GeneralTensor::Binary(_) => field::BINARY_TENSOR,
        };
        out.field(ttype::STRUCT, id);
        match self {
            GeneralTensor::Raw(t) => t.write(out),
            GeneralTensor::String(t) => t.write(out),
            GeneralTensor::Int32(t) => t.write(out),
            GeneralTensor::Int64(t) => t.write(out),
            GeneralTensor::Float(t) | GeneralTensor::Double(t) => t.write(out),
            GeneralTensor::Bool(t) => t.write(out),
            GeneralTensor::Binary(t) => t.write(out),
        }
        out.stop();
    }
}

/// A `RawTypedTensor`: element type, content bytes (little-endian
/// elements, packed), optional shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawTensor<'a> {
    /// `dataType` as on the wire (any `i32`; see [`RawTensor::dtype`]).
    pub data_type: i32,
    /// `content`, borrowed from the input.
    pub content: &'a [u8],
    /// `shape`, if present.
    pub shape: Option<List<'a, i64>>,
}

impl RawTensor<'_> {
    /// The element type, if `data_type` is one the schema has.
    pub fn dtype(&self) -> Option<DataType> {
        DataType::from_code(self.data_type)
    }
}

const RAW_TENSOR: &[(i16, u8, Item)] = &[
    (field::RAW_DATA_TYPE, ttype::I32, Item::RawDataType),
    (field::RAW_CONTENT, ttype::STRING, Item::RawContent),
    (field::RAW_SHAPE, ttype::LIST, Item::RawShape),
];

impl<'a> Wire<'a> for RawTensor<'a> {
    const TTYPE: u8 = ttype::STRUCT;
    const MIN: usize = 1;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        let at = r.pos();
        let (mut data_type, mut content, mut shape) = (None, None, None);
        r.fields(RAW_TENSOR, |r, id| {
            match id {
                field::RAW_DATA_TYPE => data_type = Some(r.i32()?),
                field::RAW_CONTENT => content = Some(r.binary()?),
                _ => shape = Some(Wire::read(r)?),
            }
            Ok(())
        })?;
        Ok(RawTensor {
            data_type: r.required(data_type, Item::RawDataType, at)?,
            content: r.required(content, Item::RawContent, at)?,
            shape,
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.field(ttype::I32, field::RAW_DATA_TYPE);
        out.extend_from_slice(&self.data_type.to_be_bytes());
        out.field(ttype::STRING, field::RAW_CONTENT);
        put_binary(self.content, out);
        put_opt(out, field::RAW_SHAPE, &self.shape);
        out.stop();
    }
}

/// A typed tensor (`StringTensor`, `Int32Tensor`, ...): its element list
/// (field 1, required) and optional shape (field 2).
pub struct TypedTensor<'a, T> {
    /// The elements.
    pub values: List<'a, T>,
    /// The shape, if present.
    pub shape: Option<List<'a, i64>>,
}

// Manual impls: derives would put the bounds on `T` alone.
impl<T> Clone for TypedTensor<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for TypedTensor<'_, T> {}

impl<'a, T: Element<'a> + fmt::Debug> fmt::Debug for TypedTensor<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedTensor")
            .field("values", &self.values)
            .field("shape", &self.shape)
            .finish()
    }
}

impl<'a, T: Element<'a> + PartialEq> PartialEq for TypedTensor<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values && self.shape == other.shape
    }
}

impl<'a, T: Wire<'a>> TypedTensor<'a, T> {
    /// Reads a typed tensor whose two fields are the schema items `values`
    /// and `shape` (they differ by arm: `Int32Tensor.ints`, ...).
    fn read_as(r: &mut Reader<'a>, values_item: Item, shape_item: Item) -> Result<Self> {
        let at = r.pos();
        let mut values = None;
        let mut shape = None;
        let schema = [
            (field::TYPED_VALUES, ttype::LIST, values_item),
            (field::TYPED_SHAPE, ttype::LIST, shape_item),
        ];
        r.fields(&schema, |r, id| {
            match id {
                field::TYPED_VALUES => values = Some(Wire::read(r)?),
                _ => shape = Some(Wire::read(r)?),
            }
            Ok(())
        })?;
        Ok(TypedTensor {
            values: r.required(values, values_item, at)?,
            shape,
        })
    }
}

impl<'a, T: Wire<'a>> Wire<'a> for TypedTensor<'a, T> {
    const TTYPE: u8 = ttype::STRUCT;
    const MIN: usize = 1;
    /// Read only as an arm or a field, by `read_as` with that arm's items;
    /// this generic read names them as the `Int64Tensor` of the schema's
    /// one other use (`COOSparseTensor.indices`).
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        Self::read_as(r, Item::Int64TensorLongs, Item::Int64TensorShape)
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.field(ttype::LIST, field::TYPED_VALUES);
        self.values.write(out);
        put_opt(out, field::TYPED_SHAPE, &self.shape);
        out.stop();
    }
}

/// A `SparseTensor` (a union with one arm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SparseTensor<'a> {
    /// 1: `COOSparseTensor`.
    Coo(CooSparseTensor<'a>),
}

/// A `COOSparseTensor`: dense shape, indices, values (all required).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CooSparseTensor<'a> {
    /// `denseShape`.
    pub dense_shape: List<'a, i64>,
    /// `indices` (an `Int64Tensor`).
    pub indices: TypedTensor<'a, i64>,
    /// `values`.
    pub values: GeneralTensor<'a>,
}

const SPARSE_TENSOR: &[(i16, u8, Item)] =
    &[(field::COO_SPARSE_TENSOR, ttype::STRUCT, Item::CooSparseTensorArm)];
const COO: &[(i16, u8, Item)] = &[
    (field::COO_DENSE_SHAPE, ttype::LIST, Item::CooDenseShape),
    (field::COO_INDICES, ttype::STRUCT, Item::CooIndices),
    (field::COO_VALUES, ttype::STRUCT, Item::CooValues),
];

impl<'a> Wire<'a> for SparseTensor<'a> {
    const TTYPE: u8 = ttype::STRUCT;
    const MIN: usize = 1;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        union(r, Item::SparseTensor, SPARSE_TENSOR, |r, _| {
            Ok(SparseTensor::Coo(Wire::read(r)?))
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        let SparseTensor::Coo(t) = self;
        out.field(ttype::STRUCT, field::COO_SPARSE_TENSOR);
        t.write(out);
        out.stop();
    }
}

impl<'a> Wire<'a> for CooSparseTensor<'a> {
    const TTYPE: u8 = ttype::STRUCT;
    const MIN: usize = 1;
    fn read(r: &mut Reader<'a>) -> Result<Self> {
        let at = r.pos();
        let (mut shape, mut indices, mut values) = (None, None, None);
        r.fields(COO, |r, id| {
            match id {
                field::COO_DENSE_SHAPE => shape = Some(Wire::read(r)?),
                field::COO_INDICES => {
                    indices = Some(TypedTensor::read_as(
                        r,
                        Item::Int64TensorLongs,
                        Item::Int64TensorShape,
                    )?)
                }
                _ => values = Some(Wire::read(r)?),
            }
            Ok(())
        })?;
        Ok(CooSparseTensor {
            dense_shape: r.required(shape, Item::CooDenseShape, at)?,
            indices: r.required(indices, Item::CooIndices, at)?,
            values: r.required(values, Item::CooValues, at)?,
        })
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.field(ttype::LIST, field::COO_DENSE_SHAPE);
        self.dense_shape.write(out);
        out.field(ttype::STRUCT, field::COO_INDICES);
        self.indices.write(out);
        out.field(ttype::STRUCT, field::COO_VALUES);
        self.values.write(out);
        out.stop();
    }
}
