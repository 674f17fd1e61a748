//! One `ikev2` policy: who we talk to, how, and which traffic it protects.

use super::algorithms::{DhGroup, Encryption, Esn, Integrity, Prf};
use super::identity::Identity;
use super::secret::Secret;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address with a prefix length; the host bits are zero (the parser
/// rejects `10.0.0.1/24`, as iked does not guess what was meant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// A prefix whose host bits are all zero, or `None`.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let net = IpNet { addr, prefix };
        if prefix > net.max_prefix() || net.network() != addr {
            return None;
        }
        Some(net)
    }

    pub fn host(addr: IpAddr) -> IpNet {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        IpNet { addr, prefix }
    }

    /// `0.0.0.0/0` or `::/0`.
    pub fn any(ipv6: bool) -> IpNet {
        if ipv6 {
            IpNet {
                addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                prefix: 0,
            }
        } else {
            IpNet {
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                prefix: 0,
            }
        }
    }

    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    pub fn is_host(&self) -> bool {
        self.prefix == self.max_prefix()
    }

    fn max_prefix(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The address with its host bits cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix.min(32)))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(bits & mask))
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix.min(128)))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
        }
    }

    /// Whether `addr` lies inside this prefix (families must agree).
    pub fn contains(&self, addr: IpAddr) -> bool {
        if addr.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        IpNet {
            addr,
            prefix: self.prefix,
        }
        .network()
            == self.addr
    }

    /// Whether all of `other` lies inside this prefix.
    pub fn covers(&self, other: &IpNet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// First and last address, for traffic selectors (RFC 7296 3.13.1).
    pub fn range(&self) -> (IpAddr, IpAddr) {
        match self.addr {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                (self.addr, IpAddr::V4(Ipv4Addr::from(u32::from(a) | host)))
            }
            IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                (self.addr, IpAddr::V6(Ipv6Addr::from(u128::from(a) | host)))
            }
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One `from SRC [port P] to DST [port P]` pair, with the policy's protocol
/// (a `proto { a b }` list gives one flow per protocol).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flow {
    /// IP protocol number; `None` = any.
    pub proto: Option<u8>,
    pub src: IpNet,
    pub src_port: Option<u16>,
    pub dst: IpNet,
    pub dst_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyMode {
    /// We initiate (at start and when traffic needs it).
    Active,
    /// We only respond (the iked default).
    Passive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpsecProtocol {
    Esp,
    Ah,
}

impl IpsecProtocol {
    /// Protocol ID (RFC 7296 3.3.1).
    pub fn protocol_id(self) -> u8 {
        match self {
            IpsecProtocol::Ah => 2,
            IpsecProtocol::Esp => 3,
        }
    }
}

/// ESP encapsulation mode: the file's `tunnel`/`transport`, and the mode
/// the engine negotiates and the broker checks (one type for all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encapsulation {
    /// Tunnel mode (the default of RFC 7296).
    Tunnel,
    /// Transport mode, asked for with USE_TRANSPORT_MODE (RFC 7296 1.3.1).
    Transport,
}

/// One `ikesa` proposal: every listed transform is offered (RFC 7296 3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeProposal {
    pub encryption: Vec<Encryption>,
    pub prf: Vec<Prf>,
    /// Empty for AEAD ciphers.
    pub integrity: Vec<Integrity>,
    pub groups: Vec<DhGroup>,
}

/// One `childsa` proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildProposal {
    /// Empty for AH.
    pub encryption: Vec<Encryption>,
    /// Empty for AEAD ciphers.
    pub integrity: Vec<Integrity>,
    /// PFS groups for CREATE_CHILD_SA (RFC 7296 1.3.1); empty = no PFS.
    pub groups: Vec<DhGroup>,
    pub esn: Vec<Esn>,
}

/// `lifetime T [bytes B]`: the hard limits of a child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifetime {
    pub seconds: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicKeyMethod {
    /// `rsa`: an RSA key. iked's auth method 1 is RSA PKCS#1 v1.5 with
    /// SHA-1; this daemon signs with RFC 7427 (method 14, SHA-2) instead,
    /// as OpenIKED does when the peer supports it.
    Rsa,
    /// `ecdsa256`: auth method 9.
    Ecdsa256,
    /// `ecdsa384`: auth method 10.
    Ecdsa384,
    /// `ecdsa521`: auth method 11.
    Ecdsa521,
    /// `rfc7427`: Digital Signature (auth method 14, RFC 7427), the default.
    Rfc7427,
}

impl PublicKeyMethod {
    pub fn name(self) -> &'static str {
        match self {
            PublicKeyMethod::Rsa => "rsa",
            PublicKeyMethod::Ecdsa256 => "ecdsa256",
            PublicKeyMethod::Ecdsa384 => "ecdsa384",
            PublicKeyMethod::Ecdsa521 => "ecdsa521",
            PublicKeyMethod::Rfc7427 => "rfc7427",
        }
    }

    /// The Auth Method the keyword names (RFC 7296 3.8, RFC 4754, RFC 7427);
    /// for `rsa` this daemon sends 14 instead (see above).
    pub fn auth_method(self) -> u8 {
        match self {
            PublicKeyMethod::Rsa => 1,
            PublicKeyMethod::Ecdsa256 => 9,
            PublicKeyMethod::Ecdsa384 => 10,
            PublicKeyMethod::Ecdsa521 => 11,
            PublicKeyMethod::Rfc7427 => 14,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Auth {
    /// `psk`: shared key MIC (auth method 2).
    Psk(Secret),
    /// A signature with `Config::local_key` (and our certificate from
    /// `Config::local_certs`, if any), checked against the peer's key in
    /// `Config::peer_keys` or, without one, its certificate against
    /// `Config::ca_files` (see `Config::peer_auth_source`).
    PublicKey(PublicKeyMethod),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Unique; `policyN` (N = position) when the file gives none.
    pub name: String,
    /// Where it was defined, `file:line`, for messages.
    pub source: String,
    pub mode: PolicyMode,
    /// `quick`: the first matching quick policy wins (see `select`).
    pub quick: bool,
    /// `default`: used when no other policy matches.
    pub default: bool,
    pub protocol: IpsecProtocol,
    pub encapsulation: Encapsulation,
    /// At least one.
    pub flows: Vec<Flow>,
    /// `local ADDR`; `None` = any local address.
    pub local: Option<IpAddr>,
    /// `peer ADDR[/LEN]`; `None` = any peer (responder only).
    pub peer: Option<IpNet>,
    /// At least one, in order of preference.
    pub ike_proposals: Vec<IkeProposal>,
    /// At least one, in order of preference.
    pub child_proposals: Vec<ChildProposal>,
    pub srcid: Option<Identity>,
    pub dstid: Option<Identity>,
    pub ike_lifetime_seconds: u64,
    pub lifetime: Lifetime,
    pub auth: Auth,
    /// `natt`: UDP-encapsulate ESP (port 4500) even when no NAT is
    /// detected, as iked does.
    pub natt: bool,
    /// `config ...` / `request address` (RFC 7296 3.15).
    pub cp: super::cp::CpConfig,
}

/// Defaults as in OpenIKED (iked.conf(5)).
pub const DEFAULT_IKE_LIFETIME: u64 = 86_400;
pub const DEFAULT_CHILD_LIFETIME: u64 = 10_800;
pub const DEFAULT_CHILD_BYTES: u64 = 4 * 1024 * 1024 * 1024;

impl Policy {
    /// Equal in everything that matters to the peer and the kernel, that is
    /// all but `source`: on reload, a policy that only moved in the file
    /// keeps its SAs.
    pub fn same_settings(&self, other: &Policy) -> bool {
        let mut moved = other.clone();
        moved.source.clone_from(&self.source);
        *self == moved
    }

    /// A passive ESP tunnel policy with defaults and no flows; the parser
    /// fills it in.
    pub fn new(name: &str) -> Policy {
        Policy {
            name: name.to_string(),
            source: String::new(),
            mode: PolicyMode::Passive,
            quick: false,
            default: false,
            protocol: IpsecProtocol::Esp,
            encapsulation: Encapsulation::Tunnel,
            flows: Vec::new(),
            local: None,
            peer: None,
            ike_proposals: Vec::new(),
            child_proposals: Vec::new(),
            srcid: None,
            dstid: None,
            ike_lifetime_seconds: DEFAULT_IKE_LIFETIME,
            natt: false,
            lifetime: Lifetime {
                seconds: DEFAULT_CHILD_LIFETIME,
                bytes: DEFAULT_CHILD_BYTES,
            },
            auth: Auth::PublicKey(PublicKeyMethod::Rfc7427),
            cp: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn same_settings_ignores_only_the_source_line() {
        let mut a = Policy::new("p");
        a.source = "ike.conf:3".into();
        let mut b = a.clone();
        b.source = "ike.conf:9".into();
        assert!(a.same_settings(&b));
        assert_ne!(a, b);
        b.lifetime.seconds += 1;
        assert!(!a.same_settings(&b));
    }

    #[test]
    fn prefixes() {
        let net = IpNet::new(ip("10.1.0.0"), 16).unwrap();
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(!net.contains(ip("::1")));
        assert!(IpNet::new(ip("10.1.0.1"), 16).is_none());
        assert!(IpNet::new(ip("10.1.0.0"), 33).is_none());
        assert_eq!(net.range(), (ip("10.1.0.0"), ip("10.1.255.255")));
        assert!(IpNet::any(false).contains(ip("1.2.3.4")));
        assert_eq!(
            IpNet::any(true).range().1,
            ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        assert!(net.covers(&IpNet::host(ip("10.1.2.3"))));
        assert!(!IpNet::host(ip("10.1.2.3")).covers(&net));
        let v6 = IpNet::new(ip("2001:db8::"), 32).unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(IpNet::new(ip("2001:db8::1"), 32).is_none());
    }
}
