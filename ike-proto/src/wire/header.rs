//! The IKE header (RFC 7296 3.1).

use super::be;

use super::consts::{ExchangeType, PayloadType};
use super::error::{Error, Result};

mod field {
    use core::ops::Range;
    pub const SPI_I: Range<usize> = 0..8;
    pub const SPI_R: Range<usize> = 8..16;
    pub const NEXT_PAYLOAD: usize = 16;
    pub const VERSION: usize = 17;
    pub const EXCHANGE: usize = 18;
    pub const FLAGS: usize = 19;
    pub const MESSAGE_ID: Range<usize> = 20..24;
    pub const LENGTH: Range<usize> = 24..28;
}

/// Size of the IKE header.
pub const HEADER_LEN: usize = 28;

/// Flag bits of RFC 7296 3.1; the other bits are reserved: sent as zero,
/// ignored on receipt.
const FLAG_INITIATOR: u8 = 0x08;
const FLAG_VERSION: u8 = 0x10;
const FLAG_RESPONSE: u8 = 0x20;

/// A checked view of an IKE header at the start of a buffer.
#[derive(Debug, Clone, Copy)]
pub struct HeaderPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> HeaderPacket<T> {
    /// Wraps `buffer` after checking it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(HeaderPacket { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn spi_i(&self) -> u64 {
        be::u64(&self.b()[field::SPI_I])
    }
    pub fn spi_r(&self) -> u64 {
        be::u64(&self.b()[field::SPI_R])
    }
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.b()[field::NEXT_PAYLOAD])
    }
    pub fn major_version(&self) -> u8 {
        self.b()[field::VERSION] >> 4
    }
    pub fn minor_version(&self) -> u8 {
        self.b()[field::VERSION] & 0x0f
    }
    pub fn exchange(&self) -> ExchangeType {
        ExchangeType(self.b()[field::EXCHANGE])
    }
    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }
    pub fn message_id(&self) -> u32 {
        be::u32(&self.b()[field::MESSAGE_ID])
    }
    pub fn length(&self) -> u32 {
        be::u32(&self.b()[field::LENGTH])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> HeaderPacket<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    pub fn set_spi_i(&mut self, v: u64) {
        self.bm()[field::SPI_I].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_spi_r(&mut self, v: u64) {
        self.bm()[field::SPI_R].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_next_payload(&mut self, v: PayloadType) {
        self.bm()[field::NEXT_PAYLOAD] = v.0;
    }
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.bm()[field::VERSION] = (major << 4) | (minor & 0x0f);
    }
    pub fn set_exchange(&mut self, v: ExchangeType) {
        self.bm()[field::EXCHANGE] = v.0;
    }
    pub fn set_flags(&mut self, v: u8) {
        self.bm()[field::FLAGS] = v;
    }
    pub fn set_message_id(&mut self, v: u32) {
        self.bm()[field::MESSAGE_ID].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_length(&mut self, v: u32) {
        self.bm()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
}

/// The I, V and R flags of the IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags {
    /// Set by the original initiator of the IKE SA.
    pub initiator: bool,
    /// "Higher version supported"; IKEv2 ignores it on receipt.
    pub version: bool,
    /// Set in responses.
    pub response: bool,
}

impl Flags {
    fn from_byte(b: u8) -> Flags {
        Flags {
            initiator: b & FLAG_INITIATOR != 0,
            version: b & FLAG_VERSION != 0,
            response: b & FLAG_RESPONSE != 0,
        }
    }
    fn to_byte(self) -> u8 {
        let mut b = 0;
        if self.initiator {
            b |= FLAG_INITIATOR;
        }
        if self.version {
            b |= FLAG_VERSION;
        }
        if self.response {
            b |= FLAG_RESPONSE;
        }
        b
    }
}

/// The IKE header as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub spi_i: u64,
    pub spi_r: u64,
    /// Type of the first payload. [`super::Message::to_bytes`] fills it in
    /// from the payload list; parsing reports what was on the wire.
    pub next_payload: PayloadType,
    pub major_version: u8,
    pub minor_version: u8,
    pub exchange: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
    /// Total message length. Filled in by the encoders.
    pub length: u32,
}

impl Header {
    /// The IKEv2 version this crate speaks (RFC 7296 3.1).
    pub const MAJOR_VERSION: u8 = 2;
    pub const MINOR_VERSION: u8 = 0;

    /// A header for a new message; `next_payload` and `length` are filled in
    /// when the message is emitted.
    pub fn new(
        spi_i: u64,
        spi_r: u64,
        exchange: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Header {
        Header {
            spi_i,
            spi_r,
            next_payload: PayloadType::NONE,
            major_version: Self::MAJOR_VERSION,
            minor_version: Self::MINOR_VERSION,
            exchange,
            flags,
            message_id,
            length: 0,
        }
    }

    /// Reads the header fields without judging them: the engine needs the
    /// SPIs and message ID even of a message it will reject, e.g. to answer
    /// INVALID_MAJOR_VERSION (RFC 7296 2.5).
    pub fn parse<T: AsRef<[u8]>>(packet: &HeaderPacket<T>) -> Header {
        Header {
            spi_i: packet.spi_i(),
            spi_r: packet.spi_r(),
            next_payload: packet.next_payload(),
            major_version: packet.major_version(),
            minor_version: packet.minor_version(),
            exchange: packet.exchange(),
            flags: Flags::from_byte(packet.flags()),
            message_id: packet.message_id(),
            length: packet.length(),
        }
    }

    /// Reads the header at the start of `datagram`.
    pub fn parse_bytes(datagram: &[u8]) -> Result<Header> {
        Ok(Header::parse(&HeaderPacket::new_checked(datagram)?))
    }

    /// Checks what RFC 7296 3.1 and 2.5 require of a received header:
    /// major version 2 and a Length equal to the datagram length.
    pub fn check(&self, datagram_len: usize) -> Result<()> {
        if self.major_version != Self::MAJOR_VERSION {
            return Err(Error::UnsupportedMajorVersion(self.major_version));
        }
        if usize::try_from(self.length).ok() != Some(datagram_len) {
            return Err(Error::HeaderLength {
                claimed: self.length,
                actual: datagram_len,
            });
        }
        Ok(())
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes all fields as they are (no field is recomputed here).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut HeaderPacket<T>) {
        packet.set_spi_i(self.spi_i);
        packet.set_spi_r(self.spi_r);
        packet.set_next_payload(self.next_payload);
        packet.set_version(self.major_version, self.minor_version);
        packet.set_exchange(self.exchange);
        packet.set_flags(self.flags.to_byte());
        packet.set_message_id(self.message_id);
        packet.set_length(self.length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // First 28 bytes of strongSwan's IKE_SA_INIT request (vector set
    // strongswan-psk-x25519-aes256gcm, message 01).
    static BYTES: [u8; 28] = [
        0x7e, 0x02, 0xbf, 0xa8, 0xde, 0xf9, 0x89, 0x71, 0, 0, 0, 0, 0, 0, 0, 0, 0x21, 0x20, 0x22,
        0x08, 0, 0, 0, 0, 0, 0, 0, 0xe8,
    ];

    #[test]
    fn deconstruct() {
        let p = HeaderPacket::new_checked(&BYTES[..]).unwrap();
        assert_eq!(p.spi_i(), 0x7e02bfa8def98971);
        assert_eq!(p.spi_r(), 0);
        assert_eq!(p.next_payload(), PayloadType::SA);
        assert_eq!((p.major_version(), p.minor_version()), (2, 0));
        assert_eq!(p.exchange(), ExchangeType::IKE_SA_INIT);
        assert_eq!(p.flags(), 0x08);
        assert_eq!(p.length(), 232);
    }

    #[test]
    fn parse_emit() {
        let h = Header::parse_bytes(&BYTES).unwrap();
        assert!(h.flags.initiator && !h.flags.response && !h.flags.version);
        assert_eq!(h.check(232), Ok(()));
        assert_eq!(
            h.check(231),
            Err(Error::HeaderLength {
                claimed: 232,
                actual: 231
            })
        );
        let mut out = [0u8; 28];
        h.emit(&mut HeaderPacket::new_checked(&mut out[..]).unwrap());
        assert_eq!(out, BYTES);
    }

    #[test]
    fn reserved_flags_ignored_and_version_checked() {
        let mut b = BYTES;
        b[19] = 0xff;
        b[17] = 0x30;
        let h = Header::parse_bytes(&b).unwrap();
        assert_eq!(
            h.flags,
            Flags {
                initiator: true,
                version: true,
                response: true
            }
        );
        assert_eq!(h.check(232), Err(Error::UnsupportedMajorVersion(3)));
        assert_eq!(Header::parse_bytes(&b[..27]), Err(Error::Truncated));
    }
}
