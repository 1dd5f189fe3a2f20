//! The inverse of the scatter: a `BatchPredictionRequest` from dense rows,
//! for clients and tests.
//!
//! One writer ([`write`]) lays the request out, over a [`Sink`]: run
//! over a counter it checks the rows and gives the exact size (that is
//! [`FeatureLayout::write_request`]); run over the caller's buffer it
//! writes those bytes ([`RequestBytes::encode_into`]).

use smallvec::SmallVec;

use super::columns::{ColumnRef, Rows};
use super::error::{FeatureError, Location, Output};
use super::{Columns, Default, FeatureLayout, OutputType};
use crate::wire::{field, field_header, ttype, MAX_SIZE};

/// A request ready to be written: the rows checked against the layout and
/// the exact size known. Made by [`FeatureLayout::write_request`].
#[derive(Clone, Debug)]
pub struct RequestBytes<'r> {
    layout: &'r FeatureLayout,
    rows: Bound<'r>,
    common: Option<Bound<'r>>,
    len: usize,
}

impl FeatureLayout {
    /// Checks `rows` (and the optional `common` row, one row that becomes
    /// `commonFeatures`) against the layout and sizes the request they
    /// make. In each record a feature is left out when its value is the
    /// one the reader would get without it (the common row's value, else
    /// the default, else 0 / zeros for binary features and tensors; bits
    /// compared), so that scattering the request gives back `rows`
    /// exactly. Continuous values are written as doubles, tensors as
    /// `floatTensor` (from `f32`), `doubleTensor` or `int64Tensor`, with
    /// the shape `[width]`.
    ///
    /// A signalling NaN in `f32` rows comes back quiet (widening to a
    /// double quiets it, as every CPU does).
    ///
    /// # Errors
    ///
    /// [`FeatureError::MissingArray`], [`ExtraArray`](FeatureError::ExtraArray),
    /// [`ArrayType`](FeatureError::ArrayType) or
    /// [`ArrayLength`](FeatureError::ArrayLength) for arrays that do not
    /// match the layout (each must be exactly `rows × n`, the common row
    /// `n`); [`BinaryValue`](FeatureError::BinaryValue) for a binary value
    /// other than 0 or 1; [`BinaryUnset`](FeatureError::BinaryUnset) for a
    /// row without a binary feature the common row has;
    /// [`TooLarge`](FeatureError::TooLarge) for more than `i32::MAX`
    /// records or a request larger than memory.
    pub fn write_request<'r, 'a: 'r, 'c: 'r>(
        &'r self,
        rows: &Rows<'a>,
        common: Option<&Rows<'c>>,
    ) -> Result<RequestBytes<'r>, FeatureError> {
        if rows.rows > MAX_SIZE {
            return Err(FeatureError::TooLarge {
                what: "records",
                size: rows.rows,
            });
        }
        let rows = bind(self, rows)?;
        let common = match common {
            Some(c) if c.rows != 1 => return Err(FeatureError::CommonRows { found: c.rows }),
            Some(c) => Some(bind(self, c)?),
            None => None,
        };
        let mut count = Count(Some(0));
        write(self, &rows, common.as_ref(), &mut count)?;
        Ok(RequestBytes {
            layout: self,
            rows,
            common,
            len: count.0.ok_or(FeatureError::TooLarge {
                what: "bytes",
                size: usize::MAX,
            })?,
        })
    }
}

impl RequestBytes<'_> {
    /// The exact number of bytes of the request.
    pub fn encoded_len(&self) -> usize {
        self.len
    }

    /// Writes the request into the start of `buf`; returns its length.
    ///
    /// # Errors
    ///
    /// [`FeatureError::BufferTooSmall`] (nothing written) if `buf` is
    /// shorter than [`encoded_len`](Self::encoded_len).
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, FeatureError> {
        let Some(buf) = buf.get_mut(..self.len) else {
            return Err(FeatureError::BufferTooSmall {
                needed: self.len,
                available: buf.len(),
            });
        };
        let mut out = Slice { buf, pos: 0 };
        // The same rows passed the same checks when they were sized.
        write(self.layout, &self.rows, self.common.as_ref(), &mut out)?;
        assert_eq!(out.pos, self.len, "request writer: size and bytes disagree");
        Ok(self.len)
    }

    /// The request in a new `Vec` of exactly [`encoded_len`](Self::encoded_len) bytes.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len];
        self.encode_into(&mut v)
            .expect("the buffer has the encoded length");
        v
    }
}

/// Where the writer's bytes go.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

/// Counts bytes; `None` once the count overflows.
struct Count(Option<usize>);

impl Sink for Count {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.and_then(|n| n.checked_add(bytes.len()));
    }
}

/// Writes into a buffer of exactly the counted size.
struct Slice<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Sink for Slice<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..][..bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }
}

/// The rows' arrays in layout order, checked.
#[derive(Clone, Debug)]
struct Bound<'a> {
    rows: usize,
    continuous: Option<ColumnRef<'a>>,
    binary: Option<ColumnRef<'a>>,
    discrete: Option<ColumnRef<'a>>,
    tensors: SmallVec<[ColumnRef<'a>; 4]>,
}

fn bind<'r, 'a: 'r>(layout: &FeatureLayout, rows: &Rows<'a>) -> Result<Bound<'r>, FeatureError> {
    let n = rows.rows;
    let kind = |cols: &Option<Columns>, col: Option<ColumnRef<'r>>, output| match (cols, col) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(FeatureError::ExtraArray { output }),
        (Some(_), None) => Err(FeatureError::MissingArray { output }),
        (Some(c), Some(col)) => check(col, c.dtype, n, c.ids.len(), output).map(Some),
    };
    let mut tensors = SmallVec::new();
    for t in layout.tensors.iter() {
        let output = Output::Tensor { id: t.id };
        let Some((_, col)) = rows.tensors.iter().find(|(id, _)| *id == t.id) else {
            return Err(FeatureError::MissingArray { output });
        };
        tensors.push(check(*col, t.dtype, n, t.width, output)?);
    }
    if let Some((id, _)) = rows
        .tensors
        .iter()
        .find(|(id, _)| layout.tensor_table.get(*id) >= layout.tensors.len())
    {
        return Err(FeatureError::ExtraArray {
            output: Output::Tensor { id: *id },
        });
    }
    Ok(Bound {
        rows: n,
        continuous: kind(&layout.continuous, rows.continuous, Output::Continuous)?,
        binary: kind(&layout.binary, rows.binary, Output::Binary)?,
        discrete: kind(
            &layout.discrete,
            rows.discrete.map(ColumnRef::I64),
            Output::Discrete,
        )?,
        tensors,
    })
}

fn check<'a>(
    col: ColumnRef<'a>,
    dtype: OutputType,
    rows: usize,
    n: usize,
    output: Output,
) -> Result<ColumnRef<'a>, FeatureError> {
    if col.dtype() != dtype {
        return Err(FeatureError::ArrayType {
            output,
            expected: dtype,
            found: col.dtype(),
        });
    }
    let expected = rows.saturating_mul(n);
    if col.len() != expected {
        return Err(FeatureError::ArrayLength {
            output,
            expected,
            found: col.len(),
        });
    }
    Ok(col)
}

/// One element, every way the writer looks at it.
#[derive(Clone, Copy)]
struct Val {
    /// Its bits (for "is it the base value?").
    bits: u64,
    f: f64,
    i: i64,
}

impl ColumnRef<'_> {
    #[inline]
    fn val(&self, i: usize) -> Val {
        match self {
            ColumnRef::F32(s) => Val {
                bits: s[i].to_bits().into(),
                f: s[i].into(),
                i: s[i] as i64,
            },
            ColumnRef::F64(s) => Val {
                bits: s[i].to_bits(),
                f: s[i],
                i: s[i] as i64,
            },
            ColumnRef::I64(s) => Val {
                bits: s[i] as u64,
                f: s[i] as f64,
                i: s[i],
            },
            ColumnRef::U8(s) => Val {
                bits: s[i].into(),
                f: s[i].into(),
                i: s[i].into(),
            },
        }
    }
}

/// The bits of an absent feature's value in an array of `dtype`.
fn default_bits(dtype: OutputType, d: Default) -> u64 {
    let (f, i) = match d {
        Default::Float(f) => (f, f as i64),
        Default::Int(i) => (i as f64, i),
    };
    match dtype {
        OutputType::F32 => (f as f32).to_bits().into(),
        OutputType::F64 => f.to_bits(),
        OutputType::I64 => i as u64,
        OutputType::U8 => (i as u8).into(),
    }
}

/// The whole request: the records, then the common row if any.
fn write(
    layout: &FeatureLayout,
    rows: &Bound<'_>,
    common: Option<&Bound<'_>>,
    out: &mut impl Sink,
) -> Result<(), FeatureError> {
    out.put(&field_header(ttype::LIST, field::INDIVIDUAL_FEATURES));
    out.put(&[ttype::STRUCT]);
    out.put(&(rows.rows as i32).to_be_bytes());
    for r in 0..rows.rows {
        record(layout, rows, r, common, Location::Record(r), out)?;
    }
    if let Some(c) = common {
        out.put(&field_header(ttype::STRUCT, field::COMMON_FEATURES));
        record(layout, c, 0, None, Location::Common, out)?;
    }
    out.put(&[ttype::STOP]);
    Ok(())
}

/// Row `r` of `rows` as one `DataRecord`, against `base` (the common row).
fn record(
    layout: &FeatureLayout,
    rows: &Bound<'_>,
    r: usize,
    base: Option<&Bound<'_>>,
    at: Location,
    out: &mut impl Sink,
) -> Result<(), FeatureError> {
    if let (Some(c), Some(col)) = (&layout.binary, rows.binary) {
        let base = base.and_then(|b| b.binary);
        // 1 where the row has it and the base does not; a row without a
        // feature the base has cannot be written.
        let mut n = 0;
        for j in 0..c.ids.len() {
            let v = col.val(r * c.ids.len() + j);
            let has = base.is_some_and(|b| b.val(j).f == 1.0);
            if v.f == 1.0 {
                n += usize::from(!has);
            } else if v.f != 0.0 {
                return Err(FeatureError::BinaryValue {
                    at,
                    id: c.ids[j],
                    value: v.f,
                });
            } else if has {
                return Err(FeatureError::BinaryUnset { row: r, id: c.ids[j] });
            }
        }
        if n > 0 {
            out.put(&field_header(ttype::SET, field::BINARY));
            out.put(&[ttype::I64]);
            out.put(&(n as i32).to_be_bytes());
            for j in 0..c.ids.len() {
                let has = base.is_some_and(|b| b.val(j).f == 1.0);
                if col.val(r * c.ids.len() + j).f == 1.0 && !has {
                    out.put(&c.ids[j].to_be_bytes());
                }
            }
        }
    }
    if let (Some(c), Some(col)) = (&layout.continuous, rows.continuous) {
        map(
            c,
            col,
            r,
            base.and_then(|b| b.continuous),
            field::CONTINUOUS,
            ttype::DOUBLE,
            out,
            |v| v.f.to_bits().to_be_bytes(),
        );
    }
    if let (Some(c), Some(col)) = (&layout.discrete, rows.discrete) {
        map(
            c,
            col,
            r,
            base.and_then(|b| b.discrete),
            field::DISCRETE,
            ttype::I64,
            out,
            |v| v.i.to_be_bytes(),
        );
    }
    tensors(layout, rows, r, base, out)?;
    out.put(&[ttype::STOP]);
    Ok(())
}

/// A `map<i64, V>` field of the entries whose bits differ from the base's
/// (the base row's value, else the default).
#[allow(clippy::too_many_arguments)]
fn map(
    c: &Columns,
    col: ColumnRef<'_>,
    r: usize,
    base: Option<ColumnRef<'_>>,
    id: i16,
    vtype: u8,
    out: &mut impl Sink,
    value: impl Fn(Val) -> [u8; 8],
) {
    let n = c.ids.len();
    let default = default_bits(c.dtype, c.default);
    let differs = |j: usize| col.val(r * n + j).bits != base.map_or(default, |b| b.val(j).bits);
    let count = (0..n).filter(|&j| differs(j)).count();
    if count == 0 {
        return;
    }
    out.put(&field_header(ttype::MAP, id));
    out.put(&[ttype::I64, vtype]);
    out.put(&(count as i32).to_be_bytes());
    for j in (0..n).filter(|&j| differs(j)) {
        out.put(&c.ids[j].to_be_bytes());
        out.put(&value(col.val(r * n + j)));
    }
}

/// The `tensors` map: each tensor feature whose row differs (bits) from
/// the base's row (or zeros).
fn tensors(
    layout: &FeatureLayout,
    rows: &Bound<'_>,
    r: usize,
    base: Option<&Bound<'_>>,
    out: &mut impl Sink,
) -> Result<(), FeatureError> {
    let differs = |t: usize| {
        let w = layout.tensors[t].width;
        let col = rows.tensors[t];
        (0..w).any(|k| col.val(r * w + k).bits != base.map_or(0, |b| b.tensors[t].val(k).bits))
    };
    let count = (0..layout.tensors.len()).filter(|&t| differs(t)).count();
    if count == 0 {
        return Ok(());
    }
    out.put(&field_header(ttype::MAP, field::TENSORS));
    out.put(&[ttype::I64, ttype::STRUCT]);
    out.put(&(count as i32).to_be_bytes());
    for t in (0..layout.tensors.len()).filter(|&t| differs(t)) {
        let feature = &layout.tensors[t];
        if feature.width > MAX_SIZE {
            return Err(FeatureError::TooLarge {
                what: "elements of one tensor row",
                size: feature.width,
            });
        }
        let (arm, etype) = match feature.dtype {
            OutputType::F32 => (field::FLOAT_TENSOR, ttype::DOUBLE),
            OutputType::F64 => (field::DOUBLE_TENSOR, ttype::DOUBLE),
            _ => (field::INT64_TENSOR, ttype::I64),
        };
        out.put(&feature.id.to_be_bytes());
        out.put(&field_header(ttype::STRUCT, arm));
        out.put(&field_header(ttype::LIST, field::TYPED_VALUES));
        out.put(&[etype]);
        out.put(&(feature.width as i32).to_be_bytes());
        let col = rows.tensors[t];
        for k in 0..feature.width {
            let v = col.val(r * feature.width + k);
            if etype == ttype::DOUBLE {
                out.put(&v.f.to_bits().to_be_bytes());
            } else {
                out.put(&v.i.to_be_bytes());
            }
        }
        // shape: [width]
        out.put(&field_header(ttype::LIST, field::TYPED_SHAPE));
        out.put(&[ttype::I64]);
        out.put(&1i32.to_be_bytes());
        out.put(&(feature.width as i64).to_be_bytes());
        out.put(&[ttype::STOP, ttype::STOP]);
    }
    Ok(())
}
