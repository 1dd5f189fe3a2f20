//! The REST calls that run a model (KServe's `infer`, TensorFlow Serving's
//! `:predict`), bounded alike: a body no larger than the message limit, the
//! whole call (its body's reading included) within the call time, and its
//! JSON parsed on a few blocking threads shared by every such call, never
//! on the threads that serve connections — but for a small body (at most
//! [`INLINE_JSON_BYTES`]), parsed where it is: its parse costs less than
//! the handover to a blocking thread and back.

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use tokio::sync::Semaphore;

/// A call's body of at most this many bytes is parsed on the thread that
/// serves its connection (a small KServe call, JSON or binary, a small
/// `:predict`); a larger one on a blocking thread. Measured on a
/// server of the tests' model: a KServe body of 4 KiB of `0,` elements
/// (serde_json's slowest common input, one number every 2 bytes) costs
/// about 40 us more server CPU than a 67-byte one, 16 KiB about 120 us;
/// 4 KiB keeps an inline parse under a small batch's run.
pub const INLINE_JSON_BYTES: usize = 4 << 10;

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

    /// Runs `parse` of a body of `body_bytes`: at once when they are at
    /// most [`INLINE_JSON_BYTES`], else on a blocking thread when one of
    /// the permits is free.
    ///
    /// # Errors
    ///
    /// [`Unparsed`] when it could not run to its end (a panic in `parse`
    /// is caught either way, its text returned).
    pub async fn run<T: Send + 'static>(
        &self,
        body_bytes: usize,
        parse: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Unparsed> {
        if body_bytes <= INLINE_JSON_BYTES {
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse))
                .map_err(|p| Unparsed::Stopped(panic_text(&*p)));
        }
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

/// A caught panic's message, as a [`tokio::task::JoinError`] shows one.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic");
    format!("task panicked with message {text:?}")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn on_this_thread(parsers: &Parsers, json_bytes: usize) -> bool {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let caller = std::thread::current().id();
            let parsed = parsers.run(json_bytes, move || std::thread::current().id() == caller);
            parsed.await.expect("parsed")
        })
    }

    #[test]
    fn a_small_json_part_is_parsed_where_it_is_read_and_a_larger_one_on_a_blocking_thread() {
        let parsers = Parsers::new(1);
        assert!(on_this_thread(&parsers, 0));
        assert!(on_this_thread(&parsers, INLINE_JSON_BYTES));
        assert!(!on_this_thread(&parsers, INLINE_JSON_BYTES + 1));
    }

    #[test]
    fn a_parse_that_panics_is_an_error_naming_the_panic_on_either_path() {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let parsers = Parsers::new(1);
        for json_bytes in [10, INLINE_JSON_BYTES + 1] {
            let got = runtime.block_on(parsers.run(json_bytes, || -> u8 { panic!("a bug in the parser") }));
            match got {
                Err(Unparsed::Stopped(why)) => assert!(why.contains("a bug in the parser"), "{why}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
