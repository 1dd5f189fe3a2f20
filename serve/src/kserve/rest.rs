//! KServe v2 over REST, on the HTTP port beside `/metrics`: health,
//! metadata, Triton's config and statistics, and `infer` with JSON tensors
//! and the binary tensor data extension (`Inference-Header-Content-Length`:
//! the JSON, then each binary tensor's bytes in order), which is how
//! `BYTES` requests and responses travel (they are not text).

use axum::body::Bytes;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    check_parameters, Code, Data, Error, InputTensor, Kserve, OutputTensor, TensorMeta, RESPONSE, VERSION,
};
use crate::metrics::Tally;

/// The header that says how long the JSON part of a body is.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// The most JSON a call may carry. Parsed JSON takes many times its size
/// (a number in an array: a few bytes of text, 32 of `Value`), so large
/// tensors travel in binary (the extension), as `BYTES` must anyway.
pub const MAX_JSON_BYTES: usize = 4 << 20;

/// The `/v2` routes over a [`Kserve`] model; an `infer` body is limited to
/// `max_message_bytes`, at most `max_calls` calls are served at once (the
/// others wait their turn: bodies being read are bounded in number, and so
/// in memory), and a call, its body's reading included, is answered 408
/// past `call_time` (a client trickling its body holds its own call only
/// that long, and its place among the `max_calls`).
pub fn router(kserve: Kserve, max_message_bytes: usize, max_calls: usize, call_time: Duration) -> Router {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(|| async { StatusCode::OK }))
        .route("/v2/health/ready", get(server_ready))
        .route("/v2/models/stats", get(all_statistics))
        .route("/v2/models/{name}", get(model_metadata))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(model_metadata_version),
        )
        .route("/v2/models/{name}/ready", get(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready_version),
        )
        .route("/v2/models/{name}/config", get(model_config))
        .route(
            "/v2/models/{name}/versions/{version}/config",
            get(model_config_version),
        )
        .route("/v2/models/{name}/stats", get(model_statistics))
        .route(
            "/v2/models/{name}/versions/{version}/stats",
            get(model_statistics_version),
        )
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer_version))
        .layer(DefaultBodyLimit::max(max_message_bytes))
        .layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |_: tower::BoxError| {
                    timed_out(call_time)
                }))
                .timeout(call_time),
        )
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max_calls))
        .with_state(kserve)
}

/// A call that took longer than `call_time`: 408, with the protocol's JSON
/// error.
async fn timed_out(call_time: Duration) -> Response {
    let message =
        format!("the call took longer than {call_time:?} (limits.read_timeout_s + batching.drop_after_ms)");
    (
        StatusCode::REQUEST_TIMEOUT,
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match self.code {
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

fn meta_json(t: &TensorMeta) -> Value {
    json!({ "name": t.name, "datatype": t.datatype, "shape": t.shape })
}

async fn server_metadata() -> axum::Json<Value> {
    axum::Json(json!({
        "name": "bprwire-serve",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": super::EXTENSIONS,
    }))
}

async fn server_ready(State(k): State<Kserve>) -> StatusCode {
    if k.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn model_metadata(
    State(k): State<Kserve>,
    Path(name): Path<String>,
) -> Result<axum::Json<Value>, Error> {
    metadata(&k, &name, "")
}

async fn model_metadata_version(
    State(k): State<Kserve>,
    Path((name, version)): Path<(String, String)>,
) -> Result<axum::Json<Value>, Error> {
    metadata(&k, &name, &version)
}

fn metadata(k: &Kserve, name: &str, version: &str) -> Result<axum::Json<Value>, Error> {
    k.check_model(name, version)?;
    Ok(axum::Json(json!({
        "name": k.model(),
        "versions": [VERSION],
        "platform": "bprwire",
        "inputs": k.inputs().iter().map(meta_json).collect::<Vec<_>>(),
        "outputs": k.outputs().iter().map(meta_json).collect::<Vec<_>>(),
    })))
}

async fn model_ready(State(k): State<Kserve>, Path(name): Path<String>) -> Result<StatusCode, Error> {
    ready(&k, &name, "")
}

async fn model_ready_version(
    State(k): State<Kserve>,
    Path((name, version)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    ready(&k, &name, &version)
}

fn ready(k: &Kserve, name: &str, version: &str) -> Result<StatusCode, Error> {
    k.check_model(name, version)?;
    Ok(if k.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    })
}

async fn model_config(State(k): State<Kserve>, Path(name): Path<String>) -> Result<axum::Json<Value>, Error> {
    config(&k, &name, "")
}

async fn model_config_version(
    State(k): State<Kserve>,
    Path((name, version)): Path<(String, String)>,
) -> Result<axum::Json<Value>, Error> {
    config(&k, &name, &version)
}

fn config(k: &Kserve, name: &str, version: &str) -> Result<axum::Json<Value>, Error> {
    k.check_model(name, version)?;
    let tensors = |ts: Vec<TensorMeta>| -> Vec<Value> {
        ts.iter()
            .map(|t| json!({ "name": t.name, "data_type": super::grpc::config_type(t.datatype).as_str_name(), "dims": t.shape }))
            .collect()
    };
    Ok(axum::Json(json!({
        "name": k.model(),
        "platform": "bprwire",
        "backend": "bprwire",
        "max_batch_size": 0,
        "input": tensors(k.inputs()),
        "output": tensors(k.outputs()),
    })))
}

fn duration(t: Tally) -> Value {
    json!({ "count": t.count, "ns": t.ns })
}

fn statistics_json(k: &Kserve) -> Value {
    let t = k.totals();
    json!({ "model_stats": [{
        "name": k.model(),
        "version": VERSION,
        "last_inference": t.last_inference_ms,
        "inference_count": t.inference_count,
        "execution_count": t.execution_count,
        "inference_stats": {
            "success": duration(t.success),
            "fail": duration(t.fail),
            "queue": duration(t.queue),
            "compute_input": duration(t.compute_input),
            "compute_infer": duration(t.compute_infer),
            "compute_output": duration(t.compute_output),
            "cache_hit": duration(Tally::default()),
            "cache_miss": duration(Tally::default()),
        },
        "batch_stats": [],
    }]})
}

async fn all_statistics(State(k): State<Kserve>) -> axum::Json<Value> {
    axum::Json(statistics_json(&k))
}

async fn model_statistics(
    State(k): State<Kserve>,
    Path(name): Path<String>,
) -> Result<axum::Json<Value>, Error> {
    k.check_model(&name, "")?;
    Ok(axum::Json(statistics_json(&k)))
}

async fn model_statistics_version(
    State(k): State<Kserve>,
    Path((name, version)): Path<(String, String)>,
) -> Result<axum::Json<Value>, Error> {
    k.check_model(&name, &version)?;
    Ok(axum::Json(statistics_json(&k)))
}

/// An infer request's JSON part.
#[derive(Debug, Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<JsonInput>,
    #[serde(default)]
    outputs: Vec<JsonOutput>,
}

#[derive(Debug, Deserialize)]
struct JsonInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct JsonOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

async fn infer(
    State(k): State<Kserve>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&k, &name, "", &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn infer_version(
    State(k): State<Kserve>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(&k, &name, &version, &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid(message)
}

/// A body that could not be read, as the protocol's error (JSON): over
/// the limit is 413, anything else 400.
fn unread(e: BytesRejection) -> Error {
    let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Code::TooLarge
    } else {
        Code::InvalidArgument
    };
    Error::new(code, format!("the request's body: {}", e.body_text()))
}

async fn run(
    k: &Kserve,
    name: &str,
    version: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    k.check_model(name, version)?;
    let body = body.map_err(unread)?;
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        if enc.as_bytes() != b"identity" {
            return Err(invalid(format!(
                "Content-Encoding {enc:?} is not supported: send the body uncompressed"
            )));
        }
    }
    let json_len = match headers.get(HEADER_LENGTH) {
        None => body.len(),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n <= body.len())
            .ok_or_else(|| {
                invalid(format!(
                    "{HEADER_LENGTH} {v:?} is not a length within the body's {} bytes",
                    body.len()
                ))
            })?,
    };
    if json_len > MAX_JSON_BYTES {
        return Err(Error::new(
            Code::TooLarge,
            format!("the request's JSON is {json_len} bytes, over {MAX_JSON_BYTES}: send tensors in binary ({HEADER_LENGTH})"),
        ));
    }
    let request: InferRequest =
        serde_json::from_slice(&body[..json_len]).map_err(|e| invalid(format!("the request's JSON: {e}")))?;
    check_parameters(request.parameters.keys(), || "the request".into())?;
    let mut tail = body.slice(json_len..);
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        check_parameters(input.parameters.keys(), || format!("input {:?}", input.name))?;
        let data = match (input.parameters.get("binary_data_size"), input.data) {
            (Some(size), None) => {
                let size = size
                    .as_u64()
                    .and_then(|s| usize::try_from(s).ok())
                    .filter(|&s| s <= tail.len())
                    .ok_or_else(|| {
                        invalid(format!(
                            "input {:?}: binary_data_size {size} is not a size within the {} binary bytes left",
                            input.name,
                            tail.len()
                        ))
                    })?;
                Data::Raw(tail.split_to(size))
            }
            (None, Some(data)) => json_data(&input.name, &input.datatype, &data)?,
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "input {:?} has both binary_data_size and data",
                    input.name
                )))
            }
            (None, None) => return Err(invalid(format!("input {:?} has no data", input.name))),
        };
        inputs.push(InputTensor {
            name: input.name,
            datatype: input.datatype,
            shape: input.shape,
            data,
        });
    }
    if !tail.is_empty() {
        return Err(invalid(format!(
            "{} bytes after the inputs' binary data",
            tail.len()
        )));
    }
    let all_binary = request
        .parameters
        .get("binary_data_output")
        .and_then(Value::as_bool)
        == Some(true);
    let mut binary = Vec::with_capacity(request.outputs.len());
    for o in &request.outputs {
        check_parameters(o.parameters.keys(), || format!("output {:?}", o.name))?;
        binary.push(all_binary || o.parameters.get("binary_data").and_then(Value::as_bool) == Some(true));
    }
    let wanted: Vec<String> = request.outputs.into_iter().map(|o| o.name).collect();
    if wanted.is_empty() {
        binary.push(all_binary);
    }
    let outputs = k.infer(inputs, &wanted).await?;
    answer(k, request.id, outputs, &binary)
}

/// An input's JSON `data`: nested arrays, row-major; strings for `BYTES`,
/// integers for `UINT8`.
fn json_data(name: &str, datatype: &str, data: &Value) -> Result<Data, Error> {
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    match datatype {
        "BYTES" => flat
            .into_iter()
            .map(|v| {
                v.as_str()
                    .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                    .ok_or_else(|| invalid(format!("input {name:?}: a BYTES element that is not a string")))
            })
            .collect::<Result<_, _>>()
            .map(Data::Elements),
        "UINT8" => flat
            .into_iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| invalid(format!("input {name:?}: a UINT8 element that is not an integer")))
            })
            .collect::<Result<_, _>>()
            .map(Data::Integers),
        other => Err(invalid(format!(
            "input {name:?} is {other}: it is BYTES or UINT8"
        ))),
    }
}

/// Arrays nested to any depth (serde_json stops at 128), in order.
fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => out.push(other),
    }
}

/// The infer response: JSON, then the binary outputs' bytes (those asked
/// for with `binary_data`); `BYTES` outputs are binary only.
fn answer(
    k: &Kserve,
    id: Option<String>,
    outputs: Vec<OutputTensor>,
    binary: &[bool],
) -> Result<Response, Error> {
    let mut entries = Vec::with_capacity(outputs.len());
    let mut blobs = Vec::new();
    for (o, &bin) in outputs.iter().zip(binary) {
        let mut entry = meta_json(&o.meta);
        if bin {
            entry["parameters"] = json!({ "binary_data_size": o.data.len() });
            blobs.push(&o.data);
        } else if o.meta.name == RESPONSE || o.meta.datatype == "BYTES" {
            return Err(invalid(format!(
                "output {:?} is binary (Thrift bytes): ask for it with the parameter binary_data = true",
                o.meta.name
            )));
        } else {
            entry["data"] = json_values(o.meta.datatype, &o.data);
        }
        entries.push(entry);
    }
    let mut head = json!({ "model_name": k.model(), "model_version": VERSION, "outputs": entries });
    if let Some(id) = id.filter(|s| !s.is_empty()) {
        head["id"] = Value::String(id);
    }
    let head = serde_json::to_vec(&head).map_err(|e| Error::new(Code::Internal, e.to_string()))?;
    if blobs.is_empty() {
        return Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            head,
        )
            .into_response());
    }
    let mut body = Vec::with_capacity(head.len() + blobs.iter().map(|b| b.len()).sum::<usize>());
    body.extend_from_slice(&head);
    for b in blobs {
        body.extend_from_slice(b);
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::HeaderName::from_static(HEADER_LENGTH),
                HeaderValue::from(head.len()),
            ),
        ],
        body,
    )
        .into_response())
}

/// Little-endian elements as JSON numbers.
fn json_values(datatype: &str, data: &[u8]) -> Value {
    fn each<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> Value) -> Value {
        Value::Array(
            data.chunks_exact(N)
                .map(|c| f(c.try_into().expect("N bytes")))
                .collect(),
        )
    }
    match datatype {
        "FP32" => each(data, |b| json!(f32::from_le_bytes(b))),
        "FP64" => each(data, |b| json!(f64::from_le_bytes(b))),
        "INT64" => each(data, |b| json!(i64::from_le_bytes(b))),
        _ => each(data, |b: [u8; 1]| json!(b[0])),
    }
}
