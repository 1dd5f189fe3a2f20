//! The fast path: the exact layout bprwire (and twml) writes, read without
//! the general field loop.
//!
//! A `DataRecord` of bprwire holds `continuousFeatures` (field 2, a
//! `map<i64, double>`), `tensors` (field 8, a `map<i64, GeneralTensor>`)
//! or both, in that order, and nothing else; a record of a request as
//! `FeatureLayout::write_request` writes it may also start with
//! `binaryFeatures` (field 1, a `set<i64>`) and then hold
//! `discreteFeatures` (field 3, a `map<i64, i64>`) after the continuous
//! map (a record with discrete but no binary features takes the general
//! path); each tensor is one arm with
//! its fields in ascending order, the shape present. [`Reader::fast_record`]
//! and [`Reader::fast_tensor`] recognise exactly that, checking everything
//! the general reader checks on it (sizes against the input, UTF-8
//! strings, 0/1 bools, the nesting depth), and build the same views the
//! general reader would. On anything else (another field, another order, a
//! missing shape, an unknown field, a value the general reader would
//! refuse) they return `None` having consumed nothing, and the general
//! reader reads the struct from its start: so both paths give identical
//! views, and every error comes from the general reader, with its offset
//! and item. The tests and the `decode` fuzz target decode every input
//! both ways (`decode_response_general` forces the general reader) and
//! compare.

use super::element::{Element, List, Map, Set};
use super::reader::Reader;
use super::record::{GeneralTensor, RawTensor, Record, TypedTensor};
use super::MAX_DEPTH;
use crate::wire::{field, ttype};

/// Nesting the general reader enters to read one tensor value: the union,
/// the arm's struct, and its shape list.
const TENSOR_DEPTH: usize = 3;
/// Nesting for a record: its struct, a map, then a tensor value.
const RECORD_DEPTH: usize = 2 + TENSOR_DEPTH;

impl<'a> Reader<'a> {
    /// A `DataRecord` in bprwire's layout at the reader's position, or
    /// `None` (nothing consumed).
    #[inline]
    pub(crate) fn fast_record(&mut self) -> Option<Record<'a>> {
        // A response's record first; a request's (which starts with its
        // binary features) only when that fails, so responses pay nothing
        // for it.
        match self.fast_record_parts() {
            Some(parts) => Some(Record {
                continuous_features: parts.continuous.map(|(bytes, n)| Map::from_parts(bytes, n)),
                tensors: parts.tensors.map(|(bytes, n)| Map::from_parts(bytes, n)),
                ..Record::default()
            }),
            None => self.fast_request_record(),
        }
    }

    /// [`fast_record`](Self::fast_record), for the checking pass that
    /// keeps no view: whether a record in bprwire's layout was read (and
    /// checked) at the reader's position; nothing consumed if not.
    #[inline]
    pub(crate) fn fast_record_check(&mut self) -> bool {
        self.fast_record_parts().is_some() || self.fast_request_record().is_some()
    }

    /// Reads and checks a record in bprwire's layout: where its two maps'
    /// entries are, and how many; `None` with nothing consumed otherwise.
    #[inline(always)]
    fn fast_record_parts(&mut self) -> Option<RecordParts<'a>> {
        // The same guard and rewind as `fast_tensor`, written out in both:
        // one helper taking the reader as a closure cost the decode
        // workloads 6-10% more instructions (iai, W5 268,832 -> 294,457).
        if !self.fast || self.depth() + RECORD_DEPTH > MAX_DEPTH {
            return None;
        }
        let start = self.pos();
        let parts = self.fast_record_inner();
        if parts.is_none() {
            self.rewind(start);
        }
        parts
    }

    fn fast_record_inner(&mut self) -> Option<RecordParts<'a>> {
        let mut parts = RecordParts::default();
        if self.take_if([ttype::MAP, 0, field::CONTINUOUS as u8, ttype::I64, ttype::DOUBLE]) {
            let n = self.fast_size(16)?;
            parts.continuous = Some((self.take(n * 16)?, n));
        }
        parts.tensors = self.fast_tensors_map()?;
        self.take_if([ttype::STOP]).then_some(parts)
    }

    /// The `tensors` map, if it is next: `Some(None)` if it is not, `None`
    /// if it is and is not in bprwire's layout.
    #[inline(always)]
    fn fast_tensors_map(&mut self) -> Option<Option<(&'a [u8], usize)>> {
        if !self.take_if([ttype::MAP, 0, field::TENSORS as u8, ttype::I64, ttype::STRUCT]) {
            return Some(None);
        }
        // Each entry: an i64 key and at least the 3 + 2 bytes of a union.
        let k = self.fast_size(8 + 5)?;
        let start = self.pos();
        for _ in 0..k {
            self.take(8)?;
            self.fast_tensor_parts()?;
        }
        Some(Some((self.since(start), k)))
    }

    /// A request's record as `FeatureLayout::write_request` writes it:
    /// `binaryFeatures` first, then the
    /// continuous, discrete and tensor maps, each optional. Out of line
    /// and kept apart from [`fast_record_inner`](Self::fast_record_inner):
    /// folding these fields into it cost the response workloads 8-17%
    /// more decode instructions (iai, W2 45,458 -> 53,376).
    #[inline(never)]
    fn fast_request_record(&mut self) -> Option<Record<'a>> {
        if !self.fast || self.depth() + RECORD_DEPTH > MAX_DEPTH {
            return None;
        }
        let start = self.pos();
        let record = self.fast_request_record_inner();
        if record.is_none() {
            self.rewind(start);
        }
        record
    }

    fn fast_request_record_inner(&mut self) -> Option<Record<'a>> {
        let mut record = Record::default();
        if !self.take_if([ttype::SET, 0, field::BINARY as u8, ttype::I64]) {
            return None;
        }
        let n = self.fast_size(8)?;
        record.binary_features = Some(Set(List::from_parts(self.take(n * 8)?, n)));
        if self.take_if([ttype::MAP, 0, field::CONTINUOUS as u8, ttype::I64, ttype::DOUBLE]) {
            let n = self.fast_size(16)?;
            record.continuous_features = Some(Map::from_parts(self.take(n * 16)?, n));
        }
        if self.take_if([ttype::MAP, 0, field::DISCRETE as u8, ttype::I64, ttype::I64]) {
            let n = self.fast_size(16)?;
            record.discrete_features = Some(Map::from_parts(self.take(n * 16)?, n));
        }
        record.tensors = self
            .fast_tensors_map()?
            .map(|(bytes, n)| Map::from_parts(bytes, n));
        self.take_if([ttype::STOP]).then_some(record)
    }

    /// A `GeneralTensor` in bprwire's layout (after its map key), or `None`
    /// (nothing consumed).
    #[inline]
    pub(crate) fn fast_tensor(&mut self) -> Option<GeneralTensor<'a>> {
        if !self.fast || self.depth() + TENSOR_DEPTH > MAX_DEPTH {
            return None;
        }
        let start = self.pos();
        let t = self.fast_tensor_inner();
        if t.is_none() {
            self.rewind(start);
        }
        t
    }

    fn fast_tensor_inner(&mut self) -> Option<GeneralTensor<'a>> {
        self.fast_tensor_parts().map(Parts::view)
    }

    /// Reads and checks one tensor in bprwire's layout, returning where its
    /// parts are (the view is built only by whoever needs it: a record's
    /// pass over its tensors map needs only the checks and the end). Every
    /// part is located by its offset in one slice of the input, with one
    /// bounds check per variable part.
    #[inline(always)]
    fn fast_tensor_parts(&mut self) -> Option<Parts<'a>> {
        let rest = self.buf().get(self.pos()..)?;
        let [t, hi, arm] = *rest.first_chunk::<3>()?;
        if t != ttype::STRUCT || hi != 0 {
            return None;
        }
        // Fixed-size elements (raw content included) are located directly;
        // strings and bools need a look at each element.
        let width = match i16::from(arm) {
            field::RAW_TYPED_TENSOR => 0,
            field::INT32_TENSOR => 4,
            field::INT64_TENSOR | field::FLOAT_TENSOR | field::DOUBLE_TENSOR => 8,
            _ => return self.fast_tensor_with_elements(rest, arm),
        };
        let (data_type, values, n, at) = if width == 0 {
            // `08 00 01 <dataType>` `0B 00 02 <content length>`
            let h = rest.get(3..)?.first_chunk::<14>()?;
            if [h[0], h[1], h[2]] != [ttype::I32, 0, field::RAW_DATA_TYPE as u8]
                || [h[7], h[8], h[9]] != [ttype::STRING, 0, field::RAW_CONTENT as u8]
            {
                return None;
            }
            let data_type = i32::from_be_bytes([h[3], h[4], h[5], h[6]]);
            let len = be_size([h[10], h[11], h[12], h[13]])?;
            (data_type, rest.get(17..)?.get(..len)?, len, 17 + len)
        } else {
            // `0F 00 01 <element type> <count>`, then the elements.
            let elem = elem_type(arm)?;
            let h = rest.get(3..)?.first_chunk::<8>()?;
            if [h[0], h[1], h[2], h[3]] != [ttype::LIST, 0, field::TYPED_VALUES as u8, elem] {
                return None;
            }
            let n = be_size([h[4], h[5], h[6], h[7]])?;
            let values = rest.get(11..)?.get(..n.checked_mul(width)?)?;
            (0, values, n, 11 + values.len())
        };
        self.fast_tensor_end(rest, arm, data_type, values, n, at)
    }

    /// A string, binary or bool tensor (see [`fast_tensor_parts`](Self::fast_tensor_parts)).
    #[inline(always)]
    fn fast_tensor_with_elements(&mut self, rest: &'a [u8], arm: u8) -> Option<Parts<'a>> {
        let elem = elem_type(arm)?;
        let h = rest.get(3..)?.first_chunk::<8>()?;
        if [h[0], h[1], h[2], h[3]] != [ttype::LIST, 0, field::TYPED_VALUES as u8, elem] {
            return None;
        }
        let n = be_size([h[4], h[5], h[6], h[7]])?;
        let elements = rest.get(11..)?;
        let values = if elem == ttype::BOOL {
            let b = elements.get(..n)?;
            (self.trusted || b.iter().all(|&x| x <= 1)).then_some(b)?
        } else {
            self.checked_strings(elements, n, i16::from(arm) == field::STRING_TENSOR)?
        };
        self.fast_tensor_end(rest, arm, 0, values, n, 11 + values.len())
    }

    /// The shape and the two STOPs after a tensor's values, which end at
    /// `at` in `rest`; then the parts, the reader moved past them.
    #[inline(always)]
    fn fast_tensor_end(
        &mut self,
        rest: &'a [u8],
        arm: u8,
        data_type: i32,
        values: &'a [u8],
        n: usize,
        at: usize,
    ) -> Option<Parts<'a>> {
        let shape_id = if i16::from(arm) == field::RAW_TYPED_TENSOR {
            field::RAW_SHAPE
        } else {
            field::TYPED_SHAPE
        };
        // `0F 00 <shape id> 0A <count>`, the dims, then the ends of the arm's
        // struct and of the union.
        let h = rest.get(at..)?.first_chunk::<8>()?;
        if [h[0], h[1], h[2], h[3]] != [ttype::LIST, 0, shape_id as u8, ttype::I64] {
            return None;
        }
        let m = be_size([h[4], h[5], h[6], h[7]])?;
        let shape = rest.get(at + 8..)?.get(..m.checked_mul(8)?)?;
        let end = at + 8 + shape.len();
        if rest.get(end..)?.first_chunk::<2>()? != &[ttype::STOP, ttype::STOP] {
            return None;
        }
        self.pos_add(end + 2);
        Some(Parts {
            arm,
            data_type,
            values,
            n,
            shape,
            m,
        })
    }

    /// The first `n` strings (or binaries) of `bytes`, each a length and its
    /// bytes, UTF-8 if `utf8` (unless the bytes were checked already): the
    /// bytes of all of them, or `None` if they do not fit or one is refused.
    #[inline(always)]
    fn checked_strings(&self, bytes: &'a [u8], n: usize, utf8: bool) -> Option<&'a [u8]> {
        // The general reader's bound first: n strings of at least 4 bytes.
        if n.checked_mul(4)? > bytes.len() {
            return None;
        }
        let check = utf8 && !self.trusted;
        let mut rest = bytes;
        for _ in 0..n {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = be_size(*len)?;
            if len > tail.len() {
                return None;
            }
            let (s, tail) = tail.split_at(len);
            if check && !crate::wire::is_utf8(s) {
                return None;
            }
            rest = tail;
        }
        Some(&bytes[..bytes.len() - rest.len()])
    }

    /// A size (i32): `None` if negative or if that many elements of at
    /// least `min` bytes cannot fit in what is left (the general reader's
    /// bound).
    #[inline(always)]
    fn fast_size(&mut self, min: usize) -> Option<usize> {
        let n = usize::try_from(i32::from_be_bytes(*self.peek::<4>()?)).ok()?;
        self.pos_add(4);
        // n < 2^31 and min <= 16: no overflow.
        (n * min <= self.remaining()).then_some(n)
    }
}

/// Where one tensor's parts are, as [`Reader::fast_tensor_parts`] found
/// them: its arm, its `dataType` (raw tensors), its content or element
/// list (`n` bytes or elements), and its shape (`m` dims).
struct Parts<'a> {
    arm: u8,
    data_type: i32,
    values: &'a [u8],
    n: usize,
    shape: &'a [u8],
    m: usize,
}

impl<'a> Parts<'a> {
    /// The view the general reader builds for the same bytes.
    fn view(self) -> GeneralTensor<'a> {
        let shape = Some(List::from_parts(self.shape, self.m));
        match i16::from(self.arm) {
            field::RAW_TYPED_TENSOR => GeneralTensor::Raw(RawTensor {
                data_type: self.data_type,
                content: self.values,
                shape,
            }),
            field::STRING_TENSOR => GeneralTensor::String(self.typed(shape)),
            field::INT32_TENSOR => GeneralTensor::Int32(self.typed(shape)),
            field::INT64_TENSOR => GeneralTensor::Int64(self.typed(shape)),
            field::FLOAT_TENSOR => GeneralTensor::Float(self.typed(shape)),
            field::DOUBLE_TENSOR => GeneralTensor::Double(self.typed(shape)),
            field::BOOL_TENSOR => GeneralTensor::Bool(self.typed(shape)),
            _ => GeneralTensor::Binary(self.typed(shape)),
        }
    }

    fn typed<T: Element<'a>>(&self, shape: Option<List<'a, i64>>) -> TypedTensor<'a, T> {
        TypedTensor {
            values: List::from_parts(self.values, self.n),
            shape,
        }
    }
}

/// A size read from the wire, refused (`None`) if negative.
#[inline(always)]
fn be_size(b: [u8; 4]) -> Option<usize> {
    usize::try_from(i32::from_be_bytes(b)).ok()
}

/// The element type of a typed arm's list (`None`: not a typed arm).
#[inline(always)]
fn elem_type(arm: u8) -> Option<u8> {
    Some(match i16::from(arm) {
        field::STRING_TENSOR | field::BINARY_TENSOR => ttype::STRING,
        field::INT32_TENSOR => ttype::I32,
        field::INT64_TENSOR => ttype::I64,
        field::FLOAT_TENSOR | field::DOUBLE_TENSOR => ttype::DOUBLE,
        field::BOOL_TENSOR => ttype::BOOL,
        _ => return None,
    })
}

/// Where a record's two maps' entries are, and how many, as
/// [`Reader::fast_record_parts`] found them.
#[derive(Default)]
struct RecordParts<'a> {
    continuous: Option<(&'a [u8], usize)>,
    tensors: Option<(&'a [u8], usize)>,
}
