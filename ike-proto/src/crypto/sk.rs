//! Protection of IKE messages: the Encrypted payload (RFC 7296 3.14),
//! AES-GCM in it (RFC 5282), ChaCha20-Poly1305 in it (RFC 7634).
//!
//! The API works on bytes so it does not depend on `wire`. The caller
//! passes `associated`: every byte of the message that precedes the IV,
//! i.e. the IKE header, any payloads before SK, and the SK (or SKF,
//! RFC 7383) payload header. For AEAD ciphers those bytes are the AAD
//! (RFC 5282 5.1); for CBC + HMAC the ICV covers them followed by the IV
//! and the ciphertext (RFC 7296 3.14). Either way the header's length
//! fields must already hold their final values, which [`SkCipher::sealed_len`]
//! lets the caller compute first.
//!
//! The body this module produces and consumes is `IV | ciphertext | ICV`;
//! the plaintext is the inner payload chain, with `Padding | Pad Length`
//! added on encryption and removed on decryption.

use super::{Error, Secret};
use aes::{Aes128, Aes256};
use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;

/// Encryption transforms for the IKE SA (IANA Transform Type 1). The same
/// values describe ESP ciphers for CHILD_SAs (see `esp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncrAlg {
    /// ENCR_AES_GCM_16 (20), 128-bit key, 16-byte ICV (RFC 5282).
    AesGcm16_128,
    /// ENCR_AES_GCM_16 (20), 256-bit key.
    AesGcm16_256,
    /// ENCR_CHACHA20_POLY1305 (28), RFC 7634.
    ChaCha20Poly1305,
    /// ENCR_AES_CBC (12), 128-bit key (RFC 3602).
    AesCbc128,
    /// ENCR_AES_CBC (12), 256-bit key.
    AesCbc256,
}

impl EncrAlg {
    /// IANA transform ID.
    pub fn transform_id(self) -> u16 {
        match self {
            EncrAlg::AesGcm16_128 | EncrAlg::AesGcm16_256 => 20,
            EncrAlg::ChaCha20Poly1305 => 28,
            EncrAlg::AesCbc128 | EncrAlg::AesCbc256 => 12,
        }
    }

    /// Value of the Key Length attribute (in bits), if the transform
    /// carries one. ChaCha20-Poly1305 has a fixed key and must not
    /// (RFC 7634 2).
    pub fn key_length_attr(self) -> Option<u16> {
        match self {
            EncrAlg::AesGcm16_128 | EncrAlg::AesCbc128 => Some(128),
            EncrAlg::AesGcm16_256 | EncrAlg::AesCbc256 => Some(256),
            EncrAlg::ChaCha20Poly1305 => None,
        }
    }

    /// From a transform ID and its Key Length attribute.
    pub fn from_transform(id: u16, key_bits: Option<u16>) -> Option<EncrAlg> {
        match (id, key_bits) {
            (20, Some(128)) => Some(EncrAlg::AesGcm16_128),
            (20, Some(256)) => Some(EncrAlg::AesGcm16_256),
            (28, None) => Some(EncrAlg::ChaCha20Poly1305),
            (12, Some(128)) => Some(EncrAlg::AesCbc128),
            (12, Some(256)) => Some(EncrAlg::AesCbc256),
            _ => None,
        }
    }

    pub fn is_aead(self) -> bool {
        matches!(
            self,
            EncrAlg::AesGcm16_128 | EncrAlg::AesGcm16_256 | EncrAlg::ChaCha20Poly1305
        )
    }

    /// Bytes of key material (SK_e, or an ESP encryption key). AEAD keys
    /// carry a 4-byte salt after the cipher key (RFC 5282 7.1, RFC 7634 2).
    pub fn key_len(self) -> usize {
        match self {
            EncrAlg::AesGcm16_128 => 16 + 4,
            EncrAlg::AesGcm16_256 | EncrAlg::ChaCha20Poly1305 => 32 + 4,
            EncrAlg::AesCbc128 => 16,
            EncrAlg::AesCbc256 => 32,
        }
    }

    /// Length of the IV field that starts the SK payload body.
    pub fn iv_len(self) -> usize {
        if self.is_aead() {
            8
        } else {
            16
        }
    }

    /// The plaintext plus padding plus Pad Length must be a multiple of
    /// this. AEAD modes need no alignment in IKEv2, so 1.
    pub fn block_size(self) -> usize {
        if self.is_aead() {
            1
        } else {
            16
        }
    }
}

/// Integrity transforms (IANA Transform Type 3), RFC 4868.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegAlg {
    /// AUTH_HMAC_SHA2_256_128 (12).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha512_256,
    /// NONE (0): with AEAD ciphers.
    None,
}

impl IntegAlg {
    pub fn transform_id(self) -> u16 {
        match self {
            IntegAlg::HmacSha256_128 => 12,
            IntegAlg::HmacSha384_192 => 13,
            IntegAlg::HmacSha512_256 => 14,
            IntegAlg::None => 0,
        }
    }

    pub fn from_transform_id(id: u16) -> Option<IntegAlg> {
        match id {
            12 => Some(IntegAlg::HmacSha256_128),
            13 => Some(IntegAlg::HmacSha384_192),
            14 => Some(IntegAlg::HmacSha512_256),
            0 => Some(IntegAlg::None),
            _ => None,
        }
    }

    /// Key length: RFC 4868 2.1.1, the hash output length.
    pub fn key_len(self) -> usize {
        match self {
            IntegAlg::HmacSha256_128 => 32,
            IntegAlg::HmacSha384_192 => 48,
            IntegAlg::HmacSha512_256 => 64,
            IntegAlg::None => 0,
        }
    }

    /// Truncated output length: RFC 4868 2.1.1, half the hash output.
    pub fn icv_len(self) -> usize {
        self.key_len() / 2
    }

    fn ring_alg(self) -> Option<hmac::Algorithm> {
        match self {
            IntegAlg::HmacSha256_128 => Some(hmac::HMAC_SHA256),
            IntegAlg::HmacSha384_192 => Some(hmac::HMAC_SHA384),
            IntegAlg::HmacSha512_256 => Some(hmac::HMAC_SHA512),
            IntegAlg::None => None,
        }
    }
}

/// The keys of one direction of an IKE SA (SK_ei + SK_ai, or SK_er + SK_ar).
///
/// Only the raw key bytes are kept; ring's AEAD key schedule (544 bytes)
/// and HMAC key (two hash states) are built per message (issue 12). An
/// established IKE SA sends a handful of messages an hour while 100,000 of
/// them sit idle, so the expanded keys cost about 1 KiB per SA to save well
/// under a microsecond per message (AES key expansion with AES-NI and the
/// GHASH table, or two hash blocks for HMAC). The expanded schedule, which
/// ring does not wipe, now lives on the stack for one call instead of in
/// the heap for the SA's life; `Secret` wipes the raw bytes on drop.
pub struct SkCipher {
    encr: EncrAlg,
    integ: IntegAlg,
    /// SK_e: the cipher key; for the AEAD ciphers its last 4 bytes are the
    /// salt (RFC 5282 7.1, RFC 7634 2).
    key: Secret,
    /// SK_a: the HMAC key; empty for the AEAD ciphers.
    mac: Secret,
}

impl core::fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}

impl SkCipher {
    /// Builds the cipher for one direction. AEAD ciphers need
    /// `IntegAlg::None` and an empty integrity key (RFC 5282 8); CBC needs
    /// a real integrity algorithm.
    pub fn new(
        encr: EncrAlg,
        integ: IntegAlg,
        encr_key: &[u8],
        integ_key: &[u8],
    ) -> Result<SkCipher, Error> {
        if encr_key.len() != encr.key_len() || integ_key.len() != integ.key_len() {
            return Err(Error::InvalidLength);
        }
        if encr.is_aead() {
            if integ != IntegAlg::None {
                return Err(Error::Unsupported);
            }
            // Checked once here, so that building the key per message
            // cannot fail on its length later.
            aead_key(encr, encr_key)?;
        } else if integ.ring_alg().is_none() {
            return Err(Error::Unsupported);
        }
        Ok(SkCipher {
            encr,
            integ,
            key: Secret::from_slice(encr_key),
            mac: Secret::from_slice(integ_key),
        })
    }

    /// The two ciphers of an IKE SA for one side: `(outbound, inbound)`.
    /// The initiator sends with SK_ei/SK_ai and receives with SK_er/SK_ar;
    /// the responder the other way round (RFC 7296 2.14).
    pub fn for_ike_sa(
        keys: &super::IkeKeys,
        encr: EncrAlg,
        integ: IntegAlg,
        we_are_initiator: bool,
    ) -> Result<(SkCipher, SkCipher), Error> {
        let i = SkCipher::new(encr, integ, keys.sk_ei.as_bytes(), keys.sk_ai.as_bytes())?;
        let r = SkCipher::new(encr, integ, keys.sk_er.as_bytes(), keys.sk_ar.as_bytes())?;
        Ok(if we_are_initiator { (i, r) } else { (r, i) })
    }

    pub fn encr(&self) -> EncrAlg {
        self.encr
    }

    pub fn integ(&self) -> IntegAlg {
        self.integ
    }

    pub fn iv_len(&self) -> usize {
        self.encr.iv_len()
    }

    pub fn icv_len(&self) -> usize {
        if self.encr.is_aead() {
            16
        } else {
            self.integ.icv_len()
        }
    }

    pub fn block_size(&self) -> usize {
        self.encr.block_size()
    }

    /// Length of `IV | ciphertext | ICV` for `plaintext_len` bytes of inner
    /// payloads, so the caller can fill in the IKE header's and the SK
    /// header's length fields before calling [`SkCipher::encrypt`].
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        self.iv_len() + self.padded_len(plaintext_len) + self.icv_len()
    }

    /// Plaintext + Padding + Pad Length, rounded up to the block size with
    /// the smallest padding (RFC 7296 3.14 allows 0..=255 pad bytes).
    fn padded_len(&self, plaintext_len: usize) -> usize {
        let b = self.block_size();
        (plaintext_len + 1).div_ceil(b) * b
    }

    /// Encrypts the inner payload chain. `iv` must be `iv_len()` bytes:
    /// for CBC it must be unpredictable (fresh random bytes, RFC 7296 3.14);
    /// for the AEAD ciphers it must never repeat under one key (a counter is
    /// the safe choice, RFC 5282 3.1 / RFC 7634 2). Returns
    /// `IV | ciphertext | ICV`.
    pub fn encrypt(
        &self,
        associated: &[u8],
        plaintext: &[u8],
        iv: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if iv.len() != self.iv_len() {
            return Err(Error::InvalidLength);
        }
        let padded_len = self.padded_len(plaintext.len());
        let pad = padded_len - plaintext.len() - 1;
        // Pad Length is one octet; with block sizes of at most 16 the
        // minimal padding always fits.
        let pad_byte = u8::try_from(pad).map_err(|_| Error::InvalidLength)?;
        let mut out = Vec::with_capacity(self.sealed_len(plaintext.len()));
        out.extend_from_slice(iv);
        out.extend_from_slice(plaintext);
        // Padding bytes may hold any value (RFC 7296 3.14); zeros.
        out.resize(iv.len() + plaintext.len() + pad, 0);
        out.push(pad_byte);
        if self.encr.is_aead() {
            let (key, salt) = aead_key(self.encr, self.key.as_bytes())?;
            let nonce = aead_nonce(&salt, iv)?;
            let tag = key
                .seal_in_place_separate_tag(
                    nonce,
                    aead::Aad::from(associated),
                    &mut out[iv.len()..],
                )
                .map_err(|_| Error::InvalidLength)?;
            out.extend_from_slice(tag.as_ref());
        } else {
            cbc_encrypt(self.encr, self.key.as_bytes(), iv, &mut out[iv.len()..])?;
            let icv = cbc_icv(&self.hmac_key()?, self.icv_len(), associated, &out);
            out.extend_from_slice(&icv);
        }
        Ok(out)
    }

    /// Checks the ICV over `associated | body`, decrypts and strips the
    /// padding. `body` is `IV | ciphertext | ICV`. The integrity check
    /// comes first and compares in constant time; nothing is decrypted if
    /// it fails, and the caller must drop the message (RFC 7296 3.14 / 2.21).
    pub fn decrypt(&self, associated: &[u8], body: &[u8]) -> Result<Vec<u8>, Error> {
        let iv_len = self.iv_len();
        let icv_len = self.icv_len();
        // At least the Pad Length octet must be there.
        if body.len() < iv_len + 1 + icv_len {
            return Err(Error::InvalidLength);
        }
        let (iv, rest) = body.split_at(iv_len);
        let (ct, icv) = rest.split_at(rest.len() - icv_len);
        if ct.len() % self.block_size() != 0 {
            return Err(Error::InvalidLength);
        }
        let mut plain = if self.encr.is_aead() {
            let (key, salt) = aead_key(self.encr, self.key.as_bytes())?;
            let nonce = aead_nonce(&salt, iv)?;
            let mut buf = rest.to_vec();
            let len = key
                .open_in_place(nonce, aead::Aad::from(associated), &mut buf)
                .map_err(|_| Error::IntegrityCheckFailed)?
                .len();
            buf.truncate(len);
            buf
        } else {
            let mac = self.hmac_key()?;
            let expected = cbc_icv(&mac, icv_len, associated, &body[..iv_len + ct.len()]);
            if !bool::from(expected.as_slice().ct_eq(icv)) {
                return Err(Error::IntegrityCheckFailed);
            }
            let mut buf = ct.to_vec();
            cbc_decrypt(self.encr, self.key.as_bytes(), iv, &mut buf)?;
            buf
        };
        // The message is authentic, so the padding length is the peer's
        // own choice; still check it fits instead of trusting it.
        let pad = usize::from(*plain.last().ok_or(Error::BadPadding)?);
        let keep = plain.len().checked_sub(pad + 1).ok_or(Error::BadPadding)?;
        plain.truncate(keep);
        Ok(plain)
    }
}

impl SkCipher {
    /// The HMAC key of a CBC suite, built for one message (see [`SkCipher`]).
    fn hmac_key(&self) -> Result<hmac::Key, Error> {
        let alg = self.integ.ring_alg().ok_or(Error::Unsupported)?;
        Ok(hmac::Key::new(alg, self.mac.as_bytes()))
    }
}

/// ring's key for an AEAD cipher and the salt, from SK_e (key | 4-byte
/// salt), built for one message (see [`SkCipher`]).
fn aead_key(encr: EncrAlg, sk_e: &[u8]) -> Result<(aead::LessSafeKey, [u8; 4]), Error> {
    let alg = match encr {
        EncrAlg::AesGcm16_128 => &aead::AES_128_GCM,
        EncrAlg::AesGcm16_256 => &aead::AES_256_GCM,
        EncrAlg::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        _ => return Err(Error::Unsupported),
    };
    let cut = sk_e.len().checked_sub(4).ok_or(Error::InvalidLength)?;
    let (k, s) = sk_e.split_at(cut);
    let key = aead::UnboundKey::new(alg, k).map_err(|_| Error::InvalidLength)?;
    let mut salt = [0u8; 4];
    salt.copy_from_slice(s);
    Ok((aead::LessSafeKey::new(key), salt))
}

/// RFC 5282 3.1 / RFC 7634 2: 12-byte nonce = 4-byte salt | 8-byte IV.
fn aead_nonce(salt: &[u8; 4], iv: &[u8]) -> Result<aead::Nonce, Error> {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n.get_mut(4..)
        .filter(|s| s.len() == iv.len())
        .ok_or(Error::InvalidLength)?
        .copy_from_slice(iv);
    Ok(aead::Nonce::assume_unique_for_key(n))
}

/// HMAC over `associated | iv_and_ciphertext`, truncated (RFC 4868 2.1.1).
fn cbc_icv(mac: &hmac::Key, icv_len: usize, associated: &[u8], iv_ct: &[u8]) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(associated);
    ctx.update(iv_ct);
    let tag = ctx.sign();
    tag.as_ref()[..icv_len].to_vec()
}

fn cbc_encrypt(alg: EncrAlg, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), Error> {
    let len = buf.len();
    let r = match alg {
        EncrAlg::AesCbc128 => cbc::Encryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(|_| Error::InvalidLength)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        EncrAlg::AesCbc256 => cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(|_| Error::InvalidLength)?
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        _ => return Err(Error::Unsupported),
    };
    r.map_err(|_| Error::InvalidLength)
}

fn cbc_decrypt(alg: EncrAlg, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), Error> {
    let r = match alg {
        EncrAlg::AesCbc128 => cbc::Decryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(|_| Error::InvalidLength)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        EncrAlg::AesCbc256 => cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(|_| Error::InvalidLength)?
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        _ => return Err(Error::Unsupported),
    };
    r.map_err(|_| Error::InvalidLength)
}

/// Raw AES-CBC without padding, for the NIST SP 800-38A known-answer tests
/// (`data.len()` must be a multiple of 16). Not part of the protocol API.
#[doc(hidden)]
pub fn aes_cbc_raw(encrypt: bool, key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), Error> {
    let alg = match key.len() {
        16 => EncrAlg::AesCbc128,
        32 => EncrAlg::AesCbc256,
        _ => return Err(Error::InvalidLength),
    };
    if encrypt {
        cbc_encrypt(alg, key, iv, data)
    } else {
        cbc_decrypt(alg, key, iv, data)
    }
}
