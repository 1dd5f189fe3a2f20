//! The request side of a serving loop: a [`FeatureLayout`], built once per
//! model, that scatters the features of a `BatchPredictionRequest` into
//! the model's dense, row-major inputs, and writes requests back from
//! dense rows (for clients and tests).
//!
//! ```
//! use bprwire::decode::decode_request;
//! use bprwire::features::{Buffers, FeatureLayout, OutputType, Rows};
//!
//! // Built once per model: which feature ids go to which column.
//! let layout = FeatureLayout::builder()
//!     .continuous(&[101, 102, 103], OutputType::F32, f64::NAN)
//!     .binary(&[201, 202], OutputType::F32)
//!     .tensor(301, 2, OutputType::F32)
//!     .build()?;
//!
//! // A client writes a request of two rows from the same layout...
//! let continuous = [0.5f32, f32::NAN, 2.0, /* row 1 */ 1.0, 1.0, f32::NAN];
//! let binary = [1.0f32, 0.0, /* row 1 */ 0.0, 0.0];
//! let embedding = [0.0f32, 0.0, /* row 1 */ 0.25, -1.0];
//! let rows = Rows::new(2)
//!     .continuous(&continuous[..])
//!     .binary(&binary[..])
//!     .tensor(301, &embedding[..]);
//! let request = layout.write_request(&rows, None)?.encode_to_vec();
//!
//! // ...and the server scatters it into buffers it reuses across requests.
//! let mut buffers = Buffers::new(&layout, 64)?;
//! let mut outputs = buffers.outputs();
//! let done = layout.scatter(&decode_request(&request)?, &mut outputs)?;
//! assert_eq!(done.rows, 2);
//! drop(outputs);
//! let got = buffers.continuous().unwrap().as_f32().unwrap();
//! assert_eq!(got[0], 0.5);
//! assert!(got[1].is_nan()); // absent: the default
//! assert_eq!(got[2..5], [2.0, 1.0, 1.0]);
//! assert!(got[5].is_nan());
//! assert_eq!(buffers.binary().unwrap().as_f32().unwrap()[..4], binary);
//! assert_eq!(buffers.tensor(301).unwrap().as_f32().unwrap()[..4], embedding);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//!
//! - **Outputs** are row-major `[rows, n]` arrays, one per kind of feature:
//!   `continuous` (`DataRecord` field 2, `f32` or `f64`, absent features
//!   get the layout's default, NaN unless told), `binary` (field 1, 1 for
//!   present and 0 for absent, as `f32`, `i64` or `u8`), `discrete`
//!   (field 3, `i64`, absent features get the default) and one
//!   `[rows, width]` array per tensor feature (field 8: `f32`, `f64` or
//!   `i64`, from any numeric `GeneralTensor` arm, converted; an absent
//!   tensor is zeros). Column `j` of a kind is the `j`-th id given for it.
//! - **`commonFeatures`** apply to every row; a record's own value wins.
//!   (A binary feature cannot be unset by a record: present is present.)
//! - Within one map, a **repeated key** keeps the last value, as the
//!   generated Thrift readers do.
//! - **NaN** values are kept (libtwml's `DataRecordReader` drops NaN
//!   continuous values, so its column gets the default instead).
//! - **Ids the layout does not name** are skipped and counted
//!   ([`Scattered::skipped`]). The other `DataRecord` fields (strings,
//!   sparse features, blobs, sparse tensors) are not read.
//! - A tensor whose element count is not its width, or whose arm is not
//!   numeric (`stringTensor`, `binaryTensor`, a raw `STRING` or `BYTE`
//!   tensor), is an error naming the record and the feature id; its
//!   `shape` is not consulted. Floating values become `i64` as Rust's `as`
//!   casts do (toward zero, saturating, NaN to 0).
//! - A request with no record writes nothing; its `commonFeatures` are
//!   not read.
//! - On an error the outputs hold whatever was written before it: use
//!   them only after `Ok`.
//!
//! A layout refuses, when it is built, an id given twice for one kind.

mod columns;
mod error;
pub(crate) mod feature_id;
#[cfg(feature = "json")]
pub mod json;
mod output_type;
mod scatter;
mod table;
mod write;

pub use columns::{Array, Buffers, Column, ColumnRef, Outputs, Rows};
pub use error::{FeatureError, FeatureKind, LayoutError, Location, Output};
#[cfg(feature = "json")]
pub use json::JsonLayoutError;
pub use output_type::OutputType;
pub use scatter::{Scattered, Skipped};
pub use write::RequestBytes;

use table::IdTable;

/// One kind of feature laid out as columns: its ids (column `j` is
/// `ids[j]`), the table that finds them, the output type and the value of
/// an absent feature (as `f64` and as `i64`, whichever the type needs).
#[derive(Clone, Debug)]
pub(crate) struct Columns {
    pub(crate) ids: Box<[i64]>,
    pub(crate) table: IdTable,
    pub(crate) dtype: OutputType,
    pub(crate) default: Default,
}

/// The value of an absent feature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Default {
    Float(f64),
    Int(i64),
}

/// One tensor feature: `[rows, width]` of `dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorFeature {
    /// The feature id (its key in `DataRecord.tensors`).
    pub id: i64,
    /// Elements per row.
    pub width: usize,
    /// The output type: `F32`, `F64` or `I64`.
    pub dtype: OutputType,
}

/// Which feature ids go to which column of which output, built once per
/// model ([`FeatureLayout::builder`]) and used for every request:
/// [`scatter`](FeatureLayout::scatter) reads requests into dense outputs,
/// [`write_request`](FeatureLayout::write_request) writes them from dense
/// rows. See the [module docs](self) for the semantics.
#[derive(Clone, Debug)]
pub struct FeatureLayout {
    pub(crate) continuous: Option<Columns>,
    pub(crate) binary: Option<Columns>,
    pub(crate) discrete: Option<Columns>,
    pub(crate) tensors: Box<[TensorFeature]>,
    pub(crate) tensor_table: IdTable,
}

impl FeatureLayout {
    /// Starts a layout with no feature.
    pub fn builder() -> LayoutBuilder {
        LayoutBuilder::default()
    }

    /// The continuous feature ids, in column order (empty if none).
    pub fn continuous_ids(&self) -> &[i64] {
        self.continuous.as_ref().map_or(&[], |c| &c.ids)
    }

    /// The binary feature ids, in column order (empty if none).
    pub fn binary_ids(&self) -> &[i64] {
        self.binary.as_ref().map_or(&[], |c| &c.ids)
    }

    /// The discrete feature ids, in column order (empty if none).
    pub fn discrete_ids(&self) -> &[i64] {
        self.discrete.as_ref().map_or(&[], |c| &c.ids)
    }

    /// The tensor features, in the order they were added.
    pub fn tensors(&self) -> &[TensorFeature] {
        &self.tensors
    }

    /// The output type of a kind (`None` if the layout does not have it;
    /// for tensors, see [`tensors`](Self::tensors)).
    pub fn output_type(&self, kind: FeatureKind) -> Option<OutputType> {
        self.columns(kind).map(|c| c.dtype)
    }

    /// The default of the continuous features (NaN unless set).
    pub fn continuous_default(&self) -> Option<f64> {
        match self.continuous.as_ref()?.default {
            Default::Float(v) => Some(v),
            Default::Int(_) => None,
        }
    }

    /// The default of the discrete features (0 unless set).
    pub fn discrete_default(&self) -> Option<i64> {
        match self.discrete.as_ref()?.default {
            Default::Int(v) => Some(v),
            Default::Float(_) => None,
        }
    }

    pub(crate) fn columns(&self, kind: FeatureKind) -> Option<&Columns> {
        match kind {
            FeatureKind::Continuous => self.continuous.as_ref(),
            FeatureKind::Binary => self.binary.as_ref(),
            FeatureKind::Discrete => self.discrete.as_ref(),
            FeatureKind::Tensor => None,
        }
    }
}

/// Builds a [`FeatureLayout`]; every kind is optional.
#[derive(Clone, Debug, Default)]
pub struct LayoutBuilder {
    continuous: Option<(Vec<i64>, OutputType, f64)>,
    binary: Option<(Vec<i64>, OutputType)>,
    discrete: Option<(Vec<i64>, i64)>,
    tensors: Vec<TensorFeature>,
}

impl LayoutBuilder {
    /// Continuous features (`DataRecord` field 2) into `[rows, ids.len()]`
    /// of `dtype` (`F32` or `F64`), `default` where a feature is absent
    /// (Navi uses NaN).
    pub fn continuous(mut self, ids: &[i64], dtype: OutputType, default: f64) -> Self {
        self.continuous = Some((ids.to_vec(), dtype, default));
        self
    }

    /// Binary features (field 1) into `[rows, ids.len()]` of `dtype`
    /// (`F32`, `I64` or `U8`): 1 where present, 0 where absent.
    pub fn binary(mut self, ids: &[i64], dtype: OutputType) -> Self {
        self.binary = Some((ids.to_vec(), dtype));
        self
    }

    /// Discrete features (field 3) into `i64 [rows, ids.len()]`, `default`
    /// where a feature is absent.
    pub fn discrete(mut self, ids: &[i64], default: i64) -> Self {
        self.discrete = Some((ids.to_vec(), default));
        self
    }

    /// One tensor feature (field 8, key `id`) into `[rows, width]` of
    /// `dtype` (`F32`, `F64` or `I64`).
    pub fn tensor(mut self, id: i64, width: usize, dtype: OutputType) -> Self {
        self.tensors.push(TensorFeature { id, width, dtype });
        self
    }

    /// The layout.
    ///
    /// # Errors
    ///
    /// [`LayoutError::RepeatedId`] for an id given twice for one kind (or
    /// two tensors with one id), [`LayoutError::OutputType`] for a type the
    /// kind cannot have, [`LayoutError::TooManyColumns`] for more than
    /// `i32::MAX` ids of one kind (a Thrift map cannot hold them).
    pub fn build(self) -> Result<FeatureLayout, LayoutError> {
        use FeatureKind as K;
        use OutputType as T;
        let continuous = self
            .continuous
            .map(|(ids, t, d)| columns(K::Continuous, ids, t, &[T::F32, T::F64], Default::Float(d)))
            .transpose()?;
        let binary = self
            .binary
            .map(|(ids, t)| columns(K::Binary, ids, t, &[T::F32, T::I64, T::U8], Default::Int(0)))
            .transpose()?;
        let discrete = self
            .discrete
            .map(|(ids, d)| columns(K::Discrete, ids, T::I64, &[T::I64], Default::Int(d)))
            .transpose()?;
        for t in &self.tensors {
            allowed(K::Tensor, t.dtype, &[T::F32, T::F64, T::I64])?;
        }
        let ids: Vec<i64> = self.tensors.iter().map(|t| t.id).collect();
        let tensor_table = table(K::Tensor, &ids)?;
        Ok(FeatureLayout {
            continuous,
            binary,
            discrete,
            tensors: self.tensors.into_boxed_slice(),
            tensor_table,
        })
    }
}

fn allowed(kind: FeatureKind, dtype: OutputType, types: &'static [OutputType]) -> Result<(), LayoutError> {
    if types.contains(&dtype) {
        Ok(())
    } else {
        Err(LayoutError::OutputType {
            kind,
            dtype,
            allowed: types,
        })
    }
}

fn table(kind: FeatureKind, ids: &[i64]) -> Result<IdTable, LayoutError> {
    if ids.len() > crate::wire::MAX_SIZE {
        return Err(LayoutError::TooManyColumns {
            kind,
            count: ids.len(),
        });
    }
    IdTable::new(ids).map_err(|(id, first, second)| LayoutError::RepeatedId {
        kind,
        id,
        first,
        second,
    })
}

fn columns(
    kind: FeatureKind,
    ids: Vec<i64>,
    dtype: OutputType,
    types: &'static [OutputType],
    default: Default,
) -> Result<Columns, LayoutError> {
    allowed(kind, dtype, types)?;
    let table = table(kind, &ids)?;
    Ok(Columns {
        ids: ids.into_boxed_slice(),
        table,
        dtype,
        default,
    })
}
