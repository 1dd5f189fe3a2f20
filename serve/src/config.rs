//! The configuration file (TOML): what is served and how. Everything is
//! checked at start; a refusal names the file, the key and the reason.
//!
//! ```toml
//! [listen]
//! thrift = "127.0.0.1:9090"        # the PredictionService port
//! http = "127.0.0.1:9091"          # /metrics, /healthz, /ready, KServe v2 REST (/v2/...)
//! grpc = "127.0.0.1:9092"          # KServe v2 gRPC (off when not given)
//!
//! [kserve]
//! model = "bprwire"                # the model's name on the KServe v2 protocol
//!
//! [tfserving]                      # TensorFlow Serving's API (gRPC port; REST on the HTTP port)
//! input = "examples"               # the input holding the requests (Navi's --input)
//!
//! [tls]                            # mutual TLS (optional; Navi's --ssl-dir)
//! cert = "server.crt"              # the server's certificate chain (PEM)
//! key = "server.key"               # its private key (PEM)
//! client_ca = "ca.crt"             # clients must present a certificate from these CAs
//! ports = ["thrift", "grpc"]       # the default; "http" too if asked
//!
//! [layout]                         # the feature layout (as `bprwire scatter --layout`)
//! path = "layout.json"             # or: inline = '''{"continuous": {"ids": [1, 2]}}'''
//!
//! [model]                          # the built-in linear model
//! kind = "logistic"                # or "linear"
//! weights = "weights.npy"          # [n_features, k], float32 or float64
//! bias = "bias.npy"                # [k]
//! output = "scores"                # the output's name (default "scores")
//! dtype = "float32"                # the output's type (default float32)
//! # or an ONNX model (feature `onnx`):
//! # kind = "onnx"
//! # path = "model.onnx"
//! # inputs = { continuous = "x", "tensor.30" = "emb" }   # layout array -> model input
//! # threads = 1                    # intra-op threads per session
//! # library = "libonnxruntime.so"  # default: $ORT_DYLIB_PATH
//!
//! [response]                       # one of:
//! continuous = { output = "scores", keys = [1001, "prediction.score"] }
//! # tensors = [{ output = "scores", key = 2001 }]
//!
//! [batching]
//! max_records = 256                # records per batch
//! max_wait_ms = 2.0                # how long a batch waits to fill (eager = false)
//! drop_after_ms = 90.0             # a request that waited longer is refused
//! queue_requests = 1024            # requests waiting, past it: overloaded
//! workers = 2                      # batches running at once
//! eager = true                     # start when a worker is free (false: wait max_wait_ms)
//! inline_records = 32              # a call of one request this small runs on its connection's thread when idle (0: never)
//!
//! [limits]
//! max_message_bytes = 67108864
//! max_records_per_request = 65536
//! max_connections = 1024
//! max_in_flight_per_connection = 64
//! max_queued_bytes = 1073741824    # requests queued or running, in all
//! max_batch_bytes = 268435456      # one batch's input arrays (max_records rows of the layout)
//! handshake_timeout_s = 10.0       # from accept to a connection's first call (or HTTP header)
//! idle_timeout_s = 300.0           # between calls
//! read_timeout_s = 10.0            # for one message, first byte to last (and a reply's writes: no progress)
//! shutdown_deadline_s = 15.0       # to answer what is in flight (more than read_timeout_s + drop_after_ms)
//! ```
//!
//! Relative paths are from the configuration file's folder. Every file
//! named (this one, the layout, the model's) must be a regular file under
//! its cap ([`crate::files`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A configuration that could not be used: the file, the key (as a TOML
/// path, `batching.max_records`), and why.
#[derive(Debug)]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// The key at fault (empty for the file as a whole).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// `[listen]`.
    #[serde(default)]
    pub listen: Listen,
    /// `[layout]` (one model in this file).
    pub layout: Option<Layout>,
    /// `[model]` (one model in this file).
    pub model: Option<crate::models::ModelConfig>,
    /// `[response]` (one model in this file).
    pub response: Option<Response>,
    /// `[batching]` (one model in this file).
    pub batching: Option<Batching>,
    /// `[limits]`.
    #[serde(default)]
    pub limits: Limits,
    /// `[kserve]` (one model in this file).
    pub kserve: Option<Kserve>,
    /// `[tfserving]`: TensorFlow Serving's API.
    #[serde(default)]
    pub tfserving: crate::frontend::tfserving::TfServingConfig,
    /// `[tls]`: mutual TLS on some ports.
    pub tls: Option<crate::frontend::tls::TlsConfig>,
    /// `[repository]`: the models of a folder instead.
    pub repository: Option<crate::repository::policy::RepositoryConfig>,
}

/// `[kserve]`: how the model is named on the KServe v2 protocol.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kserve {
    /// The model's name (its one version is "1").
    pub model: String,
}

impl Default for Kserve {
    fn default() -> Self {
        Kserve {
            model: "bprwire".into(),
        }
    }
}

/// `[listen]`: the addresses (loopback unless told).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// The Thrift port.
    pub thrift: SocketAddr,
    /// The HTTP port (metrics, probes, KServe v2 REST).
    pub http: SocketAddr,
    /// The KServe v2 gRPC port (none: not served).
    pub grpc: Option<SocketAddr>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            thrift: ([127, 0, 0, 1], 9090).into(),
            http: ([127, 0, 0, 1], 9091).into(),
            grpc: None,
        }
    }
}

/// `[layout]`: a path or the JSON inline.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// A JSON layout file.
    pub path: Option<PathBuf>,
    /// The JSON layout itself.
    pub inline: Option<String>,
}

/// A response key: an integer id, or a feature name (hashed as twml does).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Key {
    /// The id itself.
    Id(i64),
    /// A feature name.
    Name(String),
}

impl Key {
    /// The id.
    pub fn id(&self) -> i64 {
        match self {
            Key::Id(id) => *id,
            Key::Name(name) => bprwire::feature_id(name),
        }
    }
}

/// `[response]`: how outputs become the response (left out for a model
/// that writes the response itself).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// An output `[rows, k]` as `k` continuous keys (twml's `BatchPredictionWriter`).
    pub continuous: Option<ContinuousResponse>,
    /// Outputs as dense tensors under keys (twml's `BatchPredictionTensorWriter`).
    #[serde(default)]
    pub tensors: Vec<TensorResponse>,
}

/// `response.continuous`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinuousResponse {
    /// The model output.
    pub output: String,
    /// One key per column.
    pub keys: Vec<Key>,
}

/// One of `response.tensors`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorResponse {
    /// The model output.
    pub output: String,
    /// The tensor's key.
    pub key: Key,
}

/// `[batching]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Batching {
    /// Records per batch (a larger request runs alone).
    pub max_records: usize,
    /// How long the first request of a batch waits for others, in ms
    /// (0: batching off).
    pub max_wait_ms: f64,
    /// A request that waited longer than this before its batch ran is
    /// refused as overloaded, in ms.
    pub drop_after_ms: f64,
    /// Requests waiting for a batch; past it a request is refused at once.
    pub queue_requests: usize,
    /// Worker threads, each taking and running one batch at a time.
    pub workers: usize,
    /// `true`: a batch starts as soon as a worker is free, with every
    /// request that came meanwhile (up to `max_records`): no request waits
    /// for others while a worker is idle, and batches grow under load.
    /// `false`: Navi's rule: a batch waits up to `max_wait_ms` from its
    /// first request to fill, then for a free worker.
    pub eager: bool,
    /// A request of at most this many records (and `max_records`), sent alone in its call
    /// (Thrift; a one-element KServe or TensorFlow Serving call), runs on
    /// the connection's own thread when nothing is queued and fewer than
    /// `workers` batches run (`eager` only; 0: never). It saves the
    /// handover to a worker and back, most of a small request's cost;
    /// a larger request would hold the connection's thread too long.
    pub inline_records: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_records: 256,
            max_wait_ms: 2.0,
            drop_after_ms: 90.0,
            queue_requests: 1024,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            eager: true,
            inline_records: 32,
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest message (frame) read, checked before its body is read.
    pub max_message_bytes: usize,
    /// The most records one request may have.
    pub max_records_per_request: usize,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Calls read ahead of their replies on one connection.
    pub max_in_flight_per_connection: usize,
    /// Bytes of requests queued or running, all connections together; past
    /// it a request is refused as overloaded (each connection may also
    /// hold up to `max_message_bytes` while it reads one).
    pub max_queued_bytes: usize,
    /// The most bytes of one batch's input arrays (`max_records` rows of
    /// the layout; a request larger than a batch is held to it too).
    pub max_batch_bytes: usize,
    /// How long a new connection may take to begin its first call (its
    /// first message byte on Thrift, a request's headers on HTTP, a
    /// stream on gRPC), in s.
    pub handshake_timeout_s: f64,
    /// How long a connection may stay open with no call in flight, in s.
    pub idle_timeout_s: f64,
    /// How long one message may take to arrive, first byte to last, and
    /// how long a reply's writing may make no progress (a client that
    /// reads slowly but reads is not cut off), in s.
    pub read_timeout_s: f64,
    /// How long shutdown waits for replies in flight, in s.
    pub shutdown_deadline_s: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 << 20,
            max_records_per_request: 65_536,
            max_connections: 1024,
            max_in_flight_per_connection: 64,
            max_queued_bytes: 1 << 30,
            max_batch_bytes: 256 << 20,
            handshake_timeout_s: 10.0,
            idle_timeout_s: 300.0,
            read_timeout_s: 10.0,
            shutdown_deadline_s: 15.0,
        }
    }
}

/// A configuration read and checked: the parts the server is built from.
#[derive(Debug)]
pub struct Config {
    /// The file it came from.
    pub file: PathBuf,
    /// The Thrift address.
    pub thrift: SocketAddr,
    /// The HTTP address.
    pub http: SocketAddr,
    /// The KServe v2 gRPC address, if served.
    pub grpc: Option<SocketAddr>,
    /// `[limits]`.
    pub limits: Limits,
    /// `[tfserving]`.
    pub tfserving: crate::frontend::tfserving::TfServingConfig,
    /// `[tls]`, its files read: each port's acceptor, if it speaks TLS.
    pub tls: crate::frontend::tls::Tls,
    /// Where the models come from.
    pub models: Models,
}

/// Where a server's models come from.
#[derive(Debug)]
pub enum Models {
    /// `[layout]`, `[model]`, `[response]` (and `[batching]`, `[kserve]`)
    /// in the file itself: one model, version 1, read once at start.
    Single(Box<ModelSpec>),
    /// `[repository]`: a folder of models, each with its versions,
    /// rolled in and out while serving ([`crate::repository`]).
    Repository(crate::repository::policy::RepositoryConfig),
}

/// One model version's configuration, checked: what an engine is built
/// from (with the model's files).
#[derive(Debug)]
pub struct ModelSpec {
    /// The file its keys are in (for errors).
    pub file: PathBuf,
    /// The model's name.
    pub name: String,
    /// The feature layout.
    pub layout: bprwire::features::FeatureLayout,
    /// `[model]`, paths resolved.
    pub model: crate::models::ModelConfig,
    /// `[response]`.
    pub response: Response,
    /// `[batching]`.
    pub batching: Batching,
}

/// A model's sections as written, wherever they are (the server's file,
/// or a model's own in a repository).
#[derive(Debug)]
pub struct ModelSections {
    /// `[layout]`.
    pub layout: Layout,
    /// `[model]`.
    pub model: crate::models::ModelConfig,
    /// `[response]`.
    pub response: Response,
    /// `[batching]`.
    pub batching: Batching,
}

impl ModelSpec {
    /// Checks the sections of model `name` from the file at `path`:
    /// `[layout]`'s path is read from `layout_dir`, the model's files are
    /// resolved in `model_dir`, and the batching is checked against
    /// `limits` (what a request of this layout costs, how long a call may
    /// take).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the key.
    pub fn new(
        path: &Path,
        name: String,
        sections: ModelSections,
        layout_dir: &Path,
        model_dir: &Path,
        limits: &Limits,
    ) -> Result<ModelSpec, ConfigError> {
        let ModelSections {
            layout,
            mut model,
            response,
            batching,
        } = sections;
        let layout_text = match (&layout.path, &layout.inline) {
            (Some(p), None) => crate::files::read_regular(&layout_dir.join(p), crate::files::LAYOUT_BYTES)
                .map_err(|e| err(path, "layout.path", e))?,
            (None, Some(text)) => text.clone().into_bytes(),
            _ => {
                return Err(err(
                    path,
                    "layout",
                    "give exactly one of `path` and `inline`".into(),
                ))
            }
        };
        let layout = bprwire::features::FeatureLayout::from_json(&layout_text)
            .map_err(|e| err(path, "layout", e.to_string()))?;
        model
            .resolve(model_dir)
            .map_err(|(key, reason)| err(path, key, reason))?;
        check_batching(path, limits, &batching, &layout)?;
        Ok(ModelSpec {
            file: path.to_path_buf(),
            name,
            layout,
            model,
            response,
            batching,
        })
    }

    /// An error about `key` of this model's configuration.
    pub fn error(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        err(&self.file, key, reason.into())
    }
}

impl Config {
    /// Reads and checks the configuration at `path`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`]: the file unreadable, not TOML, an unknown or
    /// missing key, a value of the wrong type, or a value out of range;
    /// the layout unreadable or refused.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes =
            crate::files::read_regular(path, crate::files::CONFIG_BYTES).map_err(|e| err(path, "", e))?;
        let text = String::from_utf8(bytes).map_err(|e| err(path, "", format!("not UTF-8 text: {e}")))?;
        Config::parse(path, &text)
    }

    /// Checks `text` as the configuration at `path` (paths in it are
    /// relative to its folder).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        check_limits(path, &file.limits)?;
        file.tfserving
            .check()
            .map_err(|(key, reason)| err(path, key, reason))?;
        let tls = match &file.tls {
            None => crate::frontend::tls::Tls::default(),
            Some(tls) => {
                if file.listen.grpc.is_none() && tls.ports.contains(&crate::frontend::tls::PortName::Grpc) {
                    return Err(err(
                        path,
                        "tls.ports",
                        "\"grpc\" is named but no gRPC port is served (listen.grpc)".into(),
                    ));
                }
                tls.load(dir).map_err(|(key, reason)| err(path, key, reason))?
            }
        };
        let models = match (file.repository, file.layout, file.model, file.response) {
            (Some(mut repository), None, None, None) => {
                for (key, given) in [
                    ("batching", file.batching.is_some()),
                    ("kserve", file.kserve.is_some()),
                ] {
                    if given {
                        return Err(err(
                            path,
                            key,
                            format!("[{key}] is each model's own in a repository (its model.toml)"),
                        ));
                    }
                }
                repository
                    .resolve(dir)
                    .map_err(|(key, reason)| err(path, key, reason))?;
                Models::Repository(repository)
            }
            (Some(_), ..) => {
                return Err(err(
                    path,
                    "repository",
                    "give either [repository] or one model's [layout], [model] and [response], not both"
                        .into(),
                ))
            }
            (None, Some(layout), Some(model), response) => {
                let name = file.kserve.unwrap_or_default().model;
                if !crate::repository::policy::is_model_name(&name) {
                    return Err(err(
                        path,
                        "kserve.model",
                        format!("{name:?} is not a model name (non-empty; letters, digits, '-', '_', '.'; not starting with '.')"),
                    ));
                }
                let sections = ModelSections {
                    layout,
                    model,
                    response: response.unwrap_or_default(),
                    batching: file.batching.unwrap_or_default(),
                };
                Models::Single(Box::new(ModelSpec::new(
                    path,
                    name,
                    sections,
                    dir,
                    dir,
                    &file.limits,
                )?))
            }
            (None, layout, _, _) => {
                let missing = if layout.is_none() { "layout" } else { "model" };
                return Err(err(
                    path,
                    missing,
                    format!("missing [{missing}] (or serve a [repository] of models)"),
                ));
            }
        };
        Ok(Config {
            file: path.to_path_buf(),
            thrift: file.listen.thrift,
            http: file.listen.http,
            grpc: file.listen.grpc,
            limits: file.limits,
            tfserving: file.tfserving,
            tls,
            models,
        })
    }

    /// An error about `key` of this configuration.
    pub fn error(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        err(&self.file, key, reason.into())
    }
}

/// The server-wide limits, on their own.
fn check_limits(path: &Path, l: &Limits) -> Result<(), ConfigError> {
    positive(path, "limits.max_message_bytes", l.max_message_bytes)?;
    positive(path, "limits.max_records_per_request", l.max_records_per_request)?;
    positive(path, "limits.max_connections", l.max_connections)?;
    positive(
        path,
        "limits.max_in_flight_per_connection",
        l.max_in_flight_per_connection,
    )?;
    at_most(path, "limits.max_connections", l.max_connections, 1 << 20)?;
    at_most(
        path,
        "limits.max_in_flight_per_connection",
        l.max_in_flight_per_connection,
        1 << 16,
    )?;
    at_most(
        path,
        "limits.max_records_per_request",
        l.max_records_per_request,
        i32::MAX as usize,
    )?;
    if l.max_queued_bytes < l.max_message_bytes {
        return Err(err(
            path,
            "limits.max_queued_bytes",
            format!(
                "{} is less than limits.max_message_bytes ({}): a request of the largest size could never be queued",
                l.max_queued_bytes, l.max_message_bytes
            ),
        ));
    }
    if l.max_message_bytes > i32::MAX as usize {
        return Err(err(
            path,
            "limits.max_message_bytes",
            "over a frame's limit of 2147483647".into(),
        ));
    }
    if l.max_message_bytes < MIN_MESSAGE_BYTES {
        return Err(err(
            path,
            "limits.max_message_bytes",
            format!(
                "{} is under {MIN_MESSAGE_BYTES}: every call would be refused",
                l.max_message_bytes
            ),
        ));
    }
    duration(path, "limits.handshake_timeout_s", l.handshake_timeout_s, true)?;
    duration(path, "limits.idle_timeout_s", l.idle_timeout_s, true)?;
    duration(path, "limits.read_timeout_s", l.read_timeout_s, true)?;
    duration(path, "limits.shutdown_deadline_s", l.shutdown_deadline_s, true)
}

/// One model's batching against the server's limits and its layout.
fn check_batching(
    path: &Path,
    l: &Limits,
    b: &Batching,
    layout: &bprwire::features::FeatureLayout,
) -> Result<(), ConfigError> {
    positive(path, "batching.max_records", b.max_records)?;
    positive(path, "batching.queue_requests", b.queue_requests)?;
    positive(path, "batching.workers", b.workers)?;
    at_most(path, "batching.max_records", b.max_records, i32::MAX as usize)?;
    at_most(path, "batching.queue_requests", b.queue_requests, 1 << 20)?;
    at_most(path, "batching.workers", b.workers, 1024)?;
    // A request larger than a batch is charged its own input arrays
    // too (at most max_batch_bytes).
    let row = row_bytes(layout);
    let largest = l.max_records_per_request.saturating_mul(row);
    let arrays = if l.max_records_per_request > b.max_records {
        largest.min(l.max_batch_bytes)
    } else {
        0
    };
    if l.max_queued_bytes < l.max_message_bytes.saturating_add(arrays) {
        return Err(err(
            path,
            "limits.max_queued_bytes",
            format!(
                "{} is less than limits.max_message_bytes ({}) plus the input arrays of the largest request ({arrays}): such a request could never be queued",
                l.max_queued_bytes, l.max_message_bytes
            ),
        ));
    }
    if b.max_records.saturating_mul(row) > l.max_batch_bytes {
        return Err(err(
            path,
            "batching.max_records",
            format!(
                "{} rows of {row} bytes (the layout's input arrays) take {} bytes, over limits.max_batch_bytes ({}): every batch would fail to allocate",
                b.max_records,
                b.max_records.saturating_mul(row),
                l.max_batch_bytes
            ),
        ));
    }
    duration(path, "batching.max_wait_ms", b.max_wait_ms, false)?;
    duration(path, "batching.drop_after_ms", b.drop_after_ms, true)?;
    let call = call_bound(l, b).as_secs_f64();
    if call >= l.shutdown_deadline_s {
        return Err(err(
            path,
            "limits.shutdown_deadline_s",
            format!(
                "{} s is not more than a call's own bound, limits.read_timeout_s + batching.drop_after_ms ({call} s): a call read just before shutdown could not be answered in time",
                l.shutdown_deadline_s
            ),
        ));
    }
    Ok(())
}

/// A call's own time bound on every front end: its message's reading and
/// its wait for a batch (`read_timeout_s + drop_after_ms`). Shutdown's
/// deadline must be longer.
pub fn call_bound(limits: &Limits, batching: &Batching) -> Duration {
    seconds(limits.read_timeout_s) + duration_ms(batching.drop_after_ms)
}

/// Milliseconds of the file (checked finite and non-negative) as a `Duration`.
pub fn duration_ms(ms: f64) -> Duration {
    Duration::from_secs_f64(ms / 1e3)
}

/// Seconds of the file (checked finite and non-negative) as a `Duration`.
pub fn seconds(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The smallest `limits.max_message_bytes`: a call of one small record
/// takes about a hundred bytes.
pub const MIN_MESSAGE_BYTES: usize = 1024;

/// Bytes of one row of `layout`'s input arrays.
pub fn row_bytes(layout: &bprwire::features::FeatureLayout) -> usize {
    use bprwire::features::FeatureKind;
    let columns = |kind, n: usize| layout.output_type(kind).map_or(0, |t| n * t.size());
    columns(FeatureKind::Continuous, layout.continuous_ids().len())
        + columns(FeatureKind::Binary, layout.binary_ids().len())
        + columns(FeatureKind::Discrete, layout.discrete_ids().len())
        + layout
            .tensors()
            .iter()
            .map(|t| t.width * t.dtype.size())
            .sum::<usize>()
}

/// A duration of the file: finite, at most 10^9, and more than 0 when
/// `nonzero` (a timeout of 0 would close every connection or call).
fn duration(path: &Path, key: &str, v: f64, nonzero: bool) -> Result<(), ConfigError> {
    if !(0.0..1e9).contains(&v) {
        return Err(err(
            path,
            key,
            format!("{v} is not a duration (finite, 0 or more)"),
        ));
    }
    // Seconds or milliseconds: 1e-3 of either is at least a microsecond.
    if nonzero && v < 1e-3 {
        return Err(err(
            path,
            key,
            format!("{v} must be more than 0 (at least 0.001; 0 would refuse or cut off every call)"),
        ));
    }
    Ok(())
}

fn at_most(path: &Path, key: &str, v: usize, max: usize) -> Result<(), ConfigError> {
    if v > max {
        return Err(err(
            path,
            key,
            format!("{v} is more than the {max} this server allows"),
        ));
    }
    Ok(())
}

fn positive(path: &Path, key: &str, v: usize) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(err(path, key, "must be at least 1".into()));
    }
    Ok(())
}

fn err(path: &Path, key: &str, reason: String) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        key: key.into(),
        reason,
    }
}

/// A TOML or schema error, with the key path the span points into.
pub(crate) fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let reason = e.message().to_string();
    let key = e.span().map_or_else(String::new, |span| key_at(text, span.start));
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
    ConfigError {
        file: path.to_path_buf(),
        key,
        reason: match line {
            Some(line) => format!("{reason} (line {line})"),
            None => reason,
        },
    }
}

/// The `[table]` and key on the line at `offset` (best effort, for messages).
fn key_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let table = before
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.split(']').next()))
        .unwrap_or("")
        .trim_matches(['[', ']'])
        .to_string();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    // The span is a table's header itself (an error about the whole
    // table: a missing field, an unknown `kind`).
    if let Some(header) = line.trim().strip_prefix('[').and_then(|l| l.split(']').next()) {
        return header.trim_matches(['[', ']']).to_string();
    }
    let key = line.split('=').next().unwrap_or("").trim();
    let key = if line.contains('=') && !key.starts_with('[') {
        key
    } else {
        ""
    };
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}
