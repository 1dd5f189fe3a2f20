//! The serving loop: a call read off a connection becomes a [`Job`] in the
//! fair, bounded [`Queue`](crate::queue); `batching.workers` worker threads
//! each take a batch off it (the queue's policy) and run it: each request
//! decoded and scattered straight into its rows of the batch's input
//! arrays, the model once, each reply encoded from its own rows of the
//! outputs. A call crosses two threads (the connection's task, a worker)
//! and back.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bprwire::features::{Array, Buffers, FeatureLayout};
use bprwire::service::{self, ApplicationErrorKind, Envelope, MessageType};
use bprwire::{Element, Signature, TensorData, Values};
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::config::{duration_ms, Batching, Config, Limits};
use crate::metrics::{BatchFigures, Failure, Metrics};
use crate::model::{Model, OutputSpec};
use crate::queue::{Policy, Push, Queue, Queued};

/// What a connection writes back for one call, in call order.
#[derive(Debug)]
pub enum Answer {
    /// The reply is known already (an error found before queueing).
    Ready(Reply),
    /// The reply comes when the call's batch has run.
    Pending(oneshot::Receiver<Reply>),
    /// A ONEWAY call's batch: nothing is written, but the connection
    /// waits for it as for a reply (it holds a place among the calls in
    /// flight, as a call does).
    Quiet(oneshot::Receiver<Reply>),
}

/// A job's reply: its bytes (a Thrift reply message, or a bare
/// `BatchPredictionResponse` for [`Input::Request`]), why it was refused
/// if it was, the model's output rows when asked for, and the job's share
/// of `max_queued_bytes` (now counting the reply), held until the bytes
/// are written.
#[derive(Debug)]
pub struct Reply {
    /// The message to write: for a Thrift call, the reply or the
    /// exception; for a bare request, the response (empty when refused).
    pub bytes: Vec<u8>,
    /// Why the request was refused (the Thrift bytes say it too).
    pub refused: Option<Refusal>,
    /// For a bare request that asked for them: each model output's rows
    /// for this request (`records × width`), in the model's order.
    pub native: Vec<Array>,
    _held: Option<Held>,
}

impl Reply {
    /// A reply that holds no share of `max_queued_bytes` (an immediate
    /// refusal: small, and bounded per connection by
    /// `max_in_flight_per_connection`).
    pub fn unheld(bytes: Vec<u8>) -> Reply {
        Reply {
            bytes,
            refused: None,
            native: Vec::new(),
            _held: None,
        }
    }
}

/// A request refused: the kind (a metric's label, a front end's status)
/// and the text for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// What kind of refusal.
    pub why: Failure,
    /// What the client is told.
    pub text: String,
}

/// What a job reads, and so what its reply is.
#[derive(Debug)]
pub enum Input {
    /// A Thrift `getBatchPrediction` call message: checked once on
    /// reading, decoded again in place by the worker that scatters it; the
    /// reply is a Thrift reply message under `env`.
    Call {
        /// The whole call message.
        message: Bytes,
        /// How the reply is sent.
        env: Envelope,
    },
    /// A bare `BatchPredictionRequest` (one element of a KServe tensor):
    /// the reply is a bare `BatchPredictionResponse`, and the model's
    /// output rows when `native`.
    Request {
        /// The request's bytes.
        bytes: Bytes,
        /// Whether the model's output rows go back too.
        native: bool,
    },
}

/// One request waiting for its batch.
#[derive(Debug)]
pub struct Job {
    input: Input,
    records: usize,
    /// When the message had been read.
    read_at: Instant,
    reply: oneshot::Sender<Reply>,
    /// The job's share of `max_queued_bytes` (its message, and the input
    /// arrays of a request larger than a batch), passed on to its reply.
    held: Held,
}

impl Queued for Job {
    fn records(&self) -> usize {
        self.records
    }
    fn arrived(&self) -> Instant {
        self.read_at
    }
}

impl Job {
    /// Sends the reply, its bytes counted until written in place of the
    /// job's (its message and arrays are freed now: a client that reads
    /// its replies slowly holds only what it has yet to read).
    fn send(mut self, bytes: Vec<u8>, refused: Option<Refusal>, native: Vec<Array>) {
        let native_bytes: usize = native.iter().map(|a| a.len() * a.dtype().size()).sum();
        self.held.resize(bytes.len() + native_bytes);
        let _ = self.reply.send(Reply {
            bytes,
            refused,
            native,
            _held: Some(self.held),
        });
    }

    /// Sends a refusal: a `PredictionServiceException` for a call, the
    /// refusal alone for a bare request.
    fn refuse(self, refusal: Refusal) {
        let bytes = match &self.input {
            Input::Call { env, .. } => exception(*env, &refusal.text),
            Input::Request { .. } => Vec::new(),
        };
        self.send(bytes, Some(refusal), Vec::new());
    }

    /// The request, decoded in place.
    fn request(&self) -> Result<bprwire::decode::Request<'_>, bprwire::decode::DecodeError> {
        match &self.input {
            Input::Call { message, .. } => service::decode_call(message).and_then(|c| c.batch_request()),
            Input::Request { bytes, .. } => bprwire::decode::decode_request(bytes),
        }
    }
}

/// The work admitted and not yet answered: bytes of the jobs alive
/// (queued or running) and of their replies not yet written (against
/// `limits.max_queued_bytes`), and how many calls that is (what shutdown
/// waits for).
#[derive(Debug, Default)]
struct Ledger {
    bytes: std::sync::atomic::AtomicUsize,
    calls: std::sync::atomic::AtomicUsize,
}

/// One call's entry in the [`Ledger`], from admission until its reply is
/// written (or dropped).
#[derive(Debug)]
struct Held {
    ledger: Arc<Ledger>,
    bytes: usize,
}

impl Held {
    /// Counts a call of `bytes` in, unless that would pass `limit`.
    fn take(ledger: &Arc<Ledger>, bytes: usize, limit: usize) -> Option<Held> {
        use std::sync::atomic::Ordering;
        ledger
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_add(bytes).filter(|&n| n <= limit)
            })
            .ok()?;
        ledger.calls.fetch_add(1, Ordering::AcqRel);
        Some(Held {
            ledger: ledger.clone(),
            bytes,
        })
    }

    /// Counts `bytes` instead (work already admitted: not checked).
    fn resize(&mut self, bytes: usize) {
        use std::sync::atomic::Ordering;
        if bytes >= self.bytes {
            self.ledger.bytes.fetch_add(bytes - self.bytes, Ordering::AcqRel);
        } else {
            self.ledger.bytes.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
        }
        self.bytes = bytes;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        self.ledger.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.ledger.calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How the model's outputs become the response: a prepared signature and,
/// for its continuous values and each tensor, which output and its width.
#[derive(Debug)]
struct ResponsePlan {
    signature: Signature,
    continuous: Option<(usize, usize)>,
    tensors: Vec<(usize, usize)>,
    /// Every model output's width (elements per row), in the model's order.
    widths: Vec<usize>,
}

impl ResponsePlan {
    fn new(config: &Config, outputs: &[OutputSpec]) -> Result<ResponsePlan, crate::config::ConfigError> {
        let find = |key: &str, name: &str| {
            outputs.iter().position(|o| o.name == name).ok_or_else(|| {
                let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
                config.error(
                    key,
                    format!("the model has no output {name:?} (it has {names:?})"),
                )
            })
        };
        let element = |key: &str, o: &OutputSpec| match o.dtype {
            bprwire::features::OutputType::F32 => Ok(Element::F32),
            bprwire::features::OutputType::F64 => Ok(Element::F64),
            bprwire::features::OutputType::I64 if key.ends_with("tensors") => Ok(Element::I64),
            other => Err(config.error(
                key,
                format!(
                    "output {:?} is {other:?}, which this response cannot carry",
                    o.name
                ),
            )),
        };
        let mut builder = Signature::builder();
        let mut continuous = None;
        if let Some(c) = &config.response.continuous {
            let i = find("response.continuous.output", &c.output)?;
            let o = &outputs[i];
            if c.keys.len() != o.width {
                return Err(config.error(
                    "response.continuous.keys",
                    format!(
                        "{} keys for output {:?} of width {}",
                        c.keys.len(),
                        o.name,
                        o.width
                    ),
                ));
            }
            let keys: Vec<i64> = c.keys.iter().map(|k| k.id()).collect();
            builder = builder.continuous(&keys, element("response.continuous", o)?);
            continuous = Some((i, o.width));
        }
        let mut tensors = Vec::new();
        for t in &config.response.tensors {
            let i = find("response.tensors.output", &t.output)?;
            let o = &outputs[i];
            builder = builder.tensor(t.key.id(), element("response.tensors", o)?, &[o.width]);
            tensors.push((i, o.width));
        }
        let signature = builder
            .build()
            .map_err(|e| config.error("response", e.to_string()))?;
        Ok(ResponsePlan {
            signature,
            continuous,
            tensors,
            widths: outputs.iter().map(|o| o.width).collect(),
        })
    }

    /// The reply to `job`, from its rows (`row..row + job.records`) of
    /// `outputs`: a Thrift reply message for a call; a bare response, and
    /// a copy of the rows of each output when asked, for a bare request.
    fn reply(&self, outputs: &[Array], row: usize, job: &Job) -> Result<Encoded, String> {
        let records = job.records;
        let continuous = self
            .continuous
            .map(|(i, k)| match &outputs[i] {
                Array::F32(v) => Ok(Values::F32(&v[row * k..(row + records) * k])),
                Array::F64(v) => Ok(Values::F64(&v[row * k..(row + records) * k])),
                _ => Err("continuous output is not a float".to_string()),
            })
            .transpose()?;
        let tensors = self
            .tensors
            .iter()
            .map(|&(i, w)| {
                let r = row * w..(row + records) * w;
                match &outputs[i] {
                    Array::F32(v) => Ok(TensorData::F32(&v[r])),
                    Array::F64(v) => Ok(TensorData::F64(&v[r])),
                    Array::I64(v) => Ok(TensorData::I64(&v[r])),
                    Array::U8(v) => Ok(TensorData::U8(&v[r])),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        let enc = self
            .signature
            .encoder(records, continuous, &tensors)
            .map_err(|e| e.to_string())?;
        Ok(match &job.input {
            Input::Call { env, .. } => Encoded {
                bytes: enc.encode_reply_to_vec(*env).map_err(|e| e.to_string())?,
                native: Vec::new(),
            },
            Input::Request { native, .. } => Encoded {
                bytes: enc.encode_to_vec(),
                native: if *native {
                    outputs
                        .iter()
                        .zip(&self.widths)
                        .map(|(a, &w)| rows_of(a, w * row..w * (row + records)))
                        .collect()
                } else {
                    Vec::new()
                },
            },
        })
    }
}

/// A reply's encoded parts (see [`Reply`]).
struct Encoded {
    bytes: Vec<u8>,
    native: Vec<Array>,
}

/// A copy of `range` of `a`.
fn rows_of(a: &Array, range: std::ops::Range<usize>) -> Array {
    match a {
        Array::F32(v) => Array::F32(v[range].to_vec()),
        Array::F64(v) => Array::F64(v[range].to_vec()),
        Array::I64(v) => Array::I64(v[range].to_vec()),
        Array::U8(v) => Array::U8(v[range].to_vec()),
    }
}

/// The loop's shared state: layout, model, response plan, buffers, limits
/// and metrics. One per server.
pub struct Engine {
    layout: FeatureLayout,
    model: Box<dyn Model>,
    response: ResponsePlan,
    batching: Batching,
    limits: Limits,
    /// Input arrays of `batching.max_records` rows, reused batch to batch.
    pool: Mutex<Vec<Buffers>>,
    queue: Queue<Job>,
    /// Set once shutdown has begun: new requests are refused.
    closing: std::sync::atomic::AtomicBool,
    /// The work admitted and not yet answered.
    ledger: Arc<Ledger>,
    /// Bytes of one row of the input arrays.
    row_bytes: usize,
    metrics: Metrics,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("batching", &self.batching)
            .finish_non_exhaustive()
    }
}

/// A call the server could not read at all: the connection is closed.
#[derive(Debug)]
pub struct ProtocolError(pub String);

impl Engine {
    /// The engine for `config` running `model` (its workers are started
    /// with [`Engine::worker`]).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`](crate::config::ConfigError) when the response
    /// cannot be made of the model's outputs.
    pub fn new(
        config: Config,
        model: Box<dyn Model>,
        metrics: Metrics,
    ) -> Result<Arc<Engine>, crate::config::ConfigError> {
        let response = ResponsePlan::new(&config, model.outputs())?;
        let queue = Queue::new(config.batching.queue_requests);
        let row_bytes = crate::config::row_bytes(&config.layout);
        let engine = Engine {
            layout: config.layout,
            model,
            response,
            batching: config.batching,
            limits: config.limits,
            pool: Mutex::new(Vec::new()),
            queue,
            closing: Default::default(),
            ledger: Arc::default(),
            row_bytes,
            metrics,
        };
        Ok(Arc::new(engine))
    }

    /// The batching settings.
    pub fn batching(&self) -> &Batching {
        &self.batching
    }

    /// The limits connections are held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The model's outputs.
    pub fn outputs(&self) -> &[OutputSpec] {
        self.model.outputs()
    }

    /// Calls admitted whose replies are not yet written (or dropped).
    pub fn owed(&self) -> usize {
        self.ledger.calls.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Takes one call message from client `source` (a connection's id):
    /// `Ok(None)` for a oneway call (no reply),
    /// an answer otherwise: a `PredictionServiceException` for a request
    /// refused (not a request, too many records, overloaded, shutting
    /// down), a `TApplicationException` for another method, or the job's
    /// pending reply.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] for bytes whose message header cannot be read
    /// (the connection cannot be trusted to be in step).
    pub fn handle(
        &self,
        message: Bytes,
        framed: bool,
        closing: bool,
        source: u64,
    ) -> Result<Option<Answer>, ProtocolError> {
        let read_at = Instant::now();
        let call = service::decode_call(&message).map_err(|e| ProtocolError(format!("not a call: {e}")))?;
        let env = call.envelope(framed);
        let oneway = call.message_type == MessageType::Oneway;
        let ready = |bytes: Vec<u8>| Ok((!oneway).then_some(Answer::Ready(Reply::unheld(bytes))));
        if !call.is_batch_prediction() {
            self.metrics.fail(Failure::UnknownMethod);
            let text = format!(
                "unknown method {:?}: this server answers getBatchPrediction",
                call.method
            );
            return ready(application_exception(env, &text));
        }
        self.metrics.requests.inc();
        // The count only: the request is decoded (and checked) once, by
        // the worker that scatters it.
        let admitted = call
            .batch_request_records()
            .map_err(|e| self.refusal(Failure::BadRequest, not_a_request(&e)))
            .and_then(|records| {
                let held = self.admit(records, message.len(), closing)?;
                let input = Input::Call { message, env };
                self.enqueue(source, input, records, read_at, held)
            });
        match admitted {
            Ok(rx) => Ok(Some(if oneway {
                Answer::Quiet(rx)
            } else {
                Answer::Pending(rx)
            })),
            Err(refusal) => ready(exception(env, &refusal.text)),
        }
    }

    /// Takes one bare `BatchPredictionRequest` (a KServe tensor element)
    /// from client `source`:
    /// its reply comes when its batch has run, a bare response (and the
    /// model's output rows when `native`), or a refusal.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] found before queueing: not a request (its record
    /// count cannot be read), too many records, overloaded, shutting down
    /// (`closing`).
    pub fn submit(
        &self,
        bytes: Bytes,
        native: bool,
        closing: bool,
        source: u64,
    ) -> Result<oneshot::Receiver<Reply>, Refusal> {
        let read_at = Instant::now();
        self.metrics.requests.inc();
        let records = bprwire::decode::request_records(&bytes)
            .map_err(|e| self.refusal(Failure::BadRequest, not_a_request(&e)))?;
        let held = self.admit(records, bytes.len(), closing)?;
        self.enqueue(source, Input::Request { bytes, native }, records, read_at, held)
    }

    /// The checks before a request is queued: its record count (and, for
    /// a request larger than a batch, the bytes of its own input arrays
    /// against `limits.max_batch_bytes`), shutdown, and its share of
    /// `max_queued_bytes` (its message, and those arrays).
    fn admit(&self, records: usize, message_bytes: usize, closing: bool) -> Result<Held, Refusal> {
        if records > self.limits.max_records_per_request {
            let why = format!(
                "{records} records, over the limit of {} per request",
                self.limits.max_records_per_request
            );
            return Err(self.refusal(Failure::TooManyRecords, why));
        }
        if records.saturating_mul(self.row_bytes) > self.limits.max_batch_bytes {
            let why = format!(
                "{records} records need {} bytes of input arrays, over limits.max_batch_bytes ({})",
                records.saturating_mul(self.row_bytes),
                self.limits.max_batch_bytes
            );
            return Err(self.refusal(Failure::TooManyRecords, why));
        }
        if closing || self.closing.load(std::sync::atomic::Ordering::Acquire) {
            return Err(self.refusal(Failure::ShuttingDown, "shutting down".into()));
        }
        let arrays = if records > self.batching.max_records {
            records.saturating_mul(self.row_bytes)
        } else {
            0
        };
        let charge = message_bytes.saturating_add(arrays);
        Held::take(&self.ledger, charge, self.limits.max_queued_bytes).ok_or_else(|| {
            let why = format!(
                "overloaded: over {} bytes of requests already queued",
                self.limits.max_queued_bytes
            );
            self.refusal(Failure::Overloaded, why)
        })
    }

    /// Queues an admitted job; its reply comes on the receiver. When the
    /// queue is full, the queue's fairness rule decides: this job is
    /// refused, or the newest job of the client holding the most is shed
    /// (answered overloaded) in its place.
    fn enqueue(
        &self,
        source: u64,
        input: Input,
        records: usize,
        read_at: Instant,
        held: Held,
    ) -> Result<oneshot::Receiver<Reply>, Refusal> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            input,
            records,
            read_at,
            reply,
            held,
        };
        match self.queue.push(source, job) {
            Push::Queued => {
                self.metrics.queue_depth.inc();
                Ok(rx)
            }
            Push::Shed(old) => {
                self.metrics.shed.inc();
                let why = format!(
                    "overloaded: {} requests already waiting, and this connection holds the most of them",
                    self.batching.queue_requests
                );
                old.refuse(self.refusal(Failure::Overloaded, why));
                Ok(rx)
            }
            Push::Full(_) => {
                let why = format!(
                    "overloaded: {} requests already waiting, and this connection holds the most of them",
                    self.batching.queue_requests
                );
                Err(self.refusal(Failure::Overloaded, why))
            }
            Push::Closed(_) => Err(self.refusal(Failure::ShuttingDown, "shutting down".into())),
        }
    }

    /// Runs one call through the loop's own steps on this thread, with no
    /// queue and no batcher: decode, scatter into pooled arrays, the model,
    /// the reply. What a request costs without the server around it (the
    /// load generator's in-process figure). `None` for a message that is
    /// not a `getBatchPrediction` call.
    pub fn run_one(&self, message: Bytes, framed: bool) -> Option<Vec<u8>> {
        let call = service::decode_call(&message).ok()?;
        let records = call.batch_request_records().ok()?;
        let env = call.envelope(framed);
        let (reply, mut rx) = oneshot::channel();
        let held = Held::take(&self.ledger, 0, usize::MAX)?;
        let job = Job {
            input: Input::Call { message, env },
            records,
            read_at: Instant::now(),
            reply,
            held,
        };
        self.run_batch(vec![job]);
        rx.try_recv().ok().map(|r| r.bytes)
    }

    /// A refusal, counted and logged.
    fn refusal(&self, why: Failure, text: String) -> Refusal {
        self.metrics.fail(why);
        self.metrics.statistics.fail();
        tracing::debug!(reason = why.label(), %text, "request refused");
        Refusal { why, text }
    }

    /// The number of worker threads to start (`batching.workers`).
    pub fn workers(&self) -> usize {
        self.batching.workers
    }

    /// Says that shutdown has begun: requests are refused from now on,
    /// and each worker stops once the queue is empty.
    pub fn close(&self) {
        self.closing.store(true, std::sync::atomic::Ordering::Release);
        self.queue.close();
    }

    /// A worker thread's loop: takes a batch off the queue (the queue's
    /// policy: eager, or Navi's max wait), runs it, and again, until
    /// [`close`](Self::close) and an empty queue. An idle worker sleeps
    /// until a request comes.
    pub fn worker(&self) {
        let policy = Policy {
            max_records: self.batching.max_records,
            eager: self.batching.eager,
            max_wait: duration_ms(self.batching.max_wait_ms),
        };
        while let Some(batch) = self.queue.next_batch(policy) {
            self.metrics.queue_depth.dec_by(batch.len() as i64);
            self.run_batch(batch);
        }
    }

    /// One batch, on a worker thread.
    fn run_batch(&self, jobs: Vec<Job>) {
        let start = Instant::now();
        let drop_after = duration_ms(self.batching.drop_after_ms);
        let mut live = Vec::with_capacity(jobs.len());
        for job in jobs {
            let waited = start.saturating_duration_since(job.read_at);
            if waited > drop_after {
                self.metrics.dropped.inc();
                let why = format!(
                    "overloaded: waited {:.1} ms for a batch (drop_after_ms = {})",
                    waited.as_secs_f64() * 1e3,
                    self.batching.drop_after_ms
                );
                job.refuse(self.refusal(Failure::Overloaded, why));
                continue;
            }
            self.metrics.queue_wait.observe(waited.as_secs_f64());
            live.push((job, waited));
        }
        if live.is_empty() {
            return;
        }
        let records: usize = live.iter().map(|(j, _)| j.records).sum();
        self.metrics.batch_records.observe(records as f64);
        self.metrics.batch_requests.observe(live.len() as f64);
        let Some(mut buffers) = self.take_buffers(records) else {
            let jobs = live.into_iter().map(|(j, _)| j).collect();
            return self.fail_all(jobs, Failure::Model, "cannot allocate the batch's input arrays");
        };
        // Scatter each request at its rows; a request refused here is
        // answered now and its rows are left to the model unread.
        let t = Instant::now();
        let mut rows = Vec::with_capacity(live.len());
        let mut figures = BatchFigures {
            records,
            ..BatchFigures::default()
        };
        {
            let mut outputs = buffers.outputs();
            let mut row = 0;
            for (job, waited) in live {
                let records = job.records;
                let scattered = match job.request() {
                    Err(e) => Err(not_a_request(&e)),
                    Ok(req) => self
                        .layout
                        .scatter_at(&req, &mut outputs, row)
                        .map_err(|e| format!("request refused: {e}")),
                };
                match scattered {
                    Ok(_) => {
                        figures.queue += waited;
                        rows.push((job, row));
                    }
                    Err(why) => job.refuse(self.refusal(Failure::BadRequest, why)),
                }
                row += records;
            }
        }
        figures.compute_input = t.elapsed();
        figures.requests = rows.len();
        self.metrics.scatter.observe(figures.compute_input.as_secs_f64());
        let t = Instant::now();
        let outputs = self
            .model
            .run(&buffers, records)
            .and_then(|o| self.check_outputs(o, records));
        figures.compute_infer = t.elapsed();
        self.metrics.model.observe(figures.compute_infer.as_secs_f64());
        self.give_back(buffers);
        let outputs = match outputs {
            Ok(o) => o,
            Err(e) => {
                let jobs = rows.into_iter().map(|(j, _)| j).collect();
                return self.fail_all(jobs, Failure::Model, &format!("model error: {e}"));
            }
        };
        // Encoded first, sent after: a send wakes the connection's task,
        // and that is no part of the encoding's time.
        let t = Instant::now();
        let replies: Vec<(Job, Result<Encoded, Refusal>)> = rows
            .into_iter()
            .map(|(job, row)| {
                let encoded = self
                    .response
                    .reply(&outputs, row, &job)
                    .inspect(|_| {
                        self.metrics.responses.inc();
                    })
                    .map_err(|e| self.refusal(Failure::Encode, format!("cannot encode the response: {e}")));
                (job, encoded)
            })
            .collect();
        figures.compute_output = t.elapsed();
        self.metrics.encode.observe(figures.compute_output.as_secs_f64());
        let mut answers = Vec::with_capacity(replies.len());
        for (job, encoded) in replies {
            let latency = job.read_at.elapsed();
            self.metrics.latency.observe(latency.as_secs_f64());
            if encoded.is_ok() {
                figures.success.push(latency);
            }
            answers.push((job, encoded));
        }
        // The batch counted whole before any reply is seen (a client's
        // next statistics call sees this batch in every tally, or none).
        self.metrics.statistics.batch(&figures);
        for (job, encoded) in answers {
            match encoded {
                Ok(Encoded { bytes, native }) => job.send(bytes, None, native),
                Err(refusal) => job.refuse(refusal),
            }
        }
    }

    /// The outputs, checked against the model's own description: one array
    /// per output, `records × width` elements of its type.
    fn check_outputs(
        &self,
        outputs: Vec<Array>,
        records: usize,
    ) -> Result<Vec<Array>, crate::model::ModelError> {
        let specs = self.model.outputs();
        if outputs.len() != specs.len() {
            return Err(crate::model::ModelError(format!(
                "{} outputs returned, {} declared",
                outputs.len(),
                specs.len()
            )));
        }
        for (a, s) in outputs.iter().zip(specs) {
            if a.dtype() != s.dtype || Some(a.len()) != records.checked_mul(s.width) {
                return Err(crate::model::ModelError(format!(
                    "output {:?}: {} elements of {:?}, declared {records} × {} of {:?}",
                    s.name,
                    a.len(),
                    a.dtype(),
                    s.width,
                    s.dtype
                )));
            }
        }
        Ok(outputs)
    }

    fn fail_all(&self, jobs: Vec<Job>, why: Failure, text: &str) {
        for job in jobs {
            job.refuse(self.refusal(why, text.to_string()));
        }
    }

    /// Input arrays with room for `records` rows: from the pool when the
    /// batch fits `max_records`, else made for this batch alone.
    fn take_buffers(&self, records: usize) -> Option<Buffers> {
        let cap = self.batching.max_records;
        if records <= cap {
            if let Some(b) = self.pool.lock().expect("pool").pop() {
                return Some(b);
            }
        }
        Buffers::new(&self.layout, records.max(cap)).ok()
    }

    fn give_back(&self, buffers: Buffers) {
        if buffers.capacity() == self.batching.max_records {
            self.pool.lock().expect("pool").push(buffers);
        }
    }
}

/// What a request that does not decode is told.
fn not_a_request(e: &bprwire::decode::DecodeError) -> String {
    format!("not a BatchPredictionRequest: {e}")
}

/// A `PredictionServiceException` reply.
pub fn exception(env: Envelope, description: &str) -> Vec<u8> {
    service::service_exception_reply(env, Some(description))
        .or_else(|_| service::service_exception_reply(env, None))
        .expect("a reply without description always fits")
}

/// A `TApplicationException` reply.
pub fn application_exception(env: Envelope, text: &str) -> Vec<u8> {
    service::application_exception(env, text, ApplicationErrorKind::UnknownMethod)
        .expect("a short message always fits")
}

/// A protocol error's last word before the connection closes: a
/// `TApplicationException` of type PROTOCOL_ERROR (sequence id 0: the
/// call's own was not read).
pub fn protocol_error(framed: bool, text: &str) -> Vec<u8> {
    let env = Envelope { seqid: 0, framed };
    service::application_exception(env, text, ApplicationErrorKind::ProtocolError)
        .expect("a short message always fits")
}
