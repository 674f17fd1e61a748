//! What goes into the engine and what comes out of it, besides datagrams.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::crypto::Secret;
use crate::wire::consts::{DhGroup, IntegId, NotifyType, PrfId, ProtocolId};

use super::config::{Encapsulation, Encr, Identity};
use super::ts::TrafficSelector;

/// Handle of one IKE SA inside an engine: our own IKE SPI (SPIi when we
/// initiated, SPIr when we responded). Unique among the engine's live SAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId(pub u64);

/// Correlates a kernel request with the event that answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A datagram to send: UDP payload bytes from `local` to `remote`. On the
/// NAT-T port the payload already starts with the non-ESP marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Our address and port to send from.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// The UDP payload.
    pub bytes: Vec<u8>,
}

/// Something the kernel (through the PF_KEY broker) tells the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// Outbound traffic matched a policy without an SA (PF_KEY ACQUIRE).
    Acquire {
        /// Our tunnel endpoint (or host) address.
        local: IpAddr,
        /// The peer's address.
        remote: IpAddr,
        /// Selector of the packet's source, if the kernel told us.
        packet_src: Option<TrafficSelector>,
        /// Selector of the packet's destination, if the kernel told us.
        packet_dst: Option<TrafficSelector>,
    },
    /// Answer to [`KernelRequest::AllocateSpi`].
    SpiAllocated { request: RequestId, spi: u32 },
    /// [`KernelRequest::AllocateSpi`] failed.
    SpiRefused { request: RequestId },
    /// An SA or policy request succeeded.
    Installed { request: RequestId },
    /// An SA or policy request failed.
    Refused { request: RequestId },
    /// An SA reached a soft (rekey now) or hard (gone) lifetime.
    Expire {
        /// SPI of the SA, as given in the add/update request.
        spi: u32,
        /// Destination address of the SA.
        dst: IpAddr,
        /// Hard expiry: the kernel already removed the SA.
        hard: bool,
    },
    /// ESP-in-UDP for our inbound SA arrived from a new address or port
    /// (PF_KEY SADB_X_NAT_T_NEW_MAPPING); the kernel raises it only after
    /// the packet passed the SA's integrity check.
    NatMapping {
        /// SPI of the inbound SA.
        spi: u32,
        /// Our address (the SA's destination).
        dst: IpAddr,
        /// Where the peer's packets come from now.
        from: SocketAddr,
    },
}

/// Direction of an SA or policy, from our point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Traffic from the peer to us.
    Inbound,
    /// Traffic from us to the peer.
    Outbound,
}

/// Everything the kernel needs for one ESP SA.
#[derive(Clone, Debug)]
pub struct SaParams {
    /// Correlates the kernel's [`KernelEvent::Installed`]/`Refused`.
    pub request: RequestId,
    pub direction: Direction,
    pub protocol: ProtocolId,
    pub spi: u32,
    /// Source of the protected packets (outer header in tunnel mode).
    pub src: IpAddr,
    /// Destination of the protected packets.
    pub dst: IpAddr,
    pub mode: Encapsulation,
    pub encr: Encr,
    /// Encryption key (with the 4-byte salt appended for AES-GCM, RFC 4106).
    pub encr_key: Secret,
    /// Integrity algorithm, `None` for AEAD ciphers.
    pub integ: Option<IntegId>,
    pub integ_key: Secret,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Replay window (packets).
    pub replay_window: u32,
    /// The kernel sends a soft EXPIRE at this age ...
    pub soft_lifetime: Duration,
    /// ... and removes the SA at this one.
    pub hard_lifetime: Duration,
    /// UDP encapsulation ports (source, destination) when NAT-T is in use.
    pub encap: Option<(u16, u16)>,
    /// The selectors the SA protects (for kernels that bind SAs to flows).
    pub local_ts: TrafficSelector,
    pub remote_ts: TrafficSelector,
}

/// A security policy (SPD entry, or an OpenBSD flow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyParams {
    pub request: RequestId,
    pub direction: Direction,
    pub local_ts: TrafficSelector,
    pub remote_ts: TrafficSelector,
    pub mode: Encapsulation,
    /// Tunnel endpoints: ours and the peer's.
    pub local: IpAddr,
    pub remote: IpAddr,
}

/// Something the engine asks the kernel (through the broker) to do.
#[derive(Clone, Debug)]
pub enum KernelRequest {
    /// Reserve an inbound SPI (PF_KEY GETSPI): `src` is the peer, `dst` us.
    /// Answered by [`KernelEvent::SpiAllocated`] or `SpiRefused`.
    AllocateSpi {
        request: RequestId,
        protocol: ProtocolId,
        src: IpAddr,
        dst: IpAddr,
    },
    /// Complete the larval inbound SA that `AllocateSpi` created (PF_KEY UPDATE).
    UpdateSa(SaParams),
    /// Add an outbound SA (PF_KEY ADD).
    AddSa(SaParams),
    /// Remove an SA (PF_KEY DELETE).
    DeleteSa {
        protocol: ProtocolId,
        spi: u32,
        src: IpAddr,
        dst: IpAddr,
    },
    /// Add a policy (PF_KEY SPDADD / OpenBSD flow).
    AddPolicy(PolicyParams),
    /// Remove a policy.
    DeletePolicy {
        direction: Direction,
        local_ts: TrafficSelector,
        remote_ts: TrafficSelector,
    },
    /// Move an installed SA's UDP encapsulation to new ports: the peer's NAT
    /// mapping changed (RFC 7296 2.23). Addresses and keys stay.
    /// Fire-and-forget, like `DeleteSa`.
    UpdateEncap {
        protocol: ProtocolId,
        spi: u32,
        src: IpAddr,
        dst: IpAddr,
        /// (source port, destination port), as in [`SaParams::encap`].
        encap: (u16, u16),
    },
    /// MOBIKE (RFC 4555): move an installed SA to new outer addresses and
    /// encapsulation (`None`: plain ESP). Keys and SPI stay.
    /// Fire-and-forget, like `DeleteSa`.
    MoveSa {
        protocol: ProtocolId,
        spi: u32,
        src: IpAddr,
        dst: IpAddr,
        to_src: IpAddr,
        to_dst: IpAddr,
        encap: Option<(u16, u16)>,
    },
    /// MOBIKE: the tunnel policy of this selector pair and direction gets
    /// new tunnel endpoints (ours, the peer's). Fire-and-forget.
    MovePolicy {
        direction: Direction,
        local_ts: TrafficSelector,
        remote_ts: TrafficSelector,
        local: IpAddr,
        remote: IpAddr,
    },
}

/// An operator command (from `ike-ctl` or the configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Establish an IKE SA (and its CHILD_SA) for the named policy.
    Initiate { policy: String },
    /// Delete every IKE SA of the named policy (with its children).
    Terminate { policy: String },
    /// Delete one IKE SA.
    TerminateSa { ike: IkeSaId },
    /// Rekey one IKE SA.
    RekeyIke { ike: IkeSaId },
    /// Rekey the CHILD_SA whose inbound SPI is `spi_in`.
    RekeyChild { ike: IkeSaId, spi_in: u32 },
    /// Delete the CHILD_SA whose inbound SPI is `spi_in`.
    DeleteChild { ike: IkeSaId, spi_in: u32 },
    /// Send a liveness check now.
    Dpd { ike: IkeSaId },
    /// Our address changed to `local` (MOBIKE, RFC 4555 3.5): move this
    /// IKE SA (we are its original initiator) and its CHILD_SAs there.
    MoveLocal { ike: IkeSaId, local: IpAddr },
}

/// The negotiated IKE SA algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkeSuite {
    pub encr: Encr,
    pub prf: PrfId,
    pub integ: Option<IntegId>,
    pub dh: DhGroup,
}

/// The negotiated CHILD_SA algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildSuite {
    pub encr: Encr,
    pub integ: Option<IntegId>,
    /// PFS group, `None` without PFS.
    pub dh: Option<DhGroup>,
    pub esn: bool,
}

/// Why an SA went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// Deleted on our command.
    Terminated,
    /// The peer sent a DELETE.
    DeletedByPeer,
    /// The peer stopped answering (retransmissions exhausted, or DPD).
    PeerDead,
    /// Hard lifetime reached without a rekey.
    Expired,
    /// Replaced by a rekeyed SA.
    Rekeyed,
    /// The peer's INITIAL_CONTACT told us it restarted (RFC 7296 2.4).
    InitialContact,
    /// The negotiation failed (see the preceding `Failed` event).
    Failed,
    /// The kernel refused to install the SA.
    KernelRefused,
}

/// Why a negotiation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// The peer's AUTH did not verify, or the peer said AUTHENTICATION_FAILED.
    AuthenticationFailed,
    /// The peer's identity matches no policy.
    UnknownPeerId,
    /// No proposal in common.
    NoProposalChosen,
    /// Traffic selectors unacceptable.
    TsUnacceptable,
    /// The peer answered with this error notify.
    PeerNotify(NotifyType),
    /// The peer did not answer.
    Timeout,
    /// A key exchange or derivation failed (e.g. an invalid public value).
    Crypto,
    /// The kernel did not give us an SPI.
    NoSpi,
    /// The peer's certificate was refused (and AUTHENTICATION_FAILED sent).
    Certificate(crate::crypto::x509::CertError),
    /// We could not make our own AUTH (e.g. an RSA key and a peer without
    /// RFC 7427); the reason is logged.
    LocalAuth,
    /// Our own request or answer could not be encoded (say, more selectors
    /// or certificates than a message holds, or a fragment MTU too small
    /// for any fragment): the exchange was abandoned, the reason logged.
    Unencodable,
    /// The kernel refused a CHILD_SA's SAs, or did not confirm them within
    /// `Config::kernel_timeout`: the child was refused (responder) or
    /// deleted with the peer (initiator).
    Kernel,
}

/// Something worth logging or showing in `ike-ctl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An IKE SA is established (authenticated both ways).
    IkeUp {
        ike: IkeSaId,
        policy: String,
        local: SocketAddr,
        remote: SocketAddr,
        local_id: Identity,
        peer_id: Identity,
        suite: IkeSuite,
        initiator: bool,
    },
    /// An IKE SA is gone (with every CHILD_SA it carried).
    IkeDown {
        ike: IkeSaId,
        policy: String,
        reason: DownReason,
    },
    /// A CHILD_SA is established: the kernel confirmed both of its SAs.
    ChildUp {
        ike: IkeSaId,
        policy: String,
        spi_in: u32,
        spi_out: u32,
        local_ts: Vec<TrafficSelector>,
        remote_ts: Vec<TrafficSelector>,
        mode: Encapsulation,
        suite: ChildSuite,
    },
    /// A CHILD_SA is gone.
    ChildDown {
        ike: IkeSaId,
        spi_in: u32,
        spi_out: u32,
        reason: DownReason,
    },
    /// An IKE SA was replaced by a rekeyed one (RFC 7296 2.18).
    IkeRekeyed { old: IkeSaId, new: IkeSaId },
    /// Virtual addresses lent to the peer of an IKE SA by configuration
    /// payload (`lent`), or given back when the SA ended (`!lent`). The
    /// driver tells the broker, which allows `to dynamic` flows only for
    /// the addresses lent to that peer.
    Lease {
        ike: IkeSaId,
        peer: SocketAddr,
        addrs: Vec<std::net::IpAddr>,
        lent: bool,
    },
    /// A CHILD_SA was replaced by a rekeyed one (RFC 7296 2.8).
    ChildRekeyed {
        ike: IkeSaId,
        old_spi_in: u32,
        new_spi_in: u32,
    },
    /// A negotiation (IKE SA or CHILD_SA) failed.
    Failed {
        ike: Option<IkeSaId>,
        policy: Option<String>,
        remote: SocketAddr,
        reason: FailReason,
    },
    /// IKE_SA_INIT requests now need a cookie (`on`), or no longer do
    /// (RFC 7296 2.6), at this many half-open IKE SAs.
    CookieMode { on: bool, half_open: usize },
}

/// State of a CHILD_SA, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildStatus {
    /// Negotiated; the kernel has not confirmed both SAs yet.
    Installing,
    Installed,
    /// Our rekey of it is in flight.
    Rekeying,
    /// Replaced by a rekey; waiting for its DELETE.
    Rekeyed,
    /// DELETE sent.
    Deleting,
}

/// One CHILD_SA as `ike-ctl` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInfo {
    pub spi_in: u32,
    pub spi_out: u32,
    pub suite: ChildSuite,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub mode: Encapsulation,
    pub status: ChildStatus,
    /// When we will start a rekey, if scheduled.
    pub rekey_at: Option<std::time::Instant>,
    /// When it expires.
    pub hard_at: std::time::Instant,
}

/// State of an IKE SA, for display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IkeStatus {
    /// Initiator: IKE_SA_INIT in progress.
    Connecting,
    /// IKE_AUTH in progress (initiator), or half open (responder).
    Authenticating,
    Established,
    /// Our DELETE is under way.
    Deleting,
    /// Replaced by a rekeyed SA; waiting for its DELETE.
    Rekeyed,
}

/// One IKE SA as `ike-ctl show sa` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IkeSaInfo {
    pub id: IkeSaId,
    pub policy: String,
    pub status: IkeStatus,
    /// We are the original initiator.
    pub initiator: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub spi_i: u64,
    pub spi_r: u64,
    pub local_id: Identity,
    /// Known once the peer authenticated (or, as responder, claimed it).
    pub peer_id: Option<Identity>,
    /// Known once IKE_SA_INIT completed.
    pub suite: Option<IkeSuite>,
    pub created: std::time::Instant,
    pub rekey_at: Option<std::time::Instant>,
    pub hard_at: Option<std::time::Instant>,
    /// NAT detected: IKE on the NAT-T port, ESP in UDP.
    pub nat: bool,
    /// Virtual addresses: lent to the peer (responder) or received from
    /// it (initiator, `request address`).
    pub virtual_ips: Vec<std::net::IpAddr>,
    pub children: Vec<ChildInfo>,
}
