//! AUTH payload computation (RFC 7296 2.15) and digital signatures with
//! RFC 7427 (auth method 14) via ring.

use super::der::{self, parse_spki};
use super::prf::{prf, prf_parts, PrfAlg};
use super::{Error, Secret};
use ring::rand::SecureRandom;
use ring::signature::{self, KeyPair as _};

/// RFC 7296 2.15: the fixed pad string mixed into the PSK.
const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The octets an AUTH payload signs or MACs (RFC 7296 2.15):
/// `RealMessage | Nonce | prf(SK_p, RestOfIDPayload)`, where the initiator
/// uses its first message, Nr and SK_pi with IDi'; the responder its first
/// message, Ni and SK_pr with IDr'. `id_body` is the ID payload after the
/// generic header (ID Type, reserved bytes, identification data).
pub fn signed_octets(
    prf_alg: PrfAlg,
    real_message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let mac_id = prf(prf_alg, sk_p, id_body);
    [real_message, peer_nonce, mac_id.as_bytes()].concat()
}

/// Shared-key MIC (auth method 2):
/// `AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <signed octets>)`.
pub fn psk_auth(prf_alg: PrfAlg, psk: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    // The intermediate key is a Secret, so it is wiped after use.
    let padded: Secret = prf(prf_alg, psk, KEY_PAD);
    prf_parts(prf_alg, padded.as_bytes(), &[signed_octets])
        .as_bytes()
        .to_vec()
}

/// Checks a received shared-key AUTH value in constant time, so a forger
/// cannot learn how many leading bytes were right.
pub fn verify_psk_auth(
    prf_alg: PrfAlg,
    psk: &[u8],
    signed_octets: &[u8],
    received: &[u8],
) -> Result<(), Error> {
    let expected = Secret::new(psk_auth(prf_alg, psk, signed_octets));
    if expected.ct_eq(received) {
        Ok(())
    } else {
        Err(Error::AuthenticationFailed)
    }
}

/// Hash algorithms of the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 4,
/// IANA "IKEv2 Hash Algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha256 = 2,
    Sha384 = 3,
    Sha512 = 4,
    /// RFC 8420: "Identity", used with Ed25519 (no pre-hash).
    Identity = 5,
}

impl HashAlgorithm {
    pub fn from_u16(v: u16) -> Option<HashAlgorithm> {
        match v {
            2 => Some(HashAlgorithm::Sha256),
            3 => Some(HashAlgorithm::Sha384),
            4 => Some(HashAlgorithm::Sha512),
            5 => Some(HashAlgorithm::Identity),
            _ => None,
        }
    }

    /// What we announce: the hashes our signature schemes use.
    pub fn supported() -> &'static [HashAlgorithm] {
        &[
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
            HashAlgorithm::Identity,
        ]
    }

    /// Notify data: a list of 2-octet values.
    pub fn encode_list(list: &[HashAlgorithm]) -> Vec<u8> {
        list.iter()
            .flat_map(|h| (*h as u16).to_be_bytes())
            .collect()
    }

    /// Parses notify data, skipping values we do not know (RFC 7427 4
    /// lets peers list any). An odd length is malformed.
    pub fn decode_list(data: &[u8]) -> Result<Vec<HashAlgorithm>, Error> {
        let pairs = data.chunks_exact(2);
        if !pairs.remainder().is_empty() {
            return Err(Error::InvalidLength);
        }
        Ok(pairs
            .filter_map(|c| HashAlgorithm::from_u16(u16::from_be_bytes([c[0], c[1]])))
            .collect())
    }
}

/// Signature schemes for RFC 7427 authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// ecdsa-with-SHA256; signature is a DER Ecdsa-Sig-Value (RFC 7427 3).
    EcdsaSha256,
    /// ecdsa-with-SHA384.
    EcdsaSha384,
    /// Ed25519 (RFC 8420).
    Ed25519,
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt.
    RsaPssSha256,
    /// sha256WithRSAEncryption (RSASSA-PKCS1-v1_5 with SHA-256): what our
    /// RSA keys sign with, as OpenIKED and strongSwan do by default.
    RsaPkcs1Sha256,
    /// sha384WithRSAEncryption.
    RsaPkcs1Sha384,
    /// sha512WithRSAEncryption.
    RsaPkcs1Sha512,
}

// AlgorithmIdentifier DER encodings. Source: the OIDs of RFC 5758 3.2
// (ecdsa-with-SHA256/384, no parameters), RFC 8410 3 (id-Ed25519, no
// parameters) and RFC 4055 3.1 (id-RSASSA-PSS with explicit
// RSASSA-PSS-params: hashAlgorithm sha256, maskGenAlgorithm mgf1 with
// sha256, saltLength 32); RFC 7427 appendix A lists the same blobs.
const ALG_ECDSA_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const ALG_ECDSA_SHA384: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
];
const ALG_ED25519: &[u8] = &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
const ALG_RSA_PSS_SHA256: &[u8] = &[
    0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0,
    0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30,
    0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03,
    0x02, 0x01, 0x20,
];
// sha{256,384,512}WithRSAEncryption with NULL parameters. Source: RFC 4055
// 5 (OIDs 1.2.840.113549.1.1.11/12/13, parameters NULL); RFC 7427
// appendix A.1 lists the SHA-256 blob.
const ALG_RSA_PKCS1_SHA256: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];
const ALG_RSA_PKCS1_SHA384: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c, 0x05, 0x00,
];
const ALG_RSA_PKCS1_SHA512: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d, 0x05, 0x00,
];

impl SignatureScheme {
    pub const ALL: [SignatureScheme; 7] = [
        SignatureScheme::EcdsaSha256,
        SignatureScheme::EcdsaSha384,
        SignatureScheme::Ed25519,
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPkcs1Sha256,
        SignatureScheme::RsaPkcs1Sha384,
        SignatureScheme::RsaPkcs1Sha512,
    ];

    /// DER AlgorithmIdentifier carried in the AUTH data (RFC 7427 3).
    pub fn algorithm_identifier(self) -> &'static [u8] {
        match self {
            SignatureScheme::EcdsaSha256 => ALG_ECDSA_SHA256,
            SignatureScheme::EcdsaSha384 => ALG_ECDSA_SHA384,
            SignatureScheme::Ed25519 => ALG_ED25519,
            SignatureScheme::RsaPssSha256 => ALG_RSA_PSS_SHA256,
            SignatureScheme::RsaPkcs1Sha256 => ALG_RSA_PKCS1_SHA256,
            SignatureScheme::RsaPkcs1Sha384 => ALG_RSA_PKCS1_SHA384,
            SignatureScheme::RsaPkcs1Sha512 => ALG_RSA_PKCS1_SHA512,
        }
    }

    /// Exact match only: an encoding we do not know byte for byte is an
    /// algorithm we do not accept.
    pub fn from_algorithm_identifier(der: &[u8]) -> Option<SignatureScheme> {
        Self::ALL
            .into_iter()
            .find(|s| s.algorithm_identifier() == der)
    }

    /// The hash this scheme uses, as announced in SIGNATURE_HASH_ALGORITHMS.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            SignatureScheme::EcdsaSha256
            | SignatureScheme::RsaPssSha256
            | SignatureScheme::RsaPkcs1Sha256 => HashAlgorithm::Sha256,
            SignatureScheme::EcdsaSha384 | SignatureScheme::RsaPkcs1Sha384 => HashAlgorithm::Sha384,
            SignatureScheme::RsaPkcs1Sha512 => HashAlgorithm::Sha512,
            SignatureScheme::Ed25519 => HashAlgorithm::Identity,
        }
    }

    /// An RSA scheme (PKCS#1 v1.5 or PSS).
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            SignatureScheme::RsaPssSha256
                | SignatureScheme::RsaPkcs1Sha256
                | SignatureScheme::RsaPkcs1Sha384
                | SignatureScheme::RsaPkcs1Sha512
        )
    }

    /// AUTH data for auth method 14 (RFC 7427 3):
    /// `ASN.1 length (1 octet) | AlgorithmIdentifier | signature`.
    pub fn encode_auth_data(self, signature: &[u8]) -> Vec<u8> {
        let alg = self.algorithm_identifier();
        let mut v = Vec::with_capacity(1 + alg.len() + signature.len());
        // Every identifier above is shorter than 256 bytes.
        v.push(alg.len() as u8);
        v.extend_from_slice(alg);
        v.extend_from_slice(signature);
        v
    }

    /// Splits received AUTH data of method 14 into scheme and signature.
    pub fn decode_auth_data(data: &[u8]) -> Result<(SignatureScheme, &[u8]), Error> {
        let (&len, rest) = data.split_first().ok_or(Error::InvalidLength)?;
        let len = usize::from(len);
        if rest.len() < len {
            return Err(Error::InvalidLength);
        }
        let (alg, sig) = rest.split_at(len);
        let scheme = SignatureScheme::from_algorithm_identifier(alg).ok_or(Error::Unsupported)?;
        Ok((scheme, sig))
    }
}

/// A private key for signing AUTH payloads.
pub struct SigningKey {
    inner: KeyPair_,
}

/// ECDSA keys are loaded twice by ring: once signing DER signatures
/// (RFC 7427) and once fixed-length r | s (RFC 4754, auth methods 9/10).
enum KeyPair_ {
    EcdsaP256 {
        der: signature::EcdsaKeyPair,
        fixed: signature::EcdsaKeyPair,
    },
    EcdsaP384 {
        der: signature::EcdsaKeyPair,
        fixed: signature::EcdsaKeyPair,
    },
    Ed25519(signature::Ed25519KeyPair),
    Rsa(signature::RsaKeyPair),
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = match &self.inner {
            KeyPair_::EcdsaP256 { .. } => "EcdsaP256",
            KeyPair_::EcdsaP384 { .. } => "EcdsaP384",
            KeyPair_::Ed25519(_) => "Ed25519",
            KeyPair_::Rsa(_) => "Rsa",
        };
        write!(f, "SigningKey::{kind}([redacted])")
    }
}

/// IKEv2 auth methods of RFC 4754: ECDSA with a fixed curve and hash, the
/// signature being r | s at the curve's size (not DER).
pub const AUTH_METHOD_ECDSA_P256_SHA256: u8 = 9;
pub const AUTH_METHOD_ECDSA_P384_SHA384: u8 = 10;
/// RFC 7296 3.8 auth method 1: RSASSA-PKCS1-v1_5 over the AUTH octets with
/// SHA-1 (the hash every implementation uses for it, RFC 7427 1). We only
/// verify it: ring makes no SHA-1 signatures.
pub const AUTH_METHOD_RSA_SIG: u8 = 1;
/// RFC 7427 auth method 14: the AUTH data names its signature algorithm.
pub const AUTH_METHOD_DIGITAL_SIGNATURE: u8 = 14;

impl SigningKey {
    /// From a PKCS#8 DER private key of any supported type. (ring checks the
    /// key's consistency; the ECDSA constructor needs `rng` for that.)
    pub fn from_pkcs8_der(der: &[u8], rng: &dyn SecureRandom) -> Result<SigningKey, Error> {
        use signature::{
            EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING,
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
            ECDSA_P384_SHA384_FIXED_SIGNING,
        };
        let inner = if let Ok(k) =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, rng)
        {
            KeyPair_::EcdsaP256 {
                der: k,
                fixed: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, rng)
                    .map_err(|_| Error::BadKey)?,
            }
        } else if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der, rng) {
            KeyPair_::EcdsaP384 {
                der: k,
                fixed: EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der, rng)
                    .map_err(|_| Error::BadKey)?,
            }
        } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            // OpenSSL writes PKCS#8 v1 Ed25519 keys without the public key;
            // "maybe_unchecked" accepts those and checks v2 keys' public half.
            KeyPair_::Ed25519(k)
        } else if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
            KeyPair_::Rsa(k)
        } else {
            return Err(Error::BadKey);
        };
        Ok(SigningKey { inner })
    }

    /// From a PKCS#1 RSAPrivateKey (RFC 8017 A.1.2; "RSA PRIVATE KEY",
    /// what OpenIKED's `ikectl ca` and `openssl genrsa -traditional` write).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<SigningKey, Error> {
        signature::RsaKeyPair::from_der(der)
            .map(|k| SigningKey {
                inner: KeyPair_::Rsa(k),
            })
            .map_err(|_| Error::BadKey)
    }

    /// From a SEC 1 ECPrivateKey (RFC 5915; "EC PRIVATE KEY", what
    /// `openssl ecparam -genkey` and strongSwan's `pki --gen` write). ring
    /// reads PKCS#8 only, so the key is wrapped into a PrivateKeyInfo
    /// (RFC 5958 2) naming the curve from the key's own parameters, which
    /// must therefore be present, as must its public key (ring needs it).
    pub fn from_sec1_der(der: &[u8], rng: &dyn SecureRandom) -> Result<SigningKey, Error> {
        let (body, trailing) = der::expect(der, der::TAG_SEQUENCE)?;
        if !trailing.is_empty() {
            return Err(Error::BadKey);
        }
        let (_version, rest) = der::expect(body, der::TAG_INTEGER)?;
        let (_private, rest) = der::expect(rest, der::TAG_OCTET_STRING)?;
        let (params, _) = der::expect(rest, der::TAG_CONTEXT_0)?;
        let (curve, none) = der::expect(params, der::TAG_OID)?;
        if !none.is_empty() {
            return Err(Error::BadKey);
        }
        // AlgorithmIdentifier { id-ecPublicKey, namedCurve } (RFC 5480 2.1.1).
        let alg = der::write_tlv(
            der::TAG_SEQUENCE,
            &[
                der::write_tlv(der::TAG_OID, OID_EC_PUBLIC_KEY),
                der::write_tlv(der::TAG_OID, curve),
            ]
            .concat(),
        );
        // The wrapped key is key material: every copy lives in a Secret.
        let octets = Secret::new(der::write_tlv(der::TAG_OCTET_STRING, der));
        let inner = Secret::new([&[0x02, 0x01, 0x00][..], &alg, octets.as_bytes()].concat());
        let pkcs8 = Secret::new(der::write_tlv(der::TAG_SEQUENCE, inner.as_bytes()));
        SigningKey::from_pkcs8_der(pkcs8.as_bytes(), rng)
    }

    /// From PEM text: "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY" (PKCS#1) or
    /// "EC PRIVATE KEY" (SEC 1).
    pub fn from_pem(text: &[u8], rng: &dyn SecureRandom) -> Result<SigningKey, Error> {
        let p = pem::parse(text).map_err(|_| Error::BadKey)?;
        // The decoded DER is key material: keep it in a Secret.
        let der = Secret::from_slice(p.contents());
        match p.tag() {
            "PRIVATE KEY" => SigningKey::from_pkcs8_der(der.as_bytes(), rng),
            "RSA PRIVATE KEY" => SigningKey::from_pkcs1_der(der.as_bytes()),
            "EC PRIVATE KEY" => SigningKey::from_sec1_der(der.as_bytes(), rng),
            _ => Err(Error::BadKey),
        }
    }

    /// The RFC 7427 scheme this key signs with by default.
    pub fn scheme(&self) -> SignatureScheme {
        self.schemes()[0]
    }

    /// Every RFC 7427 scheme this key can sign with, preferred first. RSA
    /// keys sign PKCS#1 v1.5 (sha256WithRSAEncryption first), which is what
    /// OpenIKED and strongSwan send and verify by default.
    pub fn schemes(&self) -> &'static [SignatureScheme] {
        let kind = match &self.inner {
            KeyPair_::EcdsaP256 { .. } => KeyKind::EcP256,
            KeyPair_::EcdsaP384 { .. } => KeyKind::EcP384,
            KeyPair_::Ed25519(_) => KeyKind::Ed25519,
            KeyPair_::Rsa(_) => KeyKind::Rsa,
        };
        kind.schemes()
    }

    /// The scheme to sign with for a peer that announced `peer_hashes` in
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427 4): our first scheme whose hash
    /// the peer listed, if any.
    pub fn scheme_for(&self, peer_hashes: &[HashAlgorithm]) -> Option<SignatureScheme> {
        self.schemes()
            .iter()
            .copied()
            .find(|s| peer_hashes.contains(&s.hash()))
    }

    /// Signs the AUTH octets for auth method 14 (RFC 7427) with the
    /// default scheme; returns the bare signature (wrap it with
    /// [`SignatureScheme::encode_auth_data`]).
    pub fn sign(&self, rng: &dyn SecureRandom, octets: &[u8]) -> Result<Vec<u8>, Error> {
        self.sign_with(self.scheme(), rng, octets)
    }

    /// Signs with `scheme`, which must be one of [`SigningKey::schemes`].
    pub fn sign_with(
        &self,
        scheme: SignatureScheme,
        rng: &dyn SecureRandom,
        octets: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if !self.schemes().contains(&scheme) {
            return Err(Error::Unsupported);
        }
        match &self.inner {
            KeyPair_::EcdsaP256 { der, .. } | KeyPair_::EcdsaP384 { der, .. } => der
                .sign(rng, octets)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| Error::RandomFailure),
            KeyPair_::Ed25519(k) => Ok(k.sign(octets).as_ref().to_vec()),
            KeyPair_::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match scheme {
                    SignatureScheme::RsaPkcs1Sha384 => &signature::RSA_PKCS1_SHA384,
                    SignatureScheme::RsaPkcs1Sha512 => &signature::RSA_PKCS1_SHA512,
                    SignatureScheme::RsaPssSha256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, rng, octets, &mut sig)
                    .map_err(|_| Error::RandomFailure)?;
                Ok(sig)
            }
        }
    }

    /// Signs for RFC 4754 auth methods 9 (P-256) or 10 (P-384): returns the
    /// auth method and the r | s signature, which is the whole AUTH data.
    /// Other key types have no such method.
    pub fn sign_rfc4754(
        &self,
        rng: &dyn SecureRandom,
        octets: &[u8],
    ) -> Result<(u8, Vec<u8>), Error> {
        let (method, k) = match &self.inner {
            KeyPair_::EcdsaP256 { fixed, .. } => (AUTH_METHOD_ECDSA_P256_SHA256, fixed),
            KeyPair_::EcdsaP384 { fixed, .. } => (AUTH_METHOD_ECDSA_P384_SHA384, fixed),
            _ => return Err(Error::Unsupported),
        };
        let sig = k.sign(rng, octets).map_err(|_| Error::RandomFailure)?;
        Ok((method, sig.as_ref().to_vec()))
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        let (kind, key) = match &self.inner {
            KeyPair_::EcdsaP256 { der, .. } => (KeyKind::EcP256, der.public_key().as_ref()),
            KeyPair_::EcdsaP384 { der, .. } => (KeyKind::EcP384, der.public_key().as_ref()),
            KeyPair_::Ed25519(k) => (KeyKind::Ed25519, k.public_key().as_ref()),
            KeyPair_::Rsa(k) => (KeyKind::Rsa, k.public_key().as_ref()),
        };
        VerifyingKey {
            kind,
            key: key.to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    EcP256,
    EcP384,
    Ed25519,
    Rsa,
}

impl KeyKind {
    /// The RFC 7427 schemes a key of this kind signs with, preferred first.
    fn schemes(self) -> &'static [SignatureScheme] {
        match self {
            KeyKind::EcP256 => &[SignatureScheme::EcdsaSha256],
            KeyKind::EcP384 => &[SignatureScheme::EcdsaSha384],
            KeyKind::Ed25519 => &[SignatureScheme::Ed25519],
            KeyKind::Rsa => &[
                SignatureScheme::RsaPkcs1Sha256,
                SignatureScheme::RsaPkcs1Sha384,
                SignatureScheme::RsaPkcs1Sha512,
                SignatureScheme::RsaPssSha256,
            ],
        }
    }
}

/// A peer's public key (raw key bytes in ring's format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    kind: KeyKind,
    key: Vec<u8>,
}

// OIDs (value bytes) for SubjectPublicKeyInfo. Sources: RFC 5480 2.1.1 and
// 2.1.1.1 (id-ecPublicKey, secp256r1, secp384r1), RFC 8410 3 (id-Ed25519),
// RFC 8017 A.1 (rsaEncryption).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

impl VerifyingKey {
    /// From a DER SubjectPublicKeyInfo (the body of a "PUBLIC KEY" PEM, or
    /// of a certificate's subjectPublicKeyInfo).
    pub fn from_spki_der(der: &[u8]) -> Result<VerifyingKey, Error> {
        let spki = parse_spki(der)?;
        let kind = if spki.algorithm == OID_EC_PUBLIC_KEY {
            let (curve, rest) = der::expect(spki.parameters, der::TAG_OID)?;
            if !rest.is_empty() {
                return Err(Error::BadKey);
            }
            match curve {
                c if c == OID_P256 => KeyKind::EcP256,
                c if c == OID_P384 => KeyKind::EcP384,
                _ => return Err(Error::Unsupported),
            }
        } else if spki.algorithm == OID_ED25519 {
            KeyKind::Ed25519
        } else if spki.algorithm == OID_RSA {
            KeyKind::Rsa
        } else {
            return Err(Error::Unsupported);
        };
        Ok(VerifyingKey {
            kind,
            key: spki.public_key.to_vec(),
        })
    }

    /// From a PKCS#1 RSAPublicKey (RFC 8017 A.1.1; "RSA PUBLIC KEY"):
    /// the very bytes ring verifies with, once their shape is checked
    /// (SEQUENCE of two INTEGERs, nothing after).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<VerifyingKey, Error> {
        let (body, trailing) = der::expect(der, der::TAG_SEQUENCE)?;
        let (_modulus, rest) = der::expect(body, der::TAG_INTEGER)?;
        let (_exponent, rest) = der::expect(rest, der::TAG_INTEGER)?;
        if !trailing.is_empty() || !rest.is_empty() {
            return Err(Error::BadKey);
        }
        Ok(VerifyingKey {
            kind: KeyKind::Rsa,
            key: der.to_vec(),
        })
    }

    /// From PEM text with tag "PUBLIC KEY" (SPKI) or "RSA PUBLIC KEY".
    pub fn from_pem(text: &[u8]) -> Result<VerifyingKey, Error> {
        let p = pem::parse(text).map_err(|_| Error::BadKey)?;
        match p.tag() {
            "PUBLIC KEY" => VerifyingKey::from_spki_der(p.contents()),
            "RSA PUBLIC KEY" => VerifyingKey::from_pkcs1_der(p.contents()),
            _ => Err(Error::BadKey),
        }
    }

    /// Verifies `signature` over `octets` with `scheme`. The scheme must
    /// fit the key type; for ECDSA both hashes are accepted with either
    /// curve, as RFC 7427 allows.
    pub fn verify(&self, scheme: SignatureScheme, octets: &[u8], sig: &[u8]) -> Result<(), Error> {
        use SignatureScheme as S;
        let alg: &dyn signature::VerificationAlgorithm = match (self.kind, scheme) {
            (KeyKind::EcP256, S::EcdsaSha256) => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyKind::EcP256, S::EcdsaSha384) => &signature::ECDSA_P256_SHA384_ASN1,
            (KeyKind::EcP384, S::EcdsaSha256) => &signature::ECDSA_P384_SHA256_ASN1,
            (KeyKind::EcP384, S::EcdsaSha384) => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyKind::Ed25519, S::Ed25519) => &signature::ED25519,
            // 2048..8192-bit moduli; smaller RSA keys are refused.
            (KeyKind::Rsa, S::RsaPssSha256) => &signature::RSA_PSS_2048_8192_SHA256,
            (KeyKind::Rsa, S::RsaPkcs1Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (KeyKind::Rsa, S::RsaPkcs1Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (KeyKind::Rsa, S::RsaPkcs1Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return Err(Error::AuthenticationFailed),
        };
        signature::UnparsedPublicKey::new(alg, &self.key)
            .verify(octets, sig)
            .map_err(|_| Error::AuthenticationFailed)
    }

    /// Verifies AUTH data of RFC 4754 auth method 9 (P-256, SHA-256) or 10
    /// (P-384, SHA-384): the data is r | s. The method must fit the key's
    /// curve.
    pub fn verify_rfc4754(&self, method: u8, octets: &[u8], sig: &[u8]) -> Result<(), Error> {
        let alg: &dyn signature::VerificationAlgorithm = match (self.kind, method) {
            (KeyKind::EcP256, AUTH_METHOD_ECDSA_P256_SHA256) => &signature::ECDSA_P256_SHA256_FIXED,
            (KeyKind::EcP384, AUTH_METHOD_ECDSA_P384_SHA384) => &signature::ECDSA_P384_SHA384_FIXED,
            _ => return Err(Error::AuthenticationFailed),
        };
        signature::UnparsedPublicKey::new(alg, &self.key)
            .verify(octets, sig)
            .map_err(|_| Error::AuthenticationFailed)
    }

    /// Verifies AUTH data of auth method 1 (RSA PKCS#1 v1.5, SHA-1; RFC 7296
    /// 3.8). Kept for peers without RFC 7427; the key must be RSA.
    pub fn verify_rsa_sig(&self, octets: &[u8], sig: &[u8]) -> Result<(), Error> {
        if self.kind != KeyKind::Rsa {
            return Err(Error::AuthenticationFailed);
        }
        signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            &self.key,
        )
        .verify(octets, sig)
        .map_err(|_| Error::AuthenticationFailed)
    }

    /// Verifies the data of a received AUTH payload of any public-key
    /// method this key fits: 14 (RFC 7427), 9/10 (RFC 4754) or 1 (RSA).
    /// Anything else (PSK, unknown methods) fails.
    pub fn verify_auth(&self, method: u8, octets: &[u8], data: &[u8]) -> Result<(), Error> {
        match method {
            AUTH_METHOD_DIGITAL_SIGNATURE => {
                let (scheme, sig) = SignatureScheme::decode_auth_data(data)
                    .map_err(|_| Error::AuthenticationFailed)?;
                self.verify(scheme, octets, sig)
            }
            AUTH_METHOD_ECDSA_P256_SHA256 | AUTH_METHOD_ECDSA_P384_SHA384 => {
                self.verify_rfc4754(method, octets, data)
            }
            AUTH_METHOD_RSA_SIG => self.verify_rsa_sig(octets, data),
            _ => Err(Error::AuthenticationFailed),
        }
    }

    /// The RFC 7427 schemes the matching private key signs with,
    /// preferred first ([`SigningKey::schemes`]): ike-net, which holds only
    /// our public key, picks the scheme; the credential process signs.
    pub fn schemes(&self) -> &'static [SignatureScheme] {
        self.kind.schemes()
    }

    /// The RFC 7427 scheme the matching private key signs with by default.
    pub fn scheme(&self) -> SignatureScheme {
        self.schemes()[0]
    }

    /// As [`SigningKey::scheme_for`], from the public half.
    pub fn scheme_for(&self, peer_hashes: &[HashAlgorithm]) -> Option<SignatureScheme> {
        self.schemes()
            .iter()
            .copied()
            .find(|s| peer_hashes.contains(&s.hash()))
    }

    /// The key as a DER SubjectPublicKeyInfo (RFC 5280 4.1; algorithm
    /// identifiers as in [`VerifyingKey::from_spki_der`]'s sources; RSA with
    /// NULL parameters, RFC 8017 A.1): how the parent hands ike-net the
    /// public half of our private key.
    pub fn to_spki_der(&self) -> Vec<u8> {
        let alg = match self.kind {
            KeyKind::EcP256 | KeyKind::EcP384 => {
                let curve = if self.kind == KeyKind::EcP256 {
                    OID_P256
                } else {
                    OID_P384
                };
                [
                    der::write_tlv(der::TAG_OID, OID_EC_PUBLIC_KEY),
                    der::write_tlv(der::TAG_OID, curve),
                ]
                .concat()
            }
            KeyKind::Ed25519 => der::write_tlv(der::TAG_OID, OID_ED25519),
            KeyKind::Rsa => [der::write_tlv(der::TAG_OID, OID_RSA), vec![0x05, 0x00]].concat(),
        };
        let bits = [&[0u8][..], &self.key].concat();
        der::write_tlv(
            der::TAG_SEQUENCE,
            &[
                der::write_tlv(der::TAG_SEQUENCE, &alg),
                der::write_tlv(der::TAG_BIT_STRING, &bits),
            ]
            .concat(),
        )
    }

    /// The curve's RFC 4754 auth method, for an ECDSA P-256/P-384 key.
    pub fn rfc4754_method(&self) -> Option<u8> {
        match self.kind {
            KeyKind::EcP256 => Some(AUTH_METHOD_ECDSA_P256_SHA256),
            KeyKind::EcP384 => Some(AUTH_METHOD_ECDSA_P384_SHA384),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_identifiers_are_well_formed_der() {
        for s in SignatureScheme::ALL {
            let blob = s.algorithm_identifier();
            let (inner, rest) = der::expect(blob, der::TAG_SEQUENCE).unwrap();
            assert!(rest.is_empty());
            let (_oid, _params) = der::expect(inner, der::TAG_OID).unwrap();
            assert_eq!(SignatureScheme::from_algorithm_identifier(blob), Some(s));
        }
    }

    #[test]
    fn auth_data_round_trip_and_truncation() {
        let data = SignatureScheme::Ed25519.encode_auth_data(&[1, 2, 3]);
        assert_eq!(data[0], 7);
        let (s, sig) = SignatureScheme::decode_auth_data(&data).unwrap();
        assert_eq!((s, sig), (SignatureScheme::Ed25519, &[1u8, 2, 3][..]));
        assert!(SignatureScheme::decode_auth_data(&data[..5]).is_err());
        assert!(SignatureScheme::decode_auth_data(&[]).is_err());
    }

    #[test]
    fn hash_list() {
        let enc = HashAlgorithm::encode_list(HashAlgorithm::supported());
        assert_eq!(enc, [0, 2, 0, 3, 0, 4, 0, 5]);
        assert_eq!(
            HashAlgorithm::decode_list(&[0, 1, 0, 2, 0, 9, 0, 5]).unwrap(),
            vec![HashAlgorithm::Sha256, HashAlgorithm::Identity]
        );
        assert!(HashAlgorithm::decode_list(&[0, 2, 0]).is_err());
    }
}
