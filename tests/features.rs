//! The feature layout against a naive scatter over the reference decoder's
//! structs (`bprwire_reference::naive`): requests with every field kind,
//! random feature sets, common features, every tensor arm, repeated keys
//! and unknown fields; the request writer's round trip
//! (`scatter(write(rows)) == rows`); and every error.

use std::collections::BTreeMap;

use bprwire::decode::decode_request;
use bprwire::features::{
    Array, Buffers, FeatureError, FeatureKind, FeatureLayout, LayoutError, Location, Output, OutputType,
    Outputs, Rows,
};
use bprwire::Level;
use bprwire_reference::naive::{self, as_naive, bits, NaiveError, NaiveLayout, NaiveOutputs};
use bprwire_reference::twml::prediction_service::BatchPredictionRequest;
use bprwire_reference::twml::tensor as t;
use bprwire_reference::DataRecord;
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use thrift::OrderedFloat;

/// Feature ids drawn from a small pool, so that layouts and requests meet
/// (and miss) often; the pool mixes small and hash-like ids.
fn id() -> impl Strategy<Value = i64> {
    prop_oneof![
        0i64..12,
        Just(i64::MIN),
        Just(i64::MAX),
        Just(-0x5D8A_3F11_0C2B_7E44)
    ]
}

fn ids() -> impl Strategy<Value = Vec<i64>> {
    btree_set(id(), 0..8)
        .prop_map(|s| s.into_iter().collect())
        .prop_shuffle()
}

fn dtype(of: &'static [OutputType]) -> impl Strategy<Value = OutputType> {
    proptest::sample::select(of)
}

fn default() -> impl Strategy<Value = f64> {
    prop_oneof![Just(f64::NAN), Just(0.0), Just(-1.5), any::<f64>()]
}

/// A layout with any subset of the four kinds.
fn layout() -> impl Strategy<Value = FeatureLayout> {
    use OutputType::*;
    (
        proptest::option::of((ids(), dtype(&[F32, F64]), default())),
        proptest::option::of((ids(), dtype(&[F32, I64, U8]))),
        proptest::option::of((ids(), any::<i64>())),
        btree_map(id(), (0usize..5, dtype(&[F32, F64, I64])), 0..4),
    )
        .prop_map(|(c, b, d, ts)| {
            let mut l = FeatureLayout::builder();
            if let Some((ids, t, def)) = c {
                l = l.continuous(&ids, t, def);
            }
            if let Some((ids, t)) = b {
                l = l.binary(&ids, t);
            }
            if let Some((ids, def)) = d {
                l = l.discrete(&ids, def);
            }
            for (id, (w, t)) in ts {
                l = l.tensor(id, w, t);
            }
            l.build().unwrap()
        })
}

fn f64s() -> impl Strategy<Value = OrderedFloat<f64>> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::NAN),
        Just(-0.0),
        -3.0..3.0f64
    ]
    .prop_map(OrderedFloat)
}

fn elements<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    vec(s, 0..5)
}

/// Every arm, numeric or not; widths 0..5 so that they match the layout's
/// sometimes, and raw content of any length and data type.
fn general_tensor() -> impl Strategy<Value = t::GeneralTensor> {
    use t::GeneralTensor as G;
    prop_oneof![
        4 => elements(f64s()).prop_map(|v| G::FloatTensor(t::FloatTensor::new(v, None))),
        2 => elements(f64s()).prop_map(|v| G::DoubleTensor(t::DoubleTensor::new(v, None))),
        2 => elements(any::<i32>()).prop_map(|v| G::Int32Tensor(t::Int32Tensor::new(v, None))),
        2 => elements(any::<i64>()).prop_map(|v| G::Int64Tensor(t::Int64Tensor::new(v, None))),
        2 => elements(any::<bool>()).prop_map(|v| G::BoolTensor(t::BoolTensor::new(v, Some(vec![9])))),
        4 => (prop_oneof![0i32..8, Just(99)], vec(any::<u8>(), 0..33))
            .prop_map(|(d, c)| G::RawTypedTensor(t::RawTypedTensor::new(t::DataType(d), c, None))),
        1 => elements("[a-z]{0,3}").prop_map(|v| G::StringTensor(t::StringTensor::new(v, None))),
        1 => elements(vec(any::<u8>(), 0..3)).prop_map(|v| G::BinaryTensor(t::BinaryTensor::new(v, None))),
    ]
}

fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    proptest::option::weighted(0.7, s)
}

/// A record with the four kinds the layout reads, and some it does not.
fn record() -> impl Strategy<Value = DataRecord> {
    (
        opt(btree_set(id(), 0..6)),
        opt(btree_map(id(), f64s(), 0..8)),
        opt(btree_map(id(), any::<i64>(), 0..6)),
        opt(btree_map(id(), "[a-z]{0,4}", 0..3)),
        opt(btree_map(id(), general_tensor(), 0..4)),
    )
        .prop_map(|(b, c, d, s, ts)| DataRecord::new(b, c, d, s, None, None, None, ts, None))
}

fn request() -> impl Strategy<Value = BatchPredictionRequest> {
    (vec(record(), 0..6), opt(record())).prop_map(|(r, c)| BatchPredictionRequest::new(r, c))
}

/// Scatters `bytes` at `level` into fresh buffers (with room for two rows
/// more than needed, which must stay untouched) and compares with `want`.
fn agrees(
    layout: &FeatureLayout,
    bytes: &[u8],
    want: &Result<NaiveOutputs, NaiveError>,
    level: Level,
    skips: bool,
) -> Result<(), TestCaseError> {
    let request = decode_request(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let rows = request.len();
    let mut buffers = Buffers::new(layout, rows + 2).unwrap();
    let got = layout.scatter_with(&request, &mut buffers.outputs(), level);
    let want = match (got, want) {
        (Err(e), Err(w)) => {
            let got = as_naive(&e);
            prop_assert_eq!(got.as_ref(), Some(w), "{}", e);
            return Ok(());
        }
        (Ok(done), Ok(w)) => {
            prop_assert_eq!(done.rows, rows);
            if skips {
                prop_assert_eq!(done.skipped, w.skipped);
            }
            w
        }
        (got, want) => return Err(TestCaseError::fail(format!("bprwire {got:?}, naive {want:?}"))),
    };
    let check =
        |name: &str, got: Option<&Array>, want: &Option<Array>, n: usize| -> Result<(), TestCaseError> {
            match (got, want) {
                (None, None) => Ok(()),
                (Some(g), Some(w)) => {
                    prop_assert_eq!(bits(g, rows * n), bits(w, rows * n), "{}", name);
                    // The rows after the request's are not written.
                    prop_assert!(
                        bits(g, g.len())[rows * n..].iter().all(|&b| b == 0),
                        "{} wrote past its rows",
                        name
                    );
                    Ok(())
                }
                _ => Err(TestCaseError::fail(format!("{name}: one side has no array"))),
            }
        };
    check(
        "continuous",
        buffers.continuous(),
        &want.continuous,
        layout.continuous_ids().len(),
    )?;
    check(
        "binary",
        buffers.binary(),
        &want.binary,
        layout.binary_ids().len(),
    )?;
    check(
        "discrete",
        buffers.discrete(),
        &want.discrete,
        layout.discrete_ids().len(),
    )?;
    for (tf, (id, w)) in layout.tensors().iter().zip(&want.tensors) {
        check(
            &format!("tensor {id}"),
            buffers.tensor(*id),
            &Some(w.clone()),
            tf.width,
        )?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Reference-encoded requests scatter as the naive scatter over the
    /// reference decoder's structs does, at every level this CPU has, and
    /// they skip the same unknown ids.
    #[test]
    fn scatter_equals_the_naive_scatter_of_the_reference_structs(layout in layout(), req in request()) {
        let bytes = bprwire_reference::serialize_request(&req);
        let want = naive::scatter(&NaiveLayout::new(&layout), &req);
        for level in Level::available() {
            agrees(&layout, &bytes, &want, level, true)?;
        }
    }

    /// Hand-written requests with repeated keys in every map and unknown
    /// fields in the request and its records: the last value of a key
    /// wins, as in the reference decoder, and unknown fields are skipped.
    #[test]
    fn repeated_keys_keep_the_last_value_and_unknown_fields_are_skipped(
        layout in layout(),
        records in vec(raw_record(), 0..5),
        common in opt(raw_record()),
    ) {
        let bytes = raw_request(&records, common.as_ref());
        let reference = bprwire_reference::deserialize_request(&bytes).map_err(TestCaseError::fail)?;
        let want = naive::scatter(&NaiveLayout::new(&layout), &reference);
        // Skip counts differ by design: bprwire counts each entry on the
        // wire, the reference's maps have already merged repeated keys.
        agrees(&layout, &bytes, &want, Level::best(), false)?;
    }

    /// Dense rows written as a request scatter back to the same bits, for
    /// every kind and type, with and without a common row; the bytes are
    /// a request the reference decoder reads as the naive scatter expects.
    #[test]
    fn scatter_of_written_rows_gives_the_rows_back(layout in layout(), seed in any::<u64>(), rows in 0usize..5, with_common in any::<bool>()) {
        let data = Data::random(&layout, rows, seed);
        let common = with_common.then(|| Data::random(&layout, 1, seed ^ 0xC0FFEE));
        let common_rows = common.as_ref().map(|c| c.rows(&layout, 1));
        // Rows must keep every binary feature of the common row.
        let data = match &common {
            Some(c) => data.with_binary_of(c, rows),
            None => data,
        };
        let written = layout.write_request(&data.rows(&layout, rows), common_rows.as_ref()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes = written.encode_to_vec();
        prop_assert_eq!(bytes.len(), written.encoded_len());

        let mut buffers = Buffers::new(&layout, rows).unwrap();
        let done = layout.scatter_bytes(&bytes, &mut buffers.outputs()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(done.rows, rows);
        prop_assert_eq!(done.skipped.total(), 0);
        for (name, got, want) in data.pairs(&buffers) {
            prop_assert_eq!(bits(got, got.len()), bits(&want, want.len()), "{}", name);
        }
        let reference = bprwire_reference::deserialize_request(&bytes).map_err(TestCaseError::fail)?;
        let naive = naive::scatter(&NaiveLayout::new(&layout), &reference).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        if let Some(c) = &naive.continuous {
            prop_assert_eq!(bits(c, c.len()), bits(buffers.continuous().unwrap(), c.len()));
        }
    }
}

// ---- Dense rows for the round trip. ----

/// Owned arrays for every output of a layout.
struct Data {
    continuous: Option<Array>,
    binary: Option<Array>,
    discrete: Option<Array>,
    tensors: Vec<(i64, Array)>,
}

impl Data {
    fn random(layout: &FeatureLayout, rows: usize, seed: u64) -> Data {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut fill = |dtype: OutputType, len: usize, binary: bool, default: Option<f64>| {
            let mut a = Array::zeros(dtype, len);
            for i in 0..len {
                let r = next();
                // A quarter of the values are the default: left out.
                let v = if binary {
                    (r & 1) as f64
                } else if r % 4 == 0 {
                    default.unwrap_or(0.0)
                } else {
                    ((r >> 8) % 2001) as f64 / 8.0 - 125.0
                };
                match &mut a {
                    Array::F32(x) => x[i] = v as f32,
                    Array::F64(x) => x[i] = v,
                    Array::I64(x) => x[i] = v as i64,
                    Array::U8(x) => x[i] = v as u8,
                }
            }
            a
        };
        use FeatureKind as K;
        let kind = |k, ids: &[i64]| layout.output_type(k).map(|t| (t, ids.len()));
        Data {
            continuous: kind(K::Continuous, layout.continuous_ids())
                .map(|(t, n)| fill(t, rows * n, false, layout.continuous_default())),
            binary: kind(K::Binary, layout.binary_ids()).map(|(t, n)| fill(t, rows * n, true, None)),
            discrete: kind(K::Discrete, layout.discrete_ids())
                .map(|(t, n)| fill(t, rows * n, false, layout.discrete_default().map(|d| d as f64))),
            tensors: layout
                .tensors()
                .iter()
                .map(|t| (t.id, fill(t.dtype, rows * t.width, false, Some(0.0))))
                .collect(),
        }
    }

    /// Sets every binary feature the common row has in every row.
    fn with_binary_of(mut self, common: &Data, rows: usize) -> Data {
        if let (Some(a), Some(c)) = (&mut self.binary, &common.binary) {
            let n = c.len();
            let on: Vec<usize> = (0..n).filter(|&j| bits(c, n)[j] != 0).collect();
            for r in 0..rows {
                for &j in &on {
                    match a {
                        Array::F32(x) => x[r * n + j] = 1.0,
                        Array::I64(x) => x[r * n + j] = 1,
                        Array::U8(x) => x[r * n + j] = 1,
                        Array::F64(x) => x[r * n + j] = 1.0,
                    }
                }
            }
        }
        self
    }

    fn rows(&self, _layout: &FeatureLayout, rows: usize) -> Rows<'_> {
        let mut r = Rows::new(rows);
        if let Some(a) = &self.continuous {
            r = r.continuous(a.as_ref());
        }
        if let Some(a) = &self.binary {
            r = r.binary(a.as_ref());
        }
        if let Some(a) = &self.discrete {
            r = r.discrete(a.as_i64().unwrap());
        }
        for (id, a) in &self.tensors {
            r = r.tensor(*id, a.as_ref());
        }
        r
    }

    /// (name, scattered, written) for every array.
    fn pairs<'b>(&self, b: &'b Buffers) -> Vec<(String, &'b Array, Array)> {
        let mut out = Vec::new();
        for (name, got, want) in [
            ("continuous", b.continuous(), &self.continuous),
            ("binary", b.binary(), &self.binary),
            ("discrete", b.discrete(), &self.discrete),
        ] {
            if let (Some(g), Some(w)) = (got, want) {
                out.push((name.to_string(), g, w.clone()));
            }
        }
        for (id, w) in &self.tensors {
            out.push((format!("tensor {id}"), b.tensor(*id).unwrap(), w.clone()));
        }
        out
    }
}

// ---- Hand-written requests: repeated keys, unknown fields. ----

#[derive(Clone, Debug)]
enum RawField {
    Binary(Vec<i64>),
    Continuous(Vec<(i64, f64)>),
    Discrete(Vec<(i64, i64)>),
    FloatTensors(Vec<(i64, Vec<f64>)>),
    /// An unknown field id (10..=40) holding an i32.
    Unknown(i16, i32),
}

fn raw_field() -> impl Strategy<Value = RawField> {
    // Few ids, many entries: keys repeat.
    let key = 0i64..6;
    prop_oneof![
        vec(key.clone(), 0..6).prop_map(RawField::Binary),
        vec((key.clone(), f64s().prop_map(|f| f.0)), 0..8).prop_map(RawField::Continuous),
        vec((key.clone(), any::<i64>()), 0..6).prop_map(RawField::Discrete),
        // Keys in ascending order (repeats kept, in order): with two bad
        // tensors in one record, bprwire reports the first on the wire and
        // the naive scatter the first in its `BTreeMap`; sorted, they agree.
        vec((key, vec(-4.0..4.0f64, 0..4)), 0..3).prop_map(|mut e| {
            e.sort_by_key(|(k, _)| *k);
            RawField::FloatTensors(e)
        }),
        (10i16..=40, any::<i32>()).prop_map(|(id, v)| RawField::Unknown(id, v)),
    ]
}

/// Fields in ascending id order (each known field once), unknown fields
/// between them.
fn raw_record() -> impl Strategy<Value = Vec<RawField>> {
    vec(raw_field(), 0..6).prop_map(|mut fs| {
        let rank = |f: &RawField| match f {
            RawField::Binary(_) => 1,
            RawField::Continuous(_) => 2,
            RawField::Discrete(_) => 3,
            RawField::FloatTensors(_) => 8,
            RawField::Unknown(id, _) => *id,
        };
        fs.sort_by_key(rank);
        fs.dedup_by_key(|f| rank(f));
        fs
    })
}

fn put_record(out: &mut Vec<u8>, fields: &[RawField]) {
    for f in fields {
        match f {
            RawField::Binary(ids) => {
                out.extend([14, 0, 1, 10]);
                out.extend((ids.len() as i32).to_be_bytes());
                ids.iter().for_each(|i| out.extend(i.to_be_bytes()));
            }
            RawField::Continuous(e) => {
                out.extend([13, 0, 2, 10, 4]);
                out.extend((e.len() as i32).to_be_bytes());
                for (k, v) in e {
                    out.extend(k.to_be_bytes());
                    out.extend(v.to_be_bytes());
                }
            }
            RawField::Discrete(e) => {
                out.extend([13, 0, 3, 10, 10]);
                out.extend((e.len() as i32).to_be_bytes());
                for (k, v) in e {
                    out.extend(k.to_be_bytes());
                    out.extend(v.to_be_bytes());
                }
            }
            RawField::FloatTensors(e) => {
                out.extend([13, 0, 8, 10, 12]);
                out.extend((e.len() as i32).to_be_bytes());
                for (k, v) in e {
                    out.extend(k.to_be_bytes());
                    // GeneralTensor.floatTensor { 1: list<double> }
                    out.extend([12, 0, 5, 15, 0, 1, 4]);
                    out.extend((v.len() as i32).to_be_bytes());
                    v.iter().for_each(|x| out.extend(x.to_be_bytes()));
                    out.extend([0, 0]);
                }
            }
            RawField::Unknown(id, v) => {
                out.push(8);
                out.extend(id.to_be_bytes());
                out.extend(v.to_be_bytes());
            }
        }
    }
    out.push(0);
}

fn raw_request(records: &[Vec<RawField>], common: Option<&Vec<RawField>>) -> Vec<u8> {
    let mut out = vec![15, 0, 1, 12];
    out.extend((records.len() as i32).to_be_bytes());
    records.iter().for_each(|r| put_record(&mut out, r));
    if let Some(c) = common {
        out.extend([12, 0, 2]);
        put_record(&mut out, c);
    }
    // An unknown field of the request itself.
    out.extend([11, 0, 9, 0, 0, 0, 2, b'h', b'i', 0]);
    out
}

// ---- Examples and errors. ----

fn small_layout() -> FeatureLayout {
    FeatureLayout::builder()
        .continuous(&[10, 11, 12], OutputType::F32, f64::NAN)
        .binary(&[20, 21], OutputType::U8)
        .discrete(&[30], -1)
        .tensor(40, 3, OutputType::F32)
        .build()
        .unwrap()
}

fn request_bytes(records: Vec<DataRecord>, common: Option<DataRecord>) -> Vec<u8> {
    bprwire_reference::serialize_request(&BatchPredictionRequest::new(records, common))
}

fn continuous(entries: &[(i64, f64)]) -> DataRecord {
    DataRecord {
        continuous_features: Some(
            entries
                .iter()
                .map(|&(k, v)| (k, OrderedFloat(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..DataRecord::default()
    }
}

fn with_tensor(id: i64, t: t::GeneralTensor) -> DataRecord {
    DataRecord {
        tensors: Some([(id, t)].into_iter().collect()),
        ..DataRecord::default()
    }
}

/// An array of `len` elements of `dtype`, every one a sentinel no scatter
/// writes (a NaN payload, a pattern), to see which elements were written.
fn sentinel(dtype: OutputType, len: usize) -> Array {
    match dtype {
        OutputType::F32 => Array::F32(vec![f32::from_bits(0x7fc0_5a5a); len]),
        OutputType::F64 => Array::F64(vec![f64::from_bits(0x7ff8_5a5a_5a5a_5a5a); len]),
        OutputType::I64 => Array::I64(vec![0x5a5a_5a5a_5a5a_5a5a; len]),
        OutputType::U8 => Array::U8(vec![0xa5; len]),
    }
}

/// Every output of `layout` as (name, columns, sentinel array of `rows` rows).
fn sentinel_arrays(layout: &FeatureLayout, rows: usize) -> Vec<(String, usize, Array)> {
    use FeatureKind as K;
    let mut out = Vec::new();
    for (name, kind, n) in [
        ("continuous", K::Continuous, layout.continuous_ids().len()),
        ("binary", K::Binary, layout.binary_ids().len()),
        ("discrete", K::Discrete, layout.discrete_ids().len()),
    ] {
        if let Some(t) = layout.output_type(kind) {
            out.push((name.to_string(), n, sentinel(t, rows * n)));
        }
    }
    for t in layout.tensors() {
        out.push((
            format!("tensor_{}", t.id),
            t.width,
            sentinel(t.dtype, rows * t.width),
        ));
    }
    out
}

/// `arrays` (from `sentinel_arrays`) as the layout's outputs.
fn outputs_of(arrays: &mut [(String, usize, Array)]) -> Outputs<'_> {
    let mut outputs = Outputs::new();
    for (name, _, a) in arrays.iter_mut() {
        outputs = match (name.as_str(), a) {
            ("continuous", a) => outputs.continuous(a.as_mut()),
            ("binary", a) => outputs.binary(a.as_mut()),
            ("discrete", Array::I64(v)) => outputs.discrete(v),
            (tensor, a) => outputs.tensor(tensor["tensor_".len()..].parse().unwrap(), a.as_mut()),
        };
    }
    outputs
}

proptest! {
    /// `to_json` writes what `from_json` reads back to the same layout:
    /// every id, type and default (NaN, infinities and -0.0 included).
    #[test]
    fn a_layout_written_as_json_reads_back_the_same(layout in layout()) {
        use bprwire::features::FeatureKind;
        let back = FeatureLayout::from_json(layout.to_json().as_bytes())
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", layout.to_json())))?;
        prop_assert_eq!(back.continuous_ids(), layout.continuous_ids());
        prop_assert_eq!(back.binary_ids(), layout.binary_ids());
        prop_assert_eq!(back.discrete_ids(), layout.discrete_ids());
        prop_assert_eq!(back.tensors(), layout.tensors());
        for kind in [FeatureKind::Continuous, FeatureKind::Binary, FeatureKind::Discrete] {
            prop_assert_eq!(back.output_type(kind), layout.output_type(kind));
        }
        prop_assert_eq!(back.continuous_default().map(f64::to_bits), layout.continuous_default().map(f64::to_bits));
        prop_assert_eq!(back.discrete_default(), layout.discrete_default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A request scattered at row `at` of larger arrays fills exactly rows
    /// `at .. at + records` with what a scatter into arrays of its own
    /// size writes, and leaves every other row as it was (or fails with
    /// the same error), at every level this CPU has.
    #[test]
    fn scatter_at_a_row_writes_the_plain_scatter_into_those_rows_only(
        layout in layout(),
        req in request(),
        at in 0usize..4,
    ) {
        let bytes = bprwire_reference::serialize_request(&req);
        let request = decode_request(&bytes).unwrap();
        let rows = request.len();
        for level in Level::available() {
            let mut plain = sentinel_arrays(&layout, rows);
            let want = layout.scatter_with(&request, &mut outputs_of(&mut plain), level);
            let mut shared = sentinel_arrays(&layout, at + rows + 1);
            let got = {
                let mut outputs = outputs_of(&mut shared);
                let mut tail = outputs.from_row(&layout, at).unwrap();
                layout.scatter_with(&request, &mut tail, level)
            };
            prop_assert_eq!(&got, &want);
            if want.is_err() {
                continue;
            }
            for ((name, n, p), (_, _, s)) in plain.iter().zip(&shared) {
                let (p, s) = (bits(p, p.len()), bits(s, s.len()));
                let untouched = bits(&sentinel(layout_type(&layout, name), 1), 1)[0];
                prop_assert_eq!(&s[at * n..(at + rows) * n], &p[..], "{} rows", name);
                prop_assert!(s[..at * n].iter().chain(&s[(at + rows) * n..]).all(|&b| b == untouched),
                    "{} was written outside rows {}..{}", name, at, at + rows);
            }
        }
    }
}

/// The output type of output `name` of `layout`.
fn layout_type(layout: &FeatureLayout, name: &str) -> OutputType {
    use FeatureKind as K;
    match name {
        "continuous" => layout.output_type(K::Continuous).unwrap(),
        "binary" => layout.output_type(K::Binary).unwrap(),
        "discrete" => OutputType::I64,
        tensor => {
            let id: i64 = tensor["tensor_".len()..].parse().unwrap();
            layout.tensors().iter().find(|t| t.id == id).unwrap().dtype
        }
    }
}

#[test]
fn two_requests_scatter_into_one_batch_at_their_rows() {
    let layout = small_layout();
    let a = request_bytes(
        vec![continuous(&[(10, 1.0)]), continuous(&[(11, 2.0)])],
        Some(continuous(&[(12, 3.0)])),
    );
    let b = request_bytes(vec![continuous(&[(10, 4.0)]); 3], None);
    let (a, b) = (decode_request(&a).unwrap(), decode_request(&b).unwrap());
    let mut batch = Buffers::new(&layout, 5).unwrap();
    let mut outputs = batch.outputs();
    assert_eq!(layout.scatter_at(&a, &mut outputs, 0).unwrap().rows, 2);
    assert_eq!(layout.scatter_at(&b, &mut outputs, 2).unwrap().rows, 3);
    drop(outputs);
    let c = batch.continuous().unwrap().as_f32().unwrap();
    let nan = f32::NAN.to_bits();
    let row = |r: usize| c[r * 3..][..3].iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(row(0), [1.0f32.to_bits(), nan, 3.0f32.to_bits()]);
    assert_eq!(row(1), [nan, 2.0f32.to_bits(), 3.0f32.to_bits()]);
    for r in 2..5 {
        assert_eq!(
            row(r),
            [4.0f32.to_bits(), nan, nan],
            "row {r}: b has no common features"
        );
    }
    // No room for b's three rows from row 3 of five: refused, nothing written.
    let before = batch.continuous().unwrap().clone();
    let e = layout.scatter_at(&b, &mut batch.outputs(), 3).unwrap_err();
    assert!(matches!(e, FeatureError::ArrayTooSmall { .. }), "{e}");
    let after = batch.continuous().unwrap();
    assert_eq!(bits(after, 15), bits(&before, 15));
    // A row past the arrays is refused by from_row itself.
    let e = batch.outputs().from_row(&layout, 6).err().unwrap();
    assert_eq!(
        e,
        FeatureError::ArrayTooSmall {
            output: Output::Continuous,
            needed: 18,
            capacity: 15
        }
    );
}

#[test]
fn common_features_fill_every_row_and_a_records_own_value_wins() {
    let layout = small_layout();
    let common = DataRecord {
        binary_features: Some([21].into_iter().collect()),
        ..continuous(&[(10, 1.0), (11, 2.0), (99, 5.0)])
    };
    let bytes = request_bytes(
        vec![continuous(&[(11, 7.0)]), DataRecord::default()],
        Some(common),
    );
    let mut buffers = Buffers::new(&layout, 2).unwrap();
    let done = layout.scatter_bytes(&bytes, &mut buffers.outputs()).unwrap();
    assert_eq!(done.rows, 2);
    // Id 99 is not in the layout: skipped once (the common record holds it once).
    assert_eq!(done.skipped.continuous, 1);
    let c = buffers.continuous().unwrap().as_f32().unwrap();
    assert_eq!(&c[..2], &[1.0, 7.0]);
    assert!(c[2].is_nan());
    assert_eq!(&c[3..5], &[1.0, 2.0]);
    assert!(c[5].is_nan());
    assert_eq!(buffers.binary().unwrap().as_u8().unwrap(), &[0, 1, 0, 1]);
    assert_eq!(buffers.discrete().unwrap().as_i64().unwrap(), &[-1, -1]);
    assert_eq!(buffers.tensor(40).unwrap().as_f32().unwrap(), &[0.0; 6]);
}

#[test]
fn nan_values_are_kept_not_dropped() {
    let layout = FeatureLayout::builder()
        .continuous(&[1], OutputType::F64, -5.0)
        .build()
        .unwrap();
    let nan = f64::from_bits(0x7ff8_0000_0000_1234);
    let bytes = request_bytes(vec![continuous(&[(1, nan)])], None);
    let mut buffers = Buffers::new(&layout, 1).unwrap();
    layout.scatter_bytes(&bytes, &mut buffers.outputs()).unwrap();
    assert_eq!(
        buffers.continuous().unwrap().as_f64().unwrap()[0].to_bits(),
        nan.to_bits()
    );
}

#[test]
fn a_tensor_of_the_wrong_width_names_the_record_and_the_feature() {
    let layout = small_layout();
    let short = t::GeneralTensor::FloatTensor(t::FloatTensor::new(vec![OrderedFloat(1.0)], None));
    let bytes = request_bytes(vec![DataRecord::default(), with_tensor(40, short.clone())], None);
    let mut buffers = Buffers::new(&layout, 2).unwrap();
    let e = layout.scatter_bytes(&bytes, &mut buffers.outputs()).unwrap_err();
    assert_eq!(
        e,
        FeatureError::TensorWidth {
            at: Location::Record(1),
            id: 40,
            elements: 1,
            width: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "record 1: tensor feature 40 has 1 elements, the layout's width is 3"
    );
    let bytes = request_bytes(vec![], Some(with_tensor(40, short)));
    let e = layout.scatter_bytes(&bytes, &mut buffers.outputs());
    // No record: nothing is scattered, the common tensor is never read.
    assert_eq!(e.unwrap().rows, 0);
}

#[test]
fn string_and_binary_tensors_are_refused_by_name() {
    let layout = small_layout();
    for (tensor, name) in [
        (
            t::GeneralTensor::StringTensor(t::StringTensor::new(vec!["a".into(); 3], None)),
            "stringTensor",
        ),
        (
            t::GeneralTensor::BinaryTensor(t::BinaryTensor::new(vec![vec![1]; 3], None)),
            "binaryTensor",
        ),
        (
            t::GeneralTensor::RawTypedTensor(t::RawTypedTensor::new(t::DataType(5), vec![0; 3], None)),
            "rawTypedTensor of STRING",
        ),
    ] {
        let bytes = request_bytes(vec![DataRecord::default()], Some(with_tensor(40, tensor)));
        let mut buffers = Buffers::new(&layout, 1).unwrap();
        let e = layout.scatter_bytes(&bytes, &mut buffers.outputs()).unwrap_err();
        assert_eq!(
            e,
            FeatureError::TensorType {
                at: Location::Common,
                id: 40,
                found: name
            }
        );
        assert!(
            e.to_string()
                .starts_with("commonFeatures: tensor feature 40 is a "),
            "{e}"
        );
    }
}

#[test]
fn every_numeric_arm_converts_to_the_output_type() {
    let raw = |d: i32, c: Vec<u8>| {
        t::GeneralTensor::RawTypedTensor(t::RawTypedTensor::new(t::DataType(d), c, None))
    };
    let f = |v: &[f64]| v.iter().map(|&x| OrderedFloat(x)).collect::<Vec<_>>();
    let cases: Vec<(t::GeneralTensor, [i64; 3])> = vec![
        (
            t::GeneralTensor::FloatTensor(t::FloatTensor::new(f(&[1.5, -2.5, 3.0]), None)),
            [1, -2, 3],
        ),
        (
            t::GeneralTensor::DoubleTensor(t::DoubleTensor::new(f(&[1e300, f64::NAN, -1e300]), None)),
            [i64::MAX, 0, i64::MIN],
        ),
        (
            t::GeneralTensor::Int32Tensor(t::Int32Tensor::new(vec![-1, 0, 7], None)),
            [-1, 0, 7],
        ),
        (
            t::GeneralTensor::Int64Tensor(t::Int64Tensor::new(vec![i64::MIN, 0, 9], None)),
            [i64::MIN, 0, 9],
        ),
        (
            t::GeneralTensor::BoolTensor(t::BoolTensor::new(vec![true, false, true], None)),
            [1, 0, 1],
        ),
        (
            raw(
                0,
                [1.5f32, 2.0, -3.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            [1, 2, -3],
        ),
        (
            raw(3, [5i64, -6, 7].iter().flat_map(|x| x.to_le_bytes()).collect()),
            [5, -6, 7],
        ),
        (raw(4, vec![0, 200, 255]), [0, 200, 255]),
        (raw(7, vec![0, 2, 1]), [0, 1, 1]),
    ];
    let layout = FeatureLayout::builder()
        .tensor(1, 3, OutputType::I64)
        .build()
        .unwrap();
    for (tensor, want) in cases {
        let bytes = request_bytes(vec![with_tensor(1, tensor.clone())], None);
        let mut buffers = Buffers::new(&layout, 1).unwrap();
        layout.scatter_bytes(&bytes, &mut buffers.outputs()).unwrap();
        assert_eq!(buffers.tensor(1).unwrap().as_i64().unwrap(), &want, "{tensor:?}");
    }
}

#[test]
fn outputs_that_do_not_match_the_layout_are_refused_before_writing() {
    let layout = small_layout();
    let bytes = request_bytes(vec![DataRecord::default(); 2], None);
    let request = decode_request(&bytes).unwrap();
    let (mut c, mut b, mut d, mut t) = (vec![7f32; 6], vec![7u8; 4], vec![7i64; 2], vec![7f32; 6]);
    let mut wrong_type = [7f64; 6];
    let cases: Vec<(Outputs<'_>, FeatureError)> = vec![
        (
            Outputs::new()
                .binary(&mut b[..])
                .discrete(&mut d[..])
                .tensor(40, &mut t[..]),
            FeatureError::MissingArray {
                output: Output::Continuous,
            },
        ),
        (
            Outputs::new().continuous(&mut wrong_type[..]),
            FeatureError::ArrayType {
                output: Output::Continuous,
                expected: OutputType::F32,
                found: OutputType::F64,
            },
        ),
        (
            Outputs::new().continuous(&mut c[..5]),
            FeatureError::ArrayTooSmall {
                output: Output::Continuous,
                needed: 6,
                capacity: 5,
            },
        ),
    ];
    for (mut out, want) in cases {
        assert_eq!(layout.scatter(&request, &mut out).unwrap_err(), want);
    }
    let mut extra = [0f32; 6];
    let mut out = Outputs::new()
        .tensor(40, &mut t[..])
        .continuous(&mut c[..])
        .binary(&mut b[..])
        .discrete(&mut d[..])
        .tensor(41, &mut extra[..]);
    assert_eq!(
        layout.scatter(&request, &mut out).unwrap_err(),
        FeatureError::ExtraArray {
            output: Output::Tensor { id: 41 }
        }
    );
    drop(out);
    // Refused before anything was written.
    assert!(c.iter().chain(&t).all(|&v| v == 7.0) && b == [7; 4] && d == [7; 2]);
}

#[test]
fn buffers_larger_than_memory_are_refused_not_an_abort() {
    // 2^40 f64 elements (8 TiB) for one row: the allocation fails, and
    // Buffers says so instead of aborting the process.
    let layout = FeatureLayout::builder()
        .tensor(7, 1 << 40, OutputType::F64)
        .build()
        .unwrap();
    let e = Buffers::new(&layout, 1).unwrap_err();
    assert_eq!(
        e,
        LayoutError::TooLarge {
            rows: 1,
            columns: 1 << 40
        }
    );
    assert!(e.to_string().contains("cannot be allocated"), "{e}");
    // Zero rows of it cost nothing.
    assert_eq!(Buffers::new(&layout, 0).unwrap().tensor(7).unwrap().len(), 0);
    assert!(Array::try_zeros(OutputType::U8, usize::MAX).is_none());
}

#[test]
fn a_layout_with_a_repeated_id_or_a_wrong_type_is_refused() {
    let e = FeatureLayout::builder()
        .continuous(&[1, 2, 1], OutputType::F32, 0.0)
        .build()
        .unwrap_err();
    assert_eq!(
        e,
        LayoutError::RepeatedId {
            kind: FeatureKind::Continuous,
            id: 1,
            first: 0,
            second: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "continuous feature id 1 is given twice (positions 0 and 2)"
    );
    let e = FeatureLayout::builder()
        .tensor(5, 1, OutputType::F32)
        .tensor(5, 2, OutputType::F64)
        .build()
        .unwrap_err();
    assert!(matches!(
        e,
        LayoutError::RepeatedId {
            kind: FeatureKind::Tensor,
            id: 5,
            ..
        }
    ));
    let e = FeatureLayout::builder()
        .binary(&[1], OutputType::F64)
        .build()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "binary features cannot be float64: use float32, int64 or uint8"
    );
    // The same id in two kinds is fine: they are different maps.
    FeatureLayout::builder()
        .continuous(&[1], OutputType::F32, 0.0)
        .binary(&[1], OutputType::F32)
        .discrete(&[1], 0)
        .tensor(1, 1, OutputType::I64)
        .build()
        .unwrap();
}

#[test]
fn rows_that_cannot_be_written_are_refused_by_name() {
    let layout = FeatureLayout::builder()
        .binary(&[20, 21], OutputType::F32)
        .build()
        .unwrap();
    let bad = [1.0f32, 0.5];
    let e = layout
        .write_request(&Rows::new(1).binary(&bad[..]), None)
        .unwrap_err();
    assert_eq!(
        e,
        FeatureError::BinaryValue {
            at: Location::Record(0),
            id: 21,
            value: 0.5
        }
    );
    let common = [0.0f32, 1.0];
    let rows = [1.0f32, 0.0];
    let e = layout
        .write_request(
            &Rows::new(1).binary(&rows[..]),
            Some(&Rows::new(1).binary(&common[..])),
        )
        .unwrap_err();
    assert_eq!(e, FeatureError::BinaryUnset { row: 0, id: 21 });
    let e = layout
        .write_request(&Rows::new(2).binary(&rows[..]), None)
        .unwrap_err();
    assert_eq!(
        e,
        FeatureError::ArrayLength {
            output: Output::Binary,
            expected: 4,
            found: 2
        }
    );
    let written = layout
        .write_request(&Rows::new(1).binary(&rows[..]), None)
        .unwrap();
    let mut small = vec![0u8; written.encoded_len() - 1];
    assert_eq!(
        written.encode_into(&mut small).unwrap_err(),
        FeatureError::BufferTooSmall {
            needed: written.encoded_len(),
            available: small.len()
        }
    );
    assert!(small.iter().all(|&b| b == 0));
}

#[test]
fn a_written_request_leaves_out_defaults_and_matches_the_worked_bytes() {
    let layout = FeatureLayout::builder()
        .continuous(&[7, 8], OutputType::F32, f64::NAN)
        .build()
        .unwrap();
    let rows = [0.5f32, f32::NAN];
    let bytes = layout
        .write_request(&Rows::new(1).continuous(&rows[..]), None)
        .unwrap()
        .encode_to_vec();
    let mut want = vec![0x0F, 0, 1, 0x0C, 0, 0, 0, 1]; // individualFeaturesList: 1 record
    want.extend([0x0D, 0, 2, 0x0A, 0x04, 0, 0, 0, 1]); // continuousFeatures: 1 entry
    want.extend(7i64.to_be_bytes());
    want.extend(0.5f64.to_be_bytes());
    want.extend([0, 0]); // end of the record, end of the request
    assert_eq!(bytes, want);
}

#[test]
fn scatter_and_write_agree_with_the_reference_on_a_large_request() {
    // 64 rows of the R1 shape, scaled down: a smoke test of many columns.
    let ids: Vec<i64> = (0..2000).map(|i| i * 7919 - 5000).collect();
    let layout = FeatureLayout::builder()
        .continuous(&ids, OutputType::F32, f64::NAN)
        .build()
        .unwrap();
    let rows = 64;
    let values: Vec<f32> = (0..rows * ids.len())
        .map(|i| if i % 3 == 0 { i as f32 } else { f32::NAN })
        .collect();
    let bytes = layout
        .write_request(&Rows::new(rows).continuous(&values[..]), None)
        .unwrap()
        .encode_to_vec();
    let reference = bprwire_reference::deserialize_request(&bytes).unwrap();
    assert_eq!(reference.individual_features_list.len(), rows);
    let mut buffers = Buffers::new(&layout, rows).unwrap();
    layout.scatter_bytes(&bytes, &mut buffers.outputs()).unwrap();
    let got = buffers.continuous().unwrap().as_f32().unwrap();
    assert!(got.iter().zip(&values).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn the_r_workloads_have_the_shapes_they_claim() {
    for w in bprwire::internals::workloads::requests() {
        let req = decode_request(&w.bytes).unwrap();
        assert_eq!(req.len(), w.rows, "{}", w.id);
        let own: usize = req
            .records()
            .map(|r| r.continuous_features.map_or(0, |m| m.len()))
            .sum();
        let per_record = own / w.rows;
        match w.id {
            "R1" => {
                let common = req.common_features().unwrap();
                assert_eq!(w.rows, 256);
                assert!(
                    (760..840).contains(&per_record),
                    "R1: {per_record} continuous per record"
                );
                let binary: usize = req
                    .records()
                    .map(|r| r.binary_features.map_or(0, |s| s.len()))
                    .sum();
                assert!(
                    (30..50).contains(&(binary / w.rows)),
                    "R1: {} binary per record",
                    binary / w.rows
                );
                assert!((270..330).contains(&common.continuous_features.unwrap().len()));
                assert_eq!(common.binary_features.unwrap().len(), 10);
                assert!(req.records().all(|r| r.tensors.unwrap().len() == 3));
                println!("R1: {own} continuous features in the records ({per_record} per record)");
            }
            "R2" => assert_eq!((w.rows, per_record), (1, 40)),
            _ => assert_eq!((w.rows, per_record), (1024, 64)),
        }
    }
}
