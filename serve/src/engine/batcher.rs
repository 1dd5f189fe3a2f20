//! The queue between the front ends and the workers, and the batching
//! policy: requests wait here, one line per client (a connection), and a
//! worker takes a batch of them.
//!
//! **Fair admission.** The queue holds at most `capacity` requests in
//! all. When it is full, a new request is refused only if its client
//! already holds at least as many queued requests as every other client;
//! otherwise the newest request of the client holding the most is shed
//! (refused as overloaded) to make room. So a client with one call in
//! flight is never refused while another holds more than it does: one
//! call of 1,024 KServe elements, or fifty connections of 64 calls each,
//! cannot lock out a bystander.
//!
//! **Fair batches.** A batch takes the clients' requests in turn (round
//! robin), the oldest of each client first, up to `max_records` records; a
//! request that does not fit stays first in line for the next batch (one
//! larger than a batch runs alone). Eager: a batch is what is queued when a
//! worker asks. Otherwise (Navi's rule) a batch waits up to `max_wait` from
//! its first request's arrival to fill.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the queue needs to know of a request.
pub trait Queued {
    /// Its records (a batch holds at most `max_records` of them).
    fn records(&self) -> usize;
    /// When it arrived (a non-eager batch waits from its first's).
    fn arrived(&self) -> Instant;
}

/// What became of a request offered to the queue.
#[derive(Debug)]
pub enum Push<T> {
    /// Queued.
    Queued,
    /// Queued, in place of this request of the client holding the most,
    /// which is shed (the caller refuses it).
    Shed(T),
    /// Refused: the queue is full and this client holds the most.
    Full(T),
    /// Refused: the queue is closed.
    Closed(T),
}

/// How a worker gathers a batch.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The most records in a batch (a request larger than it runs alone).
    pub max_records: usize,
    /// `true`: take what is queued, wait for nothing more.
    pub eager: bool,
    /// Not eager: how long after its first request's arrival a batch
    /// waits to fill.
    pub max_wait: Duration,
}

/// Requests waiting for a batch, in one line per client.
#[derive(Debug)]
pub struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    /// Each client's requests, oldest first.
    lines: HashMap<u64, VecDeque<T>>,
    /// The clients with requests queued, in the order they are served.
    turn: VecDeque<u64>,
    len: usize,
    closed: bool,
}

impl<T: Queued> Queue<T> {
    /// An empty queue of at most `capacity` requests.
    pub fn new(capacity: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                lines: HashMap::new(),
                turn: VecDeque::new(),
                len: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while the lock was held leaves the state consistent
        // (every change is a single push or pop): go on with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests queued now.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// No request queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Offers `item` from client `source` (see the module's rule).
    pub fn push(&self, source: u64, item: T) -> Push<T> {
        let mut s = self.lock();
        if s.closed {
            return Push::Closed(item);
        }
        let mut shed = None;
        if s.len >= self.capacity {
            let mine = s.lines.get(&source).map_or(0, VecDeque::len);
            let heaviest = s
                .lines
                .iter()
                .max_by_key(|(_, line)| line.len())
                .map(|(&id, line)| (id, line.len()));
            match heaviest {
                Some((victim, most)) if most > mine => shed = s.pop_back(victim),
                _ => return Push::Full(item),
            }
        }
        s.push_back(source, item);
        drop(s);
        self.ready.notify_one();
        match shed {
            Some(old) => Push::Shed(old),
            None => Push::Queued,
        }
    }

    /// Refuses every later push; workers take what is queued, then get
    /// `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next batch under `policy`: waits for a first request; `None`
    /// once the queue is closed and empty.
    pub fn next_batch(&self, policy: Policy) -> Option<Vec<T>> {
        let mut s = self.lock();
        let first = loop {
            if let Some(first) = s.pop_next() {
                break first;
            }
            if s.closed {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        };
        let deadline = first.arrived() + policy.max_wait;
        let mut records = first.records();
        let mut batch = vec![first];
        loop {
            while records < policy.max_records {
                match s.pop_fitting(policy.max_records - records) {
                    Some(item) => {
                        records += item.records();
                        batch.push(item);
                    }
                    None => break,
                }
            }
            let full = records >= policy.max_records || s.len > 0;
            let now = Instant::now();
            if policy.eager || full || s.closed || now >= deadline {
                if s.len > 0 {
                    // What is left is another worker's: the push that
                    // brought it may have woken this one.
                    self.ready.notify_one();
                }
                return Some(batch);
            }
            s = self
                .ready
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl<T: Queued> State<T> {
    fn push_back(&mut self, source: u64, item: T) {
        let line = self.lines.entry(source).or_default();
        if line.is_empty() {
            self.turn.push_back(source);
        }
        line.push_back(item);
        self.len += 1;
    }

    /// The newest request of `source`.
    fn pop_back(&mut self, source: u64) -> Option<T> {
        let line = self.lines.get_mut(&source)?;
        let item = line.pop_back()?;
        if line.is_empty() {
            self.lines.remove(&source);
            self.turn.retain(|&id| id != source);
        }
        self.len -= 1;
        Some(item)
    }

    /// The oldest request of the client whose turn it is.
    fn pop_next(&mut self) -> Option<T> {
        self.pop_fitting(usize::MAX)
    }

    /// As [`pop_next`](Self::pop_next), if it has at most `room` records
    /// (else it stays first in line).
    fn pop_fitting(&mut self, room: usize) -> Option<T> {
        let &source = self.turn.front()?;
        let line = self.lines.get_mut(&source).expect("a client in turn has a line");
        if line.front().expect("lines are never empty").records() > room {
            return None;
        }
        let item = line.pop_front().expect("checked");
        self.turn.pop_front();
        if line.is_empty() {
            self.lines.remove(&source);
        } else {
            self.turn.push_back(source);
        }
        self.len -= 1;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug, PartialEq)]
    struct Req {
        name: &'static str,
        records: usize,
        arrived: Instant,
    }

    impl Queued for Req {
        fn records(&self) -> usize {
            self.records
        }
        fn arrived(&self) -> Instant {
            self.arrived
        }
    }

    fn req(name: &'static str, records: usize) -> Req {
        Req {
            name,
            records,
            arrived: Instant::now(),
        }
    }

    fn names(batch: &[Req]) -> Vec<&'static str> {
        batch.iter().map(|r| r.name).collect()
    }

    const EAGER: Policy = Policy {
        max_records: 10,
        eager: true,
        max_wait: Duration::ZERO,
    };

    #[test]
    fn a_batch_takes_each_clients_requests_in_turn_up_to_max_records() {
        let q = Queue::new(100);
        for (source, name) in [(1, "a1"), (1, "a2"), (1, "a3"), (2, "b1"), (3, "c1"), (2, "b2")] {
            assert!(matches!(q.push(source, req(name, 2)), Push::Queued));
        }
        let batch = q.next_batch(EAGER).unwrap();
        assert_eq!(names(&batch), ["a1", "b1", "c1", "a2", "b2"]);
        assert_eq!(names(&q.next_batch(EAGER).unwrap()), ["a3"]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_request_that_does_not_fit_waits_first_in_line_and_a_larger_one_runs_alone() {
        let q = Queue::new(100);
        q.push(1, req("a", 6));
        q.push(2, req("big", 25));
        q.push(3, req("c", 1));
        assert_eq!(names(&q.next_batch(EAGER).unwrap()), ["a"]);
        assert_eq!(names(&q.next_batch(EAGER).unwrap()), ["big"]);
        assert_eq!(names(&q.next_batch(EAGER).unwrap()), ["c"]);
    }

    #[test]
    fn a_full_queue_sheds_the_newest_request_of_the_client_holding_the_most() {
        let q = Queue::new(4);
        for name in ["h1", "h2", "h3"] {
            q.push(1, req(name, 1));
        }
        q.push(2, req("b1", 1));
        // The bystander (1 queued) gets in; the heavy client's newest goes.
        match q.push(2, req("b2", 1)) {
            Push::Shed(r) => assert_eq!(r.name, "h3"),
            other => panic!("{other:?}"),
        }
        // Now 2 and 2: the next of either is refused, not shed.
        assert!(matches!(q.push(1, req("h4", 1)), Push::Full(_)));
        assert!(matches!(q.push(2, req("b3", 1)), Push::Full(_)));
        // A new client holds none: it gets in.
        assert!(matches!(q.push(3, req("c1", 1)), Push::Shed(_)));
        assert_eq!(q.len(), 4);
    }

    #[test]
    fn one_client_alone_is_refused_when_the_queue_is_full() {
        let q = Queue::new(2);
        q.push(7, req("x", 1));
        q.push(7, req("y", 1));
        assert!(matches!(q.push(7, req("z", 1)), Push::Full(r) if r.name == "z"));
    }

    #[test]
    fn a_closed_queue_refuses_pushes_and_hands_out_what_it_holds_then_none() {
        let q = Queue::new(4);
        q.push(1, req("a", 1));
        q.close();
        assert!(matches!(q.push(1, req("b", 1)), Push::Closed(_)));
        assert_eq!(names(&q.next_batch(EAGER).unwrap()), ["a"]);
        assert!(q.next_batch(EAGER).is_none());
    }

    #[test]
    fn a_waiting_batch_fills_until_max_wait_after_its_first_request() {
        let q = Arc::new(Queue::new(100));
        let policy = Policy {
            max_records: 3,
            eager: false,
            max_wait: Duration::from_secs(5),
        };
        q.push(1, req("a", 1));
        let feeder = {
            let q = q.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                q.push(2, req("b", 1));
                std::thread::sleep(Duration::from_millis(20));
                q.push(3, req("c", 1));
            })
        };
        // Full at 3 records, long before 5 s.
        let t = Instant::now();
        assert_eq!(names(&q.next_batch(policy).unwrap()), ["a", "b", "c"]);
        assert!(t.elapsed() < Duration::from_secs(4));
        feeder.join().unwrap();
        // Not full: returns at max_wait after the first's arrival.
        let short = Policy {
            max_wait: Duration::from_millis(30),
            ..policy
        };
        q.push(1, req("d", 1));
        let t = Instant::now();
        assert_eq!(names(&q.next_batch(short).unwrap()), ["d"]);
        assert!(t.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn an_idle_worker_sleeps_until_a_request_or_close() {
        let q: Arc<Queue<Req>> = Arc::new(Queue::new(4));
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || q.next_batch(EAGER).map(|b| names(&b)))
        };
        std::thread::sleep(Duration::from_millis(20));
        q.push(1, req("a", 1));
        assert_eq!(worker.join().unwrap(), Some(vec!["a"]));
        let worker = {
            let q = q.clone();
            std::thread::spawn(move || q.next_batch(EAGER).is_none())
        };
        std::thread::sleep(Duration::from_millis(20));
        q.close();
        assert!(worker.join().unwrap());
    }
}
