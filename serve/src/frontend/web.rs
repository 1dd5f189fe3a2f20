//! One HTTP/1.1 (the HTTP port) or HTTP/2 (the gRPC port) connection,
//! served by hyper under its [`Conn`]: each request is a call in flight
//! (the connection is not idle meanwhile) and carries its [`Caller`] (for
//! the queue's fairness, and to say when its call is read whole); writes that make no progress for
//! the write limit fail ([`Stall`]); an HTTP/1.1 request's headers must
//! arrive within the handshake limit. When [`Conn::closing`] says so, an
//! idle connection is dropped at once, and a busy one is closed
//! gracefully: it finishes what it has in flight (each call is bounded in
//! time), then closes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;

use crate::frontend::conn::{Busy, Close, Conn, Port, Writing};
use crate::frontend::stall::Stall;
use crate::frontend::tls::Stream;

/// The connection a request came on (a request extension): the client,
/// for the queue's fairness; a handler marks its call read whole with
/// [`Conn::owe`].
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<Conn>);

impl Caller {
    /// The client's id (0 when a request came with no connection: in
    /// process).
    pub fn id(caller: Option<&Caller>) -> u64 {
        caller.map_or(0, |c| c.0.id)
    }
}

/// A service whose every call is a call in flight on `conn`, from its
/// headers until its response's body has been taken whole.
#[derive(Clone, Debug)]
pub struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S, B, R> tower::Service<Request<B>> for Tracked<S>
where
    S: tower::Service<Request<B>, Response = hyper::Response<R>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = hyper::Response<Held<R>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let busy = self.conn.busy();
        req.extensions_mut().insert(Caller(self.conn.clone()));
        let call = self.inner.call(req);
        let conn = self.conn.clone();
        Box::pin(async move {
            let response = call.await?;
            let writing = conn.writing();
            Ok(response.map(|body| Held {
                body: Box::pin(body),
                guards: Some((busy, writing)),
            }))
        })
    }
}

/// A response body that keeps its call in flight (not idle, and waited
/// for by a graceful close) until it has been taken whole or dropped.
pub struct Held<B> {
    body: Pin<Box<B>>,
    guards: Option<(Busy, Writing)>,
}

impl<B: hyper::body::Body> hyper::body::Body for Held<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let polled = this.body.as_mut().poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.guards = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// How a connection is served.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Writes that make no progress for this long fail.
    pub write_stall: Duration,
    /// HTTP/1.1: a request's headers must arrive within this once they
    /// have begun, or the connection has waited this long for them
    /// (hyper's clock, which also runs on an idle keep-alive connection:
    /// the longer of the handshake and idle limits; [`Conn`] enforces
    /// each).
    pub header_timeout: Duration,
    /// HTTP/2 flow-control windows: a stream's and the connection's.
    pub windows: (u32, u32),
    /// HTTP/2: streams open at once on one connection.
    pub max_streams: u32,
}

impl Settings {
    /// The settings `[limits]` give.
    pub fn of(limits: &crate::config::Limits) -> Settings {
        Settings {
            write_stall: crate::config::seconds(limits.read_timeout_s),
            header_timeout: crate::config::seconds(limits.handshake_timeout_s.max(limits.idle_timeout_s)),
            // HTTP/2's default windows (64 KiB) make a client wait for the
            // server's window updates every 64 KiB: a 4.6 MB R1 request
            // crossed loopback in ~70 round trips. The windows let a whole
            // message in at once (up to 16 MiB per call).
            windows: (
                window(limits.max_message_bytes, 16 << 20),
                window(limits.max_message_bytes.saturating_mul(4), 64 << 20),
            ),
            // Infer calls past max_in_flight_per_connection wait their
            // turn inside; a few streams more leave room for health checks.
            max_streams: u32::try_from(limits.max_in_flight_per_connection + 16).unwrap_or(u32::MAX),
        }
    }
}

/// An HTTP/2 flow-control window of `bytes`, at least the protocol's
/// default (65,535) and at most `max`.
fn window(bytes: usize, max: usize) -> u32 {
    u32::try_from(bytes.clamp(65_535, max)).unwrap_or(u32::MAX)
}

/// Which protocol a port speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (the HTTP port).
    Http1,
    /// HTTP/2 with prior knowledge (the gRPC port).
    Http2,
}

/// What a port of `protocol` does with each connection it accepts:
/// serves it with a service from `service` (one per connection).
pub fn connections<S, B, M>(
    protocol: Protocol,
    port: Arc<Port>,
    settings: Settings,
    shutdown: CancellationToken,
    service: M,
) -> impl Fn(Stream, Arc<Conn>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static
where
    M: Fn() -> S + Send + Sync + 'static,
    S: tower::Service<Request<Incoming>, Response = hyper::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    move |stream, conn| {
        let (service, port, shutdown) = (service(), port.clone(), shutdown.clone());
        Box::pin(async move {
            let io = TokioIo::new(Stall::new(stream, settings.write_stall));
            let service = TowerToHyperService::new(Tracked {
                inner: service,
                conn: conn.clone(),
            });
            match protocol {
                Protocol::Http1 => {
                    let mut builder = hyper::server::conn::http1::Builder::new();
                    builder
                        .timer(TokioTimer::new())
                        .header_read_timeout(settings.header_timeout)
                        .keep_alive(true);
                    let connection = builder.serve_connection(io, service);
                    drive(connection, |c| c.graceful_shutdown(), &conn, &port, &shutdown).await;
                }
                Protocol::Http2 => {
                    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                    builder
                        .timer(TokioTimer::new())
                        .initial_stream_window_size(settings.windows.0)
                        .initial_connection_window_size(settings.windows.1)
                        .max_concurrent_streams(settings.max_streams);
                    let connection = builder.serve_connection(io, service);
                    drive(connection, |c| c.graceful_shutdown(), &conn, &port, &shutdown).await;
                }
            }
        })
    }
}

/// How long a connection closed gracefully may stay open once it owes no
/// answer and writes none: time for the last bytes to reach the socket (a
/// client that ignores GOAWAY, or still sends a call that will not be
/// read, is then dropped).
const LINGER: Duration = Duration::from_millis(250);

/// Runs `connection` until it ends, or until `conn` should close: then an
/// idle one is dropped at once (timeouts, eviction); on shutdown every
/// one is closed gracefully, and dropped once it owes no answer and
/// writes none (a call not read whole would only be refused: it is not
/// waited for).
async fn drive<C: Future>(
    connection: C,
    graceful: impl FnOnce(Pin<&mut C>),
    conn: &Conn,
    port: &Port,
    shutdown: &CancellationToken,
) {
    tokio::pin!(connection);
    let why = tokio::select! {
        _ = connection.as_mut() => return,
        why = conn.closing(shutdown) => why,
    };
    port.closed(why);
    if why != Close::Shutdown && conn.is_idle() {
        return;
    }
    graceful(connection.as_mut());
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = conn.settled(LINGER) => {}
    }
}
