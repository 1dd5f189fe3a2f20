//! Feature `ndarray`: views in standard layout encode exactly as the same
//! data given as slices (over the generated cases, through `ArrayViewD`,
//! and with `ArrayView1`/`ArrayView2`/`ArrayView3`), and every kind of
//! non-contiguous view (transpose, column slice, step, reversed axis,
//! Fortran order) is refused with `Error::NotContiguous` naming the input.
#![cfg(feature = "ndarray")]

mod common;

use bprwire::{BatchPrediction, Error, Input, KeyMap, Tensor};
use common::{case, Case, Inputs, OwnedData, OwnedValues};
use ndarray::{array, s, Array, Array2, ArrayView1, ArrayViewD, IxDyn, ShapeBuilder};
use proptest::prelude::*;

/// The case's data as `ArrayViewD`s: the same memory, so the encodings
/// must be equal byte for byte. Raw-byte inputs have no array form and
/// stay slices.
fn check(case: &Case) -> Result<(), TestCaseError> {
    let views = case.views();
    let slices = case.tensors(&views);
    let expected = case.inputs(&slices).encoder().unwrap().encode_to_vec();

    let str_views: Vec<Vec<&str>> = match &case.dense {
        Some((_, ts)) => ts
            .iter()
            .map(|t| match &t.data {
                OwnedData::Str(v) => v.iter().map(String::as_str).collect(),
                _ => Vec::new(),
            })
            .collect(),
        None => Vec::new(),
    };
    let byte_views: Vec<Vec<&[u8]>> = match &case.dense {
        Some((_, ts)) => ts
            .iter()
            .map(|t| match &t.data {
                OwnedData::Bytes(v) => v.iter().map(Vec::as_slice).collect(),
                _ => Vec::new(),
            })
            .collect(),
        None => Vec::new(),
    };
    let mut tensors = Vec::new();
    if let Some((_, ts)) = &case.dense {
        for (j, t) in ts.iter().enumerate() {
            let shape = IxDyn(&t.shape);
            let tensor = match &t.data {
                OwnedData::F32(v) => Tensor::from_array(ArrayViewD::from_shape(shape, v).unwrap()),
                OwnedData::F64(v) => Tensor::from_array(ArrayViewD::from_shape(shape, v).unwrap()),
                OwnedData::I32(v) => Tensor::from_array(ArrayViewD::from_shape(shape, v).unwrap()),
                OwnedData::I64(v) => Tensor::from_array(ArrayViewD::from_shape(shape, v).unwrap()),
                OwnedData::U8(v) => Tensor::from_array(ArrayViewD::from_shape(shape, v).unwrap()),
                OwnedData::Bool(v) => Tensor::from_array(ArrayViewD::from_shape(shape, v).unwrap()),
                OwnedData::Str(_) => {
                    Tensor::from_array(ArrayViewD::from_shape(shape, &str_views[j][..]).unwrap())
                }
                OwnedData::Bytes(_) => {
                    Tensor::from_array(ArrayViewD::from_shape(shape, &byte_views[j][..]).unwrap())
                }
                // No array form (binary strings are not an ndarray element type here).
                OwnedData::Raw(..) | OwnedData::Padded { .. } | OwnedData::Binary(_) => slices[j].clone(),
            };
            tensors.push(tensor);
        }
    }
    let mut inputs = BatchPrediction::new();
    if let Some((keys, values, shape)) = &case.continuous {
        let keys = ArrayView1::from(&keys[..]);
        let shape = IxDyn(shape);
        inputs = match values {
            OwnedValues::F32(v) => inputs.continuous_array(keys, ArrayViewD::from_shape(shape, v).unwrap()),
            OwnedValues::F64(v) => inputs.continuous_array(keys, ArrayViewD::from_shape(shape, v).unwrap()),
            OwnedValues::Raw(..) => return Ok(()), // no array form
        }
        .unwrap();
    }
    if let Some((keys, _)) = &case.dense {
        inputs = inputs.dense_array(ArrayView1::from(&keys[..]), &tensors).unwrap();
    }
    if case.typed {
        inputs = inputs.typed();
    }
    prop_assert_eq!(inputs.encoder().unwrap().encode_to_vec(), expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn views_encode_as_slices(c in case(Inputs::Both)) {
        check(&c)?;
    }

    #[test]
    fn dense_views_encode_as_slices(c in case(Inputs::Dense)) {
        check(&c)?;
    }
}

#[test]
fn fixed_rank_views_and_contiguous_slices_are_accepted() {
    let scores = Array2::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64);
    let emb = Array::from_shape_fn((4, 2, 5), |(i, j, k)| (i * 10 + j * 5 + k) as f32);
    let ids = array![10_i64, 20, 30, 40];
    let tensors = [Tensor::from_array(emb.view()), Tensor::from(ids.view())];
    let from_arrays = BatchPrediction::new()
        .continuous_array(array![1_i64, 2, 3].view(), scores.view())
        .unwrap()
        .dense_array(array![7_i64, 8].view(), &tensors)
        .unwrap()
        .encode_to_vec()
        .unwrap();
    let (s_flat, e_flat) = (scores.as_slice().unwrap(), emb.as_slice().unwrap());
    let slice_tensors = [
        Tensor::new(e_flat, &[4, 2, 5]),
        Tensor::new(ids.as_slice().unwrap(), &[4]),
    ];
    let from_slices = BatchPrediction::new()
        .continuous(&[1, 2, 3], s_flat, &[4, 3])
        .dense(&[7, 8], &slice_tensors)
        .encode_to_vec()
        .unwrap();
    assert_eq!(from_arrays, from_slices);

    // A run of whole rows is contiguous: accepted, and it borrows.
    let rows = emb.slice(s![1..3, .., ..]);
    let t = [Tensor::from_array(rows)];
    let got = BatchPrediction::new().dense(&[7], &t).encode_to_vec().unwrap();
    let want_t = [Tensor::new(&e_flat[10..30], &[2, 2, 5])];
    assert_eq!(
        got,
        BatchPrediction::new()
            .dense(&[7], &want_t)
            .encode_to_vec()
            .unwrap()
    );

    // An empty batch, and continuous values shaped [batch] with one key.
    let empty = Array2::<f32>::zeros((0, 3));
    let one = array![0.5_f32, 1.5];
    let t = [Tensor::from_array(empty.view())];
    let got = BatchPrediction::new()
        .continuous_array(array![9_i64].view(), one.view())
        .unwrap()
        .encode_to_vec()
        .unwrap();
    assert_eq!(
        got,
        BatchPrediction::new()
            .continuous(&[9], &[0.5_f32, 1.5], &[2])
            .encode_to_vec()
            .unwrap()
    );
    assert_eq!(
        BatchPrediction::new()
            .dense(&[3], &t)
            .encoder()
            .unwrap()
            .batch_size(),
        0
    );
}

/// The refusal for tensor `index` (key `key`) made from `view`.
fn refused_tensor<'a, D: ndarray::Dimension>(view: ndarray::ArrayView<'a, f32, D>, what: &str) {
    let (shape, strides) = (view.shape().to_vec(), view.strides().to_vec());
    let ok = Array2::<f32>::zeros((shape[0], 1));
    let tensors = [Tensor::from_array(ok.view()), Tensor::from_array(view)];
    let err = BatchPrediction::new().dense(&[5, 6], &tensors).encoder().err();
    assert_eq!(
        err,
        Some(Error::NotContiguous {
            input: Input::Tensor { index: 1, key: 6 },
            shape: shape.into(),
            strides: strides.into(),
        }),
        "{what}"
    );
    let text = err.unwrap().to_string();
    assert!(
        text.contains("dense tensor #1 (key 6)")
            && text.contains("not contiguous")
            && text.contains("as_standard_layout"),
        "{what}: {text}"
    );
}

#[test]
fn non_contiguous_tensors_are_refused_with_their_key() {
    let a = Array2::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as f32);
    refused_tensor(a.t(), "transpose");
    refused_tensor(a.slice(s![.., 0..2]), "column slice");
    refused_tensor(a.slice(s![.., ..;2]), "step");
    refused_tensor(a.slice(s![..;-1, ..]), "reversed rows");
    let f = Array::from_shape_vec((4, 6).f(), (0..24).map(|x| x as f32).collect()).unwrap();
    refused_tensor(f.view(), "Fortran order");
    let d = a.view().into_dyn();
    refused_tensor(d.slice(s![.., 1..3]), "dynamic-dimension column slice");
}

#[test]
fn non_contiguous_keys_and_values_are_refused() {
    let keys = array![1_i64, 2, 3, 4, 5, 6];
    let values = Array2::<f32>::zeros((2, 3));
    let err = BatchPrediction::new()
        .continuous_array(keys.slice(s![..;2]), values.view())
        .err();
    assert_eq!(
        err,
        Some(Error::NotContiguous {
            input: Input::Keys(KeyMap::Continuous),
            shape: vec![3].into(),
            strides: vec![2].into(),
        })
    );
    assert!(err
        .unwrap()
        .to_string()
        .starts_with("the continuous keys: the array view"));

    let wide = Array2::<f64>::zeros((3, 2));
    let err = BatchPrediction::new()
        .continuous_array(keys.slice(s![0..3]), wide.t())
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::NotContiguous {
                input: Input::Continuous,
                ..
            }
        ),
        "{err}"
    );

    let tensors = [Tensor::from_array(values.view())];
    let err = BatchPrediction::new()
        .dense_array(keys.slice(s![..;-1]), &tensors)
        .err();
    assert_eq!(
        err,
        Some(Error::NotContiguous {
            input: Input::Keys(KeyMap::Tensors),
            shape: vec![6].into(),
            strides: vec![-1].into(),
        })
    );
    // One element is contiguous whatever its step (ndarray's rule too).
    let one = keys.slice(s![..;-6]);
    assert!(BatchPrediction::new().dense_array(one, &tensors).is_ok());
}
