//! Generated `DataRecord`s of every kind (all nine fields, every tensor
//! arm), as the reference's generated structs: for the decoder's and the
//! service's differential tests.

use bprwire_reference::twml::data::DataRecord;
use bprwire_reference::twml::tensor as t;
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use thrift::OrderedFloat;

pub fn f64s() -> impl Strategy<Value = OrderedFloat<f64>> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
        Just(f64::NAN),
        Just(-0.0)
    ]
    .prop_map(OrderedFloat)
}

pub fn text() -> impl Strategy<Value = String> {
    "\\PC{0,6}"
}

pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..9)
}

pub fn shape() -> impl Strategy<Value = Option<Vec<i64>>> {
    proptest::option::of(vec(any::<i64>(), 0..4))
}

pub fn general_tensor() -> impl Strategy<Value = t::GeneralTensor> {
    prop_oneof![
        (any::<i32>(), bytes(), shape()).prop_map(|(d, c, s)| t::GeneralTensor::RawTypedTensor(
            t::RawTypedTensor::new(t::DataType(d), c, s)
        )),
        (vec(text(), 0..4), shape())
            .prop_map(|(v, s)| t::GeneralTensor::StringTensor(t::StringTensor::new(v, s))),
        (vec(any::<i32>(), 0..5), shape())
            .prop_map(|(v, s)| t::GeneralTensor::Int32Tensor(t::Int32Tensor::new(v, s))),
        (vec(any::<i64>(), 0..5), shape())
            .prop_map(|(v, s)| t::GeneralTensor::Int64Tensor(t::Int64Tensor::new(v, s))),
        (vec(f64s(), 0..5), shape())
            .prop_map(|(v, s)| t::GeneralTensor::FloatTensor(t::FloatTensor::new(v, s))),
        (vec(f64s(), 0..5), shape())
            .prop_map(|(v, s)| t::GeneralTensor::DoubleTensor(t::DoubleTensor::new(v, s))),
        (vec(any::<bool>(), 0..5), shape())
            .prop_map(|(v, s)| t::GeneralTensor::BoolTensor(t::BoolTensor::new(v, s))),
        (vec(bytes(), 0..4), shape())
            .prop_map(|(v, s)| t::GeneralTensor::BinaryTensor(t::BinaryTensor::new(v, s))),
    ]
}

pub fn sparse_tensor() -> impl Strategy<Value = t::SparseTensor> {
    (
        vec(any::<i64>(), 0..3),
        vec(any::<i64>(), 0..4),
        shape(),
        general_tensor(),
    )
        .prop_map(|(dense, idx, s, v)| {
            t::SparseTensor::CooSparseTensor(t::COOSparseTensor::new(dense, t::Int64Tensor::new(idx, s), v))
        })
}

pub fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    proptest::option::weighted(0.6, s)
}

/// A DataRecord with any subset of its nine fields, each with 0..4 entries.
pub fn record() -> impl Strategy<Value = DataRecord> {
    (
        opt(btree_set(any::<i64>(), 0..4)),
        opt(btree_map(any::<i64>(), f64s(), 0..4)),
        opt(btree_map(any::<i64>(), any::<i64>(), 0..4)),
        opt(btree_map(any::<i64>(), text(), 0..4)),
        opt(btree_map(any::<i64>(), btree_set(text(), 0..3), 0..3)),
        opt(btree_map(any::<i64>(), btree_map(text(), f64s(), 0..3), 0..3)),
        opt(btree_map(any::<i64>(), bytes(), 0..4)),
        opt(btree_map(any::<i64>(), general_tensor(), 0..4)),
        opt(btree_map(any::<i64>(), sparse_tensor(), 0..3)),
    )
        .prop_map(|(a, b, c, d, e, f, g, h, i)| DataRecord::new(a, b, c, d, e, f, g, h, i))
}
