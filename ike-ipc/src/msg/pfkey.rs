//! ike-net <-> ike-pfkey (fd 4 in both): kernel requests from the network
//! worker, and kernel replies and events back from the broker.
//!
//! The broker trusts nothing in a [`NetToPfkey`]: each request is checked
//! against the allowed set derived from the configuration and against the SPIs
//! and policies the broker itself created (`ike_pfkey::broker::allow`). The
//! requests the broker never performs for ike-net (`Flush`, `Dump`, `SpdFlush`,
//! `SpdDump`) have variants anyway, so that a refusal is explicit, logged and
//! testable rather than a decode error.
//!
//! Addresses are plain values; the broker turns them into each kernel's
//! dialect. Algorithms are the configuration's names; the broker maps them to
//! the kernel's numbers and refuses what the kernel cannot do right.

use crate::config::{Encapsulation, Encryption, Integrity, IpNet, IpsecProtocol, Secret};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// Chosen by ike-net; echoed in the matching [`PfkeyToNet::Reply`].
pub type BrokerRequestId = u64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetToPfkey {
    Request {
        id: BrokerRequestId,
        req: BrokerRequest,
    },
    /// Virtual addresses lent to the peer at outer address `peer` by
    /// configuration payload (`lent`), or given back (issue 15). No reply:
    /// the broker records it and allows policies into an address pool
    /// only for the peer holding the address (`broker/leases.rs`).
    Lease {
        peer: IpAddr,
        addrs: Vec<IpAddr>,
        lent: bool,
    },
}

/// Which SA: the kernel's key is (protocol, destination, SPI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaId {
    pub proto: IpsecProtocol,
    pub spi: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
}

/// Kernel lifetime limits; 0 = no limit (RFC 2367 2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SaLifetime {
    pub bytes: u64,
    pub seconds: u64,
    pub packets: u32,
}

/// UDP encapsulation of ESP (RFC 3948): our port and the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatT {
    pub sport: u16,
    pub dport: u16,
}

/// Everything the kernel needs for one child SA (ADD or UPDATE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerSaParams {
    pub id: SaId,
    pub mode: Encapsulation,
    /// Ties the SA to its policies (KAME); 0 = none.
    pub reqid: u32,
    /// `None` for AH.
    pub encryption: Option<Encryption>,
    /// For GCM/CTR/GMAC/ChaCha20: key then 4-byte salt (RFC 4106, 7634).
    pub enc_key: Secret,
    /// `None` for AEAD ciphers.
    pub integrity: Option<Integrity>,
    pub auth_key: Secret,
    /// Anti-replay window in packets; 0 = off.
    pub replay_window: u32,
    pub esn: bool,
    pub soft: SaLifetime,
    pub hard: SaLifetime,
    pub natt: Option<NatT>,
    /// The ACQUIRE this answers (its `seq`), or 0.
    pub acquire_seq: u32,
}

/// Traffic selectors as the kernel's SPD knows them: one prefix per side, an
/// optional upper-layer protocol and single ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selectors {
    pub src: IpNet,
    pub dst: IpNet,
    /// IP protocol; `None` = any.
    pub proto: Option<u8>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyDir {
    In,
    Out,
    /// Linux forwards decrypted tunnel traffic through a separate policy.
    Fwd,
}

/// One kernel policy (KAME SPD entry or OpenBSD flow) for a child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerPolicyParams {
    pub dir: PolicyDir,
    /// Oriented like the packets of `dir`: for `Out` src is our side.
    pub sel: Selectors,
    pub proto: IpsecProtocol,
    pub mode: Encapsulation,
    /// Outer (src, dst) of tunnel mode, oriented like `dir`; `None` in transport.
    pub tunnel: Option<(IpAddr, IpAddr)>,
    pub reqid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrokerRequest {
    /// Reserve an inbound SPI (a larval SA), for the SA we will UPDATE.
    GetSpi {
        proto: IpsecProtocol,
        src: IpAddr,
        dst: IpAddr,
        mode: Encapsulation,
        reqid: u32,
        acquire_seq: u32,
    },
    /// Install an SA whose SPI the peer chose (outbound).
    AddSa(Box<BrokerSaParams>),
    /// Complete an SA whose SPI this broker reserved with `GetSpi` (inbound).
    UpdateSa(Box<BrokerSaParams>),
    DeleteSa(SaId),
    /// Current lifetimes of an SA this broker installed.
    GetSa(SaId),
    AddPolicy(BrokerPolicyParams),
    DeletePolicy(BrokerPolicyParams),
    /// Tell the kernel that negotiation for an ACQUIRE failed (RFC 2367 3.1.6).
    AcquireFailed {
        seq: u32,
        proto: IpsecProtocol,
    },
    /// Always refused: would wipe every daemon's SAs.
    Flush,
    /// Always refused: would read every SA, keys included.
    Dump,
    /// Always refused: would wipe every policy.
    SpdFlush,
    /// Always refused: would read every policy.
    SpdDump,
    /// The peer's NAT mapping changed (RFC 7296 2.23): move the UDP
    /// encapsulation of an SA this broker installed to these ports. Only the
    /// peer's port may change; addresses and keys stay (issue 13).
    UpdateEncap {
        id: SaId,
        natt: NatT,
    },
    /// MOBIKE (RFC 4555): an SA this broker installed moves to new outer
    /// addresses (one end stays) and encapsulation. PF_KEY cannot change an
    /// SA's addresses, so the broker adds the SA again (same SPI and keys,
    /// from what it kept) and deletes the old one; ike-net gets one reply
    /// per step (`ike_pfkey::broker::mobility`).
    MoveSa {
        id: SaId,
        src: IpAddr,
        dst: IpAddr,
        natt: Option<NatT>,
    },
    /// MOBIKE: a tunnel-mode policy this broker installed gets new tunnel
    /// endpoints (`p` as installed; SPDUPDATE / OpenBSD ADDFLOW replace it).
    MovePolicy {
        p: BrokerPolicyParams,
        tunnel: (IpAddr, IpAddr),
    },
}

/// The broker's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KernelReply {
    Spi(u32),
    Done,
    Sa(SaInfo),
}

/// What GET reports about an SA (keys are never passed on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaInfo {
    pub id: SaId,
    pub bytes: u64,
    pub packets: u32,
    /// Absolute times (seconds since the epoch), 0 = not yet.
    pub add_time: u64,
    pub use_time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KernelError {
    /// The broker's allow-list refused the request (and logged it).
    Refused(String),
    /// The kernel answered with this errno (`sadb_msg_errno`).
    Kernel(i32),
    /// The kernel cannot do this correctly (e.g. an algorithm af_key mangles).
    Unsupported(String),
    /// No answer in time.
    Timeout,
    /// The kernel's answer could not be understood.
    Protocol(String),
}

/// What the broker's kernel interface can install, by configuration name:
/// the algorithms of the REGISTER replies (PF_KEY) or every one with a
/// kernel name (XFRM), and whether it takes ESN. ike-net leaves the rest
/// out of its child proposals (`ike-net/src/caps.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Supported {
    pub encryption: Vec<Encryption>,
    pub integrity: Vec<Integrity>,
    /// Extended sequence numbers (RFC 4303 2.2.1) can be installed: XFRM and
    /// the BSD dialects, not Linux af_key.
    pub esn: bool,
    /// The broker's kernel checks forwarded tunnel traffic against separate
    /// `fwd` policies (Linux): ike-net asks for one beside each inbound
    /// tunnel policy. Decided by the broker's dialect, not by the OS ike-net
    /// was built for (a BSD dialect can run on Linux towards pfkey-sim).
    pub fwd_policies: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireKind {
    /// Rekey now.
    Soft,
    /// The kernel deleted the SA.
    Hard,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrokerEvent {
    /// Traffic matched a policy with no SA (RFC 2367 3.1.6): negotiate one.
    Acquire {
        /// Echo it in `GetSpi`/`AddSa`/`UpdateSa` (`acquire_seq`).
        seq: u32,
        proto: IpsecProtocol,
        /// Outer addresses the kernel wants the SA between.
        src: IpAddr,
        dst: IpAddr,
        /// The policy's selectors (KAME: from SPDGET; OpenBSD: ASKPOLICY);
        /// `None` if the kernel would not tell.
        policy: Option<Selectors>,
        /// The triggering packet (RFC 7296 2.9: its selectors go first in
        /// TSi/TSr): host addresses, with protocol and ports only where
        /// the policy has them. Only XFRM tells it (`xfrm_user_acquire.sel`);
        /// the broker drops it unless it lies inside `policy`.
        packet: Option<Selectors>,
        mode: Option<Encapsulation>,
        reqid: u32,
    },
    Expire {
        kind: ExpireKind,
        sa: SaId,
    },
    /// ESP-in-UDP for our inbound SA `sa` arrived from `new` instead of
    /// `old` (Linux SADB_X_NAT_T_NEW_MAPPING, raised after the packet passed
    /// the SA's integrity check): the peer's NAT mapping changed.
    NatMapping {
        sa: SaId,
        old: SocketAddr,
        new: SocketAddr,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PfkeyToNet {
    /// Sent once, after REGISTER: what the kernel can do.
    Ready(Supported),
    Reply {
        id: BrokerRequestId,
        result: Result<KernelReply, KernelError>,
    },
    Event(BrokerEvent),
}

#[cfg(all(test, feature = "os"))]
mod tests {
    use super::*;
    use crate::envelope::{decode, encode};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn round_trips_and_truncations_fail() {
        let sa = SaId {
            proto: IpsecProtocol::Esp,
            spi: 0x1234,
            src: ip("192.0.2.1"),
            dst: ip("2001:db8::1"),
        };
        let params = BrokerSaParams {
            id: sa,
            mode: Encapsulation::Tunnel,
            reqid: 3,
            encryption: Some(Encryption::Aes256Gcm16),
            enc_key: Secret::new(vec![7; 36]),
            integrity: None,
            auth_key: Secret::new(vec![]),
            replay_window: 32,
            esn: false,
            soft: SaLifetime {
                bytes: 1,
                seconds: 2,
                packets: 3,
            },
            hard: SaLifetime::default(),
            natt: Some(NatT {
                sport: 4500,
                dport: 4501,
            }),
            acquire_seq: 9,
        };
        let sel = Selectors {
            src: IpNet::host(ip("10.0.0.1")),
            dst: IpNet::any(false),
            proto: Some(6),
            src_port: None,
            dst_port: Some(443),
        };
        let pol = BrokerPolicyParams {
            dir: PolicyDir::Out,
            sel,
            proto: IpsecProtocol::Esp,
            mode: Encapsulation::Tunnel,
            tunnel: Some((ip("192.0.2.1"), ip("192.0.2.2"))),
            reqid: 3,
        };
        let reqs = [
            BrokerRequest::GetSpi {
                proto: IpsecProtocol::Ah,
                src: sa.src,
                dst: sa.dst,
                mode: Encapsulation::Transport,
                reqid: 0,
                acquire_seq: 0,
            },
            BrokerRequest::AddSa(Box::new(params.clone())),
            BrokerRequest::UpdateSa(Box::new(params)),
            BrokerRequest::DeleteSa(sa),
            BrokerRequest::GetSa(sa),
            BrokerRequest::AddPolicy(pol),
            BrokerRequest::DeletePolicy(pol),
            BrokerRequest::AcquireFailed {
                seq: 1,
                proto: IpsecProtocol::Esp,
            },
            BrokerRequest::Flush,
            BrokerRequest::Dump,
            BrokerRequest::SpdFlush,
            BrokerRequest::SpdDump,
            BrokerRequest::UpdateEncap {
                id: sa,
                natt: NatT {
                    sport: 4500,
                    dport: 40001,
                },
            },
        ];
        for (i, req) in reqs.into_iter().enumerate() {
            let m = NetToPfkey::Request { id: i as u64, req };
            let b = encode(&m).unwrap();
            assert_eq!(decode::<NetToPfkey>(&b).unwrap(), m);
            for cut in 0..b.len() {
                assert!(decode::<NetToPfkey>(&b[..cut]).is_err());
            }
        }
        let replies = [
            PfkeyToNet::Ready(Supported {
                encryption: vec![Encryption::Aes128Cbc],
                integrity: vec![Integrity::HmacSha1],
                esn: true,
                fwd_policies: true,
            }),
            PfkeyToNet::Reply {
                id: 1,
                result: Ok(KernelReply::Spi(5)),
            },
            PfkeyToNet::Reply {
                id: 2,
                result: Ok(KernelReply::Done),
            },
            PfkeyToNet::Reply {
                id: 3,
                result: Ok(KernelReply::Sa(SaInfo {
                    id: sa,
                    bytes: 1,
                    packets: 2,
                    add_time: 3,
                    use_time: 4,
                })),
            },
            PfkeyToNet::Reply {
                id: 4,
                result: Err(KernelError::Refused("no".into())),
            },
            PfkeyToNet::Reply {
                id: 5,
                result: Err(KernelError::Kernel(3)),
            },
            PfkeyToNet::Event(BrokerEvent::Acquire {
                seq: 1,
                proto: IpsecProtocol::Esp,
                src: sa.src,
                dst: sa.dst,
                policy: Some(sel),
                packet: Some(sel),
                mode: Some(Encapsulation::Tunnel),
                reqid: 1,
            }),
            PfkeyToNet::Event(BrokerEvent::Expire {
                kind: ExpireKind::Soft,
                sa,
            }),
            PfkeyToNet::Event(BrokerEvent::NatMapping {
                sa,
                old: "192.0.2.1:40000".parse().unwrap(),
                new: "192.0.2.1:40001".parse().unwrap(),
            }),
        ];
        for m in replies {
            let b = encode(&m).unwrap();
            assert_eq!(decode::<PfkeyToNet>(&b).unwrap(), m);
        }
    }

    #[test]
    fn keys_are_not_printed() {
        let p = BrokerSaParams {
            id: SaId {
                proto: IpsecProtocol::Esp,
                spi: 1,
                src: ip("192.0.2.1"),
                dst: ip("192.0.2.2"),
            },
            mode: Encapsulation::Tunnel,
            reqid: 0,
            encryption: Some(Encryption::Aes128Cbc),
            enc_key: Secret::new(b"sixteen byte key".to_vec()),
            integrity: Some(Integrity::HmacSha1),
            auth_key: Secret::new(b"twenty bytes of key!".to_vec()),
            replay_window: 0,
            esn: false,
            soft: SaLifetime::default(),
            hard: SaLifetime::default(),
            natt: None,
            acquire_seq: 0,
        };
        let s = format!("{p:?}");
        assert!(!s.contains("sixteen") && !s.contains("twenty"), "{s}");
    }
}
