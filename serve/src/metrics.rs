//! The server's metrics, in Prometheus' text format at `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Why a request was not answered with a response.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Failure {
    /// Not a `getBatchPrediction` request (bytes that do not decode, a
    /// scatter refusal).
    BadRequest,
    /// More records than `limits.max_records_per_request`.
    TooManyRecords,
    /// The queue was full, or the request waited past `drop_after_ms`.
    Overloaded,
    /// The model failed.
    Model,
    /// The response could not be encoded.
    Encode,
    /// Another method than `getBatchPrediction`.
    UnknownMethod,
    /// The server is shutting down.
    ShuttingDown,
    /// A connection closed for a protocol error (bad framing, a frame or
    /// message over the limit, a read timeout).
    Protocol,
}

impl Failure {
    /// Every reason (the labels a retired version's metrics are removed by).
    pub const ALL: [Failure; 8] = [
        Failure::BadRequest,
        Failure::TooManyRecords,
        Failure::Overloaded,
        Failure::Model,
        Failure::Encode,
        Failure::UnknownMethod,
        Failure::ShuttingDown,
        Failure::Protocol,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Failure::BadRequest => "bad_request",
            Failure::TooManyRecords => "too_many_records",
            Failure::Overloaded => "overloaded",
            Failure::Model => "model",
            Failure::Encode => "encode",
            Failure::UnknownMethod => "unknown_method",
            Failure::ShuttingDown => "shutting_down",
            Failure::Protocol => "protocol",
        }
    }
}

/// A model and one of its versions: the labels of every per-model metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// The model's name.
    pub model: String,
    /// Its version.
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    model: String,
    version: String,
    reason: &'static str,
}

/// A model's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabel {
    /// The model's name.
    pub model: String,
}

/// A model and how one of its loads ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoadLabels {
    /// The model's name.
    pub model: String,
    /// `loaded` or `failed`.
    pub outcome: &'static str,
}

/// A port's name as a label: `thrift`, `http` or `grpc`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PortLabel {
    /// The port.
    pub port: &'static str,
}

/// A port and why a connection was closed by the server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabel {
    /// The port.
    pub port: &'static str,
    /// `handshake` (no first call in time), `idle`, `evicted` (the
    /// longest idle, to let a new connection in), `shutdown`.
    pub reason: &'static str,
}

type Histograms = Family<ModelLabels, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(10e-6, 2.0, 20))
}

fn records() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 18))
}

fn requests() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 12))
}

/// Every metric family the server exports (cheap to clone: handles).
/// The per-model ones are labelled by model and version; each loaded
/// version takes its own [`Metrics`] from them, and its labels are
/// removed when it is retired.
#[derive(Clone, Debug)]
pub struct Families {
    requests: Family<ModelLabels, Counter>,
    responses: Family<ModelLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    dropped: Family<ModelLabels, Counter>,
    queue_depth: Family<ModelLabels, Gauge>,
    shed: Family<ModelLabels, Counter>,
    inline: Family<ModelLabels, Counter>,
    latency: Histograms,
    queue_wait: Histograms,
    scatter: Histograms,
    model: Histograms,
    encode: Histograms,
    batch_records: Histograms,
    batch_requests: Histograms,
    /// 1 for each version serving, by model and version.
    pub serving: Family<ModelLabels, Gauge>,
    /// Loads of a version (at start, or rolled in), by model and outcome.
    pub loads: Family<LoadLabels, Counter>,
    /// Calls to a model of the repository that has no version serving
    /// (or not the one asked for), by model (unknown names are not
    /// counted: a client could make any number of them).
    pub unavailable: Family<NameLabel, Counter>,
    /// Open connections, by port.
    pub connections: Family<PortLabel, Gauge>,
    /// Connections accepted since start, by port.
    pub connections_total: Family<PortLabel, Counter>,
    /// Connections refused at accept (every slot busy), by port.
    pub connections_refused: Family<PortLabel, Counter>,
    /// Connections the server closed, by port and reason.
    pub connections_closed: Family<ClosedLabel, Counter>,
    /// Connections closed for a protocol error (bad framing, a message
    /// over the limit, a read timeout) or lost, by port.
    pub protocol_errors: Family<PortLabel, Counter>,
    /// How many versions hold each label set: a version loaded again
    /// under the same number shares its series, and they are removed
    /// when the last of them retires.
    holders: Arc<Mutex<std::collections::HashMap<ModelLabels, usize>>>,
}

/// One model version's metrics (cheap to clone: handles into
/// [`Families`] under its labels).
#[derive(Clone, Debug)]
pub struct Metrics {
    labels: ModelLabels,
    /// One counter per reason, in `Failure::ALL`'s order (made with the
    /// rest, so a retired version's last refusals do not bring its
    /// series back).
    failures: Vec<Counter>,
    /// Calls read.
    pub requests: Counter,
    /// Calls answered with a response.
    pub responses: Counter,
    /// Requests dropped for waiting past `drop_after_ms`.
    pub dropped: Counter,
    /// Requests waiting for a batch.
    pub queue_depth: Gauge,
    /// Requests shed from a full queue (the client holding the most).
    pub shed: Counter,
    /// Requests run on their connection's thread (`batching.inline_records`).
    pub inline: Counter,
    /// Message read to reply queued for writing, seconds.
    pub latency: Histogram,
    /// Enqueued to its batch starting, seconds.
    pub queue_wait: Histogram,
    /// Decode and scatter of one batch, seconds.
    pub scatter: Histogram,
    /// The model on one batch, seconds.
    pub model: Histogram,
    /// Encoding one batch's replies, seconds.
    pub encode: Histogram,
    /// Records per batch.
    pub batch_records: Histogram,
    /// Requests per batch.
    pub batch_requests: Histogram,
    /// Running totals for KServe's `ModelStatistics`.
    pub statistics: Arc<Statistics>,
}

/// A count and a total time, in nanoseconds (Triton's `StatisticDuration`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many.
    pub count: u64,
    /// Their total time.
    pub ns: u64,
}

impl Tally {
    /// Counts `n` requests that each took `d`.
    fn add(&mut self, n: usize, d: Duration) {
        let n = n as u64;
        self.count = self.count.saturating_add(n);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.ns = self.ns.saturating_add(ns.saturating_mul(n));
    }
}

/// The model's running totals, in the terms of Triton's statistics
/// extension (what `perf_analyzer` reads), per request: the time from read
/// to answer (`success`), refusals (`fail`; counted, not timed), the wait
/// for a batch (`queue`), and its batch's decode and scatter
/// (`compute_input`), model (`compute_infer`) and encoding
/// (`compute_output`); records run (`inference_count`) and batches
/// (`execution_count`). A batch is added whole, under one lock, so a
/// reader never sees it half counted (`perf_analyzer` checks that the
/// three compute counts agree).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests answered with a response.
    pub success: Tally,
    /// Requests refused.
    pub fail: Tally,
    /// Waits for a batch.
    pub queue: Tally,
    /// Decode and scatter.
    pub compute_input: Tally,
    /// The model.
    pub compute_infer: Tally,
    /// Encoding the replies.
    pub compute_output: Tally,
    /// Records run through the model.
    pub inference_count: u64,
    /// Batches run.
    pub execution_count: u64,
    /// When the last batch ran, milliseconds since the Unix epoch.
    pub last_inference_ms: u64,
}

/// One batch's figures, for [`Statistics::batch`].
#[derive(Debug, Default)]
pub struct BatchFigures {
    /// Records run through the model.
    pub records: usize,
    /// Requests the model ran for (each counted in every compute tally).
    pub requests: usize,
    /// Their waits for the batch, summed.
    pub queue: Duration,
    /// Decode and scatter.
    pub compute_input: Duration,
    /// The model.
    pub compute_infer: Duration,
    /// Encoding.
    pub compute_output: Duration,
    /// Each answered request's time from read to answer.
    pub success: Vec<Duration>,
}

/// The [`Totals`], shared: written once per batch and per refusal, read
/// whole.
#[derive(Debug, Default)]
pub struct Statistics(Mutex<Totals>);

impl Statistics {
    /// The totals as they are now.
    pub fn snapshot(&self) -> Totals {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a refusal.
    pub fn fail(&self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fail
            .add(1, Duration::ZERO);
    }

    /// Counts a batch that ran.
    pub fn batch(&self, b: &BatchFigures) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = b.requests;
        t.queue.count = t.queue.count.saturating_add(n as u64);
        t.queue.ns = t
            .queue
            .ns
            .saturating_add(u64::try_from(b.queue.as_nanos()).unwrap_or(u64::MAX));
        t.compute_input.add(n, b.compute_input);
        t.compute_infer.add(n, b.compute_infer);
        t.compute_output.add(n, b.compute_output);
        for d in &b.success {
            t.success.add(1, *d);
        }
        t.inference_count = t.inference_count.saturating_add(b.records as u64);
        t.execution_count = t.execution_count.saturating_add(1);
        t.last_inference_ms = now;
    }
}

impl Families {
    /// Registers every family in `registry` under the prefix `bprwire`,
    /// and the process collector.
    pub fn register(registry: &mut Registry) -> Families {
        let f = Families {
            requests: Family::default(),
            responses: Family::default(),
            failures: Family::default(),
            dropped: Family::default(),
            queue_depth: Family::default(),
            shed: Family::default(),
            inline: Family::default(),
            latency: Family::new_with_constructor(seconds),
            queue_wait: Family::new_with_constructor(seconds),
            scatter: Family::new_with_constructor(seconds),
            model: Family::new_with_constructor(seconds),
            encode: Family::new_with_constructor(seconds),
            batch_records: Family::new_with_constructor(records),
            batch_requests: Family::new_with_constructor(requests),
            serving: Family::default(),
            loads: Family::default(),
            unavailable: Family::default(),
            connections: Family::default(),
            connections_total: Family::default(),
            connections_refused: Family::default(),
            connections_closed: Family::default(),
            protocol_errors: Family::default(),
            holders: Arc::default(),
        };
        let r = registry.sub_registry_with_prefix("bprwire");
        r.register("requests", "calls read, by model and version", f.requests.clone());
        r.register(
            "responses",
            "calls answered with a response, by model and version",
            f.responses.clone(),
        );
        r.register(
            "failures",
            "calls not answered with a response, by model, version and reason",
            f.failures.clone(),
        );
        r.register(
            "dropped",
            "requests dropped for waiting past drop_after_ms",
            f.dropped.clone(),
        );
        r.register(
            "queue_depth",
            "requests waiting for a batch",
            f.queue_depth.clone(),
        );
        r.register(
            "shed",
            "requests shed from a full queue: the newest of the client holding the most",
            f.shed.clone(),
        );
        r.register(
            "inline",
            "requests run on their connection's thread, not handed to a worker (batching.inline_records)",
            f.inline.clone(),
        );
        r.register("latency_seconds", "call read to reply ready", f.latency.clone());
        r.register(
            "queue_wait_seconds",
            "enqueued to batch start",
            f.queue_wait.clone(),
        );
        r.register(
            "scatter_seconds",
            "decode and scatter of a batch",
            f.scatter.clone(),
        );
        r.register("model_seconds", "the model on a batch", f.model.clone());
        r.register("encode_seconds", "encoding a batch's replies", f.encode.clone());
        r.register("batch_records", "records per batch", f.batch_records.clone());
        r.register("batch_requests", "requests per batch", f.batch_requests.clone());
        r.register(
            "model_version_serving",
            "1 for each version taking calls, by model and version",
            f.serving.clone(),
        );
        r.register(
            "model_loads",
            "versions loaded or failed to load (files, checks, warmup), by model and outcome",
            f.loads.clone(),
        );
        r.register(
            "model_unavailable",
            "calls to a known model with no version serving, or not the version asked for, by model",
            f.unavailable.clone(),
        );
        r.register("connections", "open connections, by port", f.connections.clone());
        r.register(
            "connections_accepted",
            "connections accepted, by port",
            f.connections_total.clone(),
        );
        r.register(
            "connections_refused",
            "connections closed at accept with every slot busy, by port",
            f.connections_refused.clone(),
        );
        r.register(
            "connections_closed",
            "connections the server closed, by port and reason",
            f.connections_closed.clone(),
        );
        r.register(
            "protocol_errors",
            "connections closed for a protocol error or lost, by port",
            f.protocol_errors.clone(),
        );
        registry.register_collector(Box::new(crate::process::Process::new()));
        f
    }

    /// The metrics of `version` of `model` (created at 0, or shared with
    /// a version of the same number still draining).
    pub fn model(&self, model: &str, version: &str) -> Metrics {
        let labels = ModelLabels {
            model: model.into(),
            version: version.into(),
        };
        *self
            .holders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(labels.clone())
            .or_default() += 1;
        let failures = Failure::ALL
            .iter()
            .map(|why| {
                self.failures
                    .get_or_create(&failure_labels(&labels, *why))
                    .clone()
            })
            .collect();
        Metrics {
            requests: self.requests.get_or_create(&labels).clone(),
            responses: self.responses.get_or_create(&labels).clone(),
            dropped: self.dropped.get_or_create(&labels).clone(),
            queue_depth: self.queue_depth.get_or_create(&labels).clone(),
            shed: self.shed.get_or_create(&labels).clone(),
            inline: self.inline.get_or_create(&labels).clone(),
            latency: self.latency.get_or_create(&labels).clone(),
            queue_wait: self.queue_wait.get_or_create(&labels).clone(),
            scatter: self.scatter.get_or_create(&labels).clone(),
            model: self.model.get_or_create(&labels).clone(),
            encode: self.encode.get_or_create(&labels).clone(),
            batch_records: self.batch_records.get_or_create(&labels).clone(),
            batch_requests: self.batch_requests.get_or_create(&labels).clone(),
            failures,
            statistics: Arc::default(),
            labels,
        }
    }

    /// Removes `metrics`' labels from every family when no other version
    /// holds them: its version is retired (its handles go on counting,
    /// unexported, while its last batches drain).
    pub fn retire(&self, metrics: &Metrics) {
        let l = &metrics.labels;
        {
            let mut holders = self.holders.lock().unwrap_or_else(|p| p.into_inner());
            match holders.get_mut(l) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    return;
                }
                _ => {
                    holders.remove(l);
                }
            }
        }
        self.requests.remove(l);
        self.responses.remove(l);
        self.dropped.remove(l);
        self.queue_depth.remove(l);
        self.shed.remove(l);
        self.inline.remove(l);
        for h in [
            &self.latency,
            &self.queue_wait,
            &self.scatter,
            &self.model,
            &self.encode,
            &self.batch_records,
            &self.batch_requests,
        ] {
            h.remove(l);
        }
        for why in Failure::ALL {
            self.failures.remove(&failure_labels(l, why));
        }
        self.serving.remove(l);
    }
}

impl Metrics {
    /// Counts a failure.
    pub fn fail(&self, why: Failure) {
        if let Some(i) = Failure::ALL.iter().position(|f| *f == why) {
            self.failures[i].inc();
        }
    }

    /// The model and version these metrics are of.
    pub fn labels(&self) -> &ModelLabels {
        &self.labels
    }
}

fn failure_labels(labels: &ModelLabels, why: Failure) -> FailureLabels {
    FailureLabels {
        model: labels.model.clone(),
        version: labels.version.clone(),
        reason: why.label(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_counted_in_every_tally_at_once_and_refusals_apart() {
        let s = Statistics::default();
        s.batch(&BatchFigures {
            records: 7,
            requests: 3,
            queue: Duration::from_micros(30),
            compute_input: Duration::from_micros(2),
            compute_infer: Duration::from_micros(5),
            compute_output: Duration::from_micros(1),
            success: vec![Duration::from_micros(40), Duration::from_micros(50)],
        });
        s.fail();
        let t = s.snapshot();
        let counts = [t.queue, t.compute_input, t.compute_infer, t.compute_output].map(|d| d.count);
        assert_eq!(counts, [3, 3, 3, 3]);
        assert_eq!((t.compute_infer.ns, t.queue.ns), (15_000, 30_000));
        assert_eq!((t.success.count, t.success.ns, t.fail.count), (2, 90_000, 1));
        assert_eq!((t.inference_count, t.execution_count), (7, 1));
        assert!(t.last_inference_ms > 0);
    }
}
