//! The Delete payload (RFC 7296 3.11).

use super::be;
use super::consts::{PayloadType, ProtocolId};
use super::error::{Error, Result};
use super::sa::put_u16;

mod field {
    use core::ops::Range;
    pub const PROTOCOL: usize = 0;
    pub const SPI_SIZE: usize = 1;
    pub const NUM_SPIS: Range<usize> = 2..4;
    pub const SPIS: usize = 4;
}

/// Delete payload: for IKE no SPIs (the header names the SA), for AH/ESP a
/// list of 4-byte SPIs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delete {
    pub protocol: ProtocolId,
    pub spi_size: u8,
    pub spis: Vec<Vec<u8>>,
}

impl Delete {
    pub fn parse(body: &[u8]) -> Result<Delete> {
        let bad = Error::BadPayload(PayloadType::DELETE);
        let protocol = ProtocolId(*body.get(field::PROTOCOL).ok_or(bad)?);
        let spi_size = *body.get(field::SPI_SIZE).ok_or(bad)?;
        let num = usize::from(be::u16(body.get(field::NUM_SPIS).ok_or(bad)?));
        let spis_bytes = body.get(field::SPIS..).ok_or(bad)?;
        // The claimed count must match the bytes present exactly, so the
        // vector below never grows beyond what the buffer backs.
        if num.checked_mul(usize::from(spi_size)) != Some(spis_bytes.len()) {
            return Err(bad);
        }
        let spis = if spi_size == 0 {
            Vec::new()
        } else {
            spis_bytes
                .chunks_exact(usize::from(spi_size))
                .map(<[u8]>::to_vec)
                .collect()
        };
        let d = Delete {
            protocol,
            spi_size,
            spis,
        };
        // A count with SPI size 0 is only meaningful for IKE, where it must be 0.
        if spi_size == 0 && num != 0 {
            return Err(bad);
        }
        d.validate()?;
        Ok(d)
    }

    /// IKE: SPI size 0 and no SPIs; AH/ESP: SPI size 4 (RFC 7296 3.11).
    pub fn validate(&self) -> Result<()> {
        let size_ok = match self.protocol {
            ProtocolId::IKE => self.spi_size == 0 && self.spis.is_empty(),
            ProtocolId::AH | ProtocolId::ESP => self.spi_size == 4,
            _ => false,
        };
        if !size_ok {
            return Err(Error::SpiSize {
                protocol: self.protocol,
                size: self.spi_size,
            });
        }
        if self
            .spis
            .iter()
            .any(|s| s.len() != usize::from(self.spi_size))
        {
            return Err(Error::BadPayload(PayloadType::DELETE));
        }
        if self.spis.len() > usize::from(u16::MAX) {
            return Err(Error::TooLarge);
        }
        Ok(())
    }

    pub fn buffer_len(&self) -> usize {
        self.spis
            .iter()
            .map(Vec::len)
            .fold(field::SPIS, usize::saturating_add)
    }

    /// `buf` is `buffer_len()` long and `validate()` passed.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::PROTOCOL] = self.protocol.0;
        buf[field::SPI_SIZE] = self.spi_size;
        put_u16(&mut buf[field::NUM_SPIS], self.spis.len() as u16);
        let mut at = field::SPIS;
        for s in &self.spis {
            buf[at..at + s.len()].copy_from_slice(s);
            at += s.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp_and_ike() {
        let b = [3, 4, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8];
        let d = Delete::parse(&b).unwrap();
        assert_eq!(d.spis, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
        let mut out = vec![0; d.buffer_len()];
        d.emit(&mut out);
        assert_eq!(out, b);

        let ike = [1, 0, 0, 0];
        assert_eq!(Delete::parse(&ike).unwrap().spis.len(), 0);
        // A huge claimed count not backed by bytes.
        assert!(Delete::parse(&[3, 4, 0xff, 0xff, 1, 2, 3, 4]).is_err());
        assert!(Delete::parse(&[1, 0, 0xff, 0xff]).is_err());
        assert!(Delete::parse(&[1, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]).is_err());
        assert!(Delete::parse(&[3, 4, 0, 1, 1, 2, 3]).is_err());
    }
}
