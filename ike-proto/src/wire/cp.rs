//! The Configuration payload (RFC 7296 3.15).

use super::be;
use super::consts::{CfgAttributeType, CfgType, PayloadType};
use super::error::{Error, Result};
use super::sa::put_u16;

mod field {
    use core::ops::Range;
    pub const CFG_TYPE: usize = 0;
    pub const RESERVED: Range<usize> = 1..4;
    pub const ATTRIBUTES: usize = 4;
}

mod attribute_field {
    use core::ops::Range;
    pub const TYPE: Range<usize> = 0..2;
    pub const LENGTH: Range<usize> = 2..4;
    pub const VALUE: usize = 4;
}

/// The top bit of the attribute type is reserved (RFC 7296 3.15.1).
const ATTRIBUTE_TYPE_MASK: u16 = 0x7fff;

/// CP payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Configuration {
    pub cfg_type: CfgType,
    pub attributes: Vec<CfgAttribute>,
}

/// One configuration attribute; an empty value asks for one (CFG_REQUEST).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CfgAttribute {
    pub attr_type: CfgAttributeType,
    pub value: Vec<u8>,
}

impl Configuration {
    pub fn parse(body: &[u8]) -> Result<Configuration> {
        let bad = Error::BadPayload(PayloadType::CP);
        let cfg_type = CfgType(*body.get(field::CFG_TYPE).ok_or(bad)?);
        let mut rest = body.get(field::ATTRIBUTES..).ok_or(bad)?;
        let mut attributes = Vec::new();
        while !rest.is_empty() {
            let hdr = rest.get(..attribute_field::VALUE).ok_or(bad)?;
            let attr_type =
                CfgAttributeType(be::u16(&hdr[attribute_field::TYPE]) & ATTRIBUTE_TYPE_MASK);
            let len = usize::from(be::u16(&hdr[attribute_field::LENGTH]));
            let end = attribute_field::VALUE + len;
            let value = rest.get(attribute_field::VALUE..end).ok_or(bad)?;
            attributes.push(CfgAttribute {
                attr_type,
                value: value.to_vec(),
            });
            rest = rest.get(end..).unwrap_or(&[]);
        }
        Ok(Configuration {
            cfg_type,
            attributes,
        })
    }

    pub fn validate(&self) -> Result<()> {
        for a in &self.attributes {
            if a.attr_type.0 > ATTRIBUTE_TYPE_MASK || a.value.len() > usize::from(u16::MAX) {
                return Err(Error::TooLarge);
            }
        }
        Ok(())
    }

    pub fn buffer_len(&self) -> usize {
        self.attributes
            .iter()
            .map(|a| attribute_field::VALUE.saturating_add(a.value.len()))
            .fold(field::ATTRIBUTES, usize::saturating_add)
    }

    /// `buf` is `buffer_len()` long and `validate()` passed.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::CFG_TYPE] = self.cfg_type.0;
        buf[field::RESERVED].fill(0);
        let mut at = field::ATTRIBUTES;
        for a in &self.attributes {
            put_u16(&mut buf[at..at + 2], a.attr_type.0);
            put_u16(&mut buf[at + 2..at + 4], a.value.len() as u16);
            buf[at + 4..at + 4 + a.value.len()].copy_from_slice(&a.value);
            at += 4 + a.value.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_reply() {
        // CFG_REQUEST for INTERNAL_IP4_ADDRESS (empty) and a DNS reply value.
        let b = [1, 0, 0, 0, 0, 1, 0, 0, 0, 3, 0, 4, 10, 0, 0, 53];
        let c = Configuration::parse(&b).unwrap();
        assert_eq!(c.cfg_type, CfgType::REQUEST);
        assert_eq!(c.attributes.len(), 2);
        assert_eq!(
            c.attributes[1].attr_type,
            CfgAttributeType::INTERNAL_IP4_DNS
        );
        let mut out = vec![0; c.buffer_len()];
        c.emit(&mut out);
        assert_eq!(out, b);
        assert!(Configuration::parse(&b[..14]).is_err());
        assert!(Configuration::parse(&b[..2]).is_err());
    }
}
