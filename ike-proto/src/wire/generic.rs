//! The generic payload header that starts every payload (RFC 7296 3.2).

use super::be;
use super::consts::PayloadType;
use super::error::{Error, Result};

mod field {
    use core::ops::Range;
    pub const NEXT_PAYLOAD: usize = 0;
    pub const FLAGS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
}

/// Size of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;

/// The critical bit; the other seven bits of that octet are reserved:
/// sent as zero and ignored on receipt (RFC 7296 3.2).
const FLAG_CRITICAL: u8 = 0x80;

/// A checked view of one payload at the start of a buffer. The buffer may
/// continue past the payload; `total_len()` says where it ends.
#[derive(Debug, Clone, Copy)]
pub struct PayloadPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PayloadPacket<T> {
    /// Checks that the header fits and that Payload Length covers at least
    /// the header and no more than the buffer. `ptype` is this payload's type
    /// (named by the previous Next Payload field) and only labels errors.
    pub fn new_checked(buffer: T, ptype: PayloadType) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < GENERIC_HEADER_LEN {
            return Err(Error::PayloadLength(ptype));
        }
        let len = usize::from(be::u16(&b[field::LENGTH]));
        if len < GENERIC_HEADER_LEN || len > b.len() {
            return Err(Error::PayloadLength(ptype));
        }
        Ok(PayloadPacket { buffer })
    }

    /// Wraps a buffer for writing; the caller sizes it.
    pub fn new_unchecked(buffer: T) -> Self {
        PayloadPacket { buffer }
    }

    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }

    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_CRITICAL != 0
    }

    /// Payload Length, header included.
    pub fn total_len(&self) -> usize {
        usize::from(be::u16(&self.buffer.as_ref()[field::LENGTH]))
    }

    /// The payload body, after the generic header.
    pub fn body(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(GENERIC_HEADER_LEN..self.total_len()).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PayloadPacket<T> {
    /// Writes the generic header. `total_len` must fit in u16; callers check
    /// with [`Error::TooLarge`] before allocating.
    pub fn set_header(&mut self, next: PayloadType, critical: bool, total_len: u16) {
        let b = self.buffer.as_mut();
        b[field::NEXT_PAYLOAD] = next.0;
        b[field::FLAGS] = if critical { FLAG_CRITICAL } else { 0 };
        b[field::LENGTH].copy_from_slice(&total_len.to_be_bytes());
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        let b = self.buffer.as_mut();
        match b.get_mut(GENERIC_HEADER_LEN..end) {
            Some(s) => s,
            None => &mut [],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_checked() {
        // Nonce payload, length 8, followed by other bytes.
        let b = [0x29, 0x80, 0x00, 0x08, 1, 2, 3, 4, 9, 9];
        let p = PayloadPacket::new_checked(&b[..], PayloadType::NONCE).unwrap();
        assert_eq!(p.next_payload(), PayloadType::NOTIFY);
        assert!(p.critical());
        assert_eq!(p.total_len(), 8);
        assert_eq!(p.body(), &[1, 2, 3, 4]);

        let short = [0x29, 0, 0x00, 0x03];
        assert_eq!(
            PayloadPacket::new_checked(&short[..], PayloadType::NONCE).unwrap_err(),
            Error::PayloadLength(PayloadType::NONCE)
        );
        let long = [0x29, 0, 0x00, 0x09, 1, 2, 3, 4];
        assert!(PayloadPacket::new_checked(&long[..], PayloadType::NONCE).is_err());
        assert!(PayloadPacket::new_checked(&long[..3], PayloadType::NONCE).is_err());
    }
}
