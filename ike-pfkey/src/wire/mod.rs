//! PF_KEY v2 on the wire: checked views over bytes and plain `Repr` values
//! (in the manner of smoltcp's `wire` module).
//!
//! Every message and extension is a multiple of 8 bytes and carries its length in
//! 64-bit words (RFC 2367 2.2). Parsers take untrusted bytes and return
//! [`Error`] for anything malformed; they never panic, never index unchecked and
//! never allocate more than the bytes actually present.

pub(crate) mod bytes;
pub mod events;
pub mod ext;
pub mod header;
pub mod message;
pub mod policy;
pub mod sockaddr;
pub mod values;

pub use events::{NatTNewMapping, SpdExpire};
pub use ext::Ext;
pub use header::{Header, HeaderView, HEADER_LEN};
pub use message::Message;
pub use policy::{IpsecRequest, Policy};
pub use sockaddr::Address;
pub use values::*;

use crate::dialect::{ExtKind, MsgType};
use std::fmt;

/// Why a PF_KEY message could not be decoded or encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than a field or a declared length needs.
    Truncated,
    /// The base header's length does not match the bytes received.
    LengthMismatch { declared: usize, actual: usize },
    /// `sadb_msg_version` is not `PF_KEY_V2`.
    BadVersion(u8),
    /// A message type number this dialect does not define.
    UnknownMsgType(u8),
    /// An extension length of zero words or past the end of the message.
    BadExtLength { ext: u16, len: usize },
    /// The same extension type twice in one message (kernels answer EINVAL).
    DuplicateExt(u16),
    /// An extension body whose size does not fit its type.
    BadExtBody(ExtKind),
    /// A sockaddr family other than AF_INET / AF_INET6 of this dialect.
    BadFamily(u16),
    /// A sockaddr whose `sa_len` does not fit its family or its room.
    BadSockaddr,
    /// An extension or message type this dialect does not have.
    NotInDialect(&'static str),
    /// An encoded message would exceed the 16-bit word count.
    TooLong,
    /// A value that does not fit the field it goes in.
    ValueRange(&'static str),
    /// A kernel event without an extension it always carries.
    MissingExt(ExtKind),
    /// A kernel event whose header or values contradict its type.
    BadEvent(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "truncated"),
            Error::LengthMismatch { declared, actual } => {
                write!(f, "header says {declared} bytes, got {actual}")
            }
            Error::BadVersion(v) => write!(f, "PF_KEY version {v}"),
            Error::UnknownMsgType(t) => write!(f, "unknown message type {t}"),
            Error::BadExtLength { ext, len } => write!(f, "extension {ext} with length {len}"),
            Error::DuplicateExt(t) => write!(f, "duplicate extension {t}"),
            Error::BadExtBody(k) => write!(f, "malformed {k:?} extension"),
            Error::BadFamily(fam) => write!(f, "address family {fam}"),
            Error::BadSockaddr => write!(f, "malformed sockaddr"),
            Error::NotInDialect(what) => write!(f, "{what} does not exist in this dialect"),
            Error::TooLong => write!(f, "message too long"),
            Error::ValueRange(what) => write!(f, "{what} out of range"),
            Error::MissingExt(k) => write!(f, "no {k:?} extension"),
            Error::BadEvent(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

/// Round `n` up to a multiple of 8 (RFC 2367 2.2: everything is 64-bit aligned).
pub(crate) fn align8(n: usize) -> usize {
    n.saturating_add(7) & !7
}

/// Used in `Error::NotInDialect` to name what is missing.
pub(crate) fn msg_name(t: MsgType) -> &'static str {
    match t {
        MsgType::SpdAdd
        | MsgType::SpdUpdate
        | MsgType::SpdDelete
        | MsgType::SpdDelete2
        | MsgType::SpdGet
        | MsgType::SpdDump
        | MsgType::SpdFlush
        | MsgType::SpdAcquire
        | MsgType::SpdSetIdx
        | MsgType::SpdExpire
        | MsgType::PChange => "KAME SPD message",
        MsgType::AddFlow
        | MsgType::DelFlow
        | MsgType::GrpSpis
        | MsgType::AskPolicy
        | MsgType::ObsdSpdDump => "OpenBSD flow message",
        MsgType::NatTNewMapping | MsgType::Migrate => "Linux-only message",
        _ => "message type",
    }
}

#[cfg(test)]
mod tests;
