//! INFORMATIONAL: DELETE of IKE and CHILD_SAs, liveness checks and
//! notifies (RFC 7296 1.4, 1.5, 2.4).

use std::time::Instant;

use crate::wire::consts::{ExchangeType, NotifyType, ProtocolId};
use crate::wire::delete::Delete;
use crate::wire::Payload;

use super::api::{DownReason, Event, FailReason, IkeSaId};
use super::sa::{ChildState, PendingKind, Phase};
use super::Engine;

fn delete_esp(spis: &[u32]) -> Payload {
    Payload::Delete(Delete {
        protocol: ProtocolId::ESP,
        spi_size: 4,
        spis: spis.iter().map(|s| s.to_be_bytes().to_vec()).collect(),
    })
}

impl Engine {
    /// The peer's INFORMATIONAL request.
    pub(super) fn info_request(&mut self, now: Instant, h: u64, id: u32, payloads: Vec<Payload>) {
        if self.mobike_request(now, h, id, &payloads) {
            return;
        }
        if super::find_notify(&payloads, NotifyType::AUTHENTICATION_FAILED).is_some() {
            // The initiator refused our AUTH after we thought the SA was up
            // (RFC 7296 2.21.2): acknowledge and drop everything.
            self.send_response(h, ExchangeType::INFORMATIONAL, id, Vec::new());
            if let Some(sa) = self.ep.sas.get(&h) {
                self.out.events.push_back(Event::Failed {
                    ike: Some(IkeSaId(h)),
                    policy: Some(sa.policy.name.clone()),
                    remote: sa.remote,
                    reason: FailReason::AuthenticationFailed,
                });
            }
            self.remove_sa(h, DownReason::Failed);
            return;
        }
        let deletes: Vec<&Delete> = payloads
            .iter()
            .filter_map(|p| {
                if let Payload::Delete(d) = p {
                    Some(d)
                } else {
                    None
                }
            })
            .collect();
        if deletes.iter().any(|d| d.protocol == ProtocolId::IKE) {
            // RFC 7296 1.4.1: answer with an empty INFORMATIONAL, then the
            // IKE SA and all its children are gone.
            self.send_response(h, ExchangeType::INFORMATIONAL, id, Vec::new());
            // Our IKE rekey collided with the peer's and the peer, having
            // won, deletes the old SA before our answer came back: its new
            // SA is the one to keep (RFC 7296 2.8.2).
            let survivor = self
                .ep
                .sas
                .get(&h)
                .and_then(|s| s.collision.as_ref())
                .map(|c| c.peer_created)
                .filter(|p| self.ep.sas.contains_key(p));
            if let Some(new) = survivor {
                self.hand_over(now, h, new, false);
            }
            let reason = match self.ep.sas.get(&h) {
                Some(s) if s.phase() == Phase::Rekeyed => DownReason::Rekeyed,
                _ => DownReason::DeletedByPeer,
            };
            self.remove_sa(h, reason);
            return;
        }
        let mut ours = Vec::new();
        let mut gone = Vec::new();
        if let Some(sa) = self.ep.sas.get_mut(&h) {
            for d in deletes.iter().filter(|d| d.protocol == ProtocolId::ESP) {
                for spi in &d.spis {
                    let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) else {
                        continue;
                    };
                    // The peer names its inbound SPI: our outbound one.
                    if let Some(c) = sa.child_by_out(u32::from_be_bytes(b)) {
                        // If we are deleting it too, our own DELETE covers
                        // our half (RFC 7296 1.4.1).
                        if c.state != ChildState::Deleting {
                            ours.push(c.spi_in);
                        }
                        let reason = if c.replaced {
                            DownReason::Rekeyed
                        } else {
                            DownReason::DeletedByPeer
                        };
                        gone.push((c.spi_in, reason));
                    }
                }
            }
        }
        let answer = if ours.is_empty() {
            Vec::new()
        } else {
            vec![delete_esp(&ours)]
        };
        self.send_response(h, ExchangeType::INFORMATIONAL, id, answer);
        for (spi, reason) in gone {
            self.child_gone(now, h, spi, reason, true);
        }
        if let Some(e) = super::error_notify(&payloads) {
            log::info!("peer sent {e} in an INFORMATIONAL request");
        }
    }

    /// Starts the DELETE of one of our children.
    pub(super) fn delete_child_start(&mut self, now: Instant, h: u64, spi_in: u32) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let Some(c) = sa.child_by_in(spi_in) else {
            return;
        };
        if c.install.as_ref().is_some_and(|i| i.answer.is_some()) {
            // Our answer creating it waits for the kernel: the peer does
            // not know it yet, and the answer must still go out.
            return;
        }
        c.state = ChildState::Deleting;
        c.rekey_at = None;
        self.send_request(
            now,
            h,
            ExchangeType::INFORMATIONAL,
            vec![delete_esp(&[spi_in])],
            PendingKind::Delete {
                children: vec![spi_in],
            },
        );
    }

    /// Starts the DELETE of the IKE SA itself.
    pub(super) fn delete_ike_start(&mut self, now: Instant, h: u64) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if sa.phase() == Phase::Established {
            sa.deleting();
        }
        let d = Payload::Delete(Delete {
            protocol: ProtocolId::IKE,
            spi_size: 0,
            spis: Vec::new(),
        });
        self.send_request(
            now,
            h,
            ExchangeType::INFORMATIONAL,
            vec![d],
            PendingKind::Delete {
                children: Vec::new(),
            },
        );
    }

    /// The peer confirmed our DELETE.
    pub(super) fn delete_response(
        &mut self,
        now: Instant,
        h: u64,
        children: Vec<u32>,
        _payloads: Vec<Payload>,
    ) {
        if children.is_empty() {
            let reason = match self.ep.sas.get(&h) {
                Some(s) if s.successor().is_some() => DownReason::Rekeyed,
                _ => DownReason::Terminated,
            };
            self.remove_sa(h, reason);
            return;
        }
        for spi in children {
            let rekeyed = self
                .ep
                .sas
                .get_mut(&h)
                .and_then(|s| s.child_by_in(spi))
                .is_some_and(|c| c.replaced);
            let reason = if rekeyed {
                DownReason::Rekeyed
            } else {
                DownReason::Terminated
            };
            self.child_gone(now, h, spi, reason, true);
        }
    }
}
