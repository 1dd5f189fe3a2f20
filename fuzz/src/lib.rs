//! Structured fuzz inputs for bprwire: a [`Case`] built with `arbitrary`
//! turns into owned continuous values and dense tensors of every element
//! type, mostly consistent (so that most cases are accepted and reach the
//! encoder) but with optional mismatches (so that every refusal is reached),
//! and the checks the targets share.

use arbitrary::Arbitrary;
use bprwire::{BatchPrediction, DataType, Error, Input, KeyMap, StringKind, Tensor, TensorData, Values};

/// Keys of one map.
#[derive(Arbitrary, Debug, Clone)]
pub enum Keys {
    /// `start, start + step, ...` (`step` 1..=256): distinct and ascending
    /// unless the arithmetic wraps.
    Ascending { n: u8, start: i64, step: u8 },
    /// As given: any order, repeats allowed.
    Given(Vec<i64>),
}

impl Keys {
    fn build(&self, max: usize) -> Vec<i64> {
        match self {
            Keys::Ascending { n, start, step } => (0..(*n as usize % (max + 1)) as i64)
                .map(|i| start.wrapping_add(i.wrapping_mul(i64::from(*step) + 1)))
                .collect(),
            Keys::Given(v) => v.iter().copied().take(max).collect(),
        }
    }
}

/// How continuous values are given.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ValueKind {
    F32,
    F64,
    /// Raw little-endian bytes of `Float` or `Double`, `offset` bytes into
    /// a buffer (unaligned).
    Raw {
        wide: bool,
        offset: u8,
    },
    /// Raw bytes claiming another dtype (code % 8): refused unless Float/Double.
    RawOther {
        code: u8,
    },
}

/// Continuous predictions.
#[derive(Arbitrary, Debug, Clone)]
pub struct ContinuousCase {
    pub keys: Keys,
    pub kind: ValueKind,
    /// `[batch]` when true and there is one key (else `[batch, n]`).
    pub rank1: bool,
    /// Replaces the shape (rank and dims, each % 6) when present.
    pub shape: Option<Vec<u8>>,
    /// Elements added (> 0) or dropped (< 0) after the shape's count.
    pub delta: Option<i8>,
}

/// Element type of a dense tensor.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq)]
pub enum Elem {
    F32,
    F64,
    I32,
    I64,
    U8,
    Bool,
    Str,
    /// Byte strings for a StringTensor: ASCII unless `any` (then often
    /// not UTF-8, which must be refused with `InvalidUtf8`).
    Bytes {
        any: bool,
    },
    /// Any byte strings, as a binaryTensor.
    Binary,
    /// Fixed-width NUL-padded strings (width % 6), text (ASCII unless
    /// `any`) or binary.
    Padded {
        width: u8,
        binary: bool,
        any: bool,
    },
    /// Raw little-endian bytes with dtype code % 8 (String is refused).
    Raw {
        code: u8,
        offset: u8,
    },
}

/// One dense tensor.
#[derive(Arbitrary, Debug, Clone)]
pub struct TensorCase {
    pub elem: Elem,
    /// Dims after the batch (each % 5; rank at most 4 in all).
    pub dims: Vec<u8>,
    /// Dim 0 other than the batch, when present.
    pub dim0: Option<u8>,
    /// No dims at all (a scalar: refused).
    pub scalar: bool,
    /// Elements (raw: bytes) added or dropped after the shape's count.
    pub delta: Option<i8>,
}

/// A whole request.
#[derive(Arbitrary, Debug, Clone)]
pub struct Case {
    /// Records (% 6).
    pub batch: u8,
    pub continuous: Option<ContinuousCase>,
    pub tensors: Vec<TensorCase>,
    /// Dense keys; `None`: distinct ascending keys, one per tensor.
    pub dense_keys: Option<Keys>,
    /// Whether `.dense()` is called at all.
    pub dense: bool,
    pub typed: bool,
    /// Element bytes, used cyclically.
    pub pool: Vec<u8>,
}

/// Owned element data of one tensor.
#[derive(Debug, Clone)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    Bytes(Vec<Vec<u8>>),
    Binary(Vec<Vec<u8>>),
    Padded {
        bytes: Vec<u8>,
        width: usize,
        kind: StringKind,
    },
    /// dtype, a buffer, and where the elements start in it.
    Raw(DataType, Vec<u8>, usize),
}

/// Owned continuous values.
#[derive(Debug, Clone)]
pub enum OwnedValues {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Raw(DataType, Vec<u8>, usize),
}

/// The owned inputs of one case.
#[derive(Debug, Clone)]
pub struct Owned {
    pub continuous: Option<(Vec<i64>, OwnedValues, Vec<usize>)>,
    pub dense: Option<(Vec<i64>, Vec<(Data, Vec<usize>)>)>,
    pub typed: bool,
}

/// Cyclic reader over the pool.
struct Pool<'p> {
    bytes: &'p [u8],
    at: usize,
}

impl Pool<'_> {
    fn byte(&mut self) -> u8 {
        if self.bytes.is_empty() {
            self.at += 1;
            return (self.at as u8).wrapping_mul(37);
        }
        let b = self.bytes[self.at % self.bytes.len()];
        self.at += 1;
        b
    }
    fn take<const N: usize>(&mut self) -> [u8; N] {
        core::array::from_fn(|_| self.byte())
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

fn adjust(count: usize, delta: Option<i8>) -> usize {
    match delta {
        Some(d) if d != 0 => count.saturating_add_signed(isize::from(d)),
        _ => count,
    }
}

fn dtype_of(code: u8) -> DataType {
    DataType::from_code(i32::from(code % 8)).expect("codes 0..=7 exist")
}

impl Case {
    /// Owned inputs, at most a few thousand elements in all.
    pub fn build(&self) -> Owned {
        let batch = usize::from(self.batch % 6);
        let mut pool = Pool {
            bytes: &self.pool,
            at: 0,
        };
        let continuous = self.continuous.as_ref().map(|c| {
            let keys = c.keys.build(40);
            let shape: Vec<usize> = match &c.shape {
                Some(dims) => dims.iter().take(4).map(|&d| usize::from(d % 6)).collect(),
                None if c.rank1 && keys.len() == 1 => vec![batch],
                None => vec![batch, keys.len()],
            };
            let count = adjust(shape.iter().product(), c.delta);
            let values = match c.kind {
                ValueKind::F32 => {
                    OwnedValues::F32((0..count).map(|_| f32::from_le_bytes(pool.take())).collect())
                }
                ValueKind::F64 => {
                    OwnedValues::F64((0..count).map(|_| f64::from_le_bytes(pool.take())).collect())
                }
                ValueKind::Raw { wide, offset } => {
                    let (dtype, size) = if wide {
                        (DataType::Double, 8)
                    } else {
                        (DataType::Float, 4)
                    };
                    let off = usize::from(offset % 8);
                    let mut buf = vec![0u8; off];
                    buf.extend(pool.bytes(adjust(count * size, c.delta.map(|d| d / 4))));
                    OwnedValues::Raw(dtype, buf, off)
                }
                ValueKind::RawOther { code } => OwnedValues::Raw(dtype_of(code), pool.bytes(count * 4), 0),
            };
            (keys, values, shape)
        });

        let tensors: Vec<(Data, Vec<usize>)> = self
            .tensors
            .iter()
            .take(5)
            .map(|t| {
                let shape: Vec<usize> = if t.scalar {
                    Vec::new()
                } else {
                    let dim0 = t.dim0.map_or(batch, |d| usize::from(d % 6));
                    core::iter::once(dim0)
                        .chain(t.dims.iter().take(3).map(|&d| usize::from(d % 5)))
                        .collect()
                };
                let count = adjust(shape.iter().product(), t.delta);
                let data = match t.elem {
                    Elem::F32 => Data::F32((0..count).map(|_| f32::from_le_bytes(pool.take())).collect()),
                    Elem::F64 => Data::F64((0..count).map(|_| f64::from_le_bytes(pool.take())).collect()),
                    Elem::I32 => Data::I32((0..count).map(|_| i32::from_le_bytes(pool.take())).collect()),
                    Elem::I64 => Data::I64((0..count).map(|_| i64::from_le_bytes(pool.take())).collect()),
                    Elem::U8 => Data::U8(pool.bytes(count)),
                    Elem::Bool => Data::Bool((0..count).map(|_| pool.byte() & 1 == 1).collect()),
                    Elem::Str => Data::Str(
                        (0..count)
                            .map(|_| {
                                let len = usize::from(pool.byte() % 12);
                                (0..len)
                                    .map(|_| match pool.byte() {
                                        b @ 0..=200 => char::from(b'a' + b % 26),
                                        b => char::from_u32(0xE0 + u32::from(b)).unwrap_or('é'),
                                    })
                                    .collect()
                            })
                            .collect(),
                    ),
                    Elem::Bytes { any } => Data::Bytes(
                        (0..count)
                            .map(|_| {
                                let len = usize::from(pool.byte() % 12);
                                let mut b = pool.bytes(len);
                                if !any {
                                    b.iter_mut().for_each(|c| *c &= 0x7F);
                                }
                                b
                            })
                            .collect(),
                    ),
                    Elem::Binary => Data::Binary(
                        (0..count)
                            .map(|_| {
                                let len = usize::from(pool.byte() % 12);
                                pool.bytes(len)
                            })
                            .collect(),
                    ),
                    Elem::Padded { width, binary, any } => {
                        let width = usize::from(width % 6);
                        let n = adjust(shape.iter().product::<usize>() * width, t.delta.map(|d| d / 2));
                        let mut bytes = pool.bytes(n);
                        if !any && !binary {
                            bytes.iter_mut().for_each(|c| *c &= 0x7F);
                        }
                        let kind = if binary {
                            StringKind::Binary
                        } else {
                            StringKind::Text
                        };
                        Data::Padded { bytes, width, kind }
                    }
                    Elem::Raw { code, offset } => {
                        let dtype = dtype_of(code);
                        let size = dtype.fixed_size().unwrap_or(1);
                        let off = usize::from(offset % 8);
                        let mut buf = vec![0u8; off];
                        let n = adjust(shape.iter().product::<usize>() * size, t.delta.map(|d| d / 2));
                        buf.extend(pool.bytes(n));
                        Data::Raw(dtype, buf, off)
                    }
                };
                (data, shape)
            })
            .collect();
        let dense = self.dense.then(|| {
            let keys = match &self.dense_keys {
                Some(k) => k.build(8),
                None => (0..tensors.len() as i64).map(|i| 100 + 7 * i).collect(),
            };
            (keys, tensors)
        });
        Owned {
            continuous,
            dense,
            typed: self.typed,
        }
    }
}

/// The inputs of one case, borrowed: continuous keys, values and shape,
/// and dense keys and tensors.
pub struct Parts<'a> {
    pub continuous: Option<(&'a [i64], Values<'a>, &'a [usize])>,
    pub dense: Option<(&'a [i64], &'a [Tensor<'a>])>,
    pub typed: bool,
}

impl Owned {
    /// Calls `f` with the inputs borrowed as a [`BatchPrediction`].
    pub fn with_inputs<R>(&self, f: impl FnOnce(&BatchPrediction<'_>) -> R) -> R {
        self.with_parts(|parts| {
            let mut bp = BatchPrediction::new();
            if let Some((keys, values, shape)) = parts.continuous {
                bp = bp.continuous(keys, values, shape);
            }
            if let Some((keys, tensors)) = parts.dense {
                bp = bp.dense(keys, tensors);
            }
            if parts.typed {
                bp = bp.typed();
            }
            f(&bp)
        })
    }

    /// Calls `f` with the inputs borrowed.
    pub fn with_parts<R>(&self, f: impl FnOnce(Parts<'_>) -> R) -> R {
        let empty = Vec::new();
        let (dense_keys, dense_tensors) = self
            .dense
            .as_ref()
            .map_or((&empty, &[][..]), |(k, t)| (k, &t[..]));
        let strs: Vec<Vec<&str>> = dense_tensors
            .iter()
            .map(|(d, _)| match d {
                Data::Str(v) => v.iter().map(String::as_str).collect(),
                _ => Vec::new(),
            })
            .collect();
        let byte_strs: Vec<Vec<&[u8]>> = dense_tensors
            .iter()
            .map(|(d, _)| match d {
                Data::Bytes(v) | Data::Binary(v) => v.iter().map(Vec::as_slice).collect(),
                _ => Vec::new(),
            })
            .collect();
        let tensors: Vec<Tensor<'_>> = dense_tensors
            .iter()
            .enumerate()
            .map(|(i, (d, shape))| {
                let data = match d {
                    Data::F32(v) => TensorData::F32(v),
                    Data::F64(v) => TensorData::F64(v),
                    Data::I32(v) => TensorData::I32(v),
                    Data::I64(v) => TensorData::I64(v),
                    Data::U8(v) => TensorData::U8(v),
                    Data::Bool(v) => TensorData::Bool(v),
                    Data::Str(_) => TensorData::Str(&strs[i]),
                    Data::Bytes(_) => TensorData::Bytes(&byte_strs[i]),
                    Data::Binary(_) => TensorData::Binary(&byte_strs[i]),
                    Data::Padded { bytes, width, kind } => TensorData::Padded {
                        bytes,
                        width: *width,
                        kind: *kind,
                    },
                    Data::Raw(dtype, buf, off) => TensorData::Raw {
                        dtype: *dtype,
                        bytes: &buf[*off..],
                    },
                };
                Tensor::new(data, shape)
            })
            .collect();
        let continuous = self.continuous.as_ref().map(|(keys, values, shape)| {
            let values = match values {
                OwnedValues::F32(v) => Values::F32(v),
                OwnedValues::F64(v) => Values::F64(v),
                OwnedValues::Raw(dtype, buf, off) => Values::Raw {
                    dtype: *dtype,
                    bytes: &buf[*off..],
                },
            };
            (&keys[..], values, &shape[..])
        });
        f(Parts {
            continuous,
            dense: self.dense.as_ref().map(|_| (&dense_keys[..], &tensors[..])),
            typed: self.typed,
        })
    }

    /// Whether every key list is strictly ascending (then bprwire's bytes
    /// must equal the reference encoder's, whose maps are sorted).
    pub fn keys_ascending(&self) -> bool {
        let asc = |k: &[i64]| k.windows(2).all(|w| w[0] < w[1]);
        self.continuous.as_ref().is_none_or(|(k, _, _)| asc(k))
            && self.dense.as_ref().is_none_or(|(k, _)| asc(k))
    }

    fn input(&self, input: Input) -> Result<(Option<&Data>, Option<&OwnedValues>, &[usize]), String> {
        match input {
            Input::Continuous => {
                let (_, v, s) = self.continuous.as_ref().ok_or("no continuous input")?;
                Ok((None, Some(v), s))
            }
            Input::Tensor { index, key } => {
                let (keys, tensors) = self.dense.as_ref().ok_or("no dense input")?;
                if keys.get(index) != Some(&key) {
                    return Err(format!("tensor #{index} has no key {key}"));
                }
                let (d, s) = tensors.get(index).ok_or("no such tensor")?;
                Ok((Some(d), None, s))
            }
            // Only an `ndarray` view of keys is refused as a whole; the
            // fuzzer gives slices.
            Input::Keys(map) => Err(format!(
                "a refusal of the {map} as a whole, which slices cannot cause"
            )),
        }
    }

    /// Checks that a refusal states something true of these inputs: the
    /// documented rule it names really is broken here.
    pub fn justify(&self, err: &Error) -> Result<(), String> {
        let ok = |cond: bool, what: &str| {
            if cond {
                Ok(())
            } else {
                Err(format!("{what}: {err:?}"))
            }
        };
        match err {
            Error::NoPredictions => ok(
                self.continuous.is_none()
                    && self
                        .dense
                        .as_ref()
                        .is_none_or(|(k, t)| k.is_empty() && t.is_empty()),
                "NoPredictions with predictions present",
            ),
            Error::TensorCountMismatch { keys, tensors } => {
                let (k, t) = self.dense.as_ref().ok_or("no dense input")?;
                ok(
                    k.len() == *keys && t.len() == *tensors && keys != tensors,
                    "counts",
                )
            }
            Error::ContinuousRank { rank } => {
                let (_, _, s) = self.continuous.as_ref().ok_or("no continuous")?;
                ok(s.len() == *rank && !(1..=2).contains(rank), "rank")
            }
            Error::KeyCountMismatch { keys, last_dim } => {
                let (k, _, s) = self.continuous.as_ref().ok_or("no continuous")?;
                let last = if s.len() == 1 { 1 } else { s[1] };
                ok(
                    k.len() == *keys && last == *last_dim && keys != last_dim,
                    "key count",
                )
            }
            Error::ScalarTensor { input } => {
                let (_, _, s) = self.input(*input)?;
                ok(s.is_empty() && matches!(input, Input::Tensor { .. }), "scalar")
            }
            Error::ElementCountMismatch {
                input,
                shape,
                expected,
                found,
            } => {
                let (d, v, s) = self.input(*input)?;
                let count = match (d, v) {
                    (Some(d), _) => data_len(d),
                    (_, Some(v)) => values_len(v),
                    _ => None,
                };
                ok(
                    s == &shape[..]
                        && s.iter().product::<usize>() == *expected
                        && count == Some(*found)
                        && expected != found,
                    "element count",
                )
            }
            Error::RawByteLength { input, dtype, bytes } => {
                let (d, v, _) = self.input(*input)?;
                let raw = match (d, v) {
                    (Some(Data::Raw(t, b, o)), _) | (_, Some(OwnedValues::Raw(t, b, o))) => {
                        Some((*t, b.len() - o))
                    }
                    _ => None,
                };
                let size = dtype.fixed_size().unwrap_or(1);
                ok(
                    raw == Some((*dtype, *bytes)) && bytes % size != 0,
                    "raw byte length",
                )
            }
            Error::BatchSizeMismatch { input, batch, found } => {
                let (_, _, s) = self.input(*input)?;
                ok(
                    s.first() == Some(found) && batch != found && matches!(input, Input::Tensor { .. }),
                    "batch size",
                )
            }
            Error::DuplicateKey {
                map,
                key,
                first,
                second,
            } => {
                let keys = match map {
                    KeyMap::Continuous => &self.continuous.as_ref().ok_or("no continuous")?.0,
                    KeyMap::Tensors => &self.dense.as_ref().ok_or("no dense")?.0,
                };
                ok(
                    first < second && keys.get(*first) == Some(key) && keys.get(*second) == Some(key),
                    "duplicate key",
                )
            }
            Error::UnsupportedDataType { input, dtype } => {
                let (d, v, _) = self.input(*input)?;
                let raw = match (d, v) {
                    (Some(Data::Raw(t, ..)), _) | (_, Some(OwnedValues::Raw(t, ..))) => Some(*t),
                    _ => None,
                };
                let allowed = match input {
                    Input::Continuous => matches!(dtype, DataType::Float | DataType::Double),
                    Input::Tensor { .. } => dtype.fixed_size().is_some(),
                    Input::Keys(_) => false,
                };
                ok(raw == Some(*dtype) && !allowed, "unsupported dtype")
            }
            Error::InvalidUtf8 {
                input,
                row,
                element,
                valid_up_to,
            } => {
                let (d, _, s) = self.input(*input)?;
                let per_row: usize = s.get(1..).map_or(0, |r| r.iter().product());
                let at = row * per_row + element;
                let string = match d {
                    Some(Data::Bytes(v)) => v.get(at).map(Vec::as_slice),
                    Some(Data::Padded {
                        bytes,
                        width,
                        kind: StringKind::Text,
                    }) if *width > 0 => bytes.chunks_exact(*width).nth(at).map(trim_nuls),
                    _ => None,
                };
                let valid = string.map(|b| std::str::from_utf8(b).map_err(|e| e.valid_up_to()));
                ok(
                    *element < per_row && valid == Some(Err(*valid_up_to)),
                    "invalid UTF-8",
                )
            }
            Error::PaddedLength { input, width, bytes } => {
                let (d, _, _) = self.input(*input)?;
                let given = match d {
                    Some(Data::Padded { bytes, width, .. }) => Some((*width, bytes.len())),
                    _ => None,
                };
                let whole = bytes.checked_rem(*width).map_or(*bytes == 0, |r| r == 0);
                ok(given == Some((*width, *bytes)) && !whole, "padded length")
            }
            other => Err(format!("unexpected refusal of a small input: {other:?}")),
        }
    }
}

fn data_len(d: &Data) -> Option<usize> {
    Some(match d {
        Data::F32(v) => v.len(),
        Data::F64(v) => v.len(),
        Data::I32(v) => v.len(),
        Data::I64(v) => v.len(),
        Data::U8(v) => v.len(),
        Data::Bool(v) => v.len(),
        Data::Str(v) => v.len(),
        Data::Bytes(v) | Data::Binary(v) => v.len(),
        Data::Padded { bytes, width, .. } => bytes.len().checked_div(*width)?,
        Data::Raw(t, b, o) => (b.len() - o) / t.fixed_size()?,
    })
}

fn values_len(v: &OwnedValues) -> Option<usize> {
    Some(match v {
        OwnedValues::F32(v) => v.len(),
        OwnedValues::F64(v) => v.len(),
        OwnedValues::Raw(t, b, o) => (b.len() - o) / t.fixed_size()?,
    })
}

/// A fixed-width string without its trailing NULs.
fn trim_nuls(s: &[u8]) -> &[u8] {
    &s[..s.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)]
}

/// The checks of an accepted input: exact length, nothing written past it,
/// the reference decodes the bytes to exactly `build(inputs)` (doubles by
/// bits), and with ascending keys the bytes equal the reference encoder's.
/// Returns the bytes.
pub fn check_accepted(owned: &Owned, bp: &BatchPrediction<'_>, enc: &bprwire::Encoder<'_>) -> Vec<u8> {
    let len = enc.encoded_len();
    let mut buf = vec![0xEEu8; len + 16];
    assert_eq!(enc.encode_into(&mut buf).unwrap(), len);
    assert!(buf[len..].iter().all(|&b| b == 0xEE), "wrote past encoded_len");
    buf.truncate(len);
    assert_eq!(enc.encode_to_vec(), buf);
    let expected = bprwire_reference::build(bp);
    let decoded =
        bprwire_reference::deserialize(&buf).unwrap_or_else(|e| panic!("reference cannot decode: {e}"));
    assert_eq!(decoded.predictions.len(), enc.batch_size());
    let expected_bytes = bprwire_reference::serialize(&expected);
    assert_eq!(
        bprwire_reference::serialize(&decoded),
        expected_bytes,
        "decoded data differ"
    );
    if owned.keys_ascending() {
        assert_eq!(buf, expected_bytes, "bytes differ from the reference encoder's");
    }
    buf
}
