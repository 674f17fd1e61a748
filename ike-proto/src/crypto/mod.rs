//! The IKEv2 crypto suite: PRFs, key derivation, key exchange, SK protection, AUTH.
//!
//! Everything here works on byte slices so that it does not depend on the
//! `wire` types; the engine glues the two together. Randomness is always
//! injected by the caller (a `ring::rand::SecureRandom`, or explicit IV
//! bytes), so tests can be deterministic.
//!
//! Map of the modules:
//! - [`secret`]: `Secret`, bytes that are zeroized on drop and never printed.
//! - [`prf`]: `prf` and `prf+` (RFC 7296 2.13, RFC 4868).
//! - [`keys`]: SKEYSEED and SK_* (RFC 7296 2.14), rekeyed SKEYSEED (2.18),
//!   CHILD_SA KEYMAT (2.17).
//! - [`dh`]: key exchange groups 14, 15, 19, 20, 31 (RFC 3526, 5903, 8031).
//! - [`sk`]: the Encrypted payload (RFC 7296 3.14, RFC 5282, RFC 7634).
//! - [`auth`]: AUTH payload: shared-key MIC (2.15) and digital signatures (RFC 7427).
//! - [`esp`]: key lengths of the CHILD_SA (ESP) transforms.
//! - [`natd`]: NAT detection hashes (RFC 7296 2.23).
//! - [`x509`]: certificate chains and identities (RFC 7296 3.6, RFC 4945),
//!   with rustls-webpki; CERTREQ hashes (RFC 7296 3.7).
//!
//! How an IKE SA uses it, in order:
//! 1. `KeyExchangeFactory::start(group, rng)` (production:
//!    [`DefaultKeyExchangeFactory`]), send `public_value()` in KE; on the
//!    peer's KE, `compute_shared(peer)` validates it and gives g^ir.
//! 2. [`skeyseed`] then [`derive_ike_keys`] with
//!    [`IkeKeyLengths::for_algs`]; [`SkCipher::for_ike_sa`] gives the
//!    outbound and inbound ciphers.
//! 3. Sending: `sealed_len(inner_len)` to fill in the length fields, then
//!    `encrypt(bytes_before_iv, inner_payloads, iv)`. Receiving:
//!    `decrypt(bytes_before_iv, iv_ct_icv)`; an error means drop.
//! 4. AUTH: [`signed_octets`], then [`psk_auth`] / [`verify_psk_auth`] or
//!    `SigningKey::sign` + `SignatureScheme::encode_auth_data` /
//!    `SignatureScheme::decode_auth_data` + `VerifyingKey::verify`.
//! 5. CHILD_SA: [`child_key_lengths`], [`child_keymat`],
//!    [`split_child_keymat`]. IKE SA rekey: [`rekey_skeyseed`] with the
//!    old SA's PRF and SK_d, then step 2 with the new SPIs.

pub mod auth;
mod der;
pub mod dh;
pub mod esp;
pub mod keys;
mod modp_primes;
pub mod natd;
pub mod prf;
pub mod secret;
pub mod sk;
pub mod x509;

pub use auth::{
    psk_auth, signed_octets, verify_psk_auth, HashAlgorithm, SignatureScheme, SigningKey,
    VerifyingKey,
};
pub use dh::{
    DefaultKeyExchangeFactory, Group, KeyAgreement, KeyExchange, KeyExchangeFactory,
    RecordedKeyExchange,
};
pub use esp::{child_key_lengths, ChildKeyLengths};
pub use keys::{
    child_keymat, derive_ike_keys, rekey_skeyseed, skeyseed, split_child_keymat, ChildKeys,
    IkeKeyLengths, IkeKeys,
};
pub use natd::nat_detection_hash;
pub use prf::{prf, prf_parts, prf_plus, PrfAlg};
pub use secret::Secret;
pub use sk::{EncrAlg, IntegAlg, SkCipher};
pub use x509::{CertError, CertIdentity, TrustStore};

use core::fmt;

/// Why a crypto operation failed. None of the variants carries secret bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A key, IV or value had the wrong length for the algorithm.
    InvalidLength,
    /// `prf+` was asked for more than 255 blocks (RFC 7296 2.13).
    KeyMaterialTooLong,
    /// The peer's key exchange value is malformed or not in the group
    /// (RFC 6989), or the shared secret is degenerate (RFC 7748 6.1).
    InvalidPeerValue,
    /// Integrity check (ICV or AEAD tag) failed: drop the message (RFC 7296 3.14).
    IntegrityCheckFailed,
    /// Decrypted plaintext has an impossible padding length.
    BadPadding,
    /// A key file or ASN.1 blob could not be parsed.
    BadKey,
    /// A signature did not verify, or an AUTH value did not match.
    AuthenticationFailed,
    /// The injected random source failed.
    RandomFailure,
    /// The algorithm is known but not implemented here.
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Error::InvalidLength => "invalid length",
            Error::KeyMaterialTooLong => "prf+ output longer than 255 blocks",
            Error::InvalidPeerValue => "invalid peer key exchange value",
            Error::IntegrityCheckFailed => "integrity check failed",
            Error::BadPadding => "bad padding",
            Error::BadKey => "bad key encoding",
            Error::AuthenticationFailed => "authentication failed",
            Error::RandomFailure => "random source failed",
            Error::Unsupported => "unsupported algorithm",
        };
        f.write_str(s)
    }
}

impl std::error::Error for Error {}
