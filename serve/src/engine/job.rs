//! A request on its way through the engine: what it is and how it is
//! answered ([`Request`], [`Form`]), the job that waits in the queue, and
//! its [`Reply`] or [`Refusal`].

use std::time::Instant;

use bprwire::features::Array;
use bprwire::service::Envelope;
use bytes::Bytes;
use tokio::sync::oneshot;

use super::admit::Held;
use super::batcher::Queued;
use crate::metrics::{Failure, Metrics};

/// A request for the engine, from any front end.
#[derive(Debug)]
pub struct Request {
    /// A bare `BatchPredictionRequest`, or a whole `getBatchPrediction`
    /// call message holding one (`Form::Call`): read in place, once to
    /// count its records at admission and once by the worker that
    /// scatters it.
    pub bytes: Bytes,
    /// How it is answered.
    pub form: Form,
}

/// How a request's response is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A bare `BatchPredictionResponse`, and the model's output rows for
    /// this request when `native` (KServe's native outputs).
    Bare {
        /// Whether the model's output rows go back too.
        native: bool,
    },
    /// A Thrift REPLY message under this envelope (the request is the
    /// argument of the call message in `bytes`).
    Call(Envelope),
    /// A `getPrediction` REPLY under this envelope, carrying the one
    /// record (`bytes` is the one-record `BatchPredictionRequest` made of
    /// the call's).
    Single(Envelope),
}

impl Request {
    /// The request, decoded in place.
    pub(super) fn decode(&self) -> Result<bprwire::decode::Request<'_>, bprwire::decode::DecodeError> {
        match self.form {
            Form::Call(_) => bprwire::service::decode_call(&self.bytes).and_then(|c| c.batch_request()),
            Form::Bare { .. } | Form::Single(_) => bprwire::decode::decode_request(&self.bytes),
        }
    }

    /// Its record count, without decoding the records.
    pub(super) fn records(&self) -> Result<usize, bprwire::decode::DecodeError> {
        match self.form {
            Form::Call(_) => {
                bprwire::service::decode_call(&self.bytes).and_then(|c| c.batch_request_records())
            }
            Form::Bare { .. } | Form::Single(_) => bprwire::decode::request_records(&self.bytes),
        }
    }
}

/// A request's response: its bytes in its [`Form`], and the model's
/// output rows when asked for.
#[derive(Debug)]
pub struct Response {
    /// The response (or REPLY message).
    pub bytes: Vec<u8>,
    /// For a bare request that asked for them: each model output's rows
    /// for this request (`records × width`), in the model's order.
    pub native: Vec<Array>,
}

/// A job's answer: its response or why it was refused, with its share of
/// `max_queued_bytes` (now counting the response), held until the reply is
/// dropped (written).
#[derive(Debug)]
pub struct Reply {
    /// The response, or the refusal.
    pub outcome: Result<Response, Refusal>,
    _held: Option<Held>,
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

impl Refusal {
    /// A refusal, counted in `metrics` and logged.
    pub fn counted(metrics: &Metrics, why: Failure, text: String) -> Refusal {
        metrics.fail(why);
        metrics.statistics.fail();
        tracing::debug!(reason = why.label(), %text, "request refused");
        Refusal { why, text }
    }
}

/// One request waiting for its batch.
#[derive(Debug)]
pub struct Job {
    pub(super) request: Request,
    pub(super) records: usize,
    /// When the request had been read.
    pub(super) read_at: Instant,
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
    /// A job for `request` of `records` records, read at `read_at`,
    /// holding `held`; its reply comes on the receiver.
    pub(super) fn new(
        request: Request,
        records: usize,
        read_at: Instant,
        held: Held,
    ) -> (Job, oneshot::Receiver<Reply>) {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            request,
            records,
            read_at,
            reply,
            held,
        };
        (job, rx)
    }

    /// Sends the response, its bytes counted until written in place of
    /// the job's (its message and arrays are freed now: a client that
    /// reads its replies slowly holds only what it has yet to read).
    pub(super) fn answer(mut self, response: Response) {
        let native: usize = response.native.iter().map(|a| a.len() * a.dtype().size()).sum();
        self.held.resize(response.bytes.len() + native);
        let _ = self.reply.send(Reply {
            outcome: Ok(response),
            _held: Some(self.held),
        });
    }

    /// Sends a refusal (the front end words it for its protocol).
    pub(super) fn refuse(mut self, refusal: Refusal) {
        self.held.resize(0);
        let _ = self.reply.send(Reply {
            outcome: Err(refusal),
            _held: Some(self.held),
        });
    }
}
