//! The error type of the wire codec.

use core::fmt;

use super::consts::{NotifyType, PayloadType, ProtocolId, TsType};

/// Why bytes could not be decoded (or a `Repr` could not be encoded).
///
/// Every variant is a value the engine can turn into its answer:
/// [`Error::notify`] names the Notify type RFC 7296 asks for, where one exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before a fixed-size part of a structure.
    Truncated,
    /// The IKE header Length field does not equal the datagram length
    /// (RFC 7296 3.1).
    HeaderLength { claimed: u32, actual: usize },
    /// Major version is not 2: answer INVALID_MAJOR_VERSION (RFC 7296 2.5).
    UnsupportedMajorVersion(u8),
    /// A payload's generic header length is below 4 or runs past its
    /// container (RFC 7296 3.2).
    PayloadLength(PayloadType),
    /// The message carries more payloads than this codec accepts.
    TooManyPayloads,
    /// An unknown payload with the critical bit set: answer
    /// UNSUPPORTED_CRITICAL_PAYLOAD carrying this type (RFC 7296 2.5).
    UnsupportedCriticalPayload(PayloadType),
    /// SK/SKF is not the last payload, occurs twice, or appears inside an
    /// encrypted payload (RFC 7296 3.14, RFC 7383 2.5).
    MisplacedEncrypted,
    /// A payload body's fixed part is shorter than the payload type needs,
    /// or its variable parts do not add up to its length.
    BadPayload(PayloadType),
    /// Proposal or transform substructure: wrong "last substructure" value,
    /// bad lengths or counts (RFC 7296 3.3.1, 3.3.2).
    BadSubstructure,
    /// Proposal numbers do not start at 1 or do not increase by one
    /// (RFC 7296 3.3.1).
    ProposalNumber,
    /// SPI size not allowed for this protocol (RFC 7296 3.3.1, 3.10, 3.11).
    SpiSize { protocol: ProtocolId, size: u8 },
    /// A transform attribute is malformed: truncated, KEY_LENGTH in TLV form,
    /// or given twice (RFC 7296 3.3.5).
    BadAttribute,
    /// A traffic selector type this codec cannot represent (RFC 7296 3.13.1).
    UnsupportedTsType(TsType),
    /// A traffic selector with a wrong length, start > end, or an address
    /// family that does not match its type (RFC 7296 3.13.1).
    BadTrafficSelector,
    /// Padding length larger than the decrypted data (RFC 7296 3.14).
    BadPadding,
    /// SKF fragment number is 0 or above the total (RFC 7383 2.5).
    BadFragment,
    /// Emitting: a value does not fit its length field.
    TooLarge,
}

impl Error {
    /// The Notify type to answer with, if RFC 7296 asks for one. Whether
    /// to answer at all (e.g. not to an unauthenticated message) is the
    /// engine's decision.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            Error::UnsupportedMajorVersion(_) => Some(NotifyType::INVALID_MAJOR_VERSION),
            Error::UnsupportedCriticalPayload(_) => Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD),
            Error::TooLarge => None,
            _ => Some(NotifyType::INVALID_SYNTAX),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "truncated structure"),
            Error::HeaderLength { claimed, actual } => {
                write!(
                    f,
                    "IKE header length {claimed} but datagram has {actual} bytes"
                )
            }
            Error::UnsupportedMajorVersion(v) => write!(f, "unsupported major version {v}"),
            Error::PayloadLength(t) => write!(f, "bad payload length in {t} payload"),
            Error::TooManyPayloads => write!(f, "too many payloads"),
            Error::UnsupportedCriticalPayload(t) => {
                write!(f, "unsupported critical payload type {}", t.0)
            }
            Error::MisplacedEncrypted => write!(f, "misplaced SK/SKF payload"),
            Error::BadPayload(t) => write!(f, "malformed {t} payload"),
            Error::BadSubstructure => write!(f, "malformed proposal or transform substructure"),
            Error::ProposalNumber => write!(f, "bad proposal numbering"),
            Error::SpiSize { protocol, size } => {
                write!(f, "SPI size {size} not allowed for protocol {protocol}")
            }
            Error::BadAttribute => write!(f, "malformed transform attribute"),
            Error::UnsupportedTsType(t) => write!(f, "unsupported traffic selector type {}", t.0),
            Error::BadTrafficSelector => write!(f, "malformed traffic selector"),
            Error::BadPadding => write!(f, "bad padding in encrypted payload"),
            Error::BadFragment => write!(f, "bad fragment number"),
            Error::TooLarge => write!(f, "value too large for its length field"),
        }
    }
}

impl std::error::Error for Error {}

/// Result of the wire codec.
pub type Result<T> = core::result::Result<T, Error>;
