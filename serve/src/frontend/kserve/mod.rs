//! The KServe v2 inference protocol (the Open Inference Protocol), over
//! gRPC ([`grpc`]) and REST ([`rest`]), on the same loop as the Thrift
//! front end: each element of the `request` tensor is one
//! `BatchPredictionRequest`, submitted to the engine as a job of its own
//! (so elements of one call, and of many calls, batch together), and
//! answered as one element of the `response` tensor, a
//! `BatchPredictionResponse`; the model's outputs are also available as
//! native tensors, by name.
//!
//! This module holds what both protocols share: the model's description,
//! reading the `request` tensor, running it, making the outputs, and the
//! errors (each protocol maps [`Code`] to its own status).

pub mod grpc;
pub mod rest;

use std::sync::Arc;

use bprwire::features::{Array, OutputType};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::engine::{Form, Refusal, Request};
use crate::metrics::{Failure, Totals};
use crate::repository::version::Version;
use crate::repository::{Missing, Repository, Status};

/// What an infer call on a spare connection slot is told.
pub const SPARE: &str = "every connection slot is busy with calls: this connection (a spare slot) is for health, metadata and statistics; retry the call later";

/// The input's name.
pub const REQUEST: &str = "request";
/// The `BatchPredictionResponse` output's name.
pub const RESPONSE: &str = "response";
/// What the server supports of the protocol's extensions (Triton's names).
pub const EXTENSIONS: &[&str] = &[
    "binary_tensor_data",
    "statistics",
    "model_configuration",
    "model_repository",
];

/// What went wrong, as both protocols tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// A malformed call: not a request, a bad tensor, an unknown output.
    InvalidArgument,
    /// A request over a limit (records, bytes).
    TooLarge,
    /// Overloaded: the queue or the queued bytes are full, or a request
    /// waited too long.
    Overloaded,
    /// Shutting down.
    Unavailable,
    /// No such model or version.
    NotFound,
    /// Not allowed by the server's configuration (the repository API's
    /// load and unload when `repository.control_api` is off).
    Refused,
    /// The model failed, or a response could not be made.
    Internal,
}

/// An error for the client: its code and what to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Its kind.
    pub code: Code,
    /// The message.
    pub message: String,
}

impl Error {
    fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    /// An [`Code::InvalidArgument`] error.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Code::InvalidArgument, message)
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        let code = match r.why {
            Failure::BadRequest | Failure::UnknownMethod | Failure::Protocol => Code::InvalidArgument,
            Failure::TooManyRecords => Code::TooLarge,
            Failure::Overloaded => Code::Overloaded,
            Failure::ShuttingDown => Code::Unavailable,
            Failure::Model | Failure::Encode => Code::Internal,
        };
        Error::new(code, r.text)
    }
}

/// A tensor's description: name, datatype (the protocol's names: `BYTES`,
/// `FP32`...), shape (`-1` for a dimension that varies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorMeta {
    /// Its name.
    pub name: String,
    /// Its datatype.
    pub datatype: &'static str,
    /// Its shape.
    pub shape: Vec<i64>,
}

/// An input tensor's data, as the protocol carried it.
#[derive(Debug)]
pub enum Data {
    /// Raw bytes: little-endian elements, or for `BYTES` each element as a
    /// 4-byte little-endian length and its bytes (gRPC's
    /// `raw_input_contents`, REST's binary extension).
    Raw(Bytes),
    /// `BYTES` elements one by one (gRPC's `contents.bytes_contents`,
    /// REST's JSON strings).
    Elements(Vec<Bytes>),
    /// `UINT8` elements as integers (gRPC's `contents.uint_contents`,
    /// REST's JSON numbers).
    Integers(Vec<u64>),
}

/// An input tensor of a call.
#[derive(Debug)]
pub struct InputTensor {
    /// Its name.
    pub name: String,
    /// Its datatype.
    pub datatype: String,
    /// Its shape.
    pub shape: Vec<i64>,
    /// Its data.
    pub data: Data,
}

/// An output tensor of an answer: its description and its raw bytes (as
/// [`Data::Raw`]).
#[derive(Debug)]
pub struct OutputTensor {
    /// Name, datatype and shape.
    pub meta: TensorMeta,
    /// The raw bytes.
    pub data: Vec<u8>,
}

/// The models as the KServe v2 protocol sees them, over the repository.
#[derive(Clone, Debug)]
pub struct Kserve {
    repository: Arc<Repository>,
    shutdown: CancellationToken,
    /// One load or unload through the API at a time: the others wait
    /// here (bounded by their call's time), not on a blocking thread each.
    changes: Arc<tokio::sync::Semaphore>,
}

/// One model version a call runs on (held for the call: a version
/// swapped out meanwhile finishes it).
#[derive(Clone, Debug)]
pub struct Served {
    name: String,
    version: Arc<Version>,
}

impl Kserve {
    /// The protocol's view of `repository`'s models; calls are refused as
    /// unavailable once `shutdown` is cancelled.
    pub fn new(repository: Arc<Repository>, shutdown: CancellationToken) -> Kserve {
        Kserve {
            repository,
            shutdown,
            changes: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Ready to take calls: not shutting down, and every model has a
    /// version serving (but those unloaded on purpose).
    pub fn ready(&self) -> bool {
        !self.shutdown.is_cancelled() && self.repository.ready()
    }

    /// The model version `name` and `version` ("" for the highest
    /// serving) name.
    ///
    /// # Errors
    ///
    /// [`Code::NotFound`] for no such model or version (naming what is
    /// served), [`Code::Unavailable`] for a model with no version loaded.
    pub fn model(&self, name: &str, version: &str) -> Result<Served, Error> {
        let number = match version {
            "" => None,
            v => Some(crate::repository::policy::version_number(v).ok_or_else(|| {
                Error::new(
                    Code::NotFound,
                    format!("model {name:?} has no version {v:?} (versions are numbers)"),
                )
            })?),
        };
        match self.repository.pick(name, number) {
            Ok(version) => Ok(Served {
                name: name.to_string(),
                version,
            }),
            Err(Missing::Unavailable(text)) => Err(Error::new(Code::Unavailable, text)),
            Err(missing) => Err(Error::new(Code::NotFound, missing.text())),
        }
    }

    /// Every model and version known, and its state (the repository
    /// extension's index).
    pub fn index(&self) -> Vec<Status> {
        self.repository.index()
    }

    /// Loads `name` now (the repository extension), on a blocking thread.
    ///
    /// # Errors
    ///
    /// [`Code::Refused`] unless `repository.control_api` is on,
    /// [`Code::NotFound`] for a model the repository does not hold,
    /// [`Code::Internal`] naming why it could not be loaded.
    pub async fn load(&self, name: &str) -> Result<(), Error> {
        self.check_control()?;
        let repository = self.repository.clone();
        let model = name.to_string();
        let one = self.change().await?;
        let loaded = tokio::task::spawn_blocking(move || {
            let loaded = repository.load(&model);
            drop(one);
            loaded
        })
        .await
        .map_err(|e| Error::new(Code::Internal, format!("load of {name:?} stopped: {e}")))?;
        loaded.map_err(|e| Error::new(Code::Internal, format!("model {name:?} not loaded: {e}")))
    }

    /// Unloads every version of `name` (the repository extension).
    ///
    /// # Errors
    ///
    /// [`Code::Refused`] unless `repository.control_api` is on,
    /// [`Code::NotFound`] for a model the repository does not hold.
    pub async fn unload(&self, name: &str) -> Result<(), Error> {
        self.check_control()?;
        let repository = self.repository.clone();
        let model = name.to_string();
        let one = self.change().await?;
        tokio::task::spawn_blocking(move || {
            let unloaded = repository.unload(&model);
            drop(one);
            unloaded
        })
        .await
        .map_err(|e| Error::new(Code::Internal, format!("unload of {name:?} stopped: {e}")))?
        .map_err(|e| Error::new(Code::NotFound, e))
    }

    /// Refuses a load or unload unless `repository.control_api` is on.
    fn check_control(&self) -> Result<(), Error> {
        if self.repository.control_api() {
            return Ok(());
        }
        Err(Error::new(
            Code::Refused,
            "the repository API's load and unload are off: set [repository] control_api = true (a model repository is needed)",
        ))
    }

    /// The turn of one load or unload (it goes with the blocking work, so
    /// a call that times out does not let another start beside it).
    async fn change(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        self.changes
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::new(Code::Unavailable, "shutting down"))
    }

    /// Every model's name.
    pub fn names(&self) -> Vec<String> {
        self.repository.names()
    }

    /// Whether calls are taken at all (not shutting down).
    pub fn serving(&self) -> bool {
        !self.shutdown.is_cancelled()
    }
}

impl Served {
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version's number, as the protocol writes it.
    pub fn version(&self) -> String {
        self.version.number().to_string()
    }

    /// The version's running totals now (for `ModelStatistics`).
    pub fn totals(&self) -> Totals {
        self.version.engine().metrics().statistics.snapshot()
    }

    /// The inputs: `request`, `BYTES [-1]`.
    pub fn inputs(&self) -> Vec<TensorMeta> {
        vec![TensorMeta {
            name: REQUEST.into(),
            datatype: "BYTES",
            shape: vec![-1],
        }]
    }

    /// The outputs: `response`, `BYTES [-1]`, then each model output,
    /// `[-1, width]` of its type.
    pub fn outputs(&self) -> Vec<TensorMeta> {
        let mut out = vec![TensorMeta {
            name: RESPONSE.into(),
            datatype: "BYTES",
            shape: vec![-1],
        }];
        out.extend(self.version.engine().outputs().iter().map(|o| TensorMeta {
            name: o.name.clone(),
            datatype: datatype(o.dtype),
            shape: vec![-1, o.width as i64],
        }));
        out
    }

    /// Runs a call from client `source` (a connection's id): `inputs`
    /// must be the one `request` tensor; `wanted` names the outputs to
    /// return, in order (none: `response`). Each
    /// request is a job of its own; all are answered, or the call fails
    /// with the first refusal (naming the element).
    ///
    /// # Errors
    ///
    /// An [`Error`]: a bad input or output name, datatype, shape or
    /// encoding ([`Code::InvalidArgument`]); a request refused (its
    /// refusal's code); shutting down.
    pub async fn infer(
        &self,
        inputs: Vec<InputTensor>,
        wanted: &[String],
        source: u64,
    ) -> Result<Vec<OutputTensor>, Error> {
        let engine = self.version.engine();
        let requests = requests(inputs, engine.batching().queue_requests)?;
        let specs = engine.outputs();
        let mut columns = Vec::with_capacity(wanted.len());
        for name in wanted {
            if name == RESPONSE {
                columns.push(None);
            } else if let Some(i) = specs.iter().position(|o| &o.name == name) {
                columns.push(Some(i));
            } else {
                let names: Vec<String> = self.outputs().into_iter().map(|o| o.name).collect();
                return Err(Error::invalid(format!(
                    "unknown output {name:?} (the outputs are {names:?})"
                )));
            }
        }
        if columns.is_empty() {
            columns.push(None);
        }
        let native = columns.iter().any(Option::is_some);
        let mut pending = Vec::with_capacity(requests.len());
        // A call of one request may run inline; several are queued
        // together, so that they batch.
        let alone = requests.len() == 1;
        for (i, bytes) in requests.into_iter().enumerate() {
            let request = Request {
                bytes,
                form: Form::Bare { native },
            };
            let taken = if alone {
                engine.call(request, source, false)
            } else {
                engine.submit(request, source, false)
            };
            let rx = taken.map_err(|r| element(i, r.into()))?;
            pending.push(rx);
        }
        let mut replies = Vec::with_capacity(pending.len());
        for (i, rx) in pending.into_iter().enumerate() {
            let reply = rx
                .await
                .map_err(|_| Error::new(Code::Internal, format!("request {i}: dropped by the server")))?;
            match reply.outcome {
                Ok(response) => replies.push(response),
                Err(refusal) => return Err(element(i, refusal.into())),
            }
        }
        columns
            .iter()
            .map(|c| match *c {
                None => response_tensor(replies.iter().map(|r| r.bytes.as_slice())),
                Some(j) => Ok(native_tensor(
                    &specs[j].name,
                    specs[j].dtype,
                    specs[j].width,
                    replies.iter().map(|r| &r.native[j]),
                )),
            })
            .collect()
    }
}

/// Refuses the parameters this server does not serve: shared memory (the
/// data would not be in the message) and classification outputs; others
/// are ignored (`perf_analyzer` sends some). `what` names the holder, and
/// is made only for an error.
///
/// # Errors
///
/// [`Code::InvalidArgument`] naming the parameter.
pub fn check_parameters<'a>(
    keys: impl IntoIterator<Item = &'a String>,
    what: impl FnOnce() -> String,
) -> Result<(), Error> {
    match keys
        .into_iter()
        .find(|k| k.starts_with("shared_memory") || *k == "classification")
    {
        Some(key) => Err(Error::invalid(format!(
            "{}: parameter {key:?} is not supported by this server",
            what()
        ))),
        None => Ok(()),
    }
}

/// An error about the `i`th request of a call.
fn element(i: usize, e: Error) -> Error {
    Error {
        message: format!("request {i}: {}", e.message),
        ..e
    }
}

/// The protocol's datatype of an output type.
pub fn datatype(t: OutputType) -> &'static str {
    match t {
        OutputType::F32 => "FP32",
        OutputType::F64 => "FP64",
        OutputType::I64 => "INT64",
        OutputType::U8 => "UINT8",
    }
}

/// The number of elements `shape` says, if every dimension is 0 or more
/// and the product fits.
fn elements(shape: &[i64]) -> Result<usize, Error> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| {
            usize::try_from(d).ok().and_then(|d| n.checked_mul(d))
        })
        .ok_or_else(|| {
            Error::invalid(format!(
                "shape {shape:?} is not a tensor's (a dimension below 0, or too many elements)"
            ))
        })
}

/// The requests of a call's inputs: the one `request` tensor, `BYTES [n]`
/// (n requests) or `UINT8 [len]` (one).
/// At most `max_requests` of them: each is a job, and the queue holds no
/// more (`batching.queue_requests`); refused before the elements are read.
///
/// # Errors
///
/// [`Code::InvalidArgument`] naming what is wrong (the inputs, the name,
/// the datatype, the shape against the data, a `BYTES` element's length
/// prefix); [`Code::TooLarge`] for more requests than `max_requests`.
pub fn requests(inputs: Vec<InputTensor>, max_requests: usize) -> Result<Vec<Bytes>, Error> {
    let mut inputs = inputs.into_iter();
    let (Some(input), None) = (inputs.next(), inputs.next()) else {
        return Err(Error::invalid(format!(
            "a call takes one input, {REQUEST:?} (BYTES [n]: one BatchPredictionRequest each; or UINT8 [len]: one)"
        )));
    };
    if input.name != REQUEST {
        return Err(Error::invalid(format!(
            "unknown input {:?}: the input is {REQUEST:?}",
            input.name
        )));
    }
    let n = elements(&input.shape)?;
    if input.datatype == "BYTES" && n > max_requests {
        return Err(Error::new(
            Code::TooLarge,
            format!(
                "input {REQUEST:?}: {n} requests in one call, over the {max_requests} the queue holds (batching.queue_requests)"
            ),
        ));
    }
    let what = |got: usize| {
        Error::invalid(format!(
            "input {REQUEST:?}: shape {:?} says {n} elements, the data holds {got}",
            input.shape
        ))
    };
    match (input.datatype.as_str(), input.data) {
        ("BYTES", Data::Raw(raw)) => {
            let found = split_bytes(raw, n)?;
            if found.len() != n {
                return Err(what(found.len()));
            }
            Ok(found)
        }
        ("BYTES", Data::Elements(v)) if v.len() == n => Ok(v),
        ("BYTES", Data::Elements(v)) => Err(what(v.len())),
        ("UINT8", Data::Raw(raw)) if raw.len() == n => Ok(vec![raw]),
        ("UINT8", Data::Raw(raw)) => Err(what(raw.len())),
        ("UINT8", Data::Integers(v)) if v.len() == n => {
            let bytes: Result<Vec<u8>, _> = v.iter().map(|&x| u8::try_from(x)).collect();
            let bytes = bytes.map_err(|_| Error::invalid(format!("input {REQUEST:?}: a UINT8 element over 255")))?;
            Ok(vec![Bytes::from(bytes)])
        }
        ("UINT8", Data::Integers(v)) => Err(what(v.len())),
        ("BYTES" | "UINT8", _) => Err(Error::invalid(format!(
            "input {REQUEST:?}: its data is not of its datatype {}",
            input.datatype
        ))),
        (other, _) => Err(Error::invalid(format!(
            "input {REQUEST:?} is {other}: it is BYTES (one BatchPredictionRequest per element) or UINT8 (one request)"
        ))),
    }
}

/// `BYTES` elements from their raw form: each a 4-byte little-endian
/// length and that many bytes (slices of `raw`, not copies); stops after
/// `n + 1` (the caller refuses any count but `n`), so a message of empty
/// elements makes no list larger than the shape said.
pub(crate) fn split_bytes(raw: Bytes, n: usize) -> Result<Vec<Bytes>, Error> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < raw.len() && out.len() <= n {
        let Some(head) = raw.get(at..at + 4) else {
            return Err(Error::invalid(format!(
                "input {REQUEST:?}: BYTES element {} at byte {at}: a length needs 4 bytes, {} are left",
                out.len(),
                raw.len() - at
            )));
        };
        let len = u32::from_le_bytes(head.try_into().expect("4 bytes")) as usize;
        let start = at + 4;
        if len > raw.len() - start {
            return Err(Error::invalid(format!(
                "input {REQUEST:?}: BYTES element {} says {len} bytes, {} are left",
                out.len(),
                raw.len() - start
            )));
        }
        out.push(raw.slice(start..start + len));
        at = start + len;
    }
    Ok(out)
}

/// The `response` tensor: `BYTES [n]`, each element a 4-byte
/// little-endian length and a response.
fn response_tensor<'a>(
    responses: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
) -> Result<OutputTensor, Error> {
    let n = responses.len();
    let total: usize = responses.clone().map(|r| 4 + r.len()).sum();
    let mut data = Vec::with_capacity(total);
    for r in responses {
        let len = u32::try_from(r.len()).map_err(|_| {
            Error::new(
                Code::Internal,
                format!("a response of {} bytes is over BYTES' 4 GiB", r.len()),
            )
        })?;
        data.extend_from_slice(&len.to_le_bytes());
        data.extend_from_slice(r);
    }
    Ok(OutputTensor {
        meta: TensorMeta {
            name: RESPONSE.into(),
            datatype: "BYTES",
            shape: vec![n as i64],
        },
        data,
    })
}

/// A model output over every request of the call: `[records, width]`,
/// little-endian.
fn native_tensor<'a>(
    name: &str,
    dtype: OutputType,
    width: usize,
    parts: impl Iterator<Item = &'a Array>,
) -> OutputTensor {
    let mut data = Vec::new();
    let mut elements = 0;
    for a in parts {
        elements += a.len();
        match a {
            Array::F32(v) => data.extend(v.iter().flat_map(|x| x.to_le_bytes())),
            Array::F64(v) => data.extend(v.iter().flat_map(|x| x.to_le_bytes())),
            Array::I64(v) => data.extend(v.iter().flat_map(|x| x.to_le_bytes())),
            Array::U8(v) => data.extend_from_slice(v),
        }
    }
    let rows = elements.checked_div(width).unwrap_or(0);
    OutputTensor {
        meta: TensorMeta {
            name: name.into(),
            datatype: datatype(dtype),
            shape: vec![rows as i64, width as i64],
        },
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(datatype: &str, shape: &[i64], data: Data) -> Vec<InputTensor> {
        vec![InputTensor {
            name: REQUEST.into(),
            datatype: datatype.into(),
            shape: shape.to_vec(),
            data,
        }]
    }

    fn requests_of(inputs: Vec<InputTensor>) -> Result<Vec<Bytes>, Error> {
        requests(inputs, 100)
    }

    #[test]
    fn more_requests_than_the_queue_holds_are_refused_before_they_are_read() {
        let e = requests_of(input("BYTES", &[101], Data::Raw(Bytes::new()))).unwrap_err();
        assert_eq!(e.code, Code::TooLarge);
        assert!(e.message.contains("101 requests in one call"), "{}", e.message);
        // Empty elements past the shape's count are not all listed.
        let zeros = Bytes::from(vec![0u8; 4 * 1000]);
        let e = requests_of(input("BYTES", &[3], Data::Raw(zeros))).unwrap_err();
        assert!(
            e.message.contains("says 3 elements, the data holds 4"),
            "{}",
            e.message
        );
    }

    #[test]
    fn bytes_elements_are_read_from_their_length_prefixes_and_checked_against_the_shape() {
        let raw = Bytes::from_static(&[2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0, 1, 0, 0, 0, b'c']);
        let got = requests_of(input("BYTES", &[3], Data::Raw(raw.clone()))).unwrap();
        assert_eq!(
            got,
            vec![Bytes::from_static(b"ab"), Bytes::new(), Bytes::from_static(b"c")]
        );
        let e = requests_of(input("BYTES", &[2], Data::Raw(raw.clone()))).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(
            e.message.contains("says 2 elements, the data holds 3"),
            "{}",
            e.message
        );
        let cut = requests_of(input("BYTES", &[3], Data::Raw(raw.slice(..14)))).unwrap_err();
        assert!(
            cut.message.contains("element 2 says 1 bytes, 0 are left"),
            "{}",
            cut.message
        );
        let short = requests_of(input("BYTES", &[1], Data::Raw(Bytes::from_static(&[1, 0])))).unwrap_err();
        assert!(
            short.message.contains("a length needs 4 bytes, 2 are left"),
            "{}",
            short.message
        );
    }

    #[test]
    fn a_uint8_tensor_is_one_request_and_other_inputs_are_refused_by_name() {
        let got = requests_of(input("UINT8", &[3], Data::Raw(Bytes::from_static(b"xyz")))).unwrap();
        assert_eq!(got, vec![Bytes::from_static(b"xyz")]);
        let got = requests_of(input("UINT8", &[2], Data::Integers(vec![7, 255]))).unwrap();
        assert_eq!(got, vec![Bytes::from_static(&[7, 255])]);
        assert!(requests_of(input("UINT8", &[1], Data::Integers(vec![256]))).is_err());
        let e = requests_of(input("FP32", &[1], Data::Raw(Bytes::from_static(&[0; 4])))).unwrap_err();
        assert!(e.message.contains("is FP32"), "{}", e.message);
        let e = requests_of(input("BYTES", &[-1], Data::Elements(vec![]))).unwrap_err();
        assert!(e.message.contains("shape [-1]"), "{}", e.message);
        let mut two = input("BYTES", &[0], Data::Elements(vec![]));
        two.extend(input("BYTES", &[0], Data::Elements(vec![])));
        assert!(requests(two, 100).unwrap_err().message.contains("one input"));
        let mut named = input("BYTES", &[0], Data::Elements(vec![]));
        named[0].name = "x".into();
        assert!(requests(named, 100)
            .unwrap_err()
            .message
            .contains("unknown input \"x\""));
    }

    #[test]
    fn responses_are_length_prefixed_and_native_rows_are_concatenated() {
        let t = response_tensor([&b"ab"[..], &b""[..]].into_iter()).unwrap();
        assert_eq!(t.meta.shape, vec![2]);
        assert_eq!(t.data, vec![2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0]);
        let parts = [Array::F32(vec![1.0, 2.0]), Array::F32(vec![3.0, 4.0, 5.0, 6.0])];
        let t = native_tensor("scores", OutputType::F32, 2, parts.iter());
        assert_eq!((t.meta.datatype, t.meta.shape.clone()), ("FP32", vec![3, 2]));
        assert_eq!(t.data.len(), 24);
        assert_eq!(&t.data[20..], &6.0f32.to_le_bytes());
    }
}
