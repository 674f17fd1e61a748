//! The Security Association payload: proposals, transforms and transform
//! attributes (RFC 7296 3.3).

use super::be;
use super::consts::{
    AttributeType, DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType,
};
use super::error::{Error, Result};

/// Proposal substructure header (RFC 7296 3.3.1).
mod proposal_field {
    use core::ops::Range;
    pub const LAST: usize = 0;
    pub const LENGTH: Range<usize> = 2..4;
    pub const NUM: usize = 4;
    pub const PROTOCOL: usize = 5;
    pub const SPI_SIZE: usize = 6;
    pub const NUM_TRANSFORMS: usize = 7;
    pub const SPI_START: usize = 8;
}

/// Transform substructure header (RFC 7296 3.3.2).
mod transform_field {
    use core::ops::Range;
    pub const LAST: usize = 0;
    pub const LENGTH: Range<usize> = 2..4;
    pub const TYPE: usize = 4;
    pub const ID: Range<usize> = 6..8;
    pub const ATTRIBUTES: usize = 8;
}

/// Data attribute header (RFC 7296 3.3.5).
mod attribute_field {
    use core::ops::Range;
    pub const TYPE: Range<usize> = 0..2;
    /// Length in TLV form, value in TV form.
    pub const LENGTH_OR_VALUE: Range<usize> = 2..4;
    pub const VALUE: usize = 4;
}

const PROPOSAL_HEADER_LEN: usize = 8;
const TRANSFORM_HEADER_LEN: usize = 8;
const ATTRIBUTE_HEADER_LEN: usize = 4;

/// "Last Substruc" values: 0 for the last one, else 2 (proposal) or 3
/// (transform), a leftover from IKEv1 (RFC 7296 3.3.1, 3.3.2).
const LAST: u8 = 0;
const MORE_PROPOSALS: u8 = 2;
const MORE_TRANSFORMS: u8 = 3;

/// Attribute Format bit: set for TV (2-byte value), clear for TLV.
const ATTRIBUTE_TV: u16 = 0x8000;

/// One proposal of an SA payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proposal {
    pub num: u8,
    pub protocol: ProtocolId,
    /// Empty for IKE in IKE_SA_INIT, 8 bytes when rekeying an IKE SA, 4 for
    /// AH/ESP (RFC 7296 3.3.1).
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

/// One transform of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transform {
    pub ttype: TransformType,
    /// The ID's meaning depends on `ttype`: see [`EncrId`], [`PrfId`],
    /// [`IntegId`], [`DhGroup`], [`EsnId`].
    pub id: u16,
    /// The KEY_LENGTH attribute in bits, if present.
    pub key_length: Option<u16>,
    /// Attributes other than KEY_LENGTH. RFC 7296 3.3.6 says a transform
    /// with an attribute the receiver does not understand must not be
    /// selected, so the engine checks that this is empty.
    pub other_attributes: Vec<Attribute>,
}

/// A transform attribute other than KEY_LENGTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute type without the format bit (15 bits).
    pub atype: AttributeType,
    pub value: AttributeValue,
}

/// The two attribute forms of RFC 7296 3.3.5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    Tv(u16),
    Tlv(Vec<u8>),
}

impl Transform {
    pub fn new(ttype: TransformType, id: u16) -> Transform {
        Transform {
            ttype,
            id,
            key_length: None,
            other_attributes: Vec::new(),
        }
    }
    pub fn encr(id: EncrId, key_length: Option<u16>) -> Transform {
        Transform {
            key_length,
            ..Transform::new(TransformType::ENCR, id.0)
        }
    }
    pub fn prf(id: PrfId) -> Transform {
        Transform::new(TransformType::PRF, id.0)
    }
    pub fn integ(id: IntegId) -> Transform {
        Transform::new(TransformType::INTEG, id.0)
    }
    pub fn ke(group: DhGroup) -> Transform {
        Transform::new(TransformType::KE, group.0)
    }
    pub fn esn(id: EsnId) -> Transform {
        Transform::new(TransformType::ESN, id.0)
    }

    fn attributes_len(&self) -> usize {
        let kl = if self.key_length.is_some() {
            ATTRIBUTE_HEADER_LEN
        } else {
            0
        };
        kl + self
            .other_attributes
            .iter()
            .map(|a| match &a.value {
                AttributeValue::Tv(_) => ATTRIBUTE_HEADER_LEN,
                AttributeValue::Tlv(v) => ATTRIBUTE_HEADER_LEN.saturating_add(v.len()),
            })
            .fold(0usize, usize::saturating_add)
    }

    fn buffer_len(&self) -> usize {
        TRANSFORM_HEADER_LEN.saturating_add(self.attributes_len())
    }

    fn parse(b: &[u8]) -> Result<Transform> {
        let ttype = TransformType(*b.get(transform_field::TYPE).ok_or(Error::BadSubstructure)?);
        let id = be::u16(b.get(transform_field::ID).ok_or(Error::BadSubstructure)?);
        let mut t = Transform::new(ttype, id);
        let mut rest = b.get(transform_field::ATTRIBUTES..).unwrap_or(&[]);
        while !rest.is_empty() {
            let hdr = rest
                .get(..ATTRIBUTE_HEADER_LEN)
                .ok_or(Error::BadAttribute)?;
            let raw_type = be::u16(&hdr[attribute_field::TYPE]);
            let second = be::u16(&hdr[attribute_field::LENGTH_OR_VALUE]);
            let atype = AttributeType(raw_type & !ATTRIBUTE_TV);
            let (value, used) = if raw_type & ATTRIBUTE_TV != 0 {
                (AttributeValue::Tv(second), ATTRIBUTE_HEADER_LEN)
            } else {
                let end = attribute_field::VALUE.saturating_add(usize::from(second));
                let v = rest
                    .get(attribute_field::VALUE..end)
                    .ok_or(Error::BadAttribute)?;
                (AttributeValue::Tlv(v.to_vec()), end)
            };
            if atype == AttributeType::KEY_LENGTH {
                // RFC 7296 3.3.5: key length is a TV attribute, given once.
                match value {
                    AttributeValue::Tv(bits) if t.key_length.is_none() => t.key_length = Some(bits),
                    _ => return Err(Error::BadAttribute),
                }
            } else {
                t.other_attributes.push(Attribute { atype, value });
            }
            rest = rest.get(used..).unwrap_or(&[]);
        }
        Ok(t)
    }

    fn validate(&self) -> Result<()> {
        for a in &self.other_attributes {
            if a.atype.0 & ATTRIBUTE_TV != 0 || a.atype == AttributeType::KEY_LENGTH {
                return Err(Error::BadAttribute);
            }
            if let AttributeValue::Tlv(v) = &a.value {
                if v.len() > usize::from(u16::MAX) {
                    return Err(Error::TooLarge);
                }
            }
        }
        if self.buffer_len() > usize::from(u16::MAX) {
            return Err(Error::TooLarge);
        }
        Ok(())
    }

    /// `buf` is exactly `buffer_len()` long.
    fn emit(&self, buf: &mut [u8], last: bool) {
        buf[transform_field::LAST] = if last { LAST } else { MORE_TRANSFORMS };
        buf[1] = 0;
        let len = len_u16(buf.len());
        put_u16(&mut buf[transform_field::LENGTH], len);
        buf[transform_field::TYPE] = self.ttype.0;
        buf[5] = 0;
        put_u16(&mut buf[transform_field::ID], self.id);
        let mut at = transform_field::ATTRIBUTES;
        if let Some(bits) = self.key_length {
            put_u16(
                &mut buf[at..at + 2],
                AttributeType::KEY_LENGTH.0 | ATTRIBUTE_TV,
            );
            put_u16(&mut buf[at + 2..at + 4], bits);
            at += ATTRIBUTE_HEADER_LEN;
        }
        for a in &self.other_attributes {
            match &a.value {
                AttributeValue::Tv(v) => {
                    put_u16(&mut buf[at..at + 2], a.atype.0 | ATTRIBUTE_TV);
                    put_u16(&mut buf[at + 2..at + 4], *v);
                    at += ATTRIBUTE_HEADER_LEN;
                }
                AttributeValue::Tlv(v) => {
                    put_u16(&mut buf[at..at + 2], a.atype.0);
                    put_u16(&mut buf[at + 2..at + 4], len_u16(v.len()));
                    buf[at + 4..at + 4 + v.len()].copy_from_slice(v);
                    at += ATTRIBUTE_HEADER_LEN + v.len();
                }
            }
        }
    }
}

impl Proposal {
    fn buffer_len(&self) -> usize {
        self.transforms.iter().map(Transform::buffer_len).fold(
            PROPOSAL_HEADER_LEN.saturating_add(self.spi.len()),
            usize::saturating_add,
        )
    }

    /// Parses one proposal substructure; `b` is exactly its Proposal Length.
    fn parse(b: &[u8]) -> Result<Proposal> {
        if b.len() < PROPOSAL_HEADER_LEN {
            return Err(Error::BadSubstructure);
        }
        let num = b[proposal_field::NUM];
        let protocol = ProtocolId(b[proposal_field::PROTOCOL]);
        let spi_size = usize::from(b[proposal_field::SPI_SIZE]);
        let num_transforms = usize::from(b[proposal_field::NUM_TRANSFORMS]);
        let spi_end = proposal_field::SPI_START + spi_size;
        let spi = b
            .get(proposal_field::SPI_START..spi_end)
            .ok_or(Error::BadSubstructure)?
            .to_vec();
        let mut transforms = Vec::new();
        let mut rest = &b[spi_end..];
        while !rest.is_empty() {
            let (body, after, more) = substructure(rest, MORE_TRANSFORMS, TRANSFORM_HEADER_LEN)?;
            transforms.push(Transform::parse(body)?);
            rest = after;
            if more == rest.is_empty() {
                // "More" announced but nothing follows, or "last" with more.
                return Err(Error::BadSubstructure);
            }
        }
        if transforms.len() != num_transforms {
            return Err(Error::BadSubstructure);
        }
        Ok(Proposal {
            num,
            protocol,
            spi,
            transforms,
        })
    }

    fn emit(&self, buf: &mut [u8], last: bool) {
        buf[proposal_field::LAST] = if last { LAST } else { MORE_PROPOSALS };
        buf[1] = 0;
        let len = len_u16(buf.len());
        put_u16(&mut buf[proposal_field::LENGTH], len);
        buf[proposal_field::NUM] = self.num;
        buf[proposal_field::PROTOCOL] = self.protocol.0;
        buf[proposal_field::SPI_SIZE] = self.spi.len() as u8;
        buf[proposal_field::NUM_TRANSFORMS] = self.transforms.len() as u8;
        let mut at = proposal_field::SPI_START;
        buf[at..at + self.spi.len()].copy_from_slice(&self.spi);
        at += self.spi.len();
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            let len = t.buffer_len();
            t.emit(&mut buf[at..at + len], i + 1 == n);
            at += len;
        }
    }
}

/// Splits one proposal or transform substructure off the front of `b`:
/// returns its bytes, the rest, and whether its "last" field says more follow.
fn substructure(b: &[u8], more_value: u8, min_len: usize) -> Result<(&[u8], &[u8], bool)> {
    let hdr = b.get(..4).ok_or(Error::BadSubstructure)?;
    let more = match hdr[0] {
        LAST => false,
        v if v == more_value => true,
        _ => return Err(Error::BadSubstructure),
    };
    let len = usize::from(be::u16(&hdr[2..4]));
    if len < min_len || len > b.len() {
        return Err(Error::BadSubstructure);
    }
    let (this, rest) = b.split_at(len);
    Ok((this, rest, more))
}

/// SPI sizes RFC 7296 allows in a proposal: IKE 0 (IKE_SA_INIT) or 8
/// (rekey, 3.3.1), AH/ESP 4. Other protocols are left to the engine.
fn check_proposal_spi(protocol: ProtocolId, size: usize) -> Result<()> {
    let ok = match protocol {
        ProtocolId::IKE => size == 0 || size == 8,
        ProtocolId::AH | ProtocolId::ESP => size == 4,
        ProtocolId::NONE => false,
        _ => size <= usize::from(u8::MAX),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::SpiSize {
            protocol,
            size: u8::try_from(size).unwrap_or(u8::MAX),
        })
    }
}

/// Parses an SA payload body.
pub fn parse_sa(body: &[u8]) -> Result<Vec<Proposal>> {
    let mut proposals = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (p, after, more) = substructure(rest, MORE_PROPOSALS, PROPOSAL_HEADER_LEN)?;
        proposals.push(Proposal::parse(p)?);
        rest = after;
        if more == rest.is_empty() {
            return Err(Error::BadSubstructure);
        }
    }
    validate_sa(&proposals)?;
    Ok(proposals)
}

/// Rules shared by the decoder and the encoder.
///
/// Proposal numbers (RFC 7296 3.3.1): an offer numbers its proposals 1, 2,
/// 3...; an answer carries the one accepted proposal with the number it had
/// in the offer, so a single proposal may have any non-zero number.
pub fn validate_sa(proposals: &[Proposal]) -> Result<()> {
    let first = proposals.first().ok_or(Error::BadSubstructure)?;
    if first.num == 0 || (proposals.len() > 1 && first.num != 1) {
        return Err(Error::ProposalNumber);
    }
    for pair in proposals.windows(2) {
        if pair[0].num.checked_add(1) != Some(pair[1].num) {
            return Err(Error::ProposalNumber);
        }
    }
    for p in proposals {
        check_proposal_spi(p.protocol, p.spi.len())?;
        if p.transforms.len() > usize::from(u8::MAX) {
            return Err(Error::TooLarge);
        }
        for t in &p.transforms {
            t.validate()?;
        }
        if p.buffer_len() > usize::from(u16::MAX) {
            return Err(Error::TooLarge);
        }
    }
    Ok(())
}

/// Body length of an SA payload.
pub fn sa_buffer_len(proposals: &[Proposal]) -> usize {
    proposals
        .iter()
        .map(Proposal::buffer_len)
        .fold(0, usize::saturating_add)
}

/// Writes an SA payload body; `buf` is exactly `sa_buffer_len()` long and
/// the proposals passed [`validate_sa`].
pub fn emit_sa(proposals: &[Proposal], buf: &mut [u8]) {
    let mut at = 0;
    let n = proposals.len();
    for (i, p) in proposals.iter().enumerate() {
        let len = p.buffer_len();
        p.emit(&mut buf[at..at + len], i + 1 == n);
        at += len;
    }
}

pub(crate) fn put_u16(b: &mut [u8], v: u16) {
    b.copy_from_slice(&v.to_be_bytes());
}

/// Lengths are validated against `u16::MAX` before emitting; saturate
/// rather than wrap should that ever be violated.
pub(crate) fn len_u16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    // SA payload body of strongSwan's IKE_SA_INIT request (vector set
    // strongswan-psk-x25519-aes256gcm, message 01): one IKE proposal,
    // AES-GCM-16 with 256-bit key, PRF-HMAC-SHA2-256, Curve25519.
    static SA_BODY: [u8; 36] = [
        0x00, 0x00, 0x00, 0x24, 0x01, 0x01, 0x00,
        0x03, // proposal 1, IKE, no SPI, 3 transforms
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x01,
        0x00, // ENCR 20, 256
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05, // PRF 5
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1f, // KE 31
    ];

    fn repr() -> Vec<Proposal> {
        vec![Proposal {
            num: 1,
            protocol: ProtocolId::IKE,
            spi: vec![],
            transforms: vec![
                Transform::encr(EncrId::AES_GCM_16, Some(256)),
                Transform::prf(PrfId::HMAC_SHA2_256),
                Transform::ke(DhGroup::CURVE25519),
            ],
        }]
    }

    #[test]
    fn parse_and_emit() {
        assert_eq!(parse_sa(&SA_BODY).unwrap(), repr());
        let r = repr();
        let mut out = vec![0u8; sa_buffer_len(&r)];
        emit_sa(&r, &mut out);
        assert_eq!(out, SA_BODY);
    }

    #[test]
    fn rejects_bad_structure() {
        let mut b = SA_BODY;
        b[7] = 2; // transform count disagrees
        assert_eq!(parse_sa(&b), Err(Error::BadSubstructure));
        let mut b = SA_BODY;
        b[28] = 3; // last transform claims more follow
        assert_eq!(parse_sa(&b), Err(Error::BadSubstructure));
        let mut b = SA_BODY;
        b[4] = 2; // single proposal numbered 2: allowed (an answer)
        assert!(parse_sa(&b).is_ok());
        b[4] = 0;
        assert_eq!(parse_sa(&b), Err(Error::ProposalNumber));
        let mut b = SA_BODY;
        b[16] = 0x00; // KEY_LENGTH in TLV form, length 0x0100 runs off the end
        assert_eq!(parse_sa(&b), Err(Error::BadAttribute));
        let mut b = SA_BODY;
        b[6] = 4; // IKE with a 4-byte SPI
        assert!(parse_sa(&b).is_err());
        assert_eq!(parse_sa(&[]), Err(Error::BadSubstructure));
    }

    #[test]
    fn two_proposals_numbering() {
        let mut r = repr();
        let mut second = r[0].clone();
        second.num = 2;
        r.push(second);
        assert_eq!(validate_sa(&r), Ok(()));
        r[1].num = 3;
        assert_eq!(validate_sa(&r), Err(Error::ProposalNumber));
        r[1].num = 1;
        assert_eq!(validate_sa(&r), Err(Error::ProposalNumber));
    }
}
