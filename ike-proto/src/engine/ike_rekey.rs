//! IKE SA rekey with CREATE_CHILD_SA (RFC 7296 1.3.2, 2.18), both roles,
//! and simultaneous IKE SA rekeys (2.8.2): the new SA takes over the
//! CHILD_SAs and queued work; the old one waits for its DELETE.

use std::time::Instant;

use crate::crypto::KeyAgreement;
use crate::wire::consts::{DhGroup, ExchangeType, NotifyType};
use crate::wire::ke::KeyExchange as KePayload;
use crate::wire::Payload;

use super::api::{Event, IkeSaId};
use super::child::{min_nonce, RETRY_REKEY};
use super::keys::{self, IkeKeyset, Seed};
use super::lifetime::rekey_deadline;
use super::sa::{ChildState, Collision, IkeSa, PendingKind, Phase, SaKeys, State, Task, Up};
use super::{notify, proposal, Engine};

impl Engine {
    pub(super) fn rekey_ike_start(&mut self, now: Instant, h: u64) {
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        if sa.phase() != Phase::Established || sa.successor().is_some() {
            return;
        }
        let Some(suite) = sa.suite() else { return };
        // The first attempt uses the group of the SA being rekeyed.
        self.rekey_ike_send(now, h, suite.dh);
    }

    /// Sends our IKE SA rekey request with a fresh SPI, nonce and key
    /// exchange of `group`.
    fn rekey_ike_send(&mut self, now: Instant, h: u64, group: DhGroup) {
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        let policy = sa.policy.clone();
        let Some(ke) = keys::group(group)
            .ok()
            .and_then(|cg| self.kex.start(cg, &self.sys_rng).ok())
        else {
            return;
        };
        let new_spi = self.ep.fresh_spi(self.rng.as_mut());
        let ni = self.nonce();
        let payloads = vec![
            Payload::Sa(proposal::ike_offer(
                &policy.ike_proposals,
                &new_spi.to_be_bytes(),
                Some(group),
            )),
            Payload::Nonce(ni.clone()),
            Payload::Ke(KePayload {
                group,
                data: ke.public_value().to_vec(),
            }),
        ];
        if let Some(sa) = self.ep.sas.get_mut(&h) {
            sa.collision = None;
        }
        self.send_request(
            now,
            h,
            ExchangeType::CREATE_CHILD_SA,
            payloads,
            PendingKind::RekeyIke {
                new_spi,
                ni,
                ke,
                group,
            },
        );
    }

    /// The keys of the IKE SA that replaces `old`: SKEYSEED comes from the
    /// old SA's SK_d (RFC 7296 2.18). `nonces` and `spis` are (i, r) of the
    /// rekeying exchange; `initiator` says whether we started it.
    fn rekeyed_keyset(
        &self,
        old: u64,
        suite: &super::api::IkeSuite,
        g_ir: &[u8],
        nonces: (&[u8], &[u8]),
        spis: (u64, u64),
        initiator: bool,
    ) -> Option<IkeKeyset> {
        let old_keys = self.ep.sas.get(&old)?.keys()?;
        let seed = Seed::Rekey {
            old_prf: old_keys.prf,
            old_sk_d: old_keys.sk_d.as_bytes(),
        };
        let (ni, nr) = nonces;
        let (spi_i, spi_r) = spis;
        IkeKeyset::derive(suite, seed, g_ir, ni, nr, spi_i, spi_r, initiator).ok()
    }

    /// A new IKE SA replacing `old`, with message IDs starting over.
    #[allow(clippy::too_many_arguments)]
    fn rekeyed_sa(
        &mut self,
        now: Instant,
        old: u64,
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        suite: super::api::IkeSuite,
        keys: IkeKeyset,
    ) -> Option<u64> {
        let o = self.ep.sas.get(&old)?;
        let l = o.policy.ike_lifetime;
        let peer_id = o.peer_id()?.clone();
        let sa = IkeSa {
            policy: o.policy.clone(),
            initiator,
            spi_i,
            spi_r,
            local: o.local,
            remote: o.remote,
            state: State::Established(Up {
                ike: Box::new(SaKeys { suite, keys }),
                peer_id,
                hard_at: now + l.hard,
            }),
            next_id: 0,
            pending: Vec::new(),
            // First on the new SA: our window, if larger than one.
            tasks: if self.cfg.window > 1 {
                [Task::AnnounceWindow].into()
            } else {
                Default::default()
            },
            spi_wait: Vec::new(),
            // RFC 7296 2.3: a rekeyed IKE SA starts with a window of one
            // both ways, until each side announces again.
            send: Default::default(),
            recv: Default::default(),
            parked: Vec::new(),
            reassembly: Default::default(),
            children: Vec::new(),
            nat: o.nat,
            keepalive: o.keepalive,
            // RFC 4555: MOBIKE stays negotiated on the rekeyed IKE SA.
            mobike: o.mobike.clone(),
            fragmentation: o.fragmentation,
            created: now,
            last_heard: now,
            rekey_at: Some(rekey_deadline(self.rng.as_mut(), now, &l)),
            collision: None,
        };
        let h = if initiator { spi_i } else { spi_r };
        self.ep.sas.insert(h, Box::new(sa));
        self.rearm(h, now);
        Some(h)
    }

    /// Moves children and pending child work from `old` to `new`; `old`
    /// is now only waiting for its DELETE.
    pub(super) fn hand_over(&mut self, now: Instant, old: u64, new: u64, we_delete_old: bool) {
        // Unsent requests of the old SA become tasks of the new one (before
        // the children move: a rekey's child goes back to `Installed`).
        let mut tasks = self.drop_deferred(old);
        let Some(o) = self.ep.sas.get_mut(&old) else {
            return;
        };
        let children = std::mem::take(&mut o.children);
        // The successor keeps the virtual addresses (RFC 7296 2.18).
        self.cp.rehome(old, new);
        tasks.extend(o.tasks.drain(..).filter(|t| {
            matches!(
                t,
                Task::NewChild | Task::RekeyChild(_) | Task::DeleteChild(_)
            )
        }));
        // Whoever deletes the old SA does so at once; if that DELETE never
        // comes, forget it after a while anyway.
        o.rekeyed(new, now + self.cfg.half_open_timeout);
        o.rekey_at = None;
        if we_delete_old {
            o.tasks.push_back(Task::DeleteIke);
        }
        if let Some(n) = self.ep.sas.get_mut(&new) {
            n.children.extend(children);
            n.tasks.extend(tasks);
        }
        self.out.events.push_back(Event::IkeRekeyed {
            old: IkeSaId(old),
            new: IkeSaId(new),
        });
        self.after_input(old, now);
        self.after_input(new, now);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn rekey_ike_response(
        &mut self,
        now: Instant,
        h: u64,
        new_spi: u64,
        ni: Vec<u8>,
        ke: Box<dyn KeyAgreement>,
        group: DhGroup,
        payloads: Vec<Payload>,
    ) {
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        let policy = sa.policy.clone();
        let peer_won = sa.collision.as_ref().map(|c| c.peer_created);
        let answer = first_payload!(&payloads, Sa);
        let nr = first_payload!(&payloads, Nonce);
        let kp = first_payload!(&payloads, Ke);
        let ok = match (super::error_notify(&payloads), answer, nr, kp) {
            (None, Some(a), Some(nr), Some(kp)) => {
                proposal::ike_suite_from_answer(a, &policy.ike_proposals)
                    .filter(|s| s.dh == group && kp.group == group)
                    .and_then(|s| {
                        <[u8; 8]>::try_from(a.first()?.spi.as_slice())
                            .ok()
                            .map(|b| (s, u64::from_be_bytes(b)))
                    })
                    .filter(|(_, spi)| *spi != 0)
                    .map(|(s, spi)| (s, spi, nr.clone(), kp.data.clone()))
            }
            _ => None,
        };
        let Some((suite, peer_spi, nr, peer_ke)) = ok else {
            if peer_won.is_none() {
                if let Some(g) = self.rekey_retry_group(h, group, &payloads) {
                    // RFC 7296 1.3.2 (as 1.2): the responder wants another
                    // group that we allow too: once more with it.
                    log::info!("IKE SA rekey: peer asks for group {}, retrying", g.0);
                    self.rekey_ike_send(now, h, g);
                    return;
                }
            }
            if let Some(e) = super::error_notify(&payloads) {
                // The old SA stays usable until its hard lifetime (RFC 7296
                // 2.8); we try again later.
                log::warn!("IKE SA rekey refused by the peer: {e}");
            }
            match peer_won {
                // Ours failed but the peer's went through: it is the new SA.
                Some(p) if self.ep.sas.contains_key(&p) => self.hand_over(now, h, p, false),
                _ => {
                    if let Some(sa) = self.ep.sas.get_mut(&h) {
                        sa.rekey_at = Some(now + RETRY_REKEY);
                    }
                }
            }
            return;
        };
        let Ok(g_ir) = ke.compute_shared(&peer_ke) else {
            return;
        };
        let Some(k) = self.rekeyed_keyset(
            h,
            &suite,
            g_ir.as_bytes(),
            (&ni, &nr),
            (new_spi, peer_spi),
            true,
        ) else {
            return;
        };
        let Some(mine) = self.rekeyed_sa(now, h, true, new_spi, peer_spi, suite, k) else {
            return;
        };
        let my_min = min_nonce(&ni, &nr);
        match self
            .ep
            .sas
            .get(&h)
            .and_then(|s| s.collision.as_deref())
            .cloned()
        {
            Some(col) if self.ep.sas.contains_key(&col.peer_created) => {
                if my_min < col.peer_min_nonce {
                    // RFC 7296 2.8.2: our new SA is redundant; we delete it,
                    // the peer (winner) deletes the old one.
                    self.hand_over(now, h, col.peer_created, false);
                    self.queue(now, mine, Task::DeleteIke);
                } else {
                    self.hand_over(now, h, mine, true);
                }
            }
            _ => self.hand_over(now, h, mine, true),
        }
    }

    /// The group to retry our IKE SA rekey with after INVALID_KE_PAYLOAD:
    /// the one the responder names, if this was our first attempt (with the
    /// SA's own group, so we retry once) and we allow and support it.
    fn rekey_retry_group(&self, h: u64, tried: DhGroup, payloads: &[Payload]) -> Option<DhGroup> {
        let sa = self.ep.sas.get(&h)?;
        let n = super::find_notify(payloads, NotifyType::INVALID_KE_PAYLOAD)?;
        let g = DhGroup(u16::from_be_bytes(
            <[u8; 2]>::try_from(n.data.as_slice()).ok()?,
        ));
        let first_try = sa.suite().map(|s| s.dh) == Some(tried);
        let allowed = sa.policy.ike_proposals.iter().any(|p| p.dh.contains(&g));
        (first_try && g != tried && allowed && keys::group(g).is_ok()).then_some(g)
    }

    pub(super) fn rekey_ike_request(
        &mut self,
        now: Instant,
        h: u64,
        id: u32,
        offer: Vec<crate::wire::sa::Proposal>,
        ni: Vec<u8>,
        payloads: Vec<Payload>,
    ) {
        let refuse = |e: &mut Engine, code: NotifyType, data: Vec<u8>| {
            e.send_response(
                h,
                ExchangeType::CREATE_CHILD_SA,
                id,
                vec![notify(code, data)],
            );
        };
        let Some(sa) = self.ep.sas.get(&h) else {
            return;
        };
        let policy = sa.policy.clone();
        // RFC 7296 2.25: not while we create, rekey or delete children
        // (sent, deferred or waiting for an SPI) or answer the peer's.
        let busy = sa
            .requests()
            .any(|k| !matches!(k, PendingKind::RekeyIke { .. } | PendingKind::Dpd))
            || !sa.spi_wait.is_empty()
            || !sa.parked.is_empty()
            || sa.children.iter().any(|c| c.state == ChildState::Rekeying)
            || sa.installing();
        if sa.phase() != Phase::Established || busy {
            refuse(self, NotifyType::TEMPORARY_FAILURE, Vec::new());
            return;
        }
        let collision = sa.rekeying_ike();
        let Some(kp) = first_payload!(&payloads, Ke) else {
            refuse(self, NotifyType::INVALID_SYNTAX, Vec::new());
            return;
        };
        let Some((answer, suite)) =
            proposal::select_ike(&offer, &policy.ike_proposals, &[], Some(kp.group))
                .filter(|(_, s)| keys::ike_suite_supported(s))
        else {
            refuse(self, NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
            return;
        };
        if kp.group != suite.dh {
            refuse(
                self,
                NotifyType::INVALID_KE_PAYLOAD,
                suite.dh.0.to_be_bytes().to_vec(),
            );
            return;
        }
        let peer_spi = offer
            .iter()
            .find(|p| p.num == answer.num)
            .and_then(|p| <[u8; 8]>::try_from(p.spi.as_slice()).ok())
            .map(u64::from_be_bytes)
            .filter(|s| *s != 0);
        let Some(peer_spi) = peer_spi else {
            refuse(self, NotifyType::INVALID_SYNTAX, Vec::new());
            return;
        };
        let Some(ke) = keys::group(suite.dh)
            .ok()
            .and_then(|cg| self.kex.start(cg, &self.sys_rng).ok())
        else {
            return;
        };
        let public = ke.public_value().to_vec();
        let Ok(g_ir) = ke.compute_shared(&kp.data) else {
            refuse(self, NotifyType::INVALID_SYNTAX, Vec::new());
            return;
        };
        let new_spi = self.ep.fresh_spi(self.rng.as_mut());
        let nr = self.nonce();
        let Some(k) = self.rekeyed_keyset(
            h,
            &suite,
            g_ir.as_bytes(),
            (&ni, &nr),
            (peer_spi, new_spi),
            false,
        ) else {
            return;
        };
        let mut answer = answer;
        answer.spi = new_spi.to_be_bytes().to_vec();
        let out = vec![
            Payload::Sa(vec![answer]),
            Payload::Nonce(nr.clone()),
            Payload::Ke(KePayload {
                group: suite.dh,
                data: public,
            }),
        ];
        if !self.send_response(h, ExchangeType::CREATE_CHILD_SA, id, out) {
            return; // the peer was refused instead: no new SA
        }
        let Some(new) = self.rekeyed_sa(now, h, false, peer_spi, new_spi, suite, k) else {
            return;
        };
        if collision {
            if let Some(sa) = self.ep.sas.get_mut(&h) {
                sa.collision = Some(Box::new(Collision {
                    peer_min_nonce: min_nonce(&ni, &nr),
                    peer_created: new,
                }));
            }
        } else {
            // The peer initiated: it deletes the old SA.
            self.hand_over(now, h, new, false);
        }
    }
}
