//! The base message header `sadb_msg` (RFC 2367 2.3.1, DIALECTS.md 1.2).

use super::bytes::{u16_at, u32_at, u8_at};
use super::{Error, Result};
use crate::dialect::{Dialect, MsgType, SaType, PF_KEY_V2};

pub const HEADER_LEN: usize = 16;

mod field {
    pub const VERSION: usize = 0;
    pub const TYPE: usize = 1;
    pub const ERRNO: usize = 2;
    pub const SATYPE: usize = 3;
    pub const LEN: usize = 4;
    pub const RESERVED: usize = 6;
    pub const SEQ: usize = 8;
    pub const PID: usize = 12;
}

/// A checked view of a base header: after `new_checked` every accessor is in bounds
/// and `total_len()` is at least the header and at most the buffer.
#[derive(Debug)]
pub struct HeaderView<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> HeaderView<T> {
    /// Checks that the buffer holds a header and that the declared length, in
    /// 64-bit words, is the whole buffer: one read is one message (DIALECTS.md 1.1).
    pub fn new_checked(buf: T) -> Result<Self> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let declared = usize::from(u16_at(b, field::LEN)?) * 8;
        if declared != b.len() || declared < HEADER_LEN {
            return Err(Error::LengthMismatch {
                declared,
                actual: b.len(),
            });
        }
        Ok(HeaderView { buf })
    }

    /// Only the fixed 16 bytes are checked; used to learn the size of a message
    /// from its first bytes (e.g. after MSG_PEEK).
    pub fn new_prefix(buf: T) -> Result<Self> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(HeaderView { buf })
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    // The constructors guaranteed 16 bytes, so these reads cannot fail; the
    // fallback value is never observed.
    pub fn version(&self) -> u8 {
        u8_at(self.b(), field::VERSION).unwrap_or(0)
    }
    pub fn msg_type(&self) -> u8 {
        u8_at(self.b(), field::TYPE).unwrap_or(0)
    }
    pub fn errno(&self) -> u8 {
        u8_at(self.b(), field::ERRNO).unwrap_or(0)
    }
    pub fn satype(&self) -> u8 {
        u8_at(self.b(), field::SATYPE).unwrap_or(0)
    }
    pub fn total_len(&self) -> usize {
        usize::from(u16_at(self.b(), field::LEN).unwrap_or(0)) * 8
    }
    pub fn reserved(&self) -> u16 {
        u16_at(self.b(), field::RESERVED).unwrap_or(0)
    }
    pub fn seq(&self) -> u32 {
        u32_at(self.b(), field::SEQ).unwrap_or(0)
    }
    pub fn pid(&self) -> u32 {
        u32_at(self.b(), field::PID).unwrap_or(0)
    }
    /// The 16 header bytes as they are (e.g. to echo them in an error reply).
    pub fn header_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        if let Some(b) = self.b().get(..HEADER_LEN) {
            h.copy_from_slice(b);
        }
        h
    }
    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        let end = self.total_len().min(self.b().len());
        self.b().get(HEADER_LEN..end).unwrap_or(&[])
    }
}

/// The header as plain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub msg_type: MsgType,
    /// Zero in requests; an errno value in failed kernel replies.
    pub errno: u8,
    pub satype: SaType,
    /// FreeBSD and Linux put a refcount here in some replies (DIALECTS.md 4.9):
    /// kept, never validated.
    pub reserved: u16,
    pub seq: u32,
    pub pid: u32,
}

impl Header {
    pub fn new(msg_type: MsgType, satype: SaType, seq: u32, pid: u32) -> Header {
        Header {
            msg_type,
            errno: 0,
            satype,
            reserved: 0,
            seq,
            pid,
        }
    }

    pub fn parse<T: AsRef<[u8]>>(d: Dialect, v: &HeaderView<T>) -> Result<Header> {
        if v.version() != PF_KEY_V2 {
            return Err(Error::BadVersion(v.version()));
        }
        let msg_type = d
            .msg_type(v.msg_type())
            .ok_or(Error::UnknownMsgType(v.msg_type()))?;
        Ok(Header {
            msg_type,
            errno: v.errno(),
            satype: d.sa_type(v.satype()),
            reserved: v.reserved(),
            seq: v.seq(),
            pid: v.pid(),
        })
    }

    /// Writes the 16 bytes with `len_words` as the total length.
    pub fn emit(&self, d: Dialect, len_words: u16, out: &mut Vec<u8>) -> Result<()> {
        let t = d
            .msg_type_raw(self.msg_type)
            .ok_or(Error::NotInDialect(super::msg_name(self.msg_type)))?;
        let s = d
            .sa_type_raw(self.satype)
            .ok_or(Error::NotInDialect("SA type"))?;
        out.push(PF_KEY_V2);
        out.push(t);
        out.push(self.errno);
        out.push(s);
        out.extend_from_slice(&len_words.to_ne_bytes());
        out.extend_from_slice(&self.reserved.to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.pid.to_ne_bytes());
        Ok(())
    }
}
