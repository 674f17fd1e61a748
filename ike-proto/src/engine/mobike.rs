//! MOBIKE (RFC 4555): the IKE SA and its CHILD_SAs move to new addresses.
//!
//! - Negotiation (RFC 4555 3.1, 4.2.1): both sides send MOBIKE_SUPPORTED
//!   in IKE_AUTH (`set mobike`, the default); only then does an IKE SA get
//!   a [`State`], and only then is UPDATE_SA_ADDRESSES acted on.
//! - Who decides (RFC 4555 3.2): the original initiator. As responder we
//!   follow its authenticated UPDATE_SA_ADDRESSES; as initiator we send one
//!   when told our address changed ([`Engine::mobike_move`], the
//!   `Command::MoveLocal` of ike-ctl: this crate has no route or address
//!   monitor).
//! - Authentication: an UPDATE_SA_ADDRESSES is acted on only inside a
//!   protected INFORMATIONAL that decrypted and verified (exchange.rs); a
//!   datagram that fails that moves nothing. Other authenticated messages
//!   from a new *address* do not move a MOBIKE SA (RFC 4555 3.5: addresses
//!   change only by UPDATE_SA_ADDRESSES); a new *port* of the same address
//!   is a NAT rebinding and still follows RFC 7296 2.23 (`nat::follow`).
//! - Return routability (RFC 4555 3.5, 5.2): an authenticated peer could
//!   still name a victim's address and have our ESP flood it. So when the
//!   peer's address changes, the IKE SA moves at once (our answer goes to
//!   the new address) but the CHILD_SAs move in the kernel only after an
//!   INFORMATIONAL with a fresh COOKIE2 was answered from there with the
//!   same COOKIE2. Until then each child's `kernel_at` says where the kernel
//!   still has them (so a delete finds them). A wrong or missing COOKIE2
//!   moves nothing (logged); no answer ends the IKE SA as dead, and its
//!   CHILD_SAs are deleted at their old addresses.
//! - NO_NATS_ALLOWED (RFC 4555 3.9): its data are the addresses and ports
//!   the peer sent from and to; if ours differ, a NAT is between us and
//!   the answer is UNEXPECTED_NAT_DETECTED, with nothing moved.
//! - NAT detection is redone on every update (NAT_DETECTION_* in the
//!   request and the answer, hashed with this IKE SA's SPIs): the moved
//!   CHILD_SAs are UDP-encapsulated exactly when a NAT is found.
//! - ADDITIONAL_IP4/6_ADDRESS and NO_ADDITIONAL_ADDRESSES (RFC 4555 3.6)
//!   are recorded (at most [`MAX_ADDITIONAL`]) and shown; we never send
//!   ours, because a policy names one local address (none to add).
//! - The kernel move: every CHILD_SA's two SAs ([`KernelRequest::MoveSa`])
//!   and, for children that own them, their tunnel policies
//!   ([`KernelRequest::MovePolicy`]); the broker checks and performs them
//!   (`ike-pfkey/src/broker/mobility.rs`).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::wire::consts::{ExchangeType, NotifyType, ProtocolId};
use crate::wire::Payload;

use super::api::{Direction, KernelRequest};
use super::sa::{Child, ChildState, IkeSa, PendingKind, Phase};
use super::{find_notify, notifies, notify, Engine};

/// At most this many ADDITIONAL_*_ADDRESS entries are kept per IKE SA:
/// they are only informational here and must not grow without bound.
pub const MAX_ADDITIONAL: usize = 8;

/// COOKIE2 length we send (RFC 4555 3.8: 8 to 64 octets).
const COOKIE2_LEN: usize = 16;

/// Where a CHILD_SA pair sits: our address, the peer's, and the UDP
/// encapsulation ports (ours, the peer's) when a NAT is in the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ends {
    pub local: IpAddr,
    pub remote: IpAddr,
    pub encap: Option<(u16, u16)>,
}

impl Ends {
    pub(super) fn of(sa: &IkeSa) -> Ends {
        Ends {
            local: sa.local.ip(),
            remote: sa.remote.ip(),
            encap: sa.nat.then(|| (sa.local.port(), sa.remote.port())),
        }
    }
}

/// MOBIKE state of an IKE SA on which both sides announced it.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    /// The peer's ADDITIONAL_IP4/6_ADDRESS list (RFC 4555 3.6).
    pub peer_addresses: Vec<IpAddr>,
    /// Where the last authenticated message came from and went to (set
    /// by exchange.rs before the handlers run).
    pub from: Option<(SocketAddr, SocketAddr)>,
}

/// Our MOBIKE request in flight.
#[derive(Clone, Debug)]
pub(crate) enum Request {
    /// Responder: return routability check of the peer's new address.
    Check { cookie2: Vec<u8> },
    /// Original initiator: our UPDATE_SA_ADDRESSES after our own move.
    Update { cookie2: Vec<u8> },
}

/// IKE_AUTH, initiator: MOBIKE_SUPPORTED if configured.
pub(super) fn offer(mobike: bool) -> Option<Payload> {
    mobike.then(|| notify(NotifyType::MOBIKE_SUPPORTED, Vec::new()))
}

/// IKE_AUTH, both roles: MOBIKE is on for this SA when we want it and the
/// peer's message announced it. The responder answers with
/// MOBIKE_SUPPORTED in `answer` (RFC 4555 4.2.1).
pub(super) fn negotiate(sa: &mut IkeSa, payloads: &[Payload], answer: Option<&mut Vec<Payload>>) {
    let theirs = find_notify(payloads, NotifyType::MOBIKE_SUPPORTED).is_some();
    if !(sa.policy.mobike && theirs) {
        return;
    }
    log::info!(
        "IKE SA {:016x}: MOBIKE negotiated with {}",
        sa.spi_i,
        sa.remote
    );
    let mut st = State::default();
    record_addresses(&mut st, payloads);
    sa.mobike = Some(Box::new(st));
    if let Some(a) = answer {
        a.push(notify(NotifyType::MOBIKE_SUPPORTED, Vec::new()));
    }
}

/// ADDITIONAL_IP4/6_ADDRESS replace the list; NO_ADDITIONAL_ADDRESSES
/// empties it (RFC 4555 3.6). Malformed entries are skipped.
fn record_addresses(st: &mut State, payloads: &[Payload]) {
    let mut list = Vec::new();
    let mut said = false;
    for n in notifies(payloads) {
        let addr = match n.notify_type {
            NotifyType::ADDITIONAL_IP4_ADDRESS => <[u8; 4]>::try_from(n.data.as_slice())
                .ok()
                .map(IpAddr::from),
            NotifyType::ADDITIONAL_IP6_ADDRESS => <[u8; 16]>::try_from(n.data.as_slice())
                .ok()
                .map(IpAddr::from),
            NotifyType::NO_ADDITIONAL_ADDRESSES => {
                said = true;
                continue;
            }
            _ => continue,
        };
        said = true;
        match addr {
            Some(a) if list.len() < MAX_ADDITIONAL && !list.contains(&a) => list.push(a),
            Some(_) => {}
            None => log::info!("MOBIKE: malformed additional address ignored"),
        }
    }
    if said {
        st.peer_addresses = list;
    }
}

/// exchange.rs, for every authenticated message: remembers where it came
/// from and says whether it must NOT move the IKE SA implicitly (RFC 7296
/// 2.23): on a MOBIKE SA a new address moves only by UPDATE_SA_ADDRESSES.
pub(super) fn holds_move(sa: &mut IkeSa, local: SocketAddr, remote: SocketAddr) -> bool {
    let (old_l, old_r) = (sa.local, sa.remote);
    let Some(st) = sa.mobike.as_deref_mut() else {
        return false;
    };
    st.from = Some((local, remote));
    old_l.ip() != local.ip() || old_r.ip() != remote.ip()
}

/// Where the kernel has child `c` of `sa`, for deletes: its own location
/// while it lags behind the IKE SA (a return routability check, a refused
/// move, an address change without MOBIKE), else the IKE SA's addresses.
pub(super) fn kernel_ends(sa: &IkeSa, c: &Child) -> (IpAddr, IpAddr) {
    match c.kernel_at.as_deref() {
        Some(e) => (e.local, e.remote),
        None => (sa.local.ip(), sa.remote.ip()),
    }
}

/// The IKE SA is about to leave `old`: its children stay there in the
/// kernel until they are moved ([`move_children`]).
pub(super) fn leave_children(sa: &mut IkeSa, old: Ends) {
    for c in &mut sa.children {
        if c.kernel_at.is_none() {
            c.kernel_at = Some(Box::new(old));
        }
    }
}

/// The IKE SA's local address becomes `local`. Our requests still waiting
/// for an answer were framed for the old port: a retransmission to or from
/// port 4500 needs the non-ESP marker (RFC 3948 2.2) and one on 500 must
/// not have it, or the receiver drops it as ESP. Found by the simulation
/// (a rekey in flight while the responder moved to 4500).
pub(super) fn set_local(sa: &mut IkeSa, local: SocketAddr, natt_port: u16) {
    let was = sa.local.port() == natt_port;
    let now = local.port() == natt_port;
    sa.local = local;
    if was == now {
        return;
    }
    for p in &mut sa.pending {
        for d in &mut p.datagrams {
            if now {
                d.splice(0..0, crate::wire::NON_ESP_MARKER);
            } else if d.len() >= 4 {
                d.drain(..4);
            }
        }
    }
}

/// NO_NATS_ALLOWED data (RFC 4555 3.9): source address, destination
/// address, source port, destination port, as the peer sent them.
fn no_nats_data(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut v = Vec::with_capacity(36);
    for a in [src.ip(), dst.ip()] {
        match a {
            IpAddr::V4(x) => v.extend_from_slice(&x.octets()),
            IpAddr::V6(x) => v.extend_from_slice(&x.octets()),
        }
    }
    v.extend_from_slice(&src.port().to_be_bytes());
    v.extend_from_slice(&dst.port().to_be_bytes());
    v
}

/// NAT_DETECTION_SOURCE_IP / _DESTINATION_IP for `local` -> `remote` on
/// this IKE SA (RFC 7296 2.23, RFC 4555 3.5: recomputed on each update).
fn nat_d(sa: &IkeSa, local: SocketAddr, remote: SocketAddr) -> [Payload; 2] {
    [
        notify(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            super::init::natd(sa.spi_i, sa.spi_r, local),
        ),
        notify(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            super::init::natd(sa.spi_i, sa.spi_r, remote),
        ),
    ]
}

/// The kernel requests moving every CHILD_SA of `sa` that was left behind
/// (and the tunnel policies of those that own theirs) to `to`.
fn move_children(sa: &mut IkeSa, to: Ends) -> Vec<KernelRequest> {
    let mut out = Vec::new();
    let trap = sa.policy.trap;
    for c in &mut sa.children {
        let Some(from) = c.kernel_at.take().map(|b| *b) else {
            continue;
        };
        if c.state == ChildState::Deleting || from == to {
            continue;
        }
        out.push(KernelRequest::MoveSa {
            protocol: ProtocolId::ESP,
            spi: c.spi_in,
            src: from.remote,
            dst: from.local,
            to_src: to.remote,
            to_dst: to.local,
            encap: to.encap.map(|(l, r)| (r, l)),
        });
        out.push(KernelRequest::MoveSa {
            protocol: ProtocolId::ESP,
            spi: c.spi_out,
            src: from.local,
            dst: from.remote,
            to_src: to.local,
            to_dst: to.remote,
            encap: to.encap,
        });
        // Trap policies name the configured addresses and stay; a child
        // that added no policies has none to move. Tunnel endpoints are
        // what moves: transport policies name the hosts (the selectors).
        if trap || !c.policies || c.mode != super::config::Encapsulation::Tunnel {
            continue;
        }
        for l in &c.local_ts {
            for r in &c.remote_ts {
                for direction in [Direction::Outbound, Direction::Inbound] {
                    out.push(KernelRequest::MovePolicy {
                        direction,
                        local_ts: *l,
                        remote_ts: *r,
                        local: to.local,
                        remote: to.remote,
                    });
                }
            }
        }
    }
    out
}

impl Engine {
    /// MOBIKE on IKE SA `ike`: `None` if not negotiated, else the peer's
    /// announced additional addresses (for `show sa` and tests).
    pub fn mobike_of(&self, ike: super::api::IkeSaId) -> Option<Vec<IpAddr>> {
        let sa = self.ep.sas.get(&ike.0)?;
        sa.mobike.as_deref().map(|m| m.peer_addresses.clone())
    }

    /// An authenticated INFORMATIONAL request on `h`: the MOBIKE part.
    /// True if it was answered here.
    pub(super) fn mobike_request(
        &mut self,
        now: Instant,
        h: u64,
        id: u32,
        payloads: &[Payload],
    ) -> bool {
        let update = find_notify(payloads, NotifyType::UPDATE_SA_ADDRESSES).is_some();
        let natt_port = self.cfg.natt_port;
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return false;
        };
        let Some(st) = sa.mobike.as_deref_mut() else {
            if update {
                log::warn!(
                    "IKE SA {:016x}: UPDATE_SA_ADDRESSES from {} but MOBIKE was not negotiated \
                     (set nomobike, or the peer did not announce it): nothing moves",
                    sa.spi_i,
                    sa.remote
                );
            }
            return false;
        };
        record_addresses(st, payloads);
        let cookie2 = find_notify(payloads, NotifyType::COOKIE2).map(|n| n.data.clone());
        let Some((local, remote)) = st.from else {
            return false;
        };
        if !update {
            // The peer checks a path before it updates (RFC 4555 3.7, 3.8:
            // an INFORMATIONAL, maybe with COOKIE2 or NAT detection, from
            // the new address): the answer goes where it came from, and
            // nothing moves. DELETEs and the rest go the usual way.
            let deletes = payloads.iter().any(|p| matches!(p, Payload::Delete(_)));
            let elsewhere = (local, remote) != (sa.local, sa.remote);
            if deletes || (cookie2.is_none() && !elsewhere) {
                return false;
            }
            let mut out = Vec::new();
            if find_notify(payloads, NotifyType::NAT_DETECTION_SOURCE_IP).is_some() {
                out.extend(nat_d(sa, local, remote));
            }
            out.extend(cookie2.map(|c| notify(NotifyType::COOKIE2, c)));
            self.answer_at(h, id, out, local, remote);
            return true;
        }
        if sa.initiator || sa.phase() != Phase::Established {
            // RFC 4555 3.2: only the original initiator updates addresses.
            log::warn!(
                "IKE SA {:016x}: UPDATE_SA_ADDRESSES from {remote}, but we are the \
                 original initiator (or the SA is not established): nothing moves",
                sa.spi_i
            );
            let out = cookie2
                .map(|c| notify(NotifyType::COOKIE2, c))
                .into_iter()
                .collect();
            self.answer_at(h, id, out, local, remote);
            return true;
        }
        let mut out = Vec::new();
        if let Some(n) = find_notify(payloads, NotifyType::NO_NATS_ALLOWED) {
            if n.data != no_nats_data(remote, local) {
                log::warn!(
                    "IKE SA {:016x}: UPDATE_SA_ADDRESSES from {remote} with NO_NATS_ALLOWED, \
                     but a NAT changed its addresses: answered UNEXPECTED_NAT_DETECTED, \
                     nothing moves",
                    sa.spi_i
                );
                out.push(notify(NotifyType::UNEXPECTED_NAT_DETECTED, Vec::new()));
                out.extend(nat_d(sa, local, remote));
                out.extend(cookie2.map(|c| notify(NotifyType::COOKIE2, c)));
                self.answer_at(h, id, out, local, remote);
                return true;
            }
        }
        // The policy must allow the new addresses (`peer any`, or the same
        // address): RFC 4555 3.5 lets us refuse with UNACCEPTABLE_ADDRESSES.
        let allowed = super::config::addr_matches(sa.policy.peer_addr, remote.ip())
            && super::config::addr_matches(sa.policy.local_addr, local.ip());
        if !allowed {
            log::warn!(
                "IKE SA {:016x} (policy {}): UPDATE_SA_ADDRESSES to {local} <-> {remote},                  which the policy does not allow: answered UNACCEPTABLE_ADDRESSES, nothing moves",
                sa.spi_i,
                sa.policy.name
            );
            out.push(notify(NotifyType::UNACCEPTABLE_ADDRESSES, Vec::new()));
            out.extend(cookie2.map(|c| notify(NotifyType::COOKIE2, c)));
            self.answer_at(h, id, out, local, remote);
            return true;
        }
        let found = super::init::detect_nat(payloads, sa.spi_i, sa.spi_r, local, remote);
        let old = Ends::of(sa);
        let (old_local, old_remote) = (sa.local, sa.remote);
        leave_children(sa, old);
        // The IKE SA moves now (RFC 4555 3.5): our answer goes to the
        // address the request came from.
        set_local(sa, local, natt_port);
        sa.remote = remote;
        sa.nat = found.any() || sa.policy.force_natt;
        sa.keepalive.behind = found.local || sa.policy.force_natt;
        let new = Ends::of(sa);
        out.extend(nat_d(sa, local, remote));
        out.extend(cookie2.map(|c| notify(NotifyType::COOKIE2, c)));
        log::info!(
            "IKE SA {:016x}: UPDATE_SA_ADDRESSES: {old_local} <-> {old_remote} now \
             {local} <-> {remote}{}",
            sa.spi_i,
            if found.any() { " (NAT detected)" } else { "" }
        );
        self.send_response(h, ExchangeType::INFORMATIONAL, id, out);
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return true;
        };
        if old.remote == new.remote {
            // Same peer address (a port change, or ours): nothing to verify.
            let reqs = move_children(sa, new);
            self.out.kernel_out.extend(reqs);
            return true;
        }
        let mut c = vec![0u8; COOKIE2_LEN];
        self.rng.fill(&mut c);
        log::info!(
            "IKE SA {:016x}: return routability check of {remote} before its CHILD_SAs move",
            self.ep.sas.get(&h).map_or(0, |s| s.spi_i)
        );
        self.send_request(
            now,
            h,
            ExchangeType::INFORMATIONAL,
            vec![notify(NotifyType::COOKIE2, c.clone())],
            PendingKind::Mobike(Box::new(Request::Check { cookie2: c })),
        );
        true
    }

    /// An answer to a refused update goes where the request came from
    /// (RFC 7296 2.11), while the IKE SA stays where it was.
    fn answer_at(
        &mut self,
        h: u64,
        id: u32,
        out: Vec<Payload>,
        local: SocketAddr,
        remote: SocketAddr,
    ) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let kept = (sa.local, sa.remote);
        (sa.local, sa.remote) = (local, remote);
        self.send_response(h, ExchangeType::INFORMATIONAL, id, out);
        if let Some(sa) = self.ep.sas.get_mut(&h) {
            (sa.local, sa.remote) = kept;
        }
    }

    /// The answer to our MOBIKE request.
    pub(super) fn mobike_response(&mut self, h: u64, req: Request, payloads: Vec<Payload>) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let (Request::Check { cookie2 } | Request::Update { cookie2 }) = &req;
        let echoed =
            find_notify(&payloads, NotifyType::COOKIE2).is_some_and(|n| n.data == *cookie2);
        let from = sa.mobike.as_deref().and_then(|m| m.from);
        let at_sa = from.is_some_and(|(l, r)| l == sa.local && r == sa.remote);
        if !echoed || !at_sa {
            // RFC 4555 3.8: the check failed; the CHILD_SAs stay put.
            log::warn!(
                "IKE SA {:016x}: return routability check of {} failed ({}): CHILD_SAs \
                 not moved",
                sa.spi_i,
                sa.remote,
                if echoed {
                    "answered from another address"
                } else {
                    "COOKIE2 not returned"
                }
            );
            return;
        }
        if let Request::Update { .. } = req {
            if let Some(e) = super::error_notify(&payloads) {
                log::warn!(
                    "IKE SA {:016x}: the peer refused our UPDATE_SA_ADDRESSES ({e}): \
                     CHILD_SAs not moved",
                    sa.spi_i
                );
                return;
            }
            let (local, remote) = (sa.local, sa.remote);
            let found = super::init::detect_nat(&payloads, sa.spi_i, sa.spi_r, local, remote);
            sa.nat = found.any() || sa.policy.force_natt;
            sa.keepalive.behind = found.local || sa.policy.force_natt;
        }
        let new = Ends::of(sa);
        if let Some(at) = sa.children.iter().find_map(|c| c.kernel_at.as_deref()) {
            log::info!(
                "IKE SA {:016x}: CHILD_SAs move from {} <-> {} to {} <-> {}",
                sa.spi_i,
                at.local,
                at.remote,
                new.local,
                new.remote
            );
        }
        let reqs = move_children(sa, new);
        self.out.kernel_out.extend(reqs);
    }

    /// We are the original initiator and our address is now `local`
    /// (RFC 4555 3.5): move the IKE SA and ask the peer to follow; the
    /// CHILD_SAs move when it answered (with our COOKIE2).
    pub(super) fn mobike_move(&mut self, now: Instant, h: u64, local: IpAddr) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if sa.mobike.is_none() || !sa.initiator || sa.phase() != Phase::Established {
            log::warn!(
                "IKE SA {:016x}: cannot move to {local}: MOBIKE not negotiated, or we are \
                 not the original initiator",
                sa.spi_i
            );
            return;
        }
        // The policy's local address is where we started; the broker
        // checks that the configuration allows the new one.
        let old = Ends::of(sa);
        // Port 4500 from now on (RFC 4555 3.5 with NAT traversal).
        let port = if sa.local.port() == self.cfg.natt_port {
            sa.local.port()
        } else {
            self.cfg.natt_port
        };
        let new_local = SocketAddr::new(local, port);
        if sa.remote.port() != self.cfg.natt_port && port == self.cfg.natt_port {
            sa.remote.set_port(self.cfg.natt_port);
        }
        set_local(sa, new_local, self.cfg.natt_port);
        let remote = sa.remote;
        let mut payloads = vec![notify(NotifyType::UPDATE_SA_ADDRESSES, Vec::new())];
        payloads.extend(nat_d(sa, new_local, remote));
        let mut c = vec![0u8; COOKIE2_LEN];
        self.rng.fill(&mut c);
        payloads.push(notify(NotifyType::COOKIE2, c.clone()));
        leave_children(sa, old);
        log::info!(
            "IKE SA {:016x}: our address is now {new_local}; UPDATE_SA_ADDRESSES to {remote}",
            sa.spi_i
        );
        self.send_request(
            now,
            h,
            ExchangeType::INFORMATIONAL,
            payloads,
            PendingKind::Mobike(Box::new(Request::Update { cookie2: c })),
        );
        // Arms the retransmission timer (a command is no input).
        self.after_input(h, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_nats_data_layout() {
        let s: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let d: SocketAddr = "198.51.100.2:4501".parse().unwrap();
        assert_eq!(
            no_nats_data(s, d),
            vec![192, 0, 2, 1, 198, 51, 100, 2, 0x11, 0x94, 0x11, 0x95]
        );
    }

    #[test]
    fn additional_addresses_are_bounded_and_replaced() {
        let mut st = State::default();
        let mut p: Vec<Payload> = (0..20u8)
            .map(|i| notify(NotifyType::ADDITIONAL_IP4_ADDRESS, vec![10, 0, 0, i]))
            .collect();
        p.push(notify(NotifyType::ADDITIONAL_IP6_ADDRESS, vec![1, 2, 3]));
        record_addresses(&mut st, &p);
        assert_eq!(st.peer_addresses.len(), MAX_ADDITIONAL);
        record_addresses(&mut st, &[notify(NotifyType::INITIAL_CONTACT, Vec::new())]);
        assert_eq!(st.peer_addresses.len(), MAX_ADDITIONAL);
        record_addresses(
            &mut st,
            &[notify(NotifyType::NO_ADDITIONAL_ADDRESSES, Vec::new())],
        );
        assert!(st.peer_addresses.is_empty());
    }
}
