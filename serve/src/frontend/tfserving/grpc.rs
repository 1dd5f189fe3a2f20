//! TensorFlow Serving's gRPC API, `tensorflow.serving.PredictionService`,
//! on the KServe gRPC port: `Predict` and `GetModelMetadata`;
//! `Classify`, `Regress` and `MultiInference` answer UNIMPLEMENTED. The
//! messages are compiled from `serve/proto/tensorflow_serving.proto`.
//!
//! A `Predict` call's input is a `DT_STRING` `[n]` tensor, each element
//! one `BatchPredictionRequest`; its outputs each carry `dtype`,
//! `tensor_shape` `[records, width]` and the typed values (`float_val`,
//! ...), so Navi's clients (reading `float_val`) and `tf.make_ndarray`
//! both read them.

use bytes::Bytes;
use prost::Message;
use tonic::{Request, Response, Status};

use super::{check_inputs, Choice, Target, TfServing};
use crate::frontend::clip;
use crate::frontend::kserve::OutputTensor;
use crate::frontend::web::Caller;
use crate::proto::tensorflow::serving as pb;
use crate::proto::tensorflow::{self as tf, DataType};

use pb::prediction_service_server::PredictionService;
pub use pb::prediction_service_server::PredictionServiceServer;

/// The path of the call that runs the model (bounded as KServe's infer).
pub const PREDICT: &str = "/tensorflow.serving.PredictionService/Predict";

/// The service over `api`, its messages limited to `max_message_bytes`
/// (tonic's own default is 4 MiB), gzip requests accepted (Navi's
/// clients may send them).
pub fn service(api: TfServing, max_message_bytes: usize) -> PredictionServiceServer<Grpc> {
    PredictionServiceServer::new(Grpc(api))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(usize::MAX)
}

/// The service's implementation.
#[derive(Debug)]
pub struct Grpc(TfServing);

/// The version `spec` names (TensorFlow Serving's statuses, [`TfServing::target`]).
fn target(api: &TfServing, spec: Option<&pb::ModelSpec>) -> Result<Target, Status> {
    let spec = spec.ok_or_else(|| Status::invalid_argument("Missing ModelSpec"))?;
    let choice = match &spec.version_choice {
        None => Choice::Latest,
        Some(pb::model_spec::VersionChoice::Version(v)) => Choice::Number(*v),
        Some(pb::model_spec::VersionChoice::VersionLabel(label)) => Choice::Label(label.clone()),
    };
    api.target(&spec.name, &choice, &spec.signature_name)
}

/// The `model_spec` an answer carries.
fn spec(target: &Target) -> pb::ModelSpec {
    pb::ModelSpec {
        name: target.served.name().to_string(),
        version_choice: target.version.map(pb::model_spec::VersionChoice::Version),
        signature_name: super::SIGNATURE.into(),
    }
}

/// `status` with its message cut to what a client is sent.
fn clipped(status: Status) -> Status {
    Status::new(status.code(), clip(status.message().to_string()))
}

/// The call's requests from its inputs: exactly one, `examples`, of
/// `DT_STRING`, its shape (if given) agreeing with its elements (slices of
/// the message, not copies).
///
/// # Errors
///
/// TensorFlow Serving's INVALID_ARGUMENT naming the input at fault: extra
/// or missing inputs, another `dtype`, a shape that does not hold the
/// elements.
pub fn requests(
    input: &str,
    mut inputs: std::collections::HashMap<String, tf::TensorProto>,
) -> Result<Vec<Bytes>, Status> {
    check_inputs(input, inputs.keys().map(String::as_str).collect())?;
    let tensor = inputs
        .remove(input)
        .ok_or_else(|| Status::internal(format!("input \"{input}\" checked, then not found")))?;
    if tensor.dtype != DataType::DtString as i32 {
        let name = DataType::try_from(tensor.dtype)
            .map_or_else(|_| tensor.dtype.to_string(), |d| d.as_str_name().into());
        return Err(Status::invalid_argument(format!(
            "input \"{input}\" is {name}: it is DT_STRING, one BatchPredictionRequest per element"
        )));
    }
    if let Some(shape) = &tensor.tensor_shape {
        let n = shape.dim.iter().try_fold(1u64, |n, d| {
            u64::try_from(d.size).ok().and_then(|d| n.checked_mul(d))
        });
        if n != Some(tensor.string_val.len() as u64) {
            return Err(Status::invalid_argument(format!(
                "input \"{input}\": its shape {:?} does not hold its {} elements",
                shape.dim.iter().map(|d| d.size).collect::<Vec<_>>(),
                tensor.string_val.len()
            )));
        }
    }
    Ok(tensor.string_val)
}

/// Elements of `N` little-endian bytes each (the raw outputs' form).
fn little_endian<T, const N: usize>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            from(b)
        })
        .collect()
}

/// An answer's tensor as TensorFlow Serving writes it: `dtype`,
/// `tensor_shape` and the typed values.
fn tensor(o: &OutputTensor) -> Result<(String, tf::TensorProto), Status> {
    let mut t = tf::TensorProto {
        tensor_shape: Some(tf::TensorShapeProto::of(&o.meta.shape)),
        ..Default::default()
    };
    let d = &o.data;
    match o.meta.datatype {
        "FP32" => {
            t.dtype = DataType::DtFloat as i32;
            t.float_val = little_endian(d, f32::from_le_bytes);
        }
        "FP64" => {
            t.dtype = DataType::DtDouble as i32;
            t.double_val = little_endian(d, f64::from_le_bytes);
        }
        "INT64" => {
            t.dtype = DataType::DtInt64 as i32;
            t.int64_val = little_endian(d, i64::from_le_bytes);
        }
        "UINT8" => {
            t.dtype = DataType::DtUint8 as i32;
            t.int_val = d.iter().map(|&b| i32::from(b)).collect();
        }
        "BYTES" => {
            t.dtype = DataType::DtString as i32;
            t.string_val = crate::frontend::kserve::split_bytes(Bytes::copy_from_slice(d), usize::MAX)
                .map_err(|e| Status::internal(e.message))?;
        }
        other => {
            return Err(Status::internal(format!(
                "output {:?} of datatype {other}",
                o.meta.name
            )))
        }
    }
    Ok((o.meta.name.clone(), t))
}

#[tonic::async_trait]
impl PredictionService for Grpc {
    async fn predict(&self, r: Request<pb::PredictRequest>) -> Result<Response<pb::PredictResponse>, Status> {
        let caller = r.extensions().get::<Caller>().cloned();
        let _owed = caller.as_ref().map(|c| c.0.owe());
        let source = Caller::id(caller.as_ref());
        let r = r.into_inner();
        let answered = async {
            let target = target(&self.0, r.model_spec.as_ref())?;
            let requests = requests(self.0.input(), r.inputs)?;
            let outputs = self
                .0
                .predict(&target, requests, &r.output_filter, source)
                .await?;
            Ok(pb::PredictResponse {
                model_spec: Some(spec(&target)),
                outputs: outputs.iter().map(tensor).collect::<Result<_, Status>>()?,
            })
        };
        answered.await.map(Response::new).map_err(clipped)
    }

    async fn get_model_metadata(
        &self,
        r: Request<pb::GetModelMetadataRequest>,
    ) -> Result<Response<pb::GetModelMetadataResponse>, Status> {
        let r = r.into_inner();
        let target = target(&self.0, r.model_spec.as_ref()).map_err(clipped)?;
        if r.metadata_field != ["signature_def"] {
            return Err(clipped(Status::invalid_argument(format!(
                "metadata_field must be [\"signature_def\"], not {:?}",
                r.metadata_field
            ))));
        }
        let map = pb::SignatureDefMap {
            signature_def: [(super::SIGNATURE.to_string(), self.0.signature(&target))].into(),
        };
        let any = prost_types::Any {
            type_url: "type.googleapis.com/tensorflow.serving.SignatureDefMap".into(),
            value: map.encode_to_vec(),
        };
        Ok(Response::new(pb::GetModelMetadataResponse {
            model_spec: Some(spec(&target)),
            metadata: [("signature_def".to_string(), any)].into(),
        }))
    }

    async fn classify(
        &self,
        _: Request<pb::ClassificationRequest>,
    ) -> Result<Response<pb::ClassificationResponse>, Status> {
        Err(Status::unimplemented("Classify is not served: use Predict"))
    }

    async fn regress(
        &self,
        _: Request<pb::RegressionRequest>,
    ) -> Result<Response<pb::RegressionResponse>, Status> {
        Err(Status::unimplemented("Regress is not served: use Predict"))
    }

    async fn multi_inference(
        &self,
        _: Request<pb::MultiInferenceRequest>,
    ) -> Result<Response<pb::MultiInferenceResponse>, Status> {
        Err(Status::unimplemented("MultiInference is not served: use Predict"))
    }
}
