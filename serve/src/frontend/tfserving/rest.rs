//! TensorFlow Serving's REST API on the HTTP port, beside KServe's `/v2`:
//!
//! - `POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict`, with
//!   `instances` (the row form, answered with `predictions`) or `inputs`
//!   (the column form, answered with `outputs`); each request a binary
//!   string, `{"b64": "..."}`; binary outputs (`response`) answered as
//!   `{"b64": "..."}` too, numbers as numbers (`NaN`, `Infinity` as
//!   TensorFlow Serving writes them);
//! - `GET /v1/models/{name}[/versions/{v}]`: `model_version_status`;
//! - `GET /v1/models/{name}[/versions/{v}]/metadata`: the signature.
//!
//! Errors are `{"error": "..."}` with TensorFlow Serving's HTTP statuses
//! (INVALID_ARGUMENT and FAILED_PRECONDITION 400, NOT_FOUND 404,
//! RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, UNIMPLEMENTED 501...).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};
use tonic::{Code, Status};

use super::{check_inputs, Choice, Target, TfServing, SIGNATURE};
use crate::frontend::bounded::{self, Parsers, Unparsed};
use crate::frontend::clip;
use crate::frontend::kserve::{split_bytes, OutputTensor, SPARE};
use crate::frontend::web::Caller;

/// The `/v1/models` routes over `api`: `:predict` calls bounded
/// ([`bounded::bound`]: body size, call time) and their JSON parsed on
/// `parsers`; status and metadata answered at once.
pub fn router(api: TfServing, max_message_bytes: usize, call_time: Duration, parsers: Parsers) -> Router {
    const PATH: &str = "/v1/models/{*path}";
    let calls = bounded::bound(
        Router::new().route(PATH, post(call)),
        max_message_bytes,
        call_time,
        parsers,
    );
    Router::new().route(PATH, get(look)).merge(calls).with_state(api)
}

/// An error as TensorFlow Serving's REST API answers it: an HTTP status
/// and `{"error": "..."}`.
#[derive(Debug)]
pub struct RestError {
    status: StatusCode,
    message: String,
}

impl From<Status> for RestError {
    fn from(s: Status) -> RestError {
        let status = match s.code() {
            Code::Ok => StatusCode::OK,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Code::Cancelled | Code::Unknown | Code::Internal | Code::DataLoss => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        RestError {
            status,
            message: s.message().to_string(),
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": clip(self.message) }))).into_response()
    }
}

/// What a `/v1/models/...` path names: a model, the version asked for,
/// and what of it.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource<'a> {
    /// The model's name.
    pub name: &'a str,
    /// The version.
    pub choice: Choice,
    /// What of it.
    pub what: What<'a>,
}

/// What a path asks of a model.
#[derive(Debug, PartialEq, Eq)]
pub enum What<'a> {
    /// Its versions' states (`GET`).
    Status,
    /// Its signature (`GET .../metadata`).
    Metadata,
    /// A call (`POST ...:predict`), the verb after the colon.
    Call(&'a str),
}

/// Reads a path after `/v1/models/`: `name[/versions/N|/labels/L]`,
/// then `/metadata` or `:verb` or nothing. Names and labels hold neither
/// `/` nor `:`; a version is decimal digits.
pub fn resource(path: &str) -> Option<Resource<'_>> {
    let (path, verb) = match path.rsplit_once(':') {
        Some((path, verb)) if !verb.contains('/') => (path, Some(verb)),
        Some(_) => return None,
        None => (path, None),
    };
    let mut parts: Vec<&str> = path.split('/').collect();
    let metadata = parts.last() == Some(&"metadata") && parts.len().is_multiple_of(2);
    if metadata {
        parts.pop();
    }
    let what = match (verb, metadata) {
        (Some(_), true) => return None,
        (Some(verb), false) => What::Call(verb),
        (None, true) => What::Metadata,
        (None, false) => What::Status,
    };
    let ok = |s: &str| !s.is_empty() && !s.contains(':');
    let (name, choice) = match parts.as_slice() {
        [name] => (*name, Choice::Latest),
        [name, "versions", v] if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            (*name, Choice::Number(v.parse().ok()?))
        }
        [name, "labels", label] if ok(label) => (*name, Choice::Label((*label).to_string())),
        _ => return None,
    };
    ok(name).then_some(Resource { name, choice, what })
}

fn malformed(method: &Method, path: &str) -> RestError {
    Status::invalid_argument(format!("Malformed request: {method} /v1/models/{path}")).into()
}

/// `GET`: a model's versions' states, or its signature.
async fn look(State(api): State<TfServing>, method: Method, Path(path): Path<String>) -> Response {
    let answer = match resource(&path) {
        Some(Resource {
            name,
            choice,
            what: What::Status,
        }) => api.states(name, &choice).map(|states| {
            let states: Vec<Value> = states
                .into_iter()
                .map(|s| {
                    json!({
                        "version": s.version.to_string(),
                        "state": s.state,
                        "status": { "error_code": s.error_code, "error_message": s.error_message },
                    })
                })
                .collect();
            json!({ "model_version_status": states })
        }),
        Some(Resource {
            name,
            choice,
            what: What::Metadata,
        }) => api.target(name, &choice, "").map(|t| metadata(&api, &t)),
        _ => return malformed(&method, &path).into_response(),
    };
    match answer {
        Ok(v) => axum::Json(v).into_response(),
        Err(s) => RestError::from(s).into_response(),
    }
}

/// The `model_spec` an answer carries, in proto3's JSON.
fn spec_json(t: &Target) -> Value {
    json!({
        "name": t.served.name(),
        "version": t.version.map(|v| v.to_string()).unwrap_or_default(),
        "signature_name": SIGNATURE,
    })
}

/// `GetModelMetadataResponse` in proto3's JSON, the signature map
/// unpacked as TensorFlow Serving writes it.
fn metadata(api: &TfServing, t: &Target) -> Value {
    let signature = api.signature(t);
    let info = |m: &std::collections::HashMap<String, crate::proto::tensorflow::TensorInfo>| -> Value {
        m.iter()
            .map(|(k, i)| {
                let dtype = crate::proto::tensorflow::DataType::try_from(i.dtype)
                    .map_or("DT_INVALID", |d| d.as_str_name());
                let dims: Vec<Value> = i
                    .tensor_shape
                    .iter()
                    .flat_map(|s| &s.dim)
                    .map(|d| json!({ "size": d.size.to_string(), "name": d.name }))
                    .collect();
                (
                    k.clone(),
                    json!({ "dtype": dtype, "tensor_shape": { "dim": dims, "unknown_rank": false }, "name": i.name }),
                )
            })
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    json!({
        "model_spec": spec_json(t),
        "metadata": { "signature_def": { "signature_def": { SIGNATURE: {
            "inputs": info(&signature.inputs),
            "outputs": info(&signature.outputs),
            "method_name": signature.method_name,
        }}}},
    })
}

/// `POST`: `:predict` (`:classify` and `:regress` are not served).
async fn call(
    State(api): State<TfServing>,
    method: Method,
    Path(path): Path<String>,
    Extension(parsers): Extension<Parsers>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let caller = caller.map(|c| c.0);
    let _owed = caller.as_ref().map(|c| c.0.owe());
    let resource = match resource(&path) {
        Some(
            r @ Resource {
                what: What::Call(_), ..
            },
        ) => r,
        _ => return malformed(&method, &path).into_response(),
    };
    match resource.what {
        What::Call("predict") => {}
        What::Call(verb @ ("classify" | "regress")) => {
            return RestError::from(Status::unimplemented(format!(
                "{verb} is not served: use :predict"
            )))
            .into_response()
        }
        _ => return malformed(&method, &path).into_response(),
    }
    predict(&api, &resource, &parsers, caller.as_ref(), &headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn predict(
    api: &TfServing,
    resource: &Resource<'_>,
    parsers: &Parsers,
    caller: Option<&Caller>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RestError> {
    // The model first: an unknown one is answered before a body is read.
    let target = api.target(resource.name, &resource.choice, "")?;
    if caller.is_some_and(|c| c.0.spare) {
        return Err(Status::unavailable(SPARE).into());
    }
    let body = body.map_err(|e| RestError {
        status: if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        },
        message: format!("the request's body: {}", e.body_text()),
    })?;
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        if enc.as_bytes() != b"identity" {
            return Err(Status::invalid_argument(format!(
                "Content-Encoding {enc:?} is not supported: send the body uncompressed"
            ))
            .into());
        }
    }
    let input = api.input().to_string();
    let call = parsers
        .run(body.len(), move || parse(&body, &input))
        .await
        .map_err(|e| match e {
            Unparsed::ShuttingDown => Status::unavailable("shutting down"),
            Unparsed::Stopped(why) => Status::internal(format!("parsing the request failed: {why}")),
        })??;
    // A signature named in the body is checked as one named in the path.
    let target = if call.signature.is_empty() {
        target
    } else {
        api.target(resource.name, &resource.choice, &call.signature)?
    };
    let outputs = api
        .predict(&target, call.requests, &[], Caller::id(caller))
        .await?;
    let body = if call.rows {
        predictions(&outputs)?
    } else {
        columns(&outputs)?
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}

/// A `:predict` body, read.
#[derive(Debug, PartialEq, Eq)]
pub struct Call {
    /// The signature named ("" for the default).
    pub signature: String,
    /// The requests, in order.
    pub requests: Vec<bytes::Bytes>,
    /// The row form (`instances`, answered with `predictions`), or the
    /// column form (`inputs`, answered with `outputs`).
    pub rows: bool,
}

/// Reads a `:predict` body whose one input is named `input`: `instances`
/// (each a request, or an object naming the input) or `inputs` (a list
/// of requests, or an object naming the input), each request a string
/// (its UTF-8 bytes) or `{"b64": "..."}`.
///
/// # Errors
///
/// TensorFlow Serving's INVALID_ARGUMENT naming what is wrong: the JSON,
/// both forms or neither, other inputs than `input`, an element that is
/// not a string or bad base64, an empty list.
pub fn parse(body: &[u8], input: &str) -> Result<Call, Status> {
    let request: Body = serde_json::from_slice(body)
        .map_err(|e| Status::invalid_argument(format!("the request's JSON: {e}")))?;
    let (requests, rows) = match (request.instances, request.inputs) {
        (Some(_), Some(_)) => {
            return Err(Status::invalid_argument(
                "the request has both 'instances' and 'inputs': give one",
            ))
        }
        (None, None) => {
            return Err(Status::invalid_argument(
                "the request has neither 'instances' nor 'inputs'",
            ))
        }
        (Some(instances), None) => (instances_of(instances, input)?, true),
        (None, Some(Columns::Bare(list))) => (list, false),
        (None, Some(Columns::Named(named))) => {
            check_inputs(input, named.iter().map(|(n, _)| n.as_str()).collect())?;
            let list = named.into_iter().next().map(|(_, list)| list).unwrap_or_default();
            (list, false)
        }
    };
    if requests.is_empty() {
        return Err(Status::invalid_argument(format!(
            "no requests: \"{input}\" holds one BatchPredictionRequest per element, and has none"
        )));
    }
    Ok(Call {
        signature: request.signature_name,
        requests,
        rows,
    })
}

/// The requests of the row form: all bare, or all objects naming exactly
/// the input.
fn instances_of(instances: Vec<Instance>, input: &str) -> Result<Vec<bytes::Bytes>, Status> {
    instances
        .into_iter()
        .enumerate()
        .map(|(i, instance)| match instance {
            Instance::Bare(b) => Ok(b),
            Instance::Named(mut named) => {
                check_inputs(input, named.iter().map(|(n, _)| n.as_str()).collect())
                    .map_err(|s| Status::invalid_argument(format!("instance {i}: {}", s.message())))?;
                Ok(named.pop().map(|(_, b)| b).unwrap_or_default())
            }
        })
        .collect()
}

/// A `:predict` body's JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    signature_name: String,
    #[serde(default)]
    instances: Option<Vec<Instance>>,
    #[serde(default)]
    inputs: Option<Columns>,
}

/// One instance of the row form.
#[derive(Debug)]
enum Instance {
    /// The one input's value.
    Bare(bytes::Bytes),
    /// Inputs by name.
    Named(Vec<(String, bytes::Bytes)>),
}

/// The column form's `inputs`.
#[derive(Debug)]
enum Columns {
    /// The one input's values.
    Bare(Vec<bytes::Bytes>),
    /// Inputs by name.
    Named(Vec<(String, Vec<bytes::Bytes>)>),
}

/// Base64 as TensorFlow Serving reads it: the standard alphabet, padding
/// optional.
const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// One request: a string (its bytes) or `{"b64": "..."}`.
struct Element(bytes::Bytes);

/// What a value that should be one request was instead.
fn not_a_request<E: de::Error>(what: &str) -> E {
    E::custom(format!(
        "an element that is {what}: each is one BatchPredictionRequest, as {{\"b64\": \"...\"}}"
    ))
}

/// The value of the `b64` key, decoded (the key already read).
fn b64_value<'de, A: MapAccess<'de>>(mut map: A) -> Result<bytes::Bytes, A::Error> {
    let text: std::borrow::Cow<'de, str> = map.next_value()?;
    let bytes = B64
        .decode(text.as_bytes())
        .map_err(|e| de::Error::custom(format!("an element's b64: {e}")))?;
    if map.next_key::<de::IgnoredAny>()?.is_some() {
        return Err(de::Error::custom("an element has \"b64\" and other keys"));
    }
    Ok(bytes.into())
}

/// Reads a request ([`Instance::Bare`]), or when `named`, also an object
/// of requests by input name ([`Instance::Named`]).
struct Request {
    named: bool,
}

impl<'de> Visitor<'de> for Request {
    type Value = Instance;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a request: {\"b64\": \"...\"} or a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Instance, E> {
        Ok(Instance::Bare(bytes::Bytes::copy_from_slice(v.as_bytes())))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Instance, A::Error> {
        let first = match map.next_key::<String>()? {
            Some(key) if key == "b64" => return b64_value(map).map(Instance::Bare),
            Some(key) if self.named => key,
            Some(key) => return Err(not_a_request(&format!("an object with key {key:?}"))),
            None => return Err(not_a_request("an empty object")),
        };
        let mut named = vec![(first, map.next_value::<Element>()?.0)];
        while let Some(name) = map.next_key::<String>()? {
            named.push((name, map.next_value::<Element>()?.0));
        }
        Ok(Instance::Named(named))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Instance, A::Error> {
        Err(not_a_request(
            "a list (the input is [n], one request per element)",
        ))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Instance, E> {
        Err(not_a_request("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Instance, E> {
        Err(not_a_request("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Instance, E> {
        Err(not_a_request("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Instance, E> {
        Err(not_a_request("a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Instance, E> {
        Err(not_a_request("null"))
    }
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Element, D::Error> {
        match d.deserialize_any(Request { named: false })? {
            Instance::Bare(b) => Ok(Element(b)),
            Instance::Named(_) => Err(not_a_request("an object of inputs")),
        }
    }
}

impl<'de> Deserialize<'de> for Instance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Instance, D::Error> {
        d.deserialize_any(Request { named: true })
    }
}

/// A list of requests.
struct List(Vec<bytes::Bytes>);

/// Reads a list of requests, each as it comes (never reserved from a
/// size hint).
fn list<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<bytes::Bytes>, A::Error> {
    let mut out = Vec::new();
    while let Some(Element(b)) = seq.next_element()? {
        out.push(b);
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<List, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = List;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of requests (the input is [n])")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<List, A::Error> {
                list(seq).map(List)
            }
        }
        d.deserialize_seq(V)
    }
}

impl<'de> Deserialize<'de> for Columns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Columns, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Columns;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("inputs: a list of requests, or an object of lists by input name")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Columns, A::Error> {
                list(seq).map(Columns::Bare)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Columns, A::Error> {
                let mut named = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if name == "b64" && named.is_empty() {
                        return Err(de::Error::custom(
                            "inputs is one value: the input is [n], a list of requests",
                        ));
                    }
                    named.push((name, map.next_value::<List>()?.0));
                }
                Ok(Columns::Named(named))
            }
        }
        d.deserialize_any(V)
    }
}

/// JSON written by hand: numbers as TensorFlow Serving writes them (`NaN`,
/// `Infinity`, which `serde_json` cannot), bytes as `{"b64": "..."}`.
struct Writer(Vec<u8>);

impl Writer {
    fn raw(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }

    fn string(&mut self, s: &str) {
        // A String's JSON never fails to write into a Vec.
        let _ = serde_json::to_writer(&mut self.0, s);
    }

    fn float(&mut self, v: f64, finite: impl FnOnce(&mut Vec<u8>)) {
        if v.is_nan() {
            self.raw("NaN");
        } else if v.is_infinite() {
            self.raw(if v > 0.0 { "Infinity" } else { "-Infinity" });
        } else {
            finite(&mut self.0);
        }
    }

    /// Element `i` of `o`.
    fn element(&mut self, o: &Tensor<'_>, i: usize) {
        let d = &o.data;
        match o.kind {
            Kind::F32 => {
                let v = f32::from_le_bytes(d[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
                self.float(f64::from(v), |out| {
                    let _ = serde_json::to_writer(out, &v);
                });
            }
            Kind::F64 => {
                let v = f64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
                self.float(v, |out| {
                    let _ = serde_json::to_writer(out, &v);
                });
            }
            Kind::I64 => {
                let v = i64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
                self.raw(&v.to_string());
            }
            Kind::U8 => self.raw(&d[i].to_string()),
            Kind::Bytes => {
                self.raw("{\"b64\":\"");
                let b = &o.strings[i];
                self.raw(&base64::engine::general_purpose::STANDARD.encode(b));
                self.raw("\"}");
            }
        }
    }

    /// Row `row` of `o` (its elements nested by the shape after the
    /// first dimension).
    fn row(&mut self, o: &Tensor<'_>, row: usize) {
        let per = o.per_row();
        self.nested(o, &o.shape[1..], row * per);
    }

    /// The elements from `first` nested by `dims`.
    fn nested(&mut self, o: &Tensor<'_>, dims: &[usize], first: usize) {
        let Some((&n, inner)) = dims.split_first() else {
            self.element(o, first);
            return;
        };
        let per: usize = inner.iter().product();
        self.raw("[");
        for k in 0..n {
            if k > 0 {
                self.raw(",");
            }
            self.nested(o, inner, first + k * per);
        }
        self.raw("]");
    }
}

/// An output's elements, as the writer reads them.
#[derive(Clone, Copy, Debug)]
enum Kind {
    F32,
    F64,
    I64,
    U8,
    Bytes,
}

/// An output ready to write: its shape (its real sizes) and elements.
struct Tensor<'a> {
    name: &'a str,
    kind: Kind,
    shape: Vec<usize>,
    data: &'a [u8],
    strings: Vec<bytes::Bytes>,
}

impl Tensor<'_> {
    fn of(o: &OutputTensor) -> Result<Tensor<'_>, Status> {
        let kind = match o.meta.datatype {
            "FP32" => Kind::F32,
            "FP64" => Kind::F64,
            "INT64" => Kind::I64,
            "UINT8" => Kind::U8,
            "BYTES" => Kind::Bytes,
            other => {
                return Err(Status::internal(format!(
                    "output {:?} of datatype {other}",
                    o.meta.name
                )))
            }
        };
        let shape: Vec<usize> = o
            .meta
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<_, _>>()
            .map_err(|_| Status::internal(format!("output {:?}: shape {:?}", o.meta.name, o.meta.shape)))?;
        let strings = match kind {
            Kind::Bytes => split_bytes(bytes::Bytes::copy_from_slice(&o.data), usize::MAX)
                .map_err(|e| Status::internal(e.message))?,
            _ => Vec::new(),
        };
        let t = Tensor {
            name: &o.meta.name,
            kind,
            shape,
            data: &o.data,
            strings,
        };
        let held = match kind {
            Kind::F32 => t.data.len() / 4,
            Kind::F64 | Kind::I64 => t.data.len() / 8,
            Kind::U8 => t.data.len(),
            Kind::Bytes => t.strings.len(),
        };
        let elements: usize = t.shape.iter().product();
        if t.shape.is_empty() || held != elements {
            return Err(Status::internal(format!(
                "output {:?}: shape {:?} does not hold its {held} elements",
                t.name, t.shape
            )));
        }
        Ok(t)
    }

    fn rows(&self) -> usize {
        self.shape[0]
    }

    fn per_row(&self) -> usize {
        self.shape[1..].iter().product()
    }
}

/// The column form's answer: `{"outputs": value}` for one output,
/// `{"outputs": {name: value, ...}}` for several.
fn columns(outputs: &[OutputTensor]) -> Result<Vec<u8>, Status> {
    let tensors = outputs.iter().map(Tensor::of).collect::<Result<Vec<_>, _>>()?;
    let mut w = Writer(Vec::new());
    w.raw("{\"outputs\":");
    let whole = |w: &mut Writer, t: &Tensor<'_>| w.nested(t, &t.shape, 0);
    if let [one] = tensors.as_slice() {
        whole(&mut w, one);
    } else {
        w.raw("{");
        for (k, t) in tensors.iter().enumerate() {
            if k > 0 {
                w.raw(",");
            }
            w.string(t.name);
            w.raw(":");
            whole(&mut w, t);
        }
        w.raw("}");
    }
    w.raw("}");
    Ok(w.0)
}

/// The row form's answer: `{"predictions": [row, ...]}`, each row the
/// one output's, or `{name: value, ...}` for several; the outputs must
/// then have as many rows each.
///
/// # Errors
///
/// INVALID_ARGUMENT when they do not (a model whose requests carry
/// several records each answers more rows than `response` has
/// elements): the column form answers any outputs.
fn predictions(outputs: &[OutputTensor]) -> Result<Vec<u8>, Status> {
    let tensors = outputs.iter().map(Tensor::of).collect::<Result<Vec<_>, _>>()?;
    let rows = tensors.first().map_or(0, Tensor::rows);
    if let Some(t) = tensors.iter().find(|t| t.rows() != rows) {
        return Err(Status::invalid_argument(format!(
            "the outputs have different numbers of rows ({:?} has {rows}, {:?} {}): ask with 'inputs' (the column form)",
            tensors[0].name,
            t.name,
            t.rows()
        )));
    }
    let mut w = Writer(Vec::new());
    w.raw("{\"predictions\":[");
    for r in 0..rows {
        if r > 0 {
            w.raw(",");
        }
        if let [one] = tensors.as_slice() {
            w.row(one, r);
        } else {
            w.raw("{");
            for (k, t) in tensors.iter().enumerate() {
                if k > 0 {
                    w.raw(",");
                }
                w.string(t.name);
                w.raw(":");
                w.row(t, r);
            }
            w.raw("}");
        }
    }
    w.raw("]}");
    Ok(w.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::kserve::TensorMeta;

    fn floats(name: &str, shape: Vec<i64>, values: &[f32]) -> OutputTensor {
        OutputTensor {
            meta: TensorMeta {
                name: name.into(),
                datatype: "FP32",
                shape,
            },
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    #[test]
    fn paths_name_a_model_a_version_or_label_and_what_of_it() {
        let r = |p| resource(p);
        assert_eq!(
            r("m:predict"),
            Some(Resource {
                name: "m",
                choice: Choice::Latest,
                what: What::Call("predict")
            })
        );
        assert_eq!(r("m/versions/12:predict").unwrap().choice, Choice::Number(12));
        assert_eq!(
            r("m/labels/stable:predict").unwrap().choice,
            Choice::Label("stable".into())
        );
        assert_eq!(r("m").unwrap().what, What::Status);
        assert_eq!(r("m/versions/3").unwrap().what, What::Status);
        assert_eq!(r("m/metadata").unwrap().what, What::Metadata);
        assert_eq!(r("m/versions/3/metadata").unwrap().choice, Choice::Number(3));
        for bad in [
            "",
            ":predict",
            "m/versions/x:predict",
            "m/versions/:predict",
            "m/versions/99999999999999999999:predict",
            "m/metadata:predict",
            "m/other/1",
            "m/versions/1/extra",
            "a:b/c",
        ] {
            assert_eq!(r(bad), None, "{bad}");
        }
    }

    #[test]
    fn both_forms_read_b64_and_plain_strings_and_named_inputs() {
        let rows = parse(
            br#"{"instances": [{"b64": "AAE="}, "hi", {"b64": "AA"}]}"#,
            "examples",
        )
        .unwrap();
        assert!(rows.rows);
        assert_eq!(rows.requests, vec![&b"\x00\x01"[..], b"hi", b"\x00"]);
        let named = parse(br#"{"instances": [{"examples": {"b64": "AQ=="}}]}"#, "examples").unwrap();
        assert_eq!(named.requests, vec![&b"\x01"[..]]);
        let cols = parse(
            br#"{"signature_name": "serving_default", "inputs": {"examples": [{"b64": "AQ=="}, {"b64": "Ag=="}]}}"#,
            "examples",
        )
        .unwrap();
        assert!(!cols.rows);
        assert_eq!(cols.signature, "serving_default");
        assert_eq!(cols.requests, vec![&b"\x01"[..], b"\x02"]);
        let bare = parse(br#"{"inputs": [{"b64": "AQ=="}]}"#, "examples").unwrap();
        assert_eq!(bare.requests, vec![&b"\x01"[..]]);
    }

    #[test]
    fn a_bad_body_is_refused_naming_what_is_wrong() {
        let refused = |body: &str, says: &str| {
            let s = parse(body.as_bytes(), "examples").unwrap_err();
            assert_eq!(s.code(), Code::InvalidArgument, "{body}");
            assert!(s.message().contains(says), "{body}: {}", s.message());
        };
        refused("{", "the request's JSON");
        refused(r#"{"instances": [], "inputs": []}"#, "both");
        refused(r#"{}"#, "neither");
        refused(r#"{"instances": []}"#, "no requests");
        refused(r#"{"instances": [1]}"#, "a number");
        refused(r#"{"instances": [[{"b64": "AA=="}]]}"#, "a list");
        refused(r#"{"instances": [{"b64": "!!"}]}"#, "b64");
        refused(r#"{"instances": [{"b64": "AA==", "x": 1}]}"#, "other keys");
        refused(
            r#"{"instances": [{"x": {"b64": "AA=="}}]}"#,
            "missing [\"examples\"]",
        );
        refused(
            r#"{"instances": [{"examples": {"b64": "AA=="}, "x": {"b64": "AA=="}}]}"#,
            "extra inputs [\"x\"]",
        );
        refused(r#"{"inputs": {"b64": "AA=="}}"#, "one value");
        refused(
            r#"{"inputs": {"examples": {"b64": "AA=="}}}"#,
            "a list of requests",
        );
        refused(r#"{"inputs": [], "output_filter": ["x"]}"#, "unknown field");
    }

    #[test]
    fn one_output_answers_bare_values_and_several_answer_objects() {
        let scores = floats("scores", vec![2, 1], &[0.5, f32::NAN]);
        let other = floats("other", vec![2, 2], &[1.0, 2.0, f32::INFINITY, -0.25]);
        assert_eq!(
            String::from_utf8(columns(std::slice::from_ref(&scores)).unwrap()).unwrap(),
            r#"{"outputs":[[0.5],[NaN]]}"#
        );
        assert_eq!(
            String::from_utf8(predictions(&[scores, other]).unwrap()).unwrap(),
            r#"{"predictions":[{"scores":[0.5],"other":[1.0,2.0]},{"scores":[NaN],"other":[Infinity,-0.25]}]}"#
        );
    }

    #[test]
    fn rows_of_outputs_that_disagree_are_refused_pointing_at_the_column_form() {
        let a = floats("a", vec![2, 1], &[1.0, 2.0]);
        let b = floats("b", vec![1, 1], &[1.0]);
        let s = predictions(&[a, b]).unwrap_err();
        assert!(s.message().contains("'inputs'"), "{}", s.message());
    }

    #[test]
    fn binary_outputs_answer_as_b64() {
        let mut data = Vec::new();
        for e in [&b"\x00\xff"[..], b"ok"] {
            data.extend_from_slice(&(e.len() as u32).to_le_bytes());
            data.extend_from_slice(e);
        }
        let response = OutputTensor {
            meta: TensorMeta {
                name: "response".into(),
                datatype: "BYTES",
                shape: vec![2],
            },
            data,
        };
        assert_eq!(
            String::from_utf8(predictions(&[response]).unwrap()).unwrap(),
            r#"{"predictions":[{"b64":"AP8="},{"b64":"b2s="}]}"#
        );
    }

    #[test]
    fn statuses_map_to_tensorflow_servings_http_codes() {
        for (s, http) in [
            (Status::invalid_argument(""), 400),
            (Status::failed_precondition(""), 400),
            (Status::not_found(""), 404),
            (Status::resource_exhausted(""), 429),
            (Status::unavailable(""), 503),
            (Status::unimplemented(""), 501),
            (Status::internal(""), 500),
        ] {
            assert_eq!(RestError::from(s).status.as_u16(), http);
        }
    }
}
