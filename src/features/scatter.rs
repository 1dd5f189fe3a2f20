//! Scatter: a decoded request into the layout's dense outputs.
//!
//! Three steps, kept apart: [`bind`] checks the caller's arrays against the
//! layout and the request's row count (nothing written yet); the base row
//! of each output (defaults, then `commonFeatures`) is built in its last
//! row; then each record copies the base into its row and writes its own
//! features over it (the last record writes over the base itself), so a
//! row is finished while it is still in cache and no scratch row is
//! needed.

use bytemuck::cast_slice_mut;

use super::columns::{check_type, matched, Column, Outputs};
use super::error::{FeatureError, Location, Output};
use super::table::IdTable;
use super::{Columns, Default, FeatureLayout, TensorFeature};
use crate::decode::{decode_request, GeneralTensor, Record, Request};
use crate::kernels::{Kernels, Level};
use crate::DataType;

/// What one [`FeatureLayout::scatter`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scattered {
    /// Rows written (the request's records): the first `rows × n`
    /// elements of every output array.
    pub rows: usize,
    /// Features whose id the layout does not name, by kind.
    pub skipped: Skipped,
}

/// Features skipped because the layout does not name their id, counted
/// over the records and `commonFeatures` (each occurrence once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Continuous features (field 2).
    pub continuous: usize,
    /// Binary features (field 1).
    pub binary: usize,
    /// Discrete features (field 3).
    pub discrete: usize,
    /// Tensor features (field 8).
    pub tensors: usize,
}

impl Skipped {
    /// All kinds together.
    pub fn total(&self) -> usize {
        self.continuous + self.binary + self.discrete + self.tensors
    }
}

impl FeatureLayout {
    /// Scatters `request` into `outputs`, with the best kernels of this CPU.
    ///
    /// Allocates nothing. The first `rows × n` elements of each array are
    /// written, `rows` being the request's records; see the
    /// [module docs](super) for what goes where.
    ///
    /// # Errors
    ///
    /// Before anything is written: a missing, extra, mistyped or too small
    /// array ([`FeatureError::MissingArray`], [`ExtraArray`],
    /// [`ArrayType`], [`ArrayTooSmall`]). While writing: a tensor feature
    /// of the wrong width or type ([`TensorWidth`], [`TensorType`],
    /// [`RawContent`]); the arrays then hold a partial result.
    ///
    /// [`ExtraArray`]: FeatureError::ExtraArray
    /// [`ArrayType`]: FeatureError::ArrayType
    /// [`ArrayTooSmall`]: FeatureError::ArrayTooSmall
    /// [`TensorWidth`]: FeatureError::TensorWidth
    /// [`TensorType`]: FeatureError::TensorType
    /// [`RawContent`]: FeatureError::RawContent
    pub fn scatter(
        &self,
        request: &Request<'_>,
        outputs: &mut Outputs<'_>,
    ) -> Result<Scattered, FeatureError> {
        // The best kernels: `Kernels::select(None)`, without its error path
        // (R2 spent 59 instructions, 1.8%, on it).
        self.scatter_kernels(request, outputs, Kernels::best())
    }

    /// [`scatter`](Self::scatter) with the kernels of a chosen level (for
    /// tests and benchmarks; the result is the same at every level).
    ///
    /// # Errors
    ///
    /// [`FeatureError::LevelUnavailable`] if this CPU (or
    /// `BPRWIRE_MAX_LEVEL`) rules `level` out, then as
    /// [`scatter`](Self::scatter).
    pub fn scatter_with(
        &self,
        request: &Request<'_>,
        outputs: &mut Outputs<'_>,
        level: Level,
    ) -> Result<Scattered, FeatureError> {
        self.scatter_kernels(request, outputs, Kernels::select(Some(level))?)
    }

    fn scatter_kernels(
        &self,
        request: &Request<'_>,
        outputs: &mut Outputs<'_>,
        kernels: &Kernels,
    ) -> Result<Scattered, FeatureError> {
        let rows = request.len();
        let mut dst = bind(self, outputs, rows)?;
        let mut skipped = Skipped::default();
        if rows == 0 {
            return Ok(Scattered { rows, skipped });
        }
        let common = request.common_features().unwrap_or_default();
        dst.base(self, &common, kernels, &mut skipped)?;
        for (r, record) in request.records().enumerate() {
            dst.record(self, r, &record, kernels, &mut skipped)?;
        }
        Ok(Scattered { rows, skipped })
    }

    /// [`scatter`](Self::scatter) into rows `row..` of `outputs`: the
    /// request's records go to rows `row .. row + records`, and nothing
    /// before row `row` (nor after the request's rows) is touched. A
    /// server's batcher scatters each request of a batch at its own row of
    /// one set of model inputs this way ([`Outputs::from_row`]).
    ///
    /// # Errors
    ///
    /// [`FeatureError::ArrayTooSmall`] if an array has no room for rows
    /// `row .. row + records` (nothing written), then as
    /// [`scatter`](Self::scatter).
    pub fn scatter_at(
        &self,
        request: &Request<'_>,
        outputs: &mut Outputs<'_>,
        row: usize,
    ) -> Result<Scattered, FeatureError> {
        self.scatter(request, &mut outputs.from_row(self, row)?)
    }

    /// Decodes `bytes` as a `BatchPredictionRequest`
    /// ([`decode_request`]) and scatters it.
    ///
    /// # Errors
    ///
    /// [`FeatureError::Decode`] if the bytes are not a valid request (the
    /// outputs untouched), then as [`scatter`](Self::scatter).
    pub fn scatter_bytes(&self, bytes: &[u8], outputs: &mut Outputs<'_>) -> Result<Scattered, FeatureError> {
        self.scatter(&decode_request(bytes)?, outputs)
    }
}

/// The caller's arrays, checked and cut to `rows × n` elements.
struct Bound<'o, 'b> {
    rows: usize,
    continuous: Option<Dst<'o>>,
    binary: Option<Dst<'o>>,
    discrete: Option<&'o mut [i64]>,
    tensors: &'o mut [(i64, Column<'b>)],
}

/// One checked output array, cut to `rows × n`.
enum Dst<'o> {
    F32(&'o mut [f32]),
    F64(&'o mut [f64]),
    I64(&'o mut [i64]),
    U8(&'o mut [u8]),
}

fn bind<'o, 'b>(
    layout: &FeatureLayout,
    out: &'o mut Outputs<'b>,
    rows: usize,
) -> Result<Bound<'o, 'b>, FeatureError> {
    let continuous = bind_columns(
        &layout.continuous,
        out.continuous.as_mut(),
        rows,
        Output::Continuous,
    )?;
    let binary = bind_columns(&layout.binary, out.binary.as_mut(), rows, Output::Binary)?;
    let given = matched(
        layout.discrete.is_some(),
        out.discrete.as_deref_mut(),
        Output::Discrete,
    )?;
    let discrete = match (&layout.discrete, given) {
        (Some(c), Some(d)) => {
            let needed = rows.saturating_mul(c.ids.len());
            if d.len() < needed {
                return Err(FeatureError::ArrayTooSmall {
                    output: Output::Discrete,
                    needed,
                    capacity: d.len(),
                });
            }
            Some(&mut d[..needed])
        }
        _ => None,
    };
    // Put the tensor arrays in layout order (swaps in place: no allocation).
    let tensors = &mut out.tensors[..];
    for (i, t) in layout.tensors.iter().enumerate() {
        let output = Output::Tensor { id: t.id };
        match tensors[i..].iter().position(|(id, _)| *id == t.id) {
            Some(j) => tensors.swap(i, i + j),
            None => return Err(FeatureError::MissingArray { output }),
        }
        check(&tensors[i].1, t.dtype, rows, t.width, output)?;
    }
    if let Some((id, _)) = tensors.get(layout.tensors.len()) {
        return Err(FeatureError::ExtraArray {
            output: Output::Tensor { id: *id },
        });
    }
    Ok(Bound {
        rows,
        continuous,
        binary,
        discrete,
        tensors,
    })
}

/// The continuous or the binary output: given exactly when the layout has
/// it, of its type and with room for `rows` rows, cut to them. A function
/// inlined into `bind`, not a closure there: the closure was left out of
/// line, a call per output (R2 +1.8% in iai against 36cc5df).
#[inline(always)]
fn bind_columns<'o>(
    cols: &Option<Columns>,
    col: Option<&'o mut Column<'_>>,
    rows: usize,
    output: Output,
) -> Result<Option<Dst<'o>>, FeatureError> {
    match (cols, matched(cols.is_some(), col, output)?) {
        (Some(c), Some(col)) => {
            check(col, c.dtype, rows, c.ids.len(), output)?;
            Ok(Some(cut(col, rows * c.ids.len())))
        }
        _ => Ok(None),
    }
}

fn check(
    col: &Column<'_>,
    dtype: super::OutputType,
    rows: usize,
    n: usize,
    output: Output,
) -> Result<(), FeatureError> {
    check_type(col.dtype(), dtype, output)?;
    let needed = rows.saturating_mul(n);
    if col.len() < needed {
        return Err(FeatureError::ArrayTooSmall {
            output,
            needed,
            capacity: col.len(),
        });
    }
    Ok(())
}

fn cut<'o>(col: &'o mut Column<'_>, len: usize) -> Dst<'o> {
    match col {
        Column::F32(s) => Dst::F32(&mut s[..len]),
        Column::F64(s) => Dst::F64(&mut s[..len]),
        Column::I64(s) => Dst::I64(&mut s[..len]),
        Column::U8(s) => Dst::U8(&mut s[..len]),
    }
}

/// An output element type, and how wire values become it.
trait Value: bytemuck::Pod {
    const ONE: Self;
    /// The raw data type whose little-endian content is this type's memory
    /// (copied as it is).
    const RAW: DataType;
    fn from_f64(v: f64) -> Self;
    fn from_i64(v: i64) -> Self;

    /// Big-endian doubles (a float or double list) into `row`.
    #[inline]
    fn from_be_doubles(row: &mut [Self], bytes: &[u8], _k: &Kernels) {
        for (d, s) in row.iter_mut().zip(bytes.chunks_exact(8)) {
            *d = Self::from_f64(f64::from_be_bytes(s.try_into().unwrap()));
        }
    }

    /// Big-endian longs (an int64 list) into `row`.
    #[inline]
    fn from_be_longs(row: &mut [Self], bytes: &[u8], _k: &Kernels) {
        for (d, s) in row.iter_mut().zip(bytes.chunks_exact(8)) {
            *d = Self::from_i64(i64::from_be_bytes(s.try_into().unwrap()));
        }
    }
}

impl Value for f32 {
    const ONE: Self = 1.0;
    const RAW: DataType = DataType::Float;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as f32
    }
    #[inline]
    fn from_be_doubles(row: &mut [Self], bytes: &[u8], k: &Kernels) {
        k.f64_be_to_f32(bytes, cast_slice_mut(row));
    }
}

impl Value for f64 {
    const ONE: Self = 1.0;
    const RAW: DataType = DataType::Double;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as f64
    }
    #[inline]
    fn from_be_doubles(row: &mut [Self], bytes: &[u8], k: &Kernels) {
        k.swap8(bytes, cast_slice_mut(row));
    }
}

impl Value for i64 {
    const ONE: Self = 1;
    const RAW: DataType = DataType::Int64;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as i64
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v
    }
    #[inline]
    fn from_be_longs(row: &mut [Self], bytes: &[u8], k: &Kernels) {
        k.swap8(bytes, cast_slice_mut(row));
    }
}

impl Value for u8 {
    const ONE: Self = 1;
    const RAW: DataType = DataType::Uint8;
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as u8
    }
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as u8
    }
}

/// Runs `f` on a [`Dst`] with its element type as a type parameter.
macro_rules! on_dst {
    ($dst:expr, |$s:ident| $body:expr) => {
        match $dst {
            Dst::F32($s) => $body,
            Dst::F64($s) => $body,
            Dst::I64($s) => $body,
            Dst::U8($s) => $body,
        }
    };
}

/// Runs `f` on a [`Column`] with its element type as a type parameter.
macro_rules! on_column {
    ($dst:expr, |$s:ident| $body:expr) => {
        match $dst {
            Column::F32($s) => $body,
            Column::F64($s) => $body,
            Column::I64($s) => $body,
            Column::U8($s) => $body,
        }
    };
}

impl Bound<'_, '_> {
    /// Builds each output's base row (defaults, then `common`) in its last row.
    fn base(
        &mut self,
        layout: &FeatureLayout,
        common: &Record<'_>,
        kernels: &Kernels,
        skipped: &mut Skipped,
    ) -> Result<(), FeatureError> {
        skip_absent_kinds(layout, common, skipped);
        if let (Some(dst), Some(c)) = (&mut self.continuous, &layout.continuous) {
            on_dst!(dst, |s| {
                let row = last_row(s, c.ids.len());
                row.fill(default_value(c.default));
                skipped.continuous += continuous(row, &c.table, common);
            })
        }
        if let (Some(dst), Some(c)) = (&mut self.binary, &layout.binary) {
            on_dst!(dst, |s| {
                let row = last_row(s, c.ids.len());
                row.fill(bytemuck::Zeroable::zeroed());
                skipped.binary += binary(row, &c.table, common);
            })
        }
        if let (Some(s), Some(c)) = (&mut self.discrete, &layout.discrete) {
            let row = last_row(s, c.ids.len());
            row.fill(default_value(c.default));
            skipped.discrete += discrete(row, &c.table, common);
        }
        let last = self.rows - 1;
        for ((_, col), t) in self.tensors.iter_mut().zip(layout.tensors.iter()) {
            on_column!(col, |s| s[last * t.width..][..t.width]
                .fill(bytemuck::Zeroable::zeroed()));
        }
        skipped.tensors += self.tensors_of(layout, Location::Common, last, common, kernels)?;
        Ok(())
    }

    /// Row `r` of `rows`: the base copied in (unless it is the last row,
    /// where the base is), then the record's own features.
    fn record(
        &mut self,
        layout: &FeatureLayout,
        r: usize,
        record: &Record<'_>,
        kernels: &Kernels,
        skipped: &mut Skipped,
    ) -> Result<(), FeatureError> {
        let rows = self.rows;
        skip_absent_kinds(layout, record, skipped);
        if let (Some(dst), Some(c)) = (&mut self.continuous, &layout.continuous) {
            on_dst!(dst, |s| {
                let row = from_base(s, c.ids.len(), r, rows);
                skipped.continuous += continuous(row, &c.table, record);
            })
        }
        if let (Some(dst), Some(c)) = (&mut self.binary, &layout.binary) {
            on_dst!(dst, |s| {
                let row = from_base(s, c.ids.len(), r, rows);
                skipped.binary += binary(row, &c.table, record);
            })
        }
        if let (Some(s), Some(c)) = (&mut self.discrete, &layout.discrete) {
            let row = from_base(s, c.ids.len(), r, rows);
            skipped.discrete += discrete(row, &c.table, record);
        }
        for ((_, col), t) in self.tensors.iter_mut().zip(layout.tensors.iter()) {
            on_column!(col, |s| {
                from_base(&mut s[..rows * t.width], t.width, r, rows);
            })
        }
        skipped.tensors += self.tensors_of(layout, Location::Record(r), r, record, kernels)?;
        Ok(())
    }

    /// Writes the tensor features of `record` into row `r`; returns how
    /// many it skipped.
    fn tensors_of(
        &mut self,
        layout: &FeatureLayout,
        at: Location,
        r: usize,
        record: &Record<'_>,
        kernels: &Kernels,
    ) -> Result<usize, FeatureError> {
        let Some(map) = record.tensors else { return Ok(0) };
        let mut skipped = 0;
        for (n, (id, tensor)) in map.iter().enumerate() {
            let i = layout.tensor_table.get(id);
            let Some(t) = layout.tensors.get(i) else {
                skipped += 1;
                continue;
            };
            let col = &mut self.tensors[i].1;
            let written = on_column!(col, |s| {
                let row = &mut s[r * t.width..][..t.width];
                tensor_row(row, &tensor, t, at, kernels)
            });
            // A repeated key keeps its last value, as the generated readers
            // do: an entry that a later one replaces is not an error (and
            // `tensor_row` refuses before writing, so it left the row as it
            // was). Looked for only when there is an error.
            if let Err(e) = written {
                if !map.iter().skip(n + 1).any(|(later, _)| later == id) {
                    return Err(e);
                }
            }
        }
        Ok(skipped)
    }
}

/// Counts the features of the kinds the layout does not have at all:
/// every one of them is skipped.
fn skip_absent_kinds(layout: &FeatureLayout, record: &Record<'_>, skipped: &mut Skipped) {
    if layout.continuous.is_none() {
        skipped.continuous += record.continuous_features.map_or(0, |m| m.len());
    }
    if layout.binary.is_none() {
        skipped.binary += record.binary_features.map_or(0, |s| s.len());
    }
    if layout.discrete.is_none() {
        skipped.discrete += record.discrete_features.map_or(0, |m| m.len());
    }
}

fn default_value<T: Value>(d: Default) -> T {
    match d {
        Default::Float(v) => T::from_f64(v),
        Default::Int(v) => T::from_i64(v),
    }
}

fn last_row<T>(s: &mut [T], n: usize) -> &mut [T] {
    let len = s.len();
    &mut s[len - n..]
}

/// Row `r` of `rows` (`n` wide), the base (in the last row) copied in.
#[inline]
fn from_base<T: Copy>(s: &mut [T], n: usize, r: usize, rows: usize) -> &mut [T] {
    if r + 1 < rows {
        let (head, base) = s.split_at_mut((rows - 1) * n);
        let row = &mut head[r * n..][..n];
        copy_in_pieces(row, base);
        row
    } else {
        &mut s[r * n..][..n]
    }
}

/// `dst.copy_from_slice(src)` in pieces of at most 2 KiB. glibc's memcpy
/// copies larger blocks with `rep movsb` (above a threshold of a few KiB
/// that depends on the CPU), which callgrind counts as one instruction per
/// byte: R1's 21 KB base rows cost 5.4 M of its 16 M instructions that
/// way. In pieces, memcpy uses its vector loop. The wall time of this one
/// change was not measured apart from the others (docs/benchmarks.md).
#[inline]
fn copy_in_pieces<T: Copy>(dst: &mut [T], src: &[T]) {
    let piece = (2048 / core::mem::size_of::<T>()).max(1);
    for (d, s) in dst.chunks_mut(piece).zip(src.chunks(piece)) {
        d.copy_from_slice(s);
    }
}

/// Looks up each id and stores its value; returns how many ids the table
/// does not have. `chunks_exact` over the checked entry bytes: the fixed
/// 16- or 8-byte entries need no cursor.
#[inline(always)]
fn entries<T, const SIZE: usize>(
    row: &mut [T],
    table: &IdTable,
    bytes: &[u8],
    value: impl Fn(&[u8; SIZE]) -> T,
) -> usize {
    let mut skipped = 0;
    // Whole entries as arrays: the id and value reads need no checks.
    let (whole, _) = bytes.as_chunks::<SIZE>();
    for e in whole {
        let id = i64::from_be_bytes(*e.first_chunk::<8>().unwrap());
        match row.get_mut(table.get(id)) {
            Some(d) => *d = value(e),
            None => skipped += 1,
        }
    }
    skipped
}

fn continuous<T: Value>(row: &mut [T], table: &IdTable, record: &Record<'_>) -> usize {
    record.continuous_features.map_or(0, |m| {
        entries::<T, 16>(row, table, m.wire_bytes(), |e| {
            T::from_f64(f64::from_be_bytes(*e.last_chunk::<8>().unwrap()))
        })
    })
}

fn discrete<T: Value>(row: &mut [T], table: &IdTable, record: &Record<'_>) -> usize {
    record.discrete_features.map_or(0, |m| {
        entries::<T, 16>(row, table, m.wire_bytes(), |e| {
            T::from_i64(i64::from_be_bytes(*e.last_chunk::<8>().unwrap()))
        })
    })
}

fn binary<T: Value>(row: &mut [T], table: &IdTable, record: &Record<'_>) -> usize {
    record
        .binary_features
        .map_or(0, |s| entries::<T, 8>(row, table, s.wire_bytes(), |_| T::ONE))
}

/// Converts one tensor into one output row of `t.width` elements.
fn tensor_row<T: Value>(
    row: &mut [T],
    tensor: &GeneralTensor<'_>,
    t: &TensorFeature,
    at: Location,
    kernels: &Kernels,
) -> Result<(), FeatureError> {
    let id = t.id;
    let width = |elements: usize| {
        if elements == t.width {
            Ok(())
        } else {
            Err(FeatureError::TensorWidth {
                at,
                id,
                elements,
                width: t.width,
            })
        }
    };
    let not_numeric = |found| Err(FeatureError::TensorType { at, id, found });
    match tensor {
        GeneralTensor::Float(l) | GeneralTensor::Double(l) => {
            width(l.values.len())?;
            T::from_be_doubles(row, l.values.wire_bytes(), kernels);
        }
        GeneralTensor::Int64(l) => {
            width(l.values.len())?;
            T::from_be_longs(row, l.values.wire_bytes(), kernels);
        }
        GeneralTensor::Int32(l) => {
            width(l.values.len())?;
            let b = l.values.wire_bytes();
            for (d, s) in row.iter_mut().zip(b.chunks_exact(4)) {
                *d = T::from_i64(i32::from_be_bytes(s.try_into().unwrap()).into());
            }
        }
        GeneralTensor::Bool(l) => {
            width(l.values.len())?;
            for (d, s) in row.iter_mut().zip(l.values.wire_bytes()) {
                *d = T::from_i64(i64::from(*s != 0));
            }
        }
        GeneralTensor::Raw(raw) => {
            let Some((dtype, size)) = raw.dtype().and_then(|d| Some((d, d.fixed_size()?))) else {
                return not_numeric(raw_name(raw.data_type));
            };
            let c = raw.content;
            if !c.len().is_multiple_of(size) {
                return Err(FeatureError::RawContent {
                    at,
                    id,
                    data_type: raw.data_type,
                    bytes: c.len(),
                });
            }
            width(c.len() / size)?;
            raw_row(row, dtype, c);
        }
        GeneralTensor::String(_) => return not_numeric("stringTensor"),
        GeneralTensor::Binary(_) => return not_numeric("binaryTensor"),
    }
    Ok(())
}

fn raw_name(code: i32) -> &'static str {
    match DataType::from_code(code) {
        Some(DataType::String) => "rawTypedTensor of STRING",
        Some(DataType::Byte) => "rawTypedTensor of BYTE",
        Some(_) => "rawTypedTensor of a reserved data type",
        None => "rawTypedTensor of an unknown data type",
    }
}

/// Raw little-endian content of a numeric type into `row`.
fn raw_row<T: Value>(row: &mut [T], dtype: DataType, c: &[u8]) {
    fn each<T: Value, const N: usize>(row: &mut [T], c: &[u8], f: impl Fn([u8; N]) -> T) {
        for (d, s) in row.iter_mut().zip(c.chunks_exact(N)) {
            *d = f(s.try_into().unwrap());
        }
    }
    match dtype {
        d if d == T::RAW => cast_slice_mut::<T, u8>(row).copy_from_slice(c),
        DataType::Float => each::<T, 4>(row, c, |b| T::from_f64(f32::from_le_bytes(b).into())),
        DataType::Double => each::<T, 8>(row, c, |b| T::from_f64(f64::from_le_bytes(b))),
        DataType::Int32 => each::<T, 4>(row, c, |b| T::from_i64(i32::from_le_bytes(b).into())),
        DataType::Int64 => each::<T, 8>(row, c, |b| T::from_i64(i64::from_le_bytes(b))),
        DataType::Uint8 => each::<T, 1>(row, c, |b| T::from_i64(b[0].into())),
        // BOOL (the only other fixed-size type): any non-zero byte is true.
        _ => each::<T, 1>(row, c, |b| T::from_i64(i64::from(b[0] != 0))),
    }
}
