//! IKE SA and CHILD_SA key derivation (RFC 7296 2.14, 2.17, 2.18).

use super::prf::{prf_parts, prf_plus, PrfAlg};
use super::{Error, Secret};
use core::fmt;

/// The seven IKE SA keys (RFC 7296 2.14). Each is a [`Secret`], so all of
/// them are wiped on drop and `Debug` prints only lengths.
#[derive(Clone)]
pub struct IkeKeys {
    /// Derives CHILD_SA keys and the next SKEYSEED on rekey.
    pub sk_d: Secret,
    /// Integrity key, initiator to responder (empty for AEAD ciphers).
    pub sk_ai: Secret,
    /// Integrity key, responder to initiator (empty for AEAD ciphers).
    pub sk_ar: Secret,
    /// Encryption key, initiator to responder (for AEAD: key | salt).
    pub sk_ei: Secret,
    /// Encryption key, responder to initiator (for AEAD: key | salt).
    pub sk_er: Secret,
    /// Used in the initiator's AUTH payload (`prf(SK_pi, IDi')`).
    pub sk_pi: Secret,
    /// Used in the responder's AUTH payload (`prf(SK_pr, IDr')`).
    pub sk_pr: Secret,
}

impl fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeKeys")
            .field("sk_d", &self.sk_d)
            .field("sk_ai", &self.sk_ai)
            .field("sk_ar", &self.sk_ar)
            .field("sk_ei", &self.sk_ei)
            .field("sk_er", &self.sk_er)
            .field("sk_pi", &self.sk_pi)
            .field("sk_pr", &self.sk_pr)
            .finish()
    }
}

/// How many bytes of `prf+` output each IKE SA key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeKeyLengths {
    /// Length of SK_ai and SK_ar; 0 for AEAD ciphers.
    pub integ: usize,
    /// Length of SK_ei and SK_er, including the salt for AEAD ciphers.
    pub encr: usize,
}

impl IkeKeyLengths {
    /// Lengths for a negotiated cipher and integrity algorithm
    /// (`IntegAlg::None` with AEAD ciphers).
    pub fn for_algs(encr: super::EncrAlg, integ: super::IntegAlg) -> IkeKeyLengths {
        IkeKeyLengths {
            integ: integ.key_len(),
            encr: encr.key_len(),
        }
    }
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` (RFC 7296 2.14). For the HMAC PRFs the
/// whole nonce concatenation is the key; the AES-based PRFs that would take
/// only part of it are not supported.
pub fn skeyseed(prf: PrfAlg, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Secret {
    let key = concat(Secret::default(), &[ni, nr]);
    prf_parts(prf, key.as_bytes(), &[g_ir])
}

/// SKEYSEED of a rekeyed IKE SA: `prf(SK_d(old), g^ir(new) | Ni | Nr)`
/// (RFC 7296 2.18), where Ni and Nr are the nonces of the CREATE_CHILD_SA
/// exchange. `old_prf` must be the PRF of the *old* IKE SA: the exchange
/// runs under the old SA, so 2.18 says its PRF computes this SKEYSEED; the
/// new SA's PRF is used only afterwards in [`derive_ike_keys`].
pub fn rekey_skeyseed(
    old_prf: PrfAlg,
    old_sk_d: &[u8],
    g_ir_new: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Secret {
    prf_parts(old_prf, old_sk_d, &[g_ir_new, ni, nr])
}

/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
/// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)` (RFC 7296 2.14). SK_d, SK_pi and
/// SK_pr have the PRF's preferred key length.
pub fn derive_ike_keys(
    prf: PrfAlg,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    lens: IkeKeyLengths,
) -> Result<IkeKeys, Error> {
    let prf_len = prf.key_len();
    let total = prf_len
        .checked_mul(3)
        .and_then(|n| n.checked_add(lens.integ.checked_mul(2)?))
        .and_then(|n| n.checked_add(lens.encr.checked_mul(2)?))
        .ok_or(Error::KeyMaterialTooLong)?;
    let seed = [ni, nr, spi_i.as_slice(), spi_r.as_slice()].concat();
    let mut km = prf_plus(prf, skeyseed, &seed, total)?;
    let mut next = |n: usize| km.take_front(n).ok_or(Error::InvalidLength);
    Ok(IkeKeys {
        sk_d: next(prf_len)?,
        sk_ai: next(lens.integ)?,
        sk_ar: next(lens.integ)?,
        sk_ei: next(lens.encr)?,
        sk_er: next(lens.encr)?,
        sk_pi: next(prf_len)?,
        sk_pr: next(prf_len)?,
    })
}

/// CHILD_SA key material (RFC 7296 2.17):
/// `KEYMAT = prf+(SK_d, Ni | Nr)`, or with PFS
/// `KEYMAT = prf+(SK_d, g^ir(new) | Ni | Nr)`.
/// For a CHILD_SA created in IKE_AUTH, Ni and Nr are the IKE_SA_INIT nonces;
/// for CREATE_CHILD_SA, the nonces of that exchange.
pub fn child_keymat(
    prf: PrfAlg,
    sk_d: &[u8],
    g_ir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<Secret, Error> {
    let seed = concat(Secret::default(), &[g_ir.unwrap_or(&[]), ni, nr]);
    prf_plus(prf, sk_d, seed.as_bytes(), len)
}

/// The four keys of one CHILD_SA (a pair of ESP SAs).
#[derive(Clone)]
pub struct ChildKeys {
    /// Encryption key for initiator-to-responder traffic (AEAD: key | salt).
    pub encr_i: Secret,
    /// Integrity key for initiator-to-responder traffic (empty for AEAD).
    pub integ_i: Secret,
    /// Encryption key for responder-to-initiator traffic.
    pub encr_r: Secret,
    /// Integrity key for responder-to-initiator traffic.
    pub integ_r: Secret,
}

impl fmt::Debug for ChildKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildKeys")
            .field("encr_i", &self.encr_i)
            .field("integ_i", &self.integ_i)
            .field("encr_r", &self.encr_r)
            .field("integ_r", &self.integ_r)
            .finish()
    }
}

/// Cuts KEYMAT into the CHILD_SA keys. RFC 7296 2.17 fixes the order:
/// all keys for initiator-to-responder first (encryption, then integrity),
/// then the same for responder-to-initiator. `keymat` must be exactly
/// `2 * (encr_len + integ_len)` bytes.
pub fn split_child_keymat(
    keymat: &Secret,
    encr_len: usize,
    integ_len: usize,
) -> Result<ChildKeys, Error> {
    let per_dir = encr_len
        .checked_add(integ_len)
        .ok_or(Error::InvalidLength)?;
    if per_dir.checked_mul(2) != Some(keymat.len()) {
        return Err(Error::InvalidLength);
    }
    let mut km = keymat.clone();
    let mut next = |n: usize| km.take_front(n).ok_or(Error::InvalidLength);
    Ok(ChildKeys {
        encr_i: next(encr_len)?,
        integ_i: next(integ_len)?,
        encr_r: next(encr_len)?,
        integ_r: next(integ_len)?,
    })
}

/// Concatenates `parts` into `acc`, keeping the result inside a `Secret`.
fn concat(acc: Secret, parts: &[&[u8]]) -> Secret {
    let extra: usize = parts.iter().map(|p| p.len()).sum();
    let mut v = Vec::with_capacity(acc.len() + extra);
    v.extend_from_slice(acc.as_bytes());
    for p in parts {
        v.extend_from_slice(p);
    }
    Secret::new(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_child_keymat_checks_length_and_order() {
        let km = Secret::new((0u8..12).collect());
        let c = split_child_keymat(&km, 4, 2).unwrap();
        assert_eq!(c.encr_i.as_bytes(), &[0, 1, 2, 3]);
        assert_eq!(c.integ_i.as_bytes(), &[4, 5]);
        assert_eq!(c.encr_r.as_bytes(), &[6, 7, 8, 9]);
        assert_eq!(c.integ_r.as_bytes(), &[10, 11]);
        assert!(split_child_keymat(&km, 4, 1).is_err());
        assert!(split_child_keymat(&km, usize::MAX, 1).is_err());
    }

    #[test]
    fn pfs_keymat_seed_includes_g_ir() {
        let sk_d = [7u8; 32];
        let with = child_keymat(PrfAlg::HmacSha256, &sk_d, Some(b"gir"), b"ni", b"nr", 40).unwrap();
        // RFC 7296 2.17: the PFS seed is g^ir | Ni | Nr, so it equals the
        // non-PFS derivation with g^ir prepended to Ni.
        let same = child_keymat(PrfAlg::HmacSha256, &sk_d, None, b"girni", b"nr", 40).unwrap();
        let without = child_keymat(PrfAlg::HmacSha256, &sk_d, None, b"ni", b"nr", 40).unwrap();
        assert_eq!(with.as_bytes(), same.as_bytes());
        assert_ne!(with.as_bytes(), without.as_bytes());
    }

    #[test]
    fn ike_keys_debug_is_redacted() {
        let seed = skeyseed(PrfAlg::HmacSha256, b"ni", b"nr", b"gir");
        let lens = IkeKeyLengths {
            integ: 32,
            encr: 16,
        };
        let k = derive_ike_keys(
            PrfAlg::HmacSha256,
            seed.as_bytes(),
            b"ni",
            b"nr",
            &[1; 8],
            &[2; 8],
            lens,
        )
        .unwrap();
        let shown = format!("{k:?}");
        assert!(shown.contains("redacted; 32 bytes"));
        let hex: String = k
            .sk_d
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!shown.contains(&hex[..8]));
    }
}
