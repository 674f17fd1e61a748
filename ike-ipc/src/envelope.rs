//! The framing of every IPC message: a magic, a protocol version, a packet
//! kind and postcard-encoded values, at most [`MAX_MESSAGE`] bytes per packet.
//!
//! Layout (one SOCK_SEQPACKET packet, so the kernel keeps the boundary):
//!
//! ```text
//! 0      2        4      5
//! +------+--------+------+------------------------------+
//! | "ik" | version| kind | payload                      |
//! +------+--------+------+------------------------------+
//! ```
//!
//! Kinds ([`Kind`]): one postcard value; a batch of two or more values back
//! to back (several small messages for one `sendmsg`, which is what keeps a
//! flood of kernel requests and replies cheap); or a fragment of a value too
//! large for one packet (a configuration with its certificates, see
//! `docs/ipc.md`), the last fragment marked as such. A receiver
//! bounds what it reassembles ([`Reassembly`]): 64 KiB unless that channel
//! expects large messages.
//!
//! The version is big-endian and bumped whenever any message enum or this
//! layout changes shape: the three executables of one installation must come
//! from the same build, and a mismatch (a half-finished upgrade) must stop
//! the daemon, not make it misread a message.

use serde::{de::DeserializeOwned, Serialize};
use std::fmt;

/// Two bytes that open every message; catches a wrong fd or stray writer early.
pub const MAGIC: [u8; 2] = *b"ik";
/// The IPC protocol version. Bump on every incompatible change to a message type.
/// 2: the kind byte (batches and fragments).
pub const VERSION: u16 = 2;
/// Length of magic, version and kind.
pub const HEADER_LEN: usize = 5;
/// The hard cap on one packet, header included (DESIGN.md "IPC": 64 KiB).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The most payload one packet carries.
pub const MAX_PAYLOAD: usize = MAX_MESSAGE - HEADER_LEN;
/// The bound on one reassembled message for the channels that carry the
/// configuration (parent to children, `ike-net --check-config`): 10,000
/// policies and 100 certificates take a few MiB; this leaves room without
/// letting a peer make the receiver allocate without limit.
pub const MAX_LARGE_MESSAGE: usize = 64 * 1024 * 1024;

/// What one packet holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exactly one value.
    One = 0,
    /// Two or more values back to back.
    Batch = 1,
    /// A fragment of one value; more fragments follow.
    More = 2,
    /// The last fragment of one value.
    Last = 3,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::One,
            1 => Kind::Batch,
            2 => Kind::More,
            3 => Kind::Last,
            _ => return None,
        })
    }
}

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
    /// The kind byte is not one of [`Kind`].
    BadKind(u8),
    /// Fragments out of order: a whole message while a fragmented one was
    /// being reassembled, or descriptors beside a batch or fragment.
    BadSequence(&'static str),
    /// A fragmented message grew past what this receiver accepts.
    TooLarge { cap: usize },
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
            Self::BadKind(k) => write!(f, "unknown packet kind {k}"),
            Self::BadSequence(why) => write!(f, "bad fragment sequence: {why}"),
            Self::TooLarge { cap } => write!(f, "fragmented message over {cap} bytes"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// Encodes `msg` in one packet. Fails if the result would exceed the cap
/// (use [`payload`] and [`packets`] for messages that may be larger).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, EnvelopeError> {
    let body = payload(msg)?;
    if body.len() > MAX_PAYLOAD {
        return Err(EnvelopeError::Oversized {
            len: body.len() + HEADER_LEN,
        });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    push_header(&mut out, Kind::One);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The postcard encoding of `msg` alone, without a header.
pub fn payload<T: Serialize>(msg: &T) -> Result<Vec<u8>, EnvelopeError> {
    postcard::to_stdvec(msg).map_err(|e| EnvelopeError::BadPayload(e.to_string()))
}

/// Appends the header of a packet of `kind`.
pub fn push_header(out: &mut Vec<u8>, kind: Kind) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.push(kind as u8);
}

/// The packets that carry one payload: one packet if it fits, else
/// fragments of at most [`MAX_MESSAGE`] bytes each.
pub fn packets(body: &[u8]) -> Vec<Vec<u8>> {
    if body.len() <= MAX_PAYLOAD {
        let mut p = Vec::with_capacity(HEADER_LEN + body.len());
        push_header(&mut p, Kind::One);
        p.extend_from_slice(body);
        return vec![p];
    }
    let n = body.chunks(MAX_PAYLOAD).count();
    body.chunks(MAX_PAYLOAD)
        .enumerate()
        .map(|(i, c)| {
            let mut p = Vec::with_capacity(HEADER_LEN + c.len());
            push_header(&mut p, if i + 1 == n { Kind::Last } else { Kind::More });
            p.extend_from_slice(c);
            p
        })
        .collect()
}

/// Decodes one single-value packet (kind [`Kind::One`]). Total: every input
/// gives a value or an error.
///
/// Allocation is bounded by the input: the input is at most [`MAX_MESSAGE`]
/// bytes, and serde pre-allocates sequences only "cautiously" (capped), so a
/// claimed length larger than the bytes that back it fails instead of
/// allocating.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EnvelopeError> {
    match split(bytes)? {
        (Kind::One, body) => decode_one(body),
        (k, _) => Err(EnvelopeError::BadKind(k as u8)),
    }
}

/// Checks a packet's header; returns its kind and payload.
pub fn split(bytes: &[u8]) -> Result<(Kind, &[u8]), EnvelopeError> {
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
    let kind = Kind::from_byte(header[4]).ok_or(EnvelopeError::BadKind(header[4]))?;
    Ok((kind, payload))
}

/// Exactly one value, nothing after it.
pub fn decode_one<T: DeserializeOwned>(body: &[u8]) -> Result<T, EnvelopeError> {
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| EnvelopeError::BadPayload(e.to_string()))?;
    if !rest.is_empty() {
        return Err(EnvelopeError::TrailingBytes { count: rest.len() });
    }
    Ok(value)
}

/// The most values in one batch. Without a cap a 64 KiB batch of one-byte
/// values decodes to 64 Ki values of the full enum size each (the IPC fuzz
/// target measured 28 MB for a `CtlResponse` batch, a 430-fold blow-up of
/// one packet); with it, what one packet can make the receiver hold is at
/// most this many values. Senders never batch more (`channel.rs`); 256
/// messages per packet keep the batching gain (a wakeup's kernel requests
/// still go in one or two packets).
pub const MAX_BATCH: usize = 256;

/// Every value of a batch, in order (at least two: a sender never batches
/// one; at most [`MAX_BATCH`]).
pub fn decode_batch<T: DeserializeOwned>(mut body: &[u8]) -> Result<Vec<T>, EnvelopeError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        if out.len() == MAX_BATCH {
            return Err(EnvelopeError::BadSequence(
                "a batch of more than MAX_BATCH values",
            ));
        }
        let (value, rest) = postcard::take_from_bytes(body)
            .map_err(|e| EnvelopeError::BadPayload(e.to_string()))?;
        out.push(value);
        body = rest;
    }
    if out.len() < 2 {
        return Err(EnvelopeError::BadSequence("a batch of fewer than two"));
    }
    Ok(out)
}

/// Decodes a payload of at most `cap` bytes that arrived in one buffer
/// (not a packet stream): `ike-net --check-config` on its stdin.
pub fn decode_large<T: DeserializeOwned>(bytes: &[u8], cap: usize) -> Result<T, EnvelopeError> {
    let (header, body) = match bytes.split_first_chunk::<HEADER_LEN>() {
        Some(split) => split,
        None => return Err(EnvelopeError::Truncated { len: bytes.len() }),
    };
    if bytes.len() > cap {
        return Err(EnvelopeError::TooLarge { cap });
    }
    // The same header checks as a packet, on the header alone.
    split(header)?;
    decode_one(body)
}

/// [`decode_large`]'s counterpart: one header, then the whole payload.
pub fn encode_large<T: Serialize>(msg: &T, cap: usize) -> Result<Vec<u8>, EnvelopeError> {
    let body = payload(msg)?;
    if body.len() + HEADER_LEN > cap {
        return Err(EnvelopeError::TooLarge { cap });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    push_header(&mut out, Kind::One);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Collects the fragments of one message, refusing to grow past `cap`.
/// The buffer may hold keys (a configuration): it is wiped when a message
/// completes or the reassembly is dropped.
pub struct Reassembly {
    buf: zeroize::Zeroizing<Vec<u8>>,
    cap: usize,
}

/// Sizes only: the bytes may be keys.
impl fmt::Debug for Reassembly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reassembly")
            .field("len", &self.buf.len())
            .field("cap", &self.cap)
            .finish()
    }
}

impl Reassembly {
    pub fn new(cap: usize) -> Self {
        Self {
            buf: zeroize::Zeroizing::new(Vec::new()),
            cap,
        }
    }

    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// True while a fragmented message is incomplete.
    pub fn in_progress(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Adds one fragment's payload; on the last one, decodes the message.
    pub fn push<T: DeserializeOwned>(
        &mut self,
        kind: Kind,
        body: &[u8],
    ) -> Result<Option<T>, EnvelopeError> {
        if self.buf.len().saturating_add(body.len()) > self.cap {
            self.reset();
            return Err(EnvelopeError::TooLarge { cap: self.cap });
        }
        if body.is_empty() {
            self.reset();
            return Err(EnvelopeError::BadSequence("empty fragment"));
        }
        self.buf.extend_from_slice(body);
        match kind {
            Kind::More => Ok(None),
            Kind::Last => {
                let r = decode_one(&self.buf);
                self.reset();
                r.map(Some)
            }
            _ => Err(EnvelopeError::BadSequence("not a fragment")),
        }
    }

    fn reset(&mut self) {
        // Zeroizing wipes on drop; clear() alone would leave the bytes.
        self.buf = zeroize::Zeroizing::new(Vec::new());
    }
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
            assert_eq!(&bytes[..5], b"ik\x00\x02\x00");
            assert_eq!(decode::<Sample>(&bytes).unwrap(), m);
        }
    }

    #[test]
    fn version_mismatch() {
        let mut bytes = encode(&Sample::A).unwrap();
        bytes[3] = 1;
        assert_eq!(
            decode::<Sample>(&bytes),
            Err(EnvelopeError::VersionMismatch { ours: 2, theirs: 1 })
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
        let bytes = [b'i', b'k', 0, 2, 0, 2, 0xff, 0xff, 0xff, 0xff, 0x0f];
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
            let mut buf = vec![b'i', b'k', 0, 2, (len % 5) as u8];
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(x as u8);
            }
            let _ = decode::<Sample>(&buf);
            let _ = decode::<Sample>(&buf[4..]);
            if let Ok((_, body)) = split(&buf) {
                let _ = decode_batch::<Sample>(body);
                let mut r = Reassembly::new(1000);
                let _ = r.push::<Sample>(Kind::More, body);
                let _ = r.push::<Sample>(Kind::Last, body);
            }
        }
    }

    #[test]
    fn batches_hold_several_values_in_order() {
        let mut body = payload(&Sample::A).unwrap();
        body.extend(payload(&Sample::B(1, "x".into())).unwrap());
        assert_eq!(
            decode_batch::<Sample>(&body).unwrap(),
            vec![Sample::A, Sample::B(1, "x".into())]
        );
        // A batch of one is not something we send.
        assert!(decode_batch::<Sample>(&payload(&Sample::A).unwrap()).is_err());
        // At most MAX_BATCH values: one more is an error, not a longer batch.
        let one = payload(&Sample::A).unwrap();
        let full: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * MAX_BATCH)
            .collect();
        assert_eq!(decode_batch::<Sample>(&full).unwrap().len(), MAX_BATCH);
        let over: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * (MAX_BATCH + 1))
            .collect();
        assert!(decode_batch::<Sample>(&over).is_err());
        // A cut value in a batch is an error, not a shorter batch.
        assert!(decode_batch::<Sample>(&body[..body.len() - 1]).is_err());
    }

    #[test]
    fn large_values_go_in_fragments_and_reassemble_within_the_cap() {
        let big = Sample::C {
            v: (0..300_000u32).map(|i| i as u8).collect(),
        };
        let body = payload(&big).unwrap();
        let pkts = packets(&body);
        assert_eq!(pkts.len(), body.len().div_ceil(MAX_PAYLOAD));
        assert!(pkts.iter().all(|p| p.len() <= MAX_MESSAGE));
        let mut r = Reassembly::new(MAX_LARGE_MESSAGE);
        let mut got = None;
        for (i, p) in pkts.iter().enumerate() {
            let (kind, b) = split(p).unwrap();
            assert_eq!(kind == Kind::Last, i + 1 == pkts.len());
            got = r.push::<Sample>(kind, b).unwrap();
        }
        assert_eq!(got, Some(big));
        assert!(!r.in_progress());
        // The same fragments against a smaller cap: refused, not allocated.
        let mut small = Reassembly::new(100_000);
        let errs: Vec<_> = pkts
            .iter()
            .map(|p| {
                let (k, b) = split(p).unwrap();
                small.push::<Sample>(k, b)
            })
            .collect();
        assert!(errs
            .iter()
            .any(|e| matches!(e, Err(EnvelopeError::TooLarge { cap: 100_000 }))));
        assert!(!small.in_progress());
    }

    #[test]
    fn large_single_buffer_round_trip_and_cap() {
        let big = Sample::C {
            v: vec![9; 200_000],
        };
        let bytes = encode_large(&big, MAX_LARGE_MESSAGE).unwrap();
        assert_eq!(
            decode_large::<Sample>(&bytes, MAX_LARGE_MESSAGE).unwrap(),
            big
        );
        assert!(matches!(
            decode_large::<Sample>(&bytes, 100_000),
            Err(EnvelopeError::TooLarge { .. })
        ));
        assert!(encode_large(&big, 100_000).is_err());
    }
}
