//! PF_KEY messages over a byte stream (pf-to-tcp's TCP side). No extra framing is
//! needed: every message starts with `sadb_msg`, whose `sadb_msg_len` (offset 4,
//! host byte order) gives the whole message's length in 64-bit words (RFC 2367 2.3.1).

use std::fmt;

/// `sadb_msg` is 16 bytes (RFC 2367 2.3.1).
pub const HEADER_LEN: usize = 16;
/// The most a 16-bit word count can describe.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize * 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// A length below the header size: the stream cannot be resynchronised.
    BadLength(usize),
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::BadLength(n) => write!(
                f,
                "sadb_msg_len says {n} bytes, less than the 16-byte header"
            ),
        }
    }
}

impl std::error::Error for FramingError {}

/// Collects stream bytes and hands out whole messages. It only ever holds bytes
/// that arrived (the claimed length decides when a message is complete, never how
/// much is allocated), and at most one message plus one read.
#[derive(Default)]
pub struct Deframer {
    buf: Vec<u8>,
}

impl Deframer {
    pub fn new() -> Deframer {
        Deframer::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        let Some(len_bytes) = self.buf.get(4..6) else {
            return Ok(None);
        };
        let words = u16::from_ne_bytes([len_bytes[0], len_bytes[1]]);
        let total = usize::from(words) * 8;
        if total < HEADER_LEN {
            return Err(FramingError::BadLength(total));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(words: u16, fill: u8) -> Vec<u8> {
        let mut m = vec![fill; usize::from(words) * 8];
        m[4..6].copy_from_slice(&words.to_ne_bytes());
        m
    }

    #[test]
    fn splits_and_joins_messages() {
        let a = msg(2, 0xaa);
        let b = msg(5, 0xbb);
        let stream: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        // every way of cutting the stream in two reads yields the same two messages
        for cut in 0..=stream.len() {
            let mut d = Deframer::new();
            let mut got = Vec::new();
            d.push(&stream[..cut]);
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
            d.push(&stream[cut..]);
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
            assert_eq!(got, vec![a.clone(), b.clone()], "cut at {cut}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn short_lengths_are_errors() {
        for words in [0u16, 1] {
            let mut d = Deframer::new();
            d.push(&msg(2, 0)[..8]);
            d.buf[4..6].copy_from_slice(&words.to_ne_bytes());
            assert_eq!(
                d.next_message(),
                Err(FramingError::BadLength(usize::from(words) * 8))
            );
        }
    }

    #[test]
    fn a_huge_claim_allocates_nothing_extra() {
        let mut d = Deframer::new();
        let mut h = vec![0u8; 16];
        h[4..6].copy_from_slice(&u16::MAX.to_ne_bytes());
        d.push(&h);
        assert_eq!(d.next_message(), Ok(None));
        assert!(d.buf.capacity() < 1024);
    }
}
