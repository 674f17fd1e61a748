//! A small timer list for a single-threaded event loop: arm a deadline with a
//! token, ask how long `poll` may sleep, collect what has expired.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Deadlines with a caller-chosen token `T`.
#[derive(Debug)]
pub struct Timers<T: Ord> {
    heap: BinaryHeap<Reverse<(Instant, T)>>,
}

impl<T: Ord> Default for Timers<T> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
        }
    }
}

impl<T: Ord> Timers<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `token` to fire at `at`.
    pub fn arm(&mut self, at: Instant, token: T) {
        self.heap.push(Reverse((at, token)));
    }

    /// The `poll` timeout: time to the earliest deadline (zero if past),
    /// `None` (sleep until an event) when nothing is armed.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now))
    }

    /// Removes and returns every token whose deadline is at or before `now`,
    /// earliest first.
    pub fn expired(&mut self, now: Instant) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _))) = self.heap.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, t))) = self.heap.pop() {
                out.push(t);
            }
        }
        out
    }

    /// Drops every armed timer with this token.
    pub fn cancel(&mut self, token: &T) {
        self.heap.retain(|Reverse((_, t))| t != token);
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_and_reports_timeout() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        assert_eq!(t.timeout(t0), None);
        t.arm(t0 + Duration::from_secs(3), 'c');
        t.arm(t0 + Duration::from_secs(1), 'a');
        t.arm(t0 + Duration::from_secs(2), 'b');
        assert_eq!(t.timeout(t0), Some(Duration::from_secs(1)));
        assert_eq!(t.expired(t0), Vec::<char>::new());
        assert_eq!(t.expired(t0 + Duration::from_secs(2)), vec!['a', 'b']);
        assert_eq!(t.timeout(t0 + Duration::from_secs(5)), Some(Duration::ZERO));
        t.cancel(&'c');
        assert!(t.is_empty());
    }
}
