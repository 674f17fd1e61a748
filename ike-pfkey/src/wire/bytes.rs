//! Checked reads from untrusted byte slices. Every PF_KEY integer is in host byte
//! order except SPIs, ports and the NAT-T/UDP-encapsulation ports (network order).
//! The XFRM codec reads and writes with the same functions (`xfrm/bytes.rs`):
//! netlink integers are in host order too.

use super::{Error, Result};

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

/// Append helpers for emitting (our own values, so plain pushes).
pub(crate) trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u16be(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u32be(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_zeros(&mut self, n: usize);
    fn pad8(&mut self, start: usize);
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
    /// Zero-pad so that the bytes written since `start` are a multiple of 8.
    fn pad8(&mut self, start: usize) {
        let written = self.len().saturating_sub(start);
        let padded = super::align8(written);
        self.put_zeros(padded - written)
    }
}
