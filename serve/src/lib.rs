//! `bprwire-serve`: bprwire's serving loop as a server. Thrift
//! `PredictionService.getBatchPrediction` on TCP (framed or unframed, strict
//! binary protocol), and the KServe v2 inference protocol over gRPC and
//! REST ([`kserve`]); each request decoded in place and scattered straight
//! into its rows of a batch's input arrays; a bounded queue; worker threads
//! that batch and run the model; each reply encoded from its rows of the
//! outputs through a prepared signature; Prometheus metrics and probes on
//! an HTTP port; graceful shutdown.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = bprwire_serve::config::Config::load("serve/examples/serve.toml".as_ref())?;
//! let server = bprwire_serve::Server::bind(config).await?;
//! println!("thrift on {}", server.thrift_addr());
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! server.run(shutdown).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod http;
pub mod kserve;
pub mod metrics;
pub mod model;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod thrift;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use bprwire::features::OutputType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use config::{Config, ConfigError};
use engine::{Engine, Job};
use model::{Linear, Model};

/// A server bound to its ports, not yet serving.
pub struct Server {
    engine: Arc<Engine>,
    queue: crossbeam_channel::Receiver<Job>,
    registry: Arc<Registry>,
    thrift: TcpListener,
    http: TcpListener,
    grpc: Option<TcpListener>,
    kserve_model: String,
    shutdown_deadline: Duration,
}

/// Why the server could not start or stop cleanly.
#[derive(Debug)]
pub enum ServeError {
    /// The configuration.
    Config(ConfigError),
    /// A port could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// Shutdown's deadline passed with replies still in flight.
    Deadline(Duration),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Config(e) => e.fmt(f),
            ServeError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ServeError::Deadline(d) => write!(f, "shutdown deadline of {d:?} passed with replies in flight"),
        }
    }
}

impl std::error::Error for ServeError {}

impl From<ConfigError> for ServeError {
    fn from(e: ConfigError) -> Self {
        ServeError::Config(e)
    }
}

/// The model `config` names: the built-in linear model, or an ONNX model.
///
/// # Errors
///
/// A [`ConfigError`] about `model` (its files, their shapes).
pub fn builtin_model(config: &Config) -> Result<Box<dyn Model>, ConfigError> {
    let m = &config.model;
    if m.kind == "onnx" {
        #[cfg(feature = "onnx")]
        {
            let model = onnx::Onnx::load(m, &config.layout, config.batching.workers)
                .map_err(|e| config.error("model", e))?;
            return Ok(Box::new(model));
        }
        #[cfg(not(feature = "onnx"))]
        return Err(config.error(
            "model.kind",
            "this build has no ONNX support (cargo feature `onnx`)",
        ));
    }
    let dtype = if m.dtype == "float64" {
        OutputType::F64
    } else {
        OutputType::F32
    };
    let model = Linear::from_npy(
        &config.layout,
        &m.weights,
        &m.bias,
        m.kind == "logistic",
        &m.output,
        dtype,
    )
    .map_err(|e| config.error("model", e))?;
    Ok(Box::new(model))
}

/// An HTTP/2 flow-control window of `bytes`, at least the protocol's
/// default (65,535) and at most `max`.
fn window(bytes: usize, max: usize) -> u32 {
    u32::try_from(bytes.clamp(65_535, max)).unwrap_or(u32::MAX)
}

impl Server {
    /// Loads the built-in model and binds its ports.
    ///
    /// # Errors
    ///
    /// [`ServeError::Config`] for the model or response, [`ServeError::Bind`].
    pub async fn bind(config: Config) -> Result<Server, ServeError> {
        let model = builtin_model(&config)?;
        Server::with_model(config, model).await
    }

    /// Binds both ports for `model` (any [`Model`]).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub async fn with_model(config: Config, model: Box<dyn Model>) -> Result<Server, ServeError> {
        let (thrift_addr, http_addr, grpc_addr) = (config.thrift, config.http, config.grpc);
        let shutdown_deadline = config::seconds(config.limits.shutdown_deadline_s);
        let kserve_model = config.kserve.model.clone();
        let mut registry = Registry::default();
        let metrics = metrics::Metrics::register(&mut registry);
        let (engine, queue) = Engine::new(config, model, metrics)?;
        let thrift = TcpListener::bind(thrift_addr)
            .await
            .map_err(|e| ServeError::Bind(thrift_addr, e))?;
        let http = TcpListener::bind(http_addr)
            .await
            .map_err(|e| ServeError::Bind(http_addr, e))?;
        let grpc = match grpc_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| ServeError::Bind(addr, e))?,
            ),
            None => None,
        };
        Ok(Server {
            engine,
            queue,
            registry: Arc::new(registry),
            thrift,
            http,
            grpc,
            kserve_model,
            shutdown_deadline,
        })
    }

    /// The Thrift port's address (its real port when configured as 0).
    pub fn thrift_addr(&self) -> SocketAddr {
        self.thrift.local_addr().expect("bound")
    }

    /// The HTTP port's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().expect("bound")
    }

    /// The KServe v2 gRPC port's address, if served.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(|l| l.local_addr().expect("bound"))
    }

    /// Serves until `shutdown` is cancelled; then stops accepting, answers
    /// every call already read (new calls on open connections get
    /// "shutting down"), closes the connections as they go idle, and
    /// returns once all is answered.
    ///
    /// # Errors
    ///
    /// [`ServeError::Deadline`] when that takes longer than
    /// `limits.shutdown_deadline_s`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServeError> {
        let Server {
            engine,
            queue,
            registry,
            thrift,
            http,
            grpc,
            kserve_model,
            shutdown_deadline,
        } = self;
        let kserve = kserve::Kserve::new(engine.clone(), kserve_model, shutdown.clone());
        let limits = engine.limits();
        let http_shutdown = CancellationToken::new();
        // A KServe call's whole time, its message's reading included: a
        // client trickling a message holds only its own call (gRPC, REST).
        let call_time =
            config::seconds(limits.read_timeout_s) + config::duration_ms(engine.batching().drop_after_ms);
        let app = http::router(registry, shutdown.clone()).merge(kserve::rest::router(
            kserve.clone(),
            limits.max_message_bytes,
            limits.max_connections,
            call_time,
        ));
        let stop_http = http_shutdown.clone();
        let http_task = tokio::spawn(async move {
            // Replies go out at once (no Nagle wait behind a client's
            // delayed ACK: ~40 ms a request otherwise).
            let http = http.tap_io(|s| {
                let _ = s.set_nodelay(true);
            });
            let serve = axum::serve(http, app).with_graceful_shutdown(stop_http.cancelled_owned());
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "http server failed");
            }
        });
        let grpc_task = grpc.map(|listener| {
            let service = kserve::grpc::service(kserve, limits.max_message_bytes);
            let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
            let server = tonic::transport::Server::builder()
                .timeout(call_time)
                .concurrency_limit_per_connection(limits.max_in_flight_per_connection)
                // HTTP/2's default windows (64 KiB) make a client wait for
                // the server's window updates every 64 KiB: a 4.6 MB R1
                // request crossed loopback in ~70 round trips. The windows
                // let a whole message in at once (up to 16 MiB per call).
                .initial_stream_window_size(window(limits.max_message_bytes, 16 << 20))
                .initial_connection_window_size(window(limits.max_message_bytes.saturating_mul(4), 64 << 20))
                // Calls being read at once, over all connections: bounded as
                // the Thrift port bounds its connections (each holds at most
                // one message of max_message_bytes); the others wait.
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    limits.max_connections,
                ))
                .layer(tower::util::MapResponseLayer::new(kserve::grpc::too_large))
                .add_service(service);
            let stop = shutdown.clone();
            tokio::spawn(async move {
                if let Err(e) = server
                    .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                    .await
                {
                    tracing::error!(error = %e, "grpc server failed");
                }
            })
        });
        let workers: Vec<_> = (0..engine.workers())
            .map(|i| {
                let (engine, queue) = (engine.clone(), queue.clone());
                std::thread::Builder::new()
                    .name(format!("bprwire-worker-{i}"))
                    .spawn(move || engine.worker(&queue))
                    .expect("a worker thread")
            })
            .collect();
        drop(queue);
        let connections = TaskTracker::new();
        thrift::accept(thrift, engine.clone(), shutdown.clone(), connections.clone()).await;
        tracing::info!("shutting down: no new connections; answering what is in flight");
        connections.close();
        let drained = async {
            connections.wait().await;
            // gRPC's own graceful shutdown: calls in flight answered.
            if let Some(task) = grpc_task {
                let _ = task.await;
            }
            // No connection left to send: the workers drain the queue and stop.
            engine.close();
            let _ = tokio::task::spawn_blocking(move || {
                for w in workers {
                    let _ = w.join();
                }
            })
            .await;
        };
        let result = match tokio::time::timeout(shutdown_deadline, drained).await {
            Ok(()) => Ok(()),
            Err(_) => Err(ServeError::Deadline(shutdown_deadline)),
        };
        // The HTTP server's graceful shutdown waits for its connections;
        // one that never finishes a request must not hold the exit.
        http_shutdown.cancel();
        let abort = http_task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(1), http_task)
            .await
            .is_err()
        {
            abort.abort();
        }
        result
    }
}
