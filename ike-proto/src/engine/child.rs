//! CREATE_CHILD_SA for CHILD_SAs: new ones, rekeys with or without PFS,
//! and simultaneous rekeys (RFC 7296 1.3, 2.8, 2.17). The IKE SA rekey is
//! in `ike_rekey.rs`.

use std::time::{Duration, Instant};

use crate::wire::consts::{DhGroup, ExchangeType, NotifyType, ProtocolId};
use crate::wire::ke::KeyExchange as KePayload;
use crate::wire::notify::Notify;
use crate::wire::Payload;

use super::api::FailReason;
use super::auth::{child_from_response, responder_child};
use super::config::Policy;
use super::keys;
use super::sa::{ChildAnswer, ChildReq, ChildState, Collision, Parked, PendingKind, Phase, Task};
use super::{find_notify, notify, proposal, ts, Engine, KernelPurpose};

/// Wait before retrying a rekey the peer refused for now (TEMPORARY_FAILURE).
pub(super) const RETRY_REKEY: Duration = Duration::from_secs(10);

/// The PFS group of our first CREATE_CHILD_SA attempt: the first group of
/// our first CHILD_SA proposal (none: no PFS).
fn first_pfs(policy: &Policy) -> Option<DhGroup> {
    policy
        .child_proposals
        .first()
        .and_then(|p| p.dh.first())
        .copied()
}

/// The group to retry a CREATE_CHILD_SA with after INVALID_KE_PAYLOAD: the
/// one the responder names, if we offered PFS, this was our first attempt
/// (so we retry once), and the group is one we allow and support.
fn pfs_retry_group(policy: &Policy, req: &ChildReq, payloads: &[Payload]) -> Option<DhGroup> {
    let n = find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD)?;
    let g = DhGroup(u16::from_be_bytes(
        <[u8; 2]>::try_from(n.data.as_slice()).ok()?,
    ));
    let first_try = req.pfs.is_some() && req.pfs == first_pfs(policy);
    let allowed = policy.child_proposals.iter().any(|p| p.dh.contains(&g));
    (first_try && req.pfs != Some(g) && allowed && keys::group(g).is_ok()).then_some(g)
}

pub(super) fn min_nonce<'a>(a: &'a [u8], b: &'a [u8]) -> Vec<u8> {
    a.min(b).to_vec()
}

impl Engine {
    /// First step of our CREATE_CHILD_SA: ask the kernel for an SPI.
    pub(super) fn child_task_start(&mut self, h: u64, task: Task) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if let Task::RekeyChild(spi) = task {
            match sa.child_by_in(spi) {
                Some(c) if c.state == ChildState::Installed => {
                    c.state = ChildState::Rekeying;
                    c.collision = None;
                }
                _ => return,
            }
        }
        let (src, dst) = (sa.remote.ip(), sa.local.ip());
        let request = self.ep.request_id();
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        sa.spi_wait.push((request, task));
        self.request_spi(request, h, KernelPurpose::TaskSpi, src, dst);
    }

    /// Second step: the SPI is there, send the request.
    pub(super) fn child_request_send(&mut self, now: Instant, h: u64, task: Task, spi_in: u32) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if sa.phase() != Phase::Established {
            self.release_spi(h, spi_in);
            return;
        }
        let policy = sa.policy.clone();
        let mut collision = None;
        let (local_ts, remote_ts, mode, rekey_of) = match task {
            Task::RekeyChild(old) => match sa.child_by_in(old) {
                // A rekey keeps the selectors and mode (RFC 7296 2.8).
                Some(c) if c.state == ChildState::Rekeying => {
                    // The peer's rekey of it may have arrived meanwhile.
                    collision = c.collision.take().map(|x| x.peer_min_nonce);
                    (c.local_ts.clone(), c.remote_ts.clone(), c.mode, Some(old))
                }
                _ => {
                    self.release_spi(h, spi_in);
                    return;
                }
            },
            _ => (
                policy.local_ts.clone(),
                policy.peer_ts.clone(),
                policy.mode,
                None,
            ),
        };
        let offer = proposal::child_offer(&policy.child_proposals, spi_in, true);
        let req = ChildReq {
            spi_in,
            offer,
            local_ts,
            remote_ts,
            mode,
            ni: Vec::new(),
            ke: None,
            pfs: first_pfs(&policy),
            rekey_of,
            collision,
        };
        self.child_request_out(now, h, req);
    }

    /// Sends our CREATE_CHILD_SA for `req` with a fresh nonce and, with
    /// PFS, a fresh key exchange of `req.pfs`.
    fn child_request_out(&mut self, now: Instant, h: u64, mut req: ChildReq) {
        req.ke = None;
        if let Some(g) = req.pfs {
            match keys::group(g)
                .ok()
                .and_then(|cg| self.kex.start(cg, &self.sys_rng).ok())
            {
                Some(k) => req.ke = Some(k),
                None => {
                    self.release_spi(h, req.spi_in);
                    return;
                }
            }
        }
        req.ni = self.nonce();
        let mut payloads = Vec::new();
        if let Some(old) = req.rekey_of {
            let mut n = Notify::new(NotifyType::REKEY_SA, Vec::new());
            n.protocol = ProtocolId::ESP;
            n.spi = old.to_be_bytes().to_vec();
            payloads.push(Payload::Notify(n));
        }
        if req.mode == super::config::Encapsulation::Transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        payloads.push(Payload::Sa(req.offer.clone()));
        payloads.push(Payload::Nonce(req.ni.clone()));
        if let (Some(g), Some(k)) = (req.pfs, req.ke.as_ref()) {
            payloads.push(Payload::Ke(KePayload {
                group: g,
                data: k.public_value().to_vec(),
            }));
        }
        payloads.push(Payload::TsI(ts::to_wire(&req.local_ts)));
        payloads.push(Payload::TsR(ts::to_wire(&req.remote_ts)));
        self.send_request(
            now,
            h,
            ExchangeType::CREATE_CHILD_SA,
            payloads,
            PendingKind::Child(req),
        );
    }

    /// Our CREATE_CHILD_SA with inbound SPI `spi_in` failed (refused, or
    /// never sent): the SPI goes back; the child it would have replaced
    /// (`rekey_of`) is rekeyed again later (or deleted at its hard
    /// lifetime), unless the peer's rekey of it (`collided`) went through.
    pub(super) fn child_request_failed(
        &mut self,
        now: Instant,
        h: u64,
        spi_in: u32,
        rekey_of: Option<u32>,
        collided: bool,
        reason: FailReason,
    ) {
        self.child_failed(h, spi_in, reason);
        let Some(old) = rekey_of else { return };
        if let Some(c) = self.ep.sas.get_mut(&h).and_then(|s| s.child_by_in(old)) {
            if collided {
                // The peer's rekey of this child went through
                // while ours failed: it will delete the old one.
                c.state = ChildState::Rekeyed;
                c.replaced = true;
            } else {
                c.state = ChildState::Installed;
                c.rekey_at = Some(now + RETRY_REKEY);
            }
        }
    }

    /// The answer to our CREATE_CHILD_SA (new child or child rekey).
    pub(super) fn child_response(
        &mut self,
        now: Instant,
        h: u64,
        req: ChildReq,
        payloads: Vec<Payload>,
    ) {
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        let policy = sa.policy.clone();
        if let Some(g) = pfs_retry_group(&policy, &req, &payloads) {
            // RFC 7296 1.3.1 (as 1.2): the responder wants another PFS group
            // that we allow too; try once more with it, fresh nonce and key
            // exchange, same SPI, selectors and proposals.
            log::info!(
                "policy {}: peer asks for PFS group {}, retrying CREATE_CHILD_SA",
                policy.name,
                g.0
            );
            let mut req = req;
            req.pfs = Some(g);
            self.child_request_out(now, h, req);
            return;
        }
        let result =
            child_from_response(&payloads, &req, &policy.child_proposals, false).and_then(|ok| {
                let nr = first_payload!(&payloads, Nonce)
                    .ok_or(FailReason::NoProposalChosen)?
                    .clone();
                let g_ir = match (req.pfs, req.ke) {
                    (Some(g), Some(k)) => {
                        let kp = first_payload!(&payloads, Ke)
                            .filter(|k| k.group == g)
                            .ok_or(FailReason::NoProposalChosen)?;
                        Some(k.compute_shared(&kp.data).map_err(|_| FailReason::Crypto)?)
                    }
                    _ => None,
                };
                Ok((ok, nr, g_ir))
            });
        match result {
            Err(reason) => {
                let collided = req.collision.is_some();
                self.child_request_failed(now, h, req.spi_in, req.rekey_of, collided, reason)
            }
            Ok(((suite, spi_out, local_ts, remote_ts, mode), nr, g_ir)) => {
                let my_min = min_nonce(&req.ni, &nr);
                // RFC 7296 2.8.1: if the exchanges collided, the one holding
                // the lowest nonce is redundant; we delete what we created
                // if that is ours, the peer deletes the old child.
                let lost = req.collision.as_ref().is_some_and(|peer| my_min < *peer);
                if req.collision.is_some() {
                    log::info!(
                        "policy {}: rekey collision {}: our new child {:08x} {}",
                        policy.name,
                        if lost { "lost" } else { "won" },
                        req.spi_in,
                        if lost {
                            "is redundant, deleting it"
                        } else {
                            "replaces the old one"
                        }
                    );
                }
                // The old child is replaced now; it is deleted once the
                // new one is in the kernel (`install.rs`), or kept in
                // service if the kernel refuses the new one.
                if let Some(c) = req
                    .rekey_of
                    .and_then(|old| self.ep.sas.get_mut(&h)?.child_by_in(old))
                {
                    c.state = ChildState::Rekeyed;
                    c.replaced = true;
                    c.rekey_at = None;
                }
                // The old child may already be gone: the peer won and its
                // DELETE overtook our answer.
                self.install_child(
                    now,
                    h,
                    super::kernel::NewChild {
                        spi_in: req.spi_in,
                        spi_out,
                        suite,
                        local_ts,
                        remote_ts,
                        mode,
                        g_ir,
                        ni: req.ni,
                        nr,
                        we_initiated: true,
                        rekey_of: req.rekey_of,
                    },
                    None,
                    req.rekey_of.is_some() && !lost,
                );
                if lost {
                    self.queue(now, h, Task::DeleteChild(req.spi_in));
                }
            }
        }
    }

    /// After we answered the peer's rekey of child `old`.
    pub(super) fn after_peer_rekeyed_child(&mut self, h: u64, old: u32) {
        let Some(c) = self.ep.sas.get_mut(&h).and_then(|s| s.child_by_in(old)) else {
            return;
        };
        if c.state == ChildState::Installed {
            // The peer initiated the rekey: it deletes the old child.
            c.state = ChildState::Rekeyed;
            c.replaced = true;
            c.rekey_at = None;
        }
    }

    /// The peer's CREATE_CHILD_SA request.
    pub(super) fn child_request(&mut self, now: Instant, h: u64, id: u32, payloads: Vec<Payload>) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let policy = sa.policy.clone();
        let offer = first_payload!(&payloads, Sa);
        let ni = first_payload!(&payloads, Nonce);
        let (Some(offer), Some(ni)) = (offer, ni) else {
            self.send_response(
                h,
                ExchangeType::CREATE_CHILD_SA,
                id,
                vec![notify(NotifyType::INVALID_SYNTAX, Vec::new())],
            );
            return;
        };
        if offer.iter().any(|p| p.protocol == ProtocolId::IKE) {
            let (offer, ni) = (offer.clone(), ni.clone());
            self.rekey_ike_request(now, h, id, offer, ni, payloads);
            return;
        }
        let refuse = |e: &mut Engine, code: NotifyType| {
            e.send_response(
                h,
                ExchangeType::CREATE_CHILD_SA,
                id,
                vec![notify(code, Vec::new())],
            );
        };
        // RFC 7296 2.25: while the IKE SA is being rekeyed, no new children.
        if sa.phase() != Phase::Established || sa.rekeying_ike() {
            refuse(self, NotifyType::TEMPORARY_FAILURE);
            return;
        }
        let mut rekey_of = None;
        let mut collision = false;
        if let Some(n) = find_notify(&payloads, NotifyType::REKEY_SA) {
            let Ok(b) = <[u8; 4]>::try_from(n.spi.as_slice()) else {
                refuse(self, NotifyType::INVALID_SYNTAX);
                return;
            };
            match sa.child_by_out(u32::from_be_bytes(b)) {
                None => {
                    refuse(self, NotifyType::CHILD_SA_NOT_FOUND);
                    return;
                }
                Some(c) if c.state == ChildState::Installed => rekey_of = Some(c.spi_in),
                Some(c) if c.state == ChildState::Rekeying => {
                    rekey_of = Some(c.spi_in);
                    collision = true;
                }
                Some(_) => {
                    // Already replaced or being deleted (RFC 7296 2.25.1).
                    refuse(self, NotifyType::TEMPORARY_FAILURE);
                    return;
                }
            }
        }
        // One peer rekey per child at a time (a collision with ours does
        // not mark the old child, so this is the only thing that stops a
        // repeated REKEY_SA from making successor after successor).
        if rekey_of.is_some_and(|old| sa.peer_rekey_under_way(old)) {
            refuse(self, NotifyType::TEMPORARY_FAILURE);
            return;
        }
        // Children being answered (parked) count too: with a window,
        // several creations can be under way at once.
        let answering = sa
            .parked
            .iter()
            .filter(|p| p.answer.rekey_of.is_none())
            .count();
        if rekey_of.is_none() && sa.children.len() + answering >= self.cfg.max_children {
            refuse(self, NotifyType::NO_ADDITIONAL_SAS);
            return;
        }
        let ke = first_payload!(&payloads, Ke);
        let choice = match responder_child(&payloads, offer, &policy, ke.map(|k| k.group), false) {
            Ok(c) => c,
            Err(NotifyType::NO_PROPOSAL_CHOSEN) if ke.is_some() => {
                // A KE for a group we do not take: name one we would (RFC 7296 1.3).
                let alt = policy
                    .child_proposals
                    .iter()
                    .flat_map(|p| p.dh.iter().copied())
                    .find(|g| responder_child(&payloads, offer, &policy, Some(*g), false).is_ok());
                match alt {
                    Some(g) => {
                        let n = notify(NotifyType::INVALID_KE_PAYLOAD, g.0.to_be_bytes().to_vec());
                        self.send_response(h, ExchangeType::CREATE_CHILD_SA, id, vec![n]);
                    }
                    None => refuse(self, NotifyType::NO_PROPOSAL_CHOSEN),
                }
                return;
            }
            Err(code) => {
                refuse(self, code);
                return;
            }
        };
        let (answer, suite, peer_spi, local_ts, remote_ts, mode) = choice;
        let nr = self.nonce();
        let (g_ir, ke_public) = match (suite.dh, ke) {
            (Some(g), Some(kp)) => {
                let Some(k) = keys::group(g)
                    .ok()
                    .and_then(|cg| self.kex.start(cg, &self.sys_rng).ok())
                else {
                    return;
                };
                let public = k.public_value().to_vec();
                match k.compute_shared(&kp.data) {
                    Ok(s) => (Some(s), Some((g, public))),
                    Err(_) => {
                        refuse(self, NotifyType::INVALID_SYNTAX);
                        return;
                    }
                }
            }
            _ => (None, None),
        };
        let ni = ni.clone();
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if collision {
            // Said in the log: the interop scenario rekey-collide checks
            // that its simultaneous rekeys really crossed.
            log::info!(
                "policy {}: rekey collision: the peer rekeys child {:08x} while we do (RFC 7296 2.8.1)",
                policy.name,
                rekey_of.unwrap_or_default()
            );
            let peer_min = min_nonce(&ni, &nr);
            let ours = sa.requests_mut().find_map(|k| match k {
                PendingKind::Child(req) if req.rekey_of == rekey_of => Some(req),
                _ => None,
            });
            match ours {
                // Our rekey of this child is on the wire (or built, waiting
                // for the window).
                Some(req) => req.collision = Some(peer_min),
                // Or it still waits for its SPI: note it on the child.
                None => {
                    if let Some(c) = rekey_of.and_then(|o| sa.child_by_in(o)) {
                        c.collision = Some(Box::new(Collision {
                            peer_min_nonce: peer_min,
                            peer_created: 0,
                        }));
                    }
                }
            }
        }
        // The peer's rekey of a child we are not rekeying ourselves: no
        // rekey of ours may start on it while we wait for the kernel (the
        // peer could not tell it from a collision, RFC 7296 2.8.1). Undone
        // if we refuse after all (`install.rs`).
        let old_marked = rekey_of.is_some() && !collision;
        if let Some(c) = rekey_of
            .filter(|_| old_marked)
            .and_then(|o| sa.child_by_in(o))
        {
            c.state = ChildState::Rekeyed;
            c.replaced = true;
            c.rekey_at = None;
        }
        let request = self.ep.request_id();
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let (src, dst) = (sa.remote.ip(), sa.local.ip());
        sa.parked.push(Parked {
            message_id: id,
            exchange: ExchangeType::CREATE_CHILD_SA,
            head: Vec::new(),
            tail: Vec::new(),
            answer: ChildAnswer {
                proposal: answer,
                suite,
                peer_spi,
                local_ts,
                remote_ts,
                mode,
                g_ir,
                ni,
                nr,
                ke_public,
                rekey_of,
                old_marked,
            },
            completes_auth: false,
        });
        self.request_spi(request, h, KernelPurpose::ParkedSpi(id), src, dst);
    }
}
