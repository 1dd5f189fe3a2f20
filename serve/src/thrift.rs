//! The Thrift front end: TCP, the strict binary protocol, framed or
//! unframed (buffered) transport told apart per connection by its first
//! byte, pipelined calls answered in order.
//!
//! Each connection is a task of its own: a reader (messages off the
//! socket, each checked against `max_message_bytes` before its body is
//! read, each within `read_timeout_s` of its first byte, `idle_timeout_s`
//! between them) and a writer (answers in call order, at most
//! `max_in_flight_per_connection` ahead). A slow client holds only its own
//! task.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config;
use crate::engine::{self, Answer, Engine};
use crate::metrics::Failure;
use bprwire::service::{MessageScanner, Scan};

/// Accepts connections until `shutdown`, each served on a task of
/// `tracker`; past `max_connections` a connection is closed at once.
pub async fn accept(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(engine.limits().max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: wait a little rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            engine.metrics().fail(Failure::Protocol);
            tracing::warn!("connection refused: max_connections reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        tracker.spawn(async move {
            serve_connection(stream, &engine, &shutdown).await;
            drop(slot);
        });
    }
}

/// Why a connection stops reading.
enum Stop {
    /// The client closed between messages, or the server is shutting down.
    Clean,
    /// A protocol error: the last word to send, then close.
    Protocol(Vec<u8>, String),
    /// The socket failed or the client left mid-message: nothing to say.
    Gone(String),
}

async fn serve_connection(stream: TcpStream, engine: &Engine, shutdown: &CancellationToken) {
    let metrics = engine.metrics();
    metrics.connections.inc();
    metrics.connections_total.inc();
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Answer>(engine.limits().max_in_flight_per_connection);
    let write_timeout = config::seconds(engine.limits().read_timeout_s);
    let writer = async move {
        while let Some(answer) = rx.recv().await {
            // A reply's bytes stay counted (`Reply`) until written.
            let reply = match answer {
                Answer::Ready(r) => r,
                Answer::Pending(r) => match r.await {
                    Ok(r) => r,
                    Err(_) => break, // the engine dropped the job: only at exit
                },
                Answer::Quiet(r) => {
                    let _ = r.await; // a ONEWAY call: nothing to write
                    continue;
                }
            };
            // A client that does not take its replies is let go.
            match tokio::time::timeout(write_timeout, wr.write_all(&reply.bytes)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        let _ = wr.shutdown().await;
    };
    let reader = async move {
        let mut reader = MessageReader::new(engine.limits());
        let stop = loop {
            match reader.next(&mut rd, shutdown).await {
                Ok(Some((message, framed))) => {
                    match engine.handle(message, framed, shutdown.is_cancelled()) {
                        Ok(Some(answer)) => {
                            if tx.send(answer).await.is_err() {
                                break Stop::Gone("writer closed".into());
                            }
                        }
                        Ok(None) => {}
                        Err(e) => break Stop::Protocol(engine::protocol_error(framed, &e.0), e.0),
                    }
                }
                Ok(None) => break Stop::Clean,
                Err(stop) => break stop,
            }
        };
        match stop {
            Stop::Clean => {}
            Stop::Protocol(last_word, why) => {
                metrics.fail(Failure::Protocol);
                tracing::info!(%why, "connection closed for a protocol error");
                let _ = tx.send(Answer::Ready(engine::Reply::unheld(last_word))).await;
            }
            Stop::Gone(why) => {
                metrics.fail(Failure::Protocol);
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
    metrics.connections.dec();
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
    idle: std::time::Duration,
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
            idle: config::seconds(limits.idle_timeout_s),
            read: config::seconds(limits.read_timeout_s),
        }
    }

    /// The next message (and whether it came framed); `Ok(None)` when the
    /// client closed between messages or the server is shutting down and
    /// no message has begun.
    async fn next(
        &mut self,
        rd: &mut tokio::net::tcp::OwnedReadHalf,
        shutdown: &CancellationToken,
    ) -> Result<Option<(Bytes, bool)>, Stop> {
        // Shutdown ends a connection between messages, whatever it has
        // sent of the next one.
        if shutdown.is_cancelled() {
            return Ok(None);
        }
        if self.buf.is_empty() {
            // Idle: the one wait that shutdown and the idle timeout end.
            let got = tokio::select! {
                _ = shutdown.cancelled() => return Ok(None),
                r = tokio::time::timeout(self.idle, self.fill(rd, 1)) => r,
            };
            match got {
                Err(_) => return Err(Stop::Gone("idle timeout".into())),
                Ok(Ok(0)) => return Ok(None),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(Stop::Gone(e.to_string())),
            }
        }
        let deadline = Instant::now() + self.read;
        let framed = *self.framed.get_or_insert(self.buf[0] != 0x80);
        let len = if framed {
            self.need(rd, 4, deadline).await?;
            let size = i32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes"));
            let ok = usize::try_from(size).ok().filter(|&n| n <= self.max && n > 0);
            let Some(n) = ok else {
                let why = format!("frame of {size} bytes refused (limit {} bytes)", self.max);
                return Err(Stop::Protocol(engine::protocol_error(true, &why), why));
            };
            self.need(rd, 4 + n, deadline).await?;
            let _ = self.buf.split_to(4);
            n
        } else {
            loop {
                match self.scanner.scan(&self.buf) {
                    Ok(Scan::Complete(n)) => break n,
                    Ok(Scan::NeedMore(n)) => self.need(rd, n, deadline).await?,
                    Err(e) => {
                        self.scanner.reset();
                        let why = format!("unreadable message: {e}");
                        return Err(Stop::Protocol(engine::protocol_error(false, &why), why));
                    }
                }
            }
        };
        Ok(Some((self.take(len), framed)))
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

    /// Reads until `n` bytes are buffered, by `deadline`.
    async fn need(
        &mut self,
        rd: &mut tokio::net::tcp::OwnedReadHalf,
        n: usize,
        deadline: Instant,
    ) -> Result<(), Stop> {
        while self.buf.len() < n {
            let want = n - self.buf.len();
            match tokio::time::timeout_at(deadline, self.fill(rd, want)).await {
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
    async fn fill(&mut self, rd: &mut tokio::net::tcp::OwnedReadHalf, want: usize) -> std::io::Result<usize> {
        let grow = want.min(self.buf.len().max(READ_CHUNK));
        self.buf.reserve(grow.max(16 << 10));
        self.grown |= self.buf.capacity() > BIG;
        rd.read_buf(&mut self.buf).await
    }
}
