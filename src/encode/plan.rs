//! The one-shot planner: every check of a [`BatchPrediction`], the exact
//! encoded size, and the per-tensor row templates, all computed from
//! shapes (and, for string tensors, string lengths) without touching
//! element data.

use crate::encode::error::{Error, Input, KeyMap, Size};
use crate::encode::input::{
    le_bytes, raw_elements, source_of, string_bytes, BatchPrediction, Source, StringKind, Strings,
    TensorData, TensorEncoding, Values,
};
use crate::encode::layout::{RowLayout, Template};
use crate::encode::size::{add, check_size, mul, product};
use crate::encode::write::{write_record, write_response, Emit};
use crate::kernels::{Kernels, Records, RowKernel};
use crate::wire::{field, map_head, ttype, CONTINUOUS_ENTRY, FIELD_HEADER, LIST_HEADER, MAP_HEADER, STOP};
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

impl<'a> Plan<'a> {
    /// The whole response of this plan into `e`.
    #[inline]
    pub(crate) fn write<E: Emit<'a>>(&self, e: &mut E) -> Result<(), E::Error> {
        write_response(
            self.batch,
            self.continuous.as_ref(),
            &self.tensors_head,
            &self.tensors,
            e,
        )
    }

    /// Record `row` of this plan into `e`.
    #[inline]
    pub(crate) fn write_record<E: Emit<'a>>(&self, row: usize, e: &mut E) -> Result<(), E::Error> {
        write_record(
            row,
            self.continuous.as_ref(),
            &self.tensors_head,
            &self.tensors,
            e,
        )
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
