//! The one-shot planner: every check of a [`BatchPrediction`], the exact
//! encoded size, and the per-tensor row templates, all computed from
//! shapes (and, for string tensors, string lengths) without touching
//! element data.

use crate::encode::error::{Error, Input, KeyMap, Size};
use crate::encode::input::{
    source_of, string_bytes, BatchPrediction, Continuous, Source, Strings, Tensor, TensorData, TensorEncoding,
};
use crate::encode::layout::{string_arm, templates_len, RowLayout, Template};
use crate::encode::size::{add, check_count, check_size, product, response_len, RecordLen};
use crate::kernels::{Conversion, Kernels, Records, RowKernel};
use crate::wire::{field, map_head, ttype, FIELD_HEADER, MAP_HEADER};
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

impl<'a> Plan<'a> {
    /// Checks `bp` and plans its response: the steps are the continuous
    /// predictions, then the tensors, then the sizes (shared with the
    /// signatures through [`RecordLen`] and [`response_len`]).
    pub(crate) fn new(bp: &BatchPrediction<'a>) -> Result<Self, Error> {
        let kernels = Kernels::select(bp.level)?;
        let dense = bp.dense.as_ref();
        let has_tensors = dense.is_some_and(|d| !d.keys.is_empty() || !d.tensors.is_empty());
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
        let mut record = RecordLen::new();
        let mut batch = None;
        let mut continuous = None;
        if let Some(c) = &bp.continuous {
            let (rows, plan) = plan_continuous(c, kernels)?;
            batch = Some(rows);
            record = record.continuous(c.keys.len())?;
            continuous = plan;
        }
        let mut tensors = SmallVec::new();
        let mut strings = 0usize;
        if let Some(d) = dense.filter(|d| !d.keys.is_empty()) {
            record = record.tensors_map()?;
            for (index, (&key, t)) in d.keys.iter().zip(d.tensors).enumerate() {
                let input = Input::Tensor { index, key };
                let (plan, bytes) = plan_tensor(input, key, t, bp.encoding, kernels)?;
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
                record = record.tensor_row(templates_len(&plan.prefix, &plan.suffix), plan.row_out)?;
                strings = add(strings, bytes)?;
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
        Ok(Plan {
            kernels,
            batch,
            len: response_len(batch, record.get(), strings)?,
            record_fixed: record.get(),
            has_strings: tensors.iter().any(|t: &TensorPlan<'_>| !t.source.is_fixed()),
            continuous,
            tensors_head: map_head(field::TENSORS, ttype::STRUCT, tensors.len()),
            tensors,
        })
    }
}

impl<'a> ContinuousPlan<'a> {
    /// The plan of `keys` (at least one) over `values`, `f64`s if `wide`:
    /// each record's map head (`head`, from [`continuous_head`]), its
    /// entries by `kernels`' row kernel. `stop` says whether the record's
    /// STOP follows the entries (no tensors).
    #[inline(always)]
    pub(crate) fn new(
        head: [u8; FIELD_HEADER + MAP_HEADER],
        keys: &'a [i64],
        values: &'a [u8],
        wide: bool,
        stop: bool,
        kernels: &'static Kernels,
    ) -> ContinuousPlan<'a> {
        ContinuousPlan {
            records: Records { head, keys, stop },
            values,
            // n * 4 or n * 8: no more than the values' length.
            row_bytes: keys.len() * if wide { 8 } else { 4 },
            kernel: kernels.continuous(wide),
        }
    }
}

/// The head of every record's continuous map of `n` entries.
pub(crate) fn continuous_head(n: usize) -> [u8; FIELD_HEADER + MAP_HEADER] {
    map_head(field::CONTINUOUS, ttype::DOUBLE, n)
}

/// Checks the continuous predictions: their rank, key count, values and
/// keys. Returns the batch size and the plan (none without keys).
fn plan_continuous<'a>(
    c: &Continuous<'a>,
    kernels: &'static Kernels,
) -> Result<(usize, Option<ContinuousPlan<'a>>), Error> {
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
    let (values, wide, found) = c.values.checked()?;
    let expected = product(input, &c.shape, &c.shape)?;
    check_count(input, expected, found, || c.shape[..].into())?;
    check_keys(KeyMap::Continuous, c.keys)?;
    // The STOP is settled once the tensors are known.
    let plan = (n > 0).then(|| ContinuousPlan::new(continuous_head(n), c.keys, values, wide, true, kernels));
    Ok((rows, plan))
}

/// `data`'s element source, checked to hold the `expected` elements its
/// shape (built only for the error) says; and its count of elements.
/// Both planners check a tensor's data this way.
#[inline(always)]
pub(crate) fn counted_source<'a>(
    input: Input,
    data: &TensorData<'a>,
    expected: usize,
    shape: impl FnOnce() -> Box<[usize]>,
) -> Result<(Source<'a>, usize), Error> {
    let (source, found) = source_of(input, data)?;
    // Width-0 fixed-width strings have no count of their own.
    let found = found.unwrap_or(expected);
    check_count(input, expected, found, shape)?;
    Ok((source, found))
}

/// A tensor's checked source bound to its row layout, the per-batch step
/// both planners share: fixed-size data converted by `conversion` at
/// `kernels`' level; `count` strings sized, and checked to be UTF-8 when
/// they come as unchecked bytes for a `stringTensor`. Returns the source,
/// the bytes its strings take on the wire (0 for fixed-size data) and the
/// input per row (bytes for fixed-size elements, strings for strings).
#[inline(always)]
pub(crate) fn bind_rows<'a>(
    input: Input,
    data: &TensorData<'a>,
    source: Source<'a>,
    count: usize,
    layout: (usize, usize, Option<Conversion>),
    kernels: &'static Kernels,
) -> Result<(Source<'a>, usize, usize), Error> {
    let (row_elems, in_size, conversion) = layout;
    Ok(match source {
        // One loop per case, so that `&str`s carry no UTF-8 check's code.
        Source::Strings(v) if data.checks_utf8() => {
            let bytes = string_bytes::<true>(input, v, count, row_elems)?;
            (source, bytes, row_elems)
        }
        Source::Strings(v) => (
            source,
            string_bytes::<false>(input, v, count, row_elems)?,
            row_elems,
        ),
        // Never more than row_out, which the layout checked: no overflow.
        fixed => (fixed.converted(conversion, kernels), 0, row_elems * in_size),
    })
}

/// Checks one dense tensor and builds its row templates. Returns the plan
/// and the total bytes its strings take on the wire (length prefixes
/// included; 0 for other types).
fn plan_tensor<'a>(
    input: Input,
    key: i64,
    t: &Tensor<'a>,
    encoding: TensorEncoding,
    kernels: &'static Kernels,
) -> Result<(TensorPlan<'a>, usize), Error> {
    let (data, shape) = (t.data(), t.shape());
    if let Some(strides) = t.strides_if_strided() {
        return Err(Error::NotContiguous {
            input,
            shape: shape.into(),
            strides: strides.into(),
        });
    }
    if shape.is_empty() {
        return Err(Error::ScalarTensor { input });
    }
    let expected = product(input, shape, shape)?;
    let (source, count) = counted_source(input, data, expected, || shape.into())?;
    let raw = matches!(data, TensorData::Raw { .. });
    let arm = string_arm(data.is_binary());
    let layout = RowLayout::new(input, key, data.dtype(), arm, raw, shape, &shape[1..], encoding)?;
    let facts = (layout.row_elems, layout.in_size, layout.conversion);
    let (source, strings, row_in) = bind_rows(input, data, source, count, facts, kernels)?;
    debug_assert!(!source.is_fixed() || row_in <= layout.row_out);
    Ok((
        TensorPlan {
            source,
            row_in,
            row_out: layout.row_out,
            prefix: layout.prefix,
            suffix: layout.suffix,
        },
        strings,
    ))
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

#[cfg(test)]
mod tests {
    use super::find_duplicate;

    /// The plain definition `find_duplicate` must match on both of its paths.
    fn naive(keys: &[i64]) -> Option<(usize, usize)> {
        (0..keys.len()).find_map(|j| (0..j).find(|&i| keys[i] == keys[j]).map(|i| (i, j)))
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
