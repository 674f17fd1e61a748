//! The Authentication payload (RFC 7296 3.8).

use super::consts::{AuthMethod, PayloadType};
use super::error::{Error, Result};

mod field {
    use core::ops::Range;
    pub const METHOD: usize = 0;
    pub const RESERVED: Range<usize> = 1..4;
    pub const DATA: usize = 4;
}

/// AUTH payload: method and authentication data (a MAC or a signature; for
/// DIGITAL_SIGNATURE the data starts with the RFC 7427 algorithm identifier).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authentication {
    pub method: AuthMethod,
    pub data: Vec<u8>,
}

impl Authentication {
    pub fn parse(body: &[u8]) -> Result<Authentication> {
        let bad = Error::BadPayload(PayloadType::AUTH);
        let method = AuthMethod(*body.get(field::METHOD).ok_or(bad)?);
        let data = body.get(field::DATA..).ok_or(bad)?;
        Ok(Authentication {
            method,
            data: data.to_vec(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        field::DATA.saturating_add(self.data.len())
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::METHOD] = self.method.0;
        buf[field::RESERVED].fill(0);
        buf[field::DATA..].copy_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let b = [2, 0, 0, 0, 0x82, 0x84];
        let a = Authentication::parse(&b).unwrap();
        assert_eq!(a.method, AuthMethod::PSK);
        assert_eq!(a.data, [0x82, 0x84]);
        let mut out = vec![0; a.buffer_len()];
        a.emit(&mut out);
        assert_eq!(out, b);
        assert!(Authentication::parse(&b[..2]).is_err());
    }
}
