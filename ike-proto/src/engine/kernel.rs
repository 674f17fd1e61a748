//! Kernel requests and events: SPIs, parked responder answers, policies,
//! EXPIRE and ACQUIRE.
//!
//! Order for a new CHILD_SA: the kernel allocates our inbound SPI (GETSPI),
//! the exchange completes, then the inbound SA is completed (UPDATE) and
//! the outbound SA added (ADD); once the kernel confirmed both, the
//! policies are added (`install.rs`). ESP keys exist only in these
//! requests.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::crypto::Secret;
use crate::wire::consts::{ExchangeType, NotifyType, ProtocolId};
use crate::wire::ke::KeyExchange as KePayload;
use crate::wire::Payload;

use super::api::{
    ChildSuite, Direction, DownReason, Event, FailReason, IkeSaId, KernelEvent, KernelRequest,
    PolicyParams,
};
use super::config::Encapsulation;
use super::config::Policy;
use super::sa::{Child, ChildState, HeldAnswer, IkeSa, Phase, Task};
use super::ts::{self, TrafficSelector};
use super::{notify, Engine, KernelPurpose};

/// Everything needed to install one negotiated CHILD_SA.
pub(crate) struct NewChild {
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: ChildSuite,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Encapsulation,
    /// PFS shared secret of the exchange, if any.
    pub g_ir: Option<Secret>,
    /// Nonces of the exchange that created the child.
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    /// We were the initiator of that exchange (decides which half of
    /// KEYMAT protects which direction, RFC 7296 2.17).
    pub we_initiated: bool,
    pub rekey_of: Option<u32>,
}

/// How many live CHILD_SAs (of any IKE SA) use each pair of selectors:
/// the kernel policies are added with the first and deleted with the last,
/// so a rekey, a duplicate IKE SA or a second child never pulls them from
/// under another child.
pub(crate) type PolicyRefs = HashMap<(TrafficSelector, TrafficSelector), u32>;

/// Requests that remove a child's SAs, and its policies if it was their
/// last user (trap policies stay).
pub(crate) fn delete_child_requests(
    out: &mut VecDeque<KernelRequest>,
    refs: &mut PolicyRefs,
    sa: &IkeSa,
    c: &Child,
) {
    // MOBIKE: where the kernel has them (a return routability check may
    // still hold them at the old addresses).
    let (local, remote) = super::mobike::kernel_ends(sa, c);
    out.push_back(KernelRequest::DeleteSa {
        protocol: ProtocolId::ESP,
        spi: c.spi_in,
        src: remote,
        dst: local,
    });
    // A deferred outbound SA (our answer to the peer's rekey, issue 20) was
    // never added: deleting it would be refused by the broker as not ours
    // (seen in tests/soak when a simultaneous rekey removed such a child).
    if c.install.as_ref().is_none_or(|i| i.deferred_out.is_none()) {
        out.push_back(KernelRequest::DeleteSa {
            protocol: ProtocolId::ESP,
            spi: c.spi_out,
            src: local,
            dst: remote,
        });
    }
    // Trap policies stay; a child that never came up added none.
    if sa.policy.trap || !c.policies {
        return;
    }
    for l in &c.local_ts {
        for r in &c.remote_ts {
            let key = (*l, *r);
            match refs.get_mut(&key) {
                Some(n) if *n > 1 => *n -= 1,
                _ => {
                    refs.remove(&key);
                    for direction in [Direction::Outbound, Direction::Inbound] {
                        out.push_back(KernelRequest::DeletePolicy {
                            direction,
                            local_ts: *l,
                            remote_ts: *r,
                        });
                    }
                }
            }
        }
    }
}

impl Engine {
    /// Gives back an allocated inbound SPI that will not be used.
    pub(super) fn release_spi(&mut self, h: u64, spi: u32) {
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        self.out.kernel_out.push_back(KernelRequest::DeleteSa {
            protocol: ProtocolId::ESP,
            spi,
            src: sa.remote.ip(),
            dst: sa.local.ip(),
        });
    }

    /// A child negotiation of ours failed: release its SPI, tell the log.
    pub(super) fn child_failed(&mut self, h: u64, spi_in: u32, reason: FailReason) {
        self.release_spi(h, spi_in);
        self.failed_event(h, reason);
    }

    /// Removes a child from the SA and its SAs from the kernel. Policies go
    /// too unless another child of this IKE SA still covers the same pair.
    pub(super) fn child_gone(
        &mut self,
        now: Instant,
        h: u64,
        spi_in: u32,
        reason: DownReason,
        kernel: bool,
    ) {
        // A rekey of it we answered gets its outbound SA first (issue 20).
        self.old_child_leaving(now, h, spi_in);
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let Some(pos) = sa.children.iter().position(|c| c.spi_in == spi_in) else {
            return;
        };
        let c = sa.children.remove(pos);
        if kernel {
            delete_child_requests(&mut self.out.kernel_out, &mut self.policy_refs, sa, &c);
        }
        if let Some(i) = &c.install {
            for r in i.waiting.iter().flatten() {
                self.ep.kernel_pending.remove(r);
            }
        }
        if !c.up {
            return; // never reported up
        }
        self.out.events.push_back(Event::ChildDown {
            ike: IkeSaId(h),
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            reason,
        });
    }

    /// Sends a parked responder answer now that the kernel gave the SPI.
    fn finish_parked(&mut self, now: Instant, h: u64, message_id: u32, spi: Option<u32>) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let Some(pos) = sa.parked.iter().position(|p| p.message_id == message_id) else {
            return;
        };
        let p = sa.parked.remove(pos);
        super::sa::free_if_empty(&mut sa.parked);
        let Some(spi) = spi else {
            // No SPI: the child cannot be created.
            let code = if p.exchange == ExchangeType::IKE_AUTH {
                NotifyType::NO_PROPOSAL_CHOSEN
            } else {
                NotifyType::TEMPORARY_FAILURE
            };
            let mut out = p.head;
            out.push(notify(code, Vec::new()));
            if let Some(old) = p.answer.rekey_of {
                if p.answer.old_marked {
                    self.restore_old_child(now, h, old);
                }
                self.forget_peer_collision(h, old);
            }
            if p.completes_auth {
                self.complete_parked_auth(now, h);
            }
            if !self.send_response(h, p.exchange, p.message_id, out) && p.completes_auth {
                self.remove_sa(h, DownReason::Failed);
            }
            return;
        };
        let a = p.answer;
        let mut proposal = a.proposal;
        proposal.spi = spi.to_be_bytes().to_vec();
        let mut child = Vec::new();
        if a.mode == Encapsulation::Transport {
            child.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        child.push(Payload::Sa(vec![proposal]));
        if p.exchange == ExchangeType::CREATE_CHILD_SA {
            child.push(Payload::Nonce(a.nr.clone()));
            if let Some((group, data)) = a.ke_public {
                child.push(Payload::Ke(KePayload { group, data }));
            }
        }
        child.push(Payload::TsI(ts::to_wire(&a.remote_ts)));
        child.push(Payload::TsR(ts::to_wire(&a.local_ts)));
        child.extend(p.tail);
        // The answer waits for the kernel (see `install.rs`).
        let held = HeldAnswer {
            message_id: p.message_id,
            exchange: p.exchange,
            head: p.head,
            child,
            completes_auth: p.completes_auth,
        };
        self.install_child(
            now,
            h,
            NewChild {
                spi_in: spi,
                spi_out: a.peer_spi,
                suite: a.suite,
                local_ts: a.local_ts,
                remote_ts: a.remote_ts,
                mode: a.mode,
                g_ir: a.g_ir,
                ni: a.ni,
                nr: a.nr,
                we_initiated: false,
                rekey_of: a.rekey_of,
            },
            Some(held),
            a.old_marked,
        );
    }

    pub(super) fn kernel_event(&mut self, now: Instant, ev: KernelEvent) {
        match ev {
            KernelEvent::SpiAllocated { request, spi } => {
                let addrs = self.ep.spi_requests.remove(&request);
                let Some((h, purpose)) = self.ep.kernel_pending.remove(&request) else {
                    // Nobody waits for it any more (the SA died): give it back.
                    if let Some((src, dst)) = addrs {
                        self.out.kernel_out.push_back(KernelRequest::DeleteSa {
                            protocol: ProtocolId::ESP,
                            spi,
                            src,
                            dst,
                        });
                    }
                    return;
                };
                match purpose {
                    KernelPurpose::AuthSpi => {
                        if let Some(a) = self.ep.sas.get_mut(&h).and_then(|s| s.auth_mut()) {
                            a.child_spi = Some(spi);
                            a.spi_request = None;
                        }
                        self.try_send_auth(now, h);
                    }
                    KernelPurpose::TaskSpi => {
                        let task = self.ep.sas.get_mut(&h).and_then(|s| {
                            let pos = s.spi_wait.iter().position(|(r, _)| *r == request)?;
                            let task = s.spi_wait.remove(pos).1;
                            super::sa::free_if_empty(&mut s.spi_wait);
                            Some(task)
                        });
                        if let Some(task) = task {
                            self.child_request_send(now, h, task, spi);
                        }
                    }
                    KernelPurpose::ParkedSpi(id) => self.finish_parked(now, h, id, Some(spi)),
                    KernelPurpose::Install(_) => {}
                }
                self.after_input(h, now);
            }
            KernelEvent::SpiRefused { request } => {
                self.ep.spi_requests.remove(&request);
                let Some((h, purpose)) = self.ep.kernel_pending.remove(&request) else {
                    return;
                };
                match purpose {
                    KernelPurpose::AuthSpi => {
                        if let Some(sa) = self.ep.sas.get(&h) {
                            self.out.events.push_back(Event::Failed {
                                ike: Some(IkeSaId(h)),
                                policy: Some(sa.policy.name.clone()),
                                remote: sa.remote,
                                reason: FailReason::NoSpi,
                            });
                        }
                        self.remove_sa(h, DownReason::Failed);
                    }
                    KernelPurpose::TaskSpi => {
                        if let Some(sa) = self.ep.sas.get_mut(&h) {
                            let pos = sa.spi_wait.iter().position(|(r, _)| *r == request);
                            let task = pos.map(|i| sa.spi_wait.remove(i).1);
                            super::sa::free_if_empty(&mut sa.spi_wait);
                            if let Some(Task::RekeyChild(old)) = task {
                                if let Some(c) = sa.child_by_in(old) {
                                    c.state = ChildState::Installed;
                                }
                            }
                        }
                    }
                    KernelPurpose::ParkedSpi(id) => self.finish_parked(now, h, id, None),
                    KernelPurpose::Install(_) => {}
                }
                self.after_input(h, now);
            }
            KernelEvent::Installed { request } | KernelEvent::Refused { request } => {
                let ok = matches!(ev, KernelEvent::Installed { .. });
                let Some((h, purpose)) = self.ep.kernel_pending.remove(&request) else {
                    return;
                };
                if let KernelPurpose::Install(spi_in) = purpose {
                    self.install_result(now, h, spi_in, request, ok);
                    self.after_input(h, now);
                }
            }
            KernelEvent::NatMapping { spi, dst, from } => self.nat_mapping(now, spi, dst, from),
            KernelEvent::Expire { spi, dst, hard } => {
                let found = self.ep.sas.iter().find_map(|(h, s)| {
                    s.children.iter().find_map(|c| {
                        let hit = (c.spi_in == spi && dst == s.local.ip())
                            || (c.spi_out == spi && dst == s.remote.ip());
                        hit.then_some((*h, c.spi_in, c.state))
                    })
                });
                let Some((h, spi_in, state)) = found else {
                    return;
                };
                if hard {
                    // RFC 4301: the SA is gone; drop the pair and tell the peer.
                    self.queue(now, h, Task::DeleteChild(spi_in));
                } else if state == ChildState::Installed {
                    self.queue(now, h, Task::RekeyChild(spi_in));
                }
            }
            KernelEvent::Acquire {
                local,
                remote,
                packet_src,
                packet_dst,
            } => {
                let policy = self
                    .cfg
                    .policies
                    .iter()
                    .find(|p| {
                        p.start != super::config::StartAction::Passive
                            && p.local_addr == Some(local)
                            && p.peer_addr == Some(remote)
                    })
                    .cloned();
                let Some(policy) = policy else { return };
                let up = self
                    .ep
                    .sas
                    .iter()
                    .find(|(_, s)| s.policy.name == policy.name && s.phase() == Phase::Established)
                    .map(|(h, s)| {
                        (
                            *h,
                            s.children.iter().any(|c| {
                                matches!(c.state, ChildState::Installed | ChildState::Installing)
                            }),
                        )
                    });
                match up {
                    Some((_, true)) => {}
                    Some((h, false)) => self.queue(now, h, Task::NewChild),
                    None => {
                        let pts = packet_src.zip(packet_dst);
                        self.initiate(now, policy, pts);
                    }
                }
            }
        }
    }
}

impl Engine {
    /// Removes the kernel policies of a `trap` policy, unless a live child
    /// of another (non-trap) policy still uses the same selectors: the trap
    /// holds one reference in `policy_refs` like such a child does.
    pub(super) fn remove_trap(&mut self, p: &Policy) {
        for l in &p.local_ts {
            for r in &p.peer_ts {
                match self.policy_refs.get_mut(&(*l, *r)) {
                    Some(n) if *n > 1 => {
                        *n -= 1;
                        continue;
                    }
                    _ => {
                        self.policy_refs.remove(&(*l, *r));
                    }
                }
                for direction in [Direction::Outbound, Direction::Inbound] {
                    self.out.kernel_out.push_back(KernelRequest::DeletePolicy {
                        direction,
                        local_ts: *l,
                        remote_ts: *r,
                    });
                }
            }
        }
    }

    /// Installs the kernel policies of a `trap` policy (both directions,
    /// every pair of configured selectors).
    ///
    /// The trap takes a reference in `policy_refs`: on reload a policy
    /// with a live child can become a trap while that child's DELETE is
    /// still under way; without the reference, the child's removal would
    /// then delete the kernel policies the trap needs (children of a trap
    /// add none of their own). The requests go out even when a child
    /// installed the selectors already, so the kernel entry takes the
    /// trap's settings (the broker replaces an existing entry).
    pub(super) fn install_trap(&mut self, p: &Policy) {
        let (Some(local), Some(remote)) = (p.local_addr, p.peer_addr) else {
            log::warn!("policy {}: a trap needs both addresses", p.name);
            return;
        };
        for l in &p.local_ts {
            for r in &p.peer_ts {
                *self.policy_refs.entry((*l, *r)).or_insert(0) += 1;
                self.add_policy_pair(*l, *r, p.mode, local, remote);
            }
        }
    }

    /// Kernel requests for the outbound and inbound policy of one pair of
    /// selectors between `local` and `remote` (children and traps alike).
    pub(super) fn add_policy_pair(
        &mut self,
        local_ts: TrafficSelector,
        remote_ts: TrafficSelector,
        mode: Encapsulation,
        local: std::net::IpAddr,
        remote: std::net::IpAddr,
    ) {
        for direction in [Direction::Outbound, Direction::Inbound] {
            let request = self.ep.request_id();
            self.out
                .kernel_out
                .push_back(KernelRequest::AddPolicy(PolicyParams {
                    request,
                    direction,
                    local_ts,
                    remote_ts,
                    mode,
                    local,
                    remote,
                }));
        }
    }
}
