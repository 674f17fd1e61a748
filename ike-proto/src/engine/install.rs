//! Handing a negotiated CHILD_SA to the kernel, and what happens when the
//! kernel confirms or refuses it (issue 12: never tell a peer about a
//! CHILD_SA the kernel did not take).
//!
//! The inbound SA (UPDATE of the larval SA that GETSPI made) and the
//! outbound SA (ADD) are requested together; the child is `Installing`.
//!
//! Both confirmed: as responder the answer (IKE_AUTH or CREATE_CHILD_SA)
//! goes out only now; in both roles the kernel policies are added (for the
//! first child that uses a pair of selectors) and `ChildUp` is reported.
//! Policies come after the SAs so that a failed install has none to undo.
//!
//! Either refused, or no answer within `Config::kernel_timeout`:
//! - responder: the child's SAs (and with them its larval SPI) are removed
//!   and the answer goes out as an error (`refusal_notify`); after IKE_AUTH
//!   the IKE SA stands without the child (RFC 7296 1.2, 2.21.3);
//! - initiator: the peer installed the child already when it answered, so
//!   we delete it with the peer (INFORMATIONAL DELETE), which removes what
//!   we installed when answered; a rekey is tried again later.
//!
//! A retransmission of the peer's request meanwhile is dropped (the window
//! marks it accepted and there is no cached answer yet, RFC 7296 2.1 lets
//! a responder be slow): no second install; the answer goes out once and
//! is cached for later retransmissions.

use std::time::Instant;

use crate::crypto::Secret;
use crate::wire::consts::{ExchangeType, NotifyType, ProtocolId};

use super::api::{Direction, Event, FailReason, IkeSaId, KernelRequest, PolicyParams, SaParams};
use super::child::RETRY_REKEY;
use super::kernel::{delete_child_requests, NewChild};
use super::keys::child_keys;
use super::lifetime::rekey_deadline;
use super::sa::{Child, ChildState, HeldAnswer, Install, PendingKind, Task};
use super::ts::TrafficSelector;
use super::{notify, Engine, KernelPurpose};

/// The error notify a responder answers with when the kernel did not take
/// the child it negotiated.
///
/// - IKE_AUTH: NO_PROPOSAL_CHOSEN. RFC 7296 2.21.3 lists the notifies that
///   refuse only the CHILD_SA of an IKE_AUTH (the IKE SA stays up);
///   NO_PROPOSAL_CHOSEN is the one any peer handles, and none of the
///   others (TS_UNACCEPTABLE, SINGLE_PAIR_REQUIRED, the address and CP
///   ones) describes a local failure. A notify outside that list could
///   make the peer drop the IKE SA as well.
/// - CREATE_CHILD_SA: TEMPORARY_FAILURE. The condition is ours and
///   passing (a full SA table, a busy broker), not a mismatch of
///   proposals: TEMPORARY_FAILURE (RFC 7296 2.25) tells the initiator to
///   try again later, which for a rekey keeps the old child in service
///   until the retry; NO_PROPOSAL_CHOSEN could make it give the rekey up.
///   Both answers are what the engine already sends when the kernel
///   refuses the SPI for the same exchanges.
pub(super) fn refusal_notify(exchange: ExchangeType) -> NotifyType {
    if exchange == ExchangeType::IKE_AUTH {
        NotifyType::NO_PROPOSAL_CHOSEN
    } else {
        NotifyType::TEMPORARY_FAILURE
    }
}

fn host_ts(addr: std::net::IpAddr) -> TrafficSelector {
    TrafficSelector::host(addr)
}

impl Engine {
    /// Hands a negotiated child to the kernel; it is tracked as
    /// `Installing` until the kernel confirmed both SAs. `answer`: as
    /// responder, our answer, held until then.
    pub(super) fn install_child(
        &mut self,
        now: Instant,
        h: u64,
        c: NewChild,
        answer: Option<HeldAnswer>,
        old_marked: bool,
    ) {
        let timeout = self.cfg.kernel_timeout;
        let Some(sa) = self.sas.get_mut(&h) else {
            return;
        };
        let Some(keys) = sa.keys.as_deref() else {
            return;
        };
        let km = child_keys(
            keys.prf,
            keys.sk_d.as_bytes(),
            &c.suite,
            c.g_ir.as_ref().map(|s| s.as_bytes()),
            &c.ni,
            &c.nr,
        );
        let lt = sa.policy.child_lifetime;
        sa.children.push(Child {
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            suite: c.suite,
            local_ts: c.local_ts.clone(),
            remote_ts: c.remote_ts.clone(),
            mode: c.mode,
            rekey_at: None,
            hard_at: now + lt.hard,
            state: ChildState::Installing,
            replaced: false,
            expiring: false,
            collision: None,
            up: false,
            install: Some(Box::new(Install {
                waiting: [None, None],
                deadline: now + timeout,
                answer,
                rekey_of: c.rekey_of,
                old_marked,
            })),
        });
        let Ok(km) = km else {
            log::error!("CHILD_SA key derivation failed");
            self.install_failed(now, h, c.spi_in);
            return;
        };
        // The exchange initiator's outbound SA uses the first keys.
        let (out_e, out_i, in_e, in_i) = if c.we_initiated {
            (km.encr_i, km.integ_i, km.encr_r, km.integ_r)
        } else {
            (km.encr_r, km.integ_r, km.encr_i, km.integ_i)
        };
        let (lip, rip) = (sa.local.ip(), sa.remote.ip());
        let encap = sa.nat.then_some((sa.local.port(), sa.remote.port()));
        let first_l = c.local_ts.first().copied().unwrap_or_else(|| host_ts(lip));
        let first_r = c.remote_ts.first().copied().unwrap_or_else(|| host_ts(rip));
        let req_in = self.request_id();
        let req_out = self.request_id();
        let base = |request, direction, spi, src, dst, e: Secret, i: Secret, encap| SaParams {
            request,
            direction,
            protocol: ProtocolId::ESP,
            spi,
            src,
            dst,
            mode: c.mode,
            encr: c.suite.encr,
            encr_key: e,
            integ: c.suite.integ,
            integ_key: i,
            esn: c.suite.esn,
            replay_window: 64,
            soft_lifetime: lt.rekey,
            hard_lifetime: lt.hard,
            encap,
            local_ts: first_l,
            remote_ts: first_r,
        };
        self.kernel_out.push_back(KernelRequest::UpdateSa(base(
            req_in,
            Direction::Inbound,
            c.spi_in,
            rip,
            lip,
            in_e,
            in_i,
            encap.map(|(l, r)| (r, l)),
        )));
        self.kernel_out.push_back(KernelRequest::AddSa(base(
            req_out,
            Direction::Outbound,
            c.spi_out,
            lip,
            rip,
            out_e,
            out_i,
            encap,
        )));
        for r in [req_in, req_out] {
            self.kernel_pending
                .insert(r, (h, KernelPurpose::Install(c.spi_in)));
        }
        if let Some(i) = self
            .sas
            .get_mut(&h)
            .and_then(|s| s.child_by_in(c.spi_in))
            .and_then(|c| c.install.as_deref_mut())
        {
            i.waiting = [Some(req_in), Some(req_out)];
        }
    }

    /// The kernel's answer to one of the install requests of child
    /// `spi_in` of `h`.
    pub(super) fn install_result(
        &mut self,
        now: Instant,
        h: u64,
        spi_in: u32,
        request: super::api::RequestId,
        ok: bool,
    ) {
        let Some(i) = self
            .sas
            .get_mut(&h)
            .and_then(|s| s.child_by_in(spi_in))
            .and_then(|c| c.install.as_deref_mut())
        else {
            return; // failed or removed meanwhile
        };
        for w in i.waiting.iter_mut() {
            if *w == Some(request) {
                *w = None;
            }
        }
        if !ok {
            log::warn!("kernel refused an SA of CHILD_SA {spi_in:08x}");
            self.install_failed(now, h, spi_in);
        } else if i.waiting.iter().all(Option::is_none) {
            self.install_done(now, h, spi_in);
        }
    }

    /// Installs whose kernel answers are overdue count as refused.
    pub(super) fn install_timeouts(&mut self, now: Instant, h: u64) {
        let Some(sa) = self.sas.get(&h) else { return };
        let overdue: Vec<u32> = sa
            .children
            .iter()
            .filter(|c| c.install.as_ref().is_some_and(|i| i.deadline <= now))
            .map(|c| c.spi_in)
            .collect();
        for spi_in in overdue {
            log::warn!(
                "kernel did not confirm the SAs of CHILD_SA {spi_in:08x} within {:?}",
                self.cfg.kernel_timeout
            );
            self.install_failed(now, h, spi_in);
        }
    }

    /// Both SAs of child `spi_in` are in the kernel.
    fn install_done(&mut self, now: Instant, h: u64, spi_in: u32) {
        let Some(c) = self.sas.get_mut(&h).and_then(|s| s.child_by_in(spi_in)) else {
            return;
        };
        let Some(inst) = c.install.take() else { return };
        if c.state != ChildState::Installing {
            // Deleted meanwhile (our rekey lost a collision): never up.
            return;
        }
        let responder = inst.answer.is_some();
        if let Some(a) = inst.answer {
            if a.completes_auth {
                self.complete_parked_auth(now, h);
            }
            let mut out = a.head;
            out.extend(a.child);
            if !self.send_response(h, a.exchange, a.message_id, out) {
                // The peer got an error answer instead: no child; an IKE
                // SA whose IKE_AUTH answer failed goes too.
                self.drop_unannounced_child(h, spi_in);
                if let Some(old) = inst.rekey_of.filter(|_| inst.old_marked) {
                    self.restore_old_child(now, h, old);
                }
                if a.completes_auth {
                    self.remove_sa(h, super::DownReason::Failed);
                }
                return;
            }
        }
        self.child_up(now, h, spi_in, inst.rekey_of);
        let Some(old) = inst.rekey_of else { return };
        if responder {
            // We answered the peer's rekey: it deletes the old child.
            self.after_peer_rekeyed_child(h, old);
        } else if inst.old_marked {
            self.queue(now, h, Task::DeleteChild(old));
        }
    }

    /// The child is in the kernel: add its policies, report it up.
    fn child_up(&mut self, now: Instant, h: u64, spi_in: u32, rekey_of: Option<u32>) {
        let mut rng_deadline = None;
        if let Some(sa) = self.sas.get(&h) {
            let lt = sa.policy.child_lifetime;
            rng_deadline = Some(rekey_deadline(self.rng.as_mut(), now, &lt));
        }
        let Some(sa) = self.sas.get_mut(&h) else {
            return;
        };
        let (lip, rip, trap) = (sa.local.ip(), sa.remote.ip(), sa.policy.trap);
        let name = sa.policy.name.clone();
        let Some(c) = sa.child_by_in(spi_in) else {
            return;
        };
        c.state = ChildState::Installed;
        c.up = true;
        c.rekey_at = rng_deadline;
        let c = c.clone();
        // Trap policies are in the kernel already and stay there; the
        // others come with the first child that uses them.
        if !trap {
            for l in &c.local_ts {
                for r in &c.remote_ts {
                    let n = self.policy_refs.entry((*l, *r)).or_insert(0);
                    *n += 1;
                    if *n > 1 {
                        continue;
                    }
                    for direction in [Direction::Outbound, Direction::Inbound] {
                        let request = self.request_id();
                        self.kernel_out
                            .push_back(KernelRequest::AddPolicy(PolicyParams {
                                request,
                                direction,
                                local_ts: *l,
                                remote_ts: *r,
                                mode: c.mode,
                                local: lip,
                                remote: rip,
                            }));
                    }
                }
            }
        }
        self.events.push_back(Event::ChildUp {
            ike: IkeSaId(h),
            policy: name,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            local_ts: c.local_ts,
            remote_ts: c.remote_ts,
            mode: c.mode,
            suite: c.suite,
        });
        if let Some(old) = rekey_of {
            self.events.push_back(Event::ChildRekeyed {
                ike: IkeSaId(h),
                old_spi_in: old,
                new_spi_in: spi_in,
            });
        }
    }

    /// The kernel refused (or never confirmed) an SA of child `spi_in`.
    pub(super) fn install_failed(&mut self, now: Instant, h: u64, spi_in: u32) {
        let Some(c) = self.sas.get_mut(&h).and_then(|s| s.child_by_in(spi_in)) else {
            return;
        };
        let Some(inst) = c.install.take() else { return };
        for r in inst.waiting.iter().flatten() {
            self.kernel_pending.remove(r);
        }
        if let Some(old) = inst.rekey_of.filter(|_| inst.old_marked) {
            self.restore_old_child(now, h, old);
        }
        match inst.answer {
            Some(a) => {
                // Responder: the peer knows nothing of this child yet.
                self.drop_unannounced_child(h, spi_in);
                if let Some(old) = inst.rekey_of {
                    self.forget_peer_collision(h, old);
                }
                if a.completes_auth {
                    self.complete_parked_auth(now, h);
                }
                self.failed_event(h, FailReason::Kernel);
                let mut out = a.head;
                out.push(notify(refusal_notify(a.exchange), Vec::new()));
                if !self.send_response(h, a.exchange, a.message_id, out) && a.completes_auth {
                    self.remove_sa(h, super::DownReason::Failed);
                }
            }
            None => {
                // Initiator: the peer has it; the DELETE exchange removes
                // it on both sides (and our SAs when answered).
                self.failed_event(h, FailReason::Kernel);
                self.queue(now, h, Task::DeleteChild(spi_in));
            }
        }
    }

    /// A rekey of child `old` failed after we had marked it replaced: it
    /// keeps serving, and is rekeyed again later.
    pub(super) fn restore_old_child(&mut self, now: Instant, h: u64, old: u32) {
        if let Some(o) = self.sas.get_mut(&h).and_then(|s| s.child_by_in(old)) {
            if o.state == ChildState::Rekeyed {
                o.state = ChildState::Installed;
                o.replaced = false;
                o.rekey_at = Some(now + RETRY_REKEY);
            }
        }
    }

    /// Removes a child the peer was never told about, and its SAs.
    fn drop_unannounced_child(&mut self, h: u64, spi_in: u32) {
        let Some(sa) = self.sas.get_mut(&h) else {
            return;
        };
        let Some(pos) = sa.children.iter().position(|c| c.spi_in == spi_in) else {
            return;
        };
        let c = sa.children.remove(pos);
        // Deletes the inbound SA (installed or still larval) and the
        // outbound one; no policies, as it never came up.
        delete_child_requests(&mut self.kernel_out, &mut self.policy_refs, sa, &c);
    }

    /// We refused the peer's rekey of child `old` after all: a collision
    /// noted against our own rekey of it (RFC 7296 2.8.1) did not happen.
    pub(super) fn forget_peer_collision(&mut self, h: u64, old: u32) {
        let Some(sa) = self.sas.get_mut(&h) else {
            return;
        };
        for k in sa.requests_mut() {
            if let PendingKind::Child(req) = k {
                if req.rekey_of == Some(old) {
                    req.collision = None;
                }
            }
        }
        if let Some(c) = sa.child_by_in(old) {
            c.collision = None;
        }
    }
}
