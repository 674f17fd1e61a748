//! Pseudo-random functions and `prf+` (RFC 7296 2.13, RFC 4868).

use super::{Error, Secret};
use ring::hmac;

/// IKEv2 PRF transforms (Transform Type 2). Only the HMAC-SHA2 family:
/// PRF_HMAC_SHA1 and AES-based PRFs are not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrfAlg {
    /// PRF_HMAC_SHA2_256, IANA 5 (RFC 4868).
    HmacSha256,
    /// PRF_HMAC_SHA2_384, IANA 6.
    HmacSha384,
    /// PRF_HMAC_SHA2_512, IANA 7.
    HmacSha512,
}

impl PrfAlg {
    /// IANA "Transform Type 2 - Pseudorandom Function Transform IDs".
    pub fn transform_id(self) -> u16 {
        match self {
            PrfAlg::HmacSha256 => 5,
            PrfAlg::HmacSha384 => 6,
            PrfAlg::HmacSha512 => 7,
        }
    }

    pub fn from_transform_id(id: u16) -> Option<PrfAlg> {
        match id {
            5 => Some(PrfAlg::HmacSha256),
            6 => Some(PrfAlg::HmacSha384),
            7 => Some(PrfAlg::HmacSha512),
            _ => None,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            PrfAlg::HmacSha256 => 32,
            PrfAlg::HmacSha384 => 48,
            PrfAlg::HmacSha512 => 64,
        }
    }

    /// Preferred key length: RFC 4868 2.2 says the key for the PRF variants
    /// is the full output length. This is the length of SK_d, SK_pi, SK_pr
    /// (RFC 7296 2.14).
    pub fn key_len(self) -> usize {
        self.output_len()
    }

    fn ring_alg(self) -> hmac::Algorithm {
        match self {
            PrfAlg::HmacSha256 => hmac::HMAC_SHA256,
            PrfAlg::HmacSha384 => hmac::HMAC_SHA384,
            PrfAlg::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// `prf(key, data)`. HMAC accepts keys of any length (RFC 2104), which
/// IKEv2 relies on for `prf(Ni | Nr, g^ir)` and for PSKs.
pub fn prf(alg: PrfAlg, key: &[u8], data: &[u8]) -> Secret {
    prf_parts(alg, key, &[data])
}

/// `prf(key, data[0] | data[1] | ...)` without building the concatenation.
pub fn prf_parts(alg: PrfAlg, key: &[u8], data: &[&[u8]]) -> Secret {
    let key = hmac::Key::new(alg.ring_alg(), key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in data {
        ctx.update(part);
    }
    Secret::from_slice(ctx.sign().as_ref())
}

/// `prf+(key, seed)` truncated to `len` bytes (RFC 7296 2.13):
/// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n). The counter is one
/// octet, so at most 255 blocks can be produced; asking for more is an error
/// rather than a silent wrap-around.
pub fn prf_plus(alg: PrfAlg, key: &[u8], seed: &[u8], len: usize) -> Result<Secret, Error> {
    let block = alg.output_len();
    let blocks = len.div_ceil(block);
    if blocks > 255 {
        return Err(Error::KeyMaterialTooLong);
    }
    // Allocated at full size up front so no reallocation leaves a stray
    // copy of key material in freed memory.
    let mut out = Secret::new(vec![0u8; blocks * block]);
    let mut prev = Secret::default();
    for (i, chunk) in out.as_mut_bytes().chunks_mut(block).enumerate() {
        // `blocks <= 255` was checked above, so the counter fits in one octet.
        let counter = [(i + 1) as u8];
        let t = prf_parts(alg, key, &[prev.as_bytes(), seed, &counter]);
        chunk.copy_from_slice(t.as_bytes());
        prev = t;
    }
    out.truncate(len);
    Ok(out)
}
