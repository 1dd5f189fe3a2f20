//! A batch's run, on a worker thread: requests that waited too long
//! refused, the others decoded and scattered straight into their rows of
//! the batch's input arrays (pooled), the model once, each response
//! encoded from its own rows of the outputs, statistics counted whole.

use std::ops::Range;
use std::sync::Mutex;
use std::time::Instant;

use bprwire::features::{Buffers, FeatureLayout};

use super::job::{Job, Refusal, Response};
use super::reply::{Part, ResponsePlan};
use crate::config::duration_ms;
use crate::metrics::{BatchFigures, Failure, Metrics};
use crate::models::{Model, Outputs};

/// A request that scattered: its job, its first row among the model's
/// rows, and where its request's own bytes are in the job's message.
struct Placed {
    job: Job,
    row: usize,
    request: Range<usize>,
}

/// Where `part` (a slice of `whole`, as a decoded request's bytes are of
/// the message it was read from) lies in `whole`.
fn within(whole: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    start..start + part.len()
}

/// What a worker runs batches with: the layout, the model, the response
/// plan, input arrays reused batch to batch, and the metrics.
pub struct Runner {
    pub(super) layout: FeatureLayout,
    pub(super) model: Box<dyn Model>,
    pub(super) response: ResponsePlan,
    /// Rows of the pooled input arrays (`batching.max_records`).
    pub(super) max_records: usize,
    /// A request that waited longer is refused (`batching.drop_after_ms`).
    pub(super) drop_after_ms: f64,
    /// Input arrays of `max_records` rows.
    pub(super) pool: Mutex<Vec<Buffers>>,
    pub(super) metrics: Metrics,
}

impl Runner {
    fn refuse(&self, why: Failure, text: String) -> Refusal {
        Refusal::counted(&self.metrics, why, text)
    }

    /// One batch, on a worker thread.
    pub fn run_batch(&self, jobs: Vec<Job>) {
        let start = Instant::now();
        let drop_after = duration_ms(self.drop_after_ms);
        let mut live = Vec::with_capacity(jobs.len());
        for job in jobs {
            let waited = start.saturating_duration_since(job.read_at);
            if waited > drop_after {
                self.metrics.dropped.inc();
                let why = format!(
                    "overloaded: waited {:.1} ms for a batch (drop_after_ms = {})",
                    waited.as_secs_f64() * 1e3,
                    self.drop_after_ms
                );
                job.refuse(self.refuse(Failure::Overloaded, why));
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
        // answered now and its rows are left to the model unread. (A model
        // that reads the requests' bytes itself is given only those that
        // scattered: one client's bad request fails no other.)
        let t = Instant::now();
        let mut placed: Vec<Placed> = Vec::with_capacity(live.len());
        let mut figures = BatchFigures {
            records,
            ..BatchFigures::default()
        };
        {
            let mut outputs = buffers.outputs();
            let mut row = 0;
            for (job, waited) in live {
                let records = job.records;
                let scattered = match job.request.decode() {
                    Err(e) => Err(not_a_request(&e)),
                    Ok(req) => self
                        .layout
                        .scatter_at(&req, &mut outputs, row)
                        .map(|_| within(&job.request.bytes, req.bytes()))
                        .map_err(|e| format!("request refused: {e}")),
                };
                match scattered {
                    Ok(request) => {
                        figures.queue += waited;
                        placed.push(Placed { job, row, request });
                    }
                    Err(why) => job.refuse(self.refuse(Failure::BadRequest, why)),
                }
                row += records;
            }
        }
        figures.compute_input = t.elapsed();
        figures.requests = placed.len();
        self.metrics.scatter.observe(figures.compute_input.as_secs_f64());
        let t = Instant::now();
        // The model's rows: the batch's, or those of the requests it reads.
        let reads = self.model.reads_requests();
        if reads {
            let mut row = 0;
            for p in &mut placed {
                p.row = row;
                row += p.job.records;
            }
        }
        let rows = if reads {
            placed.iter().map(|p| p.job.records).sum()
        } else {
            records
        };
        let outputs = if reads {
            let requests: Vec<&[u8]> = placed
                .iter()
                .map(|p| &p.job.request.bytes[p.request.clone()])
                .collect();
            self.model.run_requests(&requests)
        } else {
            self.model.run(&buffers, records)
        }
        .and_then(|o| self.check_outputs(o, rows));
        figures.compute_infer = t.elapsed();
        self.metrics.model.observe(figures.compute_infer.as_secs_f64());
        self.give_back(buffers);
        // Encoded (or cut from the model's own response) first, sent
        // after: a send wakes the connection's task, and that is no part
        // of the encoding's time.
        let t = Instant::now();
        let parts: Vec<Part<'_>> = placed
            .iter()
            .map(|p| Part {
                row: p.row,
                records: p.job.records,
                form: &p.job.request.form,
            })
            .collect();
        let responses = outputs.and_then(|o| self.response.respond_all(&o, rows, &parts));
        drop(parts);
        let responses = match responses {
            Ok(r) => r,
            Err(e) => {
                let jobs = placed.into_iter().map(|p| p.job).collect();
                return self.fail_all(jobs, Failure::Model, &format!("model error: {e}"));
            }
        };
        let replies: Vec<(Job, Result<Response, Refusal>)> = placed
            .into_iter()
            .zip(responses)
            .map(|(Placed { job, .. }, encoded)| {
                let encoded = encoded
                    .inspect(|_| {
                        self.metrics.responses.inc();
                    })
                    .map_err(|e| self.refuse(Failure::Encode, format!("cannot encode the response: {e}")));
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
                Ok(response) => job.answer(response),
                Err(refusal) => job.refuse(refusal),
            }
        }
    }

    /// Dense outputs, checked against the model's own description: one
    /// array per output, `records × width` elements of its type (a written
    /// response is checked when it is cut).
    fn check_outputs(&self, outputs: Outputs, records: usize) -> Result<Outputs, crate::models::ModelError> {
        let Outputs::Dense(arrays) = &outputs else {
            return Ok(outputs);
        };
        let specs = self.model.outputs();
        if arrays.len() != specs.len() {
            return Err(crate::models::ModelError(format!(
                "{} outputs returned, {} declared",
                arrays.len(),
                specs.len()
            )));
        }
        for (a, s) in arrays.iter().zip(specs) {
            if a.dtype() != s.dtype || Some(a.len()) != records.checked_mul(s.width) {
                return Err(crate::models::ModelError(format!(
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
            job.refuse(self.refuse(why, text.to_string()));
        }
    }

    /// Input arrays with room for `records` rows: from the pool when the
    /// batch fits `max_records`, else made for this batch alone.
    fn take_buffers(&self, records: usize) -> Option<Buffers> {
        let cap = self.max_records;
        if records <= cap {
            if let Some(b) = self.pool.lock().expect("pool").pop() {
                return Some(b);
            }
        }
        Buffers::new(&self.layout, records.max(cap)).ok()
    }

    fn give_back(&self, buffers: Buffers) {
        if buffers.capacity() == self.max_records {
            self.pool.lock().expect("pool").push(buffers);
        }
    }
}

/// What a request that does not decode is told.
pub(super) fn not_a_request(e: &bprwire::decode::DecodeError) -> String {
    format!("not a BatchPredictionRequest: {e}")
}
