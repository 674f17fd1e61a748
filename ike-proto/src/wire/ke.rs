//! The Key Exchange payload (RFC 7296 3.4).

use super::be;
use super::consts::{DhGroup, PayloadType};
use super::error::{Error, Result};
use super::sa::put_u16;

mod field {
    use core::ops::Range;
    pub const GROUP: Range<usize> = 0..2;
    pub const RESERVED: Range<usize> = 2..4;
    pub const DATA: usize = 4;
}

/// KE payload: the group and the public value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyExchange {
    pub group: DhGroup,
    pub data: Vec<u8>,
}

impl KeyExchange {
    pub fn parse(body: &[u8]) -> Result<KeyExchange> {
        let group = be::u16(
            body.get(field::GROUP)
                .ok_or(Error::BadPayload(PayloadType::KE))?,
        );
        // Reserved bytes are ignored on receipt (RFC 7296 3.4).
        let data = body
            .get(field::DATA..)
            .ok_or(Error::BadPayload(PayloadType::KE))?;
        Ok(KeyExchange {
            group: DhGroup(group),
            data: data.to_vec(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        field::DATA.saturating_add(self.data.len())
    }

    pub fn emit(&self, buf: &mut [u8]) {
        put_u16(&mut buf[field::GROUP], self.group.0);
        buf[field::RESERVED].fill(0);
        buf[field::DATA..].copy_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let b = [0x00, 0x1f, 0x00, 0x00, 1, 2, 3];
        let ke = KeyExchange::parse(&b).unwrap();
        assert_eq!(ke.group, DhGroup::CURVE25519);
        assert_eq!(ke.data, [1, 2, 3]);
        let mut out = vec![0; ke.buffer_len()];
        ke.emit(&mut out);
        assert_eq!(out, b);
        assert!(KeyExchange::parse(&b[..3]).is_err());
    }
}
