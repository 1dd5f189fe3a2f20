//! Log lines that a client can cause over and over (a connection refused,
//! an accept that fails for want of descriptors) are written at most once
//! per interval per cause, with how many were held back: a flood of
//! clients cannot flood the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One cause's rate limit.
#[derive(Debug)]
pub struct Limited {
    every: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    last: Option<Instant>,
    held: u64,
}

impl Limited {
    /// At most one line per `every`.
    pub const fn new(every: Duration) -> Limited {
        Limited {
            every,
            state: Mutex::new(State { last: None, held: 0 }),
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were
    /// held back since the last; `None` to hold this one back.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                s.held += 1;
                None
            }
            _ => {
                s.last = Some(now);
                Some(std::mem::take(&mut s.held))
            }
        }
    }
}

/// A WARN line through `limit`: `$msg`, with `suppressed = n` fields.
#[macro_export]
macro_rules! warn_limited {
    ($limit:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $limit.allow() {
            tracing::warn!(suppressed, $($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_then_the_count_of_those_held_back() {
        let l = Limited::new(Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(l.allow_at(t), Some(0));
        for i in 1..1000 {
            assert_eq!(l.allow_at(t + Duration::from_millis(i)), None);
        }
        assert_eq!(l.allow_at(t + Duration::from_secs(10)), Some(999));
        assert_eq!(l.allow_at(t + Duration::from_secs(11)), None);
    }
}
