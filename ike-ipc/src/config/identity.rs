//! IKE identities (`srcid`, `dstid`; RFC 7296 3.5).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An identity as configured. The type is inferred from the text the way
/// iked.conf(5) does: an address literal, `user@domain`, or a domain name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Identity {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// ID_FQDN: a domain name, stored without a trailing dot.
    Fqdn(String),
    /// ID_RFC822_ADDR: `user@domain`.
    Ufqdn(String),
}

impl Identity {
    /// ID Type (RFC 7296 3.5).
    pub fn id_type(&self) -> u8 {
        match self {
            Identity::Ipv4(_) => 1,
            Identity::Fqdn(_) => 2,
            Identity::Ufqdn(_) => 3,
            Identity::Ipv6(_) => 5,
        }
    }

    /// Identification Data as it appears on the wire.
    pub fn data(&self) -> Vec<u8> {
        match self {
            Identity::Ipv4(a) => a.octets().to_vec(),
            Identity::Ipv6(a) => a.octets().to_vec(),
            Identity::Fqdn(s) | Identity::Ufqdn(s) => s.as_bytes().to_vec(),
        }
    }

    /// The directory under `pubkeys/` that holds this identity's key (iked layout).
    pub fn pubkey_dir(&self) -> &'static str {
        match self {
            Identity::Ipv4(_) => "ipv4",
            Identity::Ipv6(_) => "ipv6",
            Identity::Fqdn(_) => "fqdn",
            Identity::Ufqdn(_) => "ufqdn",
        }
    }
}

/// An address as an identity (ID_IPV4_ADDR / ID_IPV6_ADDR), as iked uses
/// the `local`/`peer` address when `srcid`/`dstid` are not given.
impl From<std::net::IpAddr> for Identity {
    fn from(addr: std::net::IpAddr) -> Identity {
        match addr {
            std::net::IpAddr::V4(a) => Identity::Ipv4(a),
            std::net::IpAddr::V6(a) => Identity::Ipv6(a),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            Identity::Fqdn(s) | Identity::Ufqdn(s) => f.write_str(s),
        }
    }
}
