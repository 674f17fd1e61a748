//! Key lengths of CHILD_SA (ESP) transforms, for cutting KEYMAT
//! (RFC 7296 2.17). ESP uses the same transform IDs as the IKE SA, so the
//! algorithm enums are shared with `sk`.
//!
//! - ESP AES-CBC (RFC 3602): 16 or 32 key bytes, with an HMAC-SHA2
//!   integrity key of 32/48/64 bytes (RFC 4868 2.1.1).
//! - ESP AES-GCM-16 (RFC 4106 8.1): key | 4-byte salt, no integrity key.
//! - ESP ChaCha20-Poly1305 (RFC 7634 2): 32-byte key | 4-byte salt.

use super::sk::{EncrAlg, IntegAlg};
use super::Error;

/// How much KEYMAT one CHILD_SA needs, per direction and in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildKeyLengths {
    pub encr: usize,
    pub integ: usize,
}

impl ChildKeyLengths {
    /// `2 * (encr + integ)`: both directions (RFC 7296 2.17).
    pub fn keymat_len(self) -> usize {
        2 * (self.encr + self.integ)
    }
}

/// Key lengths for an ESP proposal. AEAD ciphers must come with
/// `IntegAlg::None`, CBC with an HMAC (ESP without integrity is refused,
/// RFC 8221 5 lists it as a MUST NOT with a non-AEAD cipher).
pub fn child_key_lengths(encr: EncrAlg, integ: IntegAlg) -> Result<ChildKeyLengths, Error> {
    match (encr.is_aead(), integ) {
        (true, IntegAlg::None) => {}
        (false, IntegAlg::None) | (true, _) => return Err(Error::Unsupported),
        (false, _) => {}
    }
    Ok(ChildKeyLengths {
        encr: encr.key_len(),
        integ: integ.key_len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let l = child_key_lengths(EncrAlg::AesGcm16_256, IntegAlg::None).unwrap();
        assert_eq!((l.encr, l.integ, l.keymat_len()), (36, 0, 72));
        let l = child_key_lengths(EncrAlg::AesCbc128, IntegAlg::HmacSha256_128).unwrap();
        assert_eq!((l.encr, l.integ, l.keymat_len()), (16, 32, 96));
        let l = child_key_lengths(EncrAlg::ChaCha20Poly1305, IntegAlg::None).unwrap();
        assert_eq!(l.keymat_len(), 72);
        assert!(child_key_lengths(EncrAlg::AesCbc256, IntegAlg::None).is_err());
        assert!(child_key_lengths(EncrAlg::AesGcm16_128, IntegAlg::HmacSha256_128).is_err());
    }
}
