//! Checked reads from untrusted byte slices. Netlink integers are in host
//! byte order; SPIs, ports and addresses are in network order
//! (`__be32`/`__be16` in xfrm.h).

use super::{Error, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// The integer readers and writers are PF_KEY's (`wire/bytes.rs`): both
// codecs read host-order integers and network-order SPIs and ports from
// untrusted slices the same way. Their only error is `Truncated`, which
// `From<wire::Error>` (mod.rs) carries over.
pub(crate) use crate::wire::bytes::{
    arr_at, i32_at, slice_at, u16_at, u16be_at, u32_at, u32be_at, u64_at, u8_at, Put,
};

/// `xfrm_address_t` (16 bytes) read as `family` says; an IPv4 address is
/// its first 4 bytes.
pub(crate) fn addr_at(b: &[u8], off: usize, family: u16) -> Result<IpAddr> {
    let a: [u8; 16] = arr_at(b, off)?;
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

/// What XFRM writes besides PF_KEY's integers ([`Put`]).
pub(crate) trait PutXfrm {
    fn put_addr(&mut self, a: Option<&IpAddr>);
    fn pad4(&mut self);
}

impl PutXfrm for Vec<u8> {
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
