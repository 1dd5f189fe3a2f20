//! The REST calls that run a model (KServe's `infer`, TensorFlow Serving's
//! `:predict`), bounded alike: a body no larger than the message limit, the
//! whole call (its body's reading included) within the call time, and its
//! JSON parsed on a few blocking threads shared by every such call, never
//! on the threads that serve connections.

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use tokio::sync::Semaphore;

/// The blocking threads that may parse calls' JSON at once.
#[derive(Clone, Debug)]
pub struct Parsers(Arc<Semaphore>);

/// Why a parse did not run: the server is shutting down, or the parse's
/// thread stopped (its panic's text).
#[derive(Debug)]
pub enum Unparsed {
    /// Shutting down.
    ShuttingDown,
    /// The parse stopped without an answer.
    Stopped(String),
}

impl Parsers {
    /// At most `threads` parses at once (at least one).
    pub fn new(threads: usize) -> Parsers {
        Parsers(Arc::new(Semaphore::new(threads.max(1))))
    }

    /// Runs `parse` on a blocking thread, when one of the permits is free.
    ///
    /// # Errors
    ///
    /// [`Unparsed`] when it could not run to its end.
    pub async fn run<T: Send + 'static>(
        &self,
        parse: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Unparsed> {
        // The permit goes with the parse: a call that times out meanwhile
        // does not free it for another while this parse still runs.
        let permit = self
            .0
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Unparsed::ShuttingDown)?;
        tokio::task::spawn_blocking(move || {
            let parsed = parse();
            drop(permit);
            parsed
        })
        .await
        .map_err(|e| Unparsed::Stopped(e.to_string()))
    }
}

/// `calls` bounded: bodies of at most `max_message_bytes` (413 past it),
/// each call answered 408 past `call_time` (a client trickling its body
/// holds its own call, and its connection, only that long), `parsers`
/// reachable from each handler as an `Extension`.
pub fn bound<S: Clone + Send + Sync + 'static>(
    calls: Router<S>,
    max_message_bytes: usize,
    call_time: Duration,
    parsers: Parsers,
) -> Router<S> {
    calls
        .layer(DefaultBodyLimit::max(max_message_bytes))
        .layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |_: tower::BoxError| {
                    timed_out(call_time)
                }))
                .timeout(call_time),
        )
        .layer(axum::Extension(parsers))
}

/// A call that took longer than `call_time`: 408, with the JSON error
/// both protocols use (`{"error": ...}`).
async fn timed_out(call_time: Duration) -> Response {
    let message =
        format!("the call took longer than {call_time:?} (limits.read_timeout_s + batching.drop_after_ms)");
    (
        StatusCode::REQUEST_TIMEOUT,
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}
