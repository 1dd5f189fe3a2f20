//! The inverse of the scatter: a `BatchPredictionRequest` from dense rows,
//! for clients and tests.
//!
//! One writer ([`write`]) lays the request out, over a [`Sink`]: run
//! over a counter it checks the rows and gives the exact size (that is
//! [`FeatureLayout::write_request`]); run over the caller's buffer it
//! writes those bytes ([`RequestBytes::encode_into`]).

use smallvec::SmallVec;

use super::columns::{check_type, matched, ColumnRef, Rows};
use super::error::{FeatureError, Location, Output};
use super::{Columns, Default, FeatureLayout, OutputType};
use crate::encode::error::Input;
use crate::encode::input::TensorEncoding;
use crate::encode::layout::{string_arm, RowLayout};
use crate::wire::{field, ttype, PutHeader, MAX_SIZE};
use crate::DataType;

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
    /// Each value is read once while writing, so the bytes are always one
    /// well-formed request of the values as they were read, or an error.
    ///
    /// # Errors
    ///
    /// [`FeatureError::BufferTooSmall`] (nothing written) if `buf` is
    /// shorter than [`encoded_len`](Self::encoded_len).
    /// [`FeatureError::RowsChanged`] if the rows no longer make a request
    /// of that length, which only memory that others write to while it is
    /// lent here can cause (nothing past `encoded_len` bytes is written
    /// even then; a [`BinaryValue`](FeatureError::BinaryValue) or
    /// [`BinaryUnset`](FeatureError::BinaryUnset) can come back the same
    /// way). On any error, `buf` does not hold a request.
    pub fn encode_into(&self, buf: &mut [u8]) -> Result<usize, FeatureError> {
        let buf = crate::wire::prefix_mut(buf, self.len)?;
        let mut out = Slice {
            buf,
            pos: 0,
            overflow: None,
        };
        write(self.layout, &self.rows, self.common.as_ref(), &mut out)?;
        if out.overflow.is_some() || out.pos != self.len {
            return Err(FeatureError::RowsChanged);
        }
        Ok(self.len)
    }

    /// The request in a new `Vec` of exactly [`encoded_len`](Self::encoded_len) bytes.
    ///
    /// # Panics
    ///
    /// If [`encode_into`](Self::encode_into) fails, which safe Rust cannot
    /// make it do (the rows are borrowed immutably), or if the memory
    /// cannot be allocated.
    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len];
        self.encode_into(&mut v)
            .expect("the rows are borrowed, so they make the request that was sized");
        v
    }
}

/// Where the writer's bytes go: headers through [`PutHeader`], as every
/// writer of Thrift headers in the crate. Counts come before the items
/// they count, but the writer reads each value once: it writes a
/// placeholder count, the items, then [`patch_i32`](Sink::patch_i32)es the
/// count in, and [`rewind`](Sink::rewind)s a field that turned out to
/// have no item.
trait Sink: PutHeader {
    fn put(&mut self, bytes: &[u8]);
    /// The position of the next byte.
    fn mark(&self) -> usize;
    /// Forgets every byte from `mark` (a position from [`mark`](Sink::mark)) on.
    fn rewind(&mut self, mark: usize);
    /// Overwrites the 4 bytes at `at`, already put, with `v`.
    fn patch_i32(&mut self, at: usize, v: i32);

    /// A list, set or map header's count as a placeholder: its position,
    /// for [`close`].
    fn count_placeholder(&mut self) -> usize {
        let at = self.mark();
        self.i32(0);
        at
    }
}

impl PutHeader for Count {
    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) {
        self.put(bytes);
    }
}

impl PutHeader for Slice<'_> {
    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) {
        self.put(bytes);
    }
}

/// Counts bytes; `None` once the count overflows.
struct Count(Option<usize>);

impl Sink for Count {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.0 = self.0.and_then(|n| n.checked_add(bytes.len()));
    }
    #[inline]
    fn mark(&self) -> usize {
        self.0.unwrap_or(usize::MAX)
    }
    #[inline]
    fn rewind(&mut self, mark: usize) {
        // After an overflow the count stays `None`.
        if self.0.is_some() {
            self.0 = Some(mark);
        }
    }
    #[inline]
    fn patch_i32(&mut self, _: usize, _: i32) {}
}

/// Writes into a buffer of the counted size. Bytes that would go past its
/// end are not written: `overflow` is where the first such put began, until
/// a rewind takes it back (a field tried near the end and taken back
/// because it had no item is no overflow).
struct Slice<'b> {
    buf: &'b mut [u8],
    pos: usize,
    overflow: Option<usize>,
}

impl Sink for Slice<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => {
                self.overflow.get_or_insert(self.pos);
            }
        }
        self.pos = end;
    }
    #[inline]
    fn mark(&self) -> usize {
        self.pos
    }
    #[inline]
    fn rewind(&mut self, mark: usize) {
        self.pos = mark;
        if self.overflow.is_some_and(|at| mark <= at) {
            self.overflow = None;
        }
    }
    #[inline]
    fn patch_i32(&mut self, at: usize, v: i32) {
        // Out of the buffer only if the put of the placeholder overflowed.
        if let Some(dst) = self.buf.get_mut(at..at.saturating_add(4)) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
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
    /// The bytes around each tensor feature's values ([`row_templates`]).
    templates: SmallVec<[Option<RowLayout>; 4]>,
}

fn bind<'r, 'a: 'r>(layout: &FeatureLayout, rows: &Rows<'a>) -> Result<Bound<'r>, FeatureError> {
    let n = rows.rows;
    let kind = |cols: &Option<Columns>, col: Option<ColumnRef<'r>>, output| match (
        cols,
        matched(cols.is_some(), col, output)?,
    ) {
        (Some(c), Some(col)) => check(col, c.dtype, n, c.ids.len(), output).map(Some),
        _ => Ok(None),
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
        templates: row_templates(layout),
    })
}

fn check<'a>(
    col: ColumnRef<'a>,
    dtype: OutputType,
    rows: usize,
    n: usize,
    output: Output,
) -> Result<ColumnRef<'a>, FeatureError> {
    check_type(col.dtype(), dtype, output)?;
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
    out.field(ttype::LIST, field::INDIVIDUAL_FEATURES);
    out.list(ttype::STRUCT, rows.rows);
    for r in 0..rows.rows {
        record(layout, rows, r, common, Location::Record(r), out)?;
    }
    if let Some(c) = common {
        out.field(ttype::STRUCT, field::COMMON_FEATURES);
        record(layout, c, 0, None, Location::Common, out)?;
    }
    out.stop();
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
        // The ids where the row has 1 and the base does not; a row without
        // a feature the base has cannot be written.
        let start = out.mark();
        out.field(ttype::SET, field::BINARY);
        out.put_bytes(&[ttype::I64]);
        let count_at = out.count_placeholder();
        let mut n = 0;
        for (j, &id) in c.ids.iter().enumerate() {
            let v = col.val(r * c.ids.len() + j).f;
            let has = base.is_some_and(|b| b.val(j).f == 1.0);
            if v == 1.0 {
                if !has {
                    out.put(&id.to_be_bytes());
                    n += 1;
                }
            } else if v != 0.0 {
                return Err(FeatureError::BinaryValue { at, id, value: v });
            } else if has {
                return Err(FeatureError::BinaryUnset { row: r, id });
            }
        }
        close(out, start, count_at, n);
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
    out.stop();
    Ok(())
}

/// Ends a list, set or map field of `n` items that began at `start`,
/// whose count (a placeholder) is at `count_at`: the count patched in, or
/// the whole field taken back if it has no item. `n` is at most the
/// layout's ids (or tensors), which fit an `i32`.
fn close(out: &mut impl Sink, start: usize, count_at: usize, n: usize) {
    if n == 0 {
        out.rewind(start);
    } else {
        out.patch_i32(count_at, n as i32);
    }
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
    let start = out.mark();
    out.field(ttype::MAP, id);
    out.put_bytes(&[ttype::I64, vtype]);
    let count_at = out.count_placeholder();
    let mut count = 0;
    for (j, key) in c.ids.iter().enumerate() {
        let v = col.val(r * n + j);
        if v.bits != base.map_or(default, |b| b.val(j).bits) {
            out.put(&key.to_be_bytes());
            out.put(&value(v));
            count += 1;
        }
    }
    close(out, start, count_at, count);
}

/// The `tensors` map: each tensor feature whose row differs (bits) from
/// the base's row (or zeros), as a typed list of `[width]`: the bytes
/// around its values are the response side's row templates
/// ([`RowLayout`]) of the same key, type and shape, written once per call.
fn tensors(
    layout: &FeatureLayout,
    rows: &Bound<'_>,
    r: usize,
    base: Option<&Bound<'_>>,
    out: &mut impl Sink,
) -> Result<(), FeatureError> {
    if layout.tensors.is_empty() {
        return Ok(());
    }
    let start = out.mark();
    out.field(ttype::MAP, field::TENSORS);
    out.put_bytes(&[ttype::I64, ttype::STRUCT]);
    let count_at = out.count_placeholder();
    let mut count = 0;
    for (t, feature) in layout.tensors.iter().enumerate() {
        let Some(row) = &rows.templates[t] else {
            return Err(FeatureError::TooLarge {
                what: "elements of one tensor row",
                size: feature.width,
            });
        };
        let entry = out.mark();
        out.put(row.prefix.bytes());
        let col = rows.tensors[t];
        let mut differs = false;
        for k in 0..feature.width {
            let v = col.val(r * feature.width + k);
            differs |= v.bits != base.map_or(0, |b| b.tensors[t].val(k).bits);
            match feature.dtype {
                OutputType::F32 | OutputType::F64 => out.put(&v.f.to_bits().to_be_bytes()),
                OutputType::I64 | OutputType::U8 => out.put(&v.i.to_be_bytes()),
            }
        }
        if !differs {
            out.rewind(entry);
            continue;
        }
        out.put(row.suffix.bytes());
        count += 1;
    }
    close(out, start, count_at, count);
    Ok(())
}

/// The row layout of each tensor feature as the request writer writes it
/// (`None` for a width past the wire's limits, refused when a row of it is
/// written): a typed list (`floatTensor` from `f32`, `doubleTensor`,
/// `int64Tensor`) of shape `[width]`.
fn row_templates(layout: &FeatureLayout) -> SmallVec<[Option<RowLayout>; 4]> {
    layout
        .tensors
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let dtype = match t.dtype {
                OutputType::F32 => DataType::Float,
                OutputType::F64 => DataType::Double,
                OutputType::I64 | OutputType::U8 => DataType::Int64,
            };
            let input = Input::Tensor { index, key: t.id };
            let width = [t.width];
            let arm = string_arm(false);
            RowLayout::new(
                input,
                t.id,
                dtype,
                arm,
                false,
                &width,
                &width,
                TensorEncoding::Typed,
            )
            .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> FeatureLayout {
        FeatureLayout::builder()
            .continuous(&[1, 2, 3], OutputType::F64, 0.0)
            .binary(&[10, 11], OutputType::U8)
            .tensor(30, 2, OutputType::F32)
            .build()
            .unwrap()
    }

    /// The request of `written` into a buffer sized for `sized`: what a
    /// write pass sees when another thread changed the rows after sizing.
    fn write_changed(sized: &Rows<'_>, written: &Rows<'_>) -> (Result<usize, FeatureError>, Vec<u8>, usize) {
        let layout = layout();
        let len = layout.write_request(sized, None).unwrap().encoded_len();
        let mut changed = layout.write_request(written, None).unwrap();
        changed.len = len;
        let mut buf = vec![0xAA; len + 64];
        let result = changed.encode_into(&mut buf);
        (result, buf, len)
    }

    #[test]
    fn rows_that_grew_after_sizing_are_an_error_and_nothing_past_the_length_is_written() {
        let (c0, c1) = ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]);
        let (t0, t1) = ([0.0f32; 2], [1.0f32, 2.0]);
        let b = [0u8, 1];
        let sized = Rows::new(1)
            .continuous(&c0[..])
            .binary(&b[..])
            .tensor(30, &t0[..]);
        let written = Rows::new(1)
            .continuous(&c1[..])
            .binary(&b[..])
            .tensor(30, &t1[..]);
        let (result, buf, len) = write_changed(&sized, &written);
        assert_eq!(result, Err(FeatureError::RowsChanged));
        assert!(buf[len..].iter().all(|&x| x == 0xAA));
    }

    #[test]
    fn rows_that_shrank_after_sizing_are_an_error() {
        let (c0, c1) = ([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]);
        let t = [0.0f32; 2];
        let b = [1u8, 1];
        let sized = Rows::new(1).continuous(&c0[..]).binary(&b[..]).tensor(30, &t[..]);
        let written = Rows::new(1).continuous(&c1[..]).binary(&b[..]).tensor(30, &t[..]);
        assert_eq!(write_changed(&sized, &written).0, Err(FeatureError::RowsChanged));
    }

    #[test]
    fn a_field_tried_at_the_end_and_taken_back_is_no_overflow() {
        // The tensor entry is written in full before it is known to equal
        // the base, past the end of the exactly sized buffer, then taken back.
        let c = [1.0, 2.0, 3.0];
        let t = [0.0f32; 2];
        let b = [0u8, 0];
        let rows = Rows::new(1).continuous(&c[..]).binary(&b[..]).tensor(30, &t[..]);
        let request = layout().write_request(&rows, None).unwrap().encode_to_vec();
        assert_eq!(
            request.len(),
            layout().write_request(&rows, None).unwrap().encoded_len()
        );
    }
}
