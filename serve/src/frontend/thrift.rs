//! The Thrift front end: TCP, the strict binary protocol, framed or
//! unframed (buffered) transport told apart per connection by its first
//! byte, pipelined calls answered in order.
//!
//! Each connection is a task of its own: a reader (messages off the
//! socket, each checked against `max_message_bytes` before its body is
//! read, each within `read_timeout_s` of its first byte; between them the
//! connection's limits of [`crate::frontend::conn`]) and a writer (answers in call
//! order, at most `max_in_flight_per_connection` ahead; a reply's writes
//! fail after `read_timeout_s` without progress). A slow client holds only
//! its own task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config;
use crate::engine::{Form, Reply, Request};
use crate::frontend::conn::{Busy, Conn, Owed, Port};
use crate::frontend::stall::Stall;
use crate::frontend::tls::Stream;
use crate::logs::Limited;
use crate::metrics::Failure;
use crate::repository::Repository;
use bprwire::service::{self, ApplicationErrorKind, Envelope, MessageScanner, MessageType, Scan};
use tokio::sync::oneshot;

/// What the Thrift port does with each connection it accepts.
pub fn connections(
    port: Arc<Port>,
    repository: Arc<Repository>,
    shutdown: CancellationToken,
) -> impl Fn(Stream, Arc<Conn>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static {
    move |stream, conn| {
        Box::pin(serve_connection(
            stream,
            conn,
            port.clone(),
            repository.clone(),
            shutdown.clone(),
        ))
    }
}

/// Serves one connection of the Thrift port (see [`crate::frontend::conn`] for
/// its limits). Every part of it stops when the connection closes.
pub async fn serve_connection(
    stream: Stream,
    conn: Arc<Conn>,
    port: Arc<Port>,
    repository: Arc<Repository>,
    shutdown: CancellationToken,
) {
    // TCP splits without a lock; TLS holds one session for both halves.
    match stream {
        Stream::Plain(tcp) => {
            let (rd, wr) = tcp.into_split();
            serve_halves(rd, wr, conn, port, repository, shutdown).await;
        }
        Stream::Tls(tls) => {
            let (rd, wr) = tokio::io::split(*tls);
            serve_halves(rd, wr, conn, port, repository, shutdown).await;
        }
    }
}

/// Serves one connection from its read and write halves.
async fn serve_halves(
    mut rd: impl AsyncRead + Unpin + Send,
    wr: impl AsyncWrite + Unpin + Send,
    conn: Arc<Conn>,
    port: Arc<Port>,
    repository: Arc<Repository>,
    shutdown: CancellationToken,
) {
    let repository = &*repository;
    let limits = repository.limits();
    // A client that stops taking its replies is let go after
    // read_timeout_s without progress; one that reads slowly is not.
    let mut wr = Stall::new(wr, config::seconds(limits.read_timeout_s));
    let (tx, mut rx) = mpsc::channel::<(Answer, Busy, Owed)>(limits.max_in_flight_per_connection);
    let writer = async move {
        while let Some((answer, busy, owed)) = rx.recv().await {
            // A reply's bytes stay counted (`Reply`) until written.
            let (bytes, reply) = match answer {
                Answer::Ready(bytes) => (bytes, None),
                Answer::Pending(env, method, r) => match r.await {
                    Ok(mut reply) => {
                        let bytes = match &mut reply.outcome {
                            Ok(response) => std::mem::take(&mut response.bytes),
                            Err(refusal) => exception(method, env, &refusal.text),
                        };
                        (bytes, Some(reply))
                    }
                    Err(_) => break, // the engine dropped the job: only at exit
                },
                Answer::Quiet(r) => {
                    let _ = r.await; // a ONEWAY call: nothing to write
                    continue;
                }
            };
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
            drop((reply, busy, owed));
        }
        let _ = wr.shutdown().await;
    };
    let (conn, port, shutdown) = (&conn, &*port, &shutdown);
    // `move`: the reader owns the sender, so its end lets the writer end.
    let reader = async move {
        let mut reader = MessageReader::new(limits);
        let stop = loop {
            match reader.next(&mut rd, conn, port, shutdown).await {
                Ok(Some((message, framed, busy))) => {
                    match call(repository, message, framed, shutdown.is_cancelled(), conn.id) {
                        Ok(Some(answer)) => {
                            if tx.send((answer, busy, conn.owe())).await.is_err() {
                                break Stop::Gone("writer closed".into());
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let last_word = protocol_error(framed, &e.0);
                            break Stop::Protocol(last_word, e.0, busy);
                        }
                    }
                }
                Ok(None) => break Stop::Clean,
                Err(stop) => break stop,
            }
        };
        match stop {
            Stop::Clean => {}
            Stop::Protocol(last_word, why, busy) => {
                port.protocol_error();
                // Any client can cause this line at will: once per 10 s.
                if let Some(suppressed) = PROTOCOL_LOG.allow() {
                    tracing::info!(suppressed, %why, "connection closed for a protocol error");
                }
                let owed = conn.owe();
                let _ = tx.send((Answer::Ready(last_word), busy, owed)).await;
            }
            Stop::Gone(why) => {
                port.protocol_error();
                tracing::debug!(%why, "connection lost");
            }
        }
    };
    // The reader's end lets the writer finish the answers owed; the
    // writer's end (a client not taking its replies) ends the reader too.
    tokio::pin!(reader, writer);
    tokio::select! {
        _ = &mut reader => (&mut writer).await,
        _ = &mut writer => {}
    }
}

/// What a connection writes back for one call, in call order.
#[derive(Debug)]
enum Answer {
    /// The bytes are known already (a refusal found before queueing).
    Ready(Vec<u8>),
    /// The reply comes when the call's batch has run; a refusal is
    /// written as a `PredictionServiceException` under the envelope, for
    /// the method called.
    Pending(Envelope, &'static str, oneshot::Receiver<Reply>),
    /// A ONEWAY call's batch: nothing is written, but the connection
    /// waits for it as for a reply (it holds a place among the calls in
    /// flight, as a call does).
    Quiet(oneshot::Receiver<Reply>),
}

/// A call the server could not read at all: the connection is closed.
#[derive(Debug)]
struct ProtocolError(String);

/// Takes one call message from client `source` (a connection's id):
/// `Ok(None)` for a oneway call (no reply), an answer otherwise: a
/// `PredictionServiceException` for a request refused (not a request, too
/// many records, overloaded, shutting down), a `TApplicationException` for
/// another method, or the job's pending reply.
///
/// # Errors
///
/// [`ProtocolError`] for bytes whose message header cannot be read (the
/// connection cannot be trusted to be in step).
fn call(
    repository: &Repository,
    message: Bytes,
    framed: bool,
    closing: bool,
    source: u64,
) -> Result<Option<Answer>, ProtocolError> {
    let (env, oneway, method, single) = {
        let call = service::decode_call(&message).map_err(|e| ProtocolError(format!("not a call: {e}")))?;
        let single = match (call.is_batch_prediction(), call.is_prediction()) {
            (true, _) => None,
            // getPrediction: its one record as a request of one record.
            (false, true) => Some(call.prediction_request()),
            (false, false) => {
                let env = call.envelope(framed);
                let text = format!(
                    "unknown method {:?}: this server answers getBatchPrediction and getPrediction",
                    call.method
                );
                counted_unknown(repository);
                let answer = (call.message_type != MessageType::Oneway)
                    .then(|| Answer::Ready(application_exception(call.method, env, &text)));
                return Ok(answer);
            }
        };
        (
            call.envelope(framed),
            call.message_type == MessageType::Oneway,
            if single.is_some() {
                service::PREDICTION_METHOD
            } else {
                service::METHOD
            },
            single,
        )
    };
    let ready = |bytes: Vec<u8>| (!oneway).then_some(Answer::Ready(bytes));
    // The version this call runs on, held until its request is queued.
    let version = match repository.pick(repository.thrift_model(), None) {
        Ok(v) => v,
        Err(missing) => return Ok(ready(exception(method, env, missing.text()))),
    };
    let engine = version.engine();
    let request = match single {
        None => Request {
            bytes: message,
            form: Form::Call(env),
        },
        Some(Ok(one)) => Request {
            bytes: one.into(),
            form: Form::Single(env),
        },
        Some(Err(e)) => {
            let refusal = engine.refusal(Failure::BadRequest, format!("not a getPrediction request: {e}"));
            return Ok(ready(exception(method, env, &refusal.text)));
        }
    };
    Ok(match engine.call(request, source, closing) {
        Ok(rx) if oneway => Some(Answer::Quiet(rx)),
        Ok(rx) => Some(Answer::Pending(env, method, rx)),
        Err(refusal) => ready(exception(method, env, &refusal.text)),
    })
}

/// Counts a call of a method the service does not have, on the Thrift
/// model's serving version (if any).
fn counted_unknown(repository: &Repository) {
    if let Ok(v) = repository.pick(repository.thrift_model(), None) {
        v.engine().metrics().fail(Failure::UnknownMethod);
    }
}

/// A `PredictionServiceException` reply to a call of `method`.
fn exception(method: &str, env: Envelope, description: &str) -> Vec<u8> {
    service::service_exception_reply_to(method, env, Some(description))
        .or_else(|_| service::service_exception_reply_to(method, env, None))
        .expect("a reply without description always fits")
}

/// A `TApplicationException` reply.
fn application_exception(method: &str, env: Envelope, text: &str) -> Vec<u8> {
    // A method name is at most MAX_METHOD_NAME bytes: it always fits.
    service::application_exception_to(method, env, text, ApplicationErrorKind::UnknownMethod)
        .expect("a short message always fits")
}

/// A protocol error's last word before the connection closes: a
/// `TApplicationException` of type PROTOCOL_ERROR (sequence id 0: the
/// call's own was not read).
fn protocol_error(framed: bool, text: &str) -> Vec<u8> {
    let env = Envelope { seqid: 0, framed };
    service::application_exception(env, text, ApplicationErrorKind::ProtocolError)
        .expect("a short message always fits")
}

/// The rate of "closed for a protocol error" lines.
static PROTOCOL_LOG: Limited = Limited::new(std::time::Duration::from_secs(10));

/// Why a connection stops reading.
enum Stop {
    /// The client closed between messages, or the connection is to close
    /// (shutdown, idle, evicted) with no call read.
    Clean,
    /// A protocol error: the last word to send, then close.
    Protocol(Vec<u8>, String, Busy),
    /// The socket failed or the client left mid-message: nothing to say.
    Gone(String),
}

/// Reads whole messages off one connection.
struct MessageReader {
    buf: BytesMut,
    /// The buffer has grown past `BIG` since it was last made.
    grown: bool,
    /// `None` until the first byte tells.
    framed: Option<bool>,
    scanner: MessageScanner,
    max: usize,
    read: std::time::Duration,
}

/// Bytes asked of the socket at a time, at most.
const READ_CHUNK: usize = 256 << 10;

/// A read buffer past this size is "grown" (see `MessageReader::take`).
const BIG: usize = 1 << 20;

impl MessageReader {
    fn new(limits: &crate::config::Limits) -> MessageReader {
        MessageReader {
            buf: BytesMut::with_capacity(16 << 10),
            grown: false,
            framed: None,
            scanner: MessageScanner::new(limits.max_message_bytes),
            max: limits.max_message_bytes,
            read: config::seconds(limits.read_timeout_s),
        }
    }

    /// The next message (whether it came framed, and the call in flight
    /// it now is); `Ok(None)` when the client closed between messages, or
    /// the connection is to close before a message was read whole
    /// (shutdown: whatever part of one it has sent; idle or evicted).
    async fn next(
        &mut self,
        rd: &mut (impl AsyncRead + Unpin),
        conn: &Arc<Conn>,
        port: &Port,
        shutdown: &CancellationToken,
    ) -> Result<Option<(Bytes, bool, Busy)>, Stop> {
        if shutdown.is_cancelled() {
            return Ok(None);
        }
        if self.buf.is_empty() {
            // Between calls: the wait that shutdown, the handshake and idle
            // timeouts and eviction end.
            let got = tokio::select! {
                why = conn.closing(shutdown) => {
                    port.closed(why);
                    return Ok(None);
                }
                r = self.fill(rd, 1) => r,
            };
            match got {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(Stop::Gone(e.to_string())),
            }
        }
        let busy = conn.busy();
        let deadline = Instant::now() + self.read;
        let framed = *self.framed.get_or_insert(self.buf[0] != 0x80);
        let len = if framed {
            self.need(rd, 4, deadline, shutdown).await?;
            let size = i32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes"));
            let ok = usize::try_from(size).ok().filter(|&n| n <= self.max && n > 0);
            let Some(n) = ok else {
                let why = format!("frame of {size} bytes refused (limit {} bytes)", self.max);
                return Err(Stop::Protocol(protocol_error(true, &why), why, busy));
            };
            self.need(rd, 4 + n, deadline, shutdown).await?;
            let _ = self.buf.split_to(4);
            n
        } else {
            loop {
                match self.scanner.scan(&self.buf) {
                    Ok(Scan::Complete(n)) => break n,
                    Ok(Scan::NeedMore(n)) => self.need(rd, n, deadline, shutdown).await?,
                    Err(e) => {
                        self.scanner.reset();
                        let why = format!("unreadable message: {e}");
                        return Err(Stop::Protocol(protocol_error(false, &why), why, busy));
                    }
                }
            }
        };
        Ok(Some((self.take(len), framed, busy)))
    }

    /// The first `len` bytes, as the message. While the buffer is small
    /// the message is split off it (no copy). Once it has grown past
    /// `BIG` (a large message came), a message under `BIG` is copied out,
    /// so that it cannot hold the large allocation alive while it waits;
    /// and once the buffer is empty it starts small again.
    fn take(&mut self, len: usize) -> Bytes {
        let msg = if self.grown && len < BIG {
            let m = Bytes::copy_from_slice(&self.buf[..len]);
            let _ = self.buf.split_to(len);
            m
        } else {
            self.buf.split_to(len).freeze()
        };
        if self.buf.is_empty() && self.grown {
            self.buf = BytesMut::with_capacity(16 << 10);
            self.grown = false;
        }
        msg
    }

    /// Reads until `n` bytes are buffered, by `deadline`; shutdown ends
    /// the wait (a call not read whole would only be answered "shutting
    /// down": the connection closes at once instead).
    async fn need(
        &mut self,
        rd: &mut (impl AsyncRead + Unpin),
        n: usize,
        deadline: Instant,
        shutdown: &CancellationToken,
    ) -> Result<(), Stop> {
        while self.buf.len() < n {
            let want = n - self.buf.len();
            let filled = tokio::select! {
                _ = shutdown.cancelled() => return Err(Stop::Clean),
                r = tokio::time::timeout_at(deadline, self.fill(rd, want)) => r,
            };
            match filled {
                Err(_) => {
                    return Err(Stop::Gone(
                        "read timeout: a message took too long to arrive".into(),
                    ))
                }
                Ok(Ok(0)) => return Err(Stop::Gone("client closed mid-message".into())),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(Stop::Gone(e.to_string())),
            }
        }
        Ok(())
    }

    /// One read of up to `want` (or more, if the buffer has room) bytes.
    /// The buffer grows to what is wanted at most, and by at most its own
    /// size at a time: a large message costs amortized O(1) copies per
    /// byte, and a client that declares a large frame and sends nothing
    /// makes the server hold no more than it sent.
    async fn fill(&mut self, rd: &mut (impl AsyncRead + Unpin), want: usize) -> std::io::Result<usize> {
        let grow = want.min(self.buf.len().max(READ_CHUNK));
        self.buf.reserve(grow.max(16 << 10));
        self.grown |= self.buf.capacity() > BIG;
        rd.read_buf(&mut self.buf).await
    }
}
