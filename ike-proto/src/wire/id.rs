//! The Identification payloads IDi and IDr (RFC 7296 3.5).

use super::consts::{IdType, PayloadType};
use super::error::{Error, Result};

mod field {
    use core::ops::Range;
    pub const ID_TYPE: usize = 0;
    pub const RESERVED: Range<usize> = 1..4;
    pub const DATA: usize = 4;
}

/// An identity: its type and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct Identification {
    pub id_type: IdType,
    pub data: Vec<u8>,
}

impl Identification {
    /// `ptype` is IDI or IDR, to label errors.
    pub fn parse(body: &[u8], ptype: PayloadType) -> Result<Identification> {
        let id_type = IdType(*body.get(field::ID_TYPE).ok_or(Error::BadPayload(ptype))?);
        let data = body.get(field::DATA..).ok_or(Error::BadPayload(ptype))?;
        let id = Identification {
            id_type,
            data: data.to_vec(),
        };
        id.validate(ptype)?;
        Ok(id)
    }

    /// Address identities have a fixed size (RFC 7296 3.5).
    pub fn validate(&self, ptype: PayloadType) -> Result<()> {
        let ok = match self.id_type {
            IdType::IPV4_ADDR => self.data.len() == 4,
            IdType::IPV6_ADDR => self.data.len() == 16,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::BadPayload(ptype))
        }
    }

    pub fn buffer_len(&self) -> usize {
        field::DATA.saturating_add(self.data.len())
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::ID_TYPE] = self.id_type.0;
        buf[field::RESERVED].fill(0);
        buf[field::DATA..].copy_from_slice(&self.data);
    }

    /// The payload body as sent (type, reserved zeros, data): the `IDx'`
    /// that AUTH is computed over (RFC 7296 2.15).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; self.buffer_len()];
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_and_addresses() {
        // IDi body from the strongSwan vectors: ID_FQDN "a.test".
        let b = [0x02, 0, 0, 0, b'a', b'.', b't', b'e', b's', b't'];
        let id = Identification::parse(&b, PayloadType::IDI).unwrap();
        assert_eq!(id.id_type, IdType::FQDN);
        assert_eq!(id.data, b"a.test");
        assert_eq!(id.body_bytes(), b);
        let v4 = [0x01, 0, 0, 0, 10, 0, 0];
        assert_eq!(
            Identification::parse(&v4, PayloadType::IDR),
            Err(Error::BadPayload(PayloadType::IDR))
        );
        assert!(Identification::parse(&b[..3], PayloadType::IDI).is_err());
    }
}
