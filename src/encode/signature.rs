//! Prepared model signatures: what a model's outputs look like apart from
//! the batch, checked and laid out once, so that each batch is encoded
//! with only the checks that depend on it.
//!
//! ```
//! use bprwire::{Element, Signature, TensorData, Values};
//!
//! // Once per model: 3 continuous outputs, a float32 embedding [batch, 4].
//! let signature = Signature::builder()
//!     .continuous(&[1, 2, 3], Element::F32)
//!     .tensor(100, Element::F32, &[4])
//!     .build()?;
//!
//! // Per batch: only the slices.
//! let scores = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6]; // batch 2 × 3
//! let embedding = [0.5f32; 8]; // batch 2 × 4
//! let encoder = signature.encoder(2, Some(Values::F32(&scores)), &[TensorData::F32(&embedding)])?;
//! let mut buf = vec![0u8; encoder.encoded_len()];
//! encoder.encode_into(&mut buf)?;
//!
//! // The same bytes as the one-shot API.
//! let tensors = [bprwire::Tensor::new(&embedding, &[2, 4])];
//! let one_shot = bprwire::BatchPrediction::new()
//!     .continuous(&[1, 2, 3], &scores, &[2, 3])
//!     .dense(&[100], &tensors)
//!     .encode_to_vec()?;
//! assert_eq!(buf, one_shot);
//! # Ok::<(), bprwire::Error>(())
//! ```

use smallvec::SmallVec;

use crate::encode::encoder::Encoder;
use crate::encode::error::{Error, Input, KeyMap, Size};
use crate::encode::input::{Source, StringKind, TensorData, TensorEncoding, Values};
use crate::encode::layout::{string_arm, templates_len, RowLayout, Template};
use crate::encode::plan::{self, ContinuousPlan, Plan, TensorPlan};
use crate::encode::size::{self, RecordLen};
use crate::encode::write::{write_response, Out, TensorRows};
use crate::kernels::{Kernels, Level};
use crate::wire::{self, field, ttype, FIELD_HEADER, MAP_HEADER};
use crate::DataType;

/// The element type of a model output in a [`Signature`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Element {
    /// `f32`: [`TensorData::F32`], or raw FLOAT bytes.
    F32,
    /// `f64`: [`TensorData::F64`], or raw DOUBLE bytes.
    F64,
    /// `i32`: [`TensorData::I32`], or raw INT32 bytes.
    I32,
    /// `i64`: [`TensorData::I64`], or raw INT64 bytes.
    I64,
    /// `u8`: [`TensorData::U8`], or raw UINT8 bytes.
    U8,
    /// `bool`: [`TensorData::Bool`], or raw BOOL bytes (non-zero is true).
    Bool,
    /// Text for a `stringTensor`: [`TensorData::Str`], [`TensorData::Bytes`]
    /// (checked to be UTF-8) or text [`TensorData::Padded`].
    Str,
    /// Bytes for a `binaryTensor`: [`TensorData::Binary`] or binary
    /// [`TensorData::Padded`].
    Binary,
}

impl Element {
    fn dtype(self) -> DataType {
        match self {
            Element::F32 => DataType::Float,
            Element::F64 => DataType::Double,
            Element::I32 => DataType::Int32,
            Element::I64 => DataType::Int64,
            Element::U8 => DataType::Uint8,
            Element::Bool => DataType::Bool,
            Element::Str | Element::Binary => DataType::String,
        }
    }

    /// The element type `data` holds, or `None` for raw bytes of a type no
    /// tensor can have (`STRING`, `BYTE`, reserved codes): what a
    /// signature for a model whose outputs look like `data` would declare.
    ///
    /// ```
    /// use bprwire::{DataType, Element, TensorData};
    ///
    /// assert_eq!(Element::of(&TensorData::F32(&[1.0])), Some(Element::F32));
    /// let raw = TensorData::Raw { dtype: DataType::Int64, bytes: &[0; 8] };
    /// assert_eq!(Element::of(&raw), Some(Element::I64));
    /// ```
    pub fn of(data: &TensorData<'_>) -> Option<Element> {
        Some(match *data {
            TensorData::F32(_) => Element::F32,
            TensorData::F64(_) => Element::F64,
            TensorData::I32(_) => Element::I32,
            TensorData::I64(_) => Element::I64,
            TensorData::U8(_) => Element::U8,
            TensorData::Bool(_) => Element::Bool,
            TensorData::Str(_) | TensorData::Bytes(_) => Element::Str,
            TensorData::Binary(_) => Element::Binary,
            TensorData::Padded { kind, .. } => match kind {
                StringKind::Text => Element::Str,
                StringKind::Binary => Element::Binary,
            },
            TensorData::Raw { dtype, .. } => match dtype {
                DataType::Float => Element::F32,
                DataType::Double => Element::F64,
                DataType::Int32 => Element::I32,
                DataType::Int64 => Element::I64,
                DataType::Uint8 => Element::U8,
                DataType::Bool => Element::Bool,
                _ => return None,
            },
        })
    }
}

/// Builds a [`Signature`].
#[derive(Clone, Debug, Default)]
pub struct SignatureBuilder {
    continuous: Option<(Vec<i64>, Element)>,
    tensors: Vec<(i64, Element, Vec<usize>)>,
    encoding: TensorEncoding,
    level: Option<Level>,
}

impl SignatureBuilder {
    /// Continuous predictions under `keys` (one column each), of `element`
    /// `F32` or `F64`. With no keys, records get no continuous map (as
    /// twml writes them) and the values must be empty.
    pub fn continuous(mut self, keys: &[i64], element: Element) -> Self {
        self.continuous = Some((keys.to_vec(), element));
        self
    }

    /// One dense tensor under `key`: `[batch, row_shape...]` of `element`.
    pub fn tensor(mut self, key: i64, element: Element, row_shape: &[usize]) -> Self {
        self.tensors.push((key, element, row_shape.to_vec()));
        self
    }

    /// The tensor encoding (raw by default, as twml writes).
    pub fn encoding(mut self, encoding: TensorEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Forces a kernel level (tests and benches; the best one by default).
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// Runs every check that does not depend on the batch and lays out
    /// every byte that surrounds the data.
    ///
    /// # Errors
    ///
    /// [`Error::NoPredictions`] without continuous keys or tensors;
    /// [`Error::DuplicateKey`] for a key given twice in one map;
    /// [`Error::UnsupportedDataType`] for continuous values other than
    /// `F32`/`F64`; [`Error::TooLarge`] or [`Error::ShapeOverflow`] for a
    /// row the wire cannot hold; [`Error::LevelUnavailable`] for a forced
    /// level this CPU lacks.
    pub fn build(self) -> Result<Signature, Error> {
        let kernels = Kernels::select(self.level)?;
        if self.continuous.is_none() && self.tensors.is_empty() {
            return Err(Error::NoPredictions);
        }
        let mut record = RecordLen::new();
        let continuous = match self.continuous {
            None => None,
            Some((keys, element)) => {
                let c = Continuous::new(keys, element)?;
                record = record.continuous(c.keys.len())?;
                Some(c)
            }
        };
        let keys: Vec<i64> = self.tensors.iter().map(|t| t.0).collect();
        plan::check_keys(KeyMap::Tensors, &keys)?;
        if !self.tensors.is_empty() {
            record = record.tensors_map()?;
        }
        let mut tensors = Vec::with_capacity(self.tensors.len());
        for (index, (key, element, row_shape)) in self.tensors.into_iter().enumerate() {
            let t = Tensor::new(Input::Tensor { index, key }, element, &row_shape, self.encoding)?;
            record = record.tensor_row(
                templates_len(&t.layout.prefix, &t.layout.suffix),
                t.layout.row_out,
            )?;
            tensors.push(t);
        }
        Ok(Signature {
            kernels,
            record_fixed: record.get(),
            has_strings: tensors
                .iter()
                .any(|t| matches!(t.element, Element::Str | Element::Binary)),
            tensors_head: wire::map_head(field::TENSORS, ttype::STRUCT, tensors.len()),
            continuous,
            tensors,
        })
    }
}

#[derive(Clone, Debug)]
struct Continuous {
    /// Each record's map head, laid out once.
    head: [u8; FIELD_HEADER + MAP_HEADER],
    keys: Box<[i64]>,
    wide: bool,
}

impl Continuous {
    /// Continuous predictions under `keys`, of `element` `F32` or `F64`.
    fn new(keys: Vec<i64>, element: Element) -> Result<Continuous, Error> {
        let wide = match element {
            Element::F32 => false,
            Element::F64 => true,
            other => {
                return Err(Error::UnsupportedDataType {
                    input: Input::Continuous,
                    dtype: other.dtype(),
                })
            }
        };
        plan::check_keys(KeyMap::Continuous, &keys)?;
        Ok(Continuous {
            head: plan::continuous_head(keys.len()),
            keys: keys.into_boxed_slice(),
            wide,
        })
    }
}

#[derive(Clone, Debug)]
struct Tensor {
    key: i64,
    element: Element,
    layout: RowLayout,
    /// The conversion of raw BOOL bytes (normalised to 0/1), if it differs.
    raw_bool: Option<crate::kernels::Conversion>,
}

impl Tensor {
    /// One tensor's row layout (`input` names it in errors).
    fn new(
        input: Input,
        element: Element,
        row_shape: &[usize],
        encoding: TensorEncoding,
    ) -> Result<Tensor, Error> {
        let Input::Tensor { key, .. } = input else {
            unreachable!("a signature's tensor is named by its index and key")
        };
        let arm = string_arm(element == Element::Binary);
        let layout = RowLayout::new(
            input,
            key,
            element.dtype(),
            arm,
            false,
            row_shape,
            row_shape,
            encoding,
        )?;
        // A raw BOOL tensor from untyped bytes is normalised: the same
        // templates, another conversion (chosen per call).
        let raw_bool = if element == Element::Bool && encoding == TensorEncoding::Raw {
            let raw = RowLayout::new(
                input,
                key,
                DataType::Bool,
                arm,
                true,
                row_shape,
                row_shape,
                encoding,
            )?;
            raw.conversion
        } else {
            None
        };
        Ok(Tensor {
            key,
            element,
            layout,
            raw_bool,
        })
    }
}

/// A model's outputs apart from the batch: keys, element types, row
/// shapes and encoding, checked once, with every template byte laid out.
/// Made by [`Signature::builder`]; [`encoder`](Signature::encoder) then
/// checks only what depends on the batch (slice lengths, the batch size,
/// string lengths and UTF-8) and gives the same bytes as the one-shot
/// [`BatchPrediction`](crate::BatchPrediction) API.
#[derive(Clone, Debug)]
pub struct Signature {
    kernels: &'static Kernels,
    continuous: Option<Continuous>,
    tensors: Vec<Tensor>,
    tensors_head: [u8; FIELD_HEADER + MAP_HEADER],
    /// Bytes of one record apart from string elements.
    record_fixed: usize,
    has_strings: bool,
}

impl Signature {
    /// Starts a signature with no output.
    pub fn builder() -> SignatureBuilder {
        SignatureBuilder::default()
    }

    /// Number of dense tensors the signature has.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// The continuous keys (empty if none).
    pub fn continuous_keys(&self) -> &[i64] {
        self.continuous.as_ref().map_or(&[], |c| &c.keys)
    }

    /// The continuous values' element type (`F32` or `F64`), if the
    /// signature has continuous keys.
    pub fn continuous_element(&self) -> Option<Element> {
        self.continuous
            .as_ref()
            .map(|c| if c.wide { Element::F64 } else { Element::F32 })
    }

    /// The encoder of one batch: `batch` records, the continuous values
    /// (`batch × keys` elements, row-major) if the signature has any, and
    /// one [`TensorData`] per tensor, in the order they were added
    /// (`batch × row elements` each). No element is copied; no allocation
    /// for up to two tensors whose row shapes have fewer than 8 dimensions.
    ///
    /// # Errors
    ///
    /// [`Error::ElementCountMismatch`] for a slice of the wrong length,
    /// [`Error::TensorCountMismatch`] for the wrong number of tensors,
    /// [`Error::UnsupportedDataType`] for data of another element type than
    /// the signature's (or continuous values given to a signature without
    /// them), [`Error::InvalidUtf8`] / [`Error::TooLarge`] for strings,
    /// [`Error::PaddedLength`] for padded strings, [`Error::TooLarge`] for
    /// a batch over `i32::MAX` records.
    pub fn encoder<'a>(
        &'a self,
        batch: usize,
        continuous: Option<Values<'a>>,
        tensors: &[TensorData<'a>],
    ) -> Result<Encoder<'a>, Error> {
        let (continuous, bound, len) = self.bind(batch, continuous, tensors)?;
        Ok(Encoder::from_plan(Plan {
            kernels: self.kernels,
            batch,
            len,
            record_fixed: self.record_fixed,
            has_strings: self.has_strings,
            continuous,
            tensors_head: self.tensors_head,
            tensors: bound.into_iter().map(BoundTensor::into_plan).collect(),
        }))
    }

    /// Checks one batch (as [`encoder`](Self::encoder) does) and encodes
    /// it into the first bytes of `buf`; returns the length. The fastest
    /// way to encode a batch: the per-row templates stay in the signature
    /// (an [`Encoder`] copies them, so that it can also feed the sinks).
    /// No allocation for up to two tensors.
    ///
    /// # Errors
    ///
    /// As [`encoder`](Self::encoder), and [`Error::BufferTooSmall`] (before
    /// anything is written) if `buf` is shorter than the response.
    pub fn encode_into<'a>(
        &'a self,
        batch: usize,
        continuous: Option<Values<'a>>,
        tensors: &[TensorData<'a>],
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let (continuous, bound, len) = self.bind(batch, continuous, tensors)?;
        let dst = wire::prefix_mut(buf, len)?;
        let mut out = Out::new(dst);
        let Ok(()) = write_response(batch, continuous.as_ref(), &self.tensors_head, &bound, &mut out);
        debug_assert_eq!(
            out.remaining(),
            0,
            "the signature's length disagrees with the bytes written"
        );
        Ok(len)
    }

    /// The per-batch checks: the continuous plan, each tensor's data bound
    /// to its layout, and the exact length.
    // Inlined into both callers: returned through a `Result`, the bound
    // batch was copied twice (28 of W1's instructions).
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn bind<'a>(
        &'a self,
        batch: usize,
        continuous: Option<Values<'a>>,
        tensors: &[TensorData<'a>],
    ) -> Result<(Option<ContinuousPlan<'a>>, SmallVec<[BoundTensor<'a>; 2]>, usize), Error> {
        size::check_size(None, Size::Batch, batch)?;
        let continuous = match (&self.continuous, continuous) {
            (Some(c), Some(values)) => self.bind_continuous(c, batch, values)?,
            (None, None) => None,
            (Some(c), None) => {
                return Err(Error::ElementCountMismatch {
                    input: Input::Continuous,
                    shape: [batch, c.keys.len()].into(),
                    expected: batch * c.keys.len(),
                    found: 0,
                })
            }
            (None, Some(_)) => return Err(Error::KeyCountMismatch { keys: 0, last_dim: 1 }),
        };
        if tensors.len() != self.tensors.len() {
            return Err(Error::TensorCountMismatch {
                keys: self.tensors.len(),
                tensors: tensors.len(),
            });
        }
        let mut string_bytes = 0usize;
        let mut bound = SmallVec::new();
        for (index, (t, data)) in self.tensors.iter().zip(tensors).enumerate() {
            let (b, strings) = self.bind_tensor(index, t, batch, data)?;
            string_bytes = size::add(string_bytes, strings)?;
            bound.push(b);
        }
        let len = size::response_len(batch, self.record_fixed, string_bytes)?;
        Ok((continuous, bound, len))
    }

    #[inline(always)]
    fn bind_continuous<'a>(
        &'a self,
        c: &'a Continuous,
        batch: usize,
        values: Values<'a>,
    ) -> Result<Option<ContinuousPlan<'a>>, Error> {
        let input = Input::Continuous;
        let n = c.keys.len();
        let (bytes, wide, found) = values.checked()?;
        if wide != c.wide {
            return Err(Error::UnsupportedDataType {
                input,
                dtype: if wide { DataType::Double } else { DataType::Float },
            });
        }
        let expected = size::mul(batch, n)?;
        size::check_count(input, expected, found, || [batch, n].into())?;
        if n == 0 {
            return Ok(None);
        }
        let stop = self.tensors.is_empty();
        Ok(Some(ContinuousPlan::new(
            c.head,
            &c.keys,
            bytes,
            wide,
            stop,
            self.kernels,
        )))
    }

    fn bind_tensor<'a>(
        &'a self,
        index: usize,
        t: &'a Tensor,
        batch: usize,
        data: &TensorData<'a>,
    ) -> Result<(BoundTensor<'a>, usize), Error> {
        let input = Input::Tensor { index, key: t.key };
        let found_element = Element::of(data);
        if found_element != Some(t.element) {
            let dtype = match *data {
                TensorData::Raw { dtype, .. } => dtype,
                _ => found_element.map_or(DataType::String, Element::dtype),
            };
            return Err(Error::UnsupportedDataType { input, dtype });
        }
        let row_elems = t.layout.row_elems;
        let expected = size::mul(batch, row_elems)?;
        let (source, count) = plan::counted_source(input, data, expected, || [batch, row_elems].into())?;
        let conversion = match data {
            TensorData::Raw { .. } if t.raw_bool.is_some() => t.raw_bool,
            _ => t.layout.conversion,
        };
        let facts = (row_elems, t.layout.in_size, conversion);
        let (source, strings, row_in) = plan::bind_rows(input, data, source, count, facts, self.kernels)?;
        Ok((
            BoundTensor {
                layout: &t.layout,
                source,
                row_in,
            },
            strings,
        ))
    }
}

/// One tensor of a batch: its data bound to the signature's row layout.
struct BoundTensor<'a> {
    layout: &'a RowLayout,
    source: Source<'a>,
    row_in: usize,
}

impl<'a> BoundTensor<'a> {
    /// The one-shot plan's form (the templates copied), for an [`Encoder`].
    fn into_plan(self) -> TensorPlan<'a> {
        TensorPlan {
            source: self.source,
            row_in: self.row_in,
            row_out: self.layout.row_out,
            prefix: self.layout.prefix.clone(),
            suffix: self.layout.suffix.clone(),
        }
    }
}

impl<'a> TensorRows<'a> for BoundTensor<'a> {
    #[inline(always)]
    fn prefix(&self) -> &Template {
        &self.layout.prefix
    }
    #[inline(always)]
    fn suffix(&self) -> &Template {
        &self.layout.suffix
    }
    #[inline(always)]
    fn source(&self) -> &Source<'a> {
        &self.source
    }
    #[inline(always)]
    fn row_in(&self) -> usize {
        self.row_in
    }
    #[inline(always)]
    fn row_out(&self) -> usize {
        self.layout.row_out
    }
}
