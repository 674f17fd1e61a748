//! IKE_SA_INIT, both roles (RFC 7296 1.2, 2.6, 2.10, 2.23; RFC 7383 2.3;
//! RFC 7427 4; RFC 6023 3).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::crypto::{nat_detection_hash, HashAlgorithm};
use crate::wire::consts::{DhGroup, ExchangeType, NotifyType};
use crate::wire::ke::KeyExchange as KePayload;
use crate::wire::notify::Notify;
use crate::wire::Header;
use crate::wire::Message;
use crate::wire::Payload;

use super::api::FailReason;
use super::config::Policy;
use super::keys::{self, IkeKeyset, Seed};
use super::sa::{AuthCtx, AuthStep, IkeSa, Pending, PendingKind, Phase, SaKeys, State};
use super::ts::TrafficSelector;
use super::{codec, find_notify, notify, proposal, DropReason, Engine, KernelPurpose};

/// Most IKE_SA_INIT restarts (cookie, INVALID_KE_PAYLOAD) we go through
/// before giving up: a responder that keeps asking is misbehaving.
const MAX_RESTARTS: u8 = 3;

pub(super) fn natd(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    nat_detection_hash(
        &spi_i.to_be_bytes(),
        &spi_r.to_be_bytes(),
        addr.ip(),
        addr.port(),
    )
    .to_vec()
}

fn hash_list() -> Vec<u8> {
    HashAlgorithm::encode_list(HashAlgorithm::supported())
}

/// Parses the hash algorithm list of SIGNATURE_HASH_ALGORITHMS, ignoring
/// an odd trailing byte.
fn peer_hashes(payloads: &[Payload]) -> Vec<u16> {
    find_notify(payloads, NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .map(|n| {
            n.data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect()
        })
        .unwrap_or_default()
}

/// (peer behind NAT, we behind NAT) from the peer's NAT-D notifies
/// (RFC 7296 2.23). No notifies: no NAT traversal.
pub(super) fn detect_nat(
    payloads: &[Payload],
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> super::nat::Detected {
    let src: Vec<&[u8]> = super::notifies(payloads)
        .filter(|n| n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP)
        .map(|n| n.data.as_slice())
        .collect();
    let dst = find_notify(payloads, NotifyType::NAT_DETECTION_DESTINATION_IP);
    if src.is_empty() || dst.is_none() {
        return super::nat::Detected::default();
    }
    let peer_natted = !src
        .iter()
        .any(|d| *d == natd(spi_i, spi_r, remote).as_slice());
    let we_natted = dst.is_some_and(|d| d.data != natd(spi_i, spi_r, local));
    super::nat::Detected {
        peer: peer_natted,
        local: we_natted,
    }
}

impl Engine {
    /// Starts an IKE SA for `policy` (command, start-up or ACQUIRE).
    pub(super) fn initiate(
        &mut self,
        now: Instant,
        policy: Arc<Policy>,
        packet_ts: Option<(TrafficSelector, TrafficSelector)>,
    ) {
        let (Some(lip), Some(rip)) = (policy.local_addr, policy.peer_addr) else {
            log::warn!(
                "policy {}: cannot initiate without local and peer address",
                policy.name
            );
            return;
        };
        // One IKE SA per policy in negotiation at a time: an ACQUIRE storm
        // or repeated commands must not multiply half-open SAs.
        if self.ep.sas.values().any(|s| {
            s.policy.name == policy.name
                && s.initiator
                && s.phase() != Phase::Deleting
                && s.phase() != Phase::Rekeyed
                && s.successor().is_none()
        }) {
            return;
        }
        let Some(group) = policy
            .ike_proposals
            .first()
            .and_then(|p| p.dh.first())
            .copied()
        else {
            return;
        };
        let local = SocketAddr::new(lip, policy.local_port);
        let remote = SocketAddr::new(rip, policy.peer_port);
        let spi_i = self.ep.fresh_spi(self.rng.as_mut());
        let ni = self.nonce();
        let Ok(g) = keys::group(group) else { return };
        let Ok(ke) = self.kex.start(g, &self.sys_rng) else {
            log::error!("key exchange start failed for {group}");
            return;
        };
        let mut sa = IkeSa {
            policy: policy.clone(),
            initiator: true,
            spi_i,
            spi_r: 0,
            local,
            remote,
            state: State::InitSent(Box::new(AuthCtx {
                ni,
                nr: Vec::new(),
                init_request: Vec::new(),
                init_response: Vec::new(),
                child_spi: None,
                spi_request: None,
                peer_hashes: Vec::new(),
                packet_ts,
            })),
            next_id: 0,
            pending: Vec::new(),
            tasks: Default::default(),
            spi_wait: Vec::new(),
            send: Default::default(),
            recv: Default::default(),
            parked: Vec::new(),
            reassembly: Default::default(),
            children: Vec::new(),
            nat: false,
            keepalive: Default::default(),
            mobike: None,
            fragmentation: false,
            created: now,
            last_heard: now,
            rekey_at: None,
            collision: None,
        };
        if !policy.childless {
            // The kernel picks our inbound SPI; ask now so it is there
            // when IKE_SA_INIT completes.
            let req = self.ep.request_id();
            if let Some(a) = sa.auth_mut() {
                a.spi_request = Some(req);
            }
            self.request_spi(req, spi_i, KernelPurpose::AuthSpi, rip, lip);
        }
        let pending = PendingKind::Init {
            ke,
            group,
            restarts: 0,
            cookie: None,
        };
        self.ep.sas.insert(spi_i, Box::new(sa));
        self.send_init(now, spi_i, pending);
        self.after_input(spi_i, now);
    }

    /// Sends (or re-sends after a restart) our IKE_SA_INIT request.
    fn send_init(&mut self, now: Instant, h: u64, kind: PendingKind) {
        let natt_port = self.cfg.natt_port;
        let initial = self.cfg.retransmit.initial;
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let PendingKind::Init {
            ke, group, cookie, ..
        } = &kind
        else {
            return;
        };
        let Some(ni) = sa.auth().map(|a| a.ni.clone()) else {
            return;
        };
        let mut payloads = Vec::new();
        if let Some(c) = cookie {
            // RFC 7296 2.6: the cookie goes first, the rest unchanged.
            payloads.push(notify(NotifyType::COOKIE, c.clone()));
        }
        payloads.push(Payload::Sa(proposal::ike_offer(
            &sa.policy.ike_proposals,
            &[],
            Some(*group),
        )));
        payloads.push(Payload::Ke(KePayload {
            group: *group,
            data: ke.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(ni));
        payloads.push(notify(
            NotifyType::NAT_DETECTION_SOURCE_IP,
            // `natt`: a hash of no real address makes the peer see a NAT.
            natd(
                sa.spi_i,
                0,
                if sa.policy.force_natt {
                    super::nat::forced_source(sa.local)
                } else {
                    sa.local
                },
            ),
        ));
        payloads.push(notify(
            NotifyType::NAT_DETECTION_DESTINATION_IP,
            natd(sa.spi_i, 0, sa.remote),
        ));
        if sa.policy.fragmentation {
            payloads.push(notify(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            ));
        }
        payloads.push(notify(NotifyType::SIGNATURE_HASH_ALGORITHMS, hash_list()));
        let header = codec::header(sa.spi_i, 0, ExchangeType::IKE_SA_INIT, true, false, 0);
        super::msglog::message(true, sa.remote, &header, &payloads);
        let Some(bytes) = codec::plain(header, payloads, sa.local.port() == natt_port) else {
            return;
        };
        if let Some(auth) = sa.auth_mut() {
            auth.init_request = bytes.clone();
        }
        sa.next_id = 1;
        sa.pending.push(Pending {
            message_id: 0,
            datagrams: vec![bytes.clone()],
            tries: 0,
            retransmit_at: now + initial,
            kind,
        });
        let (l, r) = (sa.local, sa.remote);
        self.out.emit(l, r, &[bytes]);
    }

    /// The responder's answer to our IKE_SA_INIT.
    pub(super) fn init_response(
        &mut self,
        now: Instant,
        h: u64,
        remote: SocketAddr,
        header: Header,
        bytes: &[u8],
    ) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if sa.phase() != Phase::Init || header.message_id != 0 || remote != sa.remote {
            return;
        }
        if !sa
            .pending
            .first()
            .is_some_and(|p| matches!(p.kind, PendingKind::Init { .. }))
        {
            return;
        }
        // Unauthenticated input: anything malformed is dropped and the
        // retransmission timer keeps running (RFC 7296 2.21.1).
        let Ok(msg) = Message::parse(bytes) else {
            return;
        };
        super::msglog::message(false, remote, &header, &msg.payloads);
        let payloads = msg.payloads;
        let Some(pending) = sa.pending.pop() else {
            return;
        };
        let PendingKind::Init {
            ke,
            group,
            restarts,
            cookie,
        } = pending.kind
        else {
            return;
        };

        if let Some(c) = find_notify(&payloads, NotifyType::COOKIE) {
            if restarts < MAX_RESTARTS && !c.data.is_empty() && c.data.len() <= 64 {
                let kind = PendingKind::Init {
                    ke,
                    group,
                    restarts: restarts + 1,
                    cookie: Some(c.data.clone()),
                };
                self.send_init(now, h, kind);
                self.after_input(h, now);
            } else {
                self.init_failed(h, FailReason::PeerNotify(NotifyType::COOKIE));
            }
            return;
        }
        if let Some(n) = find_notify(&payloads, NotifyType::INVALID_KE_PAYLOAD) {
            // RFC 7296 1.2: retry with the group the responder names, if we
            // offered it; same SPI, nonce and cookie.
            let wanted =
                <[u8; 2]>::try_from(n.data.as_slice()).map(|b| DhGroup(u16::from_be_bytes(b)));
            let offered = |g: DhGroup| sa.policy.ike_proposals.iter().any(|p| p.dh.contains(&g));
            match wanted {
                Ok(g) if g != group && offered(g) && restarts < MAX_RESTARTS => {
                    let Ok(cg) = keys::group(g) else {
                        self.init_failed(h, FailReason::PeerNotify(NotifyType::INVALID_KE_PAYLOAD));
                        return;
                    };
                    let Ok(new_ke) = self.kex.start(cg, &self.sys_rng) else {
                        return;
                    };
                    let kind = PendingKind::Init {
                        ke: new_ke,
                        group: g,
                        restarts: restarts + 1,
                        cookie,
                    };
                    self.send_init(now, h, kind);
                    self.after_input(h, now);
                }
                _ => self.init_failed(h, FailReason::PeerNotify(NotifyType::INVALID_KE_PAYLOAD)),
            }
            return;
        }
        if let Some(e) = super::error_notify(&payloads) {
            let reason = if e == NotifyType::NO_PROPOSAL_CHOSEN {
                FailReason::NoProposalChosen
            } else {
                FailReason::PeerNotify(e)
            };
            self.init_failed(h, reason);
            return;
        }
        let sa_p = payloads.iter().find_map(|p| {
            if let Payload::Sa(x) = p {
                Some(x)
            } else {
                None
            }
        });
        let ke_p = payloads.iter().find_map(|p| {
            if let Payload::Ke(x) = p {
                Some(x)
            } else {
                None
            }
        });
        let nr = payloads.iter().find_map(|p| {
            if let Payload::Nonce(x) = p {
                Some(x.clone())
            } else {
                None
            }
        });
        let (Some(sa_p), Some(ke_p), Some(nr), true) = (sa_p, ke_p, nr, header.spi_r != 0) else {
            // Missing payloads (or no SPIr) in an unauthenticated reply: could be forged;
            // keep waiting for the real one (RFC 7296 2.21.1).
            sa.pending.push(Pending {
                kind: PendingKind::Init {
                    ke,
                    group,
                    restarts,
                    cookie,
                },
                ..pending
            });
            return;
        };
        let suite = match proposal::ike_suite_from_answer(sa_p, &sa.policy.ike_proposals) {
            Some(s) if s.dh == group && ke_p.group == group && keys::ike_suite_supported(&s) => s,
            _ => {
                self.init_failed(h, FailReason::NoProposalChosen);
                return;
            }
        };
        let Ok(g_ir) = ke.compute_shared(&ke_p.data) else {
            self.init_failed(h, FailReason::Crypto);
            return;
        };
        let Some(auth) = sa.auth() else {
            return;
        };
        let Ok(keyset) = IkeKeyset::derive(
            &suite,
            Seed::Initial,
            g_ir.as_bytes(),
            &auth.ni,
            &nr,
            sa.spi_i,
            header.spi_r,
            true,
        ) else {
            self.init_failed(h, FailReason::Crypto);
            return;
        };
        sa.spi_r = header.spi_r;
        sa.init_done(suite, keyset);
        sa.last_heard = now;
        let Some(auth) = sa.auth_mut() else {
            return;
        };
        auth.nr = nr;
        auth.init_response = bytes.to_vec();
        auth.peer_hashes = peer_hashes(&payloads);
        sa.fragmentation = sa.policy.fragmentation
            && find_notify(&payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        let found = detect_nat(&payloads, sa.spi_i, sa.spi_r, sa.local, sa.remote);
        sa.nat = found.any() || sa.policy.force_natt;
        sa.keepalive.behind = found.local || sa.policy.force_natt;
        if sa.nat {
            // RFC 7296 2.23: from IKE_AUTH on, both sides use port 4500.
            sa.local.set_port(self.cfg.natt_port);
            sa.remote.set_port(self.cfg.natt_port);
        }
        let childless_ok = find_notify(&payloads, NotifyType::CHILDLESS_IKEV2_SUPPORTED).is_some();
        if sa.policy.childless && !childless_ok {
            // RFC 6023 3: without the responder's support we need a child.
            log::info!(
                "policy {}: peer does not support childless IKE SAs",
                sa.policy.name
            );
        }
        self.try_send_auth(now, h);
        self.after_input(h, now);
    }

    /// The half-open table is full: evict the oldest half-open SA of the
    /// heaviest source prefix for a newcomer from a lighter one, or refuse
    /// the newcomer (see `admission.rs`). True if there is room now.
    fn make_room(&mut self, now: Instant, remote: SocketAddr) -> bool {
        let cap = self.cfg.max_half_open;
        match self.ep.admission.victim(remote.ip()) {
            Some(v) => {
                let from = self.ep.sas.get(&v).map_or(remote, |s| s.remote);
                self.note_drop(
                    now,
                    DropReason::Evicted,
                    from,
                    format_args!(
                        "half-open table full ({cap}); its oldest half-open IKE SA evicted for {remote}"
                    ),
                );
                self.remove_sa(v, super::DownReason::Failed);
                self.ep.half_open < self.cfg.max_half_open
            }
            None => {
                self.note_drop(
                    now,
                    DropReason::TableFull,
                    remote,
                    format_args!(
                        "half-open table full ({cap}) and this source is among the heaviest"
                    ),
                );
                false
            }
        }
    }

    /// An IKE_SA_INIT request with a major version above ours: RFC 7296
    /// 2.5 says drop it and answer INVALID_MAJOR_VERSION with our version
    /// in the header (1.5: a notify outside any SA). Stateless and
    /// rate-limited, so it cannot be used for reflection at volume.
    pub(super) fn bad_version(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        header: &Header,
    ) {
        self.note_drop(
            now,
            DropReason::Version,
            remote,
            format_args!("IKE major version {}", header.major_version),
        );
        let init_request = header.exchange == ExchangeType::IKE_SA_INIT
            && !header.flags.response
            && header.major_version > Header::MAJOR_VERSION;
        if init_request && self.ep.admission.stateless_answer_allowed(now) {
            let n = Notify::new(NotifyType::INVALID_MAJOR_VERSION, Vec::new());
            self.init_error(local, remote, header, n);
        }
    }

    fn init_failed(&mut self, h: u64, reason: FailReason) {
        self.failed_event(h, reason);
        self.remove_sa(h, super::DownReason::Failed);
    }

    /// A peer's IKE_SA_INIT request. Nothing is stored unless it passes the
    /// cookie and admission checks and a proposal is chosen (RFC 7296 2.6;
    /// see `admission.rs` for the order and why).
    pub(super) fn init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        bytes: &[u8],
    ) {
        if header.spi_r != 0
            || header.message_id != 0
            || !header.flags.initiator
            || header.spi_i == 0
        {
            self.note_drop(
                now,
                DropReason::Malformed,
                remote,
                format_args!("IKE_SA_INIT request with SPIr, message ID or I flag wrong"),
            );
            return;
        }
        // A retransmission of a request we already answered.
        if let Some(&h) = self.ep.init_index.get(&(remote, header.spi_i)) {
            if let Some(c) = self.ep.sas.get(&h).and_then(|s| s.recv.cached(0)) {
                if c.message_id == 0
                    && self
                        .ep
                        .sas
                        .get(&h)
                        .is_some_and(|s| s.phase() == Phase::Auth)
                {
                    let d = c.datagrams.clone();
                    self.out.emit(local, remote, &d);
                }
            }
            return;
        }
        let payloads = match Message::parse(bytes) {
            Ok(msg) => {
                super::msglog::message(false, remote, &header, &msg.payloads);
                msg.payloads
            }
            Err(crate::wire::Error::UnsupportedCriticalPayload(t)) => {
                // RFC 7296 2.5: a critical payload we do not understand is
                // refused with UNSUPPORTED_CRITICAL_PAYLOAD naming its
                // type, statelessly (2.21.1) and rate-limited.
                self.note_drop(
                    now,
                    DropReason::Malformed,
                    remote,
                    format_args!("IKE_SA_INIT with unsupported critical payload {}", t.0),
                );
                if self.ep.admission.stateless_answer_allowed(now) {
                    let n = Notify::new(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0]);
                    self.init_error(local, remote, &header, n);
                }
                return;
            }
            Err(e) => {
                // Unauthenticated garbage: silence (RFC 7296 2.21.1).
                self.note_drop(
                    now,
                    DropReason::Malformed,
                    remote,
                    format_args!("IKE_SA_INIT does not decode: {e}"),
                );
                return;
            }
        };
        let Some(ni) = payloads.iter().find_map(|p| {
            if let Payload::Nonce(x) = p {
                Some(x.clone())
            } else {
                None
            }
        }) else {
            self.note_drop(
                now,
                DropReason::Malformed,
                remote,
                format_args!("IKE_SA_INIT without nonce"),
            );
            return;
        };
        // Cookie first: under load a request without a valid cookie is
        // answered with one and costs no state, whoever sends it. Only
        // then the source's own budget, and the global cap (further down,
        // once the request is known to be acceptable).
        self.refresh_cookie_mode();
        if self.ep.admission.cookie_mode() {
            // Rotate here too: an engine with no timers armed would
            // otherwise keep one secret forever.
            self.ep.cookies.maybe_rotate(now, self.rng.as_mut());
            // RFC 7296 2.6: the cookie notify must be the first payload.
            let ok = match payloads.first() {
                Some(Payload::Notify(n)) if n.notify_type == NotifyType::COOKIE => self
                    .ep
                    .cookies
                    .verify(&n.data, &ni, remote.ip(), header.spi_i),
                _ => false,
            };
            if !ok {
                self.note_drop(
                    now,
                    DropReason::NoCookie,
                    remote,
                    format_args!("IKE_SA_INIT without a valid cookie; cookie sent"),
                );
                let c = self.ep.cookies.make(&ni, remote.ip(), header.spi_i);
                self.init_error(local, remote, &header, Notify::new(NotifyType::COOKIE, c));
                return;
            }
        }
        // The budgets bound what one address or prefix may hold once the
        // table is contested (half of the global cap or more). Below that
        // nobody is crowded out, and a budget would only throttle a
        // legitimate gateway that starts many tunnels to us at once (1,000
        // policies between two hosts: e2e_scale), whose retransmission
        // back-off then stretches its handshakes past the kernel's larval
        // SA lifetime. A flooder can still take at most half the table
        // before its budget applies; the other half and the eviction of the
        // heaviest prefix below keep room for everyone else.
        let contested = self.half_open_count() >= self.cfg.max_half_open / 2;
        if contested
            && self.ep.admission.source_full(
                remote.ip(),
                self.cfg.max_half_open_per_source,
                self.cfg.max_half_open_per_prefix,
            )
        {
            self.note_drop(
                now,
                DropReason::SourceLimit,
                remote,
                format_args!("its address or prefix has its share of half-open IKE SAs"),
            );
            return;
        }
        // Full table and nothing to give up for this source: refuse before
        // the key exchange is paid for.
        if self.ep.half_open >= self.cfg.max_half_open
            && self.ep.admission.victim(remote.ip()).is_none()
        {
            self.make_room(now, remote);
            return;
        }
        let candidates: Vec<Arc<Policy>> = self
            .cfg
            .policies
            .iter()
            .filter(|p| {
                super::config::addr_matches(p.local_addr, local.ip())
                    && super::config::addr_matches(p.peer_addr, remote.ip())
            })
            .cloned()
            .collect();
        let Some(offer) = payloads.iter().find_map(|p| {
            if let Payload::Sa(x) = p {
                Some(x)
            } else {
                None
            }
        }) else {
            return;
        };
        let Some(ke_p) = payloads.iter().find_map(|p| {
            if let Payload::Ke(x) = p {
                Some(x)
            } else {
                None
            }
        }) else {
            return;
        };
        // RFC 7296 3.3.1: in IKE_SA_INIT an IKE proposal's SPI must be
        // empty. Such a proposal is one we cannot accept, like one with an
        // unknown transform: it is skipped, and if nothing acceptable
        // remains the answer is NO_PROPOSAL_CHOSEN. (INVALID_SYNTAX would
        // refuse the whole message for one bad proposal, and tells an
        // unauthenticated peer nothing more; NO_PROPOSAL_CHOSEN is what
        // an initiator acts on when its offer cannot be met.)
        let offer: Vec<crate::wire::Proposal> =
            offer.iter().filter(|p| p.spi.is_empty()).cloned().collect();
        let spi_r = self.ep.fresh_spi(self.rng.as_mut());
        let chosen = candidates.iter().find_map(|p| {
            proposal::select_ike(&offer, &p.ike_proposals, &[], Some(ke_p.group))
                .filter(|(_, s)| keys::ike_suite_supported(s))
                .map(|(a, s)| (p.clone(), a, s))
        });
        let Some((policy, answer, suite)) = chosen else {
            self.note_drop(
                now,
                DropReason::NoProposal,
                remote,
                format_args!("IKE_SA_INIT: no acceptable proposal; answered NO_PROPOSAL_CHOSEN"),
            );
            self.init_error(
                local,
                remote,
                &header,
                Notify::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new()),
            );
            return;
        };
        if ke_p.group != suite.dh {
            // RFC 7296 1.2: name the group we want; keep no state.
            let data = suite.dh.0.to_be_bytes().to_vec();
            self.init_error(
                local,
                remote,
                &header,
                Notify::new(NotifyType::INVALID_KE_PAYLOAD, data),
            );
            return;
        }
        let Ok(g) = keys::group(suite.dh) else { return };
        let Ok(ke) = self.kex.start(g, &self.sys_rng) else {
            return;
        };
        let ke_public = ke.public_value().to_vec();
        // An invalid public value (RFC 6989) fails here: drop, no state.
        let Ok(g_ir) = ke.compute_shared(&ke_p.data) else {
            return;
        };
        let nr = self.nonce();
        let Ok(keyset) = IkeKeyset::derive(
            &suite,
            Seed::Initial,
            g_ir.as_bytes(),
            &ni,
            &nr,
            header.spi_i,
            spi_r,
            false,
        ) else {
            return;
        };
        let fragmentation = policy.fragmentation
            && find_notify(&payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        // The request's hashes were made before SPIr existed: SPIr = 0 (RFC 7296 2.23).
        let found = detect_nat(&payloads, header.spi_i, 0, local, remote);
        let nat = found.any();
        let mut out = vec![
            Payload::Sa(vec![answer]),
            Payload::Ke(KePayload {
                group: suite.dh,
                data: ke_public,
            }),
            Payload::Nonce(nr.clone()),
        ];
        // RFC 7296 1.2, 3.7: HDR, SAr1, KEr, Nr, [CERTREQ]. The policy is
        // settled only by the peer's ID in IKE_AUTH, so ask for every CA
        // of the policies these addresses could still select.
        out.extend(super::auth::certreq(candidates.iter().map(|p| p.as_ref())));
        out.extend([
            notify(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                natd(header.spi_i, spi_r, local),
            ),
            notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                natd(header.spi_i, spi_r, remote),
            ),
        ]);
        if fragmentation {
            out.push(notify(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            ));
        }
        out.push(notify(NotifyType::SIGNATURE_HASH_ALGORITHMS, hash_list()));
        out.push(notify(NotifyType::CHILDLESS_IKEV2_SUPPORTED, Vec::new()));
        let rh = codec::header(
            header.spi_i,
            spi_r,
            ExchangeType::IKE_SA_INIT,
            false,
            true,
            0,
        );
        let natt = local.port() == self.cfg.natt_port;
        super::msglog::message(true, remote, &rh, &out);
        let Some(response) = codec::plain(rh, out, natt) else {
            return;
        };
        let response_msg = if natt {
            response.get(4..).unwrap_or_default().to_vec()
        } else {
            response.clone()
        };
        if self.ep.half_open >= self.cfg.max_half_open && !self.make_room(now, remote) {
            return;
        }
        let sa = IkeSa {
            policy,
            initiator: false,
            spi_i: header.spi_i,
            spi_r,
            local,
            remote,
            state: State::Auth {
                ike: Box::new(SaKeys {
                    suite,
                    keys: keyset,
                }),
                step: AuthStep::Material(Box::new(AuthCtx {
                    ni,
                    nr,
                    init_request: bytes.to_vec(),
                    init_response: response_msg,
                    child_spi: None,
                    spi_request: None,
                    peer_hashes: peer_hashes(&payloads),
                    packet_ts: None,
                })),
            },
            next_id: 0,
            pending: Vec::new(),
            tasks: Default::default(),
            spi_wait: Vec::new(),
            send: Default::default(),
            recv: super::window::RecvWindow::after_init(response.clone()),
            parked: Vec::new(),
            reassembly: Default::default(),
            children: Vec::new(),
            nat,
            mobike: None,
            keepalive: super::nat::Keepalive {
                behind: found.local,
                next: None,
            },
            fragmentation,
            created: now,
            last_heard: now,
            rekey_at: None,
            collision: None,
        };
        self.ep.sas.insert(spi_r, Box::new(sa));
        self.ep.init_index.insert((remote, header.spi_i), spi_r);
        self.ep.half_open += 1;
        self.ep.admission.admitted(spi_r, remote.ip());
        self.out.emit(local, remote, &[response]);
        self.rearm(spi_r, now);
    }
}
