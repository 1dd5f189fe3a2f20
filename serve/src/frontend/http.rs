//! The HTTP port: `/metrics` (Prometheus text), `/healthz` (the process
//! is up) and `/ready` (every model has a version serving, but those
//! unloaded on purpose; 503 before that and once shutdown has begun).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::repository::Repository;

#[derive(Clone)]
struct Http {
    registry: Arc<Registry>,
    repository: Arc<Repository>,
    shutdown: CancellationToken,
}

/// The router over `registry`; `/ready` answers 503 while a model of
/// `repository` has no version serving and once `shutdown` is cancelled.
pub fn router(registry: Arc<Registry>, repository: Arc<Repository>, shutdown: CancellationToken) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        // Where TensorFlow Serving's monitoring config points Prometheus.
        .route("/monitoring/prometheus/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .with_state(Http {
            registry,
            repository,
            shutdown,
        })
}

async fn metrics(State(http): State<Http>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &http.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            e.to_string(),
        ),
    }
}

async fn ready(State(http): State<Http>) -> impl IntoResponse {
    if http.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else if !http.repository.ready() {
        (StatusCode::SERVICE_UNAVAILABLE, "a model has no version loaded\n")
    } else {
        (StatusCode::OK, "ready\n")
    }
}
