//! Deadlines of an IKE SA: retransmission and give-up (RFC 7296 2.4),
//! half-open timeout, rekey with jitter and hard expiry of the IKE SA and
//! its CHILD_SAs, and liveness checks.

use std::time::{Duration, Instant};

use super::api::{DownReason, Event, FailReason, IkeSaId};
use super::config::RekeySchedule;
use super::rng::{self, Rng};
use super::sa::{self, Phase, Task};
use super::Engine;

impl Engine {
    /// Recomputes the SA's next deadline.
    pub(super) fn rearm(&mut self, h: u64, now: Instant) {
        self.keepalive_arm(h, now);
        let keepalive = self.keepalive_deadline(h);
        let next = match self.ep.sas.get(&h) {
            Some(sa) => sa.next_deadline(keepalive, self.cfg.half_open_timeout),
            None => None,
        };
        self.ep.timers.set(h, next);
    }

    pub(super) fn on_timer(&mut self, h: u64, now: Instant) {
        self.keepalive_due(h, now);
        // Retransmission first: it may decide the peer is dead.
        let retx = self.cfg.retransmit;
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        // A request retransmitted `tries` times without answer: the peer is
        // gone (RFC 7296 2.4), whichever request it was.
        let given_up = sa
            .pending
            .iter()
            .any(|p| p.retransmit_at <= now && p.tries >= retx.tries);
        if given_up {
            let reason = match sa.phase() {
                Phase::Established => DownReason::PeerDead,
                // A replaced SA or one we are deleting: nothing is lost.
                Phase::Rekeyed => DownReason::Rekeyed,
                Phase::Deleting => DownReason::Terminated,
                Phase::Init | Phase::Auth => DownReason::Failed,
            };
            if matches!(sa.phase(), Phase::Init | Phase::Auth) {
                let (policy, remote) = (sa.policy.name.clone(), sa.remote);
                self.out.events.push_back(Event::Failed {
                    ike: Some(IkeSaId(h)),
                    policy: Some(policy),
                    remote,
                    reason: FailReason::Timeout,
                });
            }
            self.remove_sa(h, reason);
            return;
        }
        let mut resend = Vec::new();
        for p in sa.pending.iter_mut().filter(|p| p.retransmit_at <= now) {
            p.tries += 1;
            // Exponential back-off, capped (RFC 7296 2.4).
            let shift = p.tries.min(16);
            let wait = retx
                .initial
                .saturating_mul(1u32 << shift)
                .min(retx.max_interval);
            p.retransmit_at = now + wait;
            resend.extend(p.datagrams.iter().cloned());
        }
        let (l, r) = (sa.local, sa.remote);
        self.out.emit(l, r, &resend);
        self.install_timeouts(now, h);
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if sa.hard_at().is_some_and(|t| t <= now) {
            let reason = if sa.phase() == Phase::Rekeyed {
                DownReason::Rekeyed
            } else {
                DownReason::Expired
            };
            self.remove_sa(h, reason);
            return;
        }
        if matches!(sa.phase(), Phase::Init | Phase::Auth) {
            if sa.pending.is_empty() && sa.created + self.cfg.half_open_timeout <= now {
                self.remove_sa(h, DownReason::Failed);
            }
            return;
        }
        if sa.phase() != Phase::Established {
            return;
        }
        if sa.rekey_at.is_some_and(|t| t <= now) {
            sa.rekey_at = None;
            if !sa.tasks.contains(&Task::RekeyIke) {
                sa.tasks.push_back(Task::RekeyIke);
            }
        }
        let mut expired = Vec::new();
        for c in sa.children.iter_mut() {
            if c.hard_at <= now {
                expired.push(c.spi_in);
            } else if c.rekey_at.is_some_and(|t| t <= now) {
                c.rekey_at = None;
                if c.state == sa::ChildState::Installed
                    && !sa.tasks.contains(&Task::RekeyChild(c.spi_in))
                {
                    sa.tasks.push_back(Task::RekeyChild(c.spi_in));
                }
            }
        }
        if let Some(iv) = sa.policy.dpd_interval {
            if sa.in_flight() == 0 && sa.last_heard + iv <= now && sa.tasks.is_empty() {
                sa.tasks.push_back(Task::Dpd);
            }
        }
        let grace = self.cfg.half_open_timeout;
        for spi in expired {
            let Some(c) = self.ep.sas.get_mut(&h).and_then(|s| s.child_by_in(spi)) else {
                continue;
            };
            if c.expiring {
                // The DELETE exchange did not finish in time: drop it here.
                self.child_gone(now, h, spi, DownReason::Expired, true);
            } else {
                // Hard lifetime: the kernel drops its SAs by itself; the
                // DELETE exchange tells the peer and removes what is left.
                c.expiring = true;
                c.rekey_at = None;
                c.hard_at = now + grace;
                self.queue(now, h, Task::DeleteChild(spi));
            }
        }
    }
}

/// Jitter-reduced lifetime deadline: `base + rekey - random(0..jitter)`.
pub(crate) fn rekey_deadline(rng: &mut dyn Rng, base: Instant, l: &RekeySchedule) -> Instant {
    let jitter_ms = u64::try_from(l.jitter.as_millis()).unwrap_or(u64::MAX);
    let j = Duration::from_millis(rng::below(rng, jitter_ms));
    base + l.rekey.saturating_sub(j)
}

impl sa::IkeSa {
    /// The earliest of this SA's deadlines (`keepalive`: the NAT
    /// keepalive's, kept by the engine).
    fn next_deadline(
        &self,
        keepalive: Option<Instant>,
        half_open_timeout: Duration,
    ) -> Option<Instant> {
        let sa = self;
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        // Each request of ours has its own retransmission timer.
        consider(sa.pending.iter().map(|p| p.retransmit_at).min());
        consider(sa.hard_at());
        // Children waiting for the kernel, in any phase (a responder's
        // IKE_AUTH answer waits for its child's install).
        for c in &sa.children {
            // A redundant child whose inbound SA is in has nothing due
            // (`install_timeouts`): its kept record must not wake us.
            consider(
                c.install
                    .as_ref()
                    .filter(|i| !(i.redundant && i.waiting == [None, None]))
                    .map(|i| i.deadline),
            );
        }
        consider(keepalive);
        if sa.phase() == Phase::Established {
            consider(sa.rekey_at);
            for c in &sa.children {
                consider(c.rekey_at);
                consider(Some(c.hard_at));
            }
            if let Some(iv) = sa.policy.dpd_interval {
                // Only when idle: any request in flight checks liveness too.
                if sa.in_flight() == 0 && sa.tasks.is_empty() {
                    consider(Some(sa.last_heard + iv));
                }
            }
        } else if sa.pending.is_empty() && matches!(sa.phase(), Phase::Init | Phase::Auth) {
            // Half-open (either side) waiting for the peer: give up later.
            consider(Some(sa.created + half_open_timeout));
        }
        next
    }
}
