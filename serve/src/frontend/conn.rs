//! Connections, the same on every port (Thrift, HTTP, gRPC): a cap on
//! how many are open, a time from accept to the first call
//! (`handshake_timeout_s`), a time with no call in flight
//! (`idle_timeout_s`), and a way in for a new client when idle sockets
//! hold every slot: the connection idle longest is closed to make room. A
//! connection with a call in flight is never closed for that. When every
//! slot has a call in flight, a port that serves health checks (HTTP,
//! gRPC) takes the new connection into one of its few spare slots, where
//! only health, metadata and statistics are answered (a probe gets in
//! while slow infer calls hold every slot); past those, the new connection
//! is closed at once (a rate-limited log line, a metric). On shutdown,
//! connections that owe no answer close at once.
//!
//! Each front end tells its [`Conn`] when a call begins and ends
//! ([`Conn::busy`]); [`Conn::closing`] says when it should close.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::logs::Limited;
use crate::metrics::{ClosedLabel, Families, PortLabel};
use crate::warn_limited;

/// A port's connection limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// From accept to the first call.
    pub handshake: Duration,
    /// With no call in flight.
    pub idle: Duration,
}

impl Limits {
    /// The limits of `[limits]`.
    pub fn of(l: &crate::config::Limits) -> Limits {
        Limits {
            max_connections: l.max_connections,
            handshake: crate::config::seconds(l.handshake_timeout_s),
            idle: crate::config::seconds(l.idle_timeout_s),
        }
    }
}

/// Why a connection should close now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The server is shutting down.
    Shutdown,
    /// Closed to let a new connection in (it was the idle longest).
    Evicted,
    /// No call in flight for `idle_timeout_s`.
    Idle,
    /// No first call within `handshake_timeout_s` of accept.
    Handshake,
}

impl Close {
    /// The metric's label.
    pub fn label(self) -> &'static str {
        match self {
            Close::Shutdown => "shutdown",
            Close::Evicted => "evicted",
            Close::Idle => "idle",
            Close::Handshake => "handshake",
        }
    }
}

/// One open connection's state, shared by its task and its port.
#[derive(Debug)]
pub struct Conn {
    /// Its id, unique in the process: the client a request came from (the
    /// queue's fairness is per connection).
    pub id: u64,
    epoch: Instant,
    /// When it last became idle (or was accepted), ns since `epoch`.
    idle_since: AtomicU64,
    /// Calls in flight (or being read).
    busy: AtomicUsize,
    /// Calls read whole and not yet answered.
    owed: AtomicUsize,
    /// Responses whose bodies are being written.
    writing: AtomicUsize,
    /// Calls begun so far.
    calls: AtomicU64,
    /// Told when the last call in flight ends.
    became_idle: tokio::sync::Notify,
    evict: CancellationToken,
    limits: Limits,
    /// In a spare slot: health, metadata and statistics only.
    pub spare: bool,
}

/// A call read whole on a connection and not yet answered (see
/// [`Conn::owe`]).
#[derive(Debug)]
pub struct Owed(Arc<Conn>);

impl Drop for Owed {
    fn drop(&mut self) {
        if self.0.owed.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.became_idle.notify_one();
        }
    }
}

/// A response being written on a connection (see [`Conn::writing`]).
#[derive(Debug)]
pub struct Writing(Arc<Conn>);

impl Drop for Writing {
    fn drop(&mut self) {
        if self.0.writing.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.became_idle.notify_one();
        }
    }
}

/// A call in flight on a connection (see [`Conn::busy`]).
#[derive(Debug)]
pub struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        let c = &self.0;
        // The time first: a reader that sees the count reach 0 sees it
        // (while another call is in flight, the count hides it).
        c.idle_since.store(c.now(), Ordering::Release);
        if c.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            c.became_idle.notify_one();
        }
    }
}

impl Conn {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Marks a call in flight until the guard is dropped: the connection
    /// is not idle meanwhile (not evicted, not timed out).
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.calls.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// Marks a call read whole until the guard is dropped (its answer
    /// handed over): shutdown closes a connection at once only when it
    /// owes no answer.
    pub fn owe(self: &Arc<Self>) -> Owed {
        self.owed.fetch_add(1, Ordering::AcqRel);
        Owed(self.clone())
    }

    /// Answers owed.
    pub fn owes(&self) -> usize {
        self.owed.load(Ordering::Acquire)
    }

    /// No call in flight.
    pub fn is_idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    /// How long it has been idle; `None` while busy.
    fn idle_for(&self) -> Option<Duration> {
        if !self.is_idle() {
            return None;
        }
        let since = self.idle_since.load(Ordering::Acquire);
        Some(Duration::from_nanos(self.now().saturating_sub(since)))
    }

    /// Resolves when the connection should close if it is idle:
    /// shutdown, eviction, or idle past its limit (the handshake limit
    /// before its first call). A busy connection's idle clock waits.
    pub async fn closing(&self, shutdown: &CancellationToken) -> Close {
        loop {
            let first = self.calls.load(Ordering::Acquire) == 0;
            let limit = if first {
                self.limits.handshake
            } else {
                self.limits.idle
            };
            // Idle or not read once: a call may begin or end meanwhile.
            let wait = match self.idle_for() {
                Some(idle) if idle >= limit => {
                    return if first { Close::Handshake } else { Close::Idle };
                }
                Some(idle) => limit - idle,
                None => limit,
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Close::Shutdown,
                _ = self.evict.cancelled() => return Close::Evicted,
                _ = tokio::time::sleep(wait) => {}
                _ = self.became_idle.notified() => {}
            }
        }
    }

    /// Resolves `linger` after the connection owes no answer and writes
    /// none (after a graceful close: what it owed is answered, and had
    /// that long to reach the socket). A call still being read (its
    /// message not all come) is not waited for.
    pub async fn settled(&self, linger: Duration) {
        while self.owes() > 0 || self.writing.load(Ordering::Acquire) > 0 {
            self.became_idle.notified().await;
        }
        tokio::time::sleep(linger).await;
    }

    /// Marks a response being written until the guard is dropped (the
    /// response's body has been taken whole, or dropped).
    pub fn writing(self: &Arc<Self>) -> Writing {
        self.writing.fetch_add(1, Ordering::AcqRel);
        Writing(self.clone())
    }
}

/// One listening port's connections.
#[derive(Debug)]
pub struct Port {
    name: &'static str,
    limits: Limits,
    slots: Arc<Semaphore>,
    spares: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    metrics: Families,
    refused_log: Limited,
    accept_log: Limited,
}

/// An open connection's place in its port: listed, counted and holding
/// its slot until dropped.
struct Listed {
    port: Arc<Port>,
    id: u64,
    _slot: OwnedSemaphorePermit,
}

impl Listed {
    fn new(port: Arc<Port>, conn: Arc<Conn>, slot: OwnedSemaphorePermit) -> Listed {
        let id = conn.id;
        port.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, conn);
        port.metrics.connections.get_or_create(&port.label()).inc();
        Listed {
            port,
            id,
            _slot: slot,
        }
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        let port = &self.port;
        port.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        port.metrics.connections.get_or_create(&port.label()).dec();
    }
}

/// Spare slots of the HTTP and gRPC ports, for health checks.
pub const SPARES: usize = 16;

/// Connection ids, unique in the process (0 is in-process work).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long a new connection waits for the slot of the connection evicted
/// for it: an idle connection's task lets go at once.
const EVICTION_WAIT: Duration = Duration::from_millis(100);

impl Port {
    /// A port named `name` (a metric label) with `limits`, and `spares`
    /// spare slots for health checks when every slot is busy.
    pub fn new(name: &'static str, limits: Limits, spares: usize, metrics: Families) -> Arc<Port> {
        Arc::new(Port {
            name,
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            spares: Arc::new(Semaphore::new(spares)),
            open: Mutex::new(HashMap::new()),
            metrics,
            refused_log: Limited::new(Duration::from_secs(10)),
            accept_log: Limited::new(Duration::from_secs(10)),
        })
    }

    /// Its name (`thrift`, `http`, `grpc`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn label(&self) -> PortLabel {
        PortLabel { port: self.name }
    }

    /// Counts a connection closed for a protocol error, or lost.
    pub fn protocol_error(&self) {
        self.metrics.protocol_errors.get_or_create(&self.label()).inc();
    }

    /// Counts a connection closed by the server for `why`.
    pub fn closed(&self, why: Close) {
        self.metrics
            .connections_closed
            .get_or_create(&ClosedLabel {
                port: self.name,
                reason: why.label(),
            })
            .inc();
        tracing::debug!(port = self.name, reason = why.label(), "connection closed");
    }

    /// A slot for a new connection: a free one, or the slot of the
    /// connection idle longest, evicted for it, or a spare one (`true`);
    /// `None` when every connection has a call in flight and no spare is
    /// free.
    async fn slot(&self) -> Option<(OwnedSemaphorePermit, bool)> {
        if let Ok(p) = self.slots.clone().try_acquire_owned() {
            return Some((p, false));
        }
        let victim = {
            let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            // Not a spare: its slot would not free one of these.
            open.values()
                .filter(|c| !c.spare && !c.evict.is_cancelled())
                .filter_map(|c| c.idle_for().map(|idle| (idle, c)))
                .max_by_key(|(idle, _)| *idle)
                .map(|(_, c)| c.clone())
        };
        if let Some(victim) = victim {
            victim.evict.cancel();
            let freed = tokio::time::timeout(EVICTION_WAIT, self.slots.clone().acquire_owned()).await;
            if let Ok(Ok(p)) = freed {
                return Some((p, false));
            }
        }
        self.spares.clone().try_acquire_owned().ok().map(|p| (p, true))
    }

    /// Accepts connections until `shutdown`, each served by `serve` on a
    /// task of `tracker` (with TCP_NODELAY: replies go out at once).
    pub async fn accept<F, Fut>(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
        tracker: TaskTracker,
        serve: F,
    ) where
        F: Fn(TcpStream, Arc<Conn>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => a,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: wait a little rather than spin.
                    warn_limited!(self.accept_log, port = self.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some((slot, spare)) = self.slot().await else {
                self.metrics
                    .connections_refused
                    .get_or_create(&self.label())
                    .inc();
                warn_limited!(
                    self.refused_log,
                    port = self.name,
                    max_connections = self.limits.max_connections,
                    "connection refused: every slot has a call in flight"
                );
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = Arc::new(Conn {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                epoch: Instant::now(),
                idle_since: AtomicU64::new(0),
                busy: AtomicUsize::new(0),
                owed: AtomicUsize::new(0),
                writing: AtomicUsize::new(0),
                calls: AtomicU64::new(0),
                became_idle: tokio::sync::Notify::new(),
                evict: CancellationToken::new(),
                limits: self.limits,
                spare,
            });
            self.metrics.connections_total.get_or_create(&self.label()).inc();
            // Listed until its task ends, however it ends (a panic too).
            let listed = Listed::new(self.clone(), conn.clone(), slot);
            let served = serve(stream, conn);
            tracker.spawn(async move {
                served.await;
                drop(listed);
            });
        }
    }
}
