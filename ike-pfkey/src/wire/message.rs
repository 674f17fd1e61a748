//! A whole PF_KEY message: base header plus extensions, as plain values.

use super::ext::ExtIter;
use super::header::{Header, HeaderView, HEADER_LEN};
use super::values::{Alg, Identity, Key, Lifetime, Protocol, Sa, Sa2, SpiRange};
use super::{Address, Error, Ext, Policy, Result};
use crate::dialect::{Dialect, ExtKind};

/// The largest message the 16-bit word count can describe.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize * 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub exts: Vec<Ext>,
}

impl Message {
    pub fn new(header: Header) -> Message {
        Message {
            header,
            exts: Vec::new(),
        }
    }

    pub fn with(mut self, e: Ext) -> Message {
        self.exts.push(e);
        self
    }

    /// Decode exactly one message. Duplicate extension types are an error (every
    /// kernel answers EINVAL to them, DIALECTS.md 1.3); unknown numbers are kept
    /// as `Ext::Unknown`.
    pub fn parse(d: Dialect, bytes: &[u8]) -> Result<Message> {
        let view = HeaderView::new_checked(bytes)?;
        let header = Header::parse(d, &view)?;
        let mut exts = Vec::new();
        // One bit per possible extension number: 1024 * 64 = 65536 bits.
        let mut seen = [0u64; 1024];
        for item in ExtIter::new(view.payload()) {
            let (raw, body) = item?;
            let bit = 1u64 << (raw % 64);
            let word = seen
                .get_mut(usize::from(raw / 64))
                .ok_or(Error::DuplicateExt(raw))?;
            if *word & bit != 0 {
                return Err(Error::DuplicateExt(raw));
            }
            *word |= bit;
            if is_openbsd_empty_source(d, raw, body) {
                continue;
            }
            exts.push(Ext::parse(d, raw, body)?);
        }
        Ok(Message { header, exts })
    }

    pub fn emit(&self, d: Dialect) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        for e in &self.exts {
            e.emit(d, &mut body)?;
        }
        let total = HEADER_LEN + body.len();
        if total > MAX_MESSAGE_LEN {
            return Err(Error::TooLong);
        }
        let words = u16::try_from(total / 8).map_err(|_| Error::TooLong)?;
        let mut out = Vec::with_capacity(total);
        self.header.emit(d, words, &mut out)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn get(&self, kind: ExtKind) -> Option<&Ext> {
        self.exts.iter().find(|e| e.kind() == Some(kind))
    }

    pub fn sa(&self) -> Option<&Sa> {
        self.exts.iter().find_map(|e| match e {
            Ext::Sa(ExtKind::Sa, v) => Some(v),
            _ => None,
        })
    }
    pub fn lifetime(&self, kind: ExtKind) -> Option<&Lifetime> {
        self.exts.iter().find_map(|e| match e {
            Ext::Lifetime(k, v) if *k == kind => Some(v),
            _ => None,
        })
    }
    pub fn address(&self, kind: ExtKind) -> Option<&Address> {
        self.exts.iter().find_map(|e| match e {
            Ext::Address(k, v) if *k == kind => Some(v),
            _ => None,
        })
    }
    pub fn key(&self, kind: ExtKind) -> Option<&Key> {
        self.exts.iter().find_map(|e| match e {
            Ext::Key(k, v) if *k == kind => Some(v),
            _ => None,
        })
    }
    pub fn identity(&self, kind: ExtKind) -> Option<&Identity> {
        self.exts.iter().find_map(|e| match e {
            Ext::Identity(k, v) if *k == kind => Some(v),
            _ => None,
        })
    }
    pub fn supported(&self, kind: ExtKind) -> Option<&[Alg]> {
        self.exts.iter().find_map(|e| match e {
            Ext::Supported(k, v) if *k == kind => Some(v.as_slice()),
            _ => None,
        })
    }
    pub fn spirange(&self) -> Option<&SpiRange> {
        self.exts.iter().find_map(|e| match e {
            Ext::SpiRange(v) => Some(v),
            _ => None,
        })
    }
    pub fn policy(&self) -> Option<&Policy> {
        self.exts.iter().find_map(|e| match e {
            Ext::Policy(v) => Some(v),
            _ => None,
        })
    }
    pub fn sa2(&self) -> Option<&Sa2> {
        self.exts.iter().find_map(|e| match e {
            Ext::Sa2(v) => Some(v),
            _ => None,
        })
    }
    pub fn protocol(&self, kind: ExtKind) -> Option<&Protocol> {
        self.exts.iter().find_map(|e| match e {
            Ext::Protocol(k, v) if *k == kind => Some(v),
            _ => None,
        })
    }
    pub fn nat_t_port(&self, kind: ExtKind) -> Option<u16> {
        self.exts.iter().find_map(|e| match e {
            Ext::NatTPort(k, v) if *k == kind => Some(*v),
            _ => None,
        })
    }
    pub fn nat_t_type(&self) -> Option<u8> {
        self.exts.iter().find_map(|e| match e {
            Ext::NatTType(v) => Some(*v),
            _ => None,
        })
    }
}

/// OpenBSD's ACQUIRE for a flow loaded without a local address carries an
/// ADDRESS_SRC of 8 bytes with no sockaddr: `pfkeyv2_acquire` sizes the
/// extension by the local sockaddr's `sa_len`, which is 0 for the all-zero
/// `ipo_src` of such a flow (sys/net/pfkeyv2.c, read: docs/bsd.md section
/// 3, "ACQUIRE, ADDFLOW's ADDRESS_SRC"). It means "no local address", so it
/// decodes as an absent ADDRESS_SRC, which the broker handles (it takes our
/// end from the flow). Only this extension, only OpenBSD, only exactly the
/// 4-byte reserved word: any other short address is still malformed.
fn is_openbsd_empty_source(d: Dialect, raw: u16, body: &[u8]) -> bool {
    d == Dialect::OpenBsd && body.len() == 4 && d.ext_kind(raw) == Some(ExtKind::AddressSrc)
}
