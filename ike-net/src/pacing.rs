//! Pacing of the IKE SAs we initiate (issue 12).
//!
//! A gateway with thousands of active policies used to start them all at
//! once: one IKE_SA_INIT burst that overflowed the sockets on both sides,
//! pushed the peer into cookie mode and left the rest to retransmission
//! back-off (3,500 tunnels between two daemons on loopback: 1,209 up after
//! 370 s). The pacer keeps at most `limit` of our initiations half open
//! (`set initiate-limit`); the others wait in a queue, in configuration
//! order, and start as earlier ones finish: established, failed or gone.
//!
//! The engine sees active policies as on-demand ones, so that it initiates
//! them only when told to (or on ACQUIRE); this module decides when.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// An initiation that produced no outcome this long after it started is
/// no longer counted: a safety net only, since the engine reports every
/// failed negotiation (its half-open timeout and retransmissions end well
/// before this).
pub const STALE: Duration = Duration::from_secs(120);

pub struct Pacer {
    limit: usize,
    queue: VecDeque<String>,
    queued: HashSet<String>,
    /// Started and not finished yet, with when each started.
    in_flight: HashMap<String, Instant>,
}

impl Pacer {
    pub fn new(limit: u32) -> Self {
        Pacer {
            limit: (limit as usize).max(1),
            queue: VecDeque::new(),
            queued: HashSet::new(),
            in_flight: HashMap::new(),
        }
    }

    pub fn set_limit(&mut self, limit: u32) {
        self.limit = (limit as usize).max(1);
    }

    /// Asks for `policy` to be initiated when there is room (once: a
    /// policy already waiting or in flight is not queued again).
    pub fn enqueue(&mut self, policy: &str) {
        if self.in_flight.contains_key(policy) || self.queued.contains(policy) {
            return;
        }
        self.queued.insert(policy.to_string());
        self.queue.push_back(policy.to_string());
    }

    /// `policy` no longer waits (removed or changed by a reload).
    pub fn forget(&mut self, policy: &str) {
        if self.queued.remove(policy) {
            self.queue.retain(|p| p != policy);
        }
        self.in_flight.remove(policy);
    }

    /// An initiation of `policy` has an outcome (IKE SA up, failed, down).
    pub fn finished(&mut self, policy: &str) {
        self.in_flight.remove(policy);
    }

    /// The next policy to initiate, if there is room; the caller then
    /// tells `started` whether the engine began a negotiation for it.
    pub fn next(&mut self, now: Instant) -> Option<String> {
        if self.in_flight.len() >= self.limit {
            self.in_flight
                .retain(|_, t| now.saturating_duration_since(*t) < STALE);
            if self.in_flight.len() >= self.limit {
                return None;
            }
        }
        let p = self.queue.pop_front()?;
        self.queued.remove(&p);
        Some(p)
    }

    /// The engine began (or, when `began` is false, did not need: an SA
    /// exists already) the negotiation of `policy` handed out by `next`.
    pub fn started(&mut self, now: Instant, policy: String, began: bool) {
        if began {
            self.in_flight.insert(policy, now);
        }
    }

    /// When a stale initiation would free its slot while others wait.
    pub fn deadline(&self) -> Option<Instant> {
        if self.queue.is_empty() || self.in_flight.len() < self.limit {
            return None;
        }
        self.in_flight.values().min().map(|t| *t + STALE)
    }

    /// (waiting, in flight), for the log.
    pub fn counts(&self) -> (usize, usize) {
        (self.queue.len(), self.in_flight.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_limit_in_flight_and_the_rest_in_order() {
        let now = Instant::now();
        let mut p = Pacer::new(2);
        for n in ["a", "b", "c", "d", "a"] {
            p.enqueue(n);
        }
        let mut go = Vec::new();
        while let Some(n) = p.next(now) {
            go.push(n.clone());
            p.started(now, n, true);
        }
        assert_eq!(go, ["a", "b"]);
        assert_eq!(p.counts(), (2, 2));
        // In flight: not queued twice.
        p.enqueue("a");
        assert_eq!(p.counts(), (2, 2));
        p.finished("b");
        assert_eq!(p.next(now).as_deref(), Some("c"));
        p.started(now, "c".into(), false);
        // "c" needed no negotiation: its slot is free for "d".
        assert_eq!(p.next(now).as_deref(), Some("d"));
        assert_eq!(p.next(now), None);
    }

    #[test]
    fn a_stale_initiation_frees_its_slot_and_forget_drops_a_policy() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1);
        p.enqueue("a");
        p.enqueue("b");
        p.enqueue("c");
        let a = p.next(t0).unwrap();
        p.started(t0, a, true);
        assert_eq!(p.next(t0), None);
        assert_eq!(p.deadline(), Some(t0 + STALE));
        p.forget("b");
        assert_eq!(p.next(t0 + STALE).as_deref(), Some("c"));
        assert_eq!(p.counts(), (0, 0));
        assert_eq!(p.deadline(), None);
    }
}
