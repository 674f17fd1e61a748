//! The Certificate and Certificate Request payloads (RFC 7296 3.6, 3.7).
//! Both are an encoding octet followed by opaque data.

use super::consts::{CertEncoding, PayloadType};
use super::error::{Error, Result};

mod field {
    pub const ENCODING: usize = 0;
    pub const DATA: usize = 1;
}

/// CERT or CERTREQ: for CERTREQ with X.509 encodings the data is a list of
/// SHA-1 hashes of trusted CA public keys (RFC 7296 3.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Certificate {
    pub encoding: CertEncoding,
    pub data: Vec<u8>,
}

impl Certificate {
    pub fn parse(body: &[u8], ptype: PayloadType) -> Result<Certificate> {
        let encoding = CertEncoding(*body.get(field::ENCODING).ok_or(Error::BadPayload(ptype))?);
        let data = body.get(field::DATA..).ok_or(Error::BadPayload(ptype))?;
        Ok(Certificate {
            encoding,
            data: data.to_vec(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        field::DATA.saturating_add(self.data.len())
    }

    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::ENCODING] = self.encoding.0;
        buf[field::DATA..].copy_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let b = [4, 0xaa, 0xbb];
        let c = Certificate::parse(&b, PayloadType::CERT).unwrap();
        assert_eq!(c.encoding, CertEncoding::X509_SIGNATURE);
        let mut out = vec![0; c.buffer_len()];
        c.emit(&mut out);
        assert_eq!(out, b);
        assert!(Certificate::parse(&[], PayloadType::CERTREQ).is_err());
    }
}
