//! One loaded version of a model: its engine and worker threads, built
//! and warmed up before it takes a call, closed when the last holder lets
//! it go.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{ConfigError, Limits, ModelSpec};
use crate::engine::{Engine, Form, Ledger, Request};
use crate::metrics::Families;
use crate::models::Model;

/// The optional warmup file of a version folder: requests run through the
/// new version before it takes traffic.
pub const WARMUP_FILE: &str = "warmup.bpr";

/// The most requests a warmup file may hold.
pub const MAX_WARMUP_REQUESTS: usize = 1024;

/// A version serving (or warming up): calls hold it (an `Arc`) from the
/// moment they pick it until their request is queued, so a version swapped
/// out still takes the calls that picked it; when the last holder drops
/// it, its engine is closed: its workers run what is queued, then stop,
/// and its metrics' labels are removed.
#[derive(Debug)]
pub struct Version {
    number: u64,
    engine: Arc<Engine>,
    families: Families,
}

impl Version {
    /// Builds version `number` of `spec`'s model: its engine (the response
    /// checked against the model's outputs) and `batching.workers` worker
    /// threads, whose handles go to `workers` (joined at shutdown).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] about the response.
    pub fn start(
        spec: ModelSpec,
        number: u64,
        model: Box<dyn Model>,
        shared: &Shared,
        workers: &mut Vec<std::thread::JoinHandle<()>>,
    ) -> Result<Version, ConfigError> {
        let metrics = shared.families.model(&spec.name, &number.to_string());
        let file = spec.file.clone();
        let engine = Engine::new(
            spec,
            shared.limits.clone(),
            shared.ledger.clone(),
            model,
            metrics.clone(),
        )
        .inspect_err(|_| shared.families.retire(&metrics))?;
        // Made now, so that any failure below closes it and retires its
        // metrics (the threads already started then stop at once).
        let version = Version {
            number,
            engine,
            families: shared.families.clone(),
        };
        for i in 0..version.engine.workers() {
            let engine = version.engine.clone();
            let handle = std::thread::Builder::new()
                .name(format!("bprwire-worker-{i}"))
                .spawn(move || engine.worker())
                .map_err(|e| ConfigError {
                    file: file.clone(),
                    key: "batching.workers".into(),
                    reason: format!("version {number}: no thread for worker {i}: {e}"),
                })?;
            workers.push(handle);
        }
        Ok(version)
    }

    /// Its number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Its engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Runs the requests of `folder`'s warmup file, if it has one, each
    /// through the engine as a call would be, waiting for each answer,
    /// before the version takes traffic. The waits happen on a thread of
    /// their own (start-up may call this from inside the runtime, where a
    /// blocking wait is not allowed). Stops as soon as `closing` says the
    /// server is shutting down.
    ///
    /// # Errors
    ///
    /// The file cannot be read or is malformed, or a request was refused
    /// or failed (naming it), or shutdown began.
    pub fn warm_up(&self, folder: &Path, closing: &AtomicBool) -> Result<usize, String> {
        let path = folder.join(WARMUP_FILE);
        if !path.exists() {
            return Ok(0);
        }
        let requests = read_warmup(&path)?;
        let run = || {
            for (i, bytes) in requests.iter().enumerate() {
                let failed = |why: String| format!("{}: request {i}: {why}", path.display());
                if closing.load(Ordering::Acquire) {
                    return Err(failed("shutting down".into()));
                }
                let request = Request {
                    bytes: bytes.clone(),
                    form: Form::Bare { native: false },
                };
                let rx = self
                    .engine
                    .submit(request, 0, false)
                    .map_err(|r| failed(r.text))?;
                let reply = rx.blocking_recv().map_err(|_| failed("dropped".into()))?;
                reply.outcome.map_err(|r| failed(r.text))?;
            }
            Ok(requests.len())
        };
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("bprwire-warmup".into())
                .spawn_scoped(s, run)
                .map_err(|e| format!("no thread for the warmup: {e}"))?
                .join()
                .unwrap_or_else(|_| Err("the warmup thread panicked".into()))
        })
    }
}

impl Drop for Version {
    fn drop(&mut self) {
        self.engine.close();
        self.families.retire(self.engine.metrics());
    }
}

/// What every version of every model shares: the server's limits, its
/// ledger of admitted work, its metric families.
#[derive(Clone, Debug)]
pub struct Shared {
    /// `[limits]`.
    pub limits: Limits,
    /// Work admitted and not answered, all models together.
    pub ledger: Arc<Ledger>,
    /// The metric families.
    pub families: Families,
}

/// A warmup file's requests: each a 4-byte big-endian length and a
/// Thrift-binary `BatchPredictionRequest` of that many bytes (the framed
/// transport's frames, without a call's envelope).
fn read_warmup(path: &Path) -> Result<Vec<Bytes>, String> {
    let bytes = Bytes::from(crate::files::read_regular(path, crate::files::WARMUP_BYTES)?);
    let mut requests = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let shown = || path.display();
        let Some(head) = bytes.get(at..at + 4) else {
            return Err(format!(
                "{}: {} stray bytes at the end",
                shown(),
                bytes.len() - at
            ));
        };
        let n = u32::from_be_bytes(head.try_into().expect("4 bytes")) as usize;
        let Some(end) = (at + 4).checked_add(n).filter(|&e| e <= bytes.len()) else {
            return Err(format!(
                "{}: request {} says {n} bytes, past the end of the file",
                shown(),
                requests.len()
            ));
        };
        if requests.len() == MAX_WARMUP_REQUESTS {
            return Err(format!("{}: more than {MAX_WARMUP_REQUESTS} requests", shown()));
        }
        requests.push(bytes.slice(at + 4..end));
        at = end;
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    fn read(bytes: &[u8]) -> Result<Vec<Bytes>, String> {
        let dir = std::env::temp_dir().join(format!("bprwire-warmup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.bpr", bytes.len()));
        std::fs::write(&path, bytes).unwrap();
        let read = read_warmup(&path);
        std::fs::remove_file(&path).unwrap();
        read
    }

    #[test]
    fn a_warmup_file_is_read_frame_by_frame() {
        let got = read(&frames(&[b"abc", b"", b"de"])).unwrap();
        assert_eq!(got, vec![Bytes::from("abc"), Bytes::new(), Bytes::from("de")]);
    }

    #[test]
    fn a_frame_past_the_end_or_stray_bytes_are_refused() {
        let mut cut = frames(&[b"abcdef"]);
        cut.truncate(7);
        assert!(read(&cut).unwrap_err().contains("past the end"));
        let mut stray = frames(&[b"ab"]);
        stray.push(0);
        assert!(read(&stray).unwrap_err().contains("stray"));
        let many = frames(&vec![&b"x"[..]; MAX_WARMUP_REQUESTS + 1]);
        assert!(read(&many).unwrap_err().contains("more than"));
    }
}
