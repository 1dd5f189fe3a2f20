//! KServe v2 over REST, on the HTTP port beside `/metrics`: health,
//! metadata, Triton's config and statistics, and `infer` with JSON tensors
//! and the binary tensor data extension (`Inference-Header-Content-Length`:
//! the JSON, then each binary tensor's bytes in order), which is how
//! `BYTES` requests and responses travel (they are not text).

use axum::body::Bytes;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    check_parameters, Code, Data, Error, InputTensor, Kserve, OutputTensor, Served, TensorMeta, RESPONSE,
    SPARE,
};
use crate::frontend::bounded::{self, Parsers, Unparsed};
use crate::frontend::web::Caller;
use crate::metrics::Tally;

/// The header that says how long the JSON part of a body is.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// The most JSON a call may carry: large tensors travel in binary (the
/// extension), as `BYTES` must anyway.
pub const MAX_JSON_BYTES: usize = 4 << 20;

/// The `/v2` routes over a [`Kserve`] model. `infer` calls are bounded
/// ([`bounded::bound`]: body size, call time), their JSON parsed on
/// `parsers`, straight into the tensors (no JSON tree). Health,
/// metadata, configuration and statistics never wait behind infer calls.
pub fn router(kserve: Kserve, max_message_bytes: usize, call_time: Duration, parsers: Parsers) -> Router {
    let infer = bounded::bound(
        Router::new()
            .route("/v2/models/{name}/infer", post(infer))
            .route("/v2/models/{name}/versions/{version}/infer", post(infer_version)),
        max_message_bytes,
        call_time,
        parsers,
    );
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
        .route("/v2/repository/index", post(repository_index))
        .route("/v2/repository/models/{name}/load", post(repository_load))
        .route("/v2/repository/models/{name}/unload", post(repository_unload))
        .merge(infer)
        .with_state(kserve)
}

/// The repository extension's index: `[{name, version, state, reason}]`;
/// a body `{"ready": true}` keeps only the models ready.
async fn repository_index(State(k): State<Kserve>, body: Bytes) -> Result<axum::Json<Value>, Error> {
    let ready = if body.is_empty() {
        false
    } else {
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| invalid(format!("the index request: {e}")))?;
        v.get("ready").and_then(Value::as_bool).unwrap_or(false)
    };
    let models: Vec<Value> = k
        .index()
        .into_iter()
        .filter(|s| !ready || s.state == "READY")
        .map(|s| {
            let mut entry = json!({ "name": s.model, "state": s.state });
            if !s.version.is_empty() {
                entry["version"] = json!(s.version);
            }
            if !s.reason.is_empty() {
                entry["reason"] = json!(s.reason);
            }
            entry
        })
        .collect();
    Ok(axum::Json(Value::Array(models)))
}

/// Refuses load and unload parameters: a model's configuration is its
/// `model.toml` (Triton's `config` and file overrides are not served).
fn no_parameters(body: &Bytes) -> Result<(), Error> {
    if body.is_empty() {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("the request: {e}")))?;
    match v
        .get("parameters")
        .and_then(Value::as_object)
        .and_then(|p| p.keys().next())
    {
        Some(key) if key != "unload_dependents" => Err(invalid(format!(
            "parameter {key:?} is not supported: a model's configuration is its model.toml"
        ))),
        _ => Ok(()),
    }
}

async fn repository_load(
    State(k): State<Kserve>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    no_parameters(&body)?;
    k.load(&name).await?;
    Ok(StatusCode::OK)
}

async fn repository_unload(
    State(k): State<Kserve>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    no_parameters(&body)?;
    k.unload(&name).await?;
    Ok(StatusCode::OK)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match self.code {
            Code::InvalidArgument => StatusCode::BAD_REQUEST,
            Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Refused => StatusCode::FORBIDDEN,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            axum::Json(json!({ "error": crate::frontend::clip(self.message) })),
        )
            .into_response()
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
    let m = k.model(name, version)?;
    Ok(axum::Json(json!({
        "name": m.name(),
        "versions": [m.version()],
        "platform": "bprwire",
        "inputs": m.inputs().iter().map(meta_json).collect::<Vec<_>>(),
        "outputs": m.outputs().iter().map(meta_json).collect::<Vec<_>>(),
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

/// 200 when the model (version) serves; 503 when the model is known
/// but has no version loaded, or shutdown has begun; 404 when unknown.
fn ready(k: &Kserve, name: &str, version: &str) -> Result<StatusCode, Error> {
    match k.model(name, version) {
        Ok(_) if k.serving() => Ok(StatusCode::OK),
        Ok(_) => Ok(StatusCode::SERVICE_UNAVAILABLE),
        Err(e) if e.code == Code::Unavailable => Ok(StatusCode::SERVICE_UNAVAILABLE),
        Err(e) => Err(e),
    }
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
    let m = k.model(name, version)?;
    let tensors = |ts: Vec<TensorMeta>| -> Vec<Value> {
        ts.iter()
            .map(|t| json!({ "name": t.name, "data_type": super::grpc::config_type(t.datatype).as_str_name(), "dims": t.shape }))
            .collect()
    };
    Ok(axum::Json(json!({
        "name": m.name(),
        "platform": "bprwire",
        "backend": "bprwire",
        "max_batch_size": 0,
        "input": tensors(m.inputs()),
        "output": tensors(m.outputs()),
    })))
}

fn duration(t: Tally) -> Value {
    json!({ "count": t.count, "ns": t.ns })
}

/// The `model_stats` of these model versions.
fn statistics_json(served: &[Served]) -> Value {
    let stats: Vec<Value> = served.iter().map(model_statistics_json).collect();
    json!({ "model_stats": stats })
}

fn model_statistics_json(m: &Served) -> Value {
    let t = m.totals();
    json!({
        "name": m.name(),
        "version": m.version(),
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
    })
}

async fn all_statistics(State(k): State<Kserve>) -> axum::Json<Value> {
    let served: Vec<Served> = k.names().iter().filter_map(|n| k.model(n, "").ok()).collect();
    axum::Json(statistics_json(&served))
}

async fn model_statistics(
    State(k): State<Kserve>,
    Path(name): Path<String>,
) -> Result<axum::Json<Value>, Error> {
    Ok(axum::Json(statistics_json(&[k.model(&name, "")?])))
}

async fn model_statistics_version(
    State(k): State<Kserve>,
    Path((name, version)): Path<(String, String)>,
) -> Result<axum::Json<Value>, Error> {
    Ok(axum::Json(statistics_json(&[k.model(&name, &version)?])))
}

async fn infer(
    State(k): State<Kserve>,
    Path(name): Path<String>,
    Extension(parsers): Extension<Parsers>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let caller = caller.map(|c| c.0);
    let _owed = caller.as_ref().map(|c| c.0.owe());
    run(&k, &name, "", &parsers, caller.as_ref(), &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn infer_version(
    State(k): State<Kserve>,
    Path((name, version)): Path<(String, String)>,
    Extension(parsers): Extension<Parsers>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let caller = caller.map(|c| c.0);
    let _owed = caller.as_ref().map(|c| c.0.owe());
    run(&k, &name, &version, &parsers, caller.as_ref(), &headers, body)
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

#[allow(clippy::too_many_arguments)]
async fn run(
    k: &Kserve,
    name: &str,
    version: &str,
    parsers: &Parsers,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    if !k.serving() {
        return Err(Error::new(Code::Unavailable, "shutting down"));
    }
    let m = k.model(name, version)?;
    if caller.is_some_and(|c| c.0.spare) {
        return Err(Error::new(Code::Unavailable, SPARE));
    }
    let source = Caller::id(caller);
    let body = body.map_err(unread)?;
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        if enc.as_bytes() != b"identity" {
            return Err(invalid(format!(
                "Content-Encoding {enc:?} is not supported: send the body uncompressed"
            )));
        }
    }
    let json_len = json_length(headers.get(HEADER_LENGTH), body.len())?;
    // The parse walks the binary part too (a BYTES tensor's elements one
    // by one): the whole body decides where it runs, not the JSON alone.
    let call = parsers
        .run(body.len(), move || parse(body, json_len))
        .await
        .map_err(|e| match e {
            Unparsed::ShuttingDown => Error::new(Code::Unavailable, "shutting down"),
            Unparsed::Stopped(why) => {
                Error::new(Code::Internal, format!("parsing the request failed: {why}"))
            }
        })??;
    let outputs = m.infer(call.inputs, &call.wanted, source).await?;
    answer(&m, call.id, outputs, &call.binary)
}

/// The JSON part's length: the header's, or the whole body.
fn json_length(header: Option<&HeaderValue>, body: usize) -> Result<usize, Error> {
    let json_len = match header {
        None => body,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|&n| n <= body)
            .ok_or_else(|| {
                invalid(format!(
                    "{HEADER_LENGTH} {v:?} is not a length within the body's {body} bytes"
                ))
            })?,
    };
    if json_len > MAX_JSON_BYTES {
        return Err(Error::new(
            Code::TooLarge,
            format!("the request's JSON is {json_len} bytes, over {MAX_JSON_BYTES}: send tensors in binary ({HEADER_LENGTH})"),
        ));
    }
    Ok(json_len)
}

/// An infer call, read: its inputs, the outputs wanted, and for each
/// output (or for the default one) whether it goes back in binary.
#[derive(Debug)]
pub struct Call {
    /// The request's `id`, echoed.
    pub id: Option<String>,
    /// The inputs.
    pub inputs: Vec<InputTensor>,
    /// The outputs asked for, in order.
    pub wanted: Vec<String>,
    /// Binary or not, per output (one entry when none is asked for).
    pub binary: Vec<bool>,
}

/// Reads an infer body: its first `json_len` bytes are the JSON, the rest
/// the inputs' binary data in order. The JSON is read straight into the
/// tensors (strings copied once, numbers as integers): no JSON tree, and
/// memory within a small multiple of the body's size.
///
/// # Errors
///
/// [`Code::InvalidArgument`] naming what is wrong: the JSON, a parameter,
/// an input's data or binary size, bytes left over.
pub fn parse(body: Bytes, json_len: usize) -> Result<Call, Error> {
    let json = body.get(..json_len).ok_or_else(|| {
        invalid(format!(
            "the JSON part is {json_len} bytes, the body only {}",
            body.len()
        ))
    })?;
    let request: InferRequest =
        serde_json::from_slice(json).map_err(|e| invalid(format!("the request's JSON: {e}")))?;
    check_parameters(request.parameters.keys(), || "the request".into())?;
    let mut tail = body.slice(json_len..);
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        check_parameters(input.parameters.keys(), || format!("input {:?}", input.name))?;
        let data = match (input.parameters.get("binary_data_size"), input.data) {
            (Some(size), None) => {
                let size = match size {
                    Param::Uint(s) => usize::try_from(*s).ok().filter(|&s| s <= tail.len()),
                    _ => None,
                }
                .ok_or_else(|| {
                    invalid(format!(
                        "input {:?}: binary_data_size {size} is not a size within the {} binary bytes left",
                        input.name,
                        tail.len()
                    ))
                })?;
                Data::Raw(tail.split_to(size))
            }
            (None, Some(data)) => json_data(&input.name, &input.datatype, data)?,
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
    let all_binary = request.parameters.get("binary_data_output") == Some(&Param::Bool(true));
    let mut binary = Vec::with_capacity(request.outputs.len());
    for o in &request.outputs {
        check_parameters(o.parameters.keys(), || format!("output {:?}", o.name))?;
        binary.push(all_binary || o.parameters.get("binary_data") == Some(&Param::Bool(true)));
    }
    let wanted: Vec<String> = request.outputs.into_iter().map(|o| o.name).collect();
    if wanted.is_empty() {
        binary.push(all_binary);
    }
    Ok(Call {
        id: request.id,
        inputs,
        wanted,
        binary,
    })
}

/// An infer request's JSON part.
#[derive(Debug, Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Params,
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
    parameters: Params,
    #[serde(default)]
    data: Option<Flat>,
}

#[derive(Debug, Deserialize)]
struct JsonOutput {
    name: String,
    #[serde(default)]
    parameters: Params,
}

/// A parameter's value, as far as this server reads one.
#[derive(Debug, PartialEq)]
enum Param {
    Bool(bool),
    Uint(u64),
    /// Anything else (read past, not kept).
    Other,
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Bool(b) => write!(f, "{b}"),
            Param::Uint(n) => write!(f, "{n}"),
            Param::Other => f.write_str("(not an integer)"),
        }
    }
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Param, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Param;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a parameter's value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Param, E> {
                Ok(Param::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Param, E> {
                Ok(Param::Uint(v))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Param, E> {
                Ok(Param::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Param, E> {
                Ok(Param::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Param, E> {
                Ok(Param::Other)
            }
            fn visit_unit<E>(self) -> Result<Param, E> {
                Ok(Param::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Param, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Param::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Param, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Param::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// A `parameters` object: names and values, in order.
#[derive(Debug, Default)]
struct Params(Vec<(String, Param)>);

impl Params {
    fn get(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Params, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Params;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a parameters object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Param>()? {
                    out.push(entry);
                }
                Ok(Params(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// An input's JSON `data`, flattened as it is read: arrays nested to any
/// depth (serde_json stops at 128), row-major; strings (copied once) and
/// integers 0-255 (one byte each) kept, the first element of any other
/// kind remembered for the error.
#[derive(Debug, Default)]
struct Flat {
    strings: Vec<Bytes>,
    octets: Vec<u8>,
    other: Option<&'static str>,
}

impl Flat {
    fn other(&mut self, what: &'static str) {
        self.other.get_or_insert(what);
    }
}

/// Reads one JSON value into a [`Flat`].
struct Gather<'a>(&'a mut Flat);

impl<'de> serde::de::DeserializeSeed<'de> for Gather<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Gather<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tensor data")
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.strings.push(Bytes::copy_from_slice(v.as_bytes()));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        match u8::try_from(v) {
            Ok(b) => self.0.octets.push(b),
            Err(_) => self.0.other("an integer over 255"),
        }
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.0.other("a negative number");
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.0.other("a number that is not an integer");
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.0.other("a boolean");
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.other("null");
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.0.other("an object");
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Gather(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Flat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Flat, D::Error> {
        let mut flat = Flat::default();
        d.deserialize_any(Gather(&mut flat))?;
        Ok(flat)
    }
}

/// An input's JSON `data` as its datatype's: strings for `BYTES`,
/// integers 0-255 for `UINT8` (as raw bytes).
fn json_data(name: &str, datatype: &str, data: Flat) -> Result<Data, Error> {
    match datatype {
        "BYTES" if data.other.is_none() && data.octets.is_empty() => Ok(Data::Elements(data.strings)),
        "BYTES" => Err(invalid(format!(
            "input {name:?}: a BYTES element that is not a string"
        ))),
        "UINT8" if data.other.is_none() && data.strings.is_empty() => Ok(Data::Raw(data.octets.into())),
        "UINT8" => Err(invalid(format!(
            "input {name:?}: a UINT8 element that is {}",
            data.other.unwrap_or("a string")
        ))),
        other => Err(invalid(format!(
            "input {name:?} is {other}: it is BYTES or UINT8"
        ))),
    }
}

/// The infer response: JSON, then the binary outputs' bytes (those asked
/// for with `binary_data`); `BYTES` outputs are binary only.
fn answer(
    m: &Served,
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
    let mut head = json!({ "model_name": m.name(), "model_version": m.version(), "outputs": entries });
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
