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
//!
//! Rekeys without loss (issue 20). Linux (PF_KEY and XFRM alike) sends
//! with the newest outbound SA as soon as it is added, and the peer can
//! receive on the new SA only once it got our answer and installed its
//! inbound SA. So as responder of a child rekey we add the new inbound SA
//! at once and answer when it is in, but add the new outbound SA only when
//! the old child's DELETE arrives (the peer has switched) or
//! `OUTBOUND_SWITCH_DELAY` after our answer, whichever comes first; the
//! old SAs go when that DELETE arrives, so the old inbound SA stays while
//! the peer may still use it. The new child holds its policy references
//! from the answer on, so the old one's removal never pulls the policies.
//! `ChildUp` follows once the outbound SA is in too. As initiator of a
//! rekey the peer has installed both its SAs before answering, so both of
//! ours go in at once; we delete the old child after that, and its inbound
//! SA goes when the peer confirmed the DELETE. FreeBSD prefers the oldest
//! SA by default (`net.key.preferred_oldsa`), where the order is harmless
//! either way; the rule is the same for every kernel.

use std::time::{Duration, Instant};

use crate::crypto::Secret;
use crate::wire::consts::{ExchangeType, NotifyType, ProtocolId};

use super::api::{Direction, Event, FailReason, IkeSaId, KernelRequest, SaParams};
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

/// Longest wait, after answering a peer's child rekey, before our new
/// outbound SA goes in without the old child's DELETE: long enough for the
/// peer to retransmit its request once if our answer was lost (first
/// retransmissions come after 0.5 to 4 s in common implementations), short
/// against any child lifetime. Until then the old outbound SA serves, which
/// the peer keeps accepting until it deletes the old child.
pub(super) const OUTBOUND_SWITCH_DELAY: Duration = Duration::from_secs(5);

fn host_ts(addr: std::net::IpAddr) -> TrafficSelector {
    TrafficSelector::host(addr)
}

impl Engine {
    /// Hands a negotiated child to the kernel; it is tracked as
    /// `Installing` until the kernel confirmed both SAs. `answer`: as
    /// responder, our answer, held until then; with a responder's rekey
    /// the outbound SA waits (see the module notes).
    pub(super) fn install_child(
        &mut self,
        now: Instant,
        h: u64,
        c: NewChild,
        answer: Option<HeldAnswer>,
        old_marked: bool,
    ) {
        let timeout = self.cfg.kernel_timeout;
        let responder = answer.is_some();
        // Our own rekey whose old child is not ours to delete: it lost a
        // collision (`child_response`), so it is redundant.
        let redundant = !responder && c.rekey_of.is_some() && !old_marked;
        let defer_out = (responder && c.rekey_of.is_some()) || redundant;
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let Some(keys) = sa.keys() else {
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
        // Exactly one more slot: a first push would reserve four (issue 12,
        // 400 bytes per IKE SA that has a single child).
        sa.children.reserve_exact(1);
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
            policies: false,
            kernel_at: None,
            install: Some(Box::new(Install {
                waiting: [None, None],
                deadline: now + timeout,
                answer,
                responder,
                rekey_of: c.rekey_of,
                old_marked,
                deferred_out: None,
                redundant,
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
        let req_in = self.ep.request_id();
        let req_out = self.ep.request_id();
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
        self.out.kernel_out.push_back(KernelRequest::UpdateSa(base(
            req_in,
            Direction::Inbound,
            c.spi_in,
            rip,
            lip,
            in_e,
            in_i,
            encap.map(|(l, r)| (r, l)),
        )));
        let out = base(
            req_out,
            Direction::Outbound,
            c.spi_out,
            lip,
            rip,
            out_e,
            out_i,
            encap,
        );
        self.ep
            .kernel_pending
            .insert(req_in, (h, KernelPurpose::Install(c.spi_in)));
        let mut deferred_out = None;
        if defer_out {
            deferred_out = Some(Box::new(out));
        } else {
            self.out.kernel_out.push_back(KernelRequest::AddSa(out));
            self.ep
                .kernel_pending
                .insert(req_out, (h, KernelPurpose::Install(c.spi_in)));
        }
        if let Some(i) = self
            .ep
            .sas
            .get_mut(&h)
            .and_then(|s| s.child_by_in(c.spi_in))
            .and_then(|c| c.install.as_deref_mut())
        {
            let out_waits = deferred_out.is_none().then_some(req_out);
            i.waiting = [Some(req_in), out_waits];
            i.deferred_out = deferred_out;
        }
    }

    /// Adds the deferred outbound SA of child `spi_in` (a rekey we
    /// answered): the old child's DELETE came, or the delay is over.
    fn switch_outbound(&mut self, now: Instant, h: u64, spi_in: u32) {
        let timeout = self.cfg.kernel_timeout;
        let request = self.ep.request_id();
        let Some(i) = self
            .ep
            .sas
            .get_mut(&h)
            .and_then(|s| s.child_by_in(spi_in))
            .and_then(|c| c.install.as_deref_mut())
        else {
            return;
        };
        let Some(mut out) = i.deferred_out.take() else {
            return;
        };
        out.request = request;
        i.waiting[1] = Some(request);
        i.deadline = now + timeout;
        self.out.kernel_out.push_back(KernelRequest::AddSa(*out));
        self.ep
            .kernel_pending
            .insert(request, (h, KernelPurpose::Install(spi_in)));
    }

    /// Child `old` is about to go: a rekey of it we answered switches its
    /// outbound SA now, before the old SAs are deleted.
    pub(super) fn old_child_leaving(&mut self, now: Instant, h: u64, old: u32) {
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        let waiting: Vec<u32> = sa
            .children
            .iter()
            .filter(|c| {
                c.install.as_ref().is_some_and(|i| {
                    i.rekey_of == Some(old)
                        && i.deferred_out.is_some()
                        && i.waiting == [None, None]
                        && !i.redundant
                })
            })
            .map(|c| c.spi_in)
            .collect();
        for spi_in in waiting {
            self.switch_outbound(now, h, spi_in);
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
            .ep
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

    /// Installs whose kernel answers are overdue count as refused;
    /// deferred outbound SAs whose delay is over go in.
    pub(super) fn install_timeouts(&mut self, now: Instant, h: u64) {
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        let overdue: Vec<(u32, bool)> =
            sa.children
                .iter()
                .filter_map(|c| {
                    // A redundant child's outbound SA never goes in: once its
                    // inbound SA is in, nothing of it is due.
                    let i = c.install.as_ref().filter(|i| {
                        i.deadline <= now && !(i.redundant && i.waiting == [None, None])
                    })?;
                    let switch = i.deferred_out.is_some() && i.waiting == [None, None];
                    Some((c.spi_in, switch))
                })
                .collect();
        for (spi_in, switch) in overdue {
            if switch {
                log::info!(
                    "CHILD_SA {spi_in:08x}: no DELETE of the old child within {OUTBOUND_SWITCH_DELAY:?}, switching outbound"
                );
                self.switch_outbound(now, h, spi_in);
                continue;
            }
            log::warn!(
                "kernel did not confirm the SAs of CHILD_SA {spi_in:08x} within {:?}",
                self.cfg.kernel_timeout
            );
            self.install_failed(now, h, spi_in);
        }
    }

    /// Every SA requested for child `spi_in` so far is in the kernel.
    fn install_done(&mut self, now: Instant, h: u64, spi_in: u32) {
        let Some(c) = self.ep.sas.get_mut(&h).and_then(|s| s.child_by_in(spi_in)) else {
            return;
        };
        if c.state != ChildState::Installing {
            // Deleted meanwhile (our rekey lost a collision): never up. A
            // redundant child keeps its record: its deletion must not ask
            // for the outbound SA that was never added.
            if !c.install.as_ref().is_some_and(|i| i.redundant) {
                c.install = None;
            }
            return;
        }
        let Some(inst) = c.install.as_deref_mut() else {
            return;
        };
        if inst.redundant {
            // Its DELETE is queued; it never comes up.
            return;
        }
        let (rekey_of, old_marked) = (inst.rekey_of, inst.old_marked);
        let responder = inst.responder;
        if let Some(a) = inst.answer.take() {
            if a.completes_auth {
                self.complete_parked_auth(now, h);
            }
            let mut out = a.head;
            out.extend(a.child);
            if !self.send_response(h, a.exchange, a.message_id, out) {
                // The peer got an error answer instead: no child; an IKE
                // SA whose IKE_AUTH answer failed goes too.
                self.drop_unannounced_child(h, spi_in);
                if let Some(old) = rekey_of.filter(|_| old_marked) {
                    self.restore_old_child(now, h, old);
                }
                if a.completes_auth {
                    self.remove_sa(h, super::DownReason::Failed);
                }
                return;
            }
        }
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let old_alive = rekey_of.is_some_and(|o| sa.children.iter().any(|c| c.spi_in == o));
        let Some(inst) = sa
            .child_by_in(spi_in)
            .and_then(|c| c.install.as_deref_mut())
        else {
            return;
        };
        if inst.deferred_out.is_some() {
            // Our answer to the peer's rekey is out; the policies pass to
            // the new child now, and our outbound SA waits for the peer.
            inst.deadline = now + OUTBOUND_SWITCH_DELAY;
            self.take_policies(h, spi_in);
            if !old_alive {
                self.switch_outbound(now, h, spi_in);
            }
            return;
        }
        if let Some(c) = self.ep.sas.get_mut(&h).and_then(|s| s.child_by_in(spi_in)) {
            c.install = None;
        }
        self.child_up(now, h, spi_in, rekey_of);
        let Some(old) = rekey_of else { return };
        if responder {
            // We answered the peer's rekey: it deletes the old child.
            self.after_peer_rekeyed_child(h, old);
        } else if old_marked {
            self.queue(now, h, Task::DeleteChild(old));
        }
    }

    /// Takes child `spi_in`'s references on its selectors, adding the
    /// kernel policies of pairs no other child uses yet.
    fn take_policies(&mut self, h: u64, spi_in: u32) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let (lip, rip, trap) = (sa.local.ip(), sa.remote.ip(), sa.policy.trap);
        let Some(c) = sa.child_by_in(spi_in) else {
            return;
        };
        // Trap policies are in the kernel already and stay there.
        if c.policies || trap {
            return;
        }
        c.policies = true;
        let (local_ts, remote_ts, mode) = (c.local_ts.clone(), c.remote_ts.clone(), c.mode);
        for l in &local_ts {
            for r in &remote_ts {
                let n = self.policy_refs.entry((*l, *r)).or_insert(0);
                *n += 1;
                if *n > 1 {
                    continue;
                }
                self.add_policy_pair(*l, *r, mode, lip, rip);
            }
        }
    }

    /// The child is in the kernel: add its policies, report it up.
    fn child_up(&mut self, now: Instant, h: u64, spi_in: u32, rekey_of: Option<u32>) {
        let Some(lt) = self.ep.sas.get(&h).map(|s| s.policy.child_lifetime) else {
            return;
        };
        let rekey_at = rekey_deadline(self.rng.as_mut(), now, &lt);
        self.take_policies(h, spi_in);
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let name = sa.policy.name.clone();
        let Some(c) = sa.child_by_in(spi_in) else {
            return;
        };
        c.state = ChildState::Installed;
        c.up = true;
        c.rekey_at = Some(rekey_at);
        self.out.events.push_back(Event::ChildUp {
            ike: IkeSaId(h),
            policy: name,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            local_ts: c.local_ts.clone(),
            remote_ts: c.remote_ts.clone(),
            mode: c.mode,
            suite: c.suite,
        });
        if let Some(old) = rekey_of {
            self.out.events.push_back(Event::ChildRekeyed {
                ike: IkeSaId(h),
                old_spi_in: old,
                new_spi_in: spi_in,
            });
        }
    }

    /// The kernel refused (or never confirmed) an SA of child `spi_in`.
    pub(super) fn install_failed(&mut self, now: Instant, h: u64, spi_in: u32) {
        let Some(c) = self.ep.sas.get_mut(&h).and_then(|s| s.child_by_in(spi_in)) else {
            return;
        };
        let Some(inst) = c.install.take() else { return };
        for r in inst.waiting.iter().flatten() {
            self.ep.kernel_pending.remove(r);
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
                // We answered already (as responder of a rekey whose
                // outbound SA was deferred) or are the initiator: the peer
                // has it; the DELETE exchange removes it on both sides
                // (and our SAs when answered).
                self.failed_event(h, FailReason::Kernel);
                self.queue(now, h, Task::DeleteChild(spi_in));
            }
        }
    }

    /// A rekey of child `old` failed after we had marked it replaced: it
    /// keeps serving, and is rekeyed again later.
    pub(super) fn restore_old_child(&mut self, now: Instant, h: u64, old: u32) {
        if let Some(o) = self.ep.sas.get_mut(&h).and_then(|s| s.child_by_in(old)) {
            if o.state == ChildState::Rekeyed {
                o.state = ChildState::Installed;
                o.replaced = false;
                o.rekey_at = Some(now + RETRY_REKEY);
            }
        }
    }

    /// Removes a child the peer was never told about, and its SAs.
    fn drop_unannounced_child(&mut self, h: u64, spi_in: u32) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let Some(pos) = sa.children.iter().position(|c| c.spi_in == spi_in) else {
            return;
        };
        let c = sa.children.remove(pos);
        // Deletes the inbound SA (installed or still larval) and the
        // outbound one; no policies, as it never came up.
        delete_child_requests(&mut self.out.kernel_out, &mut self.policy_refs, sa, &c);
    }

    /// We refused the peer's rekey of child `old` after all: a collision
    /// noted against our own rekey of it (RFC 7296 2.8.1) did not happen.
    pub(super) fn forget_peer_collision(&mut self, h: u64, old: u32) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
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
