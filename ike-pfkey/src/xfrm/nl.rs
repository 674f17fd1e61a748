//! `struct nlmsghdr` and `struct nlmsgerr` (include/uapi/linux/netlink.h).
//!
//! One `recv` on a netlink socket returns one datagram holding one or more
//! messages, each `NLMSG_ALIGN`ed; [`Messages`] walks them with every
//! length checked against the bytes actually there.

use super::bytes::{i32_at, u16_at, u32_at, Put};
use super::consts::*;
use super::{align4, Error, Result};

/// `struct nlmsghdr` as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlHeader {
    /// `nlmsg_len`: header plus payload, unpadded.
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    /// The sender's port id: 0 for the kernel.
    pub pid: u32,
}

impl NlHeader {
    pub fn parse(b: &[u8]) -> Result<NlHeader> {
        Ok(NlHeader {
            len: u32_at(b, 0)?,
            ty: u16_at(b, 4)?,
            flags: u16_at(b, 6)?,
            seq: u32_at(b, 8)?,
            pid: u32_at(b, 12)?,
        })
    }
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32(self.len);
        out.put_u16(self.ty);
        out.put_u16(self.flags);
        out.put_u32(self.seq);
        out.put_u32(self.pid);
    }
}

/// One message of a datagram: its header and its payload (`nlmsg_len - 16`
/// bytes, padding excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlMsg<'a> {
    pub header: NlHeader,
    pub payload: &'a [u8],
}

/// Netlink's length-prefixed records one after another in a buffer (the
/// messages of a datagram, the attributes of a message), read in order by
/// `take`, which returns one record and where the next one starts. After the
/// first malformed record the walk yields that error and stops: a bad length
/// leaves nothing after it that could be trusted to start a record.
pub struct Records<'a, T> {
    rest: &'a [u8],
    failed: bool,
    take: fn(&'a [u8]) -> Result<(T, usize)>,
}

impl<'a, T> Records<'a, T> {
    pub(crate) fn new(b: &'a [u8], take: fn(&'a [u8]) -> Result<(T, usize)>) -> Records<'a, T> {
        Records {
            rest: b,
            failed: false,
            take,
        }
    }
}

impl<'a, T> Iterator for Records<'a, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match (self.take)(self.rest) {
            Ok((record, next)) => {
                self.rest = self.rest.get(next..).unwrap_or(&[]);
                Some(Ok(record))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The messages of one datagram, in order.
pub type Messages<'a> = Records<'a, NlMsg<'a>>;

/// Split a received datagram into its messages.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Records::new(datagram, take_message)
}

fn take_message(b: &[u8]) -> Result<(NlMsg<'_>, usize)> {
    if b.len() < NLMSG_HDRLEN {
        return Err(Error::Truncated);
    }
    let header = NlHeader::parse(b)?;
    let len = usize::try_from(header.len).map_err(|_| Error::ValueRange("nlmsg_len"))?;
    if len < NLMSG_HDRLEN || len > b.len() {
        return Err(Error::BadLength {
            declared: len,
            actual: b.len(),
        });
    }
    let payload = b.get(NLMSG_HDRLEN..len).ok_or(Error::Truncated)?;
    // The last message of a datagram may come without its padding.
    let next = align4(len).min(b.len());
    Ok((NlMsg { header, payload }, next))
}

/// The payload of an `NLMSG_ERROR`: the kernel's answer to a request sent
/// with `NLM_F_ACK` (error 0) or to a failed one (a negative errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NlError {
    /// The errno, positive; 0 for an ACK.
    pub errno: i32,
    /// The header of the request it answers (its seq and type).
    pub request: NlHeader,
}

impl NlError {
    pub fn parse(payload: &[u8]) -> Result<NlError> {
        if payload.len() < NLMSGERR_LEN {
            return Err(Error::Truncated);
        }
        let raw = i32_at(payload, 0)?;
        // The kernel sends -errno; a positive value is not one it writes.
        if raw > 0 {
            return Err(Error::BadMessage("positive error in NLMSG_ERROR"));
        }
        let errno = raw
            .checked_neg()
            .ok_or(Error::ValueRange("nlmsgerr error"))?;
        let request = NlHeader::parse(payload.get(4..).ok_or(Error::Truncated)?)?;
        Ok(NlError { errno, request })
    }
}

/// Start a request: the header with a length to fix up by [`finish`].
pub fn begin(ty: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    NlHeader {
        len: 0,
        ty,
        flags,
        seq,
        pid: 0,
    }
    .emit(&mut out);
    out
}

/// Write the final `nlmsg_len` of a message started by [`begin`].
pub fn finish(mut msg: Vec<u8>) -> Result<Vec<u8>> {
    let len = u32::try_from(msg.len()).map_err(|_| Error::ValueRange("message length"))?;
    if let Some(f) = msg.get_mut(0..4) {
        f.copy_from_slice(&len.to_ne_bytes());
    }
    Ok(msg)
}
