//! KServe v2 over gRPC: `inference.GRPCInferenceService` (tonic), with
//! Triton's `ModelConfig` and `ModelStatistics`, which `perf_analyzer`
//! asks for. The messages are compiled from `serve/proto/` at build time.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;
use tonic::codegen::http;
use tonic::{Request, Response, Status};

use super::{check_parameters, Code, Data, Error, InputTensor, Kserve, TensorMeta};
use crate::frontend::clip;
use crate::frontend::web::Caller;
use crate::metrics::Tally;

/// The messages and service of `serve/proto/grpc_service.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("inference");
}

use pb::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};

/// The gRPC service over a [`Kserve`] model, its messages limited to
/// `max_message_bytes` (tonic's own default is 4 MiB).
pub fn service(kserve: Kserve, max_message_bytes: usize) -> GrpcInferenceServiceServer<Grpc> {
    GrpcInferenceServiceServer::new(Grpc(kserve))
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(usize::MAX)
}

/// Two of tonic's refusals, made before the service sees the call (as
/// trailers-only responses: the status is in the headers), turned into the
/// protocol's: a message over the receiver's limit is RESOURCE_EXHAUSTED
/// (what grpc-core sends, and the protocol's "too large"; tonic says
/// OUT_OF_RANGE), and a message that is not protobuf is INVALID_ARGUMENT
/// (the client's fault; tonic says INTERNAL, which this server keeps for
/// "the model failed", and which clients retry).
pub fn refusals<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        // Percent-encoded on the wire (a space is %20).
        .map(|m| m.replace("%20", " "))
        .unwrap_or_default();
    let status = headers.get("grpc-status").map(http::HeaderValue::as_bytes);
    let mapped = match status {
        Some(b"11") if message.contains("message length too large") => Some("8"),
        Some(b"13") if message.contains("failed to decode Protobuf message") => Some("3"),
        _ => None,
    };
    if let Some(code) = mapped {
        headers.insert("grpc-status", http::HeaderValue::from_static(code));
    }
    response
}

/// A call past its time bound: DEADLINE_EXCEEDED.
fn late(time: Duration) -> http::Response<tonic::body::Body> {
    Status::deadline_exceeded(format!(
        "the call took longer than {time:?} (limits.read_timeout_s + batching.drop_after_ms)"
    ))
    .into_http()
}

/// The path of KServe's call that runs the model.
pub const INFER: &str = "/inference.GRPCInferenceService/ModelInfer";

/// The services of the gRPC port (KServe's, TensorFlow Serving's).
pub type Services = tonic::service::Routes;

/// The services as the gRPC port serves them: model calls bounded in number
/// (over all connections, and per connection) and in time, their wait for
/// a turn included; every other call (health, metadata, statistics)
/// served at once, never behind infer calls; tonic's refusals turned into
/// the protocol's ([`refusals`]).
#[derive(Clone, Debug)]
pub struct Calls {
    inner: Services,
    model_calls: &'static [&'static str],
    all: Arc<Semaphore>,
    mine: Arc<Semaphore>,
    time: Duration,
}

impl Calls {
    /// `inner`, with at most `max_calls` of the calls that run a model
    /// (the paths `model_calls`: KServe's infer, TensorFlow Serving's
    /// Predict) being read or run at once over all connections, each
    /// within `time`.
    pub fn new(
        inner: Services,
        model_calls: &'static [&'static str],
        max_calls: usize,
        time: Duration,
    ) -> Calls {
        Calls {
            inner,
            model_calls,
            all: Arc::new(Semaphore::new(max_calls)),
            mine: Arc::new(Semaphore::new(1)),
            time,
        }
    }

    /// The service for one connection, at most `per_connection` of whose
    /// infer calls run at once.
    pub fn for_connection(&self, per_connection: usize) -> Calls {
        Calls {
            mine: Arc::new(Semaphore::new(per_connection)),
            ..self.clone()
        }
    }
}

impl<B: Send + 'static> tower::Service<http::Request<B>> for Calls
where
    Services:
        tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    <Services as tower::Service<http::Request<B>>>::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let infer = self.model_calls.contains(&req.uri().path());
        let time = self.time;
        if !infer {
            // Bounded too (a stream that never ends holds its
            // connection), but never waiting for a turn.
            let call = self.inner.call(req);
            return Box::pin(async move {
                Ok(match tokio::time::timeout(time, call).await {
                    Ok(Ok(response)) => refusals(response),
                    Ok(Err(never)) => match never {},
                    Err(_) => late(time),
                })
            });
        }
        if req.extensions().get::<Caller>().is_some_and(|c| c.0.spare) {
            return Box::pin(async { Ok(Status::unavailable(super::SPARE).into_http()) });
        }
        let (all, mine) = (self.all.clone(), self.mine.clone());
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let bounded = tokio::time::timeout(time, async move {
                // The connection's own turn first: calls past its share
                // wait without holding one of everyone's.
                let _mine = mine.acquire_owned().await;
                let _all = all.acquire_owned().await;
                inner.call(req).await
            });
            Ok(match bounded.await {
                Ok(Ok(response)) => refusals(response),
                Ok(Err(never)) => match never {},
                Err(_) => late(time),
            })
        })
    }
}

/// The service's implementation.
#[derive(Debug)]
pub struct Grpc(Kserve);

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        match e.code {
            Code::InvalidArgument => Status::invalid_argument(clip(e.message)),
            Code::TooLarge | Code::Overloaded => Status::resource_exhausted(clip(e.message)),
            Code::Unavailable => Status::unavailable(clip(e.message)),
            Code::NotFound => Status::not_found(clip(e.message)),
            Code::Refused => Status::failed_precondition(clip(e.message)),
            Code::Internal => Status::internal(clip(e.message)),
        }
    }
}

fn tensor_metadata(t: TensorMeta) -> pb::model_metadata_response::TensorMetadata {
    pb::model_metadata_response::TensorMetadata {
        name: t.name,
        datatype: t.datatype.into(),
        shape: t.shape,
    }
}

/// Triton's config enum for a protocol datatype (REST gives its name).
pub(super) fn config_type(datatype: &str) -> pb::DataType {
    match datatype {
        "BYTES" => pb::DataType::TypeString,
        "FP32" => pb::DataType::TypeFp32,
        "FP64" => pb::DataType::TypeFp64,
        "INT64" => pb::DataType::TypeInt64,
        "UINT8" => pb::DataType::TypeUint8,
        _ => pb::DataType::TypeInvalid,
    }
}

fn duration(t: Tally) -> Option<pb::StatisticDuration> {
    Some(pb::StatisticDuration {
        count: t.count,
        ns: t.ns,
    })
}

/// An infer request's input tensors (each with its data: the raw contents
/// given for it, else its typed contents) and the names of the outputs
/// asked for.
///
/// # Errors
///
/// [`Code::InvalidArgument`]: a parameter this server refuses, or raw
/// contents that are not one per input.
pub fn infer_inputs(r: pb::ModelInferRequest) -> Result<(Vec<InputTensor>, Vec<String>), Error> {
    check_parameters(r.parameters.keys(), || "the request".into())?;
    if !r.raw_input_contents.is_empty() && r.raw_input_contents.len() != r.inputs.len() {
        return Err(Error::invalid(format!(
            "{} raw_input_contents for {} inputs: give one per input, or none",
            r.raw_input_contents.len(),
            r.inputs.len()
        )));
    }
    let mut raw = r.raw_input_contents.into_iter();
    let mut inputs = Vec::with_capacity(r.inputs.len());
    for t in r.inputs {
        check_parameters(t.parameters.keys(), || format!("input {:?}", t.name))?;
        let contents = t.contents.unwrap_or_default();
        let data = match raw.next() {
            Some(bytes) => Data::Raw(bytes),
            None if !contents.bytes_contents.is_empty() => Data::Elements(contents.bytes_contents),
            None => Data::Integers(contents.uint_contents.into_iter().map(u64::from).collect()),
        };
        inputs.push(InputTensor {
            name: t.name,
            datatype: t.datatype,
            shape: t.shape,
            data,
        });
    }
    for o in &r.outputs {
        check_parameters(o.parameters.keys(), || format!("output {:?}", o.name))?;
    }
    let wanted = r.outputs.into_iter().map(|o| o.name).collect();
    Ok((inputs, wanted))
}

#[tonic::async_trait]
impl GrpcInferenceService for Grpc {
    async fn server_live(
        &self,
        _: Request<pb::ServerLiveRequest>,
    ) -> Result<Response<pb::ServerLiveResponse>, Status> {
        Ok(Response::new(pb::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<pb::ServerReadyRequest>,
    ) -> Result<Response<pb::ServerReadyResponse>, Status> {
        Ok(Response::new(pb::ServerReadyResponse {
            ready: self.0.ready(),
        }))
    }

    async fn model_ready(
        &self,
        r: Request<pb::ModelReadyRequest>,
    ) -> Result<Response<pb::ModelReadyResponse>, Status> {
        let r = r.into_inner();
        // A model known but with no version loaded is not ready (not an
        // error); an unknown model or version is NOT_FOUND.
        let ready = match self.0.model(&r.name, &r.version) {
            Ok(_) => self.0.serving(),
            Err(e) if e.code == Code::Unavailable => false,
            Err(e) => return Err(e.into()),
        };
        Ok(Response::new(pb::ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<pb::ServerMetadataRequest>,
    ) -> Result<Response<pb::ServerMetadataResponse>, Status> {
        Ok(Response::new(pb::ServerMetadataResponse {
            name: "bprwire-serve".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: super::EXTENSIONS.iter().map(|e| e.to_string()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        r: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let r = r.into_inner();
        let m = self.0.model(&r.name, &r.version)?;
        Ok(Response::new(pb::ModelMetadataResponse {
            name: m.name().into(),
            versions: vec![m.version()],
            platform: "bprwire".into(),
            inputs: m.inputs().into_iter().map(tensor_metadata).collect(),
            outputs: m.outputs().into_iter().map(tensor_metadata).collect(),
        }))
    }

    async fn model_infer(
        &self,
        r: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        let caller = r.extensions().get::<Caller>().cloned();
        let _owed = caller.as_ref().map(|c| c.0.owe());
        let source = Caller::id(caller.as_ref());
        let mut r = r.into_inner();
        if !self.0.serving() {
            return Err(Status::unavailable("shutting down"));
        }
        let m = self.0.model(&r.model_name, &r.model_version)?;
        let id = std::mem::take(&mut r.id);
        let (inputs, wanted) = infer_inputs(r)?;
        let outputs = m.infer(inputs, &wanted, source).await?;
        let mut response = pb::ModelInferResponse {
            model_name: m.name().into(),
            model_version: m.version(),
            id,
            ..Default::default()
        };
        for o in outputs {
            response
                .outputs
                .push(pb::model_infer_response::InferOutputTensor {
                    name: o.meta.name,
                    datatype: o.meta.datatype.into(),
                    shape: o.meta.shape,
                    ..Default::default()
                });
            response.raw_output_contents.push(Bytes::from(o.data));
        }
        Ok(Response::new(response))
    }

    async fn model_config(
        &self,
        r: Request<pb::ModelConfigRequest>,
    ) -> Result<Response<pb::ModelConfigResponse>, Status> {
        let r = r.into_inner();
        let m = self.0.model(&r.name, &r.version)?;
        let config = pb::ModelConfig {
            name: m.name().into(),
            platform: "bprwire".into(),
            backend: "bprwire".into(),
            // 0: the tensors' first dimension is theirs, not Triton's
            // batch dimension (the server batches requests itself).
            max_batch_size: 0,
            input: m
                .inputs()
                .into_iter()
                .map(|t| pb::ModelInput {
                    name: t.name,
                    data_type: config_type(t.datatype) as i32,
                    dims: t.shape,
                    ..Default::default()
                })
                .collect(),
            output: m
                .outputs()
                .into_iter()
                .map(|t| pb::ModelOutput {
                    name: t.name,
                    data_type: config_type(t.datatype) as i32,
                    dims: t.shape,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        Ok(Response::new(pb::ModelConfigResponse { config: Some(config) }))
    }

    async fn model_statistics(
        &self,
        r: Request<pb::ModelStatisticsRequest>,
    ) -> Result<Response<pb::ModelStatisticsResponse>, Status> {
        let r = r.into_inner();
        // No name: every model's serving version(s) (the highest of each).
        let served = if r.name.is_empty() {
            self.0
                .names()
                .iter()
                .filter_map(|n| self.0.model(n, "").ok())
                .collect()
        } else {
            vec![self.0.model(&r.name, &r.version)?]
        };
        let model_stats = served.iter().map(statistics).collect();
        Ok(Response::new(pb::ModelStatisticsResponse { model_stats }))
    }

    async fn repository_index(
        &self,
        r: Request<pb::RepositoryIndexRequest>,
    ) -> Result<Response<pb::RepositoryIndexResponse>, Status> {
        let r = r.into_inner();
        let models = self
            .0
            .index()
            .into_iter()
            .filter(|s| !r.ready || s.state == "READY")
            .map(|s| pb::repository_index_response::ModelIndex {
                name: s.model,
                version: s.version,
                state: s.state.into(),
                reason: s.reason,
            })
            .collect();
        Ok(Response::new(pb::RepositoryIndexResponse { models }))
    }

    async fn repository_model_load(
        &self,
        r: Request<pb::RepositoryModelLoadRequest>,
    ) -> Result<Response<pb::RepositoryModelLoadResponse>, Status> {
        let r = r.into_inner();
        if let Some(key) = r.parameters.keys().next() {
            return Err(Status::invalid_argument(format!(
                "load parameter {key:?} is not supported: a model's configuration is its model.toml"
            )));
        }
        self.0.load(&r.model_name).await?;
        Ok(Response::new(pb::RepositoryModelLoadResponse {}))
    }

    async fn repository_model_unload(
        &self,
        r: Request<pb::RepositoryModelUnloadRequest>,
    ) -> Result<Response<pb::RepositoryModelUnloadResponse>, Status> {
        let r = r.into_inner();
        // `unload_dependents` (Triton's ensembles) has nothing to act on.
        self.0.unload(&r.model_name).await?;
        Ok(Response::new(pb::RepositoryModelUnloadResponse {}))
    }
}

/// A model version's `ModelStatistics`.
fn statistics(m: &super::Served) -> pb::ModelStatistics {
    let t = m.totals();
    pb::ModelStatistics {
        name: m.name().into(),
        version: m.version(),
        last_inference: t.last_inference_ms,
        inference_count: t.inference_count,
        execution_count: t.execution_count,
        inference_stats: Some(pb::InferStatistics {
            success: duration(t.success),
            fail: duration(t.fail),
            queue: duration(t.queue),
            compute_input: duration(t.compute_input),
            compute_infer: duration(t.compute_infer),
            compute_output: duration(t.compute_output),
            cache_hit: duration(Tally::default()),
            cache_miss: duration(Tally::default()),
        }),
        ..Default::default()
    }
}
