//! Checked reads from untrusted byte slices. Netlink integers are in host
//! byte order; SPIs, ports and addresses are in network order
//! (`__be32`/`__be16` in xfrm.h).

use super::{Error, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn field<const N: usize>(b: &[u8], off: usize) -> Result<[u8; N]> {
    let end = off.checked_add(N).ok_or(Error::Truncated)?;
    let s = b.get(off..end).ok_or(Error::Truncated)?;
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    Ok(a)
}

pub(crate) fn u8_at(b: &[u8], off: usize) -> Result<u8> {
    b.get(off).copied().ok_or(Error::Truncated)
}
pub(crate) fn u16_at(b: &[u8], off: usize) -> Result<u16> {
    field(b, off).map(u16::from_ne_bytes)
}
pub(crate) fn u16be_at(b: &[u8], off: usize) -> Result<u16> {
    field(b, off).map(u16::from_be_bytes)
}
pub(crate) fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    field(b, off).map(u32::from_ne_bytes)
}
pub(crate) fn i32_at(b: &[u8], off: usize) -> Result<i32> {
    field(b, off).map(i32::from_ne_bytes)
}
pub(crate) fn u32be_at(b: &[u8], off: usize) -> Result<u32> {
    field(b, off).map(u32::from_be_bytes)
}
pub(crate) fn u64_at(b: &[u8], off: usize) -> Result<u64> {
    field(b, off).map(u64::from_ne_bytes)
}
pub(crate) fn arr_at<const N: usize>(b: &[u8], off: usize) -> Result<[u8; N]> {
    field(b, off)
}
pub(crate) fn slice_at(b: &[u8], off: usize, len: usize) -> Result<&[u8]> {
    let end = off.checked_add(len).ok_or(Error::Truncated)?;
    b.get(off..end).ok_or(Error::Truncated)
}

/// `xfrm_address_t` (16 bytes) read as `family` says; an IPv4 address is
/// its first 4 bytes.
pub(crate) fn addr_at(b: &[u8], off: usize, family: u16) -> Result<IpAddr> {
    let a: [u8; 16] = field(b, off)?;
    match family {
        super::consts::AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        super::consts::AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(a))),
        f => Err(Error::BadFamily(f)),
    }
}

pub(crate) fn family_of(a: &IpAddr) -> u16 {
    match a {
        IpAddr::V4(_) => super::consts::AF_INET,
        IpAddr::V6(_) => super::consts::AF_INET6,
    }
}

/// Append helpers for emitting (our own values, so plain pushes).
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u16be(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u32be(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_zeros(&mut self, n: usize);
    fn put_addr(&mut self, a: Option<&IpAddr>);
    fn pad4(&mut self);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v)
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_ne_bytes())
    }
    fn put_u16be(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes())
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_ne_bytes())
    }
    fn put_u32be(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes())
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_ne_bytes())
    }
    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len().saturating_add(n), 0)
    }
    /// 16 bytes of `xfrm_address_t`; `None` is the zero (wildcard) address.
    fn put_addr(&mut self, a: Option<&IpAddr>) {
        let mut b = [0u8; 16];
        match a {
            Some(IpAddr::V4(v4)) => b[..4].copy_from_slice(&v4.octets()),
            Some(IpAddr::V6(v6)) => b = v6.octets(),
            None => {}
        }
        self.extend_from_slice(&b)
    }
    /// Zero-pad the buffer to a multiple of 4 (messages start aligned).
    fn pad4(&mut self) {
        let n = super::align4(self.len()) - self.len();
        self.put_zeros(n)
    }
}
