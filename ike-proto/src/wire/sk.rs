//! The Encrypted payload SK (RFC 7296 3.14) and the Encrypted Fragment
//! payload SKF (RFC 7383 2.5): their byte layout, without any cipher.
//!
//! The codec does not know the negotiated cipher, so it cannot tell where
//! the IV ends or the ICV begins: callers pass `iv_len` and `icv_len` (the
//! crypto suite knows them) to [`ProtectedMessage::split`], and lengths to
//! [`build_protected`] when sending.
//!
//! Layout of a protected message:
//!
//! ```text
//! | IKE header | payloads before SK (rare) | SK generic header [| frag no | total] | IV | ciphertext | ICV |
//! |<------------------- associated data (AEAD, RFC 5282 5.1) ---------------------->|
//! |<------------------- integrity input (non-AEAD, RFC 7296 3.14) ------------------------------->|
//! ```

use core::ops::Range;

use super::be;
use super::consts::PayloadType;
use super::error::{Error, Result};
use super::generic::{PayloadPacket, GENERIC_HEADER_LEN};
use super::header::{Header, HeaderPacket, HEADER_LEN};
use super::payload::{chain_len, emit_chain, parse_chain, Payload};
use super::sa::put_u16;

/// SKF fields after the generic header (RFC 7383 2.5).
mod skf_field {
    use core::ops::Range;
    pub const NUMBER: Range<usize> = 0..2;
    pub const TOTAL: Range<usize> = 2..4;
    pub const BODY: usize = 4;
}

const SKF_FIELDS_LEN: usize = 4;

/// An SK payload as received: its Next Payload (the first inner payload's
/// type) and the encrypted body, IV | ciphertext | ICV.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encrypted {
    pub first_inner: PayloadType,
    pub body: Vec<u8>,
}

impl Encrypted {
    pub(crate) fn parse(next: PayloadType, body: &[u8]) -> Encrypted {
        Encrypted {
            first_inner: next,
            body: body.to_vec(),
        }
    }
    pub(crate) fn buffer_len(&self) -> usize {
        self.body.len()
    }
    pub(crate) fn emit(&self, buf: &mut [u8]) {
        buf.copy_from_slice(&self.body);
    }
}

/// An SKF payload as received. `first_inner` is set in fragment 1 only and
/// zero in the others (RFC 7383 2.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fragment {
    pub first_inner: PayloadType,
    pub number: u16,
    pub total: u16,
    pub body: Vec<u8>,
}

impl Fragment {
    pub(crate) fn parse(next: PayloadType, body: &[u8]) -> Result<Fragment> {
        let bad = Error::BadPayload(PayloadType::SKF);
        let number = be::u16(body.get(skf_field::NUMBER).ok_or(bad)?);
        let total = be::u16(body.get(skf_field::TOTAL).ok_or(bad)?);
        let rest = body.get(skf_field::BODY..).ok_or(bad)?;
        let f = Fragment {
            first_inner: next,
            number,
            total,
            body: rest.to_vec(),
        };
        f.validate()?;
        Ok(f)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_fragment(self.number, self.total, self.first_inner)
    }

    pub(crate) fn buffer_len(&self) -> usize {
        SKF_FIELDS_LEN.saturating_add(self.body.len())
    }

    pub(crate) fn emit(&self, buf: &mut [u8]) {
        put_u16(&mut buf[skf_field::NUMBER], self.number);
        put_u16(&mut buf[skf_field::TOTAL], self.total);
        buf[skf_field::BODY..].copy_from_slice(&self.body);
    }
}

/// RFC 7383 2.5: numbers run 1..=total, and only fragment 1 names the
/// first inner payload.
fn check_fragment(number: u16, total: u16, first_inner: PayloadType) -> Result<()> {
    if number == 0 || number > total || (number != 1 && first_inner != PayloadType::NONE) {
        return Err(Error::BadFragment);
    }
    Ok(())
}

/// SK or SKF, with the SKF numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptedKind {
    Sk,
    Skf { number: u16, total: u16 },
}

impl EncryptedKind {
    fn payload_type(self) -> PayloadType {
        match self {
            EncryptedKind::Sk => PayloadType::SK,
            EncryptedKind::Skf { .. } => PayloadType::SKF,
        }
    }
    /// Bytes between the payload start and the IV.
    fn header_len(self) -> usize {
        match self {
            EncryptedKind::Sk => GENERIC_HEADER_LEN,
            EncryptedKind::Skf { .. } => GENERIC_HEADER_LEN + SKF_FIELDS_LEN,
        }
    }
}

/// A received message whose last payload is SK or SKF, taken apart
/// without decrypting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedMessage<'a> {
    pub header: Header,
    /// Payloads before SK (usually none).
    pub unprotected: Vec<Payload>,
    pub kind: EncryptedKind,
    /// Type of the first payload inside (the SK/SKF Next Payload field).
    pub first_inner: PayloadType,
    datagram: &'a [u8],
    /// Offset of the IV: everything before it is associated data.
    body_start: usize,
}

/// The pieces of a protected message, once the IV and ICV sizes are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkParts<'a> {
    /// AEAD associated data: from the IKE header through the SK (and SKF
    /// numbering) header (RFC 5282 5.1, RFC 7383 2.5).
    pub aad: &'a [u8],
    pub iv: &'a [u8],
    /// Encrypted inner payloads, padding and Pad Length.
    pub ciphertext: &'a [u8],
    pub icv: &'a [u8],
    /// What a non-AEAD ICV covers: the whole message except the ICV
    /// (RFC 7296 3.14).
    pub integrity_input: &'a [u8],
}

impl<'a> ProtectedMessage<'a> {
    /// Decodes the header and the unprotected payloads, with the same
    /// checks as [`super::Message::parse`], and locates SK/SKF. A message
    /// without an encrypted payload is [`Error::MisplacedEncrypted`].
    pub fn parse(datagram: &'a [u8]) -> Result<ProtectedMessage<'a>> {
        let header = Header::parse(&HeaderPacket::new_checked(datagram)?);
        header.check(datagram.len())?;
        let body = datagram.get(HEADER_LEN..).ok_or(Error::Truncated)?;
        let mut chain = parse_chain(header.next_payload, body, true)?;
        let sk_at = chain.encrypted_at.ok_or(Error::MisplacedEncrypted)?;
        let (kind, first_inner) = match chain.payloads.pop() {
            Some(Payload::Sk(e)) => (EncryptedKind::Sk, e.first_inner),
            Some(Payload::Skf(f)) => (
                EncryptedKind::Skf {
                    number: f.number,
                    total: f.total,
                },
                f.first_inner,
            ),
            _ => return Err(Error::MisplacedEncrypted),
        };
        let body_start = HEADER_LEN
            .checked_add(sk_at)
            .and_then(|v| v.checked_add(kind.header_len()))
            .ok_or(Error::Truncated)?;
        if body_start > datagram.len() {
            return Err(Error::Truncated);
        }
        Ok(ProtectedMessage {
            header,
            unprotected: chain.payloads,
            kind,
            first_inner,
            datagram,
            body_start,
        })
    }

    /// Header, unprotected payloads and SK header: the AEAD associated data.
    pub fn aad(&self) -> &'a [u8] {
        self.datagram.get(..self.body_start).unwrap_or(&[])
    }

    /// IV | ciphertext | ICV.
    pub fn body(&self) -> &'a [u8] {
        self.datagram.get(self.body_start..).unwrap_or(&[])
    }

    /// The whole datagram.
    pub fn bytes(&self) -> &'a [u8] {
        self.datagram
    }

    /// Splits the body given the cipher's IV and ICV sizes. The ciphertext
    /// must hold at least the Pad Length octet.
    pub fn split(&self, iv_len: usize, icv_len: usize) -> Result<SkParts<'a>> {
        let body = self.body();
        let bad = Error::BadPayload(self.kind.payload_type());
        let ct_len = body
            .len()
            .checked_sub(iv_len)
            .and_then(|v| v.checked_sub(icv_len))
            .ok_or(bad)?;
        if ct_len == 0 {
            return Err(bad);
        }
        let (iv, rest) = body.split_at(iv_len);
        let (ciphertext, icv) = rest.split_at(ct_len);
        let icv_start = self.datagram.len() - icv_len;
        Ok(SkParts {
            aad: self.aad(),
            iv,
            ciphertext,
            icv,
            integrity_input: self.datagram.get(..icv_start).unwrap_or(&[]),
        })
    }
}

/// Removes the padding from decrypted SK contents: the last octet is the Pad
/// Length, and that many padding octets precede it (RFC 7296 3.14). The
/// padding contents are not checked, as the RFC asks.
pub fn strip_padding(decrypted: &[u8]) -> Result<&[u8]> {
    let (&pad_len, rest) = decrypted.split_last().ok_or(Error::BadPadding)?;
    let keep = rest
        .len()
        .checked_sub(usize::from(pad_len))
        .ok_or(Error::BadPadding)?;
    Ok(&rest[..keep])
}

/// Appends padding and the Pad Length octet so that the result is a
/// multiple of `block_len` (1 for stream-like and AEAD modes that need no
/// alignment). The padding octets are zero. `block_len` must be 1..=256.
pub fn pad_plaintext(inner: &[u8], block_len: usize) -> Result<Vec<u8>> {
    if block_len == 0 || block_len > 256 {
        return Err(Error::BadPadding);
    }
    let with_len_octet = inner.len().checked_add(1).ok_or(Error::TooLarge)?;
    let pad = (block_len - with_len_octet % block_len) % block_len;
    let mut out = Vec::with_capacity(with_len_octet + pad);
    out.extend_from_slice(inner);
    out.resize(inner.len() + pad, 0);
    out.push(pad as u8);
    Ok(out)
}

/// A protected message being built: header and SK header are written, the
/// IV, ciphertext and ICV slots are zero and sized for the caller to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedBuf {
    bytes: Vec<u8>,
    iv: Range<usize>,
    ciphertext: Range<usize>,
    icv: Range<usize>,
}

/// Mutable views of the slots of a [`ProtectedBuf`].
#[derive(Debug)]
pub struct ProtectedSlots<'a> {
    /// AEAD associated data, already final.
    pub aad: &'a [u8],
    pub iv: &'a mut [u8],
    pub ciphertext: &'a mut [u8],
    pub icv: &'a mut [u8],
}

impl ProtectedBuf {
    /// The AEAD associated data: header through SK header.
    pub fn aad(&self) -> &[u8] {
        &self.bytes[..self.iv.start]
    }

    /// The slots to fill, with the associated data.
    pub fn slots(&mut self) -> ProtectedSlots<'_> {
        let (aad, rest) = self.bytes.split_at_mut(self.iv.start);
        let (iv, rest) = rest.split_at_mut(self.iv.len());
        let (ciphertext, icv) = rest.split_at_mut(self.ciphertext.len());
        ProtectedSlots {
            aad,
            iv,
            ciphertext,
            icv,
        }
    }

    /// For non-AEAD integrity: everything the ICV covers (header through
    /// ciphertext, fill IV and ciphertext first) and the ICV slot.
    pub fn integrity_input_and_icv(&mut self) -> (&[u8], &mut [u8]) {
        let (covered, icv) = self.bytes.split_at_mut(self.icv.start);
        (covered, icv)
    }

    pub fn iv_range(&self) -> Range<usize> {
        self.iv.clone()
    }
    pub fn ciphertext_range(&self) -> Range<usize> {
        self.ciphertext.clone()
    }
    pub fn icv_range(&self) -> Range<usize> {
        self.icv.clone()
    }

    /// IV | ciphertext | ICV, as one slot.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.iv.start..]
    }

    /// Copies a sealed body (`IV | ciphertext | ICV`, as the crypto suite
    /// returns it) into place; its length must be the one laid out.
    pub fn set_body(&mut self, sealed: &[u8]) -> Result<()> {
        let slot = self.body_mut();
        if slot.len() != sealed.len() {
            return Err(Error::BadPayload(PayloadType::SK));
        }
        slot.copy_from_slice(sealed);
        Ok(())
    }

    /// The finished datagram (without non-ESP marker).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Lays out a message whose last payload is SK (or SKF) with room for an
/// IV of `iv_len`, `ciphertext_len` bytes of encrypted padded inner
/// payloads, and an ICV of `icv_len`. The header's Next Payload and Length
/// are computed.
pub fn build_protected(
    header: &Header,
    unprotected: &[Payload],
    kind: EncryptedKind,
    first_inner: PayloadType,
    iv_len: usize,
    ciphertext_len: usize,
    icv_len: usize,
) -> Result<ProtectedBuf> {
    if let EncryptedKind::Skf { number, total } = kind {
        check_fragment(number, total, first_inner)?;
    }
    let before = chain_len(unprotected, false)?;
    let sk_len = kind
        .header_len()
        .checked_add(iv_len)
        .and_then(|v| v.checked_add(ciphertext_len))
        .and_then(|v| v.checked_add(icv_len))
        .ok_or(Error::TooLarge)?;
    let sk_len16 = u16::try_from(sk_len).map_err(|_| Error::TooLarge)?;
    let sk_at = HEADER_LEN.checked_add(before).ok_or(Error::TooLarge)?;
    let total = sk_at.checked_add(sk_len).ok_or(Error::TooLarge)?;
    let total32 = u32::try_from(total).map_err(|_| Error::TooLarge)?;

    let mut bytes = vec![0u8; total];
    let mut h = *header;
    h.next_payload = unprotected
        .first()
        .map_or(kind.payload_type(), Payload::payload_type);
    h.length = total32;
    h.emit(&mut HeaderPacket::new_checked(&mut bytes[..HEADER_LEN])?);

    // Unprotected payloads chain into SK: the last one's Next Payload is SK.
    let (head, sk) = bytes.split_at_mut(sk_at);
    emit_chain(unprotected, kind.payload_type(), &mut head[HEADER_LEN..]);

    let mut p = PayloadPacket::new_unchecked(&mut sk[..]);
    p.set_header(first_inner, false, sk_len16);
    if let EncryptedKind::Skf { number, total } = kind {
        let b = p.body_mut();
        put_u16(&mut b[skf_field::NUMBER], number);
        put_u16(&mut b[skf_field::TOTAL], total);
    }
    let iv_start = sk_at + kind.header_len();
    let ct_start = iv_start + iv_len;
    let icv_start = ct_start + ciphertext_len;
    Ok(ProtectedBuf {
        bytes,
        iv: iv_start..ct_start,
        ciphertext: ct_start..icv_start,
        icv: icv_start..total,
    })
}

/// Builds an SK message (no unprotected payloads) around an already
/// sealed body `IV | ciphertext | ICV`. The associated data depends only on
/// the header and the lengths, so a sender computes it first with
/// [`build_protected`] (or [`protected_aad`]) for the same body length.
pub fn emit_protected(
    header: &Header,
    first_inner: PayloadType,
    sealed_body: &[u8],
) -> Result<Vec<u8>> {
    let mut buf = build_protected(
        header,
        &[],
        EncryptedKind::Sk,
        first_inner,
        0,
        sealed_body.len(),
        0,
    )?;
    buf.set_body(sealed_body)?;
    Ok(buf.into_bytes())
}

/// The associated data (header through SK header) of the SK message that
/// [`emit_protected`] would build for a sealed body of `body_len` bytes.
pub fn protected_aad(
    header: &Header,
    first_inner: PayloadType,
    body_len: usize,
) -> Result<Vec<u8>> {
    let buf = build_protected(header, &[], EncryptedKind::Sk, first_inner, 0, body_len, 0)?;
    Ok(buf.aad().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ExchangeType, Flags, Message, Notify, NotifyType};

    fn header() -> Header {
        Header::new(
            1,
            2,
            ExchangeType::INFORMATIONAL,
            Flags {
                initiator: true,
                ..Flags::default()
            },
            5,
        )
    }

    #[test]
    fn build_then_parse() {
        let mut b = build_protected(
            &header(),
            &[],
            EncryptedKind::Sk,
            PayloadType::DELETE,
            8,
            5,
            16,
        )
        .unwrap();
        assert_eq!(b.aad().len(), 32);
        {
            let s = b.slots();
            s.iv.fill(0x11);
            s.ciphertext.fill(0x22);
            s.icv.fill(0x33);
        }
        let bytes = b.into_bytes();
        assert_eq!(bytes.len(), 28 + 4 + 8 + 5 + 16);
        let p = ProtectedMessage::parse(&bytes).unwrap();
        assert_eq!(p.first_inner, PayloadType::DELETE);
        assert_eq!(p.kind, EncryptedKind::Sk);
        let parts = p.split(8, 16).unwrap();
        assert_eq!(parts.aad, &bytes[..32]);
        assert_eq!(parts.iv, &[0x11; 8]);
        assert_eq!(parts.ciphertext, &[0x22; 5]);
        assert_eq!(parts.icv, &[0x33; 16]);
        assert_eq!(parts.integrity_input, &bytes[..bytes.len() - 16]);
        assert!(p.split(8, 21).is_err());
        assert!(p.split(usize::MAX, 1).is_err());
        // The plain decoder sees the same SK payload.
        let m = Message::parse(&bytes).unwrap();
        assert!(matches!(&m.payloads[..], [Payload::Sk(e)] if e.body.len() == 29));
    }

    #[test]
    fn unprotected_before_skf() {
        let n = Payload::Notify(Notify::new(NotifyType::COOKIE, vec![1; 8]));
        let v = Payload::VendorId(vec![9; 3]);
        let kind = EncryptedKind::Skf {
            number: 1,
            total: 2,
        };
        let b = build_protected(
            &header(),
            &[n.clone(), v.clone()],
            kind,
            PayloadType::IDI,
            16,
            16,
            12,
        )
        .unwrap()
        .into_bytes();
        let p = ProtectedMessage::parse(&b).unwrap();
        assert_eq!(p.unprotected, vec![n, v]);
        assert_eq!(p.kind, kind);
        assert_eq!(p.first_inner, PayloadType::IDI);
        // Header + notify (16) + vendor id (7) + SKF header with numbering (8).
        assert_eq!(p.aad().len(), 28 + 16 + 7 + 8);
        let bad = EncryptedKind::Skf {
            number: 2,
            total: 2,
        };
        assert_eq!(
            build_protected(&header(), &[], bad, PayloadType::IDI, 16, 16, 12),
            Err(Error::BadFragment)
        );
    }

    #[test]
    fn padding() {
        let p = pad_plaintext(&[1, 2, 3], 16).unwrap();
        assert_eq!(p.len(), 16);
        assert_eq!(p[15], 12);
        assert_eq!(strip_padding(&p).unwrap(), &[1, 2, 3]);
        assert_eq!(pad_plaintext(&[1, 2, 3], 1).unwrap(), vec![1, 2, 3, 0]);
        assert_eq!(strip_padding(&[1, 2, 5]), Err(Error::BadPadding));
        assert_eq!(strip_padding(&[]), Err(Error::BadPadding));
        assert_eq!(strip_padding(&[0]).unwrap(), &[] as &[u8]);
    }

    #[test]
    fn emit_protected_matches_layout() {
        let mut body = vec![7; 8];
        body.push(1);
        body.extend_from_slice(&[9; 16]);
        let bytes = emit_protected(&header(), PayloadType::NONE, &body).unwrap();
        let aad = protected_aad(&header(), PayloadType::NONE, body.len()).unwrap();
        let p = ProtectedMessage::parse(&bytes).unwrap();
        assert_eq!(p.aad(), &aad[..]);
        assert_eq!(p.first_inner, PayloadType::NONE);
        let parts = p.split(8, 16).unwrap();
        assert_eq!(parts.ciphertext, &[1]);
    }
}
