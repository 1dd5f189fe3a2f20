//! The dense side: output arrays to scatter into ([`Outputs`], owned
//! [`Buffers`]) and rows to write requests from ([`Rows`]).

use smallvec::SmallVec;

use super::error::{FeatureError, LayoutError, Output};
use super::{FeatureLayout, OutputType};

/// A caller's output array, row-major, of one element type.
#[derive(Debug)]
pub enum Column<'b> {
    /// `f32` elements.
    F32(&'b mut [f32]),
    /// `f64` elements.
    F64(&'b mut [f64]),
    /// `i64` elements.
    I64(&'b mut [i64]),
    /// `u8` elements.
    U8(&'b mut [u8]),
}

/// Dense rows to read, row-major, of one element type.
#[derive(Clone, Copy, Debug)]
pub enum ColumnRef<'a> {
    /// `f32` elements.
    F32(&'a [f32]),
    /// `f64` elements.
    F64(&'a [f64]),
    /// `i64` elements.
    I64(&'a [i64]),
    /// `u8` elements.
    U8(&'a [u8]),
}

macro_rules! column_from {
    ($($t:ty => $arm:ident),*) => {$(
        impl<'b> From<&'b mut [$t]> for Column<'b> {
            fn from(s: &'b mut [$t]) -> Self {
                Column::$arm(s)
            }
        }
        impl<'b> From<&'b mut Vec<$t>> for Column<'b> {
            fn from(s: &'b mut Vec<$t>) -> Self {
                Column::$arm(s)
            }
        }
        impl<'a> From<&'a [$t]> for ColumnRef<'a> {
            fn from(s: &'a [$t]) -> Self {
                ColumnRef::$arm(s)
            }
        }
        impl<'a> From<&'a Vec<$t>> for ColumnRef<'a> {
            fn from(s: &'a Vec<$t>) -> Self {
                ColumnRef::$arm(s)
            }
        }
    )*};
}
column_from!(f32 => F32, f64 => F64, i64 => I64, u8 => U8);

impl Column<'_> {
    /// The elements from `start` on, reborrowed (`start` at most the
    /// length: the caller checked it).
    fn skip(&mut self, start: usize) -> Column<'_> {
        match self {
            Column::F32(s) => Column::F32(&mut s[start..]),
            Column::F64(s) => Column::F64(&mut s[start..]),
            Column::I64(s) => Column::I64(&mut s[start..]),
            Column::U8(s) => Column::U8(&mut s[start..]),
        }
    }

    /// Its element type.
    pub fn dtype(&self) -> OutputType {
        match self {
            Column::F32(_) => OutputType::F32,
            Column::F64(_) => OutputType::F64,
            Column::I64(_) => OutputType::I64,
            Column::U8(_) => OutputType::U8,
        }
    }

    /// Its number of elements.
    pub fn len(&self) -> usize {
        match self {
            Column::F32(s) => s.len(),
            Column::F64(s) => s.len(),
            Column::I64(s) => s.len(),
            Column::U8(s) => s.len(),
        }
    }

    /// True when it has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same elements, read-only.
    pub fn as_ref(&self) -> ColumnRef<'_> {
        match self {
            Column::F32(s) => ColumnRef::F32(s),
            Column::F64(s) => ColumnRef::F64(s),
            Column::I64(s) => ColumnRef::I64(s),
            Column::U8(s) => ColumnRef::U8(s),
        }
    }
}

impl ColumnRef<'_> {
    /// Its element type.
    pub fn dtype(&self) -> OutputType {
        match self {
            ColumnRef::F32(_) => OutputType::F32,
            ColumnRef::F64(_) => OutputType::F64,
            ColumnRef::I64(_) => OutputType::I64,
            ColumnRef::U8(_) => OutputType::U8,
        }
    }

    /// Its number of elements.
    pub fn len(&self) -> usize {
        match self {
            ColumnRef::F32(s) => s.len(),
            ColumnRef::F64(s) => s.len(),
            ColumnRef::I64(s) => s.len(),
            ColumnRef::U8(s) => s.len(),
        }
    }

    /// True when it has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Tensor outputs held inline: up to this many, building [`Outputs`] or
/// [`Rows`] allocates nothing.
const INLINE_TENSORS: usize = 4;

/// Where [`FeatureLayout::scatter`] writes: one caller-owned array per
/// output of the layout. Build it once and reuse it for every request:
/// each array needs room for the rows of the largest request
/// (`rows × n` elements); a smaller request fills the first `rows × n`.
///
/// Building one with more than four tensors allocates a small list once;
/// scattering never allocates.
#[derive(Debug, Default)]
pub struct Outputs<'b> {
    pub(crate) continuous: Option<Column<'b>>,
    pub(crate) binary: Option<Column<'b>>,
    pub(crate) discrete: Option<&'b mut [i64]>,
    pub(crate) tensors: SmallVec<[(i64, Column<'b>); INLINE_TENSORS]>,
}

impl<'b> Outputs<'b> {
    /// No output yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The continuous features' array (`f32` or `f64`, as the layout says).
    pub fn continuous(mut self, c: impl Into<Column<'b>>) -> Self {
        self.continuous = Some(c.into());
        self
    }

    /// The binary features' array.
    pub fn binary(mut self, c: impl Into<Column<'b>>) -> Self {
        self.binary = Some(c.into());
        self
    }

    /// The discrete features' array.
    pub fn discrete(mut self, c: &'b mut [i64]) -> Self {
        self.discrete = Some(c);
        self
    }

    /// The array of tensor feature `id`.
    pub fn tensor(mut self, id: i64, c: impl Into<Column<'b>>) -> Self {
        self.tensors.push((id, c.into()));
        self
    }

    /// The same arrays from row `row` on: each array without its first
    /// `row × n` elements (`n` the output's columns in `layout`), so that
    /// a scatter into them fills rows `row..` and touches nothing before.
    /// A batch of several requests scatters each at its own row of one
    /// set of arrays this way ([`FeatureLayout::scatter_at`]). Reborrows:
    /// no allocation for up to four tensors.
    ///
    /// # Errors
    ///
    /// [`FeatureError::ArrayTooSmall`] if an array of the layout holds
    /// fewer than `row × n` elements (nothing is written). An array the
    /// layout lacks, or one missing, is left for the scatter to refuse.
    ///
    /// ```
    /// use bprwire::features::{FeatureLayout, Outputs, OutputType};
    ///
    /// let layout = FeatureLayout::builder().continuous(&[1, 2], OutputType::F32, 0.0).build()?;
    /// let mut values = vec![9.0f32; 8]; // 4 rows × 2
    /// let mut outputs = Outputs::new().continuous(&mut values[..]);
    /// let tail = outputs.from_row(&layout, 3)?; // the last row
    /// # drop(tail);
    /// assert!(outputs.from_row(&layout, 5).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_row(&mut self, layout: &FeatureLayout, row: usize) -> Result<Outputs<'_>, FeatureError> {
        let columns = |c: &Option<super::Columns>| c.as_ref().map_or(0, |c| c.ids.len());
        let skip = |n: usize, len: usize, output: Output| {
            let start = row.saturating_mul(n);
            if start > len {
                return Err(FeatureError::ArrayTooSmall {
                    output,
                    needed: start,
                    capacity: len,
                });
            }
            Ok(start)
        };
        let continuous = match &mut self.continuous {
            Some(c) => Some(c.skip(skip(columns(&layout.continuous), c.len(), Output::Continuous)?)),
            None => None,
        };
        let binary = match &mut self.binary {
            Some(c) => Some(c.skip(skip(columns(&layout.binary), c.len(), Output::Binary)?)),
            None => None,
        };
        let discrete = match &mut self.discrete {
            Some(d) => {
                let start = skip(columns(&layout.discrete), d.len(), Output::Discrete)?;
                Some(&mut d[start..])
            }
            None => None,
        };
        let mut tensors = SmallVec::new();
        for (id, c) in self.tensors.iter_mut() {
            let width = layout.tensors.iter().find(|t| t.id == *id).map_or(0, |t| t.width);
            let start = skip(width, c.len(), Output::Tensor { id: *id })?;
            tensors.push((*id, c.skip(start)));
        }
        Ok(Outputs {
            continuous,
            binary,
            discrete,
            tensors,
        })
    }

    /// The same arrays, read-only, as [`Rows`] of `rows` rows (to write
    /// back what was scattered).
    pub fn as_rows(&self, rows: usize) -> Rows<'_> {
        Rows {
            rows,
            continuous: self.continuous.as_ref().map(Column::as_ref),
            binary: self.binary.as_ref().map(Column::as_ref),
            discrete: self.discrete.as_deref(),
            tensors: self.tensors.iter().map(|(id, c)| (*id, c.as_ref())).collect(),
        }
    }
}

/// Dense rows for [`FeatureLayout::write_request`]: one array per output
/// of the layout, each exactly `rows × n` elements, row-major.
#[derive(Clone, Debug, Default)]
pub struct Rows<'a> {
    pub(crate) rows: usize,
    pub(crate) continuous: Option<ColumnRef<'a>>,
    pub(crate) binary: Option<ColumnRef<'a>>,
    pub(crate) discrete: Option<&'a [i64]>,
    pub(crate) tensors: SmallVec<[(i64, ColumnRef<'a>); INLINE_TENSORS]>,
}

impl<'a> Rows<'a> {
    /// `rows` rows, no array yet.
    pub fn new(rows: usize) -> Self {
        Rows {
            rows,
            ..Rows::default()
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The continuous features' rows.
    pub fn continuous(mut self, c: impl Into<ColumnRef<'a>>) -> Self {
        self.continuous = Some(c.into());
        self
    }

    /// The binary features' rows (each value 0 or 1).
    pub fn binary(mut self, c: impl Into<ColumnRef<'a>>) -> Self {
        self.binary = Some(c.into());
        self
    }

    /// The discrete features' rows.
    pub fn discrete(mut self, c: &'a [i64]) -> Self {
        self.discrete = Some(c);
        self
    }

    /// The rows of tensor feature `id`.
    pub fn tensor(mut self, id: i64, c: impl Into<ColumnRef<'a>>) -> Self {
        self.tensors.push((id, c.into()));
        self
    }
}

/// An owned output array.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `u8` elements.
    U8(Vec<u8>),
}

impl Array {
    /// `len` zeros of `dtype`.
    ///
    /// # Panics
    ///
    /// If the allocation fails (the process aborts, as `vec!` does): size
    /// from input with [`try_zeros`](Self::try_zeros) instead.
    pub fn zeros(dtype: OutputType, len: usize) -> Array {
        match dtype {
            OutputType::F32 => Array::F32(vec![0.0; len]),
            OutputType::F64 => Array::F64(vec![0.0; len]),
            OutputType::I64 => Array::I64(vec![0; len]),
            OutputType::U8 => Array::U8(vec![0; len]),
        }
    }

    /// `len` zeros of `dtype`, or `None` if the memory cannot be had (the
    /// size overflows, or the allocator refuses it).
    ///
    /// ```
    /// use bprwire::features::{Array, OutputType};
    /// assert_eq!(Array::try_zeros(OutputType::F32, 3).unwrap().len(), 3);
    /// assert!(Array::try_zeros(OutputType::F64, 1 << 61).is_none());
    /// ```
    pub fn try_zeros(dtype: OutputType, len: usize) -> Option<Array> {
        fn zeros<T: Clone + core::default::Default>(len: usize) -> Option<Vec<T>> {
            let mut v = Vec::new();
            v.try_reserve_exact(len).ok()?;
            v.resize(len, T::default());
            Some(v)
        }
        Some(match dtype {
            OutputType::F32 => Array::F32(zeros(len)?),
            OutputType::F64 => Array::F64(zeros(len)?),
            OutputType::I64 => Array::I64(zeros(len)?),
            OutputType::U8 => Array::U8(zeros(len)?),
        })
    }

    /// Its element type.
    pub fn dtype(&self) -> OutputType {
        self.as_ref().dtype()
    }

    /// Its number of elements.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    /// True when it has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements if they are `f32`.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            Array::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The elements if they are `f64`.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match self {
            Array::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The elements if they are `i64`.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match self {
            Array::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The elements if they are `u8`.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match self {
            Array::U8(v) => Some(v),
            _ => None,
        }
    }

    /// The elements, read-only, whatever their type.
    pub fn as_ref(&self) -> ColumnRef<'_> {
        match self {
            Array::F32(v) => ColumnRef::F32(v),
            Array::F64(v) => ColumnRef::F64(v),
            Array::I64(v) => ColumnRef::I64(v),
            Array::U8(v) => ColumnRef::U8(v),
        }
    }

    /// The elements, writable, whatever their type.
    pub fn as_mut(&mut self) -> Column<'_> {
        match self {
            Array::F32(v) => Column::F32(v),
            Array::F64(v) => Column::F64(v),
            Array::I64(v) => Column::I64(v),
            Array::U8(v) => Column::U8(v),
        }
    }
}

/// Owned output arrays for a layout, with room for `capacity` rows: the
/// simplest [`Outputs`] to scatter into.
#[derive(Clone, Debug)]
pub struct Buffers {
    capacity: usize,
    continuous: Option<Array>,
    binary: Option<Array>,
    discrete: Option<Array>,
    tensors: Vec<(i64, Array)>,
}

impl Buffers {
    /// Zeroed arrays of the layout's types, each with room for `capacity`
    /// rows.
    ///
    /// `capacity` is also the row limit: a request of more records is
    /// refused by the scatter ([`FeatureError::ArrayTooSmall`](super::FeatureError::ArrayTooSmall)),
    /// never grown into. A server sets it to the largest batch it serves,
    /// once; sizing it from each request's record count lets a small
    /// request of empty records ask for `records × columns` elements.
    ///
    /// # Errors
    ///
    /// [`LayoutError::TooLarge`] if `capacity × n` elements of one array
    /// overflow `usize` or cannot be allocated (nothing is left allocated
    /// then, and the process does not abort).
    pub fn new(layout: &FeatureLayout, capacity: usize) -> Result<Buffers, LayoutError> {
        let array = |dtype, n: usize| {
            capacity
                .checked_mul(n)
                .filter(|len| len.checked_mul(OutputType::size(dtype)).is_some())
                .and_then(|len| Array::try_zeros(dtype, len))
                .ok_or(LayoutError::TooLarge {
                    rows: capacity,
                    columns: n,
                })
        };
        let kind = |c: &Option<super::Columns>| c.as_ref().map(|c| array(c.dtype, c.ids.len())).transpose();
        Ok(Buffers {
            capacity,
            continuous: kind(&layout.continuous)?,
            binary: kind(&layout.binary)?,
            discrete: kind(&layout.discrete)?,
            tensors: layout
                .tensors
                .iter()
                .map(|t| Ok((t.id, array(t.dtype, t.width)?)))
                .collect::<Result<_, LayoutError>>()?,
        })
    }

    /// Rows the arrays have room for.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// All the arrays, to scatter into.
    pub fn outputs(&mut self) -> Outputs<'_> {
        Outputs {
            continuous: self.continuous.as_mut().map(Array::as_mut),
            binary: self.binary.as_mut().map(Array::as_mut),
            discrete: match &mut self.discrete {
                Some(Array::I64(v)) => Some(v),
                _ => None,
            },
            tensors: self.tensors.iter_mut().map(|(id, a)| (*id, a.as_mut())).collect(),
        }
    }

    /// The continuous features' array (`capacity × n`; the first `rows ×
    /// n` elements are the last scatter's).
    pub fn continuous(&self) -> Option<&Array> {
        self.continuous.as_ref()
    }

    /// The binary features' array.
    pub fn binary(&self) -> Option<&Array> {
        self.binary.as_ref()
    }

    /// The discrete features' array (`i64`).
    pub fn discrete(&self) -> Option<&Array> {
        self.discrete.as_ref()
    }

    /// The array of tensor feature `id`.
    pub fn tensor(&self, id: i64) -> Option<&Array> {
        self.tensors.iter().find(|(i, _)| *i == id).map(|(_, a)| a)
    }

    /// Every tensor array, in layout order, with its id.
    pub fn tensors(&self) -> impl Iterator<Item = (i64, &Array)> {
        self.tensors.iter().map(|(id, a)| (*id, a))
    }
}

/// The array given for `output` against the layout (`in_layout`: the
/// layout has that output): the argument check the scatter's outputs and
/// the request writer's rows share.
#[inline(always)]
pub(crate) fn matched<T>(
    in_layout: bool,
    given: Option<T>,
    output: Output,
) -> Result<Option<T>, FeatureError> {
    match (in_layout, given) {
        (true, Some(col)) => Ok(Some(col)),
        (false, None) => Ok(None),
        (_, given) => Err(unmatched(given.is_some(), output)),
    }
}

/// The error of an array given for an output the layout lacks, or of
/// one missing for an output it has.
#[cold]
fn unmatched(given: bool, output: Output) -> FeatureError {
    if given {
        FeatureError::ExtraArray { output }
    } else {
        FeatureError::MissingArray { output }
    }
}

/// An array's element type against the layout's.
#[inline(always)]
pub(crate) fn check_type(
    found: OutputType,
    expected: OutputType,
    output: Output,
) -> Result<(), FeatureError> {
    if found == expected {
        Ok(())
    } else {
        Err(wrong_type(found, expected, output))
    }
}

#[cold]
fn wrong_type(found: OutputType, expected: OutputType, output: Output) -> FeatureError {
    FeatureError::ArrayType {
        output,
        expected,
        found,
    }
}
