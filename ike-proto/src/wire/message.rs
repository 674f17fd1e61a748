//! A whole IKE message: header plus payload chain (RFC 7296 3.1, 3.2).

use super::consts::PayloadType;
use super::error::{Error, Result};
use super::header::{Header, HeaderPacket, HEADER_LEN};
use super::payload::{chain_len, emit_chain, parse_chain, Payload};

/// An IKE message as plain values. An SK/SKF payload, if present, is last
/// and still encrypted; see [`super::ProtectedMessage`] to take it apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Decodes a datagram (without the non-ESP marker). Checks the version,
    /// that the header Length equals the datagram length, every payload
    /// length, the payload chain and each known payload's contents.
    pub fn parse(datagram: &[u8]) -> Result<Message> {
        let header = Header::parse(&HeaderPacket::new_checked(datagram)?);
        header.check(datagram.len())?;
        let body = datagram.get(HEADER_LEN..).ok_or(Error::Truncated)?;
        let chain = parse_chain(header.next_payload, body, true)?;
        Ok(Message {
            header,
            payloads: chain.payloads,
        })
    }

    /// Encoded length, after checking every payload.
    pub fn buffer_len(&self) -> Result<usize> {
        HEADER_LEN
            .checked_add(chain_len(&self.payloads, true)?)
            .ok_or(Error::TooLarge)
    }

    /// Encodes the message. The header's Next Payload and Length are
    /// computed from the payloads; the other header fields are used as given.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let len = self.buffer_len()?;
        let len32 = u32::try_from(len).map_err(|_| Error::TooLarge)?;
        let mut buf = vec![0u8; len];
        let mut header = self.header;
        header.next_payload = self
            .payloads
            .first()
            .map_or(PayloadType::NONE, Payload::payload_type);
        header.length = len32;
        let (hbuf, pbuf) = buf.split_at_mut(HEADER_LEN);
        header.emit(&mut HeaderPacket::new_checked(hbuf)?);
        emit_chain(&self.payloads, PayloadType::NONE, pbuf);
        Ok(buf)
    }

    /// The first payload of a given type, for the engine's lookups.
    pub fn find(&self, ptype: PayloadType) -> Option<&Payload> {
        self.payloads.iter().find(|p| p.payload_type() == ptype)
    }
}
