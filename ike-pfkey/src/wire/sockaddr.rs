//! Socket addresses inside PF_KEY extensions (RFC 2367 2.3.4).
//!
//! BSD sockaddrs begin with `sa_len` then a u8 family; Linux ones with a u16
//! family and no length (DIALECTS.md 5.1). IPv6 `AF_INET6` differs on each
//! platform. Ports and addresses are in network byte order; the IPv6 scope id in
//! host order.

use super::bytes::{arr_at, u16_at, u16be_at, u32_at, u32be_at, u8_at, Put};
use super::{Error, Result};
use crate::dialect::{Dialect, AF_INET};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

pub(crate) const SOCKADDR_IN_LEN: usize = 16;
pub(crate) const SOCKADDR_IN6_LEN: usize = 28;

/// Bytes a sockaddr for `addr` takes (no padding).
pub(crate) fn sockaddr_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => SOCKADDR_IN_LEN,
        SocketAddr::V6(_) => SOCKADDR_IN6_LEN,
    }
}

/// Decode one sockaddr at the start of `b`; returns it and the bytes it used.
pub(crate) fn parse_sockaddr(d: Dialect, b: &[u8]) -> Result<(SocketAddr, usize)> {
    let (family, declared_len) = if d.has_sa_len() {
        (u16::from(u8_at(b, 1)?), Some(usize::from(u8_at(b, 0)?)))
    } else {
        (u16_at(b, 0)?, None)
    };
    let want = if family == AF_INET {
        SOCKADDR_IN_LEN
    } else if family == d.af_inet6() {
        SOCKADDR_IN6_LEN
    } else {
        return Err(Error::BadFamily(family));
    };
    if let Some(l) = declared_len {
        if l != want {
            return Err(Error::BadSockaddr);
        }
    }
    if b.len() < want {
        return Err(Error::Truncated);
    }
    let port = u16be_at(b, 2)?;
    let sa = if want == SOCKADDR_IN_LEN {
        let ip = Ipv4Addr::from(arr_at::<4>(b, 4)?);
        SocketAddr::V4(SocketAddrV4::new(ip, port))
    } else {
        let flowinfo = u32be_at(b, 4)?;
        let ip = Ipv6Addr::from(arr_at::<16>(b, 8)?);
        let scope = u32_at(b, 24)?;
        SocketAddr::V6(SocketAddrV6::new(ip, port, flowinfo, scope))
    };
    Ok((sa, want))
}

/// Append the sockaddr (unpadded).
pub(crate) fn emit_sockaddr(d: Dialect, sa: &SocketAddr, out: &mut Vec<u8>) {
    let (family, len) = match sa {
        SocketAddr::V4(_) => (AF_INET, SOCKADDR_IN_LEN),
        SocketAddr::V6(_) => (d.af_inet6(), SOCKADDR_IN6_LEN),
    };
    if d.has_sa_len() {
        // Both lengths and families are below 256.
        out.put_u8(len as u8);
        out.put_u8(family as u8);
    } else {
        out.put_u16(family);
    }
    out.put_u16be(sa.port());
    match sa {
        SocketAddr::V4(v4) => {
            out.extend_from_slice(&v4.ip().octets());
            out.put_zeros(8);
        }
        SocketAddr::V6(v6) => {
            out.put_u32be(v6.flowinfo());
            out.extend_from_slice(&v6.ip().octets());
            out.put_u32(v6.scope_id());
        }
    }
}

/// `sadb_address`: {u8 proto, u8 prefixlen, u16 reserved} + sockaddr, padded to 8.
/// On OpenBSD the first word is reserved (no proto/prefixlen, DIALECTS.md 3.1):
/// we emit zeros there and decode `proto = 0, prefix_len = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Upper-layer protocol; `IPSEC_ULPROTO_ANY` (255) for any.
    pub proto: u8,
    pub prefix_len: u8,
    pub addr: SocketAddr,
}

impl Address {
    /// A host address: full prefix, any protocol, no port.
    pub fn host(ip: IpAddr) -> Address {
        Address {
            proto: crate::dialect::IPSEC_ULPROTO_ANY,
            prefix_len: full_prefix(ip),
            addr: SocketAddr::new(ip, 0),
        }
    }

    pub fn ip(&self) -> IpAddr {
        self.addr.ip()
    }

    /// Body after the 4-byte ext header; strict like Linux and OpenBSD: the length
    /// must be exactly 4 + ALIGN8(4 + sockaddr) (DIALECTS.md 5.1, 3.2).
    pub fn parse(d: Dialect, body: &[u8]) -> Result<Address> {
        let (proto, prefix_len) = if d == Dialect::OpenBsd {
            (0, 0)
        } else {
            (u8_at(body, 0)?, u8_at(body, 1)?)
        };
        let rest = body.get(4..).ok_or(Error::Truncated)?;
        let (addr, used) = parse_sockaddr(d, rest)?;
        if super::align8(8 + used) != body.len() + 4 {
            return Err(Error::BadSockaddr);
        }
        if d != Dialect::OpenBsd && prefix_len > full_prefix(addr.ip()) {
            return Err(Error::BadSockaddr);
        }
        Ok(Address {
            proto,
            prefix_len,
            addr,
        })
    }

    pub fn emit(&self, d: Dialect, out: &mut Vec<u8>) {
        if d == Dialect::OpenBsd {
            out.put_u32(0);
        } else {
            out.put_u8(self.proto);
            out.put_u8(self.prefix_len);
            out.put_u16(0);
        }
        emit_sockaddr(d, &self.addr, out);
    }
}

pub fn full_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_v4_has_u16_family() {
        let mut out = Vec::new();
        emit_sockaddr(Dialect::Linux, &"192.0.2.1:500".parse().unwrap(), &mut out);
        let fam = 2u16.to_ne_bytes();
        assert_eq!(out[..2], fam);
        assert_eq!(out[2..8], [0x01, 0xf4, 192, 0, 2, 1]);
        assert_eq!(out.len(), 16);
    }

    #[test]
    fn bsd_v6_has_sa_len_and_own_family() {
        let sa: SocketAddr = "[2001:db8::1]:4500".parse().unwrap();
        for (d, fam) in [(Dialect::FreeBsd, 28u8), (Dialect::OpenBsd, 24u8)] {
            let mut out = Vec::new();
            emit_sockaddr(d, &sa, &mut out);
            assert_eq!(out[0], 28);
            assert_eq!(out[1], fam);
            assert_eq!(parse_sockaddr(d, &out).unwrap(), (sa, 28));
            // Another dialect's AF_INET6 is refused.
            let other = if d == Dialect::FreeBsd {
                Dialect::OpenBsd
            } else {
                Dialect::FreeBsd
            };
            assert_eq!(
                parse_sockaddr(other, &out),
                Err(Error::BadFamily(u16::from(fam)))
            );
        }
    }

    #[test]
    fn bsd_sa_len_must_match_family() {
        let mut out = Vec::new();
        emit_sockaddr(Dialect::FreeBsd, &"10.0.0.1:0".parse().unwrap(), &mut out);
        out[0] = 28;
        assert_eq!(
            parse_sockaddr(Dialect::FreeBsd, &out),
            Err(Error::BadSockaddr)
        );
    }

    #[test]
    fn address_prefix_checked() {
        let a = Address {
            proto: 6,
            prefix_len: 24,
            addr: "10.1.2.0:80".parse().unwrap(),
        };
        let mut out = Vec::new();
        a.emit(Dialect::Linux, &mut out);
        // The body follows a 4-byte ext header: 4 + 20 = 24 bytes, already aligned.
        assert_eq!(out.len(), 20);
        let body = &out[..];
        assert_eq!(Address::parse(Dialect::Linux, body).unwrap(), a);
        let mut bad = body.to_vec();
        bad[1] = 33;
        assert_eq!(
            Address::parse(Dialect::Linux, &bad),
            Err(Error::BadSockaddr)
        );
    }
}
