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
pub mod files;
pub mod frontend;
pub mod logs;
pub mod metrics;
pub mod models;
pub mod process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use config::{Config, ConfigError};
use engine::Engine;
use frontend::conn::{self, Port};
use frontend::{kserve, web};
use models::Model;

/// Everything a server is made of but its listeners: the model, the
/// layout, the response plan, the engine, the metrics, each front end's
/// settings, all checked. `bprwire-serve --check` builds this and stops,
/// so a configuration it passes is one that start-up takes (but for the
/// ports themselves).
pub struct Prepared {
    engine: Arc<Engine>,
    registry: Registry,
    metrics: metrics::Metrics,
    addrs: (SocketAddr, SocketAddr, Option<SocketAddr>),
    kserve_model: String,
    shutdown_deadline: Duration,
}

impl Prepared {
    /// Loads the model `config` names and builds the rest.
    ///
    /// # Errors
    ///
    /// [`ServeError::Config`]: the model, the response, or a limit the
    /// process cannot honour (open files).
    pub fn new(config: Config) -> Result<Prepared, ServeError> {
        let model = builtin_model(&config)?;
        Prepared::with_model(config, model)
    }

    /// Builds everything for `model` (any [`Model`]).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_model(config: Config, model: Box<dyn Model>) -> Result<Prepared, ServeError> {
        check_open_files(&config)?;
        let addrs = (config.thrift, config.http, config.grpc);
        let shutdown_deadline = config::seconds(config.limits.shutdown_deadline_s);
        let kserve_model = config.kserve.model.clone();
        let mut registry = Registry::default();
        let metrics = metrics::Metrics::register(&mut registry);
        let engine = Engine::new(config, model, metrics.clone())?;
        Ok(Prepared {
            engine,
            registry,
            metrics,
            addrs,
            kserve_model,
            shutdown_deadline,
        })
    }

    /// Binds the ports.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`].
    pub async fn bind(self) -> Result<Server, ServeError> {
        let (thrift_addr, http_addr, grpc_addr) = self.addrs;
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| ServeError::Bind(addr, e))
        };
        let thrift = bind(thrift_addr).await?;
        let http = bind(http_addr).await?;
        let grpc = match grpc_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Server {
            prepared: self,
            thrift,
            http,
            grpc,
        })
    }
}

/// Each port may hold `limits.max_connections` connections, and each is a
/// descriptor: the process's limit on open files must hold them all, with
/// room for the rest (files, the runtime's own).
fn check_open_files(config: &Config) -> Result<(), ConfigError> {
    // Thrift's, then HTTP's and gRPC's with their spares.
    let ports = 2 + usize::from(config.grpc.is_some());
    let per_port = config.limits.max_connections;
    let needed = (per_port + (per_port + conn::SPARES) * (ports - 1) + 64) as f64;
    match process::max_open_files() {
        Some(limit) if limit < needed => Err(config.error(
            "limits.max_connections",
            format!(
                "{} connections on each of {ports} ports need {needed} open files, over this process's limit of {limit} (raise it with `ulimit -n`, or lower limits.max_connections)",
                config.limits.max_connections
            ),
        )),
        _ => Ok(()),
    }
}

/// A server bound to its ports, not yet serving.
pub struct Server {
    prepared: Prepared,
    thrift: TcpListener,
    http: TcpListener,
    grpc: Option<TcpListener>,
}

/// Why the server could not start or stop cleanly.
#[derive(Debug)]
pub enum ServeError {
    /// The configuration.
    Config(ConfigError),
    /// A port could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// Shutdown's deadline passed with calls read and not yet answered.
    Deadline(Duration, usize),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::Config(e) => e.fmt(f),
            ServeError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ServeError::Deadline(d, n) => {
                write!(
                    f,
                    "shutdown deadline of {d:?} passed with {n} calls read and not answered"
                )
            }
        }
    }
}

impl std::error::Error for ServeError {}

impl From<ConfigError> for ServeError {
    fn from(e: ConfigError) -> Self {
        ServeError::Config(e)
    }
}

/// The model `config` names (`[model]`, by its `kind`).
///
/// # Errors
///
/// A [`ConfigError`] about `model` (its files, their shapes).
pub fn builtin_model(config: &Config) -> Result<Box<dyn Model>, ConfigError> {
    config
        .model
        .load(&config.layout, config.batching.workers)
        .map_err(|e| config.error("model", e))
}

impl Server {
    /// Loads the built-in model and binds its ports.
    ///
    /// # Errors
    ///
    /// [`ServeError::Config`] for the model or response, [`ServeError::Bind`].
    pub async fn bind(config: Config) -> Result<Server, ServeError> {
        Prepared::new(config)?.bind().await
    }

    /// Binds the ports for `model` (any [`Model`]).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind).
    pub async fn with_model(config: Config, model: Box<dyn Model>) -> Result<Server, ServeError> {
        Prepared::with_model(config, model)?.bind().await
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

    /// Serves until `shutdown` is cancelled; then stops accepting, closes
    /// every connection with no call in flight at once, answers every call
    /// already read (new calls get "shutting down"), and returns once all
    /// is answered.
    ///
    /// # Errors
    ///
    /// [`ServeError::Deadline`] when `limits.shutdown_deadline_s` passes
    /// with calls read and not yet answered (connections that only hold a
    /// call not read whole, or nothing, are closed and do not count).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ServeError> {
        let Server {
            prepared,
            thrift,
            http,
            grpc,
        } = self;
        let Prepared {
            engine,
            registry,
            metrics,
            kserve_model,
            shutdown_deadline,
            ..
        } = prepared;
        let limits = engine.limits().clone();
        let call_time = config::call_bound(&limits, engine.batching());
        let settings = web::Settings::of(&limits);
        let ports = conn::Limits::of(&limits);
        let connections = TaskTracker::new();
        let kserve = kserve::Kserve::new(engine.clone(), kserve_model, shutdown.clone());
        let app = frontend::http::router(Arc::new(registry), shutdown.clone()).merge(kserve::rest::router(
            kserve.clone(),
            limits.max_message_bytes,
            call_time,
            engine.workers(),
        ));
        let http_port = Port::new("http", ports, conn::SPARES, metrics.clone());
        let serve_http = web::connections(
            web::Protocol::Http1,
            http_port.clone(),
            settings,
            shutdown.clone(),
            move || app.clone().into_service::<hyper::body::Incoming>(),
        );
        let http_task =
            tokio::spawn(http_port.accept(http, shutdown.clone(), connections.clone(), serve_http));
        let grpc_task = grpc.map(|listener| {
            let calls = kserve::grpc::Calls::new(
                kserve::grpc::service(kserve, limits.max_message_bytes),
                limits.max_connections,
                call_time,
            );
            let per_connection = limits.max_in_flight_per_connection;
            let port = Port::new("grpc", ports, conn::SPARES, metrics.clone());
            let serve_grpc = web::connections(
                web::Protocol::Http2,
                port.clone(),
                settings,
                shutdown.clone(),
                move || calls.for_connection(per_connection),
            );
            tokio::spawn(port.accept(listener, shutdown.clone(), connections.clone(), serve_grpc))
        });
        let workers = start_workers(&engine);
        let thrift_port = Port::new("thrift", ports, 0, metrics);
        let serve_thrift =
            frontend::thrift::connections(thrift_port.clone(), engine.clone(), shutdown.clone());
        thrift_port
            .accept(thrift, shutdown.clone(), connections.clone(), serve_thrift)
            .await;
        tracing::info!("shutting down: no new connections; answering what is in flight");
        // New requests are refused from here; the workers run what is
        // queued, then stop.
        engine.close();
        let _ = http_task.await;
        if let Some(task) = grpc_task {
            let _ = task.await;
        }
        connections.close();
        let drained = async {
            connections.wait().await;
            let _ = tokio::task::spawn_blocking(move || {
                for w in workers {
                    let _ = w.join();
                }
            })
            .await;
        };
        match tokio::time::timeout(shutdown_deadline, drained).await {
            Ok(()) => Ok(()),
            Err(_) => match engine.owed() {
                0 => Ok(()),
                n => Err(ServeError::Deadline(shutdown_deadline, n)),
            },
        }
    }
}

/// The engine's worker threads (`batching.workers`), running until it is
/// closed and drained.
fn start_workers(engine: &Arc<Engine>) -> Vec<std::thread::JoinHandle<()>> {
    (0..engine.workers())
        .map(|i| {
            let engine = engine.clone();
            std::thread::Builder::new()
                .name(format!("bprwire-worker-{i}"))
                .spawn(move || engine.worker())
                .expect("a worker thread")
        })
        .collect()
}
