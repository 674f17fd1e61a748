//! The `Payload` enum: one variant per payload type, and the walk along a
//! chain of payloads linked by their Next Payload fields (RFC 7296 3.2).

use super::auth::Authentication;
use super::cert::Certificate;
use super::consts::PayloadType;
use super::cp::Configuration;
use super::delete::Delete;
use super::error::{Error, Result};
use super::generic::{PayloadPacket, GENERIC_HEADER_LEN};
use super::id::Identification;
use super::ke::KeyExchange;
use super::notify::Notify;
use super::sa::{self, Proposal};
use super::sk::{Encrypted, Fragment};
use super::ts::{self, TrafficSelector};

/// Most payloads one chain (the outer message, or the inside of SK) may
/// hold. Real messages carry about a dozen; the cap bounds the work a
/// single datagram can cause.
pub const MAX_PAYLOADS: usize = 64;

/// Nonce length limits (RFC 7296 2.10, 3.9): at least 16, at most 256 bytes.
pub const NONCE_MIN_LEN: usize = 16;
pub const NONCE_MAX_LEN: usize = 256;

/// One payload as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Sa(Vec<Proposal>),
    Ke(KeyExchange),
    IdI(Identification),
    IdR(Identification),
    Cert(Certificate),
    CertReq(Certificate),
    Auth(super::auth::Authentication),
    Nonce(Vec<u8>),
    Notify(Notify),
    Delete(Delete),
    VendorId(Vec<u8>),
    TsI(Vec<TrafficSelector>),
    TsR(Vec<TrafficSelector>),
    Cp(Configuration),
    /// The EAP message, unparsed (RFC 7296 3.16).
    Eap(Vec<u8>),
    /// Encrypted payload, still encrypted (RFC 7296 3.14).
    Sk(Encrypted),
    /// Encrypted fragment, still encrypted (RFC 7383 2.5).
    Skf(Fragment),
    /// A payload type this codec does not know. Decoding keeps it only
    /// when the critical bit is clear (RFC 7296 2.5 says skip it);
    /// a critical one is [`Error::UnsupportedCriticalPayload`].
    Unknown {
        ptype: PayloadType,
        critical: bool,
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload's type, as the previous Next Payload field names it.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Cp(_) => PayloadType::CP,
            Payload::Eap(_) => PayloadType::EAP,
            Payload::Sk(_) => PayloadType::SK,
            Payload::Skf(_) => PayloadType::SKF,
            Payload::Unknown { ptype, .. } => *ptype,
        }
    }

    /// True for SK and SKF, which must end the outer chain.
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Payload::Sk(_) | Payload::Skf(_))
    }

    /// Decodes one payload body. The critical bit is ignored for known
    /// types: it only tells a receiver that does not know the type what to
    /// do (RFC 7296 3.2).
    pub fn parse(
        ptype: PayloadType,
        critical: bool,
        next: PayloadType,
        body: &[u8],
    ) -> Result<Payload> {
        Ok(match ptype {
            PayloadType::SA => Payload::Sa(sa::parse_sa(body)?),
            PayloadType::KE => Payload::Ke(KeyExchange::parse(body)?),
            PayloadType::IDI => Payload::IdI(Identification::parse(body, ptype)?),
            PayloadType::IDR => Payload::IdR(Identification::parse(body, ptype)?),
            PayloadType::CERT => Payload::Cert(Certificate::parse(body, ptype)?),
            PayloadType::CERTREQ => Payload::CertReq(Certificate::parse(body, ptype)?),
            PayloadType::AUTH => Payload::Auth(Authentication::parse(body)?),
            PayloadType::NONCE => {
                check_nonce(body)?;
                Payload::Nonce(body.to_vec())
            }
            PayloadType::NOTIFY => Payload::Notify(Notify::parse(body)?),
            PayloadType::DELETE => Payload::Delete(Delete::parse(body)?),
            PayloadType::VENDOR_ID => Payload::VendorId(body.to_vec()),
            PayloadType::TSI => Payload::TsI(ts::parse_ts(body, ptype)?),
            PayloadType::TSR => Payload::TsR(ts::parse_ts(body, ptype)?),
            PayloadType::CP => Payload::Cp(Configuration::parse(body)?),
            PayloadType::EAP => Payload::Eap(body.to_vec()),
            PayloadType::SK => Payload::Sk(Encrypted::parse(next, body)),
            PayloadType::SKF => Payload::Skf(Fragment::parse(next, body)?),
            _ if critical => return Err(Error::UnsupportedCriticalPayload(ptype)),
            _ => Payload::Unknown {
                ptype,
                critical,
                body: body.to_vec(),
            },
        })
    }

    /// Checks what the decoder would check, so that an encoded payload
    /// decodes again, and that every length fits its field.
    pub fn validate(&self) -> Result<()> {
        match self {
            Payload::Sa(p) => sa::validate_sa(p)?,
            Payload::IdI(id) => id.validate(PayloadType::IDI)?,
            Payload::IdR(id) => id.validate(PayloadType::IDR)?,
            Payload::Nonce(n) => check_nonce(n)?,
            Payload::Notify(n) => n.validate()?,
            Payload::Delete(d) => d.validate()?,
            Payload::TsI(t) | Payload::TsR(t) => ts::validate_ts(t)?,
            Payload::Cp(c) => c.validate()?,
            Payload::Skf(f) => f.validate()?,
            Payload::Unknown { ptype, .. } if is_known(*ptype) || *ptype == PayloadType::NONE => {
                // Would decode as the known type (or end the chain), not
                // as Unknown.
                return Err(Error::BadPayload(*ptype));
            }
            _ => {}
        }
        if self.buffer_len() > usize::from(u16::MAX) {
            return Err(Error::TooLarge);
        }
        Ok(())
    }

    /// Next Payload value this payload's own header carries, given the
    /// type of the payload after it: SK/SKF name their first inner payload
    /// instead (RFC 7296 3.14).
    pub fn next_field(&self, following: PayloadType) -> PayloadType {
        match self {
            Payload::Sk(e) => e.first_inner,
            Payload::Skf(f) => f.first_inner,
            _ => following,
        }
    }

    fn critical(&self) -> bool {
        matches!(self, Payload::Unknown { critical: true, .. })
    }

    /// Encoded length, generic header included.
    pub fn buffer_len(&self) -> usize {
        GENERIC_HEADER_LEN.saturating_add(self.body_len())
    }

    fn body_len(&self) -> usize {
        match self {
            Payload::Sa(p) => sa::sa_buffer_len(p),
            Payload::Ke(k) => k.buffer_len(),
            Payload::IdI(id) | Payload::IdR(id) => id.buffer_len(),
            Payload::Cert(c) | Payload::CertReq(c) => c.buffer_len(),
            Payload::Auth(a) => a.buffer_len(),
            Payload::Nonce(b) | Payload::VendorId(b) | Payload::Eap(b) => b.len(),
            Payload::Notify(n) => n.buffer_len(),
            Payload::Delete(d) => d.buffer_len(),
            Payload::TsI(t) | Payload::TsR(t) => ts::ts_buffer_len(t),
            Payload::Cp(c) => c.buffer_len(),
            Payload::Sk(e) => e.buffer_len(),
            Payload::Skf(f) => f.buffer_len(),
            Payload::Unknown { body, .. } => body.len(),
        }
    }

    /// Writes the payload, generic header included. `buf` is exactly
    /// `buffer_len()` long and `validate()` passed.
    pub fn emit(&self, next: PayloadType, buf: &mut [u8]) {
        let total = sa::len_u16(buf.len());
        let mut packet = PayloadPacket::new_unchecked(&mut buf[..]);
        packet.set_header(self.next_field(next), self.critical(), total);
        let body = packet.body_mut();
        match self {
            Payload::Sa(p) => sa::emit_sa(p, body),
            Payload::Ke(k) => k.emit(body),
            Payload::IdI(id) | Payload::IdR(id) => id.emit(body),
            Payload::Cert(c) | Payload::CertReq(c) => c.emit(body),
            Payload::Auth(a) => a.emit(body),
            Payload::Nonce(b) | Payload::VendorId(b) | Payload::Eap(b) => body.copy_from_slice(b),
            Payload::Notify(n) => n.emit(body),
            Payload::Delete(d) => d.emit(body),
            Payload::TsI(t) | Payload::TsR(t) => ts::emit_ts(t, body),
            Payload::Cp(c) => c.emit(body),
            Payload::Sk(e) => e.emit(body),
            Payload::Skf(f) => f.emit(body),
            Payload::Unknown { body: b, .. } => body.copy_from_slice(b),
        }
    }
}

fn check_nonce(n: &[u8]) -> Result<()> {
    if (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&n.len()) {
        Ok(())
    } else {
        Err(Error::BadPayload(PayloadType::NONCE))
    }
}

/// Types with a variant of their own in [`Payload`].
fn is_known(t: PayloadType) -> bool {
    (PayloadType::SA.0..=PayloadType::EAP.0).contains(&t.0) || t == PayloadType::SKF
}

/// Where a chain walk stopped.
pub(crate) struct Chain {
    pub payloads: Vec<Payload>,
    /// Offset (within the walked bytes) of the SK/SKF payload, if the chain
    /// ended with one.
    pub encrypted_at: Option<usize>,
}

/// Walks a payload chain that must fill `bytes` exactly, starting with
/// type `first`. With `allow_encrypted`, an SK or SKF payload may end the
/// chain (the outer message); inside SK it may not (RFC 7296 3.14).
pub(crate) fn parse_chain(
    first: PayloadType,
    bytes: &[u8],
    allow_encrypted: bool,
) -> Result<Chain> {
    let mut payloads = Vec::new();
    let mut next = first;
    let mut at = 0usize;
    let mut encrypted_at = None;
    while next != PayloadType::NONE {
        if payloads.len() >= MAX_PAYLOADS {
            return Err(Error::TooManyPayloads);
        }
        let rest = bytes.get(at..).unwrap_or(&[]);
        let packet = PayloadPacket::new_checked(rest, next)?;
        let len = packet.total_len();
        let encrypted = next == PayloadType::SK || next == PayloadType::SKF;
        if encrypted {
            // SK/SKF must be the last payload: its length reaches the end,
            // and its Next Payload names the inner chain, not an outer one.
            if !allow_encrypted || len != rest.len() {
                return Err(Error::MisplacedEncrypted);
            }
            encrypted_at = Some(at);
        }
        let payload = Payload::parse(
            next,
            packet.critical(),
            packet.next_payload(),
            packet.body(),
        )?;
        payloads.push(payload);
        at = at.saturating_add(len);
        next = if encrypted {
            PayloadType::NONE
        } else {
            packet.next_payload()
        };
    }
    if at != bytes.len() {
        // Bytes after the payload that said "no next payload".
        return Err(Error::PayloadLength(PayloadType::NONE));
    }
    Ok(Chain {
        payloads,
        encrypted_at,
    })
}

/// Checks a payload list for encoding and returns its total length. An
/// SK/SKF payload may only be last, and only with `allow_encrypted`.
pub(crate) fn chain_len(payloads: &[Payload], allow_encrypted: bool) -> Result<usize> {
    if payloads.len() > MAX_PAYLOADS {
        return Err(Error::TooManyPayloads);
    }
    let mut total = 0usize;
    for (i, p) in payloads.iter().enumerate() {
        if p.is_encrypted() && (!allow_encrypted || i + 1 != payloads.len()) {
            return Err(Error::MisplacedEncrypted);
        }
        p.validate()?;
        total = total.checked_add(p.buffer_len()).ok_or(Error::TooLarge)?;
    }
    Ok(total)
}

/// Writes a chain checked by [`chain_len`] into `buf` (exactly that long).
/// The last payload's Next Payload is `after` (NONE, or SK when the chain
/// precedes an encrypted payload).
pub(crate) fn emit_chain(payloads: &[Payload], after: PayloadType, buf: &mut [u8]) {
    let mut at = 0;
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(after, Payload::payload_type);
        let len = p.buffer_len();
        p.emit(next, &mut buf[at..at + len]);
        at += len;
    }
}

/// Decodes the payloads found inside SK after decryption and padding
/// removal (RFC 7296 3.14). `first` is the SK payload's Next Payload.
pub fn parse_inner_payloads(first: PayloadType, plaintext: &[u8]) -> Result<Vec<Payload>> {
    Ok(parse_chain(first, plaintext, false)?.payloads)
}

/// Encodes the payloads that go inside SK: returns the type of the first
/// one (for SK's Next Payload) and the bytes to pad and encrypt.
pub fn emit_inner_payloads(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>)> {
    let len = chain_len(payloads, false)?;
    let mut buf = vec![0u8; len];
    emit_chain(payloads, PayloadType::NONE, &mut buf);
    let first = payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type);
    Ok((first, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_must_not_shadow_known_types() {
        for t in [
            PayloadType::NONE,
            PayloadType::SA,
            PayloadType::SK,
            PayloadType::SKF,
        ] {
            let p = Payload::Unknown {
                ptype: t,
                critical: false,
                body: vec![],
            };
            assert_eq!(p.validate(), Err(Error::BadPayload(t)));
        }
        let gspm = Payload::Unknown {
            ptype: PayloadType::GSPM,
            critical: false,
            body: vec![1],
        };
        assert_eq!(gspm.validate(), Ok(()));
    }

    #[test]
    fn nonce_limits() {
        assert!(Payload::Nonce(vec![0; 15]).validate().is_err());
        assert!(Payload::Nonce(vec![0; 16]).validate().is_ok());
        assert!(Payload::Nonce(vec![0; 256]).validate().is_ok());
        assert!(Payload::Nonce(vec![0; 257]).validate().is_err());
    }

    #[test]
    fn oversized_payload_is_refused() {
        let p = Payload::VendorId(vec![0; 65531]);
        assert_eq!(p.validate(), Ok(()));
        let p = Payload::VendorId(vec![0; 65532]);
        assert_eq!(p.validate(), Err(Error::TooLarge));
        assert_eq!(emit_inner_payloads(&[p]), Err(Error::TooLarge));
    }
}
