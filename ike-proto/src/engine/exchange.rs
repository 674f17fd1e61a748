//! Protected messages on an existing IKE SA: integrity check, message IDs
//! and the window (RFC 7296 2.1-2.3), cached responses, RFC 7383
//! reassembly, and dispatch to the exchange handlers.

use std::net::SocketAddr;
use std::time::Instant;

use crate::wire::consts::{ExchangeType, NotifyType};
use crate::wire::Header;
use crate::wire::Payload;

use super::codec::{self, OpenError, Opened};
use super::reassembly::{Added, Limits};
use super::sa::{IkeSa, PendingKind, Phase};
use super::window::{self, Incoming};
use super::{notify, DropReason, Engine};

impl Engine {
    pub(super) fn protected(
        &mut self,
        now: Instant,
        h: u64,
        local: SocketAddr,
        remote: SocketAddr,
        header: Header,
        bytes: &[u8],
    ) {
        let natt_port = self.cfg.natt_port;
        let (max_fragments, max_bytes, max_total) = (
            self.cfg.max_fragments,
            self.cfg.max_reassembly_bytes,
            self.cfg.max_reassembly_total,
        );
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let id = header.message_id;
        let is_response = header.flags.response;
        // Cheap checks before any crypto: is this message ID possible at all?
        let incoming = sa.recv.classify(id);
        let retransmitted_request = !is_response && incoming == Incoming::Retransmitted;
        if is_response {
            // Matched to our request by message ID (RFC 7296 2.3).
            if !sa.pending.iter().any(|p| p.message_id == id) {
                return;
            }
        } else if !retransmitted_request {
            if incoming != Incoming::New {
                return; // outside the window, forgotten, or being answered
            }
            // RFC 7296 2.2 / issue: a half-open SA accepts only IKE_AUTH;
            // an initiator still negotiating accepts no requests.
            let allowed = match sa.phase() {
                Phase::Auth => !sa.initiator && header.exchange == ExchangeType::IKE_AUTH,
                Phase::Init => false,
                Phase::Established => header.exchange != ExchangeType::IKE_AUTH,
                Phase::Deleting | Phase::Rekeyed => header.exchange == ExchangeType::INFORMATIONAL,
            };
            if !allowed {
                return;
            }
        }
        let Some(keys) = sa.keys() else {
            return;
        };
        let opened = codec::open(keys, bytes);
        let (first_frag, payloads) = match opened {
            Err(OpenError::Framing) | Err(OpenError::Integrity) => {
                // RFC 7296 2.21.2: no answer; counted and logged.
                self.note_drop(
                    now,
                    DropReason::Unauthentic,
                    remote,
                    format_args!("{} {id}: SK framing or ICV wrong", header.exchange),
                );
                return;
            }
            Err(e) => {
                if !is_response && !retransmitted_request {
                    self.refuse_malformed(now, h, remote, header.exchange, id, e);
                }
                return;
            }
            Ok((_, Opened::Whole(p))) => (true, Some(p)),
            Ok((
                _,
                Opened::Fragment {
                    number,
                    total,
                    first,
                    data,
                },
            )) => {
                if retransmitted_request {
                    (number == 1, None)
                } else {
                    drop_stale_partials(sa);
                    let limits = Limits {
                        max_fragments,
                        max_bytes,
                        // RFC 7296 2.3: no more requests (or responses to
                        // ours) can be outstanding than the window allows.
                        max_messages: if is_response {
                            sa.send_size() as usize
                        } else {
                            sa.recv.size() as usize
                        },
                        max_total,
                    };
                    match sa
                        .reassembly
                        .add(limits, id, is_response, number, total, first, data)
                    {
                        Added::Complete(first, all) => match codec::parse_inner(first, &all) {
                            Ok(p) => (true, Some(p)),
                            // The same answer, and the same removal of a
                            // half-open SA, as for an unfragmented message:
                            // a reassembled message is no less authentic.
                            Err(e) if !is_response => {
                                self.refuse_malformed(now, h, remote, header.exchange, id, e);
                                return;
                            }
                            Err(_) => return,
                        },
                        Added::Pending | Added::Duplicate => {
                            sa.last_heard = now;
                            return;
                        }
                        Added::Rejected => return,
                    }
                }
            }
        };
        sa.last_heard = now;
        if retransmitted_request {
            // RFC 7296 2.1 / RFC 7383 2.6.1: resend the cached answer (once
            // per retransmitted message, on its first fragment).
            if first_frag {
                if let Some(c) = sa.recv.cached(id) {
                    let d = c.datagrams.clone();
                    let (l, r) = (sa.local, sa.remote);
                    self.out.emit(l, r, &d);
                }
            }
            return;
        }
        let Some(payloads) = payloads else { return };
        super::msglog::message(false, remote, &header, &payloads);
        // RFC 7296 2.23: behind a NAT the peer's address may change; follow
        // authenticated messages (and the initiator's move to port 4500).
        // MOBIKE (RFC 4555): a new address moves only by UPDATE_SA_ADDRESSES.
        let held = super::mobike::holds_move(sa, local, remote);
        if (sa.nat || local.port() == natt_port) && !held {
            super::nat::follow(sa, local, remote, natt_port, &mut self.out.kernel_out);
        }
        // RFC 7296 2.3: the peer's window, announced after the initial
        // exchanges start (IKE_AUTH) or later (INFORMATIONAL).
        if matches!(
            header.exchange,
            ExchangeType::IKE_AUTH | ExchangeType::INFORMATIONAL
        ) {
            if let Some(n) = window::announced(&payloads) {
                // A smaller value is undefined (there is no way to shrink a
                // window): keep the larger one.
                sa.send.peer = sa.send.peer.max(n);
            }
        }
        if is_response {
            let Some(pos) = sa.pending.iter().position(|p| p.message_id == id) else {
                return;
            };
            let p = sa.pending.remove(pos);
            super::sa::free_if_empty(&mut sa.pending);
            drop_stale_partials(sa);
            self.response(now, h, p.kind, payloads);
        } else {
            sa.recv.accept(id);
            drop_stale_partials(sa);
            self.request(now, h, header.exchange, id, payloads);
        }
    }

    /// An authentic request whose inner payloads do not parse (whole or
    /// reassembled from RFC 7383 fragments): the peer gets INVALID_SYNTAX,
    /// or UNSUPPORTED_CRITICAL_PAYLOAD naming the type (RFC 7296 2.21.2,
    /// 2.5), and the message ID is used up. Nothing of a failed IKE_AUTH
    /// stays: the half-open SA goes, so no later IKE_AUTH can complete on
    /// keys the peer has already shown it misuses.
    fn refuse_malformed(
        &mut self,
        now: Instant,
        h: u64,
        remote: SocketAddr,
        exchange: ExchangeType,
        id: u32,
        e: OpenError,
    ) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let (code, data) = match e {
            OpenError::UnsupportedCritical(t) => {
                (NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD, vec![t.0])
            }
            _ => (NotifyType::INVALID_SYNTAX, Vec::new()),
        };
        sa.recv.accept(id);
        self.note_drop(
            now,
            DropReason::Malformed,
            remote,
            format_args!("authentic {exchange} request {id} does not parse; answered {code}"),
        );
        self.send_response(h, exchange, id, vec![notify(code, data)]);
        if exchange == ExchangeType::IKE_AUTH {
            self.remove_sa(h, super::DownReason::Failed);
        }
    }

    fn response(&mut self, now: Instant, h: u64, kind: PendingKind, payloads: Vec<Payload>) {
        match kind {
            PendingKind::Init { .. } => {}
            PendingKind::Auth { child } => self.auth_response(now, h, child, payloads),
            PendingKind::Child(req) => self.child_response(now, h, req, payloads),
            PendingKind::RekeyIke {
                new_spi,
                ni,
                ke,
                group,
            } => self.rekey_ike_response(now, h, new_spi, ni, ke, group, payloads),
            PendingKind::Delete { children } => self.delete_response(now, h, children, payloads),
            PendingKind::Dpd | PendingKind::AnnounceWindow => {}
            PendingKind::Mobike(r) => self.mobike_response(h, *r, payloads),
        }
    }

    fn request(
        &mut self,
        now: Instant,
        h: u64,
        exchange: ExchangeType,
        id: u32,
        payloads: Vec<Payload>,
    ) {
        match exchange {
            ExchangeType::IKE_AUTH => self.auth_request(now, h, id, payloads),
            ExchangeType::CREATE_CHILD_SA => self.child_request(now, h, id, payloads),
            ExchangeType::INFORMATIONAL => self.info_request(now, h, id, payloads),
            // Exchanges we do not implement: answer so the peer's window
            // moves on (RFC 7296 2.21.4 has no better notify).
            other => {
                self.send_response(
                    h,
                    other,
                    id,
                    vec![notify(NotifyType::INVALID_SYNTAX, Vec::new())],
                );
            }
        }
    }
}

/// Forgets partial messages whose message ID left the window: requests
/// accepted already or no longer acceptable, responses to requests no
/// longer pending (answered, or given up on).
fn drop_stale_partials(sa: &mut IkeSa) {
    if sa.reassembly.is_empty() {
        return;
    }
    let IkeSa {
        reassembly,
        recv,
        pending,
        ..
    } = sa;
    reassembly.retain_wanted(|id, response| {
        if response {
            pending.iter().any(|p| p.message_id == id)
        } else {
            recv.classify(id) == Incoming::New
        }
    });
}
