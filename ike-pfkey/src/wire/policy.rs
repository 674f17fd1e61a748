//! KAME `sadb_x_policy` and its list of `sadb_x_ipsecrequest` (DIALECTS.md 2.4).
//!
//! The policy header is 16 bytes on FreeBSD and Linux (the 5th byte is the scope
//! on FreeBSD, reserved on Linux). Requests are 8 bytes with a u16 reqid on
//! FreeBSD and 16 bytes with a u32 reqid on Linux; their length is in bytes, not
//! words. A tunnel-mode request carries its two endpoints as back-to-back sockaddrs.

use super::bytes::{u16_at, u32_at, u8_at, Put};
use super::sockaddr::{emit_sockaddr, parse_sockaddr};
use super::{Error, Result};
use crate::dialect::{kame_freebsd, linux, Dialect, ExtKind};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// One SA template of an IPSEC policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpsecRequest {
    /// IPPROTO_ESP / AH / IPCOMP.
    pub proto: u16,
    pub mode: u8,
    pub level: u8,
    pub reqid: u32,
    /// Tunnel source and destination (tunnel mode only).
    pub tunnel: Option<(SocketAddr, SocketAddr)>,
}

/// `sadb_x_policy` with its requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// IPSEC_POLICY_DISCARD / NONE / IPSEC.
    pub policy_type: u16,
    pub dir: u8,
    /// FreeBSD's policy scope; reserved (0) on Linux.
    pub scope: u8,
    pub id: u32,
    pub priority: u32,
    pub requests: Vec<IpsecRequest>,
}

fn request_header_len(d: Dialect) -> Result<usize> {
    match d {
        Dialect::Linux => Ok(linux::IPSECREQUEST_LEN),
        Dialect::FreeBsd => Ok(kame_freebsd::IPSECREQUEST_LEN),
        Dialect::OpenBsd => Err(Error::NotInDialect("KAME policy extension")),
    }
}

impl Policy {
    pub fn parse(d: Dialect, body: &[u8]) -> Result<Policy> {
        let bad = || Error::BadExtBody(ExtKind::Policy);
        let hdr = request_header_len(d)?;
        let mut requests = Vec::new();
        let mut rest = body.get(12..).ok_or_else(bad)?;
        // Requests follow until fewer bytes than a request header remain; the
        // count is bounded by the bytes present, each being at least `hdr` long.
        while rest.len() >= hdr {
            let len = usize::from(u16_at(rest, 0)?);
            if len < hdr || len > rest.len() {
                return Err(bad());
            }
            let (this, next) = rest.split_at(len);
            let reqid = if d == Dialect::Linux {
                u32_at(this, 8)?
            } else {
                u32::from(u16_at(this, 6)?)
            };
            let tunnel = if len > hdr {
                let addrs = this.get(hdr..).ok_or_else(bad)?;
                let (src, used) = parse_sockaddr(d, addrs)?;
                let (dst, used2) = parse_sockaddr(d, addrs.get(used..).ok_or_else(bad)?)?;
                // Same family on both ends (FreeBSD checks this), and nothing
                // but padding after them.
                if src.is_ipv4() != dst.is_ipv4() || super::align8(hdr + used + used2) != len {
                    return Err(bad());
                }
                Some((src, dst))
            } else {
                None
            };
            requests.push(IpsecRequest {
                proto: u16_at(this, 2)?,
                mode: u8_at(this, 4)?,
                level: u8_at(this, 5)?,
                reqid,
                tunnel,
            });
            rest = next;
        }
        Ok(Policy {
            policy_type: u16_at(body, 0)?,
            dir: u8_at(body, 2)?,
            scope: u8_at(body, 3)?,
            id: u32_at(body, 4)?,
            priority: u32_at(body, 8)?,
            requests,
        })
    }

    pub fn emit(&self, d: Dialect, out: &mut Vec<u8>) -> Result<()> {
        let hdr = request_header_len(d)?;
        out.put_u16(self.policy_type);
        out.put_u8(self.dir);
        out.put_u8(self.scope);
        out.put_u32(self.id);
        out.put_u32(self.priority);
        for r in &self.requests {
            let start = out.len();
            let addr_len = match r.tunnel {
                Some((s, t)) => {
                    if s.is_ipv4() != t.is_ipv4() {
                        return Err(Error::ValueRange("tunnel endpoint families"));
                    }
                    super::sockaddr::sockaddr_len(&s) + super::sockaddr::sockaddr_len(&t)
                }
                None => 0,
            };
            let len = u16::try_from(super::align8(hdr + addr_len)).map_err(|_| Error::TooLong)?;
            out.put_u16(len);
            out.put_u16(r.proto);
            out.put_u8(r.mode);
            out.put_u8(r.level);
            if d == Dialect::Linux {
                out.put_u16(0);
                out.put_u32(r.reqid);
                out.put_u32(0);
            } else {
                let reqid =
                    u16::try_from(r.reqid).map_err(|_| Error::ValueRange("FreeBSD reqid"))?;
                out.put_u16(reqid);
            }
            if let Some((s, t)) = r.tunnel {
                emit_sockaddr(d, &s, out);
                emit_sockaddr(d, &t, out);
            }
            out.pad8(start);
        }
        Ok(())
    }
}
