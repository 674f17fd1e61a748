//! Linux XFRM over NETLINK_XFRM: the second kernel interface of the broker
//! (issue 18), beside PF_KEY. Same style as [`crate::wire`]: checked reads
//! over untrusted bytes and plain values; every decoder returns an
//! [`Error`], never panics, and allocates at most what the bytes hold.
//!
//! - [`consts`]: the numbers, from `include/uapi/linux/netlink.h` and
//!   `include/uapi/linux/xfrm.h`.
//! - [`nl`]: `struct nlmsghdr`, splitting a datagram into messages, and
//!   `struct nlmsgerr` (ACKs and errors).
//! - [`attr`]: `struct nlattr` and the XFRMA_* attributes as plain values.
//! - [`structs`]: the fixed XFRM structs (`xfrm_usersa_info`,
//!   `xfrm_userpolicy_info`, `xfrm_user_acquire`, ...).
//! - [`message`]: a whole kernel message (reply or multicast event) decoded.
//! - [`request`]: the requests the broker sends, built from the IPC types.
//! - [`event`]: kernel events and replies turned into the IPC's values.
//!
//! Why our own codec and no crate: the crates that exist for XFRM netlink
//! (netlink-packet-xfrm of the rust-netlink family) are young, pull in the
//! netlink-packet-core/-utils stack with its own error types (anyhow), and
//! would still need our fuzzing and our zeroizing of keys; the layouts are
//! a few fixed structs from one uapi header, checked here against it.

pub mod attr;
mod bytes;
pub mod consts;
pub mod event;
pub mod message;
pub mod nl;
pub mod request;
pub mod structs;

use std::fmt;

/// Why a netlink/XFRM message could not be decoded or encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than a field or a declared length needs.
    Truncated,
    /// `nlmsg_len` smaller than the header or past the datagram.
    BadLength { declared: usize, actual: usize },
    /// An attribute whose `nla_len` is below 4 or past the message.
    BadAttrLength { ty: u16, len: usize },
    /// An attribute body whose size does not fit its type.
    BadAttr(&'static str),
    /// The same attribute twice where the kernel sends it once.
    DuplicateAttr(u16),
    /// An address family other than AF_INET / AF_INET6.
    BadFamily(u16),
    /// An algorithm name without its terminating NUL or not ASCII.
    BadAlgName,
    /// A message type this codec does not decode.
    UnknownMsgType(u16),
    /// A message without an attribute it always carries.
    MissingAttr(&'static str),
    /// A value that does not fit the field it goes in.
    ValueRange(&'static str),
    /// A message whose fields contradict each other or its type.
    BadMessage(&'static str),
}

/// The shared byte readers (`wire/bytes.rs`) fail only with `Truncated`.
impl From<crate::wire::Error> for Error {
    fn from(_: crate::wire::Error) -> Error {
        Error::Truncated
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "truncated"),
            Error::BadLength { declared, actual } => {
                write!(f, "nlmsg_len {declared} with {actual} bytes left")
            }
            Error::BadAttrLength { ty, len } => write!(f, "attribute {ty} with length {len}"),
            Error::BadAttr(what) => write!(f, "malformed {what} attribute"),
            Error::DuplicateAttr(t) => write!(f, "attribute {t} twice"),
            Error::BadFamily(fam) => write!(f, "address family {fam}"),
            Error::BadAlgName => write!(f, "algorithm name not a NUL-terminated ASCII string"),
            Error::UnknownMsgType(t) => write!(f, "message type {t}"),
            Error::MissingAttr(what) => write!(f, "no {what} attribute"),
            Error::ValueRange(what) => write!(f, "{what} out of range"),
            Error::BadMessage(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

/// `NLMSG_ALIGN` / `NLA_ALIGN`: round up to 4.
pub(crate) fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

#[cfg(test)]
mod tests;
