//! The protobuf messages compiled from `serve/proto/` at build time
//! (prost, through tonic-prost-build): TensorFlow's few (package
//! `tensorflow`: what the TensorFlow engine reads of a SavedModel, and
//! `TensorProto`) and TensorFlow Serving's API (package
//! `tensorflow.serving`, with its gRPC service). KServe's are in
//! `frontend::kserve::grpc`.

/// Package `tensorflow`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod tensorflow {
    include!(concat!(env!("OUT_DIR"), "/tensorflow.rs"));

    impl TensorShapeProto {
        /// A known shape of these dimensions (-1: any size).
        pub fn of(dims: &[i64]) -> TensorShapeProto {
            TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&size| tensor_shape_proto::Dim {
                        size,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }
        }
    }

    /// Package `tensorflow.serving`.
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    pub mod serving {
        include!(concat!(env!("OUT_DIR"), "/tensorflow.serving.rs"));
    }
}
