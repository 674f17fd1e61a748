//! The Notify payload (RFC 7296 3.10).

use super::be;
use super::consts::{NotifyType, PayloadType, ProtocolId};
use super::error::{Error, Result};
use super::sa::put_u16;

mod field {
    use core::ops::Range;
    pub const PROTOCOL: usize = 0;
    pub const SPI_SIZE: usize = 1;
    pub const TYPE: Range<usize> = 2..4;
    pub const SPI: usize = 4;
}

/// Notify payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notify {
    /// Meaningful only when `spi` is non-empty; RFC 7296 3.10 says it is sent
    /// as zero otherwise and ignored on receipt. Kept as received.
    pub protocol: ProtocolId,
    pub spi: Vec<u8>,
    pub notify_type: NotifyType,
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify that concerns no SA.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Notify {
        Notify {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    pub fn parse(body: &[u8]) -> Result<Notify> {
        let bad = Error::BadPayload(PayloadType::NOTIFY);
        let protocol = ProtocolId(*body.get(field::PROTOCOL).ok_or(bad)?);
        let spi_size = usize::from(*body.get(field::SPI_SIZE).ok_or(bad)?);
        let notify_type = NotifyType(be::u16(body.get(field::TYPE).ok_or(bad)?));
        let spi_end = field::SPI + spi_size;
        let spi = body.get(field::SPI..spi_end).ok_or(bad)?;
        let data = body.get(spi_end..).ok_or(bad)?;
        let n = Notify {
            protocol,
            spi: spi.to_vec(),
            notify_type,
            data: data.to_vec(),
        };
        n.validate()?;
        Ok(n)
    }

    /// SPI sizes (RFC 7296 3.10): none, 4 for a Child SA of AH/ESP, or 8 for
    /// an IKE SA (e.g. the REKEY_SA of an IKE SA or INVALID_IKE_SPI).
    pub fn validate(&self) -> Result<()> {
        let ok = match self.spi.len() {
            0 => true,
            4 => matches!(self.protocol, ProtocolId::AH | ProtocolId::ESP),
            8 => self.protocol == ProtocolId::IKE,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::SpiSize {
                protocol: self.protocol,
                size: u8::try_from(self.spi.len()).unwrap_or(u8::MAX),
            })
        }
    }

    pub fn buffer_len(&self) -> usize {
        field::SPI
            .saturating_add(self.spi.len())
            .saturating_add(self.data.len())
    }

    /// `buf` is `buffer_len()` long and `validate()` passed.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::PROTOCOL] = self.protocol.0;
        buf[field::SPI_SIZE] = self.spi.len() as u8;
        put_u16(&mut buf[field::TYPE], self.notify_type.0);
        let spi_end = field::SPI + self.spi.len();
        buf[field::SPI..spi_end].copy_from_slice(&self.spi);
        buf[spi_end..].copy_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_emit() {
        // N(REKEY_SA) for ESP SPI 2230489e, from the strongSwan vectors.
        let b = [0x03, 0x04, 0x40, 0x09, 0x22, 0x30, 0x48, 0x9e];
        let n = Notify::parse(&b).unwrap();
        assert_eq!(n.notify_type, NotifyType::REKEY_SA);
        assert_eq!(n.protocol, ProtocolId::ESP);
        assert_eq!(n.spi, [0x22, 0x30, 0x48, 0x9e]);
        assert!(n.data.is_empty());
        let mut out = vec![0; n.buffer_len()];
        n.emit(&mut out);
        assert_eq!(out, b);
        let mut bad = b;
        bad[0] = 1; // IKE with a 4-byte SPI
        assert!(Notify::parse(&bad).is_err());
        bad[1] = 9; // SPI runs off the end
        assert!(Notify::parse(&bad).is_err());
        assert!(Notify::parse(&b[..3]).is_err());
    }
}
