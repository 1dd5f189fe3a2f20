//! The serving loop, protocol-neutral: a front end submits a [`Request`]
//! (a bare `BatchPredictionRequest`, or a Thrift call holding one) and
//! gets its [`Reply`] or a [`Refusal`]. A request passes admission
//! ([`admit`]), waits in the fair, bounded queue ([`batcher`]: its
//! policy and unit tests); `batching.workers` worker threads each take a
//! batch off it and run it ([`run`]): each request decoded and scattered
//! straight into its rows of the batch's input arrays, the model once,
//! each response encoded from its own rows of the outputs ([`reply`]). A
//! request crosses two threads (the connection's task, a worker) and
//! back.

pub mod admit;
pub mod batcher;
pub mod job;
pub mod reply;
pub mod run;
pub mod slots;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use bprwire::service::Envelope;
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::config::{duration_ms, Batching, ConfigError, Limits, ModelSpec};
use crate::metrics::{Failure, Metrics};
use crate::models::{Model, OutputSpec};
use admit::Admission;
pub use admit::Ledger;
use batcher::{Policy, Push, Queue};
pub use job::{Form, Job, Refusal, Reply, Request, Response};
use reply::ResponsePlan;
use run::Runner;
use slots::Slots;

/// One model's serving loop: admission, the queue, and what its workers
/// run batches with.
pub struct Engine {
    runner: Runner,
    admission: Admission,
    queue: Queue<Job>,
    /// Batches running at once (workers' and inline), `batching.workers`
    /// at most.
    slots: Slots,
    batching: Batching,
    limits: Limits,
    /// Set once shutdown has begun: new requests are refused.
    closing: std::sync::atomic::AtomicBool,
    /// Small calls may run inline: batches are eager and
    /// `inline_records` is not 0.
    inlines: bool,
}

/// Whether the caller is on a runtime of several threads: an inline run
/// holds the thread it runs on, and the only one would hold every
/// connection (one CPU, or `TOKIO_WORKER_THREADS=1`).
fn more_than_one_connection_thread() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|h| h.metrics().num_workers() > 1)
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("batching", &self.batching)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// The engine for model version `spec` running `model`, under the
    /// server's `limits`, its admitted work counted in the server's
    /// `ledger` (its workers are started with [`Engine::worker`]).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the response cannot be made of the model's
    /// outputs.
    pub fn new(
        spec: ModelSpec,
        limits: Limits,
        ledger: Arc<Ledger>,
        model: Box<dyn Model>,
        metrics: Metrics,
    ) -> Result<Arc<Engine>, ConfigError> {
        let response = ResponsePlan::new(&spec, model.as_ref())?;
        let row_bytes = crate::config::row_bytes(&spec.layout);
        let engine = Engine {
            admission: Admission::new(limits.clone(), ledger, spec.batching.max_records, row_bytes),
            queue: Queue::new(spec.batching.queue_requests),
            slots: Slots::new(spec.batching.workers),
            runner: Runner {
                layout: spec.layout,
                model,
                response,
                max_records: spec.batching.max_records,
                drop_after_ms: spec.batching.drop_after_ms,
                pool: Mutex::new(Vec::new()),
                metrics,
            },
            inlines: spec.batching.eager && spec.batching.inline_records > 0,
            batching: spec.batching,
            limits,
            closing: Default::default(),
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
        &self.runner.metrics
    }

    /// The model's outputs.
    pub fn outputs(&self) -> &[OutputSpec] {
        self.runner.model.outputs()
    }

    /// A refusal, counted and logged (for a front end's own refusals too).
    pub fn refusal(&self, why: Failure, text: String) -> Refusal {
        Refusal::counted(self.metrics(), why, text)
    }

    /// Takes one request from client `source` (a connection's id): its
    /// reply comes when its batch has run.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] found before queueing: not a request (its record
    /// count cannot be read), too many records, overloaded, shutting down
    /// (`closing`, or [`close`](Self::close) called).
    pub fn submit(
        &self,
        request: Request,
        source: u64,
        closing: bool,
    ) -> Result<oneshot::Receiver<Reply>, Refusal> {
        self.take(request, source, closing, false)
    }

    /// As [`submit`](Self::submit), for a call that carries this one
    /// request: when it is small (`batching.inline_records` records at
    /// most), nothing waits in the queue, a slot is free and no other
    /// request in the server runs inline, it runs here, on the caller's
    /// thread, and its reply is ready on return: no handover to a worker
    /// and back, which at low load is most of a small request's cost.
    /// Otherwise it is queued as any other.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    pub fn call(
        &self,
        request: Request,
        source: u64,
        closing: bool,
    ) -> Result<oneshot::Receiver<Reply>, Refusal> {
        self.take(request, source, closing, true)
    }

    fn take(
        &self,
        request: Request,
        source: u64,
        closing: bool,
        inline: bool,
    ) -> Result<oneshot::Receiver<Reply>, Refusal> {
        let read_at = Instant::now();
        self.metrics().requests.inc();
        let records = request
            .records()
            .map_err(|e| self.refusal(Failure::BadRequest, run::not_a_request(&e)))?;
        if closing || self.closing.load(std::sync::atomic::Ordering::Acquire) {
            return Err(self.refusal(Failure::ShuttingDown, "shutting down".into()));
        }
        let held = self
            .admission
            .admit(records, request.bytes.len())
            .map_err(|(why, text)| self.refusal(why, text))?;
        let (job, rx) = Job::new(request, records, read_at, held);
        if inline
            && self.inlines
            && records <= self.batching.inline_records.min(self.batching.max_records)
            && self.queue.is_empty()
            && more_than_one_connection_thread()
        {
            if let Some(_one) = self.admission.ledger.inline() {
                if let Some(_slot) = self.slots.try_take() {
                    self.metrics().inline.inc();
                    self.runner.run_batch(vec![job]);
                    return Ok(rx);
                }
            }
        }
        self.enqueue(source, job)?;
        Ok(rx)
    }

    /// Queues an admitted job. When the queue is full, the queue's
    /// fairness rule decides: this job is refused, or the newest job of the
    /// client holding the most is shed (answered overloaded) in its place.
    fn enqueue(&self, source: u64, job: Job) -> Result<(), Refusal> {
        let full = || {
            format!(
                "overloaded: {} requests already waiting, and this connection holds the most of them",
                self.batching.queue_requests
            )
        };
        match self.queue.push(source, job) {
            Push::Queued => {
                self.metrics().queue_depth.inc();
                Ok(())
            }
            Push::Shed(old) => {
                self.metrics().shed.inc();
                old.refuse(self.refusal(Failure::Overloaded, full()));
                Ok(())
            }
            Push::Full(_) => Err(self.refusal(Failure::Overloaded, full())),
            Push::Closed(_) => Err(self.refusal(Failure::ShuttingDown, "shutting down".into())),
        }
    }

    /// Runs one call through the loop's own steps on this thread, with no
    /// queue and no batcher: decode, scatter into pooled arrays, the model,
    /// the reply. What a request costs without the server around it (the
    /// load generator's in-process figure). `None` for a message that is
    /// not a `getBatchPrediction` call.
    pub fn run_one(&self, message: Bytes, framed: bool) -> Option<Vec<u8>> {
        let call = bprwire::service::decode_call(&message).ok()?;
        let env: Envelope = call.envelope(framed);
        let request = Request {
            bytes: message.clone(),
            form: Form::Call(env),
        };
        let records = request.records().ok()?;
        let held = admit::Held::take(&self.admission.ledger, 0, usize::MAX)?;
        let (job, mut rx) = Job::new(request, records, Instant::now(), held);
        self.runner.run_batch(vec![job]);
        rx.try_recv().ok()?.outcome.ok().map(|r| r.bytes)
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
            self.metrics().queue_depth.dec_by(batch.len() as i64);
            let _slot = self.slots.take();
            self.runner.run_batch(batch);
        }
    }
}
