//! Who may open a half-open IKE SA, and what is dropped (RFC 7296 2.6).
//!
//! A responder SA costs memory and a key exchange from the first message
//! on, before the peer has proven anything but that it sees our answers
//! (the cookie). The table of half-open SAs therefore has three limits:
//!
//! - per source address and per source prefix (/24 for IPv4, /64 for
//!   IPv6: what one customer or host usually holds), so that an initiator
//!   that answers cookies is admitted only within its own budget, once the
//!   table is contested (half of the global cap: below it nobody is
//!   crowded out, and a gateway starting many tunnels at once must not be
//!   throttled);
//! - a global cap (`Config::max_half_open`);
//! - when that cap is reached, a newcomer from a prefix holding fewer
//!   half-open SAs than the heaviest prefix takes the place of that
//!   prefix's oldest half-open SA.
//!
//! Why eviction by heaviest prefix rather than plain refusal or random
//! eviction: refusal when full lets whoever fills the table first keep it
//! (the old behaviour: one address held it for the 30 s timeout and every
//! other initiator was dropped). Random eviction makes a flooding prefix
//! evict legitimate SAs in proportion to its rate. Taking only from the
//! heaviest prefix means an attacker's flood displaces only its own SAs
//! once it is the heaviest, and a prefix with few SAs is always admitted;
//! the oldest of that prefix goes because a legitimate initiator answers
//! within a round trip, so the oldest is the least likely to complete.
//!
//! Every drop is counted by reason and logged, at most once a second per
//! reason with the number left unlogged, never once per packet.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Why an input was not processed (counted for `show stats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Does not decode, or an authentic request whose contents do not parse.
    Malformed,
    /// The ICV did not verify (or SK framing broken).
    Unauthentic,
    /// IKE major version above 2 (answered with INVALID_MAJOR_VERSION).
    Version,
    /// IKE_SA_INIT without a valid cookie while cookies are demanded
    /// (answered with a cookie).
    NoCookie,
    /// The source address or prefix has its share of half-open SAs.
    SourceLimit,
    /// The half-open table is full and the source is among the heaviest.
    TableFull,
    /// A half-open SA was evicted to admit a lighter source.
    Evicted,
    /// No IKE SA with these SPIs, or a message ID outside the window.
    Unexpected,
    /// IKE_SA_INIT with no acceptable proposal (answered NO_PROPOSAL_CHOSEN).
    NoProposal,
}

impl DropReason {
    /// Every reason, in the order `show stats` prints them.
    pub const ALL: [DropReason; 9] = [
        DropReason::Malformed,
        DropReason::Unauthentic,
        DropReason::Version,
        DropReason::NoCookie,
        DropReason::SourceLimit,
        DropReason::TableFull,
        DropReason::Evicted,
        DropReason::Unexpected,
        DropReason::NoProposal,
    ];

    /// The name in `show stats` and in log lines.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Unauthentic => "unauthentic",
            DropReason::Version => "bad-version",
            DropReason::NoCookie => "cookie-demanded",
            DropReason::SourceLimit => "half-open-source-limit",
            DropReason::TableFull => "half-open-table-full",
            DropReason::Evicted => "half-open-evicted",
            DropReason::Unexpected => "unexpected",
            DropReason::NoProposal => "no-proposal",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Counters for `show stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Responder IKE SAs waiting for IKE_AUTH.
    pub half_open: usize,
    /// Whether IKE_SA_INIT requests must carry a cookie now.
    pub cookie_mode: bool,
    /// Inputs dropped (or answered without state), by reason, in
    /// [`DropReason::ALL`] order.
    pub drops: Vec<(DropReason, u64)>,
}

/// One log line per reason per second at most.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Unsolicited error answers outside any SA (INVALID_MAJOR_VERSION,
/// UNSUPPORTED_CRITICAL_PAYLOAD to IKE_SA_INIT) per second at most: each
/// goes to an unverified source address, so a spoofed flood must not turn
/// the daemon into a reflector.
const STATELESS_ANSWERS_PER_SEC: u32 = 50;

#[derive(Default)]
struct LogGate {
    last: Option<Instant>,
    suppressed: u64,
}

/// The prefix a source address is accounted under.
fn prefix(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            IpAddr::from([o[0], o[1], o[2], 0])
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
    }
}

/// Per-source accounting of half-open SAs, drop counters and their logs.
#[derive(Default)]
pub(super) struct Admission {
    /// The source each half-open SA was admitted for (its address may
    /// change later, behind a NAT).
    owner: HashMap<u64, IpAddr>,
    by_addr: HashMap<IpAddr, usize>,
    /// Handles of each prefix's half-open SAs, oldest first.
    by_prefix: HashMap<IpAddr, VecDeque<u64>>,
    cookie_mode: bool,
    /// Stateless error answers sent in the current second.
    answers: (Option<Instant>, u32),
    drops: [u64; DropReason::ALL.len()],
    gates: [LogGate; DropReason::ALL.len()],
}

impl Admission {
    /// Whether `ip` already holds its share (per address or per prefix).
    pub(super) fn source_full(&self, ip: IpAddr, per_addr: usize, per_prefix: usize) -> bool {
        self.by_addr.get(&ip).copied().unwrap_or(0) >= per_addr
            || self.by_prefix.get(&prefix(ip)).map_or(0, |q| q.len()) >= per_prefix
    }

    /// With the table full: the half-open SA to give up for a newcomer
    /// from `ip`, the oldest of the heaviest prefix, if that prefix holds
    /// at least two more than the newcomer's (so two prefixes do not take
    /// turns evicting each other).
    pub(super) fn victim(&self, ip: IpAddr) -> Option<u64> {
        let own = self.by_prefix.get(&prefix(ip)).map_or(0, |q| q.len());
        let heaviest = self.by_prefix.values().max_by_key(|q| q.len())?;
        if heaviest.len() < own + 2 {
            return None;
        }
        heaviest.front().copied()
    }

    pub(super) fn admitted(&mut self, h: u64, ip: IpAddr) {
        self.owner.insert(h, ip);
        *self.by_addr.entry(ip).or_insert(0) += 1;
        self.by_prefix.entry(prefix(ip)).or_default().push_back(h);
    }

    /// IKE SA `h` is no longer half open (established, failed, timed
    /// out, evicted); nothing happens if it was not.
    pub(super) fn released(&mut self, h: u64) {
        let Some(ip) = self.owner.remove(&h) else {
            return;
        };
        if let Some(n) = self.by_addr.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_addr.remove(&ip);
            }
        }
        let p = prefix(ip);
        if let Some(q) = self.by_prefix.get_mut(&p) {
            q.retain(|x| *x != h);
            if q.is_empty() {
                self.by_prefix.remove(&p);
            }
        }
    }

    /// Cookie mode follows the half-open count: on at the threshold, off
    /// again only below half of it, so that a count hovering around the
    /// threshold does not flap (and log) on every packet.
    /// Returns whether the mode changed.
    pub(super) fn update_cookie_mode(&mut self, half_open: usize, threshold: usize) -> bool {
        let on = threshold == 0
            || if self.cookie_mode {
                half_open >= threshold / 2
            } else {
                half_open >= threshold
            };
        if on == self.cookie_mode {
            return false;
        }
        self.cookie_mode = on;
        if on {
            log::warn!(
                "cookie mode on: {half_open} half-open IKE SAs (threshold {threshold}); \
                 IKE_SA_INIT without a valid cookie gets only a cookie"
            );
        } else {
            log::warn!("cookie mode off: {half_open} half-open IKE SAs");
        }
        true
    }

    /// Whether one more stateless error answer may go out now.
    pub(super) fn stateless_answer_allowed(&mut self, now: Instant) -> bool {
        let (start, n) = &mut self.answers;
        if start.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            *start = Some(now);
            *n = 0;
        }
        if *n >= STATELESS_ANSWERS_PER_SEC {
            return false;
        }
        *n += 1;
        true
    }

    pub(super) fn cookie_mode(&self) -> bool {
        self.cookie_mode
    }

    /// Counts a drop and logs it, rate-limited per reason.
    /// `what` is formatted only when the line is logged: under a flood
    /// almost every call is only counted.
    pub(super) fn note(
        &mut self,
        now: Instant,
        reason: DropReason,
        from: SocketAddr,
        what: std::fmt::Arguments<'_>,
    ) {
        let i = reason.index();
        self.drops[i] = self.drops[i].saturating_add(1);
        let gate = &mut self.gates[i];
        if gate
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < LOG_INTERVAL)
        {
            gate.suppressed = gate.suppressed.saturating_add(1);
            return;
        }
        let more = std::mem::take(&mut gate.suppressed);
        gate.last = Some(now);
        // Target "notice": the parent logs these at LOG_NOTICE in syslog
        // (the log crate has no such level; ike_ipc::childlog carries it).
        if more > 0 {
            log::info!(
                target: "notice",
                "dropped ({}) from {from}: {what} ({more} more of this kind not logged)",
                reason.name()
            );
        } else {
            log::info!(target: "notice", "dropped ({}) from {from}: {what}", reason.name());
        }
    }

    pub(super) fn stats(&self, half_open: usize) -> AdmissionStats {
        AdmissionStats {
            half_open,
            cookie_mode: self.cookie_mode,
            drops: DropReason::ALL
                .iter()
                .map(|r| (*r, self.drops[r.index()]))
                .collect(),
        }
    }
}

impl super::Engine {
    /// Counts and (rate-limited) logs an input that was not processed.
    pub(super) fn note_drop(
        &mut self,
        now: Instant,
        reason: DropReason,
        from: SocketAddr,
        what: std::fmt::Arguments<'_>,
    ) {
        self.ep.admission.note(now, reason, from, what);
    }

    /// Follows the half-open count with the cookie mode; a change is an
    /// event (`ike-ctl monitor` shows it).
    pub(super) fn refresh_cookie_mode(&mut self) {
        let (n, threshold) = (self.ep.half_open, self.cfg.cookie_threshold);
        if self.ep.admission.update_cookie_mode(n, threshold) {
            self.out.events.push_back(super::Event::CookieMode {
                on: self.ep.admission.cookie_mode(),
                half_open: n,
            });
        }
    }

    /// Half-open count, cookie mode and drop counters for `show stats`.
    pub fn admission_stats(&self) -> AdmissionStats {
        self.ep.admission.stats(self.ep.half_open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_per_address_and_prefix() {
        let mut a = Admission::default();
        a.admitted(1, ip("192.0.2.1"));
        a.admitted(2, ip("192.0.2.1"));
        assert!(a.source_full(ip("192.0.2.1"), 2, 10));
        assert!(!a.source_full(ip("192.0.2.2"), 2, 10));
        assert!(a.source_full(ip("192.0.2.2"), 5, 2), "same /24");
        assert!(!a.source_full(ip("192.0.3.2"), 5, 2), "other /24");
        a.released(1);
        assert!(!a.source_full(ip("192.0.2.1"), 2, 10));
        a.released(2);
        a.released(2);
        assert!(a.by_addr.is_empty() && a.by_prefix.is_empty() && a.owner.is_empty());
    }

    #[test]
    fn victim_is_the_oldest_of_the_heaviest_prefix() {
        let mut a = Admission::default();
        for h in 1..=4 {
            a.admitted(h, ip("2001:db8::1"));
        }
        a.admitted(9, ip("198.51.100.7"));
        assert_eq!(a.victim(ip("203.0.113.1")), Some(1));
        assert_eq!(a.victim(ip("2001:db8::ffff")), None, "its own prefix");
        a.released(1);
        assert_eq!(a.victim(ip("203.0.113.1")), Some(2));
    }

    #[test]
    fn stateless_answers_are_rate_limited() {
        let mut a = Admission::default();
        let t = Instant::now();
        let sent = (0..1000).filter(|_| a.stateless_answer_allowed(t)).count();
        assert_eq!(sent, STATELESS_ANSWERS_PER_SEC as usize);
        assert!(a.stateless_answer_allowed(t + Duration::from_secs(1)));
    }

    #[test]
    fn cookie_mode_has_hysteresis() {
        let mut a = Admission::default();
        a.update_cookie_mode(63, 64);
        assert!(!a.cookie_mode());
        a.update_cookie_mode(64, 64);
        assert!(a.cookie_mode());
        a.update_cookie_mode(40, 64);
        assert!(a.cookie_mode());
        a.update_cookie_mode(31, 64);
        assert!(!a.cookie_mode());
        a.update_cookie_mode(0, 0);
        assert!(a.cookie_mode(), "threshold 0: always");
    }

    #[test]
    fn drops_are_counted_even_when_not_logged() {
        let mut a = Admission::default();
        let t = Instant::now();
        let from: SocketAddr = "192.0.2.1:500".parse().unwrap();
        for _ in 0..1000 {
            a.note(t, DropReason::Malformed, from, format_args!("x"));
        }
        assert_eq!(a.gates[0].suppressed, 999);
        a.note(
            t + LOG_INTERVAL,
            DropReason::Malformed,
            from,
            format_args!("x"),
        );
        assert_eq!(a.gates[0].suppressed, 0);
        let s = a.stats(0);
        assert_eq!(s.drops[0], (DropReason::Malformed, 1001));
    }
}
