//! The envelope around every IPC message: a magic, a protocol version and one
//! postcard-encoded value, at most [`MAX_MESSAGE`] bytes in all.
//!
//! Layout (all on one SOCK_SEQPACKET packet, so the kernel keeps the boundary):
//!
//! ```text
//! 0      2        4
//! +------+--------+------------------------------+
//! | "ik" | version| postcard(payload)            |
//! +------+--------+------------------------------+
//! ```
//!
//! The version is big-endian and bumped whenever any message enum changes
//! shape: the three executables of one installation must come from the same
//! build, and a mismatch (a half-finished upgrade) must stop the daemon, not
//! make it misread a message.

use serde::{de::DeserializeOwned, Serialize};
use std::fmt;

/// Two bytes that open every message; catches a wrong fd or stray writer early.
pub const MAGIC: [u8; 2] = *b"ik";
/// The IPC protocol version. Bump on every incompatible change to a message type.
pub const VERSION: u16 = 1;
/// Length of magic plus version.
pub const HEADER_LEN: usize = 4;
/// The hard cap on one message, header included (DESIGN.md "IPC": 64 KiB).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Fewer bytes than the header.
    Truncated { len: usize },
    /// More than [`MAX_MESSAGE`] bytes.
    Oversized { len: usize },
    /// The first two bytes are not [`MAGIC`].
    BadMagic,
    /// The peer speaks another protocol version.
    VersionMismatch { ours: u16, theirs: u16 },
    /// The payload is not a valid encoding of the expected type.
    BadPayload(String),
    /// The payload decoded but bytes were left over.
    TrailingBytes { count: usize },
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { len } => write!(f, "truncated message ({len} bytes)"),
            Self::Oversized { len } => {
                write!(f, "oversized message ({len} bytes, cap {MAX_MESSAGE})")
            }
            Self::BadMagic => write!(f, "bad magic"),
            Self::VersionMismatch { ours, theirs } => {
                write!(f, "protocol version mismatch (ours {ours}, peer {theirs})")
            }
            Self::BadPayload(e) => write!(f, "undecodable payload: {e}"),
            Self::TrailingBytes { count } => write!(f, "{count} trailing bytes after payload"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// Encodes `msg` in an envelope. Fails if the result would exceed the cap.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    let out =
        postcard::to_extend(msg, out).map_err(|e| EnvelopeError::BadPayload(e.to_string()))?;
    if out.len() > MAX_MESSAGE {
        return Err(EnvelopeError::Oversized { len: out.len() });
    }
    Ok(out)
}

/// Decodes one envelope. Total: every input gives a value or an error.
///
/// Allocation is bounded by the input: the input is at most [`MAX_MESSAGE`]
/// bytes, and serde pre-allocates sequences only "cautiously" (capped), so a
/// claimed length larger than the bytes that back it fails instead of
/// allocating.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EnvelopeError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(EnvelopeError::Oversized { len: bytes.len() });
    }
    let (header, payload) = match bytes.split_first_chunk::<HEADER_LEN>() {
        Some(split) => split,
        None => return Err(EnvelopeError::Truncated { len: bytes.len() }),
    };
    if header[..2] != MAGIC {
        return Err(EnvelopeError::BadMagic);
    }
    let theirs = u16::from_be_bytes([header[2], header[3]]);
    if theirs != VERSION {
        return Err(EnvelopeError::VersionMismatch {
            ours: VERSION,
            theirs,
        });
    }
    let (value, rest) =
        postcard::take_from_bytes(payload).map_err(|e| EnvelopeError::BadPayload(e.to_string()))?;
    if !rest.is_empty() {
        return Err(EnvelopeError::TrailingBytes { count: rest.len() });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Sample {
        A,
        B(u32, String),
        C { v: Vec<u8> },
    }

    #[test]
    fn round_trip() {
        for m in [
            Sample::A,
            Sample::B(7, "x".into()),
            Sample::C { v: vec![1, 2, 3] },
        ] {
            let bytes = encode(&m).unwrap();
            assert_eq!(&bytes[..4], b"ik\x00\x01");
            assert_eq!(decode::<Sample>(&bytes).unwrap(), m);
        }
    }

    #[test]
    fn version_mismatch() {
        let mut bytes = encode(&Sample::A).unwrap();
        bytes[3] = 2;
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(EnvelopeError::VersionMismatch { ours: 1, theirs: 2 })
        );
    }

    #[test]
    fn bad_magic() {
        let mut bytes = encode(&Sample::A).unwrap();
        bytes[0] = b'X';
        assert_eq!(decode::<Sample>(&bytes), Err(EnvelopeError::BadMagic));
    }

    #[test]
    fn truncated_header_and_payload() {
        let bytes = encode(&Sample::B(300, "hello".into())).unwrap();
        for cut in 0..HEADER_LEN {
            assert_eq!(
                decode::<Sample>(&bytes[..cut]),
                Err(EnvelopeError::Truncated { len: cut })
            );
        }
        for cut in HEADER_LEN..bytes.len() {
            assert!(
                matches!(
                    decode::<Sample>(&bytes[..cut]),
                    Err(EnvelopeError::BadPayload(_))
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn trailing_bytes() {
        let mut bytes = encode(&Sample::A).unwrap();
        bytes.push(0);
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(EnvelopeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn size_cap_on_encode_and_decode() {
        let big = Sample::C {
            v: vec![0; MAX_MESSAGE],
        };
        assert!(matches!(encode(&big), Err(EnvelopeError::Oversized { .. })));
        // Exactly at the cap is allowed.
        let fits = Sample::C {
            v: vec![0; MAX_MESSAGE - HEADER_LEN - 1 - 3],
        };
        let bytes = encode(&fits).unwrap();
        assert_eq!(bytes.len(), MAX_MESSAGE);
        assert_eq!(decode::<Sample>(&bytes).unwrap(), fits);
        let mut over = bytes.clone();
        over.push(0);
        assert_eq!(
            decode::<Sample>(&over),
            Err(EnvelopeError::Oversized {
                len: MAX_MESSAGE + 1
            })
        );
    }

    #[test]
    fn claimed_length_without_backing_bytes() {
        // Variant C with a varint length of ~4 GiB and no data: must fail, not allocate.
        let bytes = [b'i', b'k', 0, 1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            decode::<Sample>(&bytes),
            Err(EnvelopeError::BadPayload(_))
        ));
    }

    #[test]
    fn garbage_never_panics() {
        // A deterministic pseudo-random sweep (xorshift) over short inputs.
        let mut x: u32 = 0x1234_5678;
        for len in 0..200usize {
            let mut buf = vec![b'i', b'k', 0, 1];
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(x as u8);
            }
            let _ = decode::<Sample>(&buf);
            let _ = decode::<Sample>(&buf[4..]);
        }
    }
}
