//! The engine's timer queue: one deadline per IKE SA, earliest first.
//!
//! Each IKE SA computes its own next deadline (retransmit, rekey, expiry,
//! DPD, half-open timeout); the queue keeps them ordered so that
//! `poll_timeout` and `handle_timeout` stay cheap with many SAs.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// Deadlines keyed by an SA handle (`u64`).
#[derive(Default)]
pub(crate) struct TimerQueue {
    order: BTreeSet<(Instant, u64)>,
    armed: HashMap<u64, Instant>,
}

impl TimerQueue {
    /// Sets (or clears, with `None`) the deadline of `handle`.
    pub(crate) fn set(&mut self, handle: u64, at: Option<Instant>) {
        if let Some(old) = self.armed.remove(&handle) {
            self.order.remove(&(old, handle));
        }
        if let Some(at) = at {
            self.order.insert((at, handle));
            self.armed.insert(handle, at);
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.order.first().map(|(t, _)| *t)
    }

    /// Removes and returns one handle whose deadline is `<= now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<u64> {
        let &(at, handle) = self.order.first()?;
        if at > now {
            return None;
        }
        self.order.remove(&(at, handle));
        self.armed.remove(&handle);
        Some(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_first_and_rearm_replaces() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut q = TimerQueue::default();
        q.set(1, Some(t0 + s * 5));
        q.set(2, Some(t0 + s * 3));
        q.set(1, Some(t0 + s * 1));
        assert_eq!(q.next(), Some(t0 + s));
        assert_eq!(q.pop_due(t0), None);
        assert_eq!(q.pop_due(t0 + s * 4), Some(1));
        assert_eq!(q.pop_due(t0 + s * 4), Some(2));
        assert_eq!(q.pop_due(t0 + s * 10), None);
        q.set(3, Some(t0));
        q.set(3, None);
        assert_eq!(q.next(), None);
    }
}
