//! The batches that run at once, `batching.workers` at most, whoever runs
//! them: a worker thread (which waits for a slot, as it holds a batch
//! taken off the queue) or a front end running a small request inline
//! (which only takes a free slot, never waits: it queues instead). A
//! model's resources (ONNX's sessions, one per worker) are sized by the
//! same count, so a run never waits for one.

use std::sync::{Condvar, Mutex, MutexGuard};

/// Slots for running batches.
#[derive(Debug)]
pub struct Slots {
    running: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

/// A slot held: given back when dropped.
#[derive(Debug)]
pub struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.lock() -= 1;
        self.0.freed.notify_one();
    }
}

impl Slots {
    /// `max` slots (at least one).
    pub fn new(max: usize) -> Slots {
        Slots {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free slot, or `None` at once when all are taken.
    pub fn try_take(&self) -> Option<Slot<'_>> {
        let mut running = self.lock();
        if *running < self.max {
            *running += 1;
            Some(Slot(self))
        } else {
            None
        }
    }

    /// A slot, waiting for one to be freed (worker threads only).
    pub fn take(&self) -> Slot<'_> {
        let mut running = self.lock();
        while *running >= self.max {
            running = self.freed.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        Slot(self)
    }

    /// The batches running now.
    pub fn running(&self) -> usize {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn no_more_than_max_are_taken_and_a_freed_slot_can_be_taken_again() {
        let slots = Slots::new(2);
        let a = slots.try_take().expect("one");
        let _b = slots.try_take().expect("two");
        assert!(slots.try_take().is_none());
        assert_eq!(slots.running(), 2);
        drop(a);
        assert!(slots.try_take().is_some());
    }

    #[test]
    fn a_waiting_taker_gets_the_slot_freed() {
        let slots = Arc::new(Slots::new(1));
        let held = slots.try_take().expect("free");
        let waiter = {
            let slots = slots.clone();
            std::thread::spawn(move || {
                let _slot = slots.take();
                slots.running()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished(), "took a slot none had freed");
        drop(held);
        assert_eq!(waiter.join().expect("no panic"), 1);
        assert_eq!(slots.running(), 0);
    }
}
