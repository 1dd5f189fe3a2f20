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
pub mod proto;
pub mod repository;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use config::{Config, ConfigError, ModelSpec, Models};
use frontend::conn::{self, Port};
use frontend::{kserve, tls, web};
use models::Model;
use repository::Repository;

/// Everything a server is made of but its listeners: the models (each
/// version's layout, response plan, engine and workers), the metrics,
/// each front end's settings, all checked. `bprwire-serve --check` builds
/// this and stops, so a configuration it passes is one that start-up
/// takes (but for the ports themselves).
pub struct Prepared {
    repository: Arc<Repository>,
    registry: Registry,
    families: metrics::Families,
    addrs: (SocketAddr, SocketAddr, Option<SocketAddr>),
    shutdown_deadline: Duration,
    tfserving: frontend::tfserving::TfServingConfig,
    tls: frontend::tls::Tls,
}

impl Prepared {
    /// Loads the models `config` names and builds the rest.
    ///
    /// # Errors
    ///
    /// [`ServeError::Config`]: a model, its response, the repository, or
    /// a limit the process cannot honour (open files).
    pub fn new(config: Config) -> Result<Prepared, ServeError> {
        Prepared::build(config, None)
    }

    /// Builds everything for `model` (any [`Model`]), the one model of a
    /// configuration without a `[repository]`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new); a configuration with a `[repository]`.
    pub fn with_model(config: Config, model: Box<dyn Model>) -> Result<Prepared, ServeError> {
        Prepared::build(config, Some(model))
    }

    fn build(config: Config, model: Option<Box<dyn Model>>) -> Result<Prepared, ServeError> {
        check_open_files(&config)?;
        let addrs = (config.thrift, config.http, config.grpc);
        let shutdown_deadline = config::seconds(config.limits.shutdown_deadline_s);
        let mut registry = Registry::default();
        let families = metrics::Families::register(&mut registry);
        let limits = config.limits.clone();
        let tfserving = config.tfserving;
        let tls = config.tls;
        let repository = match (config.models, model) {
            (Models::Single(spec), model) => {
                let model = match model {
                    Some(m) => m,
                    None => builtin_model(&spec)?,
                };
                Repository::single(*spec, model, limits, families.clone())?
            }
            (Models::Repository(repo), None) => {
                Repository::open(repo, limits, families.clone(), &config.file)?
            }
            (Models::Repository(_), Some(_)) => {
                return Err(ServeError::Config(config::ConfigError {
                    file: config.file,
                    key: "repository".into(),
                    reason: "a model given in code serves alone: leave out [repository]".into(),
                }))
            }
        };
        Ok(Prepared {
            repository: Arc::new(repository),
            registry,
            families,
            addrs,
            shutdown_deadline,
            tfserving,
            tls,
        })
    }

    /// The models.
    pub fn repository(&self) -> &Arc<Repository> {
        &self.repository
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
            rescan: Arc::default(),
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
    rescan: Arc<Notify>,
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

/// The model `spec` names (`[model]`, by its `kind`).
///
/// # Errors
///
/// A [`ConfigError`] about `model` (its files, their shapes).
pub fn builtin_model(spec: &ModelSpec) -> Result<Box<dyn Model>, ConfigError> {
    spec.model
        .load(&spec.layout, spec.batching.workers)
        .map_err(|e| spec.error("model", e))
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
            rescan,
        } = self;
        let Prepared {
            repository,
            registry,
            families,
            shutdown_deadline,
            tfserving,
            tls,
            ..
        } = prepared;
        let limits = repository.limits().clone();
        let call_time = repository.call_bound();
        let settings = web::Settings::of(&limits);
        let ports = conn::Limits::of(&limits);
        let connections = TaskTracker::new();
        let kserve = kserve::Kserve::new(repository.clone(), shutdown.clone());
        let tfserving = frontend::tfserving::TfServing::new(kserve.clone(), tfserving);
        // One pool of JSON parsers for every REST call that runs a model.
        let parsers =
            frontend::bounded::Parsers::new(std::thread::available_parallelism().map_or(2, |n| n.get()));
        let app = frontend::http::router(Arc::new(registry), repository.clone(), shutdown.clone())
            .merge(kserve::rest::router(
                kserve.clone(),
                limits.max_message_bytes,
                call_time,
                parsers.clone(),
            ))
            .merge(frontend::tfserving::rest::router(
                tfserving.clone(),
                limits.max_message_bytes,
                call_time,
                parsers,
            ));
        let http_port = Port::new("http", ports, conn::SPARES, families.clone());
        let serve_http = web::connections(
            web::Protocol::Http1,
            http_port.clone(),
            settings,
            shutdown.clone(),
            move || app.clone().into_service::<hyper::body::Incoming>(),
        );
        let serve_http = tls::handshaking(
            tls.acceptor(tls::PortName::Http),
            http_port.clone(),
            shutdown.clone(),
            serve_http,
        );
        let http_task =
            tokio::spawn(http_port.accept(http, shutdown.clone(), connections.clone(), serve_http));
        let grpc_task = grpc.map(|listener| {
            let services =
                tonic::service::Routes::new(kserve::grpc::service(kserve.clone(), limits.max_message_bytes))
                    .add_service(frontend::tfserving::grpc::service(
                        tfserving,
                        limits.max_message_bytes,
                    ));
            let calls = kserve::grpc::Calls::new(
                services,
                &[kserve::grpc::INFER, frontend::tfserving::grpc::PREDICT],
                limits.max_connections,
                call_time,
            );
            let per_connection = limits.max_in_flight_per_connection;
            let port = Port::new("grpc", ports, conn::SPARES, families.clone());
            let serve_grpc = web::connections(
                web::Protocol::Http2,
                port.clone(),
                settings,
                shutdown.clone(),
                move || calls.for_connection(per_connection),
            );
            let serve_grpc = tls::handshaking(
                tls.acceptor(tls::PortName::Grpc),
                port.clone(),
                shutdown.clone(),
                serve_grpc,
            );
            tokio::spawn(port.accept(listener, shutdown.clone(), connections.clone(), serve_grpc))
        });
        let rescans = tokio::spawn(rescans(repository.clone(), rescan, shutdown.clone()));
        let thrift_port = Port::new("thrift", ports, 0, families);
        let serve_thrift =
            frontend::thrift::connections(thrift_port.clone(), repository.clone(), shutdown.clone());
        let serve_thrift = tls::handshaking(
            tls.acceptor(tls::PortName::Thrift),
            thrift_port.clone(),
            shutdown.clone(),
            serve_thrift,
        );
        thrift_port
            .accept(thrift, shutdown.clone(), connections.clone(), serve_thrift)
            .await;
        tracing::info!("shutting down: no new connections; answering what is in flight");
        // No more loads; new requests are refused from here; the workers
        // run what is queued, then stop.
        let _ = rescans.await;
        let closing = repository.clone();
        let _ = tokio::task::spawn_blocking(move || closing.close()).await;
        let _ = http_task.await;
        if let Some(task) = grpc_task {
            let _ = task.await;
        }
        connections.close();
        let joining = repository.clone();
        let drained = async {
            connections.wait().await;
            let _ = tokio::task::spawn_blocking(move || joining.join()).await;
        };
        match tokio::time::timeout(shutdown_deadline, drained).await {
            Ok(()) => Ok(()),
            Err(_) => match repository.owed() {
                0 => Ok(()),
                n => Err(ServeError::Deadline(shutdown_deadline, n)),
            },
        }
    }

    /// What asks the server to look at its repository now (SIGHUP).
    pub fn rescan_trigger(&self) -> Arc<Notify> {
        self.rescan.clone()
    }
}

/// Looks at the repository every `poll_s` and whenever `rescan` is
/// notified, one look at a time (on a blocking thread: loading reads files
/// and runs warmups), until shutdown.
async fn rescans(repository: Arc<Repository>, rescan: Arc<Notify>, shutdown: CancellationToken) {
    let poll = repository.poll();
    loop {
        let tick = async {
            match poll {
                Some(every) => tokio::time::sleep(every).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick => {}
            _ = rescan.notified() => tracing::info!("rescanning the repository"),
        }
        let r = repository.clone();
        let look = tokio::task::spawn_blocking(move || r.rescan());
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = look => {}
        }
    }
}
