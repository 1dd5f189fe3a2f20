//! TensorFlow Serving's gRPC API, `tensorflow.serving.PredictionService`
//! (what Navi speaks and its clients call): `Predict` and
//! `GetModelMetadata` over the same models and engine as every other
//! front end (its requests batch with Thrift and KServe traffic), served
//! on the KServe gRPC port; `Classify`, `Regress` and `MultiInference`
//! answer UNIMPLEMENTED. The messages are compiled from
//! `serve/proto/tensorflow_serving.proto`.
//!
//! A `Predict` call's input (`examples`) is a `DT_STRING` `[n]` tensor,
//! each element one `BatchPredictionRequest`; its outputs are the model's,
//! each with `dtype`, `tensor_shape` `[records, width]` and the typed
//! values (`float_val`, ...), rows in request order, and `response`
//! (`DT_STRING` `[n]`, each element the `BatchPredictionResponse` for that
//! element) when `output_filter` asks for it or the model writes its own
//! response. Errors are TensorFlow Serving's statuses.

use bytes::Bytes;
use prost::Message;
use tonic::{Request, Response, Status};

use super::kserve::{Data, InputTensor, Kserve, OutputTensor, Served, REQUEST, RESPONSE};
use crate::frontend::web::Caller;
use crate::proto::tensorflow::serving as pb;
use crate::proto::tensorflow::{self as tf, DataType};

use pb::prediction_service_server::PredictionService;
pub use pb::prediction_service_server::PredictionServiceServer;

/// `[tfserving]`: TensorFlow Serving's API.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TfServingConfig {
    /// The input a `Predict` call carries its requests in (default
    /// `examples`, Navi's).
    pub input: String,
}

impl Default for TfServingConfig {
    fn default() -> Self {
        TfServingConfig {
            input: "examples".into(),
        }
    }
}

impl TfServingConfig {
    /// Checks the input name.
    ///
    /// # Errors
    ///
    /// The key at fault and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.input.is_empty() || self.input.len() > 256 {
            return Err(("tfserving.input", "give a name of 1 to 256 bytes".into()));
        }
        Ok(())
    }
}

/// The signature a call may name (or leave empty).
const SIGNATURE: &str = "serving_default";

/// The path of the call that runs the model (bounded as KServe's infer).
pub const PREDICT: &str = "/tensorflow.serving.PredictionService/Predict";

/// The service over the models, its messages limited to
/// `max_message_bytes` (tonic's own default is 4 MiB), gzip requests
/// accepted (Navi's clients may send them).
pub fn service(
    kserve: Kserve,
    config: TfServingConfig,
    max_message_bytes: usize,
) -> PredictionServiceServer<TfServing> {
    PredictionServiceServer::new(TfServing { kserve, config })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(usize::MAX)
}

/// The service's implementation.
#[derive(Debug)]
pub struct TfServing {
    kserve: Kserve,
    config: TfServingConfig,
}

impl TfServing {
    /// The model version `spec` names: TensorFlow Serving's NOT_FOUND for
    /// an unknown model or version, FAILED_PRECONDITION for a signature
    /// other than `serving_default`.
    fn served(&self, spec: Option<&pb::ModelSpec>) -> Result<(Served, pb::ModelSpec), Status> {
        let spec = spec.ok_or_else(|| Status::invalid_argument("Missing ModelSpec"))?;
        let version = match &spec.version_choice {
            None => String::new(),
            Some(pb::model_spec::VersionChoice::Version(v)) => v.to_string(),
            Some(pb::model_spec::VersionChoice::VersionLabel(label)) => {
                return Err(Status::not_found(format!(
                    "Servable not found for request: Specific({}, label {label:?}): this server has no version labels",
                    spec.name
                )))
            }
        };
        let served = self
            .kserve
            .model(&spec.name, &version)
            .map_err(|e| match e.code {
                super::kserve::Code::NotFound => Status::not_found(format!(
                    "Servable not found for request: {}({}{}): {}",
                    if version.is_empty() { "Latest" } else { "Specific" },
                    spec.name,
                    if version.is_empty() {
                        String::new()
                    } else {
                        format!(", {version}")
                    },
                    e.message
                )),
                _ => Status::from(e),
            })?;
        if !spec.signature_name.is_empty() && spec.signature_name != SIGNATURE {
            return Err(Status::failed_precondition(format!(
                "Serving signature name: \"{}\" not found in signature def (it has \"{SIGNATURE}\")",
                spec.signature_name
            )));
        }
        let answered = pb::ModelSpec {
            name: served.name().to_string(),
            version_choice: served
                .version()
                .parse::<i64>()
                .ok()
                .map(pb::model_spec::VersionChoice::Version),
            signature_name: SIGNATURE.into(),
        };
        Ok((served, answered))
    }
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
    let Some(tensor) = inputs.remove(input) else {
        let mut extra: Vec<String> = inputs.into_keys().collect();
        extra.sort();
        return Err(Status::invalid_argument(format!(
            "input size does not match signature: {}!=1 for inputs {extra:?}: missing [\"{input}\"]",
            extra.len()
        )));
    };
    if !inputs.is_empty() {
        let mut extra: Vec<String> = inputs.into_keys().collect();
        extra.sort();
        return Err(Status::invalid_argument(format!(
            "input size does not match signature: {}!=1: extra inputs {extra:?} (the signature's one input is \"{input}\")",
            extra.len() + 1
        )));
    }
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
            t.string_val = super::kserve::split_bytes(Bytes::copy_from_slice(d), usize::MAX)
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
impl PredictionService for TfServing {
    async fn predict(&self, r: Request<pb::PredictRequest>) -> Result<Response<pb::PredictResponse>, Status> {
        let caller = r.extensions().get::<Caller>().cloned();
        let _owed = caller.as_ref().map(|c| c.0.owe());
        let source = Caller::id(caller.as_ref());
        let r = r.into_inner();
        if !self.kserve.serving() {
            return Err(Status::unavailable("shutting down"));
        }
        let (served, spec) = self.served(r.model_spec.as_ref())?;
        let requests = requests(&self.config.input, r.inputs)?;
        let n = requests.len() as i64;
        let outputs = served.outputs();
        let wanted: Vec<String> = if r.output_filter.is_empty() {
            let dense: Vec<String> = outputs
                .iter()
                .map(|o| o.name.clone())
                .filter(|n| n != RESPONSE)
                .collect();
            if dense.is_empty() {
                vec![RESPONSE.to_string()]
            } else {
                dense
            }
        } else {
            for name in &r.output_filter {
                if !outputs.iter().any(|o| &o.name == name) {
                    let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
                    return Err(Status::invalid_argument(format!(
                        "output tensor alias not found in signature: {name} (the outputs are {names:?})"
                    )));
                }
            }
            r.output_filter.clone()
        };
        let input = InputTensor {
            name: REQUEST.into(),
            datatype: "BYTES".into(),
            shape: vec![n],
            data: Data::Elements(requests),
        };
        let answered = served.infer(vec![input], &wanted, source).await?;
        let outputs = answered.iter().map(tensor).collect::<Result<_, _>>()?;
        Ok(Response::new(pb::PredictResponse {
            model_spec: Some(spec),
            outputs,
        }))
    }

    async fn get_model_metadata(
        &self,
        r: Request<pb::GetModelMetadataRequest>,
    ) -> Result<Response<pb::GetModelMetadataResponse>, Status> {
        let r = r.into_inner();
        let (served, spec) = self.served(r.model_spec.as_ref())?;
        if r.metadata_field != ["signature_def"] {
            return Err(Status::invalid_argument(format!(
                "metadata_field must be [\"signature_def\"], not {:?}",
                r.metadata_field
            )));
        }
        let info = |name: &str, dtype: DataType, shape: &[i64]| tf::TensorInfo {
            name: name.into(),
            dtype: dtype as i32,
            tensor_shape: Some(tf::TensorShapeProto::of(shape)),
        };
        let outputs = served
            .outputs()
            .into_iter()
            .map(|o| {
                let dtype = match o.datatype {
                    "FP32" => DataType::DtFloat,
                    "FP64" => DataType::DtDouble,
                    "INT64" => DataType::DtInt64,
                    "UINT8" => DataType::DtUint8,
                    _ => DataType::DtString,
                };
                (o.name.clone(), info(&o.name, dtype, &o.shape))
            })
            .collect();
        let signature = tf::SignatureDef {
            inputs: [(
                self.config.input.clone(),
                info(&self.config.input, DataType::DtString, &[-1]),
            )]
            .into(),
            outputs,
            method_name: "tensorflow/serving/predict".into(),
        };
        let map = pb::SignatureDefMap {
            signature_def: [(SIGNATURE.to_string(), signature)].into(),
        };
        let any = prost_types::Any {
            type_url: "type.googleapis.com/tensorflow.serving.SignatureDefMap".into(),
            value: map.encode_to_vec(),
        };
        Ok(Response::new(pb::GetModelMetadataResponse {
            model_spec: Some(spec),
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
