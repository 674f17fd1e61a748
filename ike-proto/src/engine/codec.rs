//! The engine's use of the wire codec: building and opening protected
//! messages (RFC 7296 3.14), RFC 7383 fragments, and the non-ESP marker.

use crate::crypto::SkCipher;
use crate::wire::add_non_esp_marker;
use crate::wire::consts::PayloadType;
use crate::wire::sk::{build_protected, EncryptedKind, ProtectedMessage};
use crate::wire::Message;
use crate::wire::{emit_inner_payloads, parse_inner_payloads, Payload};
use crate::wire::{Flags, Header};

use super::keys::IkeKeyset;
use super::rng::Rng;

/// Why an incoming protected message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Framing around SK is broken: drop silently (RFC 7296 2.21.1).
    Framing,
    /// The ICV did not verify: drop silently (RFC 7296 2.21.2).
    Integrity,
    /// Authentic, but the inner payloads do not parse: the peer gets
    /// INVALID_SYNTAX if this was a request (RFC 7296 2.21.2).
    Syntax,
    /// Authentic, with a critical payload we do not know.
    UnsupportedCritical(PayloadType),
}

/// What an authentic protected datagram held.
pub(crate) enum Opened {
    /// A whole message.
    Whole(Vec<Payload>),
    /// One fragment: number, total, first inner type (fragment 1 only) and
    /// decrypted bytes.
    Fragment {
        number: u16,
        total: u16,
        first: PayloadType,
        data: Vec<u8>,
    },
}

/// Checks and decrypts a protected datagram with our receive key.
pub(crate) fn open(keys: &IkeKeyset, datagram: &[u8]) -> Result<(Header, Opened), OpenError> {
    let pm = ProtectedMessage::parse(datagram).map_err(|_| OpenError::Framing)?;
    let plain = keys.rx.decrypt(pm.aad(), pm.body()).map_err(|e| match e {
        // The ICV verified before the Pad Length was read: the sender
        // holds the keys, so this is an authentic but malformed message
        // (rfc/engine-notes.md, RFC 7296 2.21.2: INVALID_SYNTAX), not one
        // to drop in silence.
        crate::crypto::Error::BadPadding => OpenError::Syntax,
        _ => OpenError::Integrity,
    })?;
    match pm.kind {
        EncryptedKind::Sk => Ok((
            pm.header,
            Opened::Whole(parse_inner(pm.first_inner, &plain)?),
        )),
        EncryptedKind::Skf { number, total } => Ok((
            pm.header,
            Opened::Fragment {
                number,
                total,
                first: pm.first_inner,
                data: plain,
            },
        )),
    }
}

/// Parses decrypted inner payloads (also used after reassembly).
pub(crate) fn parse_inner(first: PayloadType, plain: &[u8]) -> Result<Vec<Payload>, OpenError> {
    parse_inner_payloads(first, plain).map_err(|e| match e {
        crate::wire::Error::UnsupportedCriticalPayload(t) => OpenError::UnsupportedCritical(t),
        _ => OpenError::Syntax,
    })
}

fn next_iv(keys: &mut IkeKeyset, cipher_is_aead: bool, rng: &mut dyn Rng) -> Vec<u8> {
    if cipher_is_aead {
        // RFC 5282 3.1: the IV must not repeat under a key; a counter does it.
        keys.iv_counter = keys.iv_counter.wrapping_add(1);
        keys.iv_counter.to_be_bytes().to_vec()
    } else {
        // RFC 7296 3.14: CBC IVs must be unpredictable.
        let mut iv = vec![0u8; keys.tx.iv_len()];
        rng.fill(&mut iv);
        iv
    }
}

fn seal_one(
    keys: &mut IkeKeyset,
    header: &Header,
    kind: EncryptedKind,
    first: PayloadType,
    inner: &[u8],
    rng: &mut dyn Rng,
) -> Option<Vec<u8>> {
    let tx: &SkCipher = &keys.tx;
    let (iv_len, icv_len) = (tx.iv_len(), tx.icv_len());
    let ct_len = tx.sealed_len(inner.len()).checked_sub(iv_len + icv_len)?;
    let aead = tx.encr().is_aead();
    let iv = next_iv(keys, aead, rng);
    let mut buf = build_protected(header, &[], kind, first, iv_len, ct_len, icv_len).ok()?;
    let sealed = keys.tx.encrypt(buf.aad(), inner, &iv).ok()?;
    let slots = buf.slots();
    let (a, rest) = sealed.split_at(slots.iv.len());
    let (b, c) = rest.split_at(slots.ciphertext.len());
    if c.len() != slots.icv.len() {
        return None;
    }
    slots.iv.copy_from_slice(a);
    slots.ciphertext.copy_from_slice(b);
    slots.icv.copy_from_slice(c);
    Some(buf.into_bytes())
}

/// Builds the datagrams of one protected message: a single SK message, or
/// RFC 7383 fragments when it would exceed `mtu` and fragmentation is
/// allowed. Each datagram gets the non-ESP marker when `natt` is set.
/// `None` only if the payloads cannot be encoded (an engine bug, logged).
#[allow(clippy::too_many_arguments)]
pub(crate) fn seal(
    keys: &mut IkeKeyset,
    header: Header,
    payloads: &[Payload],
    fragment: bool,
    mtu: usize,
    natt: bool,
    rng: &mut dyn Rng,
) -> Option<Vec<Vec<u8>>> {
    let (first, inner) = match emit_inner_payloads(payloads) {
        Ok(x) => x,
        Err(e) => {
            log::error!("cannot encode our own message: {e:?}");
            return None;
        }
    };
    let marker = if natt { 4 } else { 0 };
    // IKE header + SK header + IV | ciphertext | ICV.
    let whole_len = 28 + 4 + keys.tx.sealed_len(inner.len());
    if !fragment || whole_len + marker <= mtu {
        let whole = seal_one(keys, &header, EncryptedKind::Sk, first, &inner, rng)?;
        return Some(vec![frame(whole, natt)]);
    }
    // Per-fragment overhead: IKE header, SKF header with its numbering,
    // IV, ICV, at most one block of padding plus Pad Length, the marker.
    let tx = &keys.tx;
    let overhead = 28 + 8 + tx.iv_len() + tx.icv_len() + tx.block_size() + 1 + marker;
    let chunk = mtu.checked_sub(overhead).filter(|&c| c >= 64)?;
    let pieces: Vec<&[u8]> = inner.chunks(chunk).collect();
    let total = u16::try_from(pieces.len()).ok()?;
    let mut out = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        let number = u16::try_from(i + 1).ok()?;
        let f = if number == 1 {
            first
        } else {
            PayloadType::NONE
        };
        let kind = EncryptedKind::Skf { number, total };
        out.push(frame(seal_one(keys, &header, kind, f, piece, rng)?, natt));
    }
    Some(out)
}

/// An unprotected message (IKE_SA_INIT, or an unprotected notify).
pub(crate) fn plain(header: Header, payloads: Vec<Payload>, natt: bool) -> Option<Vec<u8>> {
    match (Message { header, payloads }).to_bytes() {
        Ok(b) => Some(frame(b, natt)),
        Err(e) => {
            log::error!("cannot encode our own message: {e:?}");
            None
        }
    }
}

fn frame(bytes: Vec<u8>, natt: bool) -> Vec<u8> {
    if natt {
        add_non_esp_marker(&bytes)
    } else {
        bytes
    }
}

/// A header for a message we send. `initiator` is whether we are the
/// original initiator of the IKE SA (the I flag, RFC 7296 3.1).
pub(crate) fn header(
    spi_i: u64,
    spi_r: u64,
    exchange: crate::wire::consts::ExchangeType,
    initiator: bool,
    response: bool,
    message_id: u32,
) -> Header {
    Header::new(
        spi_i,
        spi_r,
        exchange,
        Flags {
            initiator,
            version: false,
            response,
        },
        message_id,
    )
}
