//! Read-only views of the engine's state, for `ike-ctl` and the driver.

use std::net::SocketAddr;

use super::api::{ChildInfo, ChildStatus, IkeSaId, IkeSaInfo, IkeStatus};
use super::sa::{self, IkeSa, Phase};
use super::Engine;

impl Engine {
    /// Number of IKE SAs in the table (any state).
    pub fn ike_sa_count(&self) -> usize {
        self.ep.sas.len()
    }

    /// Number of half-open responder IKE SAs.
    pub fn half_open_count(&self) -> usize {
        self.ep.half_open
    }

    /// Handles of the established IKE SAs.
    pub fn established(&self) -> Vec<IkeSaId> {
        let mut v: Vec<IkeSaId> = self
            .ep
            .sas
            .iter()
            .filter(|(_, s)| s.phase() == Phase::Established)
            .map(|(h, _)| IkeSaId(*h))
            .collect();
        v.sort();
        v
    }

    /// Inbound/outbound SPI pairs of the CHILD_SAs of an IKE SA (those
    /// still waiting for the kernel included).
    pub fn children(&self, ike: IkeSaId) -> Vec<(u32, u32)> {
        self.ep
            .sas
            .get(&ike.0)
            .map(|s| s.children.iter().map(|c| (c.spi_in, c.spi_out)).collect())
            .unwrap_or_default()
    }

    /// The CHILD_SAs of an IKE SA, with algorithms and selectors.
    pub fn child_sas(&self, ike: IkeSaId) -> Vec<ChildInfo> {
        self.ep
            .sas
            .get(&ike.0)
            .map(|sa| child_infos(sa))
            .unwrap_or_default()
    }

    /// A snapshot of every IKE SA and its children, ordered by handle.
    pub fn sa_info(&self) -> Vec<IkeSaInfo> {
        let mut v: Vec<IkeSaInfo> = self
            .ep
            .sas
            .iter()
            .map(|(h, s)| IkeSaInfo {
                id: IkeSaId(*h),
                policy: s.policy.name.clone(),
                status: match s.phase() {
                    Phase::Init => IkeStatus::Connecting,
                    Phase::Auth => IkeStatus::Authenticating,
                    Phase::Established => IkeStatus::Established,
                    Phase::Deleting => IkeStatus::Deleting,
                    Phase::Rekeyed => IkeStatus::Rekeyed,
                },
                initiator: s.initiator,
                local: s.local,
                remote: s.remote,
                spi_i: s.spi_i,
                spi_r: s.spi_r,
                local_id: s.policy.local_id.clone(),
                peer_id: s.peer_id().cloned(),
                suite: s.suite(),
                created: s.created,
                rekey_at: s.rekey_at,
                hard_at: s.hard_at(),
                nat: s.nat,
                virtual_ips: self.cp.of_sa(*h),
                children: child_infos(s),
            })
            .collect();
        v.sort_by_key(|i| i.id);
        v
    }

    /// Virtual addresses leased now, and lease requests refused because
    /// a pool was empty (`show stats`).
    pub fn lease_stats(&self) -> (usize, u64) {
        (self.cp.leases.count(), self.cp.leases.failures)
    }

    /// The peer's address of an IKE SA.
    pub fn peer_of(&self, ike: IkeSaId) -> Option<SocketAddr> {
        self.ep.sas.get(&ike.0).map(|s| s.remote)
    }
}

fn child_infos(s: &IkeSa) -> Vec<ChildInfo> {
    s.children
        .iter()
        .map(|c| ChildInfo {
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            suite: c.suite,
            local_ts: c.local_ts.clone(),
            remote_ts: c.remote_ts.clone(),
            mode: c.mode,
            status: match c.state {
                sa::ChildState::Installing => ChildStatus::Installing,
                sa::ChildState::Installed => ChildStatus::Installed,
                sa::ChildState::Rekeying => ChildStatus::Rekeying,
                sa::ChildState::Rekeyed => ChildStatus::Rekeyed,
                sa::ChildState::Deleting => ChildStatus::Deleting,
            },
            rekey_at: c.rekey_at,
            hard_at: c.hard_at,
        })
        .collect()
}
