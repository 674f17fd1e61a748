//! NAT traversal state of an IKE SA beyond "a NAT is there" (`IkeSa::nat`):
//! which side the NAT is on, and the keepalives the side behind it sends.
//!
//! - Detection (RFC 7296 2.23): the peer's NAT_DETECTION_SOURCE_IP hashes
//!   none of the addresses we see it at: the peer is behind a NAT; its
//!   NAT_DETECTION_DESTINATION_IP does not hash our address: we are.
//! - Keepalives (RFC 3948 2.3, 4): the side behind a NAT sends a one-octet
//!   0xFF datagram on the NAT-T port every `Policy::natt_keepalive`, so the
//!   NAT keeps its mapping while neither IKE nor ESP is flowing. The
//!   receiving kernel drops them (Linux `xfrm4_udp_encap_rcv`), and ike-net
//!   ignores one that reaches it. Sent at a fixed interval: ESP traffic is the
//!   kernel's and invisible here.
//! - Forced encapsulation (iked's `natt`): as initiator we send a
//!   NAT_DETECTION_SOURCE_IP that hashes no real address, so the peer sees
//!   us "behind a NAT" and both sides move to port 4500 and ESP in UDP.
//! - Mapping changes (RFC 7296 2.23): when the peer's NAT gives it a new
//!   port, the IKE SA follows it and every CHILD_SA's kernel SAs get the new
//!   encapsulation port ([`follow`]), so that both the kernel's ESP and our
//!   own requests (a rekey, DPD) reach the peer. Two triggers:
//!   - an IKE message from the new endpoint that decrypted and verified
//!     under the IKE SA's keys (exchange.rs); an unauthenticated datagram
//!     moves nothing;
//!   - the kernel's NAT mapping event for one of the IKE SA's inbound ESP
//!     SAs ([`Engine::nat_mapping`]). Linux raises it only after the ESP
//!     packet passed the SA's integrity check (esp_input_done2), so it is
//!     authenticated by keys of this IKE SA as much as an IKE message would
//!     be; we follow it and start a liveness check, whose answer confirms
//!     the IKE SA at the new endpoint (or declares the peer dead).
//!
//!   Only the port may change: a new peer address needs the SAs re-added
//!   under the new address, which MOBIKE's UPDATE_SA_ADDRESSES does after a
//!   return routability check (`mobike.rs`); here it is logged and left
//!   alone.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use super::api::KernelRequest;
use super::sa::{ChildState, IkeSa, Task};
use super::Engine;
use crate::wire::consts::ProtocolId;

/// The NAT keepalive payload (RFC 3948 2.3).
pub const KEEPALIVE: [u8; 1] = [0xff];

/// Which side of the path a NAT is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Detected {
    /// The peer's address was translated.
    pub peer: bool,
    /// Our address was translated: we send keepalives.
    pub local: bool,
}

impl Detected {
    pub fn any(self) -> bool {
        self.peer || self.local
    }
}

/// Per-IKE-SA keepalive state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Keepalive {
    /// We are behind a NAT (or forced encapsulation): keep the mapping.
    pub behind: bool,
    /// When the next keepalive is due (set once the IKE SA is up).
    pub next: Option<Instant>,
}

/// The address whose hash we send as our NAT_DETECTION_SOURCE_IP when
/// encapsulation is forced: port 0 of the unspecified address, which no
/// peer sees a packet from, so the hash matches nothing it computes.
pub fn forced_source(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// The IKE SA `sa` now reaches the peer at `remote` from `local`: move it
/// there and, if only the peer's port changed, re-point the encapsulation of
/// every CHILD_SA in the kernel. Callers make sure the news is authentic.
pub(super) fn follow(
    sa: &mut IkeSa,
    local: SocketAddr,
    remote: SocketAddr,
    natt_port: u16,
    kernel_out: &mut VecDeque<KernelRequest>,
) {
    let old = sa.remote;
    let old_ends = super::mobike::Ends::of(sa);
    super::mobike::set_local(sa, local, natt_port);
    sa.remote = remote;
    if old == remote || !sa.nat || sa.children.is_empty() {
        return;
    }
    if old.ip() != remote.ip() {
        // Deletes must still find them where they are.
        super::mobike::leave_children(sa, old_ends);
        log::warn!(
            "IKE SA {:016x}: the peer moved from {old} to {remote}; its CHILD_SAs stay \
             on the old address (only MOBIKE's UPDATE_SA_ADDRESSES moves them to another \
             address)",
            sa.spi_i
        );
        return;
    }
    log::info!(
        "IKE SA {:016x}: the peer's NAT mapping changed from {old} to {remote}; moving \
         {} CHILD_SA(s) to the new port",
        sa.spi_i,
        sa.children.len()
    );
    let (lip, rip) = (local.ip(), remote.ip());
    let (lp, rp) = (local.port(), remote.port());
    for c in &sa.children {
        // Left behind at another address (see `mobike`): not this mapping.
        if c.state == ChildState::Deleting || c.kernel_at.is_some() {
            continue;
        }
        kernel_out.push_back(KernelRequest::UpdateEncap {
            protocol: ProtocolId::ESP,
            spi: c.spi_in,
            src: rip,
            dst: lip,
            encap: (rp, lp),
        });
        kernel_out.push_back(KernelRequest::UpdateEncap {
            protocol: ProtocolId::ESP,
            spi: c.spi_out,
            src: lip,
            dst: rip,
            encap: (lp, rp),
        });
    }
}

impl Engine {
    /// The kernel saw our inbound SA `spi` (to `dst`) used from `from`.
    pub(super) fn nat_mapping(&mut self, now: Instant, spi: u32, dst: IpAddr, from: SocketAddr) {
        let found = self.ep.sas.iter().find_map(|(h, s)| {
            s.children
                .iter()
                .any(|c| c.spi_in == spi && s.local.ip() == dst)
                .then_some(*h)
        });
        let Some(h) = found else {
            log::info!("NAT mapping change for SA {spi:#x} to {dst}: not one of ours, ignored");
            return;
        };
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if !sa.nat || from.ip() != sa.remote.ip() {
            log::warn!(
                "IKE SA {:016x}: kernel reports ESP from {from}, the peer is at {}; not \
                 followed ({})",
                sa.spi_i,
                sa.remote,
                if sa.nat {
                    "only MOBIKE's UPDATE_SA_ADDRESSES moves SAs to another address"
                } else {
                    "no NAT was detected for this IKE SA"
                }
            );
            return;
        }
        if from == sa.remote {
            return;
        }
        let local = sa.local;
        let natt_port = self.cfg.natt_port;
        follow(sa, local, from, natt_port, &mut self.out.kernel_out);
        // Confirm the IKE SA at the new endpoint (RFC 7296 2.23).
        self.queue(now, h, Task::Dpd);
    }

    /// Keepalives start once the IKE SA is established, if we are behind a
    /// NAT (called whenever the SA's deadline is recomputed).
    pub(super) fn keepalive_arm(&mut self, h: u64, now: Instant) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        if sa.keepalive.next.is_none()
            && sa.keepalive.behind
            && sa.phase() == super::sa::Phase::Established
        {
            sa.keepalive.next = sa.policy.natt_keepalive.map(|iv| now + iv);
        }
    }

    /// The SA's keepalive deadline, for `rearm`.
    pub(super) fn keepalive_deadline(&self, h: u64) -> Option<Instant> {
        let sa = self.ep.sas.get(&h)?;
        if sa.phase() != super::sa::Phase::Established {
            return None;
        }
        sa.keepalive.next
    }

    /// Sends the keepalive if it is due, and sets the next one.
    pub(super) fn keepalive_due(&mut self, h: u64, now: Instant) {
        let Some(sa) = self.ep.sas.get_mut(&h) else {
            return;
        };
        let (Some(at), Some(iv)) = (sa.keepalive.next, sa.policy.natt_keepalive) else {
            return;
        };
        if at > now || sa.phase() != super::sa::Phase::Established {
            return;
        }
        sa.keepalive.next = Some(now + iv);
        let (local, remote) = (sa.local, sa.remote);
        self.out.emit(local, remote, &[KEEPALIVE.to_vec()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_source_is_no_real_address() {
        let l: SocketAddr = "192.0.2.1:500".parse().unwrap();
        assert_eq!(forced_source(l), "0.0.0.0:0".parse().unwrap());
        let l6: SocketAddr = "[2001:db8::1]:500".parse().unwrap();
        assert_eq!(forced_source(l6), "[::]:0".parse().unwrap());
        assert!(Detected {
            peer: false,
            local: true
        }
        .any());
        assert!(!Detected::default().any());
    }
}
