//! The built-in linear model against its documentation, term for term:
//! the sums recomputed here as `docs` say (eight lanes by position within
//! each array, layout order, 0 and NaN adding nothing, lanes combined
//! pairwise, then the bias) equal the model's bit for bit, on arrays
//! scattered from requests with every feature kind, missing features
//! (NaN), zeros and ids the layout does not know; and weights that are
//! not finite are refused.

use bprwire::features::{Array, Buffers, FeatureLayout, OutputType};
use bprwire_reference::twml::data::DataRecord;
use bprwire_reference::twml::prediction_service::BatchPredictionRequest;
use bprwire_reference::twml::tensor::{FloatTensor, GeneralTensor};
use bprwire_serve::models::{Linear, Model, Outputs};

const LAYOUT: &str = r#"{"continuous": {"ids": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], "dtype": "float32", "default": "nan"},
 "binary": {"ids": [20, 21, 22], "dtype": "uint8"},
 "discrete": {"ids": [30, 31], "default": 0},
 "tensors": [{"id": 40, "width": 19, "dtype": "float64"}]}"#;

/// A small deterministic generator (xorshift), so the test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f64() * 0.25 + 0.5 < p
    }
}

fn record(rng: &mut Rng) -> DataRecord {
    let mut cont = std::collections::BTreeMap::new();
    for id in 1..=15i64 {
        if rng.chance(0.6) {
            let v = if rng.chance(0.2) { 0.0 } else { rng.f64() * 100.0 };
            cont.insert(id, thrift::OrderedFloat(v));
        }
    }
    let binary = (20..24i64).filter(|_| rng.chance(0.5)).collect();
    let disc = (30..32i64).map(|id| (id, (rng.next() % 9) as i64 - 4)).collect();
    let tensors = rng.chance(0.8).then(|| {
        let floats = (0..19).map(|_| thrift::OrderedFloat(rng.f64())).collect();
        [(
            40i64,
            GeneralTensor::FloatTensor(FloatTensor { floats, shape: None }),
        )]
        .into_iter()
        .collect()
    });
    DataRecord {
        continuous_features: Some(cont),
        binary_features: Some(binary),
        discrete_features: Some(disc),
        tensors,
        ..Default::default()
    }
}

/// The documented sums of one row for output `j`, from the arrays.
fn documented(arrays: &[(Vec<f64>, usize)], row: usize, w: &[f64], k: usize, j: usize, bias: f64) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut first = 0;
    for (values, width) in arrays {
        for p in 0..*width {
            let x = values[row * width + p];
            if x.abs() > 0.0 {
                lanes[p % 8] += x * w[(first + p) * k + j];
            }
        }
        first += width;
    }
    let s = lanes;
    bias + (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])))
}

fn as_f64(a: &Array) -> Vec<f64> {
    match a {
        Array::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Array::F64(v) => v.clone(),
        Array::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Array::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
    }
}

#[test]
fn the_linear_models_sums_are_the_documented_sums_bit_for_bit() {
    let layout = FeatureLayout::from_json(LAYOUT.as_bytes()).unwrap();
    let features = 13 + 3 + 2 + 19;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for k in [1usize, 2, 3, 5] {
        let weights: Vec<f64> = (0..features * k).map(|_| rng.f64()).collect();
        let bias: Vec<f64> = (0..k).map(|_| rng.f64()).collect();
        let model = Linear::new(
            weights.clone(),
            bias.clone(),
            features,
            false,
            "z",
            OutputType::F64,
        )
        .unwrap();
        let rows = 37;
        let request =
            BatchPredictionRequest::new((0..rows).map(|_| record(&mut rng)).collect::<Vec<_>>(), None);
        let bytes = bprwire_reference::serialize_request(&request);
        let decoded = bprwire::decode::decode_request(&bytes).unwrap();
        let mut buffers = Buffers::new(&layout, 64).unwrap();
        {
            let mut out = buffers.outputs();
            layout.scatter_at(&decoded, &mut out, 0).unwrap();
        }
        let cap = buffers.capacity();
        let arrays: Vec<(Vec<f64>, usize)> = [buffers.continuous(), buffers.binary(), buffers.discrete()]
            .into_iter()
            .flatten()
            .chain(buffers.tensors().map(|(_, a)| a))
            .map(|a| (as_f64(a), a.len() / cap))
            .collect();
        let Outputs::Dense(out) = model.run(&buffers, rows).unwrap() else {
            panic!("dense outputs")
        };
        let Array::F64(z) = &out[0] else {
            panic!("f64 output")
        };
        for r in 0..rows {
            for j in 0..k {
                let want = documented(&arrays, r, &weights, k, j, bias[j]);
                assert_eq!(
                    z[r * k + j].to_bits(),
                    want.to_bits(),
                    "k {k}, row {r}, output {j}"
                );
            }
        }
    }
}

#[test]
fn weights_or_a_bias_that_are_not_finite_are_refused_naming_the_element() {
    let e = Linear::new(
        vec![1.0, f64::NAN, 0.0, 2.0],
        vec![0.0, 0.0],
        2,
        true,
        "s",
        OutputType::F32,
    )
    .unwrap_err();
    assert_eq!(e, "weight [0, 1] is not finite");
    let e = Linear::new(vec![1.0, 2.0], vec![f64::INFINITY], 2, true, "s", OutputType::F32).unwrap_err();
    assert_eq!(e, "bias [0] is not finite");
}
